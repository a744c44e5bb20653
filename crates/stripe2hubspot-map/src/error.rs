//! Why an event that should give facts cannot.

use crate::config::ConfigError;

/// An event (or a backfill object) that should give facts but cannot. Permanent: retrying the same event gives the same
/// error, so the engine should dead-letter it. Messages carry ids only, never personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    /// The configuration is invalid.
    #[error(transparent)]
    InvalidConfig(#[from] ConfigError),
    /// A handled event type carries an object its reader does not read (the payment reader
    /// reads charges, payment intents, Checkout Sessions, invoices, invoice payments and
    /// disputes; the customer reader customers and subscriptions), or one that did not match
    /// Stripe's documented shape (it parsed as an unknown object).
    #[error("event {event_id} ({event_type}) carries {found}, not an object of the expected type and shape; check the event in the Stripe dashboard, then replay or discard it")]
    UnexpectedObject {
        /// The event id.
        event_id: String,
        /// The event type.
        event_type: String,
        /// What the object is.
        found: &'static str,
    },
    /// The object names no payment id to key the ledger row (and so the deal) on.
    #[error("event {event_id}: the payment object has an empty id; this is not a valid Stripe payment, discard the event")]
    MissingPaymentId {
        /// The event id.
        event_id: String,
    },
    /// A Unix time that is not a representable date.
    #[error("event {event_id}: `created` value {value} is not a date between years 0 and 9999; this is not a valid Stripe payment, discard the event")]
    InvalidTimestamp {
        /// The event id.
        event_id: String,
        /// The rejected value.
        value: i64,
    },
    /// A subscription that names no customer: Stripe always names one, so this is not a real
    /// subscription.
    #[error("event {event_id}: the subscription names no customer; this is not a valid Stripe subscription, discard the event")]
    MissingCustomerId {
        /// The event id.
        event_id: String,
    },
    /// A subscription status this version does not know, so it cannot rank it.
    #[error("event {event_id}: subscription {subscription_id} has a status this version of stripe2hubspot does not know; upgrade, then replay the event")]
    UnknownSubscriptionStatus {
        /// The event id.
        event_id: String,
        /// The subscription (`sub_...`).
        subscription_id: String,
    },
}
