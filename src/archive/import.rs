//! `k6gate history import`: archived runs back into the history, whole (summary and
//! verdict), under their own ids, so they can be compared and pinned again.

use std::collections::BTreeMap;

use serde::Serialize;

use super::error::ArchiveError;
use super::layout::date_of;
use super::objects::RunArchive;
use crate::history::{NewRun, Prune, RunFilter, RunRecord, RunStore};

/// Which archived runs to bring back. Times are Unix nanoseconds: `since` inclusive, `until`
/// exclusive, on the run's start.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportFilter<'a> {
    pub test: Option<&'a str>,
    pub environment: Option<&'a str>,
    pub since_ns: Option<i64>,
    pub until_ns: Option<i64>,
    /// Run ids or unique prefixes; empty for all. One that names no archived run is an error.
    pub run_ids: &'a [String],
}

/// What `import` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub archive: String,
    pub store: String,
    pub dry_run: bool,
    /// Imported (dry: would be), oldest first.
    pub imported: Vec<String>,
    /// Already in the store, left as they are.
    pub skipped: Vec<String>,
}

/// Imports the archived runs `filter` selects into `store`. Runs the store already has are
/// skipped (and listed) without being read; every other document is read and checked before
/// the first run is recorded: one that does not parse is an error naming its key, and nothing
/// is imported.
pub fn import<S: RunStore + Prune>(
    archive: &RunArchive,
    store: &S,
    store_name: &str,
    filter: &ImportFilter<'_>,
    dry_run: bool,
) -> Result<ImportReport, ArchiveError> {
    let since_date = filter.since_ns.map(date_of);
    let until_date = filter.until_ns.map(|u| date_of(u.saturating_sub(1)));
    let listed = archive.list_runs(filter.test, filter.environment)?;
    let mut selected = Vec::new();
    for a in listed {
        let in_scope = filter.test.is_none_or(|t| t == a.test)
            && filter.environment.is_none_or(|e| e == a.environment)
            && since_date.as_ref().is_none_or(|d| a.date >= *d)
            && until_date.as_ref().is_none_or(|d| a.date <= *d)
            && (filter.run_ids.is_empty() || filter.run_ids.iter().any(|id| a.run_id.starts_with(id.trim())));
        if in_scope {
            selected.push(a);
        }
    }
    for id in filter.run_ids {
        if !selected.iter().any(|a| a.run_id.starts_with(id.trim())) {
            return Err(ArchiveError::Document {
                url: archive.url().to_string(),
                key: id.clone(),
                message: "no archived run with this id matches the filters".into(),
            });
        }
    }
    let in_range = |started_at_ns: i64| {
        filter.since_ns.is_none_or(|s| started_at_ns >= s) && filter.until_ns.is_none_or(|u| started_at_ns < u)
    };
    // Runs the store has are skipped unread (the store's own start time decides the range).
    let have: BTreeMap<String, i64> = store
        .stored_runs(&RunFilter { test: filter.test, environment: filter.environment, limit: None })?
        .into_iter()
        .map(|s| (s.run.id, s.run.started_at_ns))
        .collect();
    let mut report = ImportReport {
        archive: archive.url().to_string(),
        store: store_name.to_string(),
        dry_run,
        ..ImportReport::default()
    };
    // Everything else read and checked first: nothing is half-imported.
    let mut runs: Vec<RunRecord> = Vec::new();
    for a in &selected {
        match have.get(&a.run_id) {
            Some(started) => {
                if in_range(*started) {
                    report.skipped.push(a.run_id.clone());
                }
            }
            None => {
                let run = archive.read_run(a)?;
                if in_range(run.started_at_ns) {
                    runs.push(run);
                }
            }
        }
    }
    runs.sort_by(|a, b| (a.started_at_ns, &a.id).cmp(&(b.started_at_ns, &b.id)));
    for run in runs {
        if !dry_run {
            let recorded = store.record_run(&new_run(&run))?;
            if recorded != run.id {
                return Err(ArchiveError::Renamed { store: store_name.to_string(), run_id: run.id, recorded });
            }
        }
        report.imported.push(run.id);
    }
    Ok(report)
}

/// The run to record: the archived record under its own id (the store notes its own version
/// as the one that recorded it), with its compact record; runs archived before k6gate kept
/// one in the record get it from their summary, as `history backfill` would.
fn new_run(run: &RunRecord) -> NewRun {
    let mut new = NewRun::again(run);
    if new.digest.is_empty() {
        if let Some(Ok(summary)) = run.summary_as::<crate::summary::RunSummary>() {
            new.digest = crate::summary::digest::rows(&summary);
        }
    }
    if new.decision.is_none() && run.outcome.is_decided() {
        if let Some(Ok(d)) = run.verdict.as_ref().map(|v| crate::policy::decision::of_json(v.get())) {
            new.decision = Some(d);
        }
    }
    new
}
