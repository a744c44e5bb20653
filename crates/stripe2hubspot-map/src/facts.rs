//! What one Stripe event, or one object fetched for backfill, says about one payment.

use std::fmt;

use serde::{Deserialize, Serialize};
use stripe_events::{
    BalanceTransaction, Charge, ChargeStatus, CheckoutSession, Currency, Customer, Dispute,
    DisputeStatus, Event, EventObject, Expandable, Invoice, InvoicePayment, InvoiceStatus,
    Metadata, Money, PaymentIntent, PaymentIntentStatus,
};

use crate::config::{EmailSource, MappingConfig, CUSTOMER_EVENT_TYPES};
use crate::error::MapError;
use crate::line_item::LineItemFacts;
use crate::personal::{redacted_option, KeysOnly, Personal};
use crate::skip::SkipReason;
use crate::text::{iso_utc, normalize_email, present};

/// When a fact was true: the event's `created` and id. Facts merge by the newest stamp; the
/// event id breaks ties between events of the same second, so every replica agrees.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamp {
    /// The event's `created`, in seconds since the Unix epoch.
    pub created: i64,
    /// The event id (`evt_...`), or any stable id of a backfill read.
    pub event_id: String,
}

impl Stamp {
    /// A stamp for an event.
    pub fn of(event: &Event) -> Stamp {
        Stamp {
            created: event.created,
            event_id: event.id.clone(),
        }
    }
}

/// The Stripe ids an object names for its payment. Every id present belongs to the same
/// payment, so an object naming two of them links the ledger rows keyed by either.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIds {
    /// The PaymentIntent (`pi_...`).
    pub payment_intent: Option<String>,
    /// The charge (`ch_...`, `py_...`).
    pub charge: Option<String>,
    /// The invoice (`in_...`).
    pub invoice: Option<String>,
    /// The Checkout Session (`cs_...`).
    pub checkout_session: Option<String>,
}

impl PaymentIds {
    /// The payment identity these ids give: the PaymentIntent, else the charge, else the
    /// invoice, else the Checkout Session.
    pub fn key(&self) -> Option<&str> {
        self.payment_intent
            .as_deref()
            .or(self.charge.as_deref())
            .or(self.invoice.as_deref())
            .or(self.checkout_session.as_deref())
    }

    /// Every id present, in key order.
    pub fn all(&self) -> impl Iterator<Item = &str> {
        [
            &self.payment_intent,
            &self.charge,
            &self.invoice,
            &self.checkout_session,
        ]
        .into_iter()
        .filter_map(|id| id.as_deref())
    }
}

/// Who paid, as far as the object tells.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactFacts {
    /// The first usable email of the configured
    /// [`email_sources`](MappingConfig::email_sources), trimmed and lowercased.
    pub email: Option<Personal>,
    /// The payer's full name.
    pub name: Option<Personal>,
    /// The payer's phone number.
    pub phone: Option<Personal>,
    /// The Stripe customer id (`cus_...`).
    pub customer_id: Option<String>,
}

/// A dispute on the payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeFacts {
    /// The dispute id (`dp_...`).
    pub id: String,
    /// Disputed amount, in minor units of `currency`.
    pub amount: i64,
    /// Currency of the disputed amount.
    pub currency: Currency,
    /// Where the dispute stands.
    pub status: DisputeStatus,
}

/// What one object says about one payment. Amounts are in minor units of `currency`.
/// Merge facts with [`LedgerRow`](crate::LedgerRow); never write HubSpot from facts alone.
/// Its `Debug` hides the contact, the description, the receipt address and metadata values.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Facts {
    /// When these facts were true.
    pub stamp: Stamp,
    /// The payment's ids (and so the links between them).
    pub ids: PaymentIds,
    /// Who paid.
    pub contact: ContactFacts,
    /// Currency of the payment's amounts.
    pub currency: Option<Currency>,
    /// Amount authorized.
    pub authorized: Option<i64>,
    /// Amount captured; `None` while the money is only authorized (or the object does not say).
    pub captured: Option<i64>,
    /// Whether the object says the payment (or its authorization) succeeded.
    pub succeeded: bool,
    /// Amount refunded so far.
    pub refunded: Option<i64>,
    /// Whether the object says the payment is fully refunded.
    pub fully_refunded: bool,
    /// Whether the object says the payment was disputed.
    pub disputed: bool,
    /// The dispute this object is.
    pub dispute: Option<DisputeFacts>,
    /// When the money moved, from the object itself (a charge's `created`, an invoice's
    /// `paid_at`).
    pub paid_at: Option<i64>,
    /// The subscription of an invoice payment (`sub_...`).
    pub subscription_id: Option<String>,
    /// Why the invoice was created (`subscription_create`, `subscription_cycle`,
    /// `subscription_update`, `manual`, ...), from an invoice.
    pub billing_reason: Option<String>,
    /// The charge's receipt page.
    pub receipt_url: Option<String>,
    /// The payment's description.
    pub description: Option<String>,
    /// The object's metadata.
    pub metadata: Metadata,
    /// The balance transaction (`txn_...`) of the charge `ids.charge`: where Stripe records
    /// what the charge settled as. From a charge's `balance_transaction`.
    pub balance_transaction: Option<String>,
    /// What the charge `ids.charge` settled as in the account's balance: its balance
    /// transaction's gross `amount`, in the settlement currency, after any conversion (before
    /// fees and refunds). From a charge whose `balance_transaction` is expanded, or from the
    /// balance transaction read with a Stripe key; see [`Facts::settled`].
    pub settlement: Option<Money>,
    /// What was sold, from an invoice's `lines.data[]` (empty for every other object, and for
    /// an invoice whose lines Stripe did not send): a fact without lines says nothing about
    /// them, so a refund or a dispute never changes a payment's line items.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub line_items: Vec<LineItemFacts>,
    /// Whether the invoice had more lines than the event carried (Stripe embeds the first
    /// ten; `lines.has_more`): `line_items` is then the start of the list, and the whole
    /// list is read with `GET /v1/invoices/{id}/lines`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub line_items_cut_short: bool,
}

impl fmt::Debug for Facts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Free text (description, metadata values) and the receipt page can name the payer.
        f.debug_struct("Facts")
            .field("stamp", &self.stamp)
            .field("ids", &self.ids)
            .field("contact", &self.contact)
            .field("currency", &self.currency)
            .field("authorized", &self.authorized)
            .field("captured", &self.captured)
            .field("succeeded", &self.succeeded)
            .field("refunded", &self.refunded)
            .field("fully_refunded", &self.fully_refunded)
            .field("disputed", &self.disputed)
            .field("dispute", &self.dispute)
            .field("paid_at", &self.paid_at)
            .field("subscription_id", &self.subscription_id)
            .field("billing_reason", &self.billing_reason)
            .field("receipt_url", &redacted_option(&self.receipt_url))
            .field("description", &redacted_option(&self.description))
            .field("metadata", &KeysOnly(&self.metadata))
            .field("balance_transaction", &self.balance_transaction)
            .field("settlement", &self.settlement)
            .field("line_items", &self.line_items.len())
            .field("line_items_cut_short", &self.line_items_cut_short)
            .finish()
    }
}

impl Facts {
    /// Facts stamped `stamp` that state nothing yet about a payment: set the ids and fields an
    /// event or object tells.
    pub fn new(stamp: Stamp) -> Facts {
        Facts {
            stamp,
            ids: PaymentIds::default(),
            contact: ContactFacts::default(),
            currency: None,
            authorized: None,
            captured: None,
            succeeded: false,
            refunded: None,
            fully_refunded: false,
            disputed: false,
            dispute: None,
            paid_at: None,
            subscription_id: None,
            billing_reason: None,
            receipt_url: None,
            description: None,
            metadata: Metadata::new(),
            balance_transaction: None,
            settlement: None,
            line_items: Vec::new(),
            line_items_cut_short: false,
        }
    }

    /// What one charge of a payment settled as, read from its balance transaction: facts that
    /// add only that (no amount, status or contact of the payment), stamped `stamp` (the read
    /// time). The charge's `payment` ids place them in the ledger row that knows the charge.
    ///
    /// ```
    /// use stripe2hubspot_map::{Facts, PaymentIds, Stamp};
    /// use stripe_events::{BalanceTransaction, Money};
    ///
    /// let txn: BalanceTransaction = serde_json::from_str(
    ///     r#"{"id": "txn_1", "amount": 3350, "currency": "usd", "source": "ch_1"}"#,
    /// )?;
    /// let ids = PaymentIds { charge: Some("ch_1".into()), ..PaymentIds::default() };
    /// let stamp = Stamp { created: 1_700_000_000, event_id: "read_txn_1".into() };
    /// let facts = Facts::settled(stamp, ids, &txn);
    /// assert_eq!(facts.settlement, Some(Money::new(3350, "usd".parse()?)));
    /// assert_eq!(facts.balance_transaction.as_deref(), Some("txn_1"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn settled(stamp: Stamp, payment: PaymentIds, txn: &BalanceTransaction) -> Facts {
        let mut facts = Facts::new(stamp);
        facts.ids = payment;
        facts.balance_transaction = id(Some(&txn.id));
        facts.settlement = Some(txn.money());
        facts
    }
}

/// The result of reading one event or object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FactsOutcome {
    /// Facts to merge into the payment's ledger row.
    Facts(Box<Facts>),
    /// Nothing to merge; the event is done.
    Skip(SkipReason),
}

/// Reads what one event says about its payment.
///
/// Events whose type the configuration does not handle are skipped, as are customer and
/// subscription events ([`CUSTOMER_EVENT_TYPES`](crate::CUSTOMER_EVENT_TYPES), read by
/// [`customer_facts_from_event`](crate::customer_facts_from_event)), payments that did not
/// succeed, Checkout Sessions not paid yet and zero-amount invoices. A payment without an
/// email gives facts all the same (the ledger keeps it waiting for a contact), and so does an
/// authorization not captured yet (waiting for its capture).
///
/// ```
/// use stripe2hubspot_map::{facts_from_event, FactsOutcome, MappingConfig};
///
/// let event: stripe_events::Event = serde_json::from_str(r#"{
///   "id": "evt_1", "object": "event", "type": "charge.refunded", "created": 1680000100,
///   "data": {"object": {
///     "id": "ch_1", "object": "charge", "amount": 500, "amount_captured": 500,
///     "amount_refunded": 200, "currency": "jpy", "status": "succeeded", "captured": true,
///     "created": 1680000000, "payment_intent": "pi_1"
///   }}
/// }"#)?;
/// let FactsOutcome::Facts(facts) = facts_from_event(&event, &MappingConfig::default())? else {
///     panic!("expected facts");
/// };
/// assert_eq!(facts.ids.key(), Some("pi_1"));
/// assert_eq!((facts.captured, facts.refunded), (Some(500), Some(200)));
/// assert!(facts.contact.email.is_none()); // the ledger keeps it waiting for a contact
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn facts_from_event(event: &Event, config: &MappingConfig) -> Result<FactsOutcome, MapError> {
    config.validate()?;
    let customer_event = CUSTOMER_EVENT_TYPES.contains(&event.type_.as_str());
    if customer_event || !config.handles(&event.type_) {
        return Ok(FactsOutcome::Skip(SkipReason::UnhandledEventType {
            event_type: event.type_.clone(),
        }));
    }
    read(
        &event.data.object,
        Some(&event.type_),
        Stamp::of(event),
        config,
    )
}

/// Reads what one object says about its payment, for backfill: the same rules as
/// [`facts_from_event`] without the event-type filter. `stamp` orders these facts against the
/// events' (use the time the object was read and a stable id, so a fresh read outranks older
/// events); `event_type` is the event the object came with, if any (`charge.captured` counts a
/// charge as captured even when an old API version had not flipped `captured` yet).
pub fn facts_from_object(
    object: &EventObject,
    event_type: Option<&str>,
    stamp: Stamp,
    config: &MappingConfig,
) -> Result<FactsOutcome, MapError> {
    config.validate()?;
    read(object, event_type, stamp, config)
}

fn read(
    object: &EventObject,
    event_type: Option<&str>,
    stamp: Stamp,
    config: &MappingConfig,
) -> Result<FactsOutcome, MapError> {
    let unexpected = |found: &'static str| MapError::UnexpectedObject {
        event_id: stamp.event_id.clone(),
        event_type: event_type.unwrap_or("(backfill)").to_owned(),
        found,
    };
    let facts = match object {
        EventObject::Charge(charge) => from_charge(charge, event_type, stamp.clone(), config),
        EventObject::PaymentIntent(intent) => from_intent(intent, stamp.clone(), config),
        EventObject::CheckoutSession(session) => from_session(session, stamp.clone(), config),
        EventObject::Invoice(invoice) => from_invoice(invoice, stamp.clone(), config),
        EventObject::InvoicePayment(payment) => from_invoice_payment(payment, stamp.clone()),
        EventObject::Dispute(dispute) => Ok(from_dispute(dispute, stamp.clone())),
        EventObject::Customer(_) => return Err(unexpected("a customer")),
        EventObject::Subscription(_) => return Err(unexpected("a subscription")),
        _ => return Err(unexpected("an unrecognised object")),
    };
    let facts = match facts {
        Ok(facts) => facts,
        Err(skip) => return Ok(FactsOutcome::Skip(skip)),
    };
    if facts.ids.key().is_none() {
        return Err(MapError::MissingPaymentId {
            event_id: stamp.event_id,
        });
    }
    for secs in [Some(facts.stamp.created), facts.paid_at]
        .into_iter()
        .flatten()
    {
        if iso_utc(secs).is_none() {
            return Err(MapError::InvalidTimestamp {
                event_id: stamp.event_id,
                value: secs,
            });
        }
    }
    Ok(FactsOutcome::Facts(Box::new(facts)))
}

/// A trimmed, non-empty id.
fn id(value: Option<&str>) -> Option<String> {
    present(value).map(str::to_owned)
}

fn text(value: Option<&str>) -> Option<String> {
    present(value).map(str::to_owned)
}

fn personal(value: Option<&str>) -> Option<Personal> {
    present(value).map(Personal::new)
}

fn expanded(customer: Option<&Expandable<Customer>>) -> Option<&Customer> {
    customer
        .and_then(Expandable::as_object)
        .filter(|c| !c.deleted)
}

fn positive_or(preferred: i64, fallback: i64) -> i64 {
    if preferred > 0 {
        preferred
    } else {
        fallback
    }
}

/// The places an email may come from, by [`EmailSource`].
#[derive(Default)]
struct EmailCandidates<'a> {
    billing: Option<&'a str>,
    receipt: Option<&'a str>,
    customer: Option<&'a str>,
}

impl EmailCandidates<'_> {
    fn pick(&self, config: &MappingConfig) -> Option<Personal> {
        config.email_sources.iter().find_map(|source| {
            let raw = match source {
                EmailSource::BillingDetails => self.billing,
                EmailSource::ReceiptEmail => self.receipt,
                EmailSource::Customer => self.customer,
            };
            raw.and_then(normalize_email).map(Personal::new)
        })
    }
}

fn not_succeeded(status: &str) -> SkipReason {
    SkipReason::NotSucceeded {
        status: status.to_owned(),
    }
}

/// What a charge says, also used for the charge expanded in a PaymentIntent.
fn charge_into(facts: &mut Facts, charge: &Charge, captured: bool, config: &MappingConfig) {
    let customer = expanded(charge.customer.as_ref());
    facts.ids.charge = id(Some(&charge.id));
    facts.ids.payment_intent = facts
        .ids
        .payment_intent
        .take()
        .or_else(|| id(charge.payment_intent.as_ref().map(Expandable::id)));
    facts.ids.invoice = facts
        .ids
        .invoice
        .take()
        .or_else(|| id(charge.invoice.as_ref().map(Expandable::id)));
    let billing = &charge.billing_details;
    facts.contact.email = facts.contact.email.take().or_else(|| {
        EmailCandidates {
            billing: billing.email.as_deref(),
            receipt: charge.receipt_email.as_deref(),
            customer: customer.and_then(|c| c.email.as_deref()),
        }
        .pick(config)
    });
    facts.contact.name = facts.contact.name.take().or_else(|| {
        personal(billing.name.as_deref()).or_else(|| personal(customer?.name.as_deref()))
    });
    facts.contact.phone = facts.contact.phone.take().or_else(|| {
        personal(billing.phone.as_deref()).or_else(|| personal(customer?.phone.as_deref()))
    });
    facts.contact.customer_id = facts
        .contact
        .customer_id
        .take()
        .or_else(|| id(charge.customer.as_ref().map(Expandable::id)));
    facts.currency = Some(charge.currency);
    facts.authorized = Some(charge.amount);
    facts.refunded = Some(charge.amount_refunded);
    if captured {
        // A payload without amount_captured (older API versions) counts the whole amount.
        let amount = positive_or(charge.amount_captured, charge.amount);
        facts.captured = Some(amount);
        // Capturing less than authorized refunds the rest at once, and Stripe counts that
        // release in amount_refunded: only what exceeds it left the merchant's hands.
        let released = charge.amount.saturating_sub(amount).max(0);
        facts.refunded = Some(charge.amount_refunded.saturating_sub(released).max(0));
    }
    facts.succeeded = true;
    facts.fully_refunded = charge.refunded;
    facts.disputed = charge.disputed;
    facts.paid_at = Some(charge.created);
    facts.receipt_url = text(charge.receipt_url.as_deref());
    facts.description = facts
        .description
        .take()
        .or_else(|| text(charge.description.as_deref()));
    if let Some(txn) = &charge.balance_transaction {
        facts.balance_transaction = id(Some(txn.id()));
        facts.settlement = txn.as_object().map(BalanceTransaction::money);
    }
}

fn from_charge(
    charge: &Charge,
    event_type: Option<&str>,
    stamp: Stamp,
    config: &MappingConfig,
) -> Result<Facts, SkipReason> {
    if charge.status != ChargeStatus::Succeeded {
        return Err(not_succeeded(charge.status.as_str()));
    }
    let mut facts = Facts::new(stamp);
    // A charge.captured event is the capture itself, even if an older API version rendered it
    // before `captured` flipped.
    let captured = charge.captured || event_type == Some("charge.captured");
    charge_into(&mut facts, charge, captured, config);
    facts.metadata = charge.metadata.clone();
    Ok(facts)
}

fn from_intent(
    intent: &PaymentIntent,
    stamp: Stamp,
    config: &MappingConfig,
) -> Result<Facts, SkipReason> {
    if intent.status != PaymentIntentStatus::Succeeded {
        return Err(not_succeeded(intent.status.as_str()));
    }
    let customer = expanded(intent.customer.as_ref());
    let mut facts = Facts::new(stamp);
    facts.ids.payment_intent = id(Some(&intent.id));
    facts.ids.invoice = id(intent.invoice.as_ref().map(Expandable::id));
    facts.contact.customer_id = id(intent.customer.as_ref().map(Expandable::id));
    facts.description = text(intent.description.as_deref());
    let latest = intent.latest_charge.as_ref();
    match latest.and_then(Expandable::as_object) {
        Some(charge) => {
            let mut candidates = EmailCandidates {
                billing: charge.billing_details.email.as_deref(),
                receipt: present(intent.receipt_email.as_deref())
                    .or(charge.receipt_email.as_deref()),
                customer: customer.and_then(|c| c.email.as_deref()),
            };
            if candidates.customer.is_none() {
                candidates.customer =
                    expanded(charge.customer.as_ref()).and_then(|c| c.email.as_deref());
            }
            facts.contact.email = candidates.pick(config);
            charge_into(&mut facts, charge, true, config);
        }
        None => {
            facts.ids.charge = id(latest.map(Expandable::id));
            facts.contact.email = EmailCandidates {
                billing: None,
                receipt: intent.receipt_email.as_deref(),
                customer: customer.and_then(|c| c.email.as_deref()),
            }
            .pick(config);
            facts.contact.name = personal(customer.and_then(|c| c.name.as_deref()));
            facts.contact.phone = personal(customer.and_then(|c| c.phone.as_deref()));
            facts.succeeded = true;
        }
    }
    facts.currency = Some(intent.currency);
    facts.authorized = Some(intent.amount);
    facts.captured = Some(positive_or(intent.amount_received, intent.amount));
    facts.metadata = intent.metadata.clone();
    Ok(facts)
}

fn from_session(
    session: &CheckoutSession,
    stamp: Stamp,
    config: &MappingConfig,
) -> Result<Facts, SkipReason> {
    match session.payment_status.as_deref() {
        Some("paid") => {}
        Some("no_payment_required") => return Err(SkipReason::NoAmountPaid),
        other => {
            return Err(SkipReason::CheckoutNotPaid {
                payment_status: other.unwrap_or("unknown").to_owned(),
            })
        }
    }
    let amount = session.amount_total.unwrap_or(0);
    if amount <= 0 {
        return Err(SkipReason::NoAmountPaid);
    }
    let customer = expanded(session.customer.as_ref());
    let details = session.customer_details.as_ref();
    let mut facts = Facts::new(stamp);
    facts.ids.checkout_session = id(Some(&session.id));
    facts.ids.payment_intent = id(session.payment_intent.as_ref().map(Expandable::id));
    facts.ids.invoice = id(session.invoice.as_ref().map(Expandable::id));
    facts.contact.email = EmailCandidates {
        billing: details.and_then(|d| d.email.as_deref()),
        receipt: None,
        customer: present(session.customer_email.as_deref())
            .or_else(|| customer.and_then(|c| c.email.as_deref())),
    }
    .pick(config);
    facts.contact.name = personal(details.and_then(|d| d.name.as_deref()))
        .or_else(|| personal(customer?.name.as_deref()));
    facts.contact.phone = personal(details.and_then(|d| d.phone.as_deref()))
        .or_else(|| personal(customer?.phone.as_deref()));
    facts.contact.customer_id = id(session.customer.as_ref().map(Expandable::id));
    facts.currency = session.currency;
    facts.authorized = Some(amount);
    facts.captured = Some(amount);
    facts.succeeded = true;
    facts.subscription_id = id(session.subscription.as_ref().map(Expandable::id));
    facts.metadata = session.metadata.clone();
    Ok(facts)
}

fn invoice_status(status: Option<InvoiceStatus>) -> &'static str {
    match status {
        Some(InvoiceStatus::Draft) => "draft",
        Some(InvoiceStatus::Open) => "open",
        Some(InvoiceStatus::Paid) => "paid",
        Some(InvoiceStatus::Uncollectible) => "uncollectible",
        Some(InvoiceStatus::Void) => "void",
        Some(InvoiceStatus::Other) | None => "unknown",
    }
}

fn from_invoice(
    invoice: &Invoice,
    stamp: Stamp,
    config: &MappingConfig,
) -> Result<Facts, SkipReason> {
    if invoice.status != Some(InvoiceStatus::Paid) {
        return Err(not_succeeded(invoice_status(invoice.status)));
    }
    if invoice.amount_paid <= 0 {
        return Err(SkipReason::NoAmountPaid);
    }
    let customer = expanded(invoice.customer.as_ref());
    let mut facts = Facts::new(stamp);
    facts.ids.invoice = id(Some(&invoice.id));
    facts.ids.payment_intent = id(invoice.payment_intent_id());
    facts.ids.charge = id(invoice.charge_id());
    facts.contact.email = EmailCandidates {
        billing: None,
        receipt: None,
        customer: present(invoice.customer_email.as_deref())
            .or_else(|| customer.and_then(|c| c.email.as_deref())),
    }
    .pick(config);
    facts.contact.name =
        personal(invoice.customer_name.as_deref()).or_else(|| personal(customer?.name.as_deref()));
    facts.contact.phone = personal(invoice.customer_phone.as_deref())
        .or_else(|| personal(customer?.phone.as_deref()));
    facts.contact.customer_id = id(invoice.customer.as_ref().map(Expandable::id));
    facts.currency = Some(invoice.currency);
    facts.authorized = Some(invoice.amount_paid);
    facts.captured = Some(invoice.amount_paid);
    facts.succeeded = true;
    facts.paid_at = invoice.status_transitions.as_ref().and_then(|t| t.paid_at);
    facts.subscription_id = id(invoice.subscription_id());
    facts.billing_reason = text(invoice.billing_reason.as_deref());
    facts.description = text(invoice.description.as_deref());
    facts.metadata = invoice.metadata.clone();
    facts.line_items = invoice
        .line_list()
        .iter()
        .filter_map(|line| LineItemFacts::from_invoice_line(line, invoice.currency))
        .collect();
    facts.line_items_cut_short = invoice.lines.as_ref().is_some_and(|l| l.has_more);
    Ok(facts)
}

fn from_invoice_payment(payment: &InvoicePayment, stamp: Stamp) -> Result<Facts, SkipReason> {
    let status = payment.status.as_deref().unwrap_or("unknown");
    if status != "paid" {
        return Err(not_succeeded(status));
    }
    let amount = payment.amount_paid.unwrap_or(0);
    if amount <= 0 {
        return Err(SkipReason::NoAmountPaid);
    }
    let mut facts = Facts::new(stamp);
    facts.ids.invoice = id(payment.invoice.as_ref().map(Expandable::id));
    facts.ids.payment_intent = id(payment.payment.payment_intent.as_ref().map(Expandable::id));
    facts.ids.charge = id(payment.payment.charge.as_ref().map(Expandable::id));
    facts.currency = Some(payment.currency);
    facts.captured = Some(amount);
    facts.succeeded = true;
    Ok(facts)
}

fn from_dispute(dispute: &Dispute, stamp: Stamp) -> Facts {
    let mut facts = Facts::new(stamp);
    facts.ids.charge = id(Some(dispute.charge.id()));
    facts.ids.payment_intent = id(dispute.payment_intent.as_ref().map(Expandable::id));
    facts.disputed = true;
    facts.dispute = Some(DisputeFacts {
        id: dispute.id.clone(),
        amount: dispute.amount,
        currency: dispute.currency,
        status: dispute.status,
    });
    facts
}
