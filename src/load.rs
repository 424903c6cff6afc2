//! A run as the commands name it: a RunSummary file, raw k6 output (ingested on the fly), or
//! a run id (or unique prefix) from the history. Every command that takes a run takes all three.
//!
//! Files win over ids: a path that exists is read as a file, anything else is looked up.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};
use crate::history::{HistoryConfig, RunRecord, RunStore, Store};
use crate::ingest::{IngestOptions, ingest};
use crate::summary::{RunSummary, SCHEMA_VERSION};

/// A loaded run and how to name it in a comparison (`run <id>` or the file name).
#[derive(Debug, Clone)]
pub struct LoadedRun {
    pub summary: RunSummary,
    pub source: String,
    /// The history's record, when the run was named by its id.
    pub record: Option<RunRecord>,
}

impl LoadedRun {
    /// The run as the gate sees it.
    pub fn side(&self) -> crate::gate::Side<'_> {
        crate::gate::Side { summary: &self.summary, source: &self.source }
    }
}

/// Opens (and creates) the history: the state directory's database, and the durable store
/// in front of it when one is configured.
pub fn open_history(config: &HistoryConfig) -> Result<Store> {
    std::fs::create_dir_all(&config.state_dir).map_err(Error::output(&config.state_dir))?;
    Ok(Store::open(config)?)
}

/// A RunSummary file, or raw k6 output ingested on the fly.
pub fn summary_file(path: &Path) -> Result<RunSummary> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| Error::input(path, None, format!("cannot read: {e}")))?;
    let head = String::from_utf8_lossy(head.get(..n).unwrap_or_default());
    if head.contains("\"schema_version\"") && head.contains("k6gate.run-summary/") {
        let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, None, e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::input(path, Some(e.line() as u64), format!("not valid JSON: {e}")))?;
        let version = v.get("schema_version").and_then(|s| s.as_str()).unwrap_or_default();
        if version != SCHEMA_VERSION {
            return Err(Error::input(path, None, format!("RunSummary {version}, this k6gate reads {SCHEMA_VERSION}")));
        }
        return serde_json::from_value(v).map_err(|e| Error::input(path, None, format!("not a valid RunSummary: {e}")));
    }
    Ok(ingest(&[path.to_path_buf()], &IngestOptions::default())?)
}

/// A run by file or by id. The history is opened only when `spec` is not a file.
pub fn run(spec: &str, history: &HistoryConfig) -> Result<LoadedRun> {
    match file(spec) {
        Some(loaded) => loaded,
        None => from_store(spec, &open_history(history)?),
    }
}

/// A run by file or by id, in an open store.
pub fn run_in(spec: &str, store: &Store) -> Result<LoadedRun> {
    file(spec).unwrap_or_else(|| from_store(spec, store))
}

fn file(spec: &str) -> Option<Result<LoadedRun>> {
    let path = Path::new(spec);
    path.exists().then(|| Ok(LoadedRun { summary: summary_file(path)?, source: spec.to_string(), record: None }))
}

fn from_store(spec: &str, store: &Store) -> Result<LoadedRun> {
    let record = store.get_run(spec).map_err(|e| match e {
        crate::history::HistoryError::NotFound { path, id } => {
            Error::Usage(format!("{id}: neither a file nor a run in the history {}", path.display()))
        }
        other => Error::History(other),
    })?;
    recorded(record, store)
}

/// A run from its history record: its stored summary, never "no summary" passed off quietly.
pub fn recorded(record: RunRecord, store: &Store) -> Result<LoadedRun> {
    let summary = match record.summary_as::<RunSummary>() {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Err(unreadable(&record, store, "summary", e)),
        None => return Err(Error::Usage(format!("run {} has no summary (it ended as {})", record.id, record.outcome))),
    };
    Ok(LoadedRun { summary, source: format!("run {}", record.id), record: Some(record) })
}

/// A document of `record` that the history holds but this k6gate cannot read.
pub fn unreadable(record: &RunRecord, store: &Store, what: &str, e: serde_json::Error) -> Error {
    Error::input(store.name(), None, format!("run {}: the stored {what} is unreadable: {e}", record.id))
}
