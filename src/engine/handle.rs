//! Pausing, resuming and observing a running engine.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::Serialize;

use super::{Inner, PauseReason};

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
            .finish_non_exhaustive()
    }
}

impl EngineHandle {
    /// Why the pipeline is paused, if it is.
    pub fn paused(&self) -> Option<PauseReason> {
        self.inner.pause.borrow().clone()
    }

    /// Pauses the pipeline: workers finish their batch and take no new one. Webhooks are
    /// still accepted and stored.
    pub fn pause(&self) {
        self.inner.pause.send_replace(Some(PauseReason::Manual));
    }

    /// Resumes at once, without waiting for the next token probe.
    pub fn resume(&self) {
        self.inner.pause.send_replace(None);
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
        }
    }

    /// How many payments wait in the ledger for more facts (a capture, an email): they are
    /// not done, and show in health and metrics.
    pub async fn waiting(&self) -> Result<u64, crate::queue::QueueError> {
        self.inner.store.state.waiting_count().await
    }
}
