//! What can go wrong before a request is sent: the runtime or the client cannot be built.

/// The HTTP stack could not be set up. Nothing was sent.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The process-wide I/O runtime did not start (the OS refused threads or an event loop).
    #[error("cannot start the I/O runtime: {0}")]
    Runtime(String),
    /// The HTTP client could not be built (TLS roots, resolver).
    #[error("cannot build the HTTP client")]
    Client(#[source] reqwest::Error),
    /// The helper thread that runs a request for a caller inside a runtime died.
    #[error("the I/O thread stopped unexpectedly")]
    Thread,
}
