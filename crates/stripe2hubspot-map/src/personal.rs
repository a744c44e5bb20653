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

/// Stands in for a value that may be personal in a `Debug` output.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Shows whether an optional value is present, not the value.
pub(crate) fn redacted_option<T>(value: &Option<T>) -> Option<Redacted> {
    value.as_ref().map(|_| Redacted)
}

/// Shows a map's keys, not its values (free-form metadata can hold anything).
pub(crate) struct KeysOnly<'a, K, V>(pub(crate) &'a std::collections::BTreeMap<K, V>);

impl<K: fmt::Debug, V> fmt::Debug for KeysOnly<'_, K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.keys().map(|k| (k, Redacted)))
            .finish()
    }
}
