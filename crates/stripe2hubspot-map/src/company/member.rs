//! The company of one contact, and the properties of a company from its members' ledgers: the
//! entry points the engine uses, built on [`company_key`] and [`company_properties`].

use std::collections::BTreeMap;

use stripe_events::Metadata;

use crate::config::MappingConfig;
use crate::customer::CustomerRow;
use crate::ledger::{LedgerRow, Stamped};
use crate::property_set::PropertySet;
use crate::text::present;

use super::key::{company_key, CompanyKey};
use super::properties::{company_properties, CompanyNameHint};
use super::source::CompanyKeySource;

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
/// it has one) and payment rows: [`company_properties`] over all their rows and customers,
/// with the name hint taken from them:
///
/// - `metadata_company`: the `metadata.company` of the newest payment that has one;
/// - `business_name`: none yet (customer rows do not record whether Stripe marks a customer a
///   business), so the name falls back to the domain.
///
/// A payment row listed under two members (the same key) or a customer listed twice (the same
/// id) counts once: duplicates are merged, so the result depends neither on the order of
/// `members` nor on the order of each member's rows.
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
    let mut rows: BTreeMap<&str, LedgerRow> = BTreeMap::new();
    let mut keyless: Vec<&LedgerRow> = Vec::new();
    for row in members.iter().flat_map(|(_, rows)| rows.iter()) {
        match row.key() {
            Some(id) => {
                let merged = match rows.get(id) {
                    Some(known) => known.merge(row),
                    None => row.clone(),
                };
                rows.insert(id, merged);
            }
            // An empty row has nothing to count; kept only so that nothing is dropped silently.
            None => keyless.push(row),
        }
    }
    let mut customers: BTreeMap<&str, CustomerRow> = BTreeMap::new();
    let mut anonymous: Vec<&CustomerRow> = Vec::new();
    for customer in members.iter().filter_map(|(c, _)| *c) {
        let Some(id) = customer.customer_id() else {
            // Only an empty row lacks its customer id; nothing to merge it with.
            anonymous.push(customer);
            continue;
        };
        let merged = match customers.get(id) {
            Some(known) => known.merge(customer),
            None => customer.clone(),
        };
        customers.insert(id, merged);
    }
    let all_rows: Vec<&LedgerRow> = rows.values().chain(keyless).collect();
    let metadata_company = newest(
        all_rows
            .iter()
            .map(|r| r.stamped_metadata(COMPANY_NAME_METADATA)),
    );
    let business_name = customers
        .values()
        .filter_map(CustomerRow::stamped_business_name)
        .max()
        .map(|(_, name)| name);
    let hint = CompanyNameHint {
        metadata_company: present(metadata_company.map(String::as_str)),
        business_name,
    };
    let customers: Vec<&CustomerRow> = customers.values().chain(anonymous).collect();
    company_properties(hint, key, &all_rows, &customers, config)
}
