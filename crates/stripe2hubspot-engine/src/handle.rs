//! Pausing, resuming and observing a running engine.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use stripe2hubspot_queue::OperatorPause;

use super::{Inner, PauseReason, Role};

/// Counters since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EngineMetrics {
    /// Events written to HubSpot (contact and deal) and completed.
    pub synced: u64,
    /// Events completed without a write (unhandled type, the payment waits in the ledger,
    /// HubSpot already holds its state, ...).
    pub skipped: u64,
    /// Events rescheduled for a later attempt.
    pub retried: u64,
    /// Events moved to the dead-letter list.
    pub dead_lettered: u64,
    /// HubSpot requests made.
    pub hubspot_requests: u64,
    /// 429 answers received.
    pub rate_limited: u64,
    /// Times the pipeline paused.
    pub pauses: u64,
    /// Worker tasks that panicked and were restarted (their batch went back to the queue).
    pub worker_restarts: u64,
}

#[derive(Debug, Default)]
pub(super) struct Counters {
    pub(super) synced: AtomicU64,
    pub(super) skipped: AtomicU64,
    pub(super) retried: AtomicU64,
    pub(super) dead_lettered: AtomicU64,
    pub(super) hubspot_requests: AtomicU64,
    pub(super) rate_limited: AtomicU64,
    pub(super) pauses: AtomicU64,
    pub(super) worker_restarts: AtomicU64,
    /// Unix seconds of the last synced event, 0 before the first.
    pub(super) last_synced_at: AtomicI64,
}

/// Counter names in the [`metrics`] facade, next to the [`EngineMetrics`] field they follow.
pub mod metric_names {
    /// Events written to HubSpot and completed.
    pub const PAYMENTS_SYNCED_TOTAL: &str = "stripe2hubspot_payments_synced_total";
    /// Events completed without a write.
    pub const EVENTS_SKIPPED_TOTAL: &str = "stripe2hubspot_events_skipped_total";
    /// Events rescheduled for a later attempt.
    pub const EVENTS_RETRIED_TOTAL: &str = "stripe2hubspot_events_retried_total";
    /// Events moved to the dead-letter list.
    pub const DEAD_LETTERS_TOTAL: &str = "stripe2hubspot_dead_letters_total";
    /// Times the pipeline paused.
    pub const PAUSES_TOTAL: &str = "stripe2hubspot_pauses_total";
}

impl Counters {
    /// Mirrors an increment of one of these counters into the [`metrics`] facade, labelled
    /// `portal` when the engine syncs a named portal (and notes the time of the last sync). Counters without a metric of their own (HubSpot requests
    /// and 429s, which the HubSpot client records itself) emit nothing.
    pub(super) fn emit(&self, counter: &AtomicU64, n: u64, portal: Option<&str>) {
        use metric_names::*;
        let name = if std::ptr::eq(counter, &self.synced) {
            let now = time::OffsetDateTime::now_utc().unix_timestamp();
            self.last_synced_at.store(now, Ordering::Relaxed);
            PAYMENTS_SYNCED_TOTAL
        } else if std::ptr::eq(counter, &self.skipped) {
            EVENTS_SKIPPED_TOTAL
        } else if std::ptr::eq(counter, &self.retried) {
            EVENTS_RETRIED_TOTAL
        } else if std::ptr::eq(counter, &self.dead_lettered) {
            DEAD_LETTERS_TOTAL
        } else if std::ptr::eq(counter, &self.pauses) {
            PAUSES_TOTAL
        } else {
            return;
        };
        match portal {
            Some(portal) => metrics::counter!(name, "portal" => portal.to_owned()).increment(n),
            None => metrics::counter!(name).increment(n),
        }
    }
}

/// Controls and observes a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    pub(super) inner: Arc<Inner>,
}

impl std::fmt::Debug for EngineHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineHandle")
            .field("paused", &self.paused())
            .field("role", &self.role())
            .finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// Why the pipeline is paused, if it is.
    pub fn paused(&self) -> Option<PauseReason> {
        self.inner.pause.borrow().clone()
    }

    /// Pauses the pipeline of this process only: workers finish their batch and take no new
    /// one. Webhooks are still accepted and stored. Other processes sharing the store, and this
    /// one after a restart, do not see it: use [`pause_everywhere`](Self::pause_everywhere)
    /// for that.
    pub fn pause(&self) {
        self.inner.pause.send_replace(Some(PauseReason::Manual));
    }

    /// Resumes this process at once, without waiting for the next probe.
    pub fn resume(&self) {
        self.inner.pause.send_replace(None);
        // Whatever pause was announced is over: the next one is news again.
        self.inner.announced_pause().take();
    }

    /// Pauses the sync for every process sharing the store: the pause is stored (with `by`
    /// and the time) so it holds on the leader wherever the request landed, across a
    /// failover and a restart. This process pauses at once; the others within a second.
    pub async fn pause_everywhere(
        &self,
        by: &str,
    ) -> Result<OperatorPause, stripe2hubspot_queue::QueueError> {
        let stored = self.inner.store.pause.pause_sync(by).await?;
        self.pause();
        Ok(stored)
    }

    /// Lifts the stored pause for every process. This process resumes at once (if the
    /// operator's pause is what held it); the others within a second.
    pub async fn resume_everywhere(&self) -> Result<(), stripe2hubspot_queue::QueueError> {
        self.inner.store.pause.resume_sync().await?;
        if self.paused() == Some(PauseReason::Manual) {
            self.resume();
        }
        Ok(())
    }

    /// The stored operator's pause (who paused and when), if one is in force.
    pub async fn operator_pause(
        &self,
    ) -> Result<Option<OperatorPause>, stripe2hubspot_queue::QueueError> {
        self.inner.store.pause.operator_pause().await
    }

    /// Counters since start.
    pub fn metrics(&self) -> EngineMetrics {
        let c = &self.inner.counters;
        EngineMetrics {
            synced: c.synced.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            retried: c.retried.load(Ordering::Relaxed),
            dead_lettered: c.dead_lettered.load(Ordering::Relaxed),
            hubspot_requests: c.hubspot_requests.load(Ordering::Relaxed),
            rate_limited: c.rate_limited.load(Ordering::Relaxed),
            pauses: c.pauses.load(Ordering::Relaxed),
            worker_restarts: c.worker_restarts.load(Ordering::Relaxed),
        }
    }

    /// Whether this process runs the sync ([`Role::Leader`]) or stands by for the one that
    /// does ([`Role::Standby`]). A store one process uses always leads once running.
    pub fn role(&self) -> Role {
        *self.inner.role.borrow()
    }

    /// When the last event was synced to HubSpot by this process, if one was.
    pub fn last_synced_at(&self) -> Option<time::OffsetDateTime> {
        match self.inner.counters.last_synced_at.load(Ordering::Relaxed) {
            0 => None,
            secs => time::OffsetDateTime::from_unix_timestamp(secs).ok(),
        }
    }

    /// How many payments wait in the ledger for more facts (a capture, an email): they are
    /// not done, and show in health and metrics.
    pub async fn waiting(&self) -> Result<u64, stripe2hubspot_queue::QueueError> {
        self.inner.store.state.waiting_count().await
    }

    /// Up to `limit` of the payments [`waiting`](Self::waiting) counts, by key.
    pub async fn waiting_payments(
        &self,
        limit: usize,
    ) -> Result<Vec<stripe2hubspot_queue::LedgerEntry>, stripe2hubspot_queue::QueueError> {
        self.inner.store.state.waiting(limit).await
    }

    /// The mapping the engine writes with (it decides what a waiting payment waits for).
    pub fn mapping(&self) -> &stripe2hubspot_map::MappingConfig {
        &self.inner.mapping
    }
}
