//! The ledger row of one Stripe customer.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::facts::{Facts, Stamp};
use crate::ledger::Stamped;

use super::facts::{CustomerContact, CustomerFacts, SubscriptionFacts};

/// Everything known about one customer: its contact data (from the customer object, else from
/// its newest payment), whether it was deleted, and each subscription's newest state.
/// Serializable (the store keeps it as JSON). Its `Debug` hides the contact data.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CustomerRow {
    customer_id: Option<String>,
    contact: Option<Stamped<CustomerContact>>,
    payment_contact: Option<Stamped<CustomerContact>>,
    deleted: Option<Stamp>,
    subscriptions: BTreeMap<String, Stamped<SubscriptionFacts>>,
}

impl fmt::Debug for CustomerRow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomerRow")
            .field("customer_id", &self.customer_id)
            .field("contact", &self.contact.as_ref().map(|c| &c.stamp))
            .field(
                "payment_contact",
                &self.payment_contact.as_ref().map(|c| &c.stamp),
            )
            .field("deleted", &self.deleted)
            .field("subscriptions", &self.subscriptions)
            .finish()
    }
}

impl CustomerRow {
    /// The row holding exactly these facts.
    pub fn from_facts(facts: &CustomerFacts) -> CustomerRow {
        let mut row = CustomerRow::default();
        row.apply(facts);
        row
    }

    /// Merges `facts` into the row.
    pub fn apply(&mut self, facts: &CustomerFacts) {
        self.customer_id = Some(facts.customer_id.clone());
        let _ = facts;
    }

    /// Merges what a payment of this customer says about its contact (lower precedence than
    /// the customer object's own data). Does nothing for facts without this customer's id.
    pub fn apply_payment(&mut self, facts: &Facts) {
        let _ = facts;
    }

    /// The join of two rows of the same customer.
    pub fn merge(&self, other: &CustomerRow) -> CustomerRow {
        let _ = other;
        self.clone()
    }

    /// The customer id (`cus_...`).
    pub fn customer_id(&self) -> Option<&str> {
        self.customer_id.as_deref()
    }

    /// The customer's current email: the customer object's, else its newest payment's.
    /// `None` once the customer is deleted, unless a later object carried it again.
    pub fn email(&self) -> Option<&str> {
        None
    }

    /// Whether the customer's latest word is that it was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// Each subscription's newest state, by id.
    pub fn subscriptions(&self) -> impl Iterator<Item = &SubscriptionFacts> {
        self.subscriptions.values().map(|s| &s.value)
    }

    /// Subscriptions two different snapshots of which carry the same `created` second (and the
    /// same terminality): re-read them from Stripe's API when a key is configured.
    pub fn tied_subscriptions(&self) -> Vec<String> {
        Vec::new()
    }

    /// Whether both rows hold the same values, whatever stamps order them (a redelivered or
    /// older event changes stamps only).
    pub fn same_values_as(&self, other: &CustomerRow) -> bool {
        self == other
    }

    /// Forgets the person: email, name and phone (GDPR erasure); subscriptions stay.
    pub fn erase_personal(&mut self) {
        self.contact = None;
        self.payment_contact = None;
    }
}
