//! A three-tier demo stack for k6gate's trace attribution (issue 15): a gateway (the load
//! balancer) forwards to the API, whose endpoints query a database tier that runs SQLite, one
//! span per query. Each tier is its own process with its own `service.name`, instrumented with
//! the OpenTelemetry Rust SDK through `tracing-opentelemetry`, exporting OTLP/HTTP (JSON) to
//! the endpoint its `--otlp-endpoint` names.
//!
//! - `propagate.rs`: W3C trace context and the correlation id across a hop (pure helpers).
//! - `faults.rs`: the fault switches (slow database, slow network before the gateway, database
//!   instrumentation missing for a share of requests), set by flag or `PUT /admin/faults`.
//! - `telemetry.rs`: the tracer provider (batch processor with a short delay, flushed on
//!   shutdown), the OTLP exporter over the tier's own HTTP client, the JSON log.
//! - `gateway.rs`, `api.rs`, `db.rs`: the tiers.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod api;
pub mod db;
pub mod faults;
pub mod gateway;
pub mod propagate;
pub mod telemetry;

/// Why a tier could not start or answer.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    #[error("{0}")]
    Start(String),
    #[error("database: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("upstream {url}: {source}")]
    Upstream { url: String, source: reqwest::Error },
    #[error("the database lock is poisoned")]
    Poisoned,
    /// The caller asked for something the tier does not serve (a 400).
    #[error("{0}")]
    BadRequest(String),
}

impl axum::response::IntoResponse for TierError {
    fn into_response(self) -> axum::response::Response {
        let status = match self {
            TierError::Upstream { .. } => axum::http::StatusCode::BAD_GATEWAY,
            TierError::BadRequest(_) => axum::http::StatusCode::BAD_REQUEST,
            _ => axum::http::StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, self.to_string()).into_response()
    }
}
