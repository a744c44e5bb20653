//! Verify Stripe webhook signatures and parse typed, forward-compatible Stripe events.
#![deny(missing_docs)]

pub mod event;
pub mod money;

pub use event::{
    Address, BillingDetails, Charge, ChargeStatus, CheckoutSession, Customer, CustomerDetails,
    Event, EventData, EventObject, Expandable, HasId, Metadata, PaymentIntent, PaymentIntentStatus,
};
pub use money::{Currency, InvalidAmount, InvalidCurrency, Money};
