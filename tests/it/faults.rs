//! Faults that are not the payment's own never dead-letter it; the worker's leases, shutdown
//! and leadership hold under a slow HubSpot. In process, on the fake HubSpot.

use std::time::{Duration, Instant};

use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::engine::{PauseReason, Role, DEAL_ID_PROPERTY};
use stripe2hubspot::hubspot_crm::fake::{Failure, FakeHubSpot};
use stripe2hubspot::hubspot_crm::PropertyCreate;
use stripe2hubspot::testkit::Payment;

use crate::common::Pipeline;

fn payment(n: u64) -> serde_json::Value {
    let email = format!("buyer{}@example.com", n % 7);
    Payment::numbered(n, &email, 1000 + n as i64, "usd", 1_700_000_000 + n as i64)
        .charge_succeeded()
}

async fn send_all(pipeline: &Pipeline, range: std::ops::Range<u64>) {
    for n in range {
        assert_eq!(pipeline.send(&payment(n)).await, 200);
    }
}

async fn until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn deal_keys(hubspot: &FakeHubSpot) -> Vec<String> {
    let mut keys: Vec<String> = hubspot
        .deals()
        .iter()
        .filter_map(|d| d.property(DEAL_ID_PROPERTY).map(str::to_owned))
        .collect();
    keys.sort();
    keys
}

fn assert_one_deal_per_payment(hubspot: &FakeHubSpot, payments: usize) {
    let keys = deal_keys(hubspot);
    let mut unique = keys.clone();
    unique.dedup();
    assert_eq!(keys.len(), payments, "one deal per payment");
    assert_eq!(unique.len(), payments, "no payment has two deals");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_409_storm_dead_letters_nothing() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline
        .hubspot
        .fail_next_on(12, "POST", "/crm/objects/", Failure::Status(409, None));
    send_all(&pipeline, 0..10).await;
    pipeline.start_engine(|b| b.batch_size(4));
    let stats = pipeline.drained(Duration::from_secs(60)).await;
    assert_eq!(stats.dead, 0);
    assert!(
        pipeline.engine.as_ref().unwrap().metrics().retried > 0,
        "the 409s were retried"
    );
    assert_one_deal_per_payment(&pipeline.hubspot, 10);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_absurd_retry_after_neither_panics_nor_dead_letters() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.hubspot.fail_next_on(
        1,
        "POST",
        "/crm/objects/",
        Failure::RetryAfter("18446744073709551615".into()),
    );
    send_all(&pipeline, 0..3).await;
    pipeline.start_engine(|b| b);
    let engine = pipeline.engine.clone().unwrap();
    // Counters move before the queue is written: wait for the queue itself.
    let started = Instant::now();
    let stats = loop {
        let stats = pipeline.store.admin.stats().await.unwrap();
        if stats.delayed + stats.dead == 3 {
            break stats;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "{stats:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(stats.dead, 0, "rescheduled, not dead-lettered: {stats:?}");
    assert_eq!(engine.metrics().rate_limited, 1);
    let jobs = pipeline.store.admin.dead_letters(10, None).await.unwrap();
    assert!(jobs.is_empty());
    // The engine is alive and stops cleanly: nothing panicked.
    pipeline.shutdown().await;
    assert_eq!(engine.metrics().worker_restarts, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_core_property_pauses_with_an_alert_and_resumes_once_restored() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    send_all(&pipeline, 0..1).await;
    pipeline.drained(Duration::from_secs(30)).await;

    pipeline.hubspot.remove_property("deals", DEAL_ID_PROPERTY);
    send_all(&pipeline, 1..6).await;
    let engine = pipeline.engine.clone().unwrap();
    until("the pause", Duration::from_secs(30), || {
        matches!(
            engine.paused(),
            Some(PauseReason::MissingCoreProperty { .. })
        )
    })
    .await;
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!(stats.dead, 0, "{stats:?}");
    let alerts = pipeline.alerts.alerts();
    let pause = alerts
        .iter()
        .find(|a| a.kind == AlertKind::Paused)
        .expect("a pause alert");
    assert!(
        pause.message.contains(DEAL_ID_PROPERTY),
        "{}",
        pause.message
    );

    pipeline.hubspot.set_property(
        "deals",
        PropertyCreate::text(DEAL_ID_PROPERTY, "Stripe payment id", "dealinformation").unique(true),
    );
    let stats = pipeline.drained(Duration::from_secs(30)).await;
    assert_eq!(stats.dead, 0);
    assert!(engine.paused().is_none());
    assert_one_deal_per_payment(&pipeline.hubspot, 6);
    let last = pipeline.alerts.alerts().last().cloned().unwrap();
    assert_eq!(
        last.kind,
        AlertKind::Resumed,
        "the last alert tells the state"
    );
    pipeline.shutdown().await;
}

/// Every call takes 3 s and the lease is 2 s: heartbeats keep the batch's leases, so no
/// other worker takes it and nothing is written twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_hubspot_with_a_short_lease_drains_and_writes_each_payment_once() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    send_all(&pipeline, 0..1).await;
    pipeline.settled(Duration::from_secs(30)).await;
    pipeline.shutdown().await;

    pipeline
        .hubspot
        .fail_next(1_000_000, Failure::Delay(Duration::from_secs(3)));
    send_all(&pipeline, 1..9).await;
    pipeline.hubspot.clear_requests();
    pipeline.start_engine(|b| b.lease(Duration::from_secs(2)).concurrency(2).batch_size(4));
    let stats = pipeline.drained(Duration::from_secs(120)).await;
    assert_eq!(stats.dead, 0);
    let metrics = pipeline.engine.as_ref().unwrap().metrics();
    assert_eq!(metrics.synced, 8, "{metrics:?}");
    assert_eq!(metrics.retried, 0, "no lease was lost: {metrics:?}");
    assert_eq!(metrics.worker_restarts, 0, "{metrics:?}");
    assert_one_deal_per_payment(&pipeline.hubspot, 9);
    // Two batches of four: one contacts upsert and one deals create each, never repeated.
    assert_eq!(
        pipeline
            .hubspot
            .request_count("POST", "/crm/objects/2026-09/deals/batch/create"),
        2,
        "{:?}",
        pipeline.hubspot.request_counts()
    );
    pipeline.shutdown().await;
}

/// Shutdown mid-burst on a slow HubSpot: run returns within the grace (plus one call in
/// flight), nothing is left leased, and a restart finishes everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_mid_burst_releases_everything_and_a_restart_finishes() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline
        .hubspot
        .fail_next(1_000_000, Failure::Delay(Duration::from_secs(30)));
    send_all(&pipeline, 0..12).await;
    pipeline.start_engine(|b| b.batch_size(3).shutdown_grace(Duration::from_millis(500)));
    let store = pipeline.store.clone();
    let started = Instant::now();
    loop {
        let stats = store.admin.stats().await.unwrap();
        if stats.leased > 0 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "nothing was reserved"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    pipeline.shutdown().await;
    let stats = store.admin.stats().await.unwrap();
    assert_eq!(stats.leased, 0, "{stats:?}");
    assert_eq!(stats.ready, 12, "{stats:?}");

    pipeline.hubspot.clear_failures();
    pipeline.start_engine(|b| b);
    let stats = pipeline.drained(Duration::from_secs(60)).await;
    assert_eq!(stats.dead, 0);
    assert_one_deal_per_payment(&pipeline.hubspot, 12);
    pipeline.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_process_store_always_leads() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let engine = pipeline.engine.clone().unwrap();
    until("leadership", Duration::from_secs(10), || {
        engine.role() == Role::Leader
    })
    .await;
    pipeline.shutdown().await;
    assert_eq!(engine.role(), Role::Standby);
}

/// Two engines on one PostgreSQL schema: one leads. When the leader's lock connection is
/// killed (as a network partition or a database failover would), it notices, stops writing
/// and stands by; the other takes over.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_loses_its_lock_connection_stands_by_and_another_leads() {
    use sqlx::Connection;
    use stripe2hubspot::engine::SyncEngine;
    use stripe2hubspot::map::MappingConfig;
    use stripe2hubspot::queue::{PostgresOptions, PostgresQueue, Store};

    let Ok(url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") else {
        assert!(std::env::var_os("STRIPE2HUBSPOT_REQUIRE_POSTGRES").is_none());
        return;
    };
    let schema = format!("s2h_test_{}_fence", std::process::id());
    let hubspot = FakeHubSpot::start().await;
    let mut engines = Vec::new();
    let mut stops = Vec::new();
    for _ in 0..2 {
        let options = PostgresOptions {
            schema: Some(schema.clone()),
            ..PostgresOptions::default()
        };
        let queue = PostgresQueue::connect_with(&url, options).await.unwrap();
        let store = Store {
            election: std::sync::Arc::new(queue.election()),
            ..Store::new(queue)
        };
        let engine =
            SyncEngine::builder(store, hubspot.client().unwrap(), MappingConfig::default())
                .standby_retry(Duration::from_millis(200))
                .build()
                .unwrap();
        let handle = engine.handle();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        stops.push((
            stop,
            tokio::spawn(async move {
                engine
                    .run(async {
                        let _ = stopped.await;
                    })
                    .await
            }),
        ));
        engines.push(handle);
    }
    let leaders = || engines.iter().filter(|e| e.role() == Role::Leader).count();
    until("a leader", Duration::from_secs(10), || leaders() == 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(leaders(), 1, "exactly one leads");
    let first = engines
        .iter()
        .position(|e| e.role() == Role::Leader)
        .unwrap();

    let mut admin = sqlx::PgConnection::connect(&url).await.unwrap();
    let killed: Vec<bool> = sqlx::query_scalar(
        "SELECT pg_terminate_backend(pid) FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND classid::bigint = $1 \
         AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
    )
    .bind(0x5332_4853_i64)
    .fetch_all(&mut admin)
    .await
    .unwrap();
    assert!(!killed.is_empty(), "the leader's lock connection was found");
    until("the other to lead", Duration::from_secs(15), || {
        engines[first].role() == Role::Standby && engines[1 - first].role() == Role::Leader
    })
    .await;

    for (stop, task) in stops {
        let _ = stop.send(());
        task.await.unwrap();
    }
    let _ = sqlx::query(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .execute(&mut admin)
        .await;
}

/// A queue whose first lease renewal panics, to crash a worker mid-batch.
struct PanicsOnFirstRenewal {
    inner: std::sync::Arc<dyn stripe2hubspot::queue::Queue>,
    panicked: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl stripe2hubspot::queue::Queue for PanicsOnFirstRenewal {
    async fn enqueue(
        &self,
        job: stripe2hubspot::queue::NewJob,
    ) -> Result<stripe2hubspot::queue::Enqueued, stripe2hubspot::queue::QueueError> {
        self.inner.enqueue(job).await
    }
    async fn reserve(
        &self,
        max: usize,
        lease: Duration,
    ) -> Result<Vec<stripe2hubspot::queue::Job>, stripe2hubspot::queue::QueueError> {
        self.inner.reserve(max, lease).await
    }
    async fn complete(
        &self,
        job: &stripe2hubspot::queue::Job,
    ) -> Result<(), stripe2hubspot::queue::QueueError> {
        self.inner.complete(job).await
    }
    async fn retry(
        &self,
        job: &stripe2hubspot::queue::Job,
        run_at: std::time::SystemTime,
        error: &str,
        attempt: stripe2hubspot::queue::Attempt,
    ) -> Result<(), stripe2hubspot::queue::QueueError> {
        self.inner.retry(job, run_at, error, attempt).await
    }
    async fn release(
        &self,
        job: &stripe2hubspot::queue::Job,
    ) -> Result<(), stripe2hubspot::queue::QueueError> {
        self.inner.release(job).await
    }
    async fn dead_letter(
        &self,
        job: &stripe2hubspot::queue::Job,
        error: &str,
    ) -> Result<(), stripe2hubspot::queue::QueueError> {
        self.inner.dead_letter(job, error).await
    }
    async fn renew(
        &self,
        jobs: &[stripe2hubspot::queue::Job],
        lease: Duration,
    ) -> Result<Vec<stripe2hubspot::queue::JobId>, stripe2hubspot::queue::QueueError> {
        if !self
            .panicked
            .swap(true, std::sync::atomic::Ordering::SeqCst)
        {
            panic!("injected worker panic");
        }
        self.inner.renew(jobs, lease).await
    }
}

/// A worker that panics mid-batch is restarted and counted; its batch goes back to the queue
/// and every payment is still synced once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_worker_is_restarted_and_its_batch_released() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline
        .hubspot
        .fail_next(3, Failure::Delay(Duration::from_secs(2)));
    send_all(&pipeline, 0..6).await;
    pipeline.store.queue = std::sync::Arc::new(PanicsOnFirstRenewal {
        inner: pipeline.store.queue.clone(),
        panicked: Default::default(),
    });
    pipeline.start_engine(|b| b.lease(Duration::from_secs(1)).concurrency(1));
    let stats = pipeline.drained(Duration::from_secs(60)).await;
    assert_eq!(stats.dead, 0);
    let engine = pipeline.engine.clone().unwrap();
    assert_eq!(engine.metrics().worker_restarts, 1);
    assert_one_deal_per_payment(&pipeline.hubspot, 6);
    pipeline.shutdown().await;
}

/// A pause that outlives its alert window is announced again, so the last alert sent never
/// says "resumed" while the sync is paused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_pause_is_announced_again() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.alert_window(Duration::from_millis(300)));
    // The engine's client keeps the old token: HubSpot now rejects it.
    pipeline.hubspot.set_token("pat-rotated");
    send_all(&pipeline, 0..1).await;
    let alerts = pipeline.alerts.clone();
    until(
        "the pause to be re-announced",
        Duration::from_secs(30),
        || {
            alerts
                .alerts()
                .iter()
                .any(|a| a.kind == AlertKind::Unauthorized && a.message.contains("still paused"))
        },
    )
    .await;
    let last = alerts.alerts().last().cloned().unwrap();
    assert_eq!(last.kind, AlertKind::Unauthorized);
    assert_eq!(pipeline.store.admin.stats().await.unwrap().dead, 0);
    pipeline.shutdown().await;
}
