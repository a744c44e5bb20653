//! The customer ledger's promise: random subscriptions (intervals day/week/month/year, counts
//! 1-3, quantities 0-5, percent and amount discounts, trials, status changes, snapshots written
//! in the same second) and customer events, delivered in any order with redeliveries, end in
//! the same `CustomerRow` and the same subscription properties; and the merge is commutative,
//! associative and idempotent.

use proptest::prelude::*;
use serde_json::{json, Value};
use stripe2hubspot_map::{
    customer_facts_from_event, subscription_properties, CustomerFacts, CustomerOutcome,
    CustomerRow, MappingConfig,
};
use stripe_events::Event;

const STATUSES: [&str; 8] = [
    "active",
    "trialing",
    "past_due",
    "unpaid",
    "paused",
    "incomplete",
    "incomplete_expired",
    "canceled",
];

fn item() -> impl Strategy<Value = Value> {
    (
        0usize..4,
        prop_oneof![Just("day"), Just("week"), Just("month"), Just("year")],
        1i64..=3,
        0i64..=5,
        1i64..100_000,
        any::<bool>(),
    )
        .prop_map(|(n, interval, count, quantity, amount, metered)| {
            json!({"id": format!("si_{n}"), "quantity": quantity,
                "current_period_end": 1_800_000_000 + n as i64,
                "price": {"id": format!("price_{n}"), "currency": "usd", "unit_amount": amount,
                    "unit_amount_decimal": amount.to_string(), "billing_scheme": "per_unit",
                    "product": format!("prod_{n}"), "nickname": if n % 2 == 0 { Value::Null } else { json!(format!("Plan {n}")) },
                    "recurring": {"interval": interval, "interval_count": count,
                        "usage_type": if metered { "metered" } else { "licensed" }}}})
        })
}

fn discount() -> impl Strategy<Value = Value> {
    prop_oneof![
        (1u32..=10_000).prop_map(|bp| json!({"id": format!("di_p{bp}"), "object": "discount",
            "coupon": {"id": "P", "percent_off": f64::from(bp) / 100.0}})),
        (1i64..50_000).prop_map(|off| json!({"id": format!("di_a{off}"), "object": "discount",
            "source": {"type": "coupon", "coupon": {"id": "A", "amount_off": off, "currency": "usd"}}})),
        Just(json!("di_unexpanded")),
    ]
}

/// One snapshot of a subscription: what one event shows.
fn snapshot(sub: usize) -> impl Strategy<Value = (i64, Value)> {
    (
        0i64..6, // few seconds, so snapshots of one second tie
        prop::sample::select(&STATUSES[..]),
        prop::collection::vec(item(), 0..3),
        prop::collection::vec(discount(), 0..2),
        prop::option::of(1_700_000_000i64..1_900_000_000),
        any::<bool>(),
    )
        .prop_map(
            move |(second, status, items, discounts, trial_end, at_period_end)| {
                let created = 1_700_000_000 + second;
                let object = json!({"id": format!("sub_{sub}"), "object": "subscription",
                "customer": "cus_1", "status": status, "currency": "usd",
                "start_date": 1_690_000_000 + sub as i64, "trial_end": trial_end,
                "cancel_at_period_end": at_period_end,
                "ended_at": if status == "canceled" { json!(created) } else { Value::Null },
                "discounts": discounts, "items": {"object": "list", "data": items}});
                (created, object)
            },
        )
}

fn customer_event() -> impl Strategy<Value = (i64, Value, &'static str)> {
    (
        0i64..6,
        prop_oneof![Just("a@x.io"), Just("B@X.io "), Just("c@x.io")],
        prop_oneof![
            Just("customer.created"),
            Just("customer.updated"),
            Just("customer.deleted")
        ],
    )
        .prop_map(|(second, email, type_)| {
            let object =
                json!({"id": "cus_1", "object": "customer", "email": email, "name": "Ann Lee"});
            (1_700_000_000 + second, object, type_)
        })
}

/// Every event of a random history, each with its own id.
fn history() -> impl Strategy<Value = Vec<Event>> {
    (
        prop::collection::vec(snapshot(0), 1..4),
        prop::collection::vec(snapshot(1), 0..3),
        prop::collection::vec(snapshot(2), 0..2),
        prop::collection::vec(customer_event(), 0..3),
    )
        .prop_map(|(a, b, c, customers)| {
            let subs = a
                .into_iter()
                .chain(b)
                .chain(c)
                .map(|(created, object)| (created, object, "customer.subscription.updated"));
            subs.chain(customers)
                .enumerate()
                .map(|(i, (created, object, type_))| {
                    serde_json::from_value(json!({"id": format!("evt_{i:02}"), "object": "event",
                        "type": type_, "created": created, "data": {"object": object}}))
                    .unwrap()
                })
                .collect()
        })
}

fn facts(event: &Event) -> CustomerFacts {
    match customer_facts_from_event(event, &MappingConfig::default()).unwrap() {
        CustomerOutcome::Facts(facts) => *facts,
        CustomerOutcome::Skip(reason) => panic!("{reason}"),
    }
}

fn fold(events: &[Event]) -> CustomerRow {
    events.iter().fold(CustomerRow::default(), |mut row, e| {
        row.apply(&facts(e));
        row
    })
}

/// The events in order, and a shuffled delivery of them with redeliveries.
fn deliveries() -> impl Strategy<Value = (Vec<Event>, Vec<Event>)> {
    history()
        .prop_flat_map(|events| {
            let n = events.len();
            (Just(events), prop::collection::vec(0..n, 0..4))
        })
        .prop_flat_map(|(events, again)| {
            let mut delivered = events.clone();
            delivered.extend(again.iter().map(|&i| events[i].clone()));
            (Just(events), Just(delivered).prop_shuffle())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_with_redeliveries_gives_the_same_row_and_properties((events, delivered) in deliveries()) {
        let config = MappingConfig::default();
        let expected = fold(&events);
        let actual = fold(&delivered);
        prop_assert_eq!(&actual, &expected);
        prop_assert!(actual.same_values_as(&expected));
        prop_assert_eq!(subscription_properties(&actual, &config), subscription_properties(&expected, &config));
        // The stored row reads back the same (the store keeps it as JSON).
        let stored: CustomerRow = serde_json::from_str(&serde_json::to_string(&actual).unwrap()).unwrap();
        prop_assert_eq!(stored, actual.clone());
        // ARR is always exactly 12 x MRR as written.
        let p = subscription_properties(&actual, &config);
        if let (Some(m), Some(a)) = (stripe2hubspot_map::mrr(&actual), p.get("stripe_arr")) {
            prop_assert_eq!(stripe_events::Money::new(m.minor * 12, m.currency).to_decimal_string(), a);
            prop_assert!(m.minor >= 0);
        }
    }

    #[test]
    fn merge_is_commutative_associative_and_idempotent(events in history(), cut in (0usize..8, 0usize..8)) {
        let n = events.len();
        let (i, j) = ((cut.0 % (n + 1)).min(cut.1 % (n + 1)), (cut.0 % (n + 1)).max(cut.1 % (n + 1)));
        let (a, b, c) = (fold(&events[..i]), fold(&events[i..j]), fold(&events[j..]));
        prop_assert_eq!(a.merge(&b), b.merge(&a));
        prop_assert_eq!(a.merge(&b).merge(&c), a.merge(&b.merge(&c)));
        prop_assert_eq!(a.merge(&a), a.clone());
        prop_assert_eq!(a.merge(&b).merge(&c), fold(&events));
    }
}
