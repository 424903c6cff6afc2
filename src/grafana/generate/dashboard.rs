//! What every k6gate dashboard shares: the frame (uid, time, links), the template variables and the
//! annotation queries for k6gate's run and baseline annotations. Holds no panel.

use serde_json::{Value, json};

use super::ids::{
    ANNOTATION_TAG, BASELINE_ANNOTATION_TAG, CANARY_ANNOTATION_TAG, CHANGE_POINT_ANNOTATION_TAG, RUN_ANNOTATION_TAG,
};
use super::panels::{grafana_ds, prometheus};
use super::serialize::set;

/// A `label_values` variable. `multi` variables default to All, which matches any value
/// (also a missing label).
pub(super) fn query_var(name: &str, label: &str, metric: &str, filter: &str, label_name: &str, multi: bool) -> Value {
    let selector = if filter.is_empty() { metric.to_owned() } else { format!("{metric}{{{filter}}}") };
    let query = format!("label_values({selector}, {label_name})");
    let mut v = json!({
        "type": "query",
        "name": name,
        "label": label,
        "datasource": prometheus(),
        "definition": query,
        "query": { "query": query, "refId": "PrometheusVariableQueryEditor-VariableQuery" },
        "refresh": 2,
        "regex": "",
        "hide": 0,
        "skipUrlSync": false,
        "options": [],
        // Descending: run ids start with their date, so the newest comes first.
        "sort": 2,
        "multi": multi,
        "includeAll": multi,
        "current": {},
    });
    if multi {
        set(&mut v, &["allValue"], json!(".*"));
        set(&mut v, &["current"], json!({ "selected": true, "text": ["All"], "value": ["$__all"] }));
    }
    v
}

/// `test`, `environment`, `version`, `run`, each narrowed by the ones before.
pub(super) fn standard_vars(metric: &str, version_multi: bool, version_label: &str) -> Vec<Value> {
    vec![
        query_var("test", "Test", metric, "", "test_name", true),
        query_var("environment", "Environment", metric, "test_name=~\"$test\"", "environment", true),
        query_var(
            "version",
            version_label,
            metric,
            "test_name=~\"$test\", environment=~\"$environment\"",
            "deployment_version",
            version_multi,
        ),
        query_var(
            "run",
            "Run",
            metric,
            if version_multi {
                "test_name=~\"$test\", environment=~\"$environment\", deployment_version=~\"$version\""
            } else {
                "test_name=~\"$test\", environment=~\"$environment\""
            },
            "testid",
            true,
        ),
    ]
}

/// The stage whose results a k6gate_run_* panel shows.
pub(super) fn stage_var() -> Value {
    let stages = ["whole-run", "steady-state", "sustained", "ramp-up", "ramp-down"];
    let options: Vec<Value> =
        stages.iter().map(|s| json!({ "selected": *s == "whole-run", "text": s, "value": s })).collect();
    json!({
        "type": "custom",
        "name": "stage",
        "label": "Stage",
        "query": stages.join(","),
        "current": { "selected": true, "text": "whole-run", "value": "whole-run" },
        "options": options,
        "hide": 0,
        "multi": false,
        "includeAll": false,
        "skipUrlSync": false,
    })
}

pub(super) fn annotations(extra: Vec<Value>) -> Value {
    let mut list = vec![
        json!({
            "builtIn": 1,
            "datasource": grafana_ds(),
            "enable": true,
            "hide": true,
            "iconColor": "rgba(0, 211, 255, 1)",
            "name": "Annotations & Alerts",
            "type": "dashboard",
        }),
        json!({
            "datasource": grafana_ds(),
            "enable": true,
            "iconColor": "blue",
            "name": "k6gate runs",
            "target": { "limit": 100, "matchAny": false, "tags": [ANNOTATION_TAG, RUN_ANNOTATION_TAG], "type": "tags" },
        }),
        json!({
            "datasource": grafana_ds(),
            "enable": true,
            "iconColor": "yellow",
            "name": "k6gate baselines",
            "target": {
                "limit": 100,
                "matchAny": false,
                "tags": [ANNOTATION_TAG, BASELINE_ANNOTATION_TAG],
                "type": "tags",
            },
        }),
        // What `k6gate history changepoints` and `k6gate nightly` post.
        json!({
            "datasource": grafana_ds(),
            "enable": true,
            "iconColor": "purple",
            "name": "k6gate change points",
            "target": {
                "limit": 100,
                "matchAny": false,
                "tags": [ANNOTATION_TAG, CHANGE_POINT_ANNOTATION_TAG],
                "type": "tags",
            },
        }),
        // What `k6gate canary` and `k6gate canary serve` post: each analysis's start and decision.
        json!({
            "datasource": grafana_ds(),
            "enable": true,
            "iconColor": "orange",
            "name": "k6gate canaries",
            "target": {
                "limit": 100,
                "matchAny": false,
                "tags": [ANNOTATION_TAG, CANARY_ANNOTATION_TAG],
                "type": "tags",
            },
        }),
    ];
    list.extend(extra);
    json!({ "list": list })
}

pub(super) struct Dashboard<'a> {
    pub(super) uid: &'a str,
    pub(super) title: &'a str,
    pub(super) description: &'a str,
    pub(super) refresh: &'a str,
    pub(super) annotations: Value,
    pub(super) variables: Vec<Value>,
    pub(super) panels: Vec<Value>,
}

pub(super) fn dashboard(d: Dashboard) -> Value {
    json!({
        "uid": d.uid,
        "title": d.title,
        "description": d.description,
        "id": null,
        "version": 1,
        "schemaVersion": 39,
        "editable": true,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,
        "liveNow": false,
        "refresh": d.refresh,
        "tags": ["k6", "k6gate"],
        "time": { "from": "now-1h", "to": "now" },
        "timepicker": {},
        "timezone": "",
        "weekStart": "",
        "annotations": d.annotations,
        "links": [{
            "type": "dashboards",
            "title": "k6gate",
            "tags": ["k6gate"],
            "asDropdown": true,
            "includeVars": true,
            "keepTime": true,
            "targetBlank": false,
            "icon": "external link",
            "tooltip": "",
            "url": "",
        }],
        "templating": { "list": d.variables },
        "panels": d.panels,
    })
}
