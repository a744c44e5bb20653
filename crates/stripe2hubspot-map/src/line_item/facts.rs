//! One line of what was sold, read from an invoice line or a Checkout line item.

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stripe_events::{CheckoutLineItem, Currency, InvoiceLineItem, Price};

use crate::personal::{redacted_option, Redacted};
use crate::text::present;

/// How often a recurring price bills: Stripe's `price.recurring`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year` (kept as Stripe sent it).
    pub interval: String,
    /// How many intervals make one billing period (at least 1).
    pub interval_count: u32,
}

impl Recurring {
    fn of(price: Option<&Price>) -> Option<Recurring> {
        let recurring = price?.recurring.as_ref()?;
        let interval = present(recurring.interval.as_deref())?.to_owned();
        let count = recurring
            .interval_count
            .unwrap_or(1)
            .clamp(1, i64::from(u32::MAX));
        Some(Recurring {
            interval,
            interval_count: u32::try_from(count).unwrap_or(1),
        })
    }
}

/// One line of what a payment sold. Amounts are in minor units of `currency`. Its `Debug`
/// hides the name and the product's name: free text an account may fill with a customer's
/// details.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct LineItemFacts {
    /// Stripe's line id: `il_...` for an invoice line, `li_...` for a Checkout line item.
    pub id: String,
    /// What HubSpot shows: the product's name when Stripe sent the product expanded, else the
    /// line's description, else the price id, else the line id. Never empty.
    pub name: String,
    /// Quantity sold, when Stripe gives one.
    pub quantity: Option<u64>,
    /// Unit price in minor units, when the price has a whole one (`None` for tiered prices
    /// and fractions of a minor unit).
    pub unit_amount: Option<i64>,
    /// The line's amount: before discounts for an invoice line, the subtotal (before
    /// discounts and taxes) for a Checkout line item.
    pub amount: i64,
    /// Currency of the amounts.
    pub currency: Currency,
    /// The price (`price_...`).
    pub price_id: Option<String>,
    /// The product (`prod_...`).
    pub product_id: Option<String>,
    /// The product's name, when Stripe sent the product expanded.
    pub product_name: Option<String>,
    /// The billing interval of a recurring price.
    pub recurring: Option<Recurring>,
}

impl fmt::Debug for LineItemFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LineItemFacts")
            .field("id", &self.id)
            .field("name", &Redacted)
            .field("quantity", &self.quantity)
            .field("unit_amount", &self.unit_amount)
            .field("amount", &self.amount)
            .field("currency", &self.currency)
            .field("price_id", &self.price_id)
            .field("product_id", &self.product_id)
            .field("product_name", &redacted_option(&self.product_name))
            .field("recurring", &self.recurring)
            .finish()
    }
}

fn owned(value: Option<&str>) -> Option<String> {
    present(value).map(str::to_owned)
}

fn quantity(value: Option<i64>) -> Option<u64> {
    value.and_then(|q| u64::try_from(q).ok())
}

fn name_of(
    product_name: &Option<String>,
    description: Option<&str>,
    price_id: &Option<String>,
    id: &str,
) -> String {
    product_name
        .clone()
        .or_else(|| owned(description))
        .or_else(|| price_id.clone())
        .unwrap_or_else(|| id.to_owned())
}

impl LineItemFacts {
    /// The line item of an invoice line, in either API shape; `fallback` is the invoice's
    /// currency, for a line that names none. `None` for a line without an id and for a
    /// credit (a negative amount: a proration or unused time), which is not something sold
    /// and which HubSpot refuses (a line item's price cannot be negative).
    pub fn from_invoice_line(line: &InvoiceLineItem, fallback: Currency) -> Option<LineItemFacts> {
        let id = present(Some(&line.id))?.to_owned();
        if line.amount < 0 {
            return None;
        }
        let price = line.price();
        let price_id = owned(line.price_id());
        let product_name = owned(line.product().and_then(|p| p.name.as_deref()));
        Some(LineItemFacts {
            name: name_of(&product_name, line.description.as_deref(), &price_id, &id),
            quantity: quantity(line.quantity),
            unit_amount: line.unit_amount().filter(|u| *u >= 0),
            amount: line.amount,
            currency: line.currency.unwrap_or(fallback),
            price_id,
            product_id: owned(line.product_id()),
            product_name,
            recurring: Recurring::of(price),
            id,
        })
    }

    /// The line item of a Checkout Session line item (read with
    /// `GET /v1/checkout/sessions/{id}/line_items`). `None` without an id or a currency, and
    /// for a negative subtotal.
    pub fn from_checkout(item: &CheckoutLineItem) -> Option<LineItemFacts> {
        let id = present(Some(&item.id))?.to_owned();
        let price = item.price.as_ref();
        let currency = item.currency.or(price.and_then(|p| p.currency))?;
        if item.amount_subtotal < 0 {
            return None;
        }
        let price_id = owned(price.map(|p| p.id.as_str()));
        let product_name = owned(item.product().and_then(|p| p.name.as_deref()));
        Some(LineItemFacts {
            name: name_of(&product_name, item.description.as_deref(), &price_id, &id),
            quantity: quantity(item.quantity),
            unit_amount: price.and_then(|p| p.unit_amount).filter(|u| *u >= 0),
            amount: item.amount_subtotal,
            currency,
            price_id,
            product_id: owned(item.product_id()),
            product_name,
            recurring: Recurring::of(price),
            id,
        })
    }

    /// The unit price HubSpot gets, in minor units, chosen so that HubSpot's price ×
    /// quantity (from which it calculates a line item's amount) is always Stripe's amount:
    /// the price's unit amount when unit amount × quantity is the amount; else (a tiered
    /// price, a proration of part of a period) the amount divided by the quantity when it
    /// divides evenly; else the whole amount, with [`hubspot_quantity`](Self::hubspot_quantity)
    /// then 1.
    pub fn hubspot_unit_amount(&self) -> i64 {
        self.hubspot_price_and_quantity().0
    }

    /// The quantity HubSpot gets: Stripe's (1 when it gives none), or 1 when the unit price
    /// had to be the whole amount (see [`hubspot_unit_amount`](Self::hubspot_unit_amount)).
    pub fn hubspot_quantity(&self) -> u64 {
        self.hubspot_price_and_quantity().1
    }

    fn hubspot_price_and_quantity(&self) -> (i64, u64) {
        let quantity = self.quantity.unwrap_or(1);
        let Ok(signed) = i64::try_from(quantity) else {
            return (self.amount, 1);
        };
        if let Some(unit) = self.unit_amount {
            if unit.checked_mul(signed) == Some(self.amount) {
                return (unit, quantity);
            }
        }
        if signed > 0 && self.amount % signed == 0 {
            return (self.amount / signed, quantity);
        }
        (self.amount, 1)
    }
}

/// A stable fingerprint of a list of line items: SHA-256 (64 lowercase hex digits) of their
/// JSON, in id order (the order Stripe lists them in does not count). What the store compares
/// to know whether a deal's line items changed; a Checkout row, whose items are fetched in
/// the line-item pass, uses the fingerprint of its session id instead (see
/// [`LedgerRow::line_items_fingerprint`](crate::LedgerRow::line_items_fingerprint)).
///
/// ```
/// use stripe2hubspot_map::line_items_fingerprint;
/// assert_eq!(line_items_fingerprint(&[]).len(), 64);
/// ```
pub fn line_items_fingerprint(items: &[LineItemFacts]) -> String {
    let mut sorted: Vec<&LineItemFacts> = items.iter().collect();
    sorted.sort();
    // Serializing plain strings and numbers cannot fail; an empty input stands in if it did.
    let json = serde_json::to_vec(&sorted).unwrap_or_default();
    hex(&Sha256::digest(&json))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, amount: i64, quantity: Option<u64>, unit: Option<i64>) -> LineItemFacts {
        LineItemFacts {
            id: id.into(),
            name: "Pro".into(),
            quantity,
            unit_amount: unit,
            amount,
            currency: Currency::new("eur").unwrap(),
            price_id: None,
            product_id: None,
            product_name: None,
            recurring: None,
        }
    }

    #[test]
    fn hubspot_price_times_quantity_is_the_amount_without_a_unit_amount() {
        let tiered = item("il_1", 3000, Some(3), None);
        assert_eq!(
            (tiered.hubspot_unit_amount(), tiered.hubspot_quantity()),
            (1000, 3)
        );
        let uneven = item("il_1", 1000, Some(3), None);
        assert_eq!(
            (uneven.hubspot_unit_amount(), uneven.hubspot_quantity()),
            (1000, 1)
        );
        let zero = item("il_1", 0, Some(0), None);
        assert_eq!(
            (zero.hubspot_unit_amount(), zero.hubspot_quantity()),
            (0, 1)
        );
        let unit = item("il_1", 3000, Some(3), Some(1000));
        assert_eq!(
            (unit.hubspot_unit_amount(), unit.hubspot_quantity()),
            (1000, 3)
        );
        let none = item("il_1", 700, None, None);
        assert_eq!(
            (none.hubspot_unit_amount(), none.hubspot_quantity()),
            (700, 1)
        );
    }

    #[test]
    fn a_unit_amount_that_does_not_make_the_amount_gives_way() {
        // A proration: 3 seats for a third of the period.
        let prorated = item("il_1", 999, Some(3), Some(1000));
        assert_eq!(
            (prorated.hubspot_unit_amount(), prorated.hubspot_quantity()),
            (333, 3)
        );
        let prorated = item("il_1", 1000, Some(3), Some(1000));
        assert_eq!(
            (prorated.hubspot_unit_amount(), prorated.hubspot_quantity()),
            (1000, 1)
        );
        let huge = item("il_1", 10, Some(u64::MAX), Some(1));
        assert_eq!(
            (huge.hubspot_unit_amount(), huge.hubspot_quantity()),
            (10, 1)
        );
    }

    #[test]
    fn the_fingerprint_ignores_order_and_sees_every_change() {
        let a = item("il_1", 1000, Some(1), Some(1000));
        let b = item("il_2", 500, Some(1), Some(500));
        let both = line_items_fingerprint(&[a.clone(), b.clone()]);
        assert_eq!(both, line_items_fingerprint(&[b.clone(), a.clone()]));
        assert_ne!(both, line_items_fingerprint(std::slice::from_ref(&a)));
        let mut changed = b.clone();
        changed.quantity = Some(2);
        assert_ne!(both, line_items_fingerprint(&[a, changed]));
    }
}
