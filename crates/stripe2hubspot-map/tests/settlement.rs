//! Lifetime value in the account's settlement currency: a charge's balance transaction (read
//! with a Stripe key, or expanded in the charge) is a fact of the charge, kept by the ledger
//! row whatever the order, and the contact sums what each payment kept there when every
//! counted payment has one in one currency; otherwise the payments' own currency rule holds.

use serde_json::{json, Value};
use stripe2hubspot_map::{
    contact_properties, facts_from_event, Facts, FactsOutcome, LedgerRow, MappingConfig,
    PaymentIds, Stamp,
};
use stripe_events::{BalanceTransaction, Event, Money};

const T0: i64 = 1_700_000_000;
const EMAIL: &str = "ann@example.com";

fn event(id: &str, type_: &str, created: i64, object: Value) -> Event {
    serde_json::from_value(json!({
        "id": id, "object": "event", "type": type_, "created": created,
        "data": {"object": object}
    }))
    .unwrap()
}

/// A captured charge of `amount` `currency`, `refunded` of it refunded, naming its balance
/// transaction `txn_{id}` by id as webhooks do.
fn charge(id: &str, amount: i64, currency: &str, refunded: i64) -> Value {
    json!({
        "id": id, "object": "charge", "amount": amount, "amount_captured": amount,
        "amount_refunded": refunded, "refunded": refunded == amount, "captured": true,
        "currency": currency, "status": "succeeded", "paid": true, "created": T0,
        "payment_intent": format!("pi_{id}"), "balance_transaction": format!("txn_{id}"),
        "billing_details": {"email": EMAIL, "name": "Ann Lee"}
    })
}

fn facts_of(event: &Event) -> Facts {
    match facts_from_event(event, &MappingConfig::default()).unwrap() {
        FactsOutcome::Facts(facts) => *facts,
        FactsOutcome::Skip(reason) => panic!("expected facts, skipped: {reason}"),
    }
}

fn succeeded(id: &str, amount: i64, currency: &str) -> Facts {
    facts_of(&event(
        &format!("evt_{id}_ok"),
        "charge.succeeded",
        T0,
        charge(id, amount, currency, 0),
    ))
}

fn refunded(id: &str, amount: i64, currency: &str, refunded: i64) -> Facts {
    facts_of(&event(
        &format!("evt_{id}_refund"),
        "charge.refunded",
        T0 + 60,
        charge(id, amount, currency, refunded),
    ))
}

/// The balance transaction of charge `id`, read with a key at `T0 + 3600`: `minor` of
/// `currency`.
fn settlement(id: &str, minor: i64, currency: &str) -> Facts {
    let txn: BalanceTransaction = serde_json::from_value(json!({
        "id": format!("txn_{id}"), "object": "balance_transaction", "amount": minor,
        "currency": currency, "source": id, "type": "charge"
    }))
    .unwrap();
    let ids = PaymentIds {
        charge: Some(id.to_owned()),
        ..PaymentIds::default()
    };
    let stamp = Stamp {
        created: T0 + 3600,
        event_id: format!("read_txn_{id}"),
    };
    Facts::settled(stamp, ids, &txn)
}

fn row(facts: &[&Facts]) -> LedgerRow {
    let mut row = LedgerRow::default();
    for f in facts {
        row.apply(f);
    }
    row
}

fn lifetime(rows: &[LedgerRow], config: &MappingConfig) -> (String, String) {
    let contact = contact_properties(rows, config).expect("a settled payment");
    let get = |name: &str| contact.get(name).unwrap_or("<absent>").to_owned();
    (
        get("stripe_lifetime_value"),
        get("stripe_lifetime_value_currency"),
    )
}

fn usd(minor: i64) -> Money {
    Money::new(minor, "usd".parse().unwrap())
}

#[test]
fn a_jpy_payment_settled_in_usd_counts_in_usd() {
    let paid = succeeded("ch_1", 5000, "jpy");
    assert_eq!(paid.balance_transaction.as_deref(), Some("txn_ch_1"));
    assert_eq!(
        paid.settlement, None,
        "a webhook names the transaction by id only"
    );
    let without = row(&[&paid]);
    assert_eq!(
        without.unsettled_charges().collect::<Vec<_>>(),
        vec![("ch_1", Some("txn_ch_1"))]
    );
    assert_eq!(
        lifetime(std::slice::from_ref(&without), &MappingConfig::default()),
        ("5000".into(), "JPY".into())
    );

    let settled = row(&[&paid, &settlement("ch_1", 3350, "usd")]);
    assert_eq!(settled.unsettled_charges().count(), 0);
    assert_eq!(settled.settled_gross(), Some(usd(3350)));
    assert_eq!(settled.settled_net(), Some(usd(3350)));
    assert_eq!(
        lifetime(std::slice::from_ref(&settled), &MappingConfig::default()),
        ("33.50".into(), "USD".into())
    );
    // The settlement is what Stripe converted: it outranks a reporting currency, which could
    // only leave the JPY payment out.
    let config = MappingConfig {
        reporting_currency: Some("eur".parse().unwrap()),
        ..MappingConfig::default()
    };
    assert_eq!(
        lifetime(std::slice::from_ref(&settled), &config),
        ("33.50".into(), "USD".into())
    );
    // The deal keeps the payment's own amount and currency.
    let deal = stripe2hubspot_map::deal_properties(&settled, &MappingConfig::default()).unwrap();
    assert_eq!(deal.get("stripe_amount_currency"), Some("5000 JPY"));
}

#[test]
fn a_charge_with_its_balance_transaction_expanded_is_settled_at_once() {
    let mut object = charge("ch_1", 5000, "jpy", 0);
    object["balance_transaction"] = json!({
        "id": "txn_ch_1", "object": "balance_transaction", "amount": 3350,
        "currency": "usd", "fee": 127, "net": 3223, "exchange_rate": 0.0067
    });
    let facts = facts_of(&event("evt_1", "charge.succeeded", T0, object));
    assert_eq!(facts.settlement, Some(usd(3350)));
    let settled = row(&[&facts]);
    assert_eq!(
        lifetime(&[settled], &MappingConfig::default()),
        ("33.50".into(), "USD".into())
    );
}

#[test]
fn a_partially_refunded_payment_keeps_its_share_of_the_settlement() {
    // 1,000 of 5,000 JPY refunded: 4/5 of 33.50 USD is 26.80 USD.
    let settled = row(&[
        &succeeded("ch_1", 5000, "jpy"),
        &refunded("ch_1", 5000, "jpy", 1000),
        &settlement("ch_1", 3350, "usd"),
    ]);
    assert_eq!(settled.settled_gross(), Some(usd(3350)));
    assert_eq!(settled.settled_net(), Some(usd(2680)));
    assert_eq!(
        lifetime(std::slice::from_ref(&settled), &MappingConfig::default()),
        ("26.80".into(), "USD".into())
    );
    // Rounded once, half away from zero: 3355 × 2500 / 5000 = 1677.5 -> 16.78.
    let half = row(&[
        &succeeded("ch_2", 5000, "jpy"),
        &refunded("ch_2", 5000, "jpy", 2500),
        &settlement("ch_2", 3355, "usd"),
    ]);
    assert_eq!(half.settled_net(), Some(usd(1678)));
    // Gross basis: the whole settlement.
    let gross = MappingConfig {
        amount_basis: stripe2hubspot_map::AmountBasis::Gross,
        ..MappingConfig::default()
    };
    assert_eq!(lifetime(&[settled], &gross), ("33.50".into(), "USD".into()));
    // Refunded in full: nothing counted, the payments' own rule (0 in its currency).
    let gone = row(&[
        &succeeded("ch_3", 5000, "jpy"),
        &refunded("ch_3", 5000, "jpy", 5000),
        &settlement("ch_3", 3350, "usd"),
    ]);
    assert_eq!(gone.settled_net(), Some(usd(0)));
    assert_eq!(
        lifetime(&[gone], &MappingConfig::default()),
        ("0".into(), "JPY".into())
    );
}

#[test]
fn payments_sum_in_the_settlement_currency_whatever_their_own() {
    let rows = [
        row(&[
            &succeeded("ch_1", 5000, "jpy"),
            &settlement("ch_1", 3350, "usd"),
        ]),
        row(&[
            &succeeded("ch_2", 2000, "usd"),
            &settlement("ch_2", 2000, "usd"),
        ]),
    ];
    assert_eq!(
        lifetime(&rows, &MappingConfig::default()),
        ("53.50".into(), "USD".into())
    );
}

#[test]
fn a_payment_without_settlement_falls_back_to_the_own_currency_rule() {
    let rows = [
        row(&[
            &succeeded("ch_1", 5000, "jpy"),
            &settlement("ch_1", 3350, "usd"),
        ]),
        row(&[&succeeded("ch_2", 2000, "usd")]),
    ];
    // ch_1 and ch_2 share paid_at; ch_2's key sorts last, so USD is the contact's own.
    assert_eq!(
        lifetime(&rows, &MappingConfig::default()),
        ("20.00".into(), "USD".into())
    );
    // Settled in two currencies: no one sum, the own rule again.
    let two = [
        row(&[
            &succeeded("ch_1", 5000, "jpy"),
            &settlement("ch_1", 3350, "usd"),
        ]),
        row(&[
            &succeeded("ch_2", 2000, "usd"),
            &settlement("ch_2", 1850, "eur"),
        ]),
    ];
    assert_eq!(
        lifetime(&two, &MappingConfig::default()),
        ("20.00".into(), "USD".into())
    );
}

#[test]
fn a_payment_of_two_charges_is_settled_once_both_are() {
    let invoice = |charge: &str| {
        let mut facts = succeeded(charge, 3000, "jpy");
        facts.ids.invoice = Some("in_1".into());
        facts
    };
    let (a, b) = (invoice("ch_a"), invoice("ch_b"));
    let one = row(&[&a, &b, &settlement("ch_a", 2010, "usd")]);
    assert_eq!(one.settled_gross(), None, "ch_b is not settled yet");
    assert_eq!(
        one.unsettled_charges().collect::<Vec<_>>(),
        vec![("ch_b", Some("txn_ch_b"))]
    );
    let both = one.merge(&row(&[&settlement("ch_b", 2011, "usd")]));
    assert_eq!(both.settled_gross(), Some(usd(4021)));
}

#[test]
fn merge_order_and_redelivery_do_not_matter_and_merges_keep_the_settlement() {
    let facts = [
        succeeded("ch_1", 5000, "jpy"),
        refunded("ch_1", 5000, "jpy", 1000),
        settlement("ch_1", 3350, "usd"),
        settlement("ch_1", 3350, "usd"),
    ];
    let expected = row(&facts.iter().collect::<Vec<_>>());
    assert_eq!(expected.settled_net(), Some(usd(2680)));
    let config = MappingConfig::default();
    let expected_contact = contact_properties(std::slice::from_ref(&expected), &config);
    for order in permutations(facts.len()) {
        let ordered: Vec<&Facts> = order.iter().map(|&i| &facts[i]).collect();
        let folded = row(&ordered);
        assert_eq!(folded, expected, "order {order:?}");
        // Merging rows of any split equals folding.
        let (left, right) = ordered.split_at(order[0]);
        assert_eq!(row(left).merge(&row(right)), expected, "split {order:?}");
        assert_eq!(row(right).merge(&row(left)), expected, "split {order:?}");
        assert_eq!(
            contact_properties(&[folded], &config),
            expected_contact,
            "order {order:?}"
        );
    }
    // A later event of the charge (naming the transaction by id only) keeps the settlement,
    // and the stored row reads back the same.
    let later = refunded("ch_1", 5000, "jpy", 1000);
    let kept = expected.merge(&row(&[&later]));
    assert_eq!(kept.settled_gross(), Some(usd(3350)));
    let stored: LedgerRow = serde_json::from_str(&serde_json::to_string(&kept).unwrap()).unwrap();
    assert_eq!(stored, kept);
    // Two reads that disagree (never seen, but the merge must stay a join) settle the same
    // way in either order.
    let (x, y) = (
        settlement("ch_1", 3350, "usd"),
        settlement("ch_1", 3351, "usd"),
    );
    assert_eq!(row(&[&x, &y]), row(&[&y, &x]));
    // A row stored before settlements existed reads as unsettled.
    let mut old = serde_json::to_value(row(&[&facts[0]])).unwrap();
    old.as_object_mut().unwrap().remove("settlements");
    let old: LedgerRow = serde_json::from_value(old).unwrap();
    assert_eq!(old.settled_gross(), None);
    assert_eq!(old.unsettled_charges().count(), 1);
}

/// Every permutation of `0..n`.
fn permutations(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![Vec::new()];
    }
    let mut out = Vec::new();
    for rest in permutations(n - 1) {
        for at in 0..=rest.len() {
            let mut p = rest.clone();
            p.insert(at, n - 1);
            out.push(p);
        }
    }
    out
}
