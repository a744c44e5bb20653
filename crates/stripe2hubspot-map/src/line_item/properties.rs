//! The HubSpot properties of a line item and of its product, and the definitions of their
//! custom properties for bootstrap.

use stripe_events::Money;

use crate::config::{spec, MappingConfig};
use crate::property_set::{PropertyKind, PropertySet, PropertyValue};
use crate::property_spec::PropertySpec;

use super::facts::{LineItemFacts, Recurring};

/// Line item property: Stripe's line id (`il_...`, `li_...`); custom and unique, the line
/// items upsert `idProperty`.
pub const LINE_ITEM_KEY_PROPERTY: &str = "stripe_line_item_id";

/// Product property: Stripe's product id (`prod_...`); custom and unique, the products upsert
/// `idProperty`.
pub const PRODUCT_KEY_PROPERTY: &str = "stripe_product_id";

/// HubSpot's default property group of line items.
/// <https://developers.hubspot.com/docs/api-reference/crm-properties-v3/guide>
const LINE_ITEM_GROUP: &str = "lineiteminformation";

/// HubSpot's default property group of products.
const PRODUCT_GROUP: &str = "productinformation";

fn put(set: &mut PropertySet, name: &str, value: String, kind: PropertyKind) {
    let value = PropertyValue {
        value,
        kind,
        last_charge: false,
    };
    set.insert(name, value);
}

/// HubSpot's `recurringbillingfrequency` option for a Stripe interval, when it has one
/// (`month` × 2, `day` and `week` × 3 have none).
fn frequency(recurring: &Recurring) -> Option<&'static str> {
    let months = match recurring.interval.as_str() {
        "week" => {
            return match recurring.interval_count {
                1 => Some("weekly"),
                2 => Some("biweekly"),
                _ => None,
            }
        }
        "month" => recurring.interval_count,
        "year" => recurring.interval_count.checked_mul(12)?,
        _ => return None,
    };
    match months {
        1 => Some("monthly"),
        3 => Some("quarterly"),
        6 => Some("per_six_months"),
        12 => Some("annually"),
        24 => Some("per_two_years"),
        36 => Some("per_three_years"),
        48 => Some("per_four_years"),
        60 => Some("per_five_years"),
        _ => None,
    }
}

/// One billing interval as an ISO-8601 period, the form `hs_recurring_billing_period`
/// accepts (`PnYnMnD` or `PnW`): years are written in months (`P12M`), as HubSpot's own
/// terms are.
fn period(recurring: &Recurring) -> Option<String> {
    let count = recurring.interval_count;
    match recurring.interval.as_str() {
        "day" => Some(format!("P{count}D")),
        "week" => Some(format!("P{count}W")),
        "month" => Some(format!("P{count}M")),
        "year" => count.checked_mul(12).map(|months| format!("P{months}M")),
        _ => None,
    }
}

fn insert_recurring(set: &mut PropertySet, recurring: Option<&Recurring>) {
    let Some(recurring) = recurring else { return };
    if let Some(frequency) = frequency(recurring) {
        put(
            set,
            "recurringbillingfrequency",
            frequency.to_owned(),
            PropertyKind::Standard,
        );
    }
    if let Some(period) = period(recurring) {
        put(
            set,
            "hs_recurring_billing_period",
            period,
            PropertyKind::Standard,
        );
    }
}

fn decimal(minor: i64, item: &LineItemFacts) -> String {
    Money::new(minor, item.currency).to_decimal_string()
}

/// The HubSpot line item of `item`, pointing at the HubSpot product `hubspot_product_id`
/// when given (see the table in the [module documentation](crate::line_item)). Absolute
/// values: writing them again is harmless.
///
/// ```
/// use stripe2hubspot_map::{line_item_properties, LineItemFacts, Recurring};
/// use stripe_events::Currency;
///
/// let item = LineItemFacts {
///     id: "il_1".into(), name: "Pro".into(), quantity: Some(3), unit_amount: Some(1000),
///     amount: 3000, currency: Currency::new("eur")?, price_id: Some("price_1".into()),
///     product_id: Some("prod_1".into()), product_name: Some("Pro".into()),
///     recurring: Some(Recurring { interval: "month".into(), interval_count: 1 }),
/// };
/// let line = line_item_properties(&item, Some("1234"));
/// assert_eq!(line.get("price"), Some("10.00"));
/// assert_eq!(line.get("quantity"), Some("3"));
/// assert_eq!(line.get("amount"), Some("30.00"));
/// assert_eq!(line.get("recurringbillingfrequency"), Some("monthly"));
/// assert_eq!(line.get("hs_recurring_billing_period"), Some("P1M"));
/// assert_eq!(line.get("hs_product_id"), Some("1234"));
/// assert_eq!(line.get("stripe_line_item_id"), Some("il_1"));
/// # Ok::<(), stripe_events::InvalidCurrency>(())
/// ```
pub fn line_item_properties(item: &LineItemFacts, hubspot_product_id: Option<&str>) -> PropertySet {
    let mut set = PropertySet::new();
    put(&mut set, "name", item.name.clone(), PropertyKind::Standard);
    put(
        &mut set,
        "quantity",
        item.hubspot_quantity().to_string(),
        PropertyKind::Standard,
    );
    put(
        &mut set,
        "price",
        decimal(item.hubspot_unit_amount(), item),
        PropertyKind::Standard,
    );
    put(
        &mut set,
        "amount",
        decimal(item.amount, item),
        PropertyKind::Standard,
    );
    put(
        &mut set,
        "hs_line_item_currency_code",
        item.currency.iso_code(),
        PropertyKind::Standard,
    );
    insert_recurring(&mut set, item.recurring.as_ref());
    if let Some(product) = hubspot_product_id.map(str::trim).filter(|p| !p.is_empty()) {
        put(
            &mut set,
            "hs_product_id",
            product.to_owned(),
            PropertyKind::Standard,
        );
    }
    put(
        &mut set,
        LINE_ITEM_KEY_PROPERTY,
        item.id.clone(),
        PropertyKind::Custom,
    );
    set
}

/// The HubSpot product of `item`, with its Stripe product id (the upsert key), or `None`
/// when the line names no product (it is then written as a line item without a product).
/// See the table in the [module documentation](crate::line_item).
///
/// ```
/// use stripe2hubspot_map::{product_properties, LineItemFacts};
/// use stripe_events::Currency;
///
/// let item = LineItemFacts {
///     id: "il_1".into(), name: "3 × Pro".into(), quantity: Some(3), unit_amount: Some(1000),
///     amount: 3000, currency: Currency::new("eur")?, price_id: None,
///     product_id: Some("prod_1".into()), product_name: Some("Pro".into()), recurring: None,
/// };
/// let (id, product) = product_properties(&item).expect("a product");
/// assert_eq!(id, "prod_1");
/// assert_eq!(product.get("name"), Some("Pro"));
/// assert_eq!(product.get("price"), Some("10.00"));
/// assert_eq!(product.get("stripe_product_id"), Some("prod_1"));
/// # Ok::<(), stripe_events::InvalidCurrency>(())
/// ```
pub fn product_properties(item: &LineItemFacts) -> Option<(String, PropertySet)> {
    let id = item
        .product_id
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty())?
        .to_owned();
    let mut set = PropertySet::new();
    let name = item
        .product_name
        .clone()
        .unwrap_or_else(|| item.name.clone());
    put(&mut set, "name", name, PropertyKind::Standard);
    // The price's own unit amount when known: a proration's share is not the product's price.
    let price = item
        .unit_amount
        .unwrap_or_else(|| item.hubspot_unit_amount());
    put(
        &mut set,
        "price",
        decimal(price, item),
        PropertyKind::Standard,
    );
    insert_recurring(&mut set, item.recurring.as_ref());
    put(
        &mut set,
        PRODUCT_KEY_PROPERTY,
        id.clone(),
        PropertyKind::Custom,
    );
    Some((id, set))
}

impl MappingConfig {
    /// The custom line item properties this mapping writes: what bootstrap must create on
    /// line items when missing (`stripe_line_item_id`, unique). Empty when
    /// [`line_items`](Self::line_items) is off.
    pub fn line_item_custom_properties(&self) -> Vec<PropertySpec> {
        if !self.line_items {
            return Vec::new();
        }
        vec![spec(
            LINE_ITEM_KEY_PROPERTY,
            "Stripe line item id",
            "string",
            LINE_ITEM_GROUP,
            true,
            "The Stripe invoice line (il_...) or Checkout line item (li_...) this line item records.",
        )]
    }

    /// The custom product properties this mapping writes: what bootstrap must create on
    /// products when missing (`stripe_product_id`, unique). Empty when
    /// [`line_items`](Self::line_items) is off.
    pub fn product_custom_properties(&self) -> Vec<PropertySpec> {
        if !self.line_items {
            return Vec::new();
        }
        vec![spec(
            PRODUCT_KEY_PROPERTY,
            "Stripe product id",
            "string",
            PRODUCT_GROUP,
            true,
            "The Stripe product (prod_...) this product mirrors.",
        )]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every(interval: &str, count: u32) -> Recurring {
        Recurring {
            interval: interval.into(),
            interval_count: count,
        }
    }

    #[test]
    fn stripe_intervals_map_to_hubspot_frequencies_and_periods() {
        let cases = [
            ("week", 1, Some("weekly"), Some("P1W")),
            ("week", 2, Some("biweekly"), Some("P2W")),
            ("week", 3, None, Some("P3W")),
            ("month", 1, Some("monthly"), Some("P1M")),
            ("month", 2, None, Some("P2M")),
            ("month", 3, Some("quarterly"), Some("P3M")),
            ("month", 6, Some("per_six_months"), Some("P6M")),
            ("month", 12, Some("annually"), Some("P12M")),
            ("year", 1, Some("annually"), Some("P12M")),
            ("year", 2, Some("per_two_years"), Some("P24M")),
            ("year", 5, Some("per_five_years"), Some("P60M")),
            ("year", 6, None, Some("P72M")),
            ("day", 30, None, Some("P30D")),
            ("fortnight", 1, None, None),
        ];
        for (interval, count, want_frequency, want_period) in cases {
            let r = every(interval, count);
            assert_eq!(frequency(&r), want_frequency, "{interval} x{count}");
            assert_eq!(period(&r).as_deref(), want_period, "{interval} x{count}");
        }
        assert_eq!(period(&every("year", u32::MAX)), None);
    }
}
