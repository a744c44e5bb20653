//! Invoice lines in both API shapes and Checkout line items parse into typed lines with the
//! fields line items are made of; an unreadable `lines` list never costs the invoice.

mod common;

use common::delivered;
use stripe_events::{CheckoutLineItem, EventObject, Invoice, List};

fn invoice(name: &str) -> Invoice {
    match delivered(name).data.object {
        EventObject::Invoice(invoice) => *invoice,
        other => panic!("expected an invoice, got {other:?}"),
    }
}

/// (id, price, product, quantity, amount, unit amount, interval) of each line.
type Summary<'a> = (
    &'a str,
    Option<&'a str>,
    Option<&'a str>,
    Option<i64>,
    i64,
    Option<i64>,
);

fn summary(invoice: &Invoice) -> Vec<Summary<'_>> {
    invoice
        .line_list()
        .iter()
        .map(|l| {
            (
                l.id.as_str(),
                l.price_id(),
                l.product_id(),
                l.quantity,
                l.amount,
                l.unit_amount(),
            )
        })
        .collect()
}

const THREE_LINES: [Summary<'static>; 3] = [
    (
        "il_1RbAtpLkdIwHu7ixSeatsPro",
        Some("price_1RbAtpLkdIwHu7ixProMonth"),
        Some("prod_RbAtPro"),
        Some(3),
        3000,
        Some(1000),
    ),
    (
        "il_1RbAtpLkdIwHu7ixOnboarding",
        Some("price_1RbAtpLkdIwHu7ixOnboard"),
        Some("prod_RbAtOnboarding"),
        Some(1),
        15000,
        Some(15000),
    ),
    (
        "il_1RbAtpLkdIwHu7ixTraining",
        Some("price_1RbAtpLkdIwHu7ixTraining"),
        Some("prod_RbAtTraining"),
        Some(2),
        10000,
        Some(5000),
    ),
];

#[test]
fn invoice_lines_before_basil_carry_the_full_price() {
    let invoice = invoice("invoice_paid_three_lines_2024_06_20.json");
    assert_eq!(summary(&invoice), THREE_LINES);
    let seats = &invoice.line_list()[0];
    let recurring = seats.price().and_then(|p| p.recurring.as_ref()).unwrap();
    assert_eq!(recurring.interval.as_deref(), Some("month"));
    assert_eq!(recurring.interval_count, Some(1));
    assert_eq!(seats.currency.map(|c| c.iso_code()).as_deref(), Some("EUR"));
    assert_eq!(
        seats.description.as_deref(),
        Some("3 × Pro (at €10.00 / month)")
    );
    let onboarding = &invoice.line_list()[1];
    assert!(onboarding.price().unwrap().recurring.is_none());
    assert!(!invoice.lines.as_ref().unwrap().has_more);
}

#[test]
fn invoice_lines_from_basil_name_price_and_product_in_pricing() {
    let invoice = invoice("invoice_paid_three_lines_2025_03_31_basil.json");
    assert_eq!(summary(&invoice), THREE_LINES);
    // The price is an id there: no recurring interval unless it is expanded.
    assert!(invoice.line_list()[0].price().is_none());
    assert_eq!(invoice.amount_paid, 28000);
}

#[test]
fn an_expanded_basil_price_gives_its_recurring_interval_and_product() {
    let line: stripe_events::InvoiceLineItem = serde_json::from_value(serde_json::json!({
        "id": "il_1", "object": "line_item", "amount": 1000, "currency": "usd",
        "pricing": {"type": "price_details", "unit_amount_decimal": "1000",
                    "price_details": {"product": "prod_1", "price": {
                        "id": "price_1", "object": "price", "unit_amount": 1000,
                        "recurring": {"interval": "year", "interval_count": 1},
                        "product": {"id": "prod_1", "object": "product", "name": "Pro"}}}},
        "quantity": 1
    }))
    .unwrap();
    assert_eq!(line.price_id(), Some("price_1"));
    assert_eq!(line.product_id(), Some("prod_1"));
    assert_eq!(line.product().and_then(|p| p.name.as_deref()), Some("Pro"));
    let recurring = line.price().unwrap().recurring.as_ref().unwrap();
    assert_eq!(recurring.interval.as_deref(), Some("year"));
}

#[test]
fn a_fractional_unit_amount_is_not_a_whole_unit_amount() {
    let line: stripe_events::InvoiceLineItem = serde_json::from_value(serde_json::json!({
        "id": "il_1", "amount": 5, "quantity": 10,
        "pricing": {"type": "price_details", "unit_amount_decimal": "0.5",
                    "price_details": {"price": "price_1", "product": "prod_1"}}
    }))
    .unwrap();
    assert_eq!(line.unit_amount(), None);
}

#[test]
fn unreadable_lines_leave_the_invoice_without_lines_not_unknown() {
    let mut value: serde_json::Value = serde_json::from_str(
        &String::from_utf8(common::fixture("invoice_paid_three_lines_2024_06_20.json")).unwrap(),
    )
    .unwrap();
    value["data"]["object"]["lines"]["data"][1]["quantity"] = serde_json::json!("many");
    let event: stripe_events::Event = serde_json::from_value(value).unwrap();
    let EventObject::Invoice(invoice) = &event.data.object else {
        panic!("the invoice must still parse");
    };
    assert!(invoice.lines.is_none());
    assert!(invoice.line_list().is_empty());
    assert_eq!(invoice.amount_paid, 28000);
}

#[test]
fn checkout_line_items_parse_with_the_product_expanded_or_not() {
    let text = common::fixture("checkout_session_line_items.json");
    let list: List<CheckoutLineItem> = serde_json::from_slice(&text).unwrap();
    let [seats, onboarding] = list.data.as_slice() else {
        panic!("two items: {:?}", list.data);
    };
    assert_eq!(seats.id, "li_1RbAtpLkdIwHu7ixSeats");
    assert_eq!((seats.quantity, seats.amount_subtotal), (Some(3), 3000));
    assert_eq!(seats.product_id(), Some("prod_RbAtPro"));
    assert_eq!(seats.product().and_then(|p| p.name.as_deref()), Some("Pro"));
    assert_eq!(onboarding.product_id(), Some("prod_RbAtOnboarding"));
    assert!(onboarding.product().is_none());
    assert_eq!(
        (onboarding.amount_subtotal, onboarding.amount_total),
        (15000, 13500)
    );
}

#[test]
fn a_customer_may_carry_its_business_name() {
    let customer: stripe_events::Customer = serde_json::from_value(serde_json::json!({
        "id": "cus_1", "object": "customer", "name": "Acme GmbH",
        "business_name": "Acme GmbH", "individual_name": null
    }))
    .unwrap();
    assert_eq!(customer.business_name.as_deref(), Some("Acme GmbH"));
    assert_eq!(customer.individual_name, None);
}
