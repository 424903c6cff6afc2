//! Grafana and Prometheus/Mimir as code: `k6gate grafana generate` writes the provisioning
//! files (data sources, dashboard provider, alert rules), three dashboards and a Prometheus
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

use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::rules;

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
/// [`RUN_ANNOTATION_TAG`] or [`BASELINE_ANNOTATION_TAG`]. The dashboards show them by tag.
pub const ANNOTATION_TAG: &str = "k6gate";
pub const RUN_ANNOTATION_TAG: &str = "run";
pub const BASELINE_ANNOTATION_TAG: &str = "baseline";

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

/// Where metrics are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricsBackend {
    #[default]
    Prometheus,
    Mimir,
}

/// What the generated files point at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenerateOptions {
    pub backend: MetricsBackend,
    /// Query URL of Prometheus or Mimir; `None` for the backend's default
    /// (`http://prometheus:9090`, `http://mimir:8080/prometheus`).
    pub metrics_url: Option<String>,
    /// Mimir tenant (`X-Scope-OrgID`); Mimir only.
    pub mimir_tenant: String,
    /// Tempo URL; `None` provisions no Tempo data source.
    pub tempo_url: Option<String>,
    /// Where Grafana finds the dashboards (the `dashboards/` output directory, mounted).
    pub dashboards_path: String,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            backend: MetricsBackend::Prometheus,
            metrics_url: None,
            mimir_tenant: "k6gate".to_owned(),
            tempo_url: Some("http://tempo:3200".to_owned()),
            dashboards_path: "/var/lib/grafana/dashboards/k6gate".to_owned(),
        }
    }
}

impl GenerateOptions {
    fn metrics_url(&self) -> &str {
        match (&self.metrics_url, self.backend) {
            (Some(url), _) => url,
            (None, MetricsBackend::Prometheus) => "http://prometheus:9090",
            (None, MetricsBackend::Mimir) => "http://mimir:8080/prometheus",
        }
    }
}

/// Every generated file: path relative to the output directory, and content. Sorted by path.
pub fn generate(opts: &GenerateOptions) -> Vec<(PathBuf, String)> {
    let mut files = vec![
        ("README.md", readme()),
        ("dashboards/k6gate-live.json", to_json(&live_dashboard())),
        ("dashboards/k6gate-deployments.json", to_json(&deployments_dashboard())),
        ("dashboards/k6gate-embed.json", to_json(&embed_dashboard())),
        ("provisioning/datasources/k6gate.yaml", to_yaml(&datasources(opts), &[])),
        ("provisioning/dashboards/k6gate.yaml", to_yaml(&dashboard_provider(opts), &[])),
        (
            "provisioning/alerting/k6gate-alerts.yaml",
            to_yaml(
                &rules::grafana_alert_provisioning(PROMETHEUS_UID, FOLDER, LIVE_UID),
                &["Same alerts as prometheus/k6gate-rules.yml (both from src/grafana/rules.rs); load one, not both."],
            ),
        ),
        (
            "prometheus/k6gate-rules.yml",
            to_yaml(
                &rules::prometheus_rule_file(),
                &["Load into Prometheus (rule_files) or into the Mimir ruler as one group (e.g. namespace k6gate)."],
            ),
        ),
        (
            "prometheus/k6gate-rules.test.yml",
            to_yaml(
                &rules::promtool_tests("k6gate-rules.yml"),
                &[
                    "promtool test rules prometheus/k6gate-rules.test.yml",
                    "",
                    "k6 writes http_req_duration as a native histogram, which promtool 2.42 cannot write in",
                    "input_series ({{schema:..}} is a parse error there). So the P95 alert reads the recorded",
                    "k6gate:http_req_duration_seconds:p95_by_test and its tests feed that series directly; the",
                    "P95 recording rule is checked by promtool check rules only. The error-ratio and no-data",
                    "tests start from raw k6 series and so cover their recording rules, and check that the",
                    "Grafana query (recording rules inlined) gives the same value.",
                ],
            ),
        ),
    ];
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

// ---------------------------------------------------------------------------------------------
// Serialisation: keys sorted whatever serde_json's map type, one trailing newline.

fn sorted(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                if let Some(x) = m.get(k) {
                    out.insert(k.clone(), sorted(x));
                }
            }
            Value::Object(out)
        }
        Value::Array(a) => Value::Array(a.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

fn to_json(v: &Value) -> String {
    match serde_json::to_string_pretty(&sorted(v)) {
        Ok(s) => s + "\n",
        // A Value with string keys always serialises; keep the failure visible in the file.
        Err(e) => format!("serialisation failed: {e}\n"),
    }
}

const GENERATED: &str = "# Generated by `k6gate grafana generate` from src/grafana; do not edit.\n";

fn to_yaml(v: &Value, comment: &[&str]) -> String {
    let mut out = GENERATED.to_owned();
    for line in comment {
        out.push_str(&format!("#{}{line}\n", if line.is_empty() { "" } else { " " }));
    }
    match yaml_serde::to_string(&sorted(v)) {
        Ok(s) => out + &s,
        Err(e) => out + &format!("# serialisation failed: {e}\n"),
    }
}

/// Sets the value at `path` (object keys) in a value built here; a missing last key is added.
fn set(v: &mut Value, path: &[&str], x: Value) {
    match path {
        [] => *v = x,
        [key, rest @ ..] => {
            if let Some(m) = v.as_object_mut() {
                set(m.entry((*key).to_owned()).or_insert(Value::Null), rest, x);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Provisioning.

fn datasources(opts: &GenerateOptions) -> Value {
    let mut metrics = json!({
        "uid": PROMETHEUS_UID,
        "type": "prometheus",
        "access": "proxy",
        "url": opts.metrics_url(),
        "editable": false,
        "isDefault": false,
        "jsonData": {
            "httpMethod": "POST",
            // k6 pushes every 5 s; lets $__rate_interval follow a live test closely.
            "timeInterval": "5s",
        },
    });
    match opts.backend {
        MetricsBackend::Prometheus => {
            set(&mut metrics, &["name"], json!("k6gate Prometheus"));
            set(&mut metrics, &["jsonData", "prometheusType"], json!("Prometheus"));
        }
        MetricsBackend::Mimir => {
            set(&mut metrics, &["name"], json!("k6gate Mimir"));
            set(&mut metrics, &["jsonData", "prometheusType"], json!("Mimir"));
            set(&mut metrics, &["jsonData", "httpHeaderName1"], json!("X-Scope-OrgID"));
            set(&mut metrics, &["secureJsonData"], json!({ "httpHeaderValue1": opts.mimir_tenant }));
        }
    }
    let mut list = vec![metrics];
    if let Some(url) = &opts.tempo_url {
        list.push(json!({
            "name": "k6gate Tempo",
            "uid": TEMPO_UID,
            "type": "tempo",
            "access": "proxy",
            "url": url,
            "editable": false,
            "isDefault": false,
            "jsonData": {
                "nodeGraph": { "enabled": true },
                "serviceMap": { "datasourceUid": PROMETHEUS_UID },
                "tracesToMetrics": {
                    "datasourceUid": PROMETHEUS_UID,
                    "spanStartTimeShift": "-1h",
                    "spanEndTimeShift": "1h",
                    "tags": [{ "key": "service.name", "value": "service" }],
                    // `$$` because Grafana expands environment variables in provisioning files.
                    "queries": [
                        {
                            "name": "Request rate",
                            "query": "sum(rate(traces_spanmetrics_calls_total{$$__tags}[5m]))",
                        },
                        {
                            "name": "P95 latency",
                            "query": "histogram_quantile(0.95, sum by (le) (rate(traces_spanmetrics_latency_bucket{$$__tags}[5m])))",
                        },
                    ],
                },
            },
        }));
    }
    json!({ "apiVersion": 1, "datasources": list })
}

fn dashboard_provider(opts: &GenerateOptions) -> Value {
    json!({
        "apiVersion": 1,
        "providers": [{
            "name": "k6gate",
            "orgId": 1,
            "folder": FOLDER,
            "folderUid": FOLDER,
            "type": "file",
            "disableDeletion": false,
            "allowUiUpdates": false,
            "updateIntervalSeconds": 30,
            "options": { "path": opts.dashboards_path, "foldersFromFilesStructure": false },
        }],
    })
}

// ---------------------------------------------------------------------------------------------
// Dashboard building blocks.

fn prometheus() -> Value {
    json!({ "type": "prometheus", "uid": PROMETHEUS_UID })
}

fn grafana_ds() -> Value {
    json!({ "type": "grafana", "uid": "-- Grafana --" })
}

fn grid(x: u32, y: u32, w: u32, h: u32) -> Value {
    json!({ "x": x, "y": y, "w": w, "h": h })
}

/// A range query.
fn range(ref_id: &str, expr: &str, legend: &str) -> Value {
    json!({
        "datasource": prometheus(),
        "editorMode": "code",
        "expr": expr,
        "instant": false,
        "legendFormat": legend,
        "range": true,
        "refId": ref_id,
    })
}

/// An instant query (stat panels and tables over the whole time range).
fn instant(ref_id: &str, expr: &str, legend: &str) -> Value {
    json!({
        "datasource": prometheus(),
        "editorMode": "code",
        "expr": expr,
        "format": "time_series",
        "instant": true,
        "legendFormat": legend,
        "range": false,
        "refId": ref_id,
    })
}

fn thresholds(steps: &[(&str, Option<f64>)]) -> Value {
    let steps: Vec<Value> = steps.iter().map(|(c, v)| json!({ "color": c, "value": v })).collect();
    json!({ "mode": "absolute", "steps": steps })
}

fn green() -> Value {
    thresholds(&[("green", None)])
}

struct Panel<'a> {
    id: u32,
    title: &'a str,
    description: &'a str,
    grid: Value,
    unit: &'a str,
    targets: Vec<Value>,
}

fn timeseries(p: Panel, overrides: Vec<Value>, sparse: bool) -> Value {
    json!({
        "id": p.id,
        "type": "timeseries",
        "title": p.title,
        "description": p.description,
        "datasource": prometheus(),
        "gridPos": p.grid,
        "fieldConfig": {
            "defaults": {
                "color": { "mode": "palette-classic" },
                "custom": {
                    "drawStyle": "line",
                    "fillOpacity": 10,
                    "lineWidth": 1,
                    // k6gate_run_* have one sample per run: draw the points, join the runs.
                    "showPoints": if sparse { "always" } else { "auto" },
                    "pointSize": 5,
                    "spanNulls": sparse,
                },
                "min": 0,
                "thresholds": green(),
                "unit": p.unit,
            },
            "overrides": overrides,
        },
        "options": {
            "legend": { "calcs": [], "displayMode": "list", "placement": "bottom", "showLegend": true },
            "tooltip": { "mode": "multi", "sort": "desc" },
        },
        "targets": p.targets,
    })
}

fn stat(p: Panel, thresholds: Value, mappings: Vec<Value>, text_mode: &str) -> Value {
    json!({
        "id": p.id,
        "type": "stat",
        "title": p.title,
        "description": p.description,
        "datasource": prometheus(),
        "gridPos": p.grid,
        "fieldConfig": {
            "defaults": { "color": { "mode": "thresholds" }, "mappings": mappings, "thresholds": thresholds, "unit": p.unit },
            "overrides": [],
        },
        "options": {
            "colorMode": "value",
            "graphMode": "none",
            "justifyMode": "auto",
            "orientation": "auto",
            "reduceOptions": { "calcs": ["lastNotNull"], "fields": "", "values": false },
            "textMode": text_mode,
        },
        "targets": p.targets,
    })
}

/// A table of instant queries merged on their labels, `columns` naming each query's value.
fn table(p: Panel, columns: &[(&str, &str, &str)], hidden: &[&str], sort_by: &str) -> Value {
    let mut rename = Map::new();
    let mut overrides = Vec::new();
    for (ref_id, name, unit) in columns {
        rename.insert(format!("Value #{ref_id}"), json!(name));
        overrides.push(json!({
            "matcher": { "id": "byName", "options": name },
            "properties": [{ "id": "unit", "value": unit }],
        }));
    }
    let targets: Vec<Value> = p
        .targets
        .into_iter()
        .map(|mut t| {
            set(&mut t, &["format"], json!("table"));
            t
        })
        .collect();
    let mut exclude = Map::new();
    exclude.insert("Time".to_owned(), json!(true));
    for h in hidden {
        exclude.insert((*h).to_owned(), json!(true));
    }
    json!({
        "id": p.id,
        "type": "table",
        "title": p.title,
        "description": p.description,
        "datasource": prometheus(),
        "gridPos": p.grid,
        "fieldConfig": {
            "defaults": { "custom": { "align": "auto", "cellOptions": { "type": "auto" } }, "thresholds": green() },
            "overrides": overrides,
        },
        "options": {
            "cellHeight": "sm",
            "showHeader": true,
            "sortBy": [{ "desc": true, "displayName": sort_by }],
        },
        "targets": targets,
        "transformations": [
            { "id": "merge", "options": {} },
            { "id": "organize", "options": { "excludeByName": exclude, "renameByName": rename } },
        ],
    })
}

fn row(id: u32, title: &str, y: u32) -> Value {
    json!({ "id": id, "type": "row", "title": title, "collapsed": false, "gridPos": grid(0, y, 24, 1), "panels": [] })
}

fn color_by_name(name: &str, color: &str) -> Value {
    json!({
        "matcher": { "id": "byName", "options": name },
        "properties": [{ "id": "color", "value": { "fixedColor": color, "mode": "fixed" } }],
    })
}

/// One colour per k6gate stage, the same on every panel.
fn stage_colors() -> Vec<Value> {
    [("ramp-up", "blue"), ("sustained", "green"), ("steady-state", "dark-green"), ("ramp-down", "purple")]
        .into_iter()
        .map(|(s, c)| color_by_name(s, c))
        .collect()
}

/// A `label_values` variable. `multi` variables default to All, which matches any value
/// (also a missing label).
fn query_var(name: &str, label: &str, metric: &str, filter: &str, label_name: &str, multi: bool) -> Value {
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
fn standard_vars(metric: &str, version_multi: bool, version_label: &str) -> Vec<Value> {
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
fn stage_var() -> Value {
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

fn annotations(extra: Vec<Value>) -> Value {
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
    ];
    list.extend(extra);
    json!({ "list": list })
}

struct Dashboard<'a> {
    uid: &'a str,
    title: &'a str,
    description: &'a str,
    refresh: &'a str,
    annotations: Value,
    variables: Vec<Value>,
    panels: Vec<Value>,
}

fn dashboard(d: Dashboard) -> Value {
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

// ---------------------------------------------------------------------------------------------
// (1) Live test execution: k6's own remote-write series while the test runs.

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

fn live_dashboard() -> Value {
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

// ---------------------------------------------------------------------------------------------
// (2) Results over deployments: the k6gate_run_* gauges published after each run.

/// Runs of the selected test and environment; versions are not filtered (they are compared).
const RUNS: &str = "test_name=~\"$test\", environment=~\"$environment\", testid=~\"$run\"";
/// The same, narrowed to the selected stage and request group.
const RESULTS: &str =
    "test_name=~\"$test\", environment=~\"$environment\", testid=~\"$run\", test_stage=\"$stage\", group=\"$group\"";
/// Versions `$version` is compared with: `$baseline` (default all), without `$version`.
const COMPARED: &str = "deployment_version=~\"$baseline\", deployment_version!=\"$version\"";

/// Verdict as a number, worst highest; a run without verdict ranks above pass.
fn verdict_mappings() -> Vec<Value> {
    let mut options = Map::new();
    for (code, text, color) in
        [("1", "pass", "green"), ("2", "none", "text"), ("3", "warn", "orange"), ("4", "fail", "red")]
    {
        options.insert(code.to_owned(), json!({ "color": color, "index": 0, "text": text }));
    }
    vec![json!({ "type": "value", "options": options })]
}

fn worst_verdict(selector: &str) -> String {
    let info = |v: &str| format!("last_over_time(k6gate_run_info{{{selector}, verdict=\"{v}\"}}[$__range])");
    format!("max({} * 4 or {} * 3 or {} * 2 or {})", info("fail"), info("warn"), info("none"), info("pass"))
}

fn verdict_colors() -> Vec<Value> {
    [("pass", "green"), ("warn", "orange"), ("fail", "red"), ("none", "text")]
        .into_iter()
        .map(|(v, c)| color_by_name(v, c))
        .collect()
}

fn deployments_dashboard() -> Value {
    let per_run = |metric: &str| format!("last_over_time({metric}{{{RESULTS}}}[$__range])");
    let of_version =
        |metric: &str| format!("avg(last_over_time({metric}{{{RESULTS}, deployment_version=\"$version\"}}[$__range]))");
    let of_compared = |metric: &str| format!("avg(last_over_time({metric}{{{RESULTS}, {COMPARED}}}[$__range]))");
    let p95 = "k6gate_run_latency_p95_seconds";
    let change_thresholds = thresholds(&[("green", None), ("orange", Some(0.05)), ("red", Some(0.1))]);
    let by_version = |metric: &str| format!("max by (deployment_version) ({metric}{{{RESULTS}}})");

    let mut verdict_stat = stat(
        Panel {
            id: 5,
            title: "Verdicts of $version",
            description: "k6gate's verdicts for the runs of $version in the time range: each run was compared \
                          with its baseline, so this is the statistical answer.",
            grid: grid(14, 1, 5, 5),
            unit: "none",
            targets: vec![instant(
                "A",
                &format!(
                    "count by (verdict) (last_over_time(k6gate_run_info{{{RUNS}, deployment_version=\"$version\"}}[$__range]))"
                ),
                "{{verdict}}",
            )],
        },
        green(),
        vec![],
        "value_and_name",
    );
    set(&mut verdict_stat, &["fieldConfig", "overrides"], json!(verdict_colors()));

    let mut compared_series = timeseries(
        Panel {
            id: 7,
            title: "P95 per run: $version and the versions it is compared with",
            description: "One point per run (stage $stage, group $group). The annotations mark runs, baselines \
                          and verdicts.",
            grid: grid(0, 6, 24, 8),
            unit: "s",
            targets: vec![
                range(
                    "A",
                    &format!("max by (deployment_version) ({p95}{{{RESULTS}, deployment_version=\"$version\"}})"),
                    "{{deployment_version}}",
                ),
                range(
                    "B",
                    &format!("max by (deployment_version) ({p95}{{{RESULTS}, {COMPARED}}})"),
                    "{{deployment_version}}",
                ),
            ],
        },
        vec![],
        true,
    );
    let thick = json!([{
        "matcher": { "id": "byFrameRefID", "options": "A" },
        "properties": [{ "id": "custom.lineWidth", "value": 3 }, { "id": "custom.pointSize", "value": 9 }],
    }]);
    set(&mut compared_series, &["fieldConfig", "overrides"], thick);

    let mut runs_table = table(
        Panel {
            id: 10,
            title: "Runs",
            description: "One row per run: verdict and results (stage $stage, group $group). Click a run id for the \
                          live dashboard.",
            grid: grid(0, 23, 24, 10),
            unit: "",
            targets: vec![
                instant(
                    "A",
                    &format!(
                        "max by (testid, deployment_version, git_commit, verdict) (last_over_time(k6gate_run_info{{{RUNS}}}[$__range]))"
                    ),
                    "",
                ),
                instant(
                    "B",
                    &format!(
                        "max by (testid, deployment_version, git_commit) ({})",
                        per_run("k6gate_run_latency_p95_seconds")
                    ),
                    "",
                ),
                instant(
                    "C",
                    &format!("max by (testid, deployment_version, git_commit) ({})", per_run("k6gate_run_error_ratio")),
                    "",
                ),
                instant(
                    "D",
                    &format!(
                        "max by (testid, deployment_version, git_commit) ({})",
                        per_run("k6gate_run_requests_per_second")
                    ),
                    "",
                ),
            ],
        },
        &[("B", "P95", "s"), ("C", "Error ratio", "percentunit"), ("D", "Requests/s", "reqps")],
        &["Value #A"],
        "testid",
    );
    if let Some(o) = runs_table.pointer_mut("/fieldConfig/overrides").and_then(Value::as_array_mut) {
        o.push(json!({
            "matcher": { "id": "byName", "options": "verdict" },
            "properties": [
                { "id": "custom.cellOptions", "value": { "type": "color-text" } },
                { "id": "mappings", "value": [{ "type": "value", "options": {
                    "fail": { "color": "red", "index": 0 },
                    "none": { "color": "text", "index": 1 },
                    "pass": { "color": "green", "index": 2 },
                    "warn": { "color": "orange", "index": 3 },
                } }] },
            ],
        }));
        o.push(json!({
            "matcher": { "id": "byName", "options": "testid" },
            "properties": [{ "id": "links", "value": [{
                "title": "Live dashboard of this run",
                "url": format!("/d/{LIVE_UID}?var-run=${{__value.raw}}&${{__url_time_range}}"),
            }] }],
        }));
    }

    let panels = vec![
        row(1, "Did latency change after version $version?", 0),
        stat(
            Panel {
                id: 2,
                title: "P95 of $version",
                description: "Mean over the runs of $version in the time range of each run's P95 (stage $stage, \
                              group $group).",
                grid: grid(0, 1, 5, 5),
                unit: "s",
                targets: vec![instant("A", &of_version(p95), "$version")],
            },
            green(),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: 3,
                title: "P95 of compared versions",
                description: "The same over the runs of the other versions selected in 'Compared with' (default: \
                              every other version in the time range).",
                grid: grid(5, 1, 5, 5),
                unit: "s",
                targets: vec![instant("A", &of_compared(p95), "compared")],
            },
            green(),
            vec![],
            "auto",
        ),
        stat(
            Panel {
                id: 4,
                title: "P95 change",
                description: "P95 of $version relative to the compared versions: above 0 is slower. Orange from +5 %, \
                              red from +10 %.",
                grid: grid(10, 1, 4, 5),
                unit: "percentunit",
                targets: vec![instant("A", &format!("{} / {} - 1", of_version(p95), of_compared(p95)), "change")],
            },
            change_thresholds,
            vec![],
            "auto",
        ),
        verdict_stat,
        stat(
            Panel {
                id: 6,
                title: "Worst verdict of $version",
                description: "The worst verdict among the runs of $version in the time range.",
                grid: grid(19, 1, 5, 5),
                unit: "none",
                targets: vec![instant(
                    "A",
                    &worst_verdict(&format!("{RUNS}, deployment_version=\"$version\"")),
                    "verdict",
                )],
            },
            green(),
            verdict_mappings(),
            "value",
        ),
        compared_series,
        row(8, "Results per version", 14),
        table(
            Panel {
                id: 9,
                title: "Versions",
                description: "Per version: number of runs and the mean of each run's results (stage $stage, group \
                              $group) in the time range.",
                grid: grid(0, 15, 24, 8),
                unit: "",
                targets: vec![
                    instant(
                        "A",
                        &format!(
                            "count by (deployment_version) (max by (deployment_version, testid) (last_over_time(k6gate_run_info{{{RUNS}}}[$__range])))"
                        ),
                        "",
                    ),
                    instant(
                        "B",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_latency_p50_seconds")),
                        "",
                    ),
                    instant(
                        "C",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_latency_p95_seconds")),
                        "",
                    ),
                    instant(
                        "D",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_latency_p99_seconds")),
                        "",
                    ),
                    instant("E", &format!("avg by (deployment_version) ({})", per_run("k6gate_run_error_ratio")), ""),
                    instant(
                        "F",
                        &format!("avg by (deployment_version) ({})", per_run("k6gate_run_requests_per_second")),
                        "",
                    ),
                ],
            },
            &[
                ("A", "Runs", "none"),
                ("B", "P50", "s"),
                ("C", "P95", "s"),
                ("D", "P99", "s"),
                ("E", "Error ratio", "percentunit"),
                ("F", "Requests/s", "reqps"),
            ],
            &[],
            "deployment_version",
        ),
        runs_table,
        timeseries(
            Panel {
                id: 11,
                title: "P95 latency by version",
                description: "Each run's P95 (stage $stage, group $group), one series per version.",
                grid: grid(0, 33, 12, 8),
                unit: "s",
                targets: vec![range("A", &by_version("k6gate_run_latency_p95_seconds"), "{{deployment_version}}")],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: 12,
                title: "Error ratio by version",
                description: "Each run's error ratio (stage $stage, group $group), one series per version.",
                grid: grid(12, 33, 12, 8),
                unit: "percentunit",
                targets: vec![range("A", &by_version("k6gate_run_error_ratio"), "{{deployment_version}}")],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: 13,
                title: "Requests/s by version",
                description: "Each run's request rate (stage $stage, group $group), one series per version.",
                grid: grid(0, 41, 12, 8),
                unit: "reqps",
                targets: vec![range("A", &by_version("k6gate_run_requests_per_second"), "{{deployment_version}}")],
            },
            vec![],
            true,
        ),
        timeseries(
            Panel {
                id: 14,
                title: "Stage durations by version",
                description: "How long each stage lasted, per version (steady-state is found by k6gate, so its \
                              length varies).",
                grid: grid(12, 41, 12, 8),
                unit: "s",
                targets: vec![range(
                    "A",
                    &format!("max by (deployment_version, test_stage) (k6gate_run_phase_duration_seconds{{{RUNS}}})"),
                    "{{deployment_version}} {{test_stage}}",
                )],
            },
            vec![],
            true,
        ),
    ];

    let verdict_annotation = json!({
        "datasource": prometheus(),
        "enable": true,
        "expr": format!("max by (deployment_version, testid, verdict) (k6gate_run_info{{{RUNS}}})"),
        "iconColor": "purple",
        "name": "k6gate verdicts",
        "step": "1m",
        "tagKeys": "verdict,deployment_version",
        "textFormat": "run {{testid}} of {{deployment_version}}",
        "titleFormat": "k6gate verdict: {{verdict}}",
        "useValueForTime": false,
    });
    let mut variables = standard_vars("k6gate_run_info", false, "Version X");
    variables.insert(
        3,
        query_var(
            "baseline",
            "Compared with",
            "k6gate_run_info",
            "test_name=~\"$test\", environment=~\"$environment\"",
            "deployment_version",
            true,
        ),
    );
    variables.push(stage_var());
    let mut group = query_var(
        "group",
        "Group",
        "k6gate_run_latency_p95_seconds",
        "test_name=~\"$test\", environment=~\"$environment\"",
        "group",
        false,
    );
    set(&mut group, &["current"], json!({ "selected": true, "text": "all", "value": "all" }));
    variables.push(group);

    dashboard(Dashboard {
        uid: DEPLOYMENTS_UID,
        title: "k6gate / Results over deployments",
        description: "k6gate's results per run and per deployed version (k6gate_run_* gauges), with run, \
                      baseline and verdict annotations. Set the time range to cover the deployments to compare.",
        refresh: "",
        annotations: annotations(vec![verdict_annotation]),
        variables,
        panels,
    })
}

// ---------------------------------------------------------------------------------------------
// (3) Embed: a few panels with fixed ids for a deployment dashboard (d-solo URLs).

const EMBED: &str =
    "test_name=~\"$test\", environment=~\"$environment\", deployment_version=~\"$version\", testid=~\"$run\"";

fn embed_dashboard() -> Value {
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

// ---------------------------------------------------------------------------------------------

fn readme() -> String {
    let alerts: Vec<String> = rules::alerts()
        .iter()
        .map(|a| format!("- `{}` ({}, for {}): `{}`", a.name, a.severity, a.for_, a.prometheus_expr()))
        .collect();
    let recordings: Vec<String> = rules::recordings().iter().map(|r| format!("- `{}`", r.record)).collect();
    format!(
        "# k6gate Grafana and Prometheus files\n\
         \n\
         Generated by `k6gate grafana generate --out grafana` from `src/grafana/`; do not edit by hand.\n\
         `tests/grafana_generate.rs` fails when this directory differs from the generator\n\
         (regenerate with `K6GATE_UPDATE_GRAFANA=1 cargo test --test grafana_generate`).\n\
         \n\
         - `provisioning/`: mount at `/etc/grafana/provisioning`. Data source uids `{PROMETHEUS_UID}` and `{TEMPO_UID}`.\n\
         - `dashboards/`: mount at the provider's path (`/var/lib/grafana/dashboards/k6gate` by default).\n\
         \x20 `{LIVE_UID}` (live test execution), `{DEPLOYMENTS_UID}` (results over deployments),\n\
         \x20 `{EMBED_UID}` (panels to embed: `/d-solo/{EMBED_UID}/k6gate-embed?orgId=1&panelId=<id>&var-run=<run id>`).\n\
         - `prometheus/k6gate-rules.yml`: the same alerts as `provisioning/alerting/`, for Prometheus or the Mimir\n\
         \x20 ruler; use one of the two. `promtool test rules prometheus/k6gate-rules.test.yml` tests them.\n\
         \n\
         k6 must write to Prometheus with native histograms (`K6_PROMETHEUS_RW_TREND_AS_NATIVE_HISTOGRAM=true`,\n\
         Prometheus with `--enable-feature=native-histograms`).\n\
         \n\
         Recording rules:\n\
         \n\
         {}\n\
         \n\
         Alerts:\n\
         \n\
         {}\n",
        recordings.join("\n"),
        alerts.join("\n")
    )
}
