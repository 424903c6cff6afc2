//! Why the target could not start or stopped abnormally. Request-level failures are HTTP
//! responses (see `api`), never this type.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on 127.0.0.1:{port}: {source}")]
    Bind { port: u16, source: std::io::Error },
    #[error("cannot install the signal handlers: {0}")]
    Signals(#[source] std::io::Error),
    #[error("cannot create the temporary database {}: {source}", path.display())]
    TempDb { path: PathBuf, source: std::io::Error },
    #[error("database {}: {source}", path.display())]
    Db { path: PathBuf, source: rusqlite::Error },
    #[error("server failed: {0}")]
    Serve(#[source] std::io::Error),
    #[error("the server thread stopped before it was listening")]
    NotStarted,
    #[error("the server thread panicked")]
    Panicked,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
