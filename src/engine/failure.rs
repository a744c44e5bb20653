//! What the engine does about each kind of HubSpot answer.

use std::time::Duration;

use hubspot_crm::Error as HubSpotError;

/// Why the pipeline is paused. While paused, webhooks are still accepted and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PauseReason {
    /// HubSpot answered 401: the token is invalid, expired or revoked.
    Unauthorized,
    /// HubSpot answered 403: the token lacks these scopes.
    MissingScopes(Vec<String>),
    /// Paused by [`EngineHandle::pause`](super::EngineHandle::pause).
    Manual,
}

impl std::fmt::Display for PauseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PauseReason::Unauthorized => {
                f.write_str("HubSpot rejected the access token (401); check HUBSPOT_ACCESS_TOKEN")
            }
            PauseReason::MissingScopes(scopes) if scopes.is_empty() => f.write_str(
                "HubSpot refused a call (403); grant the service key (or private-app token) the scopes the README lists",
            ),
            PauseReason::MissingScopes(scopes) => write!(
                f,
                "HubSpot refused a call (403); grant the service key (or private-app token) these scopes: {}",
                scopes.join(", ")
            ),
            PauseReason::Manual => f.write_str("paused by the operator"),
        }
    }
}

/// A HubSpot failure, sorted by what the engine does about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallFailure {
    /// 429: retry after the delay without consuming an attempt, and hold every worker back.
    RateLimited { retry_after: Option<Duration> },
    /// 401/403: pause the pipeline, release the jobs.
    Pause(PauseReason),
    /// 5xx, 423, timeouts, unreadable answers: retry with backoff, consuming an attempt.
    Transient(String),
    /// 400: the input itself was rejected. `properties` are the names HubSpot reported unknown
    /// or with an invalid option (strippable); `values` the offending values it named.
    Rejected {
        properties: Vec<String>,
        values: Vec<String>,
        message: String,
    },
    /// Anything else that retrying cannot fix.
    Permanent(String),
}

impl CallFailure {
    pub(crate) fn classify(error: &HubSpotError) -> CallFailure {
        match error {
            HubSpotError::RateLimited { retry_after, .. } => CallFailure::RateLimited {
                retry_after: *retry_after,
            },
            HubSpotError::Unauthorized { .. } => CallFailure::Pause(PauseReason::Unauthorized),
            HubSpotError::Forbidden { missing_scopes, .. } => {
                CallFailure::Pause(PauseReason::MissingScopes(missing_scopes.clone()))
            }
            HubSpotError::Validation {
                unknown_properties,
                invalid_options,
                invalid_values,
                ..
            } => CallFailure::Rejected {
                properties: unknown_properties
                    .iter()
                    .cloned()
                    .chain(invalid_options.iter().filter_map(|e| e.property.clone()))
                    .collect(),
                values: invalid_values
                    .iter()
                    .filter_map(|e| e.value.clone())
                    .collect(),
                message: error.to_string(),
            },
            HubSpotError::Server { .. }
            | HubSpotError::Locked { .. }
            | HubSpotError::Transport { .. }
            | HubSpotError::Decode { .. } => CallFailure::Transient(error.to_string()),
            _ => CallFailure::Permanent(error.to_string()),
        }
    }
}
