//! Stripe's list object (`"object": "list"`), as embedded in other objects.

use serde::{Deserialize, Serialize};

/// A page of objects, as Stripe embeds lists such as an invoice's `payments`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct List<T> {
    /// The objects on this page.
    #[serde(default = "Vec::new")]
    pub data: Vec<T>,
    /// Whether more objects exist beyond this page (fetch them from `url`).
    #[serde(default)]
    pub has_more: bool,
    /// Where the full list can be fetched.
    #[serde(default)]
    pub url: Option<String>,
}

impl<T> Default for List<T> {
    fn default() -> Self {
        List {
            data: Vec::new(),
            has_more: false,
            url: None,
        }
    }
}
