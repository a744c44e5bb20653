//! Lifetime value in the account's settlement currency (issue 21), end to end: real HTTP to
//! the fake HubSpot and the fake Stripe, a real SQLite file. With a Stripe key the engine
//! reads each charge's balance transaction once and the contact's lifetime value is what
//! Stripe settled; without one, or while the read fails, it stays in the payment's currency.

use std::time::Duration;

use serde_json::{json, Value};
use stripe2hubspot::history::stripe2hubspot_stripe::fake::{objects, FakeStripe};
use stripe2hubspot::history::stripe2hubspot_stripe::ListKind;
use stripe2hubspot::hubspot_crm::fake::FakeHubSpot;

use crate::common::Pipeline;

const DRAIN: Duration = Duration::from_secs(60);
/// 2025-11-01T12:26:40Z
const T0: i64 = 1_762_000_000;
const EMAIL: &str = "kenji@example.com";
const BALANCE_TRANSACTIONS: &str = "/v1/balance_transactions";
const CHARGES: &str = "/v1/charges";

/// A 5,000 JPY charge by [`EMAIL`], `refunded` of it refunded, naming its balance transaction
/// `txn_{id}` by id (as every webhook does).
fn charge(id: &str, refunded: i64) -> Value {
    let paid = objects::with_payer(
        objects::charge(id, T0, 5000, "jpy"),
        EMAIL,
        "Kenji Sato",
        None,
    );
    objects::refunded(paid, refunded)
}

fn event(event_id: &str, type_: &str, created: i64, object: Value) -> Value {
    json!({
        "id": event_id, "object": "event", "type": type_, "created": created,
        "api_version": "2024-06-20", "livemode": false, "data": {"object": object}
    })
}

/// A fake Stripe holding the charge `id` and its balance transaction: settled as 33.50 USD.
async fn stripe_settling(id: &str) -> FakeStripe {
    let stripe = FakeStripe::start().await;
    let charge = charge(id, 0);
    let txn = objects::balance_transaction(&format!("txn_{id}"), &charge, 3350, "usd");
    stripe.insert_all([charge, txn]).unwrap();
    stripe
}

async fn pipeline(stripe: Option<&FakeStripe>) -> Pipeline {
    let mut pipeline = Pipeline::new(FakeHubSpot::start().await).await;
    let client = stripe.map(|s| s.client().unwrap());
    pipeline.start_engine(|b| match client {
        Some(client) => b.concurrency(1).stripe(client),
        None => b.concurrency(1),
    });
    pipeline
}

async fn deliver(pipeline: &Pipeline, event: &Value) {
    assert_eq!(pipeline.send(event).await, 200, "{}", event["id"]);
    let stats = pipeline.drained(DRAIN).await;
    assert_eq!(stats.dead, 0, "nothing dead-lettered: {stats:?}");
}

/// The contact's `(stripe_lifetime_value, stripe_lifetime_value_currency)`.
fn lifetime(pipeline: &Pipeline) -> (String, String) {
    let contact = pipeline.hubspot.contact_by_email(EMAIL).unwrap_or_else(|| {
        panic!(
            "a contact with the email; have {:?}",
            pipeline.hubspot.contacts()
        )
    });
    let get = |name: &str| contact.property(name).unwrap_or("").to_owned();
    (
        get("stripe_lifetime_value"),
        get("stripe_lifetime_value_currency"),
    )
}

#[tokio::test]
async fn with_a_key_a_jpy_payment_counts_in_the_settlement_currency_read_once() {
    let stripe = stripe_settling("ch_jpy").await;
    let mut pipeline = pipeline(Some(&stripe)).await;
    let paid = event("evt_paid", "charge.succeeded", T0, charge("ch_jpy", 0));
    deliver(&pipeline, &paid).await;
    assert_eq!(lifetime(&pipeline), ("33.50".into(), "USD".into()));
    assert_eq!(stripe.request_count(BALANCE_TRANSACTIONS), 1);
    assert_eq!(
        stripe.request_count(CHARGES),
        0,
        "the event named the balance transaction"
    );

    // Stripe redelivers the event, then a partial refund arrives: the settlement is in the
    // ledger, so nothing is read again, and the refund takes its share (4/5 of 33.50 USD).
    assert_eq!(pipeline.send(&paid).await, 200);
    let refund = event(
        "evt_refund",
        "charge.refunded",
        T0 + 60,
        charge("ch_jpy", 1000),
    );
    deliver(&pipeline, &refund).await;
    assert_eq!(lifetime(&pipeline), ("26.80".into(), "USD".into()));
    assert_eq!(stripe.request_count(BALANCE_TRANSACTIONS), 1, "read once");
    let deal = pipeline.hubspot.deals();
    assert_eq!(deal.len(), 1);
    assert_eq!(
        deal[0].property("stripe_amount_currency"),
        Some("4000 JPY"),
        "the deal keeps the payment's own currency"
    );
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_payment_known_only_by_its_intent_reads_the_charge_to_find_its_settlement() {
    let stripe = stripe_settling("ch_pi").await;
    let mut pipeline = pipeline(Some(&stripe)).await;
    let intent = json!({
        "id": "pi_jpy", "object": "payment_intent", "amount": 5000, "amount_received": 5000,
        "currency": "jpy", "status": "succeeded", "created": T0, "receipt_email": EMAIL,
        "latest_charge": "ch_pi", "metadata": {}, "livemode": false
    });
    deliver(
        &pipeline,
        &event("evt_pi", "payment_intent.succeeded", T0, intent),
    )
    .await;
    assert_eq!(lifetime(&pipeline), ("33.50".into(), "USD".into()));
    assert_eq!(stripe.request_count("/v1/charges/ch_pi"), 1);
    assert_eq!(stripe.request_count(BALANCE_TRANSACTIONS), 1);
    pipeline.shutdown().await;
}

#[tokio::test]
async fn without_a_key_the_payment_counts_in_its_own_currency() {
    let mut pipeline = pipeline(None).await;
    let paid = event("evt_paid", "charge.succeeded", T0, charge("ch_jpy", 0));
    deliver(&pipeline, &paid).await;
    assert_eq!(lifetime(&pipeline), ("5000".into(), "JPY".into()));
    pipeline.shutdown().await;
}

#[tokio::test]
async fn a_failed_read_never_blocks_the_sync_and_is_tried_again_on_the_next_write() {
    let stripe = stripe_settling("ch_jpy").await;
    // A restricted key without "Balance: Read".
    stripe.set_denied(ListKind::BalanceTransactions, true);
    let mut pipeline = pipeline(Some(&stripe)).await;
    deliver(
        &pipeline,
        &event("evt_paid", "charge.succeeded", T0, charge("ch_jpy", 0)),
    )
    .await;
    assert_eq!(lifetime(&pipeline), ("5000".into(), "JPY".into()));
    assert_eq!(stripe.request_count(BALANCE_TRANSACTIONS), 1);
    assert_eq!(pipeline.hubspot.deals().len(), 1, "the payment synced");

    // The permission is granted; the payment's next event reads it again.
    stripe.set_denied(ListKind::BalanceTransactions, false);
    deliver(
        &pipeline,
        &event(
            "evt_refund",
            "charge.refunded",
            T0 + 60,
            charge("ch_jpy", 1000),
        ),
    )
    .await;
    assert_eq!(lifetime(&pipeline), ("26.80".into(), "USD".into()));
    assert_eq!(stripe.request_count(BALANCE_TRANSACTIONS), 2);
    pipeline.shutdown().await;
}
