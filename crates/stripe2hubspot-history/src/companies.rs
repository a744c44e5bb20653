//! Reconcile of companies: the rollups HubSpot holds on each company against what the ledgers
//! say (every written contact's company, [`company_of_contact`], grouped, and
//! [`company_properties_of`] over each group's members), and their repair through the engine's
//! company pass, as for deals (see `repair.rs` for why the engine writes).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::time::{Duration, Instant};

use hubspot_crm::SimplePublicObject;
use stripe2hubspot_map::{
    company_of_contact, company_properties_of, CompanyKey, CompanyKeySource, CustomerRow,
    LedgerRow, MappingConfig, PropertySet, COMPANY_KEY_PROPERTY, COMPANY_ROLLUP_PROPERTIES,
    COMPANY_SUBSCRIPTION_PROPERTIES,
};
use stripe2hubspot_queue::{
    contact_key_of, customer_contact_key, CompanyMember, QueueError, Store,
};

use super::compare::same_value;
use super::reconcile::{
    hubspot, side_unreadable, Difference, Reconcile, ReconcileError, ReconcileProgress, BATCH,
};

/// Ledger rows and customers read per page.
const PAGE: usize = 500;

/// Contact keys whose marks are read per call.
const MARKS_PER_CALL: usize = 100;

/// Dirty companies read per look while waiting for repairs: more than a reconcile repairs in
/// one run in practice; a repaired company beyond it counts as still dirty until the next look.
const DIRTY_SCAN: usize = 10_000;

/// A member while its company is gathered: what the store records, and the rows its
/// state comes from.
type Member = (ExpectedMember, Option<CustomerRow>, Vec<LedgerRow>);

/// One contact of a company as the store knows it: written to HubSpot (the store recorded
/// its contact id), with the deals of its payments.
#[derive(Clone, PartialEq, Eq)]
pub struct ExpectedMember {
    /// The contact's ledger key (as [`contact_key_of`] spells it; may hold an email).
    pub contact_key: String,
    /// The HubSpot contact id the store recorded for it.
    pub contact_id: String,
    /// The HubSpot deal ids the store recorded for its payments, in order.
    pub deal_ids: Vec<String>,
}

impl fmt::Debug for ExpectedMember {
    // The contact key may be an email: show only the ids.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExpectedMember")
            .field("contact_id", &self.contact_id)
            .field("deal_ids", &self.deal_ids)
            .finish_non_exhaustive()
    }
}

/// The company the ledgers expect: its key, the rollups it should carry, and its members.
#[derive(Debug, Clone, PartialEq)]
pub struct ExpectedCompany {
    /// The company's identity, its `stripe_company_key`.
    pub key: CompanyKey,
    /// The rollup properties compared ([`compared_company_properties`]) with their values.
    pub properties: PropertySet,
    /// Every written contact whose company this is, in contact key order.
    pub members: Vec<ExpectedMember>,
}

/// The company properties reconcile compares: the payment rollups
/// ([`COMPANY_ROLLUP_PROPERTIES`]) and, with [`MappingConfig::subscriptions`] on, the
/// subscription rollups ([`COMPANY_SUBSCRIPTION_PROPERTIES`]). Not `name`, which the engine
/// never writes over a company that exists (a user may have typed it), nor `domain`, by
/// which the engine adopts a company and which a user may spell differently.
pub fn compared_company_properties(config: &MappingConfig) -> Vec<&'static str> {
    let mut names: Vec<&'static str> = COMPANY_ROLLUP_PROPERTIES.to_vec();
    if config.subscriptions {
        names.extend(COMPANY_SUBSCRIPTION_PROPERTIES);
    }
    names
}

/// The Stripe customer whose contact key `key` is, if it is one (the store spells a
/// customer's contact key with [`customer_contact_key`]).
fn customer_of_key<'k>(key: &'k str, config: &MappingConfig) -> Option<&'k str> {
    let (_, value) = key.split_once('=')?;
    (!value.is_empty() && customer_contact_key(value, config) == key).then_some(value)
}

/// Every company the ledgers in `store` give, in key order: each contact HubSpot confirmed
/// (the store recorded its contact id) is placed in its company by [`company_of_contact`]
/// over its customer row and its ledger rows (what the engine derives its state from), and
/// each company's properties are [`company_properties_of`] over its members. Contacts never
/// written are left out, as the engine counts only the members it wrote. Empty when
/// [`MappingConfig::company_key`] is `none`.
///
/// Reads the whole ledger once, then each written contact's rows: one store read per contact.
pub async fn expected_companies(
    store: &Store,
    config: &MappingConfig,
) -> Result<Vec<ExpectedCompany>, QueueError> {
    if config.company_key == CompanyKeySource::Disabled {
        return Ok(Vec::new());
    }
    // Every contact key the ledgers know, and the deal recorded for each payment.
    let mut keys: BTreeSet<String> = BTreeSet::new();
    let mut deals: HashMap<String, String> = HashMap::new();
    let mut after: Option<String> = None;
    loop {
        let page = store.state.ledger_rows(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.key.clone());
        for entry in &page {
            keys.extend(contact_key_of(&entry.row, config));
            if let Some(deal) = &entry.deal {
                deals.insert(entry.key.clone(), deal.deal_id.clone());
            }
        }
    }
    let mut after: Option<String> = None;
    loop {
        let page = store.state.customer_rows(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else { break };
        after = Some(last.customer_id.clone());
        keys.extend(
            page.iter()
                .map(|entry| customer_contact_key(&entry.customer_id, config)),
        );
    }
    let keys: Vec<String> = keys.into_iter().collect();
    let mut groups: BTreeMap<CompanyKey, Vec<Member>> = BTreeMap::new();
    for chunk in keys.chunks(MARKS_PER_CALL) {
        let marks = store.state.contact_marks(chunk).await?;
        let written: Vec<&String> = chunk.iter().filter(|k| marks.contains_key(*k)).collect();
        let customer_ids: Vec<String> = written
            .iter()
            .filter_map(|key| customer_of_key(key, config))
            .map(str::to_owned)
            .collect();
        let customers = if customer_ids.is_empty() {
            HashMap::new()
        } else {
            store.state.customers(&customer_ids).await?
        };
        for key in written {
            let Some(mark) = marks.get(key) else { continue };
            let rows = store.state.contact_rows(key).await?;
            let customer = customer_of_key(key, config)
                .and_then(|id| customers.get(id))
                .map(|entry| entry.row.clone());
            let Some(company) = company_of_contact(customer.as_ref(), &rows, config) else {
                continue;
            };
            let mut deal_ids: Vec<String> = rows
                .iter()
                .filter_map(|row| row.key())
                .filter_map(|payment| deals.get(payment).cloned())
                .collect();
            deal_ids.sort();
            deal_ids.dedup();
            let member = ExpectedMember {
                contact_key: key.clone(),
                contact_id: mark.contact_id.clone(),
                deal_ids,
            };
            groups
                .entry(company)
                .or_default()
                .push((member, customer, rows));
        }
    }
    let compared = compared_company_properties(config);
    Ok(groups
        .into_iter()
        .map(|(key, members)| {
            let of_members: Vec<(Option<&CustomerRow>, &[LedgerRow])> = members
                .iter()
                .map(|(_, customer, rows)| (customer.as_ref(), rows.as_slice()))
                .collect();
            let all = company_properties_of(&key, &of_members, config);
            let mut properties = PropertySet::new();
            for (name, value) in all.iter() {
                if compared.contains(&name) {
                    properties.insert(name, value.clone());
                }
            }
            ExpectedCompany {
                key,
                properties,
                members: members.into_iter().map(|(member, _, _)| member).collect(),
            }
        })
        .collect())
}

/// A company whose rollups differ from the ledgers'.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompanyDrift {
    /// The company's `stripe_company_key`.
    pub key: String,
    /// HubSpot's company id.
    pub company_id: String,
    /// How many properties differ.
    pub count: usize,
    /// The first differences (up to the configured number).
    pub differences: Vec<Difference>,
}

/// What reconcile found on the companies; part of a [`ReconcileReport`](super::ReconcileReport)
/// (its `companies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyReport {
    /// Companies checked.
    pub checked: u64,
    /// Companies whose every compared property matches.
    pub in_sync: u64,
    /// Companies that differ, in key order.
    pub drifted: Vec<CompanyDrift>,
    /// `stripe_company_key`s of expected companies HubSpot has no company for (deleted,
    /// merged away, or not written yet).
    pub missing: Vec<String>,
    /// HubSpot requests made.
    pub requests: u64,
    /// How many drifted companies and differences [`Display`](fmt::Display) shows.
    pub shown: usize,
    /// Why the companies could not be checked (HubSpot refused the read: the token lacks
    /// the company scopes, or `stripe_company_key` does not exist yet), if so. The engine
    /// pauses companies alone in that case; reconcile reports them unchecked, not drifted.
    pub not_checked: Option<String>,
}

impl CompanyReport {
    /// Whether every checked company exists and matches.
    pub fn is_in_sync(&self) -> bool {
        self.drifted.is_empty() && self.missing.is_empty()
    }
}

impl fmt::Display for CompanyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.not_checked {
            return write!(f, "reconcile: companies not checked: {why}");
        }
        write!(
            f,
            "reconcile: {} companies checked: {} in sync, {} drifted, {} missing in HubSpot ({} HubSpot requests)",
            self.checked,
            self.in_sync,
            self.drifted.len(),
            self.missing.len(),
            self.requests
        )?;
        for drift in self.drifted.iter().take(self.shown) {
            write!(
                f,
                "\n  drifted company {} (company {}, {} properties):",
                drift.key, drift.company_id, drift.count
            )?;
            for difference in &drift.differences {
                write!(f, "\n    {difference}")?;
            }
        }
        for key in self.missing.iter().take(self.shown) {
            write!(f, "\n  missing company {key}")?;
        }
        Ok(())
    }
}

/// What repair handed to the engine's company pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompanyRepairSummary {
    /// Companies whose members were noted again (their generation raised), by key.
    pub queued: Vec<String>,
    /// Of those, the companies HubSpot no longer had: their recorded HubSpot id forgotten, so
    /// the pass finds (by domain) or creates them anew.
    pub recreated: Vec<String>,
}

impl fmt::Display for CompanyRepairSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "repair: {} companies queued for the syncer ({} to find or create again)",
            self.queued.len(),
            self.recreated.len()
        )
    }
}

impl Reconcile {
    /// Compares the rollups of every expected company with HubSpot's (batch reads of 100
    /// companies by `stripe_company_key`), calling `progress` after each batch.
    pub async fn check_companies<F>(
        &self,
        expected: &[ExpectedCompany],
        mut progress: F,
    ) -> Result<CompanyReport, ReconcileError>
    where
        F: FnMut(&ReconcileProgress) + Send,
    {
        let companies = self.client().companies();
        let mut report = CompanyReport {
            shown: self.shown(),
            ..CompanyReport::default()
        };
        let total = expected.len() as u64;
        for chunk in expected.chunks(BATCH) {
            let keys: Vec<String> = chunk.iter().map(|e| e.key.value().to_owned()).collect();
            let names: Vec<String> = chunk
                .iter()
                .flat_map(|e| e.properties.iter().map(|(k, _)| k.to_owned()))
                .chain([COMPANY_KEY_PROPERTY.to_owned()])
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            report.requests += 1;
            let read = match companies
                .batch_read(Some(COMPANY_KEY_PROPERTY), &keys, &names)
                .await
            {
                Ok(read) => read,
                Err(error) if side_unreadable(&error) => {
                    return Ok(CompanyReport {
                        not_checked: Some(error.to_string()),
                        ..CompanyReport::default()
                    })
                }
                Err(error) => {
                    return Err(hubspot("batch read of companies by stripe_company_key")(
                        error,
                    ))
                }
            };
            let found: BTreeMap<&str, &SimplePublicObject> = read
                .results
                .iter()
                .filter_map(|o| Some((o.property(COMPANY_KEY_PROPERTY)?, o)))
                .collect();
            for want in chunk {
                report.checked += 1;
                let Some(company) = found.get(want.key.value()) else {
                    report.missing.push(want.key.value().to_owned());
                    continue;
                };
                let differences: Vec<Difference> = want
                    .properties
                    .iter()
                    .filter(|(name, value)| !same_value(&value.value, company.property(name)))
                    .map(|(name, value)| Difference {
                        property: name.to_owned(),
                        expected: value.value.clone(),
                        found: company.property(name).map(str::to_owned),
                    })
                    .collect();
                if differences.is_empty() {
                    report.in_sync += 1;
                } else {
                    report.drifted.push(CompanyDrift {
                        key: want.key.value().to_owned(),
                        company_id: company.id.clone(),
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
        report.drifted.sort_by(|a, b| a.key.cmp(&b.key));
        report.missing.sort();
        Ok(report)
    }

    /// Hands every drifted or missing company of `report` to the engine's company pass.
    /// Each is forgotten first ([`forget_company`](stripe2hubspot_queue::SyncState::forget_company):
    /// its recorded HubSpot id and associations), then every member of it is noted again
    /// ([`note_company_members`](stripe2hubspot_queue::SyncState::note_company_members) with
    /// its recorded contact id and deals), which raises its generation, so the pass writes its
    /// rollups from the ledgers as they stand then.
    ///
    /// - Forgotten, not only noted, because the pass skips a company whose values HubSpot
    ///   confirmed earlier in the same process (a server's engine that has run for a while):
    ///   without a recorded id the pass finds the company again (by domain, else by
    ///   `stripe_company_key` in its upsert, which creates one HubSpot no longer has) and
    ///   writes it, then makes its associations again (1-2 requests per page of companies).
    /// - Every member, not one: a store that lost or never held a membership (companies
    ///   turned on after the history was synced) gets it back, so the rollups sum them all
    ///   and their associations are made.
    ///
    /// Nothing is written to HubSpot here.
    pub async fn repair_companies(
        &self,
        store: &Store,
        expected: &[ExpectedCompany],
        report: &CompanyReport,
    ) -> Result<CompanyRepairSummary, ReconcileError> {
        let store_error = |during| move |source| ReconcileError::Store { during, source };
        let missing: BTreeSet<&str> = report.missing.iter().map(String::as_str).collect();
        let wanted: BTreeSet<&str> = report
            .drifted
            .iter()
            .map(|d| d.key.as_str())
            .chain(missing.iter().copied())
            .collect();
        let mut summary = CompanyRepairSummary::default();
        for want in expected.iter().filter(|e| wanted.contains(e.key.value())) {
            let key = want.key.value();
            store.state.forget_company(key).await.map_err(store_error(
                "forgetting the HubSpot id of a company to repair",
            ))?;
            if missing.contains(key) {
                summary.recreated.push(key.to_owned());
            }
            let members: Vec<CompanyMember> = want
                .members
                .iter()
                .map(|m| CompanyMember {
                    contact_key: m.contact_key.clone(),
                    company: Some(want.key.clone()),
                    contact_id: m.contact_id.clone(),
                    deal_ids: m.deal_ids.clone(),
                })
                .collect();
            store
                .state
                .note_company_members(&members)
                .await
                .map_err(store_error("noting the members of a drifted company"))?;
            summary.queued.push(key.to_owned());
        }
        Ok(summary)
    }

    /// Waits until no company `summary` queued is dirty any more (the engine's company pass
    /// wrote it), looking every `poll`, for at most `timeout`; returns those still dirty then.
    /// Company writes are no queue jobs (the pass runs after each batch and while idle, with
    /// a backoff after failures, and pauses alone for a missing scope), so the wait is
    /// bounded by time rather than by an idle queue.
    pub async fn wait_for_company_repairs(
        &self,
        store: &Store,
        summary: &CompanyRepairSummary,
        poll: Duration,
        timeout: Duration,
    ) -> Result<Vec<String>, ReconcileError> {
        let started = Instant::now();
        loop {
            let dirty: BTreeSet<String> = store
                .state
                .dirty_companies(DIRTY_SCAN)
                .await
                .map_err(|source| ReconcileError::Store {
                    during: "the read of the companies still to write",
                    source,
                })?
                .into_iter()
                .map(|work| work.key.value().to_owned())
                .collect();
            let waiting: Vec<String> = summary
                .queued
                .iter()
                .filter(|key| dirty.contains(*key))
                .cloned()
                .collect();
            if waiting.is_empty() || started.elapsed() >= timeout {
                return Ok(waiting);
            }
            tokio::time::sleep(poll).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_key_names_its_customer_and_an_email_key_none() {
        let config = MappingConfig::default();
        assert_eq!(customer_of_key("customer=cus_1", &config), Some("cus_1"));
        assert_eq!(customer_of_key("email=ann@example.com", &config), None);
        assert_eq!(customer_of_key("customer=", &config), None);
        assert_eq!(customer_of_key("nonsense", &config), None);
    }

    #[test]
    fn the_rollups_are_compared_never_the_name() {
        let mut config = MappingConfig::default();
        let names = compared_company_properties(&config);
        assert!(names.contains(&"stripe_lifetime_value"));
        assert!(names.contains(&"stripe_mrr"));
        assert!(!names.contains(&"name") && !names.contains(&"domain"));
        config.subscriptions = false;
        assert!(!compared_company_properties(&config).contains(&"stripe_mrr"));
    }

    #[test]
    fn a_member_debug_hides_the_contact_key() {
        let member = ExpectedMember {
            contact_key: "email=ann@example.com".into(),
            contact_id: "101".into(),
            deal_ids: vec!["7".into()],
        };
        let shown = format!("{member:?}");
        assert!(!shown.contains("ann@"), "{shown}");
        assert!(shown.contains("101"));
    }
}
