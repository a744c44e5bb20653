//! Like Stripe's "Send test webhook": signs an event and POSTs it, printing the answer.
//!
//! ```sh
//! # a sample charge.succeeded (Tony Stark's payment), to the local server:
//! STRIPE_WEBHOOK_SECRET=whsec_... cargo run --example send_test_event
//! # a JSON event of your own, to any URL:
//! cargo run --example send_test_event -- http://127.0.0.1:3000/api/webhooks/stripe event.json
//! ```
//!
//! The secret comes from `STRIPE_WEBHOOK_SECRET` (or `.env`; the first entry when several).

use std::process::ExitCode;

use stripe2hubspot::ingest::{SIGNATURE_HEADER, WEBHOOK_PATH};
use stripe2hubspot::testkit::{sign_now, Payment};

/// The local example server, which listens on `BIND_ADDR`'s default.
const DEFAULT_BASE: &str = "http://127.0.0.1:3000";

#[tokio::main]
async fn main() -> ExitCode {
    let _ = dotenvy::dotenv();
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| format!("{DEFAULT_BASE}{WEBHOOK_PATH}"));
    let body = match args.next() {
        Some(path) => match std::fs::read(&path) {
            Ok(body) => body,
            Err(error) => {
                eprintln!("cannot read the event file {path}: {error}");
                return ExitCode::from(2);
            }
        },
        None => Payment::sample()
            .charge_succeeded()
            .to_string()
            .into_bytes(),
    };
    let secret = std::env::var("STRIPE_WEBHOOK_SECRET").unwrap_or_default();
    let Some(secret) = secret.split(',').map(str::trim).find(|s| !s.is_empty()) else {
        eprintln!("configuration error: STRIPE_WEBHOOK_SECRET is not set: set it to the secret the server verifies with (whsec_...)");
        return ExitCode::from(2);
    };
    let response = reqwest::Client::new()
        .post(&url)
        .header(SIGNATURE_HEADER, sign_now(&body, secret))
        .header("Content-Type", "application/json")
        .body(body)
        .send()
        .await;
    match response {
        Ok(response) => {
            let status = response.status();
            println!(
                "{} {}",
                status.as_u16(),
                response.text().await.unwrap_or_default()
            );
            if status.is_success() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("could not POST to {url}: {error}");
            ExitCode::FAILURE
        }
    }
}
