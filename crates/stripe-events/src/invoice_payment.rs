//! The link between an invoice and the payment that paid it (API versions from 2025-03-31).

use serde::{Deserialize, Serialize};

use crate::event::{Charge, Expandable, HasId, PaymentIntent};
use crate::invoice::Invoice;
use crate::money::Currency;

/// What paid an [`InvoicePayment`]: a PaymentIntent or, for a charge without one, the charge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvoicePaymentTarget {
    /// `payment_intent`, `charge` or `payment_record`.
    #[serde(rename = "type", default)]
    pub type_: Option<String>,
    /// The PaymentIntent, when `type` is `payment_intent`.
    #[serde(default)]
    pub payment_intent: Option<Expandable<PaymentIntent>>,
    /// The charge, when `type` is `charge`.
    #[serde(default)]
    pub charge: Option<Expandable<Charge>>,
}

/// One payment applied to an invoice (`"object": "invoice_payment"`, `inpay_...`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InvoicePayment {
    /// Invoice payment id.
    pub id: String,
    /// The invoice that was paid.
    #[serde(default)]
    pub invoice: Option<Expandable<Invoice>>,
    /// Amount paid towards the invoice, in minor units; `None` until the payment is `paid`.
    #[serde(default)]
    pub amount_paid: Option<i64>,
    /// Amount meant to be paid towards the invoice, in minor units.
    #[serde(default)]
    pub amount_requested: i64,
    /// Currency of the amounts.
    pub currency: Currency,
    /// What paid it.
    #[serde(default)]
    pub payment: InvoicePaymentTarget,
    /// `open`, `paid` or `canceled`.
    #[serde(default)]
    pub status: Option<String>,
    /// Whether this is the invoice's default payment.
    #[serde(default)]
    pub is_default: bool,
    /// Creation time, in seconds since the Unix epoch.
    pub created: i64,
}

impl HasId for InvoicePayment {
    fn id(&self) -> &str {
        &self.id
    }
}
