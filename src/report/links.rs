//! Where a reader goes next from a verdict: the run, its Actions run, its Grafana dashboard,
//! its page in `k6gate serve`.
//! Every output (check run, PR comment, webhook) links the same way.

/// Links for the reader; each is optional.
#[derive(Debug, Clone, Default)]
pub struct Links {
    pub run_id: Option<String>,
    /// The Actions run (its artifacts hold `report.html`).
    pub actions_run: Option<String>,
    /// The Grafana dashboard over the run's time range.
    pub grafana: Option<String>,
    /// The run's page in `k6gate serve` (its verdict and the comparison with its baseline,
    /// `<K6GATE_SERVE_URL>/runs/<run id>`), when the server's address is configured.
    pub serve: Option<String>,
    /// Where repo-relative paths start (`GITHUB_WORKSPACE`), for annotations on data files.
    pub workspace: Option<std::path::PathBuf>,
}
