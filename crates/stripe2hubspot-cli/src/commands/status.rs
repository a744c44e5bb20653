//! `stripe2hubspot status`: queue depth by state and payments waiting in the ledger, from the
//! store itself, and the role, pause state, last sync and counters of a running server
//! through its admin API.

use std::process::ExitCode;

use stripe2hubspot::admin::QueueDepth;
use stripe2hubspot::queue::{Store, DEFAULT_PORTAL};

/// Where the running server is.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Base URL of a running `stripe2hubspot serve` (e.g. http://127.0.0.1:3000); with
    /// ADMIN_TOKEN set, its role (leader or standby), pause state and last sync are shown too.
    #[arg(long, env = "STRIPE2HUBSPOT_SERVER", value_name = "URL")]
    server: Option<String>,
    /// Show only this portal (`default`: the one HUBSPOT_ACCESS_TOKEN configures). Without
    /// it, a deployment with stored portals shows each of them, and `default` when it is
    /// configured or holds data.
    #[arg(long, value_name = "ID")]
    portal: Option<String>,
}

/// Prints the status; exits 1 if the queue or the server cannot be read.
pub async fn run(args: Args) -> ExitCode {
    let store = match super::open_queue().await {
        Ok(store) => store,
        Err(code) => return code,
    };
    let portals = match store.portals.list().await {
        Ok(portals) => portals,
        Err(error) => return super::failure(&format_args!("could not read the portals: {error}")),
    };
    if args.portal.is_none() && portals.is_empty() {
        // A single-portal deployment: today's lines, unchanged (scripts parse them).
        if let Err(code) = local(&store, "").await {
            return code;
        }
    } else {
        let ids = match &args.portal {
            Some(id) => vec![id.clone()],
            None => {
                let mut ids = Vec::new();
                match shows_default(&store).await {
                    Ok(true) => ids.push(DEFAULT_PORTAL.to_owned()),
                    Ok(false) => {}
                    Err(error) => {
                        return super::failure(&format_args!("could not read the queue: {error}"))
                    }
                }
                ids.extend(portals.iter().map(|p| p.id.clone()));
                ids
            }
        };
        for id in &ids {
            let target = match super::portal_target(&store, id).await {
                Ok(target) => target,
                Err(code) => return code,
            };
            match &target.portal {
                Some(portal) => println!(
                    "portal {id} (Stripe account(s) {}):",
                    portal.accounts.join(", ")
                ),
                None => println!("portal {id} (configured by the environment):"),
            }
            if let Err(code) = local(&target.store, "  ").await {
                return code;
            }
            if let Some(portal) = &target.portal {
                println!(
                    "  sync paused: {} (as its leader last reported)",
                    if portal.paused { "yes" } else { "no" }
                );
            }
        }
    }
    if args.portal.is_none() {
        if let Err(code) = unrouted(&store).await {
            return code;
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
            for line in server_portal_lines(&report, args.portal.as_deref()) {
                println!("{line}");
            }
            ExitCode::SUCCESS
        }
        Err(error) => super::failure(&error),
    }
}

/// The queue depth, the payments waiting and the operator's pause of one store, each line
/// after `indent`.
async fn local(store: &Store, indent: &str) -> Result<(), ExitCode> {
    match store.admin.stats().await {
        Ok(stats) => {
            let depth = QueueDepth::from(stats);
            let parts: Vec<String> = depth
                .by_state()
                .iter()
                .map(|(state, n)| format!("{state}={n}"))
                .collect();
            println!("{indent}queue: {}", parts.join(" "));
        }
        Err(error) => {
            return Err(super::failure(&format_args!(
                "could not read the queue: {error}"
            )))
        }
    }
    match store.state.waiting_count().await {
        Ok(waiting) => println!("{indent}waiting in the ledger: {waiting} payment(s)"),
        Err(error) => {
            return Err(super::failure(&format_args!(
                "could not read the ledger: {error}"
            )))
        }
    }
    // The operator's pause is stored, so the store alone says whether one is in force.
    match store.pause.operator_pause().await {
        Ok(Some(pause)) => {
            let at = rfc3339(pause.at);
            println!("{indent}operator's pause: yes, by {} at {at}", pause.by);
        }
        Ok(None) => println!("{indent}operator's pause: no"),
        Err(error) => {
            return Err(super::failure(&format_args!(
                "could not read the operator's pause: {error}"
            )))
        }
    }
    Ok(())
}

fn rfc3339(at: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Whether the environment's portal is shown beside stored ones: it is configured
/// (HUBSPOT_ACCESS_TOKEN) or its store holds anything.
async fn shows_default(store: &Store) -> Result<bool, stripe2hubspot::queue::QueueError> {
    if std::env::var("HUBSPOT_ACCESS_TOKEN").is_ok_and(|t| !t.trim().is_empty()) {
        return Ok(true);
    }
    let stats = store.admin.stats().await?;
    let jobs = stats.ready + stats.delayed + stats.leased + stats.dead + stats.done;
    Ok(jobs > 0 || store.state.waiting_count().await? > 0)
}

/// The events waiting for a portal to claim their Stripe account; nothing when there are none.
async fn unrouted(store: &Store) -> Result<(), ExitCode> {
    let accounts = match store.unrouted.unrouted_accounts().await {
        Ok(accounts) => accounts,
        Err(error) => {
            return Err(super::failure(&format_args!(
                "could not read the unrouted events: {error}"
            )))
        }
    };
    if accounts.is_empty() {
        return Ok(());
    }
    let total: u64 = accounts.iter().map(|a| a.events).sum();
    println!(
        "unrouted: {total} event(s) of {} Stripe account(s) no portal claims (kept; synced once `stripe2hubspot portals add|set --stripe-account` routes the account):",
        accounts.len()
    );
    for account in &accounts {
        println!(
            "  {}: {} event(s) since {}",
            account.account,
            account.events,
            rfc3339(account.oldest)
        );
    }
    Ok(())
}

/// What a running server says of each portal (`portals` of `/admin/status`, from servers that
/// sync several), one line each: its role in that server, pause and last sync. Nothing for a
/// server syncing only `default` (its lines above say it all), or one that does not list them.
fn server_portal_lines(report: &serde_json::Value, only: Option<&str>) -> Vec<String> {
    let Some(portals) = report["portals"].as_array() else {
        return Vec::new();
    };
    let only_default = portals
        .iter()
        .all(|p| p["id"].as_str() == Some(DEFAULT_PORTAL));
    if only_default && only.is_none() {
        return Vec::new();
    }
    portals
        .iter()
        .filter_map(|p| {
            let id = p["id"].as_str()?;
            if only.is_some_and(|only| only != id) {
                return None;
            }
            let paused = p["paused"]
                .as_str()
                .map_or("no".to_owned(), |r| format!("yes: {r}"));
            let mut line = format!(
                "server portal {id}: role {}, paused: {paused}, last sync: {}",
                p["role"].as_str().unwrap_or("unknown"),
                p["last_sync"]
                    .as_str()
                    .unwrap_or("none since the server started")
            );
            if let Some(error) = p["error"].as_str() {
                line.push_str(&format!(", not running: {error}"));
            }
            Some(line)
        })
        .collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_servers_portals_are_listed_unless_it_syncs_only_default() {
        let single = json!({"portals": [{"id": "default", "role": "leader", "paused": null}]});
        assert!(server_portal_lines(&single, None).is_empty());
        assert!(server_portal_lines(&json!({"role": "leader"}), None).is_empty());
        let fleet = json!({"portals": [
            {"id": "acme", "role": "leader", "paused": "HubSpot refused the token (401)", "last_sync": "2026-12-07T10:00:00Z"},
            {"id": "beta", "role": "standby", "paused": null, "error": "portal \"beta\" has a malformed stored rate_limit"},
        ]});
        let lines = server_portal_lines(&fleet, None);
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "server portal acme: role leader, paused: yes: HubSpot refused the token (401), last sync: 2026-12-07T10:00:00Z"
        );
        assert!(
            lines[1].starts_with("server portal beta: role standby, paused: no"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("not running"), "{}", lines[1]);
        let beta = server_portal_lines(&fleet, Some("beta"));
        assert_eq!(beta.len(), 1);
        assert!(beta[0].contains("beta"));
    }
}
