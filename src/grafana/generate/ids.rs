//! The names other code and Grafana URLs depend on: data source and dashboard uids, the folder,
//! annotation tags and panel ids. They are part of k6gate's interface (`d-solo` embed URLs,
//! alert rules attached to panels, annotations found by tag) and must never change.

/// Data source uid of Prometheus or Mimir; dashboards and alert rules query it.
pub const PROMETHEUS_UID: &str = "k6gate-prometheus";
/// Data source uid of Tempo.
pub const TEMPO_UID: &str = "k6gate-tempo";
/// Folder (title and uid) of the dashboards and the alert rules.
pub const FOLDER: &str = "k6gate";
/// Dashboard uids.
pub const LIVE_UID: &str = "k6gate-live";
pub const DEPLOYMENTS_UID: &str = "k6gate-deployments";
pub const EMBED_UID: &str = "k6gate-embed";
/// Tags of k6gate's Grafana annotations: every one carries [`ANNOTATION_TAG`] and one of
/// [`RUN_ANNOTATION_TAG`], [`BASELINE_ANNOTATION_TAG`], [`CHANGE_POINT_ANNOTATION_TAG`] or
/// [`CANARY_ANNOTATION_TAG`].
/// The dashboards show them by tag.
pub const ANNOTATION_TAG: &str = "k6gate";
pub const RUN_ANNOTATION_TAG: &str = "run";
pub const BASELINE_ANNOTATION_TAG: &str = "baseline";
/// Otava's tag for change points (with `test:` and `metric:`), so its dashboards read ours.
pub const CHANGE_POINT_ANNOTATION_TAG: &str = "change-point";
/// A canary analysis's start (a point) and its decision (a region from the start).
pub const CANARY_ANNOTATION_TAG: &str = "canary";

/// Panel ids of the live dashboard (`k6gate-live`).
pub mod live_panels {
    pub const REQUEST_RATE_NOW: u32 = 1;
    pub const P95_NOW: u32 = 2;
    pub const ERROR_RATE_NOW: u32 = 3;
    pub const VUS_NOW: u32 = 4;
    pub const REQUEST_RATE: u32 = 5;
    pub const P95: u32 = 6;
    pub const ERROR_RATE: u32 = 7;
    pub const VUS: u32 = 8;
    pub const PERCENTILES: u32 = 9;
    pub const STATUS: u32 = 10;
    pub const P95_BY_REQUEST: u32 = 11;
    pub const ITERATIONS: u32 = 12;
}

/// Panel ids of the embed dashboard (`k6gate-embed`), for
/// `/d-solo/k6gate-embed/k6gate-embed?orgId=1&panelId=<id>&var-run=<run id>&from=..&to=..`.
pub mod embed_panels {
    /// The worst verdict of the selected runs (1 pass, 2 none, 3 warn, 4 fail).
    pub const VERDICT: u32 = 1;
    pub const P95: u32 = 2;
    pub const ERROR_RATIO: u32 = 3;
    pub const REQUEST_RATE: u32 = 4;
    pub const P95_BY_VERSION: u32 = 5;
    pub const LIVE_P95: u32 = 6;
}

/// Panel ids of the results-over-deployments dashboard (`k6gate-deployments`) that other code
/// depends on (alert rules attached to them).
pub mod deployments_panels {
    /// The storage trend: `k6gate_storage_bytes` by tier, with the 30-day growth and budget.
    pub const STORAGE: u32 = 15;
}

/// The load-test health dashboard.
pub const HEALTH_UID: &str = "k6gate-load-test-health";
/// The guard's annotations (read-only switches and restores, actions on k6, teardown).
pub const GUARD_ANNOTATION_TAG: &str = "guard";

/// Panel ids of the load-test health dashboard (`k6gate-load-test-health`).
pub mod health_panels {
    pub const K6_LOAD: u32 = 1;
    pub const K6_LATENCY_ERRORS: u32 = 2;
    pub const PROMETHEUS_QUERIES: u32 = 3;
    pub const RULE_EVALUATION: u32 = 4;
    pub const NOTIFICATIONS: u32 = 5;
    pub const NOTIFICATION_LATENCY: u32 = 6;
    pub const PROXY_REQUESTS: u32 = 7;
    pub const PROXY_UPSTREAM: u32 = 8;
}

/// The component dashboard (span metrics over deployments).
pub const COMPONENTS_UID: &str = "k6gate-components";

/// Panel ids of the component dashboard (`k6gate-components`).
pub mod components_panels {
    pub const P95: u32 = 1;
    pub const P99: u32 = 2;
    pub const HEATMAP: u32 = 3;
}
