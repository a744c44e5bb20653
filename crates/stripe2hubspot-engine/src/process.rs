//! One reserved batch through the ledger: parse, read facts, merge them into the ledger, write
//! HubSpot from the touched rows, record the versions written, settle each job.

use std::collections::HashMap;

use std::collections::BTreeSet;

use stripe2hubspot_map::{
    contact_properties_of, customer_facts_from_event, facts_from_event, ContactKey, CustomerFacts,
    CustomerOutcome, CustomerRow, Facts, FactsOutcome, LedgerRow, PropertySet,
};
use tracing::Instrument;

use super::companies::ContactCompanies;
use super::customers::CustomerWrite;
use super::plan::{self, RowPlan, RowWrite};
use super::settle::Disposition;
use super::Inner;
use crate::alert::{Alert, AlertKind};
use stripe2hubspot_queue::{
    customer_contact_key, Attempt, Job, LedgerChange, WriteMark, WrittenDeal,
};

/// Event types read as customer facts (`customer.*`, subscriptions included); the rest are
/// read as payment facts.
const CUSTOMER_EVENT_PREFIX: &str = "customer.";

/// Every contact key a batch's writes touch: their contacts, those their payments left, and
/// the customers' own.
fn contact_keys(writes: &[RowWrite], customers: &[CustomerWrite]) -> Vec<String> {
    let keys: BTreeSet<&String> = writes
        .iter()
        .flat_map(|w| std::iter::once(&w.contact_key).chain(w.moved_from.iter().map(|(k, _)| k)))
        .chain(customers.iter().map(|c| &c.key))
        .collect();
    keys.into_iter().cloned().collect()
}

/// A retry for a store failure; the merge is idempotent, so repeating it is harmless.
fn store_retry(what: &str, error: impl std::fmt::Display) -> Disposition {
    Disposition::Retry {
        delay: None,
        attempt: Attempt::Consume,
        reason: format!("could not {what}: {error}"),
    }
}

/// For each change, the jobs whose facts landed in its row.
fn jobs_of_changes(changes: &[LedgerChange], facts: &[(usize, Facts)]) -> Vec<Vec<usize>> {
    let mut by_alias: HashMap<&str, usize> = HashMap::new();
    for (index, change) in changes.iter().enumerate() {
        for alias in change.entry.row.aliases() {
            by_alias.insert(alias, index);
        }
    }
    let mut jobs = vec![Vec::new(); changes.len()];
    for (job, fact) in facts {
        if let Some(slot) = fact
            .ids
            .all()
            .find_map(|id| by_alias.get(id))
            .and_then(|&index| jobs.get_mut(index))
        {
            slot.push(*job);
        }
    }
    jobs
}

impl Inner {
    pub(super) async fn process(&self, jobs: Vec<Job>) {
        let mut dispositions: Vec<Option<Disposition>> = vec![None; jobs.len()];
        // Each job's payment, for its log lines: an id, never contact data.
        let mut payment_ids: Vec<Option<String>> = vec![None; jobs.len()];
        // Each job's customer, for its log lines.
        let mut customer_ids: Vec<Option<String>> = vec![None; jobs.len()];
        let mut facts: Vec<(usize, Facts)> = Vec::new();
        let mut customers: Vec<(usize, CustomerFacts)> = Vec::new();
        let mut repairs: Vec<(usize, String)> = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            if let Some(repair) = self.repair_facts(job).await {
                match repair {
                    Ok(f) => facts.push((index, f)),
                    Err(d) => dispositions[index] = Some(d),
                }
                continue;
            }
            if let Some(repair) = self.customer_repair(job) {
                match repair {
                    Ok(id) => {
                        customer_ids[index] = Some(id.clone());
                        repairs.push((index, id));
                    }
                    Err(d) => dispositions[index] = Some(d),
                }
                continue;
            }
            let event = match stripe_events::parse_event(&job.payload) {
                Ok(event) => event,
                Err(error) => {
                    dispositions[index] = Some(Disposition::DeadLetter(format!(
                        "the stored payload is not a Stripe event: {error}"
                    )));
                    continue;
                }
            };
            if event.type_.starts_with(CUSTOMER_EVENT_PREFIX) {
                dispositions[index] = match customer_facts_from_event(&event, &self.mapping) {
                    Ok(CustomerOutcome::Facts(f)) => {
                        customer_ids[index] = Some(f.customer_id.clone());
                        customers.push((index, *f));
                        None
                    }
                    Ok(CustomerOutcome::Skip(reason)) => {
                        Some(Disposition::Skipped(reason.to_string()))
                    }
                    Err(error) => Some(Disposition::DeadLetter(error.to_string())),
                };
                continue;
            }
            dispositions[index] = match facts_from_event(&event, &self.mapping) {
                Ok(FactsOutcome::Facts(f)) => {
                    if let Some(slot) = payment_ids.get_mut(index) {
                        *slot = f.ids.key().map(str::to_owned);
                    }
                    facts.push((index, *f));
                    None
                }
                Ok(FactsOutcome::Skip(reason)) => Some(Disposition::Skipped(reason.to_string())),
                Err(error) => Some(Disposition::DeadLetter(error.to_string())),
            };
        }
        if !facts.is_empty() || !customers.is_empty() || !repairs.is_empty() {
            for (job, disposition) in self.sync_facts(&facts, &customers, &repairs).await {
                if let Some(slot) = dispositions.get_mut(job) {
                    *slot = Some(disposition);
                }
            }
        }
        let mut is_done = vec![false; jobs.len()];
        for ((((job, disposition), payment_id), customer_id), is_done) in jobs
            .iter()
            .zip(dispositions)
            .zip(payment_ids)
            .zip(customer_ids)
            .zip(&mut is_done)
        {
            let disposition = disposition.unwrap_or_else(|| Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: "no outcome was recorded for this event (a bug; retrying)".into(),
            });
            let span = tracing::info_span!(
                "event",
                event_id = %job.event_id,
                payment_id = tracing::field::Empty,
                customer_id = tracing::field::Empty,
                event_type = %job.event_type,
                attempt = job.attempts + 1
            );
            if let Some(payment_id) = &payment_id {
                span.record("payment_id", payment_id.as_str());
            }
            if let Some(customer_id) = &customer_id {
                span.record("customer_id", customer_id.as_str());
            }
            *is_done = self.settle(job, disposition).instrument(span).await;
        }
        let done: Vec<Job> = jobs
            .into_iter()
            .zip(is_done)
            .filter_map(|(job, done)| done.then_some(job))
            .collect();
        self.complete_done(&done).await;
    }

    /// Merges the batch's payment and customer facts into the ledgers and writes what
    /// changed; a disposition per job index. `repairs` are customers to write again.
    async fn sync_facts(
        &self,
        facts: &[(usize, Facts)],
        customers: &[(usize, CustomerFacts)],
        repairs: &[(usize, String)],
    ) -> Vec<(usize, Disposition)> {
        let all_jobs = |d: Disposition| {
            facts
                .iter()
                .map(|(job, _)| *job)
                .chain(customers.iter().map(|(job, _)| *job))
                .chain(repairs.iter().map(|(job, _)| *job))
                .map(|job| (job, d.clone()))
                .collect()
        };
        // Workers take turns from the merge until the deals are written, so an older version
        // of a row can never be written after a newer one.
        let write_order = self.write_order.lock().await;
        let changes = if facts.is_empty() {
            Vec::new()
        } else {
            let batch: Vec<Facts> = facts.iter().map(|(_, f)| f.clone()).collect();
            match self.store.state.merge_facts(&batch, &self.mapping).await {
                Ok(changes) => changes,
                Err(error) => {
                    return all_jobs(store_retry("merge the events into the ledger", error))
                }
            }
        };
        let changes = self.settle_charges(changes).await;
        let customer_batch = match self.merge_customers(customers, repairs).await {
            Ok(batch) => batch,
            Err(disposition) => return all_jobs(disposition),
        };
        let forced: BTreeSet<String> = customer_batch
            .forced
            .iter()
            .map(|id| customer_contact_key(id, &self.mapping))
            .collect();
        let customer_plan = self.plan_customers(customer_batch);
        self.alert_orphaned_deals(&changes).await;
        let jobs_of = jobs_of_changes(&changes, facts);
        let mut out = Vec::with_capacity(facts.len() + customers.len() + repairs.len());
        out.extend(customer_plan.done.iter().cloned());
        // Facts that name no payment id key no row: nothing to merge or write.
        let placed: std::collections::HashSet<usize> = jobs_of.iter().flatten().copied().collect();
        out.extend(
            facts
                .iter()
                .filter(|(job, _)| !placed.contains(job))
                .map(|(job, _)| {
                    (
                        *job,
                        Disposition::Skipped("the event names no payment id".into()),
                    )
                }),
        );
        let mut marks = Vec::new();
        let mut writes: Vec<RowWrite> = Vec::new();
        for row_plan in plan::plan_rows(&changes, &jobs_of, &self.mapping) {
            match row_plan {
                RowPlan::Write(write) => writes.push(write),
                RowPlan::Done { reason, jobs, mark } => {
                    marks.extend(mark);
                    out.extend(
                        jobs.into_iter()
                            .map(|j| (j, Disposition::Skipped(reason.clone()))),
                    );
                }
            }
        }
        // --- Line items (issue 22): rows HubSpot already holds (a redelivery, a backfill of a
        // payment written before line items were on) note their line items too (line_items.rs).
        self.note_held_line_items(&changes, &jobs_of, &writes, &mut out)
            .await;
        // --- end of line items.
        let customer_writes = customer_plan.writes;
        let deletions = customer_plan.deletions;
        if writes.is_empty() && customer_writes.is_empty() {
            drop(write_order);
            let mut out = self.record_marks(marks, out).await;
            out.extend(self.delete_customers(deletions).await);
            return out;
        }
        self.recall_moves(&mut writes);
        let waiting = |disposition: &Disposition| -> Vec<(usize, Disposition)> {
            writes
                .iter()
                .flat_map(|w| w.jobs.iter().copied())
                .chain(customer_writes.iter().flat_map(|w| w.jobs.iter().copied()))
                .map(|j| (j, disposition.clone()))
                .collect()
        };
        if let Err(failure) = self.bootstrap().await {
            drop(write_order);
            for write in &writes {
                self.settle_moves(write, false);
            }
            let disposition = self.on_bootstrap_failure(failure).await;
            out.extend(waiting(&disposition));
            out.extend(
                deletions
                    .iter()
                    .flat_map(|d| d.jobs.iter().map(|&j| (j, disposition.clone()))),
            );
            return self.record_marks(marks, out).await;
        }
        let keys = contact_keys(&writes, &customer_writes);
        // The marks are read beside the ledger rows: both are reads, on two connections.
        let (contacts, contact_marks) = tokio::join!(
            self.contact_states(&writes, &customer_writes),
            self.contact_marks_of(&keys)
        );
        let (contacts, companies) = match contacts {
            Ok(states) => states,
            Err(disposition) => {
                for write in &writes {
                    self.settle_moves(write, false);
                }
                out.extend(waiting(&disposition));
                out.extend(
                    deletions
                        .iter()
                        .flat_map(|d| d.jobs.iter().map(|&j| (j, disposition.clone()))),
                );
                return self.record_marks(marks, out).await;
            }
        };
        let customer_keys: Vec<(String, ContactKey)> = customer_writes
            .iter()
            .map(|w| (w.key.clone(), w.contact.clone()))
            .collect();
        let (written, contact_outcomes) = self
            .sync_writes(
                &writes,
                &customer_keys,
                &contacts,
                &contact_marks,
                &forced,
                write_order,
            )
            .await;
        // Companies: where each contact written belongs now, with its deals (companies.rs).
        self.note_companies(&writes, &written, &contact_outcomes, companies)
            .await;
        // --- Line items (issue 22): each row written notes its line items for the line-item
        // pass (line_items.rs); a row whose noting failed becomes a retry of its jobs.
        let written = self
            .note_written_line_items(&changes, &writes, written)
            .await;
        // --- end of line items.
        let mut synced: Vec<usize> = Vec::new();
        for (index, result) in written {
            let Some(write) = writes.get(index) else {
                continue;
            };
            self.settle_moves(write, result.is_ok());
            match result {
                Ok(deal_id) => {
                    marks.push(WriteMark {
                        key: write.key.clone(),
                        version: write.version,
                        deal: Some(WrittenDeal {
                            stripe_payment_id: write.key.clone(),
                            deal_id,
                        }),
                    });
                    synced.extend(write.jobs.iter().copied());
                }
                Err(disposition) => {
                    out.extend(write.jobs.iter().map(|&j| (j, disposition.clone())));
                }
            }
        }
        out.extend(synced.into_iter().map(|j| (j, Disposition::Synced)));
        out.extend(
            self.settle_customers(&customer_writes, &contact_outcomes)
                .await,
        );
        let mut out = self.record_marks(marks, out).await;
        out.extend(self.delete_customers(deletions).await);
        out
    }

    /// The absolute state of every contact of `writes` (from all its ledger rows, and its
    /// customer's row when it is a customer's contact), of every contact a payment of `writes`
    /// moved away from (zero rollups when it has no payment left), and of the contact of each
    /// customer of `customers`. Beside it, each contact's company from the same rows, when
    /// companies are on.
    async fn contact_states(
        &self,
        writes: &[RowWrite],
        customers: &[CustomerWrite],
    ) -> Result<(HashMap<String, PropertySet>, ContactCompanies), Disposition> {
        let mut contacts = HashMap::new();
        let mut companies = ContactCompanies::new();
        let mut read = std::collections::HashSet::new();
        let keys: Vec<&str> = writes
            .iter()
            .map(|w| w.contact_key.as_str())
            .chain(customers.iter().map(|c| c.key.as_str()))
            .filter(|key| read.insert(*key))
            .collect();
        let mut rows_of_customers: HashMap<String, CustomerRow> = customers
            .iter()
            .map(|c| (c.customer_id.clone(), c.row.clone()))
            .collect();
        let missing: Vec<String> = keys
            .iter()
            .filter_map(|key| plan::customer_of_key(key, &self.mapping))
            .filter(|id| !rows_of_customers.contains_key(*id))
            .map(str::to_owned)
            .collect();
        if !missing.is_empty() {
            let stored = self
                .store
                .state
                .customers(&missing)
                .await
                .map_err(|e| store_retry("read the customers of the contacts", e))?;
            rows_of_customers.extend(stored.into_iter().map(|(id, entry)| (id, entry.row)));
        }
        let state_of = |key: &str, rows: &[LedgerRow]| {
            let customer =
                plan::customer_of_key(key, &self.mapping).and_then(|id| rows_of_customers.get(id));
            contact_properties_of(customer, rows, &self.mapping)
        };
        let company_of = |key: &str, rows: &[LedgerRow]| {
            let customer =
                plan::customer_of_key(key, &self.mapping).and_then(|id| rows_of_customers.get(id));
            stripe2hubspot_map::company_of_contact(customer, rows, &self.mapping)
        };
        let companies_on = self.companies_on();
        // Two readers on two connections: these reads hold the write order, and SQLite and
        // PostgreSQL serve concurrent readers.
        let (first, second) = keys.split_at(keys.len() / 2);
        let (first, second) = tokio::join!(self.rows_of(first), self.rows_of(second));
        for (key, rows) in first?.into_iter().chain(second?) {
            if companies_on {
                companies.insert(key.to_owned(), company_of(key, &rows));
            }
            if let Some(properties) = state_of(key, &rows) {
                contacts.insert(key.to_owned(), properties);
            }
        }
        for (key, _) in writes.iter().flat_map(|w| &w.moved_from) {
            if !read.insert(key.as_str()) {
                continue;
            }
            let rows =
                self.store.state.contact_rows(key).await.map_err(|e| {
                    store_retry("read the ledger rows of a contact a payment left", e)
                })?;
            let properties =
                state_of(key, &rows).unwrap_or_else(|| plan::emptied_contact(&self.mapping));
            if companies_on {
                companies.insert(key.clone(), company_of(key, &rows));
            }
            contacts.insert(key.clone(), properties);
        }
        Ok((contacts, companies))
    }

    /// The ledger rows of each contact key, one after the other.
    async fn rows_of<'k>(
        &self,
        keys: &[&'k str],
    ) -> Result<Vec<(&'k str, Vec<stripe2hubspot_map::LedgerRow>)>, Disposition> {
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let rows = self
                .store
                .state
                .contact_rows(key)
                .await
                .map_err(|e| store_retry("read the contact's ledger rows", e))?;
            out.push((*key, rows));
        }
        Ok(out)
    }

    /// Records the versions HubSpot now holds. If that fails, the jobs that wrote them are
    /// retried: their rows stay unwritten, and writing the same values again is harmless.
    async fn record_marks(
        &self,
        marks: Vec<WriteMark>,
        mut out: Vec<(usize, Disposition)>,
    ) -> Vec<(usize, Disposition)> {
        if marks.is_empty() {
            return out;
        }
        if let Err(error) = self.store.state.mark_written(&marks).await {
            let retry = store_retry("record the ledger versions written", error);
            for (_, disposition) in &mut out {
                if matches!(disposition, Disposition::Synced | Disposition::Skipped(_)) {
                    *disposition = retry.clone();
                }
            }
        }
        out
    }

    /// Two rows written to two deals before a later event linked them: one deal is kept
    /// (moved to the payment's key), the other must be merged or deleted by hand.
    async fn alert_orphaned_deals(&self, changes: &[LedgerChange]) {
        let orphaned: Vec<String> = changes
            .iter()
            .flat_map(|c| {
                c.orphaned_deals.iter().map(move |d| {
                    format!(
                        "deal {} ({} is now {})",
                        d.deal_id, d.stripe_payment_id, c.entry.key
                    )
                })
            })
            .collect();
        if orphaned.is_empty() {
            return;
        }
        tracing::warn!(deals = ?orphaned, "a payment has a second deal in HubSpot");
        self.alerter
            .alert(Alert::new(
                AlertKind::DuplicateDeal,
                format!(
                    "These HubSpot deals were written before a later Stripe event showed they belong to another deal's payment: [{}]. The other deal now carries the payment; merge or delete these in HubSpot.",
                    orphaned.join("; ")
                ),
            ))
            .await;
    }
}
