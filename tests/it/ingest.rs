//! Webhook ingest over real HTTP on loopback, with a real SQLite queue file.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use stripe2hubspot::ingest::Ingest;
use stripe2hubspot::ingest::{SIGNATURE_HEADER, WEBHOOK_PATH};
use stripe2hubspot::queue::{
    Attempt, Enqueued, Job, JobId, NewJob, Queue, QueueError, SqliteQueue, Store,
};
use stripe2hubspot::stripe_events::{sign, Verifier};
use stripe2hubspot::testkit::{sign_now, Payment};

const SECRET: &str = "whsec_ingest_test";

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}{WEBHOOK_PATH}")
}

async fn sqlite_setup() -> (tempfile::TempDir, Store, String) {
    let dir = tempfile::tempdir().unwrap();
    let queue = Store::new(SqliteQueue::open(dir.path().join("q.db")).await.unwrap());
    let ingest = Ingest::builder(Verifier::new(SECRET).unwrap(), queue.queue.clone()).build();
    let url = serve(stripe2hubspot::ingest::axum::router(Arc::new(ingest))).await;
    (dir, queue, url)
}

async fn post(url: &str, signature: Option<&str>, body: Vec<u8>) -> (u16, serde_json::Value) {
    let mut request = reqwest::Client::new().post(url).body(body);
    if let Some(signature) = signature {
        request = request.header(SIGNATURE_HEADER, signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(serde_json::Value::Null);
    (status, body)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

async fn stored(store: &Store) -> u64 {
    let stats = store.admin.stats().await.unwrap();
    stats.ready + stats.delayed + stats.leased + stats.done + stats.dead
}

#[tokio::test]
async fn a_signed_event_is_stored_once_and_redeliveries_are_duplicates() {
    let (_dir, queue, url) = sqlite_setup().await;
    let body = Payment::sample()
        .charge_succeeded()
        .to_string()
        .into_bytes();
    let signature = sign_now(&body, SECRET);

    let (status, json) = post(&url, Some(&signature), body.clone()).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("queued")));
    assert_eq!(json["event_id"], "evt_1N3x9yLkdIwHu7ix241ad");

    let (status, json) = post(&url, Some(&signature), body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("duplicate")));

    let jobs = queue
        .queue
        .reserve(10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].event_type, "charge.succeeded");
}

#[tokio::test]
async fn unhandled_event_types_are_acknowledged_but_not_stored() {
    let (_dir, queue, url) = sqlite_setup().await;
    let mut event = Payment::sample().charge_succeeded();
    // customer.* events are handled since issue 21; payouts never are.
    event["type"] = "payout.paid".into();
    let body = event.to_string().into_bytes();
    let (status, json) = post(&url, Some(&sign_now(&body, SECRET)), body).await;
    assert_eq!((status, json["status"].as_str()), (200, Some("ignored")));
    assert_eq!(stored(&queue).await, 0);
}

#[tokio::test]
async fn bad_webhooks_get_the_right_status_and_store_nothing() {
    let (_dir, queue, url) = sqlite_setup().await;
    let body = Payment::sample()
        .charge_succeeded()
        .to_string()
        .into_bytes();
    let truncated = body[..body.len() / 2].to_vec();
    let not_json = b"hello, not json".to_vec();
    let huge = vec![b' '; 2 * 1024 * 1024];
    let cases: Vec<(&str, Option<String>, Vec<u8>, u16)> = vec![
        (
            "wrong secret",
            Some(sign_now(&body, "whsec_other")),
            body.clone(),
            400,
        ),
        (
            "stale timestamp",
            Some(sign(&body, SECRET, now() - 3600)),
            body.clone(),
            400,
        ),
        (
            "truncated body",
            Some(sign_now(&truncated, SECRET)),
            truncated,
            400,
        ),
        ("not json", Some(sign_now(&not_json, SECRET)), not_json, 400),
        ("missing header", None, body.clone(), 400),
        (
            "garbage header",
            Some("t=abc,v1=zz".into()),
            body.clone(),
            400,
        ),
        ("2 MiB body", Some(sign_now(&huge, SECRET)), huge, 413),
    ];
    for (name, signature, body, expected) in cases {
        let (status, json) = post(&url, signature.as_deref(), body).await;
        assert_eq!(status, expected, "{name}: {json}");
        if expected == 400 {
            let error = json["error"].as_str().unwrap_or_default();
            assert!(!error.is_empty(), "{name}: a 400 says why");
            assert!(!error.contains(SECRET), "{name}: never echo the secret");
        }
    }
    assert_eq!(stored(&queue).await, 0);
}

/// A queue whose store is down: a custom backend implements only [`Queue`].
struct DownQueue;

#[async_trait]
impl Queue for DownQueue {
    async fn enqueue(&self, _: NewJob) -> Result<Enqueued, QueueError> {
        Err(QueueError::Unavailable {
            source: "disk full".into(),
        })
    }
    async fn reserve(&self, _: usize, _: Duration) -> Result<Vec<Job>, QueueError> {
        Ok(Vec::new())
    }
    async fn complete(&self, _: &Job) -> Result<(), QueueError> {
        Ok(())
    }
    async fn retry(&self, _: &Job, _: SystemTime, _: &str, _: Attempt) -> Result<(), QueueError> {
        Ok(())
    }
    async fn release(&self, _: &Job) -> Result<(), QueueError> {
        Ok(())
    }
    async fn dead_letter(&self, _: &Job, _: &str) -> Result<(), QueueError> {
        Ok(())
    }
    async fn renew(&self, jobs: &[Job], _: Duration) -> Result<Vec<JobId>, QueueError> {
        Ok(jobs.iter().map(|job| job.id).collect())
    }
}

#[tokio::test]
async fn a_queue_that_cannot_store_answers_503_so_stripe_retries() {
    let ingest = Ingest::builder(Verifier::new(SECRET).unwrap(), Arc::new(DownQueue)).build();
    let url = serve(stripe2hubspot::ingest::axum::router(Arc::new(ingest))).await;
    let body = Payment::sample()
        .charge_succeeded()
        .to_string()
        .into_bytes();
    let (status, json) = post(&url, Some(&sign_now(&body, SECRET)), body).await;
    assert_eq!(status, 503);
    assert_eq!(json["status"], "unavailable");
}

#[cfg(feature = "actix")]
#[actix_web::test]
async fn the_actix_handler_behaves_like_the_axum_one() {
    use actix_web::{test, App};
    let queue = Store::new(stripe2hubspot::queue::MemoryQueue::new());
    let ingest =
        Arc::new(Ingest::builder(Verifier::new(SECRET).unwrap(), queue.queue.clone()).build());
    let app =
        test::init_service(App::new().configure(stripe2hubspot::ingest::actix::configure(ingest)))
            .await;
    let body = Payment::sample().charge_succeeded().to_string();
    let signed = |body: &str| sign_now(body.as_bytes(), SECRET);
    let request = |body: String, signature: String| {
        test::TestRequest::post()
            .uri(WEBHOOK_PATH)
            .insert_header((SIGNATURE_HEADER, signature))
            .set_payload(body)
            .to_request()
    };
    let first = test::call_service(&app, request(body.clone(), signed(&body))).await;
    assert_eq!(first.status().as_u16(), 200);
    let second: serde_json::Value =
        test::call_and_read_body_json(&app, request(body.clone(), signed(&body))).await;
    assert_eq!(second["status"], "duplicate");
    let forged = test::call_service(
        &app,
        request(body.clone(), sign_now(body.as_bytes(), "whsec_x")),
    )
    .await;
    assert_eq!(forged.status().as_u16(), 400);
    let huge = " ".repeat(2 * 1024 * 1024);
    let too_large = test::call_service(&app, request(huge.clone(), signed(&huge))).await;
    assert_eq!(too_large.status().as_u16(), 413);
    assert_eq!(queue.admin.stats().await.unwrap().ready, 1);
}

/// Sends a webhook's headers (announcing a body) and a few bytes of it, then stalls; returns
/// the status line the server answers with (empty if it closed without answering).
async fn stall_after_headers(addr: std::net::SocketAddr) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {WEBHOOK_PATH} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n{SIGNATURE_HEADER}: t=1,v1=00\r\ncontent-length: 4000\r\n\r\n{{\"id\":"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    // Read until the status line is complete; the server must answer although the body never
    // comes (without the read timeout this read never returns and the test hangs).
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        let n = stream.read(&mut buf).await.unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer).into_owned();
    answer.lines().next().unwrap_or_default().to_owned()
}

/// A client that sends headers and then stalls (a slowloris body) gets 408 once the body read
/// timeout passes, and nothing is stored.
#[tokio::test]
async fn a_body_that_never_arrives_gets_408_on_axum() {
    let store = Store::new(stripe2hubspot::queue::MemoryQueue::new());
    let ingest = Ingest::builder(Verifier::new(SECRET).unwrap(), store.queue.clone())
        .body_read_timeout(Duration::from_millis(300))
        .build();
    let ingest = Arc::new(ingest);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = stripe2hubspot::ingest::axum::router(ingest.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let status_line = tokio::time::timeout(Duration::from_secs(60), stall_after_headers(addr))
        .await
        .expect("the server never answered a stalled body");
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line:?}");
    assert_eq!(ingest.stats().rejected, 1);
    assert_eq!(stored(&store).await, 0);
}

#[cfg(feature = "actix")]
#[actix_web::test]
async fn a_body_that_never_arrives_gets_408_on_actix() {
    use actix_web::{App, HttpServer};
    let store = Store::new(stripe2hubspot::queue::MemoryQueue::new());
    let ingest = Arc::new(
        Ingest::builder(Verifier::new(SECRET).unwrap(), store.queue.clone())
            .body_read_timeout(Duration::from_millis(300))
            .build(),
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let served = ingest.clone();
    let server = HttpServer::new(move || {
        App::new().configure(stripe2hubspot::ingest::actix::configure(served.clone()))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let status_line = tokio::time::timeout(Duration::from_secs(60), stall_after_headers(addr))
        .await
        .expect("the server never answered a stalled body");
    assert!(status_line.starts_with("HTTP/1.1 408"), "{status_line:?}");
    assert_eq!(ingest.stats().rejected, 1);
    assert_eq!(stored(&store).await, 0);
    handle.stop(false).await;
}
