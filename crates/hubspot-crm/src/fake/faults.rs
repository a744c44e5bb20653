//! Injected failures: error answers, delays and dropped connections.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Bytes;
use serde_json::Value;

use super::rate_limits::rate_limit_body;
use super::replies::{error_body, missing_scopes_body, unauthorized_body};
use super::state::FakeState;

/// A failure to inject into upcoming requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// Answer with this status; `None` body means HubSpot's usual body for the status.
    Status(u16, Option<String>),
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Start the answer, then break the connection.
    DropConnection,
    /// Answer 429 with this `Retry-After` header value, verbatim (any text, to test parsers).
    RetryAfter(String),
    /// Handle the request normally (a create commits), then answer with this status and
    /// HubSpot's usual body for it: an answer lost after HubSpot committed, as a 5xx from a
    /// proxy or a timeout the client gave up on shows it.
    AfterCommit(u16),
}

#[derive(Debug, Clone)]
pub(super) struct Injection {
    pub(super) remaining: usize,
    pub(super) method: Option<String>,
    pub(super) path_prefix: Option<String>,
    pub(super) failure: Failure,
}

pub(super) fn default_failure_body(status: u16) -> Value {
    match status {
        401 => unauthorized_body(),
        403 => missing_scopes_body(&["crm.objects.contacts.write".to_owned()]),
        404 => error_body("resource not found", "OBJECT_NOT_FOUND"),
        409 => error_body("Contact already exists. Existing ID: 1", "CONFLICT"),
        423 => error_body("The object is locked by another operation", "LOCKED"),
        429 => rate_limit_body("TEN_SECONDLY_ROLLING"),
        500..=599 => error_body("internal error", "INTERNAL_ERROR"),
        _ => error_body("injected failure", "VALIDATION_ERROR"),
    }
}

pub(super) struct BrokenBody;

impl http_body::Body for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "FakeHubSpot dropped the connection",
        ))))
    }
}

/// The failure to inject into this request, if an injection matches; spends one use of it.
pub(super) fn take_injection(state: &mut FakeState, method: &str, path: &str) -> Option<Failure> {
    let found = state.injections.iter_mut().find(|injection| {
        injection.remaining > 0
            && injection.method.as_deref().is_none_or(|m| m == method)
            && injection
                .path_prefix
                .as_deref()
                .is_none_or(|prefix| path.starts_with(prefix))
    });
    let failure = found.map(|injection| {
        injection.remaining -= 1;
        injection.failure.clone()
    });
    state.injections.retain(|injection| injection.remaining > 0);
    failure
}
