//! The generated Grafana and Prometheus files: the checked-in `grafana/` tree is exactly what
//! the generator writes, the dashboards are valid (ids, variables, data sources, PromQL that
//! promtool parses), the Prometheus rules pass `promtool check rules` and their unit tests, and
//! the Grafana alerts and the Prometheus alerts come from the same definitions.
//!
//! The promtool tests are the full tier (ignored by `cargo test`); there promtool is required:
//! they fail, never skip, without it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use k6gate::grafana::generate::{self, GenerateOptions, MetricsBackend};
use k6gate::grafana::rules;
use serde_json::Value;

const INSTALL_PROMTOOL: &str = "promtool is not installed. Install it with \
    `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus` \
    (Debian package `prometheus`, which ships /usr/bin/promtool)";

use crate::support::root;

fn generated() -> Vec<(PathBuf, String)> {
    generate::generate(&GenerateOptions::default())
}

/// The generated file at `rel`.
fn file(files: &[(PathBuf, String)], rel: &str) -> String {
    files
        .iter()
        .find(|(p, _)| p == Path::new(rel))
        .map(|(_, c)| c.clone())
        .unwrap_or_else(|| panic!("{rel} is not generated"))
}

fn yaml(text: &str) -> Value {
    yaml_serde::from_str(text).unwrap()
}

/// Runs promtool with `args` in `dir`; returns (success, stdout + stderr).
fn promtool(dir: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("{INSTALL_PROMTOOL} (running promtool failed: {e})"));
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

fn files_under(dir: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for e in entries {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.insert(path.strip_prefix(dir).unwrap().to_path_buf());
            }
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// (a) checked in byte for byte

#[test]
fn checked_in_grafana_directory_is_what_the_generator_writes() {
    let dir = root().join("grafana");
    let files = generated();
    let wanted: BTreeSet<PathBuf> = files.iter().map(|(p, _)| p.clone()).collect();

    let mut problems = Vec::new();
    for (rel, content) in &files {
        match std::fs::read_to_string(dir.join(rel)) {
            Err(e) => problems.push(format!("grafana/{}: missing ({e})", rel.display())),
            Ok(on_disk) if on_disk != *content => {
                let line = on_disk
                    .lines()
                    .zip(content.lines())
                    .position(|(a, b)| a != b)
                    .map_or_else(|| on_disk.lines().count().min(content.lines().count()) + 1, |i| i + 1);
                problems.push(format!("grafana/{}: differs from the generator from line {line}", rel.display()));
            }
            Ok(_) => {}
        }
    }
    for stale in files_under(&dir).difference(&wanted) {
        problems.push(format!("grafana/{}: not generated (stale)", stale.display()));
    }
    assert!(
        problems.is_empty(),
        "grafana/ is out of date with src/grafana:\n  {}\nRegenerate it with `scripts/regen.sh` and commit the result.",
        problems.join("\n  ")
    );
}

#[test]
fn generation_is_deterministic_and_sorted() {
    let (a, b) = (generated(), generated());
    assert_eq!(a, b);
    let paths: Vec<&PathBuf> = a.iter().map(|(p, _)| p).collect();
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted);
    for (p, c) in &a {
        assert!(p.is_relative(), "{}", p.display());
        assert!(c.ends_with('\n') && !c.ends_with("\n\n"), "{} must end in exactly one newline", p.display());
        assert!(!c.contains("serialisation failed"), "{}", p.display());
    }
}

#[test]
fn write_creates_the_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let files = generated();
    generate::write(tmp.path(), &files).unwrap();
    for (rel, content) in &files {
        assert_eq!(std::fs::read_to_string(tmp.path().join(rel)).unwrap(), *content);
    }
}

// ---------------------------------------------------------------------------------------------
// (b) dashboards

/// Every panel, rows' children included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    let mut stack: Vec<&Value> = dashboard["panels"].as_array().unwrap().iter().collect();
    while let Some(p) = stack.pop() {
        if let Some(children) = p["panels"].as_array() {
            stack.extend(children);
        }
        out.push(p);
    }
    out
}

/// Every object under a `datasource` key, anywhere.
fn datasource_refs(v: &Value, out: &mut Vec<Value>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                if k == "datasource" {
                    out.push(x.clone());
                }
                datasource_refs(x, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|x| datasource_refs(x, out)),
        _ => {}
    }
}

/// Template variables referenced in `text` (`$x`, `${x}`, `${x:fmt}`, `[[x]]`); Grafana's
/// built-ins (`$__...`) are not variables.
fn variables_in(text: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let b = text.as_bytes();
    let ident = |s: &[u8]| s.iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        let name = if rest.starts_with(b"${") {
            let n = ident(&rest[2..]);
            Some(&rest[2..2 + n])
        } else if rest.starts_with(b"$") {
            let n = ident(&rest[1..]);
            Some(&rest[1..1 + n])
        } else if rest.starts_with(b"[[") {
            let n = ident(&rest[2..]);
            Some(&rest[2..2 + n])
        } else {
            None
        };
        if let Some(n) = name {
            let n = String::from_utf8_lossy(n).into_owned();
            if !n.is_empty() && !n.starts_with("__") {
                out.insert(n);
            }
        }
        i += 1;
    }
    out
}

/// A PromQL expression as Grafana would send it: macros and variables replaced.
fn concrete(expr: &str) -> String {
    let mut e = expr.to_owned();
    for m in ["$__rate_interval", "$__interval", "$__range"] {
        e = e.replace(m, "5m");
    }
    for v in variables_in(expr) {
        e = e.replace(&format!("${{{v}}}"), "x").replace(&format!("${v}"), "x");
    }
    e
}

/// (where, PromQL) of every query of a dashboard: targets, annotations, variable queries.
fn queries(name: &str, d: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            out.push((
                format!("{name} panel {} target {}", p["id"], t["refId"]),
                t["expr"].as_str().unwrap().to_owned(),
            ));
        }
    }
    for a in d["annotations"]["list"].as_array().unwrap() {
        if let Some(e) = a["expr"].as_str() {
            out.push((format!("{name} annotation {}", a["name"]), e.to_owned()));
        }
    }
    for v in d["templating"]["list"].as_array().unwrap() {
        if v["type"] == "query" {
            let q = v["query"]["query"].as_str().unwrap();
            assert_eq!(v["definition"].as_str(), Some(q), "{name} variable {}", v["name"]);
            let inner = q.strip_prefix("label_values(").and_then(|s| s.strip_suffix(')')).unwrap();
            let (selector, _label) = inner.rsplit_once(',').unwrap();
            out.push((format!("{name} variable {}", v["name"]), selector.to_owned()));
        }
    }
    out
}

fn provisioned_uids(files: &[(PathBuf, String)]) -> BTreeSet<String> {
    let ds = yaml(&file(files, "provisioning/datasources/k6gate.yaml"));
    ds["datasources"].as_array().unwrap().iter().map(|d| d["uid"].as_str().unwrap().to_owned()).collect()
}

/// Parses every expression with `promtool check rules` (one recording rule per group, the group
/// named after where the expression comes from).
fn assert_promql_parses(exprs: &[(String, String)]) {
    let groups: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (origin, e))| {
            serde_json::json!({ "name": format!("{i} {origin}"), "rules": [{ "record": format!("k6gate_check_{i}"), "expr": concrete(e) }] })
        })
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("exprs.yml"),
        yaml_serde::to_string(&serde_json::json!({ "groups": groups })).unwrap(),
    )
    .unwrap();
    let (ok, out) = promtool(tmp.path(), &["check", "rules", "exprs.yml"]);
    assert!(ok, "a PromQL expression does not parse:\n{out}");
    assert!(out.contains(&format!("SUCCESS: {} rules found", exprs.len())), "{out}");
}

#[test]
fn dashboards_are_valid() {
    dashboard_and_alert_queries();
}

#[test]
#[ignore = "full tier: needs promtool"]
fn dashboard_and_alert_queries_parse_as_promql() {
    assert_promql_parses(&dashboard_and_alert_queries());
}

/// Checks every dashboard and the alert rules' data sources; every PromQL query in them, with
/// where it comes from.
fn dashboard_and_alert_queries() -> Vec<(String, String)> {
    let files = generated();
    let mut uids = provisioned_uids(&files);
    uids.insert("-- Grafana --".to_owned()); // Grafana's built-in annotation data source
    let mut all_queries = Vec::new();
    let mut dashboard_uids = BTreeSet::new();

    let dashboards: Vec<&(PathBuf, String)> = files.iter().filter(|(p, _)| p.starts_with("dashboards")).collect();
    assert_eq!(dashboards.len(), 5);
    for (path, text) in dashboards {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let d: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"));
        assert_eq!(d["schemaVersion"], 39, "{name}");
        let uid = d["uid"].as_str().unwrap();
        assert!(!uid.is_empty() && uid.len() <= 40, "{name}: uid {uid}");
        assert!(dashboard_uids.insert(uid.to_owned()), "{name}: uid {uid} used twice");
        assert_eq!(d["time"]["from"], "now-1h", "{name}");
        assert_eq!(d["time"]["to"], "now", "{name}");

        let mut ids = BTreeSet::new();
        for p in panels(&d) {
            let id = p["id"].as_u64().unwrap_or_else(|| panic!("{name}: panel {} has no id", p["title"]));
            assert!(ids.insert(id), "{name}: panel id {id} used twice");
            let g = &p["gridPos"];
            assert!(
                g["w"].as_u64().unwrap() >= 1 && g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 24,
                "{name}: panel {id} gridPos"
            );
        }

        let vars: BTreeSet<String> = d["templating"]["list"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["name"].as_str().unwrap().to_owned())
            .collect();
        for v in ["test", "environment", "version", "run"] {
            assert!(vars.contains(v), "{name}: variable {v} missing");
        }
        // Variables used anywhere in queries, titles and descriptions are defined.
        let mut used = Vec::new();
        for (origin, q) in queries(&name, &d) {
            used.extend(variables_in(&q).into_iter().map(|v| (origin.clone(), v)));
        }
        for p in panels(&d) {
            for key in ["title", "description"] {
                let t = p[key].as_str().unwrap_or_default();
                used.extend(variables_in(t).into_iter().map(|v| (format!("{name} panel {} {key}", p["id"]), v)));
            }
        }
        for (origin, v) in used {
            assert!(vars.contains(&v), "{origin}: ${v} is not a templating variable");
        }

        let mut refs = Vec::new();
        datasource_refs(&d, &mut refs);
        assert!(!refs.is_empty());
        for r in refs {
            let uid = r["uid"].as_str().unwrap_or_else(|| panic!("{name}: data source without uid: {r}"));
            assert!(uids.contains(uid), "{name}: data source uid {uid} is not provisioned ({uids:?})");
        }

        let annotations = d["annotations"]["list"].as_array().unwrap();
        assert!(annotations.iter().any(|a| a["builtIn"] == 1), "{name}: built-in annotations");
        for tag in
            [generate::RUN_ANNOTATION_TAG, generate::BASELINE_ANNOTATION_TAG, generate::CHANGE_POINT_ANNOTATION_TAG]
        {
            assert!(
                annotations.iter().any(|a| a["target"]["type"] == "tags"
                    && a["target"]["tags"] == serde_json::json!([generate::ANNOTATION_TAG, tag])),
                "{name}: no tag annotation for k6gate {tag}"
            );
        }
        all_queries.extend(queries(&name, &d));
    }
    assert_eq!(
        dashboard_uids,
        [
            generate::LIVE_UID,
            generate::DEPLOYMENTS_UID,
            generate::EMBED_UID,
            generate::HEALTH_UID,
            generate::COMPONENTS_UID
        ]
        .map(str::to_owned)
        .into()
    );

    // The Grafana alert queries are PromQL too.
    let alerting = yaml(&file(&files, "provisioning/alerting/k6gate-alerts.yaml"));
    for r in alerting["groups"][0]["rules"].as_array().unwrap() {
        for q in r["data"].as_array().unwrap() {
            let uid = q["datasourceUid"].as_str().unwrap();
            assert!(uid == "__expr__" || uids.contains(uid), "alert {}: data source {uid}", r["title"]);
            if let Some(e) = q["model"]["expr"].as_str() {
                all_queries.push((format!("alert {}", r["title"]), e.to_owned()));
            }
        }
    }
    all_queries
}

#[test]
fn live_dashboard_filters_every_query_on_every_variable() {
    let files = generated();
    let d: Value = serde_json::from_str(&file(&files, "dashboards/k6gate-live.json")).unwrap();
    let mut n = 0;
    for p in panels(&d) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let vars = variables_in(t["expr"].as_str().unwrap());
            for v in ["test", "environment", "version", "run"] {
                assert!(vars.contains(v), "panel {} ({}) does not filter on ${v}", p["id"], p["title"]);
            }
            n += 1;
        }
    }
    assert!(n >= 12);
    let p95 = panels(&d).into_iter().find(|p| p["id"] == generate::live_panels::P95).unwrap();
    assert_eq!(
        p95["targets"][0]["expr"],
        "histogram_quantile(0.95, sum by (test_stage) (rate(k6_http_req_duration_seconds{test_name=~\"$test\", \
         environment=~\"$environment\", deployment_version=~\"$version\", testid=~\"$run\"}[$__rate_interval])))"
    );
}

#[test]
fn embed_panel_ids_are_the_published_constants() {
    use generate::embed_panels as e;
    let files = generated();
    let d: Value = serde_json::from_str(&file(&files, "dashboards/k6gate-embed.json")).unwrap();
    let ids: BTreeMap<u64, String> =
        panels(&d).iter().map(|p| (p["id"].as_u64().unwrap(), p["title"].as_str().unwrap().to_owned())).collect();
    let wanted = [e::VERDICT, e::P95, e::ERROR_RATIO, e::REQUEST_RATE, e::P95_BY_VERSION, e::LIVE_P95];
    assert_eq!(ids.keys().copied().collect::<Vec<_>>(), wanted.map(u64::from).to_vec());
    assert_eq!(ids[&u64::from(e::VERDICT)], "k6gate verdict");
}

#[test]
fn data_sources_point_tempo_at_prometheus_and_mimir_is_an_option() {
    let ds = yaml(&file(&generated(), "provisioning/datasources/k6gate.yaml"));
    let list = ds["datasources"].as_array().unwrap();
    let prom = list.iter().find(|d| d["uid"] == generate::PROMETHEUS_UID).unwrap();
    assert_eq!(prom["type"], "prometheus");
    assert_eq!(prom["jsonData"]["prometheusType"], "Prometheus");
    let tempo = list.iter().find(|d| d["uid"] == generate::TEMPO_UID).unwrap();
    assert_eq!(tempo["jsonData"]["tracesToMetrics"]["datasourceUid"], generate::PROMETHEUS_UID);
    assert_eq!(tempo["jsonData"]["serviceMap"]["datasourceUid"], generate::PROMETHEUS_UID);

    let mimir = generate::generate(&GenerateOptions {
        backend: MetricsBackend::Mimir,
        mimir_tenant: "perf".into(),
        tempo_url: None,
        ..GenerateOptions::default()
    });
    let ds = yaml(&file(&mimir, "provisioning/datasources/k6gate.yaml"));
    let list = ds["datasources"].as_array().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["uid"], generate::PROMETHEUS_UID);
    assert_eq!(list[0]["url"], "http://mimir:8080/prometheus");
    assert_eq!(list[0]["jsonData"]["prometheusType"], "Mimir");
    assert_eq!(list[0]["jsonData"]["httpHeaderName1"], "X-Scope-OrgID");
    assert_eq!(list[0]["secureJsonData"]["httpHeaderValue1"], "perf");
    // Only the data sources change with the backend.
    for ((p, a), (_, b)) in generated().iter().zip(&mimir) {
        if !p.starts_with("provisioning/datasources") {
            assert_eq!(a, b, "{}", p.display());
        }
    }

    let provider = yaml(&file(&generated(), "provisioning/dashboards/k6gate.yaml"));
    assert_eq!(provider["providers"][0]["type"], "file");
    assert_eq!(provider["providers"][0]["options"]["path"], "/var/lib/grafana/dashboards/k6gate");
}

// ---------------------------------------------------------------------------------------------
// (c) promtool on the Prometheus rules

#[test]
#[ignore = "full tier: needs promtool"]
fn prometheus_rules_pass_promtool_check_and_unit_tests() {
    // Run on a fresh copy of the generated files (identical to grafana/, see the test above),
    // so this test never reads a file the update mode is rewriting.
    let tmp = tempfile::tempdir().unwrap();
    generate::write(tmp.path(), &generated()).unwrap();
    let dir = tmp.path().join("prometheus");
    let (ok, out) = promtool(&dir, &["check", "rules", "k6gate-rules.yml"]);
    let n = rules::recordings().len() + rules::alerts().len();
    assert!(ok && out.contains(&format!("SUCCESS: {n} rules found")), "promtool check rules:\n{out}");
    let (ok, out) = promtool(&dir, &["test", "rules", "k6gate-rules.test.yml"]);
    assert!(ok && out.contains("SUCCESS"), "promtool test rules:\n{out}");
}

#[test]
fn every_alert_has_a_test_that_fires_it_and_one_that_does_not() {
    let tests = yaml(&file(&generated(), "prometheus/k6gate-rules.test.yml"));
    for a in rules::alerts() {
        let checks: Vec<&Value> = tests["tests"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|t| t["alert_rule_test"].as_array().into_iter().flatten())
            .filter(|c| c["alertname"] == a.name)
            .collect();
        let fires = checks.iter().any(|c| !c["exp_alerts"].as_array().unwrap().is_empty());
        let quiet = checks.iter().any(|c| c["exp_alerts"].as_array().unwrap().is_empty());
        assert!(fires && quiet, "{}: fires {fires}, stays quiet {quiet}", a.name);
    }
}

// ---------------------------------------------------------------------------------------------
// (d) one set of definitions

#[test]
fn grafana_alerts_and_prometheus_rules_come_from_the_same_definitions() {
    let files = generated();
    let prom = yaml(&file(&files, "prometheus/k6gate-rules.yml"));
    let graf = yaml(&file(&files, "provisioning/alerting/k6gate-alerts.yaml"));
    let prom_rules = prom["groups"][0]["rules"].as_array().unwrap();
    let graf_rules = graf["groups"][0]["rules"].as_array().unwrap();
    assert_eq!(prom["groups"][0]["interval"], graf["groups"][0]["interval"]);
    assert_eq!(prom["groups"][0]["name"], graf["groups"][0]["name"]);

    let records: BTreeMap<&str, &str> =
        prom_rules.iter().filter_map(|r| Some((r["record"].as_str()?, r["expr"].as_str()?))).collect();
    let prom_alerts: Vec<&Value> = prom_rules.iter().filter(|r| r.get("alert").is_some()).collect();
    let names = |v: &[&Value], key: &str| v.iter().map(|r| r[key].as_str().unwrap().to_owned()).collect::<Vec<_>>();
    let defs = rules::alerts();
    let def_names: Vec<String> = defs.iter().map(|a| a.name.to_owned()).collect();
    assert_eq!(names(&prom_alerts, "alert"), def_names);
    assert_eq!(names(&graf_rules.iter().collect::<Vec<_>>(), "title"), def_names);

    for (def, (p, g)) in defs.iter().zip(prom_alerts.iter().zip(graf_rules)) {
        let name = def.name;
        // Prometheus: `query > threshold` over the recorded series.
        let expr = p["expr"].as_str().unwrap();
        assert_eq!(expr, def.prometheus_expr(), "{name}");
        let threshold = g["data"][2]["model"]["conditions"][0]["evaluator"]["params"][0].as_f64().unwrap();
        assert_eq!(threshold, def.threshold, "{name}");
        assert_eq!(g["data"][2]["model"]["conditions"][0]["evaluator"]["type"], "gt", "{name}");
        let lhs = expr.strip_suffix(&format!(" > {threshold}")).unwrap_or_else(|| panic!("{name}: {expr}"));
        let lhs = lhs.strip_prefix('(').and_then(|s| s.strip_suffix(')')).unwrap_or(lhs);
        // Grafana: the same query with each recorded series replaced by its expression from
        // the Prometheus file.
        let inlined = match records.get(lhs) {
            Some(x) => (*x).to_owned(),
            None => records.iter().fold(lhs.to_owned(), |e, (r, x)| e.replace(r, &format!("({x})"))),
        };
        assert_ne!(inlined, lhs, "{name}: the Prometheus alert reads no recording rule");
        assert!(!inlined.contains("k6gate:"), "{name}: {inlined} reads a series no rule records");
        assert_eq!(g["data"][0]["model"]["expr"].as_str().unwrap(), inlined, "{name}");
        assert_eq!(g["data"][0]["model"]["expr"].as_str().unwrap(), def.grafana_query(), "{name}");
        assert_eq!(g["condition"], "C");
        assert_eq!(g["data"][1]["model"]["expression"], "A");
        assert_eq!(g["data"][2]["model"]["expression"], "B");

        assert_eq!(p["for"], g["for"], "{name}");
        assert_eq!(p["for"], def.for_, "{name}");
        assert_eq!(p["labels"], g["labels"], "{name}");
        assert_eq!(p["labels"]["severity"], def.severity, "{name}");
        // Annotations differ only in how the value is referenced.
        for key in ["summary", "description"] {
            let pa = p["annotations"][key].as_str().unwrap().replace("{{ $value |", "{{ VALUE |");
            let ga = g["annotations"][key].as_str().unwrap().replace("{{ $values.B.Value |", "{{ VALUE |");
            assert_eq!(pa, ga, "{name} {key}");
        }
        assert_eq!(g["dashboardUid"], def.panel.dashboard_uid(), "{name}");
        assert_eq!(g["panelId"], def.panel.panel_id(), "{name}");
        assert!(g["uid"].as_str().unwrap().len() <= 40);
    }
}
