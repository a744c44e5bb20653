//! The production-shaped server: configuration from the environment (and an optional `.env`),
//! `POST /api/webhooks/stripe`, `GET /healthz`, graceful shutdown on SIGINT/SIGTERM.
//!
//! ```sh
//! cp .env.example .env   # then fill in the two secrets
//! cargo run --release --example axum_server
//! ```
//!
//! Missing or malformed configuration prints a message naming the variable and exits with 2.

use std::error::Error;
use std::future::IntoFuture;
use std::process::ExitCode;

use stripe2hubspot::{Config, Service};

#[tokio::main]
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
    match serve(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: Config) -> Result<(), Box<dyn Error>> {
    let service = Service::start(&config).await?;
    let listener = tokio::net::TcpListener::bind(config.bind_addr).await?;
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
    let server =
        axum::serve(listener, service.router()).with_graceful_shutdown(wait(stopped.clone()));
    let engine = service.engine.run(wait(stopped));
    let (served, (), ()) = tokio::join!(server.into_future(), engine, signalled);
    served?;
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("installing a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
