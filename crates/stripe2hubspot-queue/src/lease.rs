//! Which process leads which portal, when several processes share a PostgreSQL store.
//!
//! Every process announces itself with [`PortalLeases::heartbeat`] and holds the portals it
//! leads as leases: rows with a holder, an expiry and a generation raised at every change of
//! holder. A process renews its leases well before they expire and stops writing to a
//! portal's HubSpot before its lease could expire unrenewed, so a lease taken over from a
//! dead or cut-off process is never written to by two processes. All of it goes through the
//! store's pool: one connection at a time per process, however many portals it leads.

use std::time::{Duration, SystemTime};

use crate::QueueError;

/// One portal's lease.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    /// The portal id.
    pub portal: String,
    /// The process holding it (the id it gave [`PortalLeases::heartbeat`]).
    pub holder: String,
    /// Raised each time the lease changes holder (or is taken again after it expired).
    pub generation: u64,
    /// When it expires unless renewed.
    pub expires_at: SystemTime,
}

/// A process taking part in portal leadership, as [`PortalLeases::heartbeat`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveProcess {
    /// The id it announced itself with.
    pub id: String,
    /// When its announcement expires unless renewed.
    pub alive_until: SystemTime,
}

/// Portal leases and process heartbeats, shared by every process using the store.
#[async_trait::async_trait]
pub trait PortalLeases: Send + Sync + 'static {
    /// Announces `process` as alive for `ttl`, forgets processes whose announcement expired,
    /// and returns the live ones (this one included), sorted by id.
    async fn heartbeat(&self, process: &str, ttl: Duration)
        -> Result<Vec<LiveProcess>, QueueError>;

    /// Every portal lease, expired or not, sorted by portal.
    async fn leases(&self) -> Result<Vec<Lease>, QueueError>;

    /// Takes portal `portal` for `process` until `ttl` from now, if nobody holds it, its
    /// lease expired, or `process` holds it already (then it is renewed and keeps its
    /// generation). Returns the generation held, or `None` when another process holds a
    /// lease that has not expired. Atomic: of two processes taking one free lease, one wins.
    async fn acquire_lease(
        &self,
        portal: &str,
        process: &str,
        ttl: Duration,
    ) -> Result<Option<u64>, QueueError>;

    /// Renews, in one step, every lease `process` holds that has not expired, until `ttl` from
    /// now; returns each renewed portal with its generation (unchanged by a renewal), sorted by
    /// portal. A lease that expired is not renewed (another process may hold it by now): take
    /// it again with [`acquire_lease`](Self::acquire_lease).
    async fn renew_leases(
        &self,
        process: &str,
        ttl: Duration,
    ) -> Result<Vec<(String, u64)>, QueueError>;

    /// Gives the lease up if `process` holds it, so another process can take it at once.
    async fn release_lease(&self, portal: &str, process: &str) -> Result<(), QueueError>;

    /// Removes `process`'s announcement and gives up all its leases (a clean shutdown).
    async fn leave(&self, process: &str) -> Result<(), QueueError>;
}
