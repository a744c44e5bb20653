//! What one Stripe event, or one object read for backfill, says about one customer.

use std::fmt;

use serde::{Deserialize, Serialize};
use stripe_events::{
    Currency, Customer, Discount, Event, EventObject, Expandable, Subscription, SubscriptionItem,
};

use crate::config::{MappingConfig, CUSTOMER_EVENT_TYPES};
use crate::error::MapError;
use crate::facts::Stamp;
use crate::personal::Personal;
use crate::skip::SkipReason;
use crate::text::{iso_utc, normalize_email, present};

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
    /// The customer's business name (Stripe's `business_name`, set only for a business):
    /// what may name its company. Kept as personal data, since a sole trader's business name
    /// is often their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub business_name: Option<Personal>,
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
    /// The product's name, when Stripe sent the product expanded (a backfill or a re-read
    /// does; a webhook sends the product's id only).
    pub product_name: Option<String>,
    /// The price's nickname.
    #[serde(default)]
    pub price_nickname: Option<String>,
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

impl DiscountFacts {
    /// Whether Stripe sent only the discount's id, not its coupon: nothing says what it takes
    /// off. Webhooks on API versions from 2025-09-30 list `discounts` as ids; a re-read from
    /// Stripe's API with the discounts expanded tells.
    pub fn is_unresolved(&self) -> bool {
        self.percent_off_bp.is_none() && self.amount_off.is_none()
    }
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
/// Other event types, and those the configuration does not handle, give
/// [`SkipReason::UnhandledEventType`] (the payment reader,
/// [`facts_from_event`](crate::facts_from_event), handles them instead).
///
/// ```
/// use stripe2hubspot_map::{customer_facts_from_event, CustomerOutcome, MappingConfig};
///
/// let event: stripe_events::Event = serde_json::from_str(r#"{
///   "id": "evt_1", "object": "event", "type": "customer.deleted", "created": 1700000000,
///   "data": {"object": {"id": "cus_1", "object": "customer", "email": "ann@example.com"}}
/// }"#)?;
/// let CustomerOutcome::Facts(facts) = customer_facts_from_event(&event, &MappingConfig::default())? else {
///     panic!("expected facts");
/// };
/// assert_eq!(facts.customer_id, "cus_1");
/// assert!(facts.deleted && facts.contact.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn customer_facts_from_event(
    event: &Event,
    config: &MappingConfig,
) -> Result<CustomerOutcome, MapError> {
    config.validate()?;
    let ours = CUSTOMER_EVENT_TYPES.contains(&event.type_.as_str());
    if !ours || !config.handles(&event.type_) {
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
/// if any (`customer.deleted` marks the customer deleted, as does a deleted customer stub);
/// `event_id` names the event (or the backfill read) in errors.
///
/// Errors (permanent: dead-letter the event, replay it after fixing the cause):
/// - [`MapError::UnexpectedObject`]: neither a customer nor a subscription, or one not in
///   Stripe's documented shape;
/// - [`MapError::MissingCustomerId`]: a subscription that names no customer (Stripe always
///   names one, so the object is not a real subscription);
/// - [`MapError::UnknownSubscriptionStatus`]: a status newer than this crate (upgrade, then
///   replay; guessing its rank could show a churned customer as active);
/// - [`MapError::InvalidTimestamp`]: a time outside years 0-9999.
///
/// A subscription's price in a shape MRR cannot use (tiered, metered, no unit amount, an
/// unknown interval) is kept as it is; [`mrr`](crate::mrr) leaves it out.
pub fn customer_facts_from_object(
    object: &EventObject,
    event_type: Option<&str>,
    stamp: Stamp,
    event_id: &str,
) -> Result<CustomerOutcome, MapError> {
    let facts = match object {
        EventObject::Customer(customer) => from_customer(customer, event_type, stamp),
        EventObject::Subscription(subscription) => {
            from_subscription(subscription, stamp, event_id)?
        }
        other => {
            return Err(MapError::UnexpectedObject {
                event_id: event_id.to_owned(),
                event_type: event_type.unwrap_or("(backfill)").to_owned(),
                found: match other {
                    EventObject::Unknown(_) => "an unrecognised object",
                    _ => "a payment object",
                },
            })
        }
    };
    if facts.customer_id.trim().is_empty() {
        return Err(MapError::MissingCustomerId {
            event_id: event_id.to_owned(),
        });
    }
    for secs in times_of(&facts) {
        if iso_utc(secs).is_none() {
            return Err(MapError::InvalidTimestamp {
                event_id: event_id.to_owned(),
                value: secs,
            });
        }
    }
    Ok(CustomerOutcome::Facts(Box::new(facts)))
}

/// Every time the facts carry: each is written to HubSpot as a date, so each must be one.
fn times_of(facts: &CustomerFacts) -> Vec<i64> {
    let mut times = vec![facts.stamp.created];
    if let Some(s) = &facts.subscription {
        times.extend(
            [
                s.current_period_end,
                s.trial_end,
                s.cancel_at,
                s.ended_at,
                s.started_at,
            ]
            .into_iter()
            .flatten(),
        );
        times.extend(s.items.iter().filter_map(|i| i.current_period_end));
        times.extend(s.discounts.iter().filter_map(|d| d.end));
    }
    times
}

fn personal(value: Option<&str>) -> Option<Personal> {
    present(value).map(Personal::new)
}

fn from_customer(customer: &Customer, event_type: Option<&str>, stamp: Stamp) -> CustomerFacts {
    let deleted = customer.deleted || event_type == Some("customer.deleted");
    // A deletion forgets the person: its payload's contact data is not taken up again.
    let contact = (!deleted).then(|| CustomerContact {
        email: customer
            .email
            .as_deref()
            .and_then(normalize_email)
            .map(Personal::new),
        name: personal(customer.name.as_deref()),
        phone: personal(customer.phone.as_deref()),
        business_name: personal(customer.business_name.as_deref()),
    });
    CustomerFacts {
        stamp,
        customer_id: customer.id.trim().to_owned(),
        contact,
        deleted,
        subscription: None,
    }
}

fn from_subscription(
    sub: &Subscription,
    stamp: Stamp,
    event_id: &str,
) -> Result<CustomerFacts, MapError> {
    use stripe_events::SubscriptionStatus as Stripe;
    let status = match sub.status {
        Some(Stripe::Active) => SubscriptionStatus::Active,
        Some(Stripe::Trialing) => SubscriptionStatus::Trialing,
        Some(Stripe::PastDue) => SubscriptionStatus::PastDue,
        Some(Stripe::Unpaid) => SubscriptionStatus::Unpaid,
        Some(Stripe::Paused) => SubscriptionStatus::Paused,
        Some(Stripe::Incomplete) => SubscriptionStatus::Incomplete,
        Some(Stripe::IncompleteExpired) => SubscriptionStatus::IncompleteExpired,
        Some(Stripe::Canceled) => SubscriptionStatus::Canceled,
        Some(Stripe::Other) | None => {
            return Err(MapError::UnknownSubscriptionStatus {
                event_id: event_id.to_owned(),
                subscription_id: sub.id.clone(),
            })
        }
    };
    let Some(customer) = sub.customer.as_ref().and_then(|c| present(Some(c.id()))) else {
        return Err(MapError::MissingCustomerId {
            event_id: event_id.to_owned(),
        });
    };
    let items: Vec<ItemFacts> = sub.item_list().iter().map(item_facts).collect();
    let currency = sub
        .currency
        .or_else(|| items.iter().find_map(|i| i.currency));
    let current_period_end = sub.period_end();
    let cancel_at = sub
        .cancel_at
        .or(current_period_end.filter(|_| sub.cancel_at_period_end));
    let ended_at = sub.ended_at.or(sub
        .canceled_at
        .filter(|_| status == SubscriptionStatus::Canceled));
    let mut discounts: Vec<DiscountFacts> = sub
        .all_discounts()
        .iter()
        // A discount that ended before the event no longer takes anything off.
        .filter(|d| {
            d.as_object()
                .and_then(|d| d.end)
                .is_none_or(|end| end > stamp.created)
        })
        .map(discount_facts)
        .collect();
    discounts.sort();
    discounts.dedup();
    Ok(CustomerFacts {
        stamp,
        customer_id: customer.to_owned(),
        contact: None,
        deleted: false,
        subscription: Some(SubscriptionFacts {
            id: sub.id.trim().to_owned(),
            status,
            currency,
            items,
            discounts,
            current_period_end,
            trial_end: sub.trial_end,
            cancel_at,
            ended_at,
            started_at: sub.start_date.or(sub.created),
        }),
    })
}

fn item_facts(item: &SubscriptionItem) -> ItemFacts {
    let price = item.price.as_ref();
    let recurring = price.and_then(|p| p.recurring.as_ref());
    let product = price.and_then(|p| p.product.as_ref());
    let product_name = product
        .and_then(Expandable::as_object)
        .and_then(|p| present(p.name.as_deref()))
        .map(str::to_owned);
    let price_nickname = present(price.and_then(|p| p.nickname.as_deref())).map(str::to_owned);
    let text = |value: Option<&String>| present(value.map(String::as_str)).map(str::to_owned);
    ItemFacts {
        id: item.id.clone(),
        price_id: price.map(|p| p.id.clone()),
        product_id: product.map(|p| p.id().to_owned()),
        product_name,
        price_nickname,
        unit_amount: price.and_then(|p| p.unit_amount),
        unit_amount_decimal: text(price.and_then(|p| p.unit_amount_decimal.as_ref())),
        currency: price.and_then(|p| p.currency),
        interval: text(recurring.and_then(|r| r.interval.as_ref())),
        interval_count: recurring.and_then(|r| r.interval_count).unwrap_or(1).max(1),
        usage_type: text(recurring.and_then(|r| r.usage_type.as_ref())),
        billing_scheme: text(price.and_then(|p| p.billing_scheme.as_ref())),
        // Stripe sends a licensed item's quantity (1 unless set); metered items have none.
        quantity: item.quantity.unwrap_or(1).max(0),
        current_period_end: item.current_period_end,
    }
}

/// The discount's coupon values, when Stripe sent the coupon itself (an id alone, as
/// `discounts` holds unless expanded, says nothing MRR can use).
fn discount_facts(discount: &Expandable<Discount>) -> DiscountFacts {
    let object = discount.as_object();
    let coupon = object.and_then(Discount::coupon);
    // Hundredths of a percent: 25.5% is 2550, exact for Stripe's two-decimal percentages.
    let percent_off_bp = coupon
        .and_then(|c| c.percent_off)
        .filter(|p| p.is_finite() && (0.0..=100.0).contains(p))
        .map(|p| (p * 100.0).round() as i64);
    DiscountFacts {
        id: discount.id().to_owned(),
        percent_off_bp,
        amount_off: coupon.and_then(|c| c.amount_off).map(|a| a.max(0)),
        currency: coupon.and_then(|c| c.currency),
        end: object.and_then(|d| d.end),
    }
}
