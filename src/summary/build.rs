//! From aggregated windows to a [`RunSummary`]: phases, steady state, whole run, series,
//! load model and load generator.
//!
//! Latency is that of the requests with an expected response (k6's own threshold convention,
//! `http_req_duration{expected_response:true}`): failed requests are often fast (a refused
//! connection, an early 503) and would make a failing run look quick. Their latency is kept
//! apart (`failed_latency_ms`). Only when some `http_req_duration` samples have no
//! `expected_response` tag is every request counted, with a note saying so.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::load;
use super::*;
use crate::aggregate::{Acc, Aggregator, DURATION_PARTS, STATUS_CLASSES, UNTAGGED};
use crate::samples::metric::{self, MetricKind};
use crate::samples::tags::meta;
use crate::stats::mser;
use crate::time::format_rfc3339_ms;

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub k6_exit_code: Option<i32>,
}

/// The note of a summary whose latency includes failed requests.
pub const LATENCY_ALL_REQUESTS_NOTE: &str = "latency includes failed requests: some http_req_duration samples have no expected_response tag (k6's systemTags without it, or a responseCallback of null), so successful and failed requests cannot be told apart";

/// Which `http_req_duration` samples the latency fields describe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Latency {
    /// Expected responses in `latency_ms` and the series, unexpected ones in `failed_latency_ms`.
    Expected,
    /// Every request (the tag was missing on some samples).
    All,
}

impl Latency {
    /// The metric behind `latency_ms` and the latency series.
    fn shown(self) -> &'static str {
        match self {
            Latency::Expected => metric::HTTP_REQ_DURATION_EXPECTED,
            Latency::All => metric::HTTP_REQ_DURATION,
        }
    }

    /// Ids of the cells that hold it (see `aggregate::DURATION_PARTS`).
    fn cell_ids(self, agg: &Aggregator) -> Vec<u32> {
        let names: &[&str] = match self {
            Latency::Expected => &[metric::HTTP_REQ_DURATION_EXPECTED],
            Latency::All => &DURATION_PARTS,
        };
        names.iter().filter_map(|n| agg.metrics.get(n)).collect()
    }

    /// The metric behind `failed_latency_ms`.
    fn failed(self) -> Option<&'static str> {
        match self {
            Latency::Expected => Some(metric::HTTP_REQ_DURATION_UNEXPECTED),
            Latency::All => None,
        }
    }
}

/// Expected-response latency when every `http_req_duration` sample carries the tag: the
/// metric's own cells hold only the samples without it.
fn latency_source(agg: &Aggregator) -> Latency {
    let untagged = agg
        .metrics
        .get(metric::HTTP_REQ_DURATION)
        .is_some_and(|id| agg.cells.iter().any(|(k, a)| k.3 == id && a.count > 0));
    if untagged { Latency::All } else { Latency::Expected }
}

/// Canonical phase order; other `test_stage` values follow in order of appearance.
const CANONICAL: [&str; 4] = ["warm-up", "ramp-up", "sustained", "ramp-down"];
pub const SUSTAINED: &str = "sustained";

/// Accepted spellings of the canonical phases in `test_stage` tags.
fn canonical_name(stage: &str) -> &str {
    match stage {
        "warmup" | "warm_up" | "warm-up" => "warm-up",
        "rampup" | "ramp_up" | "ramp-up" => "ramp-up",
        "steady" | "sustain" | "sustained" | "plateau" => SUSTAINED,
        "rampdown" | "ramp_down" | "ramp-down" => "ramp-down",
        other => other,
    }
}

/// Which phase each (window, stage) cell belongs to.
struct PhaseMap {
    names: Vec<String>,
    /// Phase of tagged samples, by stage id.
    by_stage: Vec<Option<usize>>,
    /// Phase of untagged samples, by window.
    by_window: FxHashMap<i64, usize>,
    source: PhaseSource,
}

impl PhaseMap {
    fn of(&self, window: i64, stage: u16) -> Option<usize> {
        if stage != UNTAGGED {
            self.by_stage.get(stage as usize).copied().flatten()
        } else {
            self.by_window.get(&window).copied()
        }
    }
}

pub fn build_from_stream(
    agg: &Aggregator,
    sources: Vec<SourceFile>,
    mut issues: Vec<String>,
    opts: &BuildOptions,
) -> RunSummary {
    let phase_map = map_phases(agg);
    let latency = latency_source(agg);
    let mut notes = Vec::new();
    if latency == Latency::All {
        notes.push(LATENCY_ALL_REQUESTS_NOTE.to_string());
    }
    if let Some(note) = resolution_note(agg) {
        notes.push(note);
    }
    for (tag, value) in agg.metadata_conflicts.iter().take(4) {
        issues.push(format!("tag {tag} has more than one value in the input (also {value:?}): several runs mixed?"));
    }

    let mut phases: Vec<PhaseSummary> = phase_map
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| summarize(agg, name, latency, |w, s| phase_map.of(w, s) == Some(i)))
        .collect();
    phases.retain(|p| p.windows > 0);

    let sustained = phase_map.names.iter().position(|n| n == SUSTAINED);
    let mut trimmed_windows = BTreeSet::new();
    let steady_state = sustained.map(|si| {
        let series = sustained_latency_series(agg, latency, |w, s| phase_map.of(w, s) == Some(si));
        let means: Vec<f64> = series.iter().map(|(_, m)| *m).collect();
        let truncation = mser::truncate(&means);
        let cut = series.get(truncation.trimmed).map(|(w, _)| *w);
        trimmed_windows = series.iter().take(truncation.trimmed).map(|(w, _)| *w).collect();
        let summary = summarize(agg, "steady-state", latency, |w, s| {
            phase_map.of(w, s) == Some(si) && cut.is_none_or(|c| w >= c)
        });
        let trimmed_s = match (truncation.trimmed, cut) {
            (0, _) | (_, None) => 0.0,
            (_, Some(c)) => {
                let first =
                    agg.spans.iter().filter(|((w, s), _)| phase_map.of(*w, *s) == Some(si)).map(|(_, sp)| sp.0).min();
                first.map_or(0.0, |f| ((c * 1_000_000_000 - f) as f64 / 1e9).max(0.0))
            }
        };
        SteadyState { phase: SUSTAINED.to_string(), trimmed_s, truncation, summary }
    });
    let steady_state = steady_state.filter(|s| s.summary.windows > 0);

    let whole_run = summarize(agg, "whole-run", latency, |_, _| true);
    let series = build_series(agg, &phase_map, latency, &trimmed_windows, agg.window_s());
    let series_coarser = COARSER_SERIES_S
        .iter()
        .filter(|&&ws| ws > agg.window_s() && ws % agg.window_s() == 0 && !series.start_unix_s.is_empty())
        .map(|&ws| build_series(agg, &phase_map, latency, &trimmed_windows, ws))
        .collect();

    if agg.samples == 0 {
        issues.push("no samples in the input".into());
    } else if whole_run.total.requests == 0 {
        issues.push("no HTTP requests in the input (no http_reqs samples)".into());
    }
    let m = |i: usize| agg.metadata.get(i).cloned().flatten();
    let has_dropped = agg.metrics.get(metric::DROPPED_ITERATIONS).is_some();
    let load_model =
        load::model(m(meta::LOAD_MODEL).as_deref(), m(meta::OFFERED_RATE).as_deref(), has_dropped, &mut notes);
    let load_generator = compared_part(agg, &series, steady_state.as_ref(), &phases, &whole_run)
        .map(|part| load::assess(load_model.as_ref(), &part));
    let metadata = RunMetadata {
        test_name: m(meta::TEST_NAME),
        environment: m(meta::ENVIRONMENT),
        git_commit: m(meta::GIT_COMMIT),
        deployment_version: m(meta::DEPLOYMENT_VERSION),
        test_date: m(meta::TEST_DATE),
        start: whole_run.start.clone(),
        end: whole_run.end.clone(),
        duration_s: (whole_run.windows > 0).then_some(whole_run.duration_s),
        k6_exit_code: opts.k6_exit_code,
        sources,
        samples: agg.samples,
        load_model,
    };
    let source = if phases.is_empty() { PhaseSource::None } else { phase_map.source };
    RunSummary {
        schema_version: SCHEMA_VERSION.to_string(),
        metadata,
        completeness: completeness(issues, opts),
        granularity: Granularity::Windows,
        phase_source: source,
        phases,
        steady_state,
        whole_run,
        series: Some(series),
        series_coarser,
        notes,
        load_generator,
    }
}

pub(super) fn completeness(mut issues: Vec<String>, opts: &BuildOptions) -> Completeness {
    match opts.k6_exit_code {
        Some(0) | None => {}
        Some(code) => issues.push(format!("k6 exited with code {code}")),
    }
    Completeness { complete: issues.is_empty(), issues }
}

/// Finds the phases: from `test_stage` tags when any sample has one, else inferred.
fn map_phases(agg: &Aggregator) -> PhaseMap {
    let tagged = agg.stages.len() > 1;
    if tagged {
        let mut names: Vec<String> = Vec::new();
        let mut by_stage = vec![None; agg.stages.len()];
        // Order stages canonically, then by first window.
        let mut first: FxHashMap<u16, i64> = FxHashMap::default();
        for &(w, s, _, _) in agg.cells.keys() {
            if s != UNTAGGED {
                let e = first.entry(s).or_insert(w);
                *e = (*e).min(w);
            }
        }
        let mut stages: Vec<u16> = first.keys().copied().collect();
        stages.sort_by_key(|s| {
            let name = canonical_name(agg.stages.name(u32::from(*s)));
            (CANONICAL.iter().position(|c| *c == name).unwrap_or(CANONICAL.len()), first.get(s).copied().unwrap_or(0))
        });
        for s in stages {
            let name = canonical_name(agg.stages.name(u32::from(s))).to_string();
            let idx = names.iter().position(|n| *n == name).unwrap_or_else(|| {
                names.push(name);
                names.len() - 1
            });
            if let Some(slot) = by_stage.get_mut(s as usize) {
                *slot = Some(idx);
            }
        }
        // Untagged samples (vus, setup) take the phase most tagged samples of their window have.
        let mut counts: FxHashMap<i64, FxHashMap<usize, u64>> = FxHashMap::default();
        for (&(w, s, _, _), acc) in &agg.cells {
            if let Some(p) = by_stage.get(s as usize).copied().flatten() {
                *counts.entry(w).or_default().entry(p).or_default() += acc.count;
            }
        }
        let by_window = counts
            .into_iter()
            .filter_map(|(w, c)| c.into_iter().max_by_key(|(p, n)| (*n, usize::MAX - p)).map(|(p, _)| (w, p)))
            .collect();
        return PhaseMap { names, by_stage, by_window, source: PhaseSource::Tagged };
    }
    infer_phases(agg)
}

/// Rising, plateau, falling: from the `vus` gauge when it moves, else from the request rate.
fn infer_phases(agg: &Aggregator) -> PhaseMap {
    let names = vec!["ramp-up".to_string(), SUSTAINED.to_string(), "ramp-down".to_string()];
    let empty =
        |source| PhaseMap { names: names.clone(), by_stage: vec![None], by_window: FxHashMap::default(), source };
    let Some((lo, hi)) = window_range(agg) else { return empty(PhaseSource::None) };
    let ws = agg.window_s();
    let len = ((hi - lo) / ws + 1) as usize;
    let vus_id = agg.metrics.get(metric::VUS);
    let reqs_id = agg.metrics.get(metric::HTTP_REQS);
    let mut vus: Vec<Option<f64>> = vec![None; len];
    let mut reqs = vec![0.0; len];
    for (&(w, _, _, m), acc) in &agg.cells {
        let i = ((w - lo) / ws) as usize;
        if Some(m) == vus_id {
            if let Some(v) = vus.get_mut(i) {
                *v = Some(v.map_or(acc.max, |x| x.max(acc.max)));
            }
        } else if Some(m) == reqs_id {
            if let Some(r) = reqs.get_mut(i) {
                *r += acc.sum();
            }
        }
    }
    // The gauge holds its value between samples.
    let mut prev = 0.0;
    let vus: Vec<f64> = vus
        .iter()
        .map(|v| {
            prev = v.unwrap_or(prev);
            prev
        })
        .collect();
    let vmax = vus.iter().copied().fold(0.0, f64::max);
    let vmin = vus.iter().copied().fold(f64::INFINITY, f64::min);
    // Arrival-rate executors start VUs on demand: their gauge follows latency, not the load
    // profile, and stays well below the VUs allocated for them (`vus_max`), which a VU ramp
    // reaches. They are also the only executors that drop iterations.
    let arrival_rate = agg.metrics.get("dropped_iterations").is_some();
    let allocated = agg
        .metrics
        .get("vus_max")
        .map(|id| agg.cells.iter().filter(|(k, _)| k.3 == id).map(|(_, a)| a.max).fold(0.0, f64::max))
        .unwrap_or(vmax);
    let reaches_allocation = vmax >= 0.8 * allocated;
    let vus_usable = !arrival_rate && reaches_allocation && vmax >= 2.0 && vmax - vmin >= 0.2 * vmax && unimodal(&vus);
    let (signal, threshold, source) = if vus_usable {
        (vus, vmax * 0.95, PhaseSource::InferredVus)
    } else if reqs.iter().filter(|r| **r > 0.0).count() >= 3 {
        let smooth: Vec<f64> = (0..len)
            .map(|i| {
                let w = reqs.get(i.saturating_sub(1)..(i + 2).min(len)).unwrap_or_default();
                w.iter().sum::<f64>() / w.len().max(1) as f64
            })
            .collect();
        let mut sorted = smooth.clone();
        sorted.sort_by(f64::total_cmp);
        let robust_max = sorted.get(((sorted.len() as f64 - 1.0) * 0.95) as usize).copied().unwrap_or(0.0);
        (smooth, robust_max * 0.9, PhaseSource::InferredRequestRate)
    } else {
        return empty(PhaseSource::None);
    };
    let first = signal.iter().position(|v| *v >= threshold).unwrap_or(0);
    let last = signal.iter().rposition(|v| *v >= threshold).unwrap_or(len - 1);
    let by_window = (0..len)
        .map(|i| {
            (
                lo + i as i64 * ws,
                if i < first {
                    0
                } else if i <= last {
                    1
                } else {
                    2
                },
            )
        })
        .collect();
    PhaseMap { names, by_stage: vec![None; agg.stages.len()], by_window, source }
}

/// The numbers of the compared part of the run for the load-generator check: the steady
/// state, else the sustained phase, else the whole run. Its windows are those whose samples
/// mostly belong to it (`Series::phase`, and not trimmed for the steady state): a phase's
/// cells also reach into the next phase's seconds with the iterations that started before
/// the boundary and ended after it.
fn compared_part(
    agg: &Aggregator,
    series: &Series,
    steady: Option<&SteadyState>,
    phases: &[PhaseSummary],
    whole_run: &PhaseSummary,
) -> Option<load::Part> {
    if series.start_unix_s.is_empty() {
        return None;
    }
    let sustained = phases.iter().find(|p| p.name == SUSTAINED);
    let is_sustained = |i: usize| series.phase.get(i).is_some_and(|p| p.as_deref() == Some(SUSTAINED));
    let is_trimmed = |i: usize| series.trimmed.get(i).copied().unwrap_or(false);
    let (label, summary, windows): (&'static str, &PhaseSummary, Vec<i64>) = match (steady, sustained) {
        (Some(ss), _) => (
            "steady state",
            &ss.summary,
            (0..series.start_unix_s.len())
                .filter(|i| is_sustained(*i) && !is_trimmed(*i))
                .filter_map(|i| series.start_unix_s.get(i).copied())
                .collect(),
        ),
        (None, Some(p)) => (
            "sustained phase",
            p,
            (0..series.start_unix_s.len())
                .filter(|i| is_sustained(*i))
                .filter_map(|i| series.start_unix_s.get(i).copied())
                .collect(),
        ),
        (None, None) => ("whole run", whole_run, series.start_unix_s.clone()),
    };
    let dropped_iterations = summary.total.throughput.as_ref().map_or(0, |t| t.dropped_iterations);
    let ids = |n: &str| agg.metrics.get(n);
    let (iterations, vus, vus_max) = (ids(metric::ITERATIONS), ids(metric::VUS), ids(metric::VUS_MAX));
    let wanted: BTreeSet<i64> = windows.iter().copied().collect();
    // Per window: iterations completed (all stages), and the highest VUs in use and allocated.
    let mut per: BTreeMap<i64, (f64, f64, f64)> = BTreeMap::new();
    for (&(w, _, _, m), acc) in &agg.cells {
        if !wanted.contains(&w) || acc.count == 0 {
            continue;
        }
        let e = per.entry(w).or_insert((0.0, 0.0, 0.0));
        if Some(m) == iterations {
            e.0 += acc.sum();
        } else if Some(m) == vus {
            e.1 = e.1.max(acc.max);
        } else if Some(m) == vus_max {
            e.2 = e.2.max(acc.max);
        }
    }
    let inner = windows.get(1..windows.len().saturating_sub(1)).unwrap_or_default();
    // Per second, whatever the window size.
    let seconds = (inner.len() as i64 * agg.window_s()) as f64;
    let achieved_iterations_per_s = (iterations.is_some() && !inner.is_empty())
        .then(|| inner.iter().map(|w| per.get(w).map_or(0.0, |e| e.0)).sum::<f64>() / seconds);
    let vus_max_reached = per.values().filter(|(_, v, max)| *max > 0.0 && v >= max).map(|e| e.2).reduce(f64::max);
    let client_share = load::client_share(summary);
    Some(load::Part { label, dropped_iterations, achieved_iterations_per_s, vus_max_reached, client_share })
}

/// Rises, holds, falls, and never rises again after falling: a VU ramp profile rather than
/// a gauge that follows latency.
fn unimodal(series: &[f64]) -> bool {
    let mut fell = false;
    for pair in series.windows(2) {
        if let [a, b] = pair {
            if b < a {
                fell = true;
            } else if b > a && fell {
                return false;
            }
        }
    }
    true
}

/// The note of a summary whose series is coarser than 1 s, with why.
fn resolution_note(agg: &Aggregator) -> Option<String> {
    let ws = agg.window_s();
    let (lo, hi) = agg.span_s()?;
    (ws > 1).then(|| {
        format!(
            "series at {} windows: the run spans {}, longer than the {} kept at 1 s (--full-resolution); \
             the steady state, inferred phases, untagged samples' phase and per-window statistics \
             use these windows; counts, sums and quantiles of tagged phases and groups are exact",
            seconds_words((ws) as f64),
            seconds_words((hi - lo + 1) as f64),
            seconds_words(agg.full_resolution_s() as f64)
        )
    })
}

/// `60 s`, `30 min`, `23.9 h`.
fn seconds_words(s: f64) -> String {
    let trim = |x: f64| format!("{x:.1}").trim_end_matches(".0").to_string();
    if s >= 7200.0 {
        format!("{} h", trim(s / 3600.0))
    } else if s >= 120.0 {
        format!("{} min", trim(s / 60.0))
    } else {
        format!("{} s", trim(s))
    }
}

fn window_range(agg: &Aggregator) -> Option<(i64, i64)> {
    let lo = agg.cells.keys().map(|k| k.0).min()?;
    let hi = agg.cells.keys().map(|k| k.0).max()?;
    Some((lo, hi))
}

/// Mean latency (as in `latency_ms`) per window of a phase, in time order, windows without
/// requests left out.
fn sustained_latency_series(
    agg: &Aggregator,
    latency: Latency,
    in_phase: impl Fn(i64, u16) -> bool,
) -> Vec<(i64, f64)> {
    let dur = latency.cell_ids(agg);
    let mut per: BTreeMap<i64, (f64, u64)> = BTreeMap::new();
    for (&(w, s, _, m), acc) in &agg.cells {
        if dur.contains(&m) && in_phase(w, s) {
            let e = per.entry(w).or_default();
            e.0 += acc.sum();
            e.1 += acc.count;
        }
    }
    per.into_iter().filter(|(_, (_, n))| *n > 0).map(|(w, (sum, n))| (w, sum / n as f64)).collect()
}

/// Merges every cell accepted by `include` into phase statistics.
fn summarize(agg: &Aggregator, name: &str, latency: Latency, include: impl Fn(i64, u16) -> bool) -> PhaseSummary {
    let mut by_group_metric: FxHashMap<(u32, u32), Acc> = FxHashMap::default();
    let mut by_metric: FxHashMap<u32, Acc> = FxHashMap::default();
    let mut windows = BTreeSet::new();
    // `http_req_duration` is its own cells (samples without the tag) and its submetrics'.
    let duration = agg.metrics.get(metric::HTTP_REQ_DURATION);
    let parts: Vec<u32> = DURATION_PARTS.iter().skip(1).filter_map(|n| agg.metrics.get(n)).collect();
    for (&(w, s, g, m), acc) in &agg.cells {
        if !include(w, s) {
            continue;
        }
        windows.insert(w);
        let also = duration.filter(|_| parts.contains(&m));
        for m in std::iter::once(m).chain(also) {
            by_group_metric.entry((g, m)).or_insert_with(|| Acc::new(false)).merge(acc);
            by_metric.entry(m).or_insert_with(|| Acc::new(false)).merge(acc);
        }
    }
    let mut status: FxHashMap<u32, [u64; 6]> = FxHashMap::default();
    for (&(w, s, g), counts) in &agg.status {
        if include(w, s) {
            let e = status.entry(g).or_default();
            e.iter_mut().zip(counts).for_each(|(a, b)| *a += b);
        }
    }
    let (start, end) = agg
        .spans
        .iter()
        .filter(|((w, s), _)| include(*w, *s))
        .fold((i64::MAX, i64::MIN), |(lo, hi), (_, sp)| (lo.min(sp.0), hi.max(sp.1)));
    let has_span = start <= end;
    // Rates over less than a second would overstate; floor the divisor at 1 s.
    let duration_s = if has_span { (end - start) as f64 / 1e9 } else { 0.0 };
    let per_s = duration_s.max(1.0);

    let id = |n: &str| agg.metrics.get(n);
    let total_status = status.values().fold([0u64; 6], |mut a, b| {
        a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
        a
    });
    let mut total =
        group_stats(BTreeMap::new(), |m| id(m).and_then(|i| by_metric.get(&i)), &total_status, per_s, latency);
    let acc_of = |m: &str| id(m).and_then(|i| by_metric.get(&i));
    let checks = acc_of(metric::CHECKS);
    total.checks =
        checks.map(|c| RateStats { passes: c.nonzero, fails: c.count - c.nonzero, rate: ratio(c.nonzero, c.count) });
    let counter = |m: &str| acc_of(m).map_or(0.0, |a| a.sum());
    total.throughput = Some(Throughput {
        iterations: counter(metric::ITERATIONS) as u64,
        iterations_per_s: counter(metric::ITERATIONS) / per_s,
        data_received_bytes_per_s: counter(metric::DATA_RECEIVED) / per_s,
        data_sent_bytes_per_s: counter(metric::DATA_SENT) / per_s,
        vus_max: acc_of(metric::VUS).map(|a| a.max),
        dropped_iterations: counter(metric::DROPPED_ITERATIONS) as u64,
    });

    let mut group_ids: Vec<u32> = by_group_metric.keys().map(|(g, _)| *g).filter(|g| *g != 0).collect();
    group_ids.sort_unstable();
    group_ids.dedup();
    let mut groups: Vec<GroupStats> = group_ids
        .into_iter()
        .filter(|g| {
            id(metric::HTTP_REQS).is_some_and(|m| by_group_metric.contains_key(&(*g, m)))
                || id(metric::HTTP_REQ_DURATION).is_some_and(|m| by_group_metric.contains_key(&(*g, m)))
        })
        .map(|g| {
            let key = agg.group_key(g).into_iter().collect();
            let st = status.get(&g).copied().unwrap_or_default();
            group_stats(key, |m| id(m).and_then(|i| by_group_metric.get(&(g, i))), &st, per_s, latency)
        })
        .collect();
    groups.sort_by(|a, b| a.key.cmp(&b.key));

    let metrics = by_metric
        .iter()
        .map(|(&mid, acc)| (agg.metrics.name(mid).to_string(), metric_summary(agg.type_of(mid), acc, per_s)))
        .collect();

    PhaseSummary {
        name: name.to_string(),
        start: has_span.then(|| format_rfc3339_ms(start)),
        end: has_span.then(|| format_rfc3339_ms(end)),
        duration_s,
        windows: windows.len() as u64,
        total,
        groups,
        metrics,
    }
}

fn ratio(a: u64, b: u64) -> Option<f64> {
    (b > 0).then(|| a as f64 / b as f64)
}

fn group_stats<'a>(
    key: BTreeMap<String, String>,
    acc: impl Fn(&str) -> Option<&'a Acc>,
    status: &[u64; 6],
    per_s: f64,
    latency: Latency,
) -> GroupStats {
    let reqs = acc(metric::HTTP_REQS);
    let failed = acc(metric::HTTP_REQ_FAILED);
    // No latency at all rather than quantiles of nothing: a run whose every request failed
    // has no latency to judge, never "p95 0 ms".
    let dur = acc(latency.shown()).filter(|a| a.count > 0);
    let failed_dur = latency.failed().and_then(&acc).filter(|a| a.count > 0);
    let requests = reqs.map_or(0, |a| a.sum().round() as u64);
    GroupStats {
        key,
        requests,
        requests_per_s: requests as f64 / per_s,
        latency_ms: dur.map(quantiles),
        failed_latency_ms: failed_dur.map(quantiles),
        failed: failed.map_or(0, |a| a.nonzero),
        error_rate: failed.and_then(|a| ratio(a.nonzero, a.count)),
        status_classes: STATUS_CLASSES
            .iter()
            .zip(status)
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c.to_string(), *n))
            .collect(),
        checks: None,
        throughput: None,
        latency_sketch: dur.and_then(|a| a.sketch.as_deref().cloned()),
    }
}

fn quantiles(acc: &Acc) -> Quantiles {
    let q = |p| acc.sketch.as_ref().and_then(|s| s.quantile(p));
    Quantiles {
        count: acc.count,
        p50: q(0.5),
        p90: q(0.9),
        p95: q(0.95),
        p99: q(0.99),
        min: (acc.count > 0).then_some(acc.min),
        max: (acc.count > 0).then_some(acc.max),
        mean: (acc.count > 0).then(|| acc.sum() / acc.count as f64),
    }
}

fn metric_summary(ty: Option<metric::MetricType>, acc: &Acc, per_s: f64) -> MetricSummary {
    let kind = ty.map(|t| t.kind);
    let any = kind.is_none();
    let is = |k: MetricKind| kind == Some(k);
    MetricSummary {
        ty,
        count: acc.count,
        sum: (any || is(MetricKind::Counter) || is(MetricKind::Trend)).then_some(acc.sum()),
        rate: if is(MetricKind::Counter) {
            Some(acc.sum() / per_s)
        } else if is(MetricKind::Rate) {
            ratio(acc.nonzero, acc.count)
        } else {
            None
        },
        min: (acc.count > 0).then_some(acc.min),
        max: (acc.count > 0).then_some(acc.max),
        last: (any || is(MetricKind::Gauge)).then_some(acc.last),
        quantiles: (any || is(MetricKind::Trend)).then(|| quantiles(acc)),
        sketch: if any || is(MetricKind::Trend) { acc.sketch.as_deref().cloned() } else { None },
    }
}

/// The window sizes of the coarser series stored beside the main one: what the retention
/// tiers keep once a run's 1 s windows are past their period (`policies/data/retention.yaml`).
pub const COARSER_SERIES_S: [i64; 2] = [10, 60];

/// The series at `ws`-second windows (a multiple of the aggregator's window size), merged
/// from the aggregator's windows: sketches and exact sums, never averaged percentiles. A
/// window is `trimmed` when the window it starts with is.
fn build_series(agg: &Aggregator, phases: &PhaseMap, latency: Latency, trimmed: &BTreeSet<i64>, ws: i64) -> Series {
    let to = |w: i64| w.div_euclid(ws) * ws;
    let Some((lo, hi)) = window_range(agg).map(|(lo, hi)| (to(lo), to(hi))) else {
        return Series {
            window_s: ws as f64,
            start_unix_s: vec![],
            phase: vec![],
            trimmed: vec![],
            vus: vec![],
            total: empty_group_series(BTreeMap::new(), 0),
            groups: vec![],
        };
    };
    let len = ((hi - lo) / ws + 1) as usize;
    let dur = latency.cell_ids(agg);
    let (reqs, failed, vus) =
        (agg.metrics.get(metric::HTTP_REQS), agg.metrics.get(metric::HTTP_REQ_FAILED), agg.metrics.get(metric::VUS));
    // (group, window) -> merged duration, requests, failures; group u32::MAX is the total.
    let mut cells: FxHashMap<(u32, i64), (Acc, u64, u64)> = FxHashMap::default();
    let mut phase_votes: FxHashMap<i64, FxHashMap<usize, u64>> = FxHashMap::default();
    let mut vus_s = vec![None; len];
    for (&(fine, s, g, m), acc) in &agg.cells {
        let w = to(fine);
        if let Some(p) = phases.of(fine, s) {
            *phase_votes.entry(w).or_default().entry(p).or_default() += acc.count;
        }
        if Some(m) == vus {
            if let Some(v) = vus_s.get_mut(((w - lo) / ws) as usize) {
                *v = Some(v.map_or(acc.max, |x: f64| x.max(acc.max)));
            }
            continue;
        }
        for gid in [g, u32::MAX] {
            if gid == 0 {
                continue;
            }
            let e = cells.entry((gid, w)).or_insert_with(|| (Acc::new(false), 0, 0));
            if dur.contains(&m) {
                e.0.merge(acc);
            } else if Some(m) == reqs {
                e.1 += acc.sum().round() as u64;
            } else if Some(m) == failed {
                e.2 += acc.nonzero;
            }
        }
    }
    let mut gids: Vec<u32> = cells.keys().map(|(g, _)| *g).filter(|g| *g != u32::MAX).collect();
    gids.sort_unstable();
    gids.dedup();
    let series_for = |gid: u32, key: BTreeMap<String, String>| {
        let mut gs = empty_group_series(key, len);
        for i in 0..len {
            let Some((acc, r, f)) = cells.get(&(gid, lo + i as i64 * ws)) else { continue };
            let q = |p| acc.sketch.as_ref().and_then(|s| s.quantile(p));
            if let Some(x) = gs.requests.get_mut(i) {
                *x = *r;
            }
            if let Some(x) = gs.failed.get_mut(i) {
                *x = *f;
            }
            if let Some(x) = gs.p50_ms.get_mut(i) {
                *x = q(0.5);
            }
            if let Some(x) = gs.p95_ms.get_mut(i) {
                *x = q(0.95);
            }
            if let Some(x) = gs.p99_ms.get_mut(i) {
                *x = q(0.99);
            }
            if let Some(x) = gs.mean_ms.get_mut(i) {
                *x = (acc.count > 0).then(|| acc.sum() / acc.count as f64);
            }
        }
        gs
    };
    let mut groups: Vec<GroupSeries> = gids
        .iter()
        .filter(|g| cells.iter().any(|((cg, _), (a, r, _))| cg == *g && (a.count > 0 || *r > 0)))
        .map(|g| series_for(*g, agg.group_key(*g).into_iter().collect()))
        .collect();
    groups.sort_by(|a, b| a.key.cmp(&b.key));
    let starts: Vec<i64> = (0..len as i64).map(|i| lo + i * ws).collect();
    Series {
        window_s: ws as f64,
        phase: starts
            .iter()
            .map(|w| {
                phase_votes
                    .get(w)
                    .and_then(|v| v.iter().max_by_key(|(p, n)| (**n, usize::MAX - **p)))
                    .and_then(|(p, _)| phases.names.get(*p).cloned())
            })
            .collect(),
        trimmed: starts.iter().map(|w| trimmed.contains(w)).collect(),
        start_unix_s: starts,
        vus: vus_s,
        total: series_for(u32::MAX, BTreeMap::new()),
        groups,
    }
}

fn empty_group_series(key: BTreeMap<String, String>, len: usize) -> GroupSeries {
    GroupSeries {
        key,
        requests: vec![0; len],
        failed: vec![0; len],
        p50_ms: vec![None; len],
        p95_ms: vec![None; len],
        p99_ms: vec![None; len],
        mean_ms: vec![None; len],
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use crate::samples::{Point, TagSpec, Tags};

    fn add(agg: &mut Aggregator, metric: &'static str, second: i64, value: f64) {
        let p = Point {
            metric: Cow::Borrowed(metric),
            time_ns: (1_795_824_000 + second) * 1_000_000_000,
            value,
            tags: Tags::default(),
            same_tags: false,
        };
        agg.add_point(&p, 0).unwrap();
    }

    /// An arrival-rate run whose on-demand VUs happen to rise and fall (0, 1, 2, 2, 1...) but
    /// stay far below the allocated VUs: the request rate, not the gauge, tells the phases.
    #[test]
    fn arrival_rate_runs_are_phased_by_request_rate_even_when_vus_look_like_a_ramp() {
        let mut agg = Aggregator::new(TagSpec::default());
        let rate = [10, 40, 80, 80, 80, 80, 80, 80, 80, 80, 40, 10];
        let vus = [0.0, 1.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 2.0, 1.0, 0.0];
        for (s, (r, v)) in rate.iter().zip(vus).enumerate() {
            for _ in 0..*r {
                add(&mut agg, "http_reqs", s as i64, 1.0);
            }
            add(&mut agg, "vus", s as i64, v);
            add(&mut agg, "vus_max", s as i64, 10.0);
        }
        agg.finish();
        let map = infer_phases(&agg);
        assert_eq!(map.source, PhaseSource::InferredRequestRate);

        // The same gauge reaching its allocation is a VU ramp.
        let mut agg = Aggregator::new(TagSpec::default());
        for (s, (r, v)) in rate.iter().zip(vus).enumerate() {
            add(&mut agg, "http_reqs", s as i64, f64::from(*r));
            add(&mut agg, "vus", s as i64, v);
            add(&mut agg, "vus_max", s as i64, 2.0);
        }
        agg.finish();
        assert_eq!(infer_phases(&agg).source, PhaseSource::InferredVus);
    }

    /// A sample at `ms` milliseconds into the run, with tags by slot.
    fn add_at(agg: &mut Aggregator, metric: &'static str, ms: i64, value: f64, tags: &[(usize, &'static str)]) {
        let mut t = Tags::default();
        for (slot, v) in tags {
            t.set(*slot, Cow::Borrowed(*v));
        }
        let p = Point {
            metric: Cow::Borrowed(metric),
            time_ns: 1_795_824_000_000_000_000 + ms * 1_000_000,
            value,
            tags: t,
            same_tags: false,
        };
        agg.add_point(&p, 0).unwrap();
    }

    /// One HTTP request as k6 writes it: `http_reqs`, `http_req_duration`, `http_req_failed`,
    /// with `expected_response` unless `tagged` is false.
    fn request(agg: &mut Aggregator, ms: i64, duration: f64, ok: bool, tagged: bool) {
        use crate::samples::tags::{SLOT_EXPECTED, SLOT_GROUP, SLOT_STATUS};
        let mut tags = vec![(SLOT_GROUP, "GET /x"), (SLOT_STATUS, if ok { "200" } else { "503" })];
        if tagged {
            tags.push((SLOT_EXPECTED, if ok { "true" } else { "false" }));
        }
        add_at(agg, metric::HTTP_REQS, ms, 1.0, &tags);
        add_at(agg, metric::HTTP_REQ_DURATION, ms, duration, &tags);
        add_at(agg, metric::HTTP_REQ_FAILED, ms, if ok { 0.0 } else { 1.0 }, &tags);
    }

    fn build(agg: &mut Aggregator) -> RunSummary {
        agg.finish();
        agg.resolve_types();
        build_from_stream(agg, Vec::new(), Vec::new(), &BuildOptions::default())
    }

    /// 12 seconds; each has 10 successful requests of 100..=109 ms and 30 failed ones of 1 ms.
    fn mixed_run(tagged: bool) -> RunSummary {
        let mut agg = Aggregator::new(TagSpec::default());
        for sec in 0..12 {
            for i in 0..10 {
                request(&mut agg, sec * 1000 + i * 10, 100.0 + i as f64, true, tagged);
            }
            for i in 0..30 {
                request(&mut agg, sec * 1000 + 500 + i, 1.0, false, tagged);
            }
        }
        build(&mut agg)
    }

    #[test]
    fn latency_is_that_of_the_expected_responses() {
        let s = mixed_run(true);
        for g in [&s.whole_run.total, s.whole_run.groups.first().unwrap()] {
            let l = g.latency_ms.as_ref().unwrap();
            assert_eq!(l.count, 120);
            // The fast failures are three quarters of the requests, yet not in the latency.
            assert!(l.p50.unwrap() >= 100.0 && l.p95.unwrap() >= 108.0 && l.min == Some(100.0), "{l:?}");
            let f = g.failed_latency_ms.as_ref().unwrap();
            assert_eq!((f.count, f.max), (360, Some(1.0)));
            assert_eq!(g.latency_sketch.as_ref().map(|k| k.count), Some(120));
            assert_eq!((g.requests, g.failed), (480, 360));
        }
        let series = s.series.as_ref().unwrap();
        assert!(series.total.p95_ms.iter().flatten().all(|p| *p >= 100.0), "{:?}", series.total.p95_ms);
        assert!(!s.notes.iter().any(|n| n == LATENCY_ALL_REQUESTS_NOTE), "{:?}", s.notes);
        // Every sample still counts in the metric itself, and the two submetrics are reported.
        let m = &s.whole_run.metrics;
        assert_eq!(m.get(metric::HTTP_REQ_DURATION).map(|m| m.count), Some(480));
        assert_eq!(m.get(metric::HTTP_REQ_DURATION_EXPECTED).map(|m| m.count), Some(120));
        assert_eq!(m.get(metric::HTTP_REQ_DURATION_UNEXPECTED).map(|m| m.count), Some(360));
    }

    #[test]
    fn without_the_tag_latency_counts_every_request_and_says_so() {
        let s = mixed_run(false);
        let t = &s.whole_run.total;
        let l = t.latency_ms.as_ref().unwrap();
        assert_eq!(l.count, 480);
        assert_eq!(l.p50.map(|p| p.round()), Some(1.0));
        assert_eq!(t.failed_latency_ms, None);
        assert!(s.notes.iter().any(|n| n == LATENCY_ALL_REQUESTS_NOTE), "{:?}", s.notes);
    }

    #[test]
    fn a_run_whose_every_request_failed_has_no_latency() {
        let mut agg = Aggregator::new(TagSpec::default());
        for sec in 0..10 {
            for i in 0..5 {
                request(&mut agg, sec * 1000 + i, 0.5, false, true);
            }
        }
        let s = build(&mut agg);
        let t = &s.whole_run.total;
        assert_eq!(t.latency_ms, None, "never p95 0 ms");
        assert_eq!(t.latency_sketch, None);
        assert_eq!(t.failed_latency_ms.as_ref().map(|f| f.count), Some(50));
        assert!(s.series.as_ref().unwrap().total.p95_ms.iter().all(Option::is_none));
        assert_eq!(t.error_rate, Some(1.0));
        // It serializes without the field reports cannot read.
        let json = serde_json::to_value(&s).unwrap();
        assert!(json["whole_run"]["total"]["latency_ms"].is_null());
    }

    /// A tagged arrival-rate run: ramp-up 3 s, sustained 20 s, ramp-down 3 s. In the
    /// sustained phase k6 completes `done` iterations a second, drops `dropped` and has
    /// `vus` of `vus_max` VUs busy.
    fn open_run(model: &'static str, offered: &'static str, done: u32, dropped: u32, vus: f64) -> RunSummary {
        use crate::samples::tags::{SLOT_METADATA, SLOT_STAGE};
        let meta_tags = [(SLOT_METADATA + meta::LOAD_MODEL, model), (SLOT_METADATA + meta::OFFERED_RATE, offered)];
        let mut agg = Aggregator::new(TagSpec::default());
        for sec in 0..26i64 {
            let (stage, n) = match sec {
                0..3 => ("ramp-up", done / 2),
                3..23 => ("sustained", done),
                _ => ("ramp-down", done / 2),
            };
            let mut tags = meta_tags.to_vec();
            tags.push((SLOT_STAGE, stage));
            for i in 0..n {
                let ms = sec * 1000 + i64::from(i) * 1000 / i64::from(n.max(1));
                add_at(&mut agg, metric::ITERATIONS, ms, 1.0, &tags);
                request(&mut agg, ms, 20.0 + f64::from(i % 7), true, true);
            }
            if stage == "sustained" && dropped > 0 {
                add_at(&mut agg, metric::DROPPED_ITERATIONS, sec * 1000 + 300, f64::from(dropped), &meta_tags);
            }
            add_at(&mut agg, metric::VUS, sec * 1000 + 999, if stage == "sustained" { vus } else { 1.0 }, &meta_tags);
            add_at(&mut agg, metric::VUS_MAX, sec * 1000 + 999, 2.0, &meta_tags);
        }
        build(&mut agg)
    }

    #[test]
    fn an_open_model_that_keeps_up_is_not_saturated() {
        let s = open_run("open", "100", 100, 0, 1.0);
        let m = s.metadata.load_model.as_ref().unwrap();
        assert_eq!((m.model, m.offered_iterations_per_s, m.source), (Model::Open, Some(100.0), ModelSource::Tagged));
        let g = s.load_generator.as_ref().unwrap();
        assert!(!g.saturated, "{g:?}");
        assert_eq!(g.achieved_iterations_per_s, Some(100.0), "the inner windows run at the plateau");
        assert_eq!((g.dropped_iterations, g.vus_max_reached), (0, false));
    }

    #[test]
    fn a_saturated_open_model_shows_every_sign() {
        let s = open_run("open", "100", 60, 40, 2.0);
        let g = s.load_generator.as_ref().unwrap();
        assert!(g.saturated && g.vus_max_reached, "{g:?}");
        assert_eq!(g.achieved_iterations_per_s, Some(60.0));
        // Dropped in the steady state only: its trimmed windows are no part of it.
        let kept = s.steady_state.as_ref().map(|ss| ss.summary.windows).unwrap();
        assert!(g.dropped_iterations > 0 && g.dropped_iterations <= 40 * kept, "{g:?}");
        assert_eq!(g.signs.len(), 3, "{:?}", g.signs);
        assert!(g.signs[0].starts_with(&format!("k6 dropped {} iterations in the steady state", g.dropped_iterations)));
    }

    #[test]
    fn a_closed_model_at_full_vus_is_not_saturated() {
        let s = open_run("closed", "", 60, 0, 2.0);
        assert_eq!(s.metadata.load_model.as_ref().map(|m| m.model), Some(Model::Closed));
        let g = s.load_generator.as_ref().unwrap();
        assert!(!g.saturated && !g.vus_max_reached && g.offered_iterations_per_s.is_none(), "{g:?}");
    }

    #[test]
    fn without_tags_dropped_iterations_tell_an_open_model() {
        let mut agg = Aggregator::new(TagSpec::default());
        for sec in 0..10 {
            request(&mut agg, sec * 1000, 10.0, true, true);
            add_at(&mut agg, metric::DROPPED_ITERATIONS, sec * 1000, 1.0, &[]);
        }
        let s = build(&mut agg);
        let m = s.metadata.load_model.as_ref().unwrap();
        assert_eq!((m.model, m.source), (Model::Open, ModelSource::Inferred));
        assert!(s.load_generator.as_ref().is_some_and(|g| g.saturated));
        // And a run without either says nothing about its model.
        assert_eq!(mixed_run(true).metadata.load_model, None);
    }

    /// A summary written before the load model, the failed latency and the capped trim were
    /// recorded still reads (the history holds such summaries).
    #[test]
    fn summaries_without_the_new_fields_still_parse() {
        fn strip(v: &mut serde_json::Value) {
            match v {
                serde_json::Value::Object(map) => {
                    for k in [
                        "load_model",
                        "load_generator",
                        "failed_latency_ms",
                        "mser_trimmed",
                        "cap",
                        "capped",
                        "evidence_p",
                    ] {
                        map.remove(k);
                    }
                    map.values_mut().for_each(strip);
                }
                serde_json::Value::Array(items) => items.iter_mut().for_each(strip),
                _ => {}
            }
        }
        let s = open_run("open", "100", 60, 40, 2.0);
        let mut old = serde_json::to_value(&s).unwrap();
        strip(&mut old);
        assert!(
            old["steady_state"]["truncation"].get("trimmed").is_some() && old["metadata"].get("load_model").is_none()
        );
        let back: RunSummary = serde_json::from_value(old).unwrap();
        assert_eq!((back.load_generator, back.metadata.load_model), (None, None));
        assert_eq!(back.whole_run.total.latency_ms, s.whole_run.total.latency_ms);
    }

    /// `--group-by status`: a group tag that is also a tag k6gate reads anyway.
    #[test]
    fn groups_can_be_keyed_by_a_fixed_tag() {
        let spec = TagSpec::new(&["name".to_string(), "status".to_string()]).unwrap();
        let mut agg = Aggregator::new(spec);
        for sec in 0..5 {
            request(&mut agg, sec * 1000, 10.0, true, true);
            request(&mut agg, sec * 1000 + 1, 1.0, false, true);
        }
        let s = build(&mut agg);
        let keys: Vec<Vec<(&str, &str)>> =
            s.whole_run.groups.iter().map(|g| g.key.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()).collect();
        assert_eq!(keys, [[("name", "GET /x"), ("status", "200")], [("name", "GET /x"), ("status", "503")]]);
    }
}
