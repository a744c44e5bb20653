//! The three contracts of a store, split by job: the job source, its administration, and the
//! sync state the engine keeps next to the jobs.

use std::time::{Duration, SystemTime};

use crate::{Attempt, DeadLetter, Enqueued, Job, JobId, NewJob, QueueError, QueueStats};

/// A durable job source: what ingest and the sync engine need to move events through.
///
/// Object safe: the service holds an `Arc<dyn Queue>`. Implement it to plug in your own store
/// and pair it with the other two traits through [`Store`](crate::Store).
#[async_trait::async_trait]
pub trait Queue: Send + Sync + 'static {
    /// Store a job unless its event id is already stored. Returns only after the job is durable.
    async fn enqueue(&self, job: NewJob) -> Result<Enqueued, QueueError>;
    /// Claim up to `max` ready jobs, oldest first, each leased for `lease`.
    async fn reserve(&self, max: usize, lease: Duration) -> Result<Vec<Job>, QueueError>;
    /// Mark the job done (and drop its payload).
    async fn complete(&self, job: &Job) -> Result<(), QueueError>;
    /// Make the job ready again at `run_at`, recording `error`; `attempt` says whether the try
    /// counts against the job.
    async fn retry(
        &self,
        job: &Job,
        run_at: SystemTime,
        error: &str,
        attempt: Attempt,
    ) -> Result<(), QueueError>;
    /// Give the job back, ready now, without consuming an attempt.
    async fn release(&self, job: &Job) -> Result<(), QueueError>;
    /// Move the job to the dead letters, consuming an attempt.
    async fn dead_letter(&self, job: &Job, error: &str) -> Result<(), QueueError>;
    /// Extend to `lease` from now the lease of each job still held under its
    /// [`LeaseToken`](crate::LeaseToken); returns the ids of the jobs whose lease was lost (they
    /// were re-granted or answered), whose results the caller must drop.
    async fn renew(&self, jobs: &[Job], lease: Duration) -> Result<Vec<JobId>, QueueError>;
}

/// Inspection and upkeep of a queue: for operators, health checks and the engine's purge.
#[async_trait::async_trait]
pub trait QueueAdmin: Send + Sync + 'static {
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
}

/// What the sync engine remembers between batches, workers and processes, stored next to the
/// jobs so one backup holds both.
#[async_trait::async_trait]
pub trait SyncState: Send + Sync + 'static {
    /// Per-event path: remember the HubSpot deal created for a payment key so a retry never
    /// creates a second one. The first recorded deal wins; later calls for the key change nothing.
    async fn record_deal(&self, payment_key: &str, deal_id: &str) -> Result<(), QueueError>;
    /// The deal recorded for a payment key, if any.
    async fn recorded_deal(&self, payment_key: &str) -> Result<Option<String>, QueueError>;
    /// Last-write-wins ordering of contact data across batches, workers and processes: for
    /// each `(contact key, event created)` pair, raise the newest event time stored for the key
    /// to at least `created`, in one transaction, and return the stored newest for each pair
    /// (in the order given) after the update. A result above the pair's `created` means a newer
    /// payment of that contact was already synced, so this one must not overwrite its
    /// last-charge data.
    async fn advance_contact_marks(&self, marks: &[(String, i64)]) -> Result<Vec<i64>, QueueError>;

    /// The value last saved under `name` by [`save_checkpoint`](Self::save_checkpoint), if any.
    async fn checkpoint(&self, name: &str) -> Result<Option<String>, QueueError>;

    /// Saves `value` under `name`, replacing what was there: where a long-running reader such
    /// as a backfill got to, so a crash or restart resumes after it.
    async fn save_checkpoint(&self, name: &str, value: &str) -> Result<(), QueueError>;
}
