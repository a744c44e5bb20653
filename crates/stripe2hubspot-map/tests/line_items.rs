//! Line items: read from invoice events in both API shapes and from Checkout line items,
//! merged into the payment's row (the newest list wins as a whole; refunds and disputes change
//! none), fingerprinted, and mapped to HubSpot line items and products.

use stripe2hubspot_map::{
    facts_from_event, line_item_properties, line_items_fingerprint, product_properties, Facts,
    FactsOutcome, LedgerRow, LineItemFacts, MappingConfig, PaymentIds, Recurring, Stamp,
    LINE_ITEM_KEY_PROPERTY, PRODUCT_KEY_PROPERTY,
};
use stripe_events::{CheckoutLineItem, Currency, Event, List};

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../stripe-events/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn event(name: &str) -> Event {
    serde_json::from_slice(&fixture(name)).unwrap()
}

fn facts_of(event: &Event) -> Facts {
    match facts_from_event(event, &MappingConfig::default()).unwrap() {
        FactsOutcome::Facts(facts) => *facts,
        FactsOutcome::Skip(reason) => panic!("skipped: {reason}"),
    }
}

fn facts(name: &str) -> Facts {
    facts_of(&event(name))
}

const OLD: &str = "invoice_paid_three_lines_2024_06_20.json";
const BASIL: &str = "invoice_paid_three_lines_2025_03_31_basil.json";

fn eur() -> Currency {
    Currency::new("eur").unwrap()
}

fn monthly() -> Option<Recurring> {
    Some(Recurring {
        interval: "month".into(),
        interval_count: 1,
    })
}

#[test]
fn an_invoice_with_three_lines_gives_three_line_items() {
    let items = facts(OLD).line_items;
    let summary: Vec<_> = items
        .iter()
        .map(|i| {
            (
                i.id.as_str(),
                i.name.as_str(),
                i.quantity,
                i.unit_amount,
                i.amount,
                i.product_id.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "il_1RbAtpLkdIwHu7ixSeatsPro",
                "3 × Pro (at €10.00 / month)",
                Some(3),
                Some(1000),
                3000,
                Some("prod_RbAtPro")
            ),
            (
                "il_1RbAtpLkdIwHu7ixOnboarding",
                "Onboarding",
                Some(1),
                Some(15000),
                15000,
                Some("prod_RbAtOnboarding")
            ),
            (
                "il_1RbAtpLkdIwHu7ixTraining",
                "Training hours",
                Some(2),
                Some(5000),
                10000,
                Some("prod_RbAtTraining")
            ),
        ]
    );
    assert!(items.iter().all(|i| i.currency == eur()));
    assert_eq!(items[0].recurring, monthly());
    assert_eq!(items[1].recurring, None);
    assert_eq!(
        items[0].price_id.as_deref(),
        Some("price_1RbAtpLkdIwHu7ixProMonth")
    );
}

#[test]
fn basil_lines_give_the_same_items_without_the_interval_of_an_unexpanded_price() {
    let old = facts(OLD).line_items;
    let new = facts(BASIL).line_items;
    assert_eq!(new.len(), 3);
    for (old, new) in old.iter().zip(&new) {
        let mut old = old.clone();
        old.recurring = None;
        assert_eq!(&old, new);
    }
}

#[test]
fn only_invoices_carry_lines_and_credits_are_left_out() {
    assert!(facts("charge_succeeded.json").line_items.is_empty());
    assert!(facts("checkout_session_completed.json")
        .line_items
        .is_empty());
    let mut value: serde_json::Value = serde_json::from_slice(&fixture(OLD)).unwrap();
    value["data"]["object"]["lines"]["data"][2]["amount"] = serde_json::json!(-500);
    let event: Event = serde_json::from_value(value).unwrap();
    let ids: Vec<String> = facts_of(&event)
        .line_items
        .into_iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(
        ids,
        [
            "il_1RbAtpLkdIwHu7ixSeatsPro",
            "il_1RbAtpLkdIwHu7ixOnboarding"
        ]
    );
}

/// A refund of the invoice's payment, told later: no lines.
fn refund(of: &Facts, created: i64) -> Facts {
    let mut facts = Facts::new(Stamp {
        created,
        event_id: format!("evt_refund_{created}"),
    });
    facts.ids = PaymentIds {
        payment_intent: of.ids.payment_intent.clone(),
        charge: of.ids.charge.clone(),
        ..PaymentIds::default()
    };
    facts.currency = of.currency;
    facts.refunded = Some(1000);
    facts
}

#[test]
fn a_refund_changes_the_deal_never_the_line_items_in_any_order() {
    let invoice = facts(OLD);
    let refund = refund(&invoice, invoice.stamp.created + 100);
    let mut forward = LedgerRow::from_facts(&invoice);
    forward.apply(&refund);
    let mut backward = LedgerRow::from_facts(&refund);
    backward.apply(&invoice);
    assert_eq!(forward, backward);
    assert_eq!(forward.line_items(), invoice.line_items.as_slice());
    assert_eq!(forward.refunded(), 1000);
    assert_eq!(
        forward.line_items_fingerprint(),
        Some(line_items_fingerprint(&invoice.line_items))
    );
}

#[test]
fn the_newest_list_of_lines_wins_as_a_whole_and_a_redelivery_changes_nothing() {
    let older = facts(OLD);
    let mut newer = older.clone();
    newer.stamp = Stamp {
        created: older.stamp.created + 60,
        event_id: "evt_later".into(),
    };
    newer.line_items.truncate(1);
    newer.line_items[0].quantity = Some(4);
    for order in [[&older, &newer], [&newer, &older]] {
        let mut row = LedgerRow::default();
        for facts in order {
            row.apply(facts);
        }
        assert_eq!(row.line_items(), newer.line_items.as_slice());
    }
    let once = LedgerRow::from_facts(&older);
    let mut twice = once.clone();
    twice.apply(&older);
    assert_eq!(once, twice);
    assert_eq!(
        once.line_items_fingerprint(),
        twice.line_items_fingerprint()
    );
}

#[test]
fn rows_stored_before_line_items_read_back_without_them() {
    let row = LedgerRow::from_facts(&facts("charge_succeeded.json"));
    let json = serde_json::to_value(&row).unwrap();
    assert!(json.get("line_items").is_none(), "no new field in old rows");
    let back: LedgerRow = serde_json::from_value(json).unwrap();
    assert_eq!(back, row);
    let with_lines = LedgerRow::from_facts(&facts(OLD));
    let json = serde_json::to_string(&with_lines).unwrap();
    let back: LedgerRow = serde_json::from_str(&json).unwrap();
    assert_eq!(back.line_items().len(), 3);
}

#[test]
fn fingerprints_tell_checkout_rows_apart_and_plain_charges_have_none() {
    assert_eq!(
        LedgerRow::from_facts(&facts("charge_succeeded.json")).line_items_fingerprint(),
        None
    );
    let checkout = LedgerRow::from_facts(&facts("checkout_session_completed.json"));
    let fingerprint = checkout.line_items_fingerprint().expect("a session row");
    assert_eq!(fingerprint.len(), 64);
    assert_ne!(fingerprint, line_items_fingerprint(&[]));
    let invoice = LedgerRow::from_facts(&facts(OLD)).line_items_fingerprint();
    let basil = LedgerRow::from_facts(&facts(BASIL)).line_items_fingerprint();
    assert_ne!(invoice, basil, "the recurring interval differs");
}

#[test]
fn line_item_properties_follow_hubspot_formats() {
    let items = facts(OLD).line_items;
    let seats = line_item_properties(&items[0], Some("9001"));
    let pairs: Vec<(&str, &str)> = seats.iter().map(|(k, v)| (k, v.value.as_str())).collect();
    assert_eq!(
        pairs,
        [
            ("amount", "30.00"),
            ("hs_line_item_currency_code", "EUR"),
            ("hs_product_id", "9001"),
            ("hs_recurring_billing_period", "P1M"),
            ("name", "3 × Pro (at €10.00 / month)"),
            ("price", "10.00"),
            ("quantity", "3"),
            ("recurringbillingfrequency", "monthly"),
            (LINE_ITEM_KEY_PROPERTY, "il_1RbAtpLkdIwHu7ixSeatsPro"),
        ]
    );
    let onboarding = line_item_properties(&items[1], None);
    assert_eq!(onboarding.get("hs_product_id"), None);
    assert_eq!(onboarding.get("recurringbillingfrequency"), None);
    assert_eq!(onboarding.get("hs_recurring_billing_period"), None);
    assert_eq!(onboarding.get("price"), Some("150.00"));
}

#[test]
fn zero_decimal_and_three_decimal_currencies_keep_their_exponent() {
    let mut item = facts(OLD).line_items[2].clone();
    item.currency = Currency::new("jpy").unwrap();
    let jpy = line_item_properties(&item, None);
    assert_eq!(
        (jpy.get("price"), jpy.get("amount")),
        (Some("5000"), Some("10000"))
    );
    item.currency = Currency::new("kwd").unwrap();
    let kwd = line_item_properties(&item, None);
    assert_eq!(
        (kwd.get("price"), kwd.get("amount")),
        (Some("5.000"), Some("10.000"))
    );
}

#[test]
fn products_are_keyed_by_the_stripe_product_and_named_by_it_when_known() {
    let items = facts(OLD).line_items;
    let (id, product) = product_properties(&items[0]).unwrap();
    assert_eq!(id, "prod_RbAtPro");
    assert_eq!(product.get(PRODUCT_KEY_PROPERTY), Some("prod_RbAtPro"));
    assert_eq!(product.get("price"), Some("10.00"));
    assert_eq!(product.get("recurringbillingfrequency"), Some("monthly"));
    let mut no_product = items[1].clone();
    no_product.product_id = None;
    assert!(product_properties(&no_product).is_none());
}

#[test]
fn checkout_line_items_become_line_items_with_the_product_name() {
    let list: List<CheckoutLineItem> =
        serde_json::from_slice(&fixture("checkout_session_line_items.json")).unwrap();
    let items: Vec<LineItemFacts> = list
        .data
        .iter()
        .filter_map(LineItemFacts::from_checkout)
        .collect();
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].id, "li_1RbAtpLkdIwHu7ixSeats");
    assert_eq!(items[0].name, "Pro");
    assert_eq!(items[0].product_name.as_deref(), Some("Pro"));
    assert_eq!(items[0].recurring, monthly());
    assert_eq!((items[0].quantity, items[0].amount), (Some(3), 3000));
    // The subtotal, before the discount: what was sold, at its price.
    assert_eq!(items[1].amount, 15000);
    let (_, product) = product_properties(&items[0]).unwrap();
    assert_eq!(product.get("name"), Some("Pro"));
}

#[test]
fn line_items_are_off_by_default_and_their_specs_follow_the_switch() {
    let off = MappingConfig::default();
    assert!(!off.line_items);
    assert!(off.line_item_custom_properties().is_empty());
    assert!(off.product_custom_properties().is_empty());
    let on = MappingConfig::from_json(r#"{"line_items": true}"#).unwrap();
    assert!(on.line_items);
    let lines = on.line_item_custom_properties();
    let products = on.product_custom_properties();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].name, LINE_ITEM_KEY_PROPERTY);
    assert!(lines[0].has_unique_value);
    assert_eq!(lines[0].group_name, "lineiteminformation");
    assert_eq!(products[0].name, PRODUCT_KEY_PROPERTY);
    assert!(products[0].has_unique_value);
    assert_eq!(products[0].group_name, "productinformation");
}

#[test]
fn debug_output_shows_how_many_lines_not_what_they_say() {
    let facts = facts(OLD);
    let row = LedgerRow::from_facts(&facts);
    for text in [format!("{facts:?}"), format!("{row:?}")] {
        assert!(text.contains("line_items: 3"), "{text}");
        assert!(!text.contains("Onboarding"), "{text}");
    }
}

#[test]
fn an_invoice_with_more_lines_than_the_event_carried_says_so() {
    assert!(!facts(OLD).line_items_cut_short);
    assert!(!LedgerRow::from_facts(&facts(OLD)).line_items_cut_short());
    let mut value: serde_json::Value = serde_json::from_slice(&fixture(OLD)).unwrap();
    value["data"]["object"]["lines"]["has_more"] = serde_json::json!(true);
    let cut = facts_of(&serde_json::from_value(value).unwrap());
    assert!(cut.line_items_cut_short);
    let mut row = LedgerRow::from_facts(&cut);
    assert!(row.line_items_cut_short());
    assert_eq!(row.line_items().len(), 3);
    // A refund keeps the flag; a newer complete list clears it.
    row.apply(&refund(&cut, cut.stamp.created + 10));
    assert!(row.line_items_cut_short());
    let mut complete = facts(OLD);
    complete.stamp.created += 20;
    row.apply(&complete);
    assert!(!row.line_items_cut_short());
}

#[test]
fn a_line_items_debug_hides_its_free_text() {
    let mut item = facts(OLD).line_items[2].clone();
    item.product_name = Some("Training for Ann Lee".into());
    let text = format!("{item:?}");
    assert!(text.contains("il_1RbAtpLkdIwHu7ixTraining"), "{text}");
    assert!(!text.contains("Training hours"), "{text}");
    assert!(!text.contains("Ann Lee"), "{text}");
}

#[test]
fn a_list_cut_short_of_credits_only_still_asks_for_the_whole_list() {
    let mut value: serde_json::Value = serde_json::from_slice(&fixture(OLD)).unwrap();
    let lines = &mut value["data"]["object"]["lines"];
    lines["has_more"] = serde_json::json!(true);
    for line in lines["data"].as_array_mut().unwrap() {
        line["amount"] = serde_json::json!(-100);
    }
    let facts = facts_of(&serde_json::from_value(value).unwrap());
    assert!(facts.line_items.is_empty());
    let row = LedgerRow::from_facts(&facts);
    assert!(row.line_items_cut_short());
    assert!(row.line_items_fingerprint().is_some());
}
