//! Pure, configurable mapping from Stripe payments to HubSpot contact and deal properties.
//! No IO, no async: everything here is a function of its inputs.
//!
//! A payment is followed through its whole life (authorization, capture, refunds, disputes,
//! Checkout, invoices) in three steps:
//!
//! 1. [`facts_from_event`] (or [`facts_from_object`] for backfill) reads what one event says
//!    about one payment: its ids, contact, amounts and dispute, stamped with the event's
//!    `created` and id ([`Facts`]), or why there is nothing to read ([`SkipReason`]).
//! 2. [`LedgerRow`] merges facts. The merge is a join (commutative, associative, idempotent),
//!    so any order of delivery, any redelivery and any replay give the same row. A row is keyed
//!    by the payment identity ([`LedgerRow::key`]: PaymentIntent id, else charge id, else
//!    invoice id, else Checkout Session id) and knows all its ids ([`LedgerRow::aliases`]).
//! 3. [`deal_properties`] and [`contact_properties`] derive absolute HubSpot values from rows,
//!    once the payment is settled ([`LedgerRow::state`]): a payment not captured yet or without
//!    a contact waits.
//!
//! Formats follow HubSpot: amounts are decimal strings with the currency's real exponent
//! (JPY 500 -> `"500"`, KWD 1490 -> `"1.490"`), times are ISO 8601 UTC
//! (`"2023-04-05T12:34:56Z"`), which `datetime` properties such as `closedate` accept. What maps
//! where is [`MappingConfig`], not code.
//!
//! [`map_event`] is the older per-event mapping of successful payments to a [`SyncCommand`].
#![deny(missing_docs)]

mod command;
mod config;
mod derive;
mod facts;
mod ledger;
mod map;
mod personal;
mod properties;
mod state;
mod template;
mod text;

pub use command::{
    ContactKey, MapOutcome, PropertyKind, PropertyOption, PropertySet, PropertySpec, PropertyValue,
    SkipReason, SyncCommand,
};
pub use config::{
    AmountBasis, ConfigError, ContactKeySource, EmailSource, MappingConfig, NameSplit,
    DEFAULT_EVENT_TYPES, DEFAULT_LOST_DEAL_STAGE, DEFAULT_REPORTING_CURRENCY,
    LAST_CHARGE_PROPERTIES, PAYMENT_ID_PROPERTY, SUPPORTED_EVENT_TYPES,
};
pub use derive::{contact_properties, deal_amount, deal_properties};
pub use facts::{
    facts_from_event, facts_from_object, ContactFacts, DisputeFacts, Facts, FactsOutcome,
    PaymentIds, Stamp,
};
pub use ledger::{DisputeEntry, LedgerRow, Stamped};
pub use map::{map_event, MapError};
pub use personal::Personal;
pub use properties::{
    AMOUNT_CURRENCY_PROPERTY, AMOUNT_REFUNDED_PROPERTY, FIRST_PAYMENT_DATE_PROPERTY,
    INVOICE_ID_PROPERTY, LAST_PAYMENT_DATE_PROPERTY, LEDGER_CONTACT_PROPERTIES,
    LEDGER_DEAL_PROPERTIES, LIFETIME_VALUE_PROPERTY, PAYMENT_COUNT_PROPERTY,
    PAYMENT_STATUS_PROPERTY, SUBSCRIPTION_ID_PROPERTY,
};
pub use state::{PaymentState, PaymentStatus};
