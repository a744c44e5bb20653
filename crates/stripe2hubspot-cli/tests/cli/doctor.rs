//! `doctor` against the fake HubSpot: a ready portal passes; each problem fails, naming the fix.

use hubspot_crm::fake::{Failure, FakeHubSpot};
use hubspot_crm::{PropertyCreate, PropertyValidationRule};

use crate::common::{output, SECRET};

struct Run {
    code: Option<i32>,
    stdout: String,
}

async fn doctor(hubspot: &FakeHubSpot, dir: &tempfile::TempDir, token: &str, args: &[&str]) -> Run {
    let queue = format!("sqlite://{}", dir.path().join("queue.db").display());
    let base_url = hubspot.base_url();
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let out = output(
        &all,
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("HUBSPOT_ACCESS_TOKEN", token),
            ("HUBSPOT_BASE_URL", &base_url),
            ("STRIPE2HUBSPOT_QUEUE", &queue),
        ],
    )
    .await;
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    }
}

/// The FAIL lines of a run.
fn failures(run: &Run) -> Vec<&str> {
    run.stdout
        .lines()
        .filter(|l| l.starts_with("FAIL"))
        .collect()
}

/// A portal the sync can use: `doctor --fix` created the custom properties.
async fn ready_portal() -> (FakeHubSpot, tempfile::TempDir) {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let fixed = doctor(&hubspot, &dir, &hubspot.token(), &["--fix"]).await;
    assert_eq!(fixed.code, Some(0), "{}", fixed.stdout);
    assert!(
        fixed.stdout.contains("created last_charge_id"),
        "{}",
        fixed.stdout
    );
    assert!(hubspot.has_property("deals", "stripe_payment_id"));
    for created in [
        "stripe_subscription_status",
        "stripe_mrr",
        "stripe_churn_date",
    ] {
        assert!(hubspot.has_property("contacts", created), "{created}");
    }
    assert!(
        hubspot.has_property("companies", "stripe_company_key"),
        "companies are on by default: {}",
        fixed.stdout
    );
    for switch in [
        "info  contact merges: off",
        "info  GDPR deletion: off",
        "info  companies: on",
        "info  line items: off",
    ] {
        assert!(fixed.stdout.contains(switch), "{switch}: {}", fixed.stdout);
    }
    (hubspot, dir)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_shows_the_contact_switches_and_exits_2_on_a_bad_one() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("sqlite://{}", dir.path().join("queue.db").display());
    let token = hubspot.token();
    let base_url = hubspot.base_url();
    let env = |merge: &'static str, gdpr: &'static str| {
        vec![
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("HUBSPOT_ACCESS_TOKEN", token.as_str()),
            ("HUBSPOT_BASE_URL", base_url.as_str()),
            ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
            ("STRIPE2HUBSPOT_MERGE_CONTACTS", merge),
            ("STRIPE2HUBSPOT_GDPR_DELETE", gdpr),
        ]
    };
    let on = output(&["doctor"], &env("1", "true")).await;
    let stdout = String::from_utf8_lossy(&on.stdout);
    assert!(stdout.contains("info  contact merges: on"), "{stdout}");
    assert!(stdout.contains("info  GDPR deletion: on"), "{stdout}");
    let bad = output(&["doctor"], &env("0", "yes")).await;
    assert_eq!(bad.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("STRIPE2HUBSPOT_GDPR_DELETE"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ready_portal_passes_and_missing_properties_fail_without_fix() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let before = doctor(&hubspot, &dir, &hubspot.token(), &[]).await;
    assert_eq!(before.code, Some(1), "{}", before.stdout);
    assert!(
        failures(&before)
            .iter()
            .any(|l| l.contains("stripe_payment_id") && l.contains("doctor --fix")),
        "{}",
        before.stdout
    );
    assert!(
        !hubspot.has_property("deals", "stripe_payment_id"),
        "no writes without --fix"
    );

    let (hubspot, dir) = ready_portal().await;
    hubspot.add_property_validation_rule(
        "deals",
        "amount",
        PropertyValidationRule {
            rule_type: "MIN_NUMBER".into(),
            rule_arguments: vec!["1".into()],
            should_apply_normalization: false,
        },
    );
    let run = doctor(&hubspot, &dir, &hubspot.token(), &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(failures(&run).is_empty(), "{}", run.stdout);
    assert!(
        run.stdout.contains("info  deals validation rules")
            && run.stdout.contains("amount MIN_NUMBER 1"),
        "{}",
        run.stdout
    );
    for check in [
        "webhook secret",
        "token",
        "scopes",
        "deal pipeline",
        "queue",
    ] {
        assert!(
            run.stdout.contains(&format!("ok    {check}")),
            "{check}: {}",
            run.stdout
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_token_fails_and_says_to_create_a_service_key() {
    let (hubspot, dir) = ready_portal().await;
    let run = doctor(&hubspot, &dir, "not-the-portals-key", &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let fails = failures(&run);
    assert!(
        fails
            .iter()
            .any(|l| l.contains("token") && l.contains("service key")),
        "{}",
        run.stdout
    );
    assert!(
        !run.stdout.contains("not-the-portals-key"),
        "never print the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_scope_fails_naming_it() {
    let (hubspot, dir) = ready_portal().await;
    hubspot.set_missing_scopes(["crm.objects.deals.write"]);
    let run = doctor(&hubspot, &dir, &hubspot.token(), &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        failures(&run)
            .iter()
            .any(|l| l.contains("scopes") && l.contains("add crm.objects.deals.write")),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_company_scope_fails_naming_it_and_how_to_turn_companies_off() {
    let (hubspot, dir) = ready_portal().await;
    hubspot.set_missing_scopes(["crm.objects.companies.write"]);
    let run = doctor(&hubspot, &dir, &hubspot.token(), &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    let failed = failures(&run);
    assert!(
        failed.iter().any(|l| l.contains("companies scopes")
            && l.contains("crm.objects.companies.write")
            && l.contains("\"company_key\": \"none\"")),
        "{}",
        run.stdout
    );
    assert!(
        failed.iter().all(|l| !l.starts_with("FAIL  scopes")),
        "the sync scopes are all there: {}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_line_items_on_doctor_fix_creates_their_keys_and_says_what_checkout_needs() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = format!("sqlite://{}", dir.path().join("queue.db").display());
    let (token, base_url) = (hubspot.token(), hubspot.base_url());
    let run = output(
        &["doctor", "--fix"],
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("HUBSPOT_ACCESS_TOKEN", token.as_str()),
            ("HUBSPOT_BASE_URL", base_url.as_str()),
            ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
            ("STRIPE2HUBSPOT_LINE_ITEMS", "1"),
        ],
    )
    .await;
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}");
    assert!(
        stdout.contains("info  line items: on: invoice lines only")
            && stdout.contains("without STRIPE_SECRET_KEY"),
        "{stdout}"
    );
    assert!(stdout.contains("ok    line items scopes"), "{stdout}");
    assert!(hubspot.has_property("line_items", "stripe_line_item_id"));
    assert!(hubspot.has_property("products", "stripe_product_id"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_pipeline_stage_fails_naming_it() {
    let (hubspot, dir) = ready_portal().await;
    assert!(hubspot.remove_pipeline_stage("deals", "default", "closedlost"));
    let run = doctor(&hubspot, &dir, &hubspot.token(), &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        failures(&run)
            .iter()
            .any(|l| l.contains("\"closedlost\"") && l.contains("add a stage with id closedlost")),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_property_of_the_wrong_type_fails_naming_it() {
    let (hubspot, dir) = ready_portal().await;
    hubspot.set_property(
        "contacts",
        PropertyCreate::number("last_charge_id", "Last charge ID", "contactinformation"),
    );
    let run = doctor(&hubspot, &dir, &hubspot.token(), &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        failures(&run)
            .iter()
            .any(|l| l.contains("last_charge_id is of type number")
                && l.contains("delete or rename last_charge_id")),
        "{}",
        run.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_key_the_token_check_does_not_describe_is_confirmed_with_a_read() {
    let (hubspot, dir) = ready_portal().await;
    // HubSpot documents the token-info call for private-app tokens only.
    hubspot.fail_next_on(
        1,
        "POST",
        "/oauth/v2/private-apps",
        Failure::Status(400, None),
    );
    let run = doctor(&hubspot, &dir, &hubspot.token(), &[]).await;
    assert_eq!(run.code, Some(0), "{}", run.stdout);
    assert!(
        run.stdout.contains("confirmed with a read"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains("info  scopes"), "{}", run.stdout);

    // The same 4xx with a key HubSpot also rejects on the read fails.
    hubspot.fail_next_on(
        1,
        "POST",
        "/oauth/v2/private-apps",
        Failure::Status(400, None),
    );
    let run = doctor(&hubspot, &dir, "revoked-service-key", &[]).await;
    assert_eq!(run.code, Some(1), "{}", run.stdout);
    assert!(
        failures(&run)
            .iter()
            .any(|l| l.contains("rejected") && l.contains("service key")),
        "{}",
        run.stdout
    );
}
