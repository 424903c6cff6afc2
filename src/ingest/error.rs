//! What can go wrong reading k6 results: a file that cannot be used, located as `file:line`
//! when a line is to blame, or a set of inputs that cannot make one run.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// A file that cannot be used. `line` is 1-based; `None` when no one line is to blame.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input { path: PathBuf, line: Option<u64>, message: String },
    #[error("no input files")]
    NoInput,
    #[error("got both JSON and CSV output: if they are the same run, every sample would count twice; pass one of them")]
    JsonAndCsv,
    #[error("more than one k6 summary file: pass the summary of one run")]
    SeveralSummaries,
    /// The group-by tags cannot be read (more than `samples::tags::MAX_GROUP_TAGS`).
    #[error("{0}")]
    GroupBy(String),
}

impl IngestError {
    pub fn input(path: impl Into<PathBuf>, line: Option<u64>, message: impl Into<String>) -> IngestError {
        IngestError::Input { path: path.into(), line, message: message.into() }
    }
}
