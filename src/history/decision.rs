//! Each decided run's decision record: the few facts of its verdict that the accountability
//! page (`/teams`) and its metric (`/metrics`) count, kept as rows beside the run so that
//! neither reads a verdict per request.
//!
//! Like the digest ([`Records`](super::Records)), the record is the caller's: the store never
//! reads inside a verdict. `run` derives it from the verdict it records
//! ([`NewRun::decision`](super::NewRun::decision)); a run recorded before schema 8 has none
//! until it is back-filled from its stored verdict (`policy::decision::backfill`, which
//! `k6gate serve` runs once at start and `k6gate history backfill` runs too). A decided run
//! without a record is read from its verdict by the page, never counted as clean.

use serde::{Deserialize, Serialize};

use super::error::HistoryError;

/// What the gate decided, as the accountability page counts it. The outcome is the run's own
/// (the `runs` table's column, which is the verdict's).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// Rule results that failed (SLA or budget violations that count).
    pub violations: u32,
    /// The exceptions that let a failing rule pass: one per waived or windowed result.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub overrides: Vec<Override>,
}

/// One exception of a verdict: a waiver or a migration window that let a rule result pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Override {
    /// `waived` (by a waiver) or `allowed` (by a migration window).
    pub kind: String,
    /// The waiver or window id.
    pub by: String,
    /// The rule result it applied to.
    pub result: String,
    /// Who approved it: GitHub's review when verified (`verified`), else the file's
    /// `approved_by`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    /// `approved_by` is the review GitHub shows, not the file's free text.
    #[serde(default)]
    pub verified: bool,
    /// The waiver's or window's owner, if named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// A run's decision record, read alone by run id.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDecision {
    pub id: String,
    /// `None`: the run has no record (recorded before schema 8 and not back-filled, or not
    /// decided).
    pub decision: Option<Decision>,
}

/// Reading and back-filling the records. Both backends answer alike (the durable store's run
/// objects carry the record, as they carry the digest).
pub trait Decisions {
    /// The records of these runs (full ids), in the order given; an id the store does not
    /// hold is left out. Never reads a summary or a verdict.
    fn decisions(&self, ids: &[&str]) -> Result<Vec<StoredDecision>, HistoryError>;

    /// The decided runs (with a verdict) that have no record yet, oldest first.
    fn runs_without_decision(&self) -> Result<Vec<String>, HistoryError>;

    /// Sets a run's record (replacing any it had). The durable store rewrites the run's
    /// object too.
    fn put_decision(&self, run_id: &str, decision: &Decision) -> Result<(), HistoryError>;
}
