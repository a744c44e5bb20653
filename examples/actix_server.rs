//! The same pipeline mounted in an actix-web app.
//!
//! ```sh
//! cargo run --example actix_server --features actix
//! ```

use std::process::ExitCode;

use actix_web::{web, App, HttpResponse, HttpServer};
use stripe2hubspot::queue::QueueAdmin;
use stripe2hubspot::{Config, Service};

#[actix_web::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            eprintln!("{error}");
            return ExitCode::from(2);
        }
    };
    let service = match Service::start(&config).await {
        Ok(service) => service,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };

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
    let admin = service.store.admin.clone();
    let server = HttpServer::new(move || {
        App::new()
            .configure(stripe2hubspot::ingest::actix::configure(ingest.clone()))
            .app_data(web::Data::new(admin.clone()))
            .route("/healthz", web::get().to(health))
    })
    .bind(config.bind_addr);
    let server = match server {
        Ok(server) => server,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", config.bind_addr);
            return ExitCode::FAILURE;
        }
    };
    for addr in server.addrs() {
        println!("stripe2hubspot listening on http://{addr}");
    }
    // actix-web stops gracefully on SIGINT/SIGTERM; then the engine finishes its batch.
    let served = server.run().await;
    let _ = stop.send(());
    let _ = worker.await;
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn health(admin: web::Data<std::sync::Arc<dyn QueueAdmin>>) -> HttpResponse {
    match admin.stats().await {
        Ok(stats) => HttpResponse::Ok().json(serde_json::json!({
            "status": "ok",
            "queue": {"ready": stats.ready, "delayed": stats.delayed, "leased": stats.leased, "dead": stats.dead, "done": stats.done},
        })),
        Err(error) => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "queue_unavailable", "error": error.to_string()})),
    }
}
