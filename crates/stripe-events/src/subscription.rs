//! A Stripe subscription reference: only its id is typed.

use serde::{Deserialize, Serialize};

use crate::event::HasId;

/// A Stripe subscription (`sub_...`). Only the id is typed: the mapping needs nothing else,
/// and everything else Stripe sends is ignored, so an expanded subscription parses too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// Subscription id.
    pub id: String,
}

impl HasId for Subscription {
    fn id(&self) -> &str {
        &self.id
    }
}
