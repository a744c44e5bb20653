//! How a payment's contact is found in HubSpot.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::personal::Redacted;

/// How a contact is identified in HubSpot. Its `Debug` hides the email.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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

impl fmt::Debug for ContactKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContactKey::Email(_) => f.debug_tuple("Email").field(&Redacted).finish(),
            // A customer id names no one by itself; it helps find the contact in both tools.
            ContactKey::StripeCustomerId { property, id } => f
                .debug_struct("StripeCustomerId")
                .field("property", property)
                .field("id", id)
                .finish(),
        }
    }
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
