//! Per-portal operations with the real binary (issue 23): the secrets `portals add|set` take
//! from the environment (never printed), `doctor --portal|--all`, `backfill|reconcile
//! --portal` reading each connected account with `Stripe-Account`, `status` by portal with
//! the unrouted events, `dead-letters --portal`, and `portals remove --purge` deleting one
//! portal's data while another's stays. A SQLite file store; a fake HubSpot per portal.
//!
//! ```sh
//! cargo test -p stripe2hubspot-cli --all-features --test cli -- portal_ops
//! ```

use std::process::Output;

use hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::queue::NewJob;
use stripe2hubspot_stripe::fake::{objects, FakeStripe};

use crate::common::output;

const T0: i64 = 1_700_000_000;
const SINCE: &str = "2023-01-01";
/// Secrets given to the binary; none may show in any output.
const PORTAL_TOKEN: &str = "pat-na1-portal-ops-SECRET-aaaa";
const WHSEC_1: &str = "whsec_portal_ops_SECRET_one";
const WHSEC_2: &str = "whsec_portal_ops_SECRET_two";
const SLACK: &str = "https://hooks.slack.com/services/T000/B000/portalopsSECRET";

/// Every output seen, to check that no secret shows in any.
#[derive(Default)]
struct Seen(String);

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn expect(&self, code: i32, words: &[&str]) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "stdout: {}\nstderr: {}",
            self.stdout,
            self.stderr
        );
        for word in words {
            assert!(
                self.stdout.contains(word) || self.stderr.contains(word),
                "output should mention {word:?}:\nstdout: {}\nstderr: {}",
                self.stdout,
                self.stderr
            );
        }
        self
    }
}

impl Seen {
    async fn run(&mut self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut envs = envs.to_vec();
        envs.push(("RUST_LOG", "debug"));
        let out: Output = output(args, &envs).await;
        let run = Run {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        };
        self.0.push_str(&run.stdout);
        self.0.push_str(&run.stderr);
        run
    }

    fn assert_no_secret(&self, extra: &[&str]) {
        for secret in [
            PORTAL_TOKEN,
            WHSEC_1,
            WHSEC_2,
            SLACK,
            "hooks.example/SECRET",
        ]
        .iter()
        .chain(extra)
        {
            assert!(
                !self.0.contains(secret),
                "{secret:?} was printed:\n{}",
                self.0
            );
        }
    }
}

fn queue_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("queue.db").display())
}

fn job(event_id: &str) -> NewJob {
    NewJob {
        event_id: event_id.to_owned(),
        event_type: "charge.succeeded".to_owned(),
        event_created: T0,
        payload: b"{}".to_vec(),
    }
}

#[tokio::test]
async fn portal_secrets_come_from_the_environment_are_checked_and_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_url(&dir);
    let mapping = dir.path().join("mapping.json");
    std::fs::write(&mapping, r#"{"customer_id_property": "acme_cus"}"#).unwrap();
    let mapping = mapping.display().to_string();
    let bad_mapping = dir.path().join("bad.json");
    std::fs::write(&bad_mapping, r#"{"amount_basis": "tax"}"#).unwrap();
    let bad_mapping = bad_mapping.display().to_string();
    let secrets = format!("{WHSEC_1},{WHSEC_2}");
    let mut seen = Seen::default();
    let add = ["portals", "add", "acme", "--stripe-account", "acct_1ACME"];
    let base = [
        ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
        ("HUBSPOT_ACCESS_TOKEN", PORTAL_TOKEN),
    ];

    // Each switch without its variable, or with a malformed value: 2, naming it.
    fn with<'a>(add: &[&'a str], flags: &[&'a str]) -> Vec<&'a str> {
        add.iter().chain(flags).copied().collect()
    }
    seen.run(&with(&add, &["--webhook-secret"]), &base)
        .await
        .expect(2, &["STRIPE_WEBHOOK_SECRET"]);
    let malformed = [
        base[0],
        base[1],
        ("STRIPE_WEBHOOK_SECRET", "whsec_ok,sk_live_SECRET"),
    ];
    seen.run(&with(&add, &["--webhook-secret"]), &malformed)
        .await
        .expect(2, &["STRIPE_WEBHOOK_SECRET"]);
    seen.run(&with(&add, &["--slack"]), &base)
        .await
        .expect(2, &["SLACK_WEBHOOK_URL"]);
    let plain_http = [
        base[0],
        base[1],
        ("SLACK_WEBHOOK_URL", "hooks.example/SECRET"),
    ];
    seen.run(&with(&add, &["--slack"]), &plain_http)
        .await
        .expect(2, &["SLACK_WEBHOOK_URL"]);
    seen.run(&with(&add, &["--mapping", &bad_mapping]), &base)
        .await
        .expect(2, &["--mapping", "amount_basis"]);
    seen.run(&with(&add, &["--mapping", "/nonexistent/m.json"]), &base)
        .await
        .expect(2, &["--mapping"]);
    let store = stripe2hubspot::queue::connect(&queue).await.unwrap();
    assert!(
        store.portals.list().await.unwrap().is_empty(),
        "nothing stored"
    );

    let all = [
        base[0],
        base[1],
        ("STRIPE_WEBHOOK_SECRET", secrets.as_str()),
        ("SLACK_WEBHOOK_URL", SLACK),
    ];
    seen.run(
        &with(
            &add,
            &["--webhook-secret", "--slack", "--mapping", &mapping],
        ),
        &all,
    )
    .await
    .expect(0, &["added portal acme"]);
    let portal = store.portals.get("acme").await.unwrap().unwrap();
    assert_eq!(portal.webhook_secrets.unwrap().expose(), secrets);
    assert_eq!(portal.alert_url.unwrap().expose(), SLACK);
    let stored: serde_json::Value = serde_json::from_str(&portal.mapping.unwrap()).unwrap();
    assert_eq!(stored["customer_id_property"], "acme_cus");

    // set replaces one secret alone; the token stays without HUBSPOT_ACCESS_TOKEN.
    let rotated = [base[0], ("STRIPE_WEBHOOK_SECRET", WHSEC_2)];
    seen.run(&["portals", "set", "acme", "--webhook-secret"], &rotated)
        .await
        .expect(0, &["changed portal acme"]);
    let portal = store.portals.get("acme").await.unwrap().unwrap();
    assert_eq!(portal.webhook_secrets.unwrap().expose(), WHSEC_2);
    assert_eq!(portal.token.expose(), PORTAL_TOKEN);
    assert_eq!(portal.alert_url.unwrap().expose(), SLACK);
    seen.run(&["portals", "list"], &[base[0]])
        .await
        .expect(0, &["acme", "acct_1ACME"]);
    seen.assert_no_secret(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_each_portal_with_its_own_settings_and_exits_with_the_worst() {
    let env_hubspot = FakeHubSpot::start().await;
    let acme_hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_url(&dir);
    let mut seen = Seen::default();
    let acme_token = acme_hubspot.token();
    let acme_url = acme_hubspot.base_url();
    seen.run(
        &[
            "portals",
            "add",
            "acme",
            "--stripe-account",
            "acct_1ACME",
            "--hubspot-base-url",
            &acme_url,
        ],
        &[
            ("STRIPE2HUBSPOT_QUEUE", &queue),
            ("HUBSPOT_ACCESS_TOKEN", &acme_token),
        ],
    )
    .await
    .expect(0, &[]);

    // A stored portal needs no HUBSPOT_ACCESS_TOKEN: its own token and host are checked.
    let only_queue = [
        ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
        ("STRIPE_WEBHOOK_SECRET", WHSEC_1),
    ];
    seen.run(&["doctor", "--portal", "acme", "--fix"], &only_queue)
        .await
        .expect(0, &["== portal acme ==", "ok    token"]);
    assert!(acme_hubspot.has_property("deals", "stripe_payment_id"));
    assert!(
        !env_hubspot.has_property("deals", "stripe_payment_id"),
        "the environment's portal was not touched"
    );
    seen.run(&["doctor", "--portal", "nope"], &only_queue)
        .await
        .expect(2, &["nope"]);

    // --all: the environment's portal (fixed first) passes, acme's revoked token fails it.
    let env_url = env_hubspot.base_url();
    let env_token = env_hubspot.token();
    let all_env = [
        only_queue[0],
        only_queue[1],
        ("HUBSPOT_ACCESS_TOKEN", env_token.as_str()),
        ("HUBSPOT_BASE_URL", env_url.as_str()),
    ];
    seen.run(&["doctor", "--portal", "default", "--fix"], &all_env)
        .await
        .expect(0, &["== portal default =="]);
    acme_hubspot.set_token("pat-rotated-elsewhere");
    let all = seen.run(&["doctor", "--all"], &all_env).await;
    all.expect(1, &["== portal default ==", "== portal acme =="]);
    let acme_section = all.stdout.split("== portal acme ==").nth(1).unwrap();
    let default_section = all.stdout.split("== portal acme ==").next().unwrap();
    assert!(
        acme_section.contains("FAIL  token") && acme_section.contains("portal acme"),
        "{}",
        all.stdout
    );
    assert!(!default_section.contains("FAIL"), "{}", all.stdout);
    seen.assert_no_secret(&[&acme_token, &env_token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_and_reconcile_of_a_connect_portal_read_each_account_with_stripe_account() {
    let dir = tempfile::tempdir().unwrap();
    connect_backfill(queue_url(&dir)).await;
}

/// A fresh PostgreSQL database for `scenario`, dropped after it, or `None` (a skipped test)
/// without STRIPE2HUBSPOT_TEST_POSTGRES_URL.
#[cfg(feature = "postgres")]
async fn on_postgres<F, Fut>(what: &str, scenario: F)
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    use sqlx::Connection;
    let Ok(admin_url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none(),
            "STRIPE2HUBSPOT_REQUIRE_POSTGRES is set but STRIPE2HUBSPOT_TEST_POSTGRES_URL is not"
        );
        eprintln!(
            "skipping the PostgreSQL {what} test: STRIPE2HUBSPOT_TEST_POSTGRES_URL is not set"
        );
        return;
    };
    let name = format!("s2h_cli_{what}_{}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    for statement in [
        format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        format!("CREATE DATABASE {name}"),
    ] {
        sqlx::query(&statement).execute(&mut admin).await.unwrap();
    }
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .unwrap_or(&admin_url);
    // On a task of its own so the database is dropped even if the scenario fails.
    let outcome = tokio::spawn(scenario(format!("{base}/{name}"))).await;
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic.into_panic());
    }
}

/// On PostgreSQL the command's engine writes under the portal's lease, without joining the
/// servers' balance.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_backfill_on_postgres() {
    on_postgres("connect_backfill", connect_backfill).await;
}

async fn connect_backfill(queue: String) {
    let stripe = FakeStripe::start().await;
    // Two connected accounts of the portal, and the platform's own payments, which are not
    // the portal's.
    for i in 0..3 {
        let payer = |charge, n: &str| {
            objects::with_payer(charge, &format!("{n}{i}@example.com"), "Payer", None)
        };
        let a = payer(
            objects::charge(&format!("ch_acctA_{i}"), T0 + i, 1_000 + i, "usd"),
            "a",
        );
        stripe.insert_for_account("acct_1A", a).unwrap();
        let b = payer(
            objects::charge(&format!("ch_acctB_{i}"), T0 + 10 + i, 2_000 + i, "eur"),
            "b",
        );
        stripe.insert_for_account("acct_1B", b).unwrap();
        let platform = payer(
            objects::charge(&format!("ch_platform_{i}"), T0 + 20 + i, 500, "usd"),
            "p",
        );
        stripe.insert(platform).unwrap();
    }
    let acme = FakeHubSpot::start().await;
    let env_hubspot = FakeHubSpot::start().await;
    let mut seen = Seen::default();
    let acme_token = acme.token();
    let acme_url = acme.base_url();
    seen.run(
        &[
            "portals",
            "add",
            "acme",
            "--stripe-account",
            "acct_1A",
            "--stripe-account",
            "acct_1B",
            "--hubspot-base-url",
            &acme_url,
        ],
        &[
            ("STRIPE2HUBSPOT_QUEUE", &queue),
            ("HUBSPOT_ACCESS_TOKEN", &acme_token),
        ],
    )
    .await
    .expect(0, &[]);

    let key = stripe.key();
    let base = stripe.base_url();
    let env_url = env_hubspot.base_url();
    let env = [
        ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
        ("STRIPE_SECRET_KEY", key.as_str()),
        ("STRIPE_API_BASE", base.as_str()),
        // The environment's portal is another one: nothing may reach it.
        ("HUBSPOT_BASE_URL", env_url.as_str()),
    ];
    seen.run(&["backfill", "--portal", "nope", "--since", SINCE], &env)
        .await
        .expect(2, &["nope"]);
    seen.run(&["backfill", "--portal", "acme", "--since", SINCE], &env)
        .await
        .expect(0, &["Stripe account acct_1A", "Stripe account acct_1B"]);
    let requests = stripe.requests();
    assert!(!requests.is_empty());
    for account in ["acct_1A", "acct_1B"] {
        assert!(
            requests
                .iter()
                .any(|r| r.stripe_account.as_deref() == Some(account)),
            "{account} was read"
        );
    }
    assert!(
        requests.iter().all(|r| r.stripe_account.is_some()),
        "every Stripe call of a Connect portal carries Stripe-Account"
    );
    let mut payments: Vec<String> = acme
        .deals()
        .iter()
        .map(|d| d.property("stripe_payment_id").unwrap().to_owned())
        .collect();
    payments.sort();
    assert_eq!(
        payments,
        [
            "ch_acctA_0",
            "ch_acctA_1",
            "ch_acctA_2",
            "ch_acctB_0",
            "ch_acctB_1",
            "ch_acctB_2"
        ]
    );
    assert!(
        env_hubspot.deals().is_empty(),
        "nothing in the other portal"
    );
    assert!(env_hubspot.requests().is_empty(), "not even a request");

    // The payments are the portal's alone: the root store's ledger has none.
    let store = stripe2hubspot::queue::connect(&queue).await.unwrap();
    assert_eq!(store.admin.stats().await.unwrap().done, 0);

    seen.run(&["reconcile", "--portal", "acme"], &env)
        .await
        .expect(0, &["6 in sync"]);
    let deal = acme.deals()[0].id.clone();
    assert!(acme.edit_property("deals", &deal, "amount", Some("1.23")));
    seen.run(&["reconcile", "--portal", "acme"], &env)
        .await
        .expect(1, &["1 drifted"]);
    seen.run(&["reconcile", "--portal", "acme", "--repair"], &env)
        .await
        .expect(0, &[]);
    seen.run(&["reconcile", "--portal", "acme"], &env)
        .await
        .expect(0, &["6 in sync"]);
    // The commands announced no process (the servers' balance never counted them) and gave
    // the portal back.
    let second = std::time::Duration::from_secs(1);
    let live = store.leases.heartbeat("observer", second).await.unwrap();
    assert_eq!(live.len(), 1, "{live:?}");
    assert!(store
        .leases
        .acquire_lease("acme", "observer", second)
        .await
        .unwrap()
        .is_some());
    seen.assert_no_secret(&[&acme_token, &key]);
}

#[tokio::test]
async fn status_shows_each_portal_and_the_unrouted_events_and_purge_deletes_one_portals_data() {
    let dir = tempfile::tempdir().unwrap();
    status_and_purge(queue_url(&dir)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn status_and_purge_on_postgres() {
    on_postgres("portal_ops", status_and_purge).await;
}

async fn status_and_purge(queue: String) {
    let mut seen = Seen::default();
    let with_token = [
        ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
        ("HUBSPOT_ACCESS_TOKEN", PORTAL_TOKEN),
    ];
    for (id, account) in [("acme", "acct_1ACME"), ("beta", "acct_1BETA")] {
        seen.run(
            &["portals", "add", id, "--stripe-account", account],
            &with_token,
        )
        .await
        .expect(0, &[]);
    }
    // Data of each portal, and an event of an account no portal claims.
    let store = stripe2hubspot::queue::connect(&queue).await.unwrap();
    for (id, events) in [("acme", 3), ("beta", 2)] {
        let own = store.portal(id).await.unwrap();
        for n in 0..events {
            own.queue
                .enqueue(job(&format!("evt_{id}_{n}")))
                .await
                .unwrap();
        }
    }
    store
        .unrouted
        .store_unrouted("acct_1NOBODY", job("evt_nobody"))
        .await
        .unwrap();

    let only_queue = [("STRIPE2HUBSPOT_QUEUE", queue.as_str())];
    let status = seen.run(&["status"], &only_queue).await;
    status.expect(
        0,
        &["portal acme (Stripe account(s) acct_1ACME):", "portal beta"],
    );
    let section = |text: &str, id: &str| {
        text.split(&format!("portal {id} "))
            .nth(1)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned()
    };
    assert!(
        section(&status.stdout, "acme").contains("ready=3"),
        "{}",
        status.stdout
    );
    assert!(
        section(&status.stdout, "beta").contains("ready=2"),
        "{}",
        status.stdout
    );
    assert!(
        !status.stdout.contains("portal default"),
        "no default without its token or data: {}",
        status.stdout
    );
    assert!(
        status.stdout.contains("acct_1NOBODY: 1 event(s)"),
        "{}",
        status.stdout
    );
    let one = seen.run(&["status", "--portal", "beta"], &only_queue).await;
    one.expect(0, &["portal beta"]);
    assert!(
        !one.stdout.contains("acme") && !one.stdout.contains("unrouted"),
        "{}",
        one.stdout
    );
    seen.run(&["status", "--portal", "nope"], &only_queue)
        .await
        .expect(2, &["nope"]);
    seen.run(&["dead-letters", "--portal", "beta", "list"], &only_queue)
        .await
        .expect(0, &["no dead letters"]);

    // Removed without --purge: the data stays, and the output says so.
    seen.run(&["portals", "remove", "acme"], &only_queue)
        .await
        .expect(0, &["removed portal acme", "--purge"]);
    let acme_data = store.portals.namespace("acme").await.unwrap();
    assert_eq!(acme_data.admin.stats().await.unwrap().ready, 3);
    // --purge deletes what was left of it; beta's data stays.
    seen.run(&["portals", "remove", "acme", "--purge"], &only_queue)
        .await
        .expect(0, &["purged portal acme"]);
    // This connection opened the namespace before another process purged it: reopening it
    // finds it empty, not broken.
    let acme_data = store.portals.namespace("acme").await.unwrap();
    assert_eq!(acme_data.admin.stats().await.unwrap().ready, 0);
    let beta_data = store.portal("beta").await.unwrap();
    assert_eq!(beta_data.admin.stats().await.unwrap().ready, 2);
    // Removing beta with --purge at once.
    seen.run(&["portals", "remove", "beta", "--purge"], &only_queue)
        .await
        .expect(0, &["removed portal beta", "purged portal beta"]);
    let beta_data = store.portals.namespace("beta").await.unwrap();
    assert_eq!(beta_data.admin.stats().await.unwrap().ready, 0);
    // No stored portal left: today's single-portal lines again.
    let plain = seen.run(&["status"], &only_queue).await;
    plain.expect(0, &[]);
    assert!(plain.stdout.starts_with("queue: "), "{}", plain.stdout);
    seen.assert_no_secret(&[]);
}
