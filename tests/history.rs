//! The local run history on real SQLite files: recording and finding runs, baseline
//! selection, pins and their audit trail, and the file itself (schema version, reopening).

use std::path::{Path, PathBuf};

use k6gate::history::{
    BaselineChoice, HistoryError, NewRun, Outcome, RunFilter, RunStore, SCHEMA_VERSION, SqliteStore, format_run_id,
};
use serde_json::value::{RawValue, to_raw_value};

/// 2026-11-28T00:15:42Z.
const T0: i64 = 1_795_824_942_000_000_000;
const MINUTE: i64 = 60_000_000_000;

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    store: SqliteStore,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".k6gate").join("history.db");
    let store = SqliteStore::open(&path).unwrap();
    Fixture { _dir: dir, path, store }
}

fn json(v: serde_json::Value) -> Box<RawValue> {
    to_raw_value(&v).unwrap()
}

/// A run of `test` in `env` on `branch`, started `minutes` after T0.
fn run(test: &str, env: &str, branch: &str, outcome: Outcome, minutes: i64) -> NewRun {
    let decided = outcome.is_decided();
    NewRun {
        test: test.into(),
        environment: env.into(),
        outcome,
        started_at_ns: T0 + minutes * MINUTE,
        finished_at_ns: Some(T0 + minutes * MINUTE + 30_000_000_000),
        git_branch: Some(branch.into()),
        summary: decided
            .then(|| json(serde_json::json!({"schema_version": "k6gate.run-summary/v1", "minute": minutes}))),
        verdict: decided.then(|| json(serde_json::json!({"outcome": outcome.as_str()}))),
        ..NewRun::default()
    }
}

fn record(store: &SqliteStore, new: NewRun) -> String {
    store.record_run(&new).unwrap()
}

fn baseline(store: &SqliteStore) -> Option<BaselineChoice> {
    store.baseline("checkout", "staging", "main").unwrap()
}

fn baseline_id(store: &SqliteStore) -> Option<String> {
    baseline(store).map(|b| b.run.id)
}

fn ids(store: &SqliteStore, filter: RunFilter<'_>) -> Vec<String> {
    store.list_runs(&filter).unwrap().into_iter().map(|r| r.id).collect()
}

fn names_db(err: &HistoryError, path: &Path) {
    let msg = err.to_string();
    assert!(msg.starts_with(&path.display().to_string()), "{msg}");
}

#[test]
fn records_and_gets_a_run_with_every_field() {
    let f = fixture();
    let new = NewRun {
        id: None,
        test: "checkout".into(),
        environment: "staging".into(),
        outcome: Outcome::Warn,
        started_at_ns: T0,
        finished_at_ns: Some(T0 + 5 * MINUTE),
        user: Some("alice".into()),
        host: Some("ci-runner-7".into()),
        git_branch: Some("main".into()),
        git_commit: Some("0123abcd".into()),
        deployment_version: Some("v2.3.1".into()),
        run_dir: Some(PathBuf::from(".k6gate/runs/checkout-staging")),
        k6_exit_code: Some(99),
        problem: Some("Grafana: unreachable".into()),
        context: Some(k6gate::history::RunContext {
            actor: Some("alice".into()),
            triggering_actor: Some("bob".into()),
            event: Some("pull_request".into()),
            workflow_run_url: Some("https://github.com/o/r/actions/runs/1".into()),
            bootstrap: false,
            confirms: None,
        }),
        summary: Some(json(serde_json::json!({"phases": [{"name": "steady", "p95": 12.5}]}))),
        verdict: Some(json(serde_json::json!({"outcome": "warn", "headline": "p95 +3%"}))),
        digest: Vec::new(),
        decision: None,
    };
    let id = f.store.record_run(&new).unwrap();
    assert!(id.starts_with("20261128-001542-"), "{id}");
    assert_eq!(id.len(), "20261128-001542-abcd".len());

    let got = f.store.get_run(&id).unwrap();
    assert_eq!(got.id, id);
    assert_eq!((got.test.as_str(), got.environment.as_str(), got.outcome), ("checkout", "staging", Outcome::Warn));
    assert_eq!((got.started_at_ns, got.finished_at_ns), (T0, Some(T0 + 5 * MINUTE)));
    assert_eq!(got.user.as_deref(), Some("alice"));
    assert_eq!(got.host.as_deref(), Some("ci-runner-7"));
    assert_eq!(got.git_branch.as_deref(), Some("main"));
    assert_eq!(got.git_commit.as_deref(), Some("0123abcd"));
    assert_eq!(got.deployment_version.as_deref(), Some("v2.3.1"));
    assert_eq!(got.run_dir, new.run_dir);
    assert_eq!(got.k6_exit_code, Some(99));
    assert_eq!(got.problem.as_deref(), Some("Grafana: unreachable"));
    assert_eq!(got.k6gate_version, env!("CARGO_PKG_VERSION"));
    // The documents come back byte for byte, and typed on request.
    assert_eq!(got.summary.as_ref().map(|s| s.get()), new.summary.as_ref().map(|s| s.get()));
    assert_eq!(got.verdict.as_ref().map(|s| s.get()), new.verdict.as_ref().map(|s| s.get()));
    let verdict: serde_json::Value = got.verdict_as().unwrap().unwrap();
    assert_eq!(verdict["headline"], "p95 +3%");
}

/// A history written by schema 1 (no `problem` column) opens, upgrades in place and keeps
/// its runs.
#[test]
fn a_version_1_history_is_upgraded_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.db");
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE runs (id TEXT PRIMARY KEY NOT NULL, test TEXT NOT NULL, environment TEXT NOT NULL, \
             outcome TEXT NOT NULL, started_at_ns INTEGER NOT NULL, finished_at_ns INTEGER, user TEXT, host TEXT, \
             git_branch TEXT, git_commit TEXT, deployment_version TEXT, run_dir TEXT, k6_exit_code INTEGER, \
             k6gate_version TEXT NOT NULL, summary TEXT, verdict TEXT) STRICT;
             CREATE TABLE pins (id INTEGER PRIMARY KEY, run_id TEXT NOT NULL REFERENCES runs (id), test TEXT NOT NULL, \
             environment TEXT NOT NULL, pinned_by TEXT NOT NULL, pinned_at_ns INTEGER NOT NULL, reason TEXT NOT NULL, \
             invalidated_by TEXT, invalidated_at_ns INTEGER, invalidated_reason TEXT, replaced_by INTEGER);
             INSERT INTO runs (id, test, environment, outcome, started_at_ns, k6gate_version) \
             VALUES ('20261128-001542-abcd', 'checkout', 'dev', 'error', 1, '0.1.0');
             INSERT INTO runs (id, test, environment, outcome, started_at_ns, k6gate_version, summary, verdict) \
             VALUES ('20261128-001600-beef', 'checkout', 'dev', 'pass', 2, '0.1.0', '{}', '{}');
             INSERT INTO pins (run_id, test, environment, pinned_by, pinned_at_ns, reason) \
             VALUES ('20261128-001600-beef', 'checkout', 'dev', 'alice', 3, 'release');
             PRAGMA user_version = 1;",
        )
        .unwrap();
    }
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    // Schema 5's records are not made up in the migration (the store never reads summaries):
    // the decided run waits for `history backfill`.
    assert_eq!(k6gate::history::Records::runs_without_digest(&store).unwrap(), ["20261128-001600-beef"]);
    let old = store.get_run("20261128-001542-abcd").unwrap();
    assert_eq!((old.outcome, old.problem), (Outcome::Error, None));
    let id = record(
        &store,
        NewRun { problem: Some("k6 failed".into()), ..run("checkout", "dev", "main", Outcome::Error, 2) },
    );
    assert_eq!(store.get_run(&id).unwrap().problem.as_deref(), Some("k6 failed"));
    // The rebuilt runs table (schema 4) keeps its pins and takes the new outcome.
    assert_eq!(store.active_pin("checkout", "dev").unwrap().unwrap().run_id, "20261128-001600-beef");
    let id = record(&store, run("checkout", "dev", "main", Outcome::Inconclusive, 4));
    assert_eq!(store.get_run(&id).unwrap().outcome, Outcome::Inconclusive);
    // Schema 6: the documents written before are compressed by the upgrade and read alike.
    let kept = store.get_run("20261128-001600-beef").unwrap();
    assert_eq!((kept.summary.unwrap().get(), kept.verdict.unwrap().get()), ("{}", "{}"));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let kind = |id: &str| -> (String, String) {
        conn.query_row("SELECT typeof(summary), typeof(verdict) FROM runs WHERE id = ?1", [id], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap()
    };
    let blob = ("blob".to_string(), "blob".to_string());
    assert_eq!((kind("20261128-001600-beef"), kind(&id)), (blob.clone(), blob));
}

#[test]
fn errored_and_incomplete_runs_are_recorded_without_documents() {
    let f = fixture();
    let errored = NewRun { k6_exit_code: Some(107), ..run("checkout", "staging", "main", Outcome::Error, 0) };
    let id = record(&f.store, errored);
    let got = f.store.get_run(&id).unwrap();
    assert_eq!(got.outcome, Outcome::Error);
    assert!(got.summary.is_none() && got.verdict.is_none());
    let interrupted = NewRun { finished_at_ns: None, ..run("checkout", "staging", "main", Outcome::Incomplete, 1) };
    let id = record(&f.store, interrupted);
    assert_eq!(f.store.get_run(&id).unwrap().finished_at_ns, None);
}

#[test]
fn refuses_a_decision_without_its_data_and_runs_without_names() {
    let f = fixture();
    for outcome in [Outcome::Pass, Outcome::Warn, Outcome::Fail] {
        let no_verdict = NewRun { verdict: None, ..run("checkout", "staging", "main", outcome, 0) };
        let err = f.store.record_run(&no_verdict).unwrap_err();
        assert!(matches!(err, HistoryError::Invalid { .. }), "{err}");
        assert!(err.to_string().contains("needs its summary and verdict"), "{err}");
        names_db(&err, &f.path);
    }
    let no_test = run(" ", "staging", "main", Outcome::Pass, 0);
    assert!(matches!(f.store.record_run(&no_test), Err(HistoryError::Invalid { .. })));
    let backwards = NewRun { finished_at_ns: Some(T0 - 1), ..run("checkout", "staging", "main", Outcome::Pass, 0) };
    assert!(matches!(f.store.record_run(&backwards), Err(HistoryError::Invalid { .. })));
    assert!(ids(&f.store, RunFilter::default()).is_empty());
}

#[test]
fn lists_newest_first_filtered_by_test_and_environment() {
    let f = fixture();
    let a = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let b = record(&f.store, run("checkout", "prod-sim", "main", Outcome::Pass, 1));
    let c = record(&f.store, run("search", "staging", "main", Outcome::Fail, 2));
    let d = record(&f.store, run("checkout", "staging", "feature", Outcome::Error, 3));

    assert_eq!(ids(&f.store, RunFilter::default()), [d.as_str(), &c, &b, &a]);
    assert_eq!(ids(&f.store, RunFilter { test: Some("checkout"), ..RunFilter::default() }), [d.as_str(), &b, &a]);
    assert_eq!(ids(&f.store, RunFilter { environment: Some("staging"), ..RunFilter::default() }), [d.as_str(), &c, &a]);
    let both = RunFilter { test: Some("checkout"), environment: Some("staging"), limit: None };
    assert_eq!(ids(&f.store, both), [d.as_str(), &a]);
    assert_eq!(ids(&f.store, RunFilter { limit: Some(2), ..RunFilter::default() }), [d.as_str(), &c]);
    assert_eq!(ids(&f.store, RunFilter { limit: Some(0), ..RunFilter::default() }), Vec::<String>::new());
    assert!(ids(&f.store, RunFilter { test: Some("nope"), ..RunFilter::default() }).is_empty());
}

#[test]
fn ids_are_unique_and_sorted_by_start_time() {
    let f = fixture();
    // Many runs in the same second share the timestamp and differ in their random bits.
    let same_second: Vec<String> =
        (0..200).map(|_| record(&f.store, run("checkout", "staging", "main", Outcome::Error, 0))).collect();
    let mut unique = same_second.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 200);
    assert!(same_second.iter().all(|id| id.starts_with("20261128-001542-")));
    // Across seconds, string order is time order.
    assert_eq!(format_run_id(T0, 0xbeef), "20261128-001542-beef");
    assert!(format_run_id(T0 + 1_000_000_000, 0) > format_run_id(T0, 0xffff));
    assert!(format_run_id(T0 + 24 * 60 * MINUTE, 0) > format_run_id(T0 + MINUTE, 0xffff));
    assert_eq!(format_run_id(0, 1), "19700101-000000-0001");
}

#[test]
fn finds_runs_by_unique_prefix() {
    let f = fixture();
    let a = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let b = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let c = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 60));

    // Exact ids, a unique prefix, and upper case hex all work.
    assert_eq!(f.store.get_run(&a).unwrap().id, a);
    assert_eq!(f.store.get_run("20261128-01").unwrap().id, c);
    assert_eq!(f.store.get_run(&b.to_uppercase()).unwrap().id, b);
    let a_prefix = &a[..a.len() - 1];
    if !b.starts_with(a_prefix) {
        assert_eq!(f.store.get_run(a_prefix).unwrap().id, a);
    }

    // Two runs started in the same second: their shared prefix is ambiguous.
    let err = f.store.get_run("20261128-0015").unwrap_err();
    match &err {
        HistoryError::Ambiguous { prefix, matches, more, .. } => {
            assert_eq!(prefix, "20261128-0015");
            let mut want = vec![a.clone(), b.clone()];
            want.sort();
            assert_eq!(matches, &want);
            assert!(!more);
        }
        other => panic!("expected Ambiguous, got {other:?}"),
    }
    assert!(err.to_string().contains(&a) && err.to_string().contains(&b), "{err}");
    names_db(&err, &f.path);
    assert!(matches!(f.store.get_run("2026"), Err(HistoryError::Ambiguous { .. })));

    for missing in ["20251128", "zzz", "", "2026*", "2026?", "20261128-001542-"] {
        let got = f.store.get_run(missing);
        match missing {
            "20261128-001542-" => assert!(matches!(got, Err(HistoryError::Ambiguous { .. }))),
            _ => assert!(matches!(got, Err(HistoryError::NotFound { .. })), "{missing}: {got:?}"),
        }
    }
}

#[test]
fn ambiguity_lists_at_most_ten() {
    let f = fixture();
    for _ in 0..12 {
        record(&f.store, run("checkout", "staging", "main", Outcome::Error, 0));
    }
    match f.store.get_run("20261128") {
        Err(HistoryError::Ambiguous { matches, more, .. }) => assert_eq!((matches.len(), more), (10, true)),
        other => panic!("expected Ambiguous, got {other:?}"),
    }
}

#[test]
fn baseline_is_the_latest_passing_run_on_the_default_branch() {
    let f = fixture();
    assert!(baseline(&f.store).is_none());
    let good = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    // Newer, but each one is not a baseline: failed, on a feature branch, errored,
    // incomplete, or another test or environment.
    record(&f.store, run("checkout", "staging", "main", Outcome::Fail, 1));
    record(&f.store, run("checkout", "staging", "feature/cache", Outcome::Pass, 2));
    record(&f.store, run("checkout", "staging", "main", Outcome::Error, 3));
    record(&f.store, run("checkout", "staging", "main", Outcome::Incomplete, 4));
    record(&f.store, run("checkout", "prod-sim", "main", Outcome::Pass, 5));
    record(&f.store, run("search", "staging", "main", Outcome::Pass, 6));
    record(&f.store, NewRun { git_branch: None, ..run("checkout", "staging", "main", Outcome::Pass, 7) });

    let choice = baseline(&f.store).unwrap();
    assert_eq!(choice.run.id, good);
    assert_eq!(choice.reason, "latest passing run on main");
    assert!(choice.pin.is_none());
    assert!(choice.run.summary.is_some(), "a baseline carries its summary");

    // The default branch is a parameter.
    let on_feature = f.store.baseline("checkout", "staging", "feature/cache").unwrap().unwrap();
    assert_eq!(on_feature.reason, "latest passing run on feature/cache");
    assert!(f.store.baseline("checkout", "staging", "master").unwrap().is_none());
}

#[test]
fn a_warn_run_is_a_baseline() {
    let f = fixture();
    record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let warned = record(&f.store, run("checkout", "staging", "main", Outcome::Warn, 1));
    assert_eq!(baseline_id(&f.store), Some(warned));
}

#[test]
fn incomplete_and_errored_runs_are_never_baselines() {
    let f = fixture();
    let incomplete = record(&f.store, run("checkout", "staging", "main", Outcome::Incomplete, 0));
    let errored = record(&f.store, run("checkout", "staging", "main", Outcome::Error, 1));
    // Even with a summary, an incomplete run is not a baseline.
    let with_summary = NewRun {
        summary: Some(json(serde_json::json!({"completeness": {"complete": false}}))),
        ..run("checkout", "staging", "main", Outcome::Incomplete, 2)
    };
    let partial = record(&f.store, with_summary);
    assert!(baseline(&f.store).is_none());
    // Nor can they be pinned.
    for id in [&incomplete, &errored, &partial] {
        let err = f.store.pin(id, "alice", "try it", T0).unwrap_err();
        assert!(matches!(err, HistoryError::NotABaseline { .. }), "{err}");
        names_db(&err, &f.path);
    }
    assert!(f.store.list_pins(None, None).unwrap().is_empty());
}

#[test]
fn a_pin_overrides_the_latest_passing_run() {
    let f = fixture();
    let old = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let newer = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 1));
    assert_eq!(baseline_id(&f.store), Some(newer.clone()));

    let pin = f.store.pin(&old[..15], "alice", "before the cache rollout", T0 + 10 * MINUTE).unwrap();
    assert_eq!(
        (pin.run_id.as_str(), pin.test.as_str(), pin.environment.as_str()),
        (old.as_str(), "checkout", "staging")
    );
    assert!(pin.is_active());

    let choice = baseline(&f.store).unwrap();
    assert_eq!(choice.run.id, old);
    assert_eq!(choice.reason, "pinned by alice at 2026-11-28T00:25:42.000Z: before the cache rollout");
    assert_eq!(choice.pin, Some(pin.clone()));
    // Newer passing runs do not move a pin; other environments are not affected.
    record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 20));
    assert_eq!(baseline_id(&f.store), Some(old));
    let prod = record(&f.store, run("checkout", "prod-sim", "main", Outcome::Pass, 21));
    assert_eq!(f.store.baseline("checkout", "prod-sim", "main").unwrap().map(|b| b.run.id), Some(prod));
    assert_eq!(f.store.active_pin("checkout", "staging").unwrap(), Some(pin));
    assert_eq!(f.store.active_pin("checkout", "prod-sim").unwrap(), None);
}

#[test]
fn a_failed_run_can_be_pinned_as_the_new_normal() {
    let f = fixture();
    record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let slower = record(&f.store, run("checkout", "staging", "feature/tls", Outcome::Fail, 1));
    f.store.pin(&slower, "bob", "TLS everywhere costs 4 ms; accepted in ADR-12", T0 + 2 * MINUTE).unwrap();
    assert_eq!(baseline_id(&f.store), Some(slower));
}

#[test]
fn pinning_again_replaces_the_pin_and_keeps_the_old_one() {
    let f = fixture();
    let a = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let b = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 1));
    record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 2));
    let first = f.store.pin(&a, "alice", "known good", T0 + 10 * MINUTE).unwrap();
    let second = f.store.pin(&b, "bob", "new hardware", T0 + 20 * MINUTE).unwrap();
    assert_eq!(baseline_id(&f.store), Some(b.clone()));

    let pins = f.store.list_pins(Some("checkout"), Some("staging")).unwrap();
    assert_eq!(pins.len(), 2);
    assert_eq!(pins.first(), Some(&second));
    let old = pins.get(1).unwrap();
    assert_eq!(old.id, first.id);
    let ended = old.invalidated.as_ref().unwrap();
    assert_eq!((ended.by.as_str(), ended.at_ns), ("bob", T0 + 20 * MINUTE));
    assert_eq!(ended.reason, format!("replaced by a pin of run {b}: new hardware"));
    assert_eq!(ended.replaced_by, Some(second.id));
    assert_eq!(f.store.list_pins(None, None).unwrap().iter().filter(|p| p.is_active()).count(), 1);
}

#[test]
fn an_invalidated_pin_falls_back_to_the_latest_passing_run() {
    let f = fixture();
    let a = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let latest = record(&f.store, run("checkout", "staging", "main", Outcome::Warn, 1));
    f.store.pin(&a, "alice", "known good", T0 + 10 * MINUTE).unwrap();
    assert_eq!(baseline_id(&f.store), Some(a.clone()));

    let ended = f.store.invalidate_pin("checkout", "staging", "carol", "cache fixed", T0 + 30 * MINUTE).unwrap();
    assert_eq!(ended.run_id, a);
    let inv = ended.invalidated.as_ref().unwrap();
    assert_eq!(
        (inv.by.as_str(), inv.at_ns, inv.reason.as_str(), inv.replaced_by),
        ("carol", T0 + 30 * MINUTE, "cache fixed", None)
    );

    let choice = baseline(&f.store).unwrap();
    assert_eq!(choice.run.id, latest);
    assert_eq!(choice.reason, "latest passing run on main");
    // The pin stays for the audit trail.
    assert_eq!(f.store.list_pins(None, None).unwrap(), [ended]);
    assert_eq!(f.store.active_pin("checkout", "staging").unwrap(), None);

    let err = f.store.invalidate_pin("checkout", "staging", "carol", "again", T0).unwrap_err();
    assert!(matches!(err, HistoryError::NoActivePin { .. }), "{err}");
    names_db(&err, &f.path);
}

#[test]
fn pins_need_a_known_run_a_name_and_a_reason() {
    let f = fixture();
    let err = f.store.pin("20261128-001542-0000", "alice", "why not", T0).unwrap_err();
    assert!(matches!(err, HistoryError::NotFound { .. }), "{err}");
    names_db(&err, &f.path);
    let id = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    for (by, reason) in [("", "reason"), ("alice", " "), ("  ", "")] {
        let err = f.store.pin(&id, by, reason, T0).unwrap_err();
        assert!(matches!(err, HistoryError::Invalid { .. }), "{err}");
    }
    assert!(f.store.list_pins(None, None).unwrap().is_empty());
}

#[test]
fn reopening_keeps_runs_and_pins() {
    let f = fixture();
    let a = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    let pin = f.store.pin(&a, "alice", "known good", T0 + MINUTE).unwrap();
    let path = f.path.clone();
    drop(f.store);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get_run(&a).unwrap().id, a);
    assert_eq!(store.list_pins(None, None).unwrap(), [pin]);
    assert_eq!(baseline_id(&store), Some(a));
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn two_handles_on_one_file_write_concurrently() {
    let f = fixture();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let path = f.path.clone();
            std::thread::spawn(move || {
                let store = SqliteStore::open(&path).unwrap();
                for i in 0..25 {
                    store.record_run(&run("checkout", "staging", "main", Outcome::Pass, t * 100 + i)).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(f.store.list_runs(&RunFilter::default()).unwrap().len(), 100);
}

#[test]
fn the_file_records_its_schema_version_and_uses_wal() {
    let f = fixture();
    assert!(f.path.is_file(), "open creates .k6gate/ and the file");
    assert_eq!(SCHEMA_VERSION, 8);
    assert_eq!(f.store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(f.store.path(), f.path);

    let conn = rusqlite::Connection::open(&f.path).unwrap();
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        tables,
        [
            "audit",
            "digest_labels",
            "digest_rows",
            "established",
            "leases",
            "outbox",
            "pins",
            "run_decisions",
            "run_overrides",
            "runs",
            "saved_permissions"
        ]
    );
    let page_size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0)).unwrap();
    assert_eq!(page_size, 1024, "a new file has small pages");
    let auto_vacuum: i64 = conn.pragma_query_value(None, "auto_vacuum", |r| r.get(0)).unwrap();
    assert_eq!(auto_vacuum, 2, "incremental: a prune gives freed pages back");
}

#[test]
fn a_file_from_a_newer_k6gate_is_refused() {
    let f = fixture();
    drop(f.store);
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    let err = SqliteStore::open(&f.path).err().unwrap();
    assert!(
        matches!(err, HistoryError::TooNew { found, supported, .. } if found == SCHEMA_VERSION + 1 && supported == SCHEMA_VERSION)
    );
    names_db(&err, &f.path);
    assert!(err.to_string().contains("upgrade k6gate"), "{err}");
}

#[test]
fn another_applications_database_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "application_id", 42).unwrap();
    drop(conn);
    let err = SqliteStore::open(&path).err().unwrap();
    assert!(matches!(err, HistoryError::Foreign { .. }), "{err}");
    names_db(&err, &path);
}

#[test]
fn a_path_that_cannot_be_created_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("file");
    std::fs::write(&blocker, "not a directory").unwrap();
    let path = blocker.join("history.db");
    let err = SqliteStore::open(&path).err().unwrap();
    names_db(&err, &path);
}

#[test]
fn outcomes_round_trip_as_text() {
    for o in Outcome::ALL {
        assert_eq!(o.as_str().parse::<Outcome>().unwrap(), o);
        assert_eq!(serde_json::to_value(o).unwrap(), o.as_str());
    }
    assert!("PASS".parse::<Outcome>().is_err());
    assert_eq!(Outcome::default(), Outcome::Incomplete);
}

#[test]
fn the_store_is_usable_as_a_trait_object() {
    let f = fixture();
    let store: Box<dyn RunStore> = Box::new(f.store);
    let id = store.record_run(&run("checkout", "staging", "main", Outcome::Pass, 0)).unwrap();
    assert_eq!(store.baseline("checkout", "staging", "main").unwrap().map(|b| b.run.id), Some(id));
}

#[test]
fn processes_opening_a_fresh_file_together_migrate_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".k6gate").join("history.db");
    let threads: Vec<_> = (0..8)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = SqliteStore::open(&path).unwrap();
                store.record_run(&run("checkout", "staging", "main", Outcome::Pass, t)).unwrap()
            })
        })
        .collect();
    let ids: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(store.list_runs(&RunFilter::default()).unwrap().len(), ids.len());
}

#[test]
fn a_pin_on_a_run_edited_into_an_error_is_not_used() {
    let f = fixture();
    let a = record(&f.store, run("checkout", "staging", "main", Outcome::Pass, 0));
    f.store.pin(&a, "alice", "known good", T0).unwrap();
    let conn = rusqlite::Connection::open(&f.path).unwrap();
    conn.execute("UPDATE runs SET outcome = 'error' WHERE id = ?1", [&a]).unwrap();
    let err = f.store.baseline("checkout", "staging", "main").unwrap_err();
    assert!(matches!(err, HistoryError::NotABaseline { .. }), "{err}");
}

#[test]
fn a_run_keeps_the_id_its_caller_gave_it_when_free() {
    let f = fixture();
    let wanted = k6gate::history::new_run_id(T0);
    let mut first = run("checkout", "staging", "main", Outcome::Pass, 0);
    first.id = Some(wanted.clone());
    assert_eq!(record(&f.store, first.clone()), wanted);
    // The same id again is taken: a fresh one is drawn.
    let other = record(&f.store, first);
    assert_ne!(other, wanted);
    assert_eq!(&other[..15], &wanted[..15], "same start second");
}

/// A prune's deletions give their pages back: `reclaim` cuts the free pages off the file.
#[test]
fn reclaim_gives_the_pages_of_deleted_runs_back_to_the_file_system() {
    use k6gate::history::Prune;
    let f = fixture();
    // Summaries that compress poorly (distinct numbers), about 40 KB stored each.
    let ids: Vec<String> = (0..40)
        .map(|i| {
            let numbers: Vec<f64> = (0..5000).map(|k| ((i * 5000 + k) as f64 * 0.7317).sin()).collect();
            let summary = to_raw_value(&serde_json::json!({ "n": numbers })).unwrap();
            record(&f.store, NewRun { summary: Some(summary), ..run("checkout", "staging", "main", Outcome::Pass, i) })
        })
        .collect();
    let file_bytes = |path: &Path| {
        let conn = rusqlite::Connection::open(path).unwrap();
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).unwrap();
        std::fs::metadata(path).unwrap().len()
    };
    let before = file_bytes(&f.path);
    assert_eq!(f.store.reclaim().unwrap(), 0, "nothing deleted, nothing to give back");
    for id in &ids[..30] {
        f.store.delete_run(id).unwrap();
    }
    let reclaimed = f.store.reclaim().unwrap();
    let after = file_bytes(&f.path);
    assert!(reclaimed > 30 * 30_000, "{reclaimed} bytes reclaimed of 30 runs of about 40 KB");
    assert_eq!(before - after, reclaimed, "the file shrank by what reclaim said");
    assert_eq!(f.store.list_runs(&RunFilter::default()).unwrap().len(), 10);
}
