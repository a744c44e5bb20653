//! The admin HTTP API of a [`Fleet`] and its `/healthz`, on axum.

// The checks return the finished HTTP answer as their error: one per request, never stored,
// so its size does not matter.
#![allow(clippy::result_large_err)]

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::fleet::{fleet_report, unrouted_report};
use super::http::{
    authorize, dead_letters_of, pause_in, replay_in, resume_in, unavailable, waiting_of,
    ReplayRequest,
};
use super::{AdminToken, StatusSource};
use crate::fleet::Fleet;
use crate::queue::{
    validate_accounts, validate_portal_id, Portal, PortalChange, PortalError, PortalToken,
    DEFAULT_PORTAL,
};

/// `GET /healthz` of a fleet: `200 {"status":"ok"|"paused","role":"leader"|"standby"}`
/// (`leader` when this process syncs any portal; `paused` when the `default` portal is), or
/// `503 {"status":"unavailable"}` when the root store cannot be read (at most once a second).
pub async fn fleet_health(fleet: Fleet) -> (StatusCode, Json<serde_json::Value>) {
    let role = if fleet.leading().is_empty() {
        "standby"
    } else {
        "leader"
    };
    let default = fleet
        .portal(DEFAULT_PORTAL)
        .and_then(|run| run.source(&fleet.ingest()));
    let (readable, paused) = match &default {
        Some(source) => (
            source.aggregate().await.queue.is_some(),
            source.engine.paused().is_some(),
        ),
        None => (root_readable(&fleet).await, false),
    };
    match (readable, paused) {
        (true, true) => (
            StatusCode::OK,
            Json(json!({ "status": "paused", "role": role })),
        ),
        (true, false) => (
            StatusCode::OK,
            Json(json!({ "status": "ok", "role": role })),
        ),
        (false, _) => {
            tracing::warn!("health check: the queue cannot be read");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable" })),
            )
        }
    }
}

/// Whether the root store answers, read at most once a second.
async fn root_readable(fleet: &Fleet) -> bool {
    use std::sync::OnceLock;
    static CACHE: OnceLock<super::AggregateCache> = OnceLock::new();
    let cache = CACHE.get_or_init(super::AggregateCache::default);
    let store = fleet.store().clone();
    cache
        .get_or_compute(|| async move {
            super::Aggregate {
                queue: store
                    .portals
                    .portals_revision()
                    .await
                    .ok()
                    .map(|_| crate::queue::QueueStats::default()),
                waiting: None,
            }
        })
        .await
        .queue
        .is_some()
}

/// The admin API of a fleet, every route behind `Authorization: Bearer <token>`:
///
/// - `GET /admin/status`: the single-portal fields (of the `default` portal when configured),
///   `process_id`, `leading` (the portals this process syncs), `portals` (each one's role,
///   pause, queue, waiting payments, last sync) and `unrouted`;
/// - per portal, with `?portal=ID` (default `default`): `GET /admin/dead-letters`,
///   `GET /admin/waiting`, `POST /admin/dead-letters/replay`, `POST /admin/pause`,
///   `POST /admin/resume`;
/// - `GET /admin/portals` (never a token or secret), `POST /admin/portals`,
///   `PATCH /admin/portals/{id}`, `DELETE /admin/portals/{id}[?purge=true]`: `400` naming the
///   bad field, `409` for an id taken or an account claimed (naming the other portal), `404`
///   for an unknown portal;
/// - `GET /admin/unrouted`: events waiting for a portal to claim their Stripe account.
pub fn fleet_router(fleet: Fleet, token: AdminToken) -> Router {
    Router::new()
        .route("/admin/status", get(status))
        .route("/admin/dead-letters", get(dead_letters))
        .route("/admin/waiting", get(waiting))
        .route("/admin/dead-letters/replay", post(replay))
        .route("/admin/pause", post(pause))
        .route("/admin/resume", post(resume))
        .route("/admin/portals", get(list_portals).post(add_portal))
        .route(
            "/admin/portals/{id}",
            axum::routing::patch(set_portal).delete(remove_portal),
        )
        .route("/admin/unrouted", get(unrouted))
        .with_state(fleet)
        .route_layer(middleware::from_fn_with_state(token, authorize))
}

async fn status(State(fleet): State<Fleet>) -> Response {
    let report = fleet_report(&fleet).await;
    let code = if report.base.queue.is_some() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(report)).into_response()
}

/// `?portal=ID` of the per-portal routes.
#[derive(Debug, Deserialize)]
struct PortalQuery {
    #[serde(default)]
    portal: Option<String>,
}

fn error(code: StatusCode, message: impl Into<String>) -> Response {
    (code, Json(json!({ "error": message.into() }))).into_response()
}

/// The status source of the portal a per-portal route names, or the answer saying why none.
fn source_of(fleet: &Fleet, query: &PortalQuery) -> Result<StatusSource, Response> {
    let id = query.portal.as_deref().unwrap_or(DEFAULT_PORTAL);
    let Some(run) = fleet.portal(id) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            format!("no portal {id:?} runs here: GET /admin/portals lists them"),
        ));
    };
    run.source(&fleet.ingest()).ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            match &run.error {
                Some(why) => format!("portal {id:?} is not running: {why}"),
                None => format!("portal {id:?} is starting; retry in a few seconds"),
            },
        )
    })
}

async fn dead_letters(State(fleet): State<Fleet>, Query(query): Query<PortalQuery>) -> Response {
    match source_of(&fleet, &query) {
        Ok(source) => dead_letters_of(&source).await,
        Err(response) => response,
    }
}

async fn waiting(State(fleet): State<Fleet>, Query(query): Query<PortalQuery>) -> Response {
    match source_of(&fleet, &query) {
        Ok(source) => waiting_of(&source).await,
        Err(response) => response,
    }
}

async fn replay(
    State(fleet): State<Fleet>,
    Query(query): Query<PortalQuery>,
    Json(request): Json<ReplayRequest>,
) -> Response {
    match source_of(&fleet, &query) {
        Ok(source) => replay_in(&source, request).await,
        Err(response) => response,
    }
}

async fn pause(
    State(fleet): State<Fleet>,
    Query(query): Query<PortalQuery>,
    body: axum::body::Bytes,
) -> Response {
    match source_of(&fleet, &query) {
        Ok(source) => pause_in(&source, &body).await,
        Err(response) => response,
    }
}

async fn resume(State(fleet): State<Fleet>, Query(query): Query<PortalQuery>) -> Response {
    match source_of(&fleet, &query) {
        Ok(source) => resume_in(&source).await,
        Err(response) => response,
    }
}

async fn unrouted(State(fleet): State<Fleet>) -> Response {
    match unrouted_report(&fleet).await {
        Ok(report) => Json(report).into_response(),
        Err(e) => unavailable(&e),
    }
}

/// A portal as the admin API shows it: never its token, secrets or Slack URL.
fn portal_view(portal: &Portal, fleet: &Fleet) -> serde_json::Value {
    let run = fleet.portal(&portal.id);
    json!({
        "id": portal.id,
        "stripe_accounts": portal.accounts,
        "rate_limit": portal.rate_limit,
        "hubspot_base_url": portal.hubspot_base_url,
        "api_version": portal.api_version,
        "paused": portal.paused,
        "own_webhook_secret": portal.webhook_secrets.is_some(),
        "own_mapping": portal.mapping.is_some(),
        "own_slack_webhook": portal.alert_url.is_some(),
        "leading": run.as_ref().is_some_and(|r| r.leads()),
        "error": run.and_then(|r| r.error),
    })
}

async fn list_portals(State(fleet): State<Fleet>) -> Response {
    match fleet.store().portals.list().await {
        Ok(list) => {
            let views: Vec<_> = list.iter().map(|p| portal_view(p, &fleet)).collect();
            Json(json!({ "portals": views })).into_response()
        }
        Err(e) => portal_failure(e),
    }
}

/// The body of `POST /admin/portals` and `PATCH /admin/portals/{id}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PortalRequest {
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    stripe_accounts: Option<Vec<String>>,
    #[serde(default)]
    rate_limit: Option<String>,
    #[serde(default)]
    hubspot_base_url: Option<String>,
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    webhook_secret: Option<String>,
    #[serde(default)]
    mapping: Option<serde_json::Value>,
    #[serde(default)]
    slack_webhook_url: Option<String>,
}

/// A field the request got wrong: `400 {"error": "...", "field": "..."}`.
fn bad_field(field: &str, problem: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": format!("{field} {problem}"), "field": field })),
    )
        .into_response()
}

fn parse_body(body: &[u8]) -> Result<PortalRequest, Response> {
    serde_json::from_slice(body).map_err(|e| {
        // serde's message names the field (unknown, wrong type) and quotes no secret value
        // except for an unknown field's name.
        let message = e.to_string();
        let field = message
            .split('`')
            .nth(1)
            .unwrap_or("body")
            .to_owned();
        bad_field(
            &field,
            format!("is not accepted: send a JSON object with id, token, stripe_accounts, rate_limit, hubspot_base_url, api_version, webhook_secret, mapping, slack_webhook_url ({})", super::redact(&message)),
        )
    })
}

/// The request's settings checked with the parsers the binary uses for the matching
/// environment variables, in their stored form.
fn checked_change(request: &PortalRequest) -> Result<PortalChange, Response> {
    let mut change = PortalChange::default();
    if let Some(token) = &request.token {
        change.token = Some(PortalToken::new(token.trim()).map_err(|e| field_error("token", e))?);
    }
    if let Some(accounts) = &request.stripe_accounts {
        change.accounts = Some(
            validate_accounts(accounts.clone()).map_err(|e| field_error("stripe_accounts", e))?,
        );
    }
    if let Some(limit) = &request.rate_limit {
        let parsed: hubspot_crm::RateLimit = limit
            .trim()
            .parse()
            .map_err(|e| bad_field("rate_limit", format!("is {limit:?}: {e}")))?;
        change.rate_limit = Some(parsed.to_string());
    }
    if let Some(url) = &request.hubspot_base_url {
        match reqwest::Url::parse(url.trim()) {
            Ok(parsed) if matches!(parsed.scheme(), "http" | "https") => {
                change.hubspot_base_url = Some(url.trim().to_owned())
            }
            _ => {
                return Err(bad_field(
                    "hubspot_base_url",
                    format!("is not an http(s) URL: {url:?}"),
                ))
            }
        }
    }
    if let Some(version) = &request.api_version {
        let parsed: hubspot_crm::ApiVersion = version
            .trim()
            .parse()
            .map_err(|e| bad_field("api_version", format!("is {version:?}: {e}")))?;
        change.api_version = Some(parsed.to_string());
    }
    if let Some(secrets) = &request.webhook_secret {
        let list: Vec<&str> = secrets.split(',').map(str::trim).collect();
        if let Some(position) = list
            .iter()
            .position(|s| !s.starts_with("whsec_") || s.len() <= "whsec_".len())
        {
            return Err(bad_field(
                "webhook_secret",
                format!("entry {} is not a signing secret: each comma-separated entry must start with whsec_", position + 1),
            ));
        }
        stripe_events::Verifier::with_secrets(&list).map_err(|e| bad_field("webhook_secret", e))?;
        change.webhook_secrets =
            Some(PortalToken::new(list.join(",")).map_err(|e| field_error("webhook_secret", e))?);
    }
    if let Some(mapping) = &request.mapping {
        let text = match mapping {
            serde_json::Value::String(text) => text.clone(),
            other => other.to_string(),
        };
        let parsed = stripe2hubspot_map::MappingConfig::from_json(&text)
            .map_err(|e| bad_field("mapping", format!("is invalid: {e}")))?;
        parsed
            .validate()
            .map_err(|e| bad_field("mapping", format!("is invalid: {e}")))?;
        change.mapping = Some(text);
    }
    if let Some(url) = &request.slack_webhook_url {
        crate::alert::SlackAlerter::new(url.trim()).map_err(|_| {
            bad_field(
                "slack_webhook_url",
                "is not an https:// URL (expected https://hooks.slack.com/services/...)",
            )
        })?;
        change.alert_url =
            Some(PortalToken::new(url.trim()).map_err(|e| field_error("slack_webhook_url", e))?);
    }
    Ok(change)
}

fn field_error(field: &str, error: PortalError) -> Response {
    match error {
        PortalError::Invalid { problem, .. } => bad_field(field, problem),
        other => bad_field(field, other),
    }
}

fn portal_failure(error: PortalError) -> Response {
    match &error {
        PortalError::IdTaken { .. } | PortalError::AccountClaimed { .. } => {
            error_with(StatusCode::CONFLICT, &error)
        }
        PortalError::NotFound { .. } => error_with(StatusCode::NOT_FOUND, &error),
        PortalError::Invalid { field, problem } => bad_field(field, problem),
        PortalError::Store(e) => unavailable(e),
        _ => unavailable(&error),
    }
}

fn error_with(code: StatusCode, failure: &PortalError) -> Response {
    error(code, failure.to_string())
}

async fn add_portal(State(fleet): State<Fleet>, body: axum::body::Bytes) -> Response {
    let request = match parse_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    let Some(id) = request.id.clone() else {
        return bad_field("id", "is missing: give the portal an id (e.g. acme-eu)");
    };
    if let Err(e) = validate_portal_id(&id) {
        return field_error("id", e);
    }
    if request.token.is_none() {
        return bad_field("token", "is missing: give the portal's HubSpot service key");
    }
    if request.stripe_accounts.as_ref().is_none_or(Vec::is_empty) {
        return bad_field(
            "stripe_accounts",
            "is missing: give at least one Stripe account (acct_...) whose events go to this portal",
        );
    }
    let change = match checked_change(&request) {
        Ok(change) => change,
        Err(response) => return response,
    };
    let Some(token) = change.token.clone() else {
        return bad_field("token", "is missing: give the portal's HubSpot service key");
    };
    let portal = Portal {
        id,
        token,
        accounts: change.accounts.clone().unwrap_or_default(),
        rate_limit: change
            .rate_limit
            .clone()
            .unwrap_or_else(|| hubspot_crm::RateLimit::default().to_string()),
        hubspot_base_url: change.hubspot_base_url.clone(),
        api_version: change.api_version.clone(),
        paused: false,
        webhook_secrets: change.webhook_secrets.clone(),
        mapping: change.mapping.clone(),
        alert_url: change.alert_url.clone(),
    };
    match fleet.store().portals.add(portal).await {
        Ok(portal) => {
            tracing::info!(portal = %portal.id, "portal added through the admin API");
            // Picked up at once here; the other processes within a second.
            let _ = fleet.reload().await;
            (
                StatusCode::CREATED,
                Json(json!({ "portal": portal_view(&portal, &fleet) })),
            )
                .into_response()
        }
        Err(e) => portal_failure(e),
    }
}

async fn set_portal(
    State(fleet): State<Fleet>,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    let request = match parse_body(&body) {
        Ok(request) => request,
        Err(response) => return response,
    };
    if request.id.as_ref().is_some_and(|given| given != &id) {
        return bad_field(
            "id",
            "cannot be changed: remove the portal and add it again",
        );
    }
    let change = match checked_change(&request) {
        Ok(change) => change,
        Err(response) => return response,
    };
    if change.is_empty() {
        return bad_field("body", "gives nothing to change");
    }
    match fleet.store().portals.set(&id, change).await {
        Ok(portal) => {
            tracing::info!(portal = %portal.id, "portal changed through the admin API");
            let _ = fleet.reload().await;
            Json(json!({ "portal": portal_view(&portal, &fleet) })).into_response()
        }
        Err(e) => portal_failure(e),
    }
}

/// `?purge=true` of `DELETE /admin/portals/{id}`.
#[derive(Debug, Deserialize)]
struct RemoveQuery {
    #[serde(default)]
    purge: bool,
}

async fn remove_portal(
    State(fleet): State<Fleet>,
    Path(id): Path<String>,
    Query(query): Query<RemoveQuery>,
) -> Response {
    match fleet.store().portals.remove(&id).await {
        Ok(portal) => {
            let _ = fleet.reload().await;
            if query.purge {
                // Its engine here stops first, so nothing writes to what is deleted.
                fleet.removed_stopped().await;
                if let Err(e) = fleet.store().portals.drop_namespace(&portal.id).await {
                    return unavailable(&e);
                }
            }
            tracing::info!(portal = %portal.id, purged = query.purge, "portal removed through the admin API");
            Json(json!({
                "removed": portal.id,
                "stripe_accounts": portal.accounts,
                "purged": query.purge,
            }))
            .into_response()
        }
        Err(e) => portal_failure(e),
    }
}
