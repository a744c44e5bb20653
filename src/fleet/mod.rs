//! Many portals on one deployment: each stored portal (and the environment's `default`)
//! gets a sync engine of its own, fed by routing each verified event to its portal.
//!
//! A [`Fleet`] is what `stripe2hubspot serve` runs: one per process. Its supervisor polls the
//! store's portals revision every second and starts, restarts (on any change of a portal's
//! settings) or stops that portal's engine within a few seconds. Every process ingests for
//! every portal; each portal's engine syncs only in the process leading it
//! ([`Leadership`]). Portals are isolated and fair by construction: each has its own store
//! namespace, HubSpot client (its own token and rate limiter), engine, workers and pause, so
//! one portal's backlog, 401 or outage never delays another.

mod leadership;
mod supervisor;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use stripe2hubspot_map::MappingConfig;
use stripe_events::Verifier;

pub use leadership::Leadership;

use crate::admin::{AggregateCache, StatusSource};
use crate::alert::Alerter;
use crate::config::Config;
use crate::engine::{EngineHandle, Role, SyncEngineBuilder};
use crate::ingest::{Ingest, IngestBuilder, RouteTable, Routes};
use crate::queue::{Portal, Store, DEFAULT_PORTAL};
use crate::service::ServiceError;

/// How often the supervisor checks whether the portals changed.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// How often unrouted events of accounts a portal claims are looked for again (beside the
/// move made when the portal is added), for an event stored as unrouted in the instant the
/// account was claimed.
pub const SWEEP_EVERY: Duration = Duration::from_secs(5);

type EngineHook = Arc<dyn Fn(&str, SyncEngineBuilder) -> SyncEngineBuilder + Send + Sync>;
type IngestHook = Box<dyn FnOnce(IngestBuilder) -> IngestBuilder + Send>;

/// Builds a [`Fleet`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct FleetBuilder {
    store: Store,
    config: Config,
    mapping: MappingConfig,
    default_portal: bool,
    spread: bool,
    engine: Option<EngineHook>,
    ingest: Option<IngestHook>,
    alerter: Option<Arc<dyn Alerter>>,
    check_every: Duration,
    sweep_every: Duration,
    #[cfg(feature = "backfill")]
    stripe: Option<stripe2hubspot_stripe::StripeClient>,
}

impl std::fmt::Debug for FleetBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FleetBuilder")
            .field("default_portal", &self.default_portal)
            .field("spread", &self.spread)
            .finish_non_exhaustive()
    }
}

impl FleetBuilder {
    /// Whether `config`'s HubSpot settings configure the `default` portal (the binary: whether
    /// `HUBSPOT_ACCESS_TOKEN` is set). Default `true`. Without it only stored portals sync, and
    /// events no portal claims are kept as unrouted.
    pub fn default_portal(mut self, configured: bool) -> Self {
        self.default_portal = configured;
        self
    }

    /// Whether the portals are spread across the processes sharing the store through leases
    /// (PostgreSQL) rather than all led by the winner of the store's election (SQLite,
    /// memory). Default `false`.
    pub fn spread(mut self, spread: bool) -> Self {
        self.spread = spread;
        self
    }

    /// Applied to every portal's engine builder (after the fleet's own settings), with the
    /// portal id: test timings, concurrency.
    pub fn engine(
        mut self,
        customize: impl Fn(&str, SyncEngineBuilder) -> SyncEngineBuilder + Send + Sync + 'static,
    ) -> Self {
        self.engine = Some(Arc::new(customize));
        self
    }

    /// Applied to the ingest builder: body limits, thin events.
    pub fn ingest(
        mut self,
        customize: impl FnOnce(IngestBuilder) -> IngestBuilder + Send + 'static,
    ) -> Self {
        self.ingest = Some(Box::new(customize));
        self
    }

    /// Every portal's alerts go here instead of its Slack URL (or the deployment's).
    pub fn alerter(mut self, alerter: Arc<dyn Alerter>) -> Self {
        self.alerter = Some(alerter);
        self
    }

    /// How often the portals revision is polled (default [`CHECK_EVERY`], 1 s).
    pub fn check_every(mut self, every: Duration) -> Self {
        self.check_every = every;
        self
    }

    /// How often unrouted events of claimed accounts are swept (default [`SWEEP_EVERY`], 5 s).
    pub fn sweep_every(mut self, every: Duration) -> Self {
        self.sweep_every = every;
        self
    }

    /// A Stripe client for the `default` portal's engine (see
    /// [`SyncEngineBuilder::stripe`]); stored portals sync without one (their objects
    /// belong to other accounts).
    #[cfg(feature = "backfill")]
    #[cfg_attr(docsrs, doc(cfg(feature = "backfill")))]
    pub fn stripe(mut self, client: stripe2hubspot_stripe::StripeClient) -> Self {
        self.stripe = Some(client);
        self
    }

    /// Checks the deployment's settings (the `default` portal's, when configured), loads the
    /// stored portals and builds the routing table. Nothing syncs until [`Fleet::run`].
    pub async fn build(self) -> Result<Fleet, ServiceError> {
        self.mapping.validate()?;
        let deployment = if self.config.webhook_secrets.is_empty() {
            None
        } else {
            Some(Verifier::with_secrets(&self.config.webhook_secrets)?)
        };
        if self.default_portal {
            // The errors `Service::start` reports at startup, reported the same way.
            crate::service::hubspot_client(&self.config, hubspot_crm::RetryPolicy::none())?;
            if let Some(url) = &self.config.slack_webhook_url {
                crate::alert::SlackAlerter::new(url)?;
            }
        }
        let routes = Routes::new(
            RouteTable::new(deployment.clone()),
            self.store.unrouted.clone(),
        );
        let builder = Ingest::routed(routes.clone());
        let builder = match self.ingest {
            Some(customize) => customize(builder),
            None => builder,
        };
        let leadership = Leadership::start(&self.store, self.spread);
        let inner = Arc::new(Inner {
            store: self.store,
            config: self.config,
            mapping: self.mapping,
            default_portal: self.default_portal,
            deployment,
            leadership,
            routes,
            ingest: Arc::new(builder.build()),
            engine: self.engine,
            alerter: self.alerter,
            check_every: self.check_every,
            sweep_every: self.sweep_every,
            #[cfg(feature = "backfill")]
            stripe: self.stripe,
            state: Mutex::new(supervisor::State::default()),
        });
        let fleet = Fleet { inner };
        fleet.inner.reload().await.map_err(ServiceError::Queue)?;
        Ok(fleet)
    }
}

/// The portals this process syncs, their engines and the routing of events between them.
/// Cheap to clone: clones share it.
#[derive(Clone)]
pub struct Fleet {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Fleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fleet")
            .field("process_id", &self.process_id())
            .field("portals", &self.portal_ids())
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    store: Store,
    config: Config,
    mapping: MappingConfig,
    default_portal: bool,
    deployment: Option<Verifier>,
    leadership: Leadership,
    routes: Arc<Routes>,
    ingest: Arc<Ingest>,
    engine: Option<EngineHook>,
    alerter: Option<Arc<dyn Alerter>>,
    check_every: Duration,
    sweep_every: Duration,
    #[cfg(feature = "backfill")]
    stripe: Option<stripe2hubspot_stripe::StripeClient>,
    state: Mutex<supervisor::State>,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, supervisor::State> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One portal as the fleet runs it, for status reports.
#[derive(Debug, Clone)]
pub struct PortalRun {
    /// The portal id (`default` for the environment's portal).
    pub id: String,
    /// Its engine, once built; `None` while it starts or when it could not start.
    pub engine: Option<EngineHandle>,
    /// Why its engine could not start (a stored setting that no longer parses), if so.
    pub error: Option<String>,
    /// The portal's own store.
    pub store: Option<Store>,
    /// The portal's aggregate cache, shared by every status read of it.
    pub aggregate: AggregateCache,
}

impl PortalRun {
    /// Whether this process syncs the portal now.
    pub fn leads(&self) -> bool {
        self.engine
            .as_ref()
            .is_some_and(|e| e.role() == Role::Leader)
    }

    /// The status source of this portal (its store's admin side, its engine, the fleet's
    /// ingest), when its engine runs.
    pub fn source(&self, ingest: &Arc<Ingest>) -> Option<StatusSource> {
        Some(StatusSource {
            admin: self.store.as_ref()?.admin.clone(),
            engine: self.engine.clone()?,
            ingest: ingest.clone(),
            aggregate: self.aggregate.clone(),
        })
    }
}

impl Fleet {
    /// A fleet over the root `store`, with the deployment's `config` (its secrets, retention,
    /// and the `default` portal's HubSpot settings) and `mapping` (the `default` portal's, and
    /// every portal's without its own).
    pub fn builder(store: Store, config: Config, mapping: MappingConfig) -> FleetBuilder {
        FleetBuilder {
            store,
            config,
            mapping,
            default_portal: true,
            spread: false,
            engine: None,
            ingest: None,
            alerter: None,
            check_every: CHECK_EVERY,
            sweep_every: SWEEP_EVERY,
            #[cfg(feature = "backfill")]
            stripe: None,
        }
    }

    /// Runs every portal's engine and the supervisor until `shutdown` completes; then stops
    /// every engine (each finishes or releases its batches in hand) and gives every portal's
    /// leadership up.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        self.inner.clone().run(shutdown).await;
    }

    /// The webhook ingest routing events to the portals: mount it with
    /// [`ingest::axum::router`](crate::ingest::axum::router).
    pub fn ingest(&self) -> Arc<Ingest> {
        self.inner.ingest.clone()
    }

    /// The routing table the ingest reads.
    pub fn routes(&self) -> Arc<Routes> {
        self.inner.routes.clone()
    }

    /// The root store (the `default` portal's data, the portals, leases, unrouted events).
    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    /// This process's portal leadership.
    pub fn leadership(&self) -> &Leadership {
        &self.inner.leadership
    }

    /// This process's id among those sharing the store.
    pub fn process_id(&self) -> String {
        self.inner.leadership.process_id().to_owned()
    }

    /// Whether the environment's `default` portal is configured.
    pub fn has_default_portal(&self) -> bool {
        self.inner.default_portal
    }

    /// The deployment's settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The deployment's mapping.
    pub fn mapping(&self) -> &MappingConfig {
        &self.inner.mapping
    }

    /// The ids of the portals the fleet runs, sorted.
    pub fn portal_ids(&self) -> Vec<String> {
        self.inner.state().slots.keys().cloned().collect()
    }

    /// Every portal the fleet runs, by id.
    pub fn portals(&self) -> BTreeMap<String, PortalRun> {
        let state = self.inner.state();
        state
            .slots
            .iter()
            .map(|(id, slot)| (id.clone(), slot.run(id)))
            .collect()
    }

    /// Portal `id` as the fleet runs it.
    pub fn portal(&self, id: &str) -> Option<PortalRun> {
        let state = self.inner.state();
        state.slots.get(id).map(|slot| slot.run(id))
    }

    /// Portal `id`'s engine, once running.
    pub fn engine(&self, id: &str) -> Option<EngineHandle> {
        self.portal(id).and_then(|p| p.engine)
    }

    /// The portals this process syncs now (their engines lead), sorted.
    pub fn leading(&self) -> Vec<String> {
        self.portals()
            .into_values()
            .filter(PortalRun::leads)
            .map(|p| p.id)
            .collect()
    }

    /// Reads the portals now and applies any change (what the supervisor does every second).
    pub async fn reload(&self) -> Result<(), crate::queue::QueueError> {
        self.inner.reload().await
    }

    /// Waits until the engines of removed portals have stopped (each finishes or releases its
    /// batches in hand within its shutdown grace), so their data can be deleted.
    pub async fn removed_stopped(&self) {
        let retiring = std::mem::take(&mut self.inner.state().retiring);
        for task in retiring {
            let _ = task.await;
        }
    }

    /// Moves the unrouted events of every account a portal claims now into its queue;
    /// returns how many moved (what the supervisor does every few seconds).
    pub async fn sweep_unrouted(&self) -> Result<u64, crate::queue::QueueError> {
        self.inner.sweep().await
    }
}

/// A stored portal's settings as its engine uses them: everything but the reported pause.
fn engine_settings(portal: &Portal) -> Portal {
    Portal {
        paused: false,
        ..portal.clone()
    }
}

/// Whether `id` is the environment's portal.
fn is_default(id: &str) -> bool {
    id == DEFAULT_PORTAL
}
