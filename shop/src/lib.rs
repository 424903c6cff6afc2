//! A small but realistic shop service for k6gate's demo: the system under test that k6
//! loads, so that the whole gate (k6 → results → verdict) can be shown, and regressions
//! caught, on one machine without any external service.
//!
//! It is meant to behave like a real backend under load, not to be fast:
//! - real HTTP/1.1 keep-alive (axum on a current-thread tokio runtime), JSON bodies, status codes;
//! - a real embedded database (SQLite in WAL mode, a small connection pool, queries on
//!   blocking threads): login checks a salted hash, the cart and orders are rows, checkout
//!   sums the cart in SQL and writes the order in a transaction;
//! - simulated work with realistic jitter, a slow third-party payment call in checkout, and a
//!   cold cache after start (`sim`);
//! - knobs to make it worse on purpose: `--latency-scale`, `--regression` (checkout only),
//!   `--error-rate` (payment failures → 502), `--fault-rate` (any API request → 500),
//!   `--warmup-secs`/`--warmup-extra-ms`;
//! - its own request metrics for Prometheus at `/metrics` (`metrics`), in-flight requests and open
//!   connections, and switches to degrade it on demand (`degrade`, `/admin/degrade`).
//!
//! It only listens on 127.0.0.1, and nothing here is secure: passwords and tokens are
//! stand-ins (see `auth`). The endpoints are listed in `api`.
//!
//! A crate of its own so that the gate library does not carry a web shop: in k6gate only the
//! command line (`k6gate target`, `k6gate demo`) and the tests that need a system under load
//! use it. It knows nothing of k6gate (no results, verdicts or exit codes).

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

mod api;
mod args;
mod auth;
mod catalog;
mod degrade;
mod error;
mod facts;
mod metrics;
mod pool;
mod server;
mod sim;
mod stop;
mod store;

pub use args::TargetArgs;
pub use catalog::{PAGE_SIZE, PAGES};
pub use degrade::{DegradeArgs, Setting as DegradeSetting};
pub use error::{Error, Result};
pub use server::{Running, run, spawn};
pub use store::{PASSWORD, PRODUCTS, USERS};
