//! Pure, configurable mapping from Stripe payment events to HubSpot contact and deal
//! properties. No IO, no async: everything here is a function of its inputs.
//!
//! [`map_event`] turns a `charge.succeeded` or `payment_intent.succeeded` event into a
//! [`SyncCommand`]: the contact key, contact properties, the deal key (payment intent id,
//! else charge id, so both events of one payment land on one deal) and deal properties, each
//! marked [`PropertyKind::Core`], [`Standard`](PropertyKind::Standard) or
//! [`Custom`](PropertyKind::Custom). What maps where is [`MappingConfig`], not code.
//!
//! Formats follow HubSpot: amounts are decimal strings with the currency's real exponent
//! (JPY 500 -> `"500"`, KWD 1490 -> `"1.490"`), times are ISO 8601 UTC
//! (`"2023-04-05T12:34:56Z"`), which `datetime` properties such as `closedate` accept.
#![deny(missing_docs)]

mod command;
mod config;
mod map;
mod template;

pub use command::{
    ContactKey, MapOutcome, PropertyKind, PropertySet, PropertySpec, PropertyValue, SkipReason,
    SyncCommand,
};
pub use config::{
    ConfigError, ContactKeySource, EmailSource, MappingConfig, NameSplit, LAST_CHARGE_PROPERTIES,
    PAYMENT_ID_PROPERTY, SUPPORTED_EVENT_TYPES,
};
pub use map::{map_event, MapError};
