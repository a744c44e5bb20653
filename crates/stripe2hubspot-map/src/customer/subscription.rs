//! Subscription status and the contact properties derived from a customer's row.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use stripe_events::Money;

use crate::config::MappingConfig;
use crate::property_set::{PropertyKind, PropertySet, PropertyValue};
use crate::text::iso_utc;

use super::facts::SubscriptionFacts;
use super::mrr::mrr;
use super::properties::{
    ACTIVE_SUBSCRIPTIONS_PROPERTY, ARR_PROPERTY, CANCEL_AT_DATE_PROPERTY, CHURN_DATE_PROPERTY,
    MRR_CURRENCY_PROPERTY, MRR_PROPERTY, NEXT_RENEWAL_DATE_PROPERTY, NO_SUBSCRIPTION_STATUS,
    PLAN_PROPERTY, SUBSCRIPTION_STATUS_PROPERTY, TRIAL_END_DATE_PROPERTY,
};
use super::row::CustomerRow;

/// A subscription's status, ordered from most to least alive (`Active` first), as
/// `stripe_subscription_status` ranks them.
/// <https://docs.stripe.com/api/subscriptions/object#subscription_object-status>
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
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
}

impl SubscriptionStatus {
    /// Every status, most alive first.
    pub const ALL: [SubscriptionStatus; 8] = [
        SubscriptionStatus::Active,
        SubscriptionStatus::Trialing,
        SubscriptionStatus::PastDue,
        SubscriptionStatus::Unpaid,
        SubscriptionStatus::Paused,
        SubscriptionStatus::Incomplete,
        SubscriptionStatus::IncompleteExpired,
        SubscriptionStatus::Canceled,
    ];

    /// Stripe's spelling, the value of `stripe_subscription_status`.
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
        }
    }

    /// The label HubSpot shows for the option.
    pub fn label(self) -> &'static str {
        match self {
            SubscriptionStatus::Active => "Active",
            SubscriptionStatus::Trialing => "Trialing",
            SubscriptionStatus::PastDue => "Past due",
            SubscriptionStatus::Unpaid => "Unpaid",
            SubscriptionStatus::Paused => "Paused",
            SubscriptionStatus::Incomplete => "Incomplete",
            SubscriptionStatus::IncompleteExpired => "Incomplete expired",
            SubscriptionStatus::Canceled => "Canceled",
        }
    }

    /// Live: `active`, `trialing` or `past_due`, the subscriptions counted in
    /// `stripe_active_subscriptions`, the plan and the renewal date.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing | SubscriptionStatus::PastDue
        )
    }

    /// Terminal: `canceled` or `incomplete_expired`; Stripe never changes such a subscription
    /// again, so a terminal snapshot outranks a live one of the same second.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
        )
    }

    /// Whether the subscription's items count in MRR: `active` or `past_due` (a trial counts
    /// 0, as in Stripe's billing analytics).
    pub fn counts_for_mrr(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Active | SubscriptionStatus::PastDue
        )
    }
}

fn date(secs: Option<i64>) -> String {
    // Facts with a time outside years 0-9999 are rejected when read.
    secs.and_then(iso_utc).unwrap_or_default()
}

/// The name `stripe_plan` shows for an item: its product's name as the row last learned it
/// (from any snapshot that had the product expanded: webhooks send the product as an id only,
/// so a webhook after a backfill keeps the name), else the price's nickname, else the product id.
fn plan_name<'a>(row: &'a CustomerRow, item: &'a super::facts::ItemFacts) -> Option<&'a str> {
    let learned = item
        .product_id
        .as_deref()
        .and_then(|id| row.product_name(id));
    learned
        .or(item.product_name.as_deref())
        .or(item.price_nickname.as_deref())
        .or(item.product_id.as_deref())
        .map(str::trim)
        .filter(|n| !n.is_empty())
}

/// The subscription properties of a customer's contact (`stripe_subscription_status`,
/// `stripe_mrr`, `stripe_arr`, `stripe_mrr_currency`, `stripe_active_subscriptions`,
/// `stripe_plan`, `stripe_next_renewal_date`, `stripe_trial_end_date`,
/// `stripe_cancel_at_date`, `stripe_churn_date`): absolute values, empty strings clear. Empty
/// when [`MappingConfig::subscriptions`] is off.
///
/// - status: the most alive of the subscriptions' statuses, `none` without any;
/// - MRR, its currency and ARR: see [`mrr`]; ARR is 12 × MRR *as rounded and written*, so
///   the two properties always agree (`stripe_arr` = 12 × `stripe_mrr` exactly); all three
///   empty when the customer never had a subscription;
/// - active subscriptions: how many are live (`active`, `trialing`, `past_due`);
/// - plan: the names of the live subscriptions' items (the expanded product's name, else the
///   price nickname, else the product id), each once, sorted, joined with `; `;
/// - next renewal: the earliest current period end of the live subscriptions;
/// - trial end: the latest trial end of a trialing subscription;
/// - cancel at: the earliest scheduled cancellation of a live subscription (`cancel_at`, or
///   the period end with `cancel_at_period_end`);
/// - churn date: with no live subscription, the latest time one ended; empty while one is
///   live (so a new subscription clears it).
///
/// ```
/// use stripe2hubspot_map::{customer_facts_from_event, subscription_properties, CustomerOutcome, CustomerRow, MappingConfig};
///
/// let config = MappingConfig::default();
/// let event: stripe_events::Event = serde_json::from_str(r#"{
///   "id": "evt_1", "object": "event", "type": "customer.subscription.created", "created": 1700000000,
///   "data": {"object": {"id": "sub_1", "object": "subscription", "customer": "cus_1",
///     "status": "active", "currency": "usd", "current_period_end": 1702592000,
///     "items": {"object": "list", "data": [{"id": "si_1", "quantity": 1, "price": {
///       "id": "price_1", "currency": "usd", "unit_amount": 49000, "billing_scheme": "per_unit",
///       "recurring": {"interval": "year", "interval_count": 1, "usage_type": "licensed"},
///       "product": "prod_1", "nickname": "Pro yearly"}}]}}}
/// }"#)?;
/// let CustomerOutcome::Facts(facts) = customer_facts_from_event(&event, &config)? else { panic!() };
/// let contact = subscription_properties(&CustomerRow::from_facts(&facts), &config);
/// assert_eq!(contact.get("stripe_subscription_status"), Some("active"));
/// assert_eq!(contact.get("stripe_mrr"), Some("40.83")); // 490.00 / 12
/// assert_eq!(contact.get("stripe_arr"), Some("489.96")); // 12 x 40.83
/// assert_eq!(contact.get("stripe_mrr_currency"), Some("USD"));
/// assert_eq!(contact.get("stripe_plan"), Some("Pro yearly"));
/// assert_eq!(contact.get("stripe_next_renewal_date"), Some("2023-12-14T22:13:20Z"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn subscription_properties(row: &CustomerRow, config: &MappingConfig) -> PropertySet {
    let mut set = PropertySet::new();
    if !config.subscriptions {
        return set;
    }
    let mut put = |name: &str, value: String| {
        let value = PropertyValue {
            value,
            kind: PropertyKind::Custom,
            last_charge: false,
        };
        set.insert(name, value);
    };
    let all: Vec<&SubscriptionFacts> = row.subscriptions().collect();
    let live: Vec<&SubscriptionFacts> =
        all.iter().copied().filter(|s| s.status.is_live()).collect();

    let status = all.iter().map(|s| s.status).min();
    put(
        SUBSCRIPTION_STATUS_PROPERTY,
        status
            .map_or(NO_SUBSCRIPTION_STATUS, SubscriptionStatus::as_str)
            .to_owned(),
    );

    let monthly = mrr(row);
    let yearly = monthly.and_then(|m| m.minor.checked_mul(12).map(|a| Money::new(a, m.currency)));
    put(
        MRR_PROPERTY,
        monthly.map(|m| m.to_decimal_string()).unwrap_or_default(),
    );
    put(
        ARR_PROPERTY,
        yearly.map(|a| a.to_decimal_string()).unwrap_or_default(),
    );
    put(
        MRR_CURRENCY_PROPERTY,
        monthly.map(|m| m.currency.iso_code()).unwrap_or_default(),
    );

    put(ACTIVE_SUBSCRIPTIONS_PROPERTY, live.len().to_string());
    let plans: BTreeSet<&str> = live
        .iter()
        .flat_map(|s| s.items.iter())
        .filter_map(|item| plan_name(row, item))
        .collect();
    put(
        PLAN_PROPERTY,
        plans.into_iter().collect::<Vec<_>>().join("; "),
    );
    let period_end = |s: &SubscriptionFacts| {
        s.current_period_end
            .or_else(|| s.items.iter().filter_map(|i| i.current_period_end).min())
    };
    put(
        NEXT_RENEWAL_DATE_PROPERTY,
        date(live.iter().filter_map(|s| period_end(s)).min()),
    );
    put(
        TRIAL_END_DATE_PROPERTY,
        date(
            live.iter()
                .filter(|s| s.status == SubscriptionStatus::Trialing)
                .filter_map(|s| s.trial_end)
                .max(),
        ),
    );
    put(
        CANCEL_AT_DATE_PROPERTY,
        date(live.iter().filter_map(|s| s.cancel_at).min()),
    );
    let churned = if live.is_empty() {
        all.iter().filter_map(|s| s.ended_at).max()
    } else {
        None
    };
    put(CHURN_DATE_PROPERTY, date(churned));
    set
}
