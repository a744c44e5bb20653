//! Configuration from the environment (and an optional `.env` file).
//!
//! | variable | required | default | meaning |
//! |---|---|---|---|
//! | `STRIPE_WEBHOOK_SECRET` | yes (`serve`) | | endpoint signing secret(s) `whsec_...`, comma-separated during rotation |
//! | `HUBSPOT_ACCESS_TOKEN` | yes (`serve`, `doctor`) | | HubSpot service key, or a legacy private-app token |
//! | `HUBSPOT_API_VERSION` | no | `2026-09` | HubSpot API version: `2026-09`, `2026-03` or `legacy` |
//! | `HUBSPOT_BASE_URL` | no | `https://api.hubapi.com` | HubSpot API host (proxies, tests) |
//! | `STRIPE2HUBSPOT_QUEUE` | no | `sqlite://stripe2hubspot.db` | queue URL: `sqlite://path` or `postgres://...` |
//! | `BIND_ADDR` | no | `127.0.0.1:3000` | address the HTTP server listens on |
//! | `HUBSPOT_RATE_LIMIT` | no | `100/10s` | the portal's requests per window; every process gets the whole figure (only the elected leader calls HubSpot) |
//! | `SLACK_WEBHOOK_URL` | no | | Slack incoming webhook for alerts |
//! | `ADMIN_TOKEN` | no | | enables `/admin/*`, which require `Authorization: Bearer <ADMIN_TOKEN>` |
//! | `LOG_FORMAT` | no | `text` | `json` for one JSON object per log line |
//! | `RUST_LOG` | no | `info` | log filter |
//! | `STRIPE2HUBSPOT_ALLOW_MEMORY_QUEUE` | no | | `1` lets `serve` use the non-durable `memory:` queue (tests only) |

use std::net::SocketAddr;

use hubspot_crm::{ApiVersion, RateLimit};
use stripe2hubspot::admin::AdminToken;
use stripe2hubspot::alert::SlackAlerter;
use stripe2hubspot::config::{DEFAULT_BIND_ADDR, DEFAULT_QUEUE_URL};
use stripe2hubspot::Config;

/// A missing or malformed variable. The binary prints it and exits with 2.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration error: {variable} {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub variable: &'static str,
    /// What is wrong with it and how to fix it.
    pub problem: String,
}

fn error(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

/// Where to create a HubSpot credential, for messages that ask for one.
pub const TOKEN_HELP: &str = "create a service key in HubSpot (Development > Keys > Service keys, \
or Settings > Integrations > Service Keys) with the scopes crm.objects.contacts.read, \
crm.objects.contacts.write, crm.objects.deals.read, crm.objects.deals.write (plus \
crm.schemas.contacts.write and crm.schemas.deals.write to create missing properties) and set \
its key; an existing private-app access token works too";

/// Reads variables; empty values count as unset.
pub struct Env<F>(F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// Reads through `lookup` (tests pass a map).
    pub fn new(lookup: F) -> Self {
        Env(lookup)
    }

    fn get(&self, name: &str) -> Option<String> {
        (self.0)(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// `STRIPE_WEBHOOK_SECRET`: one or more `whsec_` secrets.
    pub fn webhook_secrets(&self) -> Result<Vec<String>, ConfigError> {
        let secrets = self.get("STRIPE_WEBHOOK_SECRET").ok_or_else(|| {
            error("STRIPE_WEBHOOK_SECRET", "is not set: set it to the endpoint's signing secret (whsec_...) from Stripe Dashboard -> Developers -> Webhooks")
        })?;
        let secrets: Vec<String> = secrets.split(',').map(|s| s.trim().to_owned()).collect();
        if let Some(position) = secrets
            .iter()
            .position(|s| !s.starts_with("whsec_") || s.len() <= "whsec_".len())
        {
            return Err(error(
                "STRIPE_WEBHOOK_SECRET",
                format!("entry {} is not a signing secret: each comma-separated entry must start with whsec_", position + 1),
            ));
        }
        Ok(secrets)
    }

    /// `HUBSPOT_ACCESS_TOKEN`: a service key or private-app token (no prefix check).
    pub fn hubspot_token(&self) -> Result<String, ConfigError> {
        let token = self
            .get("HUBSPOT_ACCESS_TOKEN")
            .ok_or_else(|| error("HUBSPOT_ACCESS_TOKEN", format!("is not set: {TOKEN_HELP}")))?;
        if token.chars().any(char::is_whitespace) {
            return Err(error(
                "HUBSPOT_ACCESS_TOKEN",
                "contains whitespace: paste the key exactly as HubSpot shows it",
            ));
        }
        Ok(token)
    }

    /// `HUBSPOT_API_VERSION`, default 2026-09.
    pub fn hubspot_api_version(&self) -> Result<ApiVersion, ConfigError> {
        match self.get("HUBSPOT_API_VERSION") {
            None => Ok(ApiVersion::default()),
            Some(v) => v.parse().map_err(|_| {
                let accepted: Vec<String> = ApiVersion::ALL.iter().map(|v| v.to_string()).collect();
                error(
                    "HUBSPOT_API_VERSION",
                    format!(
                        "is {v:?}, which is not a version this release speaks: use one of {} ({} is the default; legacy means the v3/v4 paths HubSpot retires in 2027)",
                        accepted.join(", "),
                        ApiVersion::default()
                    ),
                )
            }),
        }
    }

    /// `HUBSPOT_BASE_URL`, default HubSpot's production host.
    pub fn hubspot_base_url(&self) -> Result<String, ConfigError> {
        let url = self
            .get("HUBSPOT_BASE_URL")
            .unwrap_or_else(|| hubspot_crm::DEFAULT_BASE_URL.to_owned());
        match reqwest::Url::parse(&url) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => Ok(url),
            _ => Err(error(
                "HUBSPOT_BASE_URL",
                format!("is not an http(s) URL: {url:?}"),
            )),
        }
    }

    /// `HUBSPOT_RATE_LIMIT`, default 100/10s.
    pub fn rate_limit(&self) -> Result<RateLimit, ConfigError> {
        match self.get("HUBSPOT_RATE_LIMIT") {
            None => Ok(RateLimit::default()),
            Some(limit) => limit
                .parse()
                .map_err(|e| error("HUBSPOT_RATE_LIMIT", format!("{e}"))),
        }
    }

    /// `STRIPE2HUBSPOT_QUEUE`, default a SQLite file in the working directory.
    pub fn queue_url(&self) -> Result<String, ConfigError> {
        let url = self
            .get("STRIPE2HUBSPOT_QUEUE")
            .unwrap_or_else(|| DEFAULT_QUEUE_URL.to_owned());
        if !["sqlite:", "postgres://", "postgresql://", "memory:"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return Err(error(
                "STRIPE2HUBSPOT_QUEUE",
                "must start with sqlite:// (e.g. sqlite://stripe2hubspot.db) or postgres://",
            ));
        }
        Ok(url)
    }

    /// The queue URL for a long-running server: `memory:` only with
    /// `STRIPE2HUBSPOT_ALLOW_MEMORY_QUEUE=1`.
    pub fn durable_queue_url(&self) -> Result<String, ConfigError> {
        let url = self.queue_url()?;
        let allowed = self.get("STRIPE2HUBSPOT_ALLOW_MEMORY_QUEUE").as_deref() == Some("1");
        if url.starts_with("memory:") && !allowed {
            return Err(error(
                "STRIPE2HUBSPOT_QUEUE",
                "is memory:, which keeps webhooks only in this process: a restart would lose events Stripe was told are stored. Use sqlite://path or postgres://... (tests may set STRIPE2HUBSPOT_ALLOW_MEMORY_QUEUE=1)",
            ));
        }
        Ok(url)
    }

    /// `BIND_ADDR`, default 127.0.0.1:3000.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        match self.get("BIND_ADDR") {
            None => Ok(DEFAULT_BIND_ADDR),
            Some(addr) => addr.parse().map_err(|_| {
                error("BIND_ADDR", format!("is not an address with a port, such as 127.0.0.1:3000 or 0.0.0.0:8080: {addr:?}"))
            }),
        }
    }

    /// `SLACK_WEBHOOK_URL`, optional.
    pub fn slack_webhook_url(&self) -> Result<Option<String>, ConfigError> {
        let url = self.get("SLACK_WEBHOOK_URL");
        if let Some(u) = &url {
            if SlackAlerter::new(u).is_err() {
                return Err(error(
                    "SLACK_WEBHOOK_URL",
                    "is not an https:// URL (expected https://hooks.slack.com/services/...)",
                ));
            }
        }
        Ok(url)
    }

    /// `ADMIN_TOKEN`, optional: enables the admin API.
    pub fn admin_token(&self) -> Result<Option<AdminToken>, ConfigError> {
        self.get("ADMIN_TOKEN")
            .map(|t| {
                AdminToken::new(&t).map_err(|e| error("ADMIN_TOKEN", format!("is too weak: {e}")))
            })
            .transpose()
    }

    /// The HubSpot settings alone, for commands that only talk to HubSpot.
    pub fn hubspot(&self) -> Result<Config, ConfigError> {
        let mut config = Config::new(Vec::new(), self.hubspot_token()?);
        config.hubspot_api_version = self.hubspot_api_version()?;
        config.hubspot_base_url = self.hubspot_base_url()?;
        config.rate_limit = self.rate_limit()?;
        Ok(config)
    }

    /// Everything `serve` needs, checked in the order the README lists the variables.
    pub fn serve(&self) -> Result<ServeConfig, ConfigError> {
        let webhook_secrets = self.webhook_secrets()?;
        let mut service = self.hubspot()?;
        service.webhook_secrets = webhook_secrets;
        service.queue_url = self.durable_queue_url()?;
        service.bind_addr = self.bind_addr()?;
        service.slack_webhook_url = self.slack_webhook_url()?;
        Ok(ServeConfig {
            service,
            admin_token: self.admin_token()?,
        })
    }
}

/// The process environment.
pub fn process_env() -> Env<fn(&str) -> Option<String>> {
    fn var(name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
    Env::new(var)
}

/// The settings of `serve`.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// The pipeline's settings.
    pub service: Config,
    /// Enables the admin API.
    pub admin_token: Option<AdminToken>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn serve(vars: &[(&str, &str)]) -> Result<ServeConfig, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::new(|name: &str| vars.get(name).cloned()).serve()
    }

    const REQUIRED: [(&str, &str); 2] = [
        ("STRIPE_WEBHOOK_SECRET", "whsec_abc"),
        ("HUBSPOT_ACCESS_TOKEN", "pat-na1-xyz"),
    ];

    #[test]
    fn defaults_apply_when_only_the_secrets_are_set() {
        let c = serve(&REQUIRED).unwrap();
        let s = &c.service;
        assert_eq!(s.webhook_secrets, ["whsec_abc"]);
        assert_eq!(s.queue_url, "sqlite://stripe2hubspot.db");
        assert_eq!(s.bind_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(s.hubspot_base_url, "https://api.hubapi.com");
        assert_eq!(s.hubspot_api_version, ApiVersion::V2026_09);
        assert_eq!(s.rate_limit, RateLimit::default());
        assert!(c.admin_token.is_none());
    }

    #[test]
    fn each_bad_variable_is_named() {
        let cases: [(&[(&str, &str)], &str); 10] = [
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
                    ("STRIPE2HUBSPOT_QUEUE", "memory:"),
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
            (
                &[REQUIRED[0], REQUIRED[1], ("HUBSPOT_API_VERSION", "v3")],
                "HUBSPOT_API_VERSION",
            ),
            (
                &[REQUIRED[0], REQUIRED[1], ("ADMIN_TOKEN", "short")],
                "ADMIN_TOKEN",
            ),
        ];
        for (vars, variable) in cases {
            let err = serve(vars).unwrap_err();
            assert_eq!(err.variable, variable, "{err}");
            assert!(err.to_string().contains(variable));
        }
    }

    #[test]
    fn the_token_help_names_service_keys_first_and_accepts_any_prefix() {
        let err = serve(&[REQUIRED[0]]).unwrap_err();
        let text = err.to_string();
        let service_key = text.find("service key").unwrap();
        let private_app = text.find("private-app").unwrap();
        assert!(service_key < private_app, "{text}");
        assert!(text.contains("crm.objects.deals.write"), "{text}");
        let c = serve(&[REQUIRED[0], ("HUBSPOT_ACCESS_TOKEN", "any-shape-key-123")]).unwrap();
        assert_eq!(c.service.hubspot_token, "any-shape-key-123");
    }

    #[test]
    fn versions_memory_queue_and_rotation() {
        let c = serve(&[
            ("STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new"),
            ("HUBSPOT_ACCESS_TOKEN", "pat-secret-token"),
            ("HUBSPOT_API_VERSION", "legacy"),
            ("STRIPE2HUBSPOT_QUEUE", "memory:"),
            ("STRIPE2HUBSPOT_ALLOW_MEMORY_QUEUE", "1"),
            ("ADMIN_TOKEN", "0123456789abcdef0123"),
        ])
        .unwrap();
        assert_eq!(c.service.webhook_secrets, ["whsec_old", "whsec_new"]);
        assert_eq!(c.service.hubspot_api_version, ApiVersion::Legacy);
        assert_eq!(c.service.queue_url, "memory:");
        let debug = format!("{c:?}");
        for secret in ["whsec_old", "pat-secret-token", "0123456789abcdef0123"] {
            assert!(!debug.contains(secret), "{debug}");
        }
        let err =
            serve(&[REQUIRED[0], REQUIRED[1], ("HUBSPOT_API_VERSION", "2025-09")]).unwrap_err();
        for accepted in ["2026-09", "2026-03", "legacy"] {
            assert!(err.problem.contains(accepted), "{err}");
        }
    }
}
