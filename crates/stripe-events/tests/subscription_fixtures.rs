//! Subscription and customer events in Stripe's real shapes (current API version and
//! 2024-06-20) parse into typed objects; odd values never fail the parse.

use serde_json::json;
use stripe_events::{EventObject, Expandable, Invoice, Subscription, SubscriptionStatus};

mod common;

use common::delivered;

fn subscription_of(name: &str) -> Subscription {
    let event = delivered(name);
    match event.data.object {
        EventObject::Subscription(s) => *s,
        other => panic!("{name}: expected a subscription, got {other:?}"),
    }
}

#[test]
fn current_version_keeps_the_period_on_items_and_discounts_as_ids() {
    let created = subscription_of("customer_subscription_created.json");
    assert_eq!(created.status, Some(SubscriptionStatus::Active));
    assert_eq!(
        created.customer.as_ref().map(Expandable::id),
        Some("cus_NffrFeUfNV2Hib")
    );
    assert_eq!(created.current_period_end, None);
    assert_eq!(created.period_end(), Some(1764592000));
    let item = &created.item_list()[0];
    let price = item.price.as_ref().unwrap();
    assert_eq!((price.unit_amount, item.quantity), (Some(4900), Some(1)));
    let recurring = price.recurring.as_ref().unwrap();
    assert_eq!(recurring.interval.as_deref(), Some("month"));
    assert_eq!(recurring.interval_count, Some(1));
    assert_eq!(recurring.usage_type.as_deref(), Some("licensed"));
    assert_eq!(
        price.product.as_ref().map(Expandable::id),
        Some("prod_TNkPro000001")
    );
    assert_eq!(price.nickname.as_deref(), Some("Pro monthly"));

    let updated = subscription_of("customer_subscription_updated.json");
    assert!(updated.cancel_at_period_end);
    assert_eq!(updated.cancel_at, Some(1764592000));
    let discounts = updated.all_discounts();
    assert_eq!(discounts.len(), 1);
    assert!(discounts[0].as_object().is_none(), "an id unless expanded");

    let deleted = subscription_of("customer_subscription_deleted.json");
    assert_eq!(deleted.status, Some(SubscriptionStatus::Canceled));
    assert_eq!(deleted.ended_at, Some(1764592000));
}

#[test]
fn version_2024_06_20_keeps_the_period_and_one_embedded_discount_on_the_subscription() {
    let sub = subscription_of("customer_subscription_updated_2024_06_20.json");
    assert_eq!(sub.status, Some(SubscriptionStatus::Trialing));
    assert_eq!(sub.period_end(), Some(1721209600));
    assert_eq!(sub.trial_end, Some(1721209600));
    let discounts = sub.all_discounts();
    assert_eq!(
        discounts.len(),
        1,
        "`discounts` and `discount` name the same one"
    );
    let coupon = discounts[0].as_object().and_then(|d| d.coupon()).unwrap();
    assert_eq!(coupon.percent_off, Some(25.0));
}

#[test]
fn customer_events_carry_the_customer() {
    for (name, email) in [
        ("customer_created.json", "tony@starkindustries.com"),
        ("customer_updated.json", "Tony@Stark.com "),
        ("customer_deleted.json", "tony@starkindustries.com"),
    ] {
        let event = delivered(name);
        let EventObject::Customer(customer) = &event.data.object else {
            panic!("{name}: expected a customer")
        };
        assert_eq!(customer.email.as_deref(), Some(email), "{name}");
        assert_eq!(
            customer.currency.map(|c| c.iso_code()).as_deref(),
            Some("USD")
        );
    }
}

#[test]
fn new_values_and_newer_coupon_shapes_parse() {
    let object = json!({
        "id": "sub_1", "object": "subscription", "status": "brand_new_status",
        "customer": "cus_1", "discounts": [{"id": "di_1", "object": "discount",
            "source": {"type": "coupon", "coupon": {"id": "C", "object": "coupon", "amount_off": 300,
            "currency": "usd", "percent_off": null}}}],
        "items": {"object": "list", "data": [{"id": "si_1", "quantity": null, "price": {
            "id": "price_1", "currency": "kwd", "unit_amount": null, "unit_amount_decimal": "12.5",
            "billing_scheme": "tiered", "recurring": {"interval": "fortnight", "interval_count": 1,
            "usage_type": "metered"}, "product": {"id": "prod_1", "object": "product", "name": "Gold"}}}]},
        "discount": null, "cancel_at_period_end": null
    });
    let EventObject::Subscription(sub) = EventObject::from_value(object) else {
        panic!("expected a subscription")
    };
    assert_eq!(sub.status, Some(SubscriptionStatus::Other));
    let coupon = sub.all_discounts()[0]
        .as_object()
        .and_then(|d| d.coupon())
        .cloned()
        .unwrap();
    assert_eq!(coupon.amount_off, Some(300));
    let price = sub.item_list()[0].price.clone().unwrap();
    let recurring = price.recurring.unwrap();
    assert_eq!(recurring.interval.as_deref(), Some("fortnight"));
    let product = price.product.unwrap();
    assert_eq!(
        product.as_object().and_then(|p| p.name.as_deref()),
        Some("Gold")
    );
}

#[test]
fn an_invoice_still_reads_an_id_only_or_expanded_subscription() {
    for subscription in [
        json!("sub_1"),
        json!({"id": "sub_1", "object": "subscription"}),
    ] {
        let invoice: Invoice = serde_json::from_value(json!({
            "id": "in_1", "object": "invoice", "currency": "usd", "created": 1,
            "subscription": subscription
        }))
        .unwrap();
        assert_eq!(invoice.subscription_id(), Some("sub_1"));
    }
}
