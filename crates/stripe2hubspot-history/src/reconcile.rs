//! Reconcile: compare the deals HubSpot holds with the deals the ledger expects and report
//! the drift (repair hands it to the syncer: see `repair.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use hubspot_crm::{SearchRequest, SimplePublicObject};
use stripe2hubspot_map::{
    deal_properties, ContactKey, LedgerRow, MappingConfig, PropertySet, PAYMENT_ID_PROPERTY,
};
use stripe2hubspot_queue::{LedgerEntry, WrittenDeal};

use super::companies::CompanyReport;
use super::compare::same_value;
use super::customers::CustomerReport;
use super::line_items::LineItemReport;

/// Ids per batch read or upsert: HubSpot's batch limit.
pub(crate) const BATCH: usize = 100;

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
    /// The contact the deal belongs to.
    pub contact: Option<ContactKey>,
    /// The ledger version the properties come from (`None`: not read from the store; repair
    /// then takes the row's version when it runs).
    pub version: Option<i64>,
    /// The deal the ledger recorded for the payment. When its `stripe_payment_id` is an
    /// older key of the payment (the syncer has not moved it yet), check finds the deal by
    /// its HubSpot id instead of reporting it missing.
    pub recorded_deal: Option<WrittenDeal>,
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
            .field("version", &self.version)
            .field("recorded_deal", &self.recorded_deal)
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
            version: None,
            recorded_deal: None,
        })
    }

    /// The deal a stored ledger row gives, with the row's version and recorded deal, so repair
    /// skips a row that moved on and check finds a deal whose move is pending.
    pub fn from_entry(entry: &LedgerEntry, config: &MappingConfig) -> Option<ExpectedDeal> {
        let expected = ExpectedDeal::from_ledger(&entry.row, config)?;
        Some(ExpectedDeal {
            version: Some(entry.version),
            recorded_deal: entry.deal.clone(),
            ..expected
        })
    }

    /// The deal id to look for when HubSpot has no deal under the payment's key: the
    /// recorded deal's, when it was written under another key.
    fn pending_move(&self) -> Option<&str> {
        self.recorded_deal
            .as_ref()
            .filter(|d| d.stripe_payment_id != self.payment_id)
            .map(|d| d.deal_id.as_str())
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
    /// The customers' contacts ([`Reconcile::check_customers`]); empty when not checked.
    pub customers: CustomerReport,
    /// The companies ([`Reconcile::check_companies`]); empty when not checked.
    pub companies: CompanyReport,
    /// The deals' line items ([`Reconcile::check_line_items`]); empty when not checked.
    pub line_items: LineItemReport,
}

impl ReconcileReport {
    /// Whether every expected deal, every checked customer's contact, every checked company
    /// and every checked line item exists and matches.
    pub fn is_in_sync(&self) -> bool {
        self.drifted.is_empty()
            && self.missing.is_empty()
            && self.customers.is_in_sync()
            && self.companies.is_in_sync()
            && self.line_items.is_in_sync()
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
        if self.customers.checked > 0 {
            write!(f, "\n{}", self.customers)?;
        }
        if self.companies.checked > 0 || self.companies.not_checked.is_some() {
            write!(f, "\n{}", self.companies)?;
        }
        if self.line_items.checked > 0 || self.line_items.not_checked.is_some() {
            write!(f, "\n{}", self.line_items)?;
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
    /// The store (ledger or queue) could not be read or written.
    #[error("the store failed during {during}: {source}; check STRIPE2HUBSPOT_QUEUE is reachable and run reconcile again")]
    Store {
        /// What reconcile was doing.
        during: &'static str,
        /// The store's error.
        #[source]
        source: stripe2hubspot_queue::QueueError,
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

/// Compares HubSpot's deals with the ledger's; [`repair`](Reconcile::repair) hands the
/// differences to the syncer.
///
/// Reads go through the client's limiter, which is the portal's budget only within one
/// process: a reconcile run beside a server spends the same portal's requests from a second
/// limiter. Give it a lower `HUBSPOT_RATE_LIMIT` so the two together stay under the portal's
/// limit. Repairs are written by the sync engine (the portal's one writer and one budget).
#[derive(Debug, Clone)]
pub struct Reconcile {
    b: ReconcileBuilder,
}

/// Whether `error` says a side object (companies, line items) cannot be read at all in this
/// portal: the token lacks its scopes (403), or its key property is not there yet (400: not a
/// unique property; 404), as before the engine's first pass of a feature just turned on.
/// Reconcile then reports that object type unchecked instead of failing, as a missing scope
/// pauses that feature alone in the engine.
pub(crate) fn side_unreadable(error: &hubspot_crm::Error) -> bool {
    matches!(
        error,
        hubspot_crm::Error::Forbidden { .. }
            | hubspot_crm::Error::Validation { .. }
            | hubspot_crm::Error::NotFound { .. }
    )
}

pub(crate) fn hubspot(during: &'static str) -> impl FnOnce(hubspot_crm::Error) -> ReconcileError {
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

    /// The HubSpot client reads go through.
    pub(crate) fn client(&self) -> &hubspot_crm::Client {
        &self.b.client
    }

    /// How many drifted objects, and differences per object, reports keep.
    pub(crate) fn shown(&self) -> usize {
        self.b.shown
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
            let moving: Vec<String> = chunk
                .iter()
                .filter(|e| !found.contains_key(e.payment_id.as_str()))
                .filter_map(|e| e.pending_move().map(str::to_owned))
                .collect();
            let moved = if moving.is_empty() {
                Vec::new()
            } else {
                report.requests += 1;
                deals
                    .batch_read(None, &moving, &names)
                    .await
                    .map_err(hubspot("batch read of deals by id"))?
                    .results
            };
            let by_deal_id: BTreeMap<&str, &SimplePublicObject> =
                moved.iter().map(|o| (o.id.as_str(), o)).collect();
            for want in chunk {
                report.checked += 1;
                // A deal whose move to the payment's key is pending is found by its id: the
                // syncer moves it, so it is drift (its stripe_payment_id), never missing.
                let deal = found.get(want.payment_id.as_str()).or_else(|| {
                    want.pending_move()
                        .and_then(|deal_id| by_deal_id.get(deal_id))
                });
                let Some(deal) = deal else {
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
}
