//! Prometheus metrics, served at `/metrics` to scrapers only (see
//! `routes::metrics`). Requests are labelled by route pattern
//! (`/api/v1/bookings/{reference}`), never by raw path, so no reference or
//! token ends up in a label.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, from a fast cache hit to a slow fsync.
const LATENCY_BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The process-wide recorder (installed once, shared by every app in the
/// process, as in the tests).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = || {
            PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .unwrap_or_else(|_| PrometheusBuilder::new())
        };
        builder()
            .install_recorder()
            // Another recorder is installed already: keep a private one so
            // the endpoint still answers.
            .unwrap_or_else(|_| builder().build_recorder().handle())
    })
}

/// Counts one answered request.
pub fn record_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "http_request_duration_seconds",
        &[("method", method.to_string()), ("route", route.to_string())]
    )
    .record(seconds);
    if status == 409 {
        metrics::counter!("booking_conflicts_total").increment(1);
    }
}

/// A booking made (by any route: API, form, staff).
pub fn booking_created() {
    metrics::counter!("bookings_created_total").increment(1);
}

/// A booking cancelled (by patient or staff).
pub fn booking_cancelled() {
    metrics::counter!("bookings_cancelled_total").increment(1);
}
