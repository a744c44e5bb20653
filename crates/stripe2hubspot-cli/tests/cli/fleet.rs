//! `serve` with portals stored in its queue: no `HUBSPOT_ACCESS_TOKEN` needed, and a portal
//! added by another process while it runs gets its Connect events within seconds.

use std::time::{Duration, Instant};

use hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::testkit::Payment;

use crate::common::{eventually, output, sample, Server, ADMIN_TOKEN, PATIENCE, SECRET};

fn queue_url(dir: &tempfile::TempDir) -> String {
    format!("sqlite://{}", dir.path().join("queue.db").display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_without_a_token_refuses_an_empty_store_and_names_both_ways_out() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_url(&dir);
    let out = output(
        &["serve"],
        &[
            ("STRIPE_WEBHOOK_SECRET", SECRET),
            ("STRIPE2HUBSPOT_QUEUE", &queue),
            ("BIND_ADDR", "127.0.0.1:0"),
        ],
    )
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("HUBSPOT_ACCESS_TOKEN"), "{stderr}");
    assert!(stderr.contains("portals add"), "{stderr}");
    assert!(
        !dir.path().join("queue.db").exists(),
        "a configuration error creates no store"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_portal_added_while_serve_runs_gets_its_connect_events() {
    let dir = tempfile::tempdir().unwrap();
    let queue = queue_url(&dir);
    let (first, second) = (FakeHubSpot::start().await, FakeHubSpot::start().await);
    let add = |id: &'static str, account: &'static str, fake: &FakeHubSpot| {
        let (token, url, queue) = (fake.token(), fake.base_url(), queue.clone());
        async move {
            let out = output(
                &[
                    "portals",
                    "add",
                    id,
                    "--stripe-account",
                    account,
                    "--hubspot-base-url",
                    &url,
                ],
                &[
                    ("HUBSPOT_ACCESS_TOKEN", &token),
                    ("STRIPE2HUBSPOT_QUEUE", &queue),
                ],
            )
            .await;
            assert_eq!(
                out.status.code(),
                Some(0),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    };
    // One portal before the server starts: serve runs on it alone, without a default portal.
    add("first", "acct_first", &first).await;
    let env: Vec<(String, String)> = [
        ("STRIPE_WEBHOOK_SECRET", SECRET),
        ("STRIPE2HUBSPOT_QUEUE", queue.as_str()),
        ("BIND_ADDR", "127.0.0.1:0"),
        ("ADMIN_TOKEN", ADMIN_TOKEN),
        ("RUST_LOG", "warn"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let server = Server::start(&env).await;

    let event = |n: u64, account: &str| {
        let payment = Payment::numbered(
            n,
            &format!("buyer{n}@example.com"),
            2500,
            "usd",
            1_700_000_000,
        );
        let mut event = payment.charge_succeeded();
        event["account"] = serde_json::json!(account);
        let key = payment
            .payment_intent
            .clone()
            .unwrap_or(payment.charge_id.clone());
        (event.to_string(), key)
    };
    let (body, first_key) = event(1, "acct_first");
    assert_eq!(server.send(&body, SECRET).await, 200);
    // The second portal's account is not claimed yet: stored as unrouted.
    let (body, second_key) = event(2, "acct_second");
    assert_eq!(server.send(&body, SECRET).await, 200);

    add("second", "acct_second", &second).await;
    let added = Instant::now();
    let deal_of = |fake: &FakeHubSpot, key: &str| {
        fake.deals()
            .iter()
            .any(|d| d.property("stripe_payment_id") == Some(key))
    };
    loop {
        if deal_of(&second, &second_key) && deal_of(&first, &first_key) {
            break;
        }
        assert!(added.elapsed() < PATIENCE, "the portals did not sync");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let took = added.elapsed();
    assert!(
        took < Duration::from_secs(5),
        "synced {took:?} after `portals add`"
    );
    assert_eq!((first.deals().len(), second.deals().len()), (1, 1));

    let (status, text) = server.get("/admin/status", Some(ADMIN_TOKEN)).await;
    assert_eq!(status, 200, "{text}");
    let report: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        report["leading"],
        serde_json::json!(["first", "second"]),
        "{report}"
    );
    assert_eq!(report["unrouted"]["events"], 0, "{report}");
    for secret in [first.token(), second.token()] {
        assert!(!text.contains(&secret), "{text}");
    }
    let (status, health) = server.get("/healthz", None).await;
    assert_eq!(status, 200);
    assert!(health.contains("leader"), "{health}");
    // Gauges are read at most once a second: poll until the done job shows.
    let done = r#"stripe2hubspot_queue_jobs{state="done",portal="second"}"#;
    eventually("the per-portal gauges", || async {
        let (_, metrics) = server.get("/metrics", None).await;
        sample(&metrics, "stripe2hubspot_portals_led") == 2.0 && sample(&metrics, done) == 1.0
    })
    .await;
    assert_eq!(server.stop().await, Some(0));
}
