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

/// Verifies, filters and durably enqueues Stripe webhooks.
pub struct Ingest {
    verifier: Verifier,
    queue: Arc<dyn Queue>,
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
            .field("verifier", &self.verifier)
            .field("event_types", &self.event_types)
            .field("body_limit", &self.body_limit)
            .finish_non_exhaustive()
    }
}

/// Builds an [`Ingest`].
#[must_use = "a builder does nothing until `build` is called"]
pub struct IngestBuilder {
    verifier: Verifier,
    queue: Arc<dyn Queue>,
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
    /// `payment_intent.succeeded`).
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
            verifier: self.verifier,
            queue: self.queue,
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

/// Counter of webhook deliveries, labelled `outcome`: `queued`, `duplicate`, `ignored`,
/// `rejected` (bad signature, bad body, too large or too slow) or `unavailable` (the queue failed).
pub const WEBHOOKS_RECEIVED_TOTAL: &str = "stripe2hubspot_webhooks_received_total";

impl IngestOutcome {
    /// The outcome's label in [`WEBHOOKS_RECEIVED_TOTAL`].
    pub fn label(&self) -> &'static str {
        match self {
            IngestOutcome::Queued { .. } => "queued",
            IngestOutcome::Duplicate { .. } => "duplicate",
            IngestOutcome::Ignored { .. } => "ignored",
            IngestOutcome::Rejected { .. }
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
    /// The HTTP status: 200, 400, 408, 413 or 503.
    pub fn status(&self) -> u16 {
        match self.outcome {
            IngestOutcome::Queued { .. }
            | IngestOutcome::Duplicate { .. }
            | IngestOutcome::Ignored { .. } => 200,
            IngestOutcome::Rejected { .. } => 400,
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
    /// Verified events of types not synced.
    pub ignored: u64,
    /// Deliveries rejected with 400, 408 or 413.
    pub rejected: u64,
    /// Deliveries answered 503 because the queue could not store them.
    pub unavailable: u64,
}

impl IngestStats {
    /// All deliveries seen.
    pub fn received(&self) -> u64 {
        self.queued + self.duplicate + self.ignored + self.rejected + self.unavailable
    }
}

impl Ingest {
    /// Starts building an ingest that verifies with `verifier` and stores into `queue`.
    pub fn builder(verifier: Verifier, queue: Arc<dyn Queue>) -> IngestBuilder {
        IngestBuilder {
            verifier,
            queue,
            // The default mapping's event types: the ones it turns into a contact and a deal.
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
            ignored: c.ignored.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            unavailable: c.unavailable.load(Ordering::Relaxed),
        }
    }

    /// Handles one delivery: `signature` is the `Stripe-Signature` header, `body` the raw bytes
    /// exactly as received.
    pub async fn handle(&self, signature: Option<&str>, body: &[u8]) -> IngestResponse {
        let outcome = self.outcome(signature, body).await;
        self.record(outcome)
    }

    fn record(&self, outcome: IngestOutcome) -> IngestResponse {
        let counter = match &outcome {
            IngestOutcome::Queued { .. } => &self.counters.queued,
            IngestOutcome::Duplicate { .. } => &self.counters.duplicate,
            IngestOutcome::Ignored { .. } => &self.counters.ignored,
            IngestOutcome::Rejected { .. }
            | IngestOutcome::PayloadTooLarge { .. }
            | IngestOutcome::BodyTimeout { .. } => &self.counters.rejected,
            IngestOutcome::Unavailable { .. } => &self.counters.unavailable,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(WEBHOOKS_RECEIVED_TOTAL, "outcome" => outcome.label()).increment(1);
        match &outcome {
            IngestOutcome::Rejected { error } => tracing::warn!(%error, "rejected a webhook"),
            IngestOutcome::BodyTimeout { timeout_ms } => tracing::warn!(
                timeout_ms,
                "a webhook's body did not arrive in time; answered 408 and dropped it"
            ),
            other => tracing::debug!(outcome = ?other, "webhook handled"),
        }
        IngestResponse { outcome }
    }

    async fn outcome(&self, signature: Option<&str>, body: &[u8]) -> IngestOutcome {
        if body.len() > self.body_limit {
            return IngestOutcome::PayloadTooLarge {
                limit: self.body_limit,
            };
        }
        // Only the envelope: the worker types `data.object` when it syncs the event.
        let event = match self
            .verifier
            .verify_envelope(body, signature.unwrap_or_default())
        {
            Ok(event) => event,
            #[cfg(feature = "backfill")]
            Err(stripe_events::WebhookError::ThinEvent) if self.thin.is_some() => {
                return self.thin_event(body).await;
            }
            // Signed by Stripe, but nothing here can fetch its object: acknowledge it so
            // Stripe does not retry for days, and say once what to configure.
            Err(stripe_events::WebhookError::ThinEvent) => return ignored_thin_event(body),
            Err(error) => {
                return IngestOutcome::Rejected {
                    error: error.to_string(),
                }
            }
        };
        if !self.event_types.contains(&event.type_) {
            return IngestOutcome::Ignored {
                event_id: event.id,
                event_type: event.type_,
            };
        }
        let job = NewJob {
            event_id: event.id.clone(),
            event_type: event.type_,
            event_created: event.created,
            payload: body.to_vec(),
        };
        self.store(job).await
    }

    async fn store(&self, job: NewJob) -> IngestOutcome {
        let event_id = job.event_id.clone();
        match self.queue.enqueue(job).await {
            Ok(Enqueued::Inserted(_)) => IngestOutcome::Queued { event_id },
            Ok(Enqueued::Duplicate(_)) => IngestOutcome::Duplicate { event_id },
            Err(error) => {
                // The detail is for the operator's log, not for the sender.
                tracing::error!(%error, event_id = %event_id, "could not store a webhook; answering 503 so Stripe retries");
                IngestOutcome::Unavailable {
                    error: "the event could not be stored; retry later".into(),
                }
            }
        }
    }

    /// A verified thin event: its object, fetched now, stored as the snapshot event a classic
    /// webhook would carry (deduplicated with a backfill reading the same unchanged object).
    #[cfg(feature = "backfill")]
    async fn thin_event(&self, body: &[u8]) -> IngestOutcome {
        use crate::history::{thin_event_snapshot, ThinEvent, ThinEventError};
        let Some(client) = &self.thin else {
            return IngestOutcome::Rejected {
                error: stripe_events::WebhookError::ThinEvent.to_string(),
            };
        };
        let thin: ThinEvent = match serde_json::from_slice(body) {
            Ok(thin) => thin,
            Err(error) => {
                return IngestOutcome::Rejected {
                    error: format!("the thin event notification is malformed: {error}"),
                }
            }
        };
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match thin_event_snapshot(client, &thin, now).await {
            Ok(Some(snapshot)) if self.event_types.contains(&snapshot.event.type_) => {
                self.store(snapshot.job()).await
            }
            Ok(Some(snapshot)) => IngestOutcome::Ignored {
                event_id: thin.id,
                event_type: snapshot.event.type_,
            },
            Ok(None) | Err(ThinEventError::NoRelatedObject { .. }) => IngestOutcome::Ignored {
                event_id: thin.id,
                event_type: thin.type_,
            },
            Err(error) => {
                tracing::error!(%error, "could not fetch a thin event's object; answering 503 so Stripe retries");
                IngestOutcome::Unavailable {
                    error: "the event's object could not be read from Stripe; retry later".into(),
                }
            }
        }
    }
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
