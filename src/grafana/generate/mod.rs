//! Grafana and Prometheus/Mimir as code: `k6gate grafana generate` writes the provisioning
//! files (data sources, dashboard provider, alert rules), five dashboards and a Prometheus
//! rule group with its promtool tests. The output is checked in under `grafana/`, and a test
//! fails when it differs from what this module generates.
//!
//! Output is a pure function of [`GenerateOptions`]: sorted keys, fixed uids and panel ids,
//! no timestamps, so regenerating never produces a diff by itself. Panel ids are part of the
//! interface (`d-solo` embed URLs, alert rules attached to panels) and never change.
//!
//! Metrics read: k6's remote-write output with native histograms (`k6_http_req_duration_seconds`,
//! `k6_http_reqs_total`, `k6_vus`, `k6_iterations_total`; labels are k6 tags) and the
//! `k6gate_run_*` gauges k6gate publishes after each run.
//!
//! One file per seam: `ids` (the names other code depends on), `options`, the panel building
//! blocks (`panels`, `dashboard`), one file per dashboard, `provisioning`, `rule_files`, `readme`
//! and `serialize`. This file only lists the output.

mod components_dashboard;
mod dashboard;
mod deployments_dashboard;
mod embed_dashboard;
mod health_dashboard;
mod ids;
mod live_dashboard;
mod options;
mod panels;
mod provisioning;
mod readme;
mod rule_files;
mod serialize;

use std::io;
use std::path::{Path, PathBuf};

pub use ids::{
    ANNOTATION_TAG, BASELINE_ANNOTATION_TAG, CANARY_ANNOTATION_TAG, CHANGE_POINT_ANNOTATION_TAG, DEPLOYMENTS_UID,
    EMBED_UID, FOLDER, LIVE_UID, PROMETHEUS_UID, RUN_ANNOTATION_TAG, TEMPO_UID, deployments_panels, embed_panels,
    live_panels,
};
pub use ids::{COMPONENTS_UID, components_panels};
pub use ids::{GUARD_ANNOTATION_TAG, HEALTH_UID, health_panels};
pub use options::{GenerateOptions, MetricsBackend};

use serialize::{to_json, to_yaml};

/// Every generated file: path relative to the output directory, and content. Sorted by path.
pub fn generate(opts: &GenerateOptions) -> Vec<(PathBuf, String)> {
    let mut files = vec![
        ("README.md", readme::readme()),
        ("dashboards/k6gate-live.json", to_json(&live_dashboard::live_dashboard())),
        ("dashboards/k6gate-components.json", to_json(&components_dashboard::components_dashboard())),
        ("dashboards/k6gate-deployments.json", to_json(&deployments_dashboard::deployments_dashboard())),
        ("dashboards/k6gate-embed.json", to_json(&embed_dashboard::embed_dashboard())),
        ("dashboards/k6gate-load-test-health.json", to_json(&health_dashboard::health_dashboard())),
        ("provisioning/datasources/k6gate.yaml", to_yaml(&provisioning::datasources(opts), &[])),
        ("provisioning/dashboards/k6gate.yaml", to_yaml(&provisioning::dashboard_provider(opts), &[])),
    ];
    files.extend(rule_files::rule_files());
    files.sort_by(|a, b| a.0.cmp(b.0));
    files.into_iter().map(|(p, c)| (PathBuf::from(p), c)).collect()
}

/// Writes `files` under `out`, creating directories. Files not in `files` are left alone.
pub fn write(out: &Path, files: &[(PathBuf, String)]) -> io::Result<()> {
    for (rel, content) in files {
        let path = out.join(rel);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(&path, content)?;
    }
    Ok(())
}
