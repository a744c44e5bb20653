//! Reconcile of line items (with [`MappingConfig::line_items`] on): every line item the ledger
//! holds for a payment whose deal was written must exist in HubSpot under its
//! `stripe_line_item_id`; missing ones are handed to the engine's line-item pass.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use stripe2hubspot_map::{MappingConfig, LINE_ITEM_KEY_PROPERTY};
use stripe2hubspot_queue::{QueueError, Store};

use super::reconcile::{
    hubspot, side_unreadable, Reconcile, ReconcileError, ReconcileProgress, BATCH,
};

/// Ledger rows read per page.
const PAGE: usize = 500;

/// Pending line-item work read per look while waiting for repairs (see
/// `wait_for_line_item_repairs`).
const PENDING_SCAN: usize = 10_000;

/// The fingerprint repair notes before the row's own: it matches no real fingerprint (those
/// are hex digests), so noting it raises the generation whatever was noted before, and noting
/// the row's fingerprint right after raises it again and leaves the stored fingerprint the
/// row's own (a later redelivery of the same lines then notes nothing new).
const FORCE_REWRITE_FINGERPRINT: &str = "reconcile:rewrite";

/// The line items the ledger holds for one payment whose deal HubSpot holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpectedLineItems {
    /// The payment's ledger key.
    pub payment_id: String,
    /// The HubSpot deal the store recorded for it.
    pub deal_id: String,
    /// Stripe's line ids (`il_...`), each a `stripe_line_item_id`, in the row's order.
    pub line_ids: Vec<String>,
    /// The row's [`line_items_fingerprint`](stripe2hubspot_map::LedgerRow::line_items_fingerprint).
    pub fingerprint: String,
}

/// Every payment of the ledger with line items and a recorded deal, in key order; empty when
/// [`MappingConfig::line_items`] is off.
///
/// Only the lines the ledger holds are expected: an invoice's (from the webhook or the
/// backfill). A Checkout payment's items are read from Stripe by the engine when it writes
/// them and are not in the ledger, so reconcile (which does not call Stripe) does not check
/// them. A row whose invoice event carried only the first lines
/// ([`line_items_cut_short`](stripe2hubspot_map::LedgerRow::line_items_cut_short); a backfill
/// reads them all) is checked on the lines it holds.
pub async fn expected_line_items(
    store: &Store,
    config: &MappingConfig,
) -> Result<Vec<ExpectedLineItems>, QueueError> {
    let mut expected = Vec::new();
    if !config.line_items {
        return Ok(expected);
    }
    let mut after: Option<String> = None;
    loop {
        let page = store.state.ledger_rows(after.as_deref(), PAGE).await?;
        let Some(last) = page.last() else {
            return Ok(expected);
        };
        after = Some(last.key.clone());
        for entry in &page {
            let (Some(deal), false) = (&entry.deal, entry.row.line_items().is_empty()) else {
                continue;
            };
            let Some(fingerprint) = entry.row.line_items_fingerprint() else {
                continue;
            };
            expected.push(ExpectedLineItems {
                payment_id: entry.key.clone(),
                deal_id: deal.deal_id.clone(),
                line_ids: entry
                    .row
                    .line_items()
                    .iter()
                    .map(|l| l.id.clone())
                    .collect(),
                fingerprint,
            });
        }
    }
}

/// A payment some of whose line items HubSpot does not hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingLineItems {
    /// The payment.
    pub payment_id: String,
    /// Its deal.
    pub deal_id: String,
    /// The `stripe_line_item_id`s HubSpot has no line item for.
    pub line_ids: Vec<String>,
}

/// What reconcile found on line items; part of a [`ReconcileReport`](super::ReconcileReport)
/// (its `line_items`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineItemReport {
    /// Payments checked.
    pub checked: u64,
    /// Line items checked, every payment.
    pub lines: u64,
    /// Payments whose every line item exists.
    pub in_sync: u64,
    /// Payments with line items missing in HubSpot, in payment order.
    pub missing: Vec<MissingLineItems>,
    /// HubSpot requests made.
    pub requests: u64,
    /// How many payments [`Display`](fmt::Display) lists.
    pub shown: usize,
    /// Why the line items could not be checked (HubSpot refused the read: the token lacks
    /// the line-item scopes, or `stripe_line_item_id` does not exist yet), if so; they are
    /// then reported unchecked, not missing.
    pub not_checked: Option<String>,
}

impl LineItemReport {
    /// Whether every line item checked exists.
    pub fn is_in_sync(&self) -> bool {
        self.missing.is_empty()
    }
}

impl fmt::Display for LineItemReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(why) = &self.not_checked {
            return write!(f, "reconcile: line items not checked: {why}");
        }
        let lines: usize = self.missing.iter().map(|m| m.line_ids.len()).sum();
        write!(
            f,
            "reconcile: {} line items of {} payments checked: {} payments in sync, {} line items of {} payments missing in HubSpot ({} HubSpot requests)",
            self.lines,
            self.checked,
            self.in_sync,
            lines,
            self.missing.len(),
            self.requests
        )?;
        for missing in self.missing.iter().take(self.shown) {
            write!(
                f,
                "\n  missing line items of {} (deal {}): {}",
                missing.payment_id,
                missing.deal_id,
                missing.line_ids.join(", ")
            )?;
        }
        Ok(())
    }
}

/// What repair handed to the engine's line-item pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineItemRepairSummary {
    /// Payments whose line items were noted for a rewrite, by key.
    pub queued: Vec<String>,
}

impl fmt::Display for LineItemRepairSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "repair: the line items of {} payments queued for the syncer",
            self.queued.len()
        )
    }
}

impl Reconcile {
    /// Looks up every expected line item in HubSpot (batch reads of 100 by
    /// `stripe_line_item_id`), calling `progress` after each payment batch.
    pub async fn check_line_items<F>(
        &self,
        expected: &[ExpectedLineItems],
        mut progress: F,
    ) -> Result<LineItemReport, ReconcileError>
    where
        F: FnMut(&ReconcileProgress) + Send,
    {
        let line_items = self.client().line_items();
        let mut report = LineItemReport {
            shown: self.shown(),
            ..LineItemReport::default()
        };
        let total = expected.len() as u64;
        // Payments are taken a batch at a time; their lines are read 100 a request.
        for chunk in expected.chunks(BATCH) {
            let ids: Vec<String> = chunk
                .iter()
                .flat_map(|e| e.line_ids.iter().cloned())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            let mut found: BTreeSet<String> = BTreeSet::new();
            for ids in ids.chunks(BATCH) {
                report.requests += 1;
                let read = match line_items
                    .batch_read(
                        Some(LINE_ITEM_KEY_PROPERTY),
                        ids,
                        &[LINE_ITEM_KEY_PROPERTY.to_owned()],
                    )
                    .await
                {
                    Ok(read) => read,
                    Err(error) if side_unreadable(&error) => {
                        return Ok(LineItemReport {
                            not_checked: Some(error.to_string()),
                            ..LineItemReport::default()
                        })
                    }
                    Err(error) => {
                        return Err(hubspot("batch read of line items by stripe_line_item_id")(
                            error,
                        ))
                    }
                };
                found.extend(
                    read.results
                        .iter()
                        .filter_map(|o| o.property(LINE_ITEM_KEY_PROPERTY))
                        .map(str::to_owned),
                );
            }
            for want in chunk {
                report.checked += 1;
                report.lines += want.line_ids.len() as u64;
                let missing: Vec<String> = want
                    .line_ids
                    .iter()
                    .filter(|id| !found.contains(*id))
                    .cloned()
                    .collect();
                if missing.is_empty() {
                    report.in_sync += 1;
                } else {
                    report.missing.push(MissingLineItems {
                        payment_id: want.payment_id.clone(),
                        deal_id: want.deal_id.clone(),
                        line_ids: missing,
                    });
                }
            }
            progress(&ReconcileProgress {
                checked: report.checked,
                total,
            });
        }
        report
            .missing
            .sort_by(|a, b| a.payment_id.cmp(&b.payment_id));
        Ok(report)
    }

    /// Hands every payment of `report` with missing line items to the engine's line-item
    /// pass. [`note_line_items`](stripe2hubspot_queue::SyncState::note_line_items) raises the
    /// generation only when the deal or the fingerprint changed, so a rewrite is forced by
    /// noting twice: a marker fingerprint no row has, then the row's own (see
    /// `FORCE_REWRITE_FINGERPRINT`). Each note raises the generation; the pass writes the
    /// payment's items once it runs (twice at most, if it runs between the two notes, which
    /// is harmless: the upserts are keyed by `stripe_line_item_id`). Nothing is written to
    /// HubSpot here.
    pub async fn repair_line_items(
        &self,
        store: &Store,
        expected: &[ExpectedLineItems],
        report: &LineItemReport,
    ) -> Result<LineItemRepairSummary, ReconcileError> {
        let store_error = |during| move |source| ReconcileError::Store { during, source };
        let wanted: BTreeSet<&str> = report
            .missing
            .iter()
            .map(|m| m.payment_id.as_str())
            .collect();
        let work: Vec<&ExpectedLineItems> = expected
            .iter()
            .filter(|e| wanted.contains(e.payment_id.as_str()))
            .collect();
        let mut summary = LineItemRepairSummary::default();
        if work.is_empty() {
            return Ok(summary);
        }
        let noted = |fingerprint: fn(&ExpectedLineItems) -> String| {
            work.iter()
                .map(|e| (e.payment_id.clone(), e.deal_id.clone(), fingerprint(e)))
                .collect::<Vec<_>>()
        };
        store
            .state
            .note_line_items(&noted(|_| FORCE_REWRITE_FINGERPRINT.to_owned()))
            .await
            .map_err(store_error("noting line items for a rewrite"))?;
        store
            .state
            .note_line_items(&noted(|e| e.fingerprint.clone()))
            .await
            .map_err(store_error("noting line items for a rewrite"))?;
        summary.queued = work.iter().map(|e| e.payment_id.clone()).collect();
        Ok(summary)
    }

    /// Waits until no payment `summary` queued has line items pending (the engine's pass
    /// wrote them), looking every `poll`, for at most `timeout`; returns those still pending
    /// then. As for companies, the pass is no queue job, so the wait is bounded by time.
    pub async fn wait_for_line_item_repairs(
        &self,
        store: &Store,
        summary: &LineItemRepairSummary,
        poll: Duration,
        timeout: Duration,
    ) -> Result<Vec<String>, ReconcileError> {
        let started = Instant::now();
        loop {
            let pending: BTreeSet<String> = store
                .state
                .pending_line_items(PENDING_SCAN)
                .await
                .map_err(|source| ReconcileError::Store {
                    during: "the read of the line items still to write",
                    source,
                })?
                .into_iter()
                .map(|work| work.payment_key)
                .collect();
            let waiting: Vec<String> = summary
                .queued
                .iter()
                .filter(|key| pending.contains(*key))
                .cloned()
                .collect();
            if waiting.is_empty() || started.elapsed() >= timeout {
                return Ok(waiting);
            }
            tokio::time::sleep(poll).await;
        }
    }
}
