//! Webhook ingest: verify, filter, store durably, answer Stripe.
//!
//! [`Ingest`] is framework-agnostic: hand it the `Stripe-Signature` header and the raw body
//! and send back the [`IngestResponse`] it returns. The `axum` and `actix` features add
//! ready-made handlers that do exactly that.
//!
//! Stripe gets a 2xx only once the event is durably stored (or was stored before), so a
//! crash at any point loses nothing: without a 2xx Stripe redelivers.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use stripe2hubspot_map::MappingConfig;
use stripe_events::Verifier;

use crate::queue::{Enqueued, NewJob, Queue};

mod route;

pub use route::{PortalRoute, RouteTable, Routes, PLATFORM_ACCOUNT};

#[cfg(feature = "actix")]
#[cfg_attr(docsrs, doc(cfg(feature = "actix")))]
pub mod actix;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod axum;

/// Webhook bodies above this many bytes get 413. Stripe events are a few KiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// A webhook body not received in full this long after its headers gets 408: a client that
/// sends headers and then stalls (or trickles the body) would otherwise hold a connection and
/// its task forever. Stripe sends a few KiB at once.
pub const DEFAULT_BODY_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The name of Stripe's signature header (header names match case-insensitively).
pub use stripe_events::SIGNATURE_HEADER;

/// The path the axum router and the actix configuration mount the webhook on; register
/// `https://<your host>/api/webhooks/stripe` as the endpoint URL in Stripe's dashboard.
pub const WEBHOOK_PATH: &str = "/api/webhooks/stripe";

/// The per-portal webhook path of a deployment syncing several portals: register
/// `https://<your host>/api/webhooks/stripe/<portal id>` as the endpoint of a plain (not
/// Connect) Stripe account whose events go to that portal. Its events are verified with the
/// portal's own signing secrets when it has some, else with the deployment's.
pub const WEBHOOK_PORTAL_PATH: &str = "/api/webhooks/stripe/{portal}";

/// Where verified events go: one queue (what [`Ingest::builder`] builds), or the queue of the
/// portal each event is routed to ([`Ingest::routed`]).
#[derive(Clone)]
enum Target {
    Single {
        verifier: Verifier,
        queue: Arc<dyn Queue>,
    },
    Routed(Arc<Routes>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Target::Single { verifier, .. } => f.debug_tuple("Single").field(verifier).finish(),
            Target::Routed(routes) => f.debug_tuple("Routed").field(routes).finish(),
        }
    }
}

/// Verifies, filters and durably enqueues Stripe webhooks.
pub struct Ingest {
    target: Target,
    event_types: BTreeSet<String>,
    body_limit: usize,
    body_read_timeout: Duration,
    counters: IngestCounters,
    #[cfg(feature = "backfill")]
    thin: Option<stripe2hubspot_stripe::StripeClient>,
}

impl std::fmt::Debug for Ingest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ingest")
            .field("target", &self.target)
            .field("event_types", &self.event_types)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Ingest`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct IngestBuilder {
    target: Target,
    event_types: BTreeSet<String>,
    body_limit: usize,
    body_read_timeout: Duration,
    #[cfg(feature = "backfill")]
    thin: Option<stripe2hubspot_stripe::StripeClient>,
}

impl std::fmt::Debug for IngestBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestBuilder")
            .field("event_types", &self.event_types)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

impl IngestBuilder {
    /// Only events of these types are stored; others are answered `200 ignored` so Stripe
    /// stops sending them. Default: those of [`MappingConfig::default`] (`charge.succeeded` and
    /// `payment_intent.succeeded`). A [routed](Ingest::routed) ingest ignores this: each
    /// portal's route names the types its mapping syncs.
    pub fn event_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.event_types = types.into_iter().map(Into::into).collect();
        self
    }

    /// Bodies larger than this get `413`. Default [`DEFAULT_BODY_LIMIT`] (1 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// A body not received in full this long after the request's headers gets `408`.
    /// Default [`DEFAULT_BODY_READ_TIMEOUT`] (10 s).
    pub fn body_read_timeout(mut self, timeout: Duration) -> Self {
        self.body_read_timeout = timeout;
        self
    }

    /// Accept thin events (Stripe event destinations, `v1.charge.succeeded` and the like):
    /// once the signature checks out, the event's object is fetched with `client` and stored
    /// as the snapshot event of its current state. When Stripe cannot be read the delivery
    /// gets 503, so Stripe retries it. Without this, thin events are answered
    /// `200 ignored` (Stripe would otherwise retry them for days) with one warning per process
    /// saying to set `STRIPE_SECRET_KEY`.
    #[cfg(feature = "backfill")]
    #[cfg_attr(docsrs, doc(cfg(feature = "backfill")))]
    pub fn thin_events(mut self, client: stripe2hubspot_stripe::StripeClient) -> Self {
        self.thin = Some(client);
        self
    }

    /// The finished [`Ingest`].
    pub fn build(self) -> Ingest {
        Ingest {
            target: self.target,
            event_types: self.event_types,
            body_limit: self.body_limit,
            body_read_timeout: self.body_read_timeout,
            counters: IngestCounters::default(),
            #[cfg(feature = "backfill")]
            thin: self.thin,
        }
    }
}

/// What happened to one webhook delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum IngestOutcome {
    /// Verified and stored for the first time.
    Queued {
        /// The Stripe event id.
        event_id: String,
    },
    /// Verified; this event id was stored before (Stripe redelivers).
    Duplicate {
        /// The Stripe event id.
        event_id: String,
    },
    /// Verified and stored, but no portal claims its Stripe account yet: it waits among the
    /// unrouted events and moves to the portal that claims the account later.
    Unrouted {
        /// The Stripe event id.
        event_id: String,
        /// The Stripe account (`acct_...`), or [`PLATFORM_ACCOUNT`] for an event without
        /// one that no portal's endpoint or secret claimed.
        account: String,
    },
    /// Verified, but of a type this pipeline does not sync.
    Ignored {
        /// The Stripe event id.
        event_id: String,
        /// The event type.
        event_type: String,
    },
    /// Failed verification or parsing; nothing was stored.
    Rejected {
        /// Why, safe to show the sender: never contains a secret or the payload.
        error: String,
    },
    /// The path names a portal this deployment does not have; nothing was stored.
    UnknownPortal {
        /// What to do, safe to show the sender.
        error: String,
    },
    /// The body exceeds the limit; nothing was stored.
    PayloadTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// The body was not received in full within the read timeout; nothing was stored.
    BodyTimeout {
        /// The configured timeout in milliseconds.
        timeout_ms: u64,
    },
    /// The queue could not store the event; Stripe will retry.
    Unavailable {
        /// Why, for the operator.
        error: String,
    },
}

/// Counter of webhook deliveries, labelled `outcome`: `queued`, `duplicate`, `unrouted` (stored
/// for a Stripe account no portal claims yet), `ignored`, `rejected` (bad signature, bad body,
/// unknown portal, too large or too slow) or `unavailable` (the queue failed).
pub const WEBHOOKS_RECEIVED_TOTAL: &str = "stripe2hubspot_webhooks_received_total";

impl IngestOutcome {
    /// The outcome's label in [`WEBHOOKS_RECEIVED_TOTAL`].
    pub fn label(&self) -> &'static str {
        match self {
            IngestOutcome::Queued { .. } => "queued",
            IngestOutcome::Duplicate { .. } => "duplicate",
            IngestOutcome::Unrouted { .. } => "unrouted",
            IngestOutcome::Ignored { .. } => "ignored",
            IngestOutcome::Rejected { .. }
            | IngestOutcome::UnknownPortal { .. }
            | IngestOutcome::PayloadTooLarge { .. }
            | IngestOutcome::BodyTimeout { .. } => "rejected",
            IngestOutcome::Unavailable { .. } => "unavailable",
        }
    }
}

/// The HTTP answer for Stripe: a status code and a small JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestResponse {
    /// What happened.
    pub outcome: IngestOutcome,
}

impl IngestResponse {
    /// The HTTP status: 200, 400, 404, 408, 413 or 503.
    pub fn status(&self) -> u16 {
        match self.outcome {
            IngestOutcome::Queued { .. }
            | IngestOutcome::Duplicate { .. }
            | IngestOutcome::Unrouted { .. }
            | IngestOutcome::Ignored { .. } => 200,
            IngestOutcome::Rejected { .. } => 400,
            IngestOutcome::UnknownPortal { .. } => 404,
            IngestOutcome::BodyTimeout { .. } => 408,
            IngestOutcome::PayloadTooLarge { .. } => 413,
            IngestOutcome::Unavailable { .. } => 503,
        }
    }

    /// The JSON body, e.g. `{"status":"queued","event_id":"evt_..."}`.
    pub fn body(&self) -> String {
        serde_json::to_string(&self.outcome).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Counts of ingest outcomes since start.
#[derive(Debug, Default)]
struct IngestCounters {
    queued: AtomicU64,
    duplicate: AtomicU64,
    unrouted: AtomicU64,
    ignored: AtomicU64,
    rejected: AtomicU64,
    unavailable: AtomicU64,
}

/// A snapshot of [`Ingest`]'s counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct IngestStats {
    /// Events stored for the first time.
    pub queued: u64,
    /// Redeliveries of stored events.
    pub duplicate: u64,
    /// Events stored for a Stripe account no portal claims yet.
    pub unrouted: u64,
    /// Verified events of types not synced.
    pub ignored: u64,
    /// Deliveries rejected with 400, 404, 408 or 413.
    pub rejected: u64,
    /// Deliveries answered 503 because the queue could not store them.
    pub unavailable: u64,
}

impl IngestStats {
    /// All deliveries seen.
    pub fn received(&self) -> u64 {
        self.queued
            + self.duplicate
            + self.unrouted
            + self.ignored
            + self.rejected
            + self.unavailable
    }
}

impl Ingest {
    /// Starts building an ingest that verifies with `verifier` and stores into `queue`.
    pub fn builder(verifier: Verifier, queue: Arc<dyn Queue>) -> IngestBuilder {
        IngestBuilder {
            target: Target::Single { verifier, queue },
            // The default mapping's event types: the ones it turns into a contact and a deal.
            event_types: MappingConfig::default().event_types.into_iter().collect(),
            body_limit: DEFAULT_BODY_LIMIT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            #[cfg(feature = "backfill")]
            thin: None,
        }
    }

    /// Starts building an ingest that routes each event to the portal it belongs to, as
    /// `routes` says at the moment it arrives (the fleet replaces the table when the portals
    /// change): by its Connect `account` (thin events: `context`), else by the portal path it
    /// was posted to ([`Ingest::handle_for`]), else by the portal whose own signing secret
    /// verified it, else to the `default` portal when the table has one. An event routed to
    /// no portal is stored among the unrouted events and answered `200 unrouted`.
    pub fn routed(routes: Arc<Routes>) -> IngestBuilder {
        IngestBuilder {
            target: Target::Routed(routes),
            event_types: MappingConfig::default().event_types.into_iter().collect(),
            body_limit: DEFAULT_BODY_LIMIT,
            body_read_timeout: DEFAULT_BODY_READ_TIMEOUT,
            #[cfg(feature = "backfill")]
            thin: None,
        }
    }

    /// The configured body limit in bytes; HTTP glue stops reading past it.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The configured body read timeout; HTTP glue answers [`Ingest::body_timed_out`] past it.
    pub fn body_read_timeout(&self) -> Duration {
        self.body_read_timeout
    }

    /// The answer to a delivery whose body did not arrive within
    /// [`body_read_timeout`](Self::body_read_timeout): `408`, counted and logged (without
    /// anything of the request) like any other outcome.
    pub fn body_timed_out(&self) -> IngestResponse {
        let timeout_ms = u64::try_from(self.body_read_timeout.as_millis()).unwrap_or(u64::MAX);
        self.record(IngestOutcome::BodyTimeout { timeout_ms })
    }

    /// Counters since start.
    pub fn stats(&self) -> IngestStats {
        let c = &self.counters;
        IngestStats {
            queued: c.queued.load(Ordering::Relaxed),
            duplicate: c.duplicate.load(Ordering::Relaxed),
            unrouted: c.unrouted.load(Ordering::Relaxed),
            ignored: c.ignored.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
        }
    }

    /// Handles one delivery: `signature` is the `Stripe-Signature` header, `body` the raw bytes
    /// exactly as received.
    pub async fn handle(&self, signature: Option<&str>, body: &[u8]) -> IngestResponse {
        let outcome = self.outcome(None, signature, body).await;
        self.record(outcome)
    }

    /// Handles one delivery posted to portal `portal`'s own path
    /// ([`WEBHOOK_PORTAL_PATH`]): `404` when there is no such portal. An ingest built with
    /// [`Ingest::builder`] (one queue) knows no portal but `default`, which stands for its queue.
    pub async fn handle_for(
        &self,
        portal: &str,
        signature: Option<&str>,
        body: &[u8],
    ) -> IngestResponse {
        let outcome = self.outcome(Some(portal), signature, body).await;
        self.record(outcome)
    }

    fn record(&self, outcome: IngestOutcome) -> IngestResponse {
        let counter = match &outcome {
            IngestOutcome::Queued { .. } => &self.counters.queued,
            IngestOutcome::Duplicate { .. } => &self.counters.duplicate,
            IngestOutcome::Unrouted { .. } => &self.counters.unrouted,
            IngestOutcome::Ignored { .. } => &self.counters.ignored,
            IngestOutcome::Rejected { .. }
            | IngestOutcome::UnknownPortal { .. }
            | IngestOutcome::PayloadTooLarge { .. }
            | IngestOutcome::BodyTimeout { .. } => &self.counters.rejected,
            IngestOutcome::Unavailable { .. } => &self.counters.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(WEBHOOKS_RECEIVED_TOTAL, "outcome" => outcome.label()).increment(1);
        match &outcome {
            IngestOutcome::Rejected { error } => tracing::warn!(%error, "rejected a webhook"),
            IngestOutcome::UnknownPortal { .. } => {
                tracing::warn!("rejected a webhook posted to the path of an unknown portal")
            }
            IngestOutcome::Unrouted { event_id, account } => tracing::info!(
                %event_id,
                %account,
                "stored an event of a Stripe account no portal claims; it moves to the portal that claims the account"
            ),
            IngestOutcome::BodyTimeout { timeout_ms } => tracing::warn!(
                timeout_ms,
                "a webhook's body did not arrive in time; answered 408 and dropped it"
            ),
            other => tracing::debug!(outcome = ?other, "webhook handled"),
        }
        IngestResponse { outcome }
    }

    async fn outcome(
        &self,
        path: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> IngestOutcome {
        if body.len() > self.body_limit {
            return IngestOutcome::PayloadTooLarge {
                limit: self.body_limit,
            };
        }
        let signature = signature.unwrap_or_default();
        match &self.target {
            Target::Single { verifier, queue } => {
                if path.is_some_and(|p| p != crate::queue::DEFAULT_PORTAL) {
                    return unknown_portal();
                }
                // Only the envelope: the worker types `data.object` when it syncs the event.
                let verified = verifier.verify_envelope(body, signature);
                let job = match self.job(verified, body, &self.event_types).await {
                    Ok(job) => job,
                    Err(outcome) => return outcome,
                };
                store(queue.as_ref(), job).await
            }
            Target::Routed(routes) => self.routed_outcome(routes, path, signature, body).await,
        }
    }

    /// The routed mode: verify with the secrets the route calls for, pick the destination,
    /// store the event there.
    async fn routed_outcome(
        &self,
        routes: &Routes,
        path: Option<&str>,
        signature: &str,
        body: &[u8],
    ) -> IngestOutcome {
        let table = routes.current();
        let (verified, secret_portal) = match path {
            Some(id) => {
                let Some(portal) = table.portal(id) else {
                    return unknown_portal();
                };
                match table.verifier_for(portal) {
                    Some(verifier) => (verifier.verify_envelope(body, signature), None),
                    None => {
                        return IngestOutcome::Rejected {
                            error: "this endpoint has no signing secret configured".into(),
                        }
                    }
                }
            }
            None => table.verify_shared(body, signature),
        };
        let account = match &verified {
            Ok(envelope) => envelope.account.clone(),
            Err(stripe_events::WebhookError::ThinEvent) => thin_context(body),
            Err(_) => None,
        };
        let destination = table.destination(account.as_deref(), path, secret_portal.as_deref());
        let types = match &destination {
            route::Destination::Portal(portal) => &portal.event_types,
            route::Destination::Unrouted(_) => table.unrouted_event_types(),
        };
        let job = match self.job(verified, body, types).await {
            Ok(job) => job,
            Err(outcome) => return outcome,
        };
        match destination {
            route::Destination::Portal(portal) => store(portal.queue.as_ref(), job).await,
            route::Destination::Unrouted(account) => {
                let event_id = job.event_id.clone();
                match routes.unrouted().store_unrouted(&account, job).await {
                    Ok(Enqueued::Inserted(_)) => IngestOutcome::Unrouted { event_id, account },
                    Ok(Enqueued::Duplicate(_)) => IngestOutcome::Duplicate { event_id },
                    Err(error) => unavailable(&error, &event_id),
                }
            }
        }
    }

    /// The job to store for a verified delivery, or the answer when there is none to store
    /// (rejected, ignored, a thin event whose object cannot be read).
    async fn job(
        &self,
        verified: Result<stripe_events::Envelope, stripe_events::WebhookError>,
        body: &[u8],
        event_types: &BTreeSet<String>,
    ) -> Result<NewJob, IngestOutcome> {
        let event = match verified {
            Ok(event) => event,
            #[cfg(feature = "backfill")]
            Err(stripe_events::WebhookError::ThinEvent) if self.thin.is_some() => {
                return self.thin_event(body, event_types).await;
            }
            // Signed by Stripe, but nothing here can fetch its object: acknowledge it so
            // Stripe does not retry for days, and say once what to configure.
            Err(stripe_events::WebhookError::ThinEvent) => return Err(ignored_thin_event(body)),
            Err(error) => {
                return Err(IngestOutcome::Rejected {
                    error: error.to_string(),
                })
            }
        };
        if !event_types.contains(&event.type_) {
            return Err(IngestOutcome::Ignored {
                event_id: event.id,
                event_type: event.type_,
            });
        }
        Ok(NewJob {
            event_id: event.id.clone(),
            event_type: event.type_,
            event_created: event.created,
            payload: body.to_vec(),
        })
    }

    /// A verified thin event: its object, fetched now, as the snapshot event a classic
    /// webhook would carry (deduplicated with a backfill reading the same unchanged object).
    #[cfg(feature = "backfill")]
    async fn thin_event(
        &self,
        body: &[u8],
        event_types: &BTreeSet<String>,
    ) -> Result<NewJob, IngestOutcome> {
        use crate::history::{thin_event_snapshot, ThinEvent, ThinEventError};
        let Some(client) = &self.thin else {
            return Err(IngestOutcome::Rejected {
                error: stripe_events::WebhookError::ThinEvent.to_string(),
            });
        };
        let thin: ThinEvent = match serde_json::from_slice(body) {
            Ok(thin) => thin,
            Err(error) => {
                return Err(IngestOutcome::Rejected {
                    error: format!("the thin event notification is malformed: {error}"),
                })
            }
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match thin_event_snapshot(client, &thin, now).await {
            Ok(Some(snapshot)) if event_types.contains(&snapshot.event.type_) => Ok(snapshot.job()),
            Ok(Some(snapshot)) => Err(IngestOutcome::Ignored {
                event_id: thin.id,
                event_type: snapshot.event.type_,
            }),
            Ok(None) | Err(ThinEventError::NoRelatedObject { .. }) => Err(IngestOutcome::Ignored {
                event_id: thin.id,
                event_type: thin.type_,
            }),
            Err(error) => {
                tracing::error!(%error, "could not fetch a thin event's object; answering 503 so Stripe retries");
                Err(IngestOutcome::Unavailable {
                    error: "the event's object could not be read from Stripe; retry later".into(),
                })
            }
        }
    }
}

async fn store(queue: &dyn Queue, job: NewJob) -> IngestOutcome {
    let event_id = job.event_id.clone();
    match queue.enqueue(job).await {
        Ok(Enqueued::Inserted(_)) => IngestOutcome::Queued { event_id },
        Ok(Enqueued::Duplicate(_)) => IngestOutcome::Duplicate { event_id },
        Err(error) => unavailable(&error, &event_id),
    }
}

fn unavailable(error: &crate::queue::QueueError, event_id: &str) -> IngestOutcome {
    // The detail is for the operator's log, not for the sender.
    tracing::error!(%error, %event_id, "could not store a webhook; answering 503 so Stripe retries");
    IngestOutcome::Unavailable {
        error: "the event could not be stored; retry later".into(),
    }
}

fn unknown_portal() -> IngestOutcome {
    IngestOutcome::UnknownPortal {
        error: "no portal has this id: post to /api/webhooks/stripe, or to the path of a portal `stripe2hubspot portals list` shows".into(),
    }
}

/// The account a thin event belongs to (its `context`), read before its object is fetched so
/// the fetch is made only for an event that will be stored.
fn thin_context(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Context {
        #[serde(default)]
        context: Option<String>,
    }
    serde_json::from_slice::<Context>(body)
        .ok()
        .and_then(|c| c.context)
        .filter(|c| !c.is_empty())
}

/// A verified thin event when no Stripe client is configured: `200 ignored`, with one warning
/// per process naming what to configure.
fn ignored_thin_event(body: &[u8]) -> IngestOutcome {
    static WARNED: std::sync::Once = std::sync::Once::new();
    WARNED.call_once(|| {
        tracing::warn!(
            "a thin event (Stripe event destination) arrived and was ignored: set STRIPE_SECRET_KEY so its object can be fetched, or send snapshot events to this endpoint"
        );
    });
    #[derive(serde::Deserialize)]
    struct Named {
        #[serde(default)]
        id: String,
        #[serde(default, rename = "type")]
        type_: String,
    }
    let named: Named = serde_json::from_slice(body).unwrap_or(Named {
        id: String::new(),
        type_: String::new(),
    });
    IngestOutcome::Ignored {
        event_id: named.id,
        event_type: named.type_,
    }
}
