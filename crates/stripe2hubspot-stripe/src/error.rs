//! What can go wrong talking to Stripe, each with the request id and what to do about it.

use std::fmt;

/// Stripe's id of one request (`Request-Id` response header, `req_...`): quote it to Stripe
/// support or find it in the Dashboard's request logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestId(pub Option<String>);

impl RequestId {
    /// The id, when Stripe sent one.
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(id) => f.write_str(id),
            None => f.write_str("without a request id"),
        }
    }
}

/// The machine-readable part of a Stripe error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorDetails {
    /// Stripe's error `type` (`invalid_request_error`, `api_error`, ...).
    pub error_type: Option<String>,
    /// Stripe's error `code` (`resource_missing`, ...).
    pub code: Option<String>,
    /// Stripe's error `param`, when one parameter was wrong.
    pub param: Option<String>,
}

/// Why a request never got an HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportKind {
    /// The attempt timed out.
    Timeout,
    /// No connection could be made.
    Connect,
    /// The connection broke while sending or reading.
    Other,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::Timeout => "timed out",
            TransportKind::Connect => "could not connect",
            TransportKind::Other => "connection failed",
        })
    }
}

/// Errors of the Stripe client. Messages name the Stripe request id and what to do; they never
/// contain the API key (Stripe's own messages are scrubbed of the partial keys they quote).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The client could not be built from its settings.
    #[error("invalid Stripe client settings: {0}")]
    Config(String),

    /// A call was given arguments that cannot make a valid request; nothing was sent.
    #[error("invalid Stripe request: {0}")]
    InvalidInput(String),

    /// 401: Stripe did not accept the key.
    #[error("Stripe rejected the API key (401, request {request_id}): check STRIPE_SECRET_KEY; it must be a current secret key (sk_...) or restricted key (rk_...) of this account, in the mode (test or live) you mean to read")]
    Unauthorized {
        /// Stripe's request id.
        request_id: RequestId,
    },

    /// 403: the key may not read this resource (usually a restricted key without the read
    /// permission).
    #[error("Stripe refused {endpoint} (403, request {request_id}): the key lacks the \"{permission}\" permission{detail}; edit the restricted key in the Stripe Dashboard (Developers > API keys) to grant it, or use a secret key")]
    Forbidden {
        /// The endpoint, e.g. `/v1/charges`.
        endpoint: String,
        /// Stripe's request id.
        request_id: RequestId,
        /// The missing permission as the Dashboard names it, e.g. `Charges: Read`.
        permission: String,
        /// Stripe's own permission name, when its message gave one (e.g. ` (Stripe: rak_charge_read)`).
        detail: String,
    },

    /// 404: the object does not exist in this account and mode.
    #[error("Stripe has no {endpoint} (404, request {request_id}): {message}; check that the key belongs to the account and mode (test or live) of the object")]
    NotFound {
        /// The path requested.
        endpoint: String,
        /// Stripe's request id.
        request_id: RequestId,
        /// Stripe's message, scrubbed of keys.
        message: String,
    },

    /// 429 on every attempt.
    #[error("Stripe kept rate limiting {endpoint} ({attempts} attempts, last request {request_id}): lower the Stripe read rate or run again later; other integrations on this account share the limit")]
    RateLimited {
        /// The endpoint.
        endpoint: String,
        /// Stripe's request id of the last attempt.
        request_id: RequestId,
        /// Attempts made.
        attempts: u32,
    },

    /// 5xx on every attempt (or one Stripe said not to retry).
    #[error("Stripe failed on {endpoint} with {status} ({attempts} attempts, last request {request_id}): run again later (the work done so far is kept); if it persists, check https://status.stripe.com")]
    Server {
        /// The endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Stripe's request id of the last attempt.
        request_id: RequestId,
        /// Attempts made.
        attempts: u32,
    },

    /// Any other error answer (400, 402, 409, ...).
    #[error("Stripe answered {status} to {endpoint} (request {request_id}): {message}")]
    Api {
        /// The endpoint.
        endpoint: String,
        /// HTTP status.
        status: u16,
        /// Stripe's request id.
        request_id: RequestId,
        /// Stripe's error `type`, `code` and `param`.
        details: Box<ErrorDetails>,
        /// Stripe's message, scrubbed of keys.
        message: String,
    },

    /// No HTTP answer on any attempt.
    #[error("could not reach Stripe for {endpoint} ({kind}, {attempts} attempts): check the network and STRIPE_API_BASE ({detail})")]
    Transport {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        kind: TransportKind,
        /// Attempts made.
        attempts: u32,
        /// The underlying error, without the URL.
        detail: String,
    },

    /// A 2xx answer that is not what the endpoint returns.
    #[error("Stripe's answer to {endpoint} (request {request_id}) could not be read: {detail}; check that STRIPE_API_BASE points at Stripe")]
    Decode {
        /// The endpoint.
        endpoint: String,
        /// Stripe's request id.
        request_id: RequestId,
        /// What did not match.
        detail: String,
    },
}

impl Error {
    /// Stripe's request id, when the error came from an answer.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Unauthorized { request_id }
            | Error::Forbidden { request_id, .. }
            | Error::NotFound { request_id, .. }
            | Error::RateLimited { request_id, .. }
            | Error::Server { request_id, .. }
            | Error::Api { request_id, .. }
            | Error::Decode { request_id, .. } => request_id.as_deref(),
            Error::Config(_) | Error::InvalidInput(_) | Error::Transport { .. } => None,
        }
    }

    /// Whether running again later may succeed without changing anything (rate limits,
    /// Stripe outages, network faults).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            Error::RateLimited { .. } | Error::Server { .. } | Error::Transport { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_request_id_and_the_fix() {
        let e = Error::Unauthorized {
            request_id: RequestId(Some("req_123".into())),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("req_123") && msg.contains("STRIPE_SECRET_KEY"),
            "{msg}"
        );
        assert_eq!(e.request_id(), Some("req_123"));
        let e = Error::Forbidden {
            endpoint: "/v1/disputes".into(),
            request_id: RequestId(None),
            permission: "Disputes: Read".into(),
            detail: String::new(),
        };
        let msg = e.to_string();
        assert!(
            msg.contains("\"Disputes: Read\"") && msg.contains("without a request id"),
            "{msg}"
        );
        assert!(!e.is_transient());
    }
}
