//! The payment-lifecycle fixtures (capture, refunds, disputes, Checkout, invoices in both API
//! shapes) verify and parse into typed objects with the fields the payment ledger reads.
//!
//! Shapes follow Stripe's OpenAPI fixtures (github.com/stripe/openapi `openapi/fixtures3.json`:
//! the current file for dispute, invoice with `parent` and `payments`, invoice_payment; the
//! 2025-02-14 revision for the invoice with top-level `payment_intent`, `charge` and
//! `subscription`) and the charge fixture already in this directory.

use stripe_events::{
    parse_event, DisputeStatus, Event, EventObject, InvoiceStatus, PaymentIntentStatus,
};

mod common;

use common::{delivered, fixture};

macro_rules! object {
    ($event:expr, $variant:ident) => {
        match &$event.data.object {
            EventObject::$variant(object) => object,
            other => panic!("expected {}, got {other:?}", stringify!($variant)),
        }
    };
}

#[test]
fn authorised_charge_is_not_captured_until_charge_captured() {
    let auth = delivered("charge_succeeded_uncaptured.json");
    assert_eq!(auth.type_, "charge.succeeded");
    let charge = object!(auth, Charge);
    assert!(!charge.captured);
    assert_eq!((charge.amount, charge.amount_captured), (14900, 0));
    assert_eq!(
        charge.payment_intent.as_ref().map(|p| p.id()),
        Some("pi_3QxMcpLkdIwHu7ix0zKqWc8Z")
    );

    let captured = delivered("charge_captured.json");
    assert_eq!(captured.type_, "charge.captured");
    let charge = object!(captured, Charge);
    assert!(charge.captured);
    assert_eq!(charge.amount_captured, 14900);
    assert_eq!(
        captured.data.previous_attributes.as_ref().unwrap()["captured"],
        false
    );
}

#[test]
fn payment_intent_with_latest_charge_as_an_id() {
    let event = delivered("payment_intent_succeeded_latest_charge_id.json");
    let intent = object!(event, PaymentIntent);
    assert_eq!(intent.status, PaymentIntentStatus::Succeeded);
    assert_eq!(intent.amount_received, 14900);
    let latest = intent.latest_charge.as_ref().unwrap();
    assert_eq!(latest.id(), "ch_3QxMcpLkdIwHu7ix0h2QmAuT");
    assert!(latest.as_object().is_none());
    assert_eq!(intent.receipt_email, None);
    assert!(intent.customer.is_none());
}

#[test]
fn partial_and_full_refunds() {
    let partial = delivered("charge_refunded_partial.json");
    let charge = object!(partial, Charge);
    assert_eq!(partial.type_, "charge.refunded");
    assert_eq!(
        (charge.amount_captured, charge.amount_refunded),
        (14900, 4900)
    );
    assert!(!charge.refunded);

    let full = delivered("charge_refunded_full.json");
    let charge = object!(full, Charge);
    assert_eq!(charge.amount_refunded, 14900);
    assert!(charge.refunded);
    assert!(!charge.disputed);
}

#[test]
fn disputes_created_and_closed() {
    for (name, status, closed) in [
        (
            "charge_dispute_created.json",
            DisputeStatus::NeedsResponse,
            false,
        ),
        ("charge_dispute_closed_won.json", DisputeStatus::Won, true),
        ("charge_dispute_closed_lost.json", DisputeStatus::Lost, true),
    ] {
        let event = delivered(name);
        let dispute = object!(event, Dispute);
        assert_eq!(dispute.status, status, "{name}");
        assert_eq!(dispute.status.is_closed(), closed, "{name}");
        assert_eq!(dispute.charge.id(), "ch_3RjPyLkdIwHu7ix0Yen5000a");
        assert_eq!(
            dispute.payment_intent.as_ref().map(|p| p.id()),
            Some("pi_3RjPyLkdIwHu7ix0Yen5000b")
        );
        assert_eq!(dispute.money().to_string(), "5000 JPY");
    }
}

#[test]
fn every_dispute_status_of_the_reference_parses() {
    for (text, status) in [
        (
            "warning_needs_response",
            DisputeStatus::WarningNeedsResponse,
        ),
        ("warning_under_review", DisputeStatus::WarningUnderReview),
        ("warning_closed", DisputeStatus::WarningClosed),
        ("needs_response", DisputeStatus::NeedsResponse),
        ("under_review", DisputeStatus::UnderReview),
        ("won", DisputeStatus::Won),
        ("lost", DisputeStatus::Lost),
        ("prevented", DisputeStatus::Prevented),
        ("charge_refunded", DisputeStatus::Other),
    ] {
        let parsed: DisputeStatus = serde_json::from_value(text.into()).unwrap();
        assert_eq!(parsed, status, "{text}");
        if parsed != DisputeStatus::Other {
            assert_eq!(parsed.as_str(), text);
        }
    }
}

#[test]
fn jpy_charge_keeps_its_zero_exponent() {
    let event = delivered("charge_succeeded_jpy.json");
    let charge = object!(event, Charge);
    assert_eq!(charge.money().to_decimal_string(), "5000");
    assert_eq!(charge.currency.iso_code(), "JPY");
}

#[test]
fn checkout_completed_unpaid_then_async_payment_succeeded() {
    let unpaid = delivered("checkout_session_completed_unpaid.json");
    let session = object!(unpaid, CheckoutSession);
    assert_eq!(session.payment_status.as_deref(), Some("unpaid"));
    assert_eq!(session.status.as_deref(), Some("complete"));
    let paid = delivered("checkout_session_async_payment_succeeded.json");
    assert_eq!(paid.type_, "checkout.session.async_payment_succeeded");
    let later = object!(paid, CheckoutSession);
    assert_eq!(later.payment_status.as_deref(), Some("paid"));
    assert_eq!(later.id, session.id);
    assert_eq!(later.payment_intent, session.payment_intent);
    let details = later.customer_details.as_ref().unwrap();
    assert_eq!(details.email.as_deref(), Some("natasha@shield.example"));
    assert_eq!(details.name.as_deref(), Some("Natasha Romanoff"));
    assert_eq!(later.amount_total, Some(25000));
    assert_eq!(later.mode.as_deref(), Some("payment"));
    assert!(later.invoice.is_none());
}

#[test]
fn invoice_paid_before_2025_names_its_payment_intent_at_the_top() {
    let event = delivered("invoice_paid_2024_06_20.json");
    let invoice = object!(event, Invoice);
    assert_eq!(invoice.status, Some(InvoiceStatus::Paid));
    assert_eq!(
        invoice.payment_intent_id(),
        Some("pi_3QrEnwLkdIwHu7ix0Renew2024")
    );
    assert_eq!(invoice.charge_id(), Some("ch_3QrEnwLkdIwHu7ix0Renew2024"));
    assert_eq!(
        invoice.subscription_id(),
        Some("sub_1MowQVLkdIwHu7ixeRlqHVzs")
    );
    assert_eq!(
        invoice.customer_email.as_deref(),
        Some("tony@starkindustries.com")
    );
    assert_eq!(invoice.customer_name.as_deref(), Some("Tony Stark"));
    assert_eq!(invoice.amount_paid_money().to_string(), "20.00 EUR");
    assert!(invoice.payments.is_none());
}

#[test]
fn invoice_paid_from_2025_lists_its_payment_intent_in_payments() {
    let event = delivered("invoice_paid_2025_03_31_basil.json");
    assert_eq!(event.api_version.as_deref(), Some("2025-03-31.basil"));
    let invoice = object!(event, Invoice);
    assert!(invoice.payment_intent.is_none() && invoice.subscription.is_none());
    assert_eq!(
        invoice.payment_intent_id(),
        Some("pi_3RbAslLkdIwHu7ix0Renew2025")
    );
    assert_eq!(invoice.charge_id(), None);
    assert_eq!(
        invoice.subscription_id(),
        Some("sub_1MowQVLkdIwHu7ixeRlqHVzs")
    );
    assert_eq!(
        invoice.status_transitions.as_ref().and_then(|t| t.paid_at),
        Some(1748739601)
    );
}

#[test]
fn invoice_payment_links_invoice_and_payment_intent() {
    let event = delivered("invoice_payment_paid.json");
    let payment = object!(event, InvoicePayment);
    assert_eq!(
        payment.invoice.as_ref().map(|i| i.id()),
        Some("in_1RbAslLkdIwHu7ixRenew2025")
    );
    assert_eq!(
        payment.payment.payment_intent.as_ref().map(|p| p.id()),
        Some("pi_3RbAslLkdIwHu7ix0Renew2025")
    );
    assert_eq!(payment.amount_paid, Some(2000));
}

#[test]
fn payment_fixtures_round_trip_through_serde() {
    for name in [
        "charge_succeeded_uncaptured.json",
        "charge_captured.json",
        "payment_intent_succeeded_latest_charge_id.json",
        "charge_refunded_partial.json",
        "charge_refunded_full.json",
        "charge_succeeded_jpy.json",
        "charge_dispute_created.json",
        "charge_dispute_closed_won.json",
        "charge_dispute_closed_lost.json",
        "checkout_session_completed_unpaid.json",
        "checkout_session_async_payment_succeeded.json",
        "invoice_paid_2024_06_20.json",
        "invoice_paid_2025_03_31_basil.json",
        "invoice_payment_paid.json",
    ] {
        let payload = fixture(name);
        let parsed = parse_event(&payload).unwrap();
        assert!(
            !matches!(parsed.data.object, EventObject::Unknown(_)),
            "{name} did not type"
        );
        let again: Event = serde_json::from_value(serde_json::to_value(&parsed).unwrap()).unwrap();
        assert_eq!(again, parsed, "{name}");
    }
}
