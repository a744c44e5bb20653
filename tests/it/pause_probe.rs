//! Pauses for what a read cannot show (missing scopes): the probe checks what actually failed,
//! so an outage alerts once, never "resumed" while it lasts, and "resumed" once it is fixed.

use crate::common;

use std::time::{Duration, Instant};

use common::Pipeline;
use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::engine::PauseReason;
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;
use stripe2hubspot::testkit::Payment;

const PATIENCE: Duration = Duration::from_secs(60);
const TOKEN_INFO: &str = "/oauth/v2/private-apps/get/access-token-info";

fn count(pipeline: &Pipeline, kind: AlertKind) -> usize {
    pipeline
        .alerts
        .alerts()
        .iter()
        .filter(|a| a.kind == kind)
        .count()
}

/// Before: the probe took missing scopes on trust, so every cycle said "resumed", met the
/// 403 again and paused anew (and the state alerts went past the throttle).
#[tokio::test]
async fn a_missing_scope_alerts_once_and_resumes_once_when_granted() {
    let hubspot = FakeHubSpot::builder()
        .missing_scopes(["crm.objects.deals.write"])
        .start()
        .await;
    let mut pipeline = Pipeline::new(hubspot).await;
    pipeline.start_engine(|b| b.concurrency(1));
    let engine = pipeline.engine.clone().unwrap();
    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    let started = Instant::now();
    while !matches!(engine.paused(), Some(PauseReason::MissingScopes(_))) {
        assert!(
            started.elapsed() < PATIENCE,
            "never paused: {:?}",
            engine.paused()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Several probe cycles (100-500 ms apart in test timings) while the scope is missing.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        assert_eq!(
            count(&pipeline, AlertKind::Resumed),
            0,
            "resumed while the scope is missing"
        );
        assert_eq!(
            count(&pipeline, AlertKind::MissingScopes),
            1,
            "one alert per outage"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        pipeline.hubspot.request_count("POST", TOKEN_INFO) >= 3,
        "the probe asks HubSpot which scopes the token holds"
    );
    assert!(engine.paused().is_some());
    assert!(pipeline.hubspot.deals().is_empty());

    pipeline.hubspot.set_missing_scopes(Vec::<String>::new());
    let stats = pipeline.drained(PATIENCE).await;
    assert_eq!((stats.done, stats.dead), (1, 0));
    assert_eq!(pipeline.hubspot.deals().len(), 1);
    assert_eq!(engine.paused(), None);
    assert_eq!(count(&pipeline, AlertKind::Resumed), 1);
    assert_eq!(count(&pipeline, AlertKind::MissingScopes), 1);
    pipeline.shutdown().await;
}

/// A token whose scopes HubSpot will not list (a service key: the access-token check answers
/// 4xx): the engine resumes quietly to let a write tell, and a repeat of the same 403 is not
/// alerted again; "resumed" is announced once a write succeeds.
#[tokio::test]
async fn without_a_scope_listing_a_repeated_refusal_alerts_once_and_a_success_resumes_once() {
    use stripe2hubspot::hubspot_crm::fake::Failure;
    let hubspot = FakeHubSpot::builder()
        .missing_scopes(["crm.objects.deals.write"])
        .start()
        .await;
    hubspot.fail_next_on(1_000_000, "POST", TOKEN_INFO, Failure::Status(400, None));
    let mut pipeline = Pipeline::new(hubspot).await;
    pipeline.start_engine(|b| b.concurrency(1));
    let engine = pipeline.engine.clone().unwrap();
    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    // A new payment's deal is created (an existing one upserted): either write is refused.
    let deal_writes = || {
        ["create", "upsert"]
            .map(|call| {
                pipeline
                    .hubspot
                    .request_count("POST", &format!("/crm/objects/2026-09/deals/batch/{call}"))
            })
            .iter()
            .sum::<usize>()
    };
    // Several refusals: each quiet resume meets the 403 again.
    let started = Instant::now();
    while deal_writes() < 4 {
        assert!(started.elapsed() < PATIENCE, "the write was not retried");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        count(&pipeline, AlertKind::MissingScopes),
        1,
        "one alert per outage"
    );
    assert_eq!(
        count(&pipeline, AlertKind::Resumed),
        0,
        "resumed while refused"
    );

    pipeline.hubspot.set_missing_scopes(Vec::<String>::new());
    let stats = pipeline.drained(PATIENCE).await;
    assert_eq!((stats.done, stats.dead), (1, 0));
    let started = Instant::now();
    while count(&pipeline, AlertKind::Resumed) == 0 {
        assert!(started.elapsed() < PATIENCE, "never announced the resume");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(engine.paused(), None);
    assert_eq!(count(&pipeline, AlertKind::Resumed), 1);
    assert_eq!(count(&pipeline, AlertKind::MissingScopes), 1);
    pipeline.shutdown().await;
}

/// A properties bootstrap that HubSpot keeps refusing pauses the sync; the probe runs the
/// bootstrap again (before: it reported success unchecked and the next batch paused anew).
#[tokio::test]
async fn a_failing_bootstrap_alerts_once_and_resumes_once_it_passes() {
    use stripe2hubspot::hubspot_crm::fake::Failure;
    let hubspot = FakeHubSpot::start().await;
    let properties = "/crm/properties/2026-09/deals";
    hubspot.fail_next_on(6, "GET", properties, Failure::Status(400, None));
    let mut pipeline = Pipeline::new(hubspot).await;
    pipeline.start_engine(|b| b.concurrency(1));
    let engine = pipeline.engine.clone().unwrap();
    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    let stats = pipeline.drained(PATIENCE).await;
    assert_eq!((stats.done, stats.dead), (1, 0));
    assert!(pipeline.hubspot.request_count("GET", properties) >= 7);
    assert_eq!(pipeline.hubspot.deals().len(), 1);
    assert_eq!(engine.paused(), None);
    assert_eq!(
        count(&pipeline, AlertKind::Paused),
        1,
        "one alert per outage"
    );
    assert_eq!(count(&pipeline, AlertKind::Resumed), 1);
    pipeline.shutdown().await;
}
