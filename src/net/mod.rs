//! The one HTTP stack every client uses (GitHub, Grafana, Prometheus, webhooks): reqwest on
//! tokio, one process-wide runtime for the synchronous callers, one client builder, one retry
//! policy and one secret type.
//!
//! What it must never do: print, decide how a response is read (each client owns its
//! protocol), or show a [`Secret`]. Nothing here reads the environment.
//!
//! This file only names the parts; the logic lives in the files below.

pub mod client;
pub mod error;
pub mod retry;
pub mod runtime;
pub mod secret;
pub mod url;

pub use client::{ClientOptions, Redirects, USER_AGENT, client};
pub use error::NetError;
pub use retry::{Attempt, Clock, Failed, RetryPolicy, TokioClock, describe, retryable_status, retryable_transport};
pub use runtime::block_on;
pub use secret::Secret;
pub use url::{percent_encode, retry_after, without_userinfo};
