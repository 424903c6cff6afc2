//! Change points in the history of one test in one environment: a series per metric, the
//! detector over each, and what each change point found means today: an alert, pending (too
//! few runs on the new level yet), or reviewed in policy data (accepted or dismissed).
//!
//! The series: the runs the gate decided (pass, warn or fail) whose summaries are complete and
//! have a steady-state phase, oldest first by start time; each metric of the phase's `all`
//! group (the whole test's requests). Every run left out is listed with the reason.
//!
//! Transients: a level that lasts less than the persistence requirement between two change
//! points (one or two slow nights, then back) is not a change; its runs are left out and the
//! series searched again without them ([`search`]). They are listed per metric. A change
//! point alerts only once persistent ([`Searched::persistent`]): enough runs on its new level,
//! and the newest runs still on it (an excursion too short to be found ending yet is over when
//! the newest runs are back near the old level).
//!
//! Reviews: the latest accepted change point of a metric restarts that metric's history at its
//! run (the shift is the new normal), so nothing before it is compared again; a dismissed one
//! stays in the history and no longer alerts. Change points move a run or two as later runs
//! arrive, so a review covers a change point found within [`REVIEW_TOLERANCE`] runs of the
//! reviewed run (in the metric's series).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::history::RunRecord;
use crate::stats::edivisive::{self, ChangePoint, EdivisiveError};
use crate::summary::{PhaseSummary, RunSummary};

/// The phase every value comes from.
pub const PHASE: &str = "steady-state";

/// A review covers change points found this many runs before or after its run.
pub const REVIEW_TOLERANCE: usize = 2;

/// What is searched for, and when a change point found alerts. Every number here is one the
/// detection-quality measurement (`cargo bench --bench changepoint_quality`) was run with; the
/// defaults are the ones it justified (README, "Change points").
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub detector: edivisive::Config,
    /// A change point alerts only when this many runs, its own included, are on its new
    /// level: one bad night is not a change.
    pub persistence: usize,
}

impl Default for Settings {
    /// The detector's defaults (p ≤ 0.005 with 399 permutations, at least 3 runs a side, `κ`
    /// searched) and 7 runs of persistence: a week of nightly runs, which also lets the
    /// search see the end of an excursion of up to 4 runs before it could alert.
    fn default() -> Settings {
        Settings { detector: edivisive::Config::default(), persistence: 7 }
    }
}

/// The change points of one series after transients are taken out, with `index` (and the
/// means) in terms of the whole series.
#[derive(Debug, Clone, PartialEq)]
pub struct Searched {
    pub change_points: Vec<ChangePoint>,
    /// For each change point, the runs from it to the latest, its own included (transients not
    /// counted).
    pub runs_since: Vec<usize>,
    /// For each change point, whether its new level still holds: the latest change point's
    /// does when the mean of the newest `min_size` runs is closer to its new level than to the
    /// old one (an excursion that is over but too short to be found ending yet does not);
    /// earlier ones do, since a later change point ends their level.
    pub holding: Vec<bool>,
    /// Positions left out as transients: levels that did not last `persistence` runs between
    /// two change points (a noisy night or two, a flaky neighbour).
    pub transient: Vec<usize>,
}

impl Searched {
    /// Whether change point `i` is persistent: at least `persistence` runs since it, and its
    /// new level still holds.
    pub fn persistent(&self, i: usize, settings: &Settings) -> bool {
        self.runs_since.get(i).is_some_and(|&n| n >= settings.persistence)
            && self.holding.get(i).copied().unwrap_or(false)
    }
}

/// Searches `values`, then takes out every level that did not last: the runs between two
/// change points less than `persistence` apart are a transient, not a change, and the series
/// is searched again without them, until no such level is left. A level at the end that has
/// not lasted yet is kept (its change point is pending).
pub fn search(values: &[f64], settings: &Settings) -> Result<Searched, EdivisiveError> {
    let mut kept: Vec<usize> = (0..values.len()).collect();
    loop {
        let series: Vec<f64> = kept.iter().filter_map(|&i| values.get(i).copied()).collect();
        let found = edivisive::e_divisive(&series, &settings.detector)?;
        let short: Vec<(usize, usize)> = found
            .windows(2)
            .filter_map(|w| Some((w.first()?.index, w.get(1)?.index)))
            .filter(|(a, b)| b - a < settings.persistence)
            .collect();
        if short.is_empty() {
            let at = |i: usize| kept.get(i).copied().unwrap_or(i);
            let transient = (0..values.len()).filter(|i| !kept.contains(i)).collect();
            let runs_since = found.iter().map(|c| series.len() - c.index).collect();
            let newest = series.get(series.len().saturating_sub(settings.detector.min_size)..).unwrap_or_default();
            let now = newest.iter().sum::<f64>() / newest.len().max(1) as f64;
            let last = found.len().saturating_sub(1);
            let holding = found
                .iter()
                .enumerate()
                .map(|(i, c)| i < last || (now - c.mean_after).abs() < (now - c.mean_before).abs())
                .collect();
            let change_points = found.into_iter().map(|c| ChangePoint { index: at(c.index), ..c }).collect();
            return Ok(Searched { change_points, runs_since, holding, transient });
        }
        let drop: Vec<usize> = short.iter().flat_map(|&(a, b)| kept.get(a..b).unwrap_or_default().to_vec()).collect();
        kept.retain(|i| !drop.contains(i));
    }
}

/// The change points of `values` that alert under `settings`: found once transients are out,
/// and persistent ([`Searched::persistent`]).
pub fn alerting(values: &[f64], settings: &Settings) -> Result<Vec<ChangePoint>, EdivisiveError> {
    let s = search(values, settings)?;
    Ok(s.change_points.iter().enumerate().filter(|(i, _)| s.persistent(*i, settings)).map(|(_, c)| c.clone()).collect())
}

/// A metric followed over the history: the steady-state phase's `all` group. The names are
/// those of `compare::Metric` (policies and data use them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Measure {
    P50Ms,
    P95Ms,
    P99Ms,
    ErrorRate,
    RequestsPerS,
}

impl Measure {
    pub const ALL: [Measure; 5] =
        [Measure::P50Ms, Measure::P95Ms, Measure::P99Ms, Measure::ErrorRate, Measure::RequestsPerS];

    pub fn name(self) -> &'static str {
        match self {
            Measure::P50Ms => "p50_ms",
            Measure::P95Ms => "p95_ms",
            Measure::P99Ms => "p99_ms",
            Measure::ErrorRate => "error_rate",
            Measure::RequestsPerS => "requests_per_s",
        }
    }

    pub fn from_name(name: &str) -> Option<Measure> {
        Measure::ALL.into_iter().find(|m| m.name() == name)
    }

    /// "p50_ms, p95_ms, ...", for messages.
    pub fn names() -> String {
        Measure::ALL.map(Measure::name).join(", ")
    }

    /// The metric's value in a phase, if it has a finite one.
    pub fn of(self, phase: &PhaseSummary) -> Option<f64> {
        let total = &phase.total;
        let latency = total.latency_ms.as_ref();
        let value = match self {
            Measure::P50Ms => latency.and_then(|l| l.p50),
            Measure::P95Ms => latency.and_then(|l| l.p95),
            Measure::P99Ms => latency.and_then(|l| l.p99),
            Measure::ErrorRate => total.error_rate,
            Measure::RequestsPerS => Some(total.requests_per_s),
        };
        value.filter(|v| v.is_finite())
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One run of the history and the values it contributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunPoint {
    pub run_id: String,
    pub version: Option<String>,
    pub started_at_ns: i64,
    pub values: BTreeMap<Measure, f64>,
}

/// A run left out of the series, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    pub run_id: String,
    pub reason: String,
}

/// The runs' values, oldest first (by start time, then id), and the runs left out.
pub fn points(runs: &[RunRecord]) -> (Vec<RunPoint>, Vec<Skipped>) {
    let (mut points, mut skipped) = (Vec::new(), Vec::new());
    for run in runs {
        let skip = |reason: String| Skipped { run_id: run.id.clone(), reason };
        if !run.outcome.is_decided() {
            skipped.push(skip(format!("outcome {}", run.outcome)));
            continue;
        }
        let summary: RunSummary = match run.summary_as() {
            Some(Ok(s)) => s,
            Some(Err(e)) => {
                skipped.push(skip(format!("its summary cannot be read: {e}")));
                continue;
            }
            None => {
                skipped.push(skip("no summary".into()));
                continue;
            }
        };
        if !summary.completeness.complete {
            skipped.push(skip(format!("incomplete summary: {}", summary.completeness.issues.join("; "))));
            continue;
        }
        let Some(phase) = summary.phase(PHASE) else {
            skipped.push(skip(format!("no {PHASE} phase")));
            continue;
        };
        points.push(RunPoint {
            run_id: run.id.clone(),
            version: run.deployment_version.clone(),
            started_at_ns: run.started_at_ns,
            values: Measure::ALL.into_iter().filter_map(|m| Some((m, m.of(phase)?))).collect(),
        });
    }
    points.sort_by(|a, b| a.started_at_ns.cmp(&b.started_at_ns).then_with(|| a.run_id.cmp(&b.run_id)));
    (points, skipped)
}

/// What a person decided about a change point.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// The shift is the new normal: the history restarts at its run.
    Accepted,
    /// Not a change worth acting on (a known external cause, an artefact).
    Dismissed,
}

/// A reviewed change point of the test and environment being searched, from policy data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Review {
    pub metric: Measure,
    /// The run where the change starts.
    pub run: String,
    pub decision: Decision,
    /// Where it is written: `file:line`.
    pub source: String,
}

/// What a change point means today.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Status {
    /// Found and persistent, and nobody reviewed it: it alerts.
    Alert,
    /// Found, but not persistent yet: fewer runs than the persistence requirement on the new
    /// level, or the newest runs are back near the old level.
    Pending,
    /// Reviewed and accepted (`review` is where: `file:line`).
    Accepted { review: String },
    /// Reviewed and dismissed.
    Dismissed { review: String },
}

impl Status {
    pub fn label(&self) -> &'static str {
        match self {
            Status::Alert => "ALERT",
            Status::Pending => "pending",
            Status::Accepted { .. } => "accepted",
            Status::Dismissed { .. } => "dismissed",
        }
    }
}

/// A change point in one metric's history.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Found {
    pub metric: Measure,
    /// The first run on the new level.
    pub run_id: String,
    pub version: Option<String>,
    pub started_at_ns: i64,
    /// Means of the metric from the previous change point (or the history's start) to this
    /// one, and from this one to the next (or the latest run).
    pub mean_before: f64,
    pub mean_after: f64,
    /// `mean_after / mean_before - 1`.
    pub rel_change: Option<f64>,
    /// The permutation test's p-value.
    pub p_value: f64,
    /// Runs from this one to the latest, this one included (transients not counted).
    pub runs_since: usize,
    #[serde(flatten)]
    pub status: Status,
}

/// One metric's series.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeriesInfo {
    pub metric: Measure,
    /// Runs searched.
    pub runs: usize,
    /// The accepted change point's run the history restarts at, if any.
    pub restarted_at: Option<String>,
    /// Runs left out as transients (a level that lasted less than `persistence` runs).
    pub transient: Vec<String>,
}

/// Everything one search found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub test: String,
    pub environment: String,
    pub phase: &'static str,
    pub group: &'static str,
    pub series: Vec<SeriesInfo>,
    /// Runs left out, and why.
    pub skipped: Vec<Skipped>,
    /// In metric order, then oldest first.
    pub change_points: Vec<Found>,
}

impl Report {
    /// The change points that alert: persistent and not reviewed.
    pub fn alerts(&self) -> impl Iterator<Item = &Found> + '_ {
        self.change_points.iter().filter(|c| c.status == Status::Alert)
    }

    pub fn has_alerts(&self) -> bool {
        self.alerts().next().is_some()
    }
}

/// Searches the history of `test` in `environment` (`runs`, any order; runs of other tests or
/// environments are ignored) for change points in `metrics`, and says what each means given
/// `reviews`.
pub fn detect(
    test: &str,
    environment: &str,
    runs: &[RunRecord],
    reviews: &[Review],
    metrics: &[Measure],
    settings: &Settings,
) -> Result<Report, EdivisiveError> {
    let ours: Vec<RunRecord> =
        runs.iter().filter(|r| r.test == test && r.environment == environment).cloned().collect();
    let (points, skipped) = points(&ours);
    let mut report = Report {
        test: test.to_string(),
        environment: environment.to_string(),
        phase: PHASE,
        group: "all",
        series: Vec::new(),
        skipped,
        change_points: Vec::new(),
    };
    for &metric in metrics {
        let full: Vec<(&RunPoint, f64)> = points.iter().filter_map(|p| Some((p, *p.values.get(&metric)?))).collect();
        let reviews: Vec<&Review> = reviews.iter().filter(|r| r.metric == metric).collect();
        // The latest accepted change point restarts the history (run ids sort by start time);
        // when its run is not in the series, at the first run after it.
        let restart = reviews.iter().filter(|r| r.decision == Decision::Accepted).map(|r| r.run.as_str()).max();
        let start = restart.map_or(0, |run| {
            full.iter()
                .position(|(p, _)| p.run_id == run)
                .or_else(|| full.iter().position(|(p, _)| p.run_id.as_str() > run))
                .unwrap_or(full.len())
        });
        let series = full.get(start..).unwrap_or_default();
        let values: Vec<f64> = series.iter().map(|(_, v)| *v).collect();
        let searched = search(&values, settings)?;
        let run_of = |i: usize| series.get(i).map(|(p, _)| p.run_id.clone());
        report.series.push(SeriesInfo {
            metric,
            runs: series.len(),
            restarted_at: restart.map(str::to_string),
            transient: searched.transient.iter().filter_map(|&i| run_of(i)).collect(),
        });
        for (i, cp) in searched.change_points.iter().enumerate() {
            let Some((point, _)) = series.get(cp.index) else { continue };
            let runs_since = searched.runs_since.get(i).copied().unwrap_or(0);
            let review = reviews.iter().find(|r| {
                full.iter()
                    .position(|(p, _)| p.run_id == r.run)
                    .is_some_and(|at| at.abs_diff(start + cp.index) <= REVIEW_TOLERANCE)
            });
            let status = match review {
                Some(r) if r.decision == Decision::Accepted => Status::Accepted { review: r.source.clone() },
                Some(r) => Status::Dismissed { review: r.source.clone() },
                None if !searched.persistent(i, settings) => Status::Pending,
                None => Status::Alert,
            };
            report.change_points.push(Found {
                metric,
                run_id: point.run_id.clone(),
                version: point.version.clone(),
                started_at_ns: point.started_at_ns,
                mean_before: cp.mean_before,
                mean_after: cp.mean_after,
                rel_change: cp.rel_change(),
                p_value: cp.p_value,
                runs_since,
                status,
            });
        }
    }
    Ok(report)
}
