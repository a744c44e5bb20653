//! Realistic Stripe objects (API version 2024-06-20 shapes) for tests and demos.
//!
//! Every function returns the JSON Stripe would: the fields `stripe-events` reads plus a few it
//! ignores (`outcome`, `payment_method_details`, nulls), so parsing is tested against noise.

use serde_json::{json, Value};

/// A captured, succeeded card charge without a payer (see [`with_payer`]).
pub fn charge(id: &str, created: i64, amount: i64, currency: &str) -> Value {
    json!({
        "id": id,
        "object": "charge",
        "amount": amount,
        "amount_captured": amount,
        "amount_refunded": 0,
        "application_fee": null,
        "balance_transaction": format!("txn_{id}"),
        "billing_details": {
            "address": {"city": null, "country": null, "line1": null, "line2": null,
                        "postal_code": null, "state": null},
            "email": null, "name": null, "phone": null
        },
        "captured": true,
        "created": created,
        "currency": currency,
        "customer": null,
        "description": format!("Order {id}"),
        "disputed": false,
        "failure_code": null,
        "invoice": null,
        "livemode": false,
        "metadata": {},
        "outcome": {"network_status": "approved_by_network", "risk_level": "normal",
                    "seller_message": "Payment complete.", "type": "authorized"},
        "paid": true,
        "payment_intent": null,
        "payment_method": format!("pm_{id}"),
        "payment_method_details": {"type": "card", "card": {"brand": "visa", "country": "US",
            "exp_month": 12, "exp_year": 2030, "funding": "credit", "last4": "4242"}},
        "receipt_email": null,
        "receipt_url": format!("https://pay.stripe.com/receipts/{id}"),
        "refunded": false,
        "status": "succeeded"
    })
}

/// `charge` paid by `email` (and `name`, and the customer `cus_...` when given).
pub fn with_payer(mut charge: Value, email: &str, name: &str, customer: Option<&str>) -> Value {
    charge["billing_details"]["email"] = json!(email);
    charge["billing_details"]["name"] = json!(name);
    charge["receipt_email"] = json!(email);
    charge["customer"] = json!(customer);
    charge
}

/// `charge` with `amount` refunded so far (fully refunded when it reaches the captured amount).
pub fn refunded(mut charge: Value, amount: i64) -> Value {
    let captured = charge["amount_captured"].as_i64().unwrap_or(0);
    charge["amount_refunded"] = json!(amount);
    charge["refunded"] = json!(amount >= captured);
    charge
}

/// `charge` marked as disputed (pair it with a [`dispute`]).
pub fn disputed(mut charge: Value) -> Value {
    charge["disputed"] = json!(true);
    charge
}

/// `charge` made by the PaymentIntent `pi`.
pub fn via_intent(mut charge: Value, pi: &str) -> Value {
    charge["payment_intent"] = json!(pi);
    charge
}

/// A dispute of the whole of `charge` with `status` (`needs_response`, `won`, `lost`, ...).
pub fn dispute(id: &str, charge: &Value, created: i64, status: &str) -> Value {
    json!({
        "id": id,
        "object": "dispute",
        "amount": charge["amount"],
        "balance_transactions": [],
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "evidence": {"customer_email_address": null, "product_description": null},
        "evidence_details": {"due_by": created + 7 * 86_400, "has_evidence": false,
                             "past_due": false, "submission_count": 0},
        "is_charge_refundable": false,
        "livemode": false,
        "metadata": {},
        "payment_intent": charge["payment_intent"],
        "reason": "fraudulent",
        "status": status
    })
}

/// A succeeded PaymentIntent whose latest charge is `charge` (its id; `expand[]` swaps in the
/// object).
pub fn payment_intent(id: &str, charge: &Value) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": charge["amount"],
        "amount_capturable": 0,
        "amount_received": charge["amount_captured"],
        "capture_method": "automatic",
        "created": charge["created"],
        "currency": charge["currency"],
        "customer": charge["customer"],
        "description": charge["description"],
        "invoice": charge["invoice"],
        "latest_charge": charge["id"],
        "livemode": false,
        "metadata": {},
        "payment_method": charge["payment_method"],
        "receipt_email": charge["receipt_email"],
        "status": "succeeded"
    })
}

/// A completed, paid `payment`-mode Checkout Session paid through the PaymentIntent `pi`.
pub fn checkout_session(
    id: &str,
    created: i64,
    pi: &str,
    amount: i64,
    currency: &str,
    email: &str,
) -> Value {
    json!({
        "id": id,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "created": created,
        "currency": currency,
        "customer": null,
        "customer_creation": "if_required",
        "customer_details": {"address": null, "email": email, "name": null, "phone": null,
                             "tax_exempt": "none", "tax_ids": []},
        "customer_email": null,
        "expires_at": created + 86_400,
        "invoice": null,
        "livemode": false,
        "metadata": {},
        "mode": "payment",
        "payment_intent": pi,
        "payment_status": "paid",
        "status": "complete",
        "subscription": null,
        "url": null
    })
}

/// A paid subscription invoice (2024-06-20 shape: `payment_intent`, `charge` and
/// `subscription` at the top level).
pub fn invoice(id: &str, created: i64, charge: &Value, subscription: &str, email: &str) -> Value {
    json!({
        "id": id,
        "object": "invoice",
        "amount_due": charge["amount"],
        "amount_paid": charge["amount_captured"],
        "amount_remaining": 0,
        "billing_reason": "subscription_cycle",
        "charge": charge["id"],
        "created": created,
        "currency": charge["currency"],
        "customer": charge["customer"],
        "customer_email": email,
        "customer_name": null,
        "customer_phone": null,
        "description": null,
        "hosted_invoice_url": format!("https://invoice.stripe.com/i/{id}"),
        "lines": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/lines")},
        "livemode": false,
        "metadata": {},
        "number": format!("NUM-{id}"),
        "paid": true,
        "payment_intent": charge["payment_intent"],
        "status": "paid",
        "status_transitions": {"finalized_at": created, "paid_at": created + 5,
                               "marked_uncollectible_at": null, "voided_at": null},
        "subscription": subscription
    })
}

/// A generated payment history: charges (each with its PaymentIntent), their disputes, and the
/// same payments seen as Checkout Sessions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct History {
    /// Charges, oldest first.
    pub charges: Vec<Value>,
    /// The PaymentIntent of each charge.
    pub payment_intents: Vec<Value>,
    /// Disputes of some charges.
    pub disputes: Vec<Value>,
}

impl History {
    /// Every object, for [`FakeStripe::insert_all`](super::FakeStripe::insert_all).
    pub fn all(&self) -> Vec<Value> {
        let mut all = Vec::new();
        all.extend(self.charges.iter().cloned());
        all.extend(self.payment_intents.iter().cloned());
        all.extend(self.disputes.iter().cloned());
        all
    }
}

/// `count` payments a minute apart from `first_created`, deterministic: every 5th in JPY, every
/// 7th partly refunded, every 13th fully refunded, every 11th disputed (needs response, won,
/// lost in turn), and payers repeating so some customers pay several times.
pub fn history(count: usize, first_created: i64) -> History {
    let payers = (count / 3).max(1);
    let mut out = History::default();
    for i in 0..count {
        let n = i64::try_from(i).unwrap_or(i64::MAX);
        let created = first_created.saturating_add(n.saturating_mul(60));
        let (amount, currency) = if i % 5 == 4 {
            (1_500 + n % 7 * 100, "jpy")
        } else {
            (1_000 + n % 9 * 250, "usd")
        };
        let payer = i % payers;
        let id = format!("ch_{i:06}");
        let pi = format!("pi_{i:06}");
        let mut ch = with_payer(
            charge(&id, created, amount, currency),
            &format!("payer{payer}@example.com"),
            &format!("Payer Number{payer}"),
            Some(&format!("cus_{payer:05}")),
        );
        ch = via_intent(ch, &pi);
        if i % 13 == 12 {
            ch = refunded(ch, amount);
        } else if i % 7 == 6 {
            ch = refunded(ch, amount / 2);
        }
        if i % 11 == 10 {
            ch = disputed(ch);
            let status = ["needs_response", "won", "lost"][(i / 11) % 3];
            out.disputes
                .push(dispute(&format!("dp_{i:06}"), &ch, created + 3_600, status));
        }
        out.payment_intents.push(payment_intent(&pi, &ch));
        out.charges.push(ch);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use stripe_events::{Charge, Dispute, PaymentIntent};

    #[test]
    fn generated_history_parses_and_has_every_case() {
        let h = history(100, 1_700_000_000);
        assert_eq!((h.charges.len(), h.payment_intents.len()), (100, 100));
        let charges: Vec<Charge> = h
            .charges
            .iter()
            .map(|c| serde_json::from_value(c.clone()).unwrap())
            .collect();
        assert!(charges.iter().any(|c| c.currency.as_str() == "jpy"));
        assert!(charges.iter().any(|c| c.refunded));
        assert!(charges.iter().any(|c| !c.refunded && c.amount_refunded > 0));
        assert!(charges.iter().any(|c| c.disputed));
        let emails: std::collections::BTreeSet<_> = charges
            .iter()
            .filter_map(|c| c.billing_details.email.clone())
            .collect();
        assert!(emails.len() < charges.len());
        for d in &h.disputes {
            serde_json::from_value::<Dispute>(d.clone()).unwrap();
        }
        for p in &h.payment_intents {
            serde_json::from_value::<PaymentIntent>(p.clone()).unwrap();
        }
    }
}
