//! The values a queue stores and hands out.

use std::time::{Duration, SystemTime};

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

/// Outcome of [`Queue::enqueue`](crate::Queue::enqueue).
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
    /// Dead-lettered, waiting for a human (see [`QueueAdmin::replay`](crate::QueueAdmin::replay)).
    pub dead: u64,
    /// Completed and kept for deduplication until purged.
    pub done: u64,
}

/// A dead-lettered job, as listed by [`QueueAdmin::dead_letters`](crate::QueueAdmin::dead_letters).
#[derive(Clone)]
pub struct DeadLetter {
    /// Queue id (pass it to [`QueueAdmin::replay`](crate::QueueAdmin::replay)).
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
    /// The raw verified request body, kept for replay (and to name the payment it is about).
    pub payload: Vec<u8>,
}

impl std::fmt::Debug for DeadLetter {
    // Payloads carry customer emails and names: Debug shows only their size.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeadLetter")
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("event_type", &self.event_type)
            .field("attempts", &self.attempts)
            .field("error", &self.error)
            .field("failed_at", &self.failed_at)
            .field("payload_len", &self.payload.len())
            .finish()
    }
}

/// Whether [`Queue::retry`](crate::Queue::retry) counts the failed try against the job's
/// attempts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// The job's own fault or a fault that may recur (5xx, timeout): count it, so the job is
    /// dead-lettered after the engine's maximum.
    Consume,
    /// Not the job's fault (429, paused pipeline): retry without counting it.
    Keep,
}

impl Attempt {
    /// How many attempts this adds: 1 or 0.
    pub fn count(self) -> u32 {
        match self {
            Attempt::Consume => 1,
            Attempt::Keep => 0,
        }
    }
}
