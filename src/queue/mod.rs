//! The durable job queue between webhook ingest and the HubSpot worker.
//!
//! Ingest stores each verified Stripe event with [`Queue::enqueue`] before answering Stripe, and
//! the worker drains it with [`Queue::reserve`]. Three backends share one schema and one set of
//! semantics, checked by the [`conformance`] suite:
//!
//! - [`MemoryQueue`]: in-process, lost on restart (tests, or users who accept that).
//! - `SqliteQueue` (feature `sqlite`, default): one file, WAL, `synchronous=FULL`, concurrent
//!   enqueues coalesced into one transaction.
//! - `PostgresQueue` (feature `postgres`): `FOR UPDATE SKIP LOCKED` claims, safe for many
//!   processes on many machines.
//!
//! Pick one from a URL with [`connect`]:
//!
//! ```
//! # async fn demo() -> Result<(), stripe2hubspot::queue::QueueError> {
//! use stripe2hubspot::queue::{connect, Enqueued, NewJob};
//! let queue = connect("memory:").await?;
//! let job = NewJob {
//!     event_id: "evt_1".into(),
//!     event_type: "charge.succeeded".into(),
//!     event_created: 1_700_000_000,
//!     payload: br#"{"id":"evt_1"}"#.to_vec(),
//! };
//! assert!(matches!(queue.enqueue(job.clone()).await?, Enqueued::Inserted(_)));
//! assert!(matches!(queue.enqueue(job).await?, Enqueued::Duplicate(_)));
//! # Ok(()) }
//! ```
//!
//! # Semantics every backend keeps
//! - The Stripe event id is unique. A second enqueue answers [`Enqueued::Duplicate`] for as long as
//!   the row exists: through completion, until [`Queue::purge_done`] removes done rows older than
//!   its threshold (keep at least [`DEFAULT_KEEP_DONE`]; Stripe redelivers for 3 days).
//! - [`Queue::reserve`] claims jobs whose `run_at <= now`, oldest first (by `run_at`, then id).
//!   A job whose lease expired without an answer is ready again; re-granting it counts as one
//!   consumed attempt, so an event that crashes its worker cannot loop forever.
//! - `complete`, `retry`, `release` and `dead_letter` require the job's id and the
//!   [`LeaseToken`] of the reservation. If the job was re-granted meanwhile (or is not leased)
//!   they fail with [`QueueError::LeaseLost`] and change nothing. A holder whose lease expired
//!   but was not yet re-granted may still answer.
//! - [`Job::attempts`] counts consumed attempts before this reservation. `retry` consumes one
//!   only when asked (a 429 or a paused pipeline does not), `dead_letter` consumes one, `release`
//!   none, `replay` resets the count to zero.
//! - Completed jobs keep only their event id and metadata: the payload is dropped at completion,
//!   so personal data in payment events is not retained longer than needed.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod coalesce;
pub mod conformance;
mod memory;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

pub use memory::MemoryQueue;
#[cfg(feature = "postgres")]
pub use postgres::{PostgresOptions, PostgresQueue};
#[cfg(feature = "sqlite")]
pub use sqlite::{SqliteOptions, SqliteQueue, Synchronous};

/// Identifier of a stored job, assigned by the queue.
pub type JobId = i64;

/// How long completed jobs (and so their event ids) are kept by default: 7 days, comfortably
/// longer than the 3 days during which Stripe redelivers an event.
pub const DEFAULT_KEEP_DONE: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// Opaque proof of holding a job's lease; a new reservation gets a new token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LeaseToken(pub i64);

/// A verified Stripe event to store.
#[derive(Clone)]
pub struct NewJob {
    /// Stripe event id (`evt_...`), the deduplication key.
    pub event_id: String,
    /// Stripe event type, such as `charge.succeeded`.
    pub event_type: String,
    /// The event's `created` time (Unix seconds), kept for last-write-wins ordering.
    pub event_created: i64,
    /// The raw verified request body.
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for NewJob {
    // Payloads carry customer emails and names: Debug shows only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewJob")
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("event_created", &self.event_created)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// Outcome of [`Queue::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The event was new and is now stored under this id.
    Inserted(JobId),
    /// The event id was already stored (pending, done or dead) under this id; nothing changed.
    Duplicate(JobId),
}

impl Enqueued {
    /// The job id, whether newly inserted or already present.
    pub fn id(self) -> JobId {
        match self {
            Enqueued::Inserted(id) | Enqueued::Duplicate(id) => id,
        }
    }
}

/// A reserved job, held under [`Job::lease`] until answered or the lease expires.
#[derive(Clone)]
pub struct Job {
    /// Queue id.
    pub id: JobId,
    /// Stripe event id.
    pub event_id: String,
    /// Stripe event type.
    pub event_type: String,
    /// The event's `created` time (Unix seconds).
    pub event_created: i64,
    /// The raw verified request body.
    pub payload: Vec<u8>,
    /// Attempts consumed before this reservation.
    pub attempts: u32,
    /// Proof of this reservation; pass the job back to answer it.
    pub lease: LeaseToken,
    /// The error recorded by the previous attempt, if any.
    pub last_error: Option<String>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("event_created", &self.event_created)
            .field("payload_len", &self.payload.len())
            .field("attempts", &self.attempts)
            .field("lease", &self.lease)
            .field("last_error", &self.last_error)
            .finish()
    }
}

/// Counts of jobs by state, as of the call.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Reservable now: `run_at <= now`, including jobs whose lease expired.
    pub ready: u64,
    /// Waiting for a future `run_at` (retries with backoff).
    pub delayed: u64,
    /// Held under a lease that has not expired.
    pub leased: u64,
    /// Dead-lettered, waiting for a human (see [`Queue::replay`]).
    pub dead: u64,
    /// Completed and kept for deduplication until purged.
    pub done: u64,
}

/// A dead-lettered job, as listed by [`Queue::dead_letters`].
#[derive(Debug, Clone)]
pub struct DeadLetter {
    /// Queue id (pass it to [`Queue::replay`]).
    pub id: JobId,
    /// Stripe event id.
    pub event_id: String,
    /// Stripe event type.
    pub event_type: String,
    /// Attempts consumed, including the one that dead-lettered it.
    pub attempts: u32,
    /// Why it was dead-lettered.
    pub error: String,
    /// When it was dead-lettered.
    pub failed_at: SystemTime,
}

/// Errors from a [`Queue`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QueueError {
    /// The job's lease was re-granted to another worker, or the job is no longer leased.
    #[error("job {id}: lease lost (it expired and was re-granted, or the job was already answered); drop this result, the current holder will answer")]
    LeaseLost {
        /// The job.
        id: JobId,
    },
    /// No job with this id in the required state.
    #[error("job {id}: not found (no dead-lettered job with this id); list dead letters to find valid ids")]
    NotFound {
        /// The job id asked for.
        id: JobId,
    },
    /// The store cannot be reached or is busy; retry later (ingest answers 503 so Stripe redelivers).
    #[error(
        "queue unavailable: {source}; check the database is reachable and writable, then retry"
    )]
    Unavailable {
        /// The underlying database error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// The queue URL or options are invalid.
    #[error("queue configuration: {message}")]
    Config {
        /// What is wrong and how to fix it.
        message: String,
    },
    /// The store holds data this code cannot read (for example a schema from a newer version).
    #[error("queue data corrupt: {message}")]
    Corrupt {
        /// What could not be read.
        message: String,
    },
}

impl QueueError {
    /// Whether retrying later may succeed (the store was unreachable or busy).
    pub fn is_transient(&self) -> bool {
        matches!(self, QueueError::Unavailable { .. })
    }

    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    fn unavailable(source: impl std::error::Error + Send + Sync + 'static) -> Self {
        QueueError::Unavailable {
            source: Box::new(source),
        }
    }
}

/// A durable job queue. Object safe: the service holds an `Arc<dyn Queue>`.
///
/// Implement it to plug in your own store, and check it with [`conformance::run_all`].
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Store a job unless its event id is already stored. Returns only after the job is durable.
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError>;
    /// Claim up to `max` ready jobs, oldest first, each leased for `lease`.
    async fn reserve(&self, max: usize, lease: Duration) -> Result<Vec<Job>, QueueError>;
    /// Mark the job done.
    async fn complete(&self, job: &Job) -> Result<(), QueueError>;
    /// Make the job ready again at `run_at`, recording `error`; consume an attempt only if asked.
    async fn retry(
        &self,
        job: &Job,
        run_at: SystemTime,
        error: &str,
        consume_attempt: bool,
    ) -> Result<(), QueueError>;
    /// Give the job back, ready now, without consuming an attempt.
    async fn release(&self, job: &Job) -> Result<(), QueueError>;
    /// Move the job to the dead letters, consuming an attempt.
    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError>;
    /// List up to `limit` dead letters with id greater than `after`, by id.
    async fn dead_letters(
        &self,
        limit: usize,
        after: Option<JobId>,
    ) -> Result<Vec<DeadLetter>, QueueError>;
    /// Make a dead letter ready now, with attempts reset to zero.
    async fn replay(&self, id: JobId) -> Result<(), QueueError>;
    /// Count jobs by state.
    async fn stats(&self) -> Result<QueueStats, QueueError>;
    /// Delete done jobs finished at least `older_than` ago; returns how many.
    async fn purge_done(&self, older_than: Duration) -> Result<u64, QueueError>;
    /// Fallback sync path: remember the HubSpot deal created for a payment key so a retry never
    /// creates a second one. The first recorded deal wins; later calls for the key change nothing.
    async fn record_deal(&self, payment_key: &str, deal_id: &str) -> Result<(), QueueError>;
    /// The deal recorded for a payment key, if any.
    async fn recorded_deal(&self, payment_key: &str) -> Result<Option<String>, QueueError>;
    /// Last-write-wins ordering of contact data across batches, workers and processes: for
    /// each `(contact key, event created)` pair, raise the newest event time stored for the key
    /// to at least `created`, in one transaction, and return the stored newest for each pair
    /// after the update. A result above the pair's `created` means a newer payment of that
    /// contact was already synced, so this one must not overwrite its last-charge data.
    async fn advance_contact_marks(&self, marks: &[(String, i64)]) -> Result<Vec<i64>, QueueError>;
}

/// Open a queue from a URL:
///
/// - `memory:` — a new [`MemoryQueue`];
/// - `sqlite://path` or `sqlite:path` — a SQLite file, created if missing (feature `sqlite`);
/// - `postgres://...` or `postgresql://...` — PostgreSQL (feature `postgres`).
pub async fn connect(url: &str) -> Result<Arc<dyn Queue>, QueueError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => Ok(Arc::new(MemoryQueue::new())),
        "sqlite" => connect_sqlite(url).await,
        "postgres" | "postgresql" => connect_postgres(url).await,
        // Only the scheme is echoed: the rest of a URL may hold a password.
        _ => Err(QueueError::Config {
            message: format!(
                "unknown queue URL scheme {:?}; use `sqlite://path`, `postgres://...` or `memory:`",
                scheme
            ),
        }),
    }
}

#[cfg(feature = "sqlite")]
async fn connect_sqlite(url: &str) -> Result<Arc<dyn Queue>, QueueError> {
    Ok(Arc::new(SqliteQueue::connect(url).await?))
}

#[cfg(not(feature = "sqlite"))]
async fn connect_sqlite(_url: &str) -> Result<Arc<dyn Queue>, QueueError> {
    Err(QueueError::Config {
        message: "a sqlite:// queue needs stripe2hubspot built with the `sqlite` feature".into(),
    })
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &str) -> Result<Arc<dyn Queue>, QueueError> {
    Ok(Arc::new(PostgresQueue::connect(url).await?))
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_url: &str) -> Result<Arc<dyn Queue>, QueueError> {
    Err(QueueError::Config {
        message: "a postgres:// queue needs stripe2hubspot built with the `postgres` feature"
            .into(),
    })
}

/// Milliseconds since the Unix epoch, clamped to `0..=i64::MAX` (the stored time unit).
pub(crate) fn to_millis(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(_) => 0,
    }
}

pub(crate) fn now_millis() -> i64 {
    to_millis(SystemTime::now())
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

pub(crate) fn duration_millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Stored counts are non-negative by construction; a negative one means foreign writes.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn to_attempts(n: i64) -> Result<u32, QueueError> {
    u32::try_from(n).map_err(|_| QueueError::Corrupt {
        message: format!("attempt count {n} out of range"),
    })
}

#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn db_error(e: sqlx::Error) -> QueueError {
    match e {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::ColumnIndexOutOfBounds { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::TypeNotFound { .. } => QueueError::Corrupt {
            message: format!("{e}; was the queue table changed by hand or by a newer version?"),
        },
        other => QueueError::unavailable(other),
    }
}

/// Fold `(state, count, due)` rows (states: 0 ready, 1 leased, 2 done, 3 dead; `due` counts
/// ready rows whose run_at passed and leased rows whose lease expired) into [`QueueStats`].
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) fn stats_from_counts(rows: &[(i64, i64, i64)]) -> QueueStats {
    let n = |v: i64| u64::try_from(v).unwrap_or(0);
    let mut s = QueueStats::default();
    for &(state, count, due) in rows {
        match state {
            0 => {
                s.ready += n(due);
                s.delayed += n(count - due);
            }
            1 => {
                s.ready += n(due);
                s.leased += n(count - due);
            }
            2 => s.done += n(count),
            3 => s.dead += n(count),
            _ => {}
        }
    }
    s
}

/// Message recorded when an expired lease is re-granted.
pub(crate) const LEASE_EXPIRED: &str = "lease expired before the worker answered";
