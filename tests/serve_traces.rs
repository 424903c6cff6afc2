//! The trace breakdown on `k6gate serve`'s compare and run pages, over real HTTP, fast tier:
//! three runs of real k6 1.1 outputs judged by the gate with the shipped policies, two of them
//! with a trace breakdown recorded in their verdict as `k6gate evaluate --traces` records it
//! (`Verdict.traces`: the baseline's database P95 40 ms, the candidate's 80 ms), one without.

use std::collections::BTreeMap;

use k6gate::compare::Phase;
use k6gate::gate::{Baseline, Case, Gate, PolicySource, Side};
use k6gate::github::approval::Mode;
use k6gate::history::{HistoryConfig, NewRun, Outcome, RunStore, Store};
use k6gate::traces::TraceFindings;
use serde_json::{Value, json};

use crate::serve::{config, request, start, unescape};
use crate::support::fixtures::Set;
use crate::support::verdicts::SHIPPED;

const T0: i64 = 1_764_547_200_000_000_000; // 2025-12-01T00:00:00Z

fn component(samples: u64, unknown: u64, p95: f64, share: f64) -> Value {
    json!({
        "samples": samples, "unknown": unknown,
        "coverage": samples as f64 / (samples + unknown) as f64,
        "unknown_reasons": if unknown > 0 { json!({"missing_leaf": unknown}) } else { json!({}) },
        "p50_ms": p95 / 2.0, "p95_ms": p95, "p99_ms": p95 * 1.5, "p95_ci_ms": [p95 * 0.9, p95 * 1.1],
        "share": share,
    })
}

/// A breakdown as `k6gate traces --findings` writes it.
fn findings(db_p95: f64) -> TraceFindings {
    serde_json::from_value(json!({
        "source": "tempo http://127.0.0.1:3200",
        "requests": 1000, "traced": 990, "untraced": 10, "confidence": 0.95,
        "end_to_end": component(990, 0, 120.0 + db_p95, 1.0),
        "components": {
            "api": component(990, 0, 30.0, 0.3),
            "db": component(980, 10, db_p95, 0.4),
        },
        "comparison": [],
    }))
    .unwrap()
}

/// Records a judged run of `summary`, with `traces` in its verdict when given.
fn judged(store: &Store, gate: &Gate, file: &str, traces: Option<TraceFindings>, hour: i64) -> String {
    let summary = Set::Small.ingest(file);
    let mut verdict = gate
        .judge(&Case {
            test: "checkout",
            environment: "ci",
            now_ns: T0,
            phase: &Phase::SteadyState,
            candidate: Side { summary: &summary, source: "this run" },
            confirmations: &[],
            baseline: Baseline::None,
            previous: None,
        })
        .unwrap();
    verdict.traces = traces;
    store
        .record_run(&NewRun {
            test: "checkout".into(),
            environment: "ci".into(),
            outcome: Outcome::Pass,
            started_at_ns: T0 + hour * 3_600_000_000_000,
            deployment_version: Some(format!("v1.0.{hour}")),
            summary: Some(serde_json::value::to_raw_value(&summary).unwrap()),
            verdict: Some(serde_json::value::to_raw_value(&verdict).unwrap()),
            digest: k6gate::summary::digest::rows(&summary),
            ..NewRun::default()
        })
        .unwrap()
}

/// The breakdown table's row of `component`.
fn row<'a>(body: &'a str, component: &str) -> &'a str {
    body.split(&format!("<tr class=\"trace-row\" data-component=\"{component}\">"))
        .nth(1)
        .unwrap_or_else(|| panic!("no row {component}: {body}"))
        .split("</tr>")
        .next()
        .unwrap()
}

#[test]
fn the_compare_page_shows_both_breakdowns_side_by_side_or_says_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let gate = Gate::load(&PolicySource::new(SHIPPED, Mode::Trust)).unwrap();
    let base = judged(&store, &gate, "policy-base-a.json", Some(findings(40.0)), 1);
    let cand = judged(&store, &gate, "policy-base-b.json", Some(findings(80.0)), 2);
    let plain = judged(&store, &gate, "policy-base-a.json", None, 3);
    let addr = start(store, config(BTreeMap::new()));

    let page = request(addr, "GET", &format!("/compare/{base}/{cand}"), &[], "");
    assert_eq!(page.status, 200, "{}", page.body);
    let body = unescape(&page.body);
    assert!(!body.contains("no trace breakdown for this run"), "both runs have one");
    assert!(body.contains("1000 requests, 990 traced, 10 untraced; from tempo http://127.0.0.1:3200"));
    // The database: both runs' quantiles, share and coverage, and the P95's change.
    let db = row(&page.body, "db");
    assert!(db.contains("data-p95=\"40\"") && db.contains("data-p95=\"80\""), "{db}");
    assert!(db.contains("20.0 ms") && db.contains("120.0 ms"), "P50 of the candidate, P99 of the candidate: {db}");
    assert!(db.contains("40.0 %"), "share of end to end: {db}");
    assert!(db.contains("99.0 % of 990, 10 unknown: missing_leaf 10"), "coverage: {db}");
    assert!(db.contains("class=\"badge worse\" data-rel=\"1\"") && db.contains("P95 +100.0 %"), "{db}");
    let api = row(&page.body, "api");
    assert!(api.contains("class=\"badge same\""), "an unchanged component: {api}");
    let e2e = row(&page.body, "end to end");
    assert!(e2e.contains("data-p95=\"160\"") && e2e.contains("data-p95=\"200\""), "{e2e}");

    // A run without one: said for that run, the other's shown alone.
    let page = request(addr, "GET", &format!("/compare/{plain}/{cand}"), &[], "");
    assert_eq!(page.status, 200);
    let side = page.body.split("data-role=\"baseline\"").nth(1).unwrap().split("</p>").next().unwrap();
    assert!(side.contains("no trace breakdown for this run"), "{side}");
    let db = row(&page.body, "db");
    assert!(db.contains("not in this run's breakdown") && db.contains("data-p95=\"80\""), "{db}");
    assert!(!db.contains("badge"), "no change without the baseline's: {db}");

    // The run page: its own breakdown, or the sentence.
    let page = request(addr, "GET", &format!("/runs/{plain}"), &[], "");
    assert!(page.body.contains("no trace breakdown for this run"));
    assert!(!page.body.contains("trace-breakdown"));
    let page = request(addr, "GET", &format!("/runs/{cand}"), &[], "");
    assert!(row(&page.body, "db").contains("data-p95=\"80\""));
}
