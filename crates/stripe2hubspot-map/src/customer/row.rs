//! The ledger row of one Stripe customer.
//!
//! Like [`LedgerRow`](crate::LedgerRow), every field is a join, so [`CustomerRow::merge`] is
//! commutative, associative and idempotent and any order of delivery, redelivery or replay
//! gives the same row:
//! - the customer id: the greatest (a row holds one customer, so all agree);
//! - the contact data of the customer object, and apart from it that of the customer's
//!   newest payment: the value with the newest stamp;
//! - the deletion: the newest `customer.deleted` stamp;
//! - per subscription, the snapshot of the highest rank (`created`, terminal status, event
//!   id, value): the newest event wins, and a terminal status (canceled, incomplete_expired)
//!   outranks a live one written in the same second. Two different snapshots of the same
//!   (`created`, terminal) rank are a tie: Stripe does not order events of one second, so the
//!   event id decides only to be deterministic, and the row flags the subscription
//!   ([`CustomerRow::tied_subscriptions`]) for a re-read from Stripe's API.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::facts::{Facts, Stamp};
use crate::ledger::Stamped;
use crate::personal::Personal;

use super::facts::{CustomerContact, CustomerFacts, SubscriptionFacts};

/// The newest snapshot of one subscription, and whether another snapshot ties with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Snapshot {
    stamp: Stamp,
    value: SubscriptionFacts,
    /// Some other snapshot with the same `created` and terminality holds other values.
    #[serde(default)]
    tied: bool,
}

impl Snapshot {
    /// What decides between two snapshots that do not tie: the event's second, then
    /// terminality.
    fn rank(&self) -> (i64, bool) {
        (self.stamp.created, self.value.status.is_terminal())
    }

    /// The join: the higher rank wins; within one rank the greater (event id, value) is kept
    /// and any difference of values marks the tie.
    fn merge(&self, other: &Snapshot) -> Snapshot {
        match self.rank().cmp(&other.rank()) {
            std::cmp::Ordering::Greater => self.clone(),
            std::cmp::Ordering::Less => other.clone(),
            std::cmp::Ordering::Equal => {
                let tied = self.tied || other.tied || self.value != other.value;
                let key = |s: &Snapshot| (s.stamp.event_id.clone(), s.value.clone());
                let winner = if key(self) >= key(other) { self } else { other };
                Snapshot {
                    tied,
                    ..winner.clone()
                }
            }
        }
    }
}

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
    subscriptions: BTreeMap<String, Snapshot>,
    /// Product names by product id, the newest any snapshot carried (an expanded product).
    product_names: BTreeMap<String, Stamped<String>>,
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
            .field("product_names", &self.product_names)
            .finish()
    }
}

fn newest<T: Ord + Clone>(a: &Option<T>, b: &Option<T>) -> Option<T> {
    a.clone().max(b.clone())
}

fn newer<T: Ord + Clone>(a: &T, b: &T) -> T {
    std::cmp::max(a, b).clone()
}

impl CustomerRow {
    /// The row holding exactly these facts.
    pub fn from_facts(facts: &CustomerFacts) -> CustomerRow {
        let stamped = |value: &CustomerContact| Stamped {
            stamp: facts.stamp.clone(),
            value: value.clone(),
        };
        CustomerRow {
            customer_id: Some(facts.customer_id.clone()),
            contact: facts.contact.as_ref().map(stamped),
            payment_contact: None,
            deleted: facts.deleted.then(|| facts.stamp.clone()),
            subscriptions: facts
                .subscription
                .iter()
                .map(|s| {
                    let snapshot = Snapshot {
                        stamp: facts.stamp.clone(),
                        value: s.clone(),
                        tied: false,
                    };
                    (s.id.clone(), snapshot)
                })
                .collect(),
            product_names: facts
                .subscription
                .iter()
                .flat_map(|s| &s.items)
                .filter_map(|item| {
                    let name = Stamped {
                        stamp: facts.stamp.clone(),
                        value: item.product_name.clone()?,
                    };
                    Some((item.product_id.clone()?, name))
                })
                .collect(),
        }
    }

    /// Merges `facts` into the row.
    pub fn apply(&mut self, facts: &CustomerFacts) {
        *self = self.merge(&CustomerRow::from_facts(facts));
    }

    /// Merges what a payment of this customer says about its contact (lower precedence than
    /// the customer object's own data). Does nothing for facts without this customer's id (a
    /// row without a customer id yet takes the payment's), nor for facts without contact data.
    pub fn apply_payment(&mut self, facts: &Facts) {
        let Some(customer_id) = facts.contact.customer_id.as_deref() else {
            return;
        };
        if self
            .customer_id
            .as_deref()
            .is_some_and(|id| id != customer_id)
        {
            return;
        }
        let contact = CustomerContact {
            email: facts.contact.email.clone(),
            name: facts.contact.name.clone(),
            phone: facts.contact.phone.clone(),
            business_name: None,
        };
        let payment = CustomerRow {
            customer_id: Some(customer_id.to_owned()),
            payment_contact: (contact != CustomerContact::default()).then(|| Stamped {
                stamp: facts.stamp.clone(),
                value: contact,
            }),
            ..CustomerRow::default()
        };
        *self = self.merge(&payment);
    }

    /// The join of two rows of the same customer: commutative, associative and idempotent.
    pub fn merge(&self, other: &CustomerRow) -> CustomerRow {
        let mut subscriptions = self.subscriptions.clone();
        for (id, theirs) in &other.subscriptions {
            let joined = match subscriptions.get(id) {
                Some(mine) => mine.merge(theirs),
                None => theirs.clone(),
            };
            subscriptions.insert(id.clone(), joined);
        }
        let mut product_names = self.product_names.clone();
        for (id, theirs) in &other.product_names {
            let joined = match product_names.get(id) {
                Some(mine) => newer(mine, theirs),
                None => theirs.clone(),
            };
            product_names.insert(id.clone(), joined);
        }
        CustomerRow {
            customer_id: newest(&self.customer_id, &other.customer_id),
            contact: newest(&self.contact, &other.contact),
            payment_contact: newest(&self.payment_contact, &other.payment_contact),
            deleted: newest(&self.deleted, &other.deleted),
            subscriptions,
            product_names,
        }
    }

    /// The customer id (`cus_...`).
    pub fn customer_id(&self) -> Option<&str> {
        self.customer_id.as_deref()
    }

    /// The business name the customer object carries (Stripe sets it only for a business),
    /// with when it was told; a payment never names a business.
    pub(crate) fn stamped_business_name(&self) -> Option<(&Stamp, &str)> {
        let contact = self.contact.as_ref()?;
        let name = self.visible(&self.contact)?.business_name.as_ref()?;
        Some((&contact.stamp, name.expose()))
    }

    /// Contact data told after the deletion, if any (all of it when never deleted).
    fn visible<'a>(
        &'a self,
        contact: &'a Option<Stamped<CustomerContact>>,
    ) -> Option<&'a CustomerContact> {
        contact
            .as_ref()
            .filter(|c| self.deleted.as_ref().is_none_or(|d| c.stamp > *d))
            .map(|c| &c.value)
    }

    /// One contact field: the customer object's, else the newest payment's.
    fn field(&self, pick: fn(&CustomerContact) -> &Option<Personal>) -> Option<&str> {
        let own = self.visible(&self.contact).and_then(|c| pick(c).as_ref());
        own.or_else(|| {
            self.visible(&self.payment_contact)
                .and_then(|c| pick(c).as_ref())
        })
        .map(Personal::expose)
    }

    /// The customer's current email: the customer object's, else its newest payment's.
    /// `None` once the customer is deleted, unless a later object carried it again.
    pub fn email(&self) -> Option<&str> {
        self.field(|c| &c.email)
    }

    /// The customer's name, by the same rule as [`email`](Self::email).
    pub fn name(&self) -> Option<&str> {
        self.field(|c| &c.name)
    }

    /// The customer's phone, by the same rule as [`email`](Self::email).
    pub fn phone(&self) -> Option<&str> {
        self.field(|c| &c.phone)
    }

    /// Whether the customer's latest word is that it was deleted.
    pub fn is_deleted(&self) -> bool {
        self.deleted.is_some()
    }

    /// Each subscription's newest state, by id.
    pub fn subscriptions(&self) -> impl Iterator<Item = &SubscriptionFacts> {
        self.subscriptions.values().map(|s| &s.value)
    }

    /// The product's name as the newest snapshot that had the product expanded told it.
    pub fn product_name(&self, product_id: &str) -> Option<&str> {
        self.product_names.get(product_id).map(|n| n.value.as_str())
    }

    /// Subscriptions two different snapshots of which carry the same `created` second (and the
    /// same terminality): re-read them from Stripe's API when a key is configured, and merge
    /// the answer stamped with the read time, which settles the tie.
    pub fn tied_subscriptions(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .filter(|(_, s)| s.tied)
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Subscriptions to re-read from Stripe's API when a key is configured: the tied ones
    /// ([`tied_subscriptions`](Self::tied_subscriptions)) and live ones whose newest snapshot
    /// has a discount Stripe sent as an id only (its MRR cannot be known without the coupon).
    pub fn subscriptions_to_reread(&self) -> Vec<String> {
        self.subscriptions
            .iter()
            .filter(|(_, s)| {
                s.tied
                    || (s.value.status.is_live()
                        && s.value.discounts.iter().any(|d| d.is_unresolved()))
            })
            .map(|(id, _)| id.clone())
            .collect()
    }

    /// Whether both rows hold the same values, whatever stamps order them (a redelivered or
    /// older event changes stamps only): the customer id, the contact data shown, the
    /// deletion, each subscription's state and tie, the product names learned.
    pub fn same_values_as(&self, other: &CustomerRow) -> bool {
        let values = |row: &CustomerRow| {
            (
                row.customer_id().map(str::to_owned),
                [row.email(), row.name(), row.phone()].map(|v| v.map(str::to_owned)),
                row.is_deleted(),
                row.subscriptions
                    .iter()
                    .map(|(id, s)| (id.clone(), s.value.clone(), s.tied))
                    .collect::<Vec<_>>(),
                row.product_names
                    .iter()
                    .map(|(id, n)| (id.clone(), n.value.clone()))
                    .collect::<Vec<_>>(),
            )
        };
        values(self) == values(other)
    }

    /// Forgets the person: email, name and phone (GDPR erasure); subscriptions and the
    /// deletion stay, so a later event brings the person back only if it carries them again.
    pub fn erase_personal(&mut self) {
        self.contact = None;
        self.payment_contact = None;
    }
}
