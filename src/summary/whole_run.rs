//! A [`RunSummary`] from a k6 summary export (`--summary-export`, or the data handed to
//! `handleSummary()`): the whole run only, with the statistics k6 exported.
//!
//! `ingest` reads k6's document into the plain inputs here ([`Export`]); how they fill the
//! RunSummary is decided in this file alone, so only `summary` knows the RunSummary's shape.
//! Nothing is inferred that k6 did not export: no phases, no windows, no groups, no series,
//! and only the quantiles the document holds. Latency is the submetric
//! `http_req_duration{expected_response:true}` when the document has it (k6 exports a
//! submetric only when the script has a threshold on it), else every request, with a note.

use std::collections::BTreeMap;

use super::build::{LATENCY_ALL_REQUESTS_NOTE, completeness};
use super::*;
use crate::samples::metric;

pub const WHOLE_RUN_NOTE: &str = "k6 summary input: whole-run aggregates only. No phases, no per-second windows, no groups, and only the quantiles k6 exported (p99 only with --summary-trend-stats); nothing here was inferred.";

/// What a k6 summary document holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Export {
    /// Every metric of the document by its name as k6 wrote it, submetrics
    /// (`http_req_duration{expected_response:true}`) included.
    pub metrics: BTreeMap<String, Exported>,
    /// The test's duration, when the document says (`handleSummary()`'s `state.testRunDurationMs`).
    pub duration_s: Option<f64>,
}

/// One metric of a k6 summary document.
#[derive(Debug, Clone, PartialEq)]
pub struct Exported {
    /// Declared by the document, or known as a built-in; `None` when neither says.
    pub ty: Option<MetricType>,
    pub values: Values,
}

/// The numbers k6 exports for each kind of metric; `None` where the document has none.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    Counter {
        count: Option<f64>,
        rate: Option<f64>,
    },
    Rate {
        passes: Option<f64>,
        fails: Option<f64>,
        rate: Option<f64>,
    },
    Gauge {
        value: Option<f64>,
        min: Option<f64>,
        max: Option<f64>,
    },
    /// Also what a metric of unknown type holds: k6 exports custom metrics with trend statistics.
    Trend {
        min: Option<f64>,
        max: Option<f64>,
        p50: Option<f64>,
        p90: Option<f64>,
        p95: Option<f64>,
        p99: Option<f64>,
        avg: Option<f64>,
    },
}

/// The summary of a k6 summary document, read from `sources`.
pub fn build(export: Export, sources: Vec<SourceFile>, issues: Vec<String>, opts: &BuildOptions) -> RunSummary {
    let mut notes = vec![WHOLE_RUN_NOTE.to_string()];
    let expected = export.metrics.contains_key(metric::HTTP_REQ_DURATION_EXPECTED);
    if !expected && export.metrics.contains_key(metric::HTTP_REQ_DURATION) {
        notes.push(LATENCY_ALL_REQUESTS_NOTE.to_string());
    }
    let has_dropped = export.metrics.contains_key(metric::DROPPED_ITERATIONS);
    let whole_run = phase(export);
    // A k6 summary carries no tags: the model can only be inferred.
    let load_model = super::load::model(None, None, has_dropped, &mut notes);
    let gauge_max = |n: &str| whole_run.metrics.get(n).and_then(|m| m.max);
    let vus_max_reached = match (gauge_max(metric::VUS), gauge_max(metric::VUS_MAX)) {
        (Some(v), Some(max)) if max > 0.0 && v >= max => Some(max),
        _ => None,
    };
    let part = super::load::Part {
        label: "whole run",
        dropped_iterations: whole_run.total.throughput.as_ref().map_or(0, |t| t.dropped_iterations),
        achieved_iterations_per_s: None,
        vus_max_reached,
        client_share: super::load::client_share(&whole_run),
    };
    let load_generator = Some(super::load::assess(load_model.as_ref(), &part));
    let metadata = RunMetadata {
        test_name: None,
        environment: None,
        git_commit: None,
        deployment_version: None,
        test_date: None,
        start: None,
        end: None,
        duration_s: (whole_run.duration_s > 0.0).then_some(whole_run.duration_s),
        k6_exit_code: opts.k6_exit_code,
        sources,
        samples: 0,
        load_model,
    };
    RunSummary {
        schema_version: SCHEMA_VERSION.to_string(),
        metadata,
        completeness: completeness(issues, opts),
        granularity: Granularity::WholeRun,
        phase_source: PhaseSource::None,
        phases: Vec::new(),
        steady_state: None,
        whole_run,
        series: None,
        series_coarser: Vec::new(),
        notes,
        load_generator,
    }
}

/// The `whole-run` phase. Without the test's duration it is the request count over the rate.
fn phase(export: Export) -> PhaseSummary {
    let out: BTreeMap<String, MetricSummary> =
        export.metrics.into_iter().map(|(n, m)| (n, metric_summary(m))).collect();
    let duration_s = export.duration_s;
    let get = |n: &str| out.get(n);
    let reqs = get(metric::HTTP_REQS);
    let requests = reqs.and_then(|m| m.sum).unwrap_or(0.0).round() as u64;
    let rps = reqs.and_then(|m| m.rate).unwrap_or(0.0);
    let failed = get(metric::HTTP_REQ_FAILED);
    let rate_stats = |m: &MetricSummary| {
        let passes = m.sum.unwrap_or(0.0) as u64;
        RateStats { passes, fails: m.count.saturating_sub(passes), rate: m.rate }
    };
    let counter_rate = |n: &str| get(n).and_then(|m| m.rate).unwrap_or(0.0);
    let failed_count = failed.and_then(|m| m.sum).unwrap_or(0.0) as u64;
    let with_count = |name: &str, count: u64| {
        get(name).and_then(|m| m.quantiles.clone()).map(|mut q| {
            q.count = count;
            q
        })
    };
    // No request with an expected response, no latency (never the zeros of an empty submetric).
    let (latency_ms, failed_latency_ms) = if get(metric::HTTP_REQ_DURATION_EXPECTED).is_some() {
        let ok = requests.saturating_sub(failed_count);
        (
            with_count(metric::HTTP_REQ_DURATION_EXPECTED, ok).filter(|_| ok > 0),
            with_count(metric::HTTP_REQ_DURATION_UNEXPECTED, failed_count).filter(|_| failed_count > 0),
        )
    } else {
        (with_count(metric::HTTP_REQ_DURATION, requests), None)
    };
    let total = GroupStats {
        key: BTreeMap::new(),
        requests,
        requests_per_s: rps,
        latency_ms,
        failed_latency_ms,
        failed: failed_count,
        error_rate: failed.and_then(|m| m.rate),
        status_classes: BTreeMap::new(),
        checks: get(metric::CHECKS).map(rate_stats),
        throughput: Some(Throughput {
            iterations: get(metric::ITERATIONS).and_then(|m| m.sum).unwrap_or(0.0) as u64,
            iterations_per_s: counter_rate(metric::ITERATIONS),
            data_received_bytes_per_s: counter_rate(metric::DATA_RECEIVED),
            data_sent_bytes_per_s: counter_rate(metric::DATA_SENT),
            vus_max: get(metric::VUS).and_then(|m| m.max),
            dropped_iterations: get(metric::DROPPED_ITERATIONS).and_then(|m| m.sum).unwrap_or(0.0) as u64,
        }),
        latency_sketch: None,
    };
    PhaseSummary {
        name: "whole-run".into(),
        start: None,
        end: None,
        duration_s: duration_s.unwrap_or(if rps > 0.0 { requests as f64 / rps } else { 0.0 }),
        windows: 0,
        total,
        groups: Vec::new(),
        metrics: out,
    }
}

fn metric_summary(m: Exported) -> MetricSummary {
    let mut s = MetricSummary {
        ty: m.ty,
        count: 0,
        sum: None,
        rate: None,
        min: None,
        max: None,
        last: None,
        quantiles: None,
        sketch: None,
    };
    match m.values {
        Values::Counter { count, rate } => {
            s.sum = count;
            s.count = count.unwrap_or(0.0) as u64;
            s.rate = rate;
        }
        Values::Rate { passes, fails, rate } => {
            let passes = passes.unwrap_or(0.0);
            s.count = (passes + fails.unwrap_or(0.0)) as u64;
            s.sum = Some(passes);
            s.rate = rate;
        }
        Values::Gauge { value, min, max } => {
            s.last = value;
            s.min = min;
            s.max = max;
        }
        Values::Trend { min, max, p50, p90, p95, p99, avg } => {
            s.min = min;
            s.max = max;
            s.quantiles = Some(Quantiles { count: 0, p50, p90, p95, p99, min, max, mean: avg });
        }
    }
    s
}
