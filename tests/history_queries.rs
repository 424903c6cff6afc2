//! `k6gate history compare`, `trend` and `backfill` through the CLI, on a store of real
//! summaries: the answers come from the runs' records, a version without decided runs or a
//! run without a record is an error (exit 2), and backfill reads the stored summaries.

use std::path::Path;

use k6gate::RunSummary;
use k6gate::history::{NewRun, Outcome, RunStore, SqliteStore};
use k6gate::summary::digest::{self, DigestRow, STEADY_STATE, TOTAL};
use serde_json::value::to_raw_value;

use crate::support::cli::K6gate;
use crate::support::root;

/// 2026-11-28T00:15:42Z.
const T0: i64 = 1_795_824_942_000_000_000;
const HOUR: i64 = 3_600_000_000_000;

fn summary() -> RunSummary {
    let gz = std::fs::read(root().join("tests/fixtures/golden/staged-json.summary.json.gz")).unwrap();
    serde_json::from_reader(flate2::read::GzDecoder::new(&gz[..])).unwrap()
}

/// The summary's rows with every latency scaled by `factor`.
fn scaled(summary: &RunSummary, factor: f64) -> Vec<DigestRow> {
    let mut rows = digest::rows(summary);
    for r in &mut rows {
        for v in [&mut r.p50_ms, &mut r.p95_ms, &mut r.p99_ms] {
            *v = v.map(|x| x * factor);
        }
    }
    rows
}

fn record(store: &SqliteStore, version: &str, hour: i64, outcome: Outcome, digest: Vec<DigestRow>) -> String {
    let s = summary();
    let decided = outcome.is_decided();
    store
        .record_run(&NewRun {
            test: "checkout".into(),
            environment: "staging".into(),
            outcome,
            started_at_ns: T0 + hour * HOUR,
            finished_at_ns: Some(T0 + hour * HOUR + 60_000_000_000),
            git_branch: Some("main".into()),
            deployment_version: Some(version.into()),
            summary: decided.then(|| to_raw_value(&s).unwrap()),
            verdict: decided.then(|| to_raw_value(&serde_json::json!({"outcome": outcome.as_str()})).unwrap()),
            digest,
            ..NewRun::default()
        })
        .unwrap()
}

fn cli(state: &Path) -> K6gate {
    K6gate::new().current_dir(root()).env("K6GATE_STATE_DIR", state).env_remove("K6GATE_HISTORY_URL")
}

const COMPARE: [&str; 10] =
    ["history", "compare", "--test", "checkout", "--env", "staging", "--from", "v1.2.2", "--to", "v1.2.3"];

#[test]
fn compare_and_trend_answer_from_the_records_and_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = SqliteStore::open(state.join("history.db")).unwrap();
    let s = summary();
    let steady_p95 = s.steady_state.as_ref().unwrap().summary.total.latency_ms.as_ref().unwrap().p95.unwrap();
    // v1.2.2: two runs, one of them recorded before records existed (no rows).
    record(&store, "v1.2.2", 0, Outcome::Pass, scaled(&s, 1.0));
    let old = record(&store, "v1.2.2", 1, Outcome::Pass, Vec::new());
    // v1.2.3: 30 % slower, two runs, and an errored one that never counts.
    record(&store, "v1.2.3", 2, Outcome::Fail, scaled(&s, 1.3));
    record(&store, "v1.2.3", 3, Outcome::Fail, scaled(&s, 1.31));
    record(&store, "v1.2.3", 4, Outcome::Error, Vec::new());
    record(&store, "v1.2.4", 5, Outcome::Inconclusive, scaled(&s, 2.0));
    drop(store);

    let err = cli(&state).args(COMPARE).status(2);
    let text = err.stderr();
    assert!(text.contains(&old) && text.contains("k6gate history backfill"), "{text}");
    cli(&state).args(["history", "backfill"]).status(0).stdout_contains("added the record of 1 run(s)");

    let json = cli(&state).args(COMPARE).args(["--format", "json"]).status(0).stdout_json();
    assert_eq!(json["phase"], STEADY_STATE);
    assert_eq!(json["from"]["runs"].as_array().unwrap().len(), 2);
    assert_eq!(json["to"]["left_out"][0]["outcome"], "error", "the errored run is listed, not counted");
    let total = &json["groups"][0];
    assert_eq!(total["group"], TOTAL);
    let (from, to) = (total["p95_ms"]["from"].as_f64().unwrap(), total["p95_ms"]["to"].as_f64().unwrap());
    assert!((from - steady_p95).abs() < 1e-9, "{from} vs {steady_p95}");
    assert!((to / from - (1.3f64 * 1.31).sqrt()).abs() < 1e-9);
    assert!((total["p95_ms"]["change_pct"].as_f64().unwrap() - ((1.3f64 * 1.31).sqrt() - 1.0) * 100.0).abs() < 1e-6);
    assert_eq!(total["p95_ms"]["between"], "tested");
    assert_eq!(total["p95_ms"]["stands_out"], true, "{total}");
    assert!(json["groups"].as_array().unwrap().len() > 1, "every group of the phase");

    let md = cli(&state).args(COMPARE).args(["--group", "", "--format", "markdown"]).status(0).stdout();
    assert!(md.contains("| (all requests) | P95 |") && md.contains("stands out"), "{md}");
    let one = cli(&state).args(COMPARE).args(["--phase", "whole-run", "--group", ""]).status(0).stdout();
    assert!(one.contains("whole-run phase") && one.contains("(all requests)"), "{one}");

    // Fail closed: a version with no decided run, an unknown phase.
    cli(&state)
        .args(["history", "compare", "--test", "checkout", "--env", "staging", "--from", "v1.2.3", "--to", "v1.2.4"])
        .status(2)
        .stderr_contains("version \"v1.2.4\" has no decided run (pass, warn or fail): only 1 inconclusive");
    cli(&state)
        .args(COMPARE)
        .args(["--phase", "soak"])
        .status(2)
        .stderr_contains("phase \"soak\" is not in the record");

    let trend = cli(&state)
        .args(["history", "trend", "--test", "checkout", "--env", "staging", "--format", "json"])
        .status(0)
        .stdout_json();
    let points = trend["points"].as_array().unwrap();
    let versions: Vec<&str> = points.iter().map(|p| p["version"].as_str().unwrap()).collect();
    assert_eq!(versions, ["v1.2.2", "v1.2.3", "v1.2.4"]);
    assert_eq!((points[1]["runs"].as_u64(), points[1]["outcomes"]["error"].as_u64()), (Some(2), Some(1)));
    assert!(points[2]["value"].is_null(), "an inconclusive run gives no value");
    let text = cli(&state)
        .args(["history", "trend", "--test", "checkout", "--env", "staging", "--metric", "error_rate"])
        .status(0)
        .stdout();
    assert!(text.contains("error_rate over 3 deployment(s)"), "{text}");
    cli(&state)
        .args(["history", "trend", "--test", "checkout", "--env", "staging", "--since", "2030-01-01"])
        .status(2)
        .stderr_contains("no decided run (pass, warn or fail) since 2030-01-01T00:00:00.000Z");
    cli(&state)
        .args(["history", "trend", "--test", "checkout", "--env", "staging", "--metric", "p42"])
        .status(2)
        .stderr_contains("unknown metric \"p42\"");
}
