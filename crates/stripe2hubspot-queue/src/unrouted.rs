//! Events for Stripe accounts no portal claims: stored and acknowledged, counted, and moved
//! into a portal's queue once a portal claims the account, so none is ever lost.

use std::time::SystemTime;

use crate::{Enqueued, NewJob, QueueError};

/// The unrouted events of one Stripe account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnroutedAccount {
    /// The Stripe account (`acct_...`).
    pub account: String,
    /// How many events wait.
    pub events: u64,
    /// When the oldest of them arrived.
    pub oldest: SystemTime,
}

/// Where verified events of unclaimed accounts wait, shared by every process using the store.
#[async_trait::async_trait]
pub trait UnroutedEvents: Send + Sync + 'static {
    /// Stores an event of `account` (deduplicated by event id, like [`Queue::enqueue`](crate::Queue::enqueue)).
    async fn store_unrouted(&self, account: &str, job: NewJob) -> Result<Enqueued, QueueError>;

    /// Up to `limit` waiting events of `account`, oldest first.
    async fn unrouted(&self, account: &str, limit: usize) -> Result<Vec<NewJob>, QueueError>;

    /// Forgets these waiting events (once they are stored in a portal's queue).
    async fn forget_unrouted(&self, event_ids: &[String]) -> Result<(), QueueError>;

    /// The accounts with waiting events, sorted by account.
    async fn unrouted_accounts(&self) -> Result<Vec<UnroutedAccount>, QueueError>;
}
