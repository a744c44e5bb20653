//! Which portals this process leads.
//!
//! SKELETON (h/lead replaces the body): every portal is led by this process.

use std::sync::Arc;

use crate::queue::{Election, SoleProcess, Store};

/// This process's part in portal leadership: one per process, shared by its portal engines.
///
/// On PostgreSQL the processes sharing the store spread the portals between them through the
/// store's [`PortalLeases`](crate::queue::PortalLeases); on SQLite (or in memory) the process
/// that wins the store's own election leads every portal.
#[derive(Clone)]
pub struct Leadership {
    process_id: Arc<str>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("process_id", &self.process_id)
            .finish_non_exhaustive()
    }
}

impl Leadership {
    /// Starts taking part in the leadership of `store`'s portals. `spread` is whether the
    /// portals are spread across processes through leases (PostgreSQL) or all led by the
    /// winner of `store.election` (SQLite, memory).
    pub fn start(_store: &Store, _spread: bool) -> Leadership {
        Leadership {
            process_id: Arc::from(format!("pid-{}", std::process::id())),
        }
    }

    /// This process's id among those sharing the store.
    pub fn process_id(&self) -> &str {
        &self.process_id
    }

    /// The portals this process should take part in leading (every portal the deployment
    /// runs); portals not named are given up.
    pub fn set_portals(&self, _ids: Vec<String>) {}

    /// The election portal `id`'s engine runs under.
    pub fn election(&self, _id: &str) -> Arc<dyn Election> {
        Arc::new(SoleProcess)
    }

    /// The portals this process leads now, sorted.
    pub fn leading(&self) -> Vec<String> {
        Vec::new()
    }

    /// Gives every lease up (clean shutdown) and stops the background task.
    pub async fn stop(&self) {}
}
