//! Reconcile of the customer ledger: the subscription properties (status, MRR, ARR, plan,
//! dates) HubSpot holds on each customer's contact against what the customer row derives, and
//! their repair through the syncer, as for deals (see `repair.rs` for why the syncer writes).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::{Duration, SystemTime};

use hubspot_crm::SimplePublicObject;
use stripe2hubspot_engine::customer_repair_job;
use stripe2hubspot_map::{subscription_properties, MappingConfig, PropertySet};
use stripe2hubspot_queue::{customer_contact_key, CustomerEntry, QueueError, Store};

use super::compare::same_value;
use super::reconcile::{hubspot, Difference, Reconcile, ReconcileError, ReconcileProgress, BATCH};
use super::repair::queue_is_idle;

/// Customer rows read per page, and contacts per batch read: HubSpot's batch limit.
const CUSTOMER_PAGE: usize = BATCH;

/// The subscription properties the customer ledger expects on one customer's contact.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedContact {
    /// The Stripe customer (`cus_...`).
    pub customer_id: String,
    /// The HubSpot contact the store recorded for the customer.
    pub contact_id: String,
    /// The subscription properties
    /// ([`subscription_properties`](stripe2hubspot_map::subscription_properties)) with their
    /// values; none of them is personal.
    pub properties: PropertySet,
    /// The customer row's version the properties come from, so repair leaves alone a customer
    /// that moved on since.
    pub version: i64,
}

impl ExpectedContact {
    /// What a stored customer row expects on its contact `contact_id`.
    pub fn from_entry(
        entry: &CustomerEntry,
        contact_id: &str,
        config: &MappingConfig,
    ) -> ExpectedContact {
        ExpectedContact {
            customer_id: entry.customer_id.clone(),
            contact_id: contact_id.to_owned(),
            properties: subscription_properties(&entry.row, config),
            version: entry.version,
        }
    }
}

/// Every customer of the store whose contact HubSpot confirmed (the store recorded its
/// contact id under [`customer_contact_key`]) and that is not deleted, in customer id order.
/// A customer without a recorded contact has not been written yet, or has no email to make
/// one: there is nothing in HubSpot to compare.
pub async fn expected_contacts(
    store: &Store,
    config: &MappingConfig,
) -> Result<Vec<ExpectedContact>, QueueError> {
    let mut expected = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = store
            .state
            .customer_rows(after.as_deref(), CUSTOMER_PAGE)
            .await?;
        let Some(last) = page.last() else {
            return Ok(expected);
        };
        after = Some(last.customer_id.clone());
        let keys: Vec<String> = page
            .iter()
            .map(|entry| customer_contact_key(&entry.customer_id, config))
            .collect();
        let marks = store.state.contact_marks(&keys).await?;
        for (entry, key) in page.iter().zip(&keys) {
            if entry.row.is_deleted() {
                continue;
            }
            if let Some(mark) = marks.get(key) {
                expected.push(ExpectedContact::from_entry(entry, &mark.contact_id, config));
            }
        }
    }
}

/// A customer's contact whose subscription properties differ from the customer row's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerDrift {
    /// The Stripe customer.
    pub customer_id: String,
    /// HubSpot's contact id.
    pub contact_id: String,
    /// How many properties differ.
    pub count: usize,
    /// The first differences (up to the configured number).
    pub differences: Vec<Difference>,
}

/// What reconcile found on the customers' contacts; part of a
/// [`ReconcileReport`](super::ReconcileReport) (its `customers`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerReport {
    /// Customers checked.
    pub checked: u64,
    /// Contacts whose every subscription property matches.
    pub in_sync: u64,
    /// Contacts that differ, in customer id order.
    pub drifted: Vec<CustomerDrift>,
    /// Customers whose recorded contact HubSpot no longer has (deleted, or merged away).
    pub missing: Vec<String>,
    /// HubSpot requests made.
    pub requests: u64,
    /// How many drifted contacts and differences [`Display`](fmt::Display) shows.
    pub shown: usize,
}

impl CustomerReport {
    /// Whether every checked contact exists and matches.
    pub fn is_in_sync(&self) -> bool {
        self.drifted.is_empty() && self.missing.is_empty()
    }
}

impl fmt::Display for CustomerReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "reconcile: {} customers checked: {} in sync, {} drifted, {} missing in HubSpot ({} HubSpot requests)",
            self.checked,
            self.in_sync,
            self.drifted.len(),
            self.missing.len(),
            self.requests
        )?;
        for drift in self.drifted.iter().take(self.shown) {
            write!(
                f,
                "\n  drifted {} (contact {}, {} properties):",
                drift.customer_id, drift.contact_id, drift.count
            )?;
            for difference in &drift.differences {
                write!(f, "\n    {difference}")?;
            }
        }
        for id in self.missing.iter().take(self.shown) {
            write!(f, "\n  missing {id}")?;
        }
        Ok(())
    }
}

/// What repair handed to the syncer for customers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CustomerRepairSummary {
    /// Customers marked unwritten and queued for the syncer, by id.
    pub queued: Vec<String>,
    /// Customers whose rows changed since the check: the syncer writes them anyway.
    pub moved_on: Vec<String>,
}

impl fmt::Display for CustomerRepairSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "repair: {} customers' contacts queued for the syncer, {} changed since the check (the syncer writes them anyway)",
            self.queued.len(),
            self.moved_on.len()
        )
    }
}

impl Reconcile {
    /// Compares the subscription properties of every expected contact with HubSpot's (batch
    /// reads of 100 contacts by id), calling `progress` after each batch.
    pub async fn check_customers<F>(
        &self,
        expected: &[ExpectedContact],
        mut progress: F,
    ) -> Result<CustomerReport, ReconcileError>
    where
        F: FnMut(&ReconcileProgress) + Send,
    {
        let contacts = self.client().contacts();
        let mut report = CustomerReport {
            shown: self.shown(),
            ..CustomerReport::default()
        };
        let total = expected.len() as u64;
        for chunk in expected.chunks(BATCH) {
            let ids: Vec<String> = chunk
                .iter()
                .map(|e| e.contact_id.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let names: Vec<String> = chunk
                .iter()
                .flat_map(|e| e.properties.iter().map(|(k, _)| k.to_owned()))
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            report.requests += 1;
            let read = contacts
                .batch_read(None, &ids, &names)
                .await
                .map_err(hubspot("batch read of contacts"))?;
            let found: BTreeMap<&str, &SimplePublicObject> =
                read.results.iter().map(|o| (o.id.as_str(), o)).collect();
            for want in chunk {
                report.checked += 1;
                let Some(contact) = found.get(want.contact_id.as_str()) else {
                    report.missing.push(want.customer_id.clone());
                    continue;
                };
                let differences: Vec<Difference> = want
                    .properties
                    .iter()
                    .filter(|(name, value)| !same_value(&value.value, contact.property(name)))
                    .map(|(name, value)| Difference {
                        property: name.to_owned(),
                        expected: value.value.clone(),
                        found: contact.property(name).map(str::to_owned),
                    })
                    .collect();
                if differences.is_empty() {
                    report.in_sync += 1;
                } else {
                    report.drifted.push(CustomerDrift {
                        customer_id: want.customer_id.clone(),
                        contact_id: want.contact_id.clone(),
                        count: differences.len(),
                        differences: differences.into_iter().take(self.shown()).collect(),
                    });
                }
            }
            progress(&ReconcileProgress {
                checked: report.checked,
                total,
            });
        }
        report
            .drifted
            .sort_by(|a, b| a.customer_id.cmp(&b.customer_id));
        report.missing.sort();
        Ok(report)
    }

    /// Hands every drifted or missing contact of `report` to the syncer: marks the customer
    /// unwritten if its version is still the one `expected` carries, and queues a customer
    /// repair job in `store`; the engine writes the contact from the customer row as it stands
    /// then (a contact HubSpot lost is found again or created by the engine). Nothing is
    /// written to HubSpot here.
    pub async fn repair_customers(
        &self,
        store: &Store,
        expected: &[ExpectedContact],
        report: &CustomerReport,
    ) -> Result<CustomerRepairSummary, ReconcileError> {
        let store_error = |during| move |source| ReconcileError::Store { during, source };
        let wanted: BTreeSet<&str> = report
            .drifted
            .iter()
            .map(|d| d.customer_id.as_str())
            .chain(report.missing.iter().map(String::as_str))
            .collect();
        let mut summary = CustomerRepairSummary::default();
        for want in expected
            .iter()
            .filter(|e| wanted.contains(e.customer_id.as_str()))
        {
            let reset = store
                .state
                .reset_customer_written(&want.customer_id, want.version)
                .await
                .map_err(store_error("the reset of a drifted customer"))?;
            if !reset {
                summary.moved_on.push(want.customer_id.clone());
                continue;
            }
            store
                .queue
                .enqueue(customer_repair_job(&want.customer_id, SystemTime::now()))
                .await
                .map_err(store_error("queueing a customer repair"))?;
            summary.queued.push(want.customer_id.clone());
        }
        Ok(summary)
    }

    /// Waits until every customer `summary` queued is written by the syncer, looking every
    /// `poll`; returns those still unwritten once the queue holds nothing ready, delayed or
    /// leased (see the dead letters). With no syncer running it waits for ever.
    pub async fn wait_for_customer_repairs(
        &self,
        store: &Store,
        summary: &CustomerRepairSummary,
        poll: Duration,
    ) -> Result<Vec<String>, ReconcileError> {
        let store_error = |during| move |source| ReconcileError::Store { during, source };
        loop {
            let rows = store
                .state
                .customers(&summary.queued)
                .await
                .map_err(store_error("the read of repaired customers"))?;
            let unwritten: Vec<String> = summary
                .queued
                .iter()
                .filter(|id| rows.get(*id).is_some_and(CustomerEntry::is_unwritten))
                .cloned()
                .collect();
            if unwritten.is_empty() || queue_is_idle(store).await? {
                return Ok(unwritten);
            }
            tokio::time::sleep(poll).await;
        }
    }
}
