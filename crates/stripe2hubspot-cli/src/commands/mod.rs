//! One module per command.

use std::process::ExitCode;

use crate::config::ConfigError;

pub mod backfill;
pub mod dead_letters;
pub mod doctor;
pub mod portals;
pub mod reconcile;
pub mod serve;
pub mod status;
pub mod stripe_env;

/// Exit code for missing or malformed configuration.
pub const EXIT_CONFIG: u8 = 2;

/// Retries of the reads `reconcile` makes beside a running sync: a 429 is retried after 1, 2,
/// 4, 8, 16 and 30 s, so the wait outlasts HubSpot's 10-second window even when the syncer
/// keeps using it (the default three retries give up after 7 s).
pub const READ_RETRIES: hubspot_crm::RetryPolicy = hubspot_crm::RetryPolicy::new(
    6,
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(30),
);

/// Prints a configuration error and returns exit code 2.
pub fn config_failure(error: &ConfigError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(EXIT_CONFIG)
}

/// Prints a runtime error and returns exit code 1.
pub fn failure(error: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("error: {error}");
    ExitCode::FAILURE
}

/// Opens the queue `STRIPE2HUBSPOT_QUEUE` names, for the commands that only inspect it.
pub async fn open_queue() -> Result<stripe2hubspot::queue::Store, ExitCode> {
    let url = crate::config::process_env()
        .queue_url()
        .map_err(|e| config_failure(&e))?;
    stripe2hubspot::queue::connect(&url).await.map_err(|e| {
        failure(&format_args!(
            "could not open the queue {}: {e}",
            stripe2hubspot::config::redact_url(&url)
        ))
    })
}
