//! What operators see of a [`Fleet`]: the status of every portal, unrouted events, and the
//! per-portal gauges of a metrics scrape.

use serde::Serialize;

use super::{QueueDepth, StatusReport, LAST_SYNC_TIMESTAMP_SECONDS, LEADER, LEDGER_WAITING};
use super::{PAUSED, QUEUE_JOBS};
use crate::engine::{EngineMetrics, Role};
use crate::fleet::{Fleet, PortalRun};
use crate::queue::QueueError;

/// Gauge: events stored for Stripe accounts no portal claims yet.
pub const UNROUTED_EVENTS: &str = "stripe2hubspot_unrouted_events";
/// Gauge: how many portals this process syncs (leads) now.
pub const PORTALS_LED: &str = "stripe2hubspot_portals_led";

/// One portal in `GET /admin/status`.
#[derive(Debug, Clone, Serialize)]
pub struct PortalStatus {
    /// The portal id (`default` for the environment's portal).
    pub id: String,
    /// Whether this process syncs it (`leader`) or another process may (`standby`).
    pub role: Role,
    /// Why its sync is paused, if it is (in this process).
    pub paused: Option<String>,
    /// Its jobs by state; `None` when its queue cannot be read (or its engine did not start).
    pub queue: Option<QueueDepth>,
    /// Its payments waiting in the ledger.
    pub waiting: Option<u64>,
    /// When this process last synced one of its events (RFC 3339).
    pub last_sync: Option<String>,
    /// Why its engine could not start (a stored setting that no longer parses), if so.
    pub error: Option<String>,
}

/// The unrouted events of one Stripe account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnroutedAccountView {
    /// The Stripe account (`acct_...`, or `platform` for events without one).
    pub account: String,
    /// How many of its events wait.
    pub events: u64,
}

/// Events waiting for a portal to claim their account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UnroutedReport {
    /// How many events wait, all accounts together.
    pub events: u64,
    /// The accounts with waiting events, sorted.
    pub accounts: Vec<UnroutedAccountView>,
}

/// What `GET /admin/status` answers for a fleet: the single-portal report's fields (the
/// `default` portal's when it is configured; else totals over the portals), this process's
/// id, the portals it leads, every portal's status and the unrouted events.
#[derive(Debug, Clone, Serialize)]
pub struct FleetStatusReport {
    /// The single-portal report's fields.
    #[serde(flatten)]
    pub base: StatusReport,
    /// This process's id among those sharing the store.
    pub process_id: String,
    /// The ids of the portals this process syncs now, sorted.
    pub leading: Vec<String>,
    /// Every portal the fleet runs, by id.
    pub portals: Vec<PortalStatus>,
    /// Events waiting for a portal; `None` when they cannot be read.
    pub unrouted: Option<UnroutedReport>,
}

fn rfc3339(at: time::OffsetDateTime) -> Option<String> {
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

/// The unrouted events by account.
pub async fn unrouted_report(fleet: &Fleet) -> Result<UnroutedReport, QueueError> {
    let accounts = fleet.store().unrouted.unrouted_accounts().await?;
    Ok(UnroutedReport {
        events: accounts.iter().map(|a| a.events).sum(),
        accounts: accounts
            .into_iter()
            .map(|a| UnroutedAccountView {
                account: a.account,
                events: a.events,
            })
            .collect(),
    })
}

async fn portal_status(fleet: &Fleet, run: &PortalRun) -> PortalStatus {
    let (queue, waiting) = match run.source(&fleet.ingest()) {
        Some(source) => {
            let aggregate = source.aggregate().await;
            (aggregate.queue.map(QueueDepth::from), aggregate.waiting)
        }
        None => (None, None),
    };
    let engine = run.engine.as_ref();
    PortalStatus {
        id: run.id.clone(),
        role: if run.leads() {
            Role::Leader
        } else {
            Role::Standby
        },
        paused: engine.and_then(|e| e.paused()).map(|r| r.to_string()),
        queue,
        waiting,
        last_sync: engine.and_then(|e| e.last_synced_at()).and_then(rfc3339),
        error: run.error.clone(),
    }
}

/// The fleet's status report (reads each portal's aggregate, at most once a second each).
pub async fn fleet_report(fleet: &Fleet) -> FleetStatusReport {
    let runs = fleet.portals();
    let mut portals = Vec::with_capacity(runs.len());
    for run in runs.values() {
        portals.push(portal_status(fleet, run).await);
    }
    let leading: Vec<String> = runs
        .values()
        .filter(|r| r.leads())
        .map(|r| r.id.clone())
        .collect();
    let default = runs
        .get(crate::queue::DEFAULT_PORTAL)
        .and_then(|r| r.source(&fleet.ingest()));
    let mut base = match default {
        Some(source) => source.report().await,
        None => totals(fleet, &runs, &portals).await,
    };
    if !leading.is_empty() {
        base.role = Role::Leader;
    }
    FleetStatusReport {
        base,
        process_id: fleet.process_id(),
        leading,
        portals,
        unrouted: unrouted_report(fleet).await.ok(),
    }
}

/// The single-portal fields without a running `default` portal engine (none configured, or
/// it is starting): sums over the portals.
async fn totals(
    fleet: &Fleet,
    runs: &std::collections::BTreeMap<String, PortalRun>,
    portals: &[PortalStatus],
) -> StatusReport {
    let (queue, queue_error) = match fleet.store().admin.stats().await {
        Ok(root) => {
            // The root store holds the `default` portal's jobs: counted from it while that
            // portal's engine starts (its status has no queue yet).
            let mut depth = if fleet.has_default_portal() {
                QueueDepth::from(root)
            } else {
                QueueDepth::default()
            };
            let others = portals
                .iter()
                .filter(|p| p.id != crate::queue::DEFAULT_PORTAL);
            for p in others.filter_map(|p| p.queue) {
                depth.ready += p.ready;
                depth.delayed += p.delayed;
                depth.leased += p.leased;
                depth.dead += p.dead;
                depth.done += p.done;
            }
            (Some(depth), None)
        }
        Err(error) => (None, Some(error.to_string())),
    };
    let mut engine = EngineMetrics::default();
    let mut last_sync = None;
    for run in runs.values() {
        let Some(handle) = &run.engine else { continue };
        let m = handle.metrics();
        engine.synced += m.synced;
        engine.skipped += m.skipped;
        engine.retried += m.retried;
        engine.dead_lettered += m.dead_lettered;
        engine.hubspot_requests += m.hubspot_requests;
        engine.rate_limited += m.rate_limited;
        engine.pauses += m.pauses;
        engine.worker_restarts += m.worker_restarts;
        last_sync = last_sync.max(handle.last_synced_at());
    }
    let mut waiting: u64 = portals
        .iter()
        .filter(|p| p.id != crate::queue::DEFAULT_PORTAL)
        .filter_map(|p| p.waiting)
        .sum();
    if fleet.has_default_portal() {
        waiting += fleet.store().state.waiting_count().await.unwrap_or(0);
    }
    StatusReport {
        status: if queue.is_some() { "ok" } else { "unavailable" },
        role: Role::Standby,
        paused: None,
        paused_by: None,
        paused_at: None,
        queue,
        queue_error,
        waiting: Some(waiting),
        last_sync: last_sync.and_then(rfc3339),
        ingest: fleet.ingest().stats(),
        engine,
    }
}

/// Sets the gauges of every portal (labelled `portal`; the `default` portal's keep no label,
/// as a single-portal deployment always exported them), the unrouted-events gauge and the
/// portals-led gauge; call it before each scrape.
pub async fn record_fleet_gauges(fleet: &Fleet) {
    let ingest = fleet.ingest();
    let mut led = 0u32;
    for run in fleet.portals().values() {
        if run.leads() {
            led += 1;
        }
        let Some(source) = run.source(&ingest) else {
            continue;
        };
        if run.id == crate::queue::DEFAULT_PORTAL {
            source.record_gauges().await;
            continue;
        }
        let portal = run.id.clone();
        let aggregate = source.aggregate().await;
        if let Some(waiting) = aggregate.waiting {
            metrics::gauge!(LEDGER_WAITING, "portal" => portal.clone()).set(waiting as f64);
        }
        let leader = if run.leads() { 1.0 } else { 0.0 };
        metrics::gauge!(LEADER, "portal" => portal.clone()).set(leader);
        if let Some(stats) = aggregate.queue {
            for (state, count) in QueueDepth::from(stats).by_state() {
                metrics::gauge!(QUEUE_JOBS, "state" => state, "portal" => portal.clone())
                    .set(count as f64);
            }
        }
        let paused = if source.engine.paused().is_some() {
            1.0
        } else {
            0.0
        };
        metrics::gauge!(PAUSED, "portal" => portal.clone()).set(paused);
        if let Some(at) = source.engine.last_synced_at() {
            metrics::gauge!(LAST_SYNC_TIMESTAMP_SECONDS, "portal" => portal.clone())
                .set(at.unix_timestamp() as f64);
        }
    }
    metrics::gauge!(PORTALS_LED).set(f64::from(led));
    if let Ok(report) = unrouted_report(fleet).await {
        metrics::gauge!(UNROUTED_EVENTS).set(report.events as f64);
    }
}
