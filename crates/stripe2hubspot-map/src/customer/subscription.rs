//! Subscription status, MRR and the contact properties derived from a customer's row.

use serde::{Deserialize, Serialize};
use stripe_events::Money;

use crate::config::MappingConfig;
use crate::property_set::PropertySet;

use super::row::CustomerRow;

/// A subscription's status, ordered from most to least alive (`Active` first), as
/// `stripe_subscription_status` ranks them.
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

/// The customer's monthly recurring revenue (see the README's definition), or `None` when no
/// subscription counts.
pub fn mrr(row: &CustomerRow) -> Option<Money> {
    let _ = row;
    None
}

/// The subscription properties of a customer's contact (`stripe_subscription_status`,
/// `stripe_mrr`, `stripe_arr`, `stripe_mrr_currency`, `stripe_active_subscriptions`,
/// `stripe_plan`, `stripe_next_renewal_date`, `stripe_trial_end_date`,
/// `stripe_cancel_at_date`, `stripe_churn_date`): absolute values, empty strings clear.
pub fn subscription_properties(row: &CustomerRow, config: &MappingConfig) -> PropertySet {
    let _ = (row, config);
    PropertySet::new()
}
