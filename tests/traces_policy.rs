//! Per-component SLAs and coverage floors (issue 15) judged by the policies like every other
//! rule: `k6gate evaluate --traces FILE` on real k6 fixtures with a trace record, under a
//! copy of the shipped policies whose `traces.yaml` names the fixtures' test.
//!
//! Fast tier: a slow database fails its SLA and the finding is in the verdict; a waiver for
//! `db.p95_ms` is honoured; a coverage below its floor fails before the SLA counts; no record
//! fails closed; broken records and rules are usage errors naming the file and field. Full
//! tier (k6): the three tiers of `tiers/` under k6, `k6gate traces --findings` through the
//! fake Tempo, then `evaluate --traces`: the baseline passes the DB SLA, the slow database
//! fails it, and missing DB spans fail the coverage floor.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::cli::K6gate;
use crate::support::fixtures::Set;

const NOW: &str = "2026-11-28T12:00:00Z";

const RULES: &str = "traces:
  tests:
    - test: checkout
      environment: ci
      components:
        api: { p95_ms: 100 }
        db: { p95_ms: 50 }
      coverage:
        db: 0.99
";

/// The shipped policies copied into `dir/policies`, with `traces.yaml` replaced by `rules`.
fn policies(dir: &Path, rules: &str) -> PathBuf {
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let to = dir.join("policies");
    std::fs::create_dir_all(to.join("data")).unwrap();
    for sub in ["", "data"] {
        for e in std::fs::read_dir(shipped.join(sub)).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                std::fs::copy(&p, to.join(sub).join(p.file_name().unwrap())).unwrap();
            }
        }
    }
    std::fs::write(to.join("data/traces.yaml"), rules).unwrap();
    to
}

fn component(samples: u64, unknown: u64, p95: f64) -> Value {
    json!({
        "samples": samples, "unknown": unknown,
        "coverage": samples as f64 / (samples + unknown) as f64,
        "unknown_reasons": if unknown > 0 { json!({"missing_leaf": unknown}) } else { json!({}) },
        "p50_ms": p95 / 2.0, "p95_ms": p95, "p99_ms": p95 * 1.3, "p95_ci_ms": [p95 * 0.9, p95 * 1.1],
        "share": 0.3,
    })
}

/// A trace record as `traces --findings` writes it, with the database as given.
fn record(dir: &Path, db: Value) -> PathBuf {
    let v = json!({
        "source": "fixture", "requests": 500, "traced": 500, "untraced": 0, "confidence": 0.95,
        "end_to_end": component(500, 0, 120.0),
        "components": {"gateway": component(500, 0, 2.0), "api": component(500, 0, 40.0), "db": db},
        "comparison": [],
    });
    let p = dir.join("traces.json");
    std::fs::write(&p, v.to_string()).unwrap();
    p
}

fn evaluate(policies: &Path, traces: Option<&Path>) -> K6gate {
    let (base, run) = (Set::Small.path("policy-base-a.json"), Set::Small.path("policy-base-b.json"));
    let mut k = K6gate::new()
        .args(["--approval", "trust", "evaluate", "--test", "checkout", "--env", "ci", "--now", NOW])
        .arg("--policies")
        .arg(policies)
        .arg("--run")
        .arg(run)
        .arg("--baseline")
        .arg(base)
        .args(["--format", "json"]);
    if let Some(t) = traces {
        k = k.arg("--traces").arg(t);
    }
    k
}

fn result<'a>(v: &'a Value, id: &str) -> &'a Value {
    v["results"].as_array().unwrap().iter().find(|r| r["id"] == id).unwrap_or_else(|| panic!("no {id}: {v:#}"))
}

#[test]
fn a_db_within_its_sla_passes_and_the_breakdown_is_recorded_in_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let p = policies(dir.path(), RULES);
    let v = evaluate(&p, Some(&record(dir.path(), component(500, 0, 20.0)))).status(0).stdout_json();
    assert_eq!(result(&v, "traces/sla/db/p95_ms")["status"], "pass");
    assert_eq!(result(&v, "traces/sla/api/p95_ms")["status"], "pass");
    assert_eq!(result(&v, "traces/coverage/db")["status"], "pass");
    assert_eq!(v["traces"]["components"]["db"]["p95_ms"], 20.0, "the verdict keeps what was judged");
    assert_eq!(result(&v, "traces/sla/db/p95_ms")["source"]["file"], p.join("data/traces.yaml").display().to_string());
}

#[test]
fn a_slow_db_fails_its_sla_with_the_number_and_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let p = policies(dir.path(), RULES);
    let v = evaluate(&p, Some(&record(dir.path(), component(500, 0, 80.0)))).status(1).stdout_json();
    assert_eq!(v["outcome"], "fail");
    let db = result(&v, "traces/sla/db/p95_ms");
    assert_eq!(db["status"], "fail");
    assert_eq!(db["limit"], 50.0);
    assert!(db["message"].as_str().unwrap().contains("db p95_ms 80 ms"), "{db}");
    assert_eq!(result(&v, "traces/sla/api/p95_ms")["status"], "pass");
}

#[test]
fn a_waiver_for_the_component_metric_is_honoured() {
    let dir = tempfile::tempdir().unwrap();
    let p = policies(dir.path(), RULES);
    std::fs::write(
        p.join("data/waivers.yaml"),
        "waivers:
  - id: W-DB
    test: checkout
    metric: db.p95_ms
    version: v1.0.1
    justification: index rebuild until the next release
    requested_by: alice
    approved_by: bob
    created: 2026-11-27T00:00:00Z
    expires: 2026-12-04T00:00:00Z
",
    )
    .unwrap();
    let v = evaluate(&p, Some(&record(dir.path(), component(500, 0, 80.0)))).status(0).stdout_json();
    let waived: Vec<&Value> = v["exceptions"].as_array().unwrap().iter().filter(|e| e["by"] == "W-DB").collect();
    assert_eq!(waived.len(), 1, "{v:#}");
    assert_eq!(waived[0]["result"], "traces/sla/db/p95_ms");
    assert_eq!(waived[0]["type"], "waived");
    assert!(v["results"].as_array().unwrap().iter().all(|r| r["id"] != "traces/sla/db/p95_ms"));
}

#[test]
fn db_coverage_below_its_floor_fails_the_run_before_the_sla_counts() {
    let dir = tempfile::tempdir().unwrap();
    let p = policies(dir.path(), RULES);
    // 20 % of requests without a DB span; what is known is fast.
    let v = evaluate(&p, Some(&record(dir.path(), component(400, 100, 10.0)))).status(1).stdout_json();
    let cov = result(&v, "traces/coverage/db");
    assert_eq!(cov["status"], "fail");
    assert_eq!(cov["kind"], "data");
    let m = cov["message"].as_str().unwrap();
    assert!(m.contains("db time unknown for 20 % of requests (100 of 500; missing_leaf 100)"), "{m}");
    let sla = result(&v, "traces/sla/db/p95_ms");
    assert_eq!(sla["status"], "fail");
    assert!(sla["message"].as_str().unwrap().contains("not judged"), "{sla}");
}

#[test]
fn without_a_trace_record_the_component_rules_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let p = policies(dir.path(), RULES);
    let v = evaluate(&p, None).status(1).stdout_json();
    let missing = result(&v, "traces/missing");
    assert_eq!(missing["status"], "fail");
    assert!(missing["message"].as_str().unwrap().contains("db.coverage"), "{missing}");
    // The shipped rules name another test: the fixtures' verdict is unchanged by them.
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let v = evaluate(&shipped, None).status(0).stdout_json();
    assert!(v["results"].as_array().unwrap().iter().all(|r| !r["id"].as_str().unwrap().starts_with("traces/")));
}

#[test]
fn broken_records_and_rules_are_usage_errors_naming_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let p = policies(dir.path(), RULES);
    let bad = dir.path().join("bad.json");
    std::fs::write(&bad, r#"{"source": "x", "requests": "many"}"#).unwrap();
    evaluate(&p, Some(&bad)).status(2).stderr_contains("bad.json:1:").stderr_contains("requests");

    let p = policies(dir.path(), &RULES.replace("db: 0.99", "db: 1.5"));
    evaluate(&p, Some(&record(dir.path(), component(500, 0, 20.0))))
        .status(2)
        .stderr_contains("traces.yaml:9:9:")
        .stderr_contains("coverage of db is a share between 0 and 1, got 1.5");
}

/// k6 against the gateway for 2 s at 40 requests/s, then `k6gate traces --findings` through
/// the fake Tempo: k6's output and the trace record.
fn traced_run(
    dir: &Path,
    name: &str,
    tiers: &crate::support::tiers::Tiers,
    http: &crate::support::mock_http::MockHttp,
    fake: &crate::support::fake_tempo::FakeTempo,
) -> (PathBuf, PathBuf) {
    let out = dir.join(format!("{name}.json"));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/k6/scripts/traces_stack.js");
    let k6 = std::process::Command::new("k6")
        .args(["run", "--quiet", "--no-summary", "--no-thresholds", "--out"])
        .arg(format!("json={}", out.display()))
        .arg(&script)
        .env("K6_NO_USAGE_REPORT", "true")
        .env("BASE_URL", &tiers.gateway.url)
        .env("DURATION", "2s")
        .env("RATE", "40")
        .output()
        .expect("run k6");
    assert!(k6.status.success(), "k6: {}", String::from_utf8_lossy(&k6.stderr));
    // Bounded generously: the machine is shared, the tiers' batch delay is 100 ms.
    crate::traces_stack::wait_for_exports(
        fake,
        std::time::Duration::from_millis(400),
        std::time::Duration::from_secs(20),
    );
    let findings = dir.join(format!("{name}-traces.json"));
    K6gate::new()
        .args(["traces"])
        .arg(&out)
        .args(["--tempo", &http.uri(), "--expect", "api", "--expect", "db", "--gateway", "gateway"])
        .args(["--settle-fetches", "2", "--settle-interval", "100ms", "--findings"])
        .arg(&findings)
        .status(0);
    (out, findings)
}

fn evaluate_tiers(policies: &Path, baseline: &Path, run: &Path, findings: &Path) -> Value {
    let ran = K6gate::new()
        .args(["--approval", "trust", "evaluate", "--test", "tiers", "--env", "demo", "--format", "json"])
        .arg("--policies")
        .arg(policies)
        .arg("--run")
        .arg(run)
        .arg("--baseline")
        .arg(baseline)
        .arg("--traces")
        .arg(findings)
        .output();
    assert!(matches!(ran.code(), Some(0 | 1)), "evaluate: {}", ran.stderr());
    ran.stdout_json()
}

#[test]
#[ignore = "full tier: needs k6"]
fn on_the_tiers_stack_a_slow_db_fails_its_sla_missing_spans_fail_coverage_and_the_baseline_passes() {
    // A DB limit of 30 ms at P95: the baseline's queries take about a millisecond, the slow
    // database adds 40 ms to each (one to three per request), so the fault clears it on every
    // request whatever the machine's noise.
    let rules = "traces:\n  tests:\n    - test: tiers\n      components:\n        db: { p95_ms: 30 }\n      coverage:\n        db: 0.99\n";
    let (http, fake) = crate::traces_stack::serve();
    let dir = tempfile::tempdir().unwrap();
    let p = policies(dir.path(), rules);
    let mut tiers = crate::support::tiers::Tiers::start(&http.url("/v1/traces"), 100, &[]);

    let (base, base_traces) = traced_run(dir.path(), "baseline", &tiers, &http, &fake);
    let v = evaluate_tiers(&p, &base, &base, &base_traces);
    let db = result(&v, "traces/sla/db/p95_ms");
    assert_eq!(db["status"], "pass", "{db}");
    assert_eq!(result(&v, "traces/coverage/db")["status"], "pass");
    println!("baseline: {}", db["message"]);

    tiers.set_faults(r#"{"db_delay_ms": 40}"#);
    let (slow, slow_traces) = traced_run(dir.path(), "slow-db", &tiers, &http, &fake);
    let v = evaluate_tiers(&p, &base, &slow, &slow_traces);
    let db = result(&v, "traces/sla/db/p95_ms");
    assert_eq!(db["status"], "fail", "{db}");
    assert_eq!(v["outcome"], "fail");
    assert!(v["traces"]["components"]["db"]["p95_ms"].as_f64().unwrap() >= 40.0, "{}", v["traces"]);
    println!("slow db: {}", db["message"]);

    tiers.set_faults(r#"{"db_delay_ms": 0, "db_uninstrumented": 0.2}"#);
    let (missing, missing_traces) = traced_run(dir.path(), "db-missing", &tiers, &http, &fake);
    let v = evaluate_tiers(&p, &base, &missing, &missing_traces);
    let cov = result(&v, "traces/coverage/db");
    assert_eq!(cov["status"], "fail", "{cov}");
    assert!(cov["message"].as_str().unwrap().contains("missing_leaf"), "{cov}");
    assert_eq!(result(&v, "traces/sla/db/p95_ms")["status"], "fail");
    println!("db missing: {}", cov["message"]);
    tiers.stop();
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn span_metrics_are_published_per_component_and_read_back_from_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let (k6, otlp) = crate::traces::write_run(dir.path(), "run", 1.0);
    let prom = crate::support::prometheus::start("traces-spans");
    let test = format!("spans-{}", std::process::id());
    let findings = dir.path().join("traces.json");
    K6gate::new()
        .args(["traces"])
        .arg(&k6)
        .arg("--otlp")
        .arg(&otlp)
        .args(["--expect", "db", "--findings"])
        .arg(&findings)
        .args(["--publish", &format!("{prom}/api/v1/write"), "--test", &test, "--env", "ci"])
        .args(["--deployment-version", "v9", "--run-id", "r1"])
        .status(0);
    let record: Value = serde_json::from_str(&std::fs::read_to_string(&findings).unwrap()).unwrap();
    let want = record["components"]["db"]["p95_ms"].as_f64().unwrap() / 1000.0;
    // The sample is at the publishing time: read it within Prometheus' lookback.
    let v = crate::support::http::get_json(
        &format!("{prom}/api/v1/query"),
        &[("query", &format!(r#"k6gate_component_latency_p95_seconds{{test_name="{test}",component="db"}}"#))],
    );
    let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
    assert_eq!(result.len(), 1, "{v}");
    let got: f64 = result[0]["value"][1].as_str().unwrap().parse().unwrap();
    assert!((got - want).abs() < 1e-12, "published {got}, the record says {want}");
    assert_eq!(result[0]["metric"]["deployment_version"], "v9");
    let cov = crate::support::http::get_json(
        &format!("{prom}/api/v1/query"),
        &[("query", &format!(r#"k6gate_component_coverage_ratio{{test_name="{test}",component="db"}}"#))],
    );
    assert_eq!(cov["data"]["result"].as_array().map(Vec::len), Some(1), "{cov}");
}
