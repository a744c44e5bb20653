//! Why an event gives no facts.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Why an event gives no facts to merge. None of these is an error: the event is complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum SkipReason {
    /// The configuration does not handle this event type.
    UnhandledEventType {
        /// The event's type.
        event_type: String,
    },
    /// The payment has not succeeded: a charge or PaymentIntent failed, pending or canceled,
    /// an invoice or invoice payment not paid.
    NotSucceeded {
        /// Stripe's status, lowercase.
        status: String,
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
            SkipReason::CheckoutNotPaid { payment_status } => write!(
                f,
                "checkout session is {payment_status}, not paid; its async_payment_succeeded event records the payment"
            ),
            SkipReason::NoAmountPaid => f.write_str("nothing was paid"),
        }
    }
}
