//! `k6gate evaluate` end to end, on real k6 runs against the local target with the shipped
//! policies: test "checkout", 2 VUs for 10 s in the small checked-in set (fast tier), 5 VUs
//! for 12 s in the generated one (full tier, `policy-*`). What holds for both runs on both.

use std::path::{Path, PathBuf};

use crate::support::cli::{K6gate, Ran};
use crate::support::fixtures::{Set, on_both_sets};

const NOW: &str = "2026-11-28T12:00:00Z";

pub const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

/// `k6gate evaluate` of `run` against `baseline` as `test` in env `ci` at [`NOW`].
fn evaluate_cmd(run: &Path, baseline: &Path, test: &str, policies: &str) -> K6gate {
    K6gate::new().arg("evaluate").arg("--run").arg(run).arg("--baseline").arg(baseline).args([
        "--test",
        test,
        "--env",
        "ci",
        "--now",
        NOW,
        "--policies",
        policies,
    ])
}

/// A verdict: the exit code, the verdict file, and stdout.
struct Judged {
    code: i32,
    verdict: serde_json::Value,
    stdout: String,
}

fn evaluate(set: Set, baseline: &str, run: &str, extra: &[&str]) -> Judged {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("verdict.json");
    let (b, r) = (set.path(&format!("{baseline}.json")), set.path(&format!("{run}.json")));
    let o = evaluate_cmd(&r, &b, "checkout", SHIPPED).arg("-o").arg(&out).args(extra).output();
    let code = o.code().unwrap_or(-1);
    assert_ne!(code, 2, "evaluate failed: {}", o.stderr());
    let verdict = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    Judged { code, verdict, stdout: o.stdout() }
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

fn two_runs_of_the_same_target_pass(set: Set) {
    let j = evaluate(set, "policy-base-a", "policy-base-b", &[]);
    assert_eq!(j.code, 0, "{:#?}", failing_ids(&j.verdict));
    assert_ne!(j.verdict["outcome"], "fail");
}

fn a_target_made_30_percent_slower_fails_on_the_p95_budget(set: Set) {
    let Judged { code, verdict: v, stdout: text } = evaluate(set, "policy-base-a", "policy-slow", &[]);
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

fn markdown_and_json_formats(set: Set) {
    let md = evaluate(set, "policy-base-a", "policy-slow", &["--format", "markdown"]).stdout;
    assert!(md.starts_with("### ❌ k6gate: P95 +"), "{md}");
    assert!(md.contains("| group | metric | baseline | candidate | change | significance |"), "{md}");
    let json = evaluate(set, "policy-base-a", "policy-slow", &["--format", "json"]).stdout;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["schema_version"], "k6gate.verdict/v1");
}

fn compare_prints_the_side_by_side_table(set: Set) {
    K6gate::new()
        .arg("compare")
        .arg(set.path("policy-base-a.json"))
        .arg(set.path("policy-slow.json"))
        .status(0)
        .stdout_contains("baseline v1.0.0 vs candidate v1.1.0, steady-state phase")
        .stdout_contains("P95 latency");
}

on_both_sets!(
    two_runs_of_the_same_target_pass,
    a_target_made_30_percent_slower_fails_on_the_p95_budget,
    markdown_and_json_formats,
    compare_prints_the_side_by_side_table,
);

#[test]
#[ignore = "full tier: needs k6"]
fn a_baseline_with_a_warm_up_spike_against_a_candidate_without_one_passes() {
    let j = evaluate(Set::Full, "policy-warmup", "policy-base-b", &[]);
    let v = j.verdict;
    assert_eq!(j.code, 0, "{:#?}", failing_ids(&v));
    // The baseline's spike was trimmed before comparing.
    assert!(v["baseline"]["trimmed_s"].as_f64().unwrap() >= 2.0, "{}", v["baseline"]);
    // Without trimming (the whole sustained phase), the spike would dominate the baseline's p95.
    let untrimmed = evaluate(Set::Full, "policy-warmup", "policy-base-b", &["--phase", "sustained"]).verdict;
    let b = untrimmed["comparison"]["metrics"][1]["baseline"].as_f64().unwrap();
    let trimmed = v["comparison"]["metrics"][1]["baseline"].as_f64().unwrap();
    assert!(b > 3.0 * trimmed, "untrimmed baseline p95 {b} vs trimmed {trimmed}");
}

#[test]
#[ignore = "full tier: needs k6"]
fn a_candidate_with_3_percent_errors_fails_on_the_sla() {
    let j = evaluate(Set::Full, "policy-base-a", "policy-errors", &[]);
    assert_eq!(j.code, 1);
    let ids = failing_ids(&j.verdict);
    assert!(ids.contains(&"sla/all/error_rate".to_string()), "{ids:?}");
    let r = j.verdict["results"].as_array().unwrap().iter().find(|r| r["id"] == "sla/all/error_rate").unwrap();
    assert!(r["message"].as_str().unwrap().contains("SLA < 1.00 %"), "{r}");
}

#[test]
fn a_run_of_another_test_fails_closed() {
    // staged.json is test "staged": judging it as "checkout" must fail, whatever its numbers.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("v.json");
    evaluate_cmd(&Set::Small.path("staged.json"), &Set::Small.path("policy-base-a.json"), "checkout", SHIPPED)
        .arg("-o")
        .arg(&out)
        .status(1);
    let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert!(failing_ids(&v).iter().any(|id| id.starts_with("identity/candidate")), "{:?}", failing_ids(&v));
}

#[test]
fn a_summary_export_baseline_cannot_be_compared_soundly() {
    let j = evaluate(Set::Small, "policy-base-a", "policy-base-b", &["--phase", "whole-run"]);
    let v = &j.verdict;
    // Whole-run over JSON inputs still has series: every metric of every group compares soundly.
    assert_eq!(v["phase"], "whole-run");
    let metrics = v["comparison"]["metrics"].as_array().unwrap();
    assert!(!metrics.is_empty());
    let unsound: Vec<_> = metrics.iter().filter(|m| m["state"] != "ok").collect();
    assert!(unsound.is_empty(), "{unsound:#?}");
    // And the exit code is the verdict's.
    assert_eq!(j.code, if v["outcome"] == "fail" { 1 } else { 0 }, "{}", v["outcome"]);
    let export = Set::Small.path("staged.summary-export.json");
    // Identical numbers, but no per-second series: significance cannot be tested, so it fails closed.
    evaluate_cmd(&export, &export, "staged", SHIPPED)
        .args(["--phase", "whole-run"])
        .status(1)
        .stdout_contains("ingest the JSON output");
}

/// A typo in `--phase` is a usage error (exit 2) before anything is compared, never a
/// "missing phase" that blocks a deployment (exit 1).
#[test]
fn a_misspelled_phase_is_a_usage_error() {
    evaluate_cmd(&small("policy-base-b.json"), &small("policy-base-a.json"), "checkout", SHIPPED)
        .args(["--phase", "steady"])
        .status(2)
        .stderr_contains("unknown phase \"steady\"")
        .stdout_is_empty();
}

#[test]
fn shipped_policies_pass_their_own_unit_tests() {
    K6gate::new().args(["policy", "test", SHIPPED]).status(0).stdout_contains(" passed");
    K6gate::new().args(["policy", "check", SHIPPED]).status(0);
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
    let o: Ran = evaluate_cmd(
        &small("policy-base-b.json"),
        &small("policy-base-a.json"),
        "checkout",
        dir.path().to_str().unwrap(),
    )
    .status(2)
    .stdout_is_empty();
    let err = o.stderr();
    assert!(err.contains("gate.rego:7:1") || err.contains("gate.rego:6:"), "{err}");
}

fn small(name: &str) -> PathBuf {
    Set::Small.path(name)
}
