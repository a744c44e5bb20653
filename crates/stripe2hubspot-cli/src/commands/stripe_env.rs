//! What `backfill` and `reconcile` read from the environment besides the HubSpot settings:
//! Stripe's key and host, and the dates on the command line.

use stripe2hubspot::history::stripe2hubspot_stripe::{self, StripeClient};

use crate::config::ConfigError;

/// The `--help` text both commands share: the pinned API version and the variables read.
pub fn stripe_help(command: &str) -> String {
    format!(
        "Stripe API version: {} (pinned; sent as Stripe-Version).\n\
Environment:\n  STRIPE_SECRET_KEY   required: a secret (sk_) or restricted (rk_) key; a restricted key \
needs Read on Charges, Disputes, Checkout Sessions, Invoices and PaymentIntents\n  \
STRIPE_API_BASE     default {}\n  \
HUBSPOT_ACCESS_TOKEN, HUBSPOT_BASE_URL, HUBSPOT_RATE_LIMIT, STRIPE2HUBSPOT_QUEUE as for serve \
(use the server's queue: {command} shares its budget and keeps its progress there)\n\
Exits 2 when configuration is missing or malformed, naming the variable.",
        stripe2hubspot_stripe::STRIPE_VERSION,
        stripe2hubspot_stripe::DEFAULT_BASE_URL,
    )
}

/// A Stripe client for `STRIPE_SECRET_KEY` at `STRIPE_API_BASE`, reading at most `read_rate`
/// requests a second.
pub fn stripe_client(read_rate: Option<u32>) -> Result<StripeClient, ConfigError> {
    let key = std::env::var("STRIPE_SECRET_KEY")
        .ok()
        .map(|k| k.trim().to_owned())
        .filter(|k| !k.is_empty())
        .ok_or_else(|| ConfigError {
            variable: "STRIPE_SECRET_KEY",
            problem: "is not set: create a restricted key (rk_...) in Stripe Dashboard -> \
                      Developers -> API keys with Read on Charges, Disputes, Checkout Sessions, \
                      Invoices and PaymentIntents, and set it"
                .into(),
        })?;
    let base = std::env::var("STRIPE_API_BASE")
        .ok()
        .filter(|b| !b.trim().is_empty())
        .unwrap_or_else(|| stripe2hubspot_stripe::DEFAULT_BASE_URL.to_owned());
    if !matches!(reqwest::Url::parse(&base), Ok(url) if matches!(url.scheme(), "http" | "https")) {
        return Err(ConfigError {
            variable: "STRIPE_API_BASE",
            problem: format!("is not an http(s) URL: {base:?}"),
        });
    }
    let mut builder = StripeClient::builder(key).base_url(base);
    if let Some(rate) = read_rate {
        builder = builder.read_rate(rate);
    }
    // The error says what is wrong with the key's shape; it never repeats the key.
    builder.build().map_err(|e| ConfigError {
        variable: "STRIPE_SECRET_KEY",
        problem: format!("is not usable: {e}"),
    })
}

/// Parses `YYYY-MM-DD` (midnight UTC) or Unix seconds.
pub fn parse_date(value: &str) -> Result<i64, String> {
    if let Ok(seconds) = value.parse::<i64>() {
        return Ok(seconds);
    }
    let format = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(value, &format)
        .map(|date| date.midnight().assume_utc().unix_timestamp())
        .map_err(|_| format!("{value:?} is not a date: use YYYY-MM-DD (UTC) or Unix seconds"))
}

/// The end of the day `value` names (dates are inclusive), or the Unix seconds given.
pub fn parse_end_date(value: &str) -> Result<i64, String> {
    if value.parse::<i64>().is_ok() {
        return parse_date(value);
    }
    parse_date(value).map(|start| start + 86_399)
}
