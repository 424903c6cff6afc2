//! The load-test health dashboard (`k6gate-load-test-health`): k6's load beside the health of
//! the stack watching it (Prometheus query latency, rule evaluation, Alertmanager
//! notifications, the query proxy's `k6gate_proxy_*` metrics), with the guard's actions as
//! annotations (tags `k6gate`, `guard`). Its panel ids are in [`super::health_panels`].

use serde_json::{Value, json};

use super::dashboard::{Dashboard, annotations, dashboard, standard_vars};
use super::ids::{ANNOTATION_TAG, GUARD_ANNOTATION_TAG, HEALTH_UID, health_panels};
use super::panels::{Panel, grafana_ds, grid, range, timeseries};

/// k6's series filter on the dashboard's variables, as the live dashboard's do.
const K6: &str =
    "test_name=~\"$test\", environment=~\"$environment\", deployment_version=~\"$version\", testid=~\"$run\"";

fn panel(
    id: u32,
    title: &'static str,
    description: &'static str,
    at: (u32, u32),
    unit: &'static str,
    targets: Vec<Value>,
) -> Value {
    let p = Panel { id, title, description, grid: grid(at.0, at.1, 12, 8), unit, targets };
    timeseries(p, vec![], false)
}

pub(super) fn health_dashboard() -> Value {
    use health_panels as p;
    let rate = format!("sum(rate(k6_http_reqs_total{{{K6}}}[$__rate_interval]))");
    let errors = format!("sum(rate(k6_http_reqs_total{{{K6}, expected_response=\"false\"}}[$__rate_interval]))");
    let p95 = format!("histogram_quantile(0.95, sum(rate(k6_http_req_duration_seconds{{{K6}}}[$__rate_interval])))");
    let vus = format!("sum(k6_vus{{{K6}}})");
    let panels = vec![
        panel(
            p::K6_LOAD,
            "k6: requests/s and VUs",
            "The load k6 applies: requests per second and active VUs.",
            (0, 0),
            "short",
            vec![range("A", &rate, "requests/s"), range("B", &vus, "VUs")],
        ),
        panel(
            p::K6_LATENCY_ERRORS,
            "k6: P95 latency and errors/s",
            "What the load does to the target as k6 sees it: P95 of http_req_duration (s) and failed requests per second.",
            (12, 0),
            "short",
            vec![range("A", &p95, "p95 (s)"), range("B", &errors, "errors/s")],
        ),
        panel(
            p::PROMETHEUS_QUERIES,
            "Prometheus: query latency",
            "The load-test Prometheus's own query latency (99th percentile per phase of the query engine). \
             Above the preflight's query SLA, dashboards and the guard read late.",
            (0, 8),
            "s",
            vec![range(
                "A",
                "max by (slice) (prometheus_engine_query_duration_seconds{quantile=\"0.99\"})",
                "{{slice}}",
            )],
        ),
        panel(
            p::RULE_EVALUATION,
            "Prometheus: rule evaluation",
            "The slowest rule group's last evaluation (s) and failed rule evaluations per second: alerts depend on both.",
            (12, 8),
            "short",
            vec![
                range("A", "max(prometheus_rule_group_last_duration_seconds)", "slowest group (s)"),
                range("B", "sum(rate(prometheus_rule_evaluation_failures_total[$__rate_interval]))", "failures/s"),
            ],
        ),
        panel(
            p::NOTIFICATIONS,
            "Alertmanager: notifications",
            "Notifications sent and failed per second by integration, across both Alertmanagers.",
            (0, 16),
            "short",
            vec![
                range(
                    "A",
                    "sum by (integration) (rate(alertmanager_notifications_total[$__rate_interval]))",
                    "sent {{integration}}",
                ),
                range(
                    "B",
                    "sum by (integration) (rate(alertmanager_notifications_failed_total[$__rate_interval]))",
                    "failed {{integration}}",
                ),
            ],
        ),
        panel(
            p::NOTIFICATION_LATENCY,
            "Alertmanager: notification latency",
            "99th percentile of the time to deliver a notification, by integration.",
            (12, 16),
            "s",
            vec![range(
                "A",
                "histogram_quantile(0.99, sum by (le, integration) (rate(alertmanager_notification_latency_seconds_bucket[$__rate_interval])))",
                "{{integration}}",
            )],
        ),
        panel(
            p::PROXY_REQUESTS,
            "Query proxy: answers",
            "Requests to `k6gate stack proxy` per second by how they were answered (fresh, cached, coalesced, stale).",
            (0, 24),
            "reqps",
            vec![range("A", "sum by (served) (rate(k6gate_proxy_requests_total[$__rate_interval]))", "{{served}}")],
        ),
        panel(
            p::PROXY_UPSTREAM,
            "Query proxy: upstream and breaker",
            "P95 of the proxy's upstream query time (s) and its circuit breaker's state (1 for the current state).",
            (12, 24),
            "short",
            vec![
                range(
                    "A",
                    "histogram_quantile(0.95, sum by (le) (rate(k6gate_proxy_upstream_duration_seconds_bucket[$__rate_interval])))",
                    "upstream p95 (s)",
                ),
                range("B", "max by (state) (k6gate_proxy_breaker_state)", "breaker {{state}}"),
            ],
        ),
    ];
    // What the guard posts: read-only switches and restores, its actions on k6, teardown.
    let guard = json!({
        "datasource": grafana_ds(),
        "enable": true,
        "iconColor": "red",
        "name": "k6gate guard",
        "target": { "limit": 100, "matchAny": false, "tags": [ANNOTATION_TAG, GUARD_ANNOTATION_TAG], "type": "tags" },
    });
    dashboard(Dashboard {
        uid: HEALTH_UID,
        title: "k6gate / Load test health",
        description: "A load test beside the health of the stack watching it, with the guard's actions as annotations.",
        refresh: "10s",
        annotations: annotations(vec![guard]),
        variables: standard_vars("k6_http_reqs_total", true, "Version"),
        panels,
    })
}
