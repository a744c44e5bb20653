//! The example server binary, run as a user runs it: configuration from the environment,
//! webhooks over its real HTTP route, HubSpot played by the fake over loopback.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::common;

use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::ingest::{SIGNATURE_HEADER, WEBHOOK_PATH};
use stripe2hubspot::testkit::{sign_now, Payment};

const SECRET: &str = "whsec_server_test";

/// `target/<profile>/examples/<name>`, built by `cargo test` with the other examples.
pub(crate) fn example_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let binary = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: `cargo test --workspace --all-features` builds it with the other examples \
         (a run filtered with --test does not); or run `cargo build --example {name}` first",
        binary.display()
    );
    binary
}

fn example(name: &str, envs: &[(&str, &str)]) -> Command {
    let mut command = Command::new(example_binary(name));
    // Only what the test sets: no .env file and no variables from the developer's shell.
    command
        .env_clear()
        .current_dir(std::env::temp_dir())
        .envs(envs.iter().copied());
    command
}

fn server(envs: &[(&str, &str)]) -> Command {
    example("axum_server", envs)
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

#[cfg(feature = "actix")]
#[test]
fn the_actix_server_names_a_missing_variable_and_exits_with_2() {
    let output = example("actix_server", &[("STRIPE_WEBHOOK_SECRET", SECRET)])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("HUBSPOT_ACCESS_TOKEN"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_test_event_signs_the_sample_event_so_the_server_accepts_it() {
    let pipeline = common::Pipeline::new(FakeHubSpot::start().await).await;
    let url = pipeline.url.clone();
    let run = |secret: &'static str| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            example("send_test_event", &[("STRIPE_WEBHOOK_SECRET", secret)])
                .arg(url)
                .output()
                .unwrap()
        })
    };
    let output = run(common::SECRET).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    assert!(
        stdout.starts_with("200 ") && stdout.contains("evt_1N3x9yLkdIwHu7ix241ad"),
        "{stdout}"
    );
    assert_eq!(pipeline.store.admin.stats().await.unwrap().ready, 1);

    let forged = run("whsec_not_the_servers").await.unwrap();
    assert!(!forged.status.success());
    assert!(String::from_utf8_lossy(&forged.stdout).starts_with("400 "));
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
    assert_eq!(health["queue"]["ready"], 0);

    let body = Payment::sample().charge_succeeded().to_string();
    let response = http
        .post(format!("{base}{WEBHOOK_PATH}"))
        .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), SECRET))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let forged = http
        .post(format!("{base}{WEBHOOK_PATH}"))
        .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), "whsec_forged"))
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
