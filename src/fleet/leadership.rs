//! Which portals this process leads.
//!
//! With PostgreSQL (`spread`), every process sharing the store takes a share of the portals:
//! one background task per process announces the process (a heartbeat every
//! [`Leadership::HEARTBEAT`], alive for [`Leadership::TTL`]), renews the portal leases it
//! holds, gives up the ones above its quota (`ceil(portals / live processes)`) and takes free
//! or expired ones below it, in rendezvous-hash order so that processes looking for work at
//! the same moment go for different portals. Every call goes through the store's pool: one
//! connection at a time for the whole process, whatever the number of portals.
//!
//! Fencing: a lease counts as held only until the last successful renewal's request time
//! plus [`Leadership::TTL`] minus [`Leadership::FENCE_MARGIN`]. A process cut off from the
//! store therefore stops leading (its engines' `still_leading` turns false, checked every
//! second) a few seconds before the lease could expire and another process take it.
//!
//! Giving a portal up (over quota, or no longer among the deployment's portals) is a
//! handshake with the portal's engine: `still_leading` turns false at once, the engine stops
//! its workers and calls `resign`, which releases the lease so another process can take it
//! without waiting for it to expire. An engine that does not resign within
//! [`Leadership::GIVE_UP_WAIT`] is not waited for: the lease is no longer renewed and expires.
//!
//! With SQLite (or in memory) there is no spreading: the process that wins the store's own
//! election leads every portal.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::queue::{Election, QueueError, Store};

/// This process's part in portal leadership: one per process, shared by its portal engines.
///
/// On PostgreSQL the processes sharing the store spread the portals between them through the
/// store's [`PortalLeases`](crate::queue::PortalLeases); on SQLite (or in memory) the process
/// that wins the store's own election leads every portal. Cheap to clone: clones share one
/// background task.
#[derive(Clone)]
pub struct Leadership {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Leadership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Leadership")
            .field("process_id", &self.shared.process_id)
            .field("spread", &self.shared.spread)
            .finish_non_exhaustive()
    }
}

/// What the engines and the background task share.
struct Shared {
    process_id: Arc<str>,
    store: Store,
    spread: bool,
    state: Mutex<State>,
    /// Wakes the background task early (a resign to carry out, a new set of portals).
    wake: Notify,
    /// `true` once the first pass finished, so an engine asking at start-up gets an answer
    /// that reflects the store rather than "not yet".
    ready: watch::Sender<bool>,
    /// `true` once [`Leadership::stop`] (or a simulated crash) ended the task.
    stopped: watch::Sender<bool>,
    task: Mutex<Option<JoinHandle<()>>>,
}

#[derive(Default)]
struct State {
    /// The portals the deployment runs ([`Leadership::set_portals`]).
    portals: BTreeSet<String>,
    /// Spread: the leases this process holds (or is giving up), by portal.
    held: BTreeMap<String, Held>,
    /// Not spread: whether this process wins the store's election, and when that was last
    /// confirmed.
    sole: Option<Instant>,
}

/// One portal lease this process holds.
struct Held {
    generation: u64,
    /// The fence: the lease counts as held until then (last renewal's request time + TTL -
    /// margin).
    valid_until: Instant,
    phase: Phase,
    /// The generation the portal's engine started leading under (its `try_lead`), `None`
    /// while no engine leads it. A change of generation under a running engine means the
    /// lease was lost and taken again meanwhile: that engine stops.
    engine: Option<u64>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Held and wanted.
    Leading,
    /// Over quota or no longer wanted: waiting (since then) for the engine to resign.
    GivingUp(Instant),
    /// To release on the task's next pass (the engine resigned, or none ran).
    Releasing,
}

impl Held {
    fn valid(&self, now: Instant) -> bool {
        self.phase == Phase::Leading && now < self.valid_until
    }
}

impl Leadership {
    /// How often the background task announces this process and renews its leases.
    pub const HEARTBEAT: Duration = Duration::from_secs(2);
    /// How long a heartbeat or a lease lasts unless renewed.
    pub const TTL: Duration = Duration::from_secs(10);
    /// A lease stops counting as held this long before it could expire unrenewed.
    pub const FENCE_MARGIN: Duration = Duration::from_secs(3);
    /// How long a portal being given up waits for its engine to resign before its lease is
    /// left to expire.
    pub const GIVE_UP_WAIT: Duration = Duration::from_secs(10);
    /// The standby retry to give portal engines
    /// ([`SyncEngineBuilder::standby_retry`](crate::engine::SyncEngineBuilder::standby_retry)):
    /// a portal's `try_lead` only reads this process's state, so polling often is cheap and
    /// an engine starts within this long of its lease being taken.
    pub const STANDBY_RETRY: Duration = Duration::from_millis(500);
    /// How long one store call of the background task may take before it counts as failed.
    const CALL_TIMEOUT: Duration = Duration::from_secs(3);
    /// How long a `try_lead` at start-up waits for the first pass.
    const FIRST_PASS_WAIT: Duration = Duration::from_secs(3);
    /// Not spread: how often a standby tries the store's election, and a leader checks it.
    const SOLE_RETRY: Duration = Duration::from_secs(3);
    const SOLE_CHECK: Duration = Duration::from_secs(1);

    /// Starts taking part in the leadership of `store`'s portals. `spread` is whether the
    /// portals are spread across processes through leases (PostgreSQL) or all led by the
    /// winner of `store.election` (SQLite, memory). Must be called inside a Tokio runtime:
    /// it spawns the background task.
    pub fn start(store: &Store, spread: bool) -> Leadership {
        let shared = Arc::new(Shared {
            process_id: Arc::from(new_process_id()),
            store: store.clone(),
            spread,
            state: Mutex::new(State::default()),
            wake: Notify::new(),
            ready: watch::channel(false).0,
            stopped: watch::channel(false).0,
            task: Mutex::new(None),
        });
        let task = if spread {
            tokio::spawn(shared.clone().spread_task())
        } else {
            tokio::spawn(shared.clone().sole_task())
        };
        *lock(&shared.task) = Some(task);
        tracing::info!(
            process = %shared.process_id,
            spread,
            "taking part in portal leadership"
        );
        Leadership { shared }
    }

    /// This process's id among those sharing the store.
    pub fn process_id(&self) -> &str {
        &self.shared.process_id
    }

    /// Whether the portals are spread across processes through leases (PostgreSQL).
    pub fn spread(&self) -> bool {
        self.shared.spread
    }

    /// The portals this process should take part in leading (every portal the deployment
    /// runs); portals not named are given up.
    pub fn set_portals(&self, ids: Vec<String>) {
        let ids: BTreeSet<String> = ids.into_iter().collect();
        let changed = {
            let mut state = self.shared.state();
            let changed = state.portals != ids;
            state.portals = ids;
            changed
        };
        if changed {
            if self.shared.spread {
                // An engine of a new portal asking now waits for the pass that may take it.
                self.shared.ready.send_replace(false);
            }
            self.shared.wake.notify_one();
        }
    }

    /// The election portal `id`'s engine runs under.
    pub fn election(&self, id: &str) -> Arc<dyn Election> {
        Arc::new(PortalElection {
            shared: self.shared.clone(),
            portal: id.to_owned(),
        })
    }

    /// The portals this process leads now, sorted: with leases, those held within the fence
    /// and not being given up.
    pub fn leading(&self) -> Vec<String> {
        let now = Instant::now();
        let state = self.shared.state();
        if self.shared.spread {
            state
                .held
                .iter()
                .filter(|(_, held)| held.valid(now))
                .map(|(portal, _)| portal.clone())
                .collect()
        } else if self.shared.sole_valid(&state, now) {
            state.portals.iter().cloned().collect()
        } else {
            Vec::new()
        }
    }

    /// Gives every lease up (clean shutdown) and stops the background task. Stop the
    /// engines first: from here on no portal's `still_leading` holds.
    pub async fn stop(&self) {
        if !self.shared.end_task().await {
            return;
        }
        if self.shared.spread {
            match tokio::time::timeout(
                Self::CALL_TIMEOUT,
                self.shared.store.leases.leave(&self.shared.process_id),
            )
            .await
            {
                Ok(Ok(())) => {}
                Ok(Err(error)) => tracing::warn!(
                    %error,
                    "could not give the portal leases up; they expire within {} s",
                    Self::TTL.as_secs()
                ),
                Err(_) => tracing::warn!(
                    "giving the portal leases up took too long; they expire within {} s",
                    Self::TTL.as_secs()
                ),
            }
        } else {
            self.shared.store.election.resign().await;
        }
        tracing::info!(process = %self.shared.process_id, "left portal leadership");
    }

    /// Ends the background task at once without giving anything up, as if the process had
    /// died: its leases stay in the store until they expire. For tests of failover.
    #[doc(hidden)]
    pub async fn simulate_crash(&self) {
        self.shared.end_task().await;
    }
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Stops the background task and forgets what it held; `false` when it was stopped
    /// already.
    async fn end_task(&self) -> bool {
        if self.stopped.send_replace(true) {
            return false;
        }
        let task = lock(&self.task).take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
        let mut state = self.state();
        state.held.clear();
        state.sole = None;
        true
    }

    fn sole_valid(&self, state: &State, now: Instant) -> bool {
        // A confirmation older than a few checks means the task is stuck: stop leading.
        state
            .sole
            .is_some_and(|at| now < at + Leadership::SOLE_CHECK * 3)
    }

    /// Waits (bounded) for the first pass, so an engine starting with the process learns
    /// whether it leads without a standby retry.
    async fn first_pass(&self) {
        let mut ready = self.ready.subscribe();
        let _ = tokio::time::timeout(Leadership::FIRST_PASS_WAIT, ready.wait_for(|r| *r)).await;
    }

    /// Not spread: follows the store's own election; while it leads, every portal is led.
    async fn sole_task(self: Arc<Self>) {
        let mut stopped = self.stopped.subscribe();
        loop {
            let leading = self.state().sole.is_some();
            let now_leading = if leading {
                self.store.election.still_leading().await
            } else {
                match tokio::time::timeout(Leadership::CALL_TIMEOUT, self.store.election.try_lead())
                    .await
                {
                    Ok(Ok(won)) => won,
                    Ok(Err(error)) => {
                        tracing::warn!(%error, "could not take part in the election");
                        false
                    }
                    Err(_) => {
                        tracing::warn!("the election did not answer in time");
                        false
                    }
                }
            };
            {
                let mut state = self.state();
                state.sole = now_leading.then(Instant::now);
            }
            match (leading, now_leading) {
                (false, true) => {
                    tracing::info!(process = %self.process_id, "elected: this process leads every portal")
                }
                (true, false) => {
                    tracing::error!(process = %self.process_id, "lost the leadership; no portal is synced here now")
                }
                _ => {}
            }
            self.ready.send_replace(true);
            let pause = if now_leading {
                Leadership::SOLE_CHECK
            } else {
                Leadership::SOLE_RETRY
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }

    /// Spread: one pass every heartbeat, or sooner when woken.
    async fn spread_task(self: Arc<Self>) {
        let mut stopped = self.stopped.subscribe();
        loop {
            let started = Instant::now();
            self.pass().await;
            self.ready.send_replace(true);
            // Passes start a heartbeat apart, however long one took, so a slow pass does not
            // push the next renewal towards the fence.
            tokio::select! {
                _ = tokio::time::sleep_until(started + Leadership::HEARTBEAT) => {}
                _ = self.wake.notified() => {}
                _ = stopped.wait_for(|s| *s) => return,
            }
        }
    }

    /// Releases, renews, announces, then balances.
    async fn pass(&self) {
        self.release_resigned().await;
        self.renew().await;
        let live = match call(
            self.store
                .leases
                .heartbeat(&self.process_id, Leadership::TTL),
        )
        .await
        {
            Ok(live) => live,
            Err(error) => {
                tracing::warn!(%error, "could not announce this process to the store; taking no portal until it answers");
                return;
            }
        };
        let leases = match call(self.store.leases.leases()).await {
            Ok(leases) => leases,
            Err(error) => {
                tracing::warn!(%error, "could not read the portal leases; taking no portal until the store answers");
                return;
            }
        };
        let live = live.len().max(1);
        let mut room = self.balance(live);
        self.release_resigned().await;
        if room == 0 {
            return;
        }
        // Free or expired leases only: a lease another process holds unexpired is its own,
        // even if that process looks dead (it may still be writing until the lease ends).
        let now = SystemTime::now();
        let taken: BTreeSet<&str> = leases
            .iter()
            .filter(|lease| !lease.holder.is_empty() && lease.expires_at > now)
            .map(|lease| lease.portal.as_str())
            .collect();
        let mut candidates: Vec<(u64, String)> = {
            let state = self.state();
            state
                .portals
                .iter()
                .filter(|portal| {
                    !state.held.contains_key(*portal) && !taken.contains(portal.as_str())
                })
                .map(|portal| (rendezvous(&self.process_id, portal), portal.clone()))
                .collect()
        };
        candidates.sort_by(|a, b| b.cmp(a));
        let started = Instant::now();
        for (_, portal) in candidates {
            if room == 0 || started.elapsed() > Leadership::CALL_TIMEOUT {
                break;
            }
            let asked = Instant::now();
            match call(
                self.store
                    .leases
                    .acquire_lease(&portal, &self.process_id, Leadership::TTL),
            )
            .await
            {
                Ok(Some(generation)) => {
                    let mut state = self.state();
                    if !state.portals.contains(&portal) {
                        // Removed meanwhile: give it straight back.
                        state.held.insert(
                            portal.clone(),
                            Held {
                                generation,
                                valid_until: asked,
                                phase: Phase::Releasing,
                                engine: None,
                            },
                        );
                        continue;
                    }
                    state.held.insert(
                        portal.clone(),
                        Held {
                            generation,
                            valid_until: asked + Leadership::TTL - Leadership::FENCE_MARGIN,
                            phase: Phase::Leading,
                            engine: None,
                        },
                    );
                    room -= 1;
                    tracing::info!(portal = %portal, generation, process = %self.process_id, "this process now leads the portal");
                }
                // Another process was quicker.
                Ok(None) => {}
                Err(error) => {
                    tracing::warn!(%error, portal = %portal, "could not take a portal lease");
                    break;
                }
            }
        }
        self.release_resigned().await;
    }

    /// Releases the leases marked [`Phase::Releasing`], and stops renewing those whose
    /// engine did not resign in time.
    async fn release_resigned(&self) {
        let now = Instant::now();
        let to_release: Vec<String> = {
            let mut state = self.state();
            let mut to_release = Vec::new();
            state.held.retain(|portal, held| match held.phase {
                Phase::Releasing => {
                    to_release.push(portal.clone());
                    false
                }
                Phase::GivingUp(since) if now >= since + Leadership::GIVE_UP_WAIT => {
                    tracing::warn!(portal = %portal, "the portal's engine did not stop in time; its lease is left to expire");
                    false
                }
                _ => true,
            });
            to_release
        };
        for portal in to_release {
            match call(self.store.leases.release_lease(&portal, &self.process_id)).await {
                Ok(()) => {
                    tracing::info!(portal = %portal, process = %self.process_id, "this process no longer leads the portal")
                }
                Err(error) => {
                    tracing::warn!(%error, portal = %portal, "could not release a portal lease; it expires within {} s", Leadership::TTL.as_secs())
                }
            }
        }
    }

    /// Renews every lease still held, in one statement: a pass over many portals must not
    /// outlast the fence (a renewal per portal, each waiting its turn on a loaded database,
    /// could).
    async fn renew(&self) {
        let holding = self
            .state()
            .held
            .values()
            .any(|held| held.phase != Phase::Releasing);
        if !holding {
            return;
        }
        let asked = Instant::now();
        let renewed = match call(
            self.store
                .leases
                .renew_leases(&self.process_id, Leadership::TTL),
        )
        .await
        {
            Ok(renewed) => renewed.into_iter().collect::<BTreeMap<String, u64>>(),
            Err(error) => {
                // The fence stops the engines before these leases could expire.
                tracing::warn!(%error, "could not renew the portal leases; the portals stop syncing here unless the store answers soon");
                return;
            }
        };
        let mut state = self.state();
        let process = self.process_id.clone();
        state.held.retain(|portal, held| {
            if held.phase == Phase::Releasing {
                return true;
            }
            match renewed.get(portal) {
                Some(&generation) if generation == held.generation => {
                    held.valid_until = asked + Leadership::TTL - Leadership::FENCE_MARGIN;
                    true
                }
                // Expired before this renewal (and perhaps taken by another process): whatever
                // ran under it has stopped at the fence; the portal may be taken again below.
                _ => {
                    tracing::warn!(portal = %portal, process = %process, "the portal's lease expired before it could be renewed; this process no longer leads it");
                    false
                }
            }
        });
    }

    /// Gives up the portals no longer wanted and those above the quota; returns how many
    /// more this process may take.
    fn balance(&self, live: usize) -> usize {
        let now = Instant::now();
        let mut state = self.state();
        let quota = state.portals.len().div_ceil(live);
        let unwanted: Vec<String> = state
            .held
            .iter()
            .filter(|(portal, held)| {
                held.phase == Phase::Leading && !state.portals.contains(*portal)
            })
            .map(|(portal, _)| portal.clone())
            .collect();
        for portal in unwanted {
            give_up(
                &mut state,
                &portal,
                now,
                "the portal is no longer configured",
            );
        }
        let mut leading: Vec<(u64, String)> = state
            .held
            .iter()
            .filter(|(_, held)| held.phase == Phase::Leading)
            .map(|(portal, _)| (rendezvous(&self.process_id, portal), portal.clone()))
            .collect();
        if leading.len() > quota {
            // Keep the portals this process ranks highest, as a process looking for work
            // does: the same portals tend to stay with the same process.
            leading.sort();
            let extra = leading.len() - quota;
            for (_, portal) in leading.drain(..extra) {
                give_up(
                    &mut state,
                    &portal,
                    now,
                    "rebalancing to a process with fewer portals",
                );
            }
        }
        let wake = state
            .held
            .values()
            .any(|held| held.phase == Phase::Releasing);
        drop(state);
        if wake {
            self.wake.notify_one();
        }
        quota.saturating_sub(leading.len())
    }
}

/// Starts giving `portal` up: its engine stops at its next check; without an engine running
/// it, the lease is released at once.
fn give_up(state: &mut State, portal: &str, now: Instant, why: &str) {
    if let Some(held) = state.held.get_mut(portal) {
        held.phase = if held.engine.is_some() {
            Phase::GivingUp(now)
        } else {
            Phase::Releasing
        };
        tracing::info!(portal = %portal, reason = why, "giving the portal up");
    }
}

/// The election one portal's engine runs under.
struct PortalElection {
    shared: Arc<Shared>,
    portal: String,
}

#[async_trait::async_trait]
impl Election for PortalElection {
    async fn try_lead(&self) -> Result<bool, QueueError> {
        if !*self.shared.ready.borrow() {
            self.shared.first_pass().await;
        }
        let now = Instant::now();
        let mut state = self.shared.state();
        if !self.shared.spread {
            return Ok(self.shared.sole_valid(&state, now));
        }
        Ok(match state.held.get_mut(&self.portal) {
            Some(held) if held.valid(now) => {
                held.engine = Some(held.generation);
                true
            }
            _ => false,
        })
    }

    async fn still_leading(&self) -> bool {
        let now = Instant::now();
        let state = self.shared.state();
        if !self.shared.spread {
            return self.shared.sole_valid(&state, now);
        }
        state
            .held
            .get(&self.portal)
            .is_some_and(|held| held.valid(now) && held.engine == Some(held.generation))
    }

    async fn resign(&self) {
        if !self.shared.spread {
            // The store's election is this process's, for every portal: kept until `stop`.
            return;
        }
        let resigned = {
            let mut state = self.shared.state();
            match state.held.get_mut(&self.portal) {
                Some(held) if held.phase != Phase::Releasing => {
                    held.engine = None;
                    held.phase = Phase::Releasing;
                    true
                }
                _ => false,
            }
        };
        if resigned {
            self.shared.wake.notify_one();
        }
    }

    fn shared(&self) -> bool {
        // Leases change hands between processes: a new leader waits one rate window.
        self.shared.spread || self.shared.store.election.shared()
    }
}

/// One store call of the background task, bounded so a hung store cannot stall the renewals
/// of the other leases (the fence would stop the engines anyway).
async fn call<T>(
    future: impl std::future::Future<Output = Result<T, QueueError>>,
) -> Result<T, QueueError> {
    match tokio::time::timeout(Leadership::CALL_TIMEOUT, future).await {
        Ok(result) => result,
        Err(_) => Err(QueueError::Unavailable {
            source: format!(
                "the store did not answer within {} s",
                Leadership::CALL_TIMEOUT.as_secs()
            )
            .into(),
        }),
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

/// A process id unique to this start of this process: host name (when the OS tells it
/// cheaply), pid and a random part. Shown in logs and the store; never secret.
fn new_process_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_default();
    let host: String = host
        .trim()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
        .take(63)
        .collect();
    let host = if host.is_empty() { "process" } else { &host };
    format!(
        "{host}-{}-{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}

/// The rendezvous (highest random weight) score of `portal` for `process`: a stable hash of
/// both, the same in every process of the deployment, so each process prefers a different
/// order of portals.
fn rendezvous(process: &str, portal: &str) -> u64 {
    // FNV-1a, then a splitmix64 finaliser for an even spread of nearby ids.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in process.bytes().chain([0]).chain(portal.bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 30;
    hash = hash.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    hash ^= hash >> 27;
    hash = hash.wrapping_mul(0x94d0_49bb_1331_11eb);
    hash ^ (hash >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_ids_are_unique_per_start_and_plain() {
        let (a, b) = (new_process_id(), new_process_id());
        assert_ne!(a, b);
        assert!(a.contains(&std::process::id().to_string()));
        assert!(a
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')));
    }

    #[test]
    fn rendezvous_orders_differ_between_processes() {
        let portals: Vec<String> = (0..20).map(|i| format!("portal-{i}")).collect();
        let order = |process: &str| {
            let mut ranked: Vec<_> = portals
                .iter()
                .map(|p| (rendezvous(process, p), p.clone()))
                .collect();
            ranked.sort();
            ranked.into_iter().map(|(_, p)| p).collect::<Vec<_>>()
        };
        assert_eq!(order("a"), order("a"), "stable");
        assert_ne!(order("a"), order("b"));
    }
}
