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
