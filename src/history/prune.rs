//! What retention (`k6gate history prune`) needs from a store: the runs with their stored
//! sizes but without their documents, and the three changes prune makes. Both backends answer
//! alike; which runs to change is decided elsewhere (`src/retention`), never here.
//!
//! The store still never reads inside a summary: [`Prune::replace_summary`] takes the new
//! document whole, and keeps every other field of the run as recorded.

use serde_json::value::RawValue;

use super::error::HistoryError;
use super::run::{RunFilter, RunRecord};

/// A run as stored, without its summary and verdict (which can be large), with their size.
#[derive(Debug, Clone)]
pub struct StoredRun {
    /// The run's metadata; `summary` and `verdict` are always `None` here.
    pub run: RunRecord,
    pub has_summary: bool,
    /// Bytes of the stored summary document (0 without one).
    pub summary_bytes: u64,
    /// Bytes the whole run takes in the store: the row's columns, or the object's size.
    pub bytes: u64,
    /// What retention last left of the summary's series: windows shorter than this are gone
    /// ([`NO_SERIES`]: all are). `None`: as recorded, or unknown to this store.
    pub series_from_s: Option<f64>,
}

/// [`StoredRun::series_from_s`] of a summary left without any series.
pub const NO_SERIES: f64 = f64::INFINITY;

/// Deleting and rewriting runs, for retention.
pub trait Prune {
    /// The runs matching `filter`, newest first, without their documents.
    fn stored_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<StoredRun>, HistoryError>;

    /// Deletes a run. Refused when a pin (active or ended) names it: pins are the audit
    /// trail and are never deleted, so neither is their run. Returns the bytes it took.
    fn delete_run(&self, id: &str) -> Result<u64, HistoryError>;

    /// Replaces a run's stored summary with `summary`, which holds no series window shorter
    /// than `series_from_s` ([`NO_SERIES`]: none at all), keeping everything else. Returns the
    /// stored sizes of the summary before and after.
    fn replace_summary(&self, id: &str, summary: &RawValue, series_from_s: f64) -> Result<(u64, u64), HistoryError>;

    /// Notes that a run's summary, unchanged, already holds no series window shorter than
    /// `series_from_s`, so retention need not open it again for that.
    fn note_series(&self, id: &str, series_from_s: f64) -> Result<(), HistoryError>;

    /// Gives the space deletions freed back to the file system, after a prune. Returns the
    /// bytes the store's file shrank by (0 where the store has nothing to give back).
    fn reclaim(&self) -> Result<u64, HistoryError>;
}
