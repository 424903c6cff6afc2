//! What can go wrong reading traces: a file or an answer that is not OTLP/JSON (named by its
//! source and the field), or the trace backend.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// An OTLP/JSON document that cannot be read; `field` is its JSON path
    /// (`resourceSpans[0].scopeSpans[1].spans[3].spanId`).
    #[error("{source_name}: {field}: {message}")]
    Otlp { source_name: String, field: String, message: String },
    /// A file that cannot be opened or read.
    #[error("{}: {message}", path.display())]
    File { path: PathBuf, message: String },
    /// The trace backend failed or answered something else than its API documents.
    #[error("Tempo at {url}: {message}")]
    Tempo { url: String, message: String },
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    /// An OTLP/HTTP endpoint refused or failed an export (`client.rs`).
    #[error("OTLP endpoint {url}: {message}")]
    Export { url: String, message: String },
}

impl TraceError {
    pub(crate) fn otlp(source_name: &str, field: impl Into<String>, message: impl Into<String>) -> TraceError {
        TraceError::Otlp { source_name: source_name.to_string(), field: field.into(), message: message.into() }
    }
}
