//! Change points in the history of one test in one environment: a series per metric, the
//! detector over each, and what each change point found means today: an alert, pending (too
//! few runs on the new level yet), or reviewed in policy data (accepted or dismissed).
//!
//! The series: the runs the gate decided (pass, warn or fail) whose summaries are complete and
//! have a steady-state phase, oldest first by start time; each metric of the phase's `all`
//! group (the whole test's requests). Every run left out is listed with the reason.
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
    /// The detector's defaults (p ≤ 0.005 with 399 permutations, at least 3 runs a side) and
    /// 5 runs of persistence.
    fn default() -> Settings {
        Settings { detector: edivisive::Config::default(), persistence: 5 }
    }
}

/// The change points of `values` that alert under `settings`: found, and persistent.
pub fn alerting(values: &[f64], settings: &Settings) -> Result<Vec<ChangePoint>, EdivisiveError> {
    let mut found = edivisive::e_divisive(values, &settings.detector)?;
    found.retain(|c| values.len() - c.index >= settings.persistence);
    Ok(found)
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
    /// Found, but fewer runs than the persistence requirement are on the new level yet.
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
    /// Runs from this one to the latest, this one included.
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
        report.series.push(SeriesInfo { metric, runs: series.len(), restarted_at: restart.map(str::to_string) });
        let values: Vec<f64> = series.iter().map(|(_, v)| *v).collect();
        for cp in edivisive::e_divisive(&values, &settings.detector)? {
            let Some((point, _)) = series.get(cp.index) else { continue };
            let runs_since = values.len() - cp.index;
            let review = reviews.iter().find(|r| {
                full.iter()
                    .position(|(p, _)| p.run_id == r.run)
                    .is_some_and(|at| at.abs_diff(start + cp.index) <= REVIEW_TOLERANCE)
            });
            let status = match review {
                Some(r) if r.decision == Decision::Accepted => Status::Accepted { review: r.source.clone() },
                Some(r) => Status::Dismissed { review: r.source.clone() },
                None if runs_since < settings.persistence => Status::Pending,
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
