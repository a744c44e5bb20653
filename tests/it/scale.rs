//! Scale-out, as a user runs it: three server processes share one PostgreSQL queue and one
//! HubSpot portal (the fake, at 100 requests per 10 s); the elected leader is killed mid-run.
//!
//! Runs when `STRIPE2HUBSPOT_TEST_POSTGRES_URL` is set (CI sets it, with
//! `STRIPE2HUBSPOT_REQUIRE_POSTGRES=1`); each run creates a fresh database and drops it after.
//!
//! ```sh
//! STRIPE2HUBSPOT_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!   cargo test --all-features --test it scale:: -- --nocapture
//! ```

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sqlx::Connection;
use stripe2hubspot::engine::DEAL_ID_PROPERTY;
use stripe2hubspot::hubspot_crm::fake::{Failure, FakeHubSpot, RequestRecord};
use stripe2hubspot::hubspot_crm::RateLimit;
use stripe2hubspot::ingest::{SIGNATURE_HEADER, WEBHOOK_PATH};
use stripe2hubspot::testkit::{sign_now, Payment};

const SECRET: &str = "whsec_scale_test";
const PAYMENTS: u64 = 2_000;
const EMAILS: u64 = 400;
const SERVERS: usize = 3;
const QUOTA: usize = 100;
const WINDOW: Duration = Duration::from_secs(10);
/// Pause between chunks of 20 deliveries: 2,200 deliveries over about 35 s.
const PACE: Duration = Duration::from_millis(300);

/// A fresh database for this run, dropped afterwards.
struct Database {
    admin_url: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(test: &str) -> Option<Database> {
        let Ok(admin_url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none(),
                "STRIPE2HUBSPOT_REQUIRE_POSTGRES is set but STRIPE2HUBSPOT_TEST_POSTGRES_URL is not"
            );
            eprintln!("skipping the scale-out test: STRIPE2HUBSPOT_TEST_POSTGRES_URL is not set");
            return None;
        };
        let name = format!("s2h_scale_{}_{test}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}"))
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

/// One server process, its base URL and its log file.
struct Server {
    child: Option<Child>,
    base: String,
    log: std::path::PathBuf,
}

impl Server {
    async fn start(hubspot: &FakeHubSpot, queue: &str, log: std::path::PathBuf) -> Server {
        let base_url = hubspot.base_url();
        let token = hubspot.token();
        let mut child = Command::new(crate::server::example_binary("axum_server"))
            .env_clear()
            .current_dir(std::env::temp_dir())
            .envs([
                ("STRIPE_WEBHOOK_SECRET", SECRET),
                ("HUBSPOT_ACCESS_TOKEN", token.as_str()),
                ("HUBSPOT_BASE_URL", base_url.as_str()),
                ("HUBSPOT_RATE_LIMIT", "100/10s"),
                ("STRIPE2HUBSPOT_QUEUE", queue),
                ("BIND_ADDR", "127.0.0.1:0"),
                ("RUST_LOG", "info"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).map(|_| line)
        })
        .await
        .unwrap()
        .unwrap();
        let base = line
            .trim()
            .rsplit(' ')
            .next()
            .unwrap_or_default()
            .to_owned();
        assert!(base.starts_with("http://127.0.0.1:"), "{line}");
        Server {
            child: Some(child),
            base,
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn elected(&self) -> bool {
        self.log().contains("elected: this process runs the sync")
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }

    fn signal(&mut self, signal: &str) -> Option<std::process::ExitStatus> {
        let mut child = self.child.take()?;
        let pid = child.id().to_string();
        assert!(Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success());
        Some(child.wait().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
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

/// The most requests the fake handled in any rolling `WINDOW`.
fn max_in_any_window(requests: &[RequestRecord]) -> usize {
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
        servers.push(
            Server::start(
                &hubspot,
                &database.url,
                logs.path().join(format!("{i}.log")),
            )
            .await,
        );
    }
    let http = reqwest::Client::new();
    let post = |base: String, body: String| {
        let http = http.clone();
        async move {
            http.post(format!("{base}{WEBHOOK_PATH}"))
                .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), SECRET))
                .body(body)
                .send()
                .await
                .map(|r| r.status().as_u16())
                .unwrap_or(0)
        }
    };

    // Every tenth payment is delivered twice, the second time to another process.
    let mut deliveries: Vec<u64> = Vec::new();
    for n in 0..PAYMENTS {
        deliveries.push(n);
        if n % 10 == 0 {
            deliveries.push(n);
        }
    }
    let half = deliveries.len() / 2;
    let mut killed_at = None;
    let mut turn = 0usize;
    for (i, chunk) in deliveries.chunks(20).enumerate() {
        if killed_at.is_none() && i * 20 >= half {
            let started = Instant::now();
            while !servers.iter().any(Server::elected) {
                assert!(
                    started.elapsed() < Duration::from_secs(30),
                    "nobody was elected"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let leader = servers.iter().position(Server::elected).unwrap();
            servers[leader].signal("-KILL");
            killed_at = Some((leader, Instant::now()));
            eprintln!("killed the leader, server {leader}");
        }
        let mut sends = Vec::new();
        for &n in chunk {
            // Round-robin over the processes still alive.
            let alive: Vec<&Server> = servers.iter().filter(|s| s.alive()).collect();
            let base = alive[turn % alive.len()].base.clone();
            turn += 1;
            sends.push(tokio::spawn(post(base, event(n))));
        }
        for send in sends {
            assert_eq!(send.await.unwrap(), 200);
        }
        // Paced like live traffic, so the leader writes many small batches and the portal's
        // quota, not the batch size, bounds the request rate.
        tokio::time::sleep(PACE).await;
    }
    let (dead_leader, killed_at) = killed_at.unwrap();

    // Failover: the first successful HubSpot write after the kill.
    let started = Instant::now();
    let failover = loop {
        let after = hubspot
            .requests()
            .into_iter()
            .filter(|r| r.at > killed_at && r.status == 200 && r.path.contains("/batch/upsert"))
            .map(|r| r.at)
            .min();
        if let Some(at) = after {
            break at.duration_since(killed_at);
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nobody took over"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let new_leader = servers
        .iter()
        .enumerate()
        .find(|(i, s)| *i != dead_leader && s.elected())
        .map(|(i, _)| i);
    assert!(new_leader.is_some(), "a standby took over");

    let started = Instant::now();
    loop {
        let keys: BTreeSet<String> = hubspot
            .deals()
            .iter()
            .filter_map(|d| d.property(DEAL_ID_PROPERTY).map(str::to_owned))
            .collect();
        let live = servers.iter().find(|s| s.alive()).unwrap();
        let health: serde_json::Value = http
            .get(format!("{}/healthz", live.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let queue = &health["queue"];
        let pending = ["ready", "delayed", "leased"]
            .iter()
            .map(|k| queue[*k].as_u64().unwrap_or(u64::MAX))
            .sum::<u64>();
        if keys.len() as u64 == PAYMENTS && pending == 0 {
            assert_eq!(queue["dead"], 0, "{health}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(300),
            "not synced: {} deals, queue {queue}",
            keys.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    let deals = hubspot.deals();
    let mut per_payment: BTreeMap<String, usize> = BTreeMap::new();
    for deal in &deals {
        *per_payment
            .entry(
                deal.property(DEAL_ID_PROPERTY)
                    .unwrap_or_default()
                    .to_owned(),
            )
            .or_default() += 1;
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
        "scale-out: failover {:.1} s, max {max_window} requests in any 10 s window, {} requests, {limited} answered 429",
        failover.as_secs_f64(),
        requests.len()
    );
    assert_eq!(limited, 0, "no 429");
    assert!(max_window <= QUOTA, "{max_window} requests in one window");

    // SIGTERM: every live process exits 0.
    for server in servers.iter_mut().filter(|s| s.alive()) {
        let status = server.signal("-TERM").unwrap();
        assert_eq!(
            status.code(),
            Some(0),
            "{}",
            server.log().lines().last().unwrap_or_default()
        );
    }
}

async fn health(http: &reqwest::Client, server: &Server) -> serde_json::Value {
    http.get(format!("{}/healthz", server.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
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
    let mut server = Server::start(&hubspot, &database.url, logs.path().join("first.log")).await;
    let http = reqwest::Client::new();
    for n in 0..50 {
        let body = event(n);
        let status = http
            .post(format!("{}{WEBHOOK_PATH}", server.base))
            .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), SECRET))
            .body(body)
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status.as_u16(), 200);
    }
    let started = Instant::now();
    while health(&http, &server).await["queue"]["leased"].as_u64() == Some(0) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "nothing was reserved"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let signalled = Instant::now();
    let status = tokio::task::spawn_blocking(move || {
        let status = server.signal("-TERM");
        (status, server)
    })
    .await
    .unwrap();
    let exited_after = signalled.elapsed();
    let (status, _server) = status;
    assert_eq!(status.and_then(|s| s.code()), Some(0));
    eprintln!(
        "SIGTERM mid-burst: exited 0 after {:.1} s",
        exited_after.as_secs_f64()
    );
    assert!(exited_after < Duration::from_secs(30), "{exited_after:?}");

    hubspot.clear_failures();
    let restarted = Server::start(&hubspot, &database.url, logs.path().join("second.log")).await;
    let leased = health(&http, &restarted).await["queue"]["leased"].as_u64();
    assert_eq!(leased, Some(0), "the first process left nothing leased");
    let started = Instant::now();
    loop {
        let queue = health(&http, &restarted).await["queue"].clone();
        let pending: u64 = ["ready", "delayed", "leased"]
            .iter()
            .map(|k| queue[*k].as_u64().unwrap_or(u64::MAX))
            .sum();
        if pending == 0 {
            assert_eq!(queue["dead"], 0);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(120), "{queue}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let keys: BTreeSet<String> = hubspot
        .deals()
        .iter()
        .filter_map(|d| d.property(DEAL_ID_PROPERTY).map(str::to_owned))
        .collect();
    assert_eq!(keys.len(), 50);
    assert_eq!(hubspot.deals().len(), 50);
}
