//! Personal data (emails, names, phones) that must never reach logs, errors or `Debug`.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A piece of personal data. Serializes as the plain string (the store keeps it), but its
/// `Debug` shows only that a value is present.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Personal(String);

impl Personal {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Personal(value.into())
    }

    /// The value, for writing to HubSpot.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Personal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Personal(<redacted>)")
    }
}
