//! `k6gate evaluate` end to end, on real k6 runs against the local target (fixtures
//! `policy-*`: test "checkout", 5 VUs for 12 s) with the shipped policies.

use std::path::Path;

use crate::fixtures::{k6gate, path, stderr, stdout};

const NOW: &str = "2026-11-28T12:00:00Z";

const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

/// `k6gate evaluate` of `run` against `baseline` as `test` in env `ci` at [`NOW`].
fn evaluate_args(run: &Path, baseline: &Path, test: &str, policies: &str) -> Vec<String> {
    [
        "evaluate",
        "--run",
        &run.display().to_string(),
        "--baseline",
        &baseline.display().to_string(),
        "--test",
        test,
        "--env",
        "ci",
        "--now",
        NOW,
        "--policies",
        policies,
    ]
    .map(str::to_string)
    .to_vec()
}

fn evaluate(baseline: &str, run: &str, extra: &[&str]) -> (i32, serde_json::Value, String) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("verdict.json");
    let (b, r) = (path(&format!("{baseline}.json")), path(&format!("{run}.json")));
    let mut args = evaluate_args(&r, &b, "checkout", SHIPPED);
    args.extend(["-o".to_string(), out.display().to_string()]);
    args.extend(extra.iter().map(|s| s.to_string()));
    let o = k6gate(&args);
    let code = o.status.code().unwrap_or(-1);
    assert_ne!(code, 2, "evaluate failed: {}", stderr(&o));
    let verdict: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    (code, verdict, stdout(&o))
}

fn failing_ids(v: &serde_json::Value) -> Vec<String> {
    v["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "fail")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn two_runs_of_the_same_target_pass() {
    let (code, v, _) = evaluate("policy-base-a", "policy-base-b", &[]);
    assert_eq!(code, 0, "{:#?}", failing_ids(&v));
    assert_ne!(v["outcome"], "fail");
}

#[test]
fn a_target_made_30_percent_slower_fails_on_the_p95_budget() {
    let (code, v, text) = evaluate("policy-base-a", "policy-slow", &[]);
    assert_eq!(code, 1);
    assert_eq!(v["outcome"], "fail");
    let ids = failing_ids(&v);
    assert!(ids.contains(&"budget/all/p95_ms".to_string()), "{ids:?}");
    let p95 = v["results"].as_array().unwrap().iter().find(|r| r["id"] == "budget/all/p95_ms").unwrap();
    let c = &p95["comparison"];
    assert!(c["rel_change"].as_f64().unwrap() > 0.15, "{c}");
    assert!(c["p_value"].as_f64().unwrap() < 0.01, "{c}");
    assert!(text.contains("P95 latency rose"), "{text}");
    assert!(text.contains("steady-state phase"), "{text}");
    assert!(text.contains("budget 10 %"), "{text}");
}

#[test]
fn a_baseline_with_a_warm_up_spike_against_a_candidate_without_one_passes() {
    let (code, v, _) = evaluate("policy-warmup", "policy-base-b", &[]);
    assert_eq!(code, 0, "{:#?}", failing_ids(&v));
    // The baseline's spike was trimmed before comparing.
    assert!(v["baseline"]["trimmed_s"].as_f64().unwrap() >= 2.0, "{}", v["baseline"]);
    // Without trimming (the whole sustained phase), the spike would dominate the baseline's p95.
    let (_, untrimmed, _) = evaluate("policy-warmup", "policy-base-b", &["--phase", "sustained"]);
    let b = untrimmed["comparison"]["metrics"][1]["baseline"].as_f64().unwrap();
    let trimmed = v["comparison"]["metrics"][1]["baseline"].as_f64().unwrap();
    assert!(b > 3.0 * trimmed, "untrimmed baseline p95 {b} vs trimmed {trimmed}");
}

#[test]
fn a_candidate_with_3_percent_errors_fails_on_the_sla() {
    let (code, v, _) = evaluate("policy-base-a", "policy-errors", &[]);
    assert_eq!(code, 1);
    let ids = failing_ids(&v);
    assert!(ids.contains(&"sla/all/error_rate".to_string()), "{ids:?}");
    let r = v["results"].as_array().unwrap().iter().find(|r| r["id"] == "sla/all/error_rate").unwrap();
    assert!(r["message"].as_str().unwrap().contains("SLA < 1.00 %"), "{r}");
}

#[test]
fn markdown_and_json_formats() {
    let (_, _, md) = evaluate("policy-base-a", "policy-slow", &["--format", "markdown"]);
    assert!(md.starts_with("### ❌ k6gate: P95 +"), "{md}");
    assert!(md.contains("| group | metric | baseline | candidate | change | significance |"), "{md}");
    let (_, _, json) = evaluate("policy-base-a", "policy-slow", &["--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema_version"], "k6gate.verdict/v1");
}

#[test]
fn a_run_of_another_test_fails_closed() {
    // staged.json is test "staged": judging it as "checkout" must fail, whatever its numbers.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.json");
    let mut args = evaluate_args(&path("staged.json"), &path("policy-base-a.json"), "checkout", SHIPPED);
    args.extend(["-o".to_string(), out.display().to_string()]);
    let o = k6gate(&args);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(failing_ids(&v).iter().any(|id| id.starts_with("identity/candidate")), "{:?}", failing_ids(&v));
}

#[test]
fn compare_prints_the_side_by_side_table() {
    let o =
        k6gate(["compare", path("policy-base-a.json").to_str().unwrap(), path("policy-slow.json").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(text.contains("baseline v1.0.0 vs candidate v1.1.0, steady-state phase"), "{text}");
    assert!(text.contains("P95 latency"), "{text}");
}

#[test]
fn a_summary_export_baseline_cannot_be_compared_soundly() {
    let (code, v, _) = evaluate("policy-base-a", "policy-base-b", &["--phase", "whole-run"]);
    // Whole-run over JSON inputs still has series: every metric of every group compares soundly.
    assert_eq!(v["phase"], "whole-run");
    let metrics = v["comparison"]["metrics"].as_array().unwrap();
    assert!(!metrics.is_empty());
    let unsound: Vec<_> = metrics.iter().filter(|m| m["state"] != "ok").collect();
    assert!(unsound.is_empty(), "{unsound:#?}");
    // And the exit code is the verdict's.
    assert_eq!(code, if v["outcome"] == "fail" { 1 } else { 0 }, "{}", v["outcome"]);
    let export = path("staged.summary-export.json");
    let mut args = evaluate_args(&export, &export, "staged", SHIPPED);
    args.extend(["--phase", "whole-run"].map(str::to_string));
    let o = k6gate(&args);
    // Identical numbers, but no per-second series: significance cannot be tested, so it fails closed.
    assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
    assert!(stdout(&o).contains("ingest the JSON output"), "{}", stdout(&o));
}

/// A typo in `--phase` is a usage error (exit 2) before anything is compared, never a
/// "missing phase" that blocks a deployment (exit 1).
#[test]
fn a_misspelled_phase_is_a_usage_error() {
    let mut args = evaluate_args(&path("policy-base-b.json"), &path("policy-base-a.json"), "checkout", SHIPPED);
    args.extend(["--phase", "steady"].map(str::to_string));
    let o = k6gate(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    assert!(stderr(&o).contains("unknown phase \"steady\""), "{}", stderr(&o));
    assert!(stdout(&o).is_empty(), "{}", stdout(&o));
}

#[test]
fn shipped_policies_pass_their_own_unit_tests() {
    let o = k6gate(["policy", "test", SHIPPED]);
    assert_eq!(o.status.code(), Some(0), "{}{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(" passed"), "{}", stdout(&o));
    let o = k6gate(["policy", "check", SHIPPED]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn a_rego_syntax_error_exits_2_and_names_file_line_col() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for f in std::fs::read_dir(format!("{SHIPPED}/data")).unwrap() {
        let f = f.unwrap().path();
        std::fs::copy(&f, dir.path().join("data").join(f.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        dir.path().join("gate.rego"),
        "package k6gate\n\nimport rego.v1\n\nresults contains x if {\n  x := \n}\n",
    )
    .unwrap();
    let args = evaluate_args(
        &path("policy-base-b.json"),
        &path("policy-base-a.json"),
        "checkout",
        dir.path().to_str().unwrap(),
    );
    let o = k6gate(&args);
    assert_eq!(o.status.code(), Some(2), "{}", stdout(&o));
    let err = stderr(&o);
    assert!(err.contains("gate.rego:7:1") || err.contains("gate.rego:6:"), "{err}");
    assert!(stdout(&o).is_empty(), "no verdict may be printed: {}", stdout(&o));
}
