//! Reconcile: compare the deals HubSpot holds with the deals the ledger expects, report the
//! drift, and write the expected properties back on request.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hubspot_crm::{ObjectType, SearchRequest, UpsertInput};
use stripe2hubspot_map::{
    deal_properties, ContactKey, LedgerRow, MappingConfig, PropertySet, PAYMENT_ID_PROPERTY,
};

use super::compare::same_value;

/// Ids per batch read or upsert: HubSpot's batch limit.
const BATCH: usize = 100;

/// Results per search page: HubSpot's search limit.
const SEARCH_PAGE: u32 = 200;

/// Differences kept per drifted deal, and drifted deals shown, unless configured.
pub const DEFAULT_SHOWN_DIFFERENCES: usize = 5;

/// Properties whose values may be personal (a deal name made from the payer's name): reports
/// name them but do not print their values.
const PERSONAL_PROPERTIES: [&str; 2] = ["dealname", "description"];

/// The deal the ledger expects for one payment.
#[derive(Clone, PartialEq)]
pub struct ExpectedDeal {
    /// The payment's key, the deal's `stripe_payment_id`.
    pub payment_id: String,
    /// Every property the mapping owns on the deal, with its value.
    pub properties: PropertySet,
    /// The contact the deal belongs to, to associate a deal that repair re-creates.
    pub contact: Option<ContactKey>,
}

impl fmt::Debug for ExpectedDeal {
    // The contact key may be an email: show only the payment id and property names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectedDeal")
            .field("payment_id", &self.payment_id)
            .field(
                "properties",
                &self.properties.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("has_contact", &self.contact.is_some())
            .finish()
    }
}

impl ExpectedDeal {
    /// The deal a ledger row gives, or `None` while the payment waits (see
    /// [`deal_properties`]).
    pub fn from_ledger(row: &LedgerRow, config: &MappingConfig) -> Option<ExpectedDeal> {
        let properties = deal_properties(row, config)?;
        Some(ExpectedDeal {
            payment_id: row.key()?.to_owned(),
            properties,
            contact: row.contact_key(config),
        })
    }
}

/// One property that differs.
#[derive(Clone, PartialEq, Eq)]
pub struct Difference {
    /// The property.
    pub property: String,
    /// The ledger's value.
    pub expected: String,
    /// HubSpot's value (`None`: unset).
    pub found: Option<String>,
}

impl Difference {
    fn personal(&self) -> bool {
        PERSONAL_PROPERTIES.contains(&self.property.as_str())
    }
}

impl fmt::Debug for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Difference({})", self.property)
    }
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.personal() {
            return write!(f, "{} differs (value not shown)", self.property);
        }
        match &self.found {
            Some(found) => write!(
                f,
                "{}: HubSpot has {found:?}, expected {:?}",
                self.property, self.expected
            ),
            None => write!(
                f,
                "{}: unset in HubSpot, expected {:?}",
                self.property, self.expected
            ),
        }
    }
}

/// A deal whose properties differ from the ledger's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Drift {
    /// The payment.
    pub payment_id: String,
    /// HubSpot's deal id.
    pub deal_id: String,
    /// How many properties differ.
    pub count: usize,
    /// The first differences (up to the configured number).
    pub differences: Vec<Difference>,
}

/// What reconcile found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReconcileReport {
    /// Payments checked.
    pub checked: u64,
    /// Deals whose every owned property matches.
    pub in_sync: u64,
    /// Deals that differ, in payment id order.
    pub drifted: Vec<Drift>,
    /// Payments without a deal in HubSpot.
    pub missing: Vec<String>,
    /// `stripe_payment_id`s of HubSpot deals the ledger does not know (not searched when
    /// [`find_unknown`](ReconcileBuilder::find_unknown) is off).
    pub unknown: Vec<String>,
    /// HubSpot requests made.
    pub requests: u64,
    /// How many drifted deals and differences [`Display`](fmt::Display) shows.
    pub shown: usize,
}

impl ReconcileReport {
    /// Whether every expected deal exists and matches.
    pub fn is_in_sync(&self) -> bool {
        self.drifted.is_empty() && self.missing.is_empty()
    }

    /// The CLI's exit status for this report: 0 in sync, 1 drift found (and not repaired).
    pub fn exit_code(&self) -> i32 {
        if self.is_in_sync() {
            0
        } else {
            1
        }
    }
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reconcile: {} payments checked: {} in sync, {} drifted, {} missing in HubSpot, {} unknown to the ledger ({} HubSpot requests)",
            self.checked,
            self.in_sync,
            self.drifted.len(),
            self.missing.len(),
            self.unknown.len(),
            self.requests
        )?;
        for drift in self.drifted.iter().take(self.shown) {
            write!(
                f,
                "\n  drifted {} (deal {}, {} properties):",
                drift.payment_id, drift.deal_id, drift.count
            )?;
            for difference in &drift.differences {
                write!(f, "\n    {difference}")?;
            }
        }
        for id in self.missing.iter().take(self.shown) {
            write!(f, "\n  missing {id}")?;
        }
        for id in self.unknown.iter().take(self.shown) {
            write!(f, "\n  unknown {id}")?;
        }
        Ok(())
    }
}

/// What repair wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairSummary {
    /// Drifted deals updated.
    pub updated: u64,
    /// Missing deals created.
    pub created: u64,
    /// Re-created deals associated with their contact.
    pub associated: u64,
    /// Payments HubSpot refused to write, with its message.
    pub failed: Vec<(String, String)>,
    /// HubSpot requests made.
    pub requests: u64,
}

impl fmt::Display for RepairSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "repair: {} deals updated, {} created ({} associated with their contact), {} failed ({} HubSpot requests)",
            self.updated,
            self.created,
            self.associated,
            self.failed.len(),
            self.requests
        )?;
        for (id, message) in self.failed.iter().take(DEFAULT_SHOWN_DIFFERENCES) {
            write!(f, "\n  {id}: {message}")?;
        }
        Ok(())
    }
}

/// What went wrong in a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// HubSpot refused or failed a call after the client's retries.
    #[error("HubSpot {during} failed: {source}; check the token's scopes (crm.objects.deals.read/write, crm.objects.contacts.read) and run reconcile again")]
    HubSpot {
        /// What reconcile was doing.
        during: &'static str,
        /// The client's error.
        #[source]
        source: hubspot_crm::Error,
    },
}

/// Where a reconcile stands, after each batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileProgress {
    /// Payments compared so far.
    pub checked: u64,
    /// Payments to compare.
    pub total: u64,
}

/// Configures a [`Reconcile`].
#[derive(Debug, Clone)]
pub struct ReconcileBuilder {
    client: hubspot_crm::Client,
    shown: usize,
    find_unknown: bool,
}

impl ReconcileBuilder {
    /// How many drifted deals, and differences per deal, the report keeps for display
    /// (default [`DEFAULT_SHOWN_DIFFERENCES`]).
    pub fn shown_differences(mut self, n: usize) -> Self {
        self.shown = n;
        self
    }

    /// Whether to search HubSpot for deals the ledger does not know (default on; turn it off
    /// when the expected deals are only a date range's, since older deals would all be
    /// "unknown"). HubSpot's search returns at most 10,000 results.
    pub fn find_unknown(mut self, on: bool) -> Self {
        self.find_unknown = on;
        self
    }

    /// The reconcile.
    pub fn build(self) -> Reconcile {
        Reconcile { b: self }
    }
}

/// Compares HubSpot's deals with the ledger's and repairs the differences.
///
/// Reads and repairs go through the client's limiter, which is the portal's budget only
/// within one process: a reconcile run beside a server spends the same portal's requests
/// from a second limiter. Run it while the server is idle, or give it a lower
/// `HUBSPOT_RATE_LIMIT` so the two together stay under the portal's limit. Repair writes the
/// expected properties directly (batch upserts by `stripe_payment_id`); confirm with one more
/// [`check`](Reconcile::check).
#[derive(Debug, Clone)]
pub struct Reconcile {
    b: ReconcileBuilder,
}

fn hubspot(during: &'static str) -> impl FnOnce(hubspot_crm::Error) -> ReconcileError {
    move |source| ReconcileError::HubSpot { during, source }
}

impl Reconcile {
    /// A reconcile reading and writing with `client`.
    pub fn builder(client: hubspot_crm::Client) -> ReconcileBuilder {
        ReconcileBuilder {
            client,
            shown: DEFAULT_SHOWN_DIFFERENCES,
            find_unknown: true,
        }
    }

    /// Compares every expected deal with HubSpot's (batch reads of 100 by `stripe_payment_id`),
    /// calling `progress` after each batch.
    pub async fn check<F>(
        &self,
        expected: &[ExpectedDeal],
        mut progress: F,
    ) -> Result<ReconcileReport, ReconcileError>
    where
        F: FnMut(&ReconcileProgress) + Send,
    {
        let deals = self.b.client.deals();
        let mut report = ReconcileReport {
            shown: self.b.shown,
            ..ReconcileReport::default()
        };
        let total = expected.len() as u64;
        for chunk in expected.chunks(BATCH) {
            let ids: Vec<String> = chunk.iter().map(|e| e.payment_id.clone()).collect();
            let names: BTreeSet<String> = chunk
                .iter()
                .flat_map(|e| e.properties.iter().map(|(k, _)| k.to_owned()))
                .chain([PAYMENT_ID_PROPERTY.to_owned()])
                .collect();
            let names: Vec<String> = names.into_iter().collect();
            report.requests += 1;
            let read = deals
                .batch_read(Some(PAYMENT_ID_PROPERTY), &ids, &names)
                .await
                .map_err(hubspot("batch read of deals"))?;
            let found: BTreeMap<&str, &hubspot_crm::SimplePublicObject> = read
                .results
                .iter()
                .filter_map(|o| Some((o.property(PAYMENT_ID_PROPERTY)?, o)))
                .collect();
            for want in chunk {
                report.checked += 1;
                let Some(deal) = found.get(want.payment_id.as_str()) else {
                    report.missing.push(want.payment_id.clone());
                    continue;
                };
                let differences: Vec<Difference> = want
                    .properties
                    .iter()
                    .filter(|(name, value)| !same_value(&value.value, deal.property(name)))
                    .map(|(name, value)| Difference {
                        property: name.to_owned(),
                        expected: value.value.clone(),
                        found: deal.property(name).map(str::to_owned),
                    })
                    .collect();
                if differences.is_empty() {
                    report.in_sync += 1;
                } else {
                    report.drifted.push(Drift {
                        payment_id: want.payment_id.clone(),
                        deal_id: deal.id.clone(),
                        count: differences.len(),
                        differences: differences.into_iter().take(self.b.shown).collect(),
                    });
                }
            }
            progress(&ReconcileProgress {
                checked: report.checked,
                total,
            });
        }
        if self.b.find_unknown {
            let known: BTreeSet<&str> = expected.iter().map(|e| e.payment_id.as_str()).collect();
            let (unknown, requests) = self.unknown_deals(&known).await?;
            report.unknown = unknown;
            report.requests += requests;
        }
        report
            .drifted
            .sort_by(|a, b| a.payment_id.cmp(&b.payment_id));
        report.missing.sort();
        Ok(report)
    }

    /// Every deal with a `stripe_payment_id` not in `known`, searched page by page.
    async fn unknown_deals(
        &self,
        known: &BTreeSet<&str>,
    ) -> Result<(Vec<String>, u64), ReconcileError> {
        let deals = self.b.client.deals();
        let mut unknown = Vec::new();
        let mut requests = 0;
        let mut after: Option<String> = None;
        loop {
            let mut search = SearchRequest::new()
                .filter_has_property(PAYMENT_ID_PROPERTY)
                .properties([PAYMENT_ID_PROPERTY])
                .limit(SEARCH_PAGE);
            if let Some(after) = &after {
                search = search.after(after.clone());
            }
            requests += 1;
            let page = deals
                .search(&search)
                .await
                .map_err(hubspot("search for deals with a stripe_payment_id"))?;
            unknown.extend(
                page.results
                    .iter()
                    .filter_map(|o| o.property(PAYMENT_ID_PROPERTY))
                    .filter(|id| !known.contains(id))
                    .map(str::to_owned),
            );
            match page.next_after() {
                Some(next) if !page.results.is_empty() => after = Some(next.to_owned()),
                _ => break,
            }
        }
        unknown.sort();
        unknown.dedup();
        Ok((unknown, requests))
    }

    /// Writes the expected properties of every drifted and missing deal in `report` (batch
    /// upserts of 100 by `stripe_payment_id`) and associates re-created deals with their
    /// contact. Run [`check`](Self::check) afterwards to confirm.
    pub async fn repair(
        &self,
        expected: &[ExpectedDeal],
        report: &ReconcileReport,
    ) -> Result<RepairSummary, ReconcileError> {
        let drifted: BTreeSet<&str> = report
            .drifted
            .iter()
            .map(|d| d.payment_id.as_str())
            .collect();
        let missing: BTreeSet<&str> = report.missing.iter().map(String::as_str).collect();
        let todo: Vec<&ExpectedDeal> = expected
            .iter()
            .filter(|e| {
                drifted.contains(e.payment_id.as_str()) || missing.contains(e.payment_id.as_str())
            })
            .collect();
        let mut summary = RepairSummary::default();
        let mut created: Vec<(String, &ContactKey)> = Vec::new();
        for chunk in todo.chunks(BATCH) {
            let inputs: Vec<UpsertInput> = chunk
                .iter()
                .map(|e| {
                    UpsertInput::new(
                        PAYMENT_ID_PROPERTY,
                        e.payment_id.clone(),
                        e.properties.to_map(),
                    )
                    .trace_id(e.payment_id.clone())
                })
                .collect();
            summary.requests += 1;
            let result = self
                .b
                .client
                .deals()
                .batch_upsert(&inputs)
                .await
                .map_err(hubspot("batch upsert of deals"))?;
            let by_id: BTreeMap<&str, &ExpectedDeal> =
                chunk.iter().map(|e| (e.payment_id.as_str(), *e)).collect();
            for written in &result.results {
                let Some(payment_id) = written
                    .object
                    .property(PAYMENT_ID_PROPERTY)
                    .or(written.object_write_trace_id.as_deref())
                else {
                    continue;
                };
                if written.new || missing.contains(payment_id) {
                    summary.created += 1;
                    if let Some(contact) = by_id.get(payment_id).and_then(|e| e.contact.as_ref()) {
                        created.push((written.object.id.clone(), contact));
                    }
                } else {
                    summary.updated += 1;
                }
            }
            for error in &result.errors {
                let ids = error.context.get("ids").cloned().unwrap_or_default();
                for id in ids {
                    summary.failed.push((id, error.message.clone()));
                }
            }
        }
        summary.associated = self.associate(&created, &mut summary.requests).await?;
        Ok(summary)
    }

    /// Associates re-created deals with their contacts, found by their key; returns how many.
    async fn associate(
        &self,
        created: &[(String, &ContactKey)],
        requests: &mut u64,
    ) -> Result<u64, ReconcileError> {
        let mut by_property: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::new();
        for (deal_id, key) in created {
            by_property
                .entry(key.id_property())
                .or_default()
                .push((deal_id.as_str(), key.value()));
        }
        let mut associated = 0;
        for (property, links) in by_property {
            for chunk in links.chunks(BATCH) {
                let values: BTreeSet<String> = chunk.iter().map(|(_, v)| (*v).to_owned()).collect();
                let values: Vec<String> = values.into_iter().collect();
                *requests += 1;
                let contacts = self
                    .b
                    .client
                    .contacts()
                    .batch_read(Some(property), &values, &[property.to_owned()])
                    .await
                    .map_err(hubspot("batch read of contacts"))?;
                let ids: BTreeMap<String, String> = contacts
                    .results
                    .iter()
                    .filter_map(|c| {
                        let value = c.property(property)?;
                        let value = if property == "email" {
                            value.trim().to_lowercase()
                        } else {
                            value.to_owned()
                        };
                        Some((value, c.id.clone()))
                    })
                    .collect();
                let pairs: Vec<(String, String)> = chunk
                    .iter()
                    .filter_map(|(deal, value)| {
                        Some(((*deal).to_owned(), ids.get(*value)?.clone()))
                    })
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                *requests += 1;
                let result = self
                    .b
                    .client
                    .associations()
                    .batch_associate_default(
                        &ObjectType::Deals,
                        &ObjectType::Contacts,
                        pairs.iter().cloned(),
                    )
                    .await
                    .map_err(hubspot("association of re-created deals"))?;
                // HubSpot answers each pair in both directions: count the pairs confirmed.
                let confirmed = pairs
                    .iter()
                    .filter(|(deal, contact)| {
                        result.results.iter().any(|a| {
                            (a.from.id == *deal && a.to.id == *contact)
                                || (a.from.id == *contact && a.to.id == *deal)
                        })
                    })
                    .count();
                associated += confirmed as u64;
            }
        }
        Ok(associated)
    }
}
