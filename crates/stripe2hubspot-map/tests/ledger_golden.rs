//! The payment ledger on Stripe-shaped fixtures (stripe-events/tests/fixtures): manual capture,
//! refunds, JPY disputes, Checkout, invoices before and after 2025-03-31, and the waiting
//! states, compared property by property.

use std::collections::BTreeMap;

use stripe2hubspot_map::{
    contact_properties, deal_properties, facts_from_event, facts_from_object, Facts, FactsOutcome,
    LedgerRow, MappingConfig, PaymentState, PaymentStatus, SkipReason, Stamp,
};
use stripe_events::Event;

fn event(name: &str) -> Event {
    let path = format!(
        "{}/../stripe-events/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

fn facts(name: &str, config: &MappingConfig) -> Facts {
    match facts_from_event(&event(name), config).unwrap() {
        FactsOutcome::Facts(facts) => *facts,
        FactsOutcome::Skip(reason) => panic!("{name} skipped: {reason}"),
    }
}

fn skip(name: &str) -> SkipReason {
    match facts_from_event(&event(name), &MappingConfig::default()).unwrap() {
        FactsOutcome::Skip(reason) => reason,
        FactsOutcome::Facts(facts) => panic!("{name} gave facts {facts:?}"),
    }
}

/// The row of these events, folded in the given order.
fn row(names: &[&str]) -> LedgerRow {
    let config = config();
    names.iter().fold(LedgerRow::default(), |mut row, name| {
        row.apply(&facts(name, &config));
        row
    })
}

fn config() -> MappingConfig {
    MappingConfig::default()
}

fn deal(row: &LedgerRow) -> BTreeMap<String, String> {
    deal_properties(row, &config())
        .expect("a settled payment")
        .to_map()
}

fn owned(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const MANUAL_PI: &str = "pi_3QxMcpLkdIwHu7ix0zKqWc8Z";

#[test]
fn an_authorisation_waits_for_its_capture_then_makes_one_deal() {
    let config = config();
    let authorised = row(&["charge_succeeded_uncaptured.json"]);
    assert_eq!(authorised.state(&config), PaymentState::AwaitingCapture);
    assert_eq!(authorised.key(), Some(MANUAL_PI));
    assert_eq!(deal_properties(&authorised, &config), None);
    assert_eq!(contact_properties(&[authorised], &config), None);

    let expected = owned(&[
        ("amount", "149.00"),
        ("closedate", "2025-01-01T00:00:00Z"),
        ("deal_currency_code", "USD"),
        (
            "dealname",
            "Payment 149.00 USD (pi_3QxMcpLkdIwHu7ix0zKqWc8Z)",
        ),
        ("dealstage", "closedwon"),
        ("pipeline", "default"),
        ("stripe_amount_currency", "149.00 USD"),
        ("stripe_amount_refunded", "0.00"),
        ("stripe_payment_id", MANUAL_PI),
        ("stripe_payment_status", "succeeded"),
    ]);
    let all = [
        "charge_succeeded_uncaptured.json",
        "charge_captured.json",
        "payment_intent_succeeded_latest_charge_id.json",
    ];
    for order in [[0, 1, 2], [2, 1, 0], [1, 0, 2], [2, 0, 1]] {
        let captured = row(&order.map(|i| all[i]));
        assert_eq!(deal(&captured), expected, "order {order:?}");
        assert_eq!(captured.email(), Some("pepper@starkindustries.com"));
    }
}

#[test]
fn a_released_authorisation_is_done_without_a_deal() {
    let config = config();
    let mut released = event("charge_succeeded_uncaptured.json");
    released.type_ = "charge.refunded".into();
    released.id = "evt_released".into();
    released.created += 86_400;
    let stripe_events::EventObject::Charge(charge) = &mut released.data.object else {
        panic!("expected a charge")
    };
    charge.refunded = true;
    charge.amount_refunded = charge.amount;
    let FactsOutcome::Facts(facts) = facts_from_event(&released, &config).unwrap() else {
        panic!("expected facts")
    };
    let mut row = row(&["charge_succeeded_uncaptured.json"]);
    row.apply(&facts);
    assert_eq!(row.state(&config), PaymentState::Released);
    assert!(!row.state(&config).is_waiting());
    assert_eq!(deal_properties(&row, &config), None);
}

#[test]
fn a_partial_capture_does_not_count_the_released_remainder_as_refunded() {
    let config = config();
    let mut event = event("charge_captured.json");
    let stage = |event: &Event, captured: i64, refunded: i64, id: &str| {
        let mut event = event.clone();
        event.id = id.into();
        event.created += refunded;
        let stripe_events::EventObject::Charge(charge) = &mut event.data.object else {
            panic!("expected a charge")
        };
        charge.amount_captured = captured;
        charge.amount_refunded = refunded;
        charge.refunded = refunded == charge.amount;
        event
    };
    // 149.00 authorized, 100.00 captured: Stripe refunds the other 49.00 at capture.
    event = stage(&event, 10000, 4900, "evt_capture");
    let FactsOutcome::Facts(capture) = facts_from_event(&event, &config).unwrap() else {
        panic!("expected facts")
    };
    let mut row = LedgerRow::from_facts(&capture);
    let captured = deal(&row);
    assert_eq!(captured["amount"], "100.00");
    assert_eq!(captured["stripe_amount_refunded"], "0.00");
    assert_eq!(captured["stripe_payment_status"], "succeeded");

    let mut refund = stage(&event, 10000, 7400, "evt_refund");
    refund.type_ = "charge.refunded".into();
    let FactsOutcome::Facts(refund) = facts_from_event(&refund, &config).unwrap() else {
        panic!("expected facts")
    };
    row.apply(&refund);
    let partial = deal(&row);
    assert_eq!(partial["amount"], "75.00");
    assert_eq!(partial["stripe_amount_refunded"], "25.00");
    assert_eq!(partial["stripe_payment_status"], "partially_refunded");
}

#[test]
fn a_payment_intent_without_an_email_waits_for_a_contact() {
    let config = config();
    let intent = row(&["payment_intent_succeeded_latest_charge_id.json"]);
    assert_eq!(intent.state(&config), PaymentState::AwaitingContact);
    assert!(intent.state(&config).is_waiting());
    assert_eq!(intent.state(&config).as_str(), "awaiting_contact");
    assert_eq!(deal_properties(&intent, &config), None);
    let aliases: Vec<&str> = intent.aliases().collect();
    assert_eq!(aliases, [MANUAL_PI, "ch_3QxMcpLkdIwHu7ix0h2QmAuT"]);
}

#[test]
fn refunds_lower_the_amount_and_a_full_refund_moves_the_deal_to_lost() {
    let paid = ["charge_succeeded.json", "payment_intent_succeeded.json"];
    let before = deal(&row(&paid));
    assert_eq!(before["amount"], "149.00");
    assert_eq!(before["dealname"], "Arc Reactor Deployment");

    let partial = deal(&row(&[paid[0], paid[1], "charge_refunded_partial.json"]));
    assert_eq!(partial["amount"], "100.00");
    assert_eq!(partial["stripe_amount_refunded"], "49.00");
    assert_eq!(partial["stripe_payment_status"], "partially_refunded");
    assert_eq!(partial["dealstage"], "closedwon");

    // The full refund delivered before the partial one: refunded amounts only grow.
    let full = deal(&row(&[
        "charge_refunded_full.json",
        paid[1],
        "charge_refunded_partial.json",
        paid[0],
    ]));
    let mut expected = before.clone();
    for (k, v) in [
        ("amount", "0.00"),
        ("stripe_amount_refunded", "149.00"),
        ("stripe_payment_status", "refunded"),
        ("dealstage", "closedlost"),
        ("stripe_amount_currency", "0.00 USD"),
    ] {
        expected.insert(k.into(), v.into());
    }
    assert_eq!(full, expected);

    let mut gross = config();
    gross.amount_basis = stripe2hubspot_map::AmountBasis::Gross;
    let refunded = row(&[paid[0], "charge_refunded_full.json"]);
    let gross_deal = deal_properties(&refunded, &gross).unwrap();
    assert_eq!(gross_deal.get("amount"), Some("149.00"));
    assert_eq!(gross_deal.get("dealstage"), Some("closedlost"));
}

#[test]
fn jpy_disputes_keep_the_zero_exponent_and_a_lost_one_zeroes_the_deal() {
    let config = config();
    let charge = "charge_succeeded_jpy.json";
    let open = row(&[charge, "charge_dispute_created.json"]);
    assert_eq!(
        open.state(&config),
        PaymentState::Settled(PaymentStatus::Disputed)
    );
    let open = deal(&open);
    assert_eq!(open["amount"], "5000");
    assert_eq!(open["deal_currency_code"], "JPY");
    assert_eq!(open["stripe_amount_currency"], "5000 JPY");
    assert_eq!(open["stripe_amount_refunded"], "0");
    assert_eq!(open["dealstage"], "closedwon");

    // A closed dispute outranks the open one, whatever the order.
    let won = deal(&row(&[
        "charge_dispute_closed_won.json",
        charge,
        "charge_dispute_created.json",
    ]));
    assert_eq!(won["stripe_payment_status"], "dispute_won");
    assert_eq!(won["amount"], "5000");
    assert_eq!(won["dealstage"], "closedwon");

    let lost = deal(&row(&[
        "charge_dispute_created.json",
        "charge_dispute_closed_lost.json",
        charge,
    ]));
    assert_eq!(lost["stripe_payment_status"], "dispute_lost");
    assert_eq!(lost["amount"], "0");
    assert_eq!(lost["stripe_amount_currency"], "0 JPY");
    assert_eq!(lost["dealstage"], "closedlost");

    let dispute_only = row(&["charge_dispute_created.json"]);
    assert_eq!(dispute_only.state(&config), PaymentState::AwaitingPayment);
    assert_eq!(dispute_only.key(), Some("pi_3RjPyLkdIwHu7ix0Yen5000b"));
}

#[test]
fn checkout_waits_for_payment_and_joins_its_payment_intent_and_charge() {
    assert_eq!(
        skip("checkout_session_completed_unpaid.json"),
        SkipReason::CheckoutNotPaid {
            payment_status: "unpaid".into()
        }
    );
    let paid = row(&["checkout_session_async_payment_succeeded.json"]);
    assert_eq!(paid.key(), Some("pi_3QxAsyLkdIwHu7ix0SepaDbt1"));
    let properties = deal(&paid);
    assert_eq!(properties["amount"], "250.00");
    assert_eq!(properties["deal_currency_code"], "EUR");
    assert_eq!(paid.email(), Some("natasha@shield.example"));

    let one = row(&[
        "checkout_session_completed.json",
        "charge_succeeded.json",
        "payment_intent_succeeded.json",
    ]);
    let aliases: Vec<&str> = one.aliases().collect();
    assert_eq!(
        aliases,
        [
            "pi_3Mv29vLkdIwHu7ix1e8oAbcd",
            "ch_3Mv29vLkdIwHu7ix1Lp0xqy9",
            "cs_test_a1YS1URlnyQCN5fUUduORoQ7Pw41PJqDWkIVQCpJPqkfIhd6tVY8XB1OLY",
        ]
    );
    assert_eq!(deal(&one)["amount"], "149.00");
}

#[test]
fn invoice_paid_in_both_api_shapes_names_payment_invoice_and_subscription() {
    let old = row(&["invoice_paid_2024_06_20.json"]);
    let aliases: Vec<&str> = old.aliases().collect();
    assert_eq!(
        aliases,
        [
            "pi_3QrEnwLkdIwHu7ix0Renew2024",
            "ch_3QrEnwLkdIwHu7ix0Renew2024",
            "in_1QrEnwLkdIwHu7ixRenew2024",
        ]
    );
    let old = deal(&old);
    assert_eq!(old["stripe_invoice_id"], "in_1QrEnwLkdIwHu7ixRenew2024");
    assert_eq!(
        old["stripe_subscription_id"],
        "sub_1MowQVLkdIwHu7ixeRlqHVzs"
    );
    assert_eq!(old["amount"], "20.00");
    assert_eq!(old["closedate"], "2025-02-01T01:00:01Z");

    let new = row(&["invoice_paid_2025_03_31_basil.json"]);
    assert_eq!(new.key(), Some("pi_3RbAslLkdIwHu7ix0Renew2025"));
    let new = deal(&new);
    assert_eq!(new["stripe_invoice_id"], "in_1RbAslLkdIwHu7ixRenew2025");
    assert_eq!(
        new["stripe_subscription_id"],
        "sub_1MowQVLkdIwHu7ixeRlqHVzs"
    );
}

#[test]
fn an_invoice_without_payments_is_linked_by_invoice_payment_paid() {
    let mut invoice = event("invoice_paid_2025_03_31_basil.json");
    let stripe_events::EventObject::Invoice(object) = &mut invoice.data.object else {
        panic!("expected an invoice")
    };
    object.payments = None; // what an endpoint receives unless payments are included
    let config = config();
    let FactsOutcome::Facts(alone) = facts_from_event(&invoice, &config).unwrap() else {
        panic!("expected facts")
    };
    assert_eq!(alone.ids.key(), Some("in_1RbAslLkdIwHu7ixRenew2025"));
    let link = facts("invoice_payment_paid.json", &config);
    let linked = LedgerRow::from_facts(&alone).merge(&LedgerRow::from_facts(&link));
    assert_eq!(linked.key(), Some("pi_3RbAslLkdIwHu7ix0Renew2025"));
    assert_eq!(
        deal(&linked)["stripe_invoice_id"],
        "in_1RbAslLkdIwHu7ixRenew2025"
    );
    let mut without_link = MappingConfig::default();
    without_link
        .event_types
        .retain(|t| t != "invoice_payment.paid");
    assert_eq!(
        facts_from_event(&event("invoice_payment_paid.json"), &without_link).unwrap(),
        FactsOutcome::Skip(SkipReason::UnhandledEventType {
            event_type: "invoice_payment.paid".into()
        }),
        "handled by default, and can be turned off"
    );
}

#[test]
fn contact_rollups_count_net_payments_and_sum_the_reporting_currency() {
    let config = config();
    let card = row(&[
        "charge_succeeded.json",
        "payment_intent_succeeded.json",
        "charge_refunded_partial.json",
    ]);
    let renewal_2024 = row(&["invoice_paid_2024_06_20.json"]);
    let renewal_2025 = row(&["invoice_paid_2025_03_31_basil.json"]);
    let refunded = row(&[
        "charge_succeeded_jpy.json",
        "charge_dispute_closed_lost.json",
    ]);
    let waiting = row(&["payment_intent_succeeded_latest_charge_id.json"]);
    let rows = [card, renewal_2024, renewal_2025.clone(), waiting];
    let contact = contact_properties(&rows, &config).unwrap().to_map();
    let expected = owned(&[
        ("company", "Stark Industries"),
        ("email", "tony@starkindustries.com"),
        ("firstname", "Tony"),
        ("last_charge_amount", "20.00"),
        ("last_charge_currency", "EUR"),
        ("last_charge_date", "2025-06-01T01:00:01Z"),
        ("last_charge_id", ""),
        ("last_charge_receipt", ""),
        ("lastname", "Stark"),
        ("lifecyclestage", "customer"),
        ("phone", "+1-555-0100"),
        ("stripe_customer_id", "cus_NffrFeUfNV2Hib"),
        ("stripe_first_payment_date", "2023-04-07T19:00:01Z"),
        ("stripe_last_payment_date", "2025-06-01T01:00:01Z"),
        // The contact's own currency: that of its newest counted payment (EUR).
        ("stripe_lifetime_value", "40.00"),
        ("stripe_lifetime_value_currency", "EUR"),
        ("stripe_payment_count", "3"),
    ]);
    assert_eq!(contact, expected);

    let mut usd = config.clone();
    usd.reporting_currency = Some(stripe_events::Currency::new("USD").unwrap());
    let contact = contact_properties(&rows, &usd).unwrap();
    assert_eq!(contact.get("stripe_lifetime_value"), Some("100.00"));
    assert_eq!(contact.get("stripe_lifetime_value_currency"), Some("USD"));
    let mut jpy = config.clone();
    jpy.reporting_currency = Some(stripe_events::Currency::new("JPY").unwrap());
    let contact = contact_properties(&rows, &jpy).unwrap();
    assert_eq!(
        contact.get("stripe_lifetime_value"),
        Some(""),
        "no JPY payment: empty, never 0"
    );

    // A lost dispute leaves nothing to count; the dates clear.
    let contact = contact_properties(&[refunded], &config).unwrap();
    assert_eq!(contact.get("stripe_payment_count"), Some("0"));
    assert_eq!(contact.get("stripe_first_payment_date"), Some(""));
    // Worth 0 in its own currency: a true value, not a missing one.
    assert_eq!(contact.get("stripe_lifetime_value"), Some("0"));
    assert_eq!(contact.get("stripe_lifetime_value_currency"), Some("JPY"));
    assert_eq!(contact.get("email"), Some("happy@starkindustries.com"));
    assert!(contact.is_last_charge_property("last_charge_amount"));
}

#[test]
fn backfill_reads_objects_with_the_same_rules() {
    let config = config();
    let event = event("charge_refunded_full.json");
    let stamp = Stamp {
        created: 1_800_000_000,
        event_id: "backfill:ch_3Mv29vLkdIwHu7ix1Lp0xqy9".into(),
    };
    let FactsOutcome::Facts(read) =
        facts_from_object(&event.data.object, None, stamp.clone(), &config).unwrap()
    else {
        panic!("expected facts")
    };
    assert_eq!(read.stamp, stamp);
    let from_event = facts("charge_refunded_full.json", &config);
    assert_eq!(
        Facts {
            stamp: from_event.stamp.clone(),
            ..*read
        },
        from_event
    );
}

#[test]
fn personal_data_stays_out_of_debug() {
    let row = row(&["charge_succeeded.json"]);
    let debug = format!("{row:?} {:?}", facts("charge_succeeded.json", &config()));
    assert!(!debug.contains("tony@"), "{debug}");
    assert!(!debug.contains("Tony Stark"));
    assert!(!debug.contains("555-0100"));
    let json = serde_json::to_string(&row).unwrap();
    assert!(
        json.contains("tony@starkindustries.com"),
        "the store keeps it"
    );
}
