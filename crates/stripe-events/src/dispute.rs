//! A dispute (chargeback or inquiry) on a charge, as in `charge.dispute.*` events.

use serde::{Deserialize, Serialize};

use crate::event::{Charge, Expandable, HasId, PaymentIntent};
use crate::money::{Currency, Money};

/// Status of a [`Dispute`], as listed in Stripe's API reference for the dispute object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// An inquiry (not yet a chargeback) awaiting a response.
    WarningNeedsResponse,
    /// An inquiry whose response is under review.
    WarningUnderReview,
    /// An inquiry closed without becoming a chargeback.
    WarningClosed,
    /// A chargeback awaiting evidence.
    NeedsResponse,
    /// Evidence submitted; the issuer is deciding.
    UnderReview,
    /// Decided for the merchant: the funds are returned.
    Won,
    /// Decided for the cardholder: the funds stay withdrawn.
    Lost,
    /// Prevented from becoming a chargeback (for example by a prevention service).
    Prevented,
    /// A status this crate does not know yet (or the retired `charge_refunded`).
    #[serde(other)]
    Other,
}

impl DisputeStatus {
    /// Whether the dispute is over; `Other` counts as open, so nothing unknown is treated
    /// as final.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            DisputeStatus::WarningClosed
                | DisputeStatus::Won
                | DisputeStatus::Lost
                | DisputeStatus::Prevented
        )
    }

    /// Stripe's spelling of the status (`"warning_needs_response"`, `"lost"`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            DisputeStatus::WarningNeedsResponse => "warning_needs_response",
            DisputeStatus::WarningUnderReview => "warning_under_review",
            DisputeStatus::WarningClosed => "warning_closed",
            DisputeStatus::NeedsResponse => "needs_response",
            DisputeStatus::UnderReview => "under_review",
            DisputeStatus::Won => "won",
            DisputeStatus::Lost => "lost",
            DisputeStatus::Prevented => "prevented",
            DisputeStatus::Other => "other",
        }
    }
}

/// A Stripe dispute (`dp_...` or `du_...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispute {
    /// Dispute id.
    pub id: String,
    /// Disputed amount, in minor units (usually the charge amount).
    pub amount: i64,
    /// Currency of the amount.
    pub currency: Currency,
    /// The disputed charge.
    pub charge: Expandable<Charge>,
    /// The PaymentIntent of the disputed charge, if any.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// Where the dispute stands.
    pub status: DisputeStatus,
    /// Why the cardholder disputed (`fraudulent`, `general`, ...).
    #[serde(default)]
    pub reason: Option<String>,
    /// Whether the charge can still be refunded.
    #[serde(default)]
    pub is_charge_refundable: bool,
    /// Creation time, in seconds since the Unix epoch.
    pub created: i64,
    /// Whether the dispute is live (`false` in test mode).
    #[serde(default)]
    pub livemode: bool,
}

impl Dispute {
    /// The disputed amount.
    pub fn money(&self) -> Money {
        Money::new(self.amount, self.currency)
    }
}

impl HasId for Dispute {
    fn id(&self) -> &str {
        &self.id
    }
}
