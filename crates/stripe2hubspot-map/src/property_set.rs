//! The HubSpot properties derived for a deal or a contact, and what the engine may do with
//! each.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::{LAST_CHARGE_PROPERTIES, PAYMENT_ID_PROPERTY};
use crate::customer::SUBSCRIPTION_CONTACT_PROPERTIES;
use crate::personal::Redacted;
use crate::properties::{LEDGER_CONTACT_PROPERTIES, LEDGER_DEAL_PROPERTIES};

/// Where a property comes from on HubSpot's side, which decides what the engine may do with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PropertyKind {
    /// `email`, `firstname`, `lastname`: always kept, the fallback when HubSpot rejects the rest.
    Core,
    /// A property every HubSpot portal has (`phone`, `company`, `lifecyclestage`, `hs_*`,
    /// `dealname`, `amount`, ...). Never created by the engine, but its value may still be
    /// rejected (for example an option that is not configured).
    Standard,
    /// A property this mapping invented (`stripe_customer_id`, `last_charge_*`,
    /// `stripe_payment_id`, user-chosen metadata targets): the engine's bootstrap creates it
    /// (see [`MappingConfig::custom_properties`](crate::MappingConfig::custom_properties)) and
    /// may strip it when HubSpot answers 400 because it does not exist.
    Custom,
}

/// One property value and what the engine needs to know about it. Its `Debug` hides the
/// value, which can be an email, a name or a phone.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyValue {
    /// The value as HubSpot expects it (numbers as decimal strings, dates as ISO 8601 UTC).
    pub value: String,
    /// Core, standard or custom.
    pub kind: PropertyKind,
    /// Part of the "last charge" group (`last_charge_*`): these describe one payment together,
    /// the contact's newest (see [`contact_properties`](crate::contact_properties)), so they
    /// are never mixed with another payment's.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_charge: bool,
}

/// An ordered set of properties, name -> value. Ordered so output is deterministic. Its
/// `Debug` shows every name but only the values computed from amounts, dates, stages and
/// Stripe ids; the rest (emails, names, phones, metadata, deal names) is hidden.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PropertySet(BTreeMap<String, PropertyValue>);

impl fmt::Debug for PropertyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PropertyValue")
            .field("value", &Redacted)
            .field("kind", &self.kind)
            .field("last_charge", &self.last_charge)
            .finish()
    }
}

/// The properties the mapping computes from amounts, dates, stages and Stripe ids: nothing
/// personal, so `Debug` may show their values.
const IMPERSONAL: [&str; 5] = [
    "amount",
    "closedate",
    "dealstage",
    "pipeline",
    "deal_currency_code",
];

fn is_impersonal(name: &str) -> bool {
    // The receipt page shows the payer's details to anyone with its address.
    name != "last_charge_receipt"
        && (IMPERSONAL.contains(&name)
            || name == PAYMENT_ID_PROPERTY
            || LEDGER_DEAL_PROPERTIES.contains(&name)
            || LEDGER_CONTACT_PROPERTIES.contains(&name)
            || SUBSCRIPTION_CONTACT_PROPERTIES.contains(&name)
            || LAST_CHARGE_PROPERTIES.contains(&name))
}

/// One entry of a [`PropertySet`]'s `Debug`.
struct Shown<'a>(&'a str, &'a PropertyValue);

impl fmt::Debug for Shown<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shown(name, v) = self;
        if is_impersonal(name) {
            write!(f, "{:?} ({:?})", v.value, v.kind)
        } else {
            write!(f, "{:?} ({:?})", Redacted, v.kind)
        }
    }
}

impl fmt::Debug for PropertySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(k, v)| (k, Shown(k, v))))
            .finish()
    }
}

impl PropertySet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`, replacing any earlier value.
    pub fn insert(&mut self, name: impl Into<String>, value: PropertyValue) {
        self.0.insert(name.into(), value);
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.value.as_str())
    }

    /// The full entry of `name`, if set.
    pub fn entry(&self, name: &str) -> Option<&PropertyValue> {
        self.0.get(name)
    }

    /// Iterates in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &PropertyValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Number of properties.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The plain `name -> value` map HubSpot's `properties` object takes.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.value.clone()))
            .collect()
    }

    /// Only the [`PropertyKind::Core`] properties: the fallback after HubSpot rejected others.
    pub fn core_only(&self) -> PropertySet {
        self.filtered(|_, v| v.kind == PropertyKind::Core)
    }

    /// This set without the named properties (for example those HubSpot reported unknown).
    pub fn without<S: AsRef<str>>(&self, names: &[S]) -> PropertySet {
        self.filtered(|k, _| !names.iter().any(|n| n.as_ref() == k))
    }

    /// Names of the [`PropertyKind::Custom`] properties, in name order.
    pub fn custom_names(&self) -> Vec<&str> {
        self.names_where(|v| v.kind == PropertyKind::Custom)
    }

    /// Names of the last-charge properties, in name order.
    pub fn last_charge_names(&self) -> Vec<&str> {
        self.names_where(|v| v.last_charge)
    }

    /// Whether `name` is set here and belongs to the last-charge group.
    pub fn is_last_charge_property(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|v| v.last_charge)
    }

    fn filtered(&self, keep: impl Fn(&str, &PropertyValue) -> bool) -> PropertySet {
        PropertySet(
            self.0
                .iter()
                .filter(|(k, v)| keep(k, v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    fn names_where(&self, pred: impl Fn(&PropertyValue) -> bool) -> Vec<&str> {
        self.0
            .iter()
            .filter(|(_, v)| pred(v))
            .map(|(k, _)| k.as_str())
            .collect()
    }
}

impl<'a> IntoIterator for &'a PropertySet {
    type Item = (&'a String, &'a PropertyValue);
    type IntoIter = std::collections::btree_map::Iter<'a, String, PropertyValue>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}
