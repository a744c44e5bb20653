//! Realistic, signed Stripe payment events for demos and tests: yours and ours.
//!
//! ```
//! use stripe_events::testkit::Payment;
//! let payment = Payment::sample(); // Tony Stark's 149.00 USD charge
//! let body = payment.charge_succeeded().to_string();
//! let header = stripe_events::testkit::sign_now(body.as_bytes(), "whsec_demo");
//! assert!(header.starts_with("t="));
//! ```

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

/// One successful Stripe payment, rendered as `charge.succeeded` or
/// `payment_intent.succeeded` events shaped like Stripe's.
#[derive(Debug, Clone, PartialEq)]
pub struct Payment {
    /// Event id of the `charge.succeeded` event (`evt_...`).
    pub event_id: String,
    /// Creation time of the charge and its events, Unix seconds.
    pub created: i64,
    /// Charge id (`ch_...`).
    pub charge_id: String,
    /// PaymentIntent id (`pi_...`), if the charge has one.
    pub payment_intent: Option<String>,
    /// Customer id (`cus_...`), if any.
    pub customer: Option<String>,
    /// `billing_details.email`.
    pub email: Option<String>,
    /// `billing_details.name`.
    pub name: Option<String>,
    /// `billing_details.phone`.
    pub phone: Option<String>,
    /// Amount in the currency's minor unit.
    pub amount: i64,
    /// Lowercase ISO currency code.
    pub currency: String,
    /// Charge metadata.
    pub metadata: BTreeMap<String, String>,
}

impl Payment {
    /// A sample payment: Tony Stark pays 149.00 USD for an Arc Reactor Deployment.
    pub fn sample() -> Payment {
        Payment {
            event_id: "evt_1N3x9yLkdIwHu7ix241ad".into(),
            created: 1_680_651_002,
            charge_id: "ch_3Mv29vLkdIwHu7ix1Lp0xqy9".into(),
            payment_intent: Some("pi_3Mv29vLkdIwHu7ix1b8sWq0T".into()),
            customer: Some("cus_NgO5fLkdIwHu7i".into()),
            email: Some("tony@starkindustries.com".into()),
            name: Some("Tony Stark".into()),
            phone: Some("+1-555-0100".into()),
            amount: 14900,
            currency: "usd".into(),
            metadata: [
                ("company", "Stark Industries"),
                ("lifecycle_stage", "customer"),
                ("deal_name", "Arc Reactor Deployment"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
        }
    }

    /// A payment of `amount` minor units of `currency` by `email`, numbered `n` so ids differ.
    pub fn numbered(n: u64, email: &str, amount: i64, currency: &str, created: i64) -> Payment {
        Payment {
            event_id: format!("evt_test_{n:06}"),
            created,
            charge_id: format!("ch_test_{n:06}"),
            payment_intent: Some(format!("pi_test_{n:06}")),
            customer: None,
            email: Some(email.to_owned()),
            name: None,
            phone: None,
            amount,
            currency: currency.to_owned(),
            metadata: BTreeMap::new(),
        }
    }

    fn charge(&self) -> Value {
        json!({
            "id": self.charge_id,
            "object": "charge",
            "amount": self.amount,
            "amount_captured": self.amount,
            "amount_refunded": 0,
            "billing_details": {
                "address": null,
                "email": self.email,
                "name": self.name,
                "phone": self.phone,
            },
            "captured": true,
            "created": self.created,
            "currency": self.currency,
            "customer": self.customer,
            "description": null,
            "livemode": false,
            "metadata": self.metadata,
            "outcome": {"network_status": "approved_by_network", "risk_level": "normal", "seller_message": "Payment complete.", "type": "authorized"},
            "paid": true,
            "payment_intent": self.payment_intent,
            "payment_method_details": {"card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030}, "type": "card"},
            "receipt_email": null,
            "receipt_url": format!("https://pay.stripe.com/receipts/{}", self.charge_id),
            "refunded": false,
            "status": "succeeded",
        })
    }

    fn event(&self, id: &str, type_: &str, object: Value) -> Value {
        json!({
            "id": id,
            "object": "event",
            "api_version": "2024-06-20",
            "created": self.created + 1,
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": type_,
            "data": {"object": object},
        })
    }

    /// The `charge.succeeded` event.
    pub fn charge_succeeded(&self) -> Value {
        self.event(&self.event_id, "charge.succeeded", self.charge())
    }

    /// The `payment_intent.succeeded` event of the same payment (its `latest_charge`
    /// expanded), with event id `event_id`.
    pub fn payment_intent_succeeded(&self, event_id: &str) -> Value {
        let intent = json!({
            "id": self.payment_intent.clone().unwrap_or_else(|| format!("pi_for_{}", self.charge_id)),
            "object": "payment_intent",
            "amount": self.amount,
            "amount_received": self.amount,
            "currency": self.currency,
            "customer": self.customer,
            "created": self.created,
            "latest_charge": self.charge(),
            "livemode": false,
            "metadata": self.metadata,
            "receipt_email": null,
            "status": "succeeded",
        });
        self.event(event_id, "payment_intent.succeeded", intent)
    }
}

/// A `Stripe-Signature` header for `body`, signed with `secret` at the current time.
pub fn sign_now(body: &[u8], secret: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or_default();
    crate::sign(body, secret, now)
}
