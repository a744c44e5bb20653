//! What the mapping produces: a [`SyncCommand`] and its parts.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::config::ContactKeySource;

/// The result of mapping one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapOutcome {
    /// Write this contact and deal to HubSpot.
    Sync(SyncCommand),
    /// Nothing to write; the event is done.
    Skip(SkipReason),
}

/// Why an event produces nothing to write. None of these is an error: the event is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum SkipReason {
    /// The configuration does not handle this event type.
    UnhandledEventType {
        /// The event's type.
        event_type: String,
    },
    /// The charge or payment intent has not succeeded (failed, pending, canceled, ...).
    NotSucceeded {
        /// Stripe's status, lowercase.
        status: String,
    },
    /// The charge was fully refunded.
    Refunded,
    /// The charge is an authorization not captured yet; its capture
    /// (`payment_intent.succeeded`, or `charge.captured` when handled) syncs the payment.
    NotCaptured,
    /// The payment carries nothing to identify a contact with (no usable email, or no
    /// customer when contacts are keyed by the Stripe customer id).
    NoContactKey {
        /// The configured contact key.
        key: ContactKeySource,
    },
    /// A Checkout Session completed without being paid yet (a delayed payment method); its
    /// `checkout.session.async_payment_succeeded` records the payment.
    CheckoutNotPaid {
        /// The session's `payment_status` (`unpaid`, or what Stripe sent).
        payment_status: String,
    },
    /// Nothing was paid (a zero-amount invoice or a session that required no payment).
    NoAmountPaid,
}

impl fmt::Display for SkipReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SkipReason::UnhandledEventType { event_type } => {
                write!(f, "event type {event_type} is not handled by the mapping")
            }
            SkipReason::NotSucceeded { status } => {
                write!(f, "payment has status {status}, not succeeded")
            }
            SkipReason::Refunded => f.write_str("charge was fully refunded"),
            SkipReason::NotCaptured => {
                f.write_str("charge is authorized but not captured yet; its capture syncs it")
            }
            SkipReason::NoContactKey { key } => {
                write!(f, "payment has no value for the contact key {key}")
            }
            SkipReason::CheckoutNotPaid { payment_status } => write!(
                f,
                "checkout session is {payment_status}, not paid; its async_payment_succeeded event records the payment"
            ),
            SkipReason::NoAmountPaid => f.write_str("nothing was paid"),
        }
    }
}

/// Everything the engine needs to write one payment to HubSpot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncCommand {
    /// The Stripe event id (`evt_...`).
    pub event_id: String,
    /// The Stripe event type, such as `charge.succeeded`.
    pub event_type: String,
    /// The event's `created` time in seconds since the Unix epoch. When several commands touch
    /// one contact, the latest wins for the [last-charge](PropertyValue::last_charge) properties.
    pub event_created: i64,
    /// How the contact is found or created (the upsert `idProperty` and its value).
    pub contact_key: ContactKey,
    /// Contact properties.
    pub contact: PropertySet,
    /// The payment's identity: the payment intent id when there is one, else the charge id, so
    /// `charge.succeeded` and `payment_intent.succeeded` of one payment share one deal. Also
    /// sent as the deal's unique `stripe_payment_id` property.
    pub deal_key: String,
    /// Deal properties.
    pub deal: PropertySet,
}

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

/// One property value and what the engine needs to know about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PropertyValue {
    /// The value as HubSpot expects it (numbers as decimal strings, dates as ISO 8601 UTC).
    pub value: String,
    /// Core, standard or custom.
    pub kind: PropertyKind,
    /// Part of the "last charge" group (`last_charge_*`): these describe one payment together,
    /// so when commands for one contact are coalesced, the group comes from the command with
    /// the latest `event_created` and an older command must not overwrite it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub last_charge: bool,
}

/// An ordered set of properties, name -> value. Ordered so output is deterministic.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PropertySet(BTreeMap<String, PropertyValue>);

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

/// A custom HubSpot property the engine must create before writing, shaped like the body of
/// `POST /crm/v3/properties/{objectType}` (it serializes to exactly that JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertySpec {
    /// Internal name.
    pub name: String,
    /// Label shown in HubSpot.
    pub label: String,
    /// Data type: `string`, `number`, `datetime` or `enumeration`.
    #[serde(rename = "type")]
    pub type_: String,
    /// How HubSpot displays it: `text`, `number`, `date` or `select`.
    pub field_type: String,
    /// Property group: `contactinformation` or `dealinformation`.
    pub group_name: String,
    /// Whether HubSpot enforces uniqueness (needed for properties used as an upsert
    /// `idProperty`). Cannot be changed after creation.
    pub has_unique_value: bool,
    /// Help text shown in HubSpot.
    pub description: String,
    /// The allowed values of an `enumeration` property (empty for other types).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub options: Vec<PropertyOption>,
}

/// One allowed value of an `enumeration` property, shaped like HubSpot's option object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PropertyOption {
    /// Label shown in HubSpot.
    pub label: String,
    /// The internal value written by the mapping.
    pub value: String,
    /// Position in HubSpot's drop-down.
    pub display_order: i32,
    /// Whether HubSpot hides it in forms.
    pub hidden: bool,
}
