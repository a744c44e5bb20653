//! Settings of the engine, checked once when it is built.

use std::sync::atomic::{AtomicBool, AtomicU32};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hubspot_crm::Client;
use stripe2hubspot_map::MappingConfig;
use tokio::sync::{watch, OnceCell};

use super::handle::Counters;
use super::{Backoff, Dropped, Inner, Mode, SyncEngine};
use crate::alert::{Alerter, Throttled, TracingAlerter};
use crate::queue::Store;

/// Builds a [`SyncEngine`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct SyncEngineBuilder {
    store: Store,
    hubspot: Client,
    mapping: MappingConfig,
    settings: Settings,
    alerter: Arc<dyn Alerter>,
    alert_window: Duration,
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
    pub(super) mode: Mode,
    pub(super) keep_done: Duration,
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

    /// How long an idle worker waits before looking for events again (default 200 ms). A queue
    /// with an [enqueue signal](crate::queue::Queue::enqueue_signal) (all built-in ones) wakes
    /// it as soon as an event is stored, so this bounds only how late retries falling due and
    /// events stored by other processes on SQLite are found.
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

impl SyncEngine {
    /// Starts building an engine that drains `store` into HubSpot through `hubspot`, mapping
    /// events with `mapping`. The engine reserves and answers jobs through `store.queue`, keeps
    /// contact ordering marks and per-event deal records in `store.state`, and purges completed
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
                lease: Duration::from_secs(600),
                poll_interval: Duration::from_millis(200),
                mode: Mode::Auto,
                keep_done: crate::queue::DEFAULT_KEEP_DONE,
            },
            alerter: Arc::new(TracingAlerter),
            alert_window: Duration::from_secs(300),
        }
    }
}
