//! What can go wrong with the history. Every error names the store (the database file, or the
//! remote store's URL), so a message from CI says which store it was about.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// The database's directory cannot be created.
    #[error("{}: cannot create the history directory: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    /// A run directory that cannot be read or removed.
    #[error("{}: cannot {action}: {source}", path.display())]
    File { path: PathBuf, action: &'static str, source: std::io::Error },
    #[error("{}: {source}", path.display())]
    Sqlite { path: PathBuf, source: rusqlite::Error },
    /// The file was written by a newer k6gate; opening it would risk its data.
    #[error("{}: history schema version {found}, this k6gate reads up to {supported}; upgrade k6gate", path.display())]
    TooNew { path: PathBuf, found: i64, supported: i64 },
    /// The file is an SQLite database, but not a k6gate history.
    #[error("{}: not a k6gate history database ({message})", path.display())]
    Foreign { path: PathBuf, message: String },
    #[error("{}: no run {id:?}", path.display())]
    NotFound { path: PathBuf, id: String },
    /// A run id prefix that matches more than one run. `matches` holds the first ten;
    /// `more` says there were others.
    #[error("{}: run id prefix {prefix:?} is ambiguous: {}{}", path.display(), matches.join(", "),
        if *more { ", ..." } else { "" })]
    Ambiguous { path: PathBuf, prefix: String, matches: Vec<String>, more: bool },
    /// Pinning a run that cannot be a baseline (errored or incomplete).
    #[error("{}: run {id} is {outcome}; only runs with a summary and a verdict can be baselines", path.display())]
    NotABaseline { path: PathBuf, id: String, outcome: String },
    /// Deleting a run a pin names: pins are never deleted, so neither are their runs.
    #[error("{}: run {id} is named by a pin and is kept", path.display())]
    Pinned { path: PathBuf, id: String },
    #[error("{}: no active pin for test {test:?} in environment {environment:?}", path.display())]
    NoActivePin { path: PathBuf, test: String, environment: String },
    /// The store served a baseline for this test and environment before and finds none now:
    /// runs were deleted, or this is not the store that recorded them.
    #[error("{}: test {test:?} in environment {environment:?} had a baseline (run {run_id} and later) and the store now finds \
        none: its runs were deleted or this is a different store. The gate fails closed; see runbooks/deploying-with-k6.md \
        (\"The baseline is missing\")", path.display())]
    BaselineLost { path: PathBuf, test: String, environment: String, run_id: String },
    /// No baseline, and starting without one was not asked for.
    #[error(
        "{store}: no baseline for test {test:?} in environment {environment:?}: no pin and no passing run on \
        {branch}. Starting without a baseline must be explicit: pass --bootstrap for the first run (the reusable \
        workflow's `bootstrap: true`); see runbooks/deploying-with-k6.md (\"The baseline is missing\")"
    )]
    NoBaseline { store: String, test: String, environment: String, branch: String },
    /// Another run holds the environment's lock.
    #[error(
        "environment {scope:?} is locked by {holder} (until {expires} unless renewed); waited {waited}. Run again \
        when it is done, or raise --lock-wait"
    )]
    Locked { scope: String, holder: String, expires: String, waited: String },
    /// The remote store cannot be read or written.
    #[error("{url}: cannot {action}: {message}")]
    Remote { url: String, action: String, message: String },
    /// A request the store refuses: an empty name or reason, a decision without its data.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
}
