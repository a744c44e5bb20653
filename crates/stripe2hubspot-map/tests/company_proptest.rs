//! Company rollups over random sets of customers (payments of random amounts, refunds and
//! dates; subscriptions of random statuses and prices, one currency) equal the sum of the
//! per-customer contact rollups, and do not depend on the order of the rows or customers.

use proptest::prelude::*;
use serde_json::{json, Value};
use stripe2hubspot_map::{
    company_properties, company_properties_of, contact_properties, customer_facts_from_event,
    facts_from_event, subscription_properties, CompanyKey, CompanyNameHint, CustomerOutcome,
    CustomerRow, FactsOutcome, LedgerRow, MappingConfig, PropertySet,
};
use stripe_events::Event;

const STATUSES: [&str; 5] = ["active", "trialing", "past_due", "canceled", "unpaid"];

/// (amount, refunded share in percent, seconds after the epoch base)
type Payment = (i64, i64, i64);
/// (status, unit amount, quantity, yearly)
type Subscription = (&'static str, i64, i64, bool);

#[derive(Debug, Clone)]
struct Customer {
    payments: Vec<Payment>,
    subscriptions: Vec<Subscription>,
}

fn customer() -> impl Strategy<Value = Customer> {
    let payment = (
        0i64..200_000,
        prop_oneof![Just(0i64), Just(100), 1i64..100],
        0i64..50_000_000,
    );
    let subscription = (
        prop::sample::select(&STATUSES[..]),
        1i64..100_000,
        0i64..5,
        any::<bool>(),
    );
    (
        prop::collection::vec(payment, 0..4),
        prop::collection::vec(subscription, 0..3),
    )
        .prop_map(|(payments, subscriptions)| Customer {
            payments,
            subscriptions,
        })
}

fn event(id: String, type_: &str, created: i64, object: Value) -> Event {
    serde_json::from_value(json!({"id": id, "object": "event", "type": type_,
        "created": created, "data": {"object": object}}))
    .expect("a valid event")
}

fn ledger_rows(c: usize, customer: &Customer, config: &MappingConfig) -> Vec<LedgerRow> {
    ledger_rows_in(c, customer, "usd", config)
}

fn ledger_rows_in(
    c: usize,
    customer: &Customer,
    currency: &str,
    config: &MappingConfig,
) -> Vec<LedgerRow> {
    customer
        .payments
        .iter()
        .enumerate()
        .filter_map(|(i, &(amount, refund_pct, at))| {
            let created = 1_600_000_000 + at;
            let charge = json!({"id": format!("ch_{c}_{i}"), "object": "charge",
                "amount": amount, "amount_captured": amount,
                "amount_refunded": amount * refund_pct / 100, "currency": currency,
                "status": "succeeded", "captured": true, "created": created,
                "payment_intent": format!("pi_{c}_{i}"), "customer": format!("cus_{c}"),
                "billing_details": {"email": format!("payer{c}@acme.com")}});
            let event = event(format!("evt_{c}_{i}"), "charge.succeeded", created, charge);
            match facts_from_event(&event, config).ok()? {
                FactsOutcome::Facts(facts) => Some(LedgerRow::from_facts(&facts)),
                _ => None,
            }
        })
        .collect()
}

fn customer_row(c: usize, customer: &Customer, config: &MappingConfig) -> CustomerRow {
    customer_row_in(c, customer, "usd", config)
}

fn customer_row_in(
    c: usize,
    customer: &Customer,
    currency: &str,
    config: &MappingConfig,
) -> CustomerRow {
    let mut row = CustomerRow::default();
    for (s, &(status, amount, quantity, yearly)) in customer.subscriptions.iter().enumerate() {
        let interval = if yearly { "year" } else { "month" };
        let object = json!({"id": format!("sub_{c}_{s}"), "object": "subscription",
            "customer": format!("cus_{c}"), "status": status, "currency": currency,
            "start_date": 1_690_000_000 + (c * 10 + s) as i64,
            "items": {"object": "list", "data": [{"id": format!("si_{c}_{s}"), "quantity": quantity,
                "price": {"id": "price_1", "currency": currency, "unit_amount": amount,
                    "billing_scheme": "per_unit", "product": "prod_1",
                    "recurring": {"interval": interval, "interval_count": 1, "usage_type": "licensed"}}}]}});
        let event = event(
            format!("evt_sub_{c}_{s}"),
            "customer.subscription.updated",
            1_700_000_000,
            object,
        );
        if let Ok(CustomerOutcome::Facts(facts)) = customer_facts_from_event(&event, config) {
            row.apply(&facts);
        }
    }
    row
}

/// USD decimal string -> cents; empty -> None.
fn cents(value: Option<&str>) -> Option<i64> {
    let value = value.filter(|v| !v.is_empty())?;
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "00"));
    Some(whole.parse::<i64>().ok()? * 100 + fraction.parse::<i64>().ok()?)
}

/// A deterministic shuffle, so a failing case replays.
fn shuffled<T: Clone>(items: &[T], seed: u64) -> Vec<T> {
    let mut out = items.to_vec();
    let mut state = seed | 1;
    for i in (1..out.len()).rev() {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let j = usize::try_from(state >> 33).unwrap_or(0) % (i + 1);
        out.swap(i, j);
    }
    out
}

fn company_of(
    rows: &[LedgerRow],
    customers: &[CustomerRow],
    config: &MappingConfig,
) -> PropertySet {
    let rows: Vec<&LedgerRow> = rows.iter().collect();
    let customers: Vec<&CustomerRow> = customers.iter().collect();
    let key = CompanyKey::Domain("acme.com".into());
    company_properties(CompanyNameHint::default(), &key, &rows, &customers, config)
}

proptest! {
    #[test]
    fn company_rollups_are_the_sum_of_the_customers_and_ignore_order(
        customers in prop::collection::vec(customer(), 1..5),
        seed in any::<u64>(),
    ) {
        let config = MappingConfig::default();
        let per_customer: Vec<(Vec<LedgerRow>, CustomerRow)> = customers
            .iter()
            .enumerate()
            .map(|(c, customer)| (ledger_rows(c, customer, &config), customer_row(c, customer, &config)))
            .collect();
        let contacts: Vec<PropertySet> = per_customer
            .iter()
            .map(|(rows, row)| {
                // The contact's payment rollups (none without a settled payment) and its
                // subscription properties (also for a customer without a contact).
                let mut contact = contact_properties(rows, &config).unwrap_or_default();
                for (name, value) in &subscription_properties(row, &config) {
                    contact.insert(name.clone(), value.clone());
                }
                contact
            })
            .collect();
        let all_rows: Vec<LedgerRow> = per_customer.iter().flat_map(|(r, _)| r.clone()).collect();
        let all_customers: Vec<CustomerRow> = per_customer.iter().map(|(_, c)| c.clone()).collect();
        let company = company_of(&all_rows, &all_customers, &config);

        let sum_of = |name: &str, parse: &dyn Fn(Option<&str>) -> Option<i64>| -> Option<i64> {
            contacts.iter().filter_map(|c| parse(c.get(name))).reduce(|a, b| a + b)
        };
        let count = |v: Option<&str>| v.and_then(|v| v.parse::<i64>().ok());
        prop_assert_eq!(
            count(company.get("stripe_payment_count")),
            Some(sum_of("stripe_payment_count", &count).unwrap_or(0))
        );
        prop_assert_eq!(
            cents(company.get("stripe_lifetime_value")),
            sum_of("stripe_lifetime_value", &cents)
        );
        let dates: Vec<&str> = contacts
            .iter()
            .filter_map(|c| c.get("stripe_first_payment_date"))
            .filter(|d| !d.is_empty())
            .collect();
        prop_assert_eq!(
            company.get("stripe_first_payment_date"),
            Some(dates.iter().min().copied().unwrap_or(""))
        );
        let dates: Vec<&str> = contacts
            .iter()
            .filter_map(|c| c.get("stripe_last_payment_date"))
            .filter(|d| !d.is_empty())
            .collect();
        prop_assert_eq!(
            company.get("stripe_last_payment_date"),
            Some(dates.iter().max().copied().unwrap_or(""))
        );
        prop_assert_eq!(cents(company.get("stripe_mrr")), sum_of("stripe_mrr", &cents));
        prop_assert_eq!(cents(company.get("stripe_arr")), cents(company.get("stripe_mrr")).map(|m| m * 12));
        prop_assert_eq!(
            count(company.get("stripe_active_subscriptions")),
            Some(sum_of("stripe_active_subscriptions", &count).unwrap_or(0))
        );

        let reordered = company_of(
            &shuffled(&all_rows, seed),
            &shuffled(&all_customers, seed.rotate_left(17)),
            &config,
        );
        prop_assert_eq!(&reordered, &company);
    }
}

#[test]
fn customers_paying_in_another_currency_are_left_out_of_the_lifetime_value() {
    let config = MappingConfig::default();
    let paid = |amount, at| Customer {
        payments: vec![(amount, 0, at)],
        subscriptions: vec![],
    };
    let mut rows = ledger_rows_in(0, &paid(10_000, 100), "usd", &config);
    rows.extend(ledger_rows_in(1, &paid(2_500, 200), "eur", &config));
    rows.extend(ledger_rows_in(2, &paid(4_000, 50), "eur", &config));
    let company = company_of(&rows, &[], &config);
    // The newest counted payment is in EUR: the company's value is its EUR payments.
    assert_eq!(company.get("stripe_lifetime_value_currency"), Some("EUR"));
    assert_eq!(company.get("stripe_lifetime_value"), Some("65.00"));
    assert_eq!(company.get("stripe_payment_count"), Some("3"));
    assert_eq!(
        company.get("stripe_first_payment_date"),
        Some("2020-09-13T12:27:30Z")
    );
}

#[test]
fn mrr_sums_the_customers_in_the_newest_live_subscriptions_currency() {
    let config = MappingConfig::default();
    let subscribed = |status, amount| Customer {
        payments: vec![],
        subscriptions: vec![(status, amount, 1, false)],
    };
    let customers = [
        customer_row_in(0, &subscribed("active", 1_000), "usd", &config),
        customer_row_in(1, &subscribed("active", 2_000), "eur", &config),
        customer_row_in(2, &subscribed("past_due", 500), "eur", &config),
        customer_row_in(3, &subscribed("canceled", 9_000), "eur", &config),
    ];
    let company = company_of(&[], &customers, &config);
    // Customer 2 started last and is live: EUR; the USD customer is left out of the sum.
    assert_eq!(company.get("stripe_mrr_currency"), Some("EUR"));
    assert_eq!(company.get("stripe_mrr"), Some("25.00"));
    assert_eq!(company.get("stripe_arr"), Some("300.00"));
    assert_eq!(company.get("stripe_active_subscriptions"), Some("3"));
}

/// What the engine passes: one member per contact, its customer row and its payment rows.
fn members_of(
    per_customer: &[(Vec<LedgerRow>, CustomerRow)],
) -> Vec<(Option<&CustomerRow>, &[LedgerRow])> {
    per_customer
        .iter()
        .map(|(rows, customer)| (Some(customer), rows.as_slice()))
        .collect()
}

proptest! {
    #[test]
    fn company_properties_of_members_sum_every_member_once_in_any_order(
        customers in prop::collection::vec(customer(), 0..5),
        seed in any::<u64>(),
    ) {
        let config = MappingConfig::default();
        let key = CompanyKey::Domain("acme.com".into());
        let per_customer: Vec<(Vec<LedgerRow>, CustomerRow)> = customers
            .iter()
            .enumerate()
            .map(|(c, customer)| (ledger_rows(c, customer, &config), customer_row(c, customer, &config)))
            .collect();
        let all_rows: Vec<LedgerRow> = per_customer.iter().flat_map(|(r, _)| r.clone()).collect();
        let all_customers: Vec<CustomerRow> = per_customer.iter().map(|(_, c)| c.clone()).collect();
        let company = company_properties_of(&key, &members_of(&per_customer), &config);
        // The same as the rollups over every row and customer of the members.
        prop_assert_eq!(&company, &company_of(&all_rows, &all_customers, &config));

        // Members and each member's rows in another order.
        let reordered: Vec<(Vec<LedgerRow>, CustomerRow)> = shuffled(&per_customer, seed)
            .into_iter()
            .map(|(rows, customer)| (shuffled(&rows, seed.rotate_left(9)), customer))
            .collect();
        prop_assert_eq!(&company_properties_of(&key, &members_of(&reordered), &config), &company);

        // A member listed twice (the same contact noted in two batches) counts once.
        let mut twice = per_customer.clone();
        twice.extend(per_customer.iter().take(1).cloned());
        prop_assert_eq!(&company_properties_of(&key, &members_of(&twice), &config), &company);
    }
}
