//! Realistic Stripe payloads (tests/fixtures) verify and parse into typed objects.

use stripe_events::{
    parse_event, sign, ChargeStatus, Event, EventObject, PaymentIntentStatus, Verifier,
    WebhookError,
};

mod common;

use common::{delivered, fixture, SECRET};

#[test]
fn seed_charge_succeeded_parses_into_a_typed_charge_with_every_mapped_field() {
    let event = delivered("seed_charge_succeeded.json");
    assert_eq!(event.id, "evt_1N3x9yLkdIwHu7ix241ad");
    assert_eq!(event.type_, "charge.succeeded");
    let EventObject::Charge(charge) = &event.data.object else {
        panic!("expected a Charge, got {:?}", event.data.object)
    };
    assert_eq!(charge.id, "ch_3Mv29vLkdIwHu7ix1Lp0xqy9");
    assert_eq!(charge.amount, 14900);
    assert_eq!(charge.money().to_decimal_string(), "149.00");
    assert_eq!(charge.currency.iso_code(), "USD");
    assert_eq!(charge.status, ChargeStatus::Succeeded);
    assert_eq!(
        charge.receipt_url.as_deref(),
        Some("https://stripe.com/receipt/ch_3Mv29v")
    );
    assert_eq!(
        charge.billing_details.email.as_deref(),
        Some("tony@starkindustries.com")
    );
    assert_eq!(charge.billing_details.name.as_deref(), Some("Tony Stark"));
    assert_eq!(charge.billing_details.phone.as_deref(), Some("+1-555-0100"));
    assert_eq!(charge.metadata["company"], "Stark Industries");
    assert_eq!(charge.metadata["lifecycle_stage"], "customer");
    assert_eq!(charge.metadata["deal_name"], "Arc Reactor Deployment");
    assert!(charge.customer.is_none());
    assert!(charge.payment_intent.is_none());
}

#[test]
fn seed_object_verbatim_lacks_currency_so_it_stays_unknown() {
    // The original guide's abridged object has no currency, status or created, which every real charge
    // has; without a currency an amount cannot be formatted, so it is not typed.
    let object = serde_json::json!({
        "id": "ch_3Mv29vLkdIwHu7ix1Lp0xqy9", "amount": 14900, "object": "charge",
        "receipt_url": "https://stripe.com/receipt/ch_3Mv29v",
        "billing_details": {"email": "tony@starkindustries.com"}, "metadata": {}
    });
    let typed = EventObject::from_value(object);
    assert!(matches!(typed, EventObject::Unknown(_)));
    assert_eq!(typed.id(), Some("ch_3Mv29vLkdIwHu7ix1Lp0xqy9"));
}

#[test]
fn full_charge_succeeded_with_outcome_payment_method_details_and_refunds() {
    let event = delivered("charge_succeeded.json");
    assert_eq!(event.api_version.as_deref(), Some("2024-06-20"));
    assert!(!event.livemode);
    let EventObject::Charge(charge) = &event.data.object else {
        panic!("expected a Charge, got {:?}", event.data.object)
    };
    assert_eq!(
        (
            charge.amount,
            charge.amount_captured,
            charge.amount_refunded
        ),
        (14900, 14900, 0)
    );
    assert_eq!(charge.customer.as_ref().unwrap().id(), "cus_NffrFeUfNV2Hib");
    assert!(charge.customer.as_ref().unwrap().as_object().is_none());
    assert_eq!(
        charge.payment_intent.as_ref().unwrap().id(),
        "pi_3Mv29vLkdIwHu7ix1e8oAbcd"
    );
    assert_eq!(
        charge.receipt_email.as_deref(),
        Some("tony@starkindustries.com")
    );
    assert_eq!(
        charge.description.as_deref(),
        Some("Arc Reactor Deployment")
    );
    let address = charge.billing_details.address.as_ref().unwrap();
    assert_eq!(address.city.as_deref(), Some("Malibu"));
    assert_eq!(address.line2, None);
    assert_eq!(address.country.as_deref(), Some("US"));
    assert!(charge.paid && !charge.refunded);
    assert_eq!(charge.created, 1680894001);
}

#[test]
fn charge_with_expanded_customer() {
    let event = delivered("charge_succeeded_expanded_customer.json");
    let EventObject::Charge(charge) = &event.data.object else {
        panic!("expected a Charge, got {:?}", event.data.object)
    };
    let customer = charge.customer.as_ref().unwrap();
    assert_eq!(customer.id(), "cus_NffrFeUfNV2Hib");
    let customer = customer.as_object().unwrap();
    assert_eq!(customer.email.as_deref(), Some("tony@starkindustries.com"));
    assert_eq!(customer.name.as_deref(), Some("Tony Stark"));
    assert_eq!(customer.metadata["company"], "Stark Industries");
    assert!(!customer.deleted);
}

#[test]
fn payment_intent_succeeded_with_expanded_latest_charge() {
    let event = delivered("payment_intent_succeeded.json");
    let EventObject::PaymentIntent(pi) = &event.data.object else {
        panic!("expected a PaymentIntent, got {:?}", event.data.object)
    };
    assert_eq!(pi.id, "pi_3Mv29vLkdIwHu7ix1e8oAbcd");
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    assert_eq!(pi.amount_received_money().to_decimal_string(), "149.00");
    assert_eq!(pi.customer.as_ref().unwrap().id(), "cus_NffrFeUfNV2Hib");
    assert_eq!(
        pi.receipt_email.as_deref(),
        Some("tony@starkindustries.com")
    );
    assert_eq!(pi.metadata["deal_name"], "Arc Reactor Deployment");
    let charge = pi.latest_charge.as_ref().unwrap();
    assert_eq!(charge.id(), "ch_3Mv29vLkdIwHu7ix1Lp0xqy9");
    let charge = charge.as_object().unwrap();
    assert_eq!(
        charge.billing_details.email.as_deref(),
        Some("tony@starkindustries.com")
    );
    assert_eq!(charge.payment_intent.as_ref().unwrap().id(), pi.id);
}

#[test]
fn checkout_session_completed() {
    let event = delivered("checkout_session_completed.json");
    let EventObject::CheckoutSession(session) = &event.data.object else {
        panic!("expected a CheckoutSession, got {:?}", event.data.object)
    };
    assert_eq!(session.amount_total, Some(14900));
    assert_eq!(
        session.currency.map(|c| c.iso_code()).as_deref(),
        Some("USD")
    );
    let details = session.customer_details.as_ref().unwrap();
    assert_eq!(details.email.as_deref(), Some("tony@starkindustries.com"));
    assert_eq!(details.name.as_deref(), Some("Tony Stark"));
    assert_eq!(
        session.payment_intent.as_ref().unwrap().id(),
        "pi_3Mv29vLkdIwHu7ix1e8oAbcd"
    );
    assert_eq!(session.payment_status.as_deref(), Some("paid"));
    assert_eq!(session.mode.as_deref(), Some("payment"));
    assert_eq!(session.status.as_deref(), Some("complete"));
    assert_eq!(session.customer_email, None);
}

#[test]
fn customer_created() {
    let event = delivered("customer_created.json");
    let EventObject::Customer(customer) = &event.data.object else {
        panic!("expected a Customer, got {:?}", event.data.object)
    };
    assert_eq!(customer.id, "cus_NffrFeUfNV2Hib");
    assert_eq!(customer.email.as_deref(), Some("tony@starkindustries.com"));
    assert_eq!(customer.phone.as_deref(), Some("+1-555-0100"));
    assert_eq!(
        customer.address.as_ref().unwrap().postal_code.as_deref(),
        Some("90265")
    );
    assert_eq!(customer.created, Some(1680893993));
}

#[test]
fn unknown_event_type_parses_as_unknown() {
    // Invoices are typed now (see payment_fixtures.rs); a payout is not.
    let invoice = delivered("invoice_paid.json");
    assert!(matches!(invoice.data.object, EventObject::Invoice(_)));
    assert_eq!(
        invoice.data.object.id(),
        Some("in_1Mv2AbLkdIwHu7ixyWbVkT5c")
    );
    let event = delivered("payout_paid.json");
    assert_eq!(event.type_, "payout.paid");
    let EventObject::Unknown(value) = &event.data.object else {
        panic!("expected Unknown, got {:?}", event.data.object)
    };
    assert_eq!(value["amount"], 1100);
    assert_eq!(event.data.object.id(), Some("po_1QxPayoutLkdIwHu7ix0Abc01"));
}

#[test]
fn thin_event_notification_is_recognised() {
    let payload = fixture("thin_event.json");
    let header = sign(&payload, SECRET, 1_726_554_052);
    let verifier = Verifier::new(SECRET).unwrap();
    assert_eq!(verifier.verify_at(&payload, &header, 1_726_554_052), Ok(()));
    assert_eq!(
        verifier.construct_event_at(&payload, &header, 1_726_554_052),
        Err(WebhookError::ThinEvent)
    );
    assert_eq!(parse_event(&payload), Err(WebhookError::ThinEvent));
}

#[test]
fn parse_event_agrees_with_serde_and_round_trips() {
    for name in [
        "seed_charge_succeeded.json",
        "charge_succeeded.json",
        "charge_succeeded_expanded_customer.json",
        "payment_intent_succeeded.json",
        "checkout_session_completed.json",
        "customer_created.json",
        "invoice_paid.json",
    ] {
        let payload = fixture(name);
        let parsed = parse_event(&payload).unwrap();
        let via_serde: Event = serde_json::from_slice(&payload).unwrap();
        assert_eq!(parsed, via_serde, "{name}");
        let again: Event = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(again, parsed, "{name}");
    }
}
