//! The whole pipeline assembled from a [`Config`]: queue, HubSpot client, ingest and engine.
//!
//! This is what `stripe2hubspot serve` runs; embed it, or assemble the parts yourself.

use std::sync::Arc;

use hubspot_crm::{Client, RetryPolicy};
use stripe2hubspot_map::MappingConfig;
use stripe_events::Verifier;

use crate::alert::{Alerter, SlackAlerter, TracingAlerter};
use crate::config::Config;
use crate::engine::{SyncEngine, SyncEngineBuilder};
use crate::ingest::{Ingest, IngestBuilder};
use crate::queue::{self, QueueError, Store};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The queue could not be opened.
    #[error("could not open the queue (STRIPE2HUBSPOT_QUEUE): {0}")]
    Queue(#[from] QueueError),
    /// The HubSpot client could not be built.
    #[error("could not set up the HubSpot client: {0}")]
    HubSpot(#[from] hubspot_crm::Error),
    /// A webhook secret was rejected.
    #[error("invalid STRIPE_WEBHOOK_SECRET: {0}")]
    Secret(#[from] stripe_events::ConfigError),
    /// The mapping configuration is invalid.
    #[error("invalid mapping configuration: {0}")]
    Mapping(#[from] stripe2hubspot_map::ConfigError),
    /// The Slack webhook URL is invalid.
    #[error("invalid SLACK_WEBHOOK_URL: {0}")]
    Slack(#[from] crate::alert::InvalidWebhookUrl),
    /// An engine setting is invalid.
    #[error(transparent)]
    Engine(#[from] crate::engine::EngineError),
}

/// A ready pipeline: mount [`Service::ingest`] on a route and run [`Service::engine`].
pub struct Service {
    /// Verifies and stores webhooks.
    pub ingest: Arc<Ingest>,
    /// Drains the queue into HubSpot.
    pub engine: SyncEngine,
    /// The store both share: ingest writes to its queue, the engine drains it.
    pub store: Store,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("ingest", &self.ingest)
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// Opens the queue and builds every part with the default mapping.
    pub async fn start(config: &Config) -> Result<Service, ServiceError> {
        Service::start_with_mapping(config, MappingConfig::default()).await
    }

    /// Like [`Service::start`] with a mapping of your own.
    pub async fn start_with_mapping(
        config: &Config,
        mapping: MappingConfig,
    ) -> Result<Service, ServiceError> {
        Service::assemble(config, mapping, |ingest| ingest, |engine| engine).await
    }

    /// Like [`Service::start_with_mapping`], and thin events (Stripe event destinations) are
    /// accepted: `stripe` fetches each one's object (see [`IngestBuilder::thin_events`]). The
    /// engine gets the client too, to settle two same-second events of one subscription by
    /// reading it, and to read each charge's balance transaction so lifetime values are in the
    /// account's settlement currency (see
    /// [`SyncEngineBuilder::stripe`](crate::engine::SyncEngineBuilder::stripe)).
    #[cfg(feature = "backfill")]
    #[cfg_attr(docsrs, doc(cfg(feature = "backfill")))]
    pub async fn start_with_stripe(
        config: &Config,
        mapping: MappingConfig,
        stripe: stripe2hubspot_stripe::StripeClient,
    ) -> Result<Service, ServiceError> {
        let engine_client = stripe.clone();
        Service::assemble(
            config,
            mapping,
            |ingest| ingest.thin_events(stripe),
            |engine| engine.stripe(engine_client),
        )
        .await
    }

    async fn assemble(
        config: &Config,
        mapping: MappingConfig,
        ingest: impl FnOnce(IngestBuilder) -> IngestBuilder,
        engine: impl FnOnce(SyncEngineBuilder) -> SyncEngineBuilder,
    ) -> Result<Service, ServiceError> {
        mapping.validate()?;
        let store = queue::connect(&config.queue_url).await?;
        let hubspot = hubspot_client(config, RetryPolicy::none())?;
        let verifier = Verifier::with_secrets(&config.webhook_secrets)?;
        let builder = Ingest::builder(verifier, store.queue.clone())
            .event_types(mapping.event_types.iter().cloned());
        let ingest = ingest(builder).build();
        let alerter: Arc<dyn Alerter> = match &config.slack_webhook_url {
            Some(url) => Arc::new(SlackAlerter::new(url)?),
            None => Arc::new(TracingAlerter),
        };
        let engine = engine(
            SyncEngine::builder(store.clone(), hubspot, mapping)
                .alerter(alerter)
                .dead_letter_retention(config.dead_letter_retention)
                .merge_contacts(config.merge_contacts)
                .gdpr_delete(config.gdpr_delete),
        )
        .build()?;
        Ok(Service {
            ingest: Arc::new(ingest),
            engine,
            store,
        })
    }

    /// `POST /api/webhooks/stripe` and `GET /healthz` (and `POST /api/webhooks/stripe/{portal}`,
    /// which this single-queue service answers only for `default`; a deployment of many
    /// portals runs a [`Fleet`](crate::fleet::Fleet)).
    ///
    /// `/healthz` answers `200 {"status":"ok","role":"leader"}` (or `"paused"`, and
    /// `"standby"` on a process that does not run the sync), or `503 {"status":"unavailable"}`
    /// when the queue cannot be read; it never shows internal error text (the
    /// [`admin`](crate::admin) routes give the details).
    #[cfg(feature = "axum")]
    #[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
    pub fn router(&self) -> axum::Router {
        use axum::routing::get;
        let status = self.status_source();
        crate::ingest::axum::router(self.ingest.clone()).route(
            "/healthz",
            get(move || crate::admin::health(status.clone())),
        )
    }

    /// What the admin routes, `/healthz` and metric gauges read: the queue's admin side, the
    /// engine's handle and the ingest counters. Each source has its own once-a-second
    /// [aggregate](crate::admin::StatusSource::aggregate), shared by its clones: `Service::router`
    /// takes one for `/healthz`; take one more for `/metrics` and the admin routes.
    pub fn status_source(&self) -> crate::admin::StatusSource {
        crate::admin::StatusSource {
            admin: self.store.admin.clone(),
            engine: self.engine.handle(),
            ingest: self.ingest.clone(),
            aggregate: crate::admin::AggregateCache::default(),
        }
    }
}

/// A HubSpot client for `config`: its token, host, API version and pacing. `retry` is
/// [`RetryPolicy::none`] for the engine (it schedules its own retries through the queue).
pub fn hubspot_client(config: &Config, retry: RetryPolicy) -> Result<Client, hubspot_crm::Error> {
    Client::builder(config.hubspot_token.clone())
        .base_url(config.hubspot_base_url.clone())
        .api_version(config.hubspot_api_version)
        .rate_limit(config.rate_limit)
        .retry_policy(retry)
        .build()
}
