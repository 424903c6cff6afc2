//! The live test execution dashboard (`k6gate-live`): k6's own remote-write series while the test
//! runs. Its panel ids are in [`super::live_panels`] and never change.

use serde_json::Value;

use super::dashboard::{Dashboard, annotations, dashboard, standard_vars};
use super::ids::{LIVE_UID, live_panels};
use super::panels::{Panel, green, grid, range, stage_colors, stat, thresholds, timeseries};

/// Every live query filters on all four variables.
const LIVE: &str =
    "test_name=~\"$test\", environment=~\"$environment\", deployment_version=~\"$version\", testid=~\"$run\"";

fn live_error_ratio(by: &str) -> String {
    let total = format!("sum{by} (rate(k6_http_reqs_total{{{LIVE}}}[$__rate_interval]))");
    format!(
        "(sum{by} (rate(k6_http_reqs_total{{{LIVE}, expected_response=\"false\"}}[$__rate_interval])) or {total} * 0) / {total}"
    )
}

fn live_quantile(q: &str, by: &str) -> String {
    format!("histogram_quantile({q}, sum{by} (rate(k6_http_req_duration_seconds{{{LIVE}}}[$__rate_interval])))")
}

pub(super) fn live_dashboard() -> Value {
    use live_panels as p;
    let by_stage = " by (test_stage)";
    let rate = format!("sum(rate(k6_http_reqs_total{{{LIVE}}}[$__rate_interval]))");
    let rate_by_stage = format!("sum{by_stage} (rate(k6_http_reqs_total{{{LIVE}}}[$__rate_interval]))");
    let vus = format!("sum(k6_vus{{{LIVE}}})");
    let ratio_thresholds = || thresholds(&[("green", None), ("orange", Some(0.005)), ("red", Some(0.01))]);
    let p95_thresholds = || thresholds(&[("green", None), ("orange", Some(0.5)), ("red", Some(1.0))]);
    let panels = vec![
        stat(
            Panel {
                id: p::REQUEST_RATE_NOW,
                title: "Requests/s",
                description: "HTTP requests per second, all stages.",
                grid: grid(0, 0, 6, 4),
                unit: "reqps",
                targets: vec![range("A", &rate, "requests/s")],
            },
            green(),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: p::P95_NOW,
                title: "P95 latency",
                description: "95th percentile of http_req_duration (native histogram), all stages.",
                grid: grid(6, 0, 6, 4),
                unit: "s",
                targets: vec![range("A", &live_quantile("0.95", ""), "p95")],
            },
            p95_thresholds(),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: p::ERROR_RATE_NOW,
                title: "Error rate",
                description: "Share of HTTP requests with an unexpected response (expected_response=\"false\").",
                grid: grid(12, 0, 6, 4),
                unit: "percentunit",
                targets: vec![range("A", &live_error_ratio(""), "errors")],
            },
            ratio_thresholds(),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: p::VUS_NOW,
                title: "Active VUs",
                description: "Virtual users k6 runs now.",
                grid: grid(18, 0, 6, 4),
                unit: "none",
                targets: vec![range("A", &vus, "VUs")],
            },
            green(),
            vec![],
            "auto",
        ),
        timeseries(
            Panel {
                id: p::REQUEST_RATE,
                title: "Request rate by stage",
                description: "HTTP requests per second, one series per k6gate stage (test_stage tag).",
                grid: grid(0, 4, 12, 8),
                unit: "reqps",
                targets: vec![range("A", &rate_by_stage, "{{test_stage}}")],
            },
            stage_colors(),
            false,
        ),
        timeseries(
            Panel {
                id: p::P95,
                title: "P95 latency by stage",
                description: "95th percentile of http_req_duration per stage, from k6's native histogram. \
                              The K6gateP95LatencyHigh alert fires above 1 s for 1 minute.",
                grid: grid(12, 4, 12, 8),
                unit: "s",
                targets: vec![range("A", &live_quantile("0.95", by_stage), "{{test_stage}}")],
            },
            stage_colors(),
            false,
        ),
        timeseries(
            Panel {
                id: p::ERROR_RATE,
                title: "Error rate by stage",
                description: "Share of HTTP requests with expected_response=\"false\", per stage. \
                              The K6gateErrorRateHigh alert fires above 1 %.",
                grid: grid(0, 12, 12, 8),
                unit: "percentunit",
                targets: vec![range("A", &live_error_ratio(by_stage), "{{test_stage}}")],
            },
            stage_colors(),
            false,
        ),
        timeseries(
            Panel {
                id: p::VUS,
                title: "Active VUs",
                description: "Virtual users. k6 writes k6_vus without per-VU tags, so it carries no test_stage; \
                              the stages show as regions of the request-rate panel.",
                grid: grid(12, 12, 12, 8),
                unit: "none",
                targets: vec![range("A", &vus, "VUs")],
            },
            vec![],
            false,
        ),
        timeseries(
            Panel {
                id: p::PERCENTILES,
                title: "Latency percentiles",
                description: "P50, P95 and P99 of http_req_duration, all stages.",
                grid: grid(0, 20, 12, 8),
                unit: "s",
                targets: vec![
                    range("A", &live_quantile("0.5", ""), "p50"),
                    range("B", &live_quantile("0.95", ""), "p95"),
                    range("C", &live_quantile("0.99", ""), "p99"),
                ],
            },
            vec![],
            false,
        ),
        timeseries(
            Panel {
                id: p::STATUS,
                title: "Requests by status",
                description: "HTTP requests per second by response status (0: no response).",
                grid: grid(12, 20, 12, 8),
                unit: "reqps",
                targets: vec![range(
                    "A",
                    &format!("sum by (status) (rate(k6_http_reqs_total{{{LIVE}}}[$__rate_interval]))"),
                    "{{status}}",
                )],
            },
            vec![],
            false,
        ),
        timeseries(
            Panel {
                id: p::P95_BY_REQUEST,
                title: "P95 latency by request",
                description: "95th percentile per request name (k6's name tag).",
                grid: grid(0, 28, 12, 8),
                unit: "s",
                targets: vec![range("A", &live_quantile("0.95", " by (name)"), "{{name}}")],
            },
            vec![],
            false,
        ),
        timeseries(
            Panel {
                id: p::ITERATIONS,
                title: "Iterations/s by scenario",
                description: "Completed iterations per second, per k6 scenario.",
                grid: grid(12, 28, 12, 8),
                unit: "ops",
                targets: vec![range(
                    "A",
                    &format!("sum by (scenario) (rate(k6_iterations_total{{{LIVE}}}[$__rate_interval]))"),
                    "{{scenario}}",
                )],
            },
            vec![],
            false,
        ),
    ];
    dashboard(Dashboard {
        uid: LIVE_UID,
        title: "k6gate / Live test execution",
        description: "A k6 test while it runs: k6's remote-write series (native histograms), split by k6gate stage.",
        refresh: "10s",
        annotations: annotations(vec![]),
        variables: standard_vars("k6_http_reqs_total", true, "Version"),
        panels,
    })
}
