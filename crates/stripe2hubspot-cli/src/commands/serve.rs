//! `stripe2hubspot serve`: the webhook server and sync engine in one process.

use std::future::IntoFuture;
use std::process::ExitCode;

use axum::routing::get;
use stripe2hubspot::admin::StatusSource;
use stripe2hubspot::history::stripe2hubspot_stripe::StripeClient;
use stripe2hubspot::Service;

use crate::config::{process_env, ServeConfig};

/// `serve` takes its settings from the environment only.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Routes: POST /api/webhooks/stripe, GET /healthz, GET /metrics, and \
with ADMIN_TOKEN set GET /admin/status, GET /admin/dead-letters, GET /admin/waiting, \
POST /admin/dead-letters/replay, POST /admin/pause, POST /admin/resume.\n\
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
    let config = match process_env().serve() {
        Ok(config) => config,
        Err(error) => return super::config_failure(&error),
    };
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
    match serve(config, stripe).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => super::failure(&error),
    }
}

async fn serve(
    config: ServeConfig,
    stripe: Option<StripeClient>,
) -> Result<(), Box<dyn std::error::Error>> {
    let metrics = crate::telemetry::install()?;
    let service = match stripe {
        Some(stripe) => {
            Service::start_with_stripe(&config.service, config.mapping.clone(), stripe).await?
        }
        None => Service::start_with_mapping(&config.service, config.mapping.clone()).await?,
    };
    let source = service.status_source();
    let scrape = source.clone();
    let mut router = service.router().route(
        "/metrics",
        get(move || render(scrape.clone(), metrics.clone())),
    );
    match config.admin_token {
        Some(token) => router = router.merge(stripe2hubspot::admin::router(source, token)),
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
    let engine = service.engine.run(wait(stopped));
    let (served, (), ()) = tokio::join!(server.into_future(), engine, signalled);
    served?;
    Ok(())
}

async fn render(
    source: StatusSource,
    metrics: metrics_exporter_prometheus::PrometheusHandle,
) -> ([(axum::http::HeaderName, &'static str); 1], String) {
    source.record_gauges().await;
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
