//! One reserved batch through the ledger: parse, read facts, merge them into the ledger, write
//! HubSpot from the touched rows, record the versions written, settle each job.

use std::collections::HashMap;

use stripe2hubspot_map::{contact_properties, facts_from_event, Facts, FactsOutcome, PropertySet};
use tracing::Instrument;

use super::plan::{self, RowPlan, RowWrite};
use super::settle::Disposition;
use super::Inner;
use crate::alert::{Alert, AlertKind};
use stripe2hubspot_queue::{Attempt, Job, LedgerChange, WriteMark, WrittenDeal};

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
        let mut facts: Vec<(usize, Facts)> = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            if let Some(repair) = self.repair_facts(job).await {
                match repair {
                    Ok(f) => facts.push((index, f)),
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
        if !facts.is_empty() {
            for (job, disposition) in self.sync_facts(&facts).await {
                if let Some(slot) = dispositions.get_mut(job) {
                    *slot = Some(disposition);
                }
            }
        }
        let mut is_done = vec![false; jobs.len()];
        for (((job, disposition), payment_id), is_done) in jobs
            .iter()
            .zip(dispositions)
            .zip(payment_ids)
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
                event_type = %job.event_type,
                attempt = job.attempts + 1
            );
            if let Some(payment_id) = &payment_id {
                span.record("payment_id", payment_id.as_str());
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

    /// Merges the batch's facts into the ledger and writes what changed; a disposition per
    /// job index.
    async fn sync_facts(&self, facts: &[(usize, Facts)]) -> Vec<(usize, Disposition)> {
        let all_jobs = |d: Disposition| facts.iter().map(|(job, _)| (*job, d.clone())).collect();
        // Workers take turns from the merge until the deals are written, so an older version
        // of a row can never be written after a newer one.
        let write_order = self.write_order.lock().await;
        let batch: Vec<Facts> = facts.iter().map(|(_, f)| f.clone()).collect();
        let changes = match self.store.state.merge_facts(&batch, &self.mapping).await {
            Ok(changes) => changes,
            Err(error) => return all_jobs(store_retry("merge the events into the ledger", error)),
        };
        self.alert_orphaned_deals(&changes).await;
        let jobs_of = jobs_of_changes(&changes, facts);
        let mut out = Vec::with_capacity(facts.len());
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
        if writes.is_empty() {
            drop(write_order);
            return self.record_marks(marks, out).await;
        }
        self.recall_moves(&mut writes);
        if let Err(failure) = self.bootstrap().await {
            drop(write_order);
            for write in &writes {
                self.settle_moves(write, false);
            }
            let disposition = self.on_bootstrap_failure(failure).await;
            out.extend(
                writes
                    .iter()
                    .flat_map(|w| w.jobs.iter().map(|&j| (j, disposition.clone()))),
            );
            return self.record_marks(marks, out).await;
        }
        // The marks are read beside the ledger rows: both are reads, on two connections.
        let (contacts, contact_marks) =
            tokio::join!(self.contact_states(&writes), self.contact_marks_of(&writes));
        let contacts = match contacts {
            Ok(contacts) => contacts,
            Err(disposition) => {
                for write in &writes {
                    self.settle_moves(write, false);
                }
                out.extend(
                    writes
                        .iter()
                        .flat_map(|w| w.jobs.iter().map(|&j| (j, disposition.clone()))),
                );
                return self.record_marks(marks, out).await;
            }
        };
        let mut synced: Vec<usize> = Vec::new();
        for (index, result) in self
            .sync_writes(&writes, &contacts, &contact_marks, write_order)
            .await
        {
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
        self.record_marks(marks, out).await
    }

    /// The absolute state of every contact of `writes`, from all its ledger rows, and of
    /// every contact a payment of `writes` moved away from (zero rollups when it has no
    /// payment left).
    async fn contact_states(
        &self,
        writes: &[RowWrite],
    ) -> Result<HashMap<String, PropertySet>, Disposition> {
        let mut contacts = HashMap::new();
        let mut read = std::collections::HashSet::new();
        let keys: Vec<&str> = writes
            .iter()
            .map(|w| w.contact_key.as_str())
            .filter(|key| read.insert(*key))
            .collect();
        // Two readers on two connections: these reads hold the write order, and SQLite and
        // PostgreSQL serve concurrent readers.
        let (first, second) = keys.split_at(keys.len() / 2);
        let (first, second) = tokio::join!(self.rows_of(first), self.rows_of(second));
        for (key, rows) in first?.into_iter().chain(second?) {
            if let Some(properties) = contact_properties(&rows, &self.mapping) {
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
            let properties = contact_properties(&rows, &self.mapping)
                .unwrap_or_else(|| plan::emptied_contact(&self.mapping));
            contacts.insert(key.clone(), properties);
        }
        Ok(contacts)
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
