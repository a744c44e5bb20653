//! Webhook ingest under load: a load generator posts signed `charge.succeeded` webhooks over
//! keep-alive HTTP/1.1 connections (reqwest, `CONCURRENCY` requests in flight) to the axum
//! ingest on loopback, which verifies each, parses only its envelope and stores it in the SQLite
//! queue (`synchronous=FULL`, concurrent enqueues sharing a commit) before answering 200.
//!
//! Reports acknowledged webhooks per second and the latency percentiles seen by the client.
//! Client and server share this process and the machine's cores (2 here), so the client's own
//! work is counted against the server; bodies and signatures are made before the clock starts.
//! The machine's load average is printed before and after, since other builds may share it.
//!
//! `cargo bench --bench ingest_load --features sqlite,axum`

#[path = "support/pipeline.rs"]
mod pipeline;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stripe2hubspot::testkit::sign_now;

/// Requests in flight at once.
const CONCURRENCY: usize = 64;
/// Webhooks posted per run.
const WEBHOOKS: usize = 60_000;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let bench = std::env::args().any(|a| a == "--bench");
    let webhooks = if bench { WEBHOOKS } else { 500 };
    let dir = tempfile::tempdir().expect("temp dir");
    let store = pipeline::sqlite_store(&dir.path().join("queue.db")).await;
    let service = pipeline::start(store, None, Duration::from_millis(200)).await;

    let requests: Vec<(Vec<u8>, String)> = (0..webhooks as u64)
        .map(|n| {
            let body = pipeline::body(n, 4_000);
            let signature = sign_now(&body, pipeline::SECRET);
            (body, signature)
        })
        .collect();
    let body_bytes = requests.first().map_or(0, |(b, _)| b.len());
    let requests = Arc::new(requests);
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let load_before = pipeline::load_average();

    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (requests, next, http, url) = (
            requests.clone(),
            next.clone(),
            http.clone(),
            service.url.clone(),
        );
        clients.spawn(async move {
            let mut latencies = Vec::new();
            let mut failed = 0usize;
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                let Some((body, signature)) = requests.get(n) else {
                    break;
                };
                let sent = Instant::now();
                let ok = http
                    .post(&url)
                    .header("stripe-signature", signature)
                    .header("content-type", "application/json")
                    .body(body.clone())
                    .send()
                    .await
                    .is_ok_and(|r| r.status().as_u16() == 200);
                latencies.push(sent.elapsed());
                if !ok {
                    failed += 1;
                }
            }
            (latencies, failed)
        });
    }
    let mut latencies = Vec::with_capacity(webhooks);
    let mut failed = 0;
    while let Some(done) = clients.join_next().await {
        let (mut l, f) = done.expect("client task");
        latencies.append(&mut l);
        failed += f;
    }
    let elapsed = started.elapsed();
    let stats = service.ingest.stats();
    let (p50, p99, max) = pipeline::percentiles(&mut latencies);
    let acked = webhooks - failed;
    println!(
        "{webhooks} signed webhooks of {body_bytes} bytes, {CONCURRENCY} in flight over keep-alive connections; SQLite queue synchronous=FULL; load average before {load_before}, after {}",
        pipeline::load_average()
    );
    println!();
    println!("| acked/s | p50 | p99 | max | acked | failed | queued by ingest |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {acked} | {failed} | {} |",
        acked as f64 / elapsed.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        stats.queued,
    );
    println!();
    println!("`cargo bench --bench ingest_load --features sqlite,axum`");
    service.stop().await;
    if failed == 0 && stats.queued == webhooks as u64 {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("error: {failed} webhooks were not acknowledged");
        std::process::ExitCode::FAILURE
    }
}
