//! A run as recorded: [`NewRun`] going in, [`RunRecord`] coming out.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::summary::digest::DigestRow;

/// How a run ended. `pass`, `warn` and `fail` are the gate's decision and always come with
/// a summary and a verdict; `error` (k6, ingest or the policies broke) and `incomplete`
/// (the run was interrupted, or its data has gaps) may have neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Pass,
    Warn,
    Fail,
    /// Judged, but the measurement cannot be trusted (a saturated load generator): never a
    /// baseline, never a regression.
    Inconclusive,
    Error,
    /// The default, so that a run is never recorded as decided by accident.
    #[default]
    Incomplete,
}

impl Outcome {
    pub const ALL: [Outcome; 6] =
        [Outcome::Pass, Outcome::Warn, Outcome::Fail, Outcome::Inconclusive, Outcome::Error, Outcome::Incomplete];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Warn => "warn",
            Outcome::Fail => "fail",
            Outcome::Inconclusive => "inconclusive",
            Outcome::Error => "error",
            Outcome::Incomplete => "incomplete",
        }
    }

    /// A pin may name it: a judged run (a failed one too: accepting a new normal is what
    /// pins are for), but never an inconclusive one, whose measurement is not trusted.
    pub fn can_be_pinned(self) -> bool {
        matches!(self, Outcome::Pass | Outcome::Warn | Outcome::Fail)
    }

    /// The gate judged it (pass, warn, fail or inconclusive): the run has a summary and a
    /// verdict.
    pub fn is_decided(self) -> bool {
        matches!(self, Outcome::Pass | Outcome::Warn | Outcome::Fail | Outcome::Inconclusive)
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown outcome {0:?} (expected pass, warn, fail, error or incomplete)")]
pub struct UnknownOutcome(pub String);

impl FromStr for Outcome {
    type Err = UnknownOutcome;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Outcome::ALL.into_iter().find(|o| o.as_str() == s).ok_or_else(|| UnknownOutcome(s.to_string()))
    }
}

/// A run to record. The store adds the id and the k6gate version.
///
/// Times are Unix nanoseconds (UTC), like every time in k6gate. `summary` and `verdict` are
/// the JSON documents as written (`serde_json::value::to_raw_value(&summary)`).
#[derive(Debug, Clone, Default)]
pub struct NewRun {
    /// The id to record the run under, when the caller already named the run (see
    /// [`new_run_id`](super::new_run_id)); taken if free, otherwise a fresh one is drawn.
    pub id: Option<String>,
    pub test: String,
    pub environment: String,
    pub outcome: Outcome,
    pub started_at_ns: i64,
    pub finished_at_ns: Option<i64>,
    /// Who ran it (the CLI finds out: the Actions actor, else the local user).
    pub user: Option<String>,
    /// Where it ran (the host name).
    pub host: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub deployment_version: Option<String>,
    /// The run's directory (k6 output, summary, verdict). Stored as text, lossily if it is
    /// not UTF-8.
    pub run_dir: Option<PathBuf>,
    /// `None` when k6 did not run or was killed by a signal.
    pub k6_exit_code: Option<i32>,
    /// Why the run is `error` or `incomplete`, or what went wrong around a decided one.
    pub problem: Option<String>,
    /// Who and what triggered the run, beyond `user`.
    pub context: Option<RunContext>,
    pub summary: Option<Box<RawValue>>,
    pub verdict: Option<Box<RawValue>>,
    /// The run's compact record (`summary::digest::rows` of its summary), which the
    /// historical queries read instead of the summary. The caller derives it: the store never
    /// reads inside a summary. A decided run without it is stored, and `history compare` and
    /// `trend` name it until `k6gate history backfill` adds it. Sketches are not stored here
    /// (they stay in the summary).
    pub digest: Vec<DigestRow>,
    /// The run's decision record (`policy::decision::of`), derived by the caller from the
    /// verdict it records; `None` for a run that is not decided.
    pub decision: Option<super::Decision>,
}

impl NewRun {
    /// A recorded run to record again (an import into another store): the same id and
    /// fields, its compact record included; the store notes its own version as the recorder.
    pub fn again(run: &RunRecord) -> NewRun {
        NewRun {
            id: Some(run.id.clone()),
            test: run.test.clone(),
            environment: run.environment.clone(),
            outcome: run.outcome,
            started_at_ns: run.started_at_ns,
            finished_at_ns: run.finished_at_ns,
            user: run.user.clone(),
            host: run.host.clone(),
            git_branch: run.git_branch.clone(),
            git_commit: run.git_commit.clone(),
            deployment_version: run.deployment_version.clone(),
            run_dir: run.run_dir.clone(),
            k6_exit_code: run.k6_exit_code,
            problem: run.problem.clone(),
            context: run.context.clone(),
            summary: run.summary.clone(),
            verdict: run.verdict.clone(),
            digest: run.digest.clone(),
            decision: run.decision.clone(),
        }
    }
}

/// Who and what triggered a run, for the audit trail. In GitHub Actions: the actor, the
/// triggering actor (who re-ran it, when that differs), the event and the workflow run's URL.
/// Locally: the git user as the actor, and no event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunContext {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triggering_actor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_run_url: Option<String>,
    /// Started without a baseline on purpose (`--bootstrap`): SLAs only.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub bootstrap: bool,
    /// A confirmation re-run: the id of the candidate run it was judged with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirms: Option<String>,
}

/// A recorded run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunRecord {
    /// `YYYYMMDD-HHMMSS-xxxx`: see [`format_run_id`](super::format_run_id).
    pub id: String,
    pub test: String,
    pub environment: String,
    pub outcome: Outcome,
    pub started_at_ns: i64,
    pub finished_at_ns: Option<i64>,
    pub user: Option<String>,
    pub host: Option<String>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub deployment_version: Option<String>,
    pub run_dir: Option<PathBuf>,
    pub k6_exit_code: Option<i32>,
    /// The k6gate that recorded the run.
    pub k6gate_version: String,
    pub summary: Option<Box<RawValue>>,
    pub verdict: Option<Box<RawValue>>,
    /// Why the run is `error` or `incomplete` (runs recorded before schema 2 have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Who and what triggered it (runs recorded before schema 3 have none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<RunContext>,
    /// The run's compact record, without sketches ([`NewRun::digest`]). Filled by `get_run`
    /// and kept in the durable store's run object (so it survives `history sync`); empty in
    /// listings, and for runs recorded before schema 5 until `history backfill`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub digest: Vec<DigestRow>,
    /// The run's decision record ([`NewRun::decision`]). Filled by `get_run` and kept in the
    /// durable store's run object; `None` in listings, and for runs recorded before schema 8
    /// until they are back-filled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<super::Decision>,
}

impl RunRecord {
    /// The summary as `T` (typically `k6gate::RunSummary`), if the run has one.
    pub fn summary_as<T: DeserializeOwned>(&self) -> Option<serde_json::Result<T>> {
        self.summary.as_ref().map(|raw| serde_json::from_str(raw.get()))
    }

    /// The verdict as `T` (typically `k6gate::policy::verdict::Verdict`), if the run has one.
    pub fn verdict_as<T: DeserializeOwned>(&self) -> Option<serde_json::Result<T>> {
        self.verdict.as_ref().map(|raw| serde_json::from_str(raw.get()))
    }
}

/// Which runs [`RunStore::list_runs`](super::RunStore::list_runs) returns, newest first.
#[derive(Debug, Clone, Copy, Default)]
pub struct RunFilter<'a> {
    pub test: Option<&'a str>,
    pub environment: Option<&'a str>,
    /// At most this many; `None` for all.
    pub limit: Option<usize>,
}
