//! The same cases on every backend of the run store: the local SQLite file, and the durable
//! store (in memory and on a local path, each with its own SQLite cache). Then what only the
//! durable store has: an index rebuilt from the objects, parallel writers, a run kept locally
//! when the upload fails, and a baseline that went missing.

use std::path::Path;
use std::sync::Arc;

use k6gate::history::{
    Attempt, DigestQuery, HistoryConfig, HistoryError, Holder, Leases, NewRun, Outcome, Prune, Records, RemoteConfig,
    RemoteStore, RunFilter, RunStore, SqliteStore, Store,
};
use k6gate::history::{PageQuery, RunPages};
use k6gate::summary::digest::{DigestRow, STEADY_STATE, TOTAL, WHOLE_RUN};
use object_store::memory::InMemory;
use serde_json::value::to_raw_value;

/// 2026-11-28T00:15:42Z.
const T0: i64 = 1_795_824_942_000_000_000;
const MINUTE: i64 = 60_000_000_000;

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Memory,
    Path,
}

/// A store of one backend, and a way to open a second handle on the same data with a fresh
/// cache (the next CI job, on another machine).
struct Fixture {
    dir: tempfile::TempDir,
    backend: Backend,
    memory: Arc<InMemory>,
    store: Store,
}

impl Fixture {
    fn new(backend: Backend) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let memory = Arc::new(InMemory::new());
        let store = open(dir.path(), "cache-a", backend, &memory);
        Fixture { dir, backend, memory, store }
    }

    /// Another machine's view: same objects, its own empty cache.
    fn elsewhere(&self, name: &str) -> Store {
        open(self.dir.path(), name, self.backend, &self.memory)
    }
}

fn open(dir: &Path, cache: &str, backend: Backend, memory: &Arc<InMemory>) -> Store {
    let cache_db = || SqliteStore::open(dir.join(cache).join("history.db")).unwrap();
    match backend {
        Backend::Sqlite => Store::Local(SqliteStore::open(dir.join("local").join("history.db")).unwrap()),
        Backend::Memory => {
            Store::Remote(Box::new(RemoteStore::with_objects(memory.clone(), "memory://test", cache_db())))
        }
        Backend::Path => {
            Store::open(&HistoryConfig { state_dir: dir.join(cache), remote: Some(remote_config(&dir.join("bucket"))) })
                .unwrap()
        }
    }
}

fn remote_config(root: &Path) -> RemoteConfig {
    RemoteConfig {
        url: format!("file://{}", root.display()),
        options: vec![],
        timeout: std::time::Duration::from_secs(5),
    }
}

fn run(env: &str, branch: &str, outcome: Outcome, minutes: i64) -> NewRun {
    let decided = outcome.is_decided();
    NewRun {
        test: "checkout".into(),
        environment: env.into(),
        outcome,
        started_at_ns: T0 + minutes * MINUTE,
        finished_at_ns: Some(T0 + minutes * MINUTE + 30_000_000_000),
        git_branch: Some(branch.into()),
        summary: decided.then(|| to_raw_value(&serde_json::json!({"minute": minutes})).unwrap()),
        verdict: decided.then(|| to_raw_value(&serde_json::json!({"outcome": outcome.as_str()})).unwrap()),
        ..NewRun::default()
    }
}

fn baseline_id(store: &Store) -> Option<String> {
    store.baseline("checkout", "staging", "main").unwrap().map(|c| c.run.id)
}

fn holder(run_id: &str) -> Holder {
    Holder {
        user: "alice".into(),
        host: Some("ci-1".into()),
        pid: 7,
        run_id: run_id.into(),
        test: "checkout".into(),
        url: None,
    }
}

/// Runs each case on every backend.
macro_rules! on_every_backend {
    ($($case:ident),* $(,)?) => {
        mod sqlite { $( #[test] fn $case() { super::$case(super::Backend::Sqlite) } )* }
        mod memory { $( #[test] fn $case() { super::$case(super::Backend::Memory) } )* }
        mod path { $( #[test] fn $case() { super::$case(super::Backend::Path) } )* }
    };
}

on_every_backend!(
    the_baseline_is_the_latest_passing_run_on_the_default_branch,
    a_pin_wins_and_its_history_is_kept,
    errored_runs_are_never_baselines,
    a_baseline_that_goes_missing_fails_closed,
    runs_keep_who_triggered_them,
    one_lease_per_environment,
    records_are_kept_with_the_run_and_reach_other_machines,
    records_follow_retention,
    backfill_adds_the_records_of_older_runs,
    the_run_list_pages_by_keyset_and_filters,
);

/// `RunPages` (the list of `k6gate serve`): newest first, pages that neither overlap nor skip,
/// filters on the run's own columns; the durable store answers from its cache once refreshed.
fn the_run_list_pages_by_keyset_and_filters(b: Backend) {
    let f = Fixture::new(b);
    let mut ids = Vec::new();
    for i in 0..7 {
        let (env, branch) = if i % 2 == 0 { ("staging", "main") } else { ("prod-sim", "feature") };
        let outcome = if i == 3 { Outcome::Error } else { Outcome::Pass };
        let mut r = run(env, branch, outcome, i);
        r.deployment_version = Some(format!("v1.{}", i / 3));
        ids.push(f.store.record_run(&r).unwrap());
    }
    // Two runs in the same second: the id breaks the tie.
    ids.push(f.store.record_run(&run("staging", "main", Outcome::Pass, 6)).unwrap());
    ids.sort_by(|a, b| b.cmp(a));
    let page = |q: &PageQuery| f.store.run_page(q).unwrap();
    let all = PageQuery { limit: 3, ..PageQuery::default() };
    let mut seen = Vec::new();
    let mut q = all.clone();
    loop {
        let p = page(&q);
        assert!(p.runs.len() <= 3);
        seen.extend(p.runs.iter().map(|r| r.id.clone()));
        match p.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, ids, "every run once, newest first");
    let ids_of = |q: PageQuery| page(&PageQuery { limit: 50, ..q }).runs.into_iter().map(|r| r.id).collect::<Vec<_>>();
    assert_eq!(ids_of(PageQuery { environment: Some("prod-sim".into()), ..all.clone() }).len(), 3);
    assert_eq!(ids_of(PageQuery { branch: Some("main".into()), ..all.clone() }).len(), 5);
    assert_eq!(ids_of(PageQuery { outcome: Some(Outcome::Error), ..all.clone() }).len(), 1);
    assert_eq!(ids_of(PageQuery { version: Some("v1.1".into()), ..all.clone() }).len(), 3);
    assert_eq!(ids_of(PageQuery { tests: Some(vec![]), ..all.clone() }).len(), 0);
    assert_eq!(ids_of(PageQuery { tests: Some(vec!["checkout".into(), "x".into()]), ..all.clone() }).len(), 8);
    let window = PageQuery { since_ns: Some(T0 + 2 * MINUTE), until_ns: Some(T0 + 4 * MINUTE), ..all.clone() };
    assert_eq!(ids_of(window).len(), 2);
    let facets = f.store.facets().unwrap();
    assert_eq!(
        (facets.tests, facets.environments),
        (vec!["checkout".to_string()], vec!["prod-sim".to_string(), "staging".to_string()])
    );
    if let Some(remote) = f.elsewhere("cache-b").remote() {
        // Another machine lists nothing until its cache is brought up to date.
        assert!(remote.run_page(&all).unwrap().runs.is_empty());
        remote.refresh_cache().unwrap();
        assert_eq!(remote.run_page(&all).unwrap().runs.len(), 3);
    }
}

/// A record row of `phase` and `group` with P95 `p95`.
fn row(phase: &str, group: &str, p95: f64) -> DigestRow {
    DigestRow {
        phase: phase.into(),
        group: group.into(),
        duration_s: 300.0,
        requests: 30_000,
        requests_per_s: 100.0,
        failed: 30,
        error_rate: Some(0.001),
        p50_ms: Some(p95 / 3.0),
        p95_ms: Some(p95),
        p99_ms: Some(p95 * 1.5),
        mean_ms: Some(p95 / 2.5),
        max_ms: Some(p95 * 4.0),
        iterations_per_s: (group == TOTAL).then_some(20.0),
        sketch: None,
    }
}

fn rows(p95: f64) -> Vec<DigestRow> {
    vec![
        row(STEADY_STATE, TOTAL, p95),
        row(STEADY_STATE, "name=/checkout", p95 * 2.0),
        row(WHOLE_RUN, TOTAL, p95 * 1.1),
        row(WHOLE_RUN, "name=/checkout", p95 * 2.2),
    ]
}

fn versioned(version: &str, minutes: i64, p95: f64) -> NewRun {
    NewRun {
        deployment_version: Some(version.into()),
        digest: rows(p95),
        ..run("staging", "main", Outcome::Pass, minutes)
    }
}

fn query<'a>(version: Option<&'a str>, group: Option<&'a str>) -> DigestQuery<'a> {
    DigestQuery {
        test: "checkout",
        environment: "staging",
        version,
        since_ns: None,
        phases: &[STEADY_STATE, WHOLE_RUN],
        group,
    }
}

fn p95s(store: &Store, version: Option<&str>) -> Vec<(String, Option<f64>)> {
    store
        .digest_runs(&query(version, Some(TOTAL)))
        .unwrap()
        .into_iter()
        .map(|r| (r.run_id, r.rows.iter().find(|x| x.phase == STEADY_STATE).and_then(|x| x.p95_ms)))
        .collect()
}

fn records_are_kept_with_the_run_and_reach_other_machines(b: Backend) {
    let f = Fixture::new(b);
    let a = f.store.record_run(&versioned("v1.2.2", 0, 100.0)).unwrap();
    let b2 = f.store.record_run(&versioned("v1.2.3", 10, 120.0)).unwrap();
    let c = f.store.record_run(&versioned("v1.2.3", 20, 125.0)).unwrap();
    f.store
        .record_run(&NewRun { deployment_version: Some("v1.2.3".into()), ..run("staging", "main", Outcome::Error, 30) })
        .unwrap();
    // A version's runs, oldest first, with the rows asked for and nothing else.
    let runs = f.store.digest_runs(&query(Some("v1.2.3"), None)).unwrap();
    assert_eq!(runs.len(), 3, "every run of the version is listed, the errored one too");
    assert_eq!((runs[0].run_id.as_str(), runs[1].run_id.as_str()), (b2.as_str(), c.as_str()));
    assert_eq!(runs[0].rows, rows(120.0), "the rows as recorded");
    assert!(runs[0].has_digest && !runs[2].has_digest && runs[2].outcome == Outcome::Error);
    let totals = f.store.digest_runs(&query(Some("v1.2.3"), Some(TOTAL))).unwrap();
    assert!(totals[0].rows.iter().all(|r| r.group == TOTAL) && totals[0].rows.len() == 2);
    assert_eq!(p95s(&f.store, Some("v1.2.2")), [(a.clone(), Some(100.0))]);
    assert!(f.store.digest_runs(&query(Some("v9"), None)).unwrap().is_empty());
    // A time range (the trend) instead of a version.
    let since = DigestQuery { since_ns: Some(T0 + 5 * MINUTE), ..query(None, Some(TOTAL)) };
    assert_eq!(f.store.digest_runs(&since).unwrap().len(), 3);
    assert_eq!(f.store.get_run(&a).unwrap().digest, rows(100.0), "get_run carries the record");
    if !matches!(b, Backend::Sqlite) {
        // Another machine's empty cache gets the rows from the run objects.
        let other = f.elsewhere("cache-b");
        assert_eq!(p95s(&other, Some("v1.2.3")), p95s(&f.store, Some("v1.2.3")));
        assert_eq!(other.get_run(&c).unwrap().digest, rows(125.0));
    }
}

fn records_follow_retention(b: Backend) {
    let f = Fixture::new(b);
    let kept = f.store.record_run(&versioned("v1", 0, 100.0)).unwrap();
    let gone = f.store.record_run(&versioned("v1", 10, 110.0)).unwrap();
    // Coarser series: a new summary, the same record.
    let coarse = to_raw_value(&serde_json::json!({"coarsened": true})).unwrap();
    f.store.replace_summary(&kept, &coarse, 60.0).unwrap();
    f.store.delete_run(&gone).unwrap();
    assert_eq!(p95s(&f.store, Some("v1")), [(kept.clone(), Some(100.0))]);
    if let Backend::Sqlite = b {
        let conn = rusqlite::Connection::open(f.dir.path().join("local/history.db")).unwrap();
        let count = |sql: &str| -> i64 { conn.query_row(sql, [], |r| r.get(0)).unwrap() };
        assert_eq!(count("SELECT COUNT(*) FROM digest_rows WHERE run_seq NOT IN (SELECT seq FROM runs)"), 0);
        assert_eq!(count("SELECT COUNT(*) FROM digest_rows"), 4, "the deleted run's rows went with it");
        let left: Vec<String> = conn
            .prepare("SELECT DISTINCT run_id FROM run_digest")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(left, std::slice::from_ref(&kept), "the run_digest view shows the kept run's rows");
    } else {
        let other = f.elsewhere("cache-b");
        assert_eq!(p95s(&other, Some("v1")), [(kept.clone(), Some(100.0))], "the rewritten object kept its rows");
    }
}

fn backfill_adds_the_records_of_older_runs(b: Backend) {
    let f = Fixture::new(b);
    // Recorded without rows (before schema 5, or by a caller that had none).
    let old = f
        .store
        .record_run(&NewRun { deployment_version: Some("v1".into()), ..run("staging", "main", Outcome::Pass, 0) })
        .unwrap();
    f.store.record_run(&run("staging", "main", Outcome::Error, 1)).unwrap();
    let new = f.store.record_run(&versioned("v1", 2, 90.0)).unwrap();
    assert_eq!(f.store.runs_without_digest().unwrap(), std::slice::from_ref(&old), "only decided runs need a record");
    let listed = f.store.digest_runs(&query(Some("v1"), Some(TOTAL))).unwrap();
    assert!(!listed[0].has_digest && listed[1].has_digest && listed[1].run_id == new);
    f.store.put_digest(&old, &rows(80.0)).unwrap();
    assert!(f.store.runs_without_digest().unwrap().is_empty());
    assert_eq!(p95s(&f.store, Some("v1")), [(old.clone(), Some(80.0)), (new.clone(), Some(90.0))]);
    assert!(matches!(
        f.store.put_digest("20200101-000000-0000", &rows(1.0)).unwrap_err(),
        HistoryError::NotFound { .. }
    ));
    if !matches!(b, Backend::Sqlite) {
        assert_eq!(p95s(&f.elsewhere("cache-b"), Some("v1")), p95s(&f.store, Some("v1")), "the object was rewritten");
    }
}

fn the_baseline_is_the_latest_passing_run_on_the_default_branch(b: Backend) {
    let f = Fixture::new(b);
    assert_eq!(baseline_id(&f.store), None, "an empty store has no baseline (and never had one)");
    let old = f.store.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap();
    let good = f.store.record_run(&run("staging", "main", Outcome::Warn, 1)).unwrap();
    f.store.record_run(&run("staging", "main", Outcome::Fail, 2)).unwrap();
    f.store.record_run(&run("staging", "feature", Outcome::Pass, 3)).unwrap();
    f.store.record_run(&run("prod-sim", "main", Outcome::Pass, 4)).unwrap();
    assert_ne!(old, good);
    assert_eq!(baseline_id(&f.store), Some(good.clone()));
    let listed: Vec<String> = f
        .store
        .list_runs(&RunFilter { test: Some("checkout"), environment: Some("staging"), limit: None })
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(listed.len(), 4);
    assert_eq!(listed[3], old, "newest first");
    assert_eq!(f.store.get_run(&good[..18]).unwrap().id, good, "a unique prefix finds the run");
}

fn a_pin_wins_and_its_history_is_kept(b: Backend) {
    let f = Fixture::new(b);
    let pinned = f.store.record_run(&run("staging", "main", Outcome::Fail, 0)).unwrap();
    let latest = f.store.record_run(&run("staging", "main", Outcome::Pass, 1)).unwrap();
    let first = f.store.pin(&pinned, "bob", "new normal after the cache change", T0 + 10 * MINUTE).unwrap();
    assert_eq!(baseline_id(&f.store), Some(pinned.clone()));
    let second = f.store.pin(&latest, "carol", "back to the latest", T0 + 11 * MINUTE).unwrap();
    assert_ne!(first.id, second.id);
    let pins = f.store.list_pins(Some("checkout"), Some("staging")).unwrap();
    assert_eq!(pins.len(), 2);
    let ended = pins.iter().find(|p| p.id == first.id).unwrap();
    let why = ended.invalidated.as_ref().expect("the first pin ended");
    assert_eq!((why.by.as_str(), why.replaced_by), ("carol", Some(second.id)));
    let unpinned =
        f.store.invalidate_pin("checkout", "staging", "dave", "release rolled back", T0 + 12 * MINUTE).unwrap();
    assert_eq!(unpinned.invalidated.unwrap().reason, "release rolled back");
    assert!(f.store.active_pin("checkout", "staging").unwrap().is_none());
    assert_eq!(baseline_id(&f.store), Some(latest));
    assert!(matches!(
        f.store.invalidate_pin("checkout", "staging", "dave", "again", T0).unwrap_err(),
        HistoryError::NoActivePin { .. }
    ));
}

fn errored_runs_are_never_baselines(b: Backend) {
    let f = Fixture::new(b);
    let errored = f
        .store
        .record_run(&NewRun { problem: Some("k6 failed".into()), ..run("staging", "main", Outcome::Error, 0) })
        .unwrap();
    assert_eq!(baseline_id(&f.store), None);
    assert!(matches!(f.store.pin(&errored, "bob", "try", T0).unwrap_err(), HistoryError::NotABaseline { .. }));
    let refused = f.store.record_run(&NewRun { verdict: None, ..run("staging", "main", Outcome::Pass, 1) });
    assert!(matches!(refused.unwrap_err(), HistoryError::Invalid { .. }), "a decision needs its data");
}

/// The store served a baseline; then its runs went (deleted by hand, a lifecycle rule, an
/// evicted cache). "No baseline" would let any regression through: it is an error.
fn a_baseline_that_goes_missing_fails_closed(b: Backend) {
    let f = Fixture::new(b);
    let id = f.store.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap();
    assert_eq!(baseline_id(&f.store), Some(id.clone()));
    let reader = match b {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(f.dir.path().join("local/history.db")).unwrap();
            conn.execute("DELETE FROM runs", []).unwrap();
            Store::Local(SqliteStore::open(f.dir.path().join("local/history.db")).unwrap())
        }
        Backend::Memory | Backend::Path => {
            delete_runs(&f);
            f.elsewhere("cache-b")
        }
    };
    let err = reader.baseline("checkout", "staging", "main").unwrap_err();
    assert!(matches!(&err, HistoryError::BaselineLost { run_id, .. } if *run_id == id), "{err}");
    let text = err.to_string();
    assert!(text.contains("fails closed") && text.contains("checkout"), "{text}");
    // Another default branch never had one: no error there, just none.
    assert!(reader.baseline("checkout", "staging", "trunk").unwrap().is_none());
}

fn delete_runs(f: &Fixture) {
    use futures::TryStreamExt;
    use object_store::{ObjectStore, ObjectStoreExt};
    match f.backend {
        Backend::Memory => {
            let memory = f.memory.clone();
            k6gate::net::block_on(async move {
                let keys: Vec<_> =
                    memory.list(Some(&"runs".into())).map_ok(|m| m.location).try_collect().await.unwrap();
                for k in keys {
                    memory.delete(&k).await.unwrap();
                }
            })
            .unwrap();
        }
        Backend::Path => std::fs::remove_dir_all(f.dir.path().join("bucket/runs")).unwrap(),
        Backend::Sqlite => unreachable!(),
    }
}

fn runs_keep_who_triggered_them(b: Backend) {
    let f = Fixture::new(b);
    let context = k6gate::history::RunContext {
        actor: Some("alice".into()),
        triggering_actor: Some("bob".into()),
        event: Some("pull_request".into()),
        workflow_run_url: Some("https://github.com/o/r/actions/runs/42".into()),
        bootstrap: true,
        confirms: Some("20261206-081500-abcd".into()),
    };
    let id = f
        .store
        .record_run(&NewRun {
            user: Some("alice".into()),
            context: Some(context.clone()),
            ..run("staging", "main", Outcome::Pass, 0)
        })
        .unwrap();
    assert_eq!(f.store.get_run(&id).unwrap().context, Some(context.clone()));
    if !matches!(b, Backend::Sqlite) {
        assert_eq!(f.elsewhere("cache-b").get_run(&id).unwrap().context, Some(context), "kept in the object too");
    }
}

fn one_lease_per_environment(b: Backend) {
    let f = Fixture::new(b);
    let s = &f.store;
    let ttl = MINUTE;
    assert_eq!(s.try_acquire("staging", &holder("r1"), "t1", T0, ttl).unwrap(), Attempt::Acquired { broke: None });
    // A second run, here or on another machine, finds the holder.
    let other = match b {
        Backend::Sqlite => Store::Local(SqliteStore::open(f.dir.path().join("local/history.db")).unwrap()),
        _ => f.elsewhere("cache-b"),
    };
    match other.try_acquire("staging", &holder("r2"), "t2", T0 + 1, ttl).unwrap() {
        Attempt::Held { holder, expires_at_ns } => {
            assert_eq!((holder.run_id.as_str(), expires_at_ns), ("r1", T0 + ttl))
        }
        got => panic!("{got:?}"),
    }
    // Another environment is free.
    assert!(matches!(other.try_acquire("prod-sim", &holder("r3"), "t3", T0, ttl).unwrap(), Attempt::Acquired { .. }));
    // The heartbeat keeps it; only the holder's token renews.
    assert!(s.renew("staging", "t1", T0 + ttl / 2, ttl).unwrap());
    assert!(!other.renew("staging", "t2", T0 + ttl / 2, ttl).unwrap());
    assert!(matches!(other.try_acquire("staging", &holder("r2"), "t2", T0 + ttl, ttl).unwrap(), Attempt::Held { .. }));
    // The holder dies: after expiry the lease is broken, naming who held it.
    match other.try_acquire("staging", &holder("r2"), "t2", T0 + 2 * ttl, ttl).unwrap() {
        Attempt::Acquired { broke: Some((was, _)) } => assert_eq!(was.run_id, "r1"),
        got => panic!("{got:?}"),
    }
    assert!(!s.renew("staging", "t1", T0 + 2 * ttl, ttl).unwrap(), "the old holder learns it lost the lease");
    // A release frees it at once; a stale token releases nothing.
    s.release("staging", "t1").unwrap();
    assert!(matches!(
        s.try_acquire("staging", &holder("r4"), "t4", T0 + 2 * ttl + 1, ttl).unwrap(),
        Attempt::Held { .. }
    ));
    other.release("staging", "t2").unwrap();
    assert_eq!(
        s.try_acquire("staging", &holder("r4"), "t4", T0 + 2 * ttl + 2, ttl).unwrap(),
        Attempt::Acquired { broke: None }
    );
}

#[test]
fn a_fresh_cache_rebuilds_the_index_from_the_objects() {
    let f = Fixture::new(Backend::Path);
    let a = f.store.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap();
    let b = f.store.record_run(&run("staging", "main", Outcome::Pass, 1)).unwrap();
    f.store.pin(&a, "bob", "known good", T0 + 5 * MINUTE).unwrap();
    // The cache is lost (a new CI runner): everything comes back from the objects.
    std::fs::remove_dir_all(f.dir.path().join("cache-a")).unwrap();
    let fresh = f.elsewhere("cache-a");
    let ids: Vec<String> = fresh.list_runs(&RunFilter::default()).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [b.clone(), a.clone()]);
    assert_eq!(baseline_id(&fresh), Some(a.clone()), "the pin came back too");
    assert_eq!(fresh.active_pin("checkout", "staging").unwrap().unwrap().pinned_by, "bob");
}

#[test]
fn parallel_writers_never_overwrite_each_other() {
    let f = Fixture::new(Backend::Memory);
    let handles: Vec<_> = (0..4)
        .map(|w| {
            let memory = f.memory.clone();
            let dir = f.dir.path().to_path_buf();
            std::thread::spawn(move || {
                let store = open(&dir, &format!("writer-{w}"), Backend::Memory, &memory);
                // Same second for everyone: ids clash unless the store keeps them apart.
                (0..10)
                    .map(|_| store.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap())
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut written: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    written.sort();
    let reader = f.elsewhere("reader");
    let mut stored: Vec<String> = reader.list_runs(&RunFilter::default()).unwrap().into_iter().map(|r| r.id).collect();
    stored.sort();
    assert_eq!(stored.len(), 40);
    assert_eq!(stored, written);
}

#[test]
fn a_failed_upload_keeps_the_run_locally_until_the_next_sync() {
    let f = Fixture::new(Backend::Path);
    let Store::Remote(remote) = &f.store else { unreachable!() };
    let first = f.store.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap();
    // The store breaks: its directory is replaced by a file.
    let bucket = f.dir.path().join("bucket");
    let aside = f.dir.path().join("bucket-aside");
    std::fs::rename(&bucket, &aside).unwrap();
    std::fs::write(&bucket, "not a directory").unwrap();
    let second = f.store.record_run(&run("staging", "main", Outcome::Pass, 1)).unwrap();
    let why = remote.upload_problem().expect("the failed upload is reported");
    assert!(why.contains(&second) || why.contains("upload"), "{why}");
    assert_eq!(remote.pending().unwrap().len(), 1, "the run is in the outbox");
    assert_eq!(remote.cache().get_run(&second).unwrap().id, second, "and in the local cache");
    // The store comes back; the next sync uploads it.
    std::fs::remove_file(&bucket).unwrap();
    std::fs::rename(&aside, &bucket).unwrap();
    let report = remote.sync().unwrap();
    assert_eq!(report.uploaded, std::slice::from_ref(&second));
    assert!(report.failed.is_empty());
    assert!(remote.pending().unwrap().is_empty());
    let ids: Vec<String> =
        f.elsewhere("cache-b").list_runs(&RunFilter::default()).unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(ids, [second, first]);
}

#[test]
fn sync_uploads_a_history_recorded_before_the_store_was_set() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    let local = Store::open(&HistoryConfig::local(&state)).unwrap();
    let id = local.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap();
    drop(local);
    let config = HistoryConfig { state_dir: state, remote: Some(remote_config(&dir.path().join("bucket"))) };
    let store = Store::open(&config).unwrap();
    let report = store.remote().unwrap().sync().unwrap();
    assert_eq!(report.uploaded, std::slice::from_ref(&id));
    let other = Store::open(&HistoryConfig { state_dir: dir.path().join("other"), ..config }).unwrap();
    assert_eq!(other.get_run(&id).unwrap().id, id);
}

#[test]
fn a_record_filed_under_another_name_is_refused() {
    let f = Fixture::new(Backend::Path);
    let id = f.store.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap();
    // Someone copies a passing staging run into prod-sim by hand.
    let from = f.dir.path().join(format!("bucket/runs/checkout/staging/{id}.json.gz"));
    let to_dir = f.dir.path().join("bucket/runs/checkout/prod-sim");
    std::fs::create_dir_all(&to_dir).unwrap();
    std::fs::copy(&from, to_dir.join(format!("{id}.json.gz"))).unwrap();
    let err = f.elsewhere("cache-b").baseline("checkout", "prod-sim", "main").unwrap_err();
    assert!(err.to_string().contains("holds run"), "{err}");
}

#[test]
fn a_run_stored_before_compression_is_read_and_compressed_when_rewritten() {
    use std::io::Read;
    let f = Fixture::new(Backend::Path);
    let id = f.store.record_run(&run("staging", "main", Outcome::Pass, 0)).unwrap();
    let dir = f.dir.path().join("bucket/runs/checkout/staging");
    let packed = std::fs::read(dir.join(format!("{id}.json.gz"))).unwrap();
    assert_eq!(&packed[..2], [0x1f, 0x8b], "run objects are gzip");
    // The object as an older k6gate wrote it: plain JSON under `.json`.
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&packed[..]).read_to_end(&mut plain).unwrap();
    std::fs::remove_file(dir.join(format!("{id}.json.gz"))).unwrap();
    std::fs::write(dir.join(format!("{id}.json")), &plain).unwrap();

    let other = f.elsewhere("cache-b");
    assert_eq!(
        other.get_run(&id).unwrap().summary.unwrap().get(),
        f.store.get_run(&id).unwrap().summary.unwrap().get()
    );
    let coarse = to_raw_value(&serde_json::json!({"coarsened": true})).unwrap();
    other.replace_summary(&id, &coarse, 60.0).unwrap();
    assert!(!dir.join(format!("{id}.json")).exists(), "the plain object is replaced");
    let third = f.elsewhere("cache-c");
    assert_eq!(third.get_run(&id).unwrap().summary.unwrap().get(), coarse.get());
}

#[test]
fn an_unknown_scheme_or_unreachable_store_is_an_error_not_an_empty_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = |url: &str, options: Vec<(String, String)>| HistoryConfig {
        state_dir: dir.path().to_path_buf(),
        remote: Some(RemoteConfig { url: url.into(), options, timeout: std::time::Duration::from_secs(2) }),
    };
    let err = Store::open(&config("ftp://bucket/x", vec![])).err().unwrap().to_string();
    assert!(err.contains("unknown scheme"), "{err}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let options = vec![
        ("aws_endpoint".to_string(), format!("http://127.0.0.1:{port}")),
        ("aws_allow_http".to_string(), "true".to_string()),
        ("aws_access_key_id".to_string(), "k".to_string()),
        ("aws_secret_access_key".to_string(), "s".to_string()),
        ("aws_region".to_string(), "us-east-1".to_string()),
    ];
    let err = Store::open(&config("s3://k6gate/history", options)).err().unwrap().to_string();
    assert!(err.starts_with("s3://k6gate/history: cannot list the store"), "{err}");
}
