//! Baseline against candidate, metric by metric, with the statistics a verdict needs.
//!
//! Point estimates come from the phase summaries (sketch quantiles over every sample of the
//! phase). Significance and confidence intervals come from the per-second series of the same
//! phase: Mann-Whitney U on the per-window values, and the Hodges-Lehmann ratio with its Moses
//! interval on their logarithms. Anything that makes a comparison unsound (a missing phase,
//! too few windows, no requests, a value that is not a number) is an explicit state, never
//! a silent pass. This module does no IO.
//!
//! Windows are 1 s long, or coarser for a run longer than ingest's full-resolution limit
//! (`Series::window_s`). Throughput windows are read per second at any size. Runs whose
//! series differ in window size are not compared window by window: the p95 of a 60 s window
//! varies far less than that of a 1 s window, so pooling or ranking them together would
//! measure the resolution, not the service, and a summary keeps no per-window sketches to
//! re-aggregate the finer run. Their latency and throughput comparisons are
//! `insufficient-data` with the two sizes as the reason (the policy fails closed); the error
//! rate, from request counts, is compared as always.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::stats::rank::{hodges_lehmann, mann_whitney_p, two_proportion_p};
use crate::stats::runs::spread;
use crate::summary::{GroupSeries, GroupStats, LoadGenerator, LoadModel, PhaseSummary, RunSummary};

/// Fewer windows than this on either side: not enough evidence for a significance test.
pub const MIN_WINDOWS: usize = 5;

/// The phase compared by default: the sustained phase with its warm-up trimmed.
pub const DEFAULT_PHASE: &str = "steady-state";

/// The part of a run that is compared. A typo is an error when the flag is read, never a
/// "missing phase" that blocks a deployment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Phase {
    /// The sustained phase with its warm-up trimmed.
    #[default]
    SteadyState,
    Sustained,
    RampUp,
    RampDown,
    WarmUp,
    WholeRun,
    /// Any other `test_stage` value, written `stage:NAME`.
    Stage(String),
}

impl Phase {
    /// The names `--phase` accepts, besides `stage:NAME`.
    pub const NAMES: [&str; 6] = ["steady-state", "sustained", "ramp-up", "ramp-down", "warm-up", "whole-run"];

    /// The name as the summaries and verdicts spell it.
    pub fn name(&self) -> &str {
        match self {
            Phase::SteadyState => "steady-state",
            Phase::Sustained => "sustained",
            Phase::RampUp => "ramp-up",
            Phase::RampDown => "ramp-down",
            Phase::WarmUp => "warm-up",
            Phase::WholeRun => "whole-run",
            Phase::Stage(name) => name,
        }
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Phase {
    type Err = String;

    fn from_str(s: &str) -> Result<Phase, String> {
        Ok(match s {
            "steady-state" => Phase::SteadyState,
            "sustained" => Phase::Sustained,
            "ramp-up" => Phase::RampUp,
            "ramp-down" => Phase::RampDown,
            "warm-up" => Phase::WarmUp,
            "whole-run" => Phase::WholeRun,
            other => match other.strip_prefix("stage:") {
                Some(name) if !name.is_empty() => Phase::Stage(name.to_string()),
                _ => {
                    return Err(format!(
                        "unknown phase {other:?}: expected one of {}, or stage:NAME for another test_stage",
                        Phase::NAMES.join(", ")
                    ));
                }
            },
        })
    }
}

/// Name of the all-requests group.
pub const ALL: &str = "all";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    P50Ms,
    P95Ms,
    P99Ms,
    ErrorRate,
    RequestsPerS,
}

impl Metric {
    pub const ALL: [Metric; 5] = [Metric::P50Ms, Metric::P95Ms, Metric::P99Ms, Metric::ErrorRate, Metric::RequestsPerS];

    /// The metric named `p95_ms`, `error_rate`, ... (as policies and data name them).
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            Metric::P50Ms => "p50_ms",
            Metric::P95Ms => "p95_ms",
            Metric::P99Ms => "p99_ms",
            Metric::ErrorRate => "error_rate",
            Metric::RequestsPerS => "requests_per_s",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Metric::P50Ms => "P50 latency",
            Metric::P95Ms => "P95 latency",
            Metric::P99Ms => "P99 latency",
            Metric::ErrorRate => "Error rate",
            Metric::RequestsPerS => "Throughput",
        }
    }

    fn quantile(self) -> Option<f64> {
        match self {
            Metric::P50Ms => Some(0.5),
            Metric::P95Ms => Some(0.95),
            Metric::P99Ms => Some(0.99),
            _ => None,
        }
    }
}

/// Why a metric could not be compared soundly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    Ok,
    /// The phase is not in one of the runs.
    MissingPhase,
    /// The group has no requests in the baseline (a new endpoint).
    MissingInBaseline,
    /// The group has no requests in the candidate.
    MissingInCandidate,
    /// Fewer than [`MIN_WINDOWS`] windows on a side, or no per-second series at all.
    InsufficientData,
    /// A value is NaN or infinite.
    NotANumber,
}

impl State {
    /// For people: `missing in baseline`, `insufficient data`, ...
    pub fn label(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::MissingPhase => "missing phase",
            State::MissingInBaseline => "missing in baseline",
            State::MissingInCandidate => "missing in candidate",
            State::InsufficientData => "insufficient data",
            State::NotANumber => "not a number",
        }
    }
}

/// Which run is which.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RunIdentity {
    /// Where the summary came from (a file path or a run id).
    pub source: String,
    pub test_name: Option<String>,
    pub environment: Option<String>,
    pub deployment_version: Option<String>,
    pub git_commit: Option<String>,
    pub start: Option<String>,
    pub complete: bool,
    pub issues: Vec<String>,
    /// Seconds of warm-up trimmed from its sustained phase.
    pub trimmed_s: Option<f64>,
    /// Open or closed load model; `None` when unknown.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub load_model: Option<LoadModel>,
    /// Whether k6 produced the load it was asked for, over the compared part.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub load_generator: Option<LoadGenerator>,
    /// Seconds per series window, when coarser than 1 s (a run longer than ingest's
    /// full-resolution limit): the resolution of its per-window statistics.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub series_window_s: Option<f64>,
}

impl RunIdentity {
    pub fn of(summary: &RunSummary, source: &str) -> RunIdentity {
        let m = &summary.metadata;
        RunIdentity {
            source: source.to_string(),
            test_name: m.test_name.clone(),
            environment: m.environment.clone(),
            deployment_version: m.deployment_version.clone(),
            git_commit: m.git_commit.clone(),
            start: m.start.clone(),
            complete: summary.completeness.complete,
            issues: summary.completeness.issues.clone(),
            trimmed_s: summary.steady_state.as_ref().map(|s| s.trimmed_s),
            load_model: m.load_model.clone(),
            load_generator: summary.load_generator.clone(),
            series_window_s: summary.series.as_ref().map(|s| s.window_s).filter(|w| *w != 1.0),
        }
    }

    /// No run at all (a caller passed an empty list): incomplete, with the reason.
    fn none(why: &str) -> RunIdentity {
        RunIdentity {
            source: String::new(),
            test_name: None,
            environment: None,
            deployment_version: None,
            git_commit: None,
            start: None,
            complete: false,
            issues: vec![why.to_string()],
            trimmed_s: None,
            load_model: None,
            load_generator: None,
            series_window_s: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MetricComparison {
    /// `all`, or the group's tag values joined by spaces (e.g. `POST checkout`).
    pub group: String,
    pub metric: Metric,
    pub state: State,
    /// Why the state is not `ok`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub reason: Option<String>,
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    /// candidate - baseline.
    pub abs_change: Option<f64>,
    /// candidate / baseline - 1.
    pub rel_change: Option<f64>,
    /// Two-sided p-value (Mann-Whitney on per-window values; two-proportion z-test for errors).
    pub p_value: Option<f64>,
    /// Hodges-Lehmann estimate of the change from per-window values: relative for latency and
    /// throughput, absolute for the error rate.
    pub effect: Option<f64>,
    /// Confidence interval of `effect`.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
    /// Windows (or requests, for the error rate) behind each side.
    pub baseline_samples: u64,
    pub candidate_samples: u64,
    /// Each run's own value against the baseline runs' spread: the noise between runs.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub between: Option<Between>,
}

/// How the between-run statistics measure a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scale {
    /// On logarithms: ranges and noise are relative (latency, throughput).
    Log,
    /// As is: ranges and noise are absolute (the error rate, or a value of zero).
    Absolute,
}

/// The noise between runs of one metric: every baseline run's value, the spread they show,
/// and whether the candidate (with its confirmation re-runs) falls outside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Between {
    pub baseline_runs: u32,
    pub candidate_runs: u32,
    /// Each baseline run's value, newest first.
    pub baseline_values: Vec<f64>,
    /// The candidate's, then each confirmation re-run's.
    pub candidate_values: Vec<f64>,
    pub scale: Scale,
    /// The lowest and highest baseline run relative to the baselines' centre (the comparison's
    /// `baseline`): a fraction on the log scale, a difference on the absolute one. `None`
    /// with one baseline run.
    pub range_low: Option<f64>,
    pub range_high: Option<f64>,
    /// Run-to-run standard deviation (of the logarithm on the log scale); never below the
    /// within-run standard error of one run's value. `None` when unknown.
    pub noise: Option<f64>,
    /// Degrees of freedom of the test.
    pub df: Option<f64>,
    /// Two-sided p-value of Student's t on the run values (see `stats::runs`); `None` when
    /// the between-run noise is unknown.
    pub p_value: Option<f64>,
    /// Why the noise is unknown, or how it was bounded.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    pub phase: String,
    /// Confidence level of the intervals.
    pub confidence: f64,
    /// The baseline run (the newest of the baseline runs).
    pub baseline: RunIdentity,
    pub candidate: RunIdentity,
    /// Every baseline run, newest first, when there is more than one.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub baselines: Vec<RunIdentity>,
    /// Confirmation re-runs of the candidate, judged together with it.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub confirmations: Vec<RunIdentity>,
    pub metrics: Vec<MetricComparison>,
}

impl Comparison {
    pub fn get(&self, group: &str, metric: Metric) -> Option<&MetricComparison> {
        self.metrics.iter().find(|m| m.group == group && m.metric == metric)
    }
}

pub fn group_name(key: &BTreeMap<String, String>) -> String {
    if key.is_empty() { ALL.to_string() } else { key.values().cloned().collect::<Vec<_>>().join(" ") }
}

/// One run as a comparison sees it: its summary and how to name it (a file or a run id).
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    pub summary: &'a RunSummary,
    pub source: &'a str,
}

/// The per-window values of one group inside a phase.
struct Windows<'a> {
    series: Option<&'a GroupSeries>,
    idx: &'a [usize],
    /// Seconds per window.
    window_s: f64,
}

impl Windows<'_> {
    fn values(&self, metric: Metric) -> Vec<f64> {
        let Some(s) = self.series else { return Vec::new() };
        let pick = |v: &Vec<Option<f64>>| -> Vec<f64> {
            self.idx.iter().filter_map(|i| v.get(*i).copied().flatten()).filter(|x| x.is_finite()).collect()
        };
        match metric {
            Metric::P50Ms => pick(&s.p50_ms),
            Metric::P95Ms => pick(&s.p95_ms),
            Metric::P99Ms => pick(&s.p99_ms),
            // The first and last windows of a phase are partial seconds: they would bias counts.
            Metric::RequestsPerS => {
                let inner = self.idx.get(1..self.idx.len().saturating_sub(1)).unwrap_or_default();
                let per_s = self.window_s.max(1.0);
                inner.iter().filter_map(|i| s.requests.get(*i).map(|r| *r as f64 / per_s)).collect()
            }
            Metric::ErrorRate => Vec::new(),
        }
    }
}

/// Indices of the series windows that belong to `phase`.
fn phase_windows(run: &RunSummary, phase: &Phase) -> Vec<usize> {
    let Some(series) = &run.series else { return Vec::new() };
    let (name, steady) = match phase {
        Phase::SteadyState => (Phase::Sustained.name(), true),
        Phase::WholeRun => ("", false),
        other => (other.name(), false),
    };
    (0..series.start_unix_s.len())
        .filter(|i| {
            let p = series.phase.get(*i).cloned().flatten();
            let trimmed = series.trimmed.get(*i).copied().unwrap_or(false);
            (name.is_empty() || p.as_deref() == Some(name)) && !(steady && trimmed)
        })
        .collect()
}

/// Compares `candidate` with `baseline` over `phase`, for the total and every group.
pub fn compare(
    baseline: &RunSummary,
    baseline_source: &str,
    candidate: &RunSummary,
    candidate_source: &str,
    phase: &Phase,
    confidence: f64,
) -> Comparison {
    compare_runs(
        &[Run { summary: baseline, source: baseline_source }],
        &[Run { summary: candidate, source: candidate_source }],
        phase,
        confidence,
    )
}

/// Compares the candidate runs (the candidate and its confirmation re-runs, first is the
/// candidate) with the baseline runs (newest first) over `phase`, for the total and every
/// group. Within-run statistics pool the runs' per-second windows; between-run statistics
/// ([`Between`]) compare the runs' own values. Panics never; an empty side is reported as a
/// missing phase.
pub fn compare_runs(baselines: &[Run<'_>], candidates: &[Run<'_>], phase: &Phase, confidence: f64) -> Comparison {
    let identity = |r: &Run<'_>| RunIdentity::of(r.summary, r.source);
    let (first_b, first_c) = (baselines.first(), candidates.first());
    let mut out = Comparison {
        phase: phase.name().to_string(),
        confidence,
        baseline: first_b.map(identity).unwrap_or_else(|| RunIdentity::none("no baseline run")),
        candidate: first_c.map(identity).unwrap_or_else(|| RunIdentity::none("no candidate run")),
        baselines: if baselines.len() > 1 { baselines.iter().map(identity).collect() } else { Vec::new() },
        confirmations: candidates.iter().skip(1).map(identity).collect(),
        metrics: Vec::new(),
    };
    let bp: Vec<Option<&PhaseSummary>> = baselines.iter().map(|r| phase_of(r.summary, phase)).collect();
    let cp: Vec<Option<&PhaseSummary>> = candidates.iter().map(|r| phase_of(r.summary, phase)).collect();
    let b_missing = bp.is_empty() || bp.iter().any(Option::is_none);
    let c_missing = cp.is_empty() || cp.iter().any(Option::is_none);
    if b_missing || c_missing {
        let missing = match (b_missing, c_missing) {
            (true, true) => "either run",
            (true, false) if baselines.len() > 1 => "a baseline run",
            (true, false) => "the baseline",
            _ if candidates.len() > 1 => "a candidate run",
            _ => "the candidate",
        };
        for metric in Metric::ALL {
            out.metrics.push(unavailable(ALL, metric, State::MissingPhase, format!("no {phase} phase in {missing}")));
        }
        return out;
    }
    let (bp, cp): (Vec<&PhaseSummary>, Vec<&PhaseSummary>) =
        (bp.into_iter().flatten().collect(), cp.into_iter().flatten().collect());
    let mut groups: Vec<BTreeMap<String, String>> = vec![BTreeMap::new()];
    for g in bp.iter().chain(&cp).flat_map(|p| &p.groups) {
        if !groups.contains(&g.key) {
            groups.push(g.key.clone());
        }
    }
    groups.get_mut(1..).unwrap_or_default().sort();
    // Which windows are in the phase depends on the run only: found once, used by every group.
    let windows =
        |runs: &[Run<'_>]| -> Vec<Vec<usize>> { runs.iter().map(|r| phase_windows(r.summary, phase)).collect() };
    let (bw, cw) = (windows(baselines), windows(candidates));
    let mismatch = resolution_mismatch(baselines, candidates);
    for key in groups {
        let name = group_name(&key);
        let (b, c) = (sides(baselines, &bp, &bw, &key), sides(candidates, &cp, &cw, &key));
        for metric in Metric::ALL {
            out.metrics.push(compare_metric(&name, metric, &b, &c, confidence, mismatch.as_deref()));
        }
    }
    out
}

/// Seconds per window of a run's series (1 when it has none: nothing to mix up).
fn window_s(run: &RunSummary) -> f64 {
    run.series.as_ref().map_or(1.0, |s| s.window_s)
}

/// `60 s` or `one-second`: how reasons name a window size.
fn window_words(window_s: f64) -> String {
    if window_s == 1.0 { "one-second".to_string() } else { format!("{window_s} s") }
}

/// Why the runs' windows cannot be compared: their series have different window sizes.
fn resolution_mismatch(baselines: &[Run<'_>], candidates: &[Run<'_>]) -> Option<String> {
    let sizes = |runs: &[Run<'_>]| -> Vec<f64> {
        let mut v: Vec<f64> = runs.iter().filter(|r| r.summary.series.is_some()).map(|r| window_s(r.summary)).collect();
        v.sort_by(f64::total_cmp);
        v.dedup();
        v
    };
    let (b, c) = (sizes(baselines), sizes(candidates));
    let mut all: Vec<f64> = b.iter().chain(&c).copied().collect();
    all.sort_by(f64::total_cmp);
    all.dedup();
    if all.len() < 2 {
        return None;
    }
    let list = |v: &[f64]| v.iter().map(|w| format!("{w} s")).collect::<Vec<_>>().join(" and ");
    Some(format!(
        "series at different window sizes (baseline {}, candidate {}): per-window statistics need one \
         resolution; ingest both runs with the same --full-resolution, or compare runs of similar length",
        list(&b),
        list(&c)
    ))
}

/// Each run's view of the group `key`, with its phase's windows.
fn sides<'a>(
    runs: &[Run<'a>],
    phases: &[&'a PhaseSummary],
    windows: &'a [Vec<usize>],
    key: &BTreeMap<String, String>,
) -> Vec<Side<'a>> {
    runs.iter()
        .zip(phases)
        .zip(windows)
        .map(|((r, p), idx)| Side {
            stats: group_stats(p, key),
            windows: Windows { series: group_series(r.summary, key), idx, window_s: window_s(r.summary) },
        })
        .collect()
}

fn group_stats<'a>(p: &'a PhaseSummary, key: &BTreeMap<String, String>) -> Option<&'a GroupStats> {
    if key.is_empty() { Some(&p.total) } else { p.groups.iter().find(|g| g.key == *key) }
}

fn group_series<'a>(r: &'a RunSummary, key: &BTreeMap<String, String>) -> Option<&'a GroupSeries> {
    let s = r.series.as_ref()?;
    if key.is_empty() { Some(&s.total) } else { s.groups.iter().find(|g| g.key == *key) }
}

fn phase_of<'a>(run: &'a RunSummary, phase: &Phase) -> Option<&'a PhaseSummary> {
    match phase {
        Phase::WholeRun => Some(&run.whole_run),
        other => run.phase(other.name()),
    }
}

/// One run's view of one group.
struct Side<'a> {
    stats: Option<&'a GroupStats>,
    windows: Windows<'a>,
}

impl Side<'_> {
    fn value(&self, metric: Metric) -> Option<f64> {
        let s = self.stats?;
        match metric.quantile() {
            Some(q) => {
                let l = s.latency_ms.as_ref()?;
                match q {
                    0.5 => l.p50,
                    0.95 => l.p95,
                    _ => l.p99,
                }
            }
            None if metric == Metric::ErrorRate => s.error_rate,
            None => Some(s.requests_per_s),
        }
    }

    fn requests(&self) -> u64 {
        self.stats.map_or(0, |s| s.requests)
    }

    fn failed(&self) -> u64 {
        self.stats.map_or(0, |s| s.failed)
    }

    /// The standard error of this run's value on the analysis scale (log for latency and
    /// throughput, absolute for the error rate), from its own windows or request counts.
    fn standard_error(&self, metric: Metric, values: &[f64]) -> Option<f64> {
        if metric == Metric::ErrorRate {
            let (f, n) = (self.failed() as f64, self.requests() as f64);
            return (n > 0.0).then(|| ((f / n) * (1.0 - f / n) / n).sqrt());
        }
        let logs: Vec<f64> = values.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect();
        if logs.len() < 2 {
            return None;
        }
        let m = logs.iter().sum::<f64>() / logs.len() as f64;
        let var = logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (logs.len() - 1) as f64;
        Some((var / logs.len() as f64).sqrt())
    }
}

fn unavailable(group: &str, metric: Metric, state: State, reason: String) -> MetricComparison {
    MetricComparison {
        group: group.to_string(),
        metric,
        state,
        reason: Some(reason),
        baseline: None,
        candidate: None,
        abs_change: None,
        rel_change: None,
        p_value: None,
        effect: None,
        ci_low: None,
        ci_high: None,
        baseline_samples: 0,
        candidate_samples: 0,
        between: None,
    }
}

/// The centre of several runs' values: the geometric mean for latency and throughput (their
/// changes are ratios), the pooled rate for errors. `None` when a run has no value.
fn centre(metric: Metric, sides: &[Side<'_>]) -> Option<f64> {
    if metric == Metric::ErrorRate {
        let n: u64 = sides.iter().map(Side::requests).sum();
        return (n > 0).then(|| sides.iter().map(Side::failed).sum::<u64>() as f64 / n as f64);
    }
    let values: Option<Vec<f64>> = sides.iter().map(|s| s.value(metric)).collect();
    let values = values?;
    if values.len() == 1 {
        return values.first().copied();
    }
    if values.iter().any(|v| *v <= 0.0 || !v.is_finite()) {
        // No ratio scale for a zero: fall back to the plain mean.
        return Some(values.iter().sum::<f64>() / values.len() as f64);
    }
    Some((values.iter().map(|v| v.ln()).sum::<f64>() / values.len() as f64).exp())
}

/// `mismatch`: why the runs' windows cannot be compared (different sizes), if so.
fn compare_metric(
    group: &str,
    metric: Metric,
    b: &[Side<'_>],
    c: &[Side<'_>],
    confidence: f64,
    mismatch: Option<&str>,
) -> MetricComparison {
    let requests = |sides: &[Side<'_>]| sides.iter().map(Side::requests).sum::<u64>();
    if requests(b) == 0 {
        // A new endpoint: nothing to compare with, but its own numbers still face the SLA.
        let mut m = unavailable(group, metric, State::MissingInBaseline, "no requests in the baseline".into());
        m.candidate = centre(metric, c);
        return m;
    }
    if requests(c) == 0 {
        let mut m = unavailable(group, metric, State::MissingInCandidate, "no requests in the candidate".into());
        m.baseline = centre(metric, b);
        return m;
    }
    let (bv, cv) = (centre(metric, b), centre(metric, c));
    let mut m = unavailable(group, metric, State::Ok, String::new());
    m.reason = None;
    m.baseline = bv;
    m.candidate = cv;
    let (Some(bv), Some(cv)) = (bv, cv) else {
        m.state = State::InsufficientData;
        let runs = if b.len() + c.len() > 2 { " of a run" } else { "" };
        m.reason = Some(format!("{} is not in the summary{runs}", metric.label()));
        return m;
    };
    if !bv.is_finite() || !cv.is_finite() {
        m.state = State::NotANumber;
        m.reason = Some(format!("{} is not a finite number (baseline {bv}, candidate {cv})", metric.label()));
        return m;
    }
    m.abs_change = Some(cv - bv);
    m.rel_change = (bv != 0.0).then(|| cv / bv - 1.0);
    if let Some(reason) = mismatch.filter(|_| metric != Metric::ErrorRate) {
        // Refused, not approximated (module docs): the values stay for people to read.
        m.state = State::InsufficientData;
        m.reason = Some(reason.to_string());
        return m;
    }
    let windows = |sides: &[Side<'_>]| -> Vec<Vec<f64>> { sides.iter().map(|s| s.windows.values(metric)).collect() };
    let (bw, cw) = (windows(b), windows(c));
    m.between = Some(between(metric, b, c, &bw, &cw, bv));

    if metric == Metric::ErrorRate {
        let (bf, bn) = (b.iter().map(Side::failed).sum::<u64>(), requests(b));
        let (cf, cn) = (c.iter().map(Side::failed).sum::<u64>(), requests(c));
        m.baseline_samples = bn;
        m.candidate_samples = cn;
        m.p_value = two_proportion_p(bf, bn, cf, cn);
        // Wald interval of the difference of proportions.
        let (pb, pc) = (bf as f64 / bn.max(1) as f64, cf as f64 / cn.max(1) as f64);
        let se = (pb * (1.0 - pb) / bn.max(1) as f64 + pc * (1.0 - pc) / cn.max(1) as f64).sqrt();
        let z = z_for(confidence);
        m.effect = Some(pc - pb);
        m.ci_low = Some(pc - pb - z * se);
        m.ci_high = Some(pc - pb + z * se);
        return m;
    }

    let (bw, cw): (Vec<f64>, Vec<f64>) = (bw.concat(), cw.concat());
    m.baseline_samples = bw.len() as u64;
    m.candidate_samples = cw.len() as u64;
    if bw.len() < MIN_WINDOWS || cw.len() < MIN_WINDOWS {
        m.state = State::InsufficientData;
        m.reason = Some(format!(
            "{} and {} {} windows, at least {MIN_WINDOWS} each needed for a significance test{}",
            bw.len(),
            cw.len(),
            window_words(b.iter().chain(c).map(|s| s.windows.window_s).fold(1.0, f64::max)),
            if b.iter().chain(c).any(|s| s.windows.series.is_none()) {
                " (a k6 summary input has no per-second series; ingest the JSON output)"
            } else {
                ""
            }
        ));
        return m;
    }
    m.p_value = mann_whitney_p(&bw, &cw);
    // Ratios live on a log scale; windows with a zero value (no latency, no requests) carry no ratio.
    let logs = |v: &[f64]| -> Vec<f64> { v.iter().filter(|x| **x > 0.0).map(|x| x.ln()).collect() };
    if let Some((est, lo, hi)) = hodges_lehmann(&logs(&bw), &logs(&cw), confidence) {
        m.effect = Some(est.exp() - 1.0);
        m.ci_low = Some(lo.exp() - 1.0);
        m.ci_high = Some(hi.exp() - 1.0);
    }
    m
}

/// Between-run statistics of one metric: each run's own value against the others'.
fn between(metric: Metric, b: &[Side<'_>], c: &[Side<'_>], bw: &[Vec<f64>], cw: &[Vec<f64>], centre: f64) -> Between {
    let values = |sides: &[Side<'_>]| -> Vec<f64> { sides.iter().filter_map(|s| s.value(metric)).collect() };
    let (bv, cv) = (values(b), values(c));
    let ratio = metric != Metric::ErrorRate && bv.iter().chain(&cv).all(|v| *v > 0.0 && v.is_finite());
    let scale = |v: &[f64]| -> Vec<f64> { if ratio { v.iter().map(|x| x.ln()).collect() } else { v.to_vec() } };
    let relative = |v: f64| if ratio && centre > 0.0 { v / centre - 1.0 } else { v - centre };
    let range = (bv.len() > 1).then(|| {
        let lo = bv.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = bv.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (relative(lo), relative(hi))
    });
    // The floor: no run's value is known better than its own windows (or requests) allow.
    let mut errors: Vec<f64> =
        b.iter().zip(bw).chain(c.iter().zip(cw)).filter_map(|(s, w)| s.standard_error(metric, w)).collect();
    errors.sort_by(f64::total_cmp);
    let floor = errors.get(errors.len() / 2).copied().unwrap_or(0.0);
    let spread =
        (bv.len() == b.len() && cv.len() == c.len()).then(|| spread(&scale(&bv), &scale(&cv), floor)).flatten();
    let note = match (b.len(), &spread) {
        (1, _) => Some("between-run noise unknown: one baseline run".to_string()),
        (_, None) => Some(format!("between-run noise unknown: {} of {} baseline runs have a value", bv.len(), b.len())),
        (n, Some(s)) if s.floored => Some(format!(
            "the {n} baseline runs agree more closely than one run's own windows allow; the within-run error is used"
        )),
        _ => None,
    };
    Between {
        baseline_runs: b.len() as u32,
        candidate_runs: c.len() as u32,
        baseline_values: bv,
        candidate_values: cv,
        scale: if ratio { Scale::Log } else { Scale::Absolute },
        range_low: range.map(|r| r.0),
        range_high: range.map(|r| r.1),
        noise: spread.map(|s| s.sd),
        df: spread.map(|s| s.df),
        p_value: spread.map(|s| s.p_value),
        note,
    }
}

fn z_for(confidence: f64) -> f64 {
    use statrs::distribution::{ContinuousCDF, Normal};
    Normal::standard().inverse_cdf(1.0 - (1.0 - confidence) / 2.0)
}
