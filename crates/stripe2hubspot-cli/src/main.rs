//! `stripe2hubspot`: keep HubSpot CRM in step with Stripe payments.
//!
//! One file per command under `commands/`; configuration comes from the environment (and an
//! optional `.env` file), described in `config.rs` and the README.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod config;
mod logging;
mod telemetry;

/// Keep HubSpot CRM in step with Stripe payments.
///
/// Configuration comes from environment variables (or a `.env` file in the working
/// directory); every variable is in docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "stripe2hubspot", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Receive Stripe webhooks and sync them into HubSpot (the production server).
    Serve(commands::serve::Args),
    /// Check that everything a first run needs is in place; exit 1 if anything is not.
    Doctor(commands::doctor::Args),
    /// List or replay events that failed for good (of one portal with --portal ID).
    DeadLetters(commands::dead_letters::Args),
    /// Show queue depth by state and payments waiting (by portal, and the events no portal
    /// claims), and the role, pause state and last sync of a running server.
    Status(commands::status::Args),
    /// Sync Stripe's payment history into HubSpot (resumable; Ctrl-C stops, a rerun resumes).
    Backfill(commands::backfill::Args),
    /// Compare HubSpot's deals with the payment ledger; exit 1 on drift unless --repair fixed it.
    Reconcile(commands::reconcile::Args),
    /// Add, list, change or remove the HubSpot portals stored in the queue, and the Stripe
    /// accounts routed to each; a running serve picks a change up within 5 seconds.
    #[command(subcommand)]
    Portals(commands::portals::Command),
}

fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    if let Err(error) = logging::init() {
        eprintln!("{error}");
        return ExitCode::from(commands::EXIT_CONFIG);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: could not start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => commands::serve::run(args).await,
            Command::Doctor(args) => commands::doctor::run(args).await,
            Command::DeadLetters(command) => commands::dead_letters::run(command).await,
            Command::Status(args) => commands::status::run(args).await,
            Command::Backfill(args) => commands::backfill::run(args).await,
            Command::Reconcile(args) => commands::reconcile::run(args).await,
            Command::Portals(command) => commands::portals::run(command).await,
        }
    })
}
