//! The runs' compact records (`summary::digest` rows), as the historical queries read them:
//! one phase (and optionally one group) of the runs of a deployment version, or of every run
//! since a time, with each run's outcome. Reading them never opens a summary or a series, and
//! each query is an index range (`runs_by_version` or `runs_by_test`) plus a primary-key
//! lookup per run.
//!
//! The rows are the caller's: [`NewRun::digest`](super::NewRun::digest) when a run is
//! recorded, [`Records::put_digest`] when an older run is backfilled. The store keeps them
//! beside the run (deleted with it, untouched when retention coarsens its summary).

use crate::summary::digest::DigestRow;

use super::error::HistoryError;
use super::run::Outcome;

/// Which records to read.
#[derive(Debug, Clone, Copy)]
pub struct DigestQuery<'a> {
    pub test: &'a str,
    pub environment: &'a str,
    /// Only the runs of this deployment version (`runs_by_version`).
    pub version: Option<&'a str>,
    /// Only the runs started at or after this time (Unix ns).
    pub since_ns: Option<i64>,
    /// The phases wanted (a phase name, `steady-state` or `whole-run`); rows of other phases
    /// are not read.
    pub phases: &'a [&'a str],
    /// One group (`""`: the phase's total); `None` for every group.
    pub group: Option<&'a str>,
}

/// One run and its rows of the wanted phases and groups.
#[derive(Debug, Clone, PartialEq)]
pub struct DigestRun {
    pub run_id: String,
    pub started_at_ns: i64,
    pub deployment_version: Option<String>,
    pub git_branch: Option<String>,
    pub outcome: Outcome,
    /// Whether the run has a record at all (a decided run recorded before schema 5 has none
    /// until `history backfill`); `rows` may be empty for a run that has one but not the
    /// phase or group asked for.
    pub has_digest: bool,
    pub rows: Vec<DigestRow>,
}

/// Reading and backfilling the records. Both backends answer alike.
pub trait Records {
    /// The runs the query selects, oldest first (by start time, then id), with their rows.
    /// Every run of the selection is listed, whatever its outcome: the caller decides which
    /// count.
    fn digest_runs(&self, query: &DigestQuery<'_>) -> Result<Vec<DigestRun>, HistoryError>;

    /// The decided runs (with a summary) that have no record yet, oldest first: what
    /// `history backfill` fills in.
    fn runs_without_digest(&self) -> Result<Vec<String>, HistoryError>;

    /// Sets a run's record (replacing any it had). The durable store rewrites the run's
    /// object too, so other machines' caches get the rows.
    fn put_digest(&self, run_id: &str, rows: &[DigestRow]) -> Result<(), HistoryError>;
}
