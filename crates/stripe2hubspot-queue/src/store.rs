//! One handle on a store's three roles, and opening one from a URL.

use std::sync::Arc;

use crate::{
    Election, MemoryQueue, PauseStore, PortalLeases, PortalStore, Queue, QueueAdmin, QueueError,
    SoleProcess, SyncState, UnroutedEvents, DEFAULT_PORTAL,
};

/// A store's roles, each behind a shared trait object. Cheap to clone.
///
/// Ingest needs only [`Store::queue`]; the sync engine uses all three. The backends of this
/// crate implement every trait, so [`Store::new`] (or [`connect`]) fills all fields from one.
///
/// A custom backend that implements only [`Queue`] is paired with another store for the other
/// two roles; [`Store::admin`] then reports on that store, not on your queue:
///
/// ```
/// # use std::sync::Arc;
/// # use stripe2hubspot_queue::{MemoryQueue, Queue, Store};
/// # fn my_queue() -> Arc<dyn Queue> { Arc::new(MemoryQueue::new()) }
/// // The payment ledger kept in memory: fine for tests; use a SqliteQueue or PostgresQueue
/// // to keep it across restarts.
/// let store = Store { queue: my_queue(), ..Store::new(MemoryQueue::new()) };
/// ```
#[derive(Clone)]
pub struct Store {
    /// The job source: enqueue, reserve, answer.
    pub queue: Arc<dyn Queue>,
    /// Dead letters, replay, stats and purge.
    pub admin: Arc<dyn QueueAdmin>,
    /// The sync engine's memory between batches.
    pub state: Arc<dyn SyncState>,
    /// Which of the processes sharing this store runs the sync engine: [`SoleProcess`] for a
    /// store one process uses, a lock file beside a SQLite file ([`connect`] sets it), a
    /// PostgreSQL advisory lock for a shared database.
    pub election: Arc<dyn Election>,
    /// The operator's pause, shared by every process using the store.
    pub pause: Arc<dyn PauseStore>,
    /// The HubSpot portals and the Stripe accounts routed to each, shared by every process
    /// using the store.
    pub portals: Arc<dyn PortalStore>,
    /// Which process leads which portal, shared by every process using the store.
    pub leases: Arc<dyn PortalLeases>,
    /// Events of Stripe accounts no portal claims yet.
    pub unrouted: Arc<dyn UnroutedEvents>,
}

impl Store {
    /// All three roles, the pause and the portals served by one backend.
    pub fn new<B: Backend>(backend: B) -> Self {
        Self::from_arc(Arc::new(backend))
    }

    /// All three roles, the pause and the portals served by one shared backend.
    pub fn from_arc<B: Backend>(backend: Arc<B>) -> Self {
        Self {
            queue: backend.clone(),
            admin: backend.clone(),
            state: backend.clone(),
            pause: backend.clone(),
            portals: backend.clone(),
            leases: backend.clone(),
            unrouted: backend,
            election: Arc::new(SoleProcess),
        }
    }

    /// The store of portal `id`'s own data (jobs, ledgers, identities, dead letters, pause):
    /// this store itself for [`DEFAULT_PORTAL`], else [`PortalStore::namespace`]. The result
    /// shares this store's portals, leases and unrouted events; its election is
    /// [`SoleProcess`], for the caller to replace with the portal's leadership.
    pub async fn portal(&self, id: &str) -> Result<Store, QueueError> {
        if id == DEFAULT_PORTAL {
            return Ok(self.clone());
        }
        let own = self.portals.namespace(id).await?;
        Ok(Store {
            portals: self.portals.clone(),
            leases: self.leases.clone(),
            unrouted: self.unrouted.clone(),
            election: Arc::new(SoleProcess),
            ..own
        })
    }
}

/// Everything one backend of this crate implements: what [`Store::new`] takes.
pub trait Backend:
    Queue + QueueAdmin + SyncState + PauseStore + PortalStore + PortalLeases + UnroutedEvents
{
}

impl<B> Backend for B where
    B: Queue + QueueAdmin + SyncState + PauseStore + PortalStore + PortalLeases + UnroutedEvents
{
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").finish_non_exhaustive()
    }
}

/// Open a store from a URL:
///
/// - `memory:` — a new [`MemoryQueue`];
/// - `sqlite://path` or `sqlite:path` — a SQLite file, created if missing (feature `sqlite`);
/// - `postgres://...` or `postgresql://...` — PostgreSQL (feature `postgres`).
pub async fn connect(url: &str) -> Result<Store, QueueError> {
    let scheme = url.split_once(':').map(|(s, _)| s).unwrap_or("");
    match scheme.to_ascii_lowercase().as_str() {
        "memory" => Ok(Store::new(MemoryQueue::new())),
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
async fn connect_sqlite(url: &str) -> Result<Store, QueueError> {
    let queue = crate::SqliteQueue::connect(url).await?;
    let election = Arc::new(queue.election());
    Ok(Store {
        election,
        ..Store::new(queue)
    })
}

#[cfg(not(feature = "sqlite"))]
async fn connect_sqlite(_url: &str) -> Result<Store, QueueError> {
    Err(QueueError::Config {
        message: "a sqlite:// queue needs stripe2hubspot built with the `sqlite` feature".into(),
    })
}

#[cfg(feature = "postgres")]
async fn connect_postgres(url: &str) -> Result<Store, QueueError> {
    let queue = crate::PostgresQueue::connect(url).await?;
    let election = Arc::new(queue.election());
    Ok(Store {
        election,
        ..Store::new(queue)
    })
}

#[cfg(not(feature = "postgres"))]
async fn connect_postgres(_url: &str) -> Result<Store, QueueError> {
    Err(QueueError::Config {
        message: "a postgres:// queue needs stripe2hubspot built with the `postgres` feature"
            .into(),
    })
}
