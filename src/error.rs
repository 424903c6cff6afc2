//! k6gate's errors and the exit codes they map to.

use std::path::PathBuf;

/// Exit codes in the conftest/ripgrep tradition.
pub mod exit {
    /// Pass (or warn).
    pub const OK: i32 = 0;
    /// The gate said no: a result, not a crash.
    pub const GATE_FAILED: i32 = 1;
    /// Usage, configuration, policy or input error.
    pub const ERROR: i32 = 2;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file k6gate was given cannot be used. `line` is 1-based.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input { path: PathBuf, line: Option<u64>, message: String },
    #[error("{0}")]
    Usage(String),
    /// A policy, policy data or Rego problem (already located: `file:line:col: ...`).
    #[error("{0}")]
    Policy(String),
    #[error("cannot write {}: {source}", path.display())]
    Output { path: PathBuf, source: std::io::Error },
}

impl Error {
    pub fn input(path: impl Into<PathBuf>, line: Option<u64>, message: impl Into<String>) -> Error {
        Error::Input { path: path.into(), line, message: message.into() }
    }

    pub fn exit_code(&self) -> i32 {
        exit::ERROR
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
