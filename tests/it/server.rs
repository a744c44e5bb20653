//! The example binaries, run as a user runs them. The `stripe2hubspot` binary's own tests
//! (configuration errors, a webhook synced end to end, SIGTERM) live in
//! crates/stripe2hubspot-cli/tests.

use std::path::PathBuf;
use std::process::Command;

use crate::common;

use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;

#[cfg(feature = "actix")]
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

#[cfg(feature = "actix")]
#[test]
fn the_actix_example_names_a_missing_variable_and_fails() {
    let output = example("actix_server", &[("STRIPE_WEBHOOK_SECRET", SECRET)])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("HUBSPOT_ACCESS_TOKEN"));
}

#[test]
fn the_axum_example_names_a_missing_variable_and_fails() {
    let output = example("axum_server", &[("HUBSPOT_ACCESS_TOKEN", "pat-x")])
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("STRIPE_WEBHOOK_SECRET"));
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
