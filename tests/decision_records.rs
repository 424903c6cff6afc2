//! The decision record (`history::Decision`) a run gets when it is recorded, which `/teams`
//! and `/metrics` read instead of verdicts (issue 17). Fast tier: the record equals what the
//! gate's real verdict says for a pass, a fail, a run passed by a waiver and one passed by a
//! migration window; it survives the store (both backends answer alike); and a store of the
//! previous schema (7) migrates and is back-filled once from its stored verdicts, a run whose
//! verdict cannot be read being named and left without a record (the page then reads, and
//! refuses, its verdict: never a clean run).

use std::path::Path;

use k6gate::compare::Phase;
use k6gate::gate::{Baseline, Case, Gate, PolicySource, Side};
use k6gate::github::approval::Mode;
use k6gate::history::{Decision, Decisions, HistoryConfig, NewRun, Outcome, RemoteConfig, RunStore, Store};
use k6gate::policy::decision;
use k6gate::policy::verdict::{ExceptionKind, Status, Verdict};

use crate::serve_trends::policies;
use crate::support::fixtures::Set;

const NOW: i64 = 1_764_547_200_000_000_000; // 2025-12-01

/// The gate's verdict on the slow run against the base one, under `extra` policy data.
fn judge(root: &Path, extra: &[(&str, &str)], slow: bool, baseline: bool) -> Verdict {
    let pol = policies(root, "none");
    for (file, text) in extra {
        std::fs::write(pol.join("data").join(file), text).unwrap();
    }
    let gate = Gate::load(&PolicySource::new(&pol, Mode::Trust)).unwrap();
    let base = Set::Small.ingest("policy-base-b.json");
    let cand = if slow { Set::Small.ingest("policy-slow.json") } else { base.clone() };
    gate.judge(&Case {
        test: "checkout",
        environment: "ci",
        now_ns: NOW,
        phase: &Phase::SteadyState,
        candidate: Side { summary: &cand, source: "this run" },
        confirmations: &[],
        baseline: if baseline {
            Baseline::Runs { runs: vec![Side { summary: &base, source: "base" }], reason: None }
        } else {
            Baseline::None
        },
        previous: None,
    })
    .unwrap()
}

const WAIVER: &str = "waivers:\n  - id: W-7\n    test: checkout\n    metric: p95_ms\n    version: v1.1.0\n    justification: known slow path\n    requested_by: alice\n    approved_by: bob\n    created: 2025-11-30T00:00:00Z\n    expires: 2025-12-07T00:00:00Z\n  - id: W-8\n    test: checkout\n    metric: p99_ms\n    version: v1.1.0\n    justification: known slow path\n    requested_by: alice\n    approved_by: bob\n    created: 2025-11-30T00:00:00Z\n    expires: 2025-12-07T00:00:00Z\n";
const WINDOW: &str = "migration_windows:\n  - id: MW-1\n    test: checkout\n    environments: [ci]\n    metrics: [p95_ms, p99_ms]\n    extra_regression: 1.0\n    owner: team-payments\n    reason: moving the cart to the new database\n    start: 2025-11-20T00:00:00Z\n    expires: 2025-12-15T00:00:00Z\n";

/// (name, verdict) of the four kinds of run.
fn verdicts() -> Vec<(&'static str, Verdict)> {
    let dir = tempfile::tempdir().unwrap();
    let at = |name: &str| {
        let p = dir.path().join(name);
        std::fs::create_dir_all(&p).unwrap();
        p
    };
    vec![
        ("pass", judge(&at("pass"), &[], false, true)),
        ("fail", judge(&at("fail"), &[("waivers.yaml", "waivers: []\n")], true, true)),
        ("waived", judge(&at("waived"), &[("waivers.yaml", WAIVER)], true, true)),
        (
            "windowed",
            judge(
                &at("windowed"),
                &[("waivers.yaml", "waivers: []\n"), ("migration-windows.yaml", WINDOW)],
                true,
                true,
            ),
        ),
    ]
}

fn outcome(v: &Verdict) -> Outcome {
    match v.outcome {
        Status::Pass => Outcome::Pass,
        Status::Warn => Outcome::Warn,
        Status::Fail => Outcome::Fail,
        Status::Inconclusive => Outcome::Inconclusive,
    }
}

#[test]
fn the_record_says_what_the_verdict_says_for_pass_fail_waived_and_windowed_runs() {
    let all = verdicts();
    for (name, v) in &all {
        let d = decision::of(v);
        let failed = v.results.iter().filter(|r| r.status == Status::Fail).count();
        assert_eq!(d.violations as usize, failed, "{name}");
        assert_eq!(d.overrides.len(), v.exceptions.len(), "{name}");
        for (o, e) in d.overrides.iter().zip(&v.exceptions) {
            assert_eq!((o.by.as_str(), o.result.as_str()), (e.by.as_str(), e.result.as_str()), "{name}");
            assert_eq!(o.owner, e.owner, "{name}");
            assert_eq!(o.verified, e.verified.is_some(), "{name}");
        }
        // The stored text reads to the same record.
        assert_eq!(decision::of_json(&serde_json::to_string(v).unwrap()).unwrap(), d, "{name}");
    }
    let by = |n: &str| &all.iter().find(|(name, _)| *name == n).unwrap().1;
    assert_eq!(by("pass").outcome, Status::Pass);
    assert_eq!(decision::of(by("pass")), Decision::default(), "a clean pass: no violation, no override");
    assert_eq!(by("fail").outcome, Status::Fail);
    assert!(decision::of(by("fail")).violations > 0 && decision::of(by("fail")).overrides.is_empty());
    let waived = decision::of(by("waived"));
    assert_ne!(by("waived").outcome, Status::Fail, "{:#?}", by("waived").results);
    assert!(!waived.overrides.is_empty(), "W-7 let the slow run pass");
    assert!(waived.overrides.iter().all(|o| o.kind == "waived" && (o.by == "W-7" || o.by == "W-8")));
    assert_eq!(
        waived.overrides[0].approved_by.as_deref(),
        Some("bob"),
        "as the waiver file says (trusted, unverified)"
    );
    assert!(by("waived").exceptions.iter().all(|e| e.kind == ExceptionKind::Waived));
    let windowed = decision::of(by("windowed"));
    assert_ne!(by("windowed").outcome, Status::Fail, "{:#?}", by("windowed").results);
    assert!(!windowed.overrides.is_empty(), "MW-1 let the slow run pass");
    assert!(windowed.overrides.iter().all(|o| o.kind == "allowed" && o.by == "MW-1"));
    assert_eq!(windowed.overrides[0].owner.as_deref(), Some("team-payments"));
}

fn record(store: &Store, i: i64, v: &Verdict, with_record: bool) -> String {
    let summary = serde_json::value::to_raw_value(&serde_json::json!({ "pad": "x" })).unwrap();
    store
        .record_run(&NewRun {
            test: "checkout".into(),
            environment: "ci".into(),
            outcome: outcome(v),
            started_at_ns: NOW + i * 1_000_000_000,
            summary: Some(summary),
            verdict: Some(serde_json::value::to_raw_value(v).unwrap()),
            decision: with_record.then(|| decision::of(v)),
            ..NewRun::default()
        })
        .unwrap()
}

#[test]
fn the_record_is_kept_with_the_run_on_both_backends() {
    let all = verdicts();
    let dir = tempfile::tempdir().unwrap();
    let objects = tempfile::tempdir().unwrap();
    let local = Store::open(&HistoryConfig::local(dir.path().join("local"))).unwrap();
    let durable = |cache: &str| HistoryConfig {
        state_dir: dir.path().join(cache),
        remote: Some(RemoteConfig {
            url: format!("file://{}", objects.path().display()),
            options: Vec::new(),
            timeout: std::time::Duration::from_secs(5),
        }),
    };
    let remote = Store::open(&durable("cache")).unwrap();
    for store in [&local, &remote] {
        let ids: Vec<String> = all.iter().enumerate().map(|(i, (_, v))| record(store, i as i64, v, true)).collect();
        let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        let read = store.decisions(&refs).unwrap();
        assert_eq!(read.len(), all.len());
        for ((r, id), (name, v)) in read.iter().zip(&ids).zip(&all) {
            assert_eq!(&r.id, id);
            assert_eq!(r.decision.as_ref(), Some(&decision::of(v)), "{name}");
            assert_eq!(store.get_run(id).unwrap().decision, Some(decision::of(v)), "{name}");
        }
        assert!(store.runs_without_decision().unwrap().is_empty());
    }
    // The durable store's run objects carry the record: another machine's cache has it.
    let other = Store::open(&durable("other-cache")).unwrap();
    assert!(other.runs_without_decision().unwrap().is_empty(), "refreshed from the objects, with their records");
    let ids: Vec<String> =
        other.list_runs(&k6gate::history::RunFilter::default()).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), all.len());
    for id in &ids {
        assert!(other.get_run(id).unwrap().decision.is_some(), "{id}");
    }
}

#[test]
fn a_store_of_schema_7_migrates_and_is_back_filled_once_from_its_verdicts() {
    let all = verdicts();
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<String>;
    let broken: String;
    {
        let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
        ids = all.iter().enumerate().map(|(i, (_, v))| record(&store, i as i64, v, false)).collect();
        // A decided run whose verdict is not one (a hand-edited file).
        broken = store
            .record_run(&NewRun {
                test: "checkout".into(),
                environment: "ci".into(),
                outcome: Outcome::Pass,
                started_at_ns: NOW + 100_000_000_000,
                summary: Some(serde_json::value::to_raw_value(&serde_json::json!({})).unwrap()),
                verdict: Some(serde_json::value::to_raw_value(&serde_json::json!({ "outcome": "pass" })).unwrap()),
                ..NewRun::default()
            })
            .unwrap();
        store
            .record_run(&NewRun {
                test: "checkout".into(),
                environment: "ci".into(),
                outcome: Outcome::Error,
                started_at_ns: NOW + 200_000_000_000,
                problem: Some("k6 exited 107".into()),
                ..NewRun::default()
            })
            .unwrap();
    }
    // Schema 7 is schema 8 without the two tables of the records.
    let file = dir.path().join(k6gate::history::FILE_NAME);
    let conn = rusqlite::Connection::open(&file).unwrap();
    conn.execute_batch("DROP TABLE run_overrides; DROP TABLE run_decisions; PRAGMA user_version = 7;").unwrap();
    drop(conn);

    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let mut waiting = ids.clone();
    waiting.push(broken.clone());
    assert_eq!(store.runs_without_decision().unwrap(), waiting, "every decided run, and only those");
    let done = decision::backfill(&store).unwrap();
    assert_eq!(done.filled, all.len());
    assert_eq!(done.unreadable.len(), 1);
    assert_eq!(done.unreadable[0].0, broken);
    assert!(done.unreadable[0].1.contains("not readable"), "{}", done.unreadable[0].1);
    let refs: Vec<&str> = ids.iter().map(String::as_str).collect();
    for (r, (name, v)) in store.decisions(&refs).unwrap().iter().zip(&all) {
        assert_eq!(r.decision.as_ref(), Some(&decision::of(v)), "{name}");
    }
    // Once: only the unreadable run is left, and it stays without a record (never clean).
    assert_eq!(store.runs_without_decision().unwrap(), std::slice::from_ref(&broken));
    let again = decision::backfill(&store).unwrap();
    assert_eq!((again.filled, again.unreadable.len()), (0, 1));
    assert_eq!(store.decisions(&[&broken]).unwrap()[0].decision, None);
}
