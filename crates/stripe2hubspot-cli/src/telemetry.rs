//! The Prometheus exporter behind `GET /metrics`, and the description of every metric.

use hubspot_crm::telemetry as hubspot;
use metrics::Unit;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use stripe2hubspot::admin::{
    LAST_SYNC_TIMESTAMP_SECONDS, PAUSED, PORTALS_LED, QUEUE_JOBS, UNROUTED_EVENTS,
};
use stripe2hubspot::engine::metric_names as engine;
use stripe2hubspot::ingest::WEBHOOKS_RECEIVED_TOTAL;

/// Histogram buckets for every `_seconds` metric: 1 ms to 60 s.
const SECONDS_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Counters without labels, exported at 0 from the start so `rate()` sees their first increase.
const UNLABELLED_COUNTERS: [(&str, &str); 5] = [
    (
        engine::PAYMENTS_SYNCED_TOTAL,
        "Events written to HubSpot and completed",
    ),
    (
        engine::EVENTS_SKIPPED_TOTAL,
        "Events completed without a write",
    ),
    (
        engine::EVENTS_RETRIED_TOTAL,
        "Events rescheduled for a later attempt",
    ),
    (
        engine::DEAD_LETTERS_TOTAL,
        "Events moved to the dead-letter list",
    ),
    (engine::PAUSES_TOTAL, "Times the pipeline paused"),
];

/// Every metric name the binary exports (the dashboard test checks against it).
#[cfg(test)]
pub const METRIC_NAMES: [&str; 15] = [
    WEBHOOKS_RECEIVED_TOTAL,
    UNROUTED_EVENTS,
    PORTALS_LED,
    QUEUE_JOBS,
    PAUSED,
    LAST_SYNC_TIMESTAMP_SECONDS,
    engine::PAYMENTS_SYNCED_TOTAL,
    engine::EVENTS_SKIPPED_TOTAL,
    engine::EVENTS_RETRIED_TOTAL,
    engine::DEAD_LETTERS_TOTAL,
    engine::PAUSES_TOTAL,
    hubspot::REQUESTS_TOTAL,
    hubspot::REQUEST_DURATION_SECONDS,
    hubspot::RATE_LIMITED_TOTAL,
    hubspot::LIMITER_WAIT_SECONDS,
];

/// Installs the global recorder; the handle renders the text exposition format.
pub fn install() -> Result<PrometheusHandle, String> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &SECONDS_BUCKETS)
        .map_err(|e| format!("could not configure the metrics histograms: {e}"))?
        .install_recorder()
        .map_err(|e| format!("could not install the metrics recorder: {e}"))?;
    describe();
    Ok(handle)
}

fn describe() {
    metrics::describe_counter!(
        WEBHOOKS_RECEIVED_TOTAL,
        "Stripe webhook deliveries by outcome"
    );
    metrics::describe_gauge!(
        QUEUE_JOBS,
        "Jobs in the queue by state (and portal), read at each scrape"
    );
    metrics::describe_gauge!(
        PAUSED,
        "1 while the pipeline is paused (by portal; the default portal has no label)"
    );
    metrics::describe_gauge!(
        UNROUTED_EVENTS,
        "Events stored for Stripe accounts no portal claims yet"
    );
    metrics::describe_gauge!(PORTALS_LED, "Portals this process syncs now");
    metrics::describe_gauge!(
        LAST_SYNC_TIMESTAMP_SECONDS,
        Unit::Seconds,
        "Unix time of the last event this process synced"
    );
    for (name, help) in UNLABELLED_COUNTERS {
        metrics::describe_counter!(name, help);
        metrics::counter!(name).increment(0);
    }
    metrics::describe_counter!(
        hubspot::REQUESTS_TOTAL,
        "HubSpot requests by endpoint and status class"
    );
    metrics::describe_histogram!(
        hubspot::REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "HubSpot request latency by endpoint"
    );
    metrics::describe_counter!(
        hubspot::RATE_LIMITED_TOTAL,
        "HubSpot 429 answers by endpoint"
    );
    metrics::describe_histogram!(
        hubspot::LIMITER_WAIT_SECONDS,
        Unit::Seconds,
        "Time requests waited in the HubSpot rate limiter"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Grafana dashboard queries only metrics the binary exports.
    #[test]
    fn the_dashboard_uses_only_exported_metrics() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/grafana/stripe2hubspot.json"
        );
        let text = std::fs::read_to_string(path).unwrap();
        let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut used = Vec::new();
        for panel in dashboard["panels"].as_array().unwrap() {
            for target in panel["targets"].as_array().unwrap() {
                let expr = target["expr"].as_str().unwrap();
                let mut rest = expr;
                while let Some(start) = rest.find("stripe2hubspot_") {
                    let tail = &rest[start..];
                    let end = tail
                        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .unwrap_or(tail.len());
                    used.push(tail[..end].to_owned());
                    rest = &tail[end..];
                }
            }
        }
        assert!(used.len() >= 10, "{used:?}");
        for name in used {
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(METRIC_NAMES.contains(&base), "{name} is not exported");
        }
    }
}
