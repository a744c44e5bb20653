//! The customer ledger as the store keeps it: one row per Stripe customer beside the payment
//! ledger, versioned like a payment row, and the contact key that groups a customer's payments
//! so identity follows the Stripe customer rather than an email.
//!
//! The merges are pure ([`merge_customer_step`], [`feed_payment_step`]); every backend loads
//! the customer row, runs them, and writes back what they return, inside the transaction of the
//! call.

use stripe2hubspot_map::{
    ContactKey, ContactKeySource, CustomerFacts, CustomerRow, Facts, MappingConfig,
};

use crate::ledger::{spell_contact_key, Merged};
use crate::LedgerEntry;

/// One customer's row in the store.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerEntry {
    /// The Stripe customer (`cus_...`) the row is stored under.
    pub customer_id: String,
    /// Everything known about the customer.
    pub row: CustomerRow,
    /// Raised each time a customer event changes what the row holds (a redelivered or older
    /// event only moves stamps and keeps it; a payment's contact data never raises it).
    pub version: i64,
    /// The highest version whose HubSpot state was written (0: never).
    pub written_version: i64,
}

impl CustomerEntry {
    /// Whether HubSpot has not seen this version of the customer yet.
    pub fn is_unwritten(&self) -> bool {
        self.version > self.written_version
    }
}

/// The id property of the contact keys that group a customer's payments under
/// [`ContactKeySource::Email`]: not a HubSpot property, a name of the store's own.
pub(crate) const CUSTOMER_KEY_PROPERTY: &str = "customer";

/// The contact key (as [`contact_key_of`](crate::contact_key_of) spells keys) of a customer's
/// contact: `customer=cus_X` under [`ContactKeySource::Email`] (every payment of the customer,
/// whatever email it carries, and the guest payments made with the customer's current email),
/// `{customer_id_property}=cus_X` under [`ContactKeySource::StripeCustomerId`].
///
/// ```
/// use stripe2hubspot_map::MappingConfig;
/// use stripe2hubspot_queue::customer_contact_key;
/// assert_eq!(customer_contact_key("cus_1", &MappingConfig::default()), "customer=cus_1");
/// ```
pub fn customer_contact_key(customer_id: &str, config: &MappingConfig) -> String {
    let property = match (config.contact_key, &config.customer_id_property) {
        (ContactKeySource::StripeCustomerId, Some(property)) => property.as_str(),
        // A valid configuration never keys by customer id without a property to hold it.
        _ => CUSTOMER_KEY_PROPERTY,
    };
    format!("{property}={customer_id}")
}

/// The contact key of the guest payments (no customer id) made with `email`, while no customer
/// has that email: as [`contact_key_of`](crate::contact_key_of) spells an email key.
pub(crate) fn email_contact_key(email: &str) -> String {
    spell_contact_key(&ContactKey::Email(email.to_owned()))
}

/// The email by which a payment row joins a customer: `Some` for a guest row (no customer id)
/// with an email, under [`ContactKeySource::Email`]. Such a row is indexed under the contact key
/// of the customer whose current email it is, else under its email.
pub(crate) fn guest_email<'a>(
    row: &'a stripe2hubspot_map::LedgerRow,
    config: &MappingConfig,
) -> Option<&'a str> {
    match (config.contact_key, row.customer_id()) {
        (ContactKeySource::Email, None) => row.email(),
        _ => None,
    }
}

/// Settles the contact key of a merged guest row (see [`guest_email`]): the key of `owner`,
/// the customer whose current email the row carries, if any; else the customer key one of the
/// merged rows was indexed under (a guest payment that joined a customer stays with it when the
/// customer's email changes later, so its rollups do not split); else its own email key.
pub(crate) fn settle_guest(
    merged: &mut Merged,
    owner: Option<&str>,
    existing: &[(LedgerEntry, Option<String>)],
    config: &MappingConfig,
) {
    let joined = match owner {
        Some(customer_id) => Some(customer_contact_key(customer_id, config)),
        None => existing
            .iter()
            .filter_map(|(_, key)| key.as_ref())
            .find(|key| is_customer_key(key))
            .cloned(),
    };
    if let Some(key) = joined {
        merged.contact_key = Some(key);
    }
}

/// Whether `contact_key` groups a customer's payments under [`ContactKeySource::Email`].
fn is_customer_key(contact_key: &str) -> bool {
    contact_key
        .strip_prefix(CUSTOMER_KEY_PROPERTY)
        .is_some_and(|rest| rest.starts_with('='))
}

/// The row of a customer the store has payments of but no customer row for (payments stored
/// before the customer ledger existed): empty, to be erased.
pub(crate) fn unseen_customer(customer_id: &str) -> CustomerEntry {
    CustomerEntry {
        customer_id: customer_id.to_owned(),
        row: CustomerRow::default(),
        version: 0,
        written_version: 0,
    }
}

/// What merging into one customer row did.
#[derive(Debug, Clone)]
pub(crate) struct CustomerMerged {
    /// The row after the merge.
    pub(crate) entry: CustomerEntry,
    /// Whether the row changed (stamps count), so it must be written back.
    pub(crate) changed: bool,
    /// The customer's current email, when the merge gave it one it did not have: guest rows
    /// under that email join the customer.
    pub(crate) acquired_email: Option<String>,
}

impl CustomerMerged {
    fn of(stored: Option<&CustomerEntry>, before: &CustomerRow, entry: CustomerEntry) -> Self {
        let email = entry.row.email().map(str::to_owned);
        let acquired_email = email.filter(|email| before.email() != Some(email.as_str()));
        CustomerMerged {
            changed: stored.is_none() || entry.row != *before,
            entry,
            acquired_email,
        }
    }
}

/// Merges a customer event's `facts` into the stored row (`None`: a new customer). The version
/// rises when the values changed (a new customer starts at 1, unwritten).
pub(crate) fn merge_customer_step(
    stored: Option<&CustomerEntry>,
    facts: &CustomerFacts,
) -> CustomerMerged {
    let before = stored.map(|e| e.row.clone()).unwrap_or_default();
    let row = before.merge(&CustomerRow::from_facts(facts));
    let moved = stored.is_none() || !before.same_values_as(&row);
    let entry = CustomerEntry {
        customer_id: facts.customer_id.clone(),
        version: stored.map_or(0, |e| e.version) + i64::from(moved),
        written_version: stored.map_or(0, |e| e.written_version),
        row,
    };
    CustomerMerged::of(stored, &before, entry)
}

/// Feeds a payment's contact data into its customer's row (`stored`; `None`: a customer first
/// seen through a payment, whose row is created). Never raises the version: the customer's
/// HubSpot state is written from the payment's contact write. `None` when the payment names
/// no customer.
pub(crate) fn feed_payment_step(
    stored: Option<&CustomerEntry>,
    facts: &Facts,
) -> Option<CustomerMerged> {
    let customer_id = facts.contact.customer_id.as_deref()?;
    let before = match stored {
        Some(e) => e.row.clone(),
        None => CustomerRow::from_facts(&CustomerFacts {
            stamp: facts.stamp.clone(),
            customer_id: customer_id.to_owned(),
            contact: None,
            deleted: false,
            subscription: None,
        }),
    };
    let mut row = before.clone();
    row.apply_payment(facts);
    let entry = CustomerEntry {
        customer_id: customer_id.to_owned(),
        version: stored.map_or(0, |e| e.version),
        written_version: stored.map_or(0, |e| e.written_version),
        row,
    };
    Some(CustomerMerged::of(stored, &before, entry))
}

/// The payment's facts with its customer's current email when the payment itself names none
/// (a card charge often has no billing email): the payment then waits for nothing, and its
/// contact is the customer's. Facts that carry an email, or whose customer has none yet, are
/// returned as they are; a payment stored before its customer's email was known waits until
/// its next event.
pub(crate) fn with_customer_email<'a>(
    facts: &'a Facts,
    customer: Option<&CustomerEntry>,
) -> std::borrow::Cow<'a, Facts> {
    let email = customer.and_then(|c| c.row.email());
    match email {
        Some(email) if facts.contact.email.is_none() => {
            let mut filled = facts.clone();
            filled.contact.email = Some(stripe2hubspot_map::Personal::new(email));
            std::borrow::Cow::Owned(filled)
        }
        _ => std::borrow::Cow::Borrowed(facts),
    }
}

/// The customer row an erasure leaves: the person forgotten and the row marked deleted at
/// `now_seconds` (so an event older than the erasure does not show them again), its values
/// counted as written (HubSpot's contact was deleted; there is nothing to write).
pub(crate) fn erased_customer(stored: &CustomerEntry, now_seconds: i64) -> CustomerEntry {
    let mut row = stored.row.clone();
    row.apply(&CustomerFacts {
        stamp: stripe2hubspot_map::Stamp {
            created: now_seconds,
            event_id: ERASURE_STAMP.to_owned(),
        },
        customer_id: stored.customer_id.clone(),
        contact: None,
        deleted: true,
        subscription: None,
    });
    row.erase_personal();
    let version = stored.version + i64::from(!stored.row.same_values_as(&row));
    CustomerEntry {
        customer_id: stored.customer_id.clone(),
        row,
        version,
        written_version: version,
    }
}

/// The event id stamped on the deletion an erasure records.
const ERASURE_STAMP: &str = "stripe2hubspot_erasure";
