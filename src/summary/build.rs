//! From aggregated windows to a [`RunSummary`]: phases, steady state, whole run, series.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use super::*;
use crate::aggregate::{Acc, Aggregator, STATUS_CLASSES, UNTAGGED};
use crate::samples::metric::{self, MetricKind};
use crate::samples::tags::METADATA_TAGS;
use crate::stats::mser;
use crate::time::format_rfc3339_ms;

#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub k6_exit_code: Option<i32>,
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
    for (tag, value) in agg.metadata_conflicts.iter().take(4) {
        issues.push(format!("tag {tag} has more than one value in the input (also {value:?}): several runs mixed?"));
    }

    let mut phases: Vec<PhaseSummary> = phase_map
        .names
        .iter()
        .enumerate()
        .map(|(i, name)| summarize(agg, name, |w, s| phase_map.of(w, s) == Some(i)))
        .collect();
    phases.retain(|p| p.windows > 0);

    let sustained = phase_map.names.iter().position(|n| n == SUSTAINED);
    let mut trimmed_windows = BTreeSet::new();
    let steady_state = sustained.map(|si| {
        let series = sustained_latency_series(agg, |w, s| phase_map.of(w, s) == Some(si));
        let means: Vec<f64> = series.iter().map(|(_, m)| *m).collect();
        let truncation = mser::truncate(&means);
        let cut = series.get(truncation.trimmed).map(|(w, _)| *w);
        trimmed_windows = series.iter().take(truncation.trimmed).map(|(w, _)| *w).collect();
        let summary =
            summarize(agg, "steady-state", |w, s| phase_map.of(w, s) == Some(si) && cut.is_none_or(|c| w >= c));
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

    let whole_run = summarize(agg, "whole-run", |_, _| true);
    let series = build_series(agg, &phase_map, &trimmed_windows);

    if agg.samples == 0 {
        issues.push("no samples in the input".into());
    } else if whole_run.total.requests == 0 {
        issues.push("no HTTP requests in the input (no http_reqs samples)".into());
    }
    let m = |i: usize| agg.metadata.get(i).cloned().flatten();
    let metadata = RunMetadata {
        test_name: m(0),
        environment: m(1),
        git_commit: m(2),
        deployment_version: m(3),
        test_date: m(4),
        start: whole_run.start.clone(),
        end: whole_run.end.clone(),
        duration_s: (whole_run.windows > 0).then_some(whole_run.duration_s),
        k6_exit_code: opts.k6_exit_code,
        sources,
        samples: agg.samples,
    };
    debug_assert_eq!(METADATA_TAGS.len(), 5);
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
        notes: Vec::new(),
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
    let len = (hi - lo + 1) as usize;
    let vus_id = agg.metrics.get(metric::VUS);
    let reqs_id = agg.metrics.get(metric::HTTP_REQS);
    let mut vus: Vec<Option<f64>> = vec![None; len];
    let mut reqs = vec![0.0; len];
    for (&(w, _, _, m), acc) in &agg.cells {
        let i = (w - lo) as usize;
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
                lo + i as i64,
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

fn window_range(agg: &Aggregator) -> Option<(i64, i64)> {
    let lo = agg.cells.keys().map(|k| k.0).min()?;
    let hi = agg.cells.keys().map(|k| k.0).max()?;
    Some((lo, hi))
}

/// Mean `http_req_duration` per window of a phase, in time order, windows without requests left out.
fn sustained_latency_series(agg: &Aggregator, in_phase: impl Fn(i64, u16) -> bool) -> Vec<(i64, f64)> {
    let Some(dur) = agg.metrics.get(metric::HTTP_REQ_DURATION) else { return Vec::new() };
    let mut per: BTreeMap<i64, (f64, u64)> = BTreeMap::new();
    for (&(w, s, _, m), acc) in &agg.cells {
        if m == dur && in_phase(w, s) {
            let e = per.entry(w).or_default();
            e.0 += acc.sum();
            e.1 += acc.count;
        }
    }
    per.into_iter().filter(|(_, (_, n))| *n > 0).map(|(w, (sum, n))| (w, sum / n as f64)).collect()
}

/// Merges every cell accepted by `include` into phase statistics.
fn summarize(agg: &Aggregator, name: &str, include: impl Fn(i64, u16) -> bool) -> PhaseSummary {
    let mut by_group_metric: FxHashMap<(u32, u32), Acc> = FxHashMap::default();
    let mut by_metric: FxHashMap<u32, Acc> = FxHashMap::default();
    let mut windows = BTreeSet::new();
    for (&(w, s, g, m), acc) in &agg.cells {
        if !include(w, s) {
            continue;
        }
        windows.insert(w);
        by_group_metric.entry((g, m)).or_insert_with(|| Acc::new(false)).merge(acc);
        by_metric.entry(m).or_insert_with(|| Acc::new(false)).merge(acc);
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
    let mut total = group_stats(BTreeMap::new(), |m| id(m).and_then(|i| by_metric.get(&i)), &total_status, per_s);
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
        dropped_iterations: counter("dropped_iterations") as u64,
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
            group_stats(key, |m| id(m).and_then(|i| by_group_metric.get(&(g, i))), &st, per_s)
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
) -> GroupStats {
    let reqs = acc(metric::HTTP_REQS);
    let failed = acc(metric::HTTP_REQ_FAILED);
    let dur = acc(metric::HTTP_REQ_DURATION);
    let requests = reqs.map_or(0, |a| a.sum().round() as u64);
    GroupStats {
        key,
        requests,
        requests_per_s: requests as f64 / per_s,
        latency_ms: dur.map(quantiles),
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

fn build_series(agg: &Aggregator, phases: &PhaseMap, trimmed: &BTreeSet<i64>) -> Series {
    let Some((lo, hi)) = window_range(agg) else {
        return Series {
            window_s: 1.0,
            start_unix_s: vec![],
            phase: vec![],
            trimmed: vec![],
            vus: vec![],
            total: empty_group_series(BTreeMap::new(), 0),
            groups: vec![],
        };
    };
    let len = (hi - lo + 1) as usize;
    let (dur, reqs, failed, vus) = (
        agg.metrics.get(metric::HTTP_REQ_DURATION),
        agg.metrics.get(metric::HTTP_REQS),
        agg.metrics.get(metric::HTTP_REQ_FAILED),
        agg.metrics.get(metric::VUS),
    );
    // (group, window) -> merged duration, requests, failures; group u32::MAX is the total.
    let mut cells: FxHashMap<(u32, i64), (Acc, u64, u64)> = FxHashMap::default();
    let mut phase_votes: FxHashMap<i64, FxHashMap<usize, u64>> = FxHashMap::default();
    let mut vus_s = vec![None; len];
    for (&(w, s, g, m), acc) in &agg.cells {
        if let Some(p) = phases.of(w, s) {
            *phase_votes.entry(w).or_default().entry(p).or_default() += acc.count;
        }
        if Some(m) == vus {
            if let Some(v) = vus_s.get_mut((w - lo) as usize) {
                *v = Some(v.map_or(acc.max, |x: f64| x.max(acc.max)));
            }
            continue;
        }
        for gid in [g, u32::MAX] {
            if gid == 0 {
                continue;
            }
            let e = cells.entry((gid, w)).or_insert_with(|| (Acc::new(false), 0, 0));
            if Some(m) == dur {
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
            let Some((acc, r, f)) = cells.get(&(gid, lo + i as i64)) else { continue };
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
    Series {
        window_s: 1.0,
        start_unix_s: (lo..=hi).collect(),
        phase: (lo..=hi)
            .map(|w| {
                phase_votes
                    .get(&w)
                    .and_then(|v| v.iter().max_by_key(|(p, n)| (**n, usize::MAX - **p)))
                    .and_then(|(p, _)| phases.names.get(*p).cloned())
            })
            .collect(),
        trimmed: (lo..=hi).map(|w| trimmed.contains(&w)).collect(),
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
}
