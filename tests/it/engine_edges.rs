//! Engine edge cases: partial answers, unnamed rejections, Slack alerts, the pause handle and
//! alert storms. Signed webhooks -> SQLite queue -> engine -> fake HubSpot over loopback.

use crate::common;

use std::time::Duration;

use common::Pipeline;
use serde_json::json;
use stripe2hubspot::alert::{Alert, AlertKind, Alerter, SlackAlerter};
use stripe2hubspot::engine::PauseReason;
use stripe2hubspot::hubspot_crm::fake::{Failure, FakeHubSpot};
use stripe2hubspot::testkit::Payment;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const DRAIN: Duration = Duration::from_secs(60);

const CONTACTS_UPSERT: &str = "/crm/objects/2026-09/contacts/batch/upsert";
const DEALS_UPSERT: &str = "/crm/objects/2026-09/deals/batch/upsert";
const ASSOCIATIONS: &str = "/crm/associations/2026-09";

fn payments(prefix: &str, n: u64) -> Vec<Payment> {
    (0..n)
        .map(|i| {
            Payment::numbered(
                i,
                &format!("{prefix}{i}@example.com"),
                1000 + i as i64,
                "usd",
                1_700_000_000 + i as i64,
            )
        })
        .collect()
}

/// Every payment has exactly one contact (by e-mail) and one deal (by payment id), and
/// the deal is associated with the contact.
fn assert_one_contact_and_one_associated_deal_each(hubspot: &FakeHubSpot, payments: &[Payment]) {
    let contacts = hubspot.contacts();
    let deals = hubspot.deals();
    assert_eq!(contacts.len(), payments.len(), "{contacts:?}");
    assert_eq!(deals.len(), payments.len(), "{deals:?}");
    for payment in payments {
        let email = payment.email.as_deref().unwrap();
        let matching: Vec<_> = contacts
            .iter()
            .filter(|c| c.property("email") == Some(email))
            .collect();
        assert_eq!(matching.len(), 1, "one contact for {email}");
        let key = payment.payment_intent.as_deref().unwrap();
        let deal: Vec<_> = deals
            .iter()
            .filter(|d| d.property("stripe_payment_id") == Some(key))
            .collect();
        assert_eq!(deal.len(), 1, "one deal for {key}");
        assert!(
            hubspot.are_associated("deals", &deal[0].id, "contacts", &matching[0].id),
            "deal {key} is associated with {email}"
        );
    }
}

#[tokio::test]
async fn a_partial_association_answer_is_retried_idempotently() {
    let hubspot = FakeHubSpot::start().await;
    // HubSpot-shaped BatchResponse: nothing associated, one error naming no input. The
    // injected answer is not applied, so no link exists until the retry makes it.
    let body = json!({
        "status": "COMPLETE",
        "results": [],
        "errors": [{
            "status": "error",
            "category": "OBJECT_NOT_FOUND",
            "message": "Could not find the deal to associate; it may not be indexed yet",
            "context": {}
        }],
        "startedAt": "2024-01-01T00:00:00Z",
        "completedAt": "2024-01-01T00:00:01Z"
    });
    hubspot.fail_next_on(
        1,
        "POST",
        ASSOCIATIONS,
        Failure::Status(207, Some(body.to_string())),
    );
    let mut pipeline = Pipeline::new(hubspot).await;
    let payments = payments("partial", 6);
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    // New deals are created with their association inline; the separate association call
    // (deals HubSpot holds, creates refused for a taken payment id) is the upsert path's.
    pipeline.start_engine(|b| b.compare_upsert_only_path(true));
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (6, 0), "{stats:?}");

    let hubspot = &pipeline.hubspot;
    let association_statuses: Vec<u16> = hubspot
        .requests()
        .iter()
        .filter(|r| r.path.starts_with(ASSOCIATIONS))
        .map(|r| r.status)
        .collect();
    assert_eq!(
        association_statuses.first(),
        Some(&207),
        "{association_statuses:?}"
    );
    assert!(
        association_statuses.len() >= 2 && association_statuses[1..].iter().all(|s| *s == 200),
        "the batch was retried: {association_statuses:?}"
    );
    // The retry re-upserted contacts and deals: upserts kept it at one of each.
    assert!(hubspot.request_count("POST", CONTACTS_UPSERT) >= 2);
    assert!(hubspot.request_count("POST", DEALS_UPSERT) >= 2);
    assert_one_contact_and_one_associated_deal_each(hubspot, &payments);
    let metrics = pipeline.engine.as_ref().unwrap().metrics();
    assert_eq!(metrics.dead_lettered, 0, "{metrics:?}");
    assert!(metrics.retried >= 6, "{metrics:?}");
    assert!(pipeline
        .alerts
        .alerts()
        .iter()
        .all(|a| a.kind != AlertKind::DeadLettered));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_rejection_naming_nothing_is_bisected_and_the_halves_sync() {
    let hubspot = FakeHubSpot::start().await;
    let body = json!({
        "status": "error",
        "message": "The request could not be processed; check the inputs and try again",
        "correlationId": "00000000-0000-0000-0000-000000000400",
        "category": "VALIDATION_ERROR"
    });
    hubspot.fail_next_on(
        1,
        "POST",
        CONTACTS_UPSERT,
        Failure::Status(400, Some(body.to_string())),
    );
    let mut pipeline = Pipeline::new(hubspot).await;
    let payments = payments("bisect", 8);
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    // One attempt only: a retry of the whole batch would dead-letter it, so syncing all 8
    // shows the engine resent the halves within the attempt.
    pipeline.start_engine(|b| b.max_attempts(1));
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (8, 0), "{stats:?}");

    let hubspot = &pipeline.hubspot;
    let contact_statuses: Vec<u16> = hubspot
        .requests()
        .iter()
        .filter(|r| r.path == CONTACTS_UPSERT)
        .map(|r| r.status)
        .collect();
    assert_eq!(
        contact_statuses,
        [400, 200, 200],
        "the batch of 8 is bisected into two halves of 4"
    );
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/deals/batch/create"),
        1
    );
    assert_one_contact_and_one_associated_deal_each(hubspot, &payments);
    let metrics = pipeline.engine.as_ref().unwrap().metrics();
    assert_eq!(
        (metrics.synced, metrics.dead_lettered),
        (8, 0),
        "{metrics:?}"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn the_slack_alerter_posts_the_message_as_text() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T/B/X"))
        .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
        .expect(1)
        .mount(&server)
        .await;
    let alerter = SlackAlerter::new(&format!("{}/services/T/B/X", server.uri())).unwrap();
    alerter
        .alert(Alert::new(
            AlertKind::DeadLettered,
            "Stripe event evt_123 could not be synced",
        ))
        .await;
    let requests = server.received_requests().await.unwrap();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request
            .headers
            .get("content-type")
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    let object = body.as_object().expect("a JSON object");
    assert_eq!(object.keys().collect::<Vec<_>>(), ["text"], "{body}");
    let text = body["text"].as_str().expect("text is a string");
    assert!(
        text.contains("Stripe event evt_123 could not be synced"),
        "{text}"
    );
    assert!(text.contains("DeadLettered"), "{text}");
    server.verify().await;
}

#[tokio::test]
async fn a_failing_slack_webhook_is_logged_not_raised() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T/B/X"))
        .respond_with(ResponseTemplate::new(500).set_body_string("internal_error"))
        .mount(&server)
        .await;
    let alerter = SlackAlerter::new(&format!("{}/services/T/B/X", server.uri())).unwrap();
    for _ in 0..2 {
        alerter
            .alert(Alert::new(AlertKind::Unauthorized, "token revoked"))
            .await;
    }
    // Each alert was attempted once (no retry loop) and returned normally.
    assert_eq!(server.received_requests().await.unwrap().len(), 2);

    // Nobody listening at all: also returns.
    let gone = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let alerter = SlackAlerter::new(&format!("http://{gone}/services/T/B/X")).unwrap();
    alerter
        .alert(Alert::new(AlertKind::Unauthorized, "token revoked"))
        .await;
}

#[tokio::test]
async fn a_paused_engine_keeps_events_queued_and_resume_syncs_them() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    let engine = pipeline.engine.clone().unwrap();
    engine.pause();
    assert_eq!(engine.paused(), Some(PauseReason::Manual));
    // Let workers that were polling the empty queue come back to the pause check.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let payments = payments("paused", 3);
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!(
        (
            stats.ready,
            stats.leased,
            stats.delayed,
            stats.done,
            stats.dead
        ),
        (3, 0, 0, 0, 0),
        "paused: the events wait, ready: {stats:?}"
    );
    let writes: Vec<_> = pipeline
        .hubspot
        .requests()
        .into_iter()
        .filter(|r| r.method != "GET")
        .collect();
    assert!(
        writes.is_empty(),
        "no HubSpot writes while paused: {writes:?}"
    );
    assert!(pipeline.hubspot.contacts().is_empty());
    assert_eq!(
        engine.paused(),
        Some(PauseReason::Manual),
        "no probe resumes a manual pause"
    );

    engine.resume();
    assert_eq!(engine.paused(), None);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (3, 0), "{stats:?}");
    assert_one_contact_and_one_associated_deal_each(&pipeline.hubspot, &payments);
    assert_eq!(engine.metrics().synced, 3);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn an_alert_storm_of_dead_letters_sends_one_alert() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    // Stripe accepts these addresses; HubSpot rejects them (no dot in the domain).
    let bad: Vec<Payment> = (0..5)
        .map(|i| Payment::numbered(i, &format!("x{i}@nodot"), 100, "usd", 1_700_000_000))
        .collect();
    let good: Vec<Payment> = (5..7)
        .map(|i| {
            Payment::numbered(
                i,
                &format!("fine{i}@example.com"),
                100,
                "usd",
                1_700_000_000,
            )
        })
        .collect();
    for payment in bad.iter().chain(&good) {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    // Default alert window (5 minutes); one batch holds all seven.
    pipeline.start_engine(|b| b);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (2, 5), "{stats:?}");

    let dead = pipeline.store.admin.dead_letters(100, None).await.unwrap();
    let mut dead_ids: Vec<&str> = dead.iter().map(|d| d.event_id.as_str()).collect();
    dead_ids.sort_unstable();
    let mut bad_ids: Vec<&str> = bad.iter().map(|p| p.event_id.as_str()).collect();
    bad_ids.sort_unstable();
    assert_eq!(dead_ids, bad_ids);
    assert!(
        dead.iter().all(|d| d.error.contains("INVALID_EMAIL")),
        "{dead:?}"
    );
    let metrics = pipeline.engine.as_ref().unwrap().metrics();
    assert_eq!(metrics.dead_lettered, 5, "{metrics:?}");

    let alerts = pipeline.alerts.alerts();
    let dead_alerts: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::DeadLettered)
        .collect();
    assert_eq!(dead_alerts.len(), 1, "one alert for the storm: {alerts:?}");
    assert!(
        bad_ids.iter().any(|id| dead_alerts[0].message.contains(id)),
        "{}",
        dead_alerts[0].message
    );
    assert_eq!(pipeline.hubspot.contacts().len(), 2);
    assert_eq!(pipeline.hubspot.deals().len(), 2);
    pipeline.shutdown().await;
}

#[tokio::test]
/// Was: a forced per-event mode is used even when the properties exist. The per-event path
/// is gone; every write is a batch call (a new payment's deal a batch create), never a search
/// then create.
async fn every_write_is_a_batch_call_and_never_a_search() {
    use stripe2hubspot::hubspot_crm::PropertyCreate;
    let hubspot = FakeHubSpot::builder()
        .property(
            "deals",
            PropertyCreate::text("stripe_payment_id", "Stripe payment id", "dealinformation")
                .unique(true),
        )
        .start()
        .await;
    let mut pipeline = Pipeline::new(hubspot).await;
    pipeline.start_engine(|b| b);
    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    let stats = pipeline.drained(Duration::from_secs(60)).await;
    assert_eq!((stats.done, stats.dead), (1, 0));
    let hubspot = &pipeline.hubspot;
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/contacts/batch/upsert"),
        1
    );
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/deals/batch/create"),
        1
    );
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/contacts/search")
            + hubspot.request_count("POST", "/crm/objects/2026-09/deals/search"),
        0
    );
    assert_eq!(hubspot.deals().len(), 1);
    pipeline.shutdown().await;
}

/// An upsert answer without the echoed `stripe_payment_id` is never matched by position: the
/// engine reads the deals back by that property. Here the answer names ids of objects that do
/// not exist, so the read-back finds nothing, the payments are retried, and the next upsert
/// writes and associates the real deals.
#[tokio::test]
async fn an_upsert_answer_without_the_id_echo_is_read_back_never_matched_by_position() {
    let hubspot = FakeHubSpot::start().await;
    let unechoed = serde_json::json!({
        "status": "COMPLETE",
        "results": [
            {"id": "999001", "properties": {}, "new": true},
            {"id": "999002", "properties": {}, "new": true}
        ],
        "startedAt": "2026-01-01T00:00:00Z",
        "completedAt": "2026-01-01T00:00:01Z"
    });
    hubspot.fail_next_on(
        1,
        "POST",
        "/crm/objects/2026-09/deals/batch/upsert",
        Failure::Status(200, Some(unechoed.to_string())),
    );
    let mut pipeline = Pipeline::new(hubspot).await;
    let payments = payments("echo", 2);
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    // New payments' deals are created; the deals upsert (deals HubSpot holds, fallbacks)
    // is what this test answers without the echo.
    pipeline.start_engine(|b| b.concurrency(1).compare_upsert_only_path(true));
    let stats = pipeline.drained(Duration::from_secs(60)).await;
    assert_eq!((stats.done, stats.dead), (2, 0));
    let read_backs = pipeline
        .hubspot
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.starts_with("/crm/objects/2026-09/deals/"))
        .count();
    assert_eq!(
        read_backs, 2,
        "each unechoed deal is read back by its id property"
    );
    assert_one_contact_and_one_associated_deal_each(&pipeline.hubspot, &payments);
    assert!(
        pipeline
            .hubspot
            .associations()
            .iter()
            .all(|a| !a.from_id.starts_with("99900") && !a.to_id.starts_with("99900")),
        "nothing was associated with the unechoed ids"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn dead_letters_past_their_retention_are_purged_with_their_payloads() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let stored = pipeline
        .store
        .queue
        .enqueue(stripe2hubspot::queue::NewJob {
            event_id: "evt_not_an_event".into(),
            event_type: "charge.succeeded".into(),
            event_created: 1_700_000_000,
            payload: br#"{"personal": "ann@example.com"}"#.to_vec(),
        })
        .await;
    assert!(stored.is_ok());
    pipeline.start_engine(|b| b);
    assert_eq!(pipeline.drained(DRAIN).await.dead, 1);
    pipeline.shutdown().await;

    // The next leader purges, at its start, dead letters older than the retention.
    pipeline.start_engine(|b| b.dead_letter_retention(Duration::from_millis(1)));
    let started = std::time::Instant::now();
    while !pipeline
        .store
        .admin
        .dead_letters(10, None)
        .await
        .unwrap()
        .is_empty()
    {
        assert!(
            started.elapsed() < DRAIN,
            "the dead letter was never purged"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(pipeline.store.admin.stats().await.unwrap().dead, 0);
    pipeline.shutdown().await;
}
