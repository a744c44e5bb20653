//! Thin events (Stripe event destinations) at the webhook endpoint: with a Stripe client the
//! object is fetched and stored as its snapshot event; when Stripe fails the delivery gets
//! 503 so Stripe retries; without a client the thin event is acknowledged as ignored (one warning says what to configure).

use std::time::Duration;

use stripe2hubspot::history::stripe2hubspot_stripe::fake::{objects, Failure, FakeStripe};
use stripe2hubspot::ingest::{Ingest, IngestOutcome};
use stripe2hubspot::map::MappingConfig;
use stripe2hubspot::queue::{MemoryQueue, Store};
use stripe2hubspot::stripe_events::Verifier;
use stripe2hubspot::testkit::sign_now;

const SECRET: &str = "whsec_thin_test";

fn thin_body(event_id: &str, charge: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "id": event_id, "object": "v2.core.event", "type": "v1.charge.refunded",
        "created": "2026-11-30T00:00:00.000Z", "livemode": false,
        "related_object": {"id": charge, "type": "charge", "url": format!("/v1/charges/{charge}")}
    }))
    .unwrap()
}

fn ingest(store: &Store, stripe: Option<&FakeStripe>) -> Ingest {
    let builder = Ingest::builder(Verifier::new(SECRET).unwrap(), store.queue.clone())
        .event_types(MappingConfig::default().event_types);
    match stripe {
        Some(stripe) => builder.thin_events(stripe.client().unwrap()),
        None => builder,
    }
    .build()
}

#[tokio::test]
async fn a_thin_event_is_stored_as_the_snapshot_of_its_object_fetched_from_stripe() {
    let stripe = FakeStripe::start().await;
    let history = objects::history(14, 1_700_000_000);
    stripe.insert_all(history.all()).unwrap();
    let refunded = history
        .charges
        .iter()
        .find(|c| c["amount_refunded"].as_i64() > Some(0))
        .unwrap();
    let charge = refunded["id"].as_str().unwrap();
    let store = Store::new(MemoryQueue::new());
    let ingest = ingest(&store, Some(&stripe));

    let body = thin_body("evt_thin_a", charge);
    let first = ingest.handle(Some(&sign_now(&body, SECRET)), &body).await;
    assert_eq!(first.status(), 200, "{}", first.body());
    assert!(
        matches!(first.outcome, IngestOutcome::Queued { .. }),
        "{}",
        first.body()
    );
    let jobs = store
        .queue
        .reserve(10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].event_type, "charge.refunded");
    let payload: serde_json::Value = serde_json::from_slice(&jobs[0].payload).unwrap();
    assert_eq!(payload["data"]["object"]["id"], charge);
    assert_eq!(
        payload["data"]["object"]["amount_refunded"],
        refunded["amount_refunded"]
    );

    // The same unchanged object again (another thin event about it): the queue keeps one.
    let again = thin_body("evt_thin_b", charge);
    let second = ingest.handle(Some(&sign_now(&again, SECRET)), &again).await;
    assert!(
        matches!(second.outcome, IngestOutcome::Duplicate { .. }),
        "{}",
        second.body()
    );

    // A forged thin event is refused before Stripe is asked anything.
    let before = stripe.requests().len();
    let forged = ingest
        .handle(Some(&sign_now(&body, "whsec_other")), &body)
        .await;
    assert_eq!(forged.status(), 400);
    assert_eq!(stripe.requests().len(), before);
}

#[tokio::test]
async fn a_thin_event_whose_object_stripe_cannot_serve_gets_503_so_stripe_retries() {
    let stripe = FakeStripe::start().await;
    let history = objects::history(3, 1_700_000_000);
    stripe.insert_all(history.all()).unwrap();
    let charge = history.charges[0]["id"].as_str().unwrap().to_owned();
    stripe.fail_next(10, Failure::server_error());
    let store = Store::new(MemoryQueue::new());
    let ingest = ingest(&store, Some(&stripe));
    let body = thin_body("evt_thin_c", &charge);
    let response = ingest.handle(Some(&sign_now(&body, SECRET)), &body).await;
    assert_eq!(response.status(), 503, "{}", response.body());
    assert_eq!(
        store.admin.stats().await.unwrap().ready,
        0,
        "nothing stored"
    );
}

#[tokio::test]
async fn without_a_stripe_client_a_thin_event_is_acknowledged_as_ignored_and_not_stored() {
    let store = Store::new(MemoryQueue::new());
    let ingest = ingest(&store, None);
    let body = thin_body("evt_thin_d", "ch_1");
    let response = ingest.handle(Some(&sign_now(&body, SECRET)), &body).await;
    assert_eq!(response.status(), 200);
    assert!(response.body().contains("ignored"), "{}", response.body());
    assert_eq!(
        store.admin.stats().await.unwrap().ready,
        0,
        "nothing stored"
    );
    // A forged one is still refused.
    let forged = ingest
        .handle(Some(&sign_now(&body, "whsec_forged")), &body)
        .await;
    assert_eq!(forged.status(), 400);
}
