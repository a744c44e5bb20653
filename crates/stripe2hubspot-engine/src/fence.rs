//! Fencing: a worker writes to HubSpot only while this process leads and every lease of its
//! batch is known to be held.
//!
//! The contract for code that calls HubSpot while processing a batch is one line: call
//! [`Inner::fence`] right before each call and treat its error like any other
//! [`CallFailure`] (the engine releases the jobs without consuming an attempt). The check is
//! an atomic load and a clock read, cheap enough for every call.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::failure::CallFailure;
use super::Inner;
use stripe2hubspot_queue::Job;

/// A write must leave at least this much of the lease, so it cannot start just as the lease
/// runs out.
const LEASE_MARGIN: Duration = Duration::from_millis(500);

tokio::task_local! {
    /// The leases of the batch the current worker task is writing.
    static BATCH: Arc<LeaseGuard>;
}

/// How long the leases of one batch are known to be held, kept fresh by heartbeats.
#[derive(Debug)]
pub(crate) struct LeaseGuard {
    held_until: Mutex<Instant>,
    lost: AtomicBool,
}

impl LeaseGuard {
    fn new(lease: Duration) -> Self {
        LeaseGuard {
            held_until: Mutex::new(Instant::now() + lease),
            lost: AtomicBool::new(false),
        }
    }

    /// Whether the batch may still write: no lease lost, and the last renewal covers now.
    pub(crate) fn holds(&self) -> bool {
        if self.lost.load(Ordering::Acquire) {
            return false;
        }
        let until = *self.held_until.lock().unwrap_or_else(|p| p.into_inner());
        Instant::now() + LEASE_MARGIN < until
    }

    fn renewed(&self, from: Instant, lease: Duration) {
        *self.held_until.lock().unwrap_or_else(|p| p.into_inner()) = from + lease;
    }
}

impl Inner {
    /// `Ok` when the current batch may make its next HubSpot call; call it right before each
    /// one. Fails when this process lost leadership (another may be syncing now) or a lease
    /// of the batch was lost or could not be renewed in time (another worker may hold it).
    pub(crate) fn fence(&self) -> Result<(), CallFailure> {
        if !self.leading.load(Ordering::Acquire) {
            return Err(CallFailure::Fenced("this process no longer leads the sync"));
        }
        match BATCH.try_with(|guard| guard.holds()) {
            Ok(false) => Err(CallFailure::Fenced("a lease of this batch was lost")),
            // Outside a batch (the token probe) only leadership matters.
            Ok(true) | Err(_) => Ok(()),
        }
    }

    /// Runs `work` for `jobs` while renewing their leases every third of the lease. A renewal
    /// that reports a lost lease (or that cannot reach the store until the lease runs out)
    /// makes [`fence`](Self::fence) fail for the rest of `work`.
    pub(super) async fn with_heartbeat<F: Future>(&self, jobs: &[Job], work: F) -> F::Output {
        let lease = self.settings.lease;
        let guard = Arc::new(LeaseGuard::new(lease));
        let heartbeat = async {
            loop {
                tokio::time::sleep(lease / 3).await;
                let asked = Instant::now();
                match self.store.queue.renew(jobs, lease).await {
                    Ok(lost) if lost.is_empty() => guard.renewed(asked, lease),
                    Ok(lost) => {
                        tracing::warn!(
                            lost = lost.len(),
                            "leases lost mid-batch; this worker writes no more of it"
                        );
                        guard.lost.store(true, Ordering::Release);
                        break;
                    }
                    Err(error) => tracing::warn!(%error, "could not renew the batch's leases"),
                }
            }
        };
        let work = BATCH.scope(guard.clone(), work);
        tokio::pin!(work);
        tokio::pin!(heartbeat);
        let mut beating = true;
        loop {
            tokio::select! {
                out = &mut work => return out,
                // A lost lease ends the heartbeat; the work goes on, fenced, to settle its jobs.
                _ = &mut heartbeat, if beating => beating = false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_guard_stops_holding_near_the_end_of_its_lease_unless_renewed() {
        let lease = Duration::from_secs(60);
        let guard = LeaseGuard::new(lease);
        assert!(guard.holds());
        // Renewed a lease ago, minus less than the margin: about to run out.
        if let Some(then) = Instant::now().checked_sub(lease - LEASE_MARGIN / 2) {
            guard.renewed(then, lease);
            assert!(!guard.holds(), "within the margin of expiry");
        }
        guard.renewed(Instant::now(), lease);
        assert!(guard.holds());
        guard.lost.store(true, Ordering::Release);
        assert!(!guard.holds());
    }
}
