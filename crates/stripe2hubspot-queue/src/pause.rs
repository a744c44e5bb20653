//! The operator's pause, kept in the store so that every process sharing it sees it.
//!
//! `POST /admin/pause` may reach any process behind a load balancer, often a standby; the
//! leader, the next leader after a failover and a restarted process must all hold the pause.
//! So the pause is a row of the store, not a flag of one process: the leader reads it every
//! second and pauses or resumes its sync to match.

use std::time::SystemTime;

use crate::QueueError;

/// Who paused the sync and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorPause {
    /// Who asked, as the request said (or `admin api`), with the host and process id of the
    /// process that received it.
    pub by: String,
    /// When the pause was stored.
    pub at: SystemTime,
}

/// Stores the operator's pause of the sync for every process sharing the store.
#[async_trait::async_trait]
pub trait PauseStore: Send + Sync + 'static {
    /// The pause in force, if the sync is paused by an operator.
    async fn operator_pause(&self) -> Result<Option<OperatorPause>, QueueError>;

    /// Pauses the sync for every process, recording `by` and the time; pausing again
    /// replaces who and when. Returns the pause stored.
    async fn pause_sync(&self, by: &str) -> Result<OperatorPause, QueueError>;

    /// Lifts the operator's pause for every process (nothing happens if none is in force).
    async fn resume_sync(&self) -> Result<(), QueueError>;
}
