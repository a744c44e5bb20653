//! A running pipeline for end-to-end tests: SQLite queue file, fake HubSpot, the axum webhook
//! route on loopback and the sync engine with test-speed timings.

use std::sync::Arc;
use std::time::{Duration, Instant};
use stripe2hubspot::hubspot_crm::ApiVersion;

use stripe2hubspot::alert::RecordingAlerter;
use stripe2hubspot::engine::{Backoff, EngineHandle, SyncEngine, SyncEngineBuilder};
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::ingest::Ingest;
use stripe2hubspot::ingest::{SIGNATURE_HEADER, WEBHOOK_PATH};
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::{QueueStats, SqliteQueue, Store};
use stripe2hubspot::stripe_events::Verifier;
use stripe2hubspot::testkit::sign_now;

pub const SECRET: &str = "whsec_end_to_end";

pub struct Pipeline {
    pub hubspot: FakeHubSpot,
    pub store: Store,
    pub url: String,
    pub alerts: Arc<RecordingAlerter>,
    pub engine: Option<EngineHandle>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    worker: Option<tokio::task::JoinHandle<()>>,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

/// A client for reconcile runs that share the fake's request window with an engine: it
/// retries a 429 like the binary's `reconcile` does, in steps that outlast the 10 s window.
pub fn retrying_client(hubspot: &FakeHubSpot) -> stripe2hubspot::hubspot_crm::Client {
    hubspot
        .client_builder()
        .retry_policy(stripe2hubspot::hubspot_crm::RetryPolicy::new(
            6,
            Duration::from_millis(200),
            Duration::from_secs(5),
        ))
        .build()
        .unwrap()
}

/// Test-speed timings: milliseconds where production waits seconds.
pub fn fast(builder: SyncEngineBuilder) -> SyncEngineBuilder {
    builder
        .poll_interval(Duration::from_millis(20))
        .backoff(Backoff {
            base: Duration::from_millis(50),
            cap: Duration::from_millis(500),
            jitter: Duration::from_millis(20),
        })
        .probe_backoff(Backoff {
            base: Duration::from_millis(100),
            cap: Duration::from_millis(500),
            jitter: Duration::ZERO,
        })
}

impl Pipeline {
    /// A pipeline whose webhook route is up; the engine starts with [`Pipeline::start_engine`].
    pub async fn new(hubspot: FakeHubSpot) -> Pipeline {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(
            SqliteQueue::open(dir.path().join("queue.db"))
                .await
                .unwrap(),
        );
        Pipeline::on_store(hubspot, store, dir).await
    }

    /// [`Pipeline::new`] on another store (PostgreSQL); `dir` is kept for the pipeline's life.
    pub async fn on_store(hubspot: FakeHubSpot, store: Store, dir: tempfile::TempDir) -> Pipeline {
        let ingest = Ingest::builder(Verifier::new(SECRET).unwrap(), store.queue.clone()).build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}{WEBHOOK_PATH}", listener.local_addr().unwrap());
        let router = stripe2hubspot::ingest::axum::router(Arc::new(ingest));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Pipeline {
            hubspot,
            store,
            url,
            alerts: Arc::new(RecordingAlerter::new()),
            engine: None,
            stop: None,
            worker: None,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Starts the engine with the default mapping, test timings, and `customize` on top.
    pub fn start_engine(&mut self, customize: impl FnOnce(SyncEngineBuilder) -> SyncEngineBuilder) {
        self.start_engine_on(ApiVersion::default(), customize);
    }

    /// [`Pipeline::start_engine`], with the HubSpot client speaking `version`.
    pub fn start_engine_on(
        &mut self,
        version: ApiVersion,
        customize: impl FnOnce(SyncEngineBuilder) -> SyncEngineBuilder,
    ) {
        self.start_engine_mapped(version, MappingConfig::default(), customize);
    }

    /// [`Pipeline::start_engine_on`], with `mapping` instead of the default mapping.
    pub fn start_engine_mapped(
        &mut self,
        version: ApiVersion,
        mapping: MappingConfig,
        customize: impl FnOnce(SyncEngineBuilder) -> SyncEngineBuilder,
    ) {
        let client = self
            .hubspot
            .client_builder()
            .api_version(version)
            .build()
            .unwrap();
        let builder =
            SyncEngine::builder(self.store.clone(), client, mapping).alerter(self.alerts.clone());
        let engine = customize(fast(builder)).build().unwrap();
        self.engine = Some(engine.handle());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        self.stop = Some(stop);
        self.worker = Some(tokio::spawn(async move {
            engine
                .run(async {
                    let _ = stopped.await;
                })
                .await
        }));
    }

    /// Signs and POSTs one event; returns the HTTP status.
    pub async fn send(&self, event: &serde_json::Value) -> u16 {
        let body = event.to_string();
        self.http
            .post(&self.url)
            .header(SIGNATURE_HEADER, sign_now(body.as_bytes(), SECRET))
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    /// Waits until nothing is ready, delayed or leased; panics after `limit`.
    pub async fn drained(&self, limit: Duration) -> QueueStats {
        let started = Instant::now();
        loop {
            let stats = self.store.admin.stats().await.unwrap();
            if stats.ready + stats.delayed + stats.leased == 0 {
                for dead in self.store.admin.dead_letters(100, None).await.unwrap() {
                    eprintln!("dead letter {}: {}", dead.event_id, dead.error);
                }
                return stats;
            }
            assert!(
                started.elapsed() < limit,
                "queue did not drain within {limit:?}: {stats:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The SQLite file the pipeline's store lives in.
    pub fn db_path(&self) -> std::path::PathBuf {
        self._dir.path().join("queue.db")
    }

    /// Stops the engine gracefully and waits for it.
    pub async fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(worker) = self.worker.take() {
            worker.await.unwrap();
        }
    }
}
