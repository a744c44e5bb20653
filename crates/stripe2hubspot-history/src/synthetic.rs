//! An object read from Stripe's API turned into the event a webhook would have delivered for
//! its current state, so it takes the same path through the queue and the engine as a webhook.

use serde_json::json;
use sha2::{Digest, Sha256};
use stripe_events::{
    ChargeStatus, DisputeStatus, Event, EventObject, InvoiceStatus, SubscriptionStatus,
};

use stripe2hubspot_queue::NewJob;

/// Every synthetic event id starts with this, so a backfilled job is told apart from a
/// webhook's (`evt_...` ids from Stripe never contain `backfill`).
pub const SYNTHETIC_EVENT_PREFIX: &str = "evt_backfill_";

/// Hex digits of the object's SHA-256 kept in the id: 128 bits, ample to keep distinct
/// object states apart.
const ID_HASH_HEX_DIGITS: usize = 32;

/// The webhook type that reports `object` in its current state, or `None` for objects no
/// handled webhook carries in that state (a failed charge, an unpaid session or invoice).
///
/// A charge with money refunded is `charge.refunded`, else `charge.captured` once captured
/// and `charge.succeeded` while only authorized; a dispute is `charge.dispute.closed` once won
/// or lost, else `charge.dispute.created`; a paid Checkout Session (paid at once or later,
/// asynchronously) is `checkout.session.completed`; a paid invoice is `invoice.paid`; a
/// succeeded PaymentIntent is `payment_intent.succeeded`. A customer is `customer.updated`
/// (`customer.deleted` once deleted); a subscription is `customer.subscription.updated`, or
/// `customer.subscription.deleted` once it ended (canceled, or expired incomplete), the event
/// Stripe sends when a subscription ends
/// (<https://docs.stripe.com/api/events/types#event_types-customer.subscription.deleted>).
pub fn webhook_type_for(object: &EventObject) -> Option<&'static str> {
    match object {
        EventObject::Charge(charge) => {
            if charge.status != ChargeStatus::Succeeded {
                None
            } else if charge.amount_refunded > 0 {
                Some("charge.refunded")
            } else if charge.captured {
                Some("charge.captured")
            } else {
                Some("charge.succeeded")
            }
        }
        EventObject::Dispute(dispute) => match dispute.status {
            DisputeStatus::Won | DisputeStatus::Lost | DisputeStatus::WarningClosed => {
                Some("charge.dispute.closed")
            }
            _ => Some("charge.dispute.created"),
        },
        EventObject::CheckoutSession(session) => (session.payment_status.as_deref()
            == Some("paid"))
        .then_some("checkout.session.completed"),
        EventObject::Invoice(invoice) => {
            (invoice.status == Some(InvoiceStatus::Paid)).then_some("invoice.paid")
        }
        EventObject::PaymentIntent(intent) => (intent.status
            == stripe_events::PaymentIntentStatus::Succeeded)
            .then_some("payment_intent.succeeded"),
        EventObject::Customer(customer) => Some(if customer.deleted {
            "customer.deleted"
        } else {
            "customer.updated"
        }),
        EventObject::Subscription(subscription) => Some(match subscription.status {
            Some(SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired) => {
                "customer.subscription.deleted"
            }
            _ => "customer.subscription.updated",
        }),
        EventObject::InvoicePayment(_) | EventObject::Unknown(_) => None,
    }
}

/// A synthetic event, ready to enqueue.
#[derive(Debug, Clone)]
pub struct SyntheticEvent {
    /// The event, typed, for reading facts from it before enqueueing.
    pub event: Event,
    /// The event's JSON, as the queue stores a webhook's body.
    pub payload: Vec<u8>,
}

impl SyntheticEvent {
    /// The job that enqueues this event: deduplicated by its id like a webhook redelivery.
    pub fn job(&self) -> NewJob {
        NewJob {
            event_id: self.event.id.clone(),
            event_type: self.event.type_.clone(),
            event_created: self.event.created,
            payload: self.payload.clone(),
        }
    }
}

/// The event a webhook would carry for `object` as it is now: `None` when no handled webhook
/// reports it in this state (see [`webhook_type_for`]).
///
/// The id is [`SYNTHETIC_EVENT_PREFIX`] plus a hash of the object's JSON: reading an
/// unchanged object again gives the same id, which the queue drops as a duplicate, while a
/// change (a new refund, a dispute closing) gives a new event. `created` is `read_at`, the
/// time the object was read, so this state outranks the older events it summarises.
pub fn synthetic_event(
    object: &EventObject,
    livemode: bool,
    read_at: i64,
) -> Option<SyntheticEvent> {
    let event_type = webhook_type_for(object)?;
    // Serialising a typed object cannot fail (string keys, no non-finite floats).
    let object_json = serde_json::to_value(object).ok()?;
    let digest = Sha256::digest(object_json.to_string().as_bytes());
    let hash = hex::encode(digest);
    let id = format!(
        "{SYNTHETIC_EVENT_PREFIX}{}",
        hash.get(..ID_HASH_HEX_DIGITS).unwrap_or(&hash)
    );
    let value = json!({
        "id": id,
        "object": "event",
        "type": event_type,
        "created": read_at,
        "livemode": livemode,
        "data": { "object": object_json },
    });
    let payload = value.to_string().into_bytes();
    let event: Event = serde_json::from_slice(&payload).ok()?;
    Some(SyntheticEvent { event, payload })
}

/// Whether an event id is one [`synthetic_event`] made.
pub fn is_synthetic(event_id: &str) -> bool {
    event_id.starts_with(SYNTHETIC_EVENT_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use stripe2hubspot_map::{
        facts_from_event, facts_from_object, FactsOutcome, MappingConfig, Stamp,
    };

    fn charge(extra: Value) -> EventObject {
        let mut base = json!({
            "id": "ch_1", "object": "charge", "amount": 1000, "amount_captured": 1000,
            "amount_refunded": 0, "currency": "usd", "status": "succeeded", "captured": true,
            "created": 1_700_000_000, "payment_intent": "pi_1", "refunded": false,
            "billing_details": {"email": "ann@example.com"}
        });
        if let (Some(base), Some(extra)) = (base.as_object_mut(), extra.as_object()) {
            for (k, v) in extra {
                base.insert(k.clone(), v.clone());
            }
        }
        EventObject::from_value(base)
    }

    #[test]
    fn each_state_gets_the_webhook_type_that_reports_it() {
        assert_eq!(
            webhook_type_for(&charge(json!({}))),
            Some("charge.captured")
        );
        assert_eq!(
            webhook_type_for(&charge(json!({"captured": false, "amount_captured": 0}))),
            Some("charge.succeeded")
        );
        assert_eq!(
            webhook_type_for(&charge(json!({"amount_refunded": 1}))),
            Some("charge.refunded")
        );
        assert_eq!(webhook_type_for(&charge(json!({"status": "failed"}))), None);
        let dispute = |status: &str| {
            EventObject::from_value(json!({
                "id": "dp_1", "object": "dispute", "amount": 1000, "currency": "usd",
                "charge": "ch_1", "status": status, "created": 1_700_000_000
            }))
        };
        assert_eq!(
            webhook_type_for(&dispute("won")),
            Some("charge.dispute.closed")
        );
        assert_eq!(
            webhook_type_for(&dispute("lost")),
            Some("charge.dispute.closed")
        );
        assert_eq!(
            webhook_type_for(&dispute("needs_response")),
            Some("charge.dispute.created")
        );
    }

    fn subscription(status: &str) -> EventObject {
        EventObject::from_value(json!({
            "id": "sub_1", "object": "subscription", "customer": "cus_1", "status": status,
            "created": 1_700_000_000, "currency": "usd",
            "items": {"object": "list", "data": [{"id": "si_1", "object": "subscription_item",
                "quantity": 1, "price": {"id": "price_1", "object": "price", "currency": "usd",
                "unit_amount": 4900, "recurring": {"interval": "month", "interval_count": 1}}}]}
        }))
    }

    #[test]
    fn customers_and_subscriptions_get_the_webhook_of_their_state() {
        let customer = EventObject::from_value(json!({
            "id": "cus_1", "object": "customer", "email": "ann@example.com", "created": 1
        }));
        assert_eq!(webhook_type_for(&customer), Some("customer.updated"));
        let deleted =
            EventObject::from_value(json!({"id": "cus_1", "object": "customer", "deleted": true}));
        assert_eq!(webhook_type_for(&deleted), Some("customer.deleted"));
        for (status, webhook) in [
            ("active", "customer.subscription.updated"),
            ("trialing", "customer.subscription.updated"),
            ("past_due", "customer.subscription.updated"),
            ("paused", "customer.subscription.updated"),
            ("incomplete", "customer.subscription.updated"),
            (
                "a_status_stripe_adds_later",
                "customer.subscription.updated",
            ),
            ("canceled", "customer.subscription.deleted"),
            ("incomplete_expired", "customer.subscription.deleted"),
        ] {
            assert_eq!(
                webhook_type_for(&subscription(status)),
                Some(webhook),
                "{status}"
            );
        }
        // The state is the id: read again unchanged, the queue drops it; changed, it is new.
        let active = synthetic_event(&subscription("active"), false, 5).unwrap();
        let again = synthetic_event(&subscription("active"), false, 6).unwrap();
        let canceled = synthetic_event(&subscription("canceled"), false, 5).unwrap();
        assert_eq!(active.event.id, again.event.id);
        assert_ne!(active.event.id, canceled.event.id);
        assert!(matches!(
            active.event.data.object,
            EventObject::Subscription(_)
        ));
    }

    #[test]
    fn same_object_same_id_changed_object_new_id() {
        let a = synthetic_event(&charge(json!({})), false, 10).unwrap();
        let again = synthetic_event(&charge(json!({})), false, 99).unwrap();
        let refunded =
            synthetic_event(&charge(json!({"amount_refunded": 100})), false, 10).unwrap();
        assert_eq!(a.event.id, again.event.id);
        assert_ne!(a.event.id, refunded.event.id);
        assert!(is_synthetic(&a.event.id));
        assert_eq!(again.event.created, 99);
        assert_eq!(refunded.job().event_type, "charge.refunded");
    }

    #[test]
    fn the_synthetic_event_gives_the_facts_the_object_gives() {
        let config = MappingConfig::default();
        for object in [
            charge(json!({})),
            charge(json!({"amount_refunded": 400})),
            charge(json!({"captured": false, "amount_captured": 0})),
        ] {
            let synthetic = synthetic_event(&object, false, 1_700_000_500).unwrap();
            let from_event = facts_from_event(&synthetic.event, &config).unwrap();
            let from_object = facts_from_object(
                &object,
                Some(&synthetic.event.type_),
                Stamp::of(&synthetic.event),
                &config,
            )
            .unwrap();
            assert!(matches!(from_event, FactsOutcome::Facts(_)));
            assert_eq!(from_event, from_object);
        }
    }

    /// A webhook fixture of the stripe-events crate with `lines` set on its invoice.
    fn invoice_webhook(fixture: &str, lines: Value) -> Value {
        let path = format!(
            "{}/../stripe-events/tests/fixtures/{fixture}.json",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        event["data"]["object"]["lines"] = lines;
        event
    }

    fn line_items_of(event: &Event) -> Vec<stripe2hubspot_map::LineItemFacts> {
        match facts_from_event(event, &MappingConfig::default()).unwrap() {
            FactsOutcome::Facts(facts) => facts.line_items,
            FactsOutcome::Skip(reason) => panic!("skipped: {reason:?}"),
        }
    }

    #[test]
    fn a_backfilled_invoice_carries_the_lines_the_webhook_carries_into_the_ledger() {
        // The two price shapes: `price` (before 2025-03-31.basil), `pricing.price_details`.
        let older = json!({"object": "list", "has_more": false, "url": "/v1/invoices/in_1/lines",
        "data": [
            {"id": "il_pro", "object": "line_item", "amount": 3000, "currency": "usd",
             "quantity": 3, "description": "3 x Pro",
             "price": {"id": "price_pro", "object": "price", "currency": "usd",
                "unit_amount": 1000, "product": "prod_pro",
                "recurring": {"interval": "month", "interval_count": 1}}},
            {"id": "il_setup", "object": "line_item", "amount": 500, "currency": "usd",
             "quantity": 1, "description": "Setup",
             "price": {"id": "price_setup", "object": "price", "currency": "usd",
                "unit_amount": 500, "product": "prod_setup"}}
        ]});
        let basil = json!({"object": "list", "has_more": false, "url": "/v1/invoices/in_1/lines",
        "data": [
            {"id": "il_seat", "object": "line_item", "amount": 2000, "currency": "usd",
             "quantity": 2, "description": "2 x Seat",
             "pricing": {"type": "price_details", "unit_amount_decimal": "1000",
                "price_details": {"price": "price_seat", "product": "prod_seat"}}}
        ]});
        for (fixture, lines, ids) in [
            ("invoice_paid", older, vec!["il_pro", "il_setup"]),
            ("invoice_paid_2025_03_31_basil", basil, vec!["il_seat"]),
        ] {
            let webhook = invoice_webhook(fixture, lines);
            let from_webhook = stripe_events::parse_event(webhook.to_string().as_bytes()).unwrap();
            let webhook_lines = line_items_of(&from_webhook);
            assert_eq!(
                webhook_lines
                    .iter()
                    .map(|l| l.id.as_str())
                    .collect::<Vec<_>>(),
                ids,
                "{fixture}"
            );

            // The same invoice as the list endpoint gives it, through the backfill's event.
            let object = EventObject::from_value(webhook["data"]["object"].clone());
            let synthetic = synthetic_event(&object, false, 1_900_000_000).unwrap();
            assert_eq!(
                line_items_of(&synthetic.event),
                webhook_lines,
                "{fixture}: the backfill keeps every line as the webhook has it"
            );
            let stored: Value = serde_json::from_slice(&synthetic.payload).unwrap();
            assert_eq!(
                stored["data"]["object"]["lines"]["data"]
                    .as_array()
                    .map(Vec::len),
                Some(ids.len()),
                "{fixture}: the queued payload keeps the lines"
            );

            // In the ledger: the backfill (newer) over the webhook keeps the same lines, and
            // so the same fingerprint: the engine notes nothing new for the deal.
            let facts =
                |event: &Event| match facts_from_event(event, &MappingConfig::default()).unwrap() {
                    FactsOutcome::Facts(facts) => *facts,
                    FactsOutcome::Skip(reason) => panic!("skipped: {reason:?}"),
                };
            let webhook_row = stripe2hubspot_map::LedgerRow::from_facts(&facts(&from_webhook));
            let both = webhook_row.merge(&stripe2hubspot_map::LedgerRow::from_facts(&facts(
                &synthetic.event,
            )));
            assert_eq!(both.line_items(), webhook_row.line_items(), "{fixture}");
            assert_eq!(
                both.line_items_fingerprint(),
                webhook_row.line_items_fingerprint(),
                "{fixture}"
            );
        }
    }
}
