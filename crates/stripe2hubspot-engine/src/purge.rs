//! Deleting completed jobs past the keep period, so the store does not grow forever, and dead
//! letters past their retention, so their payloads (personal data) are not kept forever.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::Inner;

/// How often the engine deletes completed jobs older than the keep period.
const PURGE_INTERVAL: Duration = Duration::from_secs(3600);

impl Inner {
    /// Deletes completed jobs past the keep period and dead letters past their retention.
    pub(super) async fn purge_periodically(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            match self.store.admin.purge_done(self.settings.keep_done).await {
                Ok(0) => {}
                Ok(purged) => {
                    tracing::info!(purged, "purged completed events past the keep period")
                }
                Err(error) => tracing::warn!(%error, "could not purge completed events"),
            }
            match self.store.admin.purge_dead(self.settings.keep_dead).await {
                Ok(0) => {}
                Ok(purged) => {
                    tracing::info!(purged, "purged dead letters past their retention")
                }
                Err(error) => tracing::warn!(%error, "could not purge old dead letters"),
            }
            tokio::select! {
                _ = tokio::time::sleep(PURGE_INTERVAL) => {}
                _ = stopped.changed() => return,
            }
        }
    }
}
