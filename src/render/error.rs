//! What can go wrong rendering a script: a template or environment file that cannot be used
//! (located as `file:line` when a line is to blame), or a `--set` that cannot apply.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A template or environment file that cannot be used. `line` is 1-based.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input { path: PathBuf, line: Option<u64>, message: String },
    /// A `--set` without `=`.
    #[error("--set {0:?}: expected key=value")]
    SetSyntax(String),
    /// A `--set` of a key the environment file does not have (and that is not optional).
    #[error("--set {key}: no such key in {} (keys: {})", path.display(), keys.join(", "))]
    UnknownKey { key: String, path: PathBuf, keys: Vec<String> },
}

impl RenderError {
    pub fn input(path: impl Into<PathBuf>, line: Option<u64>, message: impl Into<String>) -> RenderError {
        RenderError::Input { path: path.into(), line, message: message.into() }
    }
}
