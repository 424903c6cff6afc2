//! Policies: the repo's Rego rules and YAML data, evaluated over a comparison into a verdict.
//!
//! `files` reads a policy's files from a directory or a git tree; `data` loads and validates
//! `policies/data/*.yaml` (`retention` holds the retention classes, `cardinality` the label allowlist and series budgets); `engine` runs Rego (regorus) and the
//! Rego unit tests; `verdict` turns rule results into the explainable verdict document.
//! Time is an input: nothing here reads the clock.

pub mod cardinality;
pub mod data;
pub mod decision;
pub mod engine;
pub mod files;
pub mod guarded;
pub mod locate;
pub mod representative;
pub mod retention;
pub mod traces;
pub mod verdict;

use std::path::PathBuf;

/// A policy or policy-data problem. Always exit code 2: a broken policy never passes.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{}:{line}:{col}: {message}", path.display())]
    Data { path: PathBuf, line: u64, col: u64, message: String },
    #[error("{}: {message}", path.display())]
    Io { path: PathBuf, message: String },
    #[error("{}: no {what} in any data file", dir.display())]
    Missing { dir: PathBuf, what: String },
    /// The base branch's policy binds (a pull request, `--policy-from base`) and cannot be read.
    #[error(
        "the binding policy comes from {wanted}, and it cannot be read: {reason}; the checked-out policy is not used in its place"
    )]
    Base { wanted: String, reason: String },
    /// Rego syntax or evaluation error; regorus messages carry `file:line:col`.
    #[error("{0}")]
    Rego(String),
}
