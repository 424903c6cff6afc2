//! Small HTTP helpers shared by the clients (GitHub, Grafana, remote write).

use std::time::Duration;

/// A `Retry-After` given in seconds (the form GitHub, Grafana and Prometheus send).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}
