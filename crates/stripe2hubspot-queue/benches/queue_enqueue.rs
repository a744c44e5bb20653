//! Enqueue throughput and latency with 64 concurrent producers: coalesced commits against one
//! transaction per job, for SQLite (`synchronous=FULL`, on the target directory's disk) and, when
//! `STRIPE2HUBSPOT_TEST_POSTGRES_URL` is set, PostgreSQL.
//!
//! `cargo bench --bench queue_enqueue --features postgres` prints one line per configuration.
//! Under `cargo test` (no `--bench` argument) it runs a tiny smoke pass instead.

use std::sync::Arc;
use std::time::{Duration, Instant};

use stripe2hubspot_queue::{conformance::new_job, Queue, SqliteOptions, SqliteQueue};

const PRODUCERS: usize = 64;

struct Report {
    jobs: usize,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

impl Report {
    fn print(&self, name: &str) {
        let pct = |p: f64| {
            let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
            self.latencies[i].as_secs_f64() * 1e3
        };
        println!(
            "{name:<28} {:>6} jobs  {:>9.0} jobs/s  p50 {:>7.2} ms  p99 {:>7.2} ms",
            self.jobs,
            self.jobs as f64 / self.elapsed.as_secs_f64(),
            pct(0.50),
            pct(0.99),
        );
    }
}

async fn run(q: Arc<dyn Queue>, per_producer: usize) -> Report {
    let start = Instant::now();
    let tasks: Vec<_> = (0..PRODUCERS)
        .map(|p| {
            let q = q.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(per_producer);
                for i in 0..per_producer {
                    let job = new_job(&format!("evt_{p}_{i}"));
                    let t = Instant::now();
                    q.enqueue(job).await.expect("enqueue");
                    latencies.push(t.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("producer"));
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    Report {
        jobs: latencies.len(),
        elapsed,
        latencies,
    }
}

#[tokio::main]
async fn main() {
    let bench = std::env::args().any(|a| a == "--bench");
    let per_producer = if bench { 100 } else { 2 };
    println!("{PRODUCERS} producers, {per_producer} enqueues each");

    for coalesce in [true, false] {
        // Under target/, not /tmp, so fsync hits a real disk even where /tmp is tmpfs.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).expect("temp dir");
        let options = SqliteOptions {
            coalesce,
            ..SqliteOptions::default()
        };
        let q = SqliteQueue::open_with(dir.path().join("bench.db"), options)
            .await
            .expect("open");
        let name = if coalesce {
            "sqlite FULL coalesced"
        } else {
            "sqlite FULL txn-per-job"
        };
        run(Arc::new(q), per_producer).await.print(name);
    }

    #[cfg(feature = "postgres")]
    if let Ok(url) = std::env::var("STRIPE2HUBSPOT_TEST_POSTGRES_URL") {
        use stripe2hubspot_queue::{PostgresOptions, PostgresQueue};
        for coalesce in [true, false] {
            let schema = format!("s2h_bench_{}_{coalesce}", std::process::id());
            let options = PostgresOptions {
                schema: Some(schema.clone()),
                coalesce,
                // Enough connections that one-transaction-per-job is not pool-bound.
                max_connections: if coalesce { 8 } else { 32 },
                ..PostgresOptions::default()
            };
            let q = PostgresQueue::connect_with(&url, options)
                .await
                .expect("connect");
            let name = if coalesce {
                "postgres coalesced"
            } else {
                "postgres txn-per-job"
            };
            run(Arc::new(q.clone()), per_producer).await.print(name);
            q.close().await;
            let pool = sqlx::PgPool::connect(&url).await.expect("connect");
            sqlx::query(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
                .execute(&pool)
                .await
                .expect("drop bench schema");
        }
    } else {
        println!("postgres: skipped (STRIPE2HUBSPOT_TEST_POSTGRES_URL not set)");
    }
}
