//! The example server's configuration, read from the environment.
//!
//! | variable | required | default | meaning |
//! |---|---|---|---|
//! | `STRIPE_WEBHOOK_SECRET` | yes | | endpoint signing secret(s) `whsec_...`, comma-separated during rotation |
//! | `HUBSPOT_ACCESS_TOKEN` | yes | | private app token `pat-...` |
//! | `HUBSPOT_BASE_URL` | no | `https://api.hubapi.com` | HubSpot API host (proxies, tests) |
//! | `STRIPE2HUBSPOT_QUEUE` | no | `sqlite://stripe2hubspot.db` | queue URL: `sqlite://path` or `postgres://...` |
//! | `BIND_ADDR` | no | `127.0.0.1:3000` | address the HTTP server listens on |
//! | `HUBSPOT_RATE_LIMIT` | no | `100/10s` | requests per window this process sends HubSpot |
//! | `SLACK_WEBHOOK_URL` | no | | Slack incoming webhook for alerts |
//! | `RUST_LOG` | no | `info` | log filter |

use std::fmt;
use std::net::SocketAddr;

use hubspot_crm::RateLimit;

/// The settings of the example server. `Debug` never shows a secret.
#[derive(Clone)]
pub struct Config {
    /// Stripe endpoint signing secrets; any of them verifies a delivery.
    pub webhook_secrets: Vec<String>,
    /// HubSpot private app token.
    pub hubspot_token: String,
    /// HubSpot API host.
    pub hubspot_base_url: String,
    /// Queue URL for [`queue::connect`](crate::queue::connect).
    pub queue_url: String,
    /// Address to listen on.
    pub bind_addr: SocketAddr,
    /// HubSpot pacing.
    pub rate_limit: RateLimit,
    /// Slack incoming webhook for alerts.
    pub slack_webhook_url: Option<String>,
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field(
                "webhook_secrets",
                &format_args!("<{} redacted>", self.webhook_secrets.len()),
            )
            .field("hubspot_token", &"<redacted>")
            .field("hubspot_base_url", &self.hubspot_base_url)
            .field("queue_url", &redact_url(&self.queue_url))
            .field("bind_addr", &self.bind_addr)
            .field("rate_limit", &self.rate_limit)
            .field(
                "slack_webhook_url",
                &self.slack_webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Hides a password in a database URL.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// A missing or malformed variable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable} {problem}")]
pub struct ServiceConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it and how to fix it.
    pub problem: String,
}

fn error(variable: &'static str, problem: impl Into<String>) -> ServiceConfigError {
    ServiceConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ServiceConfigError> {
        Config::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads variables through `lookup` (tests pass a map). Empty values count as unset.
    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ServiceConfigError> {
        let get = |name: &str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };

        let secrets = get("STRIPE_WEBHOOK_SECRET").ok_or_else(|| {
            error("STRIPE_WEBHOOK_SECRET", "is not set: set it to the endpoint's signing secret (whsec_...) from Stripe Dashboard -> Developers -> Webhooks")
        })?;
        let webhook_secrets: Vec<String> =
            secrets.split(',').map(|s| s.trim().to_owned()).collect();
        if let Some(position) = webhook_secrets
            .iter()
            .position(|s| !s.starts_with("whsec_") || s.len() <= "whsec_".len())
        {
            return Err(error(
                "STRIPE_WEBHOOK_SECRET",
                format!("entry {} is not a signing secret: each comma-separated entry must start with whsec_", position + 1),
            ));
        }

        let hubspot_token = get("HUBSPOT_ACCESS_TOKEN").ok_or_else(|| {
            error("HUBSPOT_ACCESS_TOKEN", "is not set: create a private app in HubSpot (Settings -> Integrations -> Private Apps) and set its access token (pat-...)")
        })?;
        if hubspot_token.chars().any(char::is_whitespace) {
            return Err(error(
                "HUBSPOT_ACCESS_TOKEN",
                "contains whitespace: paste the token exactly as HubSpot shows it",
            ));
        }

        let hubspot_base_url =
            get("HUBSPOT_BASE_URL").unwrap_or_else(|| hubspot_crm::DEFAULT_BASE_URL.to_owned());
        match reqwest::Url::parse(&hubspot_base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") => {}
            _ => {
                return Err(error(
                    "HUBSPOT_BASE_URL",
                    format!("is not an http(s) URL: {hubspot_base_url:?}"),
                ))
            }
        }

        let queue_url =
            get("STRIPE2HUBSPOT_QUEUE").unwrap_or_else(|| "sqlite://stripe2hubspot.db".to_owned());
        if !["sqlite:", "postgres://", "postgresql://", "memory:"]
            .iter()
            .any(|p| queue_url.starts_with(p))
        {
            return Err(error(
                "STRIPE2HUBSPOT_QUEUE",
                "must start with sqlite:// (e.g. sqlite://stripe2hubspot.db) or postgres://",
            ));
        }

        let bind_addr = match get("BIND_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 3000)),
            Some(addr) => addr.parse().map_err(|_| {
                error("BIND_ADDR", format!("is not an address with a port, such as 127.0.0.1:3000 or 0.0.0.0:8080: {addr:?}"))
            })?,
        };

        let rate_limit = match get("HUBSPOT_RATE_LIMIT") {
            None => RateLimit::default(),
            Some(limit) => limit
                .parse()
                .map_err(|e| error("HUBSPOT_RATE_LIMIT", format!("{e}")))?,
        };

        let slack_webhook_url = get("SLACK_WEBHOOK_URL");
        if let Some(url) = &slack_webhook_url {
            if crate::alert::SlackAlerter::new(url).is_err() {
                return Err(error(
                    "SLACK_WEBHOOK_URL",
                    "is not an https:// URL (expected https://hooks.slack.com/services/...)",
                ));
            }
        }

        Ok(Config {
            webhook_secrets,
            hubspot_token,
            hubspot_base_url,
            queue_url,
            bind_addr,
            rate_limit,
            slack_webhook_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ServiceConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|name| vars.get(name).cloned())
    }

    const REQUIRED: [(&str, &str); 2] = [
        ("STRIPE_WEBHOOK_SECRET", "whsec_abc"),
        ("HUBSPOT_ACCESS_TOKEN", "pat-na1-xyz"),
    ];

    #[test]
    fn defaults_apply_when_only_the_secrets_are_set() {
        let c = config(&REQUIRED).unwrap();
        assert_eq!(c.webhook_secrets, ["whsec_abc"]);
        assert_eq!(c.queue_url, "sqlite://stripe2hubspot.db");
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.hubspot_base_url, "https://api.hubapi.com");
        assert_eq!(c.rate_limit, RateLimit::default());
    }

    #[test]
    fn each_bad_variable_is_named() {
        let cases: [(&[(&str, &str)], &str); 7] = [
            (
                &[("HUBSPOT_ACCESS_TOKEN", "pat-1")],
                "STRIPE_WEBHOOK_SECRET",
            ),
            (
                &[("STRIPE_WEBHOOK_SECRET", "whsec_a")],
                "HUBSPOT_ACCESS_TOKEN",
            ),
            (
                &[
                    ("STRIPE_WEBHOOK_SECRET", "whsec_a,sk_live_oops"),
                    ("HUBSPOT_ACCESS_TOKEN", "pat-1"),
                ],
                "STRIPE_WEBHOOK_SECRET",
            ),
            (
                &[REQUIRED[0], REQUIRED[1], ("BIND_ADDR", "localhost")],
                "BIND_ADDR",
            ),
            (
                &[REQUIRED[0], REQUIRED[1], ("HUBSPOT_RATE_LIMIT", "fast")],
                "HUBSPOT_RATE_LIMIT",
            ),
            (
                &[
                    REQUIRED[0],
                    REQUIRED[1],
                    ("STRIPE2HUBSPOT_QUEUE", "redis://x"),
                ],
                "STRIPE2HUBSPOT_QUEUE",
            ),
            (
                &[
                    REQUIRED[0],
                    REQUIRED[1],
                    ("HUBSPOT_BASE_URL", "api.hubapi.com"),
                ],
                "HUBSPOT_BASE_URL",
            ),
        ];
        for (vars, variable) in cases {
            let err = config(vars).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
            assert!(err.to_string().contains(variable));
        }
    }

    #[test]
    fn rotation_secrets_and_debug_redaction() {
        let c = config(&[
            ("STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new"),
            ("HUBSPOT_ACCESS_TOKEN", "pat-secret-token"),
            ("STRIPE2HUBSPOT_QUEUE", "postgres://u:hunter2@db/x"),
            ("HUBSPOT_RATE_LIMIT", "190/10s"),
        ])
        .unwrap();
        assert_eq!(c.webhook_secrets, ["whsec_old", "whsec_new"]);
        let debug = format!("{c:?}");
        for secret in ["whsec_old", "whsec_new", "pat-secret-token", "hunter2"] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
