//! The error model: every HubSpot answer a caller must treat differently is its own variant.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::Deserialize;

/// Everything that can go wrong when talking to HubSpot.
///
/// Variants that come from a HubSpot answer carry [`ErrorDetails`] (status, message,
/// correlation id, category and HubSpot's `errors[]`). Messages never contain the token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// 401: the token is missing, invalid, expired or revoked.
    #[error("HubSpot rejected the access token (401{}): {}; check the service key (or private-app token) and rotate it if it was revoked{}",
        cat(.details), .details.message, cid(.details))]
    Unauthorized {
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 403: the token lacks scopes (category `MISSING_SCOPES`) or the portal forbids the call.
    #[error("HubSpot refused the call (403{}): {}; grant the service key (or private app) these scopes: [{}]{}",
        cat(.details), .details.message, .missing_scopes.join(", "), cid(.details))]
    Forbidden {
        /// Scopes HubSpot named as required (`requiredGranularScopes`, `requiredScopes`, ...).
        missing_scopes: Vec<String>,
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 400 (and other 4xx that reject the request itself): the input was not valid.
    #[error("HubSpot rejected the input ({}{}): {}{}{}",
        .details.status, cat(.details), .details.message, validation_hint(.unknown_properties, .invalid_options, .invalid_values), cid(.details))]
    Validation {
        /// Properties that do not exist on the object type (`PROPERTY_DOESNT_EXIST`).
        unknown_properties: Vec<String>,
        /// Enumeration values that are not among the property's options (`INVALID_OPTION`).
        invalid_options: Vec<PropertyError>,
        /// Other invalid property values HubSpot named (`INVALID_EMAIL`, `INVALID_INTEGER`, ...).
        invalid_values: Vec<PropertyError>,
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 400: the write breaks a validation rule the portal's admin configured (enforced on
    /// API writes from version 2026-09, e.g. "close date required when the deal is closed
    /// won"). Retrying the same data fails again: fix the data or ask the admin about
    /// the rule. In a batch, HubSpot rejects every input; [`ViolatedRule::ids`] names the
    /// inputs it blames when HubSpot says.
    #[error("HubSpot rejected the write: it breaks a validation rule of the portal ({}{}): {}; send the properties the rule asks for or ask a HubSpot admin about the rule (retrying the same data fails again){}",
        .details.status, cat(.details), rules_hint(.rules), cid(.details))]
    RuleViolation {
        /// The rules broken, as HubSpot named them.
        rules: Vec<ViolatedRule>,
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 409: the object already exists; `existing_id` is parsed from "Existing ID: N".
    #[error("HubSpot reports a conflict (409): {}; update the existing object {} instead{}",
        .details.message, .existing_id.as_deref().unwrap_or("(id not given)"), cid(.details))]
    Conflict {
        /// The id of the object that already exists, when HubSpot names it.
        existing_id: Option<String>,
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 404: the object, property or endpoint does not exist.
    #[error("HubSpot found nothing (404): {}; check the id or idProperty{}", .details.message, cid(.details))]
    NotFound {
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 429: a rate limit was hit.
    #[error("HubSpot rate limit hit (429 {policy}): {}; wait {} before sending more{}",
        .details.message, wait_hint(.retry_after, policy), cid(.details))]
    RateLimited {
        /// Which limit was hit (`policyName`).
        policy: RateLimitPolicy,
        /// How long HubSpot asked us to wait (`Retry-After`), if it said.
        retry_after: Option<Duration>,
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 423: the object is locked by another operation; retry shortly.
    #[error("HubSpot object is locked (423): {}; retry shortly{}", .details.message, cid(.details))]
    Locked {
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// 5xx: HubSpot (or a proxy in front of it) failed.
    #[error("HubSpot server error ({}): {}; retry with backoff{}", .details.status, .details.message, cid(.details))]
    Server {
        /// What HubSpot said.
        details: Box<ErrorDetails>,
    },
    /// The request did not complete: connect failure, timeout, reset.
    #[error("could not reach HubSpot ({kind}): {source}; check the network or base URL and retry")]
    Transport {
        /// What kind of transport failure.
        kind: TransportKind,
        /// The underlying error (its URL is stripped: paths can contain e-mail addresses).
        #[source]
        source: reqwest::Error,
    },
    /// HubSpot answered, but the body could not be understood.
    #[error("could not decode HubSpot's {status} answer: {message}; this is a bug or an API change, report it{}",
        correlation_id.as_deref().map(|c| format!(" (correlation id {c})")).unwrap_or_default())]
    Decode {
        /// HTTP status of the answer.
        status: u16,
        /// What was wrong with the body.
        message: String,
        /// Correlation id from the `X-HubSpot-Correlation-Id` header, if any.
        correlation_id: Option<String>,
    },
    /// A batch call got more inputs than HubSpot accepts; nothing was sent.
    #[error("a batch holds at most {max} inputs but {got} were given; split the batch (nothing was sent)")]
    TooManyInputs {
        /// The most inputs one call takes.
        max: usize,
        /// How many were given.
        got: usize,
    },
    /// The arguments were rejected before sending; nothing was sent.
    #[error("invalid input: {0} (nothing was sent)")]
    InvalidInput(String),
}

fn cat(d: &ErrorDetails) -> String {
    d.category
        .as_deref()
        .map(|c| format!(" {c}"))
        .unwrap_or_default()
}

fn cid(d: &ErrorDetails) -> String {
    d.correlation_id
        .as_deref()
        .map(|c| format!(" (correlation id {c})"))
        .unwrap_or_default()
}

fn wait_hint(retry_after: &Option<Duration>, policy: &RateLimitPolicy) -> String {
    match (retry_after, policy) {
        (Some(d), _) => format!("{} ms", d.as_millis()),
        (None, RateLimitPolicy::Daily) => "until the daily quota resets".to_owned(),
        (None, RateLimitPolicy::Secondly) => "a second".to_owned(),
        (None, _) => "up to ten seconds".to_owned(),
    }
}

fn validation_hint(
    unknown: &[String],
    options: &[PropertyError],
    values: &[PropertyError],
) -> String {
    let mut out = String::new();
    if !unknown.is_empty() {
        out.push_str(&format!(
            "; create these properties or stop sending them: [{}]",
            unknown.join(", ")
        ));
    }
    for e in options.iter().chain(values) {
        out.push_str(&format!(
            "; fix {} ({})",
            e.property.as_deref().unwrap_or("a property"),
            e.code
        ));
    }
    out
}

fn rules_hint(rules: &[ViolatedRule]) -> String {
    let parts: Vec<String> = rules
        .iter()
        .map(|r| {
            let mut part = if r.message.is_empty() {
                r.code.clone()
            } else {
                r.message.clone()
            };
            if !r.properties.is_empty() {
                part.push_str(&format!(" [{}]", r.properties.join(", ")));
            }
            part
        })
        .collect();
    if parts.is_empty() {
        "a validation rule".to_owned()
    } else {
        parts.join("; ")
    }
}

/// One validation rule a write broke, as HubSpot's answer names it.
///
/// HubSpot documents the answer only as a 400 `VALIDATION_ERROR` naming the rule; this
/// crate recognises a rule by its code: one containing `REQUIRED` (required and
/// conditionally required properties) or `RULE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ViolatedRule {
    /// The rule's message as the portal admin wrote it (or HubSpot's wording).
    pub message: String,
    /// HubSpot's error code.
    pub code: String,
    /// The properties the rule is about.
    pub properties: Vec<String>,
    /// The batch inputs HubSpot blames (their `id`s), when it says.
    pub ids: Vec<String>,
}

/// Whether an error code names an admin-configured rule rather than a malformed value.
pub(crate) fn is_rule_code(code: &str) -> bool {
    let code = code.to_ascii_uppercase();
    code.contains("REQUIRED") || code.contains("RULE")
}

fn violated_rules(d: &ErrorDetails) -> Vec<ViolatedRule> {
    if d.category.as_deref() != Some("VALIDATION_ERROR") {
        return Vec::new();
    }
    let mut out: Vec<ViolatedRule> = d
        .errors
        .iter()
        .filter(|e| e.code.as_deref().is_some_and(is_rule_code))
        .map(|e| ViolatedRule {
            message: e.message.clone(),
            code: e.code.clone().unwrap_or_default(),
            properties: e.context.get("propertyName").cloned().unwrap_or_default(),
            ids: e.context.get("ids").cloned().unwrap_or_default(),
        })
        .collect();
    if out.is_empty() {
        // The embedded form: "Property values were not valid: [{..,"error":"..","name":".."}]".
        if let Some(start) = d.message.find('[') {
            if let Ok(list) =
                serde_json::from_str::<Vec<EmbeddedPropertyError>>(d.message[start..].trim_end())
            {
                out = list
                    .into_iter()
                    .filter(|e| is_rule_code(&e.error))
                    .map(|e| ViolatedRule {
                        message: e.message,
                        code: e.error,
                        properties: e.name.into_iter().collect(),
                        ids: Vec::new(),
                    })
                    .collect();
            }
        }
    }
    out
}

/// Which kind of transport failure happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportKind {
    /// The connection could not be established (the request was never sent).
    Connect,
    /// The request or response took longer than the configured timeout.
    Timeout,
    /// The connection broke while sending or receiving.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Connect => "connect",
            TransportKind::Timeout => "timeout",
            TransportKind::Other => "connection",
        })
    }
}

/// Which HubSpot rate limit was hit (`policyName` in a 429 body).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RateLimitPolicy {
    /// The rolling 10-second burst limit; clears within seconds.
    TenSecondlyRolling,
    /// The per-second limit (search endpoints); clears within a second.
    Secondly,
    /// The daily limit; clears at midnight in the portal's time zone. Do not retry.
    Daily,
    /// A policy this crate does not know, as HubSpot named it (empty when absent).
    Other(String),
}

impl RateLimitPolicy {
    /// Parses HubSpot's `policyName`.
    pub fn from_policy_name(name: &str) -> Self {
        match name.trim().to_ascii_uppercase().as_str() {
            "TEN_SECONDLY_ROLLING" => Self::TenSecondlyRolling,
            "SECONDLY" => Self::Secondly,
            "DAILY" => Self::Daily,
            _ => Self::Other(name.to_owned()),
        }
    }
}

impl fmt::Display for RateLimitPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TenSecondlyRolling => f.write_str("TEN_SECONDLY_ROLLING"),
            Self::Secondly => f.write_str("SECONDLY"),
            Self::Daily => f.write_str("DAILY"),
            Self::Other(s) if s.is_empty() => f.write_str("unknown policy"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

/// The common part of every HubSpot error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    /// HTTP status code.
    pub status: u16,
    /// HubSpot's `message` (or a short description when the body was not JSON).
    pub message: String,
    /// HubSpot's `correlationId` (body) or `X-HubSpot-Correlation-Id` (header).
    pub correlation_id: Option<String>,
    /// HubSpot's `category` (`VALIDATION_ERROR`, `CONFLICT`, `MISSING_SCOPES`, ...).
    pub category: Option<String>,
    /// HubSpot's `subCategory`, if any.
    pub sub_category: Option<String>,
    /// HubSpot's `errors[]`.
    pub errors: Vec<ErrorDetail>,
}

/// One entry of HubSpot's `errors[]` array.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ErrorDetail {
    /// Human-readable message.
    #[serde(deserialize_with = "lenient_string")]
    pub message: String,
    /// Machine code such as `PROPERTY_DOESNT_EXIST` or `INVALID_EMAIL`.
    #[serde(deserialize_with = "lenient_opt_string")]
    pub code: Option<String>,
    /// Sub-category, if any.
    #[serde(deserialize_with = "lenient_opt_string")]
    pub sub_category: Option<String>,
    /// Name of the field the error is about, if any.
    #[serde(rename = "in", deserialize_with = "lenient_opt_string")]
    pub in_: Option<String>,
    /// Context such as `propertyName: ["foo"]`; every value flattened to a list of strings.
    #[serde(deserialize_with = "lenient_context")]
    pub context: BTreeMap<String, Vec<String>>,
}

/// One invalid property value HubSpot named.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyError {
    /// HubSpot's code (`INVALID_OPTION`, `INVALID_EMAIL`, ...).
    pub code: String,
    /// The property, when named.
    pub property: Option<String>,
    /// The offending value, when HubSpot's message names it.
    pub value: Option<String>,
    /// HubSpot's message.
    pub message: String,
}

/// One per-input failure of a batch call (HubSpot's `StandardError` in a 207 answer).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct BatchError {
    /// `status` as HubSpot wrote it (usually `"error"`).
    #[serde(deserialize_with = "lenient_string")]
    pub status: String,
    /// `category`, e.g. `VALIDATION_ERROR` or `OBJECT_NOT_FOUND`.
    #[serde(deserialize_with = "lenient_opt_string")]
    pub category: Option<String>,
    /// `subCategory`, if any.
    #[serde(deserialize_with = "lenient_opt_string")]
    pub sub_category: Option<String>,
    /// Human-readable message.
    #[serde(deserialize_with = "lenient_string")]
    pub message: String,
    /// `id`, if HubSpot gave one.
    #[serde(deserialize_with = "lenient_opt_string")]
    pub id: Option<String>,
    /// Context naming the failed inputs, e.g. `ids: ["a@example.com"]` or `propertyName: [...]`.
    #[serde(deserialize_with = "lenient_context")]
    pub context: BTreeMap<String, Vec<String>>,
    /// Nested details.
    #[serde(deserialize_with = "lenient_errors")]
    pub errors: Vec<ErrorDetail>,
}

impl BatchError {
    /// Whether this failure is a broken validation rule of the portal (a code containing
    /// `REQUIRED` or `RULE` in `errors[]`): resending the same input fails again.
    pub fn is_rule_violation(&self) -> bool {
        self.category.as_deref() == Some("VALIDATION_ERROR")
            && self
                .errors
                .iter()
                .any(|e| e.code.as_deref().is_some_and(is_rule_code))
    }

    /// The error with every e-mail address in its messages replaced (HubSpot's messages quote
    /// the values they refuse, and these texts reach logs and alerts); ids, context and the
    /// "Existing ID: N" a message names are kept.
    pub(crate) fn redacted(mut self) -> Self {
        self.message = crate::redact::redact(&self.message);
        for e in &mut self.errors {
            e.message = crate::redact::redact(&e.message);
        }
        self
    }

    /// Ids or input values this error names (`context.ids`, then `id`).
    pub fn ids(&self) -> Vec<&str> {
        let mut out: Vec<&str> = self
            .context
            .get("ids")
            .map(|v| v.iter().map(String::as_str).collect())
            .unwrap_or_default();
        if let Some(id) = &self.id {
            out.push(id);
        }
        out
    }
}

impl Error {
    /// Whether retrying the same request later can succeed: transport errors, 5xx, 423 and
    /// 429 other than the daily limit.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Transport { .. } | Error::Server { .. } | Error::Locked { .. } => true,
            Error::RateLimited { policy, .. } => *policy != RateLimitPolicy::Daily,
            _ => false,
        }
    }

    /// How long HubSpot asked us to wait, if it said (`Retry-After` on a 429).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::RateLimited { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// HubSpot's correlation id, for support tickets.
    pub fn correlation_id(&self) -> Option<&str> {
        match self {
            Error::Decode { correlation_id, .. } => correlation_id.as_deref(),
            other => other.details()?.correlation_id.as_deref(),
        }
    }

    /// The HTTP status HubSpot answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Decode { status, .. } => Some(*status),
            other => other.details().map(|d| d.status),
        }
    }

    /// The details of a HubSpot answer, for variants that come from one.
    pub fn details(&self) -> Option<&ErrorDetails> {
        match self {
            Error::Unauthorized { details }
            | Error::Forbidden { details, .. }
            | Error::Validation { details, .. }
            | Error::RuleViolation { details, .. }
            | Error::Conflict { details, .. }
            | Error::NotFound { details }
            | Error::RateLimited { details, .. }
            | Error::Locked { details }
            | Error::Server { details } => Some(details.as_ref()),
            _ => None,
        }
    }

    pub(crate) fn transport(e: reqwest::Error) -> Self {
        let kind = if e.is_connect() {
            TransportKind::Connect
        } else if e.is_timeout() {
            TransportKind::Timeout
        } else {
            TransportKind::Other
        };
        Error::Transport {
            kind,
            source: e.without_url(),
        }
    }

    /// Classifies a non-success answer. `body` may be anything: JSON, HTML, empty.
    pub(crate) fn from_response(
        status: u16,
        header_correlation_id: Option<String>,
        retry_after: Option<Duration>,
        body: &[u8],
    ) -> Self {
        let raw: RawErrorBody = serde_json::from_slice(body).unwrap_or_default();
        let message = raw.message.clone().unwrap_or_else(|| {
            if body.is_empty() {
                "empty body".to_owned()
            } else {
                "the body was not HubSpot's JSON error format".to_owned()
            }
        });
        // Read before redaction: a 409 names the existing object's id next to its email.
        let conflict_id = existing_id(&message);
        let message = crate::redact::redact(&message);
        // Nested messages quote values too ("A contact with email ... already exists").
        let errors = raw
            .errors
            .iter()
            .cloned()
            .map(|mut e| {
                e.message = crate::redact::redact(&e.message);
                e
            })
            .collect();
        let details = Box::new(ErrorDetails {
            status,
            message,
            correlation_id: raw.correlation_id.clone().or(header_correlation_id),
            category: raw.category.clone(),
            sub_category: raw.sub_category.clone(),
            errors,
        });
        match status {
            401 => Error::Unauthorized { details },
            403 => Error::Forbidden {
                missing_scopes: missing_scopes(&details),
                details,
            },
            404 => Error::NotFound { details },
            409 => Error::Conflict {
                existing_id: conflict_id,
                details,
            },
            423 => Error::Locked { details },
            429 => Error::RateLimited {
                policy: RateLimitPolicy::from_policy_name(raw.policy_name.as_deref().unwrap_or("")),
                retry_after,
                details,
            },
            500..=599 => Error::Server { details },
            400 if !violated_rules(&details).is_empty() => Error::RuleViolation {
                rules: violated_rules(&details),
                details,
            },
            400..=499 => {
                let (unknown_properties, invalid_options, invalid_values) =
                    validation_parts(&details);
                Error::Validation {
                    unknown_properties,
                    invalid_options,
                    invalid_values,
                    details,
                }
            }
            _ => Error::Decode {
                status,
                message: format!("unexpected HTTP status {status}"),
                correlation_id: details.correlation_id,
            },
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct RawErrorBody {
    #[serde(deserialize_with = "lenient_opt_string")]
    message: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    correlation_id: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    category: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    sub_category: Option<String>,
    #[serde(deserialize_with = "lenient_opt_string")]
    policy_name: Option<String>,
    #[serde(deserialize_with = "lenient_errors")]
    errors: Vec<ErrorDetail>,
}

fn missing_scopes(d: &ErrorDetails) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for e in &d.errors {
        for (k, v) in &e.context {
            if k.to_ascii_lowercase().contains("scopes") {
                for s in v {
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
            }
        }
    }
    out
}

/// "Contact already exists. Existing ID: 12345" -> "12345".
pub(crate) fn existing_id(message: &str) -> Option<String> {
    let idx = message.find("Existing ID:")?;
    let id: String = message[idx + "Existing ID:".len()..]
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect();
    (!id.is_empty()).then_some(id)
}

/// The legacy v1-style entries HubSpot embeds in the message:
/// `Property values were not valid: [{"isValid":false,"message":..,"error":"INVALID_EMAIL","name":"email"}]`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct EmbeddedPropertyError {
    #[serde(deserialize_with = "lenient_string")]
    message: String,
    #[serde(deserialize_with = "lenient_string")]
    error: String,
    #[serde(deserialize_with = "lenient_opt_string")]
    name: Option<String>,
}

fn validation_parts(d: &ErrorDetails) -> (Vec<String>, Vec<PropertyError>, Vec<PropertyError>) {
    let mut found: Vec<PropertyError> = Vec::new();
    for e in &d.errors {
        let code = e.code.clone().unwrap_or_default();
        let names = e.context.get("propertyName").cloned().unwrap_or_default();
        if names.is_empty() {
            found.push(PropertyError {
                value: offending_value(&code, &e.message),
                code: code.clone(),
                property: None,
                message: e.message.clone(),
            });
        }
        for name in names {
            found.push(PropertyError {
                value: offending_value(&code, &e.message),
                code: code.clone(),
                property: Some(name),
                message: e.message.clone(),
            });
        }
    }
    if let Some(start) = d.message.find('[') {
        if let Ok(list) =
            serde_json::from_str::<Vec<EmbeddedPropertyError>>(d.message[start..].trim_end())
        {
            for e in list {
                let dup = found
                    .iter()
                    .any(|f| f.code == e.error && f.property == e.name);
                if !dup && !e.error.is_empty() {
                    found.push(PropertyError {
                        value: offending_value(&e.error, &e.message),
                        code: e.error,
                        property: e.name,
                        message: e.message,
                    });
                }
            }
        }
    }
    let mut unknown = Vec::new();
    let mut options = Vec::new();
    let mut values = Vec::new();
    for f in found {
        match f.code.as_str() {
            "PROPERTY_DOESNT_EXIST" => {
                let name = f
                    .property
                    .clone()
                    .or_else(|| quoted(&f.message).map(str::to_owned));
                if let Some(name) = name {
                    if !unknown.contains(&name) {
                        unknown.push(name);
                    }
                }
            }
            "INVALID_OPTION" => options.push(f),
            "" => {}
            _ => values.push(f),
        }
    }
    (unknown, options, values)
}

/// The first `"..."` in a message: `Property "foo" does not exist` -> `foo`.
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('"')? + 1;
    let len = message[start..].find('"')?;
    Some(&message[start..start + len])
}

/// Pulls the offending value out of HubSpot's wording, when it names one.
fn offending_value(code: &str, message: &str) -> Option<String> {
    let v = match code {
        // "Email address foo@bar is invalid"
        "INVALID_EMAIL" => message
            .strip_prefix("Email address ")
            .and_then(|rest| rest.rsplit_once(" is invalid").map(|(v, _)| v)),
        // "gold was not one of the allowed options: [...]"
        "INVALID_OPTION" => message
            .split_once(" was not one of the allowed options")
            .map(|(v, _)| v),
        // "foo is not a valid integer" and similar
        _ => message.split_once(" is not a valid ").map(|(v, _)| v),
    }?;
    Some(v.trim().to_owned())
}

fn lenient_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(lenient_opt_string(d)?.unwrap_or_default())
}

fn lenient_opt_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

fn lenient_context<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, Vec<String>>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    let mut out = BTreeMap::new();
    if let serde_json::Value::Object(map) = v {
        for (k, v) in map {
            let list = match v {
                serde_json::Value::Array(items) => items.into_iter().map(value_string).collect(),
                serde_json::Value::Null => Vec::new(),
                other => vec![value_string(other)],
            };
            out.insert(k, list);
        }
    }
    Ok(out)
}

fn lenient_errors<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<ErrorDetail>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}

pub(crate) fn lenient_batch_errors<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<BatchError>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|i| serde_json::from_value(i).ok())
            .collect(),
        _ => Vec::new(),
    })
}

fn value_string(v: serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_violations_are_told_apart_from_bad_values() {
        let body = br#"{"status":"error","category":"VALIDATION_ERROR",
            "message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Close date is required\",\"error\":\"CONDITIONALLY_REQUIRED_PROPERTY\",\"name\":\"closedate\"}]"}"#;
        match Error::from_response(400, None, None, body) {
            Error::RuleViolation { rules, .. } => {
                assert_eq!(rules.len(), 1);
                assert_eq!(rules[0].properties, vec!["closedate".to_owned()]);
                assert_eq!(rules[0].message, "Close date is required");
            }
            other => panic!("unexpected {other:?}"),
        }
        let bad_value = br#"{"status":"error","category":"VALIDATION_ERROR",
            "message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Enter only letters\",\"error\":\"INVALID_ALPHA\",\"name\":\"firstname\"}]"}"#;
        assert!(matches!(
            Error::from_response(400, None, None, bad_value),
            Error::Validation { .. }
        ));
    }

    #[test]
    fn existing_id_is_parsed() {
        assert_eq!(
            existing_id("Contact already exists. Existing ID: 37765128953").as_deref(),
            Some("37765128953")
        );
        assert_eq!(existing_id("Contact already exists."), None);
        assert_eq!(existing_id("Existing ID: "), None);
    }

    #[test]
    fn html_body_still_classifies_by_status() {
        let e = Error::from_response(502, None, None, b"<html><body>Bad gateway</body></html>");
        assert!(matches!(e, Error::Server { .. }));
        assert!(e.is_retryable());
        let e = Error::from_response(401, Some("abc".into()), None, b"");
        assert!(matches!(e, Error::Unauthorized { .. }));
        assert_eq!(e.correlation_id(), Some("abc"));
    }

    #[test]
    fn odd_json_types_do_not_fail() {
        let body = br#"{"message":5,"errors":{"x":1},"category":null,"policyName":["a"]}"#;
        let e = Error::from_response(400, None, None, body);
        match e {
            Error::Validation { details, .. } => assert_eq!(details.message, "5"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn offending_values_are_extracted() {
        assert_eq!(
            offending_value("INVALID_EMAIL", "Email address not-an-email is invalid").as_deref(),
            Some("not-an-email")
        );
        assert_eq!(
            offending_value(
                "INVALID_OPTION",
                "gold was not one of the allowed options: [a, b]"
            )
            .as_deref(),
            Some("gold")
        );
    }
}
