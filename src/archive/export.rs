//! `k6gate archive`: the runs past their class's hot period, written to the archive.

use serde::Serialize;

use super::error::ArchiveError;
use super::objects::RunArchive;
use crate::history::{Prune, RunFilter, RunStore};
use crate::policy::retention::RetentionPolicy;

/// Which runs of the store to look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Selection<'a> {
    pub test: Option<&'a str>,
    pub environment: Option<&'a str>,
}

/// One run written (or, dry, to be written).
#[derive(Debug, Clone, Serialize)]
pub struct ArchivedEntry {
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub objects: u64,
    pub bytes: u64,
}

/// What `archive` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ArchiveReport {
    pub archive: String,
    pub store: String,
    pub dry_run: bool,
    pub now_ns: i64,
    /// Runs past their class's hot period.
    pub runs_due: u64,
    /// Runs that were (dry: would be) written, with their objects and bytes.
    pub written: Vec<ArchivedEntry>,
    /// Runs the archive already held whole, left as they are.
    pub already_archived: u64,
    pub objects: u64,
    pub bytes: u64,
}

/// Writes every run of `store` (in `selection`) past its class's hot period to `archive`.
/// Runs of a class without `archive_days` are never archived. `dry_run` writes nothing.
pub fn archive<S: RunStore + Prune>(
    store: &S,
    store_name: &str,
    policy: &RetentionPolicy,
    archive: &RunArchive,
    selection: Selection<'_>,
    now_ns: i64,
    dry_run: bool,
) -> Result<ArchiveReport, ArchiveError> {
    let mut report = ArchiveReport {
        archive: archive.url().to_string(),
        store: store_name.to_string(),
        dry_run,
        now_ns,
        ..ArchiveReport::default()
    };
    let filter = RunFilter { test: selection.test, environment: selection.environment, limit: None };
    let mut runs = store.stored_runs(&filter)?;
    // Oldest first: an interrupted archive leaves the newest runs for the next one.
    runs.reverse();
    for stored in runs {
        let r = &stored.run;
        let class = policy.class_of(&r.test).ok_or_else(|| crate::retention::NoClass { test: r.test.clone() })?;
        if !class.archive_due(now_ns.saturating_sub(r.started_at_ns)) {
            continue;
        }
        report.runs_due += 1;
        let run = store.get_run(&r.id)?;
        let put = archive.put_run(&run, dry_run)?;
        if put.objects == 0 {
            report.already_archived += 1;
            continue;
        }
        report.objects += put.objects;
        report.bytes += put.bytes;
        report.written.push(ArchivedEntry {
            run_id: run.id,
            test: run.test,
            environment: run.environment,
            objects: put.objects,
            bytes: put.bytes,
        });
    }
    Ok(report)
}
