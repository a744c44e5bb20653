//! `stripe2hubspot serve`: the webhook server and sync engine in one process.

use std::future::IntoFuture;
use std::process::ExitCode;

use axum::routing::get;
use stripe2hubspot::fleet::Fleet;
use stripe2hubspot::history::stripe2hubspot_stripe::StripeClient;

use crate::config::{process_env, ServeConfig};

/// `serve` takes its settings from the environment only.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Routes: POST /api/webhooks/stripe, POST /api/webhooks/stripe/{portal}, \
GET /healthz, GET /metrics, and with ADMIN_TOKEN set GET /admin/status, GET /admin/dead-letters, \
GET /admin/waiting, POST /admin/dead-letters/replay, POST /admin/pause, POST /admin/resume \
(each with ?portal=ID), GET|POST /admin/portals, PATCH|DELETE /admin/portals/{id}, \
GET /admin/unrouted.\n\
Portals stored with `stripe2hubspot portals add` each get their own sync; a change is picked \
up within 5 seconds. HUBSPOT_ACCESS_TOKEN configures the `default` portal and may be left \
unset when the store has portals. Connect events go to the portal claiming their account; \
events of accounts no portal claims are stored as unrouted and synced once one does.\n\
With STRIPE_SECRET_KEY set (and STRIPE_API_BASE, default https://api.stripe.com), thin events \
from Stripe event destinations are accepted: their objects are fetched from Stripe; two \
events of one subscription sent in the same second are settled by reading the subscription; \
and each charge's balance transaction is read once, so stripe_lifetime_value counts every \
payment in the account's settlement currency (a restricted key needs Balance read).\n\
STRIPE2HUBSPOT_MERGE_CONTACTS=1 merges a contact holding a customer's new email into the \
customer's contact (HubSpot's merge cannot be undone); STRIPE2HUBSPOT_GDPR_DELETE=1 makes \
customer.deleted permanently delete the contact and erase the person from the store.\n\
Exits 2 when configuration is missing or malformed, naming the variable."
)]
pub struct Args {}

/// Runs until SIGINT or SIGTERM, then finishes the batches in hand.
pub async fn run(_args: Args) -> ExitCode {
    let (config, missing_token) = match process_env().serve_portals() {
        Ok(parts) => parts,
        Err(error) => return super::config_failure(&error),
    };
    if let Some(error) = &missing_token {
        // A store that does not exist yet holds no portal: say what is missing before
        // creating it.
        if sqlite_file_missing(&config.service.queue_url) {
            return without_portals(error);
        }
    }
    // With a Stripe key, thin events (event destinations) are accepted: their objects are
    // fetched from Stripe, and the engine settles same-second subscription events by reading
    // the subscription and reads each charge's settlement (its balance transaction). Without
    // one thin events are refused, naming the payload style to use.
    let stripe = if std::env::var_os("STRIPE_SECRET_KEY").is_some_and(|k| !k.is_empty()) {
        match super::stripe_env::stripe_client(None) {
            Ok(client) => Some(client),
            Err(error) => return super::config_failure(&error),
        }
    } else {
        None
    };
    let store = match stripe2hubspot::queue::connect(&config.service.queue_url).await {
        Ok(store) => store,
        Err(error) => {
            return super::failure(&format_args!(
                "could not open the queue (STRIPE2HUBSPOT_QUEUE): {error}"
            ))
        }
    };
    if let Some(error) = &missing_token {
        match store.portals.list().await {
            Ok(portals) if portals.is_empty() => return without_portals(error),
            Ok(portals) => tracing::info!(
                portals = portals.len(),
                "HUBSPOT_ACCESS_TOKEN is not set: syncing the stored portals only (no default portal)"
            ),
            Err(error) => {
                return super::failure(&format_args!("could not read the stored portals: {error}"))
            }
        }
    }
    match serve(config, store, stripe).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => super::failure(&error),
    }
}

/// Exit 2: neither `HUBSPOT_ACCESS_TOKEN` nor a stored portal says where to sync.
fn without_portals(error: &crate::config::ConfigError) -> ExitCode {
    let error = crate::config::ConfigError {
        variable: error.variable,
        problem: format!(
            "{}; or store a portal first with `stripe2hubspot portals add`",
            error.problem
        ),
    };
    super::config_failure(&error)
}

/// Whether `url` names a SQLite file that does not exist.
fn sqlite_file_missing(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("sqlite:") else {
        return false;
    };
    let path = rest.strip_prefix("//").unwrap_or(rest);
    let path = path.split('?').next().unwrap_or(path);
    !path.is_empty() && !path.starts_with(':') && !std::path::Path::new(path).exists()
}

async fn serve(
    config: ServeConfig,
    store: stripe2hubspot::queue::Store,
    stripe: Option<StripeClient>,
) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = crate::telemetry::install()?;
    let spread = ["postgres://", "postgresql://"]
        .iter()
        .any(|p| config.service.queue_url.starts_with(p));
    let mut builder = Fleet::builder(store, config.service.clone(), config.mapping.clone())
        .default_portal(config.default_portal)
        .spread(spread);
    if let Some(stripe) = stripe {
        let thin = stripe.clone();
        builder = builder
            .stripe(stripe)
            .ingest(move |ingest| ingest.thin_events(thin));
    }
    let fleet = builder.build().await?;
    let health = fleet.clone();
    let scrape = fleet.clone();
    let mut router = stripe2hubspot::ingest::axum::router(fleet.ingest())
        .route(
            "/healthz",
            get(move || stripe2hubspot::admin::fleet_health(health.clone())),
        )
        .route(
            "/metrics",
            get(move || render(scrape.clone(), metrics.clone())),
        );
    match config.admin_token {
        Some(token) => {
            router = router.merge(stripe2hubspot::admin::fleet_router(fleet.clone(), token))
        }
        None => tracing::info!("ADMIN_TOKEN is not set: the /admin routes are off"),
    }
    let listener = tokio::net::TcpListener::bind(config.service.bind_addr).await?;
    // Printed on stdout so scripts (and our tests) can find an ephemeral port.
    println!(
        "stripe2hubspot listening on http://{}",
        listener.local_addr()?
    );

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let signalled = async move {
        shutdown_signal().await;
        tracing::info!("shutdown requested");
        let _ = stop.send(true);
    };
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let server = axum::serve(listener, router).with_graceful_shutdown(wait(stopped.clone()));
    let engines = fleet.run(wait(stopped));
    let (served, (), ()) = tokio::join!(server.into_future(), engines, signalled);
    served?;
    Ok(())
}

async fn render(
    fleet: Fleet,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    stripe2hubspot::admin::record_fleet_gauges(&fleet).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics.render(),
    )
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "no SIGTERM handler; stop with Ctrl-C");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
