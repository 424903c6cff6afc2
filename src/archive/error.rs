//! What can go wrong with the archive; every message names the archive and, where there is
//! one, the object.

use crate::history::HistoryError;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The URL names no store we can open.
    #[error("archive {url}: {message}")]
    Open { url: String, message: String },
    /// A request to the store failed.
    #[error("archive {url}: {action} {key}: {message}")]
    Object { url: String, key: String, action: String, message: String },
    /// An object is already there with other content: it is never overwritten.
    #[error(
        "archive {url}: {key} already holds different content for run {run_id}; it is not overwritten \
        (an archive is written once: look at both copies before removing one)"
    )]
    Different { url: String, key: String, run_id: String },
    /// An object written and read back is not what was written.
    #[error("archive {url}: {key} does not read back as written: {message}")]
    Verify { url: String, key: String, message: String },
    /// An archived run document that does not parse, or is filed under another name.
    #[error("archive {url}: {key}: {message}")]
    Document { url: String, key: String, message: String },
    /// A run whose rows cannot be built.
    #[error("run {run_id} of {test} in {environment}: {message}")]
    Run { run_id: String, test: String, environment: String, message: String },
    /// The store gave an imported run another id than its own.
    #[error(
        "{store}: run {run_id} was recorded as {recorded}: its id was taken while it was imported; \
        remove {recorded} and import again"
    )]
    Renamed { store: String, run_id: String, recorded: String },
    #[error(transparent)]
    History(#[from] HistoryError),
    #[error(transparent)]
    NoClass(#[from] crate::retention::NoClass),
}
