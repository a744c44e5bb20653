//! The ledger row of one payment: every fact ever read about it, merged so that order and
//! repetition do not matter.
//!
//! Every field is a join: a set union, a maximum, a minimum, a logical or, or the value with
//! the newest [`Stamp`] (ties broken by the value itself, so the order is total), and maps of
//! such joins (per charge, per dispute, per metadata key). Therefore [`LedgerRow::merge`] is
//! commutative, associative and idempotent, and merging two rows gives the same row as folding
//! all their facts into one.
//!
//! Refunds are kept per charge and summed: one payment can have several charges (an invoice
//! paid by two PaymentIntents), each refunded on its own, and only within one charge does the
//! refunded amount simply grow.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stripe_events::{Currency, DisputeStatus, Money};

use crate::config::{ContactKeySource, MappingConfig};
use crate::contact_key::ContactKey;
use crate::facts::{Facts, Stamp};
use crate::line_item::{hex, line_items_fingerprint, LineItemFacts};
use crate::personal::{redacted_option, KeysOnly, Personal};
use crate::ratio::Ratio;

/// A value with the stamp of the facts that gave it; the newest stamp wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stamped<T> {
    /// When the value was true. Compared first.
    pub stamp: Stamp,
    /// The value.
    pub value: T,
}

/// The newest of two stamped values (`None` loses to anything).
fn newest<T: Ord + Clone>(a: &Option<Stamped<T>>, b: &Option<Stamped<T>>) -> Option<Stamped<T>> {
    a.clone().max(b.clone())
}

fn earliest(a: Option<i64>, b: Option<i64>) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn stamped<T>(stamp: &Stamp, value: Option<T>) -> Option<Stamped<T>> {
    value.map(|value| Stamped {
        stamp: stamp.clone(),
        value,
    })
}

/// The latest word on one dispute. A closed dispute outranks an open one; then the newest
/// stamp wins.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DisputeEntry {
    /// Whether the dispute is over. Compared first.
    pub closed: bool,
    /// When this status was true.
    pub stamp: Stamp,
    /// Where the dispute stands.
    pub status: DisputeStatus,
    /// Disputed amount, in minor units of `currency`.
    pub amount: i64,
    /// Currency of the disputed amount.
    pub currency: Currency,
    /// The disputed charge; `None` in rows stored before disputes named their charge.
    #[serde(default)]
    pub charge: Option<String>,
}

/// What one charge's own object says about its money. A payment's charges refund apart, so
/// their refunds add up; within one charge every field only grows, so a redelivered or older
/// event never lowers it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct ChargeEntry {
    /// Amount this charge captured; `None` while only authorized.
    captured: Option<i64>,
    /// Amount refunded from this charge.
    refunded: i64,
    /// Stripe marks the charge refunded in full (for an authorization: released).
    fully_refunded: bool,
    /// Stripe marks the charge disputed.
    disputed: bool,
}

impl ChargeEntry {
    /// The charge's facts, if these facts come from a charge: only a charge object says how
    /// much of it was refunded, so facts with a refunded amount are a charge's.
    fn of(facts: &Facts) -> Option<(String, ChargeEntry)> {
        let refunded = facts.refunded?;
        let entry = ChargeEntry {
            captured: facts.captured,
            refunded: refunded.max(0),
            fully_refunded: facts.fully_refunded,
            disputed: facts.disputed,
        };
        Some((facts.ids.charge.clone().unwrap_or_default(), entry))
    }

    fn merge(&self, other: &ChargeEntry) -> ChargeEntry {
        ChargeEntry {
            captured: self.captured.max(other.captured),
            refunded: self.refunded.max(other.refunded),
            fully_refunded: self.fully_refunded || other.fully_refunded,
            disputed: self.disputed || other.disputed,
        }
    }

    /// What left the merchant's hands through refunds of this charge.
    fn refunded(&self) -> i64 {
        if self.fully_refunded {
            self.refunded.max(self.captured.unwrap_or(0))
        } else {
            self.refunded
        }
    }
}

/// What one charge settled as in the account's balance. Stripe records it once, when the
/// charge is captured, and never changes it (refunds and disputes are balance transactions of
/// their own), so both fields only go from unknown to known; should two reads ever disagree,
/// the greater value wins, so the merge stays a join.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct SettlementEntry {
    /// The charge's balance transaction (`txn_...`).
    balance_transaction: Option<String>,
    /// Its gross amount, in the settlement currency.
    settled: Option<Money>,
}

impl SettlementEntry {
    /// The settlement facts of a charge, if these facts name a charge and say any.
    fn of(facts: &Facts) -> Option<(String, SettlementEntry)> {
        let charge = facts.ids.charge.clone()?;
        if facts.balance_transaction.is_none() && facts.settlement.is_none() {
            return None;
        }
        let entry = SettlementEntry {
            balance_transaction: facts.balance_transaction.clone(),
            settled: facts.settlement,
        };
        Some((charge, entry))
    }

    fn merge(&self, other: &SettlementEntry) -> SettlementEntry {
        let key = |m: &Money| (m.currency, m.minor);
        let settled = match (self.settled, other.settled) {
            (Some(a), Some(b)) => Some(if key(&a) >= key(&b) { a } else { b }),
            (a, b) => a.or(b),
        };
        SettlementEntry {
            balance_transaction: self
                .balance_transaction
                .clone()
                .max(other.balance_transaction.clone()),
            settled,
        }
    }
}

/// The greater of two values (a closed dispute over an open one, a newer stamp over an older).
fn newer<T: Ord + Clone>(a: &T, b: &T) -> T {
    std::cmp::max(a, b).clone()
}

/// The join of two maps whose values are joins: keys in either, values merged where in both.
fn merge_maps<V: Clone>(
    a: &BTreeMap<String, V>,
    b: &BTreeMap<String, V>,
    merge: impl Fn(&V, &V) -> V,
) -> BTreeMap<String, V> {
    let mut merged = a.clone();
    for (key, value) in b {
        let joined = match merged.get(key) {
            Some(mine) => merge(mine, value),
            None => value.clone(),
        };
        merged.insert(key.clone(), joined);
    }
    merged
}

/// The line items one fact carried, kept whole: a newer list replaces an older one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
struct LineItemList {
    items: Vec<LineItemFacts>,
    /// More lines exist than `items` (see [`Facts::line_items_cut_short`]).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cut_short: bool,
}

/// Everything known about one payment. Serializable (the store keeps it as JSON); build it
/// with [`from_facts`](Self::from_facts), grow it with [`apply`](Self::apply) and
/// [`merge`](Self::merge), and derive HubSpot state with
/// [`deal_properties`](crate::deal_properties) and [`contact_properties`](crate::contact_properties).
/// Its `Debug` hides the contact, the description, the receipt address and metadata values.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LedgerRow {
    payment_intent_ids: BTreeSet<String>,
    charge_ids: BTreeSet<String>,
    invoice_ids: BTreeSet<String>,
    checkout_session_ids: BTreeSet<String>,
    email: Option<Stamped<Personal>>,
    name: Option<Stamped<Personal>>,
    phone: Option<Stamped<Personal>>,
    customer_id: Option<Stamped<String>>,
    currency: Option<Stamped<Currency>>,
    authorized: Option<i64>,
    captured: Option<i64>,
    succeeded: bool,
    /// The largest refunded amount any fact reported, whatever its charge. Rows stored before
    /// `charges` existed have only this; it is kept for them and for older readers.
    refunded: i64,
    /// Whether any fact said its charge was refunded in full (see `refunded`).
    fully_refunded: bool,
    /// Whether any fact said its charge was disputed (see `refunded`).
    disputed: bool,
    /// Each charge's own word, by charge id: what refunds and disputes are derived from.
    charges: BTreeMap<String, ChargeEntry>,
    /// What each charge settled as in the account's balance, by charge id.
    settlements: BTreeMap<String, SettlementEntry>,
    disputes: BTreeMap<String, DisputeEntry>,
    paid_at: Option<i64>,
    first_success_at: Option<i64>,
    subscription_id: Option<Stamped<String>>,
    billing_reason: Option<Stamped<String>>,
    receipt_url: Option<Stamped<String>>,
    description: Option<Stamped<String>>,
    metadata: BTreeMap<String, Stamped<String>>,
    /// What was sold: the list of the newest facts that carried one, as a whole.
    #[serde(skip_serializing_if = "Option::is_none")]
    line_items: Option<Stamped<LineItemList>>,
    latest: Option<Stamp>,
}

impl fmt::Debug for LedgerRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Free text (description, metadata values) and the receipt page can name the payer.
        f.debug_struct("LedgerRow")
            .field("payment_intent_ids", &self.payment_intent_ids)
            .field("charge_ids", &self.charge_ids)
            .field("invoice_ids", &self.invoice_ids)
            .field("checkout_session_ids", &self.checkout_session_ids)
            .field("email", &self.email)
            .field("name", &self.name)
            .field("phone", &self.phone)
            .field("customer_id", &self.customer_id)
            .field("currency", &self.currency)
            .field("authorized", &self.authorized)
            .field("captured", &self.captured)
            .field("succeeded", &self.succeeded)
            .field("refunded", &self.refunded)
            .field("fully_refunded", &self.fully_refunded)
            .field("disputed", &self.disputed)
            .field("charges", &self.charges)
            .field("settlements", &self.settlements)
            .field("disputes", &self.disputes)
            .field("paid_at", &self.paid_at)
            .field("first_success_at", &self.first_success_at)
            .field("subscription_id", &self.subscription_id)
            .field("billing_reason", &self.billing_reason)
            .field("receipt_url", &redacted_option(&self.receipt_url))
            .field("description", &redacted_option(&self.description))
            .field("metadata", &KeysOnly(&self.metadata))
            .field(
                "line_items",
                &self.line_items.as_ref().map_or(0, |l| l.value.items.len()),
            )
            .field("latest", &self.latest)
            .finish()
    }
}

impl LedgerRow {
    /// The row holding exactly these facts.
    pub fn from_facts(facts: &Facts) -> LedgerRow {
        let stamp = &facts.stamp;
        let set = |id: &Option<String>| id.iter().cloned().collect::<BTreeSet<_>>();
        LedgerRow {
            payment_intent_ids: set(&facts.ids.payment_intent),
            charge_ids: set(&facts.ids.charge),
            invoice_ids: set(&facts.ids.invoice),
            checkout_session_ids: set(&facts.ids.checkout_session),
            email: stamped(stamp, facts.contact.email.clone()),
            name: stamped(stamp, facts.contact.name.clone()),
            phone: stamped(stamp, facts.contact.phone.clone()),
            customer_id: stamped(stamp, facts.contact.customer_id.clone()),
            currency: stamped(stamp, facts.currency),
            authorized: facts.authorized,
            captured: facts.captured,
            succeeded: facts.succeeded,
            refunded: facts.refunded.unwrap_or(0).max(0),
            fully_refunded: facts.fully_refunded,
            disputed: facts.disputed,
            charges: ChargeEntry::of(facts).into_iter().collect(),
            settlements: SettlementEntry::of(facts).into_iter().collect(),
            disputes: facts
                .dispute
                .iter()
                .map(|d| {
                    let entry = DisputeEntry {
                        closed: d.status.is_closed(),
                        stamp: stamp.clone(),
                        status: d.status,
                        amount: d.amount,
                        currency: d.currency,
                        charge: facts.ids.charge.clone(),
                    };
                    (d.id.clone(), entry)
                })
                .collect(),
            paid_at: facts.paid_at,
            first_success_at: facts.succeeded.then_some(stamp.created),
            subscription_id: stamped(stamp, facts.subscription_id.clone()),
            billing_reason: stamped(stamp, facts.billing_reason.clone()),
            receipt_url: stamped(stamp, facts.receipt_url.clone()),
            description: stamped(stamp, facts.description.clone()),
            metadata: facts
                .metadata
                .iter()
                .map(|(k, v)| {
                    let value = Stamped {
                        stamp: stamp.clone(),
                        value: v.clone(),
                    };
                    (k.clone(), value)
                })
                .collect(),
            line_items: stamped(
                stamp,
                // A list cut short says "more lines exist" even when none it carried was kept.
                (!facts.line_items.is_empty() || facts.line_items_cut_short).then(|| {
                    LineItemList {
                        items: facts.line_items.clone(),
                        cut_short: facts.line_items_cut_short,
                    }
                }),
            ),
            latest: Some(stamp.clone()),
        }
    }

    /// Merges `facts` into this row.
    pub fn apply(&mut self, facts: &Facts) {
        *self = self.merge(&LedgerRow::from_facts(facts));
    }

    /// The join of two rows: commutative, associative and idempotent, and equal to the row
    /// folded from all the facts of both. Use it when a fact links two rows (see
    /// [`aliases`](Self::aliases)).
    pub fn merge(&self, other: &LedgerRow) -> LedgerRow {
        let union = |a: &BTreeSet<String>, b: &BTreeSet<String>| a.union(b).cloned().collect();
        LedgerRow {
            payment_intent_ids: union(&self.payment_intent_ids, &other.payment_intent_ids),
            charge_ids: union(&self.charge_ids, &other.charge_ids),
            invoice_ids: union(&self.invoice_ids, &other.invoice_ids),
            checkout_session_ids: union(&self.checkout_session_ids, &other.checkout_session_ids),
            email: newest(&self.email, &other.email),
            name: newest(&self.name, &other.name),
            phone: newest(&self.phone, &other.phone),
            customer_id: newest(&self.customer_id, &other.customer_id),
            currency: newest(&self.currency, &other.currency),
            authorized: self.authorized.max(other.authorized),
            captured: self.captured.max(other.captured),
            succeeded: self.succeeded || other.succeeded,
            refunded: self.refunded.max(other.refunded),
            fully_refunded: self.fully_refunded || other.fully_refunded,
            disputed: self.disputed || other.disputed,
            charges: merge_maps(&self.charges, &other.charges, ChargeEntry::merge),
            settlements: merge_maps(
                &self.settlements,
                &other.settlements,
                SettlementEntry::merge,
            ),
            disputes: merge_maps(&self.disputes, &other.disputes, newer),
            paid_at: earliest(self.paid_at, other.paid_at),
            first_success_at: earliest(self.first_success_at, other.first_success_at),
            subscription_id: newest(&self.subscription_id, &other.subscription_id),
            billing_reason: newest(&self.billing_reason, &other.billing_reason),
            receipt_url: newest(&self.receipt_url, &other.receipt_url),
            description: newest(&self.description, &other.description),
            metadata: merge_maps(&self.metadata, &other.metadata, newer),
            line_items: newest(&self.line_items, &other.line_items),
            latest: self.latest.clone().max(other.latest.clone()),
        }
    }

    /// Whether the two rows hold the same values, whatever the stamps that order their facts.
    /// Everything derived from one row (its state, its deal) depends on these values only, so
    /// a merge that just moves stamps (a backfill reading a payment the webhooks already told,
    /// or an older event arriving late) has nothing new to write. The stamps still matter to
    /// later merges: keep the merged row all the same.
    pub fn same_values_as(&self, other: &LedgerRow) -> bool {
        self.without_stamps() == other.without_stamps()
    }

    /// This row with every stamp blanked (dates derived from stamps, such as the first
    /// success, are values and stay).
    fn without_stamps(&self) -> LedgerRow {
        fn no_stamp() -> Stamp {
            Stamp {
                created: 0,
                event_id: String::new(),
            }
        }
        fn blank<T: Clone>(value: &Option<Stamped<T>>) -> Option<Stamped<T>> {
            value.as_ref().map(|s| Stamped {
                stamp: no_stamp(),
                value: s.value.clone(),
            })
        }
        let mut row = self.clone();
        row.email = blank(&self.email);
        row.name = blank(&self.name);
        row.phone = blank(&self.phone);
        row.customer_id = blank(&self.customer_id);
        row.currency = blank(&self.currency);
        row.subscription_id = blank(&self.subscription_id);
        row.billing_reason = blank(&self.billing_reason);
        row.receipt_url = blank(&self.receipt_url);
        row.description = blank(&self.description);
        row.line_items = blank(&self.line_items);
        for value in row.metadata.values_mut() {
            value.stamp = no_stamp();
        }
        for dispute in row.disputes.values_mut() {
            dispute.stamp = no_stamp();
        }
        row.latest = None;
        row
    }

    /// The payment identity: the PaymentIntent id when known, else the charge id, else the
    /// invoice id, else the Checkout Session id (the smallest, should a row know two of a
    /// kind). `None` only for an empty row. It is the deal's `stripe_payment_id`, so it can
    /// change when a fact reveals a PaymentIntent for a row keyed by another id.
    pub fn key(&self) -> Option<&str> {
        [
            &self.payment_intent_ids,
            &self.charge_ids,
            &self.invoice_ids,
            &self.checkout_session_ids,
        ]
        .into_iter()
        .find_map(|ids| ids.first())
        .map(String::as_str)
    }

    /// Every id the row knows, in key order: the store indexes the row under each, so a fact
    /// naming any of them finds it.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.payment_intent_ids
            .iter()
            .chain(&self.charge_ids)
            .chain(&self.invoice_ids)
            .chain(&self.checkout_session_ids)
            .map(String::as_str)
    }

    /// The PaymentIntent ids (normally at most one).
    pub fn payment_intent_ids(&self) -> impl Iterator<Item = &str> {
        self.payment_intent_ids.iter().map(String::as_str)
    }

    /// The charge ids.
    pub fn charge_ids(&self) -> impl Iterator<Item = &str> {
        self.charge_ids.iter().map(String::as_str)
    }

    /// The invoice ids.
    pub fn invoice_ids(&self) -> impl Iterator<Item = &str> {
        self.invoice_ids.iter().map(String::as_str)
    }

    /// The Checkout Session ids.
    pub fn checkout_session_ids(&self) -> impl Iterator<Item = &str> {
        self.checkout_session_ids.iter().map(String::as_str)
    }

    /// The normalized email, if any fact gave one.
    pub fn email(&self) -> Option<&str> {
        self.email.as_ref().map(|e| e.value.expose())
    }

    /// The payer's full name.
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(|n| n.value.expose())
    }

    /// The payer's phone.
    pub fn phone(&self) -> Option<&str> {
        self.phone.as_ref().map(|p| p.value.expose())
    }

    /// The Stripe customer id.
    pub fn customer_id(&self) -> Option<&str> {
        self.customer_id.as_ref().map(|c| c.value.as_str())
    }

    /// How the payment's contact is found in HubSpot; `None` while the facts give no value for
    /// the configured contact key (the payment waits for a contact).
    pub fn contact_key(&self, config: &MappingConfig) -> Option<ContactKey> {
        match (config.contact_key, &config.customer_id_property) {
            (ContactKeySource::Email, _) => self.email().map(|e| ContactKey::Email(e.to_owned())),
            (ContactKeySource::StripeCustomerId, Some(property)) => {
                self.customer_id().map(|id| ContactKey::StripeCustomerId {
                    property: property.clone(),
                    id: id.to_owned(),
                })
            }
            (ContactKeySource::StripeCustomerId, None) => None,
        }
    }

    /// The currency of the payment's amounts.
    pub fn currency(&self) -> Option<Currency> {
        self.currency.as_ref().map(|c| c.value)
    }

    /// Whether some fact says the payment (or its authorization) succeeded.
    pub fn succeeded(&self) -> bool {
        self.succeeded
    }

    /// Amount authorized, in minor units.
    pub fn authorized(&self) -> Option<i64> {
        self.authorized
    }

    /// Amount captured, in minor units; `None` while only authorized. The largest amount any
    /// object reported for the whole payment (an invoice's `amount_paid`, a PaymentIntent's
    /// `amount_received`), and never less than what its charges captured together.
    pub fn captured(&self) -> Option<i64> {
        let by_charges = self
            .charges
            .values()
            .filter_map(|c| c.captured)
            .reduce(i64::saturating_add);
        self.captured.max(by_charges)
    }

    /// What the refunds took, summed over the payment's charges (a charge Stripe marks
    /// refunded in full counts its whole capture); rows stored before refunds were kept per
    /// charge give their one payment-wide amount.
    fn refunded_total(&self) -> i64 {
        self.charges
            .values()
            .map(ChargeEntry::refunded)
            .fold(0i64, i64::saturating_add)
            .max(self.refunded)
    }

    /// Amount refunded, in minor units: the sum of the refunds of the payment's charges,
    /// never more than captured.
    pub fn refunded(&self) -> i64 {
        let captured = self.captured().unwrap_or(0).max(0);
        if self.is_fully_refunded() {
            return captured;
        }
        self.refunded_total().clamp(0, captured)
    }

    /// Whether the payment is refunded in full: its charges' refunds cover what it captured
    /// (for an authorization never captured: every charge released). One charge refunded in
    /// full does not refund a payment that has others.
    pub fn is_fully_refunded(&self) -> bool {
        // Rows stored before refunds were kept per charge know only a payment-wide flag.
        let legacy = self.charges.is_empty() && self.fully_refunded;
        match self.captured() {
            Some(captured) if captured > 0 => legacy || self.refunded_total() >= captured,
            _ => {
                legacy
                    || (!self.charges.is_empty() && self.charges.values().all(|c| c.fully_refunded))
            }
        }
    }

    /// Whether any fact says the payment was disputed.
    pub fn disputed(&self) -> bool {
        self.disputed
    }

    /// Whether a charge is known to be disputed but no dispute on it has been read yet (it
    /// counts as open). Disputes stored before they named their charge count for any charge.
    pub(crate) fn has_unread_dispute(&self) -> bool {
        // Rows stored before per-charge facts know only a payment-wide flag.
        let legacy = self.disputed && self.disputes.is_empty();
        legacy
            || self.charges.iter().any(|(id, charge)| {
                charge.disputed
                    && !self
                        .disputes
                        .values()
                        .any(|d| d.charge.as_ref().is_none_or(|c| c == id))
            })
    }

    /// The disputes on the payment, by dispute id.
    pub fn disputes(&self) -> &BTreeMap<String, DisputeEntry> {
        &self.disputes
    }

    /// Amount lost to disputes, in minor units of the payment's currency. A lost dispute in
    /// another currency counts as the whole captured amount.
    pub fn lost_to_disputes(&self) -> i64 {
        let captured = self.captured().unwrap_or(0).max(0);
        let lost = self
            .disputes
            .values()
            .filter(|d| d.status == DisputeStatus::Lost)
            .map(|d| match self.currency() {
                Some(currency) if currency == d.currency => d.amount.max(0),
                _ => captured,
            })
            .fold(0i64, i64::saturating_add);
        lost.min(captured)
    }

    /// Captured minus refunded minus lost to disputes, never below zero.
    pub fn net(&self) -> i64 {
        let captured = self.captured().unwrap_or(0).max(0);
        captured
            .saturating_sub(self.refunded())
            .saturating_sub(self.lost_to_disputes())
            .max(0)
    }

    /// The charges whose settlement is not known yet, each with its balance transaction id
    /// when a fact named it: what a Stripe key can still read (`GET
    /// /v1/balance_transactions/{id}`, else the charge first to learn the id).
    pub fn unsettled_charges(&self) -> impl Iterator<Item = (&str, Option<&str>)> {
        self.charge_ids.iter().filter_map(|charge| {
            let entry = self.settlements.get(charge);
            if entry.is_some_and(|e| e.settled.is_some()) {
                return None;
            }
            let txn = entry.and_then(|e| e.balance_transaction.as_deref());
            Some((charge.as_str(), txn))
        })
    }

    /// What the payment's charges settled as in the account's balance, summed: the gross
    /// amounts of their balance transactions, in the settlement currency, after conversion and
    /// before fees, refunds and disputes. `None` unless every charge of the payment has a
    /// known settlement and they share one currency.
    pub fn settled_gross(&self) -> Option<Money> {
        let mut settled = self
            .charge_ids
            .iter()
            .map(|charge| self.settlements.get(charge).and_then(|e| e.settled));
        let first = settled.next()??;
        settled.try_fold(Money::new(first.minor.max(0), first.currency), |sum, m| {
            let m = m?;
            (m.currency == sum.currency)
                .then(|| Money::new(sum.minor.saturating_add(m.minor.max(0)), sum.currency))
        })
    }

    /// `amount` (minor units of the payment's currency, at most what it captured) in the
    /// settlement currency: the settled gross scaled by `amount / captured`, exactly, rounded
    /// once half away from zero. `None` without a settled gross or a captured amount.
    pub(crate) fn settled_share(&self, amount: i64) -> Option<Money> {
        let gross = self.settled_gross()?;
        let captured = self.captured().filter(|c| *c > 0)?;
        let numerator = i128::from(gross.minor).checked_mul(i128::from(amount.max(0)))?;
        let minor = Ratio::new(numerator, i128::from(captured))?.round();
        Some(Money::new(i64::try_from(minor).ok()?, gross.currency))
    }

    /// What the payment kept, in the account's settlement currency: [`settled_gross`]
    /// scaled by [`net`] / [`captured`] (what refunds and a lost dispute took is taken in the
    /// same proportion), computed exactly and rounded once, half away from zero. A 5,000 JPY
    /// charge settled as 33.50 USD and refunded 1,000 JPY keeps 26.80 USD. `None` unless the
    /// settled gross is known (see [`settled_gross`]) and something was captured.
    ///
    /// The proportion is an approximation only where Stripe converted a refund at another
    /// rate than the charge: the refund's own balance transaction is not read.
    ///
    /// [`settled_gross`]: Self::settled_gross
    /// [`net`]: Self::net
    /// [`captured`]: Self::captured
    pub fn settled_net(&self) -> Option<Money> {
        self.settled_share(self.net())
    }

    /// When the money moved, in seconds since the Unix epoch: the charge's `created` or the
    /// invoice's `paid_at`, else the first success event's `created`.
    pub fn paid_at(&self) -> Option<i64> {
        self.paid_at
            .or(self.first_success_at)
            .or(self.latest.as_ref().map(|s| s.created))
    }

    /// The subscription of an invoice payment.
    pub fn subscription_id(&self) -> Option<&str> {
        self.subscription_id.as_ref().map(|s| s.value.as_str())
    }

    /// Why the invoice was created (`subscription_cycle`, ...), from the newest invoice facts
    /// that said.
    pub fn billing_reason(&self) -> Option<&str> {
        self.billing_reason.as_ref().map(|s| s.value.as_str())
    }

    /// The charge's receipt page.
    pub fn receipt_url(&self) -> Option<&str> {
        self.receipt_url.as_ref().map(|s| s.value.as_str())
    }

    /// The payment's description.
    pub fn description(&self) -> Option<&str> {
        self.description.as_ref().map(|s| s.value.as_str())
    }

    /// What the payment sold: the line items of the newest facts that carried any (an
    /// invoice's lines), as a whole; empty when none did (a charge, a PaymentIntent, a
    /// Checkout Session, whose items are read from Stripe's API instead). Facts without
    /// lines (a refund, a dispute) change none.
    pub fn line_items(&self) -> &[LineItemFacts] {
        self.line_items
            .as_ref()
            .map_or(&[], |l| l.value.items.as_slice())
    }

    /// Whether [`line_items`](Self::line_items) is only the start of the invoice's lines
    /// (the event carried the first ten of more): read the whole list from Stripe
    /// (`GET /v1/invoices/{id}/lines`, the row's [`invoice_ids`](Self::invoice_ids)) and map
    /// each line with [`LineItemFacts::from_invoice_line`].
    pub fn line_items_cut_short(&self) -> bool {
        self.line_items.as_ref().is_some_and(|l| l.value.cut_short)
    }

    /// The fingerprint the store compares to know whether the deal's line items changed:
    /// that of [`line_items`](Self::line_items) when the row has some (or its invoice has more
    /// than its event carried, see [`line_items_cut_short`](Self::line_items_cut_short)), else, for a Checkout
    /// payment, that of its session id (its items are fetched from Stripe when written),
    /// else `None` (nothing to write). See [`line_items_fingerprint`](crate::line_items_fingerprint).
    pub fn line_items_fingerprint(&self) -> Option<String> {
        if !self.line_items().is_empty() || self.line_items_cut_short() {
            return Some(line_items_fingerprint(self.line_items()));
        }
        let session = self.checkout_session_ids.iter().next()?;
        Some(hex(&Sha256::digest(session.as_bytes())))
    }

    /// The metadata value of `key`, from the newest facts that had it.
    pub fn metadata(&self, key: &str) -> Option<&str> {
        self.metadata.get(key).map(|s| s.value.as_str())
    }

    pub(crate) fn stamped_email(&self) -> &Option<Stamped<Personal>> {
        &self.email
    }

    pub(crate) fn stamped_name(&self) -> &Option<Stamped<Personal>> {
        &self.name
    }

    pub(crate) fn stamped_phone(&self) -> &Option<Stamped<Personal>> {
        &self.phone
    }

    pub(crate) fn stamped_customer_id(&self) -> &Option<Stamped<String>> {
        &self.customer_id
    }

    pub(crate) fn stamped_metadata(&self, key: &str) -> Option<&Stamped<String>> {
        self.metadata.get(key)
    }

    /// The newest stamp among the row's facts: what the store compares to know whether a
    /// written state is stale.
    pub fn latest(&self) -> Option<&Stamp> {
        self.latest.as_ref()
    }
}
