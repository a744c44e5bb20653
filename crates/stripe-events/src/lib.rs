//! Verify Stripe webhook signatures and parse typed, forward-compatible Stripe events.
//!
//! ```
//! use stripe_events::{sign, EventObject, Verifier};
//!
//! // Build once at startup from the endpoint's signing secret(s).
//! let verifier = Verifier::new("whsec_test_secret")?;
//!
//! // In the handler: the raw body bytes and the `Stripe-Signature` header, untouched.
//! let body = br#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1700000000,
//!   "data":{"object":{"id":"ch_1","object":"charge","amount":14900,"currency":"usd",
//!   "status":"succeeded","created":1700000000,"billing_details":{"email":"tony@stark.com"}}}}"#;
//! let header = sign(body, "whsec_test_secret", 1_700_000_000); // what Stripe would send
//!
//! let event = verifier.construct_event_at(body, &header, 1_700_000_010)?;
//! match &event.data.object {
//!     EventObject::Charge(charge) => {
//!         assert_eq!(charge.money().to_decimal_string(), "149.00");
//!         assert_eq!(charge.billing_details.email.as_deref(), Some("tony@stark.com"));
//!     }
//!     other => panic!("expected a charge, got {other:?}"),
//! }
//!
//! // Anything wrong is a `WebhookError` whose message is safe to return and log.
//! let err = verifier.verify_at(body, "t=1700000000,v1=potato", 1_700_000_010).unwrap_err();
//! assert!(err.is_bad_request());
//! assert_eq!(err.code(), "no_matching_signature");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! See [`webhook`] for the exact header grammar, limits and tolerance rules.
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod balance;
pub mod dispute;
pub mod event;
pub mod invoice;
pub mod invoice_payment;
pub mod line_item;
pub mod list;
pub mod money;
mod payload;
pub mod subscription;
mod tagged;
#[cfg(any(test, feature = "testkit"))]
#[cfg_attr(docsrs, doc(cfg(feature = "testkit")))]
pub mod testkit;
pub mod webhook;

pub use balance::BalanceTransaction;
pub use dispute::{Dispute, DisputeStatus};
pub use event::{
    Address, BillingDetails, Charge, ChargeStatus, CheckoutSession, Customer, CustomerDetails,
    Event, EventData, EventObject, Expandable, HasId, Metadata, PaymentIntent, PaymentIntentStatus,
};
pub use invoice::{
    Invoice, InvoiceParent, InvoiceStatus, InvoiceStatusTransitions, InvoiceSubscriptionDetails,
};
pub use invoice_payment::{InvoicePayment, InvoicePaymentTarget};
pub use line_item::{CheckoutLineItem, InvoiceLineItem, LinePeriod, LinePriceDetails, LinePricing};
pub use list::List;
pub use money::{Currency, InvalidAmount, InvalidCurrency, Money};
pub use subscription::{
    Coupon, Discount, DiscountSource, Price, Product, Recurring, Subscription, SubscriptionItem,
    SubscriptionStatus,
};
pub use webhook::{
    parse_envelope, parse_event, sign, sign_with_secrets, ConfigError, Envelope, HeaderProblem,
    PayloadErrorKind, Verifier, Webhook, WebhookError, DEFAULT_TOLERANCE, SIGNATURE_HEADER,
};

#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
