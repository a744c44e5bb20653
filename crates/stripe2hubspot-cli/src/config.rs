//! Configuration from the environment (and an optional `.env` file).
//!
//! | variable | required | default | meaning |
//! |---|---|---|---|
//! | `STRIPE_WEBHOOK_SECRET` | yes (`serve`) | | endpoint signing secret(s) `whsec_...`, comma-separated during rotation |
//! | `HUBSPOT_ACCESS_TOKEN` | yes (`serve` unless the store has portals, `doctor`) | | HubSpot service key, or a legacy private-app token: the `default` portal's |
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
//! | `STRIPE2HUBSPOT_MAPPING` | no | the default mapping | path of a JSON mapping file, read by every command |
//! | `STRIPE2HUBSPOT_DEAD_LETTER_RETENTION` | no | `30d` | how long dead letters (and their payloads) are kept: `30d`, `12h`, `90m`, `3600s` |
//! | `STRIPE2HUBSPOT_MERGE_CONTACTS` | no | `0` | `1`/`true`: when a customer's new email belongs to another HubSpot contact, merge that contact into the customer's (HubSpot's merge cannot be undone); `0`/`false`: alert and keep the old email |
//! | `STRIPE2HUBSPOT_LINE_ITEMS` | no | the mapping's `line_items` (off) | `1`/`true`: write each deal's line items and their products (invoice lines; Checkout line items read with `STRIPE_SECRET_KEY`); `0`/`false`: do not; overrides the mapping file |
//! | `STRIPE2HUBSPOT_GDPR_DELETE` | no | `0` | `1`/`true`: `customer.deleted` permanently deletes the customer's HubSpot contact (GDPR delete) and erases the person from the store; `0`/`false`: the customer is only marked deleted |

use std::net::SocketAddr;
use std::time::Duration;

use hubspot_crm::{ApiVersion, RateLimit};
use stripe2hubspot::admin::AdminToken;
use stripe2hubspot::alert::SlackAlerter;
use stripe2hubspot::config::{DEFAULT_BIND_ADDR, DEFAULT_QUEUE_URL};
use stripe2hubspot::engine::DEFAULT_DEAD_LETTER_RETENTION;
use stripe2hubspot::map::MappingConfig;
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

/// The switch that lets the engine merge a contact holding a customer's new email into the
/// customer's contact.
pub const MERGE_CONTACTS: &str = "STRIPE2HUBSPOT_MERGE_CONTACTS";

/// The switch that makes `customer.deleted` a GDPR deletion.
pub const GDPR_DELETE: &str = "STRIPE2HUBSPOT_GDPR_DELETE";

/// The switch that turns line items and products on (or off, over the mapping file).
pub const LINE_ITEMS: &str = "STRIPE2HUBSPOT_LINE_ITEMS";

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

    /// `STRIPE2HUBSPOT_MAPPING`: the mapping in the JSON file it names (every field optional,
    /// defaults from the default mapping), or the default mapping when unset; then
    /// `STRIPE2HUBSPOT_LINE_ITEMS`, when set, turns line items on or off over it.
    pub fn mapping(&self) -> Result<MappingConfig, ConfigError> {
        let mut mapping = self.mapping_file()?;
        if self.get(LINE_ITEMS).is_some() {
            mapping.line_items = self.switch(LINE_ITEMS)?;
        }
        Ok(mapping)
    }

    fn mapping_file(&self) -> Result<MappingConfig, ConfigError> {
        const VARIABLE: &str = "STRIPE2HUBSPOT_MAPPING";
        let Some(path) = self.get(VARIABLE) else {
            return Ok(MappingConfig::default());
        };
        let text = std::fs::read_to_string(&path).map_err(|e| {
            error(
                VARIABLE,
                format!("names {path:?}, which cannot be read ({e}): give the path of a JSON mapping file"),
            )
        })?;
        mapping_from_json(&text).map_err(|problem| {
            error(
                VARIABLE,
                format!("names {path:?}: {problem}; see docs/configuration.md for the fields"),
            )
        })
    }

    /// `STRIPE2HUBSPOT_DEAD_LETTER_RETENTION`, default 30 days.
    pub fn dead_letter_retention(&self) -> Result<Duration, ConfigError> {
        match self.get("STRIPE2HUBSPOT_DEAD_LETTER_RETENTION") {
            None => Ok(DEFAULT_DEAD_LETTER_RETENTION),
            Some(text) => parse_duration(&text).map_err(|problem| {
                error(
                    "STRIPE2HUBSPOT_DEAD_LETTER_RETENTION",
                    format!("is {text:?}: {problem}"),
                )
            }),
        }
    }

    /// `STRIPE2HUBSPOT_MERGE_CONTACTS`, default off.
    pub fn merge_contacts(&self) -> Result<bool, ConfigError> {
        self.switch(MERGE_CONTACTS)
    }

    /// `STRIPE2HUBSPOT_GDPR_DELETE`, default off.
    pub fn gdpr_delete(&self) -> Result<bool, ConfigError> {
        self.switch(GDPR_DELETE)
    }

    /// An on/off variable: `1` or `true` is on, `0` or `false` (or unset) is off, in any case.
    fn switch(&self, variable: &'static str) -> Result<bool, ConfigError> {
        let Some(value) = self.get(variable) else {
            return Ok(false);
        };
        match value.to_ascii_lowercase().as_str() {
            "1" | "true" => Ok(true),
            "0" | "false" => Ok(false),
            _ => Err(error(
                variable,
                format!("is {value:?}: set it to 1 or true to turn it on, 0 or false (or leave it unset) to keep it off"),
            )),
        }
    }

    /// The HubSpot settings alone, for commands that only talk to HubSpot.
    pub fn hubspot(&self) -> Result<Config, ConfigError> {
        let mut config = Config::new(Vec::new(), self.hubspot_token()?);
        config.hubspot_api_version = self.hubspot_api_version()?;
        config.hubspot_base_url = self.hubspot_base_url()?;
        config.rate_limit = self.rate_limit()?;
        Ok(config)
    }

    /// Everything `serve` needs, checked in the order the README lists the variables, with
    /// `HUBSPOT_ACCESS_TOKEN` required (a deployment without stored portals). `serve` itself
    /// calls [`serve_portals`](Self::serve_portals); the tests read the variables through this.
    #[cfg(test)]
    pub fn serve(&self) -> Result<ServeConfig, ConfigError> {
        // The two required variables first, as they always were.
        self.webhook_secrets()?;
        self.hubspot_token()?;
        let (config, _) = self.serve_portals()?;
        Ok(config)
    }

    /// What `serve` needs when the store may hold portals: like [`serve`](Self::serve), but
    /// `HUBSPOT_ACCESS_TOKEN` may be unset. Its error comes back beside the settings, for
    /// `serve` to report when the store has no portal either; without it the `default`
    /// portal is not configured.
    pub fn serve_portals(&self) -> Result<(ServeConfig, Option<ConfigError>), ConfigError> {
        let webhook_secrets = self.webhook_secrets()?;
        let missing_token = match self.hubspot_token() {
            Ok(_) => None,
            Err(error) if self.get("HUBSPOT_ACCESS_TOKEN").is_none() => Some(error),
            Err(error) => return Err(error),
        };
        let mut service = match &missing_token {
            None => self.hubspot()?,
            Some(_) => {
                let mut config = Config::new(Vec::new(), String::new());
                config.hubspot_api_version = self.hubspot_api_version()?;
                config.hubspot_base_url = self.hubspot_base_url()?;
                config.rate_limit = self.rate_limit()?;
                config
            }
        };
        service.webhook_secrets = webhook_secrets;
        service.queue_url = self.durable_queue_url()?;
        service.bind_addr = self.bind_addr()?;
        service.slack_webhook_url = self.slack_webhook_url()?;
        service.dead_letter_retention = self.dead_letter_retention()?;
        service.merge_contacts = self.merge_contacts()?;
        service.gdpr_delete = self.gdpr_delete()?;
        let config = ServeConfig {
            service,
            admin_token: self.admin_token()?,
            mapping: self.mapping()?,
            default_portal: missing_token.is_none(),
        };
        Ok((config, missing_token))
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
    /// The mapping (`STRIPE2HUBSPOT_MAPPING`, else the default).
    pub mapping: MappingConfig,
    /// Whether `HUBSPOT_ACCESS_TOKEN` configures the `default` portal.
    pub default_portal: bool,
}

/// A mapping from its JSON form. A value that does not parse is reported with its field:
/// each field is read on its own after the whole file failed, so the message names it.
fn mapping_from_json(text: &str) -> Result<MappingConfig, String> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("is not JSON: {e}"))?;
    let serde_json::Value::Object(fields) = value else {
        return Err("is not a JSON object of mapping fields".to_owned());
    };
    if let Err(whole) = serde_json::from_value::<MappingConfig>(fields.clone().into()) {
        for (name, field) in fields {
            let alone = serde_json::Map::from_iter([(name.clone(), field)]);
            if let Err(e) = serde_json::from_value::<MappingConfig>(alone.into()) {
                return Err(if e.to_string().starts_with("unknown field") {
                    format!("{e}")
                } else {
                    format!("field `{name}`: {e}")
                });
            }
        }
        return Err(whole.to_string());
    }
    MappingConfig::from_json(text).map_err(|e| e.to_string())
}

/// A duration written as a whole number and a unit: `30d`, `12h`, `90m` or `3600s`; longer
/// than zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const HELP: &str = "write a whole number and a unit: d (days), h (hours), m (minutes) or s (seconds), e.g. 30d";
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| HELP.to_owned())?;
    let seconds_per = match unit.trim() {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" => 1,
        _ => return Err(HELP.to_owned()),
    };
    if n == 0 {
        return Err("must be longer than zero (it would delete every dead letter at once)".into());
    }
    n.checked_mul(seconds_per)
        .map(Duration::from_secs)
        .ok_or_else(|| "is too long".to_owned())
}

// ---------------------------------------------------------------------------------------
// Per-portal settings (issue 23): what `portals add|set` store and the per-portal commands
// read back.

/// The mapping file `path` (`portals add|set --mapping FILE`), checked as
/// `STRIPE2HUBSPOT_MAPPING` is, in the compact JSON form a portal stores. Errors name `flag`.
pub fn mapping_file_json(flag: &'static str, path: &str) -> Result<String, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        error(
            flag,
            format!(
                "names {path:?}, which cannot be read ({e}): give the path of a JSON mapping file"
            ),
        )
    })?;
    mapping_from_json(&text).map_err(|problem| {
        error(
            flag,
            format!("names {path:?}: {problem}; see docs/configuration.md for the fields"),
        )
    })?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| error(flag, format!("names {path:?}, which is not JSON: {e}")))?;
    Ok(value.to_string())
}

impl<F: Fn(&str) -> Option<String>> Env<F> {
    /// The mapping of a stored portal: its own (`portals add|set --mapping`) when it has one,
    /// else the deployment's ([`Env::mapping`]); `STRIPE2HUBSPOT_LINE_ITEMS`, when set, turns
    /// line items on or off over either, as it does over a mapping file.
    pub fn portal_mapping(
        &self,
        portal: &stripe2hubspot::queue::Portal,
    ) -> Result<MappingConfig, ConfigError> {
        let Some(json) = &portal.mapping else {
            return self.mapping();
        };
        let mut mapping = mapping_from_json(json).map_err(|problem| {
            error(
                "portal mapping",
                format!(
                    "of portal {:?} is stored malformed ({problem}): store it again with `stripe2hubspot portals set {} --mapping FILE`",
                    portal.id, portal.id
                ),
            )
        })?;
        if self.get(LINE_ITEMS).is_some() {
            mapping.line_items = self.switch(LINE_ITEMS)?;
        }
        Ok(mapping)
    }
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
    fn serve_portals_lets_the_token_be_missing_and_keeps_its_error() {
        let vars: HashMap<String, String> = [("STRIPE_WEBHOOK_SECRET", "whsec_abc")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = Env::new(|name: &str| vars.get(name).cloned());
        let (config, missing) = env.serve_portals().unwrap();
        assert!(!config.default_portal);
        assert_eq!(missing.unwrap().variable, "HUBSPOT_ACCESS_TOKEN");
        assert_eq!(env.serve().unwrap_err().variable, "HUBSPOT_ACCESS_TOKEN");
        let (config, missing) = env_of(&REQUIRED).serve_portals().unwrap();
        assert!(config.default_portal && missing.is_none());
        let bad = [REQUIRED[0], ("HUBSPOT_ACCESS_TOKEN", "pat 1")];
        assert_eq!(
            env_of(&bad).serve_portals().unwrap_err().variable,
            "HUBSPOT_ACCESS_TOKEN",
            "a malformed token is an error even when portals could serve"
        );
    }

    fn env_of(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::new(move |name: &str| vars.get(name).cloned())
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

    fn env(vars: &[(&str, &str)]) -> Env<impl Fn(&str) -> Option<String>> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Env::new(move |name: &str| vars.get(name).cloned())
    }

    #[test]
    fn dead_letter_retention_defaults_to_30_days_and_reads_units() {
        assert_eq!(
            env(&[]).dead_letter_retention().unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        for (text, secs) in [
            ("7d", 7 * 86_400),
            ("12h", 43_200),
            ("90m", 5_400),
            ("45s", 45),
        ] {
            let got = env(&[("STRIPE2HUBSPOT_DEAD_LETTER_RETENTION", text)])
                .dead_letter_retention()
                .unwrap();
            assert_eq!(got, Duration::from_secs(secs), "{text}");
        }
        for bad in [
            "30",
            "d",
            "0d",
            "-1d",
            "1.5d",
            "3w",
            "99999999999999999999d",
        ] {
            let err = env(&[("STRIPE2HUBSPOT_DEAD_LETTER_RETENTION", bad)])
                .dead_letter_retention()
                .unwrap_err();
            assert_eq!(
                err.variable, "STRIPE2HUBSPOT_DEAD_LETTER_RETENTION",
                "{bad}"
            );
        }
    }

    #[test]
    fn line_items_are_off_by_default_and_the_switch_overrides_the_mapping_file() {
        assert!(!env(&[]).mapping().unwrap().line_items);
        assert!(env(&[(LINE_ITEMS, "1")]).mapping().unwrap().line_items);
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("mapping.json");
        std::fs::write(&file, r#"{"line_items": true}"#).unwrap();
        let path = file.to_str().unwrap();
        let from_file = [("STRIPE2HUBSPOT_MAPPING", path)];
        assert!(env(&from_file).mapping().unwrap().line_items);
        let overridden = [("STRIPE2HUBSPOT_MAPPING", path), (LINE_ITEMS, "false")];
        assert!(!env(&overridden).mapping().unwrap().line_items);
        let err = env(&[(LINE_ITEMS, "yes")]).mapping().unwrap_err();
        assert_eq!(err.variable, LINE_ITEMS);
    }

    #[test]
    fn the_contact_switches_read_one_zero_true_false_and_name_the_variable_otherwise() {
        let c = serve(&REQUIRED).unwrap();
        assert!(
            !c.service.merge_contacts && !c.service.gdpr_delete,
            "off by default"
        );
        for (value, on) in [
            ("1", true),
            ("true", true),
            ("TRUE", true),
            ("0", false),
            ("false", false),
        ] {
            let c = serve(&[
                REQUIRED[0],
                REQUIRED[1],
                (MERGE_CONTACTS, value),
                (GDPR_DELETE, value),
            ])
            .unwrap();
            assert_eq!(
                (c.service.merge_contacts, c.service.gdpr_delete),
                (on, on),
                "{value}"
            );
        }
        for variable in [MERGE_CONTACTS, GDPR_DELETE] {
            for bad in ["yes", "2", "on"] {
                let err = serve(&[REQUIRED[0], REQUIRED[1], (variable, bad)]).unwrap_err();
                assert_eq!(err.variable, variable, "{bad}");
                assert!(err.to_string().contains(variable), "{err}");
            }
        }
    }

    #[test]
    fn a_mapping_file_is_read_and_its_errors_name_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let file = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        assert_eq!(env(&[]).mapping().unwrap(), MappingConfig::default());
        let good = file("good.json", r#"{"customer_id_property": "stripe_cus"}"#);
        let mapping = env(&[("STRIPE2HUBSPOT_MAPPING", &good)]).mapping().unwrap();
        assert_eq!(mapping.customer_id_property.as_deref(), Some("stripe_cus"));
        assert_eq!(
            mapping.pipeline, "default",
            "other fields keep their defaults"
        );
        let cases = [
            ("unknown.json", r#"{"pipline": "default"}"#, "pipline"),
            ("value.json", r#"{"amount_basis": "tax"}"#, "amount_basis"),
            ("type.json", r#"{"deal_stage": 3}"#, "deal_stage"),
            (
                "invalid.json",
                r#"{"customer_id_property": "Bad Name"}"#,
                "customer_id_property",
            ),
            ("syntax.json", "{", "not JSON"),
            ("array.json", "[]", "JSON object"),
        ];
        for (name, text, named) in cases {
            let path = file(name, text);
            let err = env(&[("STRIPE2HUBSPOT_MAPPING", &path)])
                .mapping()
                .unwrap_err();
            let shown = err.to_string();
            assert_eq!(err.variable, "STRIPE2HUBSPOT_MAPPING");
            assert!(shown.contains(name) && shown.contains(named), "{shown}");
        }
        let err = env(&[("STRIPE2HUBSPOT_MAPPING", "/nonexistent/m.json")])
            .mapping()
            .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/m.json"), "{err}");
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
