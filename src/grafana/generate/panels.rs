//! Building blocks of a dashboard panel: queries, thresholds, the timeseries, stat, table and row
//! panels, colour overrides, and the verdict encoding shared by the dashboards. Knows no dashboard
//! and no panel id; the dashboards decide what goes where.

use serde_json::{Map, Value, json};

use super::ids::PROMETHEUS_UID;
use super::serialize::set;

pub(super) fn prometheus() -> Value {
    json!({ "type": "prometheus", "uid": PROMETHEUS_UID })
}

pub(super) fn grafana_ds() -> Value {
    json!({ "type": "grafana", "uid": "-- Grafana --" })
}

pub(super) fn grid(x: u32, y: u32, w: u32, h: u32) -> Value {
    json!({ "x": x, "y": y, "w": w, "h": h })
}

/// A range query.
pub(super) fn range(ref_id: &str, expr: &str, legend: &str) -> Value {
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
pub(super) fn instant(ref_id: &str, expr: &str, legend: &str) -> Value {
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

pub(super) fn thresholds(steps: &[(&str, Option<f64>)]) -> Value {
    let steps: Vec<Value> = steps.iter().map(|(c, v)| json!({ "color": c, "value": v })).collect();
    json!({ "mode": "absolute", "steps": steps })
}

pub(super) fn green() -> Value {
    thresholds(&[("green", None)])
}

pub(super) struct Panel<'a> {
    pub(super) id: u32,
    pub(super) title: &'a str,
    pub(super) description: &'a str,
    pub(super) grid: Value,
    pub(super) unit: &'a str,
    pub(super) targets: Vec<Value>,
}

pub(super) fn timeseries(p: Panel, overrides: Vec<Value>, sparse: bool) -> Value {
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

pub(super) fn stat(p: Panel, thresholds: Value, mappings: Vec<Value>, text_mode: &str) -> Value {
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
pub(super) fn table(p: Panel, columns: &[(&str, &str, &str)], hidden: &[&str], sort_by: &str) -> Value {
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

pub(super) fn row(id: u32, title: &str, y: u32) -> Value {
    json!({ "id": id, "type": "row", "title": title, "collapsed": false, "gridPos": grid(0, y, 24, 1), "panels": [] })
}

pub(super) fn color_by_name(name: &str, color: &str) -> Value {
    json!({
        "matcher": { "id": "byName", "options": name },
        "properties": [{ "id": "color", "value": { "fixedColor": color, "mode": "fixed" } }],
    })
}

/// One colour per k6gate stage, the same on every panel.
pub(super) fn stage_colors() -> Vec<Value> {
    [("ramp-up", "blue"), ("sustained", "green"), ("steady-state", "dark-green"), ("ramp-down", "purple")]
        .into_iter()
        .map(|(s, c)| color_by_name(s, c))
        .collect()
}

/// Verdict as a number, worst highest; a run without verdict ranks above pass.
pub(super) fn verdict_mappings() -> Vec<Value> {
    let mut options = Map::new();
    for (code, text, color) in
        [("1", "pass", "green"), ("2", "none", "text"), ("3", "warn", "orange"), ("4", "fail", "red")]
    {
        options.insert(code.to_owned(), json!({ "color": color, "index": 0, "text": text }));
    }
    vec![json!({ "type": "value", "options": options })]
}

pub(super) fn worst_verdict(selector: &str) -> String {
    let info = |v: &str| format!("last_over_time(k6gate_run_info{{{selector}, verdict=\"{v}\"}}[$__range])");
    format!("max({} * 4 or {} * 3 or {} * 2 or {})", info("fail"), info("warn"), info("none"), info("pass"))
}

pub(super) fn verdict_colors() -> Vec<Value> {
    [("pass", "green"), ("warn", "orange"), ("fail", "red"), ("none", "text")]
        .into_iter()
        .map(|(v, c)| color_by_name(v, c))
        .collect()
}
