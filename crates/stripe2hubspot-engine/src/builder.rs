//! Settings of the engine, checked once when it is built.

use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot_crm::Client;
use stripe2hubspot_map::MappingConfig;
use tokio::sync::{watch, OnceCell};

use super::handle::Counters;
use super::{Backoff, Dropped, Inner, Role, SyncEngine};

/// How long faults that are not the payment's own are retried, from the event's creation:
/// 72 hours, as long as Stripe itself redelivers an event.
pub const DEFAULT_RETRY_FOR: Duration = Duration::from_secs(72 * 3600);

/// How long a shutdown lets batches in hand finish: 20 s, under Kubernetes' 30 s grace period.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// How long a reservation lasts unless the worker renews it: 10 s, renewed every third.
pub const DEFAULT_LEASE: Duration = Duration::from_secs(10);

/// How long dead letters are kept before the hourly purge deletes them: 30 days.
pub const DEFAULT_DEAD_LETTER_RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
use crate::alert::{Alerter, Throttled, TracingAlerter};
use stripe2hubspot_queue::Store;

/// Builds a [`SyncEngine`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct SyncEngineBuilder {
    store: Store,
    hubspot: Client,
    mapping: MappingConfig,
    settings: Settings,
    alerter: Arc<dyn Alerter>,
    stripe: Option<stripe2hubspot_stripe::StripeClient>,
}

#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) concurrency: usize,
    pub(super) batch_size: usize,
    pub(super) max_attempts: u32,
    pub(super) backoff: Backoff,
    pub(super) probe: Backoff,
    pub(super) lease: Duration,
    pub(super) poll_interval: Duration,
    pub(super) keep_done: Duration,
    pub(super) keep_dead: Duration,
    pub(super) retry_for: Duration,
    pub(super) shutdown_grace: Duration,
    pub(super) standby_retry: Duration,
    pub(super) leader_check: Duration,
    pub(super) alert_window: Duration,
    /// The pre-issue-24 write path, for the side-by-side throughput bench only.
    pub(super) upsert_only: bool,
    /// Merge a contact holding a customer's new email into the customer's contact.
    pub(super) merge_contacts: bool,
    /// `customer.deleted` deletes the contact for GDPR and erases the person from the store.
    pub(super) gdpr_delete: bool,
    /// The portal this engine syncs, as the `portal` label of its metrics and named in its
    /// alerts and logs.
    pub(super) portal: Option<String>,
}

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

    /// The fewest attempts an event gets before a fault that is not its own dead-letters it
    /// (default 10); it is dead-lettered only once [`retry_for`](Self::retry_for) has also
    /// passed. 429s, pauses and lost leadership never count.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.settings.max_attempts = attempts;
        self
    }

    /// How long after an event was created faults that are not the payment's own (5xx,
    /// timeouts, 409 races) are retried before it is dead-lettered (default
    /// [`DEFAULT_RETRY_FOR`], 72 hours: Stripe's own redelivery horizon, so a HubSpot outage
    /// shorter than that loses nothing).
    pub fn retry_for(mut self, window: Duration) -> Self {
        self.settings.retry_for = window;
        self
    }

    /// For the comparison bench (`benches/sync_throughput.rs`) only, not a supported
    /// setting: write every payment the way releases before deal creation did (contacts
    /// upserted every time, deals upserted, then a separate association call: 3 requests per
    /// batch), so the bench can show both paths in one run. Off by default.
    #[doc(hidden)]
    pub fn compare_upsert_only_path(mut self, on: bool) -> Self {
        self.settings.upsert_only = on;
        self
    }

    /// On shutdown, how long batches in hand may still finish (default
    /// [`DEFAULT_SHUTDOWN_GRACE`], 20 s, under Kubernetes' 30 s). Whatever is unfinished then
    /// is released to the queue and [`SyncEngine::run`] returns.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.settings.shutdown_grace = grace;
        self
    }

    /// The portal this engine syncs (a deployment may sync many): the `portal` label of its
    /// metrics, a `portal` field on the span of its log lines, and `[portal ID]` before every
    /// alert it sends. Default: none of these.
    pub fn portal(mut self, id: impl Into<String>) -> Self {
        self.settings.portal = Some(id.into());
        self
    }

    /// How often a standby process tries to become the syncer (default 3 s). With the
    /// default 10 s lease a dead syncer's work resumes within 15 s.
    pub fn standby_retry(mut self, every: Duration) -> Self {
        self.settings.standby_retry = every;
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

    /// How long a reserved batch stays leased unless renewed (default [`DEFAULT_LEASE`], 10 s).
    /// The worker renews the leases of the batch it is writing every third of this; a job
    /// whose worker died is taken up again once its lease runs out, so keep it short.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.settings.lease = lease;
        self
    }

    /// How long an idle worker waits before looking for events again (default 200 ms). A queue
    /// with an [enqueue signal](stripe2hubspot_queue::Queue::enqueue_signal) (all built-in ones) wakes
    /// it as soon as an event is stored, so this bounds only how late retries falling due and
    /// events stored by other processes on SQLite are found.
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.settings.poll_interval = interval;
        self
    }

    /// How long completed events are kept so Stripe's redeliveries are still recognised as
    /// duplicates (default [`DEFAULT_KEEP_DONE`](stripe2hubspot_queue::DEFAULT_KEEP_DONE), 7 days;
    /// Stripe redelivers for up to 3 days). Older ones are purged hourly.
    pub fn keep_done(mut self, keep: Duration) -> Self {
        self.settings.keep_done = keep;
        self
    }

    /// How long dead letters (and their payloads, which may hold personal data) are kept for
    /// an operator to inspect or replay (default [`DEFAULT_DEAD_LETTER_RETENTION`], 30 days).
    /// Older ones are purged hourly.
    pub fn dead_letter_retention(mut self, keep: Duration) -> Self {
        self.settings.keep_dead = keep;
        self
    }

    /// When a customer's new email already belongs to another HubSpot contact: `true` merges
    /// that contact into the customer's own (the customer's stays, keeping its id, and gains
    /// the other's email, deals and history), `false` (the default) keeps writing the
    /// customer's contact without the new email and alerts once, naming both contact ids.
    /// HubSpot's merge cannot be undone; each one is logged with both ids. The binary reads
    /// `STRIPE2HUBSPOT_MERGE_CONTACTS`.
    pub fn merge_contacts(mut self, merge: bool) -> Self {
        self.settings.merge_contacts = merge;
        self
    }

    /// What `customer.deleted` does: `true` deletes the customer's contact with HubSpot's GDPR
    /// delete (permanent; by its recorded id, else by its email) and then erases the person
    /// from the store (email, name and phone of the customer and its payments, and stored
    /// event payloads naming it; deals and amounts stay); `false` (the default) only marks the
    /// customer deleted in the store. The binary reads `STRIPE2HUBSPOT_GDPR_DELETE`.
    pub fn gdpr_delete(mut self, delete: bool) -> Self {
        self.settings.gdpr_delete = delete;
        self
    }

    /// A Stripe API client (read-only key) for the reads the ledger cannot settle alone:
    /// two events of one subscription written in the same second with different contents
    /// are settled by reading the subscription as it is now. Without one, such a tie is
    /// settled deterministically (by event id), which may keep the older of the two.
    ///
    /// With one, each charge's balance transaction is also read once (the key needs
    /// "Balance: Read"), so a contact's `stripe_lifetime_value` counts every payment in the
    /// account's settlement currency, whatever the payment's own; a failed read leaves the
    /// value in the payments' own currency until the charge's next write. See
    /// [`contact_properties_of`](stripe2hubspot_map::contact_properties_of).
    pub fn stripe(mut self, client: stripe2hubspot_stripe::StripeClient) -> Self {
        self.stripe = Some(client);
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
        self.settings.alert_window = window;
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
        if s.lease < Duration::from_secs(1) {
            return invalid(
                "lease",
                "must be at least 1 second (it is renewed every third)",
            );
        }
        if s.standby_retry.is_zero() {
            return invalid("standby_retry", "must be longer than zero");
        }
        let (pause, _) = watch::channel(None);
        let settings = self.settings;
        let probe_cap = settings.probe.cap;
        let alerter: Arc<dyn Alerter> = match &settings.portal {
            Some(portal) => Arc::new(super::alert::PortalNamed::new(portal, self.alerter)),
            None => self.alerter,
        };
        let alerter = Arc::new(Throttled::new(alerter, settings.alert_window));
        Ok(SyncEngine {
            inner: Arc::new(Inner {
                store: self.store,
                hubspot: self.hubspot,
                stripe: self.stripe,
                mapping: self.mapping,
                settings,
                alerter,
                pause,
                announced: Mutex::new(None),
                bootstrapped: OnceCell::new(),
                write_order: tokio::sync::Mutex::new(()),
                unfinished_moves: Mutex::default(),
                refused_emails: Mutex::default(),
                alerted_pairs: Mutex::default(),
                dropped: Mutex::new(Dropped::default()),
                rate_limit_streak: AtomicU32::new(0),
                counters: Counters::default(),
                role: watch::channel(Role::Standby).0,
                leading: AtomicBool::new(false),
                companies_pass: super::side_pass::SidePass::new("companies").probe_every(probe_cap),
                line_items_pass: super::side_pass::SidePass::new("line items")
                    .probe_every(probe_cap),
                line_items: Default::default(),
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

impl SyncEngine {
    /// Starts building an engine that drains `store` into HubSpot through `hubspot`, mapping
    /// events with `mapping`. The engine reserves and answers jobs through `store.queue`, keeps
    /// the payment ledger in `store.state`, and purges completed
    /// jobs through `store.admin`. Give the client [`hubspot_crm::RetryPolicy::none`]: the
    /// engine owns retries, through the durable queue.
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
                lease: DEFAULT_LEASE,
                poll_interval: Duration::from_millis(200),
                keep_done: stripe2hubspot_queue::DEFAULT_KEEP_DONE,
                keep_dead: DEFAULT_DEAD_LETTER_RETENTION,
                retry_for: DEFAULT_RETRY_FOR,
                shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
                standby_retry: Duration::from_secs(3),
                leader_check: Duration::from_secs(1),
                alert_window: Duration::from_secs(300),
                upsert_only: false,
                merge_contacts: false,
                gdpr_delete: false,
                portal: None,
            },
            alerter: Arc::new(TracingAlerter),
            stripe: None,
        }
    }
}
