//! Embedding the pipeline in an actix-web app: mount the webhook handler, run the engine
//! beside the server, stop both together.
//!
//! ```sh
//! STRIPE_WEBHOOK_SECRET=whsec_... HUBSPOT_ACCESS_TOKEN=<service key> \
//!   cargo run --example actix_server --features actix
//! ```

use std::error::Error;

use actix_web::{App, HttpServer};
use stripe2hubspot::{Config, Service};

#[actix_web::main]
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

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let engine = service.engine;
    let worker = tokio::spawn(async move {
        engine
            .run(async {
                let _ = stopped.await;
            })
            .await
    });
    let ingest = service.ingest.clone();
    let server = HttpServer::new(move || {
        App::new().configure(stripe2hubspot::ingest::actix::configure(ingest.clone()))
    })
    .bind(config.bind_addr)?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    // actix-web stops gracefully on SIGINT/SIGTERM; then the engine finishes its batch.
    let served = server.run().await;
    let _ = stop.send(());
    let _ = worker.await;
    Ok(served?)
}
