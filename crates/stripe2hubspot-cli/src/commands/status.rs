//! `stripe2hubspot status`: queue depth by state and payments waiting in the ledger, from the
//! store itself, and the role, pause state, last sync and counters of a running server
//! through its admin API.

use std::process::ExitCode;

use stripe2hubspot::admin::QueueDepth;

/// Where the running server is.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of a running `stripe2hubspot serve` (e.g. http://127.0.0.1:3000); with
    /// ADMIN_TOKEN set, its role (leader or standby), pause state and last sync are shown too.
    #[arg(long, env = "STRIPE2HUBSPOT_SERVER", value_name = "URL")]
    server: Option<String>,
}

/// Prints the status; exits 1 if the queue or the server cannot be read.
pub async fn run(args: Args) -> ExitCode {
    let store = match super::open_queue().await {
        Ok(store) => store,
        Err(code) => return code,
    };
    match store.admin.stats().await {
        Ok(stats) => {
            let depth = QueueDepth::from(stats);
            let parts: Vec<String> = depth
                .by_state()
                .iter()
                .map(|(state, n)| format!("{state}={n}"))
                .collect();
            println!("queue: {}", parts.join(" "));
        }
        Err(error) => return super::failure(&format_args!("could not read the queue: {error}")),
    }
    match store.state.waiting_count().await {
        Ok(waiting) => println!("waiting in the ledger: {waiting} payment(s)"),
        Err(error) => return super::failure(&format_args!("could not read the ledger: {error}")),
    }
    // The operator's pause is stored, so the store alone says whether one is in force.
    match store.pause.operator_pause().await {
        Ok(Some(pause)) => {
            let at = time::OffsetDateTime::from(pause.at)
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default();
            println!("operator's pause: yes, by {} at {at}", pause.by);
        }
        Ok(None) => println!("operator's pause: no"),
        Err(error) => {
            return super::failure(&format_args!(
                "could not read the operator's pause: {error}"
            ))
        }
    }
    let Some(server) = args.server else {
        println!(
            "paused: unknown (pass --server URL with ADMIN_TOKEN set to ask a running server)"
        );
        println!("last sync: unknown (same)");
        println!("role: unknown (same)");
        return ExitCode::SUCCESS;
    };
    let token = match crate::config::process_env().admin_token() {
        Ok(Some(token)) => token,
        Ok(None) => {
            return super::config_failure(&crate::config::ConfigError {
                variable: "ADMIN_TOKEN",
                problem: "is not set: --server needs the server's ADMIN_TOKEN".into(),
            })
        }
        Err(error) => return super::config_failure(&error),
    };
    match remote(&server, token.expose()).await {
        Ok(report) => {
            let paused = report["paused"]
                .as_str()
                .map_or("no".to_owned(), |r| format!("yes: {r}"));
            println!("paused: {paused}");
            println!(
                "last sync: {}",
                report["last_sync"]
                    .as_str()
                    .unwrap_or("none since the server started")
            );
            println!(
                "synced since start: {}, dead-lettered since start: {}",
                report["engine"]["synced"], report["engine"]["dead_lettered"]
            );
            println!(
                "role: {} (this server {})",
                report["role"].as_str().unwrap_or("unknown"),
                match report["role"].as_str() {
                    Some("leader") => "runs the sync",
                    Some("standby") => "stands by; another process runs the sync",
                    _ => "did not say",
                }
            );
            ExitCode::SUCCESS
        }
        Err(error) => super::failure(&error),
    }
}

async fn remote(server: &str, token: &str) -> Result<serde_json::Value, String> {
    let url = format!("{}/admin/status", server.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .map_err(|e| format!("could not reach {url}: {e}"))?;
    match response.status().as_u16() {
        200 | 503 => response
            .json()
            .await
            .map_err(|e| format!("{url} answered something other than a status report: {e}")),
        401 => Err(format!(
            "{url} refused ADMIN_TOKEN: set the token the server runs with"
        )),
        404 => Err(format!(
            "{url} has no admin API: start the server with ADMIN_TOKEN set"
        )),
        other => Err(format!("{url} answered {other}")),
    }
}
