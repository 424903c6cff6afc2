//! `GET /metrics`: the shop's own request metrics in the Prometheus text exposition format
//! (version 0.0.4), what a canary analysis reads from a real Prometheus scraping the stable and
//! the canary instance.
//!
//! - `http_server_request_duration_seconds` (histogram, classic buckets), labels `route`
//!   (`POST /api/checkout`; a path the router does not know is `other`, so a scanner cannot
//!   grow the series) and `status_class` (`2xx`, `4xx`, `5xx`);
//! - `http_server_requests_total` (counter), labels `route` and `status` (`200`, `502`, ...).
//!
//! Hand-written rather than `prometheus-client`: one histogram and one counter, fixed label
//! sets, and no new dependency tree for a demo crate; the format is a few lines per series.
//! Only series that saw a request are written (a histogram's buckets all at once).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Upper bounds in seconds: 0.5 ms to ~20 s, each 20 % above the one before, so that a
/// quantile read back from the buckets is within a few percent of the real one (a canary
/// analysis compares latencies 10-30 % apart).
pub(crate) fn bounds() -> &'static [f64] {
    static BOUNDS: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    BOUNDS.get_or_init(|| {
        let mut out = Vec::new();
        let mut b = 0.0005_f64;
        while b < 20.0 {
            // Four significant digits: stable `le` labels.
            out.push(format!("{b:.4e}").parse().unwrap_or(b));
            b *= 1.2;
        }
        out
    })
}

#[derive(Debug, Default)]
struct Histogram {
    /// Per bound, not cumulative; the last is +Inf.
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Debug, Default)]
struct State {
    durations: BTreeMap<(String, &'static str), Histogram>,
    requests: BTreeMap<(String, u16), u64>,
}

/// The shop's request metrics, shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    state: Mutex<State>,
}

/// The routes the shop serves, as the `route` label names them; anything else is `other`.
const ROUTES: &[&str] = &[
    "POST /api/login",
    "GET /api/products",
    "POST /api/cart",
    "GET /api/cart",
    "POST /api/checkout",
    "GET /health",
    "GET /api/search",
    "POST /admin/deploy",
];

pub fn route_label(method: &str, path: &str) -> String {
    let route = format!("{method} {path}");
    if ROUTES.contains(&route.as_str()) { route } else { "other".to_string() }
}

fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn observe(&self, route: String, status: u16, took: Duration) {
        let secs = took.as_secs_f64();
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let h = state.durations.entry((route.clone(), status_class(status))).or_default();
        if h.counts.is_empty() {
            h.counts = vec![0; bounds().len() + 1];
        }
        let slot = bounds().iter().position(|b| secs <= *b).unwrap_or(bounds().len());
        if let Some(c) = h.counts.get_mut(slot) {
            *c += 1;
        }
        h.sum += secs;
        h.count += 1;
        *state.requests.entry((route, status)).or_default() += 1;
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        let name = "http_server_request_duration_seconds";
        let _ = writeln!(out, "# HELP {name} Time from request to response, by route and status class.");
        let _ = writeln!(out, "# TYPE {name} histogram");
        for ((route, class), h) in &state.durations {
            let labels = format!("route=\"{}\",status_class=\"{class}\"", escape(route));
            let mut cumulative = 0;
            for (i, c) in h.counts.iter().enumerate() {
                cumulative += c;
                let le = bounds().get(i).map_or_else(|| "+Inf".to_string(), |b| b.to_string());
                let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{le}\"}} {cumulative}");
            }
            let _ = writeln!(out, "{name}_sum{{{labels}}} {}", h.sum);
            let _ = writeln!(out, "{name}_count{{{labels}}} {}", h.count);
        }
        let name = "http_server_requests_total";
        let _ = writeln!(out, "# HELP {name} Requests answered, by route and status code.");
        let _ = writeln!(out, "# TYPE {name} counter");
        for ((route, status), n) in &state.requests {
            let _ = writeln!(out, "{name}{{route=\"{}\",status=\"{status}\"}} {n}", escape(route));
        }
        out
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_cumulative_and_end_at_inf() {
        let m = Metrics::default();
        m.observe(route_label("POST", "/api/checkout"), 200, Duration::from_millis(12));
        m.observe(route_label("POST", "/api/checkout"), 200, Duration::from_millis(30));
        m.observe(route_label("POST", "/api/checkout"), 502, Duration::from_millis(30));
        m.observe(route_label("GET", "/wp-admin"), 404, Duration::from_millis(1));
        let text = m.render();
        let line = |prefix: &str| text.lines().find(|l| l.starts_with(prefix)).unwrap().to_string();
        assert!(line("http_server_request_duration_seconds_bucket{route=\"POST /api/checkout\",status_class=\"2xx\",le=\"+Inf\"}").ends_with(" 2"));
        assert!(line("http_server_request_duration_seconds_bucket{route=\"POST /api/checkout\",status_class=\"2xx\",le=\"0.0005\"}").ends_with(" 0"));
        assert!(line("http_server_requests_total{route=\"POST /api/checkout\",status=\"502\"}").ends_with(" 1"));
        assert!(line("http_server_requests_total{route=\"other\",status=\"404\"}").ends_with(" 1"));
        // Cumulative counts never fall.
        let counts: Vec<u64> = text
            .lines()
            .filter(|l| l.contains("_bucket{route=\"POST /api/checkout\",status_class=\"2xx\""))
            .map(|l| l.rsplit(' ').next().unwrap().parse().unwrap())
            .collect();
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        assert!(counts.contains(&1));
    }

    #[test]
    fn bounds_grow_by_a_fifth() {
        let b = bounds();
        assert!(b.len() > 40);
        assert!(b.windows(2).all(|w| (w[1] / w[0] - 1.2).abs() < 0.01));
    }
}
