//! The one error type of every store operation.

use crate::job::JobId;

/// Errors from a [`Queue`](crate::Queue), [`QueueAdmin`](crate::QueueAdmin) or
/// [`SyncState`](crate::SyncState).
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
}
