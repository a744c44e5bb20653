//! Peak memory of the service (`VmHWM` from /proc/self/status): the service runs in a child
//! process of its own (axum ingest on loopback, the SQLite queue with `synchronous=FULL`, the
//! sync engine), while this process posts the webhooks (64 in flight, keep-alive) and, for the
//! sync case, runs `FakeHubSpot`, so neither the load generator nor the fake's stored objects
//! count against the service.
//!
//! - **waiting**: `WAITING` payments stored while the engine is paused (nothing syncs).
//! - **syncing**: a `BURST`-payment burst posted and synced against the fake at HubSpot's
//!   100 requests / 10 s (the client's default pacing); the peak is read once every payment
//!   is a deal at the fake.
//!
//! `cargo bench --bench memory_peak --features sqlite,axum` (about two minutes).

#[path = "support/pipeline.rs"]
mod pipeline;

use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::hubspot_crm::{Client, RateLimit};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const WAITING: u64 = 100_000;
const BURST: u64 = 20_000;
const CONCURRENCY: usize = 64;
/// A burst not synced by then is reported as a failure.
const SYNC_LIMIT: Duration = Duration::from_secs(300);

/// The child: serve until told to report, then print the peak and exit.
async fn child(case: &str, hubspot: Option<(String, String)>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = pipeline::sqlite_store(&dir.path().join("queue.db")).await;
    let client = hubspot.map(|(base_url, token)| {
        Client::builder(token)
            .base_url(base_url)
            .rate_limit(RateLimit::STARTER)
            .build()
            .expect("client")
    });
    let service = pipeline::start(store, client, Duration::from_millis(200)).await;
    if case == "waiting" {
        if let Some(engine) = &service.engine {
            engine.pause();
        }
    }
    println!("url {}", service.url);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if line.trim() == "report" {
            let stats = service.store.admin.stats().await.expect("stats");
            let synced = service.engine.as_ref().map_or(0, |e| e.metrics().synced);
            println!(
                "report vmhwm_kib={} ready={} done={} synced={synced}",
                pipeline::peak_rss_kib().unwrap_or(0),
                stats.ready + stats.delayed + stats.leased,
                stats.done,
            );
            break;
        }
    }
    std::process::exit(0);
}

async fn post_all(url: &str, count: u64, customers: u64) -> u64 {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let next = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (http, url, next, failed) =
            (http.clone(), url.to_owned(), next.clone(), failed.clone());
        tasks.spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    break;
                }
                if pipeline::post(&http, &url, pipeline::body(n, customers)).await != 200 {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    failed.load(Ordering::Relaxed)
}

async fn run(case: &str, payments: u64) -> Result<String, String> {
    let fake = if case == "syncing" {
        Some(FakeHubSpot::start().await)
    } else {
        None
    };
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut command = tokio::process::Command::new(exe);
    command.args(["--child", case]);
    if let Some(fake) = &fake {
        command.args([fake.base_url(), fake.token()]);
    }
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| e.to_string())?;
    let mut stdin = child.stdin.take().ok_or("no stdin")?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no stdout")?).lines();
    let url = loop {
        match lines.next_line().await.map_err(|e| e.to_string())? {
            Some(line) => {
                if let Some(url) = line.strip_prefix("url ") {
                    break url.to_owned();
                }
            }
            None => return Err(format!("{case}: the service exited before serving")),
        }
    };
    let started = Instant::now();
    let failed = post_all(&url, payments, (payments / 5).max(1)).await;
    if failed != 0 {
        return Err(format!("{case}: {failed} webhooks were not acknowledged"));
    }
    let posted = started.elapsed();
    if let Some(fake) = &fake {
        while (fake.deals().len() as u64) < payments {
            if started.elapsed() > SYNC_LIMIT {
                return Err(format!("{case}: not synced within {SYNC_LIMIT:?}"));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    let total = started.elapsed();
    stdin
        .write_all(b"report\n")
        .await
        .map_err(|e| e.to_string())?;
    while let Some(line) = lines.next_line().await.map_err(|e| e.to_string())? {
        if let Some(report) = line.strip_prefix("report ") {
            let _ = child.wait().await;
            let requests = fake.as_ref().map_or(0, |f| f.total_requests());
            let rate_limited = fake.as_ref().map_or(0, |f| {
                f.requests().iter().filter(|r| r.status == 429).count()
            });
            return Ok(format!(
                "| {case} | {payments} | {report} | posted in {:.1} s, done in {:.1} s | {requests} HubSpot requests, {rate_limited} answered 429 |",
                posted.as_secs_f64(),
                total.as_secs_f64()
            ));
        }
    }
    Err(format!("{case}: the service exited without a report"))
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(at) = args.iter().position(|a| a == "--child") {
        let case = args.get(at + 1).cloned().unwrap_or_default();
        let hubspot = match (args.get(at + 2), args.get(at + 3)) {
            (Some(url), Some(token)) => Some((url.clone(), token.clone())),
            _ => None,
        };
        child(&case, hubspot).await;
        return std::process::ExitCode::SUCCESS;
    }
    let bench = args.iter().any(|a| a == "--bench");
    let (waiting, burst) = if bench { (WAITING, BURST) } else { (200, 50) };
    println!(
        "service in its own process; SQLite queue synchronous=FULL; load average before: {}",
        pipeline::load_average()
    );
    println!();
    println!("| case | payments | service peak (VmHWM KiB) and queue | timing | HubSpot |");
    println!("|---|---|---|---|---|");
    for (case, payments) in [("waiting", waiting), ("syncing", burst)] {
        match run(case, payments).await {
            Ok(row) => println!("{row}"),
            Err(error) => {
                eprintln!("error: {error}");
                return std::process::ExitCode::FAILURE;
            }
        }
    }
    println!();
    println!("`cargo bench --bench memory_peak --features sqlite,axum`");
    std::process::ExitCode::SUCCESS
}
