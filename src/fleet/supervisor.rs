//! The fleet's supervisor: one engine per portal, started, restarted and stopped as the
//! stored portals change, and the routing table kept in step.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use hubspot_crm::{Client, RetryPolicy};
use stripe2hubspot_map::MappingConfig;
use stripe_events::Verifier;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::{engine_settings, is_default, Inner, PortalRun};
use crate::admin::AggregateCache;
use crate::alert::{Alerter, SlackAlerter, TracingAlerter};
use crate::config::Config;
use crate::engine::{EngineHandle, Role, SyncEngine};
use crate::ingest::{PortalRoute, RouteTable, PLATFORM_ACCOUNT};
use crate::queue::{Portal, Queue, QueueError, Store, UnroutedEvents, DEFAULT_PORTAL};

/// How often a portal engine standing by asks whether it leads now.
const STANDBY_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Most unrouted events moved per read.
const MOVE_BATCH: usize = 100;

/// What one portal's engine runs with: `None` for the `default` portal (the deployment's
/// settings), else the stored portal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Spec(Option<Portal>);

/// What the supervisor keeps.
#[derive(Default)]
pub(super) struct State {
    pub(super) slots: BTreeMap<String, Slot>,
    /// The portals revision last applied.
    revision: Option<u64>,
    /// Each portal's own store (a namespace of the root store), opened once.
    stores: HashMap<String, Store>,
    /// Engines being stopped (a removed portal's), awaited at shutdown.
    pub(super) retiring: Vec<JoinHandle<()>>,
    /// Whether `run` started the slots' tasks: slots added before wait for it.
    running: bool,
}

/// One portal's engine task and what it reports.
pub(super) struct Slot {
    spec: watch::Sender<Option<Arc<Spec>>>,
    shared: Arc<Mutex<SlotState>>,
    task: Option<JoinHandle<()>>,
    aggregate: AggregateCache,
    /// The pause state last recorded in the portals table (stored portals only).
    recorded_paused: Option<bool>,
}

#[derive(Default)]
struct SlotState {
    engine: Option<EngineHandle>,
    store: Option<Store>,
    error: Option<String>,
}

impl Slot {
    pub(super) fn run(&self, id: &str) -> PortalRun {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        PortalRun {
            id: id.to_owned(),
            engine: shared.engine.clone(),
            error: shared.error.clone(),
            store: shared.store.clone(),
            aggregate: self.aggregate.clone(),
        }
    }
}

impl Inner {
    /// Supervises until `shutdown`, then stops every engine and leaves.
    pub(super) async fn run(self: Arc<Self>, shutdown: impl std::future::Future<Output = ()>) {
        {
            let mut state = self.state();
            state.running = true;
            let pending: Vec<String> = state
                .slots
                .iter()
                .filter(|(_, slot)| slot.task.is_none())
                .map(|(id, _)| id.clone())
                .collect();
            for id in pending {
                self.start_slot(&mut state, &id);
            }
        }
        let supervising = self.clone().supervise();
        tokio::select! {
            _ = shutdown => {}
            _ = supervising => {}
        }
        let tasks: Vec<JoinHandle<()>> = {
            let mut state = self.state();
            state.running = false;
            let mut tasks = std::mem::take(&mut state.retiring);
            for (_, mut slot) in std::mem::take(&mut state.slots) {
                let _ = slot.spec.send(None);
                tasks.extend(slot.task.take());
            }
            tasks
        };
        for task in tasks {
            let _ = task.await;
        }
        self.leadership.stop().await;
    }

    async fn supervise(self: Arc<Self>) {
        let mut tick = tokio::time::interval(self.check_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut swept = Instant::now();
        loop {
            tick.tick().await;
            if let Err(error) = self.reload().await {
                tracing::warn!(%error, "could not read the portals; keeping the ones running");
            }
            if swept.elapsed() >= self.sweep_every {
                swept = Instant::now();
                if let Err(error) = self.sweep().await {
                    tracing::warn!(%error, "could not move unrouted events; retrying shortly");
                }
            }
            self.record_pauses().await;
            self.state().retiring.retain(|task| !task.is_finished());
        }
    }

    /// Applies the stored portals if their revision moved since the last applied one.
    pub(super) async fn reload(self: &Arc<Self>) -> Result<(), QueueError> {
        let last = self.state().revision;
        let revision = self
            .store
            .portals
            .portals_revision()
            .await
            .map_err(portal_error)?;
        if last == Some(revision) {
            return Ok(());
        }
        let portals = self.store.portals.list().await.map_err(portal_error)?;
        self.apply(&portals).await?;
        self.state().revision = Some(revision);
        Ok(())
    }

    async fn apply(self: &Arc<Self>, portals: &[Portal]) -> Result<(), QueueError> {
        let mut desired: BTreeMap<String, Spec> = BTreeMap::new();
        if self.default_portal {
            desired.insert(DEFAULT_PORTAL.to_owned(), Spec(None));
        }
        for portal in portals {
            desired.insert(portal.id.clone(), Spec(Some(engine_settings(portal))));
        }
        // Every portal's own store, opened before anything changes so a failure changes nothing.
        let mut stores = Vec::with_capacity(desired.len());
        for id in desired.keys() {
            stores.push((id.clone(), self.portal_store(id).await?));
        }
        let mut table = RouteTable::new(self.deployment.clone())
            .with_unrouted_types(self.mapping.event_types.iter().cloned());
        for (id, store) in &stores {
            let spec = &desired[id];
            let route = self.route(id, spec, store.queue.clone());
            let accounts = spec
                .0
                .as_ref()
                .map(|p| p.accounts.as_slice())
                .unwrap_or(&[]);
            table = table.with_portal(route, accounts);
        }
        self.routes.replace(table);
        {
            let mut state = self.state();
            let gone: Vec<String> = state
                .slots
                .keys()
                .filter(|id| !desired.contains_key(*id))
                .cloned()
                .collect();
            for id in gone {
                if let Some(mut slot) = state.slots.remove(&id) {
                    tracing::info!(portal = %id, "portal removed: stopping its sync");
                    let _ = slot.spec.send(None);
                    if let Some(task) = slot.task.take() {
                        state.retiring.push(task);
                    }
                }
                state.stores.remove(&id);
            }
            for (id, spec) in &desired {
                let spec = Arc::new(spec.clone());
                match state.slots.get(id) {
                    Some(slot) if slot.spec.borrow().as_deref() == Some(&*spec) => {}
                    Some(slot) => {
                        tracing::info!(portal = %id, "portal settings changed: restarting its sync");
                        slot.spec.send_replace(Some(spec));
                    }
                    None => {
                        tracing::info!(portal = %id, "portal added: starting its sync");
                        let (tx, _) = watch::channel(Some(spec));
                        state.slots.insert(
                            id.clone(),
                            Slot {
                                spec: tx,
                                shared: Arc::default(),
                                task: None,
                                aggregate: AggregateCache::default(),
                                recorded_paused: None,
                            },
                        );
                        if state.running {
                            self.start_slot(&mut state, id);
                        }
                    }
                }
            }
        }
        self.leadership
            .set_portals(desired.keys().cloned().collect());
        // Accounts claimed now get the events that waited for them.
        if let Err(error) = self.sweep().await {
            tracing::warn!(%error, "could not move unrouted events yet; the sweep retries");
        }
        Ok(())
    }

    fn start_slot(self: &Arc<Self>, state: &mut State, id: &str) {
        let this = self.clone();
        let Some(slot) = state.slots.get_mut(id) else {
            return;
        };
        let specs = slot.spec.subscribe();
        let shared = slot.shared.clone();
        let id = id.to_owned();
        slot.task = Some(tokio::spawn(async move {
            this.run_slot(id, specs, shared).await;
        }));
    }

    /// Portal `id`'s engine, rebuilt each time its settings change, until it is removed.
    async fn run_slot(
        self: Arc<Self>,
        id: String,
        mut specs: watch::Receiver<Option<Arc<Spec>>>,
        shared: Arc<Mutex<SlotState>>,
    ) {
        loop {
            let Some(spec) = specs.borrow_and_update().clone() else {
                break;
            };
            match self.build_engine(&id, &spec).await {
                Ok((engine, store)) => {
                    {
                        let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                        s.engine = Some(engine.handle());
                        s.store = Some(store);
                        s.error = None;
                    }
                    let mut changed = specs.clone();
                    let span = tracing::info_span!("portal", portal = %id);
                    tracing::Instrument::instrument(
                        engine.run(async move {
                            let _ = changed.changed().await;
                        }),
                        span,
                    )
                    .await;
                }
                Err(error) => {
                    tracing::error!(portal = %id, %error, "could not start the portal's sync; fix its settings with `stripe2hubspot portals set`");
                    let mut s = shared.lock().unwrap_or_else(|p| p.into_inner());
                    s.engine = None;
                    s.error = Some(error);
                }
            }
            match specs.has_changed() {
                Ok(true) => continue,
                Ok(false) => {
                    if specs.changed().await.is_err() {
                        break;
                    }
                }
                Err(_) => break,
            }
        }
    }

    /// Portal `id`'s engine over its own store, under its leadership.
    async fn build_engine(&self, id: &str, spec: &Spec) -> Result<(SyncEngine, Store), String> {
        let store = self
            .portal_store(id)
            .await
            .map_err(|e| format!("its store could not be opened: {e}"))?;
        let store = Store {
            election: self.leadership.election(id),
            ..store
        };
        let config = self.config_of(spec)?;
        let mapping = self.mapping_of(spec)?;
        let mut client = Client::builder(config.hubspot_token.clone())
            .base_url(config.hubspot_base_url.clone())
            .api_version(config.hubspot_api_version)
            .rate_limit(config.rate_limit)
            .retry_policy(RetryPolicy::none());
        if !is_default(id) {
            client = client.portal(id);
        }
        let client = client
            .build()
            .map_err(|e| format!("its HubSpot client could not be built: {e}"))?;
        let alerter: Arc<dyn Alerter> = match (&self.alerter, &config.slack_webhook_url) {
            (Some(alerter), _) => alerter.clone(),
            (None, Some(url)) => Arc::new(
                SlackAlerter::new(url)
                    .map_err(|e| format!("its Slack webhook URL is invalid: {e}"))?,
            ),
            (None, None) => Arc::new(TracingAlerter),
        };
        let mut builder = SyncEngine::builder(store.clone(), client, mapping)
            // A portal's `try_lead` only reads this process's leadership state, so polling
            // it often costs nothing, and the engine starts within this of its lease.
            .standby_retry(STANDBY_RETRY)
            .alerter(alerter)
            .dead_letter_retention(config.dead_letter_retention)
            .merge_contacts(config.merge_contacts)
            .gdpr_delete(config.gdpr_delete);
        if !is_default(id) {
            builder = builder.portal(id);
        }
        #[cfg(feature = "backfill")]
        if is_default(id) {
            if let Some(stripe) = &self.stripe {
                builder = builder.stripe(stripe.clone());
            }
        }
        if let Some(customize) = &self.engine {
            builder = customize(id, builder);
        }
        let engine = builder.build().map_err(|e| e.to_string())?;
        Ok((engine, store))
    }

    fn config_of(&self, spec: &Spec) -> Result<Config, String> {
        match &spec.0 {
            None => Ok(self.config.clone()),
            Some(portal) => self.config.for_portal(portal).map_err(|e| e.to_string()),
        }
    }

    fn mapping_of(&self, spec: &Spec) -> Result<MappingConfig, String> {
        match spec.0.as_ref().and_then(|p| p.mapping.as_deref()) {
            None => Ok(self.mapping.clone()),
            Some(json) => {
                let mapping = MappingConfig::from_json(json)
                    .map_err(|e| format!("its stored mapping is invalid: {e}"))?;
                mapping
                    .validate()
                    .map_err(|e| format!("its stored mapping is invalid: {e}"))?;
                Ok(mapping)
            }
        }
    }

    /// Portal `id`'s route: its queue, its own secrets, the types its mapping syncs.
    fn route(&self, id: &str, spec: &Spec, queue: Arc<dyn Queue>) -> PortalRoute {
        let verifier = spec
            .0
            .as_ref()
            .and_then(|p| p.webhook_secrets.as_ref())
            .and_then(|secrets| {
                let list: Vec<&str> = secrets
                    .expose()
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .collect();
                match Verifier::with_secrets(list) {
                    Ok(verifier) => Some(verifier),
                    Err(error) => {
                        // The error names the secret's position, never its value.
                        tracing::error!(portal = %id, %error, "the portal's stored webhook secret is invalid: its path is verified with the deployment's; set it again with `stripe2hubspot portals set --webhook-secret`");
                        None
                    }
                }
            });
        let event_types: BTreeSet<String> = match self.mapping_of(spec) {
            Ok(mapping) => mapping.event_types.into_iter().collect(),
            Err(_) => self.mapping.event_types.iter().cloned().collect(),
        };
        PortalRoute {
            id: id.to_owned(),
            queue,
            verifier,
            event_types,
        }
    }

    /// Portal `id`'s own store, opened once.
    async fn portal_store(&self, id: &str) -> Result<Store, QueueError> {
        if let Some(store) = self.state().stores.get(id) {
            return Ok(store.clone());
        }
        let store = self.store.portal(id).await?;
        Ok(self
            .state()
            .stores
            .entry(id.to_owned())
            .or_insert(store)
            .clone())
    }

    /// Moves the unrouted events of every account the routing table gives a portal (and,
    /// with a `default` portal, those kept under [`PLATFORM_ACCOUNT`]) into that portal's
    /// queue: enqueued first, forgotten after, so a crash between the two only leaves
    /// duplicates the queue drops.
    pub(super) async fn sweep(&self) -> Result<u64, QueueError> {
        let waiting = self.store.unrouted.unrouted_accounts().await?;
        if waiting.is_empty() {
            return Ok(0);
        }
        let table = self.routes.current();
        let mut moved = 0;
        for account in waiting {
            let portal = if account.account == PLATFORM_ACCOUNT {
                table.portal(DEFAULT_PORTAL)
            } else {
                table.portal_for_account(&account.account)
            };
            let Some(portal) = portal else {
                continue;
            };
            let n = move_unrouted(
                self.store.unrouted.as_ref(),
                &account.account,
                portal.queue.as_ref(),
            )
            .await?;
            if n > 0 {
                tracing::info!(portal = %portal.id, account = %account.account, events = n, "moved unrouted events to the portal that claims their account");
            }
            moved += n;
        }
        Ok(moved)
    }

    /// The leader of a stored portal records whether its sync is paused, for `portals list`.
    async fn record_pauses(&self) {
        let changes: Vec<(String, bool)> = {
            let mut state = self.state();
            let mut changes = Vec::new();
            for (id, slot) in state.slots.iter_mut().filter(|(id, _)| !is_default(id)) {
                let leading = {
                    let shared = slot.shared.lock().unwrap_or_else(|p| p.into_inner());
                    shared
                        .engine
                        .as_ref()
                        .filter(|engine| engine.role() == Role::Leader)
                        .map(|engine| engine.paused().is_some())
                };
                match leading {
                    Some(paused) if slot.recorded_paused != Some(paused) => {
                        changes.push((id.clone(), paused))
                    }
                    Some(_) => {}
                    // Another process reports while it leads: report again on taking over.
                    None => slot.recorded_paused = None,
                }
            }
            changes
        };
        for (id, paused) in changes {
            match self.store.portals.record_paused(&id, paused).await {
                Ok(()) => {
                    if let Some(slot) = self.state().slots.get_mut(&id) {
                        slot.recorded_paused = Some(paused);
                    }
                }
                Err(error) => {
                    tracing::warn!(portal = %id, %error, "could not record the portal's pause state")
                }
            }
        }
    }
}

/// Moves every unrouted event of `account` into `queue`.
async fn move_unrouted(
    unrouted: &dyn UnroutedEvents,
    account: &str,
    queue: &dyn Queue,
) -> Result<u64, QueueError> {
    let mut moved = 0;
    loop {
        let batch = unrouted.unrouted(account, MOVE_BATCH).await?;
        if batch.is_empty() {
            return Ok(moved);
        }
        let ids: Vec<String> = batch.iter().map(|job| job.event_id.clone()).collect();
        for job in batch {
            // A duplicate was stored in the portal's queue before: forgetting it is right too.
            queue.enqueue(job).await?;
        }
        unrouted.forget_unrouted(&ids).await?;
        moved += ids.len() as u64;
    }
}

fn portal_error(error: crate::queue::PortalError) -> QueueError {
    match error {
        crate::queue::PortalError::Store(error) => error,
        other => QueueError::Config {
            message: other.to_string(),
        },
    }
}
