//! What can go wrong: starting the server ([`ServeError`]), and answering one request
//! ([`PageError`], always a page with a status, never a panic).

use axum::http::StatusCode;

use crate::history::HistoryError;

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "--listen {addr} is not a loopback address: serving beyond this machine needs a token \
         (--token or K6GATE_SERVE_TOKEN), which every request must then carry"
    )]
    NeedsToken { addr: std::net::SocketAddr },
    #[error("the token is too short: at least {min} characters")]
    WeakToken { min: usize },
    #[error("--proxy-header {name:?} is not a valid header name")]
    ProxyHeader { name: String },
    #[error("no randomness for the CSRF secret: {0}")]
    Random(String),
}

/// Why a request gets no page. Messages are for the person at the browser: they name the run
/// or the parameter, never a file path or an internal error.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The run exists but cannot be shown that way (no summary: it ended as error).
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Internal(String),
    /// A service the page needs (GitHub) refused or failed.
    #[error("{0}")]
    BadGateway(String),
}

impl PageError {
    pub fn status(&self) -> StatusCode {
        match self {
            PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            PageError::Forbidden(_) => StatusCode::FORBIDDEN,
            PageError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            PageError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            PageError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            PageError::BadGateway(_) => StatusCode::BAD_GATEWAY,
        }
    }

    /// A store error, for the page: unknown and ambiguous ids are the asker's; anything else
    /// is logged in full and shown without its details (paths, SQL).
    pub fn from_store(e: HistoryError, id: &str) -> PageError {
        match e {
            HistoryError::NotFound { .. } => PageError::NotFound(format!("no run {id:?} in the store")),
            HistoryError::Ambiguous { matches, .. } => PageError::BadRequest(format!(
                "{id:?} is the start of several run ids ({}): give more of it",
                matches.join(", ")
            )),
            other => {
                tracing::error!("reading the run store: {}", chain(&other));
                PageError::Internal("the run store could not be read (the server log says why)".into())
            }
        }
    }
}

/// An error and its causes on one line, for the log.
fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}
