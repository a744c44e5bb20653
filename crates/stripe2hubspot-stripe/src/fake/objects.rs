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

/// A Checkout Session line item (`"object": "item"`) of `quantity` × `price` (a stored
/// price object, as Stripe embeds it, its product an id until `expand[]=data.price.product`),
/// without discounts or taxes. List it with [`FakeStripe::set_checkout_line_items`](super::FakeStripe::set_checkout_line_items).
pub fn checkout_line_item(id: &str, price: &Value, quantity: i64, description: &str) -> Value {
    let amount = price["unit_amount"]
        .as_i64()
        .unwrap_or(0)
        .saturating_mul(quantity);
    json!({
        "id": id,
        "object": "item",
        "amount_discount": 0,
        "amount_subtotal": amount,
        "amount_tax": 0,
        "amount_total": amount,
        "currency": price["currency"].clone(),
        "description": description,
        "price": price.clone(),
        "quantity": quantity
    })
}

/// An invoice line (2024-06-20 shape: the full price embedded) of `quantity` × `price` (a
/// stored price object) on the invoice `invoice`, type `invoiceitem` for a one-time price and
/// `subscription` for a recurring one.
pub fn invoice_line(
    id: &str,
    invoice: &str,
    price: &Value,
    quantity: i64,
    description: &str,
) -> Value {
    let amount = price["unit_amount"]
        .as_i64()
        .unwrap_or(0)
        .saturating_mul(quantity);
    let recurring = !price["recurring"].is_null();
    json!({
        "id": id,
        "object": "line_item",
        "amount": amount,
        "amount_excluding_tax": amount,
        "currency": price["currency"].clone(),
        "description": description,
        "discount_amounts": [],
        "discountable": true,
        "discounts": [],
        "invoice": invoice,
        "livemode": false,
        "metadata": {},
        "period": {"end": 1_700_000_000, "start": 1_700_000_000},
        "price": price.clone(),
        "proration": false,
        "quantity": quantity,
        "tax_amounts": [],
        "tax_rates": [],
        "type": if recurring { "subscription" } else { "invoiceitem" },
        "unit_amount_excluding_tax": price["unit_amount"].as_i64().unwrap_or(0).to_string()
    })
}

/// `invoice` with these `lines` (all of them are stored; the fake embeds the first ten in
/// the invoice, as Stripe does, and lists all at `/v1/invoices/{id}/lines`).
pub fn with_lines(mut invoice: Value, lines: Vec<Value>) -> Value {
    invoice["lines"]["data"] = Value::Array(lines);
    invoice["lines"]["has_more"] = json!(false);
    invoice
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

/// A customer (`GET /v1/customers` shape), with contact data when given.
pub fn customer(id: &str, created: i64, email: Option<&str>, name: Option<&str>) -> Value {
    json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": created,
        "currency": "usd",
        "default_source": null,
        "delinquent": false,
        "description": null,
        "discount": null,
        "email": email,
        "invoice_prefix": "7FE1103",
        "invoice_settings": {"custom_fields": null, "default_payment_method": null,
                             "footer": null, "rendering_options": null},
        "livemode": false,
        "metadata": {},
        "name": name,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null
    })
}

/// What `GET /v1/customers/{id}` answers for a deleted customer.
pub fn deleted_customer(id: &str) -> Value {
    json!({"id": id, "object": "customer", "deleted": true})
}

/// A product (`GET /v1/products` shape).
pub fn product(id: &str, name: &str) -> Value {
    json!({
        "id": id,
        "object": "product",
        "active": true,
        "created": 1_690_000_000,
        "default_price": null,
        "description": null,
        "images": [],
        "livemode": false,
        "marketing_features": [],
        "metadata": {},
        "name": name,
        "package_dimensions": null,
        "shippable": null,
        "statement_descriptor": null,
        "tax_code": null,
        "type": "service",
        "unit_label": null,
        "updated": 1_690_000_000,
        "url": null
    })
}

/// A licensed, per-unit recurring price of `product` (its id, as Stripe sends it unexpanded):
/// `unit_amount` minor units of `currency` every `interval_count` `interval`s.
pub fn price(
    id: &str,
    product: &str,
    unit_amount: i64,
    currency: &str,
    interval: &str,
    interval_count: i64,
) -> Value {
    json!({
        "id": id,
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": 1_690_000_000,
        "currency": currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": null,
        "metadata": {},
        "nickname": null,
        "product": product,
        "recurring": {"aggregate_usage": null, "interval": interval,
                      "interval_count": interval_count, "meter": null,
                      "trial_period_days": null, "usage_type": "licensed"},
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": unit_amount,
        "unit_amount_decimal": unit_amount.to_string()
    })
}

/// A subscription of `customer` to `quantity` × `price`, in the 2024-06-20 shape (the
/// billing period on the subscription, the legacy `plan` and `quantity` beside `items`,
/// `discounts` as ids). `status` is Stripe's (`active`, `trialing`, `canceled`, ...); a
/// canceled one has `canceled_at` and `ended_at` set to `created` plus 30 days.
pub fn subscription(
    id: &str,
    customer: &str,
    created: i64,
    status: &str,
    price: &Value,
    quantity: i64,
) -> Value {
    let period_end = created + 30 * 86_400;
    let ended = (status == "canceled" || status == "incomplete_expired").then_some(period_end);
    let item = json!({
        "id": format!("si_{}", id.trim_start_matches("sub_")),
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": created,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price),
        "price": price,
        "quantity": quantity,
        "subscription": id,
        "tax_rates": []
    });
    let mut subscription = json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": {"enabled": false, "liability": null},
        "billing_cycle_anchor": created,
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": ended,
        "cancellation_details": {"comment": null, "feedback": null, "reason": null},
        "collection_method": "charge_automatically",
        "created": created,
        "currency": price["currency"],
        "current_period_end": period_end,
        "current_period_start": created,
        "customer": customer,
        "days_until_due": null,
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discount": null,
        "discounts": [],
        "ended_at": ended,
        "invoice_settings": {"account_tax_ids": null, "issuer": {"type": "self"}},
        "items": {
            "object": "list",
            "data": [item],
            "has_more": false,
            "total_count": 1,
            "url": format!("/v1/subscription_items?subscription={id}")
        },
        "latest_invoice": null,
        "livemode": false
    });
    // Two literals: one would pass `json!`'s recursion limit.
    let noise = json!({
        "metadata": {},
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": {"payment_method_options": null, "payment_method_types": null,
                             "save_default_payment_method": "off"},
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "plan": plan_of(price),
        "quantity": quantity,
        "schedule": null,
        "start_date": created,
        "status": status,
        "test_clock": null,
        "transfer_data": null,
        "trial_end": null,
        "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
        "trial_start": null
    });
    if let (Some(core), Value::Object(noise)) = (subscription.as_object_mut(), noise) {
        core.extend(noise);
    }
    subscription
}

/// The legacy `plan` Stripe still sends beside a recurring `price` in 2024-06-20.
fn plan_of(price: &Value) -> Value {
    json!({
        "id": price["id"],
        "object": "plan",
        "active": true,
        "aggregate_usage": null,
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": "per_unit",
        "created": price["created"],
        "currency": price["currency"],
        "interval": price["recurring"]["interval"],
        "interval_count": price["recurring"]["interval_count"],
        "livemode": false,
        "metadata": {},
        "meter": null,
        "nickname": null,
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": "licensed"
    })
}

/// A discount of `subscription` by a coupon of `percent_off` percent (2024-06-20 shape: the
/// coupon inside the discount). Store it beside the subscription and list its id in the
/// subscription's `discounts` ([`with_discount`]).
pub fn percent_discount(id: &str, subscription: &Value, percent_off: f64) -> Value {
    json!({
        "id": id,
        "object": "discount",
        "checkout_session": null,
        "coupon": {
            "id": format!("coupon_{id}"), "object": "coupon", "amount_off": null,
            "created": subscription["created"], "currency": null, "duration": "forever",
            "duration_in_months": null, "livemode": false, "max_redemptions": null,
            "metadata": {}, "name": null, "percent_off": percent_off, "redeem_by": null,
            "times_redeemed": 1, "valid": true
        },
        "customer": subscription["customer"],
        "end": null,
        "invoice": null,
        "invoice_item": null,
        "promotion_code": null,
        "start": subscription["created"],
        "subscription": subscription["id"],
        "subscription_item": null
    })
}

/// `subscription` with `discount` (its id) in effect.
pub fn with_discount(mut subscription: Value, discount: &Value) -> Value {
    if let Some(ids) = subscription["discounts"].as_array_mut() {
        ids.push(discount["id"].clone());
    }
    subscription["discount"] = discount.clone();
    subscription
}

/// The balance transaction of `charge`: `amount` minor units of `currency` settled (pass the
/// charge's own amount and currency when no conversion took place), less Stripe's fee of
/// 2.9% + 30 (rounded).
pub fn balance_transaction(id: &str, charge: &Value, amount: i64, currency: &str) -> Value {
    let fee = (amount * 29 + 500) / 1_000 + 30;
    let converted = charge["currency"].as_str() != Some(currency);
    json!({
        "id": id,
        "object": "balance_transaction",
        "amount": amount,
        "available_on": charge["created"].as_i64().unwrap_or(0) + 2 * 86_400,
        "created": charge["created"],
        "currency": currency,
        "description": charge["description"],
        "exchange_rate": if converted { json!(0.0067296) } else { Value::Null },
        "fee": fee,
        "fee_details": [{"amount": fee, "application": null, "currency": currency,
                         "description": "Stripe processing fees", "type": "stripe_fee"}],
        "net": amount - fee,
        "reporting_category": "charge",
        "source": charge["id"],
        "status": "available",
        "type": "charge"
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
