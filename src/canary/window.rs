//! What one interval's window holds for one population, as read from Prometheus.

use std::collections::BTreeMap;

use serde::Serialize;

/// One route in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct RouteWindow {
    /// Requests answered (any status), from the request counter.
    pub requests: f64,
    /// Of them, answered with a 5xx.
    pub errors: f64,
    /// The latency histogram's buckets of the requests that did not fail, `(le seconds,
    /// cumulative count)`, `+Inf` included.
    #[serde(skip)]
    pub buckets: Vec<(f64, f64)>,
}

/// One population (canary or stable) in one window.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Population {
    pub routes: BTreeMap<String, RouteWindow>,
    /// Each saturation signal's value in this window (`canary.saturation`), where available.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub saturation: BTreeMap<String, f64>,
}

impl Population {
    pub fn requests(&self) -> f64 {
        self.routes.values().map(|r| r.requests).sum()
    }

    pub fn errors(&self) -> f64 {
        self.routes.values().map(|r| r.errors).sum()
    }
}

/// Both populations over one interval, ending at `end_s` (Unix seconds).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Window {
    pub end_s: f64,
    pub seconds: f64,
    pub canary: Population,
    pub stable: Population,
}

#[cfg(test)]
impl RouteWindow {
    /// For tests: `n` log-normal latencies with median `median_ms`, bucketed at bounds 20 %
    /// apart like the demo shop's, and `errors` failures.
    pub(crate) fn log_normal(rng: &mut crate::stats::rng::SplitMix64, n: usize, median_ms: f64, errors: f64) -> Self {
        let draws: Vec<f64> = (0..n).map(|_| median_ms / 1000.0 * (0.2 * rng.normal()).exp()).collect();
        let mut buckets = Vec::new();
        let mut le = 0.0005;
        while le < 20.0 {
            buckets.push((le, draws.iter().filter(|d| **d <= le).count() as f64));
            le *= 1.2;
        }
        buckets.push((f64::INFINITY, n as f64));
        RouteWindow { requests: n as f64 + errors, errors, buckets }
    }
}
