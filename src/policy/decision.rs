//! A verdict's decision record ([`history::Decision`]): what the accountability page and its
//! metric count (failing rules, and the waivers and windows that let one pass, with who
//! approved them), derived once when the run is recorded, or back-filled once from a stored
//! verdict, so that no page parses verdicts per request.

use serde::Deserialize;

use super::verdict::{Exception, ExceptionKind, Status, Verdict};
use crate::history::{Decision, Decisions, HistoryError, Override, RunPages};

/// The record of a verdict.
pub fn of(verdict: &Verdict) -> Decision {
    let failed = verdict.results.iter().filter(|r| r.status == Status::Fail).count();
    record(failed, &verdict.exceptions)
}

/// The parts of a verdict the record needs (serde skips the rest without building it).
#[derive(Deserialize)]
struct Partial {
    results: Vec<PartialResult>,
    exceptions: Vec<Exception>,
}

#[derive(Deserialize)]
struct PartialResult {
    status: Status,
}

/// The record of a stored verdict's JSON text; an error when the text is not a verdict.
pub fn of_json(verdict: &str) -> serde_json::Result<Decision> {
    let p: Partial = serde_json::from_str(verdict)?;
    let failed = p.results.iter().filter(|r| r.status == Status::Fail).count();
    Ok(record(failed, &p.exceptions))
}

fn record(failed: usize, exceptions: &[Exception]) -> Decision {
    Decision {
        violations: u32::try_from(failed).unwrap_or(u32::MAX),
        overrides: exceptions.iter().map(override_of).collect(),
    }
}

fn override_of(e: &Exception) -> Override {
    Override {
        kind: match e.kind {
            ExceptionKind::Waived => "waived",
            ExceptionKind::Allowed => "allowed",
        }
        .to_string(),
        by: e.by.clone(),
        result: e.result.clone(),
        approved_by: e.verified.as_ref().map(|v| v.describe()).or_else(|| e.approved_by.clone()),
        verified: e.verified.is_some(),
        owner: e.owner.clone(),
    }
}

/// What a back-fill did.
#[derive(Debug, Default, PartialEq)]
pub struct Backfilled {
    /// Runs given a record.
    pub filled: usize,
    /// Runs whose stored verdict cannot be read, and why: left without a record, so the page
    /// names them instead of counting them as clean.
    pub unreadable: Vec<(String, String)>,
}

/// Gives every decided run without a record the record of its stored verdict (schema 8's
/// back-fill). Runs once per run: a run with a record is never listed again.
pub fn backfill<S: Decisions + RunPages>(store: &S) -> Result<Backfilled, HistoryError> {
    let ids = store.runs_without_decision()?;
    let mut done = Backfilled::default();
    for batch in ids.chunks(500) {
        let refs: Vec<&str> = batch.iter().map(String::as_str).collect();
        for v in store.verdicts(&refs)? {
            match v.verdict.as_deref().map(of_json) {
                Some(Ok(d)) => {
                    store.put_decision(&v.id, &d)?;
                    done.filled += 1;
                }
                Some(Err(e)) => done.unreadable.push((v.id, format!("its verdict is not readable JSON: {e}"))),
                None => done.unreadable.push((v.id, "it has no verdict".into())),
            }
        }
    }
    Ok(done)
}
