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
//! How each HubSpot answer is handled (seed step 4):
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
mod failure;
mod fallback;
mod hub;
mod plan;

use std::collections::BTreeSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use hubspot_crm::{Client, ObjectRef};
use serde::Serialize;
use stripe2hubspot_map::{map_event, MapOutcome, MappingConfig};
use tokio::sync::{watch, OnceCell};
use tracing::Instrument;

pub use backoff::Backoff;
pub use failure::PauseReason;

use crate::alert::{Alert, AlertKind, Alerter, Throttled, TracingAlerter};
use crate::queue::{Attempt, Job, Store};
use failure::CallFailure;
use plan::Item;

/// The deal property every payment's deal is upserted by. Created with `hasUniqueValue`.
pub const DEAL_ID_PROPERTY: &str = "stripe_payment_id";

/// How payments are written to HubSpot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Create the custom properties if missing and use the batch path when possible, else fall
    /// back to [`Mode::PerEvent`]. The default.
    #[default]
    Auto,
    /// Three batch calls per up to 100 payments. Needs the custom properties.
    Batch,
    /// The blueprint's flow per payment: search the contact by email, then PATCH or POST
    /// (a 409 resolved to PATCH), then create the deal with an inline association and record
    /// its id against the payment so a retry never creates it again. Works without custom
    /// properties; 3 calls per payment instead of 3 per 100.
    PerEvent,
}

/// Counters since the engine started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct EngineMetrics {
    /// Events written to HubSpot (contact and deal) and completed.
    pub synced: u64,
    /// Events completed without a write (refunded, no email, unhandled type, ...).
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
struct Counters {
    synced: AtomicU64,
    skipped: AtomicU64,
    retried: AtomicU64,
    dead_lettered: AtomicU64,
    hubspot_requests: AtomicU64,
    rate_limited: AtomicU64,
    pauses: AtomicU64,
}

/// Builds a [`SyncEngine`].
pub struct SyncEngineBuilder {
    store: Store,
    hubspot: Client,
    mapping: MappingConfig,
    settings: Settings,
    alerter: Arc<dyn Alerter>,
    alert_window: Duration,
}

#[derive(Debug, Clone)]
struct Settings {
    concurrency: usize,
    batch_size: usize,
    max_attempts: u32,
    backoff: Backoff,
    probe: Backoff,
    lease: Duration,
    poll_interval: Duration,
    mode: Mode,
    keep_done: Duration,
}

/// How often the engine deletes completed jobs older than the keep period.
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

/// A configuration the engine cannot run with.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A builder setting is out of range.
    #[error("invalid engine setting {setting}: {message}")]
    InvalidSetting {
        /// The builder method.
        setting: &'static str,
        /// What is wrong and what is allowed.
        message: String,
    },
}

impl SyncEngineBuilder {
    /// Number of workers reserving batches concurrently (default 2). HubSpot's quota is
    /// shared by all of them through the client's limiter.
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.settings.concurrency = workers;
        self
    }

    /// Events reserved per batch, 1 to 100 (default 100, HubSpot's batch maximum).
    pub fn batch_size(mut self, size: usize) -> Self {
        self.settings.batch_size = size;
        self
    }

    /// Attempts before an event is dead-lettered (default 10). 429s and pauses never count.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.max_attempts = attempts;
        self
    }

    /// Delays between attempts (default `2^n * 1 s + up to 1 s jitter`, capped at 5 min).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.settings.backoff = backoff;
        self
    }

    /// Delays between token probes while paused on a 401 (default 1 s doubling to 60 s).
    pub fn probe_backoff(mut self, backoff: Backoff) -> Self {
        self.settings.probe = backoff;
        self
    }

    /// How long a reserved batch stays leased before another worker may take it (default
    /// 10 minutes). Must exceed the time one batch can take, including rate-limit waits.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease;
        self
    }

    /// How long an idle worker waits before looking for new events again (default 200 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// How long completed events are kept so Stripe's redeliveries are still recognised as
    /// duplicates (default [`DEFAULT_KEEP_DONE`](crate::queue::DEFAULT_KEEP_DONE), 7 days;
    /// Stripe redelivers for up to 3 days). Older ones are purged hourly.
    pub fn keep_done(mut self, keep: Duration) -> Self {
        self.settings.keep_done = keep;
        self
    }

    /// Batch, per-event or automatic choice (default [`Mode::Auto`]).
    pub fn mode(mut self, mode: Mode) -> Self {
        self.settings.mode = mode;
        self
    }

    /// Where alerts go (default: the `tracing` log).
    pub fn alerter(mut self, alerter: impl Alerter) -> Self {
        self.alerter = Arc::new(alerter);
        self
    }

    /// At most one alert of each kind per window (default 5 minutes), so a storm of
    /// identical failures sends one message.
    pub fn alert_window(mut self, window: Duration) -> Self {
        self.alert_window = window;
        self
    }

    /// Checks the settings and builds the engine.
    pub fn build(self) -> Result<SyncEngine, EngineError> {
        let s = &self.settings;
        let invalid = |setting, message: &str| {
            Err(EngineError::InvalidSetting {
                setting,
                message: message.to_owned(),
            })
        };
        if s.concurrency == 0 {
            return invalid("concurrency", "at least one worker is needed");
        }
        if !(1..=100).contains(&s.batch_size) {
            return invalid("batch_size", "must be 1 to 100 (HubSpot's batch maximum)");
        }
        if s.max_attempts == 0 {
            return invalid("max_attempts", "must be at least 1");
        }
        if s.lease.is_zero() {
            return invalid("lease", "must be longer than zero");
        }
        let (pause, _) = watch::channel(None);
        Ok(SyncEngine {
            inner: Arc::new(Inner {
                store: self.store,
                hubspot: self.hubspot,
                mapping: self.mapping,
                settings: self.settings,
                alerter: Arc::new(Throttled::new(self.alerter, self.alert_window)),
                pause,
                bootstrapped: OnceCell::new(),
                per_event: AtomicBool::new(false),
                write_order: tokio::sync::Mutex::new(()),
                dropped: Mutex::new(Dropped::default()),
                rate_limit_streak: AtomicU32::new(0),
                counters: Counters::default(),
            }),
        })
    }
}

impl std::fmt::Debug for SyncEngineBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngineBuilder")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
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

/// Controls and observes a running engine.
#[derive(Clone)]
pub struct EngineHandle {
    inner: Arc<Inner>,
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

    /// The path in use: [`Mode::Batch`] or [`Mode::PerEvent`] once the properties bootstrap
    /// ran, [`Mode::Auto`] before.
    pub fn mode(&self) -> Mode {
        if self.inner.bootstrapped.get().is_none() {
            Mode::Auto
        } else if self.inner.per_event.load(Ordering::Relaxed) {
            Mode::PerEvent
        } else {
            Mode::Batch
        }
    }
}

fn mark_key(key: &stripe2hubspot_map::ContactKey) -> String {
    format!("{}={}", key.id_property(), key.value())
}

/// What to do with one job after a batch.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Disposition {
    Synced,
    Skipped(String),
    /// Retry later. `delay: None` means the job's own backoff for its attempt count.
    Retry {
        delay: Option<Duration>,
        attempt: Attempt,
        reason: String,
    },
    /// Back to the queue at once, attempt not consumed (the pipeline paused).
    Release,
    DeadLetter(String),
}

impl SyncEngine {
    /// Starts building an engine that drains `queue` into HubSpot through `hubspot`, mapping
    /// events with `mapping`. Give the client [`hubspot_crm::RetryPolicy::none`]: the engine
    /// owns retries, through the durable queue.
    pub fn builder(store: Store, hubspot: Client, mapping: MappingConfig) -> SyncEngineBuilder {
        SyncEngineBuilder {
            store,
            hubspot,
            mapping,
            settings: Settings {
                concurrency: 2,
                batch_size: 100,
                max_attempts: 10,
                backoff: Backoff::default(),
                probe: Backoff {
                    base: Duration::from_secs(1),
                    cap: Duration::from_secs(60),
                    jitter: Duration::from_millis(500),
                },
                lease: Duration::from_secs(600),
                poll_interval: Duration::from_millis(200),
                mode: Mode::Auto,
                keep_done: crate::queue::DEFAULT_KEEP_DONE,
            },
            alerter: Arc::new(TracingAlerter),
            alert_window: Duration::from_secs(300),
        }
    }

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

impl Inner {
    fn count(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    async fn work(&self, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            if self.pause.borrow().is_some() {
                let mut resumed = self.pause.subscribe();
                tokio::select! {
                    _ = resumed.wait_for(Option::is_none) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            // Taking jobs while HubSpot holds us back would only burn their leases.
            if let Some(until) = self.hubspot.limiter().held_until() {
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let jobs = match self
                .store
                .queue
                .reserve(self.settings.batch_size, self.settings.lease)
                .await
            {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::error!(%error, "could not reserve jobs; retrying");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.poll_interval) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            self.process(jobs).await;
        }
    }

    async fn process(&self, jobs: Vec<Job>) {
        let mut dispositions: Vec<Option<Disposition>> = vec![None; jobs.len()];
        let mut items = Vec::new();
        for (index, job) in jobs.iter().enumerate() {
            let event = match stripe_events::parse_event(&job.payload) {
                Ok(event) => event,
                Err(error) => {
                    dispositions[index] = Some(Disposition::DeadLetter(format!(
                        "the stored payload is not a Stripe event: {error}"
                    )));
                    continue;
                }
            };
            match map_event(&event, &self.mapping) {
                Ok(MapOutcome::Sync(command)) => items.push(Item {
                    job: index,
                    command,
                    stale: false,
                }),
                Ok(MapOutcome::Skip(reason)) => {
                    dispositions[index] = Some(Disposition::Skipped(reason.to_string()))
                }
                Err(error) => {
                    dispositions[index] = Some(Disposition::DeadLetter(error.to_string()))
                }
            }
        }
        // Workers take turns from reading the ordering marks until their contacts are written,
        // so an older payment's write can never land after a newer one's.
        let write_order = self.write_order.lock().await;
        if let Err(error) = self.mark_stale(&mut items).await {
            let disposition = Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: format!("could not read the contact ordering marks: {error}"),
            };
            for item in items.drain(..) {
                dispositions[item.job] = Some(disposition.clone());
            }
        }
        if !items.is_empty() {
            match self.bootstrap().await {
                Err(failure) => {
                    let disposition = self.on_failure(&failure).await;
                    for item in &items {
                        dispositions[item.job] = Some(disposition.clone());
                    }
                }
                Ok(()) if self.per_event.load(Ordering::Relaxed) => {
                    // The turn covers the whole per-event path: two workers racing on one
                    // payment would both miss its recorded deal and create two.
                    for item in &items {
                        dispositions[item.job] = Some(self.sync_one(item).await);
                    }
                }
                Ok(()) => {
                    for (job, disposition) in self.sync_batch(&items, write_order).await {
                        dispositions[job] = Some(disposition);
                    }
                }
            }
        }
        for (job, disposition) in jobs.iter().zip(dispositions) {
            let disposition = disposition.unwrap_or_else(|| Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: "no outcome was recorded for this event (a bug; retrying)".into(),
            });
            self.settle(job, disposition)
                .instrument(tracing::info_span!(
                    "event",
                    event_id = %job.event_id,
                    event_type = %job.event_type,
                    attempt = job.attempts + 1
                ))
                .await;
        }
    }

    /// Flags items whose contact already has a newer payment synced (by an earlier batch,
    /// another worker or another process), so their last-charge data never overwrites newer.
    async fn mark_stale(&self, items: &mut [Item]) -> Result<(), crate::queue::QueueError> {
        if items.is_empty() {
            return Ok(());
        }
        let mut newest: std::collections::BTreeMap<String, i64> = Default::default();
        for item in items.iter() {
            let key = mark_key(&item.command.contact_key);
            let created = newest.entry(key).or_insert(item.command.event_created);
            *created = (*created).max(item.command.event_created);
        }
        let marks: Vec<(String, i64)> = newest.into_iter().collect();
        let stored = self.store.state.advance_contact_marks(&marks).await?;
        let stored: std::collections::HashMap<&str, i64> = marks
            .iter()
            .map(|(key, _)| key.as_str())
            .zip(stored)
            .collect();
        for item in items.iter_mut() {
            let mark = stored
                .get(mark_key(&item.command.contact_key).as_str())
                .copied();
            item.stale = mark.is_some_and(|mark| item.command.event_created < mark);
        }
        Ok(())
    }

    /// Writes one job's outcome to the queue.
    async fn settle(&self, job: &Job, disposition: Disposition) {
        let c = &self.counters;
        let result = match disposition {
            Disposition::Synced => {
                self.count(&c.synced, 1);
                tracing::info!(outcome = "synced", "payment synced to HubSpot");
                self.store.queue.complete(job).await
            }
            Disposition::Skipped(reason) => {
                self.count(&c.skipped, 1);
                tracing::info!(outcome = "skipped", %reason, "nothing to sync");
                self.store.queue.complete(job).await
            }
            Disposition::Release => {
                tracing::info!(outcome = "released", "pipeline paused; event stays queued");
                self.store.queue.release(job).await
            }
            Disposition::Retry {
                attempt: Attempt::Consume,
                reason,
                ..
            } if job.attempts + 1 >= self.settings.max_attempts => {
                self.dead_letter(
                    job,
                    format!("gave up after {} attempts: {reason}", job.attempts + 1),
                )
                .await
            }
            Disposition::Retry {
                delay,
                attempt,
                reason,
            } => {
                self.count(&c.retried, 1);
                let delay = delay.unwrap_or_else(|| self.settings.backoff.delay(job.attempts));
                tracing::warn!(outcome = "retry", ?delay, %reason, "will retry");
                self.store
                    .queue
                    .retry(job, SystemTime::now() + delay, &reason, attempt)
                    .await
            }
            Disposition::DeadLetter(reason) => self.dead_letter(job, reason).await,
        };
        if let Err(error) = result {
            // The lease was lost or the store is down: the job becomes ready again when its
            // lease expires, and upserts make the repeat harmless.
            tracing::error!(%error, "could not record the outcome in the queue");
        }
    }

    async fn dead_letter(&self, job: &Job, reason: String) -> Result<(), crate::queue::QueueError> {
        self.count(&self.counters.dead_lettered, 1);
        tracing::error!(outcome = "dead_letter", %reason, "payment moved to the dead-letter list");
        self.alerter
            .alert(Alert::new(
                AlertKind::DeadLettered,
                format!(
                    "Stripe event {} could not be synced and was dead-lettered: {reason}. Fix the cause, then replay it.",
                    job.event_id
                ),
            ))
            .await;
        self.store.queue.dead_letter(job, &reason).await
    }

    /// The disposition for a failure that hit a whole call, with its side effects: pausing
    /// on 401/403, holding the limiter on 429.
    async fn on_failure(&self, failure: &CallFailure) -> Disposition {
        match failure {
            CallFailure::Pause(reason) => {
                self.enter_pause(reason.clone()).await;
                Disposition::Release
            }
            CallFailure::RateLimited { retry_after } => {
                self.count(&self.counters.rate_limited, 1);
                let streak = self.rate_limit_streak.fetch_add(1, Ordering::Relaxed);
                let delay = retry_after.unwrap_or_else(|| self.settings.backoff.delay(streak));
                self.hubspot.limiter().hold_for(delay);
                Disposition::Retry {
                    delay: Some(delay),
                    attempt: Attempt::Keep,
                    reason: "HubSpot rate limit (429)".into(),
                }
            }
            CallFailure::Transient(message) => Disposition::Retry {
                delay: None,
                attempt: Attempt::Consume,
                reason: message.clone(),
            },
            CallFailure::Rejected { message, .. } | CallFailure::Permanent(message) => {
                Disposition::DeadLetter(message.clone())
            }
        }
    }

    fn succeeded(&self) {
        self.rate_limit_streak.store(0, Ordering::Relaxed);
    }

    async fn enter_pause(&self, reason: PauseReason) {
        let newly_paused = self.pause.send_if_modified(|state| {
            if state.is_some() {
                return false;
            }
            *state = Some(reason.clone());
            true
        });
        if newly_paused {
            self.count(&self.counters.pauses, 1);
            let kind = match reason {
                PauseReason::Unauthorized => AlertKind::Unauthorized,
                _ => AlertKind::MissingScopes,
            };
            self.alerter
                .alert(Alert::new(
                    kind,
                    format!("Sync to HubSpot paused: {reason}. Stripe webhooks are still accepted and stored; the sync resumes by itself once HubSpot accepts the token."),
                ))
                .await;
        }
    }

    /// Deletes completed jobs past the keep period, so the store does not grow forever.
    async fn purge_periodically(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            match self.store.admin.purge_done(self.settings.keep_done).await {
                Ok(0) => {}
                Ok(purged) => {
                    tracing::info!(purged, "purged completed events past the keep period")
                }
                Err(error) => tracing::warn!(%error, "could not purge completed events"),
            }
            tokio::select! {
                _ = tokio::time::sleep(PURGE_INTERVAL) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    /// While paused by a HubSpot answer, probes the token with backoff and resumes once
    /// HubSpot accepts it.
    async fn probe_while_paused(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut paused = self.pause.subscribe();
        loop {
            tokio::select! {
                _ = paused.wait_for(|p| matches!(p, Some(PauseReason::Unauthorized | PauseReason::MissingScopes(_)))) => {}
                _ = stopped.changed() => return,
            }
            let mut attempt = 0;
            loop {
                // Missing scopes do not show on a read: wait the longest probe delay and let
                // the next batch find out.
                let scopes = matches!(*self.pause.borrow(), Some(PauseReason::MissingScopes(_)));
                let delay = if scopes {
                    self.settings.probe.cap
                } else {
                    self.settings.probe.delay(attempt)
                };
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped.changed() => return,
                }
                let reason = self.pause.borrow().clone();
                let Some(reason) = reason.filter(|r| *r != PauseReason::Manual) else {
                    break;
                };
                if self.token_works(&reason).await {
                    self.pause.send_replace(None);
                    self.alerter
                        .alert(Alert::new(
                            AlertKind::Resumed,
                            "HubSpot accepts the token again; sync to HubSpot resumed.",
                        ))
                        .await;
                    break;
                }
            }
        }
    }

    /// Whether a probe call gets past authentication. Any answer other than 401/403 (a 404
    /// for the nonexistent contact 0 included) proves HubSpot accepts the token.
    async fn token_works(&self, reason: &PauseReason) -> bool {
        if let PauseReason::MissingScopes(_) = reason {
            return true;
        }
        self.count_request();
        let probe = self.hubspot.contacts().get(&ObjectRef::id("0"), &[]).await;
        !matches!(
            probe,
            Err(hubspot_crm::Error::Unauthorized { .. } | hubspot_crm::Error::Forbidden { .. })
        )
    }
}
