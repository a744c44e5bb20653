//! Webhook ingest under load: a load generator posts signed `charge.succeeded` webhooks over
//! keep-alive HTTP/1.1 connections (reqwest, `CONCURRENCY` requests in flight) to the axum
//! ingest on loopback, which verifies each, parses only its envelope and stores it in the SQLite
//! queue (`synchronous=FULL`, concurrent enqueues sharing a commit) before answering 200.
//!
//! The server runs in a process of its own: the bench starts itself again as the server
//! (`INGEST_LOAD_ROLE=server`), so the generator's work is not counted in the server's
//! process and runtime (they still share the machine's cores, 2 here). For comparison with
//! earlier figures it also measures the server inside the generator's process, as this bench
//! did before. Bodies and signatures are made before the clock starts. The machine's load
//! average is printed before and after, since other builds may share it.
//!
//! `cargo bench --bench ingest_load --features sqlite,axum`
//!
//! `INGEST_LOAD_WRAP="perf record -g -o ingest.perf --"` runs the server process under that
//! command (for profiling the acked path alone).

#[path = "support/pipeline.rs"]
mod pipeline;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use stripe2hubspot::testkit::sign_now;

/// Requests in flight at once.
const CONCURRENCY: usize = 64;
/// Webhooks posted per run.
const WEBHOOKS: usize = 60_000;
/// Selects the server role of this binary.
const ROLE: &str = "INGEST_LOAD_ROLE";
/// The server role's queue file.
const DB: &str = "INGEST_LOAD_DB";

fn main() -> std::process::ExitCode {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    if std::env::var(ROLE).as_deref() == Ok("server") {
        runtime.block_on(serve());
        return std::process::ExitCode::SUCCESS;
    }
    runtime.block_on(generate())
}

/// The server role: serve ingest until stdin closes, then print how many webhooks it queued.
async fn serve() {
    let db = std::env::var(DB).expect("INGEST_LOAD_DB names the queue file");
    let store = pipeline::sqlite_store(std::path::Path::new(&db)).await;
    let service = pipeline::start(store, None, Duration::from_millis(200)).await;
    println!("listening {}", service.url);
    let _ = std::io::stdout().flush();
    // Blocks a runtime thread until the generator is done; the server runs on the others.
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
    })
    .await;
    println!("queued {}", service.ingest.stats().queued);
    let _ = std::io::stdout().flush();
}

/// One measured run against the webhook URL `url`.
struct Run {
    elapsed: Duration,
    latencies: Vec<Duration>,
    failed: usize,
}

async fn load(url: &str, requests: Arc<Vec<(Vec<u8>, String)>>) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(CONCURRENCY)
        .build()
        .expect("client");
    let started = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENCY {
        let (requests, next, http, url) =
            (requests.clone(), next.clone(), http.clone(), url.to_owned());
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
    let mut latencies = Vec::with_capacity(requests.len());
    let mut failed = 0;
    while let Some(done) = clients.join_next().await {
        let (mut l, f) = done.expect("client task");
        latencies.append(&mut l);
        failed += f;
    }
    Run {
        elapsed: started.elapsed(),
        latencies,
        failed,
    }
}

/// Signed requests for payments `from..from + count` (distinct event ids per run).
fn requests(from: u64, count: usize) -> Arc<Vec<(Vec<u8>, String)>> {
    Arc::new(
        (from..from + count as u64)
            .map(|n| {
                let body = pipeline::body(n, 4_000);
                let signature = sign_now(&body, pipeline::SECRET);
                (body, signature)
            })
            .collect(),
    )
}

fn row(setup: &str, run: &mut Run, webhooks: usize, queued: u64) -> String {
    let (p50, p99, max) = pipeline::percentiles(&mut run.latencies);
    let acked = webhooks - run.failed;
    format!(
        "| {setup} | {:.0} | {:.2} ms | {:.2} ms | {:.2} ms | {acked} | {} | {queued} |",
        acked as f64 / run.elapsed.as_secs_f64(),
        p50.as_secs_f64() * 1e3,
        p99.as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3,
        run.failed,
    )
}

async fn generate() -> std::process::ExitCode {
    let bench = std::env::args().any(|a| a == "--bench");
    let webhooks = if bench { WEBHOOKS } else { 500 };
    let dir = tempfile::tempdir().expect("temp dir");
    let load_before = pipeline::load_average();
    let mut rows = Vec::new();
    let mut ok = true;

    // The server in a process of its own.
    let separate = requests(0, webhooks);
    let body_bytes = separate.first().map_or(0, |(b, _)| b.len());
    let exe = std::env::current_exe().expect("own executable");
    let mut command = match std::env::var("INGEST_LOAD_WRAP") {
        Ok(wrap) if !wrap.trim().is_empty() => {
            let mut parts = wrap.split_whitespace();
            let mut c = Command::new(parts.next().unwrap_or_default());
            c.args(parts).arg(&exe);
            c
        }
        _ => Command::new(&exe),
    };
    let mut server = command
        .env(ROLE, "server")
        .env(DB, dir.path().join("separate.db"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the server process");
    let mut out = BufReader::new(server.stdout.take().expect("server stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("server announces its URL");
    let url = line
        .trim()
        .strip_prefix("listening ")
        .expect("a `listening <url>` line")
        .to_owned();
    let mut run = load(&url, separate).await;
    drop(server.stdin.take());
    line.clear();
    out.read_line(&mut line)
        .expect("server reports what it queued");
    let queued: u64 = line
        .trim()
        .strip_prefix("queued ")
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let _ = server.wait();
    ok &= run.failed == 0 && queued == webhooks as u64;
    rows.push(row(
        "server in its own process (now)",
        &mut run,
        webhooks,
        queued,
    ));

    // The server in the generator's process, as this bench measured before.
    let shared = requests(webhooks as u64, webhooks);
    let store = pipeline::sqlite_store(&dir.path().join("shared.db")).await;
    let service = pipeline::start(store, None, Duration::from_millis(200)).await;
    let mut run = load(&service.url, shared).await;
    let queued = service.ingest.stats().queued;
    service.stop().await;
    ok &= run.failed == 0 && queued == webhooks as u64;
    rows.push(row(
        "server in the generator's process (before)",
        &mut run,
        webhooks,
        queued,
    ));

    println!(
        "{webhooks} signed webhooks of {body_bytes} bytes per setup, {CONCURRENCY} in flight over keep-alive connections; SQLite queue synchronous=FULL; load average before {load_before}, after {}",
        pipeline::load_average()
    );
    println!();
    println!("| setup | acked/s | p50 | p99 | max | acked | failed | queued by ingest |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in rows {
        println!("{r}");
    }
    println!();
    println!("`cargo bench --bench ingest_load --features sqlite,axum`");
    if ok {
        std::process::ExitCode::SUCCESS
    } else {
        eprintln!("error: some webhooks were not acknowledged or not queued");
        std::process::ExitCode::FAILURE
    }
}
