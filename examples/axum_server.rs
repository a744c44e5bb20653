//! Embedding the pipeline in your own axum app: build a [`Config`] however you like, start a
//! [`Service`], merge its router (webhook route and `/healthz`) into yours, run its engine.
//!
//! ```sh
//! STRIPE_WEBHOOK_SECRET=whsec_... HUBSPOT_ACCESS_TOKEN=<service key> \
//!   cargo run --example axum_server
//! ```
//!
//! For the ready-made server with metrics and the admin API, run `stripe2hubspot serve`.

use std::error::Error;
use std::future::IntoFuture;

use stripe2hubspot::{Config, Service};

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let secret = std::env::var("STRIPE_WEBHOOK_SECRET")
        .map_err(|_| "set STRIPE_WEBHOOK_SECRET to the endpoint's signing secret (whsec_...)")?;
    let token = std::env::var("HUBSPOT_ACCESS_TOKEN")
        .map_err(|_| "set HUBSPOT_ACCESS_TOKEN to a HubSpot service key")?;
    let config = Config::new(vec![secret], token);

    let service = Service::start(&config).await?;
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "my app" }))
        .merge(service.router());
    let listener = tokio::net::TcpListener::bind(config.bind_addr).await?;
    println!("listening on http://{}", listener.local_addr()?);

    let (stop, stopped) = tokio::sync::watch::channel(false);
    let wait = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
        let _ = stopped.wait_for(|stop| *stop).await;
    };
    let server = axum::serve(listener, app).with_graceful_shutdown(wait(stopped.clone()));
    let engine = service.engine.run(wait(stopped));
    let signalled = async move {
        let _ = tokio::signal::ctrl_c().await;
        let _ = stop.send(true);
    };
    let (served, (), ()) = tokio::join!(server.into_future(), engine, signalled);
    Ok(served?)
}
