//! Which process syncs, and supervising its workers while it does.
//!
//! Every process runs [`SyncEngine::run`](super::SyncEngine::run); the store's
//! [`Election`](stripe2hubspot_queue::Election) lets one lead. The leader runs the workers, checks every
//! second that it still leads, restarts a worker that panicked (releasing its batch), and on
//! shutdown or lost leadership stops them within the shutdown grace. A standby tries to lead
//! every few seconds. Every process, leader or standby, follows the operator's pause stored
//! in the store (`POST /admin/pause` on any of them).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::Instrument;

use super::Inner;
use stripe2hubspot_queue::Job;

/// How long one attempt to become the leader may take before it counts as failed.
const ELECTION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// What this process does about the sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// It runs the sync engine: the only process writing this portal's HubSpot data.
    Leader,
    /// It ingests webhooks and waits to take over if the leader dies.
    Standby,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Leader => "leader",
            Role::Standby => "standby",
        })
    }
}

/// The jobs a worker has reserved and not yet answered, so they can be released if the
/// worker panics or is stopped mid-batch.
pub(super) type InHand = Arc<Mutex<Vec<Job>>>;

/// Why the leader stopped syncing.
enum Stop {
    Shutdown,
    LostLeadership,
}

impl Inner {
    /// Tries to lead until `stopped`; syncs while leading. Meanwhile follows the operator's
    /// stored pause, leader or not, so every process reports it and a new leader holds it.
    pub(super) async fn lead_and_sync(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let follower = tokio::spawn(
            self.clone()
                .follow_operator_pause(stopped.clone())
                .in_current_span(),
        );
        self.elect_and_sync(stopped).await;
        follower.abort();
        let _ = follower.await;
    }

    /// Reads the stored operator's pause every leader check and pauses or resumes this
    /// process when it changes. Only changes count: a pause or resume of this process alone
    /// ([`EngineHandle::pause`](super::EngineHandle::pause)) stands until the stored one
    /// changes.
    async fn follow_operator_pause(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        // `None` until the first read: a pause stored before this process started holds.
        let mut seen: Option<bool> = None;
        let mut failing = false;
        let mut check = tokio::time::interval(self.settings.leader_check);
        loop {
            tokio::select! {
                _ = check.tick() => {}
                _ = stopped.changed() => return,
            }
            let stored = match self.store.pause.operator_pause().await {
                Ok(stored) => {
                    failing = false;
                    stored
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "cannot read the operator's pause from the store; keeping the current state");
                    }
                    failing = true;
                    continue;
                }
            };
            let paused = stored.is_some();
            if seen == Some(paused) {
                continue;
            }
            let first = seen.is_none();
            seen = Some(paused);
            if paused {
                let changed = self.pause.send_if_modified(|state| {
                    let modified = *state != Some(super::PauseReason::Manual);
                    *state = Some(super::PauseReason::Manual);
                    modified
                });
                if changed {
                    tracing::info!("the sync is paused by an operator (stored pause); see /admin/status for who and when");
                }
            } else if !first && *self.pause.borrow() == Some(super::PauseReason::Manual) {
                self.pause.send_replace(None);
                self.announced_pause().take();
                tracing::info!("the operator's stored pause was lifted; the sync resumes");
            }
        }
    }

    async fn elect_and_sync(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        loop {
            if *stopped.borrow() {
                return;
            }
            match tokio::time::timeout(ELECTION_TIMEOUT, self.store.election.try_lead()).await {
                Ok(Ok(true)) => {
                    tracing::info!("elected: this process runs the sync");
                    if let Stop::Shutdown = self.sync_while_leading(&mut stopped).await {
                        return;
                    }
                }
                Ok(Ok(false)) => {}
                Ok(Err(error)) => tracing::warn!(%error, "could not take part in the election"),
                Err(_) => tracing::warn!("the election did not answer in time"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.settings.standby_retry) => {}
                _ = stopped.changed() => {}
            }
        }
    }

    async fn sync_while_leading(self: &Arc<Self>, stopped: &mut watch::Receiver<bool>) -> Stop {
        if self.store.election.shared() {
            // The previous leader's last requests still count in HubSpot's rolling window:
            // spend one window's worth of quota only once they have left it.
            let window = self.hubspot.limiter().rate_limit().window();
            self.hubspot.limiter().hold_for(window);
        }
        self.leading.store(true, Ordering::Release);
        self.role.send_replace(Role::Leader);
        let (halt, halted) = watch::channel(false);
        let in_hand: Vec<InHand> = (0..self.settings.concurrency)
            .map(|_| InHand::default())
            .collect();
        let mut workers = JoinSet::new();
        let mut slot_of = HashMap::new();
        for (slot, held) in in_hand.iter().enumerate() {
            let id = self.spawn_worker(&mut workers, slot, held.clone(), halted.clone());
            slot_of.insert(id, slot);
        }
        let helpers = [
            tokio::spawn(
                self.clone()
                    .probe_while_paused(halted.clone())
                    .in_current_span(),
            ),
            tokio::spawn(
                self.clone()
                    .purge_periodically(halted.clone())
                    .in_current_span(),
            ),
            tokio::spawn(
                self.clone()
                    .announce_long_pauses(halted.clone())
                    .in_current_span(),
            ),
        ];
        let mut check = tokio::time::interval(self.settings.leader_check);
        let why = loop {
            tokio::select! {
                _ = stopped.changed() => break Stop::Shutdown,
                _ = check.tick() => {
                    if *stopped.borrow() {
                        break Stop::Shutdown;
                    }
                    if !self.store.election.still_leading().await {
                        // Fence first: no worker makes another HubSpot call from here on.
                        self.leading.store(false, Ordering::Release);
                        tracing::warn!("no longer leads (handed to another process, or the leadership could not be confirmed with the database); stopping the sync");
                        break Stop::LostLeadership;
                    }
                }
                Some(joined) = workers.join_next_with_id() => {
                    if let Err(error) = joined {
                        if let Some(slot) = slot_of.remove(&error.id()) {
                            self.count(&self.counters.worker_restarts, 1);
                            tracing::error!(worker = slot, "a worker panicked; releasing its batch and restarting it");
                            self.release_in_hand(&in_hand[slot]).await;
                            let id = self.spawn_worker(&mut workers, slot, in_hand[slot].clone(), halted.clone());
                            slot_of.insert(id, slot);
                        }
                    }
                }
            }
        };
        let _ = halt.send(true);
        let deadline = tokio::time::Instant::now() + self.settings.shutdown_grace;
        loop {
            tokio::select! {
                joined = workers.join_next() => match joined {
                    None => break,
                    Some(Err(error)) if error.is_panic() => {
                        self.count(&self.counters.worker_restarts, 1);
                    }
                    Some(_) => {}
                },
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::warn!("shutdown grace ran out; releasing the batches still in hand");
                    workers.abort_all();
                    while workers.join_next().await.is_some() {}
                    break;
                }
            }
        }
        for held in &in_hand {
            self.release_in_hand(held).await;
        }
        for helper in helpers {
            helper.abort();
            let _ = helper.await;
        }
        self.leading.store(false, Ordering::Release);
        self.role.send_replace(Role::Standby);
        self.store.election.resign().await;
        why
    }

    fn spawn_worker(
        self: &Arc<Self>,
        workers: &mut JoinSet<()>,
        slot: usize,
        in_hand: InHand,
        halted: watch::Receiver<bool>,
    ) -> tokio::task::Id {
        let inner = self.clone();
        workers
            .spawn(
                async move { inner.work(in_hand, halted).await }
                    .instrument(tracing::info_span!("worker", worker = slot)),
            )
            .id()
    }

    /// Gives back the jobs a stopped or crashed worker had reserved, without consuming an
    /// attempt. Jobs it had already answered refuse the release (lease lost): nothing to do.
    async fn release_in_hand(&self, in_hand: &InHand) {
        let jobs = std::mem::take(&mut *in_hand.lock().unwrap_or_else(|p| p.into_inner()));
        for job in &jobs {
            let _ = self.store.queue.release(job).await;
        }
        if !jobs.is_empty() {
            tracing::info!(
                released = jobs.len(),
                "released unfinished jobs to the queue"
            );
        }
    }

    /// Re-announces a pause that outlives its alert window, so the last alert sent never
    /// says "resumed" while the sync is paused.
    async fn announce_long_pauses(self: Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut paused = self.pause.subscribe();
        loop {
            tokio::select! {
                _ = paused.wait_for(|p| p.as_ref().is_some_and(Self::probed)) => {}
                _ = stopped.changed() => return,
            }
            let since = tokio::time::Instant::now();
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.settings.alert_window) => {}
                    _ = paused.wait_for(Option::is_none) => break,
                    _ = stopped.changed() => return,
                }
                let reason = self.pause.borrow().clone();
                match reason {
                    Some(reason) if Self::probed(&reason) => {
                        self.alerter
                            .alert(super::pause::pause_alert(&reason, Some(since.elapsed())))
                            .await
                    }
                    _ => break,
                }
            }
        }
    }
}
