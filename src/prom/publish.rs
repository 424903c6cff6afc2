//! Run history in Prometheus or Mimir: a RunSummary as one sample per series at the run's
//! end time, pushed with remote write.
//!
//! Dashboards, alert rules and the queries below depend on these names; change them only
//! with a new name. All values are in base units (seconds, ratios, per second).
//!
//! | series                              | value                                        | groups     |
//! |-------------------------------------|----------------------------------------------|------------|
//! | `k6gate_run_latency_p50_seconds`    | `http_req_duration` p50 (summary ms / 1000)  | all + each |
//! | `k6gate_run_latency_p95_seconds`    | p95                                          | all + each |
//! | `k6gate_run_latency_p99_seconds`    | p99                                          | all + each |
//! | `k6gate_run_error_ratio`            | `http_req_failed` rate, 0..1                 | all + each |
//! | `k6gate_run_requests_per_second`    | `http_reqs` per second of the phase          | all + each |
//! | `k6gate_run_phase_duration_seconds` | the phase's length                           | `all` only |
//! | `k6gate_run_info`                   | 1, once per run, at `test_stage="whole-run"` | `all` only |
//!
//! Every series carries `test_name`, `environment`, `deployment_version`, `git_commit`
//! (from the summary's metadata; absent when unknown), `test_stage` (each phase's name, plus
//! `steady-state` and `whole-run`), `group` (`all` for the phase total, else the group's tag
//! values joined by a space, e.g. `POST checkout`, as in `compare::group_name`), `verdict`
//! (`pass`, `warn`, `fail`, or `none` when there is no verdict) and `testid` (the run id).
//! With a cardinality policy (`policies/data/cardinality.yaml`), a label it does not allow
//! for the test's published series is left out: per-run identifiers (`testid`, `git_commit`,
//! `deployment_version`) only where it says so; the run record and summary keep them either way.
//! Statistics the summary does not hold (a phase without requests has no p95) are left out;
//! no series is ever NaN or infinite.
//!
//! Publish a run once, after its verdict is known. The verdict is part of every series'
//! identity, so publishing again with another verdict adds a second set of series for the
//! run; publishing again with the same values is harmless; different values for the same
//! series are refused (a recent run) or silently dropped (an older one): see
//! [`Rejection::Duplicate`](crate::prom::remote_write::Rejection::Duplicate).
//!
//! A run is one sample per series, so an instant selector only sees runs that ended in the
//! last 5 minutes (Prometheus' lookback). Read history with `*_over_time(...[30d])`, or as
//! points in a range query. "Did latency change after v1.2.3?": the steady-state p95 of each
//! other version, minus that of v1.2.3, averaged over each version's runs in the last 30 days
//! (positive: slower than v1.2.3, in seconds):
//!
//! ```promql
//!   avg by (test_name, environment, deployment_version) (
//!     avg_over_time(k6gate_run_latency_p95_seconds{test_name="checkout", environment="staging",
//!       test_stage="steady-state", group="all", deployment_version!="v1.2.3"}[30d]))
//! - on (test_name, environment) group_left
//!   avg by (test_name, environment) (
//!     avg_over_time(k6gate_run_latency_p95_seconds{test_name="checkout", environment="staging",
//!       test_stage="steady-state", group="all", deployment_version="v1.2.3"}[30d]))
//! ```
//!
//! Divide instead of subtracting for the ratio; use `group!="all"` with `group` in both `by`
//! and `on` clauses for each endpoint. PromQL cannot order versions: the query returns every
//! other version with runs in the range, older ones too. Keep the later ones with a regex
//! (`deployment_version=~"v1\\.2\\.([4-9]|[1-9][0-9]+)|v1\\.([3-9]|[1-9][0-9]+)\\..*|v[2-9].*"`),
//! or pick the range to start at v1.2.3's deploy (`[...] @ <end>` fixes the end).
//! `k6gate_run_info{verdict="fail"}` joins on `testid` to pick runs by verdict.

use crate::compare::group_name;
use crate::policy::cardinality::{CardinalityPolicy, Target};
use crate::prom::remote_write::{
    Auth, InvalidSeries, RemoteWriteError, RemoteWriter, Sample, TimeSeries, WriteOptions,
};
use crate::summary::{GroupStats, PhaseSummary, RunSummary};
use crate::time::parse_rfc3339_ns;

pub const P50: &str = "k6gate_run_latency_p50_seconds";
pub const P95: &str = "k6gate_run_latency_p95_seconds";
pub const P99: &str = "k6gate_run_latency_p99_seconds";
pub const ERROR_RATIO: &str = "k6gate_run_error_ratio";
pub const REQUESTS_PER_SECOND: &str = "k6gate_run_requests_per_second";
pub const PHASE_DURATION: &str = "k6gate_run_phase_duration_seconds";
pub const INFO: &str = "k6gate_run_info";

/// Every series name k6gate publishes.
pub const METRICS: [&str; 7] = [P50, P95, P99, ERROR_RATIO, REQUESTS_PER_SECOND, PHASE_DURATION, INFO];

/// `test_stage` of the trimmed sustained phase and of the whole run.
pub const STEADY_STATE: &str = "steady-state";
pub const WHOLE_RUN: &str = "whole-run";

/// Why a summary cannot become series.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SeriesError {
    #[error("the summary has no end time (metadata.end or whole_run.end), so its samples have no timestamp")]
    NoEndTime,
    #[error("the summary's end time {0:?} is not an RFC 3339 timestamp")]
    BadEndTime(String),
    #[error("the run id is empty; every published series needs a testid")]
    NoRunId,
    #[error("{0}")]
    Invalid(#[from] InvalidSeries),
}

/// What [`publish`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishReport {
    pub series: usize,
    pub samples: usize,
    /// Requests that succeeded (one per batch).
    pub requests: usize,
    /// HTTP attempts, retries included.
    pub attempts: usize,
}

/// The run's end time in Unix milliseconds: `metadata.end`, else `whole_run.end`.
pub fn end_time_ms(summary: &RunSummary) -> Result<i64, SeriesError> {
    let end = summary.metadata.end.as_deref().or(summary.whole_run.end.as_deref()).ok_or(SeriesError::NoEndTime)?;
    let ns = parse_rfc3339_ns(end.as_bytes()).ok_or_else(|| SeriesError::BadEndTime(end.to_string()))?;
    Ok(ns.div_euclid(1_000_000))
}

/// `pass`, `warn` or `fail` for a decided run; `none` for no verdict or any other outcome
/// (`error`, `incomplete`), which has no verdict.
pub fn verdict_label(verdict: Option<&str>) -> &'static str {
    match verdict.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        Some("pass") => "pass",
        Some("warn") => "warn",
        Some("fail") => "fail",
        _ => "none",
    }
}

/// The series of one run, sorted by labels: per phase (every phase, then `steady-state`,
/// then `whole-run`) and per group, one sample each at the run's end time.
///
/// A tagged phase literally named `steady-state` or `whole-run` is left out: its series
/// would collide with the computed ones.
pub fn series(summary: &RunSummary, run_id: &str, verdict: Option<&str>) -> Result<Vec<TimeSeries>, SeriesError> {
    series_allowed(summary, run_id, verdict, None)
}

/// [`series`] with only the labels `policy` allows for the test's published series (all of
/// them without a policy).
pub fn series_allowed(
    summary: &RunSummary,
    run_id: &str,
    verdict: Option<&str>,
    policy: Option<&CardinalityPolicy>,
) -> Result<Vec<TimeSeries>, SeriesError> {
    if run_id.trim().is_empty() {
        return Err(SeriesError::NoRunId);
    }
    let at = end_time_ms(summary)?;
    let meta = &summary.metadata;
    let common: Vec<(&str, String)> = vec![
        ("test_name", meta.test_name.clone().unwrap_or_default()),
        ("environment", meta.environment.clone().unwrap_or_default()),
        ("deployment_version", meta.deployment_version.clone().unwrap_or_default()),
        ("git_commit", meta.git_commit.clone().unwrap_or_default()),
        ("verdict", verdict_label(verdict).to_string()),
        ("testid", run_id.to_string()),
    ];
    let test = meta.test_name.as_deref().unwrap_or_default();
    let allowed = |label: &str| policy.is_none_or(|p| p.allows(test, Target::Published, label));
    let common: Vec<(&str, String)> = common.into_iter().filter(|(n, _)| allowed(n)).collect();
    let mut out = Vec::new();
    let mut push = |metric: &str, stage: &str, group: &str, value: Option<f64>| -> Result<(), InvalidSeries> {
        let Some(value) = value.filter(|v| v.is_finite()) else { return Ok(()) };
        let labels = common.iter().map(|(n, v)| (*n, v.clone())).chain(
            [("test_stage", stage.to_string()), ("group", group.to_string())].into_iter().filter(|(n, _)| allowed(n)),
        );
        out.push(TimeSeries::new(metric, labels, vec![Sample { value, timestamp: at }])?);
        Ok(())
    };

    push(INFO, WHOLE_RUN, crate::compare::ALL, Some(1.0))?;
    let phases = summary
        .phases
        .iter()
        .filter(|p| p.name != STEADY_STATE && p.name != WHOLE_RUN)
        .map(|p| (p.name.as_str(), p))
        .chain(summary.steady_state.as_ref().map(|s| (STEADY_STATE, &s.summary)))
        .chain([(WHOLE_RUN, &summary.whole_run)]);
    for (stage, phase) in phases {
        push(PHASE_DURATION, stage, crate::compare::ALL, Some(phase.duration_s))?;
        for group in groups(phase) {
            let name = group_name(&group.key);
            let q = group.latency_ms.as_ref();
            let seconds = |ms: Option<f64>| ms.map(|v| v / 1000.0);
            push(P50, stage, &name, seconds(q.and_then(|q| q.p50)))?;
            push(P95, stage, &name, seconds(q.and_then(|q| q.p95)))?;
            push(P99, stage, &name, seconds(q.and_then(|q| q.p99)))?;
            push(ERROR_RATIO, stage, &name, group.error_rate)?;
            push(REQUESTS_PER_SECOND, stage, &name, Some(group.requests_per_s))?;
        }
    }
    // Two groups whose tag values join to the same name would be one series with two values
    // at one timestamp, which the receiver rejects: keep the first.
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out.dedup_by(|a, b| a.labels == b.labels);
    Ok(out)
}

/// The most series [`series`] makes for a run of `phases` tagged phases and `groups` endpoint
/// groups: `k6gate_run_info`, then for every phase plus `steady-state` and `whole-run` its
/// duration and the five statistics of its total and of each group.
pub fn series_bound(phases: u64, groups: u64) -> u64 {
    let per_phase = 1 + 5 * (1 + groups);
    1 + (phases + 2) * per_phase
}

/// The phase total, then its groups.
fn groups(phase: &PhaseSummary) -> impl Iterator<Item = &GroupStats> {
    std::iter::once(&phase.total).chain(phase.groups.iter().filter(|g| !g.key.is_empty()))
}

/// Pushes `series` to `url` (Prometheus `/api/v1/write`, Mimir `/api/v1/push`), with
/// `tenant` as Mimir's `X-Scope-OrgID`, in batches of `opts.batch_size` series.
pub fn publish(
    url: &str,
    tenant: Option<&str>,
    series: &[TimeSeries],
    opts: &WriteOptions,
) -> Result<PublishReport, RemoteWriteError> {
    let writer = RemoteWriter::new(url, tenant.map(str::to_owned), opts.clone());
    let r = writer.write(series)?;
    Ok(PublishReport { series: r.series, samples: r.samples, requests: r.requests, attempts: r.attempts })
}

/// Why a run summary was not published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Series(SeriesError),
    #[error(transparent)]
    Write(RemoteWriteError),
}

/// The run's summary (and verdict) as `k6gate_run_*` series, written to `url` with `auth` and
/// the default write options; the number of series written.
pub fn publish_summary(
    url: &str,
    tenant: Option<&str>,
    auth: Auth,
    summary: &RunSummary,
    run_id: &str,
    verdict: Option<&str>,
    policy: Option<&CardinalityPolicy>,
) -> Result<usize, PublishError> {
    let series = series_allowed(summary, run_id, verdict, policy).map_err(PublishError::Series)?;
    let opts = WriteOptions { auth, ..Default::default() };
    publish(url, tenant, &series, &opts).map(|r| r.series).map_err(PublishError::Write)
}
