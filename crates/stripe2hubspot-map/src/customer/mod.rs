//! The customer ledger: what Stripe says about one customer (its contact data and its
//! subscriptions), merged so that order and repetition do not matter, and the contact
//! properties derived from it (subscription status, MRR, ARR, plan, renewal, trial,
//! cancellation and churn dates).
//!
//! The same three steps as payments: [`customer_facts_from_event`] (or
//! [`customer_facts_from_object`] for backfill) reads facts, [`CustomerRow`] merges them (a
//! join: commutative, associative, idempotent), [`subscription_properties`] derives absolute
//! HubSpot values from the row.

mod facts;
mod mrr;
mod properties;
mod row;
mod subscription;

pub use facts::{
    customer_facts_from_event, customer_facts_from_object, CustomerContact, CustomerFacts,
    CustomerOutcome, DiscountFacts, ItemFacts, SubscriptionFacts,
};
pub use mrr::mrr;
pub(crate) use mrr::newest_subscription_currency;
pub(crate) use properties::subscription_contact_specs;
pub use properties::{
    ACTIVE_SUBSCRIPTIONS_PROPERTY, ARR_PROPERTY, CANCEL_AT_DATE_PROPERTY, CHURN_DATE_PROPERTY,
    MRR_CURRENCY_PROPERTY, MRR_PROPERTY, NEXT_RENEWAL_DATE_PROPERTY, NO_SUBSCRIPTION_STATUS,
    PLAN_PROPERTY, SUBSCRIPTION_CONTACT_PROPERTIES, SUBSCRIPTION_STATUS_PROPERTY,
    TRIAL_END_DATE_PROPERTY,
};
pub use row::CustomerRow;
pub use subscription::{subscription_properties, SubscriptionStatus};
