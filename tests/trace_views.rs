//! The outputs of a run's trace breakdown (issue 15) on the three-tier demo stack under real
//! k6, read back through the fake Tempo: the span metrics as native histograms in a real
//! Prometheus (`--enable-feature=native-histograms`), the component alert rules under
//! `promtool test rules`, and the HTML report's trace views in headless Chromium.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::html_report::{CHROMIUM, chromium, judged, save};
use crate::support::cli::K6gate;
use crate::support::tiers::Tiers;
use crate::traces_stack::{serve, wait_for_exports};
use k6gate::traces::TraceFindings;
use k6gate::traces::views::{SLOWEST, histogram_error};

const TRACE_LINK: &str = "http://grafana.test/explore?left=%7B%22queries%22:[%7B%22query%22:%22{trace_id}%22%7D]%7D";

fn promtool(args: &[&str]) -> (bool, String) {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/prom"))
        .output()
        .expect("promtool is not installed (Debian package `prometheus`; scripts/test.sh installs it)");
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
#[ignore = "full tier: needs promtool"]
fn component_regression_rules_fire_on_a_regression_and_stay_silent_otherwise() {
    let (ok, out) = promtool(&["check", "rules", "k6gate-components-rules.yml"]);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "k6gate-components-rules.test.yml"]);
    assert!(ok, "{out}");
    // The test file must exercise a firing alert, or it proves nothing.
    let tests =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/prom/k6gate-components-rules.test.yml")).unwrap();
    assert!(tests.contains("component: db") && tests.contains("exp_alerts: []"));
}

fn query(prometheus: &str, promql: &str) -> Vec<Value> {
    let v = crate::support::http::get_json(&format!("{prometheus}/api/v1/query"), &[("query", promql)]);
    assert_eq!(v["status"], "success", "{promql}: {v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// Real k6 against the tiers (3 s at 40 requests/s); `k6gate traces` with its findings, its
/// span metrics published to a real Prometheus, and each request's breakdown.
#[test]
#[ignore = "full tier: needs k6, Prometheus and Chromium"]
fn span_metrics_quantiles_and_the_reports_trace_views_match_the_attribution() {
    let (http, fake) = serve();
    let dir = tempfile::tempdir().unwrap();
    let tiers = Tiers::start(&http.url("/v1/traces"), 100, &[]);
    let prometheus = crate::support::prometheus::start("prometheus-trace-views");
    let out = dir.path().join("k6.json");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k6/scripts/traces_stack.js");
    let k6 = Command::new("k6")
        .args(["run", "--quiet", "--no-summary", "--no-thresholds", "--out"])
        .arg(format!("json={}", out.display()))
        .arg(&script)
        .env("K6_NO_USAGE_REPORT", "true")
        .env("BASE_URL", &tiers.gateway.url)
        .env("DURATION", "3s")
        .env("RATE", "40")
        .output()
        .expect("run k6");
    assert!(k6.status.success(), "k6: {}", String::from_utf8_lossy(&k6.stderr));
    wait_for_exports(&fake, Duration::from_millis(400), Duration::from_secs(20));
    let findings_path = dir.path().join("findings.json");
    let ran = K6gate::new()
        .args(["traces"])
        .arg(&out)
        .args(["--tempo", &http.uri(), "--expect", "api", "--expect", "db", "--gateway", "gateway"])
        .args(["--settle-fetches", "2", "--settle-interval", "100ms", "--format", "json", "--per-request"])
        .arg("--findings")
        .arg(&findings_path)
        .args(["--trace-link", TRACE_LINK])
        .args(["--publish", &format!("{prometheus}/api/v1/write")])
        .args(["--test", "tiers-views", "--env", "ci", "--deployment-version", "v1"])
        .status(0);
    let v: Value = serde_json::from_str(&ran.stdout()).expect("JSON");
    let findings: TraceFindings =
        serde_json::from_str(&std::fs::read_to_string(&findings_path).unwrap()).expect("findings");
    assert!(findings.traced >= 80, "traced {}", findings.traced);

    // 1. Native histograms: each component's P95 from Prometheus within the stated error.
    let bound = histogram_error();
    let promql =
        r#"histogram_quantile(0.95, sum by (component) (k6gate_component_latency_seconds{test_name="tiers-views"}))"#;
    let got: BTreeMap<String, f64> = query(&prometheus, promql)
        .iter()
        .map(|r| {
            (r["metric"]["component"].as_str().unwrap().to_string(), r["value"][1].as_str().unwrap().parse().unwrap())
        })
        .collect();
    let mut expected: BTreeMap<String, f64> =
        findings.components.iter().filter_map(|(c, f)| Some((c.clone(), f.p95_ms? / 1000.0))).collect();
    expected.insert("end-to-end".into(), findings.end_to_end.p95_ms.unwrap() / 1000.0);
    for c in ["end-to-end", "api", "db", "gateway"] {
        let (want, have) = (expected[c], got.get(c).copied().unwrap_or_else(|| panic!("no {c} in {got:?}")));
        let error = (have / want - 1.0).abs();
        println!(
            "{c}: run P95 {:.3} ms, histogram_quantile {:.3} ms, error {:.2} %",
            want * 1e3,
            have * 1e3,
            error * 100.0
        );
        assert!(error <= bound, "{c}: P95 {want} s, Prometheus {have} s: error {error} > {bound}");
    }
    // The classic gauges stay for the dashboards that read them.
    assert!(
        !query(&prometheus, r#"k6gate_component_latency_p95_seconds{test_name="tiers-views",component="db"}"#)
            .is_empty()
    );

    // The generated component dashboard's panels answer from the published series (its P95
    // panel with the P95s above), with test, environment and version set to this run's, and
    // run and component at "All" (their `allValue`, `.*`: this run has no `testid`).
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/grafana/dashboards/k6gate-components.json"))
            .unwrap(),
    )
    .unwrap();
    let exprs: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str())
        .collect();
    assert!(exprs.len() >= 3, "{exprs:?}");
    for expr in exprs {
        let promql = expr
            .replace("$test", "tiers-views")
            .replace("$environment", "ci")
            .replace("$version", "v1")
            .replace("$run", ".*")
            .replace("$component", ".*");
        let result = query(&prometheus, &promql);
        assert!(!result.is_empty(), "the dashboard's {expr} answers nothing for the run");
        if expr.starts_with("histogram_quantile(0.95") {
            for r in &result {
                let c = r["metric"]["component"].as_str().unwrap();
                assert_eq!(r["value"][1].as_str().unwrap().parse::<f64>().unwrap(), got[c], "{c}: {promql}");
            }
        }
    }

    // 2. The HTML report's views, with a hostile endpoint name in the data.
    let mut findings = findings;
    let hostile = "<img src=x onerror=alert(1)>";
    if let Some(e) = findings.endpoints.first_mut() {
        e.group = hostile.to_string();
    }
    assert_eq!(findings.slowest.len(), SLOWEST);
    let j = judged();
    let mut verdict = j.verdict.clone();
    verdict.traces = Some(findings.clone());
    let html = k6gate::report::html::render(&verdict, &j.candidate, Some(&j.baseline));
    assert!(!html.contains(hostile) && html.contains("&lt;img src=x onerror=alert(1)&gt;"), "escaped");
    assert!(!html.contains("<script"), "no script");
    for c in ["end-to-end", "api", "db", "gateway"] {
        assert!(html.contains(&format!("<svg class=\"heatmap\" data-component=\"{c}\"")), "heatmap of {c}");
    }
    assert_eq!(html.matches("<tr data-group=").count(), findings.endpoints.len());
    // Each slowest request's timings are the attribution's, to the nanosecond.
    let per_request: BTreeMap<&str, &Value> =
        v["requests"].as_array().unwrap().iter().map(|r| (r["trace_id"].as_str().unwrap(), r)).collect();
    let page = save("trace-views.html", html.as_bytes());
    let profile = tempfile::tempdir().unwrap();
    assert!(Path::new(CHROMIUM).exists(), "{CHROMIUM} is missing: run `sudo scripts/install-chromium.sh`");
    let dom = chromium(profile.path(), &page, &["--dump-dom"], Duration::from_secs(120));
    assert!(!dom.contains(hostile), "escaped in the DOM too");
    for r in &findings.slowest {
        let a = per_request[r.trace_id.as_str()];
        let block = between(&dom, &format!("data-trace-id=\"{}\"", r.trace_id), "</details>");
        assert!(block.contains("class=\"waterfall\""), "waterfall of {}", r.trace_id);
        assert!(block.contains(&TRACE_LINK.replace("{trace_id}", &r.trace_id).replace('&', "&amp;")), "link");
        assert!(!r.spans.is_empty(), "spans of {}", r.trace_id);
        for (c, ns) in a["parts"].as_object().unwrap() {
            let ms = ns.as_i64().unwrap() as f64 / 1e6;
            let cell = format!("data-component=\"{c}\"");
            let row = between(block, &cell, "</tr>");
            let shown: f64 = between(row, "data-ms=\"", "\">")["data-ms=\"".len()..].parse().unwrap();
            assert!((shown - ms).abs() < 1e-9, "{}: {c} shows {shown} ms, attribution {ms} ms", r.trace_id);
        }
    }
    println!("trace views: {} bytes of HTML, kept at {}", html.len(), page.display());
}

fn between<'a>(s: &'a str, open: &str, close: &str) -> &'a str {
    let start = s.find(open).unwrap_or_else(|| panic!("{open:?} not found"));
    let rest = &s[start..];
    &rest[..rest.find(close).unwrap_or_else(|| panic!("{close:?} not found after {open:?}"))]
}
