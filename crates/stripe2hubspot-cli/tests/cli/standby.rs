//! Two `serve` processes on one SQLite file (a rolling deploy, a second copy started by
//! mistake): one leads, the other stands by instead of spending the portal's quota twice, and
//! takes over when the first exits.

use std::time::{Duration, Instant};

use hubspot_crm::fake::FakeHubSpot;
use serde_json::Value;
use stripe2hubspot::testkit::Payment;

use crate::common::{eventually, server_env, Server, SECRET};

async fn role(server: &Server) -> Value {
    let (_, text) = server.get("/healthz", None).await;
    serde_json::from_str::<Value>(&text).unwrap_or_else(|e| panic!("{e}: {text}"))["role"].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_serve_on_one_sqlite_file_stands_by_and_leads_once_the_first_dies() {
    let hubspot = FakeHubSpot::start().await;
    let dir = tempfile::tempdir().unwrap();
    let envs = server_env(&hubspot, &dir);
    let mut first = Server::start(&envs).await;
    eventually("the first server to lead", || async {
        role(&first).await == "leader"
    })
    .await;
    let second = Server::start(&envs).await;
    // The second tries to lead as it starts, then every 3 s: watch it through its start and
    // one retry. Before the lock file, it led at once beside the first.
    let watched = Instant::now();
    while watched.elapsed() < Duration::from_secs(4) {
        assert_eq!(role(&second).await, "standby", "two leaders on one file");
        assert_eq!(role(&first).await, "leader");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The second still ingests; the first syncs what it stored.
    let payment = Payment::sample();
    assert_eq!(
        second
            .send(&payment.charge_succeeded().to_string(), SECRET)
            .await,
        200
    );
    eventually("the leader to sync the payment", || async {
        hubspot.deals().len() == 1
    })
    .await;

    first.signal("-KILL").await;
    eventually("the standby to take over", || async {
        role(&second).await == "leader"
    })
    .await;
    let next = Payment::numbered(1, "next@example.com", 500, "usd", 1_700_000_000);
    assert_eq!(
        second
            .send(&next.charge_succeeded().to_string(), SECRET)
            .await,
        200
    );
    eventually("the new leader to sync", || async {
        hubspot.deals().len() == 2
    })
    .await;
    assert_eq!(second.stop().await, Some(0));
}
