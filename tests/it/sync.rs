//! End to end: signed webhooks over HTTP -> SQLite queue -> engine -> fake HubSpot over loopback.

use crate::common;

use std::collections::HashMap;
use std::time::Duration;

use common::Pipeline;
use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::engine::PauseReason;
use stripe2hubspot::hubspot_crm::fake::{Failure, FakeHubSpot};
use stripe2hubspot::testkit::Payment;

const DRAIN: Duration = Duration::from_secs(60);

#[tokio::test]
async fn the_sample_event_becomes_one_contact_and_one_associated_closed_won_deal() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (1, 0));

    let hubspot = &pipeline.hubspot;
    let contact = hubspot
        .contact_by_email("tony@starkindustries.com")
        .expect("contact");
    for (name, value) in [
        ("firstname", "Tony"),
        ("lastname", "Stark"),
        ("company", "Stark Industries"),
        ("phone", "+1-555-0100"),
        ("lifecyclestage", "customer"),
        ("stripe_customer_id", "cus_NgO5fLkdIwHu7i"),
        ("last_charge_id", "ch_3Mv29vLkdIwHu7ix1Lp0xqy9"),
        ("last_charge_amount", "149.00"),
    ] {
        assert_eq!(contact.property(name), Some(value), "contact {name}");
    }
    let deals = hubspot.deals();
    assert_eq!(deals.len(), 1);
    let deal = &deals[0];
    for (name, value) in [
        ("dealname", "Arc Reactor Deployment"),
        ("dealstage", "closedwon"),
        ("pipeline", "default"),
        ("amount", "149.00"),
        ("stripe_payment_id", "pi_3Mv29vLkdIwHu7ix1b8sWq0T"),
    ] {
        assert_eq!(deal.property(name), Some(value), "deal {name}");
    }
    assert!(hubspot.are_associated("deals", &deal.id, "contacts", &contact.id));
    // The batch path: one contacts upsert, one deals create with the association inline.
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/contacts/batch/upsert"),
        1
    );
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/deals/batch/create"),
        1
    );
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/deals/batch/upsert")
            + hubspot.request_count("POST", "/crm/associations/2026-09/deals/contacts"),
        0,
        "the association is made inline (the company pass makes its own)"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn redeliveries_and_both_events_of_one_payment_make_one_contact_and_one_deal() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let tony = Payment::sample();
    for _ in 0..5 {
        assert_eq!(pipeline.send(&tony.charge_succeeded()).await, 200);
    }
    pipeline.start_engine(|b| b);
    pipeline.drained(DRAIN).await;
    // Arrives after the charge was synced: must land on the same deal.
    assert_eq!(
        pipeline
            .send(&tony.payment_intent_succeeded("evt_pi_later"))
            .await,
        200
    );
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.done, 2);
    assert_eq!(pipeline.hubspot.contacts().len(), 1);
    assert_eq!(pipeline.hubspot.deals().len(), 1);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn five_hundred_payments_of_fifty_customers_in_random_order_keep_the_newest_charge() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let mut payments: Vec<Payment> = (0..500u64)
        .map(|n| {
            let customer = n % 50;
            // Later n = newer charge of the same customer.
            Payment::numbered(
                n,
                &format!("buyer{customer}@example.com"),
                1000 + n as i64,
                "usd",
                1_700_000_000 + n as i64 * 60,
            )
        })
        .collect();
    // A fixed shuffle (deterministic): Stripe does not promise order.
    payments.sort_by_key(|p| (p.created * 7919) % 500_009);
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    pipeline.start_engine(|b| b);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (500, 0));

    let hubspot = &pipeline.hubspot;
    assert_eq!(hubspot.contacts().len(), 50);
    assert_eq!(hubspot.deals().len(), 500);
    let newest: HashMap<String, &Payment> = payments.iter().fold(HashMap::new(), |mut acc, p| {
        let email = p.email.clone().unwrap();
        let entry = acc.entry(email).or_insert(p);
        if p.created > entry.created {
            *entry = p;
        }
        acc
    });
    for (email, payment) in newest {
        let contact = hubspot.contact_by_email(&email).unwrap();
        assert_eq!(
            contact.property("last_charge_id"),
            Some(payment.charge_id.as_str()),
            "{email}"
        );
    }
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_revoked_token_pauses_alerts_once_and_loses_nothing() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let good_token = pipeline.hubspot.token();
    pipeline.start_engine(|b| b.max_attempts(2));
    // The engine's client keeps the old token; HubSpot stops accepting it.
    pipeline.hubspot.set_token("pat-rotated-elsewhere");
    for n in 0..3 {
        let payment = Payment::numbered(n, &format!("p{n}@example.com"), 500, "eur", 1_700_000_000);
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    let engine = pipeline.engine.clone().unwrap();
    for _ in 0..500 {
        if engine.paused().is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert!(
        engine.paused().is_some(),
        "a 401 pauses the pipeline: {:?} {stats:?} {:?}",
        engine.metrics(),
        pipeline.hubspot.requests()
    );
    // Unauthorized for 20 s, while Stripe keeps delivering.
    tokio::time::sleep(Duration::from_secs(20)).await;
    let late = Payment::numbered(9, "late@example.com", 700, "eur", 1_700_000_100);
    assert_eq!(pipeline.send(&late.charge_succeeded()).await, 200);
    assert_eq!(pipeline.hubspot.contacts().len(), 0);
    pipeline.hubspot.set_token(good_token);

    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(
        (stats.done, stats.dead),
        (4, 0),
        "max_attempts 2 and nothing burned by the pause"
    );
    assert_eq!(pipeline.hubspot.contacts().len(), 4);
    let kinds: Vec<AlertKind> = pipeline.alerts.alerts().iter().map(|a| a.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == AlertKind::Unauthorized)
            .count(),
        1,
        "{kinds:?}"
    );
    assert!(kinds.contains(&AlertKind::Resumed));
    assert!(engine.paused().is_none());
    pipeline.shutdown().await;
}

#[tokio::test]
async fn an_unknown_property_is_stripped_core_fields_sync_and_the_alert_names_it() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    pipeline.drained(DRAIN).await;
    // Someone deletes a custom property in HubSpot while the service runs.
    pipeline
        .hubspot
        .remove_property("contacts", "last_charge_amount");
    let mut next = Payment::numbered(1, "pepper@starkindustries.com", 2500, "usd", 1_700_000_000);
    next.name = Some("Pepper Potts".into());
    assert_eq!(pipeline.send(&next.charge_succeeded()).await, 200);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (2, 0));
    let pepper = pipeline
        .hubspot
        .contact_by_email("pepper@starkindustries.com")
        .unwrap();
    assert_eq!(pepper.property("firstname"), Some("Pepper"));
    assert_eq!(pepper.property("last_charge_amount"), None);
    assert_eq!(pepper.property("last_charge_id"), Some("ch_test_000001"));
    let alerts = pipeline.alerts.alerts();
    let dropped = alerts
        .iter()
        .find(|a| a.kind == AlertKind::PropertiesDropped)
        .expect("alert");
    assert!(
        dropped.message.contains("last_charge_amount"),
        "{}",
        dropped.message
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn rate_limit_storms_and_server_errors_are_survived_without_burning_attempts() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    for n in 0..20 {
        let payment = Payment::numbered(
            n,
            &format!("storm{n}@example.com"),
            100,
            "usd",
            1_700_000_000,
        );
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    // Eight 429s in a row: with max_attempts 3, a 429 that consumed an attempt would
    // dead-letter the batch.
    pipeline.hubspot.fail_next(8, Failure::Status(429, None));
    pipeline.start_engine(|b| b.max_attempts(3).batch_size(5));
    pipeline.drained(DRAIN).await;
    pipeline.hubspot.fail_next(2, Failure::Status(502, None));
    pipeline.hubspot.fail_next(1, Failure::DropConnection);
    for n in 20..30 {
        let payment = Payment::numbered(
            n,
            &format!("storm{n}@example.com"),
            100,
            "usd",
            1_700_000_000,
        );
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (30, 0));
    assert_eq!(pipeline.hubspot.contacts().len(), 30);
    assert_eq!(pipeline.hubspot.deals().len(), 30);
    let metrics = pipeline.engine.as_ref().unwrap().metrics();
    assert!(metrics.rate_limited >= 1, "{metrics:?}");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_permanently_invalid_email_is_dead_lettered_and_the_rest_sync() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    for n in 0..10 {
        // HubSpot rejects an address without a dot in its domain; Stripe accepted it.
        let email = if n == 4 {
            "tony@starkindustries".to_owned()
        } else {
            format!("ok{n}@example.com")
        };
        let payment = Payment::numbered(n, &email, 100, "usd", 1_700_000_000);
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    pipeline.start_engine(|b| b);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (9, 1));
    assert_eq!(pipeline.hubspot.contacts().len(), 9);
    assert_eq!(pipeline.hubspot.deals().len(), 9);
    let dead = pipeline.store.admin.dead_letters(10, None).await.unwrap();
    assert_eq!(dead[0].event_id, "evt_test_000004");
    assert!(dead[0].error.contains("INVALID_EMAIL"), "{}", dead[0].error);
    pipeline.shutdown().await;
}

/// Was: without schema scopes the per-event path synced once per payment. That path could
/// create a second deal for one payment, so it is gone: without the unique deal key the
/// engine pauses with one alert saying how to add it, keeps every event queued, and resumes
/// by itself once the property exists.
#[tokio::test]
async fn without_schema_scopes_the_engine_pauses_alerts_once_and_resumes_when_the_key_exists() {
    let hubspot = FakeHubSpot::builder()
        .missing_scopes(["crm.schemas.contacts.write", "crm.schemas.deals.write"])
        .start()
        .await;
    let mut pipeline = Pipeline::new(hubspot).await;
    let tony = Payment::sample();
    assert_eq!(pipeline.send(&tony.charge_succeeded()).await, 200);
    assert_eq!(
        pipeline
            .send(&tony.payment_intent_succeeded("evt_pi_tony"))
            .await,
        200
    );
    let mut second = Payment::numbered(
        7,
        "tony@starkindustries.com",
        900,
        "usd",
        tony.created + 600,
    );
    second.name = Some("Tony Stark".into());
    assert_eq!(pipeline.send(&second.charge_succeeded()).await, 200);
    pipeline.start_engine(|b| b.concurrency(1));
    let engine = pipeline.engine.clone().unwrap();
    let deadline = std::time::Instant::now() + DRAIN;
    while !matches!(engine.paused(), Some(PauseReason::MissingProperties(_))) {
        assert!(
            std::time::Instant::now() < deadline,
            "never paused: {:?}",
            engine.paused()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Paused: nothing written, nothing lost.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        pipeline.hubspot.deals().is_empty(),
        "no deal without the unique key"
    );
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (0, 0), "{stats:?}");
    let pauses: Vec<String> = pipeline
        .alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::Paused)
        .map(|a| a.message)
        .collect();
    assert_eq!(pauses.len(), 1, "one alert: {pauses:?}");
    for needle in ["stripe_payment_id", "crm.schemas.deals.write", "unique"] {
        assert!(
            pauses[0].contains(needle),
            "the alert names {needle}: {}",
            pauses[0]
        );
    }

    // An admin creates the property by hand: the probe sees it and the sync resumes.
    pipeline.hubspot.set_property(
        "deals",
        stripe2hubspot::hubspot_crm::PropertyCreate::text(
            "stripe_payment_id",
            "Stripe payment id",
            "dealinformation",
        )
        .unique(true),
    );
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (3, 0));
    assert_eq!(engine.paused(), None);
    let hubspot = &pipeline.hubspot;
    assert_eq!(hubspot.contacts().len(), 1);
    assert_eq!(hubspot.deals().len(), 2, "one deal per payment");
    let contact = hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert_eq!(contact.property("firstname"), Some("Tony"));
    for deal in hubspot.deals() {
        assert!(deal.property("stripe_payment_id").is_some());
        assert!(hubspot.are_associated("deals", &deal.id, "contacts", &contact.id));
    }
    assert_eq!(
        hubspot.request_count("POST", "/crm/objects/2026-09/contacts/search"),
        0,
        "no search-then-create path"
    );
    assert!(pipeline
        .alerts
        .alerts()
        .iter()
        .any(|a| a.kind == AlertKind::Resumed));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn shutdown_leaves_no_job_leased() {
    let hubspot = FakeHubSpot::start().await;
    hubspot.fail_next(50, Failure::Delay(Duration::from_millis(100)));
    let mut pipeline = Pipeline::new(hubspot).await;
    for n in 0..40 {
        let payment = Payment::numbered(n, &format!("s{n}@example.com"), 100, "usd", 1_700_000_000);
        pipeline.send(&payment.charge_succeeded()).await;
    }
    pipeline.start_engine(|b| b.batch_size(10));
    tokio::time::sleep(Duration::from_millis(150)).await;
    pipeline.shutdown().await;
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!(stats.leased, 0, "{stats:?}");
    assert_eq!(stats.ready + stats.delayed + stats.done, 40, "{stats:?}");
}

#[tokio::test]
async fn missing_scopes_pause_and_alert_like_a_revoked_token() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b);
    assert_eq!(
        pipeline.send(&Payment::sample().charge_succeeded()).await,
        200
    );
    pipeline.drained(DRAIN).await;
    // The private app loses crm.objects.contacts.write for the next call.
    pipeline.hubspot.fail_next_on(
        1,
        "POST",
        "/crm/objects/2026-09/contacts/batch/upsert",
        Failure::Status(403, None),
    );
    let next = Payment::numbered(1, "happy@example.com", 100, "usd", 1_700_000_000);
    assert_eq!(pipeline.send(&next.charge_succeeded()).await, 200);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (2, 0));
    assert!(pipeline
        .hubspot
        .contact_by_email("happy@example.com")
        .is_some());
    let kinds: Vec<AlertKind> = pipeline.alerts.alerts().iter().map(|a| a.kind).collect();
    assert!(kinds.contains(&AlertKind::MissingScopes), "{kinds:?}");
    assert_eq!(pipeline.engine.as_ref().unwrap().metrics().pauses, 1);
    pipeline.shutdown().await;
}

/// The explicit opt-in for portals that still need HubSpot's numeric paths: the same pipeline
/// (sample payment, redelivery, refund) works on v3/v4 and sends nothing to a dated path.
#[tokio::test]
async fn the_legacy_api_opt_in_syncs_on_the_v3_and_v4_paths_only() {
    use stripe2hubspot::hubspot_crm::ApiVersion;
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine_on(ApiVersion::Legacy, |b| b);
    let payment = Payment::sample();
    assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (1, 0));

    let hubspot = &pipeline.hubspot;
    assert_eq!(hubspot.contacts().len(), 1);
    let deals = hubspot.deals();
    assert_eq!(deals.len(), 1);
    assert_eq!(deals[0].property("amount"), Some("149.00"));
    let crm: Vec<_> = hubspot
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/crm/"))
        .collect();
    assert!(!crm.is_empty());
    for request in &crm {
        assert!(
            request.path.starts_with("/crm/v3/") || request.path.starts_with("/crm/v4/"),
            "{} {} is not a legacy path",
            request.method,
            request.path
        );
        assert_eq!(
            request.api_version,
            Some(ApiVersion::Legacy),
            "{}",
            request.path
        );
    }
    assert!(crm
        .iter()
        .any(|r| r.path.starts_with("/crm/v3/objects/deals/batch/create")));
}
