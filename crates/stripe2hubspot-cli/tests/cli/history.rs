//! `backfill` and `reconcile` as a user runs them: the real binary, Stripe and HubSpot played
//! by the fakes over loopback, the queue and ledger in a SQLite file.

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot_stripe::fake::{objects, FakeStripe};

use crate::common::{binary, output, PATIENCE};

const T0: i64 = 1_700_000_000;
/// `--since` covering the whole generated history.
const SINCE: &str = "2023-01-01";

/// Environment of the history commands against both fakes, with a queue file in `dir`.
fn history_env(
    stripe: &FakeStripe,
    hubspot: &FakeHubSpot,
    dir: &tempfile::TempDir,
) -> Vec<(String, String)> {
    vec![
        ("STRIPE_SECRET_KEY".into(), stripe.key()),
        ("STRIPE_API_BASE".into(), stripe.base_url()),
        ("HUBSPOT_ACCESS_TOKEN".into(), hubspot.token()),
        ("HUBSPOT_BASE_URL".into(), hubspot.base_url()),
        (
            "STRIPE2HUBSPOT_QUEUE".into(),
            format!("sqlite://{}", dir.path().join("queue.db").display()),
        ),
        ("RUST_LOG".into(), "warn".into()),
    ]
}

async fn run(args: &[&str], envs: &[(String, String)]) -> Output {
    let envs: Vec<(&str, &str)> = envs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    output(args, &envs).await
}

fn text(output: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

async fn stripe_with_history(n: usize) -> FakeStripe {
    let stripe = FakeStripe::start().await;
    stripe.insert_all(objects::history(n, T0).all()).unwrap();
    stripe
}

/// Deals by payment id: every payment has exactly one.
fn one_deal_per_payment(hubspot: &FakeHubSpot) -> BTreeMap<String, String> {
    let mut by_payment: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for deal in hubspot.deals() {
        let payment = deal.property("stripe_payment_id").unwrap().to_owned();
        by_payment.entry(payment).or_default().push(deal.id.clone());
    }
    by_payment
        .into_iter()
        .map(|(payment, deals)| {
            assert_eq!(deals.len(), 1, "{payment} has deals {deals:?}");
            (payment, deals[0].clone())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_then_reconcile_in_sync_then_a_hand_edit_is_drift_that_repair_fixes() {
    let stripe = stripe_with_history(150).await;
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = history_env(&stripe, &hubspot, &dir);

    let backfill = run(&["backfill", "--since", SINCE], &env).await;
    assert_eq!(backfill.status.code(), Some(0), "{}", text(&backfill));
    let stdout = String::from_utf8_lossy(&backfill.stdout);
    assert!(stdout.contains("payments queued"), "{stdout}");
    let deals = one_deal_per_payment(&hubspot);
    assert_eq!(deals.len(), 150, "one deal per generated payment");

    let check = run(&["reconcile"], &env).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(String::from_utf8_lossy(&check.stdout).contains("150 in sync"));

    let (payment, deal) = deals.iter().nth(7).unwrap();
    assert!(hubspot.edit_property("deals", deal, "amount", Some("1.23")));
    let drift = run(&["reconcile"], &env).await;
    assert_eq!(drift.status.code(), Some(1), "{}", text(&drift));
    let report = String::from_utf8_lossy(&drift.stdout);
    assert!(
        report.contains("1 drifted") && report.contains(payment.as_str()),
        "{report}"
    );

    let repair = run(&["reconcile", "--repair"], &env).await;
    assert_eq!(repair.status.code(), Some(0), "{}", text(&repair));
    let after = run(&["reconcile"], &env).await;
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    assert_ne!(
        hubspot
            .deals()
            .iter()
            .find(|d| &d.id == deal)
            .and_then(|d| d.property("amount").map(str::to_owned))
            .as_deref(),
        Some("1.23")
    );
}

#[tokio::test]
async fn a_missing_or_malformed_stripe_key_exits_2_naming_it() {
    let stripe = FakeStripe::start().await;
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = history_env(&stripe, &hubspot, &dir);
    env.retain(|(k, _)| k != "STRIPE_SECRET_KEY");
    let missing = run(&["backfill", "--since", SINCE], &env).await;
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("STRIPE_SECRET_KEY"));

    env.push((
        "STRIPE_SECRET_KEY".into(),
        "pk_test_not_a_secret_key".into(),
    ));
    let malformed = run(&["backfill", "--since", SINCE], &env).await;
    assert_eq!(malformed.status.code(), Some(2), "{}", text(&malformed));
    let stderr = String::from_utf8_lossy(&malformed.stderr);
    assert!(stderr.contains("STRIPE_SECRET_KEY"), "{stderr}");
    assert!(
        !stderr.contains("pk_test_not_a_secret_key"),
        "the key is never echoed"
    );
    assert_eq!(stripe.requests().len(), 0, "nothing was sent to Stripe");
}

#[tokio::test]
async fn help_shows_the_pinned_stripe_version_and_the_variables() {
    let help = output(&["backfill", "--help"], &[]).await;
    assert_eq!(help.status.code(), Some(0));
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains(stripe2hubspot_stripe::STRIPE_VERSION),
        "{help}"
    );
    for name in [
        "STRIPE_SECRET_KEY",
        "STRIPE_API_BASE",
        stripe2hubspot_stripe::DEFAULT_BASE_URL,
        "--dry-run",
        "--until",
        "--read-rate",
    ] {
        assert!(help.contains(name), "{name} missing from:\n{help}");
    }
    let help = output(&["reconcile", "--help"], &[]).await;
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("--repair") && help.contains("--since"),
        "{help}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backfill_killed_mid_run_completes_when_run_again_with_one_deal_per_payment() {
    let stripe = stripe_with_history(600).await;
    // Slow reads, so the kill lands while pages are still being listed.
    stripe.set_rate_limit(None);
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = history_env(&stripe, &hubspot, &dir);
    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

    let mut child = binary(&["backfill", "--since", SINCE, "--read-rate", "2"], &envs)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    // Kill once a few pages were served but before the listing is done (7 pages of charges).
    while stripe.requests().len() < 3 {
        assert!(
            started.elapsed() < PATIENCE,
            "the backfill never read a page"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    let _ = child.wait();
    let served_before_kill = stripe.requests().len();
    assert!(
        served_before_kill < 7,
        "killed after the listing ended ({served_before_kill} pages)"
    );
    let partial = hubspot.deals().len();
    assert!(partial < 600, "nothing left to do after the kill");

    let rerun = run(&["backfill", "--since", SINCE], &env).await;
    assert_eq!(rerun.status.code(), Some(0), "{}", text(&rerun));
    let deals = one_deal_per_payment(&hubspot);
    assert_eq!(deals.len(), 600, "every payment synced once");
    let check = run(&["reconcile"], &env).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

/// `env` with `STRIPE2HUBSPOT_MAPPING` naming a file in `dir` holding `json`.
fn with_mapping(
    env: &[(String, String)],
    dir: &tempfile::TempDir,
    name: &str,
    json: &str,
) -> Vec<(String, String)> {
    let path = dir.path().join(name);
    std::fs::write(&path, json).unwrap();
    let mut env = env.to_vec();
    env.push(("STRIPE2HUBSPOT_MAPPING".into(), path.display().to_string()));
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mapping_file_is_honoured_by_backfill_reconcile_and_doctor() {
    let stripe = stripe_with_history(30).await;
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let default_env = history_env(&stripe, &hubspot, &dir);
    // The customer id goes to a renamed contact property, and deals carry no currency code.
    let env = with_mapping(
        &default_env,
        &dir,
        "mapping.json",
        r#"{"customer_id_property": "stripe_cus", "deal_currency_code": false}"#,
    );

    let mut doctor_env = env.clone();
    doctor_env.push(("STRIPE_WEBHOOK_SECRET".into(), crate::common::SECRET.into()));
    let doctor = run(&["doctor"], &doctor_env).await;
    let stdout = String::from_utf8_lossy(&doctor.stdout);
    assert!(
        stdout.contains("stripe_cus") && !stdout.contains("stripe_customer_id"),
        "doctor checks the mapping's properties: {}",
        text(&doctor)
    );

    let backfill = run(&["backfill", "--since", SINCE], &env).await;
    assert_eq!(backfill.status.code(), Some(0), "{}", text(&backfill));
    let contacts = hubspot.contacts();
    assert!(!contacts.is_empty());
    assert!(
        contacts
            .iter()
            .all(|c| c.property("stripe_cus").is_some()
                && c.property("stripe_customer_id").is_none()),
        "{contacts:?}"
    );
    assert!(hubspot
        .deals()
        .iter()
        .all(|d| d.property("deal_currency_code").is_none()));

    let check = run(&["reconcile"], &env).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    // Under the default mapping the same deals lack their currency code: drift.
    let default_check = run(&["reconcile"], &default_env).await;
    assert_eq!(
        default_check.status.code(),
        Some(1),
        "{}",
        text(&default_check)
    );
    assert!(String::from_utf8_lossy(&default_check.stdout).contains("deal_currency_code"));
}

#[tokio::test]
async fn a_malformed_mapping_file_exits_2_naming_the_variable_file_and_field() {
    let stripe = FakeStripe::start().await;
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut env = history_env(&stripe, &hubspot, &dir);
    env.push(("STRIPE_WEBHOOK_SECRET".into(), crate::common::SECRET.into()));
    env.push(("BIND_ADDR".into(), "127.0.0.1:0".into()));
    for (file, json, field) in [
        ("unknown.json", r#"{"pipline": "default"}"#, "pipline"),
        ("value.json", r#"{"amount_basis": "tax"}"#, "amount_basis"),
    ] {
        let env = with_mapping(&env, &dir, file, json);
        for args in [
            &["backfill", "--since", SINCE][..],
            &["reconcile"],
            &["doctor"],
            &["serve"],
        ] {
            let out = run(args, &env).await;
            assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            for named in ["STRIPE2HUBSPOT_MAPPING", file, field] {
                assert!(
                    stderr.contains(named),
                    "{args:?} does not name {named}: {stderr}"
                );
            }
        }
    }
    assert_eq!(stripe.requests().len(), 0, "nothing was read");
    assert!(hubspot.deals().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kinds_selects_the_lists_and_an_unknown_one_exits_2_naming_the_choices() {
    let stripe = stripe_with_history(30).await;
    let monthly = objects::price("price_gold", "prod_gold", 4_900, "usd", "month", 1);
    stripe
        .insert_all([
            objects::product("prod_gold", "Gold"),
            objects::customer("cus_ann", T0, Some("ann@example.com"), None),
            objects::subscription("sub_ann", "cus_ann", T0, "active", &monthly, 1),
        ])
        .unwrap();
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = history_env(&stripe, &hubspot, &dir);

    let unknown = run(
        &["backfill", "--since", SINCE, "--kinds", "customers,payouts"],
        &env,
    )
    .await;
    assert_eq!(unknown.status.code(), Some(2), "{}", text(&unknown));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("payouts") && stderr.contains("subscriptions"),
        "{stderr}"
    );
    assert_eq!(stripe.requests().len(), 0);

    // 2099: no payment is that recent, but customers and subscriptions are state.
    let dry = run(
        &[
            "backfill",
            "--since",
            "2099-01-01",
            "--kinds",
            "customers,subscriptions",
            "--dry-run",
        ],
        &env,
    )
    .await;
    assert_eq!(dry.status.code(), Some(0), "{}", text(&dry));
    let stdout = String::from_utf8_lossy(&dry.stdout);
    assert!(
        stdout.contains("2 customers and subscriptions would queue")
            || stdout.contains("0 payments would queue, 2 customers and subscriptions would queue"),
        "{stdout}"
    );
    let paths: Vec<String> = stripe.requests().into_iter().map(|r| r.path).collect();
    assert!(
        !paths.iter().any(|p| p == "/v1/charges"),
        "only the lists asked for: {paths:?}"
    );
    assert!(paths.iter().any(|p| p == "/v1/customers"), "{paths:?}");
    assert!(paths.iter().any(|p| p == "/v1/subscriptions"), "{paths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_company_rollup_edited_by_hand_is_drift_that_reconcile_repair_fixes() {
    // Every generated payer writes from example.com: one company.
    let stripe = stripe_with_history(40).await;
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let env = history_env(&stripe, &hubspot, &dir);
    let backfill = run(&["backfill", "--since", SINCE], &env).await;
    assert_eq!(backfill.status.code(), Some(0), "{}", text(&backfill));

    let check = run(&["reconcile"], &env).await;
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("1 companies checked: 1 in sync"),
        "{}",
        text(&check)
    );
    let company = hubspot
        .companies()
        .into_iter()
        .find(|c| c.property("stripe_company_key") == Some("example.com"))
        .expect("the backfill's engine wrote the company");
    let count = company.property("stripe_payment_count").unwrap().to_owned();
    assert_ne!(count, "1");
    assert!(hubspot.edit_property("companies", &company.id, "stripe_payment_count", Some("1")));

    let drift = run(&["reconcile"], &env).await;
    assert_eq!(drift.status.code(), Some(1), "{}", text(&drift));
    let report = String::from_utf8_lossy(&drift.stdout);
    assert!(
        report.contains("1 companies checked: 0 in sync, 1 drifted")
            && report.contains("drifted company example.com")
            && report.contains("stripe_payment_count: HubSpot has \"1\""),
        "{report}"
    );

    let repair = run(&["reconcile", "--repair"], &env).await;
    assert_eq!(repair.status.code(), Some(0), "{}", text(&repair));
    assert!(
        String::from_utf8_lossy(&repair.stdout).contains("1 companies queued for the syncer"),
        "{}",
        text(&repair)
    );
    let after = run(&["reconcile"], &env).await;
    assert_eq!(after.status.code(), Some(0), "{}", text(&after));
    let repaired = hubspot
        .companies()
        .into_iter()
        .find(|c| c.id == company.id)
        .unwrap();
    assert_eq!(
        repaired.property("stripe_payment_count"),
        Some(count.as_str())
    );
}
