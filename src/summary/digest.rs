//! A run's compact record: one row per phase and group with the numbers people ask about
//! later (P50/P95/P99, error rate, duration, throughput), and the sketch behind the
//! latencies so that any other quantile stays answerable. Historical queries (`history
//! compare`, `history trend`) and the archive read these rows, never the run's series.
//!
//! The rows are derived from a [`RunSummary`] only, so they can be rebuilt from any stored
//! summary at any time: they are an index, not a second source of truth.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{GroupStats, PhaseSummary, RunSummary};
use crate::stats::Sketch;

/// The `phase` of the row that covers the whole run.
pub const WHOLE_RUN: &str = "whole-run";
/// The `phase` of the row that covers the steady state (the compared part of a phase).
pub const STEADY_STATE: &str = "steady-state";
/// The `group` of a phase's total (all requests).
pub const TOTAL: &str = "";

/// One phase and one group of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DigestRow {
    /// A phase name, [`WHOLE_RUN`] or [`STEADY_STATE`].
    pub phase: String,
    /// The group key as `tag=value` pairs, sorted by tag and joined by `,`
    /// ([`group_label`]); [`TOTAL`] for all requests of the phase.
    pub group: String,
    pub duration_s: f64,
    pub requests: u64,
    pub requests_per_s: f64,
    pub failed: u64,
    /// `None` when the phase made no request.
    pub error_rate: Option<f64>,
    /// Latency of the requests with an expected response, as in the summary.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub mean_ms: Option<f64>,
    pub max_ms: Option<f64>,
    /// Iterations per second (phase totals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations_per_s: Option<f64>,
    /// The latency sketch, for any other quantile within its stated relative error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sketch: Option<Sketch>,
}

/// `tag=value` pairs sorted by tag (a `BTreeMap` already is) and joined by `,`.
pub fn group_label(key: &BTreeMap<String, String>) -> String {
    let pairs: Vec<String> = key.iter().map(|(k, v)| format!("{k}={v}")).collect();
    pairs.join(",")
}

/// The rows of a run: every phase, then the steady state when there is one, then the whole
/// run; in each, the total first and then the groups in the summary's order.
pub fn rows(summary: &RunSummary) -> Vec<DigestRow> {
    let mut out = Vec::new();
    for phase in &summary.phases {
        push_phase(&mut out, &phase.name, phase);
    }
    if let Some(steady) = &summary.steady_state {
        push_phase(&mut out, STEADY_STATE, &steady.summary);
    }
    push_phase(&mut out, WHOLE_RUN, &summary.whole_run);
    out
}

fn push_phase(out: &mut Vec<DigestRow>, name: &str, phase: &PhaseSummary) {
    out.push(row(name, TOTAL.to_string(), phase.duration_s, &phase.total));
    for group in &phase.groups {
        out.push(row(name, group_label(&group.key), phase.duration_s, group));
    }
}

fn row(phase: &str, group: String, duration_s: f64, stats: &GroupStats) -> DigestRow {
    let latency = stats.latency_ms.as_ref();
    DigestRow {
        phase: phase.to_string(),
        group,
        duration_s,
        requests: stats.requests,
        requests_per_s: stats.requests_per_s,
        failed: stats.failed,
        error_rate: stats.error_rate,
        p50_ms: latency.and_then(|q| q.p50),
        p95_ms: latency.and_then(|q| q.p95),
        p99_ms: latency.and_then(|q| q.p99),
        mean_ms: latency.and_then(|q| q.mean),
        max_ms: latency.and_then(|q| q.max),
        iterations_per_s: stats.throughput.as_ref().map(|t| t.iterations_per_s),
        sketch: stats.latency_sketch.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_labels_are_sorted_pairs() {
        let key: BTreeMap<String, String> =
            [("name", "/checkout"), ("method", "POST")].into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        assert_eq!(group_label(&key), "method=POST,name=/checkout");
        assert_eq!(group_label(&BTreeMap::new()), TOTAL);
    }

    #[test]
    fn a_staged_run_has_a_row_per_phase_and_group_with_the_summarys_numbers() {
        let gz =
            std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden/staged-json.summary.json.gz"))
                .unwrap();
        let summary: RunSummary = serde_json::from_reader(flate2::read::GzDecoder::new(&gz[..])).unwrap();
        let rows = rows(&summary);
        let phases: Vec<&str> = rows.iter().filter(|r| r.group == TOTAL).map(|r| r.phase.as_str()).collect();
        assert_eq!(phases, ["ramp-up", "sustained", "ramp-down", STEADY_STATE, WHOLE_RUN]);
        let whole: Vec<&DigestRow> = rows.iter().filter(|r| r.phase == WHOLE_RUN).collect();
        assert_eq!(whole.len(), 1 + summary.whole_run.groups.len());
        let total = whole[0];
        let latency = summary.whole_run.total.latency_ms.as_ref().unwrap();
        assert_eq!(total.p95_ms, latency.p95);
        assert_eq!(total.requests, summary.whole_run.total.requests);
        assert!(total.iterations_per_s.is_some(), "totals carry throughput");
        assert!(whole[1..].iter().all(|r| !r.group.is_empty() && r.iterations_per_s.is_none()));
        // The sketch answers the quantiles the row states.
        let sketch = total.sketch.as_ref().expect("the whole run keeps its sketch");
        let p99 = sketch.quantile(0.99).unwrap();
        assert!((p99 - total.p99_ms.unwrap()).abs() <= 0.02 * p99, "{p99} vs {:?}", total.p99_ms);
    }
}
