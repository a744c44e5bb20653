//! Who runs the sync engine when several processes share one store.
//!
//! Every process ingests; exactly one at a time syncs, so the portal's HubSpot quota is one
//! budget and each payment has one writer. [`Election`] is the small contract the engine uses:
//! try to lead, check that leadership still holds before writing, and resign on shutdown.
//! A store that only one process can open (memory) always leads ([`SoleProcess`]); a SQLite
//! file elects with an OS lock on `<file>.lock` (`SqliteElection`, feature `sqlite`), which the
//! OS frees the moment that process exits; PostgreSQL elects with a session advisory lock held
//! on a dedicated connection (`PostgresElection`, feature `postgres`), which the server frees
//! when that process dies or, across a network cut, within seconds (see
//! `PostgresElection`).

use crate::QueueError;

/// Leader election among the processes sharing a store.
#[async_trait::async_trait]
pub trait Election: Send + Sync + 'static {
    /// Tries to become the leader without waiting. `Ok(true)` when this process leads (again
    /// or already), `Ok(false)` when another process does.
    async fn try_lead(&self) -> Result<bool, QueueError>;

    /// Whether this process still leads. A `false` means another process may already be
    /// syncing: stop before the next HubSpot call. A leader calls this at least every few
    /// seconds (the engine: every second): a PostgreSQL election session silent for
    /// `PostgresElection::IDLE_TIMEOUT` is ended by the server.
    async fn still_leading(&self) -> bool;

    /// Gives leadership up at once so a standby can take over without waiting.
    async fn resign(&self);

    /// Whether other processes may have led before this one (default `true`). A new leader
    /// of a shared store then waits one rate-limit window before its first HubSpot call: the
    /// previous leader's last requests still count in HubSpot's rolling window.
    fn shared(&self) -> bool {
        true
    }
}

/// The election of a store only one process uses: this process always leads.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoleProcess;

#[async_trait::async_trait]
impl Election for SoleProcess {
    async fn try_lead(&self) -> Result<bool, QueueError> {
        Ok(true)
    }

    async fn still_leading(&self) -> bool {
        true
    }

    async fn resign(&self) {}

    fn shared(&self) -> bool {
        false
    }
}
