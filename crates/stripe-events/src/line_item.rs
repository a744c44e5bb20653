//! What was sold: the lines of an invoice (`invoice.lines.data[]`, `il_...`) and the line
//! items of a Checkout Session (`item`, `li_...`, read from
//! `GET /v1/checkout/sessions/{id}/line_items`).
//!
//! An invoice line names its price in one of two shapes:
//!
//! - before 2025-03-31.basil: `price`, the full price object (with `recurring`, and the
//!   product as an id unless expanded);
//! - from 2025-03-31.basil: `pricing.price_details.{price, product}` (the price an id unless
//!   expanded, the product an id) and `pricing.unit_amount_decimal`
//!   (<https://docs.stripe.com/api/invoice-line-item/object>,
//!   <https://docs.stripe.com/changelog/basil/2025-03-31/adds-new-parent-field-to-invoicing-objects>).
//!
//! Read either with [`InvoiceLineItem::price_id`], [`InvoiceLineItem::product_id`] and
//! [`InvoiceLineItem::price`]. Every field beyond the id is optional and unknown fields are
//! ignored, so a new API version does not fail the parse.

use serde::{Deserialize, Deserializer, Serialize};

use crate::event::{null_as_default, Expandable, HasId, Metadata};
use crate::list::List;
use crate::money::Currency;
use crate::subscription::{Price, Product};

/// The period an invoice line covers, in seconds since the Unix epoch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePeriod {
    /// Start of the period.
    #[serde(default)]
    pub start: Option<i64>,
    /// End of the period.
    #[serde(default)]
    pub end: Option<i64>,
}

/// `pricing.price_details` of an invoice line (2025-03-31.basil and later).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePriceDetails {
    /// The price (`price_...`), an id unless expanded.
    #[serde(default)]
    pub price: Option<Expandable<Price>>,
    /// The product (`prod_...`).
    #[serde(default)]
    pub product: Option<String>,
}

/// `pricing` of an invoice line (2025-03-31.basil and later).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinePricing {
    /// `price_details`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// Set when `type` is `price_details`.
    #[serde(default)]
    pub price_details: Option<LinePriceDetails>,
    /// The unit amount in minor units, as a decimal string (may hold fractions: `"0.5"`).
    #[serde(default)]
    pub unit_amount_decimal: Option<String>,
}

/// One line of an invoice (`il_...`): what was billed, how many, for how much.
/// <https://docs.stripe.com/api/invoice-line-item/object>
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceLineItem {
    /// Line id (`il_...`; older API versions also used `sli_...` and `ii_...`).
    pub id: String,
    /// The line's text, such as `3 × Pro (at $10.00 / month)`.
    #[serde(default)]
    pub description: Option<String>,
    /// Quantity billed.
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Amount of the line in minor units, before discounts.
    #[serde(default)]
    pub amount: i64,
    /// Currency of the amount.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// The period the line covers.
    #[serde(default)]
    pub period: Option<LinePeriod>,
    /// The price (API versions before 2025-03-31.basil, always a full object).
    #[serde(default)]
    pub price: Option<Price>,
    /// The price and product (API versions from 2025-03-31.basil).
    #[serde(default)]
    pub pricing: Option<LinePricing>,
    /// `subscription` or `invoiceitem` (API versions before 2025-03-31.basil).
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// Key-value metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
}

impl InvoiceLineItem {
    fn price_details(&self) -> Option<&LinePriceDetails> {
        self.pricing.as_ref()?.price_details.as_ref()
    }

    /// The price object, when Stripe sent one (older versions always; newer ones when
    /// `pricing.price_details.price` is expanded).
    pub fn price(&self) -> Option<&Price> {
        self.price.as_ref().or_else(|| {
            self.price_details()
                .and_then(|d| d.price.as_ref())
                .and_then(Expandable::as_object)
        })
    }

    /// The price id in either API shape.
    pub fn price_id(&self) -> Option<&str> {
        let newer = self.price_details().and_then(|d| d.price.as_ref());
        self.price
            .as_ref()
            .map(|p| p.id.as_str())
            .or(newer.map(Expandable::id))
    }

    /// The product id in either API shape.
    pub fn product_id(&self) -> Option<&str> {
        let newer = self.price_details().and_then(|d| d.product.as_deref());
        newer.or_else(|| {
            self.price()
                .and_then(|p| p.product.as_ref())
                .map(Expandable::id)
        })
    }

    /// The product, when Stripe sent it expanded.
    pub fn product(&self) -> Option<&Product> {
        self.price()?.product.as_ref()?.as_object()
    }

    /// The unit amount in whole minor units, in either API shape: the price's `unit_amount`,
    /// else `unit_amount_decimal` when it has no fraction. `None` for tiered prices and
    /// fractions of a minor unit.
    pub fn unit_amount(&self) -> Option<i64> {
        let decimal = || {
            let pricing = self
                .pricing
                .as_ref()
                .and_then(|p| p.unit_amount_decimal.as_deref());
            let price = self.price().and_then(|p| p.unit_amount_decimal.as_deref());
            whole_minor_units(pricing.or(price)?)
        };
        self.price().and_then(|p| p.unit_amount).or_else(decimal)
    }
}

impl HasId for InvoiceLineItem {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `"1000"` and `"1000.000"` -> 1000; `"0.5"`, `"abc"` and out-of-range values -> `None`.
pub(crate) fn whole_minor_units(decimal: &str) -> Option<i64> {
    let (whole, fraction) = decimal.split_once('.').unwrap_or((decimal, ""));
    if !fraction.bytes().all(|b| b == b'0') {
        return None;
    }
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit() || b == b'-') {
        return None;
    }
    whole.parse().ok()
}

/// One line item of a Checkout Session (`"object": "item"`, `li_...`), as listed by
/// `GET /v1/checkout/sessions/{id}/line_items`.
/// <https://docs.stripe.com/api/checkout/sessions/line_items>
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutLineItem {
    /// Line item id (`li_...`).
    pub id: String,
    /// The line's text (by default the product's name).
    #[serde(default)]
    pub description: Option<String>,
    /// Quantity bought.
    #[serde(default)]
    pub quantity: Option<i64>,
    /// Total after discounts and taxes, in minor units.
    #[serde(default)]
    pub amount_total: i64,
    /// Total before discounts and taxes, in minor units.
    #[serde(default)]
    pub amount_subtotal: i64,
    /// Currency of the amounts.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// The price, with its product as an id or expanded (`expand[]=data.price.product`).
    #[serde(default)]
    pub price: Option<Price>,
}

impl CheckoutLineItem {
    /// The product id.
    pub fn product_id(&self) -> Option<&str> {
        self.price.as_ref()?.product.as_ref().map(Expandable::id)
    }

    /// The product, when Stripe sent it expanded.
    pub fn product(&self) -> Option<&Product> {
        self.price.as_ref()?.product.as_ref()?.as_object()
    }
}

impl HasId for CheckoutLineItem {
    fn id(&self) -> &str {
        &self.id
    }
}

/// Reads an invoice's `lines` leniently: lines in a shape this crate cannot read leave the
/// invoice without lines (`None`) rather than failing it, so an odd line never costs the
/// payment. All or nothing: a partial list would put a wrong set of line items on the deal.
pub(crate) fn lenient_lines<'de, D>(
    deserializer: D,
) -> Result<Option<List<InvoiceLineItem>>, D::Error>
where
    D: Deserializer<'de>,
{
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_minor_units_reads_integers_only() {
        assert_eq!(whole_minor_units("1000"), Some(1000));
        assert_eq!(whole_minor_units("1000.000"), Some(1000));
        assert_eq!(whole_minor_units("0.5"), None);
        assert_eq!(whole_minor_units(""), None);
        assert_eq!(whole_minor_units("1e3"), None);
        assert_eq!(whole_minor_units("99999999999999999999999"), None);
    }
}
