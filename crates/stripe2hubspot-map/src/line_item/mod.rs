//! What was sold on a payment: its line items ([`LineItemFacts`], from an invoice's
//! `lines.data[]` or a Checkout Session's line items), the HubSpot line items and products
//! they become, and their property definitions for bootstrap.
//!
//! Line items record what was sold, so a refund or a dispute changes the deal, never them.
//! They are keyed by Stripe's line id in the unique custom property `stripe_line_item_id`
//! (`il_...`, `li_...`) and their products by `stripe_product_id` (`prod_...`), so a
//! redelivery or a backfill updates them in place.
//!
//! # HubSpot line item properties ([`line_item_properties`])
//!
//! | Property | Value |
//! |---|---|
//! | `name` | [`LineItemFacts::name`]: the product's name when Stripe sent the product expanded, else the line's description, else the price id, else the line id |
//! | `quantity` | the quantity (`1` when Stripe gives none; see [`LineItemFacts::hubspot_quantity`]) |
//! | `price` | the unit price, a decimal in the currency's exponent (`10.00`; JPY `500`), chosen so that price × quantity is the line's amount (see [`LineItemFacts::hubspot_unit_amount`]) |
//! | `amount` | the line's amount (before discounts), a decimal in the currency's exponent; HubSpot also calculates it from price × quantity, which agrees |
//! | `hs_line_item_currency_code` | the ISO code (`EUR`) |
//! | `recurringbillingfrequency` | recurring prices only: `weekly`, `biweekly`, `monthly`, `quarterly`, `per_six_months`, `annually`, `per_two_years` ... `per_five_years`; left out for other intervals |
//! | `hs_recurring_billing_period` | recurring prices only: one billing interval as ISO-8601 (`P1M`, `P3M`, `P12M`, `P2W`, `P30D`) |
//! | `hs_product_id` | the HubSpot product's id, when the product was written |
//! | `stripe_line_item_id` | the Stripe line id (custom, unique: the upsert key) |
//!
//! # HubSpot product properties ([`product_properties`])
//!
//! | Property | Value |
//! |---|---|
//! | `name` | the product's name when known, else the line's name |
//! | `price` | the price's unit amount, of the line that wrote the product last |
//! | `recurringbillingfrequency`, `hs_recurring_billing_period` | as on the line item, for a recurring price |
//! | `stripe_product_id` | the Stripe product id (custom, unique: the upsert key) |
//!
//! HubSpot's line item and product properties:
//! <https://developers.hubspot.com/docs/api-reference/latest/crm/objects/line-items/guide>
//! (`hs_recurring_billing_period` takes ISO-8601 `PnYnMnD` and `PnW`; `price` cannot be
//! negative), <https://developers.hubspot.com/docs/api-reference/latest/crm/objects/products/guide>.
//! The `recurringbillingfrequency` option values are those of HubSpot's default property
//! (`weekly`, `biweekly`, `monthly`, `quarterly`, `per_six_months`, `annually`,
//! `per_two_years`, `per_three_years`, `per_four_years`, `per_five_years`), see
//! <https://knowledge.hubspot.com/products/how-do-i-use-products> ("Billing frequency").

mod facts;
mod properties;

pub(crate) use facts::hex;
pub use facts::{line_items_fingerprint, LineItemFacts, Recurring};
pub use properties::{
    line_item_properties, product_properties, LINE_ITEM_KEY_PROPERTY, PRODUCT_KEY_PROPERTY,
};
