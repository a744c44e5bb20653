//! The pieces the pipeline benches share: a running service (axum ingest on a loopback port,
//! the SQLite queue, the sync engine against a HubSpot client) and signed webhook bodies.

#![allow(dead_code)] // each bench uses a different part

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use stripe2hubspot::engine::{EngineHandle, SyncEngine};
use stripe2hubspot::hubspot_crm::Client;
use stripe2hubspot::ingest::{axum::router, Ingest, WEBHOOK_PATH};
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::{SqliteQueue, Store};
use stripe2hubspot::stripe_events::Verifier;
use stripe2hubspot::testkit::{sign_now, Payment};

/// The signing secret the benches' Stripe uses.
pub const SECRET: &str = "whsec_bench";

/// A running service: its webhook URL, its store, and the engine's handle and stop switch.
pub struct Service {
    pub url: String,
    pub store: Store,
    pub ingest: Arc<Ingest>,
    pub engine: Option<EngineHandle>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    engine_task: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// Stops the engine, letting it finish its batch.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.engine_task.take() {
            let _ = task.await;
        }
    }
}

/// Opens the SQLite queue at `db` (default options: `synchronous=FULL`, coalesced commits).
pub async fn sqlite_store(db: &Path) -> Store {
    Store::new(SqliteQueue::open(db).await.expect("open the SQLite queue"))
}

/// Serves ingest for `store` on a loopback port and, given a client, runs the engine on it.
pub async fn start(store: Store, hubspot: Option<Client>, poll_interval: Duration) -> Service {
    let verifier = Verifier::new(SECRET).expect("verifier");
    let ingest = Arc::new(Ingest::builder(verifier, store.queue.clone()).build());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let app = router(ingest.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let (mut engine, mut stop, mut engine_task) = (None, None, None);
    if let Some(client) = hubspot {
        let sync = SyncEngine::builder(store.clone(), client, bench_mapping())
            .poll_interval(poll_interval)
            .build()
            .expect("engine settings");
        engine = Some(sync.handle());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        stop = Some(tx);
        engine_task = Some(tokio::spawn(async move {
            sync.run(async {
                let _ = rx.await;
            })
            .await
        }));
    }
    Service {
        url: format!("http://{addr}{WEBHOOK_PATH}"),
        store,
        ingest,
        engine,
        stop,
        engine_task,
    }
}

/// The body of payment `n`'s `charge.succeeded` event; customers repeat every `customers`.
pub fn body(n: u64, customers: u64) -> Vec<u8> {
    let created = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    let email = format!("customer{:06}@example.com", n % customers.max(1));
    let payment = Payment::numbered(n, &email, 1_000 + (n as i64 % 50) * 100, "usd", created);
    serde_json::to_vec(&payment.charge_succeeded()).expect("serialize event")
}

/// Posts one signed webhook and answers its status.
pub async fn post(client: &reqwest::Client, url: &str, body: Vec<u8>) -> u16 {
    let signature = sign_now(&body, SECRET);
    match client
        .post(url)
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
    {
        Ok(response) => response.status().as_u16(),
        Err(_) => 0,
    }
}

/// The process's peak resident set (`VmHWM` in /proc/self/status), in KiB.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Percentiles of `samples` (sorted in place): (p50, p99, max).
pub fn percentiles(samples: &mut [Duration]) -> (Duration, Duration, Duration) {
    samples.sort_unstable();
    let at = |q: f64| {
        let index = ((samples.len() as f64 - 1.0) * q).round() as usize;
        samples.get(index).copied().unwrap_or_default()
    };
    (at(0.5), at(0.99), at(1.0))
}

/// The 1-minute load average, to say how busy the shared machine was.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

/// The mapping the benches sync with: the default, or, with `BENCH_COMPANIES=0`, the default
/// with companies off (`"company_key": "none"`), so a figure can be taken each way.
fn bench_mapping() -> MappingConfig {
    let mut mapping = MappingConfig::default();
    if std::env::var("BENCH_COMPANIES").is_ok_and(|v| v == "0") {
        mapping.company_key = stripe2hubspot::map::CompanyKeySource::Disabled;
    }
    mapping
}
