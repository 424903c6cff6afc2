//! `history prune` on real stores: the local SQLite file and the durable store (in memory and
//! on a local path; `durable_store.rs` runs the same scenario against moto's S3), with runs of
//! several ages and classes, their run directories, pins and a waiver. Counts are exact; the
//! dry run changes nothing and reports the same numbers; a run something needs is kept; a
//! prune that would delete a baseline's data is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use k6gate::history::{
    HistoryConfig, NewRun, Outcome, Prune, RemoteConfig, RemoteStore, RunDirs, RunFilter, RunStore, SqliteStore, Store,
};
use k6gate::retention::{Exempt, Report, RetentionError, Rules, VersionRef, execute, plan, prune};
use object_store::memory::InMemory;
use serde_json::value::to_raw_value;

use crate::support::cli::K6gate;
use crate::support::root;

/// 2026-12-06T00:00:00Z.
pub const NOW: i64 = 1_796_515_200_000_000_000;
const DAY: i64 = 86_400_000_000_000;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Memory,
    Path,
}

fn open(dir: &Path, cache: &str, backend: Backend, memory: &Arc<InMemory>) -> Store {
    match backend {
        Backend::Sqlite => Store::Local(SqliteStore::open(dir.join(cache).join("history.db")).unwrap()),
        Backend::Memory => Store::Remote(Box::new(RemoteStore::with_objects(
            memory.clone(),
            "memory://test",
            SqliteStore::open(dir.join(cache).join("history.db")).unwrap(),
        ))),
        Backend::Path => Store::open(&HistoryConfig {
            state_dir: dir.join(cache),
            remote: Some(RemoteConfig {
                url: format!("file://{}", dir.join("bucket").display()),
                options: vec![],
                timeout: std::time::Duration::from_secs(5),
            }),
        })
        .unwrap(),
    }
}

/// The shipped policy's rules, with `lab` in the experimental class and a waiver on `lab`
/// version `v-waived`.
pub fn rules() -> Rules {
    let data = k6gate::policy::data::load(&root().join("policies/data")).unwrap();
    let mut rules = Rules::from_policy(&data, "main").expect("policies/data/retention.yaml");
    rules.retention.tests.insert("lab".into(), "experimental".into());
    rules.waivers.push(VersionRef {
        id: "W-9".into(),
        test: "lab".into(),
        environment: None,
        version: "v-waived".into(),
    });
    rules
}

/// A summary with today's per-second series (and enough of them to weigh something).
fn summary(days: i64) -> serde_json::Value {
    let n = 300;
    serde_json::json!({
        "schema_version": "k6gate.run-summary/test",
        "age_days": days,
        "whole_run": {"latency_ms": {"p99": 412.5}},
        "series": {
            "window_s": 1.0,
            "start_unix_s": (0..n).collect::<Vec<i64>>(),
            "total": {"p99_ms": (0..n).map(|i| 400.0 + i as f64).collect::<Vec<f64>>()},
        },
    })
}

fn record(store: &Store, state: &Path, test: &str, days: i64, outcome: Outcome, version: &str) -> String {
    let decided = outcome.is_decided();
    let id = store
        .record_run(&NewRun {
            test: test.into(),
            environment: "staging".into(),
            outcome,
            started_at_ns: NOW - days * DAY - 3_600_000_000_000,
            finished_at_ns: Some(NOW - days * DAY),
            git_branch: Some("main".into()),
            deployment_version: Some(version.into()),
            summary: decided.then(|| to_raw_value(&summary(days)).unwrap()),
            verdict: decided.then(|| to_raw_value(&serde_json::json!({"outcome": outcome.as_str()})).unwrap()),
            problem: (!decided).then(|| "k6 was interrupted".into()),
            ..NewRun::default()
        })
        .unwrap();
    let dir = state.join("runs").join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("k6.json.gz"), vec![7u8; 4000]).unwrap();
    std::fs::write(dir.join("report.html"), "<html></html>").unwrap();
    id
}

/// The runs of the scenario, by name.
pub struct Scenario {
    pub ids: BTreeMap<&'static str, String>,
}

/// Records the scenario's runs in `store`, with their run directories under `state`:
/// - checkout (critical): five passing runs 1-5 days old (the baseline), a failed run 10
///   days old (its 1 s series go at the 10 s tier), a passing run 6 years old (deleted);
/// - search (standard): a passing run 1 day old, a failed run 400 days old (deleted), and a
///   failed run 400 days old that was pinned once (kept, its series go);
/// - lab (experimental): a passing run 1 day old, an errored run 20 days old (kept, its
///   directory goes), an incomplete run 31 days old (deleted), and a failed run 31 days old
///   of the version a waiver names (kept, its series go).
pub fn scenario(store: &Store, state: &Path) -> Scenario {
    let mut ids = BTreeMap::new();
    for (name, days) in [("c-base1", 1), ("c-base2", 2), ("c-base3", 3), ("c-base4", 4), ("c-base5", 5)] {
        ids.insert(name, record(store, state, "checkout", days, Outcome::Pass, name));
    }
    ids.insert("c-10d", record(store, state, "checkout", 10, Outcome::Fail, "v2"));
    ids.insert("c-6y", record(store, state, "checkout", 6 * 365, Outcome::Pass, "v0"));
    ids.insert("s-base", record(store, state, "search", 1, Outcome::Pass, "v5"));
    ids.insert("s-400d", record(store, state, "search", 400, Outcome::Fail, "v1"));
    ids.insert("s-pinned", record(store, state, "search", 400, Outcome::Fail, "v1"));
    store.pin(&ids["s-pinned"], "alice", "known good", NOW - 399 * DAY).unwrap();
    store.pin(&ids["s-base"], "alice", "the new normal", NOW - DAY).unwrap();
    ids.insert("l-base", record(store, state, "lab", 1, Outcome::Pass, "v7"));
    ids.insert("l-20d", record(store, state, "lab", 20, Outcome::Error, "v6"));
    ids.insert("l-31d", record(store, state, "lab", 31, Outcome::Incomplete, "v5"));
    ids.insert("l-waived", record(store, state, "lab", 31, Outcome::Fail, "v-waived"));
    Scenario { ids }
}

/// Everything a prune could change: ids, summaries, run directories.
pub fn snapshot(store: &Store, state: &Path) -> (Vec<(String, Option<String>)>, Vec<String>) {
    let runs = store.list_runs(&RunFilter::default()).unwrap();
    let mut runs: Vec<_> = runs.into_iter().map(|r| (r.id, r.summary.map(|s| s.get().to_string()))).collect();
    runs.sort();
    let mut dirs: Vec<String> = RunDirs::new(state).list().unwrap().into_iter().map(|d| d.run_id).collect();
    dirs.sort();
    (runs, dirs)
}

fn counts(r: &Report) -> [u64; 3] {
    [r.runs.count, r.series.count, r.run_dirs.count]
}

/// The scenario pruned: exact counts, the dry run first, what stays, and a second prune that
/// finds nothing left.
pub fn prune_scenario(store: &Store, state: &Path, before_prune: impl FnOnce()) -> Report {
    let s = scenario(store, state);
    before_prune();
    let rules = rules();
    let dirs = RunDirs::new(state);
    let baselines = |store: &Store| {
        ["checkout", "search", "lab"].map(|t| store.baseline(t, "staging", "main").unwrap().map(|c| c.run.id))
    };
    let before = snapshot(store, state);
    let base_before = baselines(store);
    // Retention's own reading of the baseline rule agrees with the store's.
    for test in ["checkout", "search", "lab"] {
        let runs = store.list_runs(&RunFilter { test: Some(test), environment: Some("staging"), limit: None }).unwrap();
        let pin = store.active_pin(test, "staging").unwrap();
        let chosen = k6gate::history::BaselineChoice::choose(&runs, pin.as_ref(), "main").map(|c| c.run.id);
        assert_eq!(chosen, store.baseline(test, "staging", "main").unwrap().map(|c| c.run.id), "{test}");
    }

    let dry = prune(&rules, store, "test", &dirs, NOW, true).unwrap();
    assert_eq!(snapshot(store, state), before, "a dry run changes nothing");
    assert!(dry.dry_run);
    assert_eq!(counts(&dry), [3, 3, 6], "{dry:#?}");
    assert!(dry.bytes_saved > 0 && dry.runs.bytes > 0 && dry.series.bytes > 0 && dry.run_dirs.bytes >= 6 * 4000);

    let done = prune(&rules, store, "test", &dirs, NOW, false).unwrap();
    assert_eq!(counts(&done), counts(&dry));
    assert_eq!(
        (done.runs.bytes, done.series.bytes, done.run_dirs.bytes, done.bytes_saved),
        (dry.runs.bytes, dry.series.bytes, dry.run_dirs.bytes, dry.bytes_saved),
        "the dry run reports what the prune does"
    );

    let (runs, dirs_left) = snapshot(store, state);
    let left: BTreeMap<&str, Option<serde_json::Value>> =
        runs.iter().map(|(id, sum)| (id.as_str(), sum.as_ref().map(|t| serde_json::from_str(t).unwrap()))).collect();
    let name = |id: &str| *s.ids.iter().find(|(_, v)| v.as_str() == id).unwrap().0;
    let mut names: Vec<&str> = left.keys().map(|id| name(id)).collect();
    names.sort();
    assert_eq!(
        names,
        [
            "c-10d", "c-base1", "c-base2", "c-base3", "c-base4", "c-base5", "l-20d", "l-base", "l-waived", "s-base",
            "s-pinned"
        ]
    );
    let summary_of = |n: &str| left[s.ids[n].as_str()].clone().unwrap();
    for n in ["c-10d", "s-pinned", "l-waived"] {
        let sum = summary_of(n);
        assert_eq!(sum["series"], serde_json::Value::Null, "{n}: finer series went");
        assert_eq!(sum["whole_run"]["latency_ms"]["p99"], 412.5, "{n}: the whole-run statistics stay");
    }
    for n in ["c-base1", "c-base5", "s-base", "l-base"] {
        assert_eq!(summary_of(n), summary(age(n)), "{n}: a baseline is left as it is");
    }
    let mut dir_names: Vec<&str> = dirs_left.iter().map(|id| name(id)).collect();
    dir_names.sort();
    assert_eq!(dir_names, ["c-10d", "c-base1", "c-base2", "c-base3", "c-base4", "c-base5", "l-base", "s-base"]);
    let kept: BTreeMap<&str, Vec<Exempt>> = done.kept.iter().map(|k| (name(&k.run_id), k.why.clone())).collect();
    assert_eq!(kept["s-pinned"], [Exempt::Pinned]);
    assert_eq!(kept["l-waived"], [Exempt::Waiver { id: "W-9".into() }]);
    assert_eq!(baselines(store), base_before, "every baseline is the same after the prune");

    // The next prune plans from the rows: no summary already coarse enough is opened again.
    let runs = store.stored_runs(&RunFilter::default()).unwrap();
    let pins = store.list_pins(None, None).unwrap();
    let next = plan(&rules, &runs, &pins, &dirs.list().unwrap(), NOW).unwrap();
    let reopened: Vec<&str> = next.coarsen.iter().map(|c| name(&c.target.run_id)).collect();
    assert_eq!(reopened, Vec::<&str>::new(), "summaries opened again by the next prune");
    let noted = |n: &str| runs.iter().find(|r| r.run.id == s.ids[n]).unwrap().series_from_s;
    assert_eq!(noted("c-10d"), Some(10.0), "10 s windows and coarser may stay");
    assert_eq!(noted("l-waived"), Some(k6gate::history::NO_SERIES), "past its period: no series");
    assert_eq!(noted("c-base1"), None, "a baseline is not coarsened");

    let again = prune(&rules, store, "test", &dirs, NOW, false).unwrap();
    assert_eq!(counts(&again), [0, 0, 0], "{again:#?}");
    assert_eq!(again.bytes_saved, 0);
    done
}

fn age(name: &str) -> i64 {
    match name {
        "c-base1" | "s-base" | "l-base" => 1,
        "c-base5" => 5,
        other => panic!("no age for {other}"),
    }
}

/// A plan made before someone pinned one of the runs it deletes is refused as a whole.
pub fn refuse_scenario(store: &Store, state: &Path) {
    let s = scenario(store, state);
    let rules = rules();
    let dirs = RunDirs::new(state);
    let runs = store.stored_runs(&RunFilter::default()).unwrap();
    let pins = store.list_pins(None, None).unwrap();
    let stale = plan(&rules, &runs, &pins, &dirs.list().unwrap(), NOW).unwrap();
    assert!(stale.delete_runs.iter().any(|t| t.run_id == s.ids["c-6y"]));
    // Meanwhile, the six-year-old run becomes checkout's baseline.
    store.pin(&s.ids["c-6y"], "bob", "roll back to the old build", NOW).unwrap();
    let before = snapshot(store, state);
    let e = execute(&rules, store, "test", &dirs, &stale, NOW, false).unwrap_err();
    assert!(matches!(&e, RetentionError::Refused { run_id, .. } if *run_id == s.ids["c-6y"]), "{e}");
    assert!(e.to_string().contains("part of the baseline on main"), "{e}");
    assert_eq!(snapshot(store, state), before, "a refused prune changes nothing");
    // Planned again, the pinned run is kept and the rest is pruned.
    let report = prune(&rules, store, "test", &dirs, NOW, false).unwrap();
    assert_eq!(report.runs.count, 2);
    assert!(store.get_run(&s.ids["c-6y"]).is_ok());
    // And the store itself never deletes a pinned run, whatever the caller asks.
    let e = store.delete_run(&s.ids["c-6y"]).unwrap_err();
    assert!(e.to_string().contains("is named by a pin"), "{e}");
}

macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $case() { super::$case(super::Backend::Sqlite) } )* }
        mod memory { $( #[test] fn $case() { super::$case(super::Backend::Memory) } )* }
        mod path { $( #[test] fn $case() { super::$case(super::Backend::Path) } )* }
    };
}

on_every_backend!(prunes_by_class_and_keeps_what_is_needed, refuses_to_prune_a_baseline);

fn prunes_by_class_and_keeps_what_is_needed(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(InMemory::new());
    let store = open(dir.path(), "a", b, &memory);
    let state = dir.path().join("a");
    let remote = matches!(b, Backend::Memory | Backend::Path);
    let other = remote.then(|| open(dir.path(), "b", b, &memory));
    prune_scenario(&store, &state, || {
        if let Some(other) = &other {
            assert_eq!(other.list_runs(&RunFilter::default()).unwrap().len(), 14, "another cache, filled");
        }
    });
    if let Some(other) = other {
        // Another machine's cache, filled before the prune, does not bring pruned runs back.
        let fresh = open(dir.path(), "c", b, &memory);
        assert_eq!(fresh.list_runs(&RunFilter::default()).unwrap().len(), 11, "the store holds what prune left");
        other.remote().unwrap().sync().unwrap();
        assert_eq!(fresh.list_runs(&RunFilter::default()).unwrap().len(), 11, "sync uploaded no pruned run");
        assert_eq!(other.list_runs(&RunFilter::default()).unwrap().len(), 11, "and dropped them from its cache");
    }
}

fn refuses_to_prune_a_baseline(b: Backend) {
    let dir = tempfile::tempdir().unwrap();
    let memory = Arc::new(InMemory::new());
    let store = open(dir.path(), "a", b, &memory);
    refuse_scenario(&store, &dir.path().join("a"));
}

#[test]
fn the_command_reports_counts_and_bytes_and_a_dry_run_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let store = Store::Local(SqliteStore::open(state.join("history.db")).unwrap());
    // Runs from a year and a half ago, by today's clock (the command reads it).
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    for (days, outcome) in [(1, Outcome::Pass), (550, Outcome::Fail), (560, Outcome::Error)] {
        let decided = outcome.is_decided();
        let id = store
            .record_run(&NewRun {
                test: "search".into(),
                environment: "staging".into(),
                outcome,
                started_at_ns: now - days * DAY,
                git_branch: Some("main".into()),
                summary: decided.then(|| to_raw_value(&summary(days)).unwrap()),
                verdict: decided.then(|| to_raw_value(&serde_json::json!({})).unwrap()),
                ..NewRun::default()
            })
            .unwrap();
        std::fs::create_dir_all(state.join("runs").join(&id)).unwrap();
        std::fs::write(state.join("runs").join(&id).join("k6.json.gz"), vec![1u8; 2048]).unwrap();
    }
    drop(store);
    let cli = || K6gate::new().current_dir(root()).env("K6GATE_STATE_DIR", &state).env_remove("K6GATE_HISTORY_URL");
    let dry = cli().args(["history", "prune", "--dry-run", "--format", "json"]).status(0).stdout_json();
    assert_eq!(dry["dry_run"], true);
    assert_eq!((dry["runs"]["count"].as_u64(), dry["run_dirs"]["count"].as_u64()), (Some(2), Some(2)));
    assert!(dry["bytes_saved"].as_u64().unwrap() > 4096);
    cli().args(["history", "prune", "--dry-run"]).status(0).stdout_contains("(dry run: nothing changed)");
    let text = cli().args(["history", "prune"]).status(0);
    let out = text.stdout();
    assert!(out.contains("runs past their summary period:         2"), "{out}");
    let after = cli().args(["history", "prune", "--format", "json"]).status(0).stdout_json();
    assert_eq!(after["bytes_saved"], 0, "the first prune removed it all");
    // Without the retention classes, prune refuses instead of guessing.
    let empty = dir.path().join("policies");
    std::fs::create_dir_all(empty.join("data")).unwrap();
    for f in ["slas.yaml", "budgets.yaml"] {
        std::fs::copy(root().join("policies/data").join(f), empty.join("data").join(f)).unwrap();
    }
    cli()
        .args(["--policies", empty.to_str().unwrap(), "history", "prune"])
        .status(2)
        .stderr_contains("no retention (the retention classes history prune applies");
}
