//! Run directories: what `k6gate run` leaves in `<state dir>/runs/<run id>/` beside the
//! stored run (k6's raw output, its log and summary export, the rendered script, the reports).
//! The store never needs them: every decision reads the stored summary. Retention removes them
//! after the raw-output period.
//!
//! Only directories directly under `runs/` whose name is a run id are ever listed or removed;
//! a record's `run_dir` field is never followed, so a stored path cannot point a removal
//! elsewhere.

use std::path::{Path, PathBuf};

use super::error::HistoryError;
use super::run_id::parse_run_id_time;

fn file_error(path: &Path, action: &'static str) -> impl FnOnce(std::io::Error) -> HistoryError {
    let path = path.to_path_buf();
    move |source| HistoryError::File { path, action, source }
}

/// A run directory and its size on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunDir {
    pub run_id: String,
    /// When the id says the run started (its first 15 characters), Unix ns.
    pub started_at_ns: i64,
    pub bytes: u64,
}

/// The run directories of a state directory.
#[derive(Debug, Clone)]
pub struct RunDirs {
    root: PathBuf,
}

impl RunDirs {
    /// The run directories under `state_dir` (`<state_dir>/runs`).
    pub fn new(state_dir: &Path) -> RunDirs {
        RunDirs { root: state_dir.join("runs") }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Every run directory, by id. None yet is an empty list; an unreadable directory is an
    /// error (never "nothing to prune").
    pub fn list(&self) -> Result<Vec<RunDir>, HistoryError> {
        let entries = match std::fs::read_dir(&self.root) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(file_error(&self.root, "list the run directories")(e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(file_error(&self.root, "list the run directories"))?;
            let path = entry.path();
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let is_dir = entry.file_type().map_err(file_error(&path, "read"))?.is_dir();
            let Some(started_at_ns) = parse_run_id_time(&name).filter(|_| is_dir) else { continue };
            out.push(RunDir { run_id: name, started_at_ns, bytes: size(&path)? });
        }
        out.sort_by(|a, b| a.run_id.cmp(&b.run_id));
        Ok(out)
    }

    /// Removes the directory of `run_id` and everything in it; returns the bytes it took.
    pub fn remove(&self, run_id: &str) -> Result<u64, HistoryError> {
        if parse_run_id_time(run_id).is_none() {
            return Err(HistoryError::Invalid {
                path: self.root.clone(),
                message: format!("{run_id:?} is not a run id"),
            });
        }
        let path = self.root.join(run_id);
        let bytes = size(&path)?;
        std::fs::remove_dir_all(&path).map_err(file_error(&path, "remove the run directory"))?;
        Ok(bytes)
    }
}

/// Bytes of the regular files under `path` (symbolic links are not followed).
fn size(path: &Path) -> Result<u64, HistoryError> {
    let meta = std::fs::symlink_metadata(path).map_err(file_error(path, "read"))?;
    if !meta.is_dir() {
        return Ok(if meta.is_file() { meta.len() } else { 0 });
    }
    let mut total = 0;
    for entry in std::fs::read_dir(path).map_err(file_error(path, "read"))? {
        let entry = entry.map_err(file_error(path, "read"))?;
        total += size(&entry.path())?;
    }
    Ok(total)
}
