//! Metrics every request emits through the [`metrics`] facade.
//!
//! A client built with [`ClientBuilder::portal`](crate::ClientBuilder::portal) adds a
//! `portal` label (the portal id, nothing else, so the number of series stays bounded by
//! the number of portals) to every one of them.
//!
//! Nothing is recorded unless the application installs a recorder (for example the
//! Prometheus exporter of the `stripe2hubspot` binary); without one these calls cost a
//! few atomic loads.

use std::time::Duration;

/// Requests sent, labelled `endpoint` (such as `objects.batch_upsert`) and `status`
/// (`2xx`, `4xx`, `5xx`, or `error` when no answer arrived).
pub const REQUESTS_TOTAL: &str = "stripe2hubspot_hubspot_requests_total";
/// Seconds from sending a request to reading its whole answer, labelled `endpoint`.
pub const REQUEST_DURATION_SECONDS: &str = "stripe2hubspot_hubspot_request_duration_seconds";
/// 429 answers, labelled `endpoint`.
pub const RATE_LIMITED_TOTAL: &str = "stripe2hubspot_hubspot_rate_limited_total";
/// Seconds a request waited in the client's limiters before it was sent.
pub const LIMITER_WAIT_SECONDS: &str = "stripe2hubspot_hubspot_limiter_wait_seconds";

/// The `status` label of an answer: its class, or `error` without one.
pub(crate) fn status_class(status: Option<u16>) -> &'static str {
    match status {
        Some(200..=299) => "2xx",
        Some(300..=399) => "3xx",
        Some(400..=499) => "4xx",
        Some(500..=599) => "5xx",
        _ => "error",
    }
}

/// The labels of a request's metrics: `endpoint`, then `portal` when the client has one.
fn labels(endpoint: &'static str, portal: Option<&str>) -> Vec<metrics::Label> {
    let mut labels = vec![metrics::Label::new("endpoint", endpoint)];
    if let Some(portal) = portal {
        labels.push(metrics::Label::new("portal", portal.to_owned()));
    }
    labels
}

/// Records one request's outcome.
pub(crate) fn record_request(
    endpoint: &'static str,
    portal: Option<&str>,
    status: Option<u16>,
    elapsed: Duration,
) {
    let labels = labels(endpoint, portal);
    let mut with_status = labels.clone();
    with_status.push(metrics::Label::new("status", status_class(status)));
    metrics::counter!(REQUESTS_TOTAL, with_status).increment(1);
    metrics::histogram!(REQUEST_DURATION_SECONDS, labels.clone()).record(elapsed.as_secs_f64());
    if status == Some(429) {
        metrics::counter!(RATE_LIMITED_TOTAL, labels).increment(1);
    }
}

/// Records how long a request waited for the limiters.
pub(crate) fn record_limiter_wait(portal: Option<&str>, waited: Duration) {
    match portal {
        Some(portal) => metrics::histogram!(LIMITER_WAIT_SECONDS, "portal" => portal.to_owned())
            .record(waited.as_secs_f64()),
        None => metrics::histogram!(LIMITER_WAIT_SECONDS).record(waited.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps the key (name and labels) of every metric recorded.
    #[derive(Default)]
    struct Keys(std::sync::Mutex<Vec<metrics::Key>>);

    impl Keys {
        fn labels(&self, name: &str) -> Vec<Vec<(String, String)>> {
            self.0
                .lock()
                .unwrap()
                .iter()
                .filter(|key| key.name() == name)
                .map(|key| {
                    key.labels()
                        .map(|l| (l.key().to_owned(), l.value().to_owned()))
                        .collect()
                })
                .collect()
        }
    }

    impl metrics::Recorder for Keys {
        fn describe_counter(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_gauge(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn describe_histogram(
            &self,
            _: metrics::KeyName,
            _: Option<metrics::Unit>,
            _: metrics::SharedString,
        ) {
        }
        fn register_counter(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Counter {
            self.0.lock().unwrap().push(key.clone());
            metrics::Counter::noop()
        }
        fn register_gauge(&self, key: &metrics::Key, _: &metrics::Metadata<'_>) -> metrics::Gauge {
            self.0.lock().unwrap().push(key.clone());
            metrics::Gauge::noop()
        }
        fn register_histogram(
            &self,
            key: &metrics::Key,
            _: &metrics::Metadata<'_>,
        ) -> metrics::Histogram {
            self.0.lock().unwrap().push(key.clone());
            metrics::Histogram::noop()
        }
    }

    fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_portal_client_labels_every_metric_with_the_portal_and_nothing_else_changes_without_one() {
        let keys = Keys::default();
        metrics::with_local_recorder(&keys, || {
            record_request(
                "objects.batch_upsert",
                Some("acme-eu"),
                Some(429),
                Duration::ZERO,
            );
            record_limiter_wait(Some("acme-eu"), Duration::ZERO);
        });
        assert_eq!(
            keys.labels(REQUESTS_TOTAL),
            [pairs(&[
                ("endpoint", "objects.batch_upsert"),
                ("portal", "acme-eu"),
                ("status", "4xx")
            ])]
        );
        let endpoint_and_portal =
            pairs(&[("endpoint", "objects.batch_upsert"), ("portal", "acme-eu")]);
        assert_eq!(
            keys.labels(REQUEST_DURATION_SECONDS),
            std::slice::from_ref(&endpoint_and_portal)
        );
        assert_eq!(keys.labels(RATE_LIMITED_TOTAL), [endpoint_and_portal]);
        assert_eq!(
            keys.labels(LIMITER_WAIT_SECONDS),
            [pairs(&[("portal", "acme-eu")])]
        );

        let keys = Keys::default();
        metrics::with_local_recorder(&keys, || {
            record_request("objects.batch_upsert", None, Some(200), Duration::ZERO);
            record_limiter_wait(None, Duration::ZERO);
        });
        assert_eq!(
            keys.labels(REQUESTS_TOTAL),
            [pairs(&[
                ("endpoint", "objects.batch_upsert"),
                ("status", "2xx")
            ])]
        );
        assert_eq!(keys.labels(LIMITER_WAIT_SECONDS), [Vec::new()]);
    }

    #[test]
    fn status_classes() {
        assert_eq!(status_class(Some(200)), "2xx");
        assert_eq!(status_class(Some(207)), "2xx");
        assert_eq!(status_class(Some(429)), "4xx");
        assert_eq!(status_class(Some(503)), "5xx");
        assert_eq!(status_class(None), "error");
    }
}
