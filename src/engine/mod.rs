//! The sync engine: drains the queue and writes contacts and deals to HubSpot.
//!
//! Per batch of up to 100 reserved events the engine makes three HubSpot calls: a contacts
//! batch upsert (by `email`, or by the Stripe customer id property), a deals batch upsert by the
//! unique `stripe_payment_id` property, and a batch of default deal-to-contact associations.
//! Upserts make every step idempotent: a redelivered event, a retried batch, or a
//! `charge.succeeded` and `payment_intent.succeeded` of one payment never make a second contact
//! or deal.
//!
//! Portals where the custom properties cannot be created (the token lacks
//! `crm.schemas.*.write`) are served by the per-event [fallback](Mode::PerEvent) path instead.
//!
//! How each HubSpot answer is handled:
//!
//! | HubSpot answers | the engine |
//! |---|---|
//! | 401 | pauses (webhooks are still stored), releases its jobs without consuming attempts, alerts once, probes with backoff and resumes by itself |
//! | 403 | pauses and alerts like 401, naming the missing scopes |
//! | 400 unknown property / invalid option | strips the named properties (never email, firstname, lastname), retries at once, alerts which were dropped |
//! | 400 naming a bad value (e.g. `INVALID_EMAIL`) | dead-letters the payments with that value, resends the rest at once |
//! | 400 naming nothing | bisects the batch until the bad payment is alone, dead-letters it |
//! | 207 with per-input errors | completes what succeeded, retries only the failed inputs |
//! | 429 | reschedules at `2^n * 1 s + jitter` (or `Retry-After`) without consuming an attempt, and holds the shared limiter back |
//! | 5xx, 423, timeout | retries with backoff, consuming an attempt; dead-letters after `max_attempts` |

mod backoff;
mod batch;
mod builder;
mod failure;
mod fallback;
mod handle;
mod hub;
mod idle;
mod pause;
mod plan;
mod purge;
mod settle;
mod worker;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};

use hubspot_crm::Client;
use stripe2hubspot_map::MappingConfig;
use tokio::sync::{watch, OnceCell};
use tracing::Instrument;

pub use backoff::Backoff;
pub use builder::{EngineError, SyncEngineBuilder};
pub use failure::PauseReason;
pub use handle::{EngineHandle, EngineMetrics};

use crate::alert::Alerter;
use crate::queue::Store;
use builder::Settings;
use handle::Counters;
use settle::Disposition;

/// The deal property every payment's deal is upserted by, created with `hasUniqueValue` so
/// HubSpot itself refuses a second deal for one payment.
pub use stripe2hubspot_map::PAYMENT_ID_PROPERTY as DEAL_ID_PROPERTY;

/// How payments are written to HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Create the custom properties if missing and use the batch path when possible, else fall
    /// back to [`Mode::PerEvent`]. The default.
    #[default]
    Auto,
    /// Three batch calls per up to 100 payments. Needs the custom properties.
    Batch,
    /// HubSpot's search-then-create flow, one payment at a time: search the contact by email,
    /// then PATCH or POST it (a 409 resolved to PATCH), then create the deal with an inline
    /// association and record its id in the [`SyncState`](crate::queue::SyncState) so a retry
    /// never creates it again. Search lags writes, so this flow races where the batch upsert
    /// does not: the engine runs it one payment at a time. Works without custom properties;
    /// 3 calls per payment instead of 3 per 100.
    PerEvent,
}

/// Properties HubSpot rejected, per object type; never sent again by this process.
#[derive(Debug, Default)]
struct Dropped {
    contacts: BTreeSet<String>,
    deals: BTreeSet<String>,
}

/// Which object type a batch call writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Object {
    Contacts,
    Deals,
}

impl Object {
    fn name(self) -> &'static str {
        match self {
            Object::Contacts => "contacts",
            Object::Deals => "deals",
        }
    }
}

struct Inner {
    store: Store,
    hubspot: Client,
    mapping: MappingConfig,
    settings: Settings,
    alerter: Arc<dyn Alerter>,
    pause: watch::Sender<Option<PauseReason>>,
    bootstrapped: OnceCell<()>,
    per_event: AtomicBool,
    /// Held from reading the contact ordering marks until the contacts are written.
    write_order: tokio::sync::Mutex<()>,
    dropped: Mutex<Dropped>,
    /// Consecutive 429s, the exponent of the rate-limit backoff.
    rate_limit_streak: AtomicU32,
    counters: Counters,
}

/// Drains the queue into HubSpot. Cheap to clone handles come from [`SyncEngine::handle`].
pub struct SyncEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine")
            .field("settings", &self.inner.settings)
            .finish_non_exhaustive()
    }
}

impl SyncEngine {
    /// A handle to pause, resume and observe the engine while it runs.
    pub fn handle(&self) -> EngineHandle {
        EngineHandle {
            inner: self.inner.clone(),
        }
    }

    /// Runs the workers until `shutdown` completes. On shutdown every worker finishes the
    /// batch in hand (completing, rescheduling or releasing each job) and stops: no job is
    /// left leased.
    pub async fn run(&self, shutdown: impl Future<Output = ()>) {
        let (stop, stopped) = watch::channel(false);
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..self.inner.settings.concurrency {
            let inner = self.inner.clone();
            let stopped = stopped.clone();
            workers.spawn(
                async move { inner.work(stopped).await }
                    .instrument(tracing::info_span!("worker", worker)),
            );
        }
        let prober = tokio::spawn(self.inner.clone().probe_while_paused(stopped.clone()));
        let purger = tokio::spawn(self.inner.clone().purge_periodically(stopped));
        shutdown.await;
        tracing::info!("shutting down: finishing the batches in hand");
        let _ = stop.send(true);
        while workers.join_next().await.is_some() {}
        let _ = prober.await;
        let _ = purger.await;
    }
}
