//! The RunSummary: k6gate's compact, versioned account of one k6 run, phase by phase.
//!
//! Everything downstream (comparison, policies, reports, Grafana) reads this document,
//! never k6's raw output. Its JSON Schema is generated from these types into
//! `schema/run-summary.schema.json`, and a test fails when the checked-in file is stale.
//! Units are in the field names: `_ms` milliseconds, `_s` seconds, `_per_s` per second.
//!
//! Only this module fills in a RunSummary: from aggregated cells (`build_from_stream`) or
//! from a k6 summary export's numbers ([`whole_run`]). It must never import `ingest`, which
//! sits above it and calls these builders (ARCHITECTURE.md, layering).

mod build;
pub mod digest;
mod load;
pub mod whole_run;

pub use build::{BuildOptions, LATENCY_ALL_REQUESTS_NOTE, build_from_stream};
pub use load::{ACHIEVED_SHARE_MIN, CLIENT_SHARE_MAX, HOST_BUSY_MAX, K6_WAIT_RATIO_MAX};

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::samples::{Compression, Format, MetricType};
use crate::stats::Sketch;
use crate::stats::mser::Truncation;

/// Bumped on any change a reader of the previous version would misread.
pub const SCHEMA_VERSION: &str = "k6gate.run-summary/v1";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunSummary {
    pub schema_version: String,
    pub metadata: RunMetadata,
    pub completeness: Completeness,
    /// `windows`: built from every sample (JSON/CSV output), with phases and per-second
    /// series. `whole-run`: built from a k6 summary, which holds whole-run aggregates only:
    /// no phases, no windows, and only the statistics k6 exported.
    pub granularity: Granularity,
    /// How the phases were found.
    pub phase_source: PhaseSource,
    /// Phases in time order (empty for `whole-run` granularity).
    pub phases: Vec<PhaseSummary>,
    /// The sustained phase with its warm-up transient trimmed: what comparisons use.
    pub steady_state: Option<SteadyState>,
    /// All samples of the run.
    pub whole_run: PhaseSummary,
    /// Per-window series for charts and statistical tests (1 s windows up to the
    /// full-resolution limit; `series.window_s` says which).
    pub series: Option<Series>,
    /// The same series at coarser windows (10 s and 60 s, those coarser than `series`),
    /// merged from its windows: what a run keeps once retention has dropped its finer
    /// windows (`k6gate history prune`). Empty for summaries written before k6gate stored
    /// them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub series_coarser: Vec<Series>,
    /// What a reader should know about this summary that is not a defect (for example,
    /// that a k6 summary input has no phases).
    pub notes: Vec<String>,
    /// Could k6 produce the load it was asked for, over the compared part of the run (the
    /// steady state, else the sustained phase, else the whole run)? `None` when the run has
    /// no samples to tell (summaries written before k6gate recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_generator: Option<LoadGenerator>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RunMetadata {
    pub test_name: Option<String>,
    pub environment: Option<String>,
    pub git_commit: Option<String>,
    pub deployment_version: Option<String>,
    pub test_date: Option<String>,
    /// First and last sample, RFC 3339 UTC.
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration_s: Option<f64>,
    /// k6's exit status, when the caller knew it.
    pub k6_exit_code: Option<i32>,
    pub sources: Vec<SourceFile>,
    /// Samples read (0 for summary inputs).
    pub samples: u64,
    /// Open or closed load model: from the `load_model` and `offered_rate` tags k6gate's
    /// templates set, else inferred (open when k6 counted `dropped_iterations`); `None`
    /// when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_model: Option<LoadModel>,
}

/// How the load was generated.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadModel {
    pub model: Model,
    /// Iterations per second k6 was asked to start at the plateau (open model, tagged only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offered_iterations_per_s: Option<f64>,
    pub source: ModelSource,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Model {
    /// Arrival-rate executors: iterations start on a schedule, whatever the latency.
    Open,
    /// VU executors: each VU starts its next iteration when the previous one ends, so a
    /// slower system receives less load.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ModelSource {
    /// From the `load_model` tag.
    Tagged,
    /// From what the samples show (`dropped_iterations` exist only under an open model).
    Inferred,
}

/// Whether the load generator kept up, over the compared part of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LoadGenerator {
    /// True when any sign below applies: the measured load is not the load asked for.
    pub saturated: bool,
    /// Each sign of saturation, as a sentence.
    pub signs: Vec<String>,
    /// `dropped_iterations`: iterations k6 could not start on time (open model only).
    pub dropped_iterations: u64,
    /// The plateau rate k6 was asked for (open model, from the `offered_rate` tag).
    pub offered_iterations_per_s: Option<f64>,
    /// Iterations per second completed over the inner windows of the compared part (its
    /// first and last second left out: they are partial).
    pub achieved_iterations_per_s: Option<f64>,
    /// Open model: the VUs in use reached `vus_max`, all VUs k6 had allocated, in some
    /// second of the compared part. Always false for other models, where VUs in use
    /// equal `vus_max` at every plateau by design.
    pub vus_max_reached: bool,
    /// Share of the iterations' time outside think time that k6 itself took rather than
    /// requests; known when the script counts its think time (`k6gate_think_ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_share: Option<f64>,
    /// `client_share` reached [`CLIENT_SHARE_MAX`]: k6 itself, not the service, set the pace,
    /// so the run's timings are not the service's. Its sign is in `signs`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub client_dominated: bool,
    /// The load generator's machine, busy share of all its cores (0..1) averaged over the
    /// compared part, when k6gate ran k6 and could read it (Linux `/proc/stat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_cpu_busy: Option<f64>,
    /// How long k6's threads waited runnable for a CPU per unit of time they ran, over the
    /// compared part (Linux schedstat), when k6gate ran k6.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k6_cpu_wait_ratio: Option<f64>,
    /// The machine was at least [`HOST_BUSY_MAX`] busy and k6 waited at least
    /// [`K6_WAIT_RATIO_MAX`] for CPU: k6 competed for CPU, so its timings and its arrival
    /// schedule are not the service's. Its sign is in `signs`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub host_saturated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceFile {
    pub path: String,
    pub format: Format,
    pub compression: Compression,
    pub lines: u64,
    /// Uncompressed bytes read.
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Completeness {
    /// False whenever any data was skipped or is missing; the reasons say what.
    pub complete: bool,
    pub issues: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Granularity {
    Windows,
    WholeRun,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseSource {
    /// From the `test_stage` tag on the samples.
    Tagged,
    /// Inferred from the `vus` gauge (rising, plateau, falling).
    InferredVus,
    /// Inferred from the request rate (arrival-rate executors).
    InferredRequestRate,
    /// No phases: a whole-run input, or a run too short or too flat to split.
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PhaseSummary {
    /// `warm-up`, `ramp-up`, `sustained`, `ramp-down`, another `test_stage` value, or `whole-run`.
    pub name: String,
    pub start: Option<String>,
    pub end: Option<String>,
    pub duration_s: f64,
    /// Number of series windows (`series.window_s` long: one second unless the run is
    /// longer than the full-resolution limit) holding samples of this phase.
    pub windows: u64,
    /// All requests of the phase.
    pub total: GroupStats,
    /// One entry per group key (by default the request `name` and `method`).
    pub groups: Vec<GroupStats>,
    /// Every metric of the phase, built-in and custom, over all groups.
    pub metrics: BTreeMap<String, MetricSummary>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupStats {
    /// Group tag values; empty for the phase total.
    pub key: BTreeMap<String, String>,
    /// `http_reqs` count.
    pub requests: u64,
    pub requests_per_s: f64,
    /// `http_req_duration` of the requests with an expected response (k6's
    /// `http_req_duration{expected_response:true}`); `None` when no request had one. When
    /// the samples carry no `expected_response` tag, all requests (a note says so).
    pub latency_ms: Option<Quantiles>,
    /// `http_req_duration` of the requests with an unexpected response
    /// (`expected_response` = false); `None` when there were none, or no tag to tell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_latency_ms: Option<Quantiles>,
    /// Requests with `http_req_failed` = 1.
    pub failed: u64,
    /// `http_req_failed` rate; `None` when no request was made.
    pub error_rate: Option<f64>,
    /// Requests per status class: none (no response), 1xx .. 5xx.
    pub status_classes: BTreeMap<String, u64>,
    /// `checks` pass rate (phase total only: checks carry no request tags).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub checks: Option<RateStats>,
    /// Iterations, bytes and VUs (phase total only).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub throughput: Option<Throughput>,
    /// The sketch behind `latency_ms`, to merge runs or ask for any quantile.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub latency_sketch: Option<Sketch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Quantiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    pub mean: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateStats {
    pub passes: u64,
    pub fails: u64,
    pub rate: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Throughput {
    pub iterations: u64,
    pub iterations_per_s: f64,
    pub data_received_bytes_per_s: f64,
    pub data_sent_bytes_per_s: f64,
    pub vus_max: Option<f64>,
    pub dropped_iterations: u64,
}

/// One metric over a phase. Which fields are set depends on the metric's type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricSummary {
    /// `None` for a custom metric read from CSV, which carries no types.
    #[serde(rename = "type")]
    pub ty: Option<MetricType>,
    pub count: u64,
    /// Counter total, or sum of Trend values.
    pub sum: Option<f64>,
    /// Counter per second, or Rate ratio of non-zero samples.
    pub rate: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Gauge: last value.
    pub last: Option<f64>,
    /// Trend quantiles.
    pub quantiles: Option<Quantiles>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sketch: Option<Sketch>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SteadyState {
    /// The phase it was cut from (always `sustained` today).
    pub phase: String,
    /// Seconds of initial transient removed from the start of the phase.
    pub trimmed_s: f64,
    pub truncation: Truncation,
    /// The phase's statistics over the kept windows.
    pub summary: PhaseSummary,
}

/// Per-window series. Arrays are aligned with `start_unix_s`; `null` where a window had no sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Series {
    /// Seconds per window: 1, or for a run longer than the full-resolution limit (30 min by
    /// default) the smallest of 10, 60, 300, 900, 3600 that keeps the window count within
    /// it. Coarse windows are merges of the 1 s ones (sketches and exact sums), and
    /// `requests`/`failed` count a whole window.
    pub window_s: f64,
    pub start_unix_s: Vec<i64>,
    /// Phase of each window (the phase most of its samples belong to).
    pub phase: Vec<Option<String>>,
    /// Windows dropped as warm-up by the steady-state rule.
    pub trimmed: Vec<bool>,
    pub vus: Vec<Option<f64>>,
    pub total: GroupSeries,
    pub groups: Vec<GroupSeries>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct GroupSeries {
    pub key: BTreeMap<String, String>,
    pub requests: Vec<u64>,
    pub failed: Vec<u64>,
    /// Latency of the window's requests with an expected response, like `latency_ms`.
    pub p50_ms: Vec<Option<f64>>,
    pub p95_ms: Vec<Option<f64>>,
    pub p99_ms: Vec<Option<f64>>,
    pub mean_ms: Vec<Option<f64>>,
}

impl RunSummary {
    /// The JSON Schema of this document.
    pub fn json_schema() -> serde_json::Value {
        serde_json::to_value(schemars::schema_for!(RunSummary)).unwrap_or_default()
    }

    /// A phase by name (`steady-state` names the trimmed sustained phase).
    pub fn phase(&self, name: &str) -> Option<&PhaseSummary> {
        if name == "steady-state" {
            return self.steady_state.as_ref().map(|s| &s.summary);
        }
        self.phases.iter().find(|p| p.name == name)
    }
}
