//! The storage interface. Backends differ in where runs live, never in which run is the
//! baseline: the rule is in `baseline.rs`, and every backend follows it.

use super::baseline::BaselineChoice;
use super::error::HistoryError;
use super::pin::Pin;
use super::run::{NewRun, RunFilter, RunRecord};

/// A store of runs and pins. Times are Unix nanoseconds and always given by the caller.
/// Wherever a run id is taken, a unique prefix of one will do.
pub trait RunStore {
    /// Records a run and returns its new id.
    fn record_run(&self, run: &NewRun) -> Result<String, HistoryError>;

    /// The run with this id, or the one run whose id starts with it.
    fn get_run(&self, id_or_prefix: &str) -> Result<RunRecord, HistoryError>;

    /// Runs matching `filter`, newest (by start time) first.
    fn list_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<RunRecord>, HistoryError>;

    /// The baseline for a new run of `test` in `environment`, or `None` when there is no pin
    /// and no passing run on `default_branch` yet.
    fn baseline(
        &self,
        test: &str,
        environment: &str,
        default_branch: &str,
    ) -> Result<Option<BaselineChoice>, HistoryError>;

    /// Pins a run as the baseline of its test and environment, replacing (and ending) the
    /// active pin there, if any. Errors if the run does not exist or is errored or incomplete.
    fn pin(&self, run_id: &str, by: &str, reason: &str, at_ns: i64) -> Result<Pin, HistoryError>;

    /// Ends the active pin of `test` in `environment`; it stays listed, with who ended it,
    /// when and why. Errors if there is no active pin.
    fn invalidate_pin(
        &self,
        test: &str,
        environment: &str,
        by: &str,
        reason: &str,
        at_ns: i64,
    ) -> Result<Pin, HistoryError>;

    /// The active pin of `test` in `environment`.
    fn active_pin(&self, test: &str, environment: &str) -> Result<Option<Pin>, HistoryError>;

    /// All pins, active and ended, newest first, optionally for one test and/or environment.
    fn list_pins(&self, test: Option<&str>, environment: Option<&str>) -> Result<Vec<Pin>, HistoryError>;
}
