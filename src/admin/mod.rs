//! Operating a running pipeline: its status, dead letters, pause and resume, health, and the
//! gauges a metrics scrape reads.
//!
//! [`StatusSource`] is framework-free; with the `axum` feature, [`router`] serves it as the
//! admin HTTP API behind a bearer token and [`health`] as `/healthz`.

use std::sync::Arc;

use serde::Serialize;

use crate::engine::{EngineHandle, EngineMetrics, Role};
use crate::ingest::{Ingest, IngestStats};
use crate::queue::{DeadLetter, JobId, LedgerEntry, QueueAdmin, QueueError, QueueStats};

mod aggregate;
mod fleet;
#[cfg(feature = "axum")]
mod fleet_http;
#[cfg(feature = "axum")]
mod http;

pub use aggregate::{Aggregate, AggregateCache, AGGREGATE_TTL};
pub use fleet::{
    fleet_report, record_fleet_gauges, unrouted_report, FleetStatusReport, PortalStatus,
    UnroutedAccountView, UnroutedReport, PORTALS_LED, UNROUTED_EVENTS,
};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use fleet_http::{fleet_health, fleet_router};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use http::{health, router, AdminToken, InvalidAdminToken, MIN_ADMIN_TOKEN_LEN};

/// Gauge of jobs in the queue, labelled `state` (`ready`, `delayed`, `leased`, `dead`, `done`).
pub const QUEUE_JOBS: &str = "stripe2hubspot_queue_jobs";
/// Gauge: 1 while the pipeline is paused, 0 otherwise.
pub const PAUSED: &str = "stripe2hubspot_paused";
/// Gauge: Unix seconds of the last event this process synced (absent before the first).
pub const LAST_SYNC_TIMESTAMP_SECONDS: &str = "stripe2hubspot_last_sync_timestamp_seconds";
/// Gauge: payments waiting in the ledger for more facts (a capture, an email).
pub const LEDGER_WAITING: &str = "stripe2hubspot_ledger_waiting";
/// Gauge: 1 while this process is the elected syncer, 0 while it stands by.
pub const LEADER: &str = "stripe2hubspot_leader";

/// Most waiting payments one listing returns.
pub const MAX_WAITING_PAGE: usize = 500;

/// Most dead letters one listing returns.
pub const MAX_DEAD_LETTER_PAGE: usize = 500;

/// The parts of a running [`Service`](crate::Service) an operator looks at.
#[derive(Clone)]
pub struct StatusSource {
    /// The queue's inspection side.
    pub admin: Arc<dyn QueueAdmin>,
    /// The running engine.
    pub engine: EngineHandle,
    /// The webhook ingest.
    pub ingest: Arc<Ingest>,
    /// What `/healthz` and `/metrics` read, computed at most once a second and shared by the
    /// clones of this source.
    pub aggregate: AggregateCache,
}

impl std::fmt::Debug for StatusSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusSource")
            .field("engine", &self.engine)
            .finish_non_exhaustive()
    }
}

/// Jobs by state, serializable.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    /// Reservable now.
    pub ready: u64,
    /// Waiting for a retry time.
    pub delayed: u64,
    /// Held by a worker.
    pub leased: u64,
    /// Dead-lettered.
    pub dead: u64,
    /// Completed, kept for deduplication.
    pub done: u64,
}

impl From<QueueStats> for QueueDepth {
    fn from(s: QueueStats) -> Self {
        QueueDepth {
            ready: s.ready,
            delayed: s.delayed,
            leased: s.leased,
            dead: s.dead,
            done: s.done,
        }
    }
}

impl QueueDepth {
    /// `(state, count)` pairs, in a fixed order.
    pub fn by_state(&self) -> [(&'static str, u64); 5] {
        [
            ("ready", self.ready),
            ("delayed", self.delayed),
            ("leased", self.leased),
            ("dead", self.dead),
            ("done", self.done),
        ]
    }
}

/// What `GET /admin/status` answers.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// `ok`, `paused`, or `unavailable` when the queue cannot be read.
    pub status: &'static str,
    /// Whether this process runs the sync (`leader`) or stands by (`standby`).
    pub role: Role,
    /// Why the pipeline is paused, if it is.
    pub paused: Option<String>,
    /// Who paused the sync for every process (`POST /admin/pause` on any of them), if an
    /// operator's pause is stored: what the request said (or `admin api`), with the host and
    /// process id that received it.
    pub paused_by: Option<String>,
    /// When that pause was stored (RFC 3339).
    pub paused_at: Option<String>,
    /// Jobs by state; `None` when the queue cannot be read.
    pub queue: Option<QueueDepth>,
    /// Why the queue could not be read (for the operator; may name the database host).
    pub queue_error: Option<String>,
    /// Payments waiting in the ledger for more facts; `None` when the ledger cannot be read.
    pub waiting: Option<u64>,
    /// When this process last synced an event (RFC 3339), if it did.
    pub last_sync: Option<String>,
    /// Ingest counters since start.
    pub ingest: IngestStats,
    /// Engine counters since start.
    pub engine: EngineMetrics,
}

/// One dead letter, with its error shortened and stripped of anything that looks like an
/// email address or a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeadLetterView {
    /// Queue id.
    pub id: JobId,
    /// Stripe event id.
    pub event_id: String,
    /// Stripe event type.
    pub event_type: String,
    /// The payment the event is about (its PaymentIntent, else charge, invoice or Checkout
    /// Session id), read from the stored event; `None` when the event names none.
    pub payment_id: Option<String>,
    /// Attempts consumed.
    pub attempts: u32,
    /// Why it was dead-lettered, redacted.
    pub last_error: String,
    /// When, in Unix seconds.
    pub failed_at: i64,
}

impl From<&DeadLetter> for DeadLetterView {
    fn from(d: &DeadLetter) -> Self {
        DeadLetterView {
            id: d.id,
            event_id: d.event_id.clone(),
            event_type: d.event_type.clone(),
            payment_id: payment_id_of(&d.payload),
            attempts: d.attempts,
            last_error: redact(&d.error),
            failed_at: d
                .failed_at
                .duration_since(std::time::UNIX_EPOCH)
                .map(|t| i64::try_from(t.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0),
        }
    }
}

/// The payment a stored Stripe event is about, read as the engine reads it (with the default
/// mapping): its PaymentIntent id, else its charge, invoice or Checkout Session id. `None` when
/// the payload is not an event of a handled type or names no payment.
pub fn payment_id_of(payload: &[u8]) -> Option<String> {
    let event = stripe_events::parse_event(payload).ok()?;
    match stripe2hubspot_map::facts_from_event(
        &event,
        &stripe2hubspot_map::MappingConfig::default(),
    ) {
        Ok(stripe2hubspot_map::FactsOutcome::Facts(facts)) => facts.ids.key().map(str::to_owned),
        _ => None,
    }
}

/// A payment waiting in the ledger, as operators see it: no contact data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WaitingPaymentView {
    /// The payment's key (PaymentIntent, else charge, invoice or Checkout Session id).
    pub payment_id: String,
    /// What it waits for: `awaiting_payment`, `awaiting_capture` or `awaiting_contact`.
    pub waiting_for: &'static str,
    /// The ledger row's version.
    pub version: i64,
}

impl WaitingPaymentView {
    /// The view of one ledger entry, its state read with `mapping`.
    pub fn new(entry: &LedgerEntry, mapping: &stripe2hubspot_map::MappingConfig) -> Self {
        use stripe2hubspot_map::PaymentState;
        let waiting_for = match entry.row.state(mapping) {
            PaymentState::AwaitingPayment => "awaiting_payment",
            PaymentState::AwaitingCapture => "awaiting_capture",
            PaymentState::AwaitingContact => "awaiting_contact",
            _ => "nothing",
        };
        WaitingPaymentView {
            payment_id: entry.key.clone(),
            waiting_for,
            version: entry.version,
        }
    }
}

fn rfc3339(at: std::time::SystemTime) -> Option<String> {
    time::OffsetDateTime::from(at)
        .format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// Longest "who paused" text kept from a request.
const MAX_PAUSED_BY_CHARS: usize = 64;

/// What the store records as who paused: `requested` (what the pause request said, shortened,
/// emails and tokens redacted; `admin api` when it said nothing) and the host and process id
/// that received it, so an operator can tell which process behind a load balancer took it.
pub fn paused_by(requested: Option<&str>) -> String {
    let cleaned: String = requested
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_PAUSED_BY_CHARS)
        .collect();
    let who = redact(cleaned.trim());
    let who = if who.is_empty() {
        "admin api".to_owned()
    } else {
        who
    };
    format!("{who} (host {}, pid {})", host_name(), std::process::id())
}

/// This machine's host name, from `HOSTNAME` or the kernel; `unknown` when neither says.
fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

/// Longest error text shown for a dead letter.
const MAX_ERROR_CHARS: usize = 200;

/// Replaces words that look like an email address or a credential (`pat-...`, `sk_...`,
/// `whsec_...`, long opaque strings) with `[redacted]` and shortens the text.
pub fn redact(text: &str) -> String {
    let looks_secret = |word: &str| {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '@');
        w.contains('@')
            || ["pat-", "sk_", "rk_", "whsec_", "Bearer"]
                .iter()
                .any(|p| w.starts_with(p))
            || (w.len() >= 32 && w.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
    };
    let redacted: Vec<&str> = text
        .split_whitespace()
        .map(|w| if looks_secret(w) { "[redacted]" } else { w })
        .collect();
    let joined = redacted.join(" ");
    if joined.chars().count() > MAX_ERROR_CHARS {
        let cut: String = joined.chars().take(MAX_ERROR_CHARS).collect();
        format!("{cut}...")
    } else {
        joined
    }
}

/// Why a replay did not happen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No dead letter has this event id.
    #[error("no dead letter has event id {0}: list them with `stripe2hubspot dead-letters list`")]
    NotDead(String),
    /// The queue failed.
    #[error("the queue failed: {0}")]
    Queue(#[from] QueueError),
}

/// Every dead letter, oldest first, read in pages.
pub async fn all_dead_letters(admin: &dyn QueueAdmin) -> Result<Vec<DeadLetter>, QueueError> {
    let mut out: Vec<DeadLetter> = Vec::new();
    loop {
        let page = admin
            .dead_letters(MAX_DEAD_LETTER_PAGE, out.last().map(|d| d.id))
            .await?;
        let full = page.len() == MAX_DEAD_LETTER_PAGE;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// Makes the dead letters with these event ids ready again (every one when `event_ids` is
/// `None`); returns the event ids replayed. Fails before replaying anything if an id is not a
/// dead letter.
pub async fn replay(
    admin: &dyn QueueAdmin,
    event_ids: Option<&[String]>,
) -> Result<Vec<String>, ReplayError> {
    let dead = all_dead_letters(admin).await?;
    let chosen: Vec<&DeadLetter> = match event_ids {
        None => dead.iter().collect(),
        Some(ids) => {
            let mut chosen = Vec::with_capacity(ids.len());
            for id in ids {
                match dead.iter().find(|d| &d.event_id == id) {
                    Some(d) => chosen.push(d),
                    None => return Err(ReplayError::NotDead(id.clone())),
                }
            }
            chosen
        }
    };
    let mut replayed = Vec::with_capacity(chosen.len());
    for d in chosen {
        admin.replay(d.id).await?;
        replayed.push(d.event_id.clone());
    }
    Ok(replayed)
}

impl StatusSource {
    /// The status report (reads the queue once).
    pub async fn report(&self) -> StatusReport {
        let stored = self.engine.operator_pause().await.ok().flatten();
        let paused = self
            .engine
            .paused()
            .map(|r| r.to_string())
            .or_else(|| stored.as_ref().map(|_| "paused by the operator".to_owned()));
        let (queue, queue_error) = match self.admin.stats().await {
            Ok(stats) => (Some(QueueDepth::from(stats)), None),
            Err(error) => (None, Some(error.to_string())),
        };
        let waiting = self.engine.waiting().await.ok();
        let status = match (&queue, &paused) {
            (None, _) => "unavailable",
            (Some(_), Some(_)) => "paused",
            (Some(_), None) => "ok",
        };
        StatusReport {
            status,
            role: self.engine.role(),
            paused,
            paused_by: stored.as_ref().map(|p| p.by.clone()),
            paused_at: stored.as_ref().and_then(|p| rfc3339(p.at)),
            queue,
            queue_error,
            waiting,
            last_sync: self.engine.last_synced_at().and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            }),
            ingest: self.ingest.stats(),
            engine: self.engine.metrics(),
        }
    }

    /// Up to [`MAX_WAITING_PAGE`] payments waiting in the ledger, by key.
    pub async fn waiting(&self) -> Result<Vec<WaitingPaymentView>, QueueError> {
        let entries = self.engine.waiting_payments(MAX_WAITING_PAGE).await?;
        let mapping = self.engine.mapping();
        Ok(entries
            .iter()
            .map(|e| WaitingPaymentView::new(e, mapping))
            .collect())
    }

    /// Sets the queue-depth, waiting, leader, paused and last-sync gauges in the [`metrics`]
    /// facade; call it before each scrape. The depth and waiting figures come from the
    /// [aggregate](Self::aggregate), at most a second old; a store that cannot be read leaves
    /// those gauges as they were.
    pub async fn record_gauges(&self) {
        let aggregate = self.aggregate().await;
        if let Some(waiting) = aggregate.waiting {
            metrics::gauge!(LEDGER_WAITING).set(waiting as f64);
        }
        let leader = match self.engine.role() {
            Role::Leader => 1.0,
            Role::Standby => 0.0,
        };
        metrics::gauge!(LEADER).set(leader);
        if let Some(stats) = aggregate.queue {
            for (state, count) in QueueDepth::from(stats).by_state() {
                metrics::gauge!(QUEUE_JOBS, "state" => state).set(count as f64);
            }
        }
        let paused = if self.engine.paused().is_some() {
            1.0
        } else {
            0.0
        };
        metrics::gauge!(PAUSED).set(paused);
        if let Some(at) = self.engine.last_synced_at() {
            metrics::gauge!(LAST_SYNC_TIMESTAMP_SECONDS).set(at.unix_timestamp() as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn charge_event(payment_intent: Option<&str>) -> Vec<u8> {
        serde_json::json!({
            "id": "evt_1", "object": "event", "created": 1_700_000_000,
            "type": "charge.succeeded",
            "data": {"object": {
                "id": "ch_1", "object": "charge", "amount": 500, "amount_captured": 500,
                "amount_refunded": 0, "captured": true, "paid": true, "refunded": false,
                "status": "succeeded", "currency": "usd", "created": 1_700_000_000,
                "payment_intent": payment_intent,
                "billing_details": {"email": "tony@stark.com"}
            }}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_dead_letter_names_its_payment_from_the_stored_event() {
        assert_eq!(
            payment_id_of(&charge_event(Some("pi_1"))).as_deref(),
            Some("pi_1")
        );
        assert_eq!(payment_id_of(&charge_event(None)).as_deref(), Some("ch_1"));
        assert_eq!(payment_id_of(b"not json"), None);
        let letter = DeadLetter {
            id: 7,
            event_id: "evt_1".into(),
            event_type: "charge.succeeded".into(),
            attempts: 1,
            error: "HubSpot refused the deal".into(),
            failed_at: std::time::UNIX_EPOCH,
            payload: charge_event(Some("pi_1")),
        };
        let view = DeadLetterView::from(&letter);
        assert_eq!(view.payment_id.as_deref(), Some("pi_1"));
        let shown = format!("{letter:?} {}", serde_json::to_string(&view).unwrap());
        assert!(!shown.contains("tony@stark.com"), "{shown}");
    }

    #[test]
    fn who_paused_names_the_process_and_hides_emails() {
        let pid = std::process::id().to_string();
        let by = paused_by(Some("alice@example.com deploy #42"));
        assert!(!by.contains("alice@example.com"), "{by}");
        assert!(by.starts_with("[redacted] deploy #42 (host "), "{by}");
        assert!(by.contains(&pid), "{by}");
        assert!(paused_by(None).starts_with("admin api (host "));
        assert!(paused_by(Some(" \n ")).starts_with("admin api (host "));
        let long = "x".repeat(500);
        assert!(paused_by(Some(&long)).len() < 200);
    }

    #[test]
    fn redact_hides_emails_and_tokens_and_keeps_the_rest() {
        let text = "HubSpot answered 400 for tony@stark.com with Bearer pat-na1-abc and sk_live_x";
        let r = redact(text);
        assert!(!r.contains("tony@stark.com"), "{r}");
        assert!(!r.contains("pat-na1-abc"), "{r}");
        assert!(!r.contains("sk_live_x"), "{r}");
        assert!(r.starts_with("HubSpot answered 400 for [redacted]"), "{r}");
        let long = "x ".repeat(400);
        assert!(redact(&long).chars().count() <= MAX_ERROR_CHARS + 3);
    }
}
