//! Helpers shared by the integration tests: paths, the k6 fixtures, the CLI builder, the one
//! HTTP fake and the services built on it, a real Prometheus, synthetic verdicts and synthetic k6 runs.

use std::path::{Path, PathBuf};

pub mod cli;
pub mod fake_github;
pub mod fake_grafana;
pub mod fake_prometheus;
pub mod fake_tempo;
pub mod fixtures;
pub mod http;
pub mod long_run;
pub mod mock_http;
pub mod one_year;
pub mod proc;
pub mod prometheus;
pub mod run_options;
pub mod series;
pub mod stack;
pub mod synthetic;
pub mod tiers;
pub mod verdicts;

/// The repository root (the `k6gate` package).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Cargo's target directory (`CARGO_TARGET_DIR` or `target/`), for files tests keep between runs.
pub fn target_dir() -> PathBuf {
    let t = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("target"));
    if t.is_relative() { root().join(t) } else { t }
}
