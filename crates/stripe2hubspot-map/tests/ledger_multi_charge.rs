//! One payment, several charges: an invoice paid by two PaymentIntents refunds and disputes
//! each charge on its own, and the payment's refunded amount is the sum over its charges,
//! in any order of delivery.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use stripe2hubspot_map::{
    contact_properties, deal_properties, facts_from_event, FactsOutcome, LedgerRow, MappingConfig,
};
use stripe_events::Event;

const T0: i64 = 1_700_000_000;
const EMAIL: &str = "ann@example.com";

/// One of the invoice's two payments: (suffix, amount).
const PARTS: [(&str, i64); 2] = [("a", 6000), ("b", 4000)];
const TOTAL: i64 = 10000;

fn event(id: &str, type_: &str, created: i64, object: Value) -> Event {
    serde_json::from_value(json!({
        "id": id, "object": "event", "type": type_, "created": created,
        "data": {"object": object}
    }))
    .unwrap()
}

fn amount_of(part: &str) -> i64 {
    PARTS
        .iter()
        .find(|(p, _)| *p == part)
        .map(|(_, a)| *a)
        .unwrap()
}

fn charge(part: &str, refunded: i64, disputed: bool) -> Value {
    let amount = amount_of(part);
    json!({
        "id": format!("ch_{part}"), "object": "charge", "amount": amount,
        "amount_captured": amount, "amount_refunded": refunded, "refunded": refunded == amount,
        "captured": true, "disputed": disputed, "currency": "usd", "status": "succeeded",
        "paid": true, "created": T0, "payment_intent": format!("pi_{part}"),
        "customer": "cus_1", "billing_details": {"email": EMAIL, "name": "Ann Lee"}
    })
}

fn invoice_payment(part: &str) -> Value {
    json!({
        "id": format!("inpay_{part}"), "object": "invoice_payment", "invoice": "in_1",
        "amount_paid": amount_of(part), "amount_requested": amount_of(part),
        "currency": "usd", "status": "paid", "is_default": part == "a",
        "payment": {"type": "payment_intent", "payment_intent": format!("pi_{part}")},
        "created": T0
    })
}

fn invoice() -> Value {
    json!({
        "id": "in_1", "object": "invoice", "status": "paid", "amount_due": TOTAL,
        "amount_paid": TOTAL, "currency": "usd", "customer": "cus_1", "customer_email": EMAIL,
        "customer_name": "Ann Lee", "created": T0 - 3600,
        "status_transitions": {"paid_at": T0 + 1},
        "parent": {"type": "subscription_details",
                   "subscription_details": {"subscription": "sub_1"}},
        "payments": {"object": "list", "has_more": false,
                     "data": [invoice_payment("a"), invoice_payment("b")]}
    })
}

fn dispute(part: &str, status: &str) -> Value {
    json!({
        "id": format!("dp_{part}"), "object": "dispute", "amount": amount_of(part),
        "currency": "usd", "charge": format!("ch_{part}"),
        "payment_intent": format!("pi_{part}"), "status": status, "reason": "fraudulent",
        "created": T0 + 500
    })
}

/// The invoice, both charges and both invoice payments.
fn paid() -> Vec<Event> {
    let mut events = vec![event("evt_inv", "invoice.paid", T0 + 1, invoice())];
    for (part, _) in PARTS {
        events.push(event(
            &format!("evt_ch_{part}"),
            "charge.succeeded",
            T0,
            charge(part, 0, false),
        ));
        events.push(event(
            &format!("evt_inpay_{part}"),
            "invoice_payment.paid",
            T0 + 2,
            invoice_payment(part),
        ));
    }
    events
}

fn refund(part: &str, refunded: i64, at: i64) -> Event {
    event(
        &format!("evt_refund_{part}_{refunded}"),
        "charge.refunded",
        T0 + at,
        charge(part, refunded, false),
    )
}

/// What the store does: every row sharing an id with the facts merges into one.
fn rows(events: &[Event]) -> Vec<LedgerRow> {
    let config = MappingConfig::default();
    let mut rows: Vec<LedgerRow> = Vec::new();
    for event in events {
        let FactsOutcome::Facts(facts) = facts_from_event(event, &config).unwrap() else {
            panic!("{} skipped", event.id)
        };
        let mut merged = LedgerRow::from_facts(&facts);
        rows.retain(|row| {
            let linked = row.aliases().any(|a| facts.ids.all().any(|id| id == a));
            if linked {
                merged = merged.merge(row);
            }
            !linked
        });
        rows.push(merged);
    }
    rows
}

fn one_row(events: &[Event]) -> LedgerRow {
    let mut rows = rows(events);
    assert_eq!(rows.len(), 1, "one payment, one row");
    rows.remove(0)
}

fn deal(row: &LedgerRow) -> BTreeMap<String, String> {
    deal_properties(row, &MappingConfig::default())
        .expect("a settled payment")
        .to_map()
}

#[test]
fn refunds_on_two_charges_of_one_invoice_add_up() {
    let mut events = paid();
    events.push(refund("a", 3000, 100));
    events.push(refund("b", 2000, 200));
    let row = one_row(&events);
    assert_eq!(row.key(), Some("pi_a"));
    assert_eq!(row.captured(), Some(TOTAL));
    assert_eq!(
        row.refunded(),
        5000,
        "30.00 + 20.00, not the larger of the two"
    );
    assert!(!row.is_fully_refunded());
    let deal = deal(&row);
    assert_eq!(deal["amount"], "50.00", "net: total - 50.00");
    assert_eq!(deal["stripe_amount_refunded"], "50.00");
    assert_eq!(deal["stripe_payment_status"], "partially_refunded");
    assert_eq!(deal["dealstage"], "closedwon", "the stage is kept");

    // Any order, with redeliveries and an older refund event arriving last, gives this row.
    let mut shuffled: Vec<Event> = events.iter().rev().cloned().collect();
    shuffled.push(refund("a", 1000, 50));
    shuffled.extend(events.iter().cloned());
    assert_eq!(one_row(&shuffled), row);
}

#[test]
fn refunding_one_charge_in_full_does_not_refund_the_invoice() {
    let mut events = paid();
    events.push(refund("a", 6000, 100));
    let row = one_row(&events);
    assert!(
        !row.is_fully_refunded(),
        "the other charge still holds 40.00"
    );
    assert_eq!(row.refunded(), 6000);
    let config = MappingConfig::default();
    let deal = deal(&row);
    assert_eq!(deal["amount"], "40.00");
    assert_eq!(deal["stripe_payment_status"], "partially_refunded");
    assert_eq!(deal["dealstage"], "closedwon");
    let contact = contact_properties(std::slice::from_ref(&row), &config).unwrap();
    assert_eq!(
        contact.get("stripe_payment_count"),
        Some("1"),
        "still counted"
    );
    assert_eq!(contact.get("stripe_lifetime_value"), Some("40.00"));

    // Refunding the other charge too refunds the whole invoice.
    events.push(refund("b", 4000, 200));
    let row = one_row(&events);
    assert!(row.is_fully_refunded());
    let deal = self::deal(&row);
    assert_eq!(deal["amount"], "0.00");
    assert_eq!(deal["stripe_payment_status"], "refunded");
    assert_eq!(deal["dealstage"], "closedlost");
}

#[test]
fn an_unreported_dispute_on_one_charge_is_not_hidden_by_a_won_one_on_another() {
    let mut events = paid();
    // ch_a is disputed (Stripe flags the charge) but its dispute event has not arrived;
    // ch_b's dispute was won.
    events.push(event(
        "evt_ch_a_disputed",
        "charge.refunded",
        T0 + 300,
        charge("a", 100, true),
    ));
    events.push(event(
        "evt_dp_b",
        "charge.dispute.closed",
        T0 + 400,
        dispute("b", "won"),
    ));
    let row = one_row(&events);
    assert_eq!(deal(&row)["stripe_payment_status"], "disputed");

    events.push(event(
        "evt_dp_a",
        "charge.dispute.closed",
        T0 + 500,
        dispute("a", "won"),
    ));
    assert_eq!(
        deal(&one_row(&events))["stripe_payment_status"],
        "dispute_won"
    );
}

#[test]
fn a_row_stored_before_per_charge_amounts_still_reads() {
    // The JSON a row of one fully refunded charge was stored as before refunds were kept per
    // charge (no `charges`, payment-wide `refunded` and `fully_refunded`).
    let stamp = json!({"created": T0, "event_id": "evt_1"});
    let stored = json!({
        "payment_intent_ids": ["pi_1"], "charge_ids": ["ch_1"], "invoice_ids": [],
        "checkout_session_ids": [],
        "email": {"stamp": stamp, "value": EMAIL},
        "name": null, "phone": null, "customer_id": null,
        "currency": {"stamp": stamp, "value": "usd"},
        "authorized": 5000, "captured": 5000, "succeeded": true, "refunded": 5000,
        "fully_refunded": true, "disputed": true,
        "disputes": {"dp_1": {"closed": true, "stamp": stamp, "status": "won",
                              "amount": 5000, "currency": "usd"}},
        "paid_at": T0, "first_success_at": T0, "subscription_id": null, "receipt_url": null,
        "description": null, "metadata": {}, "latest": stamp
    });
    let row: LedgerRow = serde_json::from_value(stored).unwrap();
    assert!(row.is_fully_refunded());
    assert_eq!(row.refunded(), 5000);
    let deal = deal(&row);
    assert_eq!(deal["stripe_payment_status"], "refunded");
    assert_eq!(deal["amount"], "0.00");
    // And a row of an older shape still: only the fields every version had.
    let minimal: LedgerRow = serde_json::from_value(json!({
        "charge_ids": ["ch_2"], "captured": 700, "refunded": 200, "succeeded": true
    }))
    .unwrap();
    assert_eq!(minimal.refunded(), 200);
    assert!(!minimal.is_fully_refunded());
}
