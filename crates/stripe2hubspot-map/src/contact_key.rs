//! How a payment's contact is found in HubSpot.

use serde::{Deserialize, Serialize};

/// How a contact is identified in HubSpot.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactKey {
    /// A normalized (trimmed, lowercase) email address; HubSpot's `email` property.
    Email(String),
    /// A Stripe customer id (`cus_...`) stored in a custom, unique contact property.
    StripeCustomerId {
        /// The contact property holding it (by default `stripe_customer_id`).
        property: String,
        /// The customer id.
        id: String,
    },
}

impl ContactKey {
    /// The property HubSpot looks the contact up by (the upsert `idProperty`).
    pub fn id_property(&self) -> &str {
        match self {
            ContactKey::Email(_) => "email",
            ContactKey::StripeCustomerId { property, .. } => property,
        }
    }

    /// The value of [`id_property`](Self::id_property).
    pub fn value(&self) -> &str {
        match self {
            ContactKey::Email(email) => email,
            ContactKey::StripeCustomerId { id, .. } => id,
        }
    }
}
