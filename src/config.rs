//! The typed settings [`Service`](crate::Service) assembles a pipeline from.
//!
//! The `stripe2hubspot` binary reads them from the environment (see its README section
//! "Configuration"); embedders fill them in however they like.

use std::fmt;
use std::net::SocketAddr;

use hubspot_crm::{ApiVersion, RateLimit};

/// Where the queue lives when nothing else is said: a SQLite file in the working directory.
pub const DEFAULT_QUEUE_URL: &str = "sqlite://stripe2hubspot.db";

/// The address the server listens on when nothing else is said.
pub const DEFAULT_BIND_ADDR: SocketAddr = SocketAddr::V4(std::net::SocketAddrV4::new(
    std::net::Ipv4Addr::LOCALHOST,
    3000,
));

/// The settings of a [`Service`](crate::Service). `Debug` never shows a secret.
#[derive(Clone)]
pub struct Config {
    /// Stripe endpoint signing secrets; any of them verifies a delivery.
    pub webhook_secrets: Vec<String>,
    /// HubSpot service key (or private-app token).
    pub hubspot_token: String,
    /// HubSpot API host.
    pub hubspot_base_url: String,
    /// The HubSpot API version every call goes to.
    pub hubspot_api_version: ApiVersion,
    /// Queue URL for [`queue::connect`](crate::queue::connect).
    pub queue_url: String,
    /// Address to listen on (used by servers built on the service, not by the service).
    pub bind_addr: SocketAddr,
    /// HubSpot pacing.
    pub rate_limit: RateLimit,
    /// Slack incoming webhook for alerts.
    pub slack_webhook_url: Option<String>,
    /// How long dead letters (and their payloads) are kept before the engine purges them.
    pub dead_letter_retention: std::time::Duration,
    /// Merge a HubSpot contact holding a customer's new email into the customer's contact
    /// (`STRIPE2HUBSPOT_MERGE_CONTACTS`; see
    /// [`SyncEngineBuilder::merge_contacts`](crate::engine::SyncEngineBuilder::merge_contacts)).
    pub merge_contacts: bool,
    /// `customer.deleted` deletes the contact for GDPR and erases the person from the store
    /// (`STRIPE2HUBSPOT_GDPR_DELETE`; see
    /// [`SyncEngineBuilder::gdpr_delete`](crate::engine::SyncEngineBuilder::gdpr_delete)).
    pub gdpr_delete: bool,
}

impl Config {
    /// Settings with the two secrets and every other field at its default: HubSpot's
    /// production host, the default API version, [`DEFAULT_QUEUE_URL`], [`DEFAULT_BIND_ADDR`],
    /// the default rate limit, no Slack alerts, dead letters kept 30 days, no contact merges
    /// and no GDPR deletion.
    pub fn new(webhook_secrets: Vec<String>, hubspot_token: impl Into<String>) -> Config {
        Config {
            webhook_secrets,
            hubspot_token: hubspot_token.into(),
            hubspot_base_url: hubspot_crm::DEFAULT_BASE_URL.to_owned(),
            hubspot_api_version: ApiVersion::default(),
            queue_url: DEFAULT_QUEUE_URL.to_owned(),
            bind_addr: DEFAULT_BIND_ADDR,
            rate_limit: RateLimit::default(),
            slack_webhook_url: None,
            dead_letter_retention: crate::engine::DEFAULT_DEAD_LETTER_RETENTION,
            merge_contacts: false,
            gdpr_delete: false,
        }
    }
}

impl Config {
    /// This deployment's settings for the stored portal `portal`: its token, HubSpot host, API
    /// version, rate limit, endpoint secrets and alert target where it has its own, the rest
    /// (queue, bind address, retention, ...) from `self`.
    ///
    /// A stored value that no longer parses (changed by hand in the database) is an error
    /// naming the portal and the field, never the value.
    pub fn for_portal(&self, portal: &crate::queue::Portal) -> Result<Config, PortalConfigError> {
        let broken = |field: &'static str| PortalConfigError {
            portal: portal.id.clone(),
            field,
        };
        let mut config = self.clone();
        config.hubspot_token = portal.token.expose().to_owned();
        config.rate_limit = portal
            .rate_limit
            .parse()
            .map_err(|_| broken("rate_limit"))?;
        if let Some(url) = &portal.hubspot_base_url {
            config.hubspot_base_url = url.clone();
        }
        if let Some(version) = &portal.api_version {
            config.hubspot_api_version = version.parse().map_err(|_| broken("api_version"))?;
        }
        if let Some(secrets) = &portal.webhook_secrets {
            config.webhook_secrets = secrets
                .expose()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(url) = &portal.alert_url {
            config.slack_webhook_url = Some(url.expose().to_owned());
        }
        Ok(config)
    }
}

/// A stored portal setting that does not parse: the database was changed by hand.
#[derive(Debug, Clone, thiserror::Error)]
#[error("portal {portal:?} has a malformed stored {field}; set it again with `stripe2hubspot portals set {portal}`")]
pub struct PortalConfigError {
    /// The portal id.
    pub portal: String,
    /// The field that does not parse.
    pub field: &'static str,
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
            .field("hubspot_api_version", &self.hubspot_api_version)
            .field("queue_url", &redact_url(&self.queue_url))
            .field("bind_addr", &self.bind_addr)
            .field("rate_limit", &self.rate_limit)
            .field(
                "slack_webhook_url",
                &self.slack_webhook_url.as_ref().map(|_| "<redacted>"),
            )
            .field("dead_letter_retention", &self.dead_letter_retention)
            .field("merge_contacts", &self.merge_contacts)
            .field("gdpr_delete", &self.gdpr_delete)
            .finish()
    }
}

/// A database URL with its password, if any, replaced by `redacted`, for logs and output.
pub fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("redacted"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_takes_the_defaults() {
        let c = Config::new(vec!["whsec_abc".into()], "pat-na1-xyz");
        assert_eq!(c.queue_url, "sqlite://stripe2hubspot.db");
        assert_eq!(c.bind_addr.to_string(), "127.0.0.1:3000");
        assert_eq!(c.hubspot_base_url, "https://api.hubapi.com");
        assert_eq!(c.hubspot_api_version, ApiVersion::V2026_09);
        assert_eq!(c.rate_limit, RateLimit::default());
    }

    #[test]
    fn debug_redacts_every_secret() {
        let mut c = Config::new(
            vec!["whsec_old".into(), "whsec_new".into()],
            "pat-secret-token",
        );
        c.queue_url = "postgres://u:hunter2@db/x".into();
        c.slack_webhook_url = Some("https://hooks.slack.com/services/T/B/slacksecret".into());
        let debug = format!("{c:?}");
        for secret in [
            "whsec_old",
            "whsec_new",
            "pat-secret-token",
            "hunter2",
            "slacksecret",
        ] {
            assert!(!debug.contains(secret), "{debug}");
        }
    }
}
