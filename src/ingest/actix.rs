//! actix-web glue: a handler and a service configuration for [`Ingest`].
//!
//! ```no_run
//! # fn demo(ingest: std::sync::Arc<stripe2hubspot::ingest::Ingest>) {
//! use actix_web::{App, HttpServer};
//! let server = HttpServer::new(move || {
//!     App::new().configure(stripe2hubspot::ingest::actix::configure(ingest.clone()))
//! });
//! # }
//! ```

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use super::{
    Ingest, IngestOutcome, IngestResponse, SIGNATURE_HEADER, WEBHOOK_PATH, WEBHOOK_PORTAL_PATH,
};

/// Mounts `POST /api/webhooks/stripe` and `POST /api/webhooks/stripe/{portal}` on an actix-web
/// app.
pub fn configure(ingest: Arc<Ingest>) -> impl Fn(&mut web::ServiceConfig) + Clone {
    move |config: &mut web::ServiceConfig| {
        config
            .app_data(web::Data::from(ingest.clone()))
            .route(WEBHOOK_PATH, web::post().to(handler))
            .route(WEBHOOK_PORTAL_PATH, web::post().to(portal_handler));
    }
}

/// Reads the raw body up to the configured limit and within the configured read timeout
/// (else `408`), and hands it to [`Ingest::handle`].
/// Expects `web::Data<Ingest>` in the app data, as [`configure`] registers it.
pub async fn handler(
    request: HttpRequest,
    payload: web::Payload,
    ingest: web::Data<Ingest>,
) -> HttpResponse {
    read_and_handle(request, payload, ingest, None).await
}

/// [`handler`] for `POST /api/webhooks/stripe/{portal}`: hands the body to
/// [`Ingest::handle_for`].
pub async fn portal_handler(
    request: HttpRequest,
    payload: web::Payload,
    ingest: web::Data<Ingest>,
    portal: web::Path<String>,
) -> HttpResponse {
    read_and_handle(request, payload, ingest, Some(portal.into_inner())).await
}

async fn read_and_handle(
    request: HttpRequest,
    payload: web::Payload,
    ingest: web::Data<Ingest>,
    portal: Option<String>,
) -> HttpResponse {
    let limit = ingest.body_limit();
    let read = tokio::time::timeout(ingest.body_read_timeout(), payload.to_bytes_limited(limit));
    let response = match read.await {
        Err(_elapsed) => ingest.body_timed_out(),
        Ok(Ok(Ok(body))) => {
            let signature = request
                .headers()
                .get(SIGNATURE_HEADER)
                .and_then(|v| v.to_str().ok());
            match &portal {
                Some(portal) => ingest.handle_for(portal, signature, &body).await,
                None => ingest.handle(signature, &body).await,
            }
        }
        Ok(Ok(Err(_stream_error))) => IngestResponse {
            outcome: IngestOutcome::Rejected {
                error: "the request body could not be read".into(),
            },
        },
        Ok(Err(_limit_exceeded)) => IngestResponse {
            outcome: IngestOutcome::PayloadTooLarge { limit },
        },
    };
    HttpResponse::build(
        StatusCode::from_u16(response.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
    )
    .content_type("application/json")
    .body(response.body())
}
