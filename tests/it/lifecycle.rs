//! A payment's whole life through the real pipeline: signed webhooks on loopback, a SQLite
//! ledger, the engine, and the fake HubSpot. Events are Stripe's own shapes (the fixtures of
//! `crates/stripe-events/tests/fixtures`) unless a test needs many payments.

use std::time::Duration;

use serde_json::{json, Value};
use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::hubspot_crm::fake::{FakeHubSpot, FakeObject, ValidationRule};
use stripe2hubspot::hubspot_crm::{PropertyCreate, PropertyOption};
use stripe2hubspot::testkit::Payment;

use crate::common::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);

/// A fixture event of the stripe-events crate.
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/crates/stripe-events/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

async fn started() -> Pipeline {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    pipeline
}

/// Sends each event and waits until the queue is drained, in order (one delivery at a time,
/// so the test controls what HubSpot has seen between events).
async fn deliver(pipeline: &Pipeline, events: &[Value]) {
    for event in events {
        assert_eq!(pipeline.send(event).await, 200, "{}", event["id"]);
        let stats = pipeline.drained(DRAIN).await;
        assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
    }
}

fn only_deal(hubspot: &FakeHubSpot) -> FakeObject {
    let deals = hubspot.deals();
    assert_eq!(deals.len(), 1, "one deal: {deals:?}");
    deals.into_iter().next().unwrap()
}

fn prop<'a>(object: &'a FakeObject, name: &str) -> &'a str {
    object
        .property(name)
        .unwrap_or_else(|| panic!("{name} missing: {object:?}"))
}

#[tokio::test]
async fn manual_capture_makes_exactly_one_deal_at_capture() {
    let mut pipeline = started().await;
    deliver(&pipeline, &[fixture("charge_succeeded_uncaptured")]).await;
    assert!(
        pipeline.hubspot.deals().is_empty(),
        "no deal before capture"
    );
    let engine = pipeline.engine.clone().unwrap();
    assert_eq!(
        engine.waiting().await.unwrap(),
        1,
        "the authorization waits"
    );
    assert_eq!(pipeline.store.admin.stats().await.unwrap().done, 1);

    deliver(
        &pipeline,
        &[
            fixture("charge_captured"),
            fixture("payment_intent_succeeded_latest_charge_id"),
        ],
    )
    .await;
    let deal = only_deal(&pipeline.hubspot);
    assert_eq!(
        prop(&deal, "stripe_payment_id"),
        "pi_3QxMcpLkdIwHu7ix0zKqWc8Z"
    );
    assert_eq!(prop(&deal, "amount"), "149.00");
    assert_eq!(prop(&deal, "stripe_payment_status"), "succeeded");
    assert_eq!(prop(&deal, "dealstage"), "closedwon");
    assert_eq!(engine.waiting().await.unwrap(), 0);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_full_refund_moves_the_deal_to_the_lost_stage_with_amount_zero() {
    let mut pipeline = started().await;
    deliver(&pipeline, &[fixture("charge_succeeded")]).await;
    let before = only_deal(&pipeline.hubspot);
    assert_eq!(prop(&before, "amount"), "149.00");
    assert_eq!(prop(&before, "dealstage"), "closedwon");

    deliver(&pipeline, &[fixture("charge_refunded_full")]).await;
    let deal = only_deal(&pipeline.hubspot);
    assert_eq!(deal.id, before.id, "the same deal, updated");
    assert_eq!(prop(&deal, "amount"), "0.00");
    assert_eq!(prop(&deal, "dealstage"), "closedlost");
    assert_eq!(prop(&deal, "stripe_payment_status"), "refunded");
    assert_eq!(prop(&deal, "stripe_amount_refunded"), "149.00");
    let contact = pipeline
        .hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert_eq!(prop(&contact, "stripe_payment_count"), "0");
    assert_eq!(prop(&contact, "stripe_lifetime_value"), "0.00");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_partial_refund_lowers_the_amount_and_keeps_the_deal_won() {
    let mut pipeline = started().await;
    // Out of order: the refund first. The ledger gives the same deal either way.
    deliver(
        &pipeline,
        &[
            fixture("charge_refunded_partial"),
            fixture("charge_succeeded"),
        ],
    )
    .await;
    let deal = only_deal(&pipeline.hubspot);
    assert_eq!(prop(&deal, "amount"), "100.00");
    assert_eq!(prop(&deal, "stripe_amount_refunded"), "49.00");
    assert_eq!(prop(&deal, "stripe_payment_status"), "partially_refunded");
    assert_eq!(prop(&deal, "dealstage"), "closedwon");
    let contact = pipeline
        .hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert_eq!(prop(&contact, "stripe_lifetime_value"), "100.00");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_lost_dispute_on_a_jpy_payment_zeroes_the_deal_in_jpy() {
    let mut pipeline = started().await;
    deliver(&pipeline, &[fixture("charge_succeeded_jpy")]).await;
    let deal = only_deal(&pipeline.hubspot);
    assert_eq!(prop(&deal, "amount"), "5000");
    assert_eq!(prop(&deal, "deal_currency_code"), "JPY");
    assert_eq!(prop(&deal, "stripe_amount_currency"), "5000 JPY");

    deliver(&pipeline, &[fixture("charge_dispute_created")]).await;
    let deal = only_deal(&pipeline.hubspot);
    assert_eq!(prop(&deal, "stripe_payment_status"), "disputed");
    assert_eq!(prop(&deal, "dealstage"), "closedwon");

    deliver(&pipeline, &[fixture("charge_dispute_closed_lost")]).await;
    let deal = only_deal(&pipeline.hubspot);
    assert_eq!(prop(&deal, "amount"), "0");
    assert_eq!(prop(&deal, "deal_currency_code"), "JPY");
    assert_eq!(prop(&deal, "stripe_payment_status"), "dispute_lost");
    assert_eq!(prop(&deal, "dealstage"), "closedlost");
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_checkout_session_its_payment_intent_and_charge_make_one_deal() {
    let mut pipeline = started().await;
    deliver(
        &pipeline,
        &[
            fixture("checkout_session_completed"),
            fixture("payment_intent_succeeded"),
            fixture("charge_succeeded"),
        ],
    )
    .await;
    let deal = only_deal(&pipeline.hubspot);
    assert_eq!(
        prop(&deal, "stripe_payment_id"),
        "pi_3Mv29vLkdIwHu7ix1e8oAbcd"
    );
    assert_eq!(prop(&deal, "amount"), "149.00");
    assert_eq!(pipeline.hubspot.contacts().len(), 1);
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (3, 0));
    pipeline.shutdown().await;
}

/// The 2025-03-31 renewal's charge, as Stripe sends it on that API version: it names its
/// PaymentIntent, not its invoice.
fn renewal_charge_2025() -> Value {
    let mut event = fixture("charge_succeeded");
    event["id"] = json!("evt_3RbAslLkdIwHu7ix0Charge01");
    event["created"] = json!(1_748_739_601);
    let charge = &mut event["data"]["object"];
    charge["id"] = json!("ch_3RbAslLkdIwHu7ix0Renew2025");
    charge["payment_intent"] = json!("pi_3RbAslLkdIwHu7ix0Renew2025");
    charge["amount"] = json!(2000);
    charge["amount_captured"] = json!(2000);
    charge["currency"] = json!("eur");
    charge["created"] = json!(1_748_739_600);
    charge["description"] = json!("Subscription update");
    event
}

#[tokio::test]
async fn an_invoice_paid_renewal_makes_one_deal_per_invoice() {
    let mut pipeline = started().await;
    // What an endpoint on 2025-03-31 receives unless it includes `payments`: no PaymentIntent.
    let mut renewal = fixture("invoice_paid_2025_03_31_basil");
    renewal["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("payments");
    deliver(&pipeline, &[fixture("invoice_paid_2024_06_20"), renewal]).await;
    assert_eq!(pipeline.hubspot.deals().len(), 2, "one deal per invoice");
    let keyed_by_invoice = pipeline
        .hubspot
        .deals()
        .into_iter()
        .find(|d| d.property("stripe_payment_id") == Some("in_1RbAslLkdIwHu7ixRenew2025"))
        .expect("the renewal's deal is keyed by its invoice until the link arrives");

    // invoice_payment.paid links the invoice to its PaymentIntent: the row is re-keyed and
    // its deal moved, so the renewal's charge lands on the same deal.
    deliver(
        &pipeline,
        &[fixture("invoice_payment_paid"), renewal_charge_2025()],
    )
    .await;
    let deals = pipeline.hubspot.deals();
    assert_eq!(deals.len(), 2, "still one deal per invoice: {deals:?}");
    let renewal_deal = deals
        .iter()
        .find(|d| d.id == keyed_by_invoice.id)
        .expect("the same deal");
    assert_eq!(
        prop(renewal_deal, "stripe_payment_id"),
        "pi_3RbAslLkdIwHu7ix0Renew2025"
    );
    assert_eq!(
        prop(renewal_deal, "stripe_invoice_id"),
        "in_1RbAslLkdIwHu7ixRenew2025"
    );
    assert_eq!(prop(renewal_deal, "amount"), "20.00");
    assert_eq!(prop(renewal_deal, "deal_currency_code"), "EUR");
    let old = deals.iter().find(|d| d.id != keyed_by_invoice.id).unwrap();
    assert_eq!(
        prop(old, "stripe_payment_id"),
        "pi_3QrEnwLkdIwHu7ix0Renew2024"
    );
    assert!(pipeline
        .hubspot
        .deals()
        .iter()
        .all(|d| d.property("stripe_subscription_id").is_some()));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn contact_rollups_follow_refunds() {
    let mut pipeline = started().await;
    let mut second = Payment::numbered(7, "tony@starkindustries.com", 900, "usd", 1_690_000_000);
    second.name = Some("Tony Stark".into());
    deliver(
        &pipeline,
        &[fixture("charge_succeeded"), second.charge_succeeded()],
    )
    .await;
    let contact = pipeline
        .hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert_eq!(prop(&contact, "stripe_payment_count"), "2");
    assert_eq!(prop(&contact, "stripe_lifetime_value"), "158.00");
    assert_eq!(prop(&contact, "last_charge_id"), second.charge_id);

    deliver(&pipeline, &[fixture("charge_refunded_full")]).await;
    let contact = pipeline
        .hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert_eq!(prop(&contact, "stripe_payment_count"), "1");
    assert_eq!(prop(&contact, "stripe_lifetime_value"), "9.00");
    assert_eq!(pipeline.hubspot.contacts().len(), 1);
    assert_eq!(pipeline.hubspot.deals().len(), 2);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_payment_without_an_email_waits_and_is_counted() {
    let mut pipeline = started().await;
    let mut anonymous = Payment::numbered(3, "unused@example.com", 1200, "usd", 1_700_000_000);
    anonymous.email = None;
    deliver(&pipeline, &[anonymous.charge_succeeded()]).await;
    let stats = pipeline.store.admin.stats().await.unwrap();
    assert_eq!((stats.done, stats.dead), (1, 0), "its event is done");
    assert!(pipeline.hubspot.deals().is_empty());
    let engine = pipeline.engine.clone().unwrap();
    assert_eq!(
        engine.waiting().await.unwrap(),
        1,
        "and the payment waits, counted"
    );
    let row = pipeline
        .store
        .state
        .ledger_entry(&anonymous.charge_id)
        .await
        .unwrap()
        .expect("in the ledger");
    assert_eq!(
        row.row
            .state(&stripe2hubspot::map::MappingConfig::default())
            .as_str(),
        "awaiting_contact"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_currency_the_portal_lacks_is_stripped_with_one_alert_and_the_amount_stays_readable() {
    let hubspot = FakeHubSpot::start().await;
    let mut currency = PropertyCreate::text("deal_currency_code", "Currency", "dealinformation");
    currency.type_ = "enumeration".into();
    currency.field_type = "select".into();
    currency.options = ["USD", "EUR"]
        .into_iter()
        .map(|code| PropertyOption {
            label: code.into(),
            value: code.into(),
            display_order: None,
            hidden: false,
        })
        .collect();
    hubspot.set_property("deals", currency);
    let mut pipeline = Pipeline::new(hubspot).await;
    pipeline.start_engine(|b| b.concurrency(1));
    let mut yen_again = Payment::numbered(5, "happy@example.com", 700, "jpy", 1_740_000_100);
    yen_again.name = Some("Happy Hogan".into());
    deliver(
        &pipeline,
        &[
            fixture("charge_succeeded_jpy"),
            fixture("charge_succeeded"),
            yen_again.charge_succeeded(),
        ],
    )
    .await;
    let deals = pipeline.hubspot.deals();
    assert_eq!(deals.len(), 3, "every deal is kept");
    for deal in &deals {
        let readable = prop(deal, "stripe_amount_currency");
        if readable.ends_with("JPY") {
            assert_eq!(deal.property("deal_currency_code"), None, "{deal:?}");
        } else {
            assert_eq!(
                prop(deal, "deal_currency_code"),
                "USD",
                "other currencies keep it"
            );
        }
    }
    let alerts: Vec<String> = pipeline
        .alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::CurrencyNotEnabled)
        .map(|a| a.message)
        .collect();
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    assert!(alerts[0].contains("JPY") && alerts[0].contains("stripe_amount_currency"));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_validation_rule_dead_letters_only_the_payment_that_breaks_it() {
    let rule = "Deals of 13.37 are not allowed";
    let hubspot = FakeHubSpot::builder()
        .no_rate_limit()
        .validation_rule(ValidationRule::forbidden_value(
            "deals", "amount", "13.37", rule,
        ))
        .start()
        .await;
    let mut pipeline = Pipeline::new(hubspot).await;
    let payments: Vec<Payment> = (0..100u64)
        .map(|n| {
            let amount = if n == 42 { 1337 } else { 1000 + n as i64 };
            Payment::numbered(
                n,
                &format!("buyer{n}@example.com"),
                amount,
                "usd",
                1_700_000_000 + n as i64,
            )
        })
        .collect();
    for payment in &payments {
        assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    }
    pipeline.start_engine(|b| b.concurrency(1).batch_size(100));
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (99, 1), "{stats:?}");
    assert_eq!(pipeline.hubspot.deals().len(), 99);
    let dead = pipeline.store.admin.dead_letters(10, None).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].event_id, payments[42].event_id);
    assert!(dead[0].error.contains(rule), "{}", dead[0].error);
    let alerts: Vec<String> = pipeline
        .alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::RuleViolated)
        .map(|a| a.message)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let payment_id = payments[42]
        .payment_intent
        .clone()
        .unwrap_or_else(|| payments[42].charge_id.clone());
    assert!(
        alerts[0].contains(rule) && alerts[0].contains(&payment_id),
        "{}",
        alerts[0]
    );
    pipeline.shutdown().await;
}

/// The one order the ledger cannot fix alone: the renewal's charge and its invoice are both
/// written (as two payments) before `invoice_payment.paid` links them. The ledger merges them
/// into one payment on the PaymentIntent's deal and alerts once, naming the other deal.
#[tokio::test]
async fn a_link_arriving_after_both_halves_were_written_keeps_one_deal_current_and_alerts() {
    let mut pipeline = started().await;
    let mut renewal = fixture("invoice_paid_2025_03_31_basil");
    renewal["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("payments");
    deliver(&pipeline, &[renewal, renewal_charge_2025()]).await;
    assert_eq!(
        pipeline.hubspot.deals().len(),
        2,
        "two rows, two deals, before the link"
    );
    let invoice_deal = pipeline
        .hubspot
        .deals()
        .into_iter()
        .find(|d| d.property("stripe_payment_id") == Some("in_1RbAslLkdIwHu7ixRenew2025"))
        .unwrap();

    deliver(&pipeline, &[fixture("invoice_payment_paid")]).await;
    let current = pipeline
        .hubspot
        .deals()
        .into_iter()
        .find(|d| d.property("stripe_payment_id") == Some("pi_3RbAslLkdIwHu7ix0Renew2025"))
        .expect("the PaymentIntent's deal carries the payment");
    assert_eq!(
        prop(&current, "stripe_invoice_id"),
        "in_1RbAslLkdIwHu7ixRenew2025"
    );
    assert_eq!(prop(&current, "amount"), "20.00");
    let alerts: Vec<String> = pipeline
        .alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::DuplicateDeal)
        .map(|a| a.message)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(alerts[0].contains(&invoice_deal.id), "{}", alerts[0]);
    let entry = pipeline
        .store
        .state
        .ledger_entry("in_1RbAslLkdIwHu7ixRenew2025")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        entry.key, "pi_3RbAslLkdIwHu7ix0Renew2025",
        "one payment in the ledger"
    );
    pipeline.shutdown().await;
}
