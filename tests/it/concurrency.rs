//! Concurrency and identity edges of the engine against the fake HubSpot over loopback: a
//! payment re-keyed while another worker still writes it, a payment whose email changes, and
//! a deal move that collides with a deal already carrying the new key.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stripe2hubspot::alert::AlertKind;
use stripe2hubspot::hubspot_crm::fake::{Failure, FakeHubSpot};
use stripe2hubspot::hubspot_crm::ObjectInput;
use stripe2hubspot::testkit::Payment;

use crate::common::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);
const ASSOCIATIONS: &str = "/crm/associations/2026-09";

/// A fixture event of the stripe-events crate.
fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/crates/stripe-events/tests/fixtures/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap()
}

/// The 2025-03-31 renewal as an endpoint receives it without `payments`: keyed by its
/// invoice until `invoice_payment.paid` links it to its PaymentIntent.
fn renewal_invoice() -> Value {
    let mut renewal = fixture("invoice_paid_2025_03_31_basil");
    renewal["data"]["object"]
        .as_object_mut()
        .unwrap()
        .remove("payments");
    renewal
}

const INVOICE: &str = "in_1RbAslLkdIwHu7ixRenew2025";
const INTENT: &str = "pi_3RbAslLkdIwHu7ix0Renew2025";

/// Waits until `done` holds; panics after `limit`.
async fn until(limit: Duration, what: &str, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Worker A writes the invoice's deal and then waits on a slow associations call; worker B
/// merges `invoice_payment.paid`, which re-keys the row to the PaymentIntent. B must find A's
/// deal in the ledger and move it, not create a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_re_keyed_while_another_worker_writes_it_keeps_one_deal() {
    let hubspot = FakeHubSpot::start().await;
    // Long enough that the second worker merges and writes the link while the first waits.
    hubspot.fail_next_on(
        1,
        "POST",
        ASSOCIATIONS,
        Failure::Delay(Duration::from_secs(3)),
    );
    let mut pipeline = Pipeline::new(hubspot).await;
    pipeline.start_engine(|b| b.concurrency(2));
    assert_eq!(pipeline.send(&renewal_invoice()).await, 200);
    until(DRAIN, "the invoice's deal", || {
        pipeline.hubspot.deals().len() == 1
    })
    .await;
    // Worker A is now inside the delayed associations call.
    assert_eq!(pipeline.send(&fixture("invoice_payment_paid")).await, 200);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (2, 0), "{stats:?}");

    let deals = pipeline.hubspot.deals();
    assert_eq!(deals.len(), 1, "one payment, one deal: {deals:?}");
    assert_eq!(deals[0].property("stripe_payment_id"), Some(INTENT));
    assert_eq!(deals[0].property("stripe_invoice_id"), Some(INVOICE));
    let contact = pipeline
        .hubspot
        .contact_by_email("tony@starkindustries.com")
        .expect("the contact");
    assert!(pipeline
        .hubspot
        .are_associated("deals", &deals[0].id, "contacts", &contact.id));
    let entry = pipeline
        .store
        .state
        .ledger_entry(INVOICE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.key, INTENT);
    assert_eq!(
        entry.deal.clone().map(|d| (d.stripe_payment_id, d.deal_id)),
        Some((INTENT.to_owned(), deals[0].id.clone()))
    );
    assert!(!entry.is_unwritten(), "HubSpot holds the row's version");
    pipeline.shutdown().await;
}

/// Sends a payment by `old@`, then its PaymentIntent naming `new@` as the receipt email; when
/// `fail_once` is set, the first contacts upsert after the change answers 503, so the write
/// is retried (and its repeated merge changes nothing).
async fn email_flip(fail_once: bool) {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    let payment = Payment::numbered(1, "old@example.com", 4200, "usd", 1_700_000_000);
    assert_eq!(pipeline.send(&payment.charge_succeeded()).await, 200);
    pipeline.drained(DRAIN).await;
    let old = pipeline
        .hubspot
        .contact_by_email("old@example.com")
        .expect("the first contact");
    assert_eq!(old.property("stripe_payment_count"), Some("1"));

    if fail_once {
        pipeline.hubspot.fail_next_on(
            1,
            "POST",
            "/crm/objects/2026-09/contacts/batch/upsert",
            Failure::Status(503, None),
        );
    }
    let mut intent = payment.payment_intent_succeeded("evt_pi_new_email");
    intent["created"] = json!(payment.created + 60);
    // As Stripe sends it: `latest_charge` not expanded, the receipt going to another address.
    intent["data"]["object"]["latest_charge"] = json!(payment.charge_id);
    intent["data"]["object"]["receipt_email"] = json!("new@example.com");
    assert_eq!(pipeline.send(&intent).await, 200);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!((stats.done, stats.dead), (2, 0), "{stats:?}");
    if fail_once {
        assert!(pipeline.engine.as_ref().unwrap().metrics().retried > 0);
    }

    let hubspot = &pipeline.hubspot;
    let old = hubspot.contact_by_email("old@example.com").unwrap();
    let new = hubspot
        .contact_by_email("new@example.com")
        .expect("the new contact");
    assert_eq!(old.property("stripe_payment_count"), Some("0"), "{old:?}");
    // No payment left and no reporting currency configured: empty, never 0.00 (issue 21).
    assert_eq!(old.property("stripe_lifetime_value"), Some(""), "{old:?}");
    assert_eq!(new.property("stripe_payment_count"), Some("1"), "{new:?}");
    assert_eq!(
        new.property("stripe_lifetime_value"),
        Some("42.00"),
        "{new:?}"
    );
    let deals = hubspot.deals();
    assert_eq!(deals.len(), 1, "{deals:?}");
    assert!(hubspot.are_associated("deals", &deals[0].id, "contacts", &new.id));
    assert!(
        !hubspot.are_associated("deals", &deals[0].id, "contacts", &old.id),
        "the deal left the old contact"
    );
    pipeline.shutdown().await;
}

/// The charge names one email, its PaymentIntent (newer) another: the payment moves to the
/// new contact, the old contact's rollups drop to zero, and the deal follows.
#[tokio::test]
async fn a_payment_whose_email_changes_moves_its_rollups_and_deal_to_the_new_contact() {
    email_flip(false).await;
}

/// The same when the first write after the change fails and is retried.
#[tokio::test]
async fn a_payment_whose_email_changes_moves_even_when_the_first_write_fails() {
    email_flip(true).await;
}

/// The invoice's deal must take the PaymentIntent's key, but HubSpot already holds a deal
/// with it (the unique `stripe_payment_id` answers 409): that deal is kept, the invoice's
/// deal archived, one alert sent, and the events complete instead of retrying for 72 hours.
#[tokio::test]
async fn a_deal_move_onto_an_existing_key_keeps_that_deal_and_archives_the_other() {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    pipeline.start_engine(|b| b.concurrency(1));
    assert_eq!(pipeline.send(&renewal_invoice()).await, 200);
    pipeline.drained(DRAIN).await;
    let invoice_deal = pipeline.hubspot.deals().pop().expect("the invoice's deal");
    let client = pipeline.hubspot.client().unwrap();
    let existing = client
        .deals()
        .create(&ObjectInput::default().property("stripe_payment_id", INTENT))
        .await
        .unwrap();

    assert_eq!(pipeline.send(&fixture("invoice_payment_paid")).await, 200);
    let stats = pipeline.drained(Duration::from_secs(20)).await;
    assert_eq!((stats.done, stats.dead), (2, 0), "{stats:?}");

    let deals = pipeline.hubspot.deals();
    assert_eq!(deals.len(), 1, "one deal left: {deals:?}");
    assert_eq!(
        deals[0].id, existing.id,
        "the deal carrying the key is kept"
    );
    assert_eq!(deals[0].property("stripe_invoice_id"), Some(INVOICE));
    assert_eq!(deals[0].property("amount"), Some("20.00"));
    assert!(deals.iter().all(|d| d.id != invoice_deal.id));
    let contact = pipeline
        .hubspot
        .contact_by_email("tony@starkindustries.com")
        .unwrap();
    assert!(pipeline
        .hubspot
        .are_associated("deals", &existing.id, "contacts", &contact.id));
    let alerts: Vec<String> = pipeline
        .alerts
        .alerts()
        .into_iter()
        .filter(|a| a.kind == AlertKind::DuplicateDealResolved)
        .map(|a| a.message)
        .collect();
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    assert!(
        alerts[0].contains(&existing.id) && alerts[0].contains(&invoice_deal.id),
        "{}",
        alerts[0]
    );
    let entry = pipeline
        .store
        .state
        .ledger_entry(INTENT)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.deal.map(|d| d.deal_id), Some(existing.id.clone()));
    pipeline.shutdown().await;
}
