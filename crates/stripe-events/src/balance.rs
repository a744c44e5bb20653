//! A balance transaction: what Stripe settled for a charge, in the account's settlement
//! currency, and how a charge names it.

use serde::{Deserialize, Deserializer, Serialize};

use crate::event::{Expandable, HasId};
use crate::money::{Currency, Money};

/// A Stripe balance transaction (`txn_...`), as far as a lifetime value needs it: the amount
/// Stripe added to the balance, after currency conversion, before fees.
///
/// Shape: <https://docs.stripe.com/api/balance_transactions/object> (`amount`: "Gross amount
/// of this transaction (in cents (or local equivalent))"; `currency`: the settlement
/// currency; `exchange_rate`: set when the charge's currency differs). Fields not read here
/// are ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BalanceTransaction {
    /// Balance transaction id.
    pub id: String,
    /// Gross amount in minor units of `currency` (negative for money leaving the balance).
    pub amount: i64,
    /// The settlement currency.
    pub currency: Currency,
    /// Stripe's fee, in minor units of `currency`.
    #[serde(default)]
    pub fee: i64,
    /// `amount` less `fee`.
    #[serde(default)]
    pub net: i64,
    /// The rate `amount` was converted at, when the charge was in another currency.
    #[serde(default)]
    pub exchange_rate: Option<f64>,
    /// The object that caused it (`ch_...`), unless expanded.
    #[serde(default, deserialize_with = "id_or_object")]
    pub source: Option<String>,
    /// `charge`, `refund`, `adjustment`, ...
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// Creation time, in seconds since the Unix epoch.
    #[serde(default)]
    pub created: Option<i64>,
}

impl BalanceTransaction {
    /// The gross amount, in the settlement currency.
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }
}

impl HasId for BalanceTransaction {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `source` is an id, or the object when expanded: keep its id either way.
fn id_or_object<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::String(id)) => Some(id),
        Some(serde_json::Value::Object(map)) => map
            .get("id")
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned),
        _ => None,
    })
}

/// A charge's `balance_transaction`: its id (the default), the object (with
/// `expand[]=balance_transaction`), or `null` (not captured yet). Lenient: an expanded object
/// this crate cannot read keeps its id, and anything else reads as `None`, so the field never
/// fails a charge's parse. See <https://docs.stripe.com/api/charges/object#charge_object-balance_transaction>.
pub(crate) fn lenient_balance_transaction<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Expandable<BalanceTransaction>>, D::Error> {
    let value = Option::<serde_json::Value>::deserialize(d)?;
    Ok(match value {
        Some(serde_json::Value::String(id)) => Some(Expandable::Id(id)),
        Some(object @ serde_json::Value::Object(_)) => {
            let id = object
                .get("id")
                .and_then(serde_json::Value::as_str)
                .map(str::to_owned);
            match serde_json::from_value::<BalanceTransaction>(object) {
                Ok(txn) => Some(Expandable::Object(Box::new(txn))),
                Err(_) => id.map(Expandable::Id),
            }
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Charge;

    #[test]
    fn reads_stripes_shape_and_keeps_the_settled_amount() {
        // The object of https://docs.stripe.com/api/balance_transactions/object, for a JPY
        // charge settled in USD.
        let txn: BalanceTransaction = serde_json::from_value(serde_json::json!({
            "id": "txn_1MiN3gLkdIwHu7ixxapQrznl", "object": "balance_transaction",
            "amount": 3365, "available_on": 1678233600, "created": 1678043844,
            "currency": "usd", "description": null, "exchange_rate": 0.0067296,
            "fee": 127, "fee_details": [], "net": 3238, "reporting_category": "charge",
            "source": "ch_3MiN3gLkdIwHu7ix0Cu0yYTm", "status": "pending", "type": "charge"
        }))
        .unwrap();
        assert_eq!(txn.money().to_decimal_string(), "33.65");
        assert_eq!(txn.source.as_deref(), Some("ch_3MiN3gLkdIwHu7ix0Cu0yYTm"));
        assert_eq!(txn.net, 3238);
        let expanded: BalanceTransaction = serde_json::from_value(serde_json::json!({
            "id": "txn_2", "amount": 500, "currency": "eur", "source": {"id": "ch_2"}
        }))
        .unwrap();
        assert_eq!(expanded.source.as_deref(), Some("ch_2"));
    }

    fn charge_with(balance_transaction: serde_json::Value) -> Charge {
        serde_json::from_value(serde_json::json!({
            "id": "ch_1", "object": "charge", "amount": 5000, "currency": "jpy",
            "status": "succeeded", "created": 1678043844,
            "balance_transaction": balance_transaction
        }))
        .expect("the balance transaction never fails a charge's parse")
    }

    #[test]
    fn a_charge_names_its_balance_transaction_by_id_or_expanded_and_never_fails_on_it() {
        let by_id = charge_with(serde_json::json!("txn_1"));
        assert_eq!(
            by_id.balance_transaction,
            Some(Expandable::Id("txn_1".into()))
        );
        let expanded = charge_with(serde_json::json!({
            "id": "txn_1", "object": "balance_transaction", "amount": 3350, "currency": "usd"
        }));
        let txn = expanded
            .balance_transaction
            .as_ref()
            .and_then(Expandable::as_object);
        assert_eq!(
            txn.map(|t| t.money().to_decimal_string()),
            Some("33.50".into())
        );
        // Unreadable (no amount): the id is kept, the charge still parses.
        let odd = charge_with(serde_json::json!({"id": "txn_1", "currency": "usd"}));
        assert_eq!(
            odd.balance_transaction,
            Some(Expandable::Id("txn_1".into()))
        );
        assert_eq!(
            charge_with(serde_json::json!(null)).balance_transaction,
            None
        );
        assert_eq!(charge_with(serde_json::json!(42)).balance_transaction, None);
        let absent: Charge = serde_json::from_value(serde_json::json!({
            "id": "ch_1", "amount": 5000, "currency": "jpy", "status": "succeeded",
            "created": 1678043844
        }))
        .unwrap();
        assert_eq!(absent.balance_transaction, None);
    }
}
