//! The worker loop: reserve a batch and [process](Inner::process) it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::leader::InHand;
use super::Inner;

/// During a backlog (full batches) the side passes run at most this often: each pass
/// rewrites a company from all its members' rows, so one pass after many batches costs the
/// same requests as one after each, and the backlog of payments drains first.
const SIDE_PASS_INTERVAL: Duration = Duration::from_secs(2);

impl Inner {
    /// The passes that follow the payment writes: companies, then line items.
    async fn sync_side_objects(&self) {
        self.sync_companies().await;
        self.sync_line_items().await;
    }

    pub(super) fn count(&self, counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
        self.counters
            .emit(counter, n, self.settings.portal.as_deref());
    }

    /// Reserves and processes batches until `stopped`. The batch in hand is kept in
    /// `in_hand` until answered, so a supervisor can release it if this task dies.
    pub(super) async fn work(&self, in_hand: InHand, mut stopped: watch::Receiver<bool>) {
        let mut enqueued = self.store.queue.enqueue_signal();
        let mut last_side_pass = Instant::now();
        loop {
            if *stopped.borrow() {
                return;
            }
            if self.pause.borrow().is_some() {
                let mut resumed = self.pause.subscribe();
                tokio::select! {
                    _ = resumed.wait_for(Option::is_none) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            // Taking jobs while HubSpot holds us back would only burn their leases.
            if let Some(until) = self.hubspot.limiter().held_until() {
                tokio::select! {
                    _ = tokio::time::sleep_until(until.into()) => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let jobs = match self
                .store
                .queue
                .reserve(self.settings.batch_size, self.settings.lease)
                .await
            {
                Ok(jobs) => jobs,
                Err(error) => {
                    tracing::error!(%error, "could not reserve jobs; retrying");
                    Vec::new()
                }
            };
            if jobs.is_empty() {
                // Side objects a failed pass left behind are tried again while idle.
                self.sync_side_objects().await;
                super::idle::wait_for_work(
                    enqueued.as_mut(),
                    self.settings.poll_interval,
                    &mut stopped,
                )
                .await;
                continue;
            }
            let backlog = jobs.len() >= self.settings.batch_size;
            *in_hand.lock().unwrap_or_else(|p| p.into_inner()) = jobs.clone();
            self.with_heartbeat(&jobs, self.process(jobs.clone())).await;
            in_hand.lock().unwrap_or_else(|p| p.into_inner()).clear();
            if !backlog || last_side_pass.elapsed() >= SIDE_PASS_INTERVAL {
                self.sync_side_objects().await;
                last_side_pass = Instant::now();
            }
        }
    }
}
