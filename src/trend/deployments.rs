//! The common historical questions, answered from the runs' compact records only
//! (`history::Records`, one `summary::digest` row per phase and group): did P95 change from one
//! deployment version to the next (`history compare`), how did a metric move over the
//! deployments (`history trend`), and was each of those runs good (its outcome)?
//!
//! Several runs of a version count as one value the way `compare` counts them: the geometric
//! mean of their latencies, the pooled rate of their errors. Whether a change stands out from
//! the noise between runs is `stats::runs` (Student's t on the runs' own values, logarithms for
//! latency), which needs two runs on each side; with fewer the answer says so.
//!
//! Fails closed: a version without a decided run, a decided run without a record, or a phase
//! some run lacks is an error that says which, never an empty "no change". Only pass, warn
//! and fail runs count; error, incomplete and inconclusive runs are listed as left out.
//!
//! No IO and no clock: records in, answers out.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use super::changepoints::{Decision, Measure, Review};
use crate::history::{DigestRun, Outcome};
use crate::stats::runs::spread;
use crate::summary::digest::{DigestRow, STEADY_STATE, TOTAL, WHOLE_RUN};

/// The significance level at which a change "stands out" between runs.
pub const ALPHA: f64 = 0.05;

/// What cannot be answered, and why.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DeploymentsError {
    #[error(
        "{test} in {environment}: version {version:?} has no decided run (pass, warn or fail){}; nothing to compare",
        if left_out.is_empty() { String::new() } else { format!(": only {left_out}") }
    )]
    NoDecidedRuns { test: String, environment: String, version: String, left_out: String },
    #[error("{test} in {environment}: no decided run (pass, warn or fail) since {since}")]
    NoRuns { test: String, environment: String, since: String },
    #[error(
        "{count} decided run(s) have no record ({}{}): they were recorded before history schema 5; run \
         `k6gate history backfill` to add their records from their summaries",
        run_ids.join(", "), if *count > run_ids.len() { ", ..." } else { "" }
    )]
    NoRecord { count: usize, run_ids: Vec<String> },
    #[error("phase {phase:?} is not in the record of run(s) {}{}", run_ids.join(", "),
        if known.is_empty() { String::new() } else { format!(" (their phases: {})", known.join(", ")) })]
    NoPhase { phase: String, run_ids: Vec<String>, known: Vec<String> },
    #[error("group {group:?} is in no decided run's record")]
    NoGroup { group: String },
}

/// Pass, warn and fail: the runs whose numbers count.
fn counts(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::Pass | Outcome::Warn | Outcome::Fail)
}

/// One run as the answer lists it: "was this run good?".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutcome {
    pub run_id: String,
    pub started_at_ns: i64,
    pub outcome: Outcome,
    /// The P95 of the phase's total, when the run counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
}

/// One version's runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    pub version: String,
    /// The decided runs, oldest first.
    pub runs: Vec<RunOutcome>,
    /// Error, incomplete and inconclusive runs: listed, never counted.
    pub left_out: Vec<RunOutcome>,
}

/// A side's value of one group.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Values {
    /// Runs with this group.
    pub runs: usize,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate: Option<f64>,
}

/// Does the change stand out from the noise between runs?
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "between", rename_all = "kebab-case")]
pub enum Between {
    /// Student's t on the runs' values (logarithms for latency).
    Tested { p_value: f64, stands_out: bool },
    /// One run per side: no between-run test.
    OneRunPerSide,
    /// Fewer than two runs on a side: no between-run test.
    TooFewRuns { from_runs: usize, to_runs: usize },
    /// A side has no value.
    NoData,
}

impl Between {
    pub fn describe(&self) -> String {
        match self {
            Between::Tested { p_value, stands_out: true } => format!("stands out (p = {p_value:.3})"),
            Between::Tested { p_value, stands_out: false } => format!("within run-to-run noise (p = {p_value:.3})"),
            Between::OneRunPerSide => "one run per side: no between-run test".into(),
            Between::TooFewRuns { from_runs, to_runs } => {
                format!("{from_runs} vs {to_runs} run(s): no between-run test (needs 2 per side)")
            }
            Between::NoData => "no data on a side".into(),
        }
    }
}

/// One metric of one group: both values, the change and the test.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub from: Option<f64>,
    pub to: Option<f64>,
    /// `to / from - 1`, in %.
    pub change_pct: Option<f64>,
    #[serde(flatten)]
    pub between: Between,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupChange {
    /// `""` for all requests of the phase.
    pub group: String,
    pub from_runs: usize,
    pub to_runs: usize,
    pub p50_ms: Change,
    pub p95_ms: Change,
    pub p99_ms: Change,
    pub error_rate: Change,
}

/// `history compare`: one version against another.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionComparison {
    pub test: String,
    pub environment: String,
    pub phase: String,
    pub alpha: f64,
    pub from: Side,
    pub to: Side,
    pub groups: Vec<GroupChange>,
}

/// What to read: a phase (default: the steady state when every counted run has one, else
/// the whole run) and a group (default: every group for `compare`, all requests for `trend`).
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    pub phase: Option<&'a str>,
    pub group: Option<&'a str>,
}

impl<'a> Selection<'a> {
    /// The phases the store should read for this selection.
    pub fn phases(&self) -> Vec<&'a str> {
        match self.phase {
            Some(p) => vec![p],
            None => vec![STEADY_STATE, WHOLE_RUN],
        }
    }
}

/// Compares the runs of two versions (each as `Records::digest_runs` listed them).
pub fn compare_versions(
    test: &str,
    environment: &str,
    (from_version, from): (&str, &[DigestRun]),
    (to_version, to): (&str, &[DigestRun]),
    selection: Selection<'_>,
) -> Result<VersionComparison, DeploymentsError> {
    let from_runs = decided(test, environment, from_version, from)?;
    let to_runs = decided(test, environment, to_version, to)?;
    check_records(from_runs.iter().chain(&to_runs).copied())?;
    let all: Vec<&DigestRun> = from_runs.iter().chain(&to_runs).copied().collect();
    let phase = choose_phase(&all, selection.phase)?;
    let groups: BTreeSet<&str> = all
        .iter()
        .flat_map(|r| r.rows.iter())
        .filter(|r| r.phase == phase && selection.group.is_none_or(|g| g == r.group))
        .map(|r| r.group.as_str())
        .collect();
    if let Some(group) = selection.group.filter(|_| groups.is_empty()) {
        return Err(DeploymentsError::NoGroup { group: group.to_string() });
    }
    // The total (the empty label) sorts first.
    let groups = groups
        .into_iter()
        .map(|g| group_change(g, &rows_of(&from_runs, &phase, g), &rows_of(&to_runs, &phase, g)))
        .collect();
    Ok(VersionComparison {
        test: test.to_string(),
        environment: environment.to_string(),
        alpha: ALPHA,
        from: side(from_version, from, &phase),
        to: side(to_version, to, &phase),
        phase,
        groups,
    })
}

fn decided<'r>(
    test: &str,
    environment: &str,
    version: &str,
    runs: &'r [DigestRun],
) -> Result<Vec<&'r DigestRun>, DeploymentsError> {
    let counted: Vec<&DigestRun> = runs.iter().filter(|r| counts(r.outcome)).collect();
    if counted.is_empty() {
        let mut by: BTreeMap<&str, usize> = BTreeMap::new();
        for r in runs {
            *by.entry(r.outcome.as_str()).or_default() += 1;
        }
        let left_out: Vec<String> = by.iter().map(|(o, n)| format!("{n} {o}")).collect();
        return Err(DeploymentsError::NoDecidedRuns {
            test: test.to_string(),
            environment: environment.to_string(),
            version: version.to_string(),
            left_out: left_out.join(", "),
        });
    }
    Ok(counted)
}

fn check_records<'r>(runs: impl Iterator<Item = &'r DigestRun>) -> Result<(), DeploymentsError> {
    let missing: Vec<&str> = runs.filter(|r| !r.has_digest).map(|r| r.run_id.as_str()).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(DeploymentsError::NoRecord {
        count: missing.len(),
        run_ids: missing.iter().take(5).map(|s| s.to_string()).collect(),
    })
}

/// The phase asked for (every counted run must have it), else the steady state when every
/// counted run has one, else the whole run.
fn choose_phase(runs: &[&DigestRun], asked: Option<&str>) -> Result<String, DeploymentsError> {
    let has = |r: &DigestRun, phase: &str| r.rows.iter().any(|x| x.phase == phase);
    let wanted = match asked {
        Some(p) => p,
        None if runs.iter().all(|r| has(r, STEADY_STATE)) => STEADY_STATE,
        None => WHOLE_RUN,
    };
    let lacking: Vec<String> = runs.iter().filter(|r| !has(r, wanted)).map(|r| r.run_id.clone()).collect();
    if lacking.is_empty() {
        return Ok(wanted.to_string());
    }
    let known: BTreeSet<String> =
        runs.iter().filter(|r| !has(r, wanted)).flat_map(|r| r.rows.iter().map(|x| x.phase.clone())).collect();
    Err(DeploymentsError::NoPhase {
        phase: wanted.to_string(),
        run_ids: lacking.into_iter().take(5).collect(),
        known: known.into_iter().collect(),
    })
}

fn row<'r>(run: &'r DigestRun, phase: &str, group: &str) -> Option<&'r DigestRow> {
    run.rows.iter().find(|x| x.phase == phase && x.group == group)
}

fn rows_of<'r>(runs: &[&'r DigestRun], phase: &str, group: &str) -> Vec<&'r DigestRow> {
    runs.iter().filter_map(|r| row(r, phase, group)).collect()
}

fn side(version: &str, runs: &[DigestRun], phase: &str) -> Side {
    let listed = |r: &DigestRun| RunOutcome {
        run_id: r.run_id.clone(),
        started_at_ns: r.started_at_ns,
        outcome: r.outcome,
        p95_ms: counts(r.outcome).then(|| row(r, phase, TOTAL).and_then(|x| x.p95_ms)).flatten(),
    };
    Side {
        version: version.to_string(),
        runs: runs.iter().filter(|r| counts(r.outcome)).map(listed).collect(),
        left_out: runs.iter().filter(|r| !counts(r.outcome)).map(listed).collect(),
    }
}

/// The geometric mean of the positive values, as `compare` pools several runs' latencies.
pub fn geometric_mean(values: &[f64]) -> Option<f64> {
    let logs: Vec<f64> = values.iter().filter(|v| v.is_finite() && **v > 0.0).map(|v| v.ln()).collect();
    (!logs.is_empty()).then(|| (logs.iter().sum::<f64>() / logs.len() as f64).exp())
}

/// Failed over all requests of the runs (the pooled rate).
pub fn pooled_error_rate(rows: &[&DigestRow]) -> Option<f64> {
    let requests: u64 = rows.iter().map(|r| r.requests).sum();
    let failed: u64 = rows.iter().map(|r| r.failed).sum();
    (requests > 0).then(|| failed as f64 / requests as f64)
}

fn latencies(rows: &[&DigestRow], pick: fn(&DigestRow) -> Option<f64>) -> Vec<f64> {
    rows.iter().filter_map(|r| pick(r)).filter(|v| v.is_finite() && *v > 0.0).collect()
}

fn group_change(group: &str, from: &[&DigestRow], to: &[&DigestRow]) -> GroupChange {
    let latency = |pick: fn(&DigestRow) -> Option<f64>| {
        let (a, b) = (latencies(from, pick), latencies(to, pick));
        let logs = |v: &[f64]| v.iter().map(|x| x.ln()).collect::<Vec<_>>();
        change(geometric_mean(&a), geometric_mean(&b), &logs(&a), &logs(&b))
    };
    let rates = |rows: &[&DigestRow]| rows.iter().filter_map(|r| r.error_rate).collect::<Vec<_>>();
    GroupChange {
        group: group.to_string(),
        from_runs: from.len(),
        to_runs: to.len(),
        p50_ms: latency(|r| r.p50_ms),
        p95_ms: latency(|r| r.p95_ms),
        p99_ms: latency(|r| r.p99_ms),
        error_rate: change(pooled_error_rate(from), pooled_error_rate(to), &rates(from), &rates(to)),
    }
}

/// The change from `from` to `to`, tested on the runs' values `a` and `b` (already on the
/// scale the test needs).
fn change(from: Option<f64>, to: Option<f64>, a: &[f64], b: &[f64]) -> Change {
    let change_pct = match (from, to) {
        (Some(f), Some(t)) if f > 0.0 => Some((t / f - 1.0) * 100.0),
        _ => None,
    };
    let between = match (a.len(), b.len()) {
        (0, _) | (_, 0) => Between::NoData,
        (1, 1) => Between::OneRunPerSide,
        (n, m) if n < 2 || m < 2 => Between::TooFewRuns { from_runs: n, to_runs: m },
        _ => match spread(a, b, 0.0) {
            Some(s) => Between::Tested { p_value: s.p_value, stands_out: s.p_value < ALPHA },
            None => Between::NoData,
        },
    };
    Change { from, to, change_pct, between }
}

/// A mark on a trend point.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Mark {
    /// A reviewed change point (policy data `changepoints`) starts at one of the version's runs.
    ChangePoint { run_id: String, metric: &'static str, decision: Decision, source: String },
    /// One of the version's runs is (or was) the pinned baseline.
    Pinned { run_id: String, active: bool },
}

/// One deployment version on the trend.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// `None` for runs recorded without a deployment version.
    pub version: Option<String>,
    pub first_started_at_ns: i64,
    pub last_started_at_ns: i64,
    /// The version's value over its counted runs; `None` when none counts.
    pub value: Option<f64>,
    /// Counted runs (pass, warn, fail) with this phase and group.
    pub runs: usize,
    /// Every run of the version by outcome, the left-out ones too.
    pub outcomes: BTreeMap<&'static str, usize>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub marks: Vec<Mark>,
}

/// `history trend`: a metric over the deployments, in time order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trend {
    pub test: String,
    pub environment: String,
    pub metric: &'static str,
    pub phase: String,
    pub group: String,
    pub points: Vec<Point>,
}

/// A pin as the trend marks it: the run and whether it is the active one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinMark {
    pub run_id: String,
    pub active: bool,
}

/// The metric of `selection` over the versions of `runs` (oldest first), one point per
/// version at its first run, marked with the reviewed change points and pins that name one of
/// its runs. `since` is only for the error message.
pub fn trend(
    test: &str,
    environment: &str,
    runs: &[DigestRun],
    metric: Measure,
    selection: Selection<'_>,
    (reviews, pins): (&[Review], &[PinMark]),
    since: &str,
) -> Result<Trend, DeploymentsError> {
    let counted: Vec<&DigestRun> = runs.iter().filter(|r| counts(r.outcome)).collect();
    if counted.is_empty() {
        return Err(DeploymentsError::NoRuns {
            test: test.to_string(),
            environment: environment.to_string(),
            since: since.to_string(),
        });
    }
    check_records(counted.iter().copied())?;
    let phase = choose_phase(&counted, selection.phase)?;
    let group = selection.group.unwrap_or(TOTAL);
    if !counted.iter().any(|r| row(r, &phase, group).is_some()) {
        return Err(DeploymentsError::NoGroup { group: group.to_string() });
    }
    // Versions in the order of their first run.
    let mut order: Vec<Option<&str>> = Vec::new();
    let mut by_version: BTreeMap<Option<&str>, Vec<&DigestRun>> = BTreeMap::new();
    let mut sorted: Vec<&DigestRun> = runs.iter().collect();
    sorted.sort_by(|a, b| (a.started_at_ns, &a.run_id).cmp(&(b.started_at_ns, &b.run_id)));
    for r in sorted {
        let v = r.deployment_version.as_deref();
        let entry = by_version.entry(v).or_default();
        if entry.is_empty() {
            order.push(v);
        }
        entry.push(r);
    }
    let points = order
        .into_iter()
        .map(|v| {
            let rs = by_version.get(&v).map(Vec::as_slice).unwrap_or_default();
            point(v, rs, metric, &phase, group, reviews, pins)
        })
        .collect();
    Ok(Trend {
        test: test.to_string(),
        environment: environment.to_string(),
        metric: metric.name(),
        phase,
        group: group.to_string(),
        points,
    })
}

fn point(
    version: Option<&str>,
    runs: &[&DigestRun],
    metric: Measure,
    phase: &str,
    group: &str,
    reviews: &[Review],
    pins: &[PinMark],
) -> Point {
    let rows: Vec<&DigestRow> =
        runs.iter().filter(|r| counts(r.outcome)).filter_map(|r| row(r, phase, group)).collect();
    let value = match metric {
        Measure::P50Ms => geometric_mean(&latencies(&rows, |r| r.p50_ms)),
        Measure::P95Ms => geometric_mean(&latencies(&rows, |r| r.p95_ms)),
        Measure::P99Ms => geometric_mean(&latencies(&rows, |r| r.p99_ms)),
        Measure::ErrorRate => pooled_error_rate(&rows),
        Measure::RequestsPerS => {
            (!rows.is_empty()).then(|| rows.iter().map(|r| r.requests_per_s).sum::<f64>() / rows.len() as f64)
        }
    };
    let mut outcomes = BTreeMap::new();
    for r in runs {
        *outcomes.entry(r.outcome.as_str()).or_default() += 1;
    }
    let mut marks = Vec::new();
    for r in runs {
        for c in reviews.iter().filter(|c| c.run == r.run_id) {
            marks.push(Mark::ChangePoint {
                run_id: r.run_id.clone(),
                metric: c.metric.name(),
                decision: c.decision,
                source: c.source.clone(),
            });
        }
        for p in pins.iter().filter(|p| p.run_id == r.run_id) {
            marks.push(Mark::Pinned { run_id: r.run_id.clone(), active: p.active });
        }
    }
    Point {
        version: version.map(str::to_string),
        first_started_at_ns: runs.first().map_or(0, |r| r.started_at_ns),
        last_started_at_ns: runs.last().map_or(0, |r| r.started_at_ns),
        value,
        runs: rows.len(),
        outcomes,
        marks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_row(phase: &str, group: &str, p95: f64, failed: u64) -> DigestRow {
        DigestRow {
            phase: phase.into(),
            group: group.into(),
            duration_s: 300.0,
            requests: 1000,
            requests_per_s: 10.0,
            failed,
            error_rate: Some(failed as f64 / 1000.0),
            p50_ms: Some(p95 / 2.0),
            p95_ms: Some(p95),
            p99_ms: Some(p95 * 1.5),
            mean_ms: None,
            max_ms: None,
            iterations_per_s: None,
            sketch: None,
        }
    }

    fn run(id: &str, version: &str, outcome: Outcome, p95: f64) -> DigestRun {
        DigestRun {
            run_id: id.into(),
            started_at_ns: id.bytes().map(i64::from).sum::<i64>(),
            deployment_version: Some(version.into()),
            git_branch: Some("main".into()),
            outcome,
            has_digest: true,
            rows: vec![
                digest_row(STEADY_STATE, TOTAL, p95, 1),
                digest_row(STEADY_STATE, "name=/a", p95 * 2.0, 2),
                digest_row(WHOLE_RUN, TOTAL, p95 * 1.1, 1),
            ],
        }
    }

    #[test]
    fn several_runs_pool_as_a_geometric_mean_and_a_clear_shift_stands_out() {
        let from: Vec<DigestRun> = [100.0, 102.0, 98.0]
            .iter()
            .enumerate()
            .map(|(i, p)| run(&format!("a{i}"), "v1", Outcome::Pass, *p))
            .collect();
        let to: Vec<DigestRun> = [130.0, 131.0, 129.0]
            .iter()
            .enumerate()
            .map(|(i, p)| run(&format!("b{i}"), "v2", Outcome::Fail, *p))
            .collect();
        let c = compare_versions("t", "e", ("v1", &from), ("v2", &to), Selection::default()).unwrap();
        assert_eq!(c.phase, STEADY_STATE);
        assert_eq!(c.groups.iter().map(|g| g.group.as_str()).collect::<Vec<_>>(), [TOTAL, "name=/a"]);
        let total = &c.groups[0];
        let gm = (100.0f64 * 102.0 * 98.0).powf(1.0 / 3.0);
        assert!((total.p95_ms.from.unwrap() - gm).abs() < 1e-9);
        assert!(
            (total.p95_ms.change_pct.unwrap() - (130.0 * 131.0 * 129.0f64).powf(1.0 / 3.0) / gm * 100.0 + 100.0).abs()
                < 1e-6
        );
        assert!(matches!(total.p95_ms.between, Between::Tested { stands_out: true, .. }), "{:?}", total.p95_ms);
        assert!(matches!(total.error_rate.between, Between::Tested { stands_out: false, .. }));
        assert_eq!(total.error_rate.from, Some(0.001));
        assert_eq!(c.to.runs.len(), 3);
        assert_eq!(c.to.runs[0].outcome, Outcome::Fail);
    }

    #[test]
    fn noise_does_not_stand_out_and_one_run_per_side_is_said() {
        let from = vec![run("a0", "v1", Outcome::Pass, 100.0), run("a1", "v1", Outcome::Pass, 120.0)];
        let to = vec![run("b0", "v2", Outcome::Pass, 110.0), run("b1", "v2", Outcome::Warn, 105.0)];
        let c = compare_versions("t", "e", ("v1", &from), ("v2", &to), Selection::default()).unwrap();
        assert!(matches!(c.groups[0].p95_ms.between, Between::Tested { stands_out: false, .. }));
        let c = compare_versions("t", "e", ("v1", &from[..1]), ("v2", &to[..1]), Selection::default()).unwrap();
        assert_eq!(c.groups[0].p95_ms.between, Between::OneRunPerSide);
        assert_eq!(c.groups[0].p95_ms.between.describe(), "one run per side: no between-run test");
    }

    #[test]
    fn a_version_without_decided_runs_is_an_error_never_no_change() {
        let from = vec![run("a0", "v1", Outcome::Pass, 100.0)];
        let to = vec![run("b0", "v2", Outcome::Error, 0.0), run("b1", "v2", Outcome::Inconclusive, 300.0)];
        let err = compare_versions("t", "e", ("v1", &from), ("v2", &to), Selection::default()).unwrap_err();
        assert_eq!(
            err.to_string(),
            "t in e: version \"v2\" has no decided run (pass, warn or fail): only 1 error, 1 inconclusive; nothing to compare"
        );
        let err = compare_versions("t", "e", ("v1", &from), ("v3", &[]), Selection::default()).unwrap_err();
        assert!(matches!(err, DeploymentsError::NoDecidedRuns { .. }), "{err}");
    }

    #[test]
    fn a_run_without_a_record_or_the_phase_is_named() {
        let mut old = run("a0", "v1", Outcome::Pass, 100.0);
        old.has_digest = false;
        old.rows.clear();
        let to = vec![run("b0", "v2", Outcome::Pass, 100.0)];
        let err = compare_versions("t", "e", ("v1", &[old]), ("v2", &to), Selection::default()).unwrap_err();
        assert!(err.to_string().contains("a0") && err.to_string().contains("history backfill"), "{err}");
        let from = vec![run("a0", "v1", Outcome::Pass, 100.0)];
        let asked = Selection { phase: Some("ramp-up"), group: None };
        let err = compare_versions("t", "e", ("v1", &from), ("v2", &to), asked).unwrap_err();
        assert!(err.to_string().contains("\"ramp-up\"") && err.to_string().contains("steady-state"), "{err}");
        // Without a steady state in one run, every run is read at the whole run.
        let mut plain = run("b1", "v2", Outcome::Pass, 100.0);
        plain.rows.retain(|r| r.phase == WHOLE_RUN);
        let c = compare_versions("t", "e", ("v1", &from), ("v2", &[plain]), Selection::default()).unwrap();
        assert_eq!(c.phase, WHOLE_RUN);
        let g = Selection { phase: None, group: Some("name=/nope") };
        assert!(matches!(
            compare_versions("t", "e", ("v1", &from), ("v2", &to), g).unwrap_err(),
            DeploymentsError::NoGroup { .. }
        ));
    }

    #[test]
    fn a_trend_has_one_point_per_version_in_time_order_with_marks() {
        let mut runs = vec![
            run("r1", "v1", Outcome::Pass, 100.0),
            run("r2", "v1", Outcome::Pass, 110.0),
            run("r3", "v2", Outcome::Error, 0.0),
            run("r4", "v2", Outcome::Fail, 150.0),
            run("r5", "v3", Outcome::Inconclusive, 400.0),
        ];
        for (i, r) in runs.iter_mut().enumerate() {
            r.started_at_ns = i as i64;
        }
        let reviews = [Review {
            metric: Measure::P95Ms,
            run: "r4".into(),
            decision: Decision::Accepted,
            source: "changepoints.yaml:3".into(),
        }];
        let pins = [PinMark { run_id: "r1".into(), active: true }];
        let t = trend("t", "e", &runs, Measure::P95Ms, Selection::default(), (&reviews, &pins), "the start").unwrap();
        let versions: Vec<Option<&str>> = t.points.iter().map(|p| p.version.as_deref()).collect();
        assert_eq!(versions, [Some("v1"), Some("v2"), Some("v3")]);
        assert!((t.points[0].value.unwrap() - (100.0f64 * 110.0).sqrt()).abs() < 1e-9);
        assert!((t.points[1].value.unwrap() - 150.0).abs() < 1e-9 && t.points[1].runs == 1);
        assert_eq!(t.points[1].outcomes, BTreeMap::from([("error", 1), ("fail", 1)]));
        assert_eq!((t.points[2].value, t.points[2].runs), (None, 0), "an inconclusive run never counts");
        assert!(matches!(&t.points[1].marks[..], [Mark::ChangePoint { run_id, .. }] if run_id == "r4"));
        assert_eq!(t.points[0].marks, [Mark::Pinned { run_id: "r1".into(), active: true }]);
        let err =
            trend("t", "e", &runs[2..3], Measure::P95Ms, Selection::default(), (&[], &[]), "2026-01-01").unwrap_err();
        assert_eq!(err.to_string(), "t in e: no decided run (pass, warn or fail) since 2026-01-01");
        let errors = trend("t", "e", &runs, Measure::ErrorRate, Selection::default(), (&[], &[]), "x").unwrap();
        assert_eq!(errors.points[0].value, Some(0.001));
    }
}
