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
    /// HubSpot says a property every write needs does not exist (it was deleted): `email` on
    /// contacts or the deal key `stripe_payment_id`. Without it every payment would be
    /// rejected, so the engine pauses instead of dead-lettering them, and resumes once the
    /// property exists again.
    MissingCoreProperty {
        /// `contacts` or `deals`.
        object: &'static str,
        /// The property's internal name.
        property: String,
    },
    /// The properties bootstrap failed in a way retrying soon will not fix; it is retried
    /// while the sync stays paused.
    Bootstrap(String),
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
            PauseReason::MissingProperties(properties) => write!(
                f,
                "the HubSpot deal properties [{}] are missing and the token may not create them; every deal is upserted by the unique property {}, so no deal is written until it exists. Grant the service key (or private-app token) the scope crm.schemas.deals.write (and crm.schemas.contacts.write for the contact rollups), or create {} by hand in HubSpot as a single-line text deal property with \"unique values\" on",
                properties.join(", "),
                super::DEAL_ID_PROPERTY,
                super::DEAL_ID_PROPERTY,
            ),
            PauseReason::Manual => f.write_str("paused by the operator"),
            PauseReason::MissingCoreProperty { object, property } => write!(
                f,
                "HubSpot says the {object} property `{property}` does not exist (was it deleted?); every write needs it. Restore it in HubSpot (Settings > Properties; `{DEAL_KEY}` must have unique values) or let the sync recreate it by restarting with a token that has crm.schemas.{object}.write",
                DEAL_KEY = super::DEAL_ID_PROPERTY,
            ),
            PauseReason::Bootstrap(message) => write!(
                f,
                "the custom HubSpot properties could not be checked or created ({message}); retrying"
            ),
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
    /// This worker may no longer write for its batch: the process lost leadership, or a lease
    /// of the batch was lost. The jobs go back to the queue without consuming an attempt.
    Fenced(&'static str),
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
                unknown_properties, ..
            } if missing_core(unknown_properties, &error.to_string()).is_some() => {
                let (object, property) =
                    missing_core(unknown_properties, &error.to_string()).unwrap_or_default();
                CallFailure::Pause(PauseReason::MissingCoreProperty {
                    object,
                    property: property.to_owned(),
                })
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
                message: hubspot_crm::redact(&error.to_string()),
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
                    message: hubspot_crm::redact(&error.to_string()),
                }
            }
            // A 409 on an upsert is a race with another writer (or HubSpot's own indexing):
            // the same upsert succeeds on a retry.
            HubSpotError::Server { .. }
            | HubSpotError::Locked { .. }
            | HubSpotError::Conflict { .. }
            | HubSpotError::Transport { .. }
            | HubSpotError::Decode { .. } => {
                CallFailure::Transient(hubspot_crm::redact(&error.to_string()))
            }
            _ => CallFailure::Permanent(hubspot_crm::redact(&error.to_string())),
        }
    }
}

/// The core property a 400 says is gone, with its object type: `email` (contacts) or the deal
/// key, named unknown, or the deal key refused as `idProperty` (HubSpot's answer when the
/// unique property an upsert is keyed by was deleted or lost its uniqueness). Anything else
/// can be stripped and the rest synced.
fn missing_core(unknown: &[String], message: &str) -> Option<(&'static str, &'static str)> {
    let deal_key = super::DEAL_ID_PROPERTY;
    let named = unknown.iter().find_map(|name| match name.as_str() {
        "email" => Some(("contacts", "email")),
        name if name == deal_key => Some(("deals", deal_key)),
        _ => None,
    });
    named.or_else(|| {
        (message.contains("idProperty") && message.contains(deal_key))
            .then_some(("deals", deal_key))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_email_and_the_deal_key_count_as_core() {
        let key = crate::DEAL_ID_PROPERTY;
        assert_eq!(
            missing_core(&["x".into(), "email".into()], ""),
            Some(("contacts", "email"))
        );
        assert_eq!(missing_core(&[key.into()], ""), Some(("deals", key)));
        let refused = format!("{key} is not a unique property and cannot be used as idProperty");
        assert_eq!(missing_core(&[], &refused), Some(("deals", key)));
        assert_eq!(
            missing_core(&["firstname".into(), "amount".into()], ""),
            None
        );
    }
}
