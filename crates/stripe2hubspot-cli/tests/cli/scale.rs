//! Scale-out, as a user runs it: `stripe2hubspot serve` processes share one PostgreSQL queue
//! and one HubSpot portal (the fake, at 100 requests per 10 s); the elected leader is killed
//! mid-run, and a SIGTERM arrives mid-burst.
//!
//! Runs when `STRIPE2HUBSPOT_TEST_POSTGRES_URL` is set (CI sets it, with
//! `STRIPE2HUBSPOT_REQUIRE_POSTGRES=1`); each test creates a fresh database and drops it after.
//!
//! ```sh
//! STRIPE2HUBSPOT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test -p stripe2hubspot-cli --all-features --test cli scale:: -- --nocapture
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant};

use hubspot_crm::fake::{Failure, FakeHubSpot, RequestRecord};
use hubspot_crm::RateLimit;
use serde_json::Value;
use sqlx::Connection;
use stripe2hubspot::engine::DEAL_ID_PROPERTY;
use stripe2hubspot::testkit::Payment;

use crate::common::{output, sample, Server, ADMIN_TOKEN, SECRET};

const PAYMENTS: u64 = 2_000;
const EMAILS: u64 = 400;
const SERVERS: usize = 3;
const QUOTA: usize = 100;
const WINDOW: Duration = Duration::from_secs(10);
/// Pause between chunks of 20 deliveries: 2,200 deliveries over about 35 s.
const PACE: Duration = Duration::from_millis(300);
/// Bounds of the waits below: far above a passing run on a slow CI machine.
const SYNC_PATIENCE: Duration = Duration::from_secs(120);

/// A fresh database for one test, dropped afterwards (also used by `portals_scale`).
pub(crate) struct Database {
    admin_url: String,
    name: String,
    pub(crate) url: String,
}

impl Database {
    pub(crate) async fn create(test: &str) -> Option<Database> {
        let Ok(admin_url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none(),
                "STRIPE2HUBSPOT_REQUIRE_POSTGRES is set but STRIPE2HUBSPOT_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipping the scale-out test: STRIPE2HUBSPOT_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("s2h_cli_scale_{}_{test}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .unwrap();
        let base = admin_url
            .rsplit_once('/')
            .map(|(base, _)| base)
            .unwrap_or(&admin_url);
        let url = format!("{base}/{name}");
        Some(Database {
            admin_url,
            name,
            url,
        })
    }

    /// Jobs the store holds as leased (state 1), expired or not.
    async fn leased_rows(&self) -> i64 {
        let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
        sqlx::query_scalar("SELECT COUNT(*) FROM stripe2hubspot_jobs WHERE state = 1")
            .fetch_one(&mut db)
            .await
            .unwrap()
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                if let Ok(mut admin) = sqlx::PgConnection::connect(&admin_url).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await;
                }
            });
        })
        .join();
    }
}

/// The environment of one `serve` process on the shared queue.
fn env(hubspot: &FakeHubSpot, queue: &str) -> Vec<(String, String)> {
    vec![
        ("STRIPE_WEBHOOK_SECRET".into(), SECRET.into()),
        ("HUBSPOT_ACCESS_TOKEN".into(), hubspot.token()),
        ("HUBSPOT_BASE_URL".into(), hubspot.base_url()),
        ("HUBSPOT_RATE_LIMIT".into(), "100/10s".into()),
        ("STRIPE2HUBSPOT_QUEUE".into(), queue.into()),
        ("BIND_ADDR".into(), "127.0.0.1:0".into()),
        ("ADMIN_TOKEN".into(), ADMIN_TOKEN.into()),
        ("RUST_LOG".into(), "warn".into()),
    ]
}

async fn start(hubspot: &FakeHubSpot, queue: &str, log: std::path::PathBuf) -> Server {
    Server::start_logging_to(&env(hubspot, queue), &log).await
}

async fn json(server: &Server, path: &str, token: Option<&str>) -> Value {
    let (_, text) = server.get(path, token).await;
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Jobs not yet done or dead, from a server's `/admin/status`; `None` while it cannot say.
async fn pending(server: &Server) -> (Option<u64>, Value) {
    let report = json(server, "/admin/status", Some(ADMIN_TOKEN)).await;
    let queue = report["queue"].clone();
    let pending = ["ready", "delayed", "leased"]
        .iter()
        .map(|k| queue[*k].as_u64())
        .sum::<Option<u64>>();
    (pending, queue)
}

fn amount(n: u64) -> i64 {
    1_000 + n as i64
}

/// Payment `n`'s `created`: scrambled, so arrival order is not time order.
fn created(n: u64) -> i64 {
    1_700_000_000 + ((n * 7_919) % PAYMENTS) as i64
}

fn email(n: u64) -> String {
    format!("buyer{}@example.com", n % EMAILS)
}

fn event(n: u64) -> String {
    Payment::numbered(n, &email(n), amount(n), "usd", created(n))
        .charge_succeeded()
        .to_string()
}

fn deal_keys(hubspot: &FakeHubSpot) -> BTreeSet<String> {
    hubspot
        .deals()
        .iter()
        .filter_map(|d| d.property(DEAL_ID_PROPERTY).map(str::to_owned))
        .collect()
}

/// The most requests the fake handled in any rolling `WINDOW`.
pub(crate) fn max_in_any_window(requests: &[RequestRecord]) -> usize {
    let mut times: Vec<Instant> = requests.iter().map(|r| r.at).collect();
    times.sort();
    let mut window: VecDeque<Instant> = VecDeque::new();
    let mut best = 0;
    for t in times {
        window.push_back(t);
        while window
            .front()
            .is_some_and(|f| t.duration_since(*f) >= WINDOW)
        {
            window.pop_front();
        }
        best = best.max(window.len());
    }
    best
}

/// The server whose `/healthz` says it leads, waiting until one does.
async fn leader(servers: &[Server]) -> usize {
    let started = Instant::now();
    loop {
        for (i, server) in servers.iter().enumerate().filter(|(_, s)| s.alive()) {
            if json(server, "/healthz", None).await["role"] == "leader" {
                return i;
            }
        }
        assert!(started.elapsed() < SYNC_PATIENCE, "nobody was elected");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_processes_share_one_budget_and_survive_the_leaders_death() {
    let Some(database) = Database::create("failover").await else {
        return;
    };
    let hubspot = FakeHubSpot::builder()
        .rate_limit(RateLimit::per_ten_seconds(QUOTA as u32))
        .start()
        .await;
    let logs = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for i in 0..SERVERS {
        let log = logs.path().join(format!("{i}.log"));
        servers.push(start(&hubspot, &database.url, log).await);
    }
    let first_leader = leader(&servers).await;
    let roles: Vec<Value> = roles_of(&servers).await;
    assert_eq!(
        roles.iter().filter(|r| *r == "leader").count(),
        1,
        "exactly one leader: {roles:?}"
    );
    assert_eq!(
        roles.iter().filter(|r| *r == "standby").count(),
        SERVERS - 1
    );
    for (server, role) in servers.iter().zip(&roles) {
        let report = json(server, "/admin/status", Some(ADMIN_TOKEN)).await;
        assert_eq!(&report["role"], role, "{report}");
        let metrics = server.get("/metrics", None).await.1;
        let gauge = if role == "leader" { 1.0 } else { 0.0 };
        assert_eq!(
            sample(&metrics, "stripe2hubspot_leader"),
            gauge,
            "{metrics}"
        );
    }
    eprintln!("server {first_leader} leads");

    // Every tenth payment is delivered twice, the second time to another process.
    let mut deliveries: Vec<u64> = Vec::new();
    for n in 0..PAYMENTS {
        deliveries.push(n);
        if n % 10 == 0 {
            deliveries.push(n);
        }
    }
    let half = deliveries.len() / 2;
    let mut killed: Option<(usize, Instant)> = None;
    let mut turn = 0usize;
    for (i, chunk) in deliveries.chunks(20).enumerate() {
        if killed.is_none() && i * 20 >= half {
            let leading = leader(&servers).await;
            servers[leading].signal("-KILL").await;
            killed = Some((leading, Instant::now()));
            eprintln!("killed the leader, server {leading}");
        }
        let mut sends = Vec::new();
        for &n in chunk {
            // Round-robin over the processes still alive.
            let alive: Vec<&Server> = servers.iter().filter(|s| s.alive()).collect();
            let server = alive[turn % alive.len()];
            turn += 1;
            let (http, base) = (server.http.clone(), server.base.clone());
            let body = event(n);
            sends.push(tokio::spawn(async move {
                http.post(format!("{base}{}", stripe2hubspot::ingest::WEBHOOK_PATH))
                    .header(
                        stripe2hubspot::ingest::SIGNATURE_HEADER,
                        stripe2hubspot::testkit::sign_now(body.as_bytes(), SECRET),
                    )
                    .body(body)
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            }));
        }
        for send in sends {
            assert_eq!(send.await.unwrap(), 200);
        }
        // Paced like live traffic, so the leader writes many small batches and the portal's
        // quota, not the batch size, bounds the request rate.
        tokio::time::sleep(PACE).await;
    }
    let (dead_leader, killed_at) = killed.unwrap();

    // Failover: from the kill to the first successful HubSpot write after it.
    let started = Instant::now();
    let failover = loop {
        let after = hubspot
            .requests()
            .into_iter()
            // Any successful batch write: contacts are upserted (new) or updated by id
            // (known customers), deals created (new) or upserted.
            .filter(|r| {
                r.at > killed_at
                    && (200..300).contains(&r.status)
                    && r.path.contains("/batch/")
                    && !r.path.ends_with("/batch/read")
            })
            .map(|r| r.at)
            .min();
        if let Some(at) = after {
            break at.duration_since(killed_at);
        }
        assert!(started.elapsed() < SYNC_PATIENCE, "nobody took over");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let new_leader = leader(&servers).await;
    assert_ne!(new_leader, dead_leader);

    let started = Instant::now();
    loop {
        let live = servers.iter().find(|s| s.alive()).unwrap();
        let (pending, queue) = pending(live).await;
        if deal_keys(&hubspot).len() as u64 == PAYMENTS && pending == Some(0) {
            assert_eq!(queue["dead"], 0, "{queue}");
            break;
        }
        assert!(
            started.elapsed() < SYNC_PATIENCE,
            "not synced: {} deals, queue {queue}",
            deal_keys(&hubspot).len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let mut per_payment: BTreeMap<String, usize> = BTreeMap::new();
    for deal in &hubspot.deals() {
        let key = deal.property(DEAL_ID_PROPERTY).unwrap_or_default();
        *per_payment.entry(key.to_owned()).or_default() += 1;
    }
    assert_eq!(per_payment.len() as u64, PAYMENTS);
    assert!(
        per_payment.values().all(|&c| c == 1),
        "a payment has two deals"
    );
    let contacts = hubspot.contacts();
    let emails: BTreeSet<String> = contacts
        .iter()
        .filter_map(|c| c.property("email").map(str::to_owned))
        .collect();
    assert_eq!(contacts.len() as u64, EMAILS, "one contact per email");
    assert_eq!(emails.len() as u64, EMAILS);
    for e in 0..EMAILS {
        let newest = (0..PAYMENTS)
            .filter(|n| n % EMAILS == e)
            .max_by_key(|&n| created(n))
            .unwrap();
        let contact = hubspot.contact_by_email(&email(newest)).unwrap();
        let a = amount(newest);
        assert_eq!(
            contact.property("last_charge_amount"),
            Some(format!("{}.{:02}", a / 100, a % 100).as_str()),
            "newest last_charge_* wins for contact {e}"
        );
    }

    let requests = hubspot.requests();
    let limited = requests.iter().filter(|r| r.status == 429).count();
    let max_window = max_in_any_window(&requests);
    eprintln!(
        "scale-out: failover {:.1} s, max {max_window} requests in any 10 s window \
         (quota {QUOTA}), {} requests, {limited} answered 429",
        failover.as_secs_f64(),
        requests.len()
    );
    assert_eq!(limited, 0, "no 429");
    assert!(max_window <= QUOTA, "{max_window} requests in one window");

    // SIGTERM: every live process exits 0.
    for server in servers.iter_mut().filter(|s| s.alive()) {
        let status = server.signal("-TERM").await;
        assert_eq!(status.and_then(|s| s.code()), Some(0));
    }
}

async fn roles_of(servers: &[Server]) -> Vec<Value> {
    let mut roles = Vec::new();
    for server in servers {
        roles.push(json(server, "/healthz", None).await["role"].clone());
    }
    roles
}

/// SIGTERM while a slow HubSpot (30 s per call) holds batches in hand: the process exits 0
/// within the shutdown grace (20 s) plus Kubernetes' margin, leaves nothing leased, and a
/// restarted process finishes every payment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_burst_exits_within_the_bound_and_a_restart_finishes() {
    let Some(database) = Database::create("sigterm").await else {
        return;
    };
    let hubspot = FakeHubSpot::start().await;
    hubspot.fail_next(1_000_000, Failure::Delay(Duration::from_secs(30)));
    let logs = tempfile::tempdir().unwrap();
    let mut server = start(&hubspot, &database.url, logs.path().join("first.log")).await;
    for n in 0..50 {
        assert_eq!(server.send(&event(n), SECRET).await, 200);
    }
    let started = Instant::now();
    while database.leased_rows().await == 0 {
        assert!(started.elapsed() < SYNC_PATIENCE, "nothing was reserved");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signalled = Instant::now();
    let status = server.signal("-TERM").await;
    let exited_after = signalled.elapsed();
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    eprintln!(
        "SIGTERM mid-burst: exited 0 after {:.1} s",
        exited_after.as_secs_f64()
    );
    assert!(exited_after < Duration::from_secs(30), "{exited_after:?}");
    assert_eq!(database.leased_rows().await, 0, "nothing left leased");
    let status = output(
        &["status"],
        &[("STRIPE2HUBSPOT_QUEUE", database.url.as_str())],
    )
    .await;
    let printed = String::from_utf8_lossy(&status.stdout);
    assert!(
        printed.contains("ready=50") && printed.contains("leased=0"),
        "{printed}"
    );

    hubspot.clear_failures();
    let restarted = start(&hubspot, &database.url, logs.path().join("second.log")).await;
    let started = Instant::now();
    loop {
        let (pending, queue) = pending(&restarted).await;
        if pending == Some(0) {
            assert_eq!(queue["dead"], 0);
            assert_eq!(queue["done"], 50);
            break;
        }
        assert!(started.elapsed() < SYNC_PATIENCE, "{queue}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(deal_keys(&hubspot).len(), 50);
    assert_eq!(hubspot.deals().len(), 50);
    assert_eq!(restarted.stop().await, Some(0));
}

/// The server's count of payments synced.
async fn synced(server: &Server) -> f64 {
    let metrics = server.get("/metrics", None).await.1;
    sample(&metrics, "stripe2hubspot_payments_synced_total")
}

/// `reconcile --repair` beside a leading server: its own engine stands by, and the server,
/// the portal's one writer, writes the repair.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconcile_repair_beside_a_leading_server_is_written_by_the_server() {
    let Some(database) = Database::create("repair").await else {
        return;
    };
    let hubspot = FakeHubSpot::start().await;
    let env = env(&hubspot, &database.url);
    let server = Server::start(&env).await;
    leader(std::slice::from_ref(&server)).await;
    assert_eq!(server.send(&event(1), SECRET).await, 200);
    let started = Instant::now();
    while synced(&server).await < 1.0 {
        assert!(
            started.elapsed() < SYNC_PATIENCE,
            "the payment never synced"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let deal = hubspot.deals().into_iter().next().unwrap();
    assert!(hubspot.edit_property("deals", &deal.id, "amount", Some("1.23")));

    let envs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let repair = output(&["reconcile", "--repair"], &envs).await;
    let shown = format!(
        "{}\n{}",
        String::from_utf8_lossy(&repair.stdout),
        String::from_utf8_lossy(&repair.stderr)
    );
    assert_eq!(repair.status.code(), Some(0), "{shown}");
    assert!(
        shown.contains("1 payments queued for the syncer"),
        "{shown}"
    );
    assert_ne!(
        hubspot.deals()[0].property("amount"),
        Some("1.23"),
        "repaired"
    );
    assert_eq!(hubspot.deals().len(), 1);
    // The server's engine wrote it: its synced counter counts the repair.
    assert_eq!(synced(&server).await, 2.0);
    assert_eq!(server.stop().await, Some(0));
}

/// `POST /admin/pause` behind a load balancer lands on any process, often a standby: the pause
/// is stored, so the leader stops writing, both report who paused and when, and a resume on
/// either process restarts the sync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pause_sent_to_the_standby_stops_the_leader_and_a_resume_on_either_restarts_it() {
    let Some(database) = Database::create("pause").await else {
        return;
    };
    let hubspot = FakeHubSpot::start().await;
    let logs = tempfile::tempdir().unwrap();
    let mut servers = Vec::new();
    for i in 0..2 {
        let log = logs.path().join(format!("{i}.log"));
        servers.push(start(&hubspot, &database.url, log).await);
    }
    let leading = leader(&servers).await;
    let (leader_server, standby) = (&servers[leading], &servers[1 - leading]);
    assert_eq!(json(standby, "/healthz", None).await["role"], "standby");
    assert_eq!(leader_server.send(&event(0), SECRET).await, 200);
    crate::common::eventually("the first payment to sync", || async {
        deal_keys(&hubspot).len() == 1
    })
    .await;

    let (status, text) = standby
        .post(
            "/admin/pause",
            Some(ADMIN_TOKEN),
            serde_json::json!({"by": "ops on-call"}),
        )
        .await;
    assert_eq!(status, 200, "{text}");
    let pid_marker = "(host ";
    for server in [leader_server, standby] {
        crate::common::eventually("both processes to report the pause", || async {
            let report = json(server, "/admin/status", Some(ADMIN_TOKEN)).await;
            report["status"] == "paused"
                && report["paused_by"]
                    .as_str()
                    .is_some_and(|by| by.starts_with("ops on-call") && by.contains(pid_marker))
                && report["paused_at"].is_string()
        })
        .await;
    }
    // `/healthz` tells what the process itself does: the leader has taken the pause up.
    crate::common::eventually("the leader to pause", || async {
        json(leader_server, "/healthz", None).await["status"] == "paused"
    })
    .await;

    // The store alone tells: `status` without a server reads the stored pause.
    let printed = output(
        &["status"],
        &[("STRIPE2HUBSPOT_QUEUE", database.url.as_str())],
    )
    .await;
    let printed = String::from_utf8_lossy(&printed.stdout);
    assert!(
        printed.contains("operator's pause: yes, by ops on-call (host "),
        "{printed}"
    );

    // Paused: the leader takes no new batch. Events still arrive and wait.
    let writes_before = hubspot.requests().len();
    for n in 1..=5 {
        let server = if n % 2 == 0 { leader_server } else { standby };
        assert_eq!(server.send(&event(n), SECRET).await, 200);
    }
    // Several leader checks and worker polls pass with work ready and nothing written.
    for _ in 0..30 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let (pending, queue) = pending(leader_server).await;
        assert_eq!(pending, Some(5), "{queue}");
    }
    assert_eq!(
        hubspot.requests().len(),
        writes_before,
        "the paused leader called HubSpot"
    );
    assert_eq!(deal_keys(&hubspot).len(), 1);

    // Resumed on the leader this time: the pause was stored, so either process lifts it.
    let (status, text) = leader_server
        .post("/admin/resume", Some(ADMIN_TOKEN), serde_json::json!({}))
        .await;
    assert_eq!(status, 200, "{text}");
    crate::common::eventually("the sync to resume", || async {
        deal_keys(&hubspot).len() == 6
    })
    .await;
    for server in [leader_server, standby] {
        crate::common::eventually("both processes to report the resume", || async {
            let report = json(server, "/admin/status", Some(ADMIN_TOKEN)).await;
            report["status"] == "ok" && report["paused_by"].is_null()
        })
        .await;
    }
}
