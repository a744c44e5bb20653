//! Names and HubSpot definitions of the contact properties derived from the customer ledger.

use crate::config::{spec, CONTACT_GROUP};
use crate::property_spec::{PropertyOption, PropertySpec};

use super::subscription::SubscriptionStatus;

/// Contact property: the most alive status among the customer's subscriptions (see
/// [`SubscriptionStatus`] for the ranking), `none` when it never had one.
pub const SUBSCRIPTION_STATUS_PROPERTY: &str = "stripe_subscription_status";
/// Contact property: monthly recurring revenue in [`MRR_CURRENCY_PROPERTY`], with the
/// currency's real exponent (see [`mrr`](crate::mrr)).
pub const MRR_PROPERTY: &str = "stripe_mrr";
/// Contact property: annual recurring revenue, exactly 12 × `stripe_mrr` as written.
pub const ARR_PROPERTY: &str = "stripe_arr";
/// Contact property: ISO code (upper case) of `stripe_mrr` and `stripe_arr`.
pub const MRR_CURRENCY_PROPERTY: &str = "stripe_mrr_currency";
/// Contact property: number of subscriptions that are `active`, `trialing` or `past_due`.
pub const ACTIVE_SUBSCRIPTIONS_PROPERTY: &str = "stripe_active_subscriptions";
/// Contact property: product names of the live subscriptions' items, sorted, joined with `; `.
pub const PLAN_PROPERTY: &str = "stripe_plan";
/// Contact property: earliest end of the current period among live subscriptions.
pub const NEXT_RENEWAL_DATE_PROPERTY: &str = "stripe_next_renewal_date";
/// Contact property: latest trial end of a trialing subscription.
pub const TRIAL_END_DATE_PROPERTY: &str = "stripe_trial_end_date";
/// Contact property: the earliest scheduled cancellation of a live subscription.
pub const CANCEL_AT_DATE_PROPERTY: &str = "stripe_cancel_at_date";
/// Contact property: when the last live subscription ended; empty while one is live.
pub const CHURN_DATE_PROPERTY: &str = "stripe_churn_date";

/// The value of [`SUBSCRIPTION_STATUS_PROPERTY`] for a customer that never had a subscription.
pub const NO_SUBSCRIPTION_STATUS: &str = "none";

/// Every contact property derived from subscriptions, in the order of the table.
pub const SUBSCRIPTION_CONTACT_PROPERTIES: [&str; 10] = [
    SUBSCRIPTION_STATUS_PROPERTY,
    MRR_PROPERTY,
    ARR_PROPERTY,
    MRR_CURRENCY_PROPERTY,
    ACTIVE_SUBSCRIPTIONS_PROPERTY,
    PLAN_PROPERTY,
    NEXT_RENEWAL_DATE_PROPERTY,
    TRIAL_END_DATE_PROPERTY,
    CANCEL_AT_DATE_PROPERTY,
    CHURN_DATE_PROPERTY,
];

/// The HubSpot definitions of [`SUBSCRIPTION_CONTACT_PROPERTIES`], for bootstrap.
pub(crate) fn subscription_contact_specs() -> Vec<PropertySpec> {
    let mut status = spec(
        SUBSCRIPTION_STATUS_PROPERTY,
        "Stripe subscription status",
        "enumeration",
        CONTACT_GROUP,
        false,
        "The most alive status among the customer's Stripe subscriptions (active > trialing > past due > unpaid > paused > incomplete > incomplete expired > canceled); none when it never had one.",
    );
    let values = SubscriptionStatus::ALL
        .iter()
        .map(|s| (s.as_str(), s.label()))
        .chain([(NO_SUBSCRIPTION_STATUS, "None")]);
    status.options = values
        .zip(0..)
        .map(|((value, label), order)| PropertyOption {
            label: label.to_owned(),
            value: value.to_owned(),
            display_order: order,
            hidden: false,
        })
        .collect();
    let plain = |name: &str, label: &str, type_: &str, description: &str| {
        spec(name, label, type_, CONTACT_GROUP, false, description)
    };
    vec![
        status,
        plain(
            MRR_PROPERTY,
            "Stripe MRR",
            "number",
            "Monthly recurring revenue of the customer's active and past-due Stripe subscriptions, in Stripe MRR currency (trials count 0; metered and tiered prices are left out).",
        ),
        plain(
            ARR_PROPERTY,
            "Stripe ARR",
            "number",
            "Annual recurring revenue: 12 times Stripe MRR.",
        ),
        plain(
            MRR_CURRENCY_PROPERTY,
            "Stripe MRR currency",
            "string",
            "ISO code of the currency of Stripe MRR and Stripe ARR.",
        ),
        plain(
            ACTIVE_SUBSCRIPTIONS_PROPERTY,
            "Stripe active subscriptions",
            "number",
            "Number of the customer's Stripe subscriptions that are active, trialing or past due.",
        ),
        plain(
            PLAN_PROPERTY,
            "Stripe plan",
            "string",
            "Products of the customer's live Stripe subscriptions, sorted, separated by semicolons.",
        ),
        plain(
            NEXT_RENEWAL_DATE_PROPERTY,
            "Stripe next renewal date",
            "datetime",
            "When the current period of the customer's first live Stripe subscription ends.",
        ),
        plain(
            TRIAL_END_DATE_PROPERTY,
            "Stripe trial end date",
            "datetime",
            "When the latest trial of the customer's trialing Stripe subscriptions ends.",
        ),
        plain(
            CANCEL_AT_DATE_PROPERTY,
            "Stripe cancel at date",
            "datetime",
            "When a live Stripe subscription of the customer is scheduled to cancel.",
        ),
        plain(
            CHURN_DATE_PROPERTY,
            "Stripe churn date",
            "datetime",
            "When the customer's last live Stripe subscription ended; cleared when a new one starts.",
        ),
    ]
}
