//! Many portals in one process: the fleet routes each Connect event to the portal claiming
//! its account, keeps unclaimed ones until a portal claims them, and runs one engine per
//! portal that starts, stops and pauses on its own.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stripe2hubspot::admin::AdminToken;
use stripe2hubspot::alert::RecordingAlerter;
use stripe2hubspot::engine::PauseReason;
use stripe2hubspot::fleet::Fleet;
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::ingest::WEBHOOK_PATH;
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::{MemoryQueue, Portal, PortalChange, PortalToken, SqliteQueue, Store};
use stripe2hubspot::testkit::{sign_now, Payment};
use stripe2hubspot::Config;

use crate::common::{fast, SECRET};

/// Generous: each wait ends as soon as its condition holds.
const DEADLINE: Duration = Duration::from_secs(30);
const ADMIN: &str = "fleet-test-admin-token-0123456789";

struct Rig {
    fleet: Fleet,
    base: String,
    http: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
    _dir: Option<tempfile::TempDir>,
}

impl Rig {
    /// A fleet over `store` without a `default` portal, serving the webhook routes and the
    /// admin API on loopback, with test timings.
    async fn start(store: Store, dir: Option<tempfile::TempDir>) -> Rig {
        let config = Config::new(vec![SECRET.to_owned()], "");
        let fleet = Fleet::builder(store, config, MappingConfig::default())
            .default_portal(false)
            .alerter(Arc::new(RecordingAlerter::new()))
            .check_every(Duration::from_millis(200))
            .sweep_every(Duration::from_millis(500))
            .engine(|_, builder| fast(builder))
            .build()
            .await
            .unwrap();
        let router = stripe2hubspot::ingest::axum::router(fleet.ingest()).merge(
            stripe2hubspot::admin::fleet_router(fleet.clone(), AdminToken::new(ADMIN).unwrap()),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = fleet.clone();
        let task = tokio::spawn(async move {
            running
                .run(async {
                    let _ = stopped.await;
                })
                .await
        });
        Rig {
            fleet,
            base,
            http: reqwest::Client::new(),
            stop: Some(stop),
            task: Some(task),
            _dir: dir,
        }
    }

    async fn memory() -> Rig {
        Rig::start(Store::new(MemoryQueue::new()), None).await
    }

    async fn sqlite() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(
            SqliteQueue::open(dir.path().join("queue.db"))
                .await
                .unwrap(),
        );
        Rig::start(store, Some(dir)).await
    }

    /// POSTs `event` signed with `secret` to `path`; returns the status and the JSON body.
    async fn post(&self, path: &str, event: &Value, secret: &str) -> (u16, Value) {
        let body = event.to_string();
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .header("Stripe-Signature", sign_now(body.as_bytes(), secret))
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn send(&self, event: &Value) -> (u16, Value) {
        self.post(WEBHOOK_PATH, event, SECRET).await
    }

    async fn admin(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(ADMIN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn add(&self, id: &str, accounts: &[&str], fake: &FakeHubSpot) {
        self.fleet
            .store()
            .portals
            .add(portal(id, accounts, fake))
            .await
            .unwrap();
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }
}

fn portal(id: &str, accounts: &[&str], fake: &FakeHubSpot) -> Portal {
    Portal {
        id: id.to_owned(),
        token: PortalToken::new(fake.token()).unwrap(),
        accounts: accounts.iter().map(|a| a.to_string()).collect(),
        rate_limit: "100/10s".into(),
        hubspot_base_url: Some(fake.base_url()),
        api_version: None,
        paused: false,
        webhook_secrets: None,
        mapping: None,
        alert_url: None,
    }
}

/// Payment `n`'s `charge.succeeded`, as a Connect endpoint receives it from `account`
/// (`None`: the platform's own event, without `account`).
fn payment(n: u64, account: Option<&str>) -> (Value, String) {
    let payment = Payment::numbered(
        n,
        &format!("buyer{n}@example.com"),
        1000 + n as i64,
        "usd",
        1_700_000_000 + n as i64,
    );
    let mut event = payment.charge_succeeded();
    if let Some(account) = account {
        event["account"] = json!(account);
    }
    let key = payment
        .payment_intent
        .clone()
        .unwrap_or_else(|| payment.charge_id.clone());
    (event, key)
}

fn payment_ids(fake: &FakeHubSpot) -> BTreeSet<String> {
    fake.deals()
        .iter()
        .filter_map(|d| d.property("stripe_payment_id").map(str::to_owned))
        .collect()
}

async fn eventually(what: &str, mut done: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < DEADLINE,
            "{what} did not happen within {DEADLINE:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    started.elapsed()
}

async fn connect_events_land_in_their_own_portal_only(rig: Rig) {
    let (a, b) = (FakeHubSpot::start().await, FakeHubSpot::start().await);
    rig.add("alpha", &["acct_alpha"], &a).await;
    rig.add("beta", &["acct_beta"], &b).await;
    rig.fleet.reload().await.unwrap();
    let mut expected_a = BTreeSet::new();
    let mut expected_b = BTreeSet::new();
    for n in 1..=6 {
        let (account, expected) = if n % 2 == 0 {
            ("acct_alpha", &mut expected_a)
        } else {
            ("acct_beta", &mut expected_b)
        };
        let (event, key) = payment(n, Some(account));
        let (status, body) = rig.send(&event).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("queued")),
            "{body}"
        );
        // A redelivery is a duplicate of the portal's own queue.
        let (status, body) = rig.send(&event).await;
        assert_eq!(
            (status, body["status"].as_str()),
            (200, Some("duplicate")),
            "{body}"
        );
        expected.insert(key);
    }
    eventually("both portals synced", || {
        payment_ids(&a) == expected_a && payment_ids(&b) == expected_b
    })
    .await;
    // Nothing of one portal reached the other, and no payment got a second deal.
    assert_eq!(a.deals().len(), 3);
    assert_eq!(b.deals().len(), 3);
    assert!(payment_ids(&a).is_disjoint(&payment_ids(&b)));
    // A deal is written before its job completes: wait for the queue to say done.
    let started = Instant::now();
    let report = loop {
        let (status, report) = rig.admin(reqwest::Method::GET, "/admin/status", None).await;
        assert_eq!(status, 200, "{report}");
        if report["portals"][0]["queue"]["done"] == 3 && report["portals"][1]["queue"]["done"] == 3
        {
            break report;
        }
        assert!(started.elapsed() < DEADLINE, "{report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(report["leading"], json!(["alpha", "beta"]), "{report}");
    assert!(report["process_id"].as_str().is_some_and(|p| !p.is_empty()));
    let portals = report["portals"].as_array().unwrap();
    assert_eq!(portals.len(), 2, "{report}");
    assert_eq!(portals[0]["id"], "alpha");
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_events_land_in_their_own_portal_only_in_memory() {
    connect_events_land_in_their_own_portal_only(Rig::memory().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connect_events_land_in_their_own_portal_only_on_sqlite() {
    connect_events_land_in_their_own_portal_only(Rig::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unrouted_event_is_synced_once_a_portal_claims_its_account() {
    let rig = Rig::memory().await;
    let fake = FakeHubSpot::start().await;
    let (event, key) = payment(1, Some("acct_later"));
    let (status, body) = rig.send(&event).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "unrouted", "{body}");
    assert_eq!(body["account"], "acct_later", "{body}");
    // A redelivery stores nothing twice.
    assert_eq!(rig.send(&event).await.1["status"], "duplicate");
    let (_, unrouted) = rig
        .admin(reqwest::Method::GET, "/admin/unrouted", None)
        .await;
    assert_eq!(
        unrouted,
        json!({"events": 1, "accounts": [{"account": "acct_later", "events": 1}]})
    );
    assert_eq!(rig.fleet.ingest().stats().unrouted, 1);

    // Claimed through the store, as `stripe2hubspot portals add` in another process does:
    // the supervisor's poll picks it up.
    let claimed = Instant::now();
    rig.add("later", &["acct_later"], &fake).await;
    eventually("the unrouted payment synced", || {
        payment_ids(&fake) == BTreeSet::from([key.clone()])
    })
    .await;
    let took = claimed.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "synced {took:?} after the claim"
    );
    let (_, unrouted) = rig
        .admin(reqwest::Method::GET, "/admin/unrouted", None)
        .await;
    assert_eq!(unrouted["events"], 0, "{unrouted}");
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_without_an_account_follow_the_path_then_the_secret() {
    let rig = Rig::memory().await;
    let (plain, own) = (FakeHubSpot::start().await, FakeHubSpot::start().await);
    rig.add("plain", &["acct_plain"], &plain).await;
    let own_secret = "whsec_the_portals_own_endpoint";
    let mut with_secret = portal("own", &["acct_own"], &own);
    with_secret.webhook_secrets = Some(PortalToken::new(own_secret).unwrap());
    rig.fleet.store().portals.add(with_secret).await.unwrap();
    rig.fleet.reload().await.unwrap();

    // The path names the portal; the deployment's secret verifies a portal without its own.
    let (event, path_key) = payment(1, None);
    let (status, body) = rig.post("/api/webhooks/stripe/plain", &event, SECRET).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    // The portal's own secret verifies on the shared path and routes there.
    let (event, secret_key) = payment(2, None);
    let (status, body) = rig.post(WEBHOOK_PATH, &event, own_secret).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (200, Some("queued")),
        "{body}"
    );
    // ... and on its own path only its secret does.
    let (event, _) = payment(3, None);
    assert_eq!(
        rig.post("/api/webhooks/stripe/own", &event, SECRET).await.0,
        400
    );
    // An unknown portal's path is 404; an unverifiable body 400.
    assert_eq!(
        rig.post("/api/webhooks/stripe/nobody", &event, SECRET)
            .await
            .0,
        404
    );
    assert_eq!(rig.post(WEBHOOK_PATH, &event, "whsec_nobodys").await.0, 400);
    // No account, no path, the deployment's secret and no default portal: unrouted.
    let (status, body) = rig.send(&event).await;
    assert_eq!(
        (status, body["account"].as_str()),
        (200, Some("platform")),
        "{body}"
    );

    eventually("both routes synced", || {
        payment_ids(&plain) == BTreeSet::from([path_key.clone()])
            && payment_ids(&own) == BTreeSet::from([secret_key.clone()])
    })
    .await;
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revoked_token_pauses_its_portal_alone_and_removal_stops_it() {
    let rig = Rig::memory().await;
    let (sick, well) = (FakeHubSpot::start().await, FakeHubSpot::start().await);
    rig.add("sick", &["acct_sick"], &sick).await;
    rig.add("well", &["acct_well"], &well).await;
    rig.fleet.reload().await.unwrap();
    let good_token = sick.token();
    sick.set_token("revoked-token");
    let mut sick_keys = BTreeSet::new();
    let mut well_keys = BTreeSet::new();
    for n in 1..=4 {
        let (event, key) = payment(n, Some("acct_sick"));
        assert_eq!(rig.send(&event).await.0, 200);
        sick_keys.insert(key);
        let (event, key) = payment(100 + n, Some("acct_well"));
        assert_eq!(rig.send(&event).await.0, 200);
        well_keys.insert(key);
    }
    let fleet = rig.fleet.clone();
    eventually("the sick portal paused", || {
        fleet
            .engine("sick")
            .is_some_and(|e| e.paused() == Some(PauseReason::Unauthorized))
    })
    .await;
    eventually("the well portal synced", || payment_ids(&well) == well_keys).await;
    assert!(fleet.engine("well").unwrap().paused().is_none());
    assert!(sick.deals().is_empty());
    // The leader records the pause for `portals list`.
    let store = fleet.store().clone();
    let recorded = async {
        let started = Instant::now();
        loop {
            let stored = store.portals.get("sick").await.unwrap().unwrap();
            if stored.paused {
                break;
            }
            assert!(started.elapsed() < DEADLINE, "pause never recorded");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    recorded.await;

    sick.set_token(good_token);
    eventually("the sick portal resumed and synced", || {
        payment_ids(&sick) == sick_keys
    })
    .await;

    // A settings change restarts the portal's engine; a removal stops it.
    eventually("the well portal's jobs completed", || {
        fleet.engine("well").unwrap().metrics().synced == 4
    })
    .await;
    store
        .portals
        .set(
            "well",
            PortalChange {
                rate_limit: Some("50/10s".into()),
                ..PortalChange::default()
            },
        )
        .await
        .unwrap();
    eventually("the changed portal restarted", || {
        // A new engine: its counters start again.
        fleet
            .engine("well")
            .is_some_and(|e| e.metrics().synced == 0)
    })
    .await;
    store.portals.remove("well").await.unwrap();
    eventually("the removed portal stopped", || {
        fleet.portal("well").is_none()
    })
    .await;
    let (event, _) = payment(200, Some("acct_well"));
    assert_eq!(rig.send(&event).await.1["status"], "unrouted");
    rig.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_admin_api_manages_portals_without_showing_secrets() {
    let rig = Rig::memory().await;
    let fake = FakeHubSpot::start().await;
    use reqwest::Method;
    let good = json!({
        "id": "acme-eu",
        "token": fake.token(),
        "stripe_accounts": ["acct_acme"],
        "hubspot_base_url": fake.base_url(),
        "webhook_secret": "whsec_acme_secret_value",
        "slack_webhook_url": "https://hooks.slack.com/services/T0/B0/slacksecretvalue",
    });
    let (status, body) = rig
        .admin(Method::POST, "/admin/portals", Some(good.clone()))
        .await;
    assert_eq!(status, 201, "{body}");
    assert!(rig.fleet.portal("acme-eu").is_some(), "picked up at once");
    // Taken id, claimed account, bad fields.
    let (status, body) = rig
        .admin(Method::POST, "/admin/portals", Some(good.clone()))
        .await;
    assert_eq!(status, 409, "{body}");
    let mut other = good.clone();
    other["id"] = json!("other");
    let (status, body) = rig
        .admin(Method::POST, "/admin/portals", Some(other.clone()))
        .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("acme-eu"),
        "{body}"
    );
    for (field, value) in [
        ("rate_limit", json!("fast")),
        ("api_version", json!("v3")),
        ("hubspot_base_url", json!("ftp://x")),
        ("webhook_secret", json!("sk_live_oops")),
        ("stripe_accounts", json!(["cus_1"])),
        ("mapping", json!({"amount_basis": "tax"})),
        ("id", json!("Not A Slug")),
    ] {
        let mut bad = other.clone();
        bad["stripe_accounts"] = json!(["acct_other"]);
        bad[field] = value;
        let (status, body) = rig.admin(Method::POST, "/admin/portals", Some(bad)).await;
        assert_eq!(
            (status, body["field"].as_str()),
            (400, Some(field)),
            "{body}"
        );
        assert!(!body.to_string().contains("sk_live_oops"), "{body}");
    }
    let (status, body) = rig
        .admin(
            Method::PATCH,
            "/admin/portals/acme-eu",
            Some(json!({"rate_limit": "50/10s"})),
        )
        .await;
    assert_eq!(
        (status, body["portal"]["rate_limit"].as_str()),
        (200, Some("50/10s")),
        "{body}"
    );
    let (status, _) = rig
        .admin(
            Method::PATCH,
            "/admin/portals/nobody",
            Some(json!({"rate_limit": "50/10s"})),
        )
        .await;
    assert_eq!(status, 404);
    let (status, list) = rig.admin(Method::GET, "/admin/portals", None).await;
    assert_eq!(status, 200);
    let shown = list.to_string();
    for secret in [
        fake.token().as_str(),
        "whsec_acme_secret_value",
        "slacksecretvalue",
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }
    assert_eq!(list["portals"][0]["own_webhook_secret"], true, "{list}");
    // Per-portal routes take ?portal=; an unknown one is 404.
    let (status, body) = rig
        .admin(Method::GET, "/admin/dead-letters?portal=acme-eu", None)
        .await;
    assert_eq!(
        (status, body["dead_letters"].clone()),
        (200, json!([])),
        "{body}"
    );
    let (status, _) = rig
        .admin(Method::GET, "/admin/waiting?portal=nobody", None)
        .await;
    assert_eq!(status, 404);
    let (status, body) = rig
        .admin(Method::POST, "/admin/pause?portal=acme-eu", None)
        .await;
    assert_eq!(status, 200, "{body}");
    let fleet = rig.fleet.clone();
    eventually("the portal paused", || {
        fleet
            .engine("acme-eu")
            .is_some_and(|e| e.paused().is_some())
    })
    .await;
    let (status, _) = rig
        .admin(Method::DELETE, "/admin/portals/acme-eu?purge=true", None)
        .await;
    assert_eq!(status, 200);
    assert!(rig.fleet.portal("acme-eu").is_none());
    let (status, _) = rig
        .admin(Method::DELETE, "/admin/portals/acme-eu", None)
        .await;
    assert_eq!(status, 404);
    rig.shutdown().await;
}

#[tokio::test]
async fn a_single_queue_ingest_knows_only_the_default_portal_path() {
    use stripe2hubspot::ingest::Ingest;
    use stripe2hubspot::stripe_events::Verifier;
    let store = Store::new(MemoryQueue::new());
    let ingest = Ingest::builder(Verifier::new(SECRET).unwrap(), store.queue.clone()).build();
    let (event, _) = payment(1, Some("acct_ignored_here"));
    let body = event.to_string();
    let signature = sign_now(body.as_bytes(), SECRET);
    let other = ingest
        .handle_for("acme", Some(&signature), body.as_bytes())
        .await;
    assert_eq!(other.status(), 404, "{}", other.body());
    // One queue: the account does not matter, and `default` is that queue.
    let default = ingest
        .handle_for("default", Some(&signature), body.as_bytes())
        .await;
    assert_eq!((default.status(), default.outcome.label()), (200, "queued"));
    let shared = ingest.handle(Some(&signature), body.as_bytes()).await;
    assert_eq!(shared.outcome.label(), "duplicate");
    assert_eq!(ingest.stats().rejected, 1);
}
