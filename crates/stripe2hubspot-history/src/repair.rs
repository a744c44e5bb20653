//! Repair: hand the drift reconcile found to the syncer, which writes each row from the
//! ledger as it stands at write time.
//!
//! A second writer beside the syncer would write a stale snapshot (undoing a refund synced
//! since the check), skip the fencing and the portal's one budget, and create a second deal
//! for a payment whose deal move is pending. So repair only marks the drifted rows unwritten,
//! each at the version reconcile compared (a row that moved on is written by the syncer
//! anyway), forgets a recorded deal HubSpot no longer has, and queues a repair job per row;
//! the engine (a server's, or one the command runs) does the writing.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, SystemTime};

use stripe2hubspot_engine::repair_job;
use stripe2hubspot_queue::Store;

use super::reconcile::{ExpectedDeal, Reconcile, ReconcileError, ReconcileReport};

/// What repair handed to the syncer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairSummary {
    /// Payments whose rows were marked unwritten and queued for the syncer, by key.
    pub queued: Vec<String>,
    /// Payments whose rows changed (or were re-keyed) since the check: the syncer writes their
    /// newer state anyway, so repair leaves them alone.
    pub moved_on: Vec<String>,
    /// Payments whose recorded deal HubSpot no longer has: forgotten, so the syncer creates
    /// the deal again.
    pub recreated: Vec<String>,
    /// Payments reconcile reported that the ledger does not hold.
    pub not_in_ledger: Vec<String>,
}

impl fmt::Display for RepairSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "repair: {} payments queued for the syncer ({} deals to create again), {} changed since the check (the syncer writes them anyway), {} no longer in the ledger",
            self.queued.len(),
            self.recreated.len(),
            self.moved_on.len(),
            self.not_in_ledger.len()
        )
    }
}

impl Reconcile {
    /// Hands every drifted and missing deal of `report` to the syncer: marks its ledger row
    /// unwritten if its version is still the one `expected` carries (the row's version now,
    /// for an [`ExpectedDeal`] without one), forgets the recorded deal of a missing payment,
    /// and queues a repair job per row in `store`. Nothing is written to HubSpot here: run an
    /// engine (or let a server's run), [`wait_for_repairs`](Self::wait_for_repairs), then
    /// [`check`](Self::check) again.
    pub async fn repair(
        &self,
        store: &Store,
        expected: &[ExpectedDeal],
        report: &ReconcileReport,
    ) -> Result<RepairSummary, ReconcileError> {
        let store_error = |during| move |source| ReconcileError::Store { during, source };
        let drifted: BTreeSet<&str> = report
            .drifted
            .iter()
            .map(|d| d.payment_id.as_str())
            .collect();
        let missing: BTreeSet<&str> = report.missing.iter().map(String::as_str).collect();
        let mut summary = RepairSummary::default();
        for want in expected {
            let id = want.payment_id.as_str();
            let is_missing = missing.contains(id);
            if !is_missing && !drifted.contains(id) {
                continue;
            }
            let entry = store
                .state
                .ledger_entry(id)
                .await
                .map_err(store_error("the read of a ledger row"))?;
            let Some(entry) = entry else {
                summary.not_in_ledger.push(want.payment_id.clone());
                continue;
            };
            if entry.key != want.payment_id {
                // Re-keyed since the check: a changed row, which the syncer writes anyway.
                summary.moved_on.push(want.payment_id.clone());
                continue;
            }
            let version = want.version.unwrap_or(entry.version);
            // Forget only a deal check looked for and did not find: one under this key, or
            // the recorded one it searched by id. A deal recorded under another key that
            // check did not look up may be a pending move, which the syncer makes.
            let forget = is_missing
                && entry.deal.as_ref().is_some_and(|deal| {
                    deal.stripe_payment_id == entry.key || want.recorded_deal.as_ref() == Some(deal)
                });
            let reset = store
                .state
                .reset_written(&entry.key, version, forget)
                .await
                .map_err(store_error("the reset of a drifted ledger row"))?;
            if !reset {
                summary.moved_on.push(entry.key);
                continue;
            }
            store
                .queue
                .enqueue(repair_job(&entry.key, SystemTime::now()))
                .await
                .map_err(store_error("queueing a repair"))?;
            if forget {
                summary.recreated.push(entry.key.clone());
            }
            summary.queued.push(entry.key);
        }
        Ok(summary)
    }

    /// Waits until every payment `summary` queued is written by the syncer, looking every
    /// `poll`; returns those still unwritten once the queue holds nothing ready, delayed or
    /// leased (their repair failed: see the dead letters). Returns only when one of the two
    /// holds: with no syncer running it waits for ever.
    pub async fn wait_for_repairs(
        &self,
        store: &Store,
        summary: &RepairSummary,
        poll: Duration,
    ) -> Result<Vec<String>, ReconcileError> {
        let store_error = |during| move |source| ReconcileError::Store { during, source };
        loop {
            let mut unwritten = Vec::new();
            for key in &summary.queued {
                let entry = store
                    .state
                    .ledger_entry(key)
                    .await
                    .map_err(store_error("the read of a repaired ledger row"))?;
                if entry.is_some_and(|e| e.is_unwritten()) {
                    unwritten.push(key.clone());
                }
            }
            if unwritten.is_empty() || queue_is_idle(store).await? {
                return Ok(unwritten);
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// Whether the queue holds nothing ready, delayed or leased: whatever repairs were queued
/// have been written or have failed for good.
pub(crate) async fn queue_is_idle(store: &Store) -> Result<bool, ReconcileError> {
    let stats = store
        .admin
        .stats()
        .await
        .map_err(|source| ReconcileError::Store {
            during: "the read of the queue's counts",
            source,
        })?;
    Ok(stats.ready + stats.delayed + stats.leased == 0)
}
