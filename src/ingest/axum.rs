//! axum glue: a handler and a router for [`Ingest`].
//!
//! ```no_run
//! # async fn demo(ingest: std::sync::Arc<stripe2hubspot::ingest::Ingest>) {
//! use axum::{routing::post, Router};
//! let app: Router = Router::new()
//!     .route(stripe2hubspot::ingest::WEBHOOK_PATH, post(stripe2hubspot::ingest::axum::handler))
//!     .with_state(ingest);
//! # }
//! ```

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{
    Ingest, IngestOutcome, IngestResponse, SIGNATURE_HEADER, WEBHOOK_PATH, WEBHOOK_PORTAL_PATH,
};

/// A router with `POST /api/webhooks/stripe` and `POST /api/webhooks/stripe/{portal}`; merge
/// or nest it into your app.
pub fn router(ingest: Arc<Ingest>) -> Router {
    Router::new()
        .route(WEBHOOK_PATH, post(handler))
        .route(WEBHOOK_PORTAL_PATH, post(portal_handler))
        .with_state(ingest)
}

/// Reads the raw body (never parsed JSON, which would break the signature) up to the
/// configured limit and within the configured read timeout (else `408`), and hands it to
/// [`Ingest::handle`].
pub async fn handler(
    State(ingest): State<Arc<Ingest>>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    read_and_handle(ingest, None, headers, body).await
}

/// [`handler`] for `POST /api/webhooks/stripe/{portal}`: hands the body to
/// [`Ingest::handle_for`].
pub async fn portal_handler(
    State(ingest): State<Arc<Ingest>>,
    Path(portal): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    read_and_handle(ingest, Some(portal), headers, body).await
}

async fn read_and_handle(
    ingest: Arc<Ingest>,
    portal: Option<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let limit = ingest.body_limit();
    let declared_too_large = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        .is_some_and(|len| len > limit);
    if declared_too_large {
        return into_response(IngestResponse {
            outcome: IngestOutcome::PayloadTooLarge { limit },
        });
    }
    let read = tokio::time::timeout(
        ingest.body_read_timeout(),
        Limited::new(body, limit).collect(),
    );
    let Ok(read) = read.await else {
        return into_response(ingest.body_timed_out());
    };
    let bytes = match read {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.is::<LengthLimitError>() => {
            return into_response(IngestResponse {
                outcome: IngestOutcome::PayloadTooLarge { limit },
            })
        }
        Err(_) => {
            return into_response(IngestResponse {
                outcome: IngestOutcome::Rejected {
                    error: "the request body could not be read".into(),
                },
            })
        }
    };
    let signature = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    let response = match portal {
        Some(portal) => ingest.handle_for(&portal, signature, &bytes).await,
        None => ingest.handle(signature, &bytes).await,
    };
    into_response(response)
}

fn into_response(response: IngestResponse) -> Response {
    let status =
        StatusCode::from_u16(response.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        response.body(),
    )
        .into_response()
}
