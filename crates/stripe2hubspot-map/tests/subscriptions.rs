//! The customer ledger and its contact properties, row by row of issue 21's table: status
//! ranking, MRR (the README's worked examples, exact), ARR, currency, active count, plan,
//! renewal, trial end, cancellation, churn; bad input; and Stripe-shaped fixtures.

use serde_json::{json, Value};
use stripe2hubspot_map::{
    contact_properties_of, customer_facts_from_event, customer_facts_from_object, facts_from_event,
    mrr, subscription_properties, CustomerFacts, CustomerOutcome, CustomerRow, FactsOutcome,
    LedgerRow, MapError, MappingConfig, SkipReason, Stamp, SubscriptionStatus,
    CUSTOMER_EVENT_TYPES,
};
use stripe_events::{Event, EventObject};

fn fixture(name: &str) -> Event {
    let path = format!(
        "{}/../stripe-events/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_slice(&bytes).unwrap()
}

fn stamp(created: i64, id: &str) -> Stamp {
    Stamp {
        created,
        event_id: id.to_owned(),
    }
}

/// A licensed per-unit item.
fn item(amount: i64, currency: &str, interval: &str, count: i64, quantity: i64) -> Value {
    json!({"id": format!("si_{amount}_{interval}_{count}_{quantity}"), "quantity": quantity,
        "price": {"id": format!("price_{amount}_{interval}"), "currency": currency,
            "unit_amount": amount, "unit_amount_decimal": amount.to_string(),
            "billing_scheme": "per_unit", "product": format!("prod_{amount}"),
            "recurring": {"interval": interval, "interval_count": count, "usage_type": "licensed"}}})
}

fn subscription(id: &str, status: &str, items: Vec<Value>, extra: Value) -> Value {
    let mut sub = json!({"id": id, "object": "subscription", "customer": "cus_1",
        "status": status, "start_date": 1_700_000_000, "created": 1_700_000_000,
        "items": {"object": "list", "data": items}});
    if let (Some(sub), Some(extra)) = (sub.as_object_mut(), extra.as_object()) {
        sub.extend(extra.clone());
    }
    sub
}

fn facts_of(object: Value, created: i64, id: &str) -> CustomerFacts {
    let object = EventObject::from_value(object);
    match customer_facts_from_object(&object, None, stamp(created, id), id).unwrap() {
        CustomerOutcome::Facts(facts) => *facts,
        CustomerOutcome::Skip(reason) => panic!("skipped: {reason}"),
    }
}

fn row_of(objects: &[Value]) -> CustomerRow {
    let mut row = CustomerRow::default();
    for (i, object) in objects.iter().enumerate() {
        row.apply(&facts_of(
            object.clone(),
            1_700_000_000 + i as i64,
            &format!("evt_{i}"),
        ));
    }
    row
}

fn props(row: &CustomerRow) -> stripe2hubspot_map::PropertySet {
    subscription_properties(row, &MappingConfig::default())
}

fn mrr_of(subs: &[Value]) -> String {
    mrr(&row_of(subs)).unwrap().to_string()
}

// --- MRR: the worked examples the README shows -------------------------------------------

#[test]
fn mrr_worked_examples() {
    let none = json!({});
    let sub =
        |items: Vec<Value>, extra: &Value| subscription("sub_1", "active", items, extra.clone());
    // $49/month x1
    assert_eq!(
        mrr_of(&[sub(vec![item(4900, "usd", "month", 1, 1)], &none)]),
        "49.00 USD"
    );
    // $490/year: 490 / 12 = 40.833.. -> 40.83
    assert_eq!(
        mrr_of(&[sub(vec![item(49000, "usd", "year", 1, 1)], &none)]),
        "40.83 USD"
    );
    // 3 seats of $10/week: 3 x 10 x 52 / 12 = 130.00
    assert_eq!(
        mrr_of(&[sub(vec![item(1000, "usd", "week", 1, 3)], &none)]),
        "130.00 USD"
    );
    // $100/month with 25% off
    let quarter_off =
        json!({"discount": {"id": "di_1", "coupon": {"id": "Q", "percent_off": 25.0}}});
    assert_eq!(
        mrr_of(&[sub(vec![item(10000, "usd", "month", 1, 1)], &quarter_off)]),
        "75.00 USD"
    );
    // $100 every 3 months with $30 off per period: (100 - 30) / 3 = 23.333.. -> 23.33
    let thirty_off = json!({"discounts": [{"id": "di_2", "object": "discount",
        "source": {"type": "coupon", "coupon": {"id": "T", "amount_off": 3000, "currency": "usd"}}}]});
    assert_eq!(
        mrr_of(&[sub(vec![item(10000, "usd", "month", 3, 1)], &thirty_off)]),
        "23.33 USD"
    );
    // A trial counts 0.
    let trial = subscription(
        "sub_t",
        "trialing",
        vec![item(4900, "usd", "month", 1, 1)],
        json!({"trial_end": 1_700_600_000}),
    );
    assert_eq!(mrr_of(&[trial]), "0.00 USD");
    // A metered item is left out; the licensed one counts.
    let mut metered = item(5, "usd", "month", 1, 1);
    metered["price"]["recurring"]["usage_type"] = json!("metered");
    metered["id"] = json!("si_metered");
    assert_eq!(
        mrr_of(&[sub(vec![item(2000, "usd", "month", 1, 1), metered], &none)]),
        "20.00 USD"
    );
    // Mixed currencies: the newest live subscription's currency; the other is left out.
    let old_usd = subscription(
        "sub_a",
        "active",
        vec![item(4900, "usd", "month", 1, 1)],
        json!({"start_date": 1_600_000_000}),
    );
    let new_eur = subscription(
        "sub_b",
        "active",
        vec![item(3000, "eur", "month", 1, 1)],
        json!({"start_date": 1_650_000_000}),
    );
    assert_eq!(mrr_of(&[old_usd, new_eur]), "30.00 EUR");
}

/// The README's table, each row with its ARR: MRR and ARR as written to HubSpot.
#[test]
fn readme_examples_give_the_mrr_and_arr_written() {
    let none = json!({});
    let written = |subs: &[Value]| {
        let p = props(&row_of(subs));
        (
            p.get("stripe_mrr").unwrap_or("").to_owned(),
            p.get("stripe_arr").unwrap_or("").to_owned(),
        )
    };
    let one =
        |item: Value, extra: &Value| [subscription("sub_1", "active", vec![item], extra.clone())];
    let pair = |m: &str, a: &str| (m.to_owned(), a.to_owned());
    assert_eq!(
        written(&one(item(4900, "usd", "month", 1, 1), &none)),
        pair("49.00", "588.00")
    );
    assert_eq!(
        written(&one(item(49000, "usd", "year", 1, 1), &none)),
        pair("40.83", "489.96")
    );
    assert_eq!(
        written(&one(item(1000, "usd", "week", 1, 3), &none)),
        pair("130.00", "1560.00")
    );
    // 1.00 a day: 365 / 12 = 30.4166.. -> 30.42
    assert_eq!(
        written(&one(item(100, "usd", "day", 1, 1), &none)),
        pair("30.42", "365.04")
    );
    let quarter_off =
        json!({"discount": {"id": "di_1", "coupon": {"id": "Q", "percent_off": 25.0}}});
    assert_eq!(
        written(&one(item(10000, "usd", "month", 1, 1), &quarter_off)),
        pair("75.00", "900.00")
    );
    let thirty_off = json!({"discounts": [{"id": "di_2", "object": "discount",
        "source": {"type": "coupon", "coupon": {"id": "T", "amount_off": 3000, "currency": "usd"}}}]});
    assert_eq!(
        written(&one(item(10000, "usd", "month", 3, 1), &thirty_off)),
        pair("23.33", "279.96")
    );
    let trial = subscription(
        "sub_t",
        "trialing",
        vec![item(4900, "usd", "month", 1, 1)],
        none.clone(),
    );
    assert_eq!(written(&[trial]), pair("0.00", "0.00"));
    assert_eq!(
        written(&one(item(5000, "jpy", "month", 1, 1), &none)),
        pair("5000", "60000")
    );
}

/// Webhooks name a subscription's product by id only; a backfill (or a re-read) expands it. The
/// plan keeps the product's name once the row learned it, whatever order the two arrive in.
#[test]
fn a_webhook_after_a_backfill_keeps_the_product_name_in_the_plan() {
    let mut expanded = item(4900, "usd", "month", 1, 1);
    expanded["price"]["product"] = json!({"id": "prod_4900", "object": "product", "name": "Gold"});
    expanded["price"]["nickname"] = json!("gold-monthly");
    let mut by_id = expanded.clone();
    by_id["price"]["product"] = json!("prod_4900");
    let backfill = facts_of(
        subscription("sub_1", "active", vec![expanded], json!({})),
        1_700_000_000,
        "evt_backfill",
    );
    let webhook = facts_of(
        subscription("sub_1", "active", vec![by_id.clone()], json!({})),
        1_700_000_100,
        "evt_webhook",
    );
    for order in [[&backfill, &webhook], [&webhook, &backfill]] {
        let mut row = CustomerRow::default();
        for facts in order {
            row.apply(facts);
        }
        assert_eq!(props(&row).get("stripe_plan"), Some("Gold"));
    }
    // Without any expanded snapshot the nickname names it, else the product id.
    let nickname = row_of(&[subscription(
        "sub_1",
        "active",
        vec![by_id.clone()],
        json!({}),
    )]);
    assert_eq!(props(&nickname).get("stripe_plan"), Some("gold-monthly"));
    by_id["price"]["nickname"] = Value::Null;
    let bare = row_of(&[subscription("sub_1", "active", vec![by_id], json!({}))]);
    assert_eq!(props(&bare).get("stripe_plan"), Some("prod_4900"));
}

#[test]
fn mrr_sums_subscriptions_exactly_and_rounds_once() {
    // Three $10/year subscriptions: 3 x 0.8333.. = 2.50 (rounding each first would give 2.49).
    let subs: Vec<Value> = (0..3)
        .map(|i| {
            subscription(
                &format!("sub_{i}"),
                "active",
                vec![item(1000, "usd", "year", 1, 1)],
                json!({}),
            )
        })
        .collect();
    assert_eq!(mrr_of(&subs), "2.50 USD");
    // A day price: 1.00/day = 365 / 12 = 30.416.. -> 30.42; every 2 days: 15.208.. -> 15.21.
    let daily = subscription(
        "sub_d",
        "active",
        vec![item(100, "usd", "day", 1, 1)],
        json!({}),
    );
    assert_eq!(mrr_of(&[daily]), "30.42 USD");
    let two_days = subscription(
        "sub_d",
        "active",
        vec![item(100, "usd", "day", 2, 1)],
        json!({}),
    );
    assert_eq!(mrr_of(&[two_days]), "15.21 USD");
    // Fractions of a minor unit (unit_amount_decimal) stay exact: 0.5 cent x 1000 = 5.00.
    let mut fractional = item(0, "usd", "month", 1, 1000);
    fractional["price"]["unit_amount"] = Value::Null;
    fractional["price"]["unit_amount_decimal"] = json!("0.5");
    assert_eq!(
        mrr_of(&[subscription("sub_f", "active", vec![fractional], json!({}))]),
        "5.00 USD"
    );
    // Discounts never take it below 0.
    let huge_off = json!({"discount": {"id": "di_1", "coupon": {"id": "B", "amount_off": 999_999, "currency": "usd"}}});
    assert_eq!(
        mrr_of(&[subscription(
            "sub_1",
            "active",
            vec![item(1000, "usd", "month", 1, 1)],
            huge_off
        )]),
        "0.00 USD"
    );
}

// --- One test per row of the table ------------------------------------------------------

#[test]
fn status_is_the_most_alive_and_none_without_subscriptions() {
    assert_eq!(
        props(&CustomerRow::default()).get("stripe_subscription_status"),
        Some("none")
    );
    let statuses = [
        "canceled",
        "incomplete_expired",
        "incomplete",
        "paused",
        "unpaid",
        "past_due",
        "trialing",
        "active",
    ];
    for (i, best) in statuses.iter().enumerate() {
        // Every status from the least alive up to `best`: `best` shows.
        let subs: Vec<Value> = statuses[..=i]
            .iter()
            .map(|s| {
                subscription(
                    &format!("sub_{s}"),
                    s,
                    vec![item(100, "usd", "month", 1, 1)],
                    json!({}),
                )
            })
            .collect();
        assert_eq!(
            props(&row_of(&subs)).get("stripe_subscription_status"),
            Some(*best)
        );
    }
    let mut ranked = SubscriptionStatus::ALL.to_vec();
    ranked.sort();
    assert_eq!(
        ranked,
        SubscriptionStatus::ALL,
        "Ord is the ranking, most alive first"
    );
}

#[test]
fn mrr_has_the_currency_exponent() {
    let usd = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(4900, "usd", "month", 1, 1)],
        json!({}),
    )]);
    assert_eq!(props(&usd).get("stripe_mrr"), Some("49.00"));
    let jpy = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(5000, "jpy", "month", 1, 1)],
        json!({}),
    )]);
    assert_eq!(props(&jpy).get("stripe_mrr"), Some("5000"));
    assert_eq!(props(&jpy).get("stripe_mrr_currency"), Some("JPY"));
}

#[test]
fn arr_is_twelve_times_the_mrr_written() {
    let row = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(49000, "usd", "year", 1, 1)],
        json!({}),
    )]);
    let p = props(&row);
    assert_eq!(
        (p.get("stripe_mrr"), p.get("stripe_arr")),
        (Some("40.83"), Some("489.96"))
    );
    let never = props(&CustomerRow::default());
    assert_eq!(
        (never.get("stripe_mrr"), never.get("stripe_arr")),
        (Some(""), Some(""))
    );
}

#[test]
fn mrr_currency_is_upper_case() {
    let row = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(100, "eur", "month", 1, 1)],
        json!({"currency": "eur"}),
    )]);
    assert_eq!(props(&row).get("stripe_mrr_currency"), Some("EUR"));
}

#[test]
fn active_count_counts_active_trialing_and_past_due() {
    let subs: Vec<Value> = [
        "active", "trialing", "past_due", "unpaid", "paused", "canceled",
    ]
    .iter()
    .map(|s| {
        subscription(
            &format!("sub_{s}"),
            s,
            vec![item(100, "usd", "month", 1, 1)],
            json!({}),
        )
    })
    .collect();
    assert_eq!(
        props(&row_of(&subs)).get("stripe_active_subscriptions"),
        Some("3")
    );
}

#[test]
fn plan_lists_live_products_sorted_and_joined() {
    let named = |id: &str, name: &str| {
        let mut it = item(100, "usd", "month", 1, 1);
        it["id"] = json!(format!("si_{id}"));
        it["price"]["product"] =
            json!({"id": format!("prod_{id}"), "object": "product", "name": name});
        it
    };
    let mut nickname_only = item(200, "usd", "month", 1, 1);
    nickname_only["price"]["nickname"] = json!("Add-on seats");
    let row = row_of(&[
        subscription(
            "sub_1",
            "active",
            vec![named("z", "Zeta"), named("a", "Alpha")],
            json!({}),
        ),
        subscription(
            "sub_2",
            "trialing",
            vec![nickname_only, named("a2", "Alpha")],
            json!({}),
        ),
        subscription("sub_3", "canceled", vec![named("old", "Legacy")], json!({})),
        subscription(
            "sub_4",
            "past_due",
            vec![item(300, "usd", "month", 1, 1)],
            json!({}),
        ),
    ]);
    assert_eq!(
        props(&row).get("stripe_plan"),
        Some("Add-on seats; Alpha; Zeta; prod_300")
    );
}

#[test]
fn next_renewal_is_the_earliest_period_end_of_live_subscriptions() {
    let mut on_item = item(100, "usd", "month", 1, 1);
    on_item["current_period_end"] = json!(1_800_000_000);
    let row = row_of(&[
        subscription("sub_new", "active", vec![on_item], json!({})), // 2025-03-31 and later
        subscription(
            "sub_old",
            "past_due",
            vec![item(100, "usd", "month", 1, 1)],
            json!({"current_period_end": 1_750_000_000}),
        ),
        subscription(
            "sub_gone",
            "canceled",
            vec![item(100, "usd", "month", 1, 1)],
            json!({"current_period_end": 1_700_000_500}),
        ),
    ]);
    assert_eq!(
        props(&row).get("stripe_next_renewal_date"),
        Some("2025-06-15T15:06:40Z")
    );
}

#[test]
fn trial_end_is_the_latest_of_trialing_subscriptions() {
    let row = row_of(&[
        subscription(
            "sub_1",
            "trialing",
            vec![],
            json!({"trial_end": 1_750_000_000}),
        ),
        subscription(
            "sub_2",
            "trialing",
            vec![],
            json!({"trial_end": 1_760_000_000}),
        ),
        subscription(
            "sub_3",
            "active",
            vec![],
            json!({"trial_end": 1_790_000_000}),
        ), // trial over
    ]);
    assert_eq!(
        props(&row).get("stripe_trial_end_date"),
        Some("2025-10-09T08:53:20Z")
    );
    let none = row_of(&[subscription(
        "sub_1",
        "active",
        vec![],
        json!({"trial_end": 1_750_000_000}),
    )]);
    assert_eq!(props(&none).get("stripe_trial_end_date"), Some(""));
}

#[test]
fn cancel_at_takes_both_forms() {
    let explicit = row_of(&[subscription(
        "sub_1",
        "active",
        vec![],
        json!({"cancel_at": 1_750_000_000}),
    )]);
    assert_eq!(
        props(&explicit).get("stripe_cancel_at_date"),
        Some("2025-06-15T15:06:40Z")
    );
    let at_period_end = row_of(&[subscription(
        "sub_1",
        "active",
        vec![],
        json!({"cancel_at_period_end": true, "current_period_end": 1_760_000_000}),
    )]);
    assert_eq!(
        props(&at_period_end).get("stripe_cancel_at_date"),
        Some("2025-10-09T08:53:20Z")
    );
    let none = row_of(&[subscription(
        "sub_1",
        "active",
        vec![],
        json!({"current_period_end": 1_760_000_000}),
    )]);
    assert_eq!(props(&none).get("stripe_cancel_at_date"), Some(""));
}

#[test]
fn churn_date_is_set_when_the_last_sub_ends_and_cleared_by_a_new_one() {
    let ended = subscription(
        "sub_1",
        "canceled",
        vec![item(100, "usd", "month", 1, 1)],
        json!({"ended_at": 1_750_000_000, "canceled_at": 1_740_000_000}),
    );
    let live = subscription(
        "sub_1",
        "active",
        vec![item(100, "usd", "month", 1, 1)],
        json!({}),
    );
    let mut row = row_of(&[live, ended]);
    let p = props(&row);
    assert_eq!(p.get("stripe_churn_date"), Some("2025-06-15T15:06:40Z"));
    assert_eq!(p.get("stripe_subscription_status"), Some("canceled"));
    assert_eq!(
        p.get("stripe_mrr"),
        Some("0.00"),
        "a churned customer is worth 0, not unknown"
    );
    let comeback = subscription(
        "sub_2",
        "active",
        vec![item(100, "usd", "month", 1, 1)],
        json!({}),
    );
    row.apply(&facts_of(comeback, 1_760_000_000, "evt_new"));
    assert_eq!(props(&row).get("stripe_churn_date"), Some(""));
    assert_eq!(
        props(&row).get("stripe_subscription_status"),
        Some("active")
    );
}

#[test]
fn the_switch_turns_subscription_properties_off() {
    let row = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(100, "usd", "month", 1, 1)],
        json!({}),
    )]);
    let off = MappingConfig {
        subscriptions: false,
        ..MappingConfig::default()
    };
    assert!(subscription_properties(&row, &off).is_empty());
    let (contact, _) = off.custom_properties();
    assert!(!contact.iter().any(|p| p.name == "stripe_mrr"));
    let (contact, _) = MappingConfig::default().custom_properties();
    let status = contact
        .iter()
        .find(|p| p.name == "stripe_subscription_status")
        .unwrap();
    assert_eq!(status.type_, "enumeration");
    let values: Vec<&str> = status.options.iter().map(|o| o.value.as_str()).collect();
    assert_eq!(
        values,
        [
            "active",
            "trialing",
            "past_due",
            "unpaid",
            "paused",
            "incomplete",
            "incomplete_expired",
            "canceled",
            "none"
        ]
    );
    for date in [
        "stripe_next_renewal_date",
        "stripe_trial_end_date",
        "stripe_cancel_at_date",
        "stripe_churn_date",
    ] {
        assert_eq!(
            contact.iter().find(|p| p.name == date).unwrap().type_,
            "datetime",
            "{date}"
        );
    }
    for number in ["stripe_mrr", "stripe_arr", "stripe_active_subscriptions"] {
        assert_eq!(
            contact.iter().find(|p| p.name == number).unwrap().type_,
            "number",
            "{number}"
        );
    }
}

// --- The row: ranking, ties, deletion, payment contact -------------------------------------

#[test]
fn a_terminal_status_outranks_a_live_one_of_the_same_second_and_ties_are_flagged() {
    let active = facts_of(
        subscription("sub_1", "active", vec![], json!({})),
        100,
        "evt_b",
    );
    let canceled = facts_of(
        subscription("sub_1", "canceled", vec![], json!({"ended_at": 100})),
        100,
        "evt_a",
    );
    for order in [[&active, &canceled], [&canceled, &active]] {
        let mut row = CustomerRow::default();
        order.iter().for_each(|f| row.apply(f));
        assert_eq!(
            row.subscriptions().next().unwrap().status,
            SubscriptionStatus::Canceled
        );
        assert!(row.tied_subscriptions().is_empty(), "terminality decides");
    }
    let past_due = facts_of(
        subscription("sub_1", "past_due", vec![], json!({})),
        100,
        "evt_c",
    );
    let row = CustomerRow::from_facts(&active).merge(&CustomerRow::from_facts(&past_due));
    assert_eq!(row.tied_subscriptions(), ["sub_1"]);
    // A re-read from Stripe, stamped with the read time, settles it.
    let reread = facts_of(
        subscription("sub_1", "past_due", vec![], json!({})),
        200,
        "read:sub_1",
    );
    let mut settled = row.clone();
    settled.apply(&reread);
    assert!(settled.tied_subscriptions().is_empty());
    // The same snapshot redelivered under another id is no tie.
    let again = facts_of(
        subscription("sub_1", "active", vec![], json!({})),
        100,
        "evt_z",
    );
    assert!(CustomerRow::from_facts(&active)
        .merge(&CustomerRow::from_facts(&again))
        .tied_subscriptions()
        .is_empty());
}

fn customer(email: &str, created: i64, id: &str, event_type: &str) -> CustomerFacts {
    let object = EventObject::from_value(json!({"id": "cus_1", "object": "customer",
        "email": email, "name": "Tony Stark", "phone": "+1 555"}));
    match customer_facts_from_object(&object, Some(event_type), stamp(created, id), id).unwrap() {
        CustomerOutcome::Facts(facts) => *facts,
        CustomerOutcome::Skip(reason) => panic!("{reason}"),
    }
}

#[test]
fn deletion_hides_earlier_contact_data_and_the_customer_object_outranks_payments() {
    let created = customer(" Tony@Stark.COM ", 100, "evt_1", "customer.created");
    assert_eq!(
        created
            .contact
            .as_ref()
            .unwrap()
            .email
            .as_ref()
            .unwrap()
            .expose(),
        "tony@stark.com"
    );
    let payment = payment_facts("pepper@stark.com", 150);
    let mut row = CustomerRow::from_facts(&created);
    row.apply_payment(&payment);
    assert_eq!(
        row.email(),
        Some("tony@stark.com"),
        "the customer object wins"
    );
    let mut paid_only = CustomerRow::default();
    paid_only.apply_payment(&payment);
    assert_eq!(
        (paid_only.customer_id(), paid_only.email()),
        (Some("cus_1"), Some("pepper@stark.com"))
    );

    let deleted = customer("tony@stark.com", 200, "evt_2", "customer.deleted");
    assert!(deleted.deleted && deleted.contact.is_none());
    row.apply(&deleted);
    assert!(row.is_deleted());
    assert_eq!((row.email(), row.name(), row.phone()), (None, None, None));
    // An older event delivered late does not bring the person back; a later one carrying them does.
    row.apply(&customer(
        "tony@stark.com",
        150,
        "evt_late",
        "customer.updated",
    ));
    assert_eq!(row.email(), None);
    row.apply(&customer("new@stark.com", 300, "evt_3", "customer.updated"));
    assert_eq!(row.email(), Some("new@stark.com"));
    row.erase_personal();
    assert_eq!(row.email(), None);
    assert!(!serde_json::to_string(&row).unwrap().contains("stark.com"));
}

#[test]
fn same_values_ignores_stamps() {
    let a = CustomerRow::from_facts(&customer(
        "tony@stark.com",
        100,
        "evt_1",
        "customer.updated",
    ));
    let b = CustomerRow::from_facts(&customer(
        "tony@stark.com",
        500,
        "evt_9",
        "customer.updated",
    ));
    assert_ne!(a, b);
    assert!(a.same_values_as(&b));
    let c = CustomerRow::from_facts(&customer(
        "pepper@stark.com",
        500,
        "evt_9",
        "customer.updated",
    ));
    assert!(!a.same_values_as(&c));
}

fn payment_facts(email: &str, created: i64) -> stripe2hubspot_map::Facts {
    let event: Event = serde_json::from_value(json!({
        "id": format!("evt_pay_{created}"), "object": "event", "type": "charge.succeeded", "created": created,
        "data": {"object": {"id": format!("ch_{created}"), "object": "charge", "amount": 4900,
            "amount_captured": 4900, "currency": "usd", "status": "succeeded", "captured": true,
            "created": created, "customer": "cus_1", "billing_details": {"email": email}}}
    }))
    .unwrap();
    match facts_from_event(&event, &MappingConfig::default()).unwrap() {
        FactsOutcome::Facts(facts) => *facts,
        FactsOutcome::Skip(reason) => panic!("{reason}"),
    }
}

#[test]
fn contact_of_a_customer_takes_its_identity_and_subscriptions() {
    let config = MappingConfig::default();
    let mut row = CustomerRow::from_facts(&customer(
        "tony@stark.com",
        100,
        "evt_1",
        "customer.updated",
    ));
    row.apply(&facts_of(
        subscription(
            "sub_1",
            "active",
            vec![item(4900, "usd", "month", 1, 1)],
            json!({}),
        ),
        100,
        "evt_s",
    ));
    // No payment yet: the contact is still written, with empty rollups.
    let contact = contact_properties_of(Some(&row), &[], &config).unwrap();
    assert_eq!(contact.get("email"), Some("tony@stark.com"));
    assert_eq!(contact.get("stripe_customer_id"), Some("cus_1"));
    assert_eq!(contact.get("stripe_payment_count"), Some("0"));
    assert_eq!(contact.get("stripe_lifetime_value"), Some(""));
    assert_eq!(contact.get("stripe_mrr"), Some("49.00"));
    assert!(contact.get("last_charge_id").is_none());
    // A payment under the old email stays on the customer's contact and its identity.
    let paid = LedgerRow::from_facts(&payment_facts("old@stark.com", 150));
    let contact = contact_properties_of(Some(&row), std::slice::from_ref(&paid), &config).unwrap();
    assert_eq!(contact.get("email"), Some("tony@stark.com"));
    assert_eq!(contact.get("firstname"), Some("Tony"));
    assert_eq!(contact.get("stripe_lifetime_value"), Some("49.00"));
    assert_eq!(contact.get("stripe_lifetime_value_currency"), Some("USD"));
    // Without a customer row: exactly the payment contact, no subscription properties.
    let plain = contact_properties_of(None, &[paid], &config).unwrap();
    assert_eq!(plain.get("email"), Some("old@stark.com"));
    assert!(plain.get("stripe_subscription_status").is_none());
    // Nothing to key a contact on: no contact.
    assert!(contact_properties_of(Some(&CustomerRow::default()), &[], &config).is_none());
}

// --- Events and bad input --------------------------------------------------------------

#[test]
fn each_reader_handles_exactly_its_event_types() {
    let config = MappingConfig::default();
    for type_ in CUSTOMER_EVENT_TYPES {
        assert!(config.handles(type_), "{type_} handled by default");
        let event: Event = serde_json::from_value(json!({"id": "evt_1", "object": "event",
            "type": type_, "created": 1, "data": {"object": {"id": "cus_1", "object": "customer"}}}))
        .unwrap();
        assert_eq!(
            facts_from_event(&event, &config).unwrap(),
            FactsOutcome::Skip(SkipReason::UnhandledEventType {
                event_type: type_.to_owned()
            })
        );
    }
    let charge = fixture("charge_succeeded.json");
    assert!(matches!(
        customer_facts_from_event(&charge, &config).unwrap(),
        CustomerOutcome::Skip(SkipReason::UnhandledEventType { .. })
    ));
}

#[test]
fn bad_input_gives_a_clear_outcome_never_a_panic() {
    // Unknown price shapes: tiered, no unit amount, an unknown interval; a zero quantity.
    let mut tiered = item(0, "usd", "month", 1, 1);
    tiered["price"]["billing_scheme"] = json!("tiered");
    tiered["price"]["unit_amount"] = Value::Null;
    tiered["price"]["unit_amount_decimal"] = Value::Null;
    let mut no_amount = item(0, "usd", "month", 1, 1);
    no_amount["id"] = json!("si_none");
    no_amount["price"] = json!({"id": "price_x", "currency": "usd"});
    let mut fortnight = item(500, "usd", "fortnight", 1, 1);
    fortnight["id"] = json!("si_fortnight");
    let zero = item(700, "usd", "month", 1, 0);
    let row = row_of(&[subscription(
        "sub_1",
        "active",
        vec![
            tiered,
            no_amount,
            fortnight,
            zero,
            item(900, "usd", "month", 1, 1),
        ],
        json!({}),
    )]);
    assert_eq!(mrr(&row).unwrap().to_string(), "9.00 USD");
    // Three-decimal currencies keep their exponent: 12.500 KWD a month.
    let kwd = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(12_500, "kwd", "month", 1, 1)],
        json!({}),
    )]);
    assert_eq!(props(&kwd).get("stripe_mrr"), Some("12.500"));
    assert_eq!(props(&kwd).get("stripe_arr"), Some("150.000"));
    let bhd = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(1_000, "bhd", "year", 1, 1)],
        json!({}),
    )]);
    assert_eq!(props(&bhd).get("stripe_mrr"), Some("0.083"));

    // customer.deleted for a customer never seen: facts with deleted = true.
    let deleted =
        customer_facts_from_event(&fixture("customer_deleted.json"), &MappingConfig::default())
            .unwrap();
    let CustomerOutcome::Facts(deleted) = deleted else {
        panic!("expected facts")
    };
    assert!(deleted.deleted);
    assert!(CustomerRow::from_facts(&deleted).is_deleted());

    let read = |object: Value| {
        customer_facts_from_object(
            &EventObject::from_value(object),
            Some("customer.subscription.updated"),
            stamp(1, "evt_bad"),
            "evt_bad",
        )
    };
    // No customer.
    let err =
        read(json!({"id": "sub_1", "object": "subscription", "status": "active"})).unwrap_err();
    assert!(matches!(err, MapError::MissingCustomerId { .. }), "{err}");
    // A status from the future.
    let err = read(json!({"id": "sub_1", "object": "subscription", "status": "hibernating", "customer": "cus_1"})).unwrap_err();
    assert!(
        matches!(err, MapError::UnknownSubscriptionStatus { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("sub_1") && err.to_string().contains("upgrade"));
    // Not Stripe's shape at all.
    let err = read(json!({"id": "sub_1", "object": "subscription", "items": "nope"})).unwrap_err();
    assert!(matches!(err, MapError::UnexpectedObject { .. }), "{err}");
    // A date outside years 0-9999.
    let err = read(json!({"id": "sub_1", "object": "subscription", "status": "active", "customer": "cus_1", "trial_end": i64::MAX})).unwrap_err();
    assert!(matches!(err, MapError::InvalidTimestamp { .. }), "{err}");
    // Absurd amounts are left out rather than overflowing.
    let huge = row_of(&[subscription(
        "sub_1",
        "active",
        vec![item(i64::MAX, "usd", "day", 1, i64::MAX)],
        json!({}),
    )]);
    assert!(mrr(&huge).is_some());
}

// --- Fixtures with Stripe's real shapes ------------------------------------------------

fn event_facts(name: &str) -> CustomerFacts {
    match customer_facts_from_event(&fixture(name), &MappingConfig::default()).unwrap() {
        CustomerOutcome::Facts(facts) => *facts,
        CustomerOutcome::Skip(reason) => panic!("{name} skipped: {reason}"),
    }
}

#[test]
fn fixtures_in_the_current_api_version_give_the_expected_facts() {
    let created = event_facts("customer_subscription_created.json");
    assert_eq!(created.customer_id, "cus_NffrFeUfNV2Hib");
    let sub = created.subscription.as_ref().unwrap();
    assert_eq!(
        (sub.status, sub.current_period_end),
        (SubscriptionStatus::Active, Some(1764592000))
    );
    // The webhook names the product by id only; the price's nickname names the plan.
    assert_eq!(sub.items[0].product_name, None);
    assert_eq!(sub.items[0].price_nickname.as_deref(), Some("Pro monthly"));
    let mut row = CustomerRow::from_facts(&event_facts("customer_created.json"));
    row.apply(&created);
    let p = props(&row);
    assert_eq!(p.get("stripe_mrr"), Some("49.00"));
    assert_eq!(p.get("stripe_plan"), Some("Pro monthly"));
    assert_eq!(
        p.get("stripe_next_renewal_date"),
        Some("2025-12-01T12:26:40Z")
    );

    let updated = event_facts("customer_subscription_updated.json");
    let sub = updated.subscription.as_ref().unwrap();
    assert_eq!(sub.discounts.len(), 1);
    assert_eq!(
        sub.discounts[0].percent_off_bp, None,
        "an id only: its coupon is unknown"
    );
    row.apply(&updated);
    let p = props(&row);
    assert_eq!(
        p.get("stripe_mrr"),
        Some("147.00"),
        "3 seats; the unexpanded discount is left out"
    );
    assert_eq!(p.get("stripe_cancel_at_date"), Some("2025-12-01T12:26:40Z"));

    row.apply(&event_facts("customer_subscription_deleted.json"));
    let p = props(&row);
    assert_eq!(p.get("stripe_subscription_status"), Some("canceled"));
    assert_eq!(p.get("stripe_churn_date"), Some("2025-12-01T12:26:40Z"));
    assert_eq!(p.get("stripe_mrr"), Some("0.00"));

    let mut customer = CustomerRow::from_facts(&event_facts("customer_created.json"));
    customer.apply(&event_facts("customer_updated.json"));
    assert_eq!(
        customer.email(),
        Some("tony@stark.com"),
        "trimmed and lowercased"
    );
    customer.apply(&event_facts("customer_deleted.json"));
    assert!(customer.is_deleted());
    assert_eq!(customer.email(), None);
}

#[test]
fn fixture_in_api_version_2024_06_20_gives_the_expected_facts() {
    let facts = event_facts("customer_subscription_updated_2024_06_20.json");
    let sub = facts.subscription.as_ref().unwrap();
    assert_eq!(sub.status, SubscriptionStatus::Trialing);
    assert_eq!(sub.current_period_end, Some(1721209600));
    assert_eq!(sub.discounts[0].percent_off_bp, Some(2500));
    let p = props(&CustomerRow::from_facts(&facts));
    assert_eq!(p.get("stripe_trial_end_date"), Some("2024-07-17T09:46:40Z"));
    assert_eq!(p.get("stripe_mrr"), Some("0.00"), "a trial counts 0");
    assert_eq!(
        p.get("stripe_plan"),
        Some("prod_QkOld0000001"),
        "no name nor nickname: the product id"
    );
}

#[test]
fn invoices_give_deals_their_billing_reason() {
    let config = MappingConfig::default();
    let FactsOutcome::Facts(facts) =
        facts_from_event(&fixture("invoice_paid_2025_03_31_basil.json"), &config).unwrap()
    else {
        panic!("expected facts")
    };
    let reason = facts.billing_reason.clone().expect("the fixture has one");
    let row = LedgerRow::from_facts(&facts);
    assert_eq!(row.billing_reason(), Some(reason.as_str()));
    let deal = stripe2hubspot_map::deal_properties(&row, &config).unwrap();
    assert_eq!(deal.get("stripe_billing_reason"), Some(reason.as_str()));
}

#[test]
fn customer_facts_and_rows_keep_personal_data_out_of_debug() {
    let facts = customer("tony@stark.com", 100, "evt_1", "customer.updated");
    let mut row = CustomerRow::from_facts(&facts);
    row.apply_payment(&payment_facts("pepper@stark.com", 150));
    let debug = format!("{facts:?} {row:?}");
    for secret in ["stark.com", "Tony", "555"] {
        assert!(!debug.contains(secret), "{secret} in {debug}");
    }
    assert!(debug.contains("cus_1"), "ids stay readable");
    let contact = contact_properties_of(Some(&row), &[], &MappingConfig::default()).unwrap();
    let debug = format!("{contact:?}");
    assert!(!debug.contains("stark.com"), "{debug}");
    assert!(
        debug.contains("\"none\""),
        "subscription values are not personal: {debug}"
    );
}

/// Webhooks on current API versions list a subscription's discounts as ids: the row asks for a
/// re-read of such a live subscription, and the re-read (discounts expanded) settles it.
#[test]
fn a_live_subscription_with_discount_ids_only_is_re_read_until_its_coupon_is_known() {
    let ids_only = subscription(
        "sub_1",
        "active",
        vec![item(10000, "usd", "month", 1, 1)],
        json!({"discounts": ["di_1"]}),
    );
    let row = row_of(std::slice::from_ref(&ids_only));
    assert_eq!(row.subscriptions_to_reread(), ["sub_1"]);
    assert_eq!(props(&row).get("stripe_mrr"), Some("100.00"));
    let expanded = subscription(
        "sub_1",
        "active",
        vec![item(10000, "usd", "month", 1, 1)],
        json!({"discounts": [{"id": "di_1", "object": "discount",
            "source": {"type": "coupon", "coupon": {"id": "Q", "percent_off": 25.0}}}]}),
    );
    let row = row_of(&[ids_only.clone(), expanded]);
    assert!(row.subscriptions_to_reread().is_empty());
    assert_eq!(props(&row).get("stripe_mrr"), Some("75.00"));
    // A canceled subscription is not re-read for its discounts.
    let mut canceled = ids_only;
    canceled["status"] = json!("canceled");
    assert!(row_of(&[canceled]).subscriptions_to_reread().is_empty());
}
