//! The ledger's promise: for random payments with random event sequences (success, capture,
//! partial and full refunds, disputes opened and closed won or lost, Checkout, invoices in both
//! API shapes, an invoice paid by two PaymentIntents whose charges refund apart), every
//! permutation of the events with random redeliveries ends in the same ledger rows and the same
//! HubSpot deal and contact properties, and those are the right ones.

use proptest::prelude::*;
use serde_json::{json, Value};
use stripe2hubspot_map::{
    contact_properties, deal_properties, facts_from_event, Facts, FactsOutcome, LedgerRow,
    MappingConfig, PaymentState,
};
use stripe_events::Event;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Flow {
    Automatic,
    ManualCapture,
    Checkout,
    InvoiceBefore2025,
    InvoiceWithPayments,
    InvoiceLinkedByInvoicePayment,
    /// One invoice paid by two PaymentIntents (a split payment), each with its own charge,
    /// refunds and (on the first) dispute.
    InvoiceSplit,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum DisputeEnd {
    None,
    Open,
    Won,
    Lost,
}

#[derive(Debug, Clone)]
struct Payment {
    n: usize,
    flow: Flow,
    currency: &'static str,
    amount: i64,
    /// What was captured: less than `amount` for a partial manual capture.
    captured: i64,
    /// Cumulative refunded amounts, increasing, each at most `captured`.
    refunds: Vec<i64>,
    /// The second charge of a split invoice: its amount (part of `amount`, all captured) and
    /// its own cumulative refunds.
    second: Option<(i64, Vec<i64>)>,
    dispute: DisputeEnd,
    billing_email: bool,
    receipt_email: bool,
}

const EMAIL: &str = "ann@example.com";

fn payment(n: usize) -> impl Strategy<Value = Payment> {
    (
        prop_oneof![
            Just(Flow::Automatic),
            Just(Flow::ManualCapture),
            Just(Flow::Checkout),
            Just(Flow::InvoiceBefore2025),
            Just(Flow::InvoiceWithPayments),
            Just(Flow::InvoiceLinkedByInvoicePayment),
            Just(Flow::InvoiceSplit),
        ],
        prop::sample::select(vec!["usd", "jpy", "kwd", "eur"]),
        1i64..1_000_000,
        prop::collection::vec(0.0f64..=1.0, 0..3),
        any::<bool>(),
        prop_oneof![
            Just(DisputeEnd::None),
            Just(DisputeEnd::Open),
            Just(DisputeEnd::Won),
            Just(DisputeEnd::Lost)
        ],
        any::<bool>(),
        any::<bool>(),
        prop_oneof![Just(1.0f64), 0.01f64..1.0],
        (prop::collection::vec(0.0f64..=1.0, 0..3), any::<bool>()),
    )
        .prop_map(
            move |(
                flow,
                currency,
                amount,
                fractions,
                full,
                dispute,
                billing,
                receipt,
                part,
                (second_fractions, second_full),
            )| {
                let amount = if flow == Flow::InvoiceSplit {
                    amount.max(2)
                } else {
                    amount
                };
                let captured = match flow {
                    Flow::ManualCapture => (((amount as f64) * part) as i64).clamp(1, amount),
                    // The first PaymentIntent pays part of the invoice, the second the rest.
                    Flow::InvoiceSplit => (((amount as f64) * part) as i64).clamp(1, amount - 1),
                    _ => amount,
                };
                let refunds = cumulative_refunds(captured, &fractions, full);
                let second = (flow == Flow::InvoiceSplit).then(|| {
                    let rest = amount - captured;
                    (
                        rest,
                        cumulative_refunds(rest, &second_fractions, second_full),
                    )
                });
                Payment {
                    n,
                    flow,
                    currency,
                    amount,
                    captured,
                    refunds,
                    second,
                    dispute,
                    billing_email: billing,
                    receipt_email: receipt,
                }
            },
        )
}

/// Increasing cumulative refunds of a charge of `captured`, from random fractions, ending in
/// a full refund when `full`.
fn cumulative_refunds(captured: i64, fractions: &[f64], full: bool) -> Vec<i64> {
    let mut refunds: Vec<i64> = fractions
        .iter()
        .map(|f| ((captured as f64) * f) as i64)
        .filter(|r| *r > 0)
        .collect();
    refunds.sort_unstable();
    refunds.dedup();
    if full {
        refunds.push(captured);
        refunds.dedup();
    }
    refunds
}

impl Payment {
    fn id(&self, prefix: &str) -> String {
        format!("{prefix}_{}", self.n)
    }

    /// What the first (for most flows the only) PaymentIntent asked for.
    fn first_amount(&self) -> i64 {
        if self.second.is_some() {
            self.captured
        } else {
            self.amount
        }
    }

    /// The ids of the split invoice's second PaymentIntent and charge.
    fn second_id(&self, prefix: &str) -> String {
        format!("{prefix}_{}_b", self.n)
    }

    /// The second charge of a split invoice, with `refunded` of it refunded.
    fn second_charge(&self, refunded: i64) -> Value {
        let (amount, _) = self.second.clone().unwrap_or_default();
        json!({
            "id": self.second_id("ch"), "object": "charge", "amount": amount,
            "amount_captured": amount, "amount_refunded": refunded,
            "refunded": refunded == amount, "captured": true, "disputed": false,
            "currency": self.currency, "status": "succeeded", "paid": true,
            "created": self.t0() + 1, "payment_intent": self.second_id("pi"),
            "customer": "cus_1",
            "billing_details": {
                "email": if self.billing_email { Some(EMAIL) } else { None },
                "name": "Ann Lee", "phone": null
            },
            "receipt_email": null, "metadata": {}
        })
    }

    fn second_intent(&self) -> Value {
        let (amount, _) = self.second.clone().unwrap_or_default();
        json!({
            "id": self.second_id("pi"), "object": "payment_intent", "amount": amount,
            "amount_received": amount, "currency": self.currency, "status": "succeeded",
            "created": self.t0() - 4, "latest_charge": self.second_id("ch"),
            "customer": "cus_1", "metadata": {}
        })
    }

    fn second_invoice_payment(&self) -> Value {
        let (amount, _) = self.second.clone().unwrap_or_default();
        json!({
            "id": self.second_id("inpay"), "object": "invoice_payment",
            "invoice": self.id("in"), "amount_paid": amount, "amount_requested": amount,
            "currency": self.currency, "status": "paid", "is_default": false,
            "payment": {"type": "payment_intent", "payment_intent": self.second_id("pi")},
            "created": self.t0() + 1
        })
    }

    /// What the customer paid in all.
    fn total_captured(&self) -> i64 {
        self.captured + self.second.as_ref().map_or(0, |(amount, _)| *amount)
    }

    /// What was refunded in all: the last refund of each charge, summed.
    fn total_refunded(&self) -> i64 {
        let first = self.refunds.last().copied().unwrap_or(0);
        let second = self
            .second
            .as_ref()
            .and_then(|(_, refunds)| refunds.last().copied())
            .unwrap_or(0);
        first + second
    }

    fn t0(&self) -> i64 {
        1_700_000_000 + (self.n as i64) * 100_000
    }

    fn charge(&self, captured: bool, refunded: i64, disputed: bool) -> Value {
        // Stripe refunds what a partial capture leaves uncaptured, in amount_refunded.
        let amount = self.first_amount();
        let released = if captured { amount - self.captured } else { 0 };
        json!({
            "id": self.id("ch"), "object": "charge", "amount": amount,
            "amount_captured": if captured { self.captured } else { 0 },
            "amount_refunded": released + refunded,
            "refunded": captured && released + refunded == amount,
            "captured": captured, "disputed": disputed, "currency": self.currency,
            "status": "succeeded", "paid": true, "created": self.t0(),
            "payment_intent": self.id("pi"), "customer": "cus_1",
            "billing_details": {
                "email": if self.billing_email { Some(EMAIL) } else { None },
                "name": "Ann Lee", "phone": null
            },
            "receipt_email": null, "metadata": {"deal_name": format!("Order {}", self.n)}
        })
    }

    fn intent(&self) -> Value {
        json!({
            "id": self.id("pi"), "object": "payment_intent", "amount": self.first_amount(),
            "amount_received": self.captured, "currency": self.currency, "status": "succeeded",
            "created": self.t0() - 5, "latest_charge": self.id("ch"), "customer": "cus_1",
            "receipt_email": if self.receipt_email { Some(EMAIL) } else { None },
            "metadata": {}
        })
    }

    fn dispute(&self, status: &str) -> Value {
        json!({
            "id": self.id("dp"), "object": "dispute", "amount": self.captured,
            "currency": self.currency, "charge": self.id("ch"),
            "payment_intent": self.id("pi"), "status": status, "reason": "fraudulent",
            "created": self.t0() + 500
        })
    }

    fn invoice_payment(&self) -> Value {
        json!({
            "id": self.id("inpay"), "object": "invoice_payment", "invoice": self.id("in"),
            "amount_paid": self.captured, "amount_requested": self.captured,
            "currency": self.currency, "status": "paid", "is_default": true,
            "payment": {"type": "payment_intent", "payment_intent": self.id("pi")},
            "created": self.t0()
        })
    }

    fn invoice(&self) -> Value {
        let mut invoice = json!({
            "id": self.id("in"), "object": "invoice", "status": "paid",
            "amount_due": self.amount, "amount_paid": self.amount, "currency": self.currency,
            "customer": "cus_1", "customer_email": EMAIL, "customer_name": "Ann Lee",
            "created": self.t0() - 3600, "status_transitions": {"paid_at": self.t0() + 1},
            "metadata": {}
        });
        let fields = match self.flow {
            Flow::InvoiceBefore2025 => json!({
                "payment_intent": self.id("pi"), "charge": self.id("ch"),
                "subscription": "sub_1", "paid": true
            }),
            Flow::InvoiceWithPayments => json!({
                "parent": {"type": "subscription_details",
                           "subscription_details": {"subscription": "sub_1"}},
                "payments": {"object": "list", "data": [self.invoice_payment()],
                             "has_more": false}
            }),
            Flow::InvoiceSplit => json!({
                "parent": {"type": "subscription_details",
                           "subscription_details": {"subscription": "sub_1"}},
                "payments": {"object": "list",
                             "data": [self.invoice_payment(), self.second_invoice_payment()],
                             "has_more": false}
            }),
            _ => json!({
                "parent": {"type": "subscription_details",
                           "subscription_details": {"subscription": "sub_1"}}
            }),
        };
        if let (Some(target), Value::Object(extra)) = (invoice.as_object_mut(), fields) {
            target.extend(extra);
        }
        invoice
    }

    fn session(&self) -> Value {
        json!({
            "id": self.id("cs"), "object": "checkout.session", "payment_status": "paid",
            "status": "complete", "mode": "payment", "amount_total": self.amount,
            "currency": self.currency, "payment_intent": self.id("pi"),
            "customer_details": {"email": EMAIL, "name": "Ann Lee"},
            "created": self.t0() - 60, "metadata": {}
        })
    }

    /// Everything Stripe sends for this payment, in the order it happened.
    fn events(&self) -> Vec<Event> {
        let mut out: Vec<(String, Value)> = Vec::new();
        let manual = self.flow == Flow::ManualCapture;
        if manual {
            out.push(("charge.succeeded".into(), self.charge(false, 0, false)));
            out.push(("charge.captured".into(), self.charge(true, 0, false)));
        } else {
            out.push(("charge.succeeded".into(), self.charge(true, 0, false)));
        }
        out.push(("payment_intent.succeeded".into(), self.intent()));
        match self.flow {
            Flow::Checkout => out.push(("checkout.session.completed".into(), self.session())),
            Flow::InvoiceBefore2025 | Flow::InvoiceWithPayments => {
                out.push(("invoice.paid".into(), self.invoice()))
            }
            Flow::InvoiceLinkedByInvoicePayment => {
                out.push(("invoice.paid".into(), self.invoice()));
                out.push(("invoice_payment.paid".into(), self.invoice_payment()));
            }
            Flow::InvoiceSplit => {
                out.push(("charge.succeeded".into(), self.second_charge(0)));
                out.push(("payment_intent.succeeded".into(), self.second_intent()));
                out.push(("invoice.paid".into(), self.invoice()));
                out.push(("invoice_payment.paid".into(), self.invoice_payment()));
                out.push(("invoice_payment.paid".into(), self.second_invoice_payment()));
            }
            Flow::Automatic | Flow::ManualCapture => {}
        }
        let disputed = self.dispute != DisputeEnd::None;
        if disputed {
            out.push((
                "charge.dispute.created".into(),
                self.dispute("needs_response"),
            ));
        }
        for refunded in &self.refunds {
            out.push((
                "charge.refunded".into(),
                self.charge(true, *refunded, disputed),
            ));
        }
        for refunded in self.second.iter().flat_map(|(_, refunds)| refunds) {
            out.push(("charge.refunded".into(), self.second_charge(*refunded)));
        }
        match self.dispute {
            DisputeEnd::Won => out.push(("charge.dispute.closed".into(), self.dispute("won"))),
            DisputeEnd::Lost => out.push(("charge.dispute.closed".into(), self.dispute("lost"))),
            DisputeEnd::None | DisputeEnd::Open => {}
        }
        out.into_iter()
            .enumerate()
            .map(|(i, (type_, object))| {
                serde_json::from_value(json!({
                    "id": format!("evt_{}_{i:02}", self.n), "object": "event", "type": type_,
                    // Stripe's `created` has one-second resolution: some events share it.
                    "created": self.t0() + (i as i64) * 10 / 3,
                    "data": {"object": object}
                }))
                .unwrap()
            })
            .collect()
    }

    fn expected_net(&self) -> i64 {
        // The dispute is on the first charge, for what it captured.
        let lost = if self.dispute == DisputeEnd::Lost {
            self.captured
        } else {
            0
        };
        (self.total_captured() - self.total_refunded() - lost).max(0)
    }

    fn expected_status(&self) -> &'static str {
        let refunded = self.total_refunded();
        match self.dispute {
            DisputeEnd::Lost => "dispute_lost",
            _ if refunded == self.total_captured() => "refunded",
            DisputeEnd::Open => "disputed",
            DisputeEnd::Won => "dispute_won",
            _ if refunded > 0 => "partially_refunded",
            _ => "succeeded",
        }
    }

    fn has_email(&self) -> bool {
        self.billing_email
            || self.receipt_email
            || !matches!(self.flow, Flow::Automatic | Flow::ManualCapture)
    }
}

/// Lifetime values are summed in USD, whatever each contact's own currency.
fn config() -> MappingConfig {
    MappingConfig {
        reporting_currency: stripe_events::Currency::new("usd").ok(),
        ..MappingConfig::default()
    }
}

/// What the store does: find every row sharing an id with the facts, merge them all with the
/// facts into one row.
fn store(events: &[Event], config: &MappingConfig) -> Vec<LedgerRow> {
    let mut rows: Vec<LedgerRow> = Vec::new();
    for event in events {
        let facts: Facts = match facts_from_event(event, config).unwrap() {
            FactsOutcome::Facts(facts) => *facts,
            FactsOutcome::Skip(reason) => panic!("{} skipped: {reason}", event.id),
        };
        let mut merged = LedgerRow::from_facts(&facts);
        rows.retain(|row| {
            let linked = row.aliases().any(|a| facts.ids.all().any(|id| id == a));
            if linked {
                merged = merged.merge(row);
            }
            !linked
        });
        rows.push(merged);
    }
    rows.sort_by(|a, b| a.key().cmp(&b.key()));
    rows
}

/// What a backfill enqueues after the webhooks: every object once, in its final state, as a
/// synthetic event stamped with the time it was read (later than every webhook).
fn backfill(events: &[Event]) -> Vec<Event> {
    let mut last: std::collections::BTreeMap<String, &Event> = Default::default();
    for event in events {
        let id = event.data.object.id().unwrap_or_default().to_owned();
        last.insert(id, event);
    }
    last.values()
        .enumerate()
        .map(|(i, event)| {
            let mut read = (*event).clone();
            read.id = format!("evt_backfill_{i:032x}");
            read.created = 2_000_000_000 + i as i64;
            read
        })
        .collect()
}

fn scenario() -> impl Strategy<Value = (Vec<Payment>, Vec<Event>, Vec<Event>)> {
    prop::collection::vec(any::<u8>(), 1..=3)
        .prop_flat_map(|seeds| {
            let payments: Vec<_> = (0..seeds.len()).map(payment).collect();
            payments
        })
        .prop_flat_map(|payments| {
            let events: Vec<Event> = payments.iter().flat_map(Payment::events).collect();
            let redelivered = prop::sample::subsequence(events.clone(), 0..=events.len());
            (Just(payments), Just(events), redelivered)
        })
        .prop_flat_map(|(payments, events, redelivered)| {
            let mut delivered = events.clone();
            delivered.extend(redelivered);
            (Just(payments), Just(events), Just(delivered).prop_shuffle())
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_order_and_redelivery_gives_the_same_rows_and_properties(
        (payments, in_order, delivered) in scenario()
    ) {
        let config = config();
        let expected = store(&in_order, &config);
        let actual = store(&delivered, &config);
        prop_assert_eq!(&actual, &expected);
        prop_assert_eq!(actual.len(), payments.len(), "one row per payment");

        for (row, payment) in expected.iter().zip(&payments) {
            prop_assert_eq!(row.key().map(str::to_owned), Some(payment.id("pi")));
            let deal = deal_properties(row, &config);
            prop_assert_eq!(&deal, &deal_properties(&actual[payment.n], &config));
            if !payment.has_email() {
                prop_assert_eq!(row.state(&config), PaymentState::AwaitingContact);
                prop_assert!(deal.is_none());
                continue;
            }
            let deal = deal.expect("a settled payment makes a deal");
            let currency = stripe_events::Currency::new(payment.currency).unwrap();
            let net = stripe_events::Money::new(payment.expected_net(), currency);
            prop_assert_eq!(deal.get("amount").map(str::to_owned), Some(net.to_decimal_string()));
            prop_assert_eq!(deal.get("stripe_payment_status"), Some(payment.expected_status()));
            let lost = matches!(payment.expected_status(), "refunded" | "dispute_lost");
            let stage = if lost { "closedlost" } else { "closedwon" };
            prop_assert_eq!(deal.get("dealstage"), Some(stage));
            let invoiced = !matches!(
                payment.flow,
                Flow::Automatic | Flow::ManualCapture | Flow::Checkout
            );
            prop_assert_eq!(deal.get("stripe_subscription_id").is_some(), invoiced);
        }

        let contact = contact_properties(&actual, &config);
        let mut reversed = expected.clone();
        reversed.reverse();
        prop_assert_eq!(&contact, &contact_properties(&reversed, &config));
        let paying: Vec<&Payment> = payments
            .iter()
            .filter(|p| p.has_email() && p.expected_net() > 0)
            .collect();
        if let Some(contact) = contact {
            prop_assert_eq!(
                contact.get("stripe_payment_count").map(str::to_owned),
                Some(paying.len().to_string())
            );
            // Every payment with an email is settled; refunded ones count as 0 in their currency.
            let in_usd: Vec<i64> = payments
                .iter()
                .filter(|p| p.has_email() && p.currency == "usd")
                .map(|p| p.expected_net())
                .collect();
            let usd = config.reporting_currency.expect("the test reports in USD");
            let expected_value = if in_usd.is_empty() {
                String::new() // no USD payment: empty, never 0.00
            } else {
                stripe_events::Money::new(in_usd.iter().sum(), usd).to_decimal_string()
            };
            prop_assert_eq!(
                contact.get("stripe_lifetime_value").map(str::to_owned),
                Some(expected_value)
            );
        } else {
            prop_assert!(payments.iter().all(|p| !p.has_email()));
        }
    }

    #[test]
    fn a_backfill_over_synced_payments_moves_only_stamps(
        (_payments, in_order, _delivered) in scenario()
    ) {
        let config = config();
        let synced = store(&in_order, &config);
        let mut then_backfilled = in_order.clone();
        then_backfilled.extend(backfill(&in_order));
        let backfilled = store(&then_backfilled, &config);
        prop_assert_eq!(backfilled.len(), synced.len());
        for (after, before) in backfilled.iter().zip(&synced) {
            prop_assert!(after.same_values_as(before), "{:?}\n{:?}", after, before);
            prop_assert_ne!(after.latest(), before.latest(), "the newer stamps are kept");
            prop_assert_eq!(deal_properties(after, &config), deal_properties(before, &config));
        }
        prop_assert_eq!(
            contact_properties(&backfilled, &config),
            contact_properties(&synced, &config)
        );
    }

    #[test]
    fn merging_rows_equals_folding_their_facts(
        (_payments, events, _delivered) in scenario(),
        split in any::<prop::sample::Index>(),
    ) {
        let config = config();
        let rows: Vec<LedgerRow> = events
            .iter()
            .filter_map(|e| match facts_from_event(e, &config).unwrap() {
                FactsOutcome::Facts(f) => Some(LedgerRow::from_facts(&f)),
                FactsOutcome::Skip(_) => None,
            })
            .collect();
        let fold = |rows: &[LedgerRow]| {
            rows.iter().fold(LedgerRow::default(), |acc, r| acc.merge(r))
        };
        let at = split.index(rows.len() + 1);
        let (a, b) = rows.split_at(at);
        let (a, b) = (fold(a), fold(b));
        prop_assert_eq!(a.merge(&b), fold(&rows));
        prop_assert_eq!(a.merge(&b), b.merge(&a));
        prop_assert_eq!(a.merge(&a), a.clone());
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<LedgerRow>(&json).unwrap(), a);
    }
}
