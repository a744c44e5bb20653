//! A Stripe subscription with its items, prices, products and discounts, in the shapes of API
//! versions before and after 2025-03-31.basil and 2025-09-30.clover.
//!
//! - Before 2025-03-31.basil the billing period is on the subscription
//!   (`current_period_end`); from then on it is on each item
//!   (<https://docs.stripe.com/changelog/basil/2025-03-31/deprecate-subscription-current-period-start-and-end>).
//! - Older versions carry one `discount` (a full object); newer ones `discounts`, an array of
//!   discount ids unless expanded.
//! - A discount names its coupon as `coupon` (embedded) before 2025-09-30.clover and as
//!   `source.coupon` (an id unless expanded) from then on
//!   (<https://docs.stripe.com/changelog/clover/2025-09-30/add-discount-source-property>).
//!
//! Every field beyond the id is optional, so an id-only subscription (as expanded inside an
//! invoice, or a reference) parses too, and a value this crate does not know (a new status,
//! interval or usage type) is kept rather than failing the parse. Shapes checked against
//! Stripe's OpenAPI fixtures (<https://github.com/stripe/openapi>, `openapi/fixtures3.json`).

use serde::{Deserialize, Serialize};

use crate::event::{null_as_default, Customer, Expandable, HasId, Metadata};
use crate::list::List;
use crate::money::Currency;

/// Status of a [`Subscription`].
/// <https://docs.stripe.com/api/subscriptions/object#subscription_object-status>
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // Stripe's status names.
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Unpaid,
    Paused,
    Incomplete,
    IncompleteExpired,
    Canceled,
    /// A status this crate does not know yet.
    #[serde(other)]
    Other,
}

impl SubscriptionStatus {
    /// Stripe's spelling of the status (`"past_due"`, ...; `"unknown"` for
    /// [`Other`](Self::Other)).
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "active",
            SubscriptionStatus::Trialing => "trialing",
            SubscriptionStatus::PastDue => "past_due",
            SubscriptionStatus::Unpaid => "unpaid",
            SubscriptionStatus::Paused => "paused",
            SubscriptionStatus::Incomplete => "incomplete",
            SubscriptionStatus::IncompleteExpired => "incomplete_expired",
            SubscriptionStatus::Canceled => "canceled",
            SubscriptionStatus::Other => "unknown",
        }
    }
}

/// A product, when Stripe sent it expanded (`price.product`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    /// Product id (`prod_...`).
    pub id: String,
    /// The product's name, shown to customers.
    #[serde(default)]
    pub name: Option<String>,
    /// `true` on a deleted product stub.
    #[serde(default)]
    pub deleted: bool,
}

impl HasId for Product {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `price.recurring`: how often a recurring price bills.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recurring {
    /// `day`, `week`, `month` or `year` (kept as sent, so a new interval does not fail).
    #[serde(default)]
    pub interval: Option<String>,
    /// Number of intervals between two bills (`3` with `month`: quarterly).
    #[serde(default)]
    pub interval_count: Option<i64>,
    /// `licensed` (billed by quantity) or `metered` (billed by usage).
    #[serde(default)]
    pub usage_type: Option<String>,
}

/// A price (`price_...`), as a subscription item carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Price {
    /// Price id.
    pub id: String,
    /// Currency of the amounts.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// Unit amount in minor units; `null` for tiered or custom prices and for amounts with
    /// fractions of a minor unit.
    #[serde(default)]
    pub unit_amount: Option<i64>,
    /// Unit amount in minor units as a decimal string (may hold fractions: `"0.5"`).
    #[serde(default)]
    pub unit_amount_decimal: Option<String>,
    /// `per_unit` or `tiered`.
    #[serde(default)]
    pub billing_scheme: Option<String>,
    /// Set for recurring prices.
    #[serde(default)]
    pub recurring: Option<Recurring>,
    /// The product, as an id or expanded.
    #[serde(default)]
    pub product: Option<Expandable<Product>>,
    /// A brief description of the price, hidden from customers.
    #[serde(default)]
    pub nickname: Option<String>,
}

impl HasId for Price {
    fn id(&self) -> &str {
        &self.id
    }
}

/// A coupon: what a discount takes off.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coupon {
    /// Coupon id.
    pub id: String,
    /// Percent off (`25.5` is 25.5%).
    #[serde(default)]
    pub percent_off: Option<f64>,
    /// Amount off, in minor units of `currency`, per invoice.
    #[serde(default)]
    pub amount_off: Option<i64>,
    /// Currency of `amount_off`.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// `forever`, `once` or `repeating`.
    #[serde(default)]
    pub duration: Option<String>,
}

impl HasId for Coupon {
    fn id(&self) -> &str {
        &self.id
    }
}

/// `discount.source` (API versions from 2025-09-30.clover).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DiscountSource {
    /// `coupon`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// The coupon redeemed, an id unless expanded.
    #[serde(default)]
    pub coupon: Option<Expandable<Coupon>>,
}

/// A discount (`di_...`): a coupon applied to a subscription.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Discount {
    /// Discount id.
    pub id: String,
    /// The coupon (API versions before 2025-09-30.clover, where it is always embedded).
    #[serde(default)]
    pub coupon: Option<Expandable<Coupon>>,
    /// Where the discount comes from (API versions from 2025-09-30.clover).
    #[serde(default)]
    pub source: Option<DiscountSource>,
    /// When the discount started applying.
    #[serde(default)]
    pub start: Option<i64>,
    /// When it stops applying; `null` for a coupon that lasts forever.
    #[serde(default)]
    pub end: Option<i64>,
}

impl Discount {
    /// The coupon in either API shape, when Stripe sent it (not just its id).
    pub fn coupon(&self) -> Option<&Coupon> {
        let newer = self.source.as_ref().and_then(|s| s.coupon.as_ref());
        self.coupon
            .as_ref()
            .and_then(Expandable::as_object)
            .or_else(|| newer.and_then(Expandable::as_object))
    }
}

impl HasId for Discount {
    fn id(&self) -> &str {
        &self.id
    }
}

/// One item of a subscription (`si_...`): a price and a quantity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionItem {
    /// Item id.
    pub id: String,
    /// The price billed.
    #[serde(default)]
    pub price: Option<Price>,
    /// Quantity of the price (licensed prices; absent for metered ones).
    #[serde(default)]
    pub quantity: Option<i64>,
    /// End of this item's current billing period (API versions from 2025-03-31.basil).
    #[serde(default)]
    pub current_period_end: Option<i64>,
    /// Discounts of this item alone, ids unless expanded.
    #[serde(default, deserialize_with = "null_as_default")]
    pub discounts: Vec<Expandable<Discount>>,
}

/// A Stripe subscription (`sub_...`). Only the id is required: everything else is optional,
/// so an id-only expanded reference parses too.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
    /// The customer billed.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// Where the subscription stands.
    #[serde(default)]
    pub status: Option<SubscriptionStatus>,
    /// Currency of its prices.
    #[serde(default)]
    pub currency: Option<Currency>,
    /// Its items.
    #[serde(default)]
    pub items: Option<List<SubscriptionItem>>,
    /// The one discount (API versions that still have it).
    #[serde(default)]
    pub discount: Option<Discount>,
    /// Its discounts, ids unless expanded (`expand[]=discounts`).
    #[serde(default, deserialize_with = "null_as_default")]
    pub discounts: Vec<Expandable<Discount>>,
    /// End of the current billing period (API versions before 2025-03-31.basil).
    #[serde(default)]
    pub current_period_end: Option<i64>,
    /// End of the trial, if any.
    #[serde(default)]
    pub trial_end: Option<i64>,
    /// A scheduled cancellation time.
    #[serde(default)]
    pub cancel_at: Option<i64>,
    /// Whether it cancels at the end of the current period.
    #[serde(default, deserialize_with = "null_as_default")]
    pub cancel_at_period_end: bool,
    /// When it was canceled (or asked to be, for a cancellation at period end).
    #[serde(default)]
    pub canceled_at: Option<i64>,
    /// When it ended, if it did.
    #[serde(default)]
    pub ended_at: Option<i64>,
    /// When it started.
    #[serde(default)]
    pub start_date: Option<i64>,
    /// When it was created.
    #[serde(default)]
    pub created: Option<i64>,
    /// Key-value metadata.
    #[serde(default, deserialize_with = "null_as_default")]
    pub metadata: Metadata,
    /// Whether it is live (`false` in test mode).
    #[serde(default)]
    pub livemode: bool,
}

impl Subscription {
    /// The subscription's items (none when Stripe sent no list).
    pub fn item_list(&self) -> &[SubscriptionItem] {
        self.items.as_ref().map_or(&[], |l| l.data.as_slice())
    }

    /// The end of the current billing period in either API shape: the subscription's own
    /// field, else the earliest of its items'.
    pub fn period_end(&self) -> Option<i64> {
        self.current_period_end.or_else(|| {
            self.item_list()
                .iter()
                .filter_map(|i| i.current_period_end)
                .min()
        })
    }

    /// Every discount in either API shape: `discounts`, with the single (always embedded)
    /// `discount` standing in for its id there, or added when `discounts` does not name it.
    pub fn all_discounts(&self) -> Vec<Expandable<Discount>> {
        let mut all = self.discounts.clone();
        if let Some(single) = &self.discount {
            let embedded = Expandable::Object(Box::new(single.clone()));
            match all.iter_mut().find(|d| d.id() == single.id) {
                Some(slot) if slot.as_object().is_none() => *slot = embedded,
                Some(_) => {}
                None => all.push(embedded),
            }
        }
        all
    }
}

impl HasId for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
}
