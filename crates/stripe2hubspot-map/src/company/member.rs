//! The company of one contact, and the properties of a company from its members' ledgers: the
//! entry points the engine uses, built on [`company_key`] and [`company_properties`](crate::company_properties).

use std::collections::BTreeMap;

use stripe_events::Metadata;

use crate::config::MappingConfig;
use crate::customer::CustomerRow;
use crate::ledger::{LedgerRow, Stamped};
use crate::property_set::PropertySet;
use crate::text::present;

use super::key::{company_key, CompanyKey};
use super::properties::{company_properties_from_items, CompanyNameHint};
use super::source::CompanyKeySource;
use crate::derive::{rollup_items, RollupItem};

/// The metadata key whose value names a company (`metadata.company`), set by the account.
const COMPANY_NAME_METADATA: &str = "company";

/// The newest stamped value among the rows' (ties broken by the value, so the order of the
/// rows does not matter).
fn newest<'a, T: Ord + 'a>(values: impl Iterator<Item = Option<&'a Stamped<T>>>) -> Option<&'a T> {
    values.flatten().max().map(|s| &s.value)
}

/// The company of one contact, by [`company_key`] over what the contact's state is built
/// from: its customer row (when it has one) and its payment `rows`.
///
/// - email: the customer's ([`CustomerRow::email`]), else the newest email of its payment
///   rows;
/// - metadata (for a `metadata` key source): the newest value of that key among its payment
///   rows, so a later payment without the key does not take the contact out of its company.
///   Customer rows keep no metadata, so the customer object's own metadata is not read.
///
/// `None` when the contact has no company (free mail, no metadata value, companies off).
///
/// ```
/// use stripe2hubspot_map::{company_of_contact, CompanyKey, MappingConfig};
/// let config = MappingConfig::default();
/// assert_eq!(company_of_contact(None, &[], &config), None);
/// ```
pub fn company_of_contact(
    customer: Option<&CustomerRow>,
    rows: &[LedgerRow],
    config: &MappingConfig,
) -> Option<CompanyKey> {
    match &config.company_key {
        CompanyKeySource::Disabled => None,
        CompanyKeySource::EmailDomain => {
            let email = customer.and_then(CustomerRow::email).or_else(|| {
                newest(rows.iter().map(|r| r.stamped_email().as_ref())).map(|e| e.expose())
            });
            company_key(email, &Metadata::new(), config)
        }
        CompanyKeySource::Metadata(key) => {
            let value = newest(rows.iter().map(|r| r.stamped_metadata(key)))?;
            let metadata = Metadata::from([(key.clone(), value.clone())]);
            company_key(None, &metadata, config)
        }
    }
}

/// The properties of the company `key` from its members, each a contact's customer row (when
/// it has one) and payment rows: [`CompanyRollup`] over `members`, for callers that hold every
/// member's rows at once.
///
/// ```
/// use stripe2hubspot_map::{company_properties_of, CompanyKey, MappingConfig};
/// let key = CompanyKey::Domain("acme.com".into());
/// let company = company_properties_of(&key, &[(None, &[])], &MappingConfig::default());
/// assert_eq!(company.get("name"), Some("acme.com"));
/// assert_eq!(company.get("stripe_payment_count"), Some("0"));
/// ```
pub fn company_properties_of(
    key: &CompanyKey,
    members: &[(Option<&CustomerRow>, &[LedgerRow])],
    config: &MappingConfig,
) -> PropertySet {
    let mut rollup = CompanyRollup::default();
    for (customer, rows) in members {
        rollup.add(*customer, rows, config);
    }
    rollup.properties(key, config)
}

/// A company's properties accumulated one member at a time, so a company of many customers
/// never needs all their ledger rows at once: each member's rows are reduced to the few values
/// the rollups read when added, and may be dropped after [`add`](Self::add).
///
/// [`properties`](Self::properties) gives [`company_properties`](crate::company_properties) over every member's rows and
/// customer, with the name hint taken from them:
///
/// - `metadata_company`: the `metadata.company` of the newest payment that has one;
/// - `business_name`: the newest `business_name` a customer object carried (Stripe sets it only
///   for a business).
///
/// A payment listed under two members (the same key) or a customer listed twice (the same id)
/// counts once (the payment as its newest fact tells it; the customer rows merged), so the
/// result depends neither on the order of the members nor on the order of each one's rows.
#[derive(Debug, Clone, Default)]
pub struct CompanyRollup {
    payments: BTreeMap<String, RollupItem>,
    metadata_company: Option<Stamped<String>>,
    customers: BTreeMap<String, CustomerRow>,
    anonymous: Vec<CustomerRow>,
}

impl CompanyRollup {
    /// Adds one member: its customer row, when it has one, and its payment rows.
    pub fn add(
        &mut self,
        customer: Option<&CustomerRow>,
        rows: &[LedgerRow],
        config: &MappingConfig,
    ) {
        for item in rollup_items(rows, config) {
            match self.payments.get(item.key()) {
                Some(known) if newest_item(known, &item) == known => {}
                _ => {
                    self.payments.insert(item.key().to_owned(), item);
                }
            }
        }
        let metadata_company = rows
            .iter()
            .filter_map(|r| r.stamped_metadata(COMPANY_NAME_METADATA))
            .max();
        if metadata_company > self.metadata_company.as_ref() {
            self.metadata_company = metadata_company.cloned();
        }
        let Some(customer) = customer else { return };
        match customer.customer_id() {
            Some(id) => {
                let merged = match self.customers.get(id) {
                    Some(known) => known.merge(customer),
                    None => customer.clone(),
                };
                self.customers.insert(id.to_owned(), merged);
            }
            // Only an empty row lacks its customer id; nothing to merge it with.
            None => self.anonymous.push(customer.clone()),
        }
    }

    /// The company's properties over every member added.
    pub fn properties(self, key: &CompanyKey, config: &MappingConfig) -> PropertySet {
        let business_name = self
            .customers
            .values()
            .filter_map(CustomerRow::stamped_business_name)
            .max()
            .map(|(_, name)| name);
        let hint = CompanyNameHint {
            metadata_company: present(self.metadata_company.as_ref().map(|m| m.value.as_str())),
            business_name,
        };
        let customers: Vec<&CustomerRow> = self.customers.values().chain(&self.anonymous).collect();
        let payments: Vec<RollupItem> = self.payments.into_values().collect();
        company_properties_from_items(hint, key, payments, &customers, config)
    }
}

/// Of two items of one payment, the one its newest fact gave (ties broken by the values, so
/// the order they come in does not matter).
fn newest_item<'a>(a: &'a RollupItem, b: &'a RollupItem) -> &'a RollupItem {
    let rank = |i: &'a RollupItem| i.rank();
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}
