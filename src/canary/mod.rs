//! Canary analysis (`k6gate canary`): a new version serves a small share of production
//! traffic beside the stable one; every interval both populations' request metrics are read
//! from Prometheus, compared with the gate's statistics and judged by the canary rules in
//! `policies/` (Rego), until the rules promote, roll back, or say they cannot tell.
//!
//! - `config`: the `canary` section of the policy data;
//! - `source`: PromQL for one window of both populations (`prom::query`);
//! - `window`: what a window holds; `analysis`: canary against stable over the windows
//!   (pure: `stats`);
//! - `policy`: the Rego input of one look and the decision;
//! - `run`: the loop, with the clock and the reader injected; `report`: text, JSON, Markdown;
//! - `channels`: what the check run, the deployment status, the webhook and the Grafana
//!   annotations say about an analysis (the CLI sends them);
//! - `serve`: `k6gate canary serve`, analyses in the background behind HTTP for rollout
//!   controllers (Argo Rollouts' web provider, Flagger webhooks).
//!
//! k6gate does not deploy: the decision is the exit code and the report. Too little traffic,
//! missing data or a broken source is never a promote.

pub mod analysis;
pub mod channels;
pub mod config;
pub mod policy;
pub mod report;
pub mod run;
pub mod serve;
pub mod source;
pub mod window;

use std::path::PathBuf;

/// Why an analysis could not decide. Always exit 2.
#[derive(Debug, thiserror::Error)]
pub enum CanaryError {
    #[error("{file}:{line}: {message}")]
    Config { file: String, line: u64, message: String },
    #[error("{}: no canary section in any data file", dir.display())]
    NoConfig { dir: PathBuf },
    #[error(transparent)]
    PolicyFiles(#[from] crate::policy::PolicyError),
    /// The canary rules answered something unusable.
    #[error("canary policy: {0}")]
    Policy(String),
    #[error("{0}")]
    Plan(String),
    #[error("reading the populations from Prometheus failed; nothing is promoted")]
    Prometheus(#[source] crate::prom::query::QueryError),
}
