//! The admin HTTP API and `/healthz` on axum.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;

use super::{replay, DeadLetterView, ReplayError, StatusSource};

/// Shortest admin token accepted: anything shorter is guessable.
pub const MIN_ADMIN_TOKEN_LEN: usize = 16;

/// The bearer token every admin route requires. `Debug` never shows it.
#[derive(Clone)]
pub struct AdminToken(Arc<str>);

/// An admin token too short to be safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the admin token must be at least {MIN_ADMIN_TOKEN_LEN} characters without whitespace: generate one with `openssl rand -hex 32`")]
pub struct InvalidAdminToken;

impl AdminToken {
    /// Accepts a token of at least [`MIN_ADMIN_TOKEN_LEN`] characters without whitespace.
    pub fn new(token: &str) -> Result<AdminToken, InvalidAdminToken> {
        if token.len() < MIN_ADMIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
            return Err(InvalidAdminToken);
        }
        Ok(AdminToken(Arc::from(token)))
    }

    /// The token itself, for a client that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether an `Authorization` header value is `Bearer <this token>`, compared in
    /// constant time.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(given) = authorization.and_then(|v| v.strip_prefix(b"Bearer ")) else {
            return false;
        };
        given.ct_eq(self.0.as_bytes()).into()
    }
}

impl std::fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// `GET /healthz`: `200 {"status":"ok"|"paused","role":"leader"|"standby"}`, or `503
/// {"status":"unavailable"}` when the queue cannot be read. The role says whether this process
/// runs the sync or stands by for the one that does. No internal error text: `/admin/status`
/// has the details. The queue is read at most once a second (see
/// [`StatusSource::aggregate`]), however many probes arrive.
pub async fn health(source: StatusSource) -> (StatusCode, Json<serde_json::Value>) {
    let role = source.engine.role();
    match source.aggregate().await.queue {
        Some(_) if source.engine.paused().is_some() => (
            StatusCode::OK,
            Json(json!({ "status": "paused", "role": role })),
        ),
        Some(_) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "role": role })),
        ),
        None => {
            tracing::warn!("health check: the queue cannot be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
        }
    }
}

/// The admin API, every route behind `Authorization: Bearer <token>` (401 otherwise):
///
/// - `GET /admin/status`: role, queue depth by state, payments waiting, pause reason (and who
///   paused and when), last sync, counters;
/// - `GET /admin/dead-letters`: every dead letter with its payment id, errors redacted;
/// - `GET /admin/waiting`: payments waiting in the ledger and what each waits for;
/// - `POST /admin/dead-letters/replay` with `{"all": true}` or `{"event_ids": ["evt_..."]}`;
/// - `POST /admin/pause` (optional body `{"by": "who"}`) and `POST /admin/resume`: stored, so
///   they hold for every process sharing the store (the leader follows within a second),
///   across a failover and a restart; `503` when the store cannot be written.
pub fn router(source: StatusSource, token: AdminToken) -> Router {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/dead-letters", get(dead_letters))
        .route("/admin/waiting", get(waiting))
        .route("/admin/dead-letters/replay", post(replay_dead_letters))
        .route("/admin/pause", post(pause))
        .route("/admin/resume", post(resume))
        .with_state(source)
        .route_layer(middleware::from_fn_with_state(token, authorize))
}

pub(super) async fn authorize(
    State(token): State<AdminToken>,
    request: Request,
    next: Next,
) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes());
    if token.accepts(given) {
        next.run(request).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            Json(json!({ "error": "send Authorization: Bearer <ADMIN_TOKEN>" })),
        )
            .into_response()
    }
}

async fn status(State(source): State<StatusSource>) -> Response {
    let report = source.report().await;
    let code = if report.queue.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report)).into_response()
}

async fn dead_letters(State(source): State<StatusSource>) -> Response {
    dead_letters_of(&source).await
}

pub(super) async fn dead_letters_of(source: &StatusSource) -> Response {
    match super::all_dead_letters(source.admin.as_ref()).await {
        Ok(list) => {
            let views: Vec<DeadLetterView> = list.iter().map(DeadLetterView::from).collect();
            Json(json!({ "dead_letters": views })).into_response()
        }
        Err(error) => unavailable(&error),
    }
}

async fn waiting(State(source): State<StatusSource>) -> Response {
    waiting_of(&source).await
}

pub(super) async fn waiting_of(source: &StatusSource) -> Response {
    match source.waiting().await {
        Ok(list) => Json(json!({ "waiting": list })).into_response(),
        Err(error) => unavailable(&error),
    }
}

/// The body of `POST /admin/dead-letters/replay`.
#[derive(Debug, Deserialize)]
pub(super) struct ReplayRequest {
    #[serde(default)]
    all: bool,
    #[serde(default)]
    event_ids: Vec<String>,
}

async fn replay_dead_letters(
    State(source): State<StatusSource>,
    Json(request): Json<ReplayRequest>,
) -> Response {
    replay_in(&source, request).await
}

pub(super) async fn replay_in(source: &StatusSource, request: ReplayRequest) -> Response {
    let ids = match (request.all, request.event_ids.is_empty()) {
        (true, true) => None,
        (false, false) => Some(request.event_ids),
        _ => return (
            StatusCode::BAD_REQUEST,
            Json(
                json!({ "error": "send either {\"all\": true} or {\"event_ids\": [\"evt_...\"]}" }),
            ),
        )
            .into_response(),
    };
    match replay(source.admin.as_ref(), ids.as_deref()).await {
        Ok(replayed) => {
            tracing::info!(count = replayed.len(), "replayed dead letters");
            Json(json!({ "replayed": replayed })).into_response()
        }
        Err(error @ ReplayError::NotDead(_)) => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": error.to_string() })),
        )
            .into_response(),
        Err(ReplayError::Queue(error)) => unavailable(&error),
    }
}

/// The optional body of `POST /admin/pause`: who asks (a name or a ticket; emails are
/// redacted).
#[derive(Debug, Default, Deserialize)]
struct PauseRequest {
    #[serde(default)]
    by: Option<String>,
}

async fn pause(State(source): State<StatusSource>, body: axum::body::Bytes) -> Response {
    pause_in(&source, &body).await
}

pub(super) async fn pause_in(source: &StatusSource, body: &[u8]) -> Response {
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        PauseRequest::default()
    } else {
        match serde_json::from_slice::<PauseRequest>(body) {
            Ok(request) => request,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    Json(json!({ "error": "send no body, or {\"by\": \"who is pausing\"}" })),
                )
                    .into_response()
            }
        }
    };
    let by = super::paused_by(request.by.as_deref());
    match source.engine.pause_everywhere(&by).await {
        Ok(stored) => {
            tracing::info!("paused by the admin API for every process");
            Json(json!({
                "status": "paused",
                "paused_by": stored.by,
                "paused_at": super::rfc3339(stored.at),
            }))
            .into_response()
        }
        Err(error) => unavailable(&error),
    }
}

async fn resume(State(source): State<StatusSource>) -> Response {
    resume_in(&source).await
}

pub(super) async fn resume_in(source: &StatusSource) -> Response {
    match source.engine.resume_everywhere().await {
        Ok(()) => {
            tracing::info!("resumed by the admin API for every process");
            Json(json!({ "status": "ok" })).into_response()
        }
        Err(error) => unavailable(&error),
    }
}

pub(super) fn unavailable(error: &dyn std::fmt::Display) -> Response {
    tracing::warn!(%error, "admin API: the queue failed");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({ "error": "the queue cannot be read; see the server log" })),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_must_match_exactly() {
        let token = AdminToken::new("0123456789abcdef0123").unwrap();
        assert!(token.accepts(Some(b"Bearer 0123456789abcdef0123")));
        assert!(!token.accepts(Some(b"Bearer 0123456789abcdef012")));
        assert!(!token.accepts(Some(b"Bearer 0123456789abcdef01234")));
        assert!(!token.accepts(Some(b"0123456789abcdef0123")));
        assert!(!token.accepts(None));
        assert!(AdminToken::new("short").is_err());
        assert!(!format!("{token:?}").contains("0123"));
    }
}
