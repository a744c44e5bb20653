//! A Stripe invoice, in the shapes of API versions before and after 2025-03-31.basil.
//!
//! Before 2025-03-31 an invoice named its `payment_intent`, `charge` and `subscription` at the
//! top level. From 2025-03-31 those fields are gone: payments are listed in `payments` (only
//! present when included or expanded) and the subscription is in
//! `parent.subscription_details.subscription`. Both shapes parse into [`Invoice`]; use
//! [`Invoice::payment_intent_id`] and [`Invoice::subscription_id`] to read either.

use serde::{Deserialize, Serialize};

use crate::event::{Charge, Customer, Expandable, HasId, Metadata, PaymentIntent};
use crate::invoice_payment::InvoicePayment;
use crate::line_item::InvoiceLineItem;
use crate::list::List;
use crate::money::{Currency, Money};
use crate::subscription::Subscription;

/// Status of an [`Invoice`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[allow(missing_docs)] // Stripe's status names.
pub enum InvoiceStatus {
    Draft,
    Open,
    Paid,
    Uncollectible,
    Void,
    /// A status this crate does not know yet.
    #[serde(other)]
    Other,
}

/// `parent.subscription_details` of an invoice (2025-03-31 and later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceSubscriptionDetails {
    /// The subscription that generated the invoice.
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
}

/// What generated an invoice (2025-03-31 and later).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoiceParent {
    /// `subscription_details` or `quote_details`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// Set when a subscription generated the invoice.
    #[serde(default)]
    pub subscription_details: Option<InvoiceSubscriptionDetails>,
}

/// When an invoice changed status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceStatusTransitions {
    /// When the invoice was paid, in seconds since the Unix epoch.
    #[serde(default)]
    pub paid_at: Option<i64>,
}

/// A Stripe invoice (`in_...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invoice {
    /// Invoice id.
    pub id: String,
    /// The customer billed.
    #[serde(default)]
    pub customer: Option<Expandable<Customer>>,
    /// The customer's email, copied onto the invoice when it was finalized.
    #[serde(default)]
    pub customer_email: Option<String>,
    /// The customer's name, copied onto the invoice when it was finalized.
    #[serde(default)]
    pub customer_name: Option<String>,
    /// The customer's phone, copied onto the invoice when it was finalized.
    #[serde(default)]
    pub customer_phone: Option<String>,
    /// Amount due, in minor units.
    #[serde(default)]
    pub amount_due: i64,
    /// Amount paid, in minor units.
    #[serde(default)]
    pub amount_paid: i64,
    /// Currency of all amounts.
    pub currency: Currency,
    /// Status of the invoice.
    #[serde(default)]
    pub status: Option<InvoiceStatus>,
    /// Arbitrary description.
    #[serde(default)]
    pub description: Option<String>,
    /// Invoice number shown to the customer.
    #[serde(default)]
    pub number: Option<String>,
    /// Why the invoice was created (`subscription_cycle`, `manual`, ...).
    #[serde(default)]
    pub billing_reason: Option<String>,
    /// URL of the hosted invoice page.
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    /// Key-value metadata.
    #[serde(default, deserialize_with = "crate::event::null_as_default")]
    pub metadata: Metadata,
    /// When the invoice changed status.
    #[serde(default)]
    pub status_transitions: Option<InvoiceStatusTransitions>,
    /// The subscription (API versions before 2025-03-31).
    #[serde(default)]
    pub subscription: Option<Expandable<Subscription>>,
    /// What generated the invoice (API versions from 2025-03-31).
    #[serde(default)]
    pub parent: Option<InvoiceParent>,
    /// The PaymentIntent that pays it (API versions before 2025-03-31).
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// The latest charge (API versions before 2025-03-31).
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
    /// Payments applied to the invoice (API versions from 2025-03-31; only when included).
    #[serde(default)]
    pub payments: Option<List<InvoicePayment>>,
    /// What was billed, line by line (`lines.data[]`). `None` when Stripe sent no list or
    /// the list could not be read (an odd line never fails the invoice); check
    /// [`List::has_more`] for a list cut short.
    #[serde(default, deserialize_with = "crate::line_item::lenient_lines")]
    pub lines: Option<List<InvoiceLineItem>>,
    /// Creation time, in seconds since the Unix epoch.
    pub created: i64,
    /// Whether the invoice is live (`false` in test mode).
    #[serde(default)]
    pub livemode: bool,
}

impl Invoice {
    /// The amount paid.
    pub fn amount_paid_money(&self) -> Money {
        Money::new(self.amount_paid, self.currency)
    }

    /// The subscription that generated the invoice, in either API shape.
    pub fn subscription_id(&self) -> Option<&str> {
        let newer = self
            .parent
            .as_ref()
            .and_then(|p| p.subscription_details.as_ref())
            .and_then(|d| d.subscription.as_ref());
        newer.or(self.subscription.as_ref()).map(Expandable::id)
    }

    /// The PaymentIntent that paid the invoice, in either API shape: the top-level field of
    /// older versions, else the first paid entry of `payments` (else its first entry).
    pub fn payment_intent_id(&self) -> Option<&str> {
        if let Some(intent) = &self.payment_intent {
            return Some(intent.id());
        }
        let payments = self.payments.as_ref()?;
        fn intent_of(p: &InvoicePayment) -> Option<&str> {
            p.payment.payment_intent.as_ref().map(Expandable::id)
        }
        payments
            .data
            .iter()
            .filter(|p| p.status.as_deref() == Some("paid"))
            .find_map(intent_of)
            .or_else(|| payments.data.iter().find_map(intent_of))
    }

    /// The charge that paid the invoice, in either API shape (for charges without a
    /// PaymentIntent).
    pub fn charge_id(&self) -> Option<&str> {
        if let Some(charge) = &self.charge {
            return Some(charge.id());
        }
        self.payments
            .as_ref()?
            .data
            .iter()
            .find_map(|p| p.payment.charge.as_ref().map(Expandable::id))
    }
}

impl Invoice {
    /// The invoice's lines (none when Stripe sent no readable list).
    pub fn line_list(&self) -> &[InvoiceLineItem] {
        self.lines.as_ref().map_or(&[], |l| l.data.as_slice())
    }
}

impl HasId for Invoice {
    fn id(&self) -> &str {
        &self.id
    }
}
