//! How long a lone payment on an idle server takes to reach HubSpot: from the `200` of its
//! webhook to its deal and the deal's association with the contact existing at HubSpot.
//!
//! One process runs the service (axum ingest on loopback, the SQLite queue with
//! `synchronous=FULL`, the sync engine) against `FakeHubSpot` without a rate limit (a
//! zero-latency HubSpot; the client's pacing raised to match, since 40 payments of 3 requests
//! each would spend a 100 / 10 s quota, which a lone payment finds unspent), and posts `N` payments one at a time, each after the previous one
//! is synced and a pause, so every one meets an idle engine. Two cases in one run: the queue's
//! enqueue signal waking the engine (now), and the same engine polling every 200 ms (its default
//! interval; the queue wrapped so that it offers no signal, as before this change). The first
//! payment of each case (the one-time property bootstrap) is not counted. "Reached HubSpot" is
//! seen by polling the fake every 0.5 ms, which adds up to that much.
//!
//! `cargo bench --bench lone_payment_latency --features sqlite,axum`

#[path = "support/pipeline.rs"]
mod pipeline;

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::hubspot_crm::RateLimit;
use stripe2hubspot::queue::{
    Attempt, Enqueued, Job, JobId, NewJob, Queue, QueueError, SqliteQueue, Store,
};

/// Payments measured per case (after one warm-up payment).
const PAYMENTS: u64 = 40;
/// Quiet time between payments, so the engine is idle when each arrives.
const SPACING: Duration = Duration::from_millis(150);
/// Up to this much is added to each pause.
const JITTER: Duration = Duration::from_millis(200);
/// How often the bench looks at the fake for the payment's association.
const LOOK_EVERY: Duration = Duration::from_micros(500);
/// A payment not synced by then is reported as a failure.
const GIVE_UP: Duration = Duration::from_secs(10);
/// The engine's default poll interval.
const POLL: Duration = Duration::from_millis(200);

/// The SQLite queue without its enqueue signal: the engine can only poll, as before.
struct Polling(SqliteQueue);

#[async_trait::async_trait]
impl Queue for Polling {
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError> {
        self.0.enqueue(job).await
    }
    async fn reserve(&self, max: usize, lease: Duration) -> Result<Vec<Job>, QueueError> {
        self.0.reserve(max, lease).await
    }
    async fn complete(&self, job: &Job) -> Result<(), QueueError> {
        self.0.complete(job).await
    }
    async fn retry(
        &self,
        job: &Job,
        run_at: SystemTime,
        error: &str,
        attempt: Attempt,
    ) -> Result<(), QueueError> {
        self.0.retry(job, run_at, error, attempt).await
    }
    async fn release(&self, job: &Job) -> Result<(), QueueError> {
        self.0.release(job).await
    }
    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError> {
        self.0.dead_letter(job, error).await
    }
    async fn renew(&self, jobs: &[Job], lease: Duration) -> Result<Vec<JobId>, QueueError> {
        self.0.renew(jobs, lease).await
    }
}

async fn case(name: &str, signal: bool, payments: u64) -> Result<Vec<Duration>, String> {
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite = SqliteQueue::open(dir.path().join("queue.db"))
        .await
        .expect("open queue");
    let store = if signal {
        Store::new(sqlite)
    } else {
        Store {
            queue: Arc::new(Polling(sqlite.clone())),
            ..Store::new(sqlite)
        }
    };
    let fake = FakeHubSpot::builder().no_rate_limit().start().await;
    // The client paced like the fake: a lone payment on an idle server finds the quota
    // unspent, which a run of 40 payments with 3 requests each would not keep at 100 / 10 s.
    let client = fake
        .client_builder()
        .rate_limit(RateLimit::new(100_000, Duration::from_secs(10)))
        .build()
        .expect("client");
    let service = pipeline::start(store, Some(client), POLL).await;
    let http = reqwest::Client::new();
    let mut latencies = Vec::new();
    for n in 0..=payments {
        // A varying pause, so arrivals fall at every phase of the polling case's cycle.
        tokio::time::sleep(SPACING + JITTER * ((n * 37 % 100) as u32) / 100).await;
        let before = fake.associations().len();
        let status = pipeline::post(&http, &service.url, pipeline::body(n, 1_000_000)).await;
        let acked = Instant::now();
        if status != 200 {
            return Err(format!("{name}: payment {n} answered {status}"));
        }
        loop {
            if fake.associations().len() > before && fake.deals().len() as u64 > n {
                break;
            }
            if acked.elapsed() > GIVE_UP {
                return Err(format!("{name}: payment {n} not synced within {GIVE_UP:?}"));
            }
            tokio::time::sleep(LOOK_EVERY).await;
        }
        if n > 0 {
            latencies.push(acked.elapsed());
            if std::env::var_os("LATENCY_TRACE").is_some() {
                eprintln!("{name}: payment {n}: {:?}", acked.elapsed());
            }
        }
    }
    service.stop().await;
    Ok(latencies)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // `cargo bench` passes --bench; `cargo test --benches` does not, and gets a smoke pass.
    let payments = if std::env::args().any(|a| a == "--bench") {
        PAYMENTS
    } else {
        3
    };
    let load = pipeline::load_average();
    println!(
        "lone payments, {payments} per case, {SPACING:?} to {:?} apart; FakeHubSpot without a rate limit; SQLite queue synchronous=FULL; load average before: {load}",
        SPACING + JITTER
    );
    println!();
    println!("| engine wakes by | median | p90 | max |");
    println!("|---|---|---|---|");
    for (name, signal) in [
        ("enqueue signal (now)", true),
        ("polling every 200 ms (before)", false),
    ] {
        match case(name, signal, payments).await {
            Ok(mut latencies) => {
                latencies.sort_unstable();
                let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
                println!(
                    "| {name} | {:.1} ms | {:.1} ms | {:.1} ms |",
                    at(0.5).as_secs_f64() * 1e3,
                    at(0.9).as_secs_f64() * 1e3,
                    at(1.0).as_secs_f64() * 1e3,
                );
            }
            Err(error) => {
                eprintln!("error: {error}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    println!();
    println!(
        "load average after: {}; `cargo bench --bench lone_payment_latency --features sqlite,axum`",
        pipeline::load_average()
    );
    std::process::ExitCode::SUCCESS
}
