//! What the engine does about each kind of HubSpot answer.

use std::time::Duration;

use hubspot_crm::Error as HubSpotError;

/// The standard deal property holding the ISO currency code; HubSpot refuses codes the
/// portal has not enabled.
pub(crate) const CURRENCY_PROPERTY: &str = "deal_currency_code";

/// Why the pipeline is paused. While paused, webhooks are still accepted and stored.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PauseReason {
    /// HubSpot answered 401: the token is invalid, expired or revoked.
    Unauthorized,
    /// HubSpot answered 403: the token lacks these scopes.
    MissingScopes(Vec<String>),
    /// The deal property every deal is upserted by is missing (or not unique) and the token
    /// may not create it: no deal can be written without risking a second one.
    MissingProperties(Vec<String>),
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
                "HubSpot refused a call (403); grant the private app the scopes the README lists",
            ),
            PauseReason::MissingScopes(scopes) => write!(
                f,
                "HubSpot refused a call (403); grant the private app these scopes: {}",
                scopes.join(", ")
            ),
            PauseReason::MissingProperties(properties) => write!(
                f,
                "the HubSpot deal properties [{}] are missing and the token may not create them; every deal is upserted by the unique property {}, so no deal is written until it exists. Grant the private app the scope crm.schemas.deals.write (and crm.schemas.contacts.write for the contact rollups), or create {} by hand in HubSpot as a single-line text deal property with \"unique values\" on",
                properties.join(", "),
                super::DEAL_ID_PROPERTY,
                super::DEAL_ID_PROPERTY,
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
        /// Currencies HubSpot refused as `deal_currency_code` (not enabled in the portal).
        currencies: Vec<String>,
        message: String,
    },
    /// 400: the write breaks a validation rule of the portal. `ids` are the inputs HubSpot
    /// blames (their id property values), `rules` the rules' messages.
    RuleBroken {
        rules: Vec<String>,
        ids: Vec<String>,
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
                currencies: invalid_options
                    .iter()
                    .filter(|e| e.property.as_deref() == Some(CURRENCY_PROPERTY))
                    .filter_map(|e| e.value.as_deref())
                    .map(|v| v.trim().to_ascii_uppercase())
                    .collect(),
                message: error.to_string(),
            },
            HubSpotError::RuleViolation { rules, .. } => {
                let mut ids: Vec<String> = rules.iter().flat_map(|r| r.ids.clone()).collect();
                ids.sort();
                ids.dedup();
                let mut names: Vec<String> = rules.iter().map(|r| r.message.clone()).collect();
                names.sort();
                names.dedup();
                CallFailure::RuleBroken {
                    rules: names,
                    ids,
                    message: error.to_string(),
                }
            }
            HubSpotError::Server { .. }
            | HubSpotError::Locked { .. }
            | HubSpotError::Transport { .. }
            | HubSpotError::Decode { .. } => CallFailure::Transient(error.to_string()),
            _ => CallFailure::Permanent(error.to_string()),
        }
    }
}
