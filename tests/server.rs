//! The example server binary, run as a user runs it: configuration from the environment,
//! webhooks over its real HTTP route, HubSpot played by the fake over loopback.
#![cfg(all(feature = "sqlite", feature = "axum"))]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::testkit::{sign_now, Payment};

const SECRET: &str = "whsec_server_test";

/// `target/<profile>/examples/axum_server`, built by `cargo test` with the examples.
fn example_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    profile_dir
        .join("examples")
        .join(format!("axum_server{}", std::env::consts::EXE_SUFFIX))
}

fn server(envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(example_binary());
    // Only what the test sets: no .env file and no variables from the developer's shell.
    command
        .env_clear()
        .current_dir(std::env::temp_dir())
        .envs(envs.iter().copied());
    command
}

/// Kills the server if a test fails before stopping it.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(child) = self.0.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn a_missing_variable_is_named_and_exits_with_2() {
    let output = server(&[("HUBSPOT_ACCESS_TOKEN", "pat-x")])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("STRIPE_WEBHOOK_SECRET"), "{stderr}");

    let output = server(&[
        ("STRIPE_WEBHOOK_SECRET", SECRET),
        ("HUBSPOT_ACCESS_TOKEN", "pat-x"),
        ("BIND_ADDR", "not-an-address"),
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("BIND_ADDR"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_syncs_a_signed_webhook_into_hubspot_and_stops_on_sigterm() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("sqlite://{}", dir.path().join("server.db").display());
    let base_url = hubspot.base_url();
    let token = hubspot.token();
    let mut child = server(&[
        ("STRIPE_WEBHOOK_SECRET", SECRET),
        ("HUBSPOT_ACCESS_TOKEN", token.as_str()),
        ("HUBSPOT_BASE_URL", base_url.as_str()),
        ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("RUST_LOG", "warn"),
    ])
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit())
    .spawn()
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = Running(Some(child));
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");

    let http = reqwest::Client::new();
    let health: serde_json::Value = http
        .get(format!("{base}/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");

    let body = Payment::seed().charge_succeeded().to_string();
    let response = http
        .post(format!("{base}/api/webhooks/stripe"))
        .header("Stripe-Signature", sign_now(body.as_bytes(), SECRET))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let forged = http
        .post(format!("{base}/api/webhooks/stripe"))
        .header(
            "Stripe-Signature",
            sign_now(body.as_bytes(), "whsec_forged"),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status().as_u16(), 400);

    let started = Instant::now();
    while hubspot.deals().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no deal reached HubSpot"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let contact = hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert_eq!(contact.property("last_charge_amount"), Some("149.00"));
    assert_eq!(hubspot.deals()[0].property("dealstage"), Some("closedwon"));

    let mut child = child.0.take().unwrap();
    let pid = child.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "SIGTERM shuts down gracefully");
}
