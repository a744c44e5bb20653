//! Where a payment stands, derived from its ledger row.

use serde::{Deserialize, Serialize};
use stripe_events::DisputeStatus;

use crate::config::MappingConfig;
use crate::ledger::LedgerRow;

/// The value of a deal's `stripe_payment_status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Captured; nothing refunded or disputed.
    Succeeded,
    /// Part of the amount was refunded.
    PartiallyRefunded,
    /// Refunded in full.
    Refunded,
    /// A dispute is open.
    Disputed,
    /// Every dispute closed in the merchant's favour (won, prevented, or an inquiry closed).
    DisputeWon,
    /// A dispute was lost.
    DisputeLost,
}

impl PaymentStatus {
    /// Every status, in the order HubSpot shows them.
    pub const ALL: [PaymentStatus; 6] = [
        PaymentStatus::Succeeded,
        PaymentStatus::PartiallyRefunded,
        PaymentStatus::Refunded,
        PaymentStatus::Disputed,
        PaymentStatus::DisputeWon,
        PaymentStatus::DisputeLost,
    ];

    /// The property value (`succeeded`, `partially_refunded`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentStatus::Succeeded => "succeeded",
            PaymentStatus::PartiallyRefunded => "partially_refunded",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Disputed => "disputed",
            PaymentStatus::DisputeWon => "dispute_won",
            PaymentStatus::DisputeLost => "dispute_lost",
        }
    }

    /// The label HubSpot shows.
    pub fn label(self) -> &'static str {
        match self {
            PaymentStatus::Succeeded => "Succeeded",
            PaymentStatus::PartiallyRefunded => "Partially refunded",
            PaymentStatus::Refunded => "Refunded",
            PaymentStatus::Disputed => "Disputed",
            PaymentStatus::DisputeWon => "Dispute won",
            PaymentStatus::DisputeLost => "Dispute lost",
        }
    }

    /// Whether the deal belongs in the lost stage: refunded in full, or a dispute lost.
    pub fn is_lost(self) -> bool {
        matches!(self, PaymentStatus::Refunded | PaymentStatus::DisputeLost)
    }
}

/// Where a payment stands: waiting for something before it can be a deal, or settled with a
/// [`PaymentStatus`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "status")]
pub enum PaymentState {
    /// No fact says the payment succeeded yet (only a dispute, say, has arrived).
    AwaitingPayment,
    /// Authorized, not captured: it becomes a deal at capture.
    AwaitingCapture,
    /// Authorized, never captured, and the authorization released (canceled or expired: Stripe
    /// marks the charge refunded). Done, with nothing to write.
    Released,
    /// Paid, but no fact gives the contact key (an email, by default). Count and list these:
    /// they are not done.
    AwaitingContact,
    /// A deal with this status.
    Settled(PaymentStatus),
}

impl PaymentState {
    /// Whether the payment waits for more facts before it is written to HubSpot.
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            PaymentState::AwaitingPayment
                | PaymentState::AwaitingCapture
                | PaymentState::AwaitingContact
        )
    }

    /// The status, once settled.
    pub fn status(self) -> Option<PaymentStatus> {
        match self {
            PaymentState::Settled(status) => Some(status),
            _ => None,
        }
    }

    /// A stable name for metrics and the admin API: `awaiting_payment`, `awaiting_capture`,
    /// `awaiting_contact`, `released`, or the [`PaymentStatus`] value.
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentState::AwaitingPayment => "awaiting_payment",
            PaymentState::AwaitingCapture => "awaiting_capture",
            PaymentState::AwaitingContact => "awaiting_contact",
            PaymentState::Released => "released",
            PaymentState::Settled(status) => status.as_str(),
        }
    }
}

impl LedgerRow {
    /// Where the payment stands under this configuration (the contact key is configurable).
    pub fn state(&self, config: &MappingConfig) -> PaymentState {
        if !self.succeeded() || self.currency().is_none() || self.key().is_none() {
            return PaymentState::AwaitingPayment;
        }
        if self.captured().is_none() {
            return if self.is_fully_refunded() {
                PaymentState::Released
            } else {
                PaymentState::AwaitingCapture
            };
        }
        if self.contact_key(config).is_none() {
            return PaymentState::AwaitingContact;
        }
        PaymentState::Settled(self.status())
    }

    /// The payment's status, assuming it is captured.
    fn status(&self) -> PaymentStatus {
        let disputes = self.disputes().values();
        if disputes.clone().any(|d| d.status == DisputeStatus::Lost) {
            return PaymentStatus::DisputeLost;
        }
        if self.is_fully_refunded() {
            return PaymentStatus::Refunded;
        }
        let open = disputes.clone().any(|d| !d.closed);
        if open || self.has_unread_dispute() {
            return PaymentStatus::Disputed;
        }
        if !self.disputes().is_empty() {
            return PaymentStatus::DisputeWon;
        }
        if self.refunded() > 0 {
            return PaymentStatus::PartiallyRefunded;
        }
        PaymentStatus::Succeeded
    }
}
