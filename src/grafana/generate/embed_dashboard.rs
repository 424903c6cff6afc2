//! The embed dashboard (`k6gate-embed`): a few compact panels with fixed ids for a deployment
//! dashboard (`d-solo` URLs, see `grafana::embed`). Its panel ids are in [`super::embed_panels`]
//! and never change.

use serde_json::Value;

use super::dashboard::{Dashboard, annotations, dashboard, stage_var, standard_vars};
use super::ids::{EMBED_UID, embed_panels};
use super::panels::{
    Panel, green, grid, instant, range, stage_colors, stat, thresholds, timeseries, verdict_mappings, worst_verdict,
};

const EMBED: &str =
    "test_name=~\"$test\", environment=~\"$environment\", deployment_version=~\"$version\", testid=~\"$run\"";

pub(super) fn embed_dashboard() -> Value {
    use embed_panels as p;
    let worst = |agg: &str, metric: &str| {
        format!("{agg}(last_over_time({metric}{{{EMBED}, test_stage=\"$stage\", group=\"all\"}}[$__range]))")
    };
    let panels = vec![
        stat(
            Panel {
                id: p::VERDICT,
                title: "k6gate verdict",
                description: "Worst k6gate verdict of the selected runs in the time range.",
                grid: grid(0, 0, 6, 4),
                unit: "none",
                targets: vec![instant("A", &worst_verdict(EMBED), "verdict")],
            },
            green(),
            verdict_mappings(),
            "value",
        ),
        stat(
            Panel {
                id: p::P95,
                title: "P95 latency",
                description: "P95 of the selected runs (stage $stage); the highest if several.",
                grid: grid(6, 0, 6, 4),
                unit: "s",
                targets: vec![instant("A", &worst("max", "k6gate_run_latency_p95_seconds"), "p95")],
            },
            thresholds(&[("green", None), ("orange", Some(0.5)), ("red", Some(1.0))]),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: p::ERROR_RATIO,
                title: "Error ratio",
                description: "Error ratio of the selected runs (stage $stage); the highest if several.",
                grid: grid(12, 0, 6, 4),
                unit: "percentunit",
                targets: vec![instant("A", &worst("max", "k6gate_run_error_ratio"), "errors")],
            },
            thresholds(&[("green", None), ("orange", Some(0.005)), ("red", Some(0.01))]),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: p::REQUEST_RATE,
                title: "Requests/s",
                description: "Request rate of the selected runs (stage $stage); the lowest if several.",
                grid: grid(18, 0, 6, 4),
                unit: "reqps",
                targets: vec![instant("A", &worst("min", "k6gate_run_requests_per_second"), "requests/s")],
            },
            green(),
            vec![],
            "auto",
        ),
        timeseries(
            Panel {
                id: p::P95_BY_VERSION,
                title: "P95 by version",
                description: "Each run's P95 (stage $stage) for every version of the test, to see the selected one in \
                              context.",
                grid: grid(0, 4, 12, 8),
                unit: "s",
                targets: vec![range(
                    "A",
                    "max by (deployment_version) (k6gate_run_latency_p95_seconds{test_name=~\"$test\", \
                     environment=~\"$environment\", test_stage=\"$stage\", group=\"all\"})",
                    "{{deployment_version}}",
                )],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: p::LIVE_P95,
                title: "P95 latency by stage (live)",
                description: "k6's own series while the selected runs execute.",
                grid: grid(12, 4, 12, 8),
                unit: "s",
                targets: vec![range(
                    "A",
                    &format!(
                        "histogram_quantile(0.95, sum by (test_stage) (rate(k6_http_req_duration_seconds{{{EMBED}}}[$__rate_interval])))"
                    ),
                    "{{test_stage}}",
                )],
            },
            stage_colors(),
            false,
        ),
    ];
    let mut variables = standard_vars("k6gate_run_info", true, "Version");
    variables.push(stage_var());
    dashboard(Dashboard {
        uid: EMBED_UID,
        title: "k6gate / Embed",
        description: "Compact k6gate panels to embed in a deployment dashboard: \
                      /d-solo/k6gate-embed/k6gate-embed?orgId=1&panelId=<id>&var-version=<version>&var-run=<run id>. \
                      Panel ids are stable: 1 verdict, 2 P95, 3 error ratio, 4 requests/s, 5 P95 by version, 6 live P95.",
        refresh: "",
        annotations: annotations(vec![]),
        variables,
        panels,
    })
}
