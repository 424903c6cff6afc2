//! Carrying out a plan on a store and its run directories, or only counting it (`--dry-run`).
//!
//! Before it changes anything, the plan is checked against the store as it is now: a run
//! that has become part of a baseline, or that a pin names, since the plan was made is not
//! deleted or coarsened; the whole prune is refused instead, with nothing changed.
//!
//! With an archive ([`prune_moving`]), the runs past their class's hot period are written to
//! it and read back before anything is deleted; one that cannot be archived refuses the whole
//! prune, with nothing deleted. Retention does not know how the archive stores a run: it
//! calls [`Archive`], which `src/archive` implements.

use serde::Serialize;
use serde_json::value::RawValue;

use super::plan::{Exempt, Kept, Plan, Rules, exemptions, plan};
use crate::history::{HistoryError, Prune, RunDirs, RunFilter, RunRecord, RunStore};

/// Where moved runs go.
pub trait Archive {
    /// The archive's URL, as messages name it.
    fn name(&self) -> String;

    /// Writes `run` (summary and verdict included) to the archive and reads it back: `Ok`
    /// only when the archive holds this run, with the bytes written (0 when it already held
    /// it). The error says which object and why.
    fn archive_run(&self, run: &RunRecord) -> Result<u64, String>;
}

/// What a prune removed (or, dry, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Removed {
    pub count: u64,
    pub bytes: u64,
}

impl Removed {
    fn add(&mut self, bytes: u64) {
        self.count += 1;
        self.bytes += bytes;
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub store: String,
    pub dry_run: bool,
    pub now_ns: i64,
    /// Whole runs past their summary period.
    pub runs: Removed,
    /// Runs past their hot period moved to the archive (bytes: freed in the store).
    pub moved: Removed,
    /// The archive they went to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archive: Option<String>,
    /// Bytes written to the archive (0 for runs it already held).
    pub archived_bytes: u64,
    /// Runs whose finer series were dropped or replaced by coarser ones (bytes saved).
    pub series: Removed,
    /// Run directories (raw k6 output and the other artefacts) past the raw period.
    pub run_dirs: Removed,
    pub bytes_saved: u64,
    /// Bytes the store's file gave back to the file system after the prune (`Prune::reclaim`;
    /// freed pages of a file without it are reused by new runs instead).
    pub reclaimed_bytes: u64,
    /// Runs past their summary period kept because something needs them.
    pub kept: Vec<Kept>,
}

#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    NoClass(#[from] super::plan::NoClass),
    /// The plan would change a run something needs: nothing was changed.
    #[error(
        "{store}: refused to prune run {run_id} of {test} in {environment}: it is {why} now; nothing was changed. \
        Run `k6gate history prune` again to plan with the store as it is"
    )]
    Refused { store: String, run_id: String, test: String, environment: String, why: String },
    /// A run to move could not be archived: nothing was deleted.
    #[error(transparent)]
    Archive(Box<ArchiveFailed>),
    /// The plan moves runs, and no archive was given to move them to.
    #[error("{store}: {count} run(s) are past their hot period and no archive was given; nothing was changed")]
    NoArchive { store: String, count: usize },
    /// A stored summary retention cannot rewrite.
    #[error("{store}: run {run_id}: {message}")]
    Summary { store: String, run_id: String, message: String },
}

/// A run prune was to move that the archive did not take.
#[derive(Debug, thiserror::Error)]
#[error(
    "{archive}: could not archive run {run_id} of {test} in {environment}: {message}; nothing was deleted from {store}"
)]
pub struct ArchiveFailed {
    pub store: String,
    pub archive: String,
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub message: String,
}

/// Plans and prunes: `dry_run` only counts.
pub fn prune<S: RunStore + Prune>(
    rules: &Rules,
    store: &S,
    store_name: &str,
    dirs: &RunDirs,
    now_ns: i64,
    dry_run: bool,
) -> Result<Report, RetentionError> {
    plan_and_carry_out(rules, store, Where { store_name, dirs, archive: None }, now_ns, dry_run)
}

/// Plans and prunes with `archive` configured: runs past their class's hot period are moved
/// there (archived, read back, then deleted). `dry_run` only counts, and writes nothing.
pub fn prune_moving<S: RunStore + Prune>(
    rules: &Rules,
    store: &S,
    store_name: &str,
    dirs: &RunDirs,
    now_ns: i64,
    dry_run: bool,
    archive: &dyn Archive,
) -> Result<Report, RetentionError> {
    let rules = Rules { archive: true, ..rules.clone() };
    plan_and_carry_out(&rules, store, Where { store_name, dirs, archive: Some(archive) }, now_ns, dry_run)
}

/// Plans from the store and run directories as they are, then carries the plan out.
fn plan_and_carry_out<S: RunStore + Prune>(
    rules: &Rules,
    store: &S,
    at: Where<'_>,
    now_ns: i64,
    dry_run: bool,
) -> Result<Report, RetentionError> {
    let runs = store.stored_runs(&RunFilter::default())?;
    let pins = store.list_pins(None, None)?;
    let plan = plan(rules, &runs, &pins, &at.dirs.list()?, now_ns)?;
    carry_out(rules, store, at, &plan, now_ns, dry_run)
}

/// Carries out `plan` after checking it against the store as it is now.
pub fn execute<S: RunStore + Prune>(
    rules: &Rules,
    store: &S,
    store_name: &str,
    dirs: &RunDirs,
    plan: &Plan,
    now_ns: i64,
    dry_run: bool,
) -> Result<Report, RetentionError> {
    carry_out(rules, store, Where { store_name, dirs, archive: None }, plan, now_ns, dry_run)
}

/// The store's name, its run directories and the archive moved runs go to.
struct Where<'a> {
    store_name: &'a str,
    dirs: &'a RunDirs,
    archive: Option<&'a dyn Archive>,
}

fn carry_out<S: RunStore + Prune>(
    rules: &Rules,
    store: &S,
    at: Where<'_>,
    plan: &Plan,
    now_ns: i64,
    dry_run: bool,
) -> Result<Report, RetentionError> {
    let Where { store_name, dirs, archive } = at;
    let runs = store.stored_runs(&RunFilter::default())?;
    let pins = store.list_pins(None, None)?;
    let now = exemptions(rules, &runs, &pins);
    let refuse = |t: &super::plan::Target, why: String| RetentionError::Refused {
        store: store_name.to_string(),
        run_id: t.run_id.clone(),
        test: t.test.clone(),
        environment: t.environment.clone(),
        why,
    };
    let baseline = |id: &str| {
        now.get(id).and_then(|w| {
            w.iter().find_map(|e| match e {
                Exempt::Baseline { branch } => Some(format!("part of the baseline on {branch}")),
                _ => None,
            })
        })
    };
    for t in plan
        .delete_runs
        .iter()
        .chain(&plan.move_runs)
        .chain(plan.coarsen.iter().map(|c| &c.target))
        .chain(&plan.remove_dirs)
    {
        if let Some(why) = baseline(&t.run_id) {
            return Err(refuse(t, why));
        }
    }
    for t in plan.delete_runs.iter().chain(&plan.move_runs) {
        if let Some(why) = now.get(&t.run_id).and_then(|w| w.iter().next()) {
            return Err(refuse(t, format!("exempt ({why:?})")));
        }
    }

    let mut report = Report {
        store: store_name.to_string(),
        dry_run,
        now_ns,
        kept: plan.kept.clone(),
        archive: archive.map(|a| a.name()),
        ..Report::default()
    };
    // Every moved run is archived and verified before anything is deleted: one that cannot
    // be archived refuses the whole prune.
    if !plan.move_runs.is_empty() {
        let Some(archive) = archive else {
            return Err(RetentionError::NoArchive { store: store_name.to_string(), count: plan.move_runs.len() });
        };
        if !dry_run {
            for t in &plan.move_runs {
                let run = store.get_run(&t.run_id)?;
                report.archived_bytes += archive.archive_run(&run).map_err(|message| {
                    RetentionError::Archive(Box::new(ArchiveFailed {
                        store: store_name.to_string(),
                        archive: archive.name(),
                        run_id: t.run_id.clone(),
                        test: t.test.clone(),
                        environment: t.environment.clone(),
                        message,
                    }))
                })?;
            }
        }
    }
    for t in &plan.delete_runs {
        let bytes = if dry_run { t.bytes } else { store.delete_run(&t.run_id)? };
        report.runs.add(bytes);
    }
    for t in &plan.move_runs {
        let bytes = if dry_run { t.bytes } else { store.delete_run(&t.run_id)? };
        report.moved.add(bytes);
    }
    for c in &plan.coarsen {
        let run = store.get_run(&c.target.run_id)?;
        let Some(raw) = run.summary else { continue };
        let mut summary: serde_json::Value = serde_json::from_str(raw.get()).map_err(|e| RetentionError::Summary {
            store: store_name.to_string(),
            run_id: run.id.clone(),
            message: format!("the stored summary is not JSON: {e}"),
        })?;
        let keep = match c.min_window_s {
            Some(w) => crate::policy::retention::Keep::SeriesFrom(w),
            None => crate::policy::retention::Keep::NoSeries,
        };
        let series_from_s = c.min_window_s.unwrap_or(crate::history::NO_SERIES);
        if !super::series::coarsen(&mut summary, keep) {
            if !dry_run {
                store.note_series(&run.id, series_from_s)?;
            }
            continue;
        }
        let text = serde_json::to_string(&summary).map_err(|e| RetentionError::Summary {
            store: store_name.to_string(),
            run_id: run.id.clone(),
            message: e.to_string(),
        })?;
        let new = RawValue::from_string(text).map_err(|e| RetentionError::Summary {
            store: store_name.to_string(),
            run_id: run.id.clone(),
            message: e.to_string(),
        })?;
        let (before, after) = if dry_run {
            let after = crate::history::stored_bytes(&new).map_err(|e| RetentionError::Summary {
                store: store_name.to_string(),
                run_id: run.id.clone(),
                message: e.to_string(),
            })?;
            (c.target.bytes, after)
        } else {
            store.replace_summary(&run.id, &new, series_from_s)?
        };
        report.series.add(before.saturating_sub(after));
    }
    for t in &plan.remove_dirs {
        let bytes = if dry_run { t.bytes } else { dirs.remove(&t.run_id)? };
        report.run_dirs.add(bytes);
    }
    report.bytes_saved = report.runs.bytes + report.moved.bytes + report.series.bytes + report.run_dirs.bytes;
    if !dry_run {
        report.reclaimed_bytes = store.reclaim()?;
    }
    Ok(report)
}
