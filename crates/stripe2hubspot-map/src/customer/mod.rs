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
mod row;
mod subscription;

pub use facts::{
    customer_facts_from_event, customer_facts_from_object, CustomerContact, CustomerFacts,
    CustomerOutcome, DiscountFacts, ItemFacts, SubscriptionFacts,
};
pub use row::CustomerRow;
pub use subscription::{mrr, subscription_properties, SubscriptionStatus};
