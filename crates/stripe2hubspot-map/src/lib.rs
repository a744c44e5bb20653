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
//! ```
//! use stripe2hubspot_map::{
//!     contact_properties, deal_properties, facts_from_event, ContactKey, FactsOutcome, LedgerRow,
//!     MappingConfig, PaymentState,
//! };
//!
//! let config = MappingConfig::default();
//! let event = |id: &str, type_: &str, refunded: i64| -> serde_json::Result<stripe_events::Event> {
//!     serde_json::from_value(serde_json::json!({
//!         "id": id, "object": "event", "type": type_, "created": 1680000000 + refunded,
//!         "data": {"object": {
//!             "id": "ch_1", "object": "charge", "amount": 14900, "amount_captured": 14900,
//!             "amount_refunded": refunded, "currency": "usd", "status": "succeeded",
//!             "captured": true, "created": 1680000000, "payment_intent": "pi_1",
//!             "billing_details": {"email": " Ann@Example.COM ", "name": "Ann Lee"}
//!         }}
//!     }))
//! };
//! // The refund arrives before the payment: the row is the same in any order.
//! let mut row = LedgerRow::default();
//! for event in [event("evt_2", "charge.refunded", 4900)?, event("evt_1", "charge.succeeded", 0)?] {
//!     if let FactsOutcome::Facts(facts) = facts_from_event(&event, &config)? {
//!         row.apply(&facts);
//!     }
//! }
//! assert_eq!(row.key(), Some("pi_1"));
//! assert!(matches!(row.state(&config), PaymentState::Settled(_)));
//! assert_eq!(row.contact_key(&config), Some(ContactKey::Email("ann@example.com".into())));
//!
//! let deal = deal_properties(&row, &config).expect("a settled payment");
//! assert_eq!(deal.get("amount"), Some("100.00"));
//! assert_eq!(deal.get("stripe_payment_status"), Some("partially_refunded"));
//! let contact = contact_properties(&[row], &config).expect("a settled payment");
//! assert_eq!(contact.get("firstname"), Some("Ann"));
//! assert_eq!(contact.get("stripe_payment_count"), Some("1"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]

mod company;
mod config;
mod contact_key;
mod customer;
mod derive;
mod error;
mod facts;
mod fingerprint;
mod ledger;
pub mod line_item;
mod personal;
mod properties;
mod property_set;
mod property_spec;
mod ratio;
mod skip;
mod state;
mod template;
mod text;

pub use company::{
    company_key, company_of_contact, company_properties, company_properties_of, CompanyKey,
    CompanyKeySource, CompanyNameHint, CompanyRollup, COMPANY_GROUP, COMPANY_KEY_PROPERTY,
    COMPANY_ROLLUP_PROPERTIES, COMPANY_SUBSCRIPTION_PROPERTIES, FREE_MAIL_DOMAINS,
};
pub use config::{
    AmountBasis, ConfigError, ContactKeySource, EmailSource, MappingConfig, NameSplit,
    CUSTOMER_EVENT_TYPES, DEFAULT_EVENT_TYPES, DEFAULT_LOST_DEAL_STAGE, LAST_CHARGE_PROPERTIES,
    PAYMENT_ID_PROPERTY, SUPPORTED_EVENT_TYPES,
};
pub use contact_key::ContactKey;
pub use customer::{
    customer_facts_from_event, customer_facts_from_object, mrr, subscription_properties,
    CustomerContact, CustomerFacts, CustomerOutcome, CustomerRow, DiscountFacts, ItemFacts,
    SubscriptionFacts, SubscriptionStatus, ACTIVE_SUBSCRIPTIONS_PROPERTY, ARR_PROPERTY,
    CANCEL_AT_DATE_PROPERTY, CHURN_DATE_PROPERTY, MRR_CURRENCY_PROPERTY, MRR_PROPERTY,
    NEXT_RENEWAL_DATE_PROPERTY, NO_SUBSCRIPTION_STATUS, PLAN_PROPERTY,
    SUBSCRIPTION_CONTACT_PROPERTIES, SUBSCRIPTION_STATUS_PROPERTY, TRIAL_END_DATE_PROPERTY,
};
pub use derive::{contact_properties, contact_properties_of, deal_amount, deal_properties};
pub use error::MapError;
pub use facts::{
    facts_from_event, facts_from_object, ContactFacts, DisputeFacts, Facts, FactsOutcome,
    PaymentIds, Stamp,
};
pub use ledger::{DisputeEntry, LedgerRow, Stamped};
pub use line_item::{
    line_item_properties, line_items_fingerprint, product_properties, LineItemFacts, Recurring,
    LINE_ITEM_KEY_PROPERTY, PRODUCT_KEY_PROPERTY,
};
pub use personal::Personal;
pub use properties::{
    AMOUNT_CURRENCY_PROPERTY, AMOUNT_REFUNDED_PROPERTY, BILLING_REASON_PROPERTY,
    FIRST_PAYMENT_DATE_PROPERTY, INVOICE_ID_PROPERTY, LAST_PAYMENT_DATE_PROPERTY,
    LEDGER_CONTACT_PROPERTIES, LEDGER_DEAL_PROPERTIES, LIFETIME_VALUE_CURRENCY_PROPERTY,
    LIFETIME_VALUE_PROPERTY, PAYMENT_COUNT_PROPERTY, PAYMENT_STATUS_PROPERTY,
    SUBSCRIPTION_ID_PROPERTY,
};
pub use property_set::{PropertyKind, PropertySet, PropertyValue};
pub use property_spec::{PropertyOption, PropertySpec};
pub use skip::SkipReason;
pub use state::{PaymentState, PaymentStatus};
