//! The archive on real files: `k6gate archive` to a local path (layout, rows, idempotence, an
//! object that differs), `history import` back into a local and a durable store (runs
//! identical, existing ones skipped, a broken document imports nothing), and `history prune`
//! moving runs past their hot period (and deleting none when the archive write fails).
//! `archive_duckdb.rs` (full tier) queries the archive with DuckDB, on a path and on moto's S3.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

use k6gate::archive::{ArchiveError, ImportFilter, RunArchive, Selection, archive, import};
use k6gate::history::{
    HistoryConfig, NewRun, Outcome, RemoteConfig, RunDirs, RunFilter, RunRecord, RunStore, SqliteStore, Store,
};
use k6gate::retention::{RetentionError, Rules, prune, prune_moving};
use k6gate::summary::digest::rows;
use serde_json::value::{RawValue, to_raw_value};

use crate::support::cli::K6gate;
use crate::support::root;

/// 2026-12-06T00:00:00Z.
const NOW: i64 = 1_796_515_200_000_000_000;
const DAY: i64 = 86_400_000_000_000;

/// A real summary (k6 1.1 JSON output of a staged run, ingested by k6gate).
pub fn golden_summary() -> Box<RawValue> {
    let gz = std::fs::read(root().join("tests/fixtures/golden/staged-json.summary.json.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
    RawValue::from_string(text).unwrap()
}

/// The shipped policy's rules (checkout critical, everything else standard, both archived
/// after 365 days), with `lab` in the experimental class (never archived).
fn rules() -> Rules {
    let data = k6gate::policy::data::load(&root().join("policies/data")).unwrap();
    let mut rules = Rules::from_policy(&data, "main").expect("policies/data/retention.yaml");
    rules.retention.tests.insert("lab".into(), "experimental".into());
    rules
}

pub(crate) fn local(dir: &Path) -> Store {
    Store::Local(SqliteStore::open(dir.join("history.db")).unwrap())
}

fn durable(state: &Path, bucket: &Path) -> Store {
    Store::open(&HistoryConfig {
        state_dir: state.to_path_buf(),
        remote: Some(RemoteConfig {
            url: format!("file://{}", bucket.display()),
            options: vec![],
            timeout: std::time::Duration::from_secs(5),
        }),
    })
    .unwrap()
}

fn archive_at(path: &Path) -> RunArchive {
    RunArchive::open(&RemoteConfig {
        url: format!("file://{}", path.display()),
        options: vec![],
        timeout: std::time::Duration::from_secs(5),
    })
    .unwrap()
}

fn record(store: &Store, state: &Path, test: &str, days: i64, outcome: Outcome, now: i64) -> String {
    let decided = outcome.is_decided();
    let id = store
        .record_run(&NewRun {
            test: test.into(),
            environment: "staging".into(),
            outcome,
            started_at_ns: now - days * DAY - 3_600_000_000_000,
            finished_at_ns: Some(now - days * DAY),
            git_branch: Some("main".into()),
            git_commit: Some(format!("c0ffee{days}")),
            deployment_version: Some(format!("v1.{days}.0")),
            summary: decided.then(golden_summary),
            verdict: decided.then(|| to_raw_value(&serde_json::json!({"outcome": outcome.as_str()})).unwrap()),
            problem: (!decided).then(|| "k6 exited 107".into()),
            // As `run` records it: the compact record of its summary.
            digest: if decided { rows(&serde_json::from_str(golden_summary().get()).unwrap()) } else { Vec::new() },
            ..NewRun::default()
        })
        .unwrap();
    let dir = state.join("runs").join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("k6.json.gz"), vec![7u8; 4000]).unwrap();
    id
}

/// [`scenario`] recorded in a local history in a temporary directory (`state`), with the
/// archive's directory (`bucket`) beside it, not written yet.
struct Fixture {
    dir: tempfile::TempDir,
    state: std::path::PathBuf,
    bucket: std::path::PathBuf,
    store: Store,
    ids: BTreeMap<&'static str, String>,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let (state, bucket) = (dir.path().join("state"), dir.path().join("archive"));
    let store = local(&state);
    let ids = scenario(&store, &state, NOW);
    Fixture { dir, state, bucket, store, ids }
}

/// - checkout (critical, archived after 365 days): five passing runs 1-5 days old (the
///   baseline), one 100 days old, one 400 days old (due);
/// - search (standard, archived after 365 days): a passing run 1 day old, a failed run 370
///   days old (due), an errored one 380 days old (due; no summary, so no rows);
/// - lab (experimental, never archived): a failed run 40 days old.
pub(crate) fn scenario(store: &Store, state: &Path, now: i64) -> BTreeMap<&'static str, String> {
    let mut ids = BTreeMap::new();
    for d in 1..=5 {
        record(store, state, "checkout", d, Outcome::Pass, now);
    }
    ids.insert("c-100", record(store, state, "checkout", 100, Outcome::Pass, now));
    ids.insert("c-400", record(store, state, "checkout", 400, Outcome::Pass, now));
    ids.insert("s-1", record(store, state, "search", 1, Outcome::Pass, now));
    ids.insert("s-370", record(store, state, "search", 370, Outcome::Fail, now));
    ids.insert("s-380", record(store, state, "search", 380, Outcome::Error, now));
    ids.insert("l-40", record(store, state, "lab", 40, Outcome::Fail, now));
    ids
}

/// Every file under `dir`, relative, with its bytes.
pub(crate) fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
        let Ok(entries) = std::fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.insert(p.strip_prefix(base).unwrap().display().to_string(), std::fs::read(&p).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(bytes).read_to_string(&mut s).unwrap();
    s
}

fn gzip(text: &str) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(text.as_bytes()).unwrap();
    e.finish().unwrap()
}

fn date(ns: i64) -> String {
    k6gate::archive::date_of(ns)
}

#[test]
fn archives_runs_past_their_hot_period_in_hive_partitions_once() {
    let Fixture { dir: _dir, state: _, bucket, store, ids } = fixture();
    let a = archive_at(&bucket);
    let policy = rules().retention;

    let dry = archive(&store, "test", &policy, &a, Selection::default(), NOW, true).unwrap();
    assert!(files(&bucket).is_empty(), "a dry run writes nothing");
    assert_eq!((dry.runs_due, dry.written.len(), dry.objects), (3, 3, 5), "{dry:#?}");

    let report = archive(&store, "test", &policy, &a, Selection::default(), NOW, false).unwrap();
    assert_eq!((report.runs_due, report.written.len(), report.objects, report.already_archived), (3, 3, 5, 0));
    assert_eq!(report.bytes, dry.bytes, "the dry run counts the bytes it would write");
    let written = files(&bucket);
    assert_eq!(report.bytes, written.values().map(|b| b.len() as u64).sum::<u64>());

    // The layout: rows and documents under their own prefixes, by test, env and start date.
    let c400 = store.get_run(&ids["c-400"]).unwrap();
    let s380 = store.get_run(&ids["s-380"]).unwrap();
    let part = |r: &RunRecord| format!("test={}/env=staging/date={}", r.test, date(r.started_at_ns));
    let mut want = vec![
        format!("rows/{}/{}.jsonl.gz", part(&c400), c400.id),
        format!("runs/{}/{}.json.gz", part(&c400), c400.id),
        format!("runs/{}/{}.json.gz", part(&s380), s380.id),
    ];
    let s370 = store.get_run(&ids["s-370"]).unwrap();
    want.push(format!("rows/{}/{}.jsonl.gz", part(&s370), s370.id));
    want.push(format!("runs/{}/{}.json.gz", part(&s370), s370.id));
    want.sort();
    assert_eq!(written.keys().cloned().collect::<Vec<_>>(), want);

    // One line per phase and group, with the run's own fields and the digest's numbers.
    let summary: k6gate::RunSummary = c400.summary_as().unwrap().unwrap();
    let digest = rows(&summary);
    let text = gunzip(&written[&want[0]]);
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), digest.len());
    for (line, row) in lines.iter().zip(&digest) {
        assert_eq!(line["run_id"], c400.id.as_str());
        assert_eq!(line["test"], "checkout");
        assert_eq!(line["environment"], "staging");
        assert_eq!(line["deployment_version"], "v1.400.0");
        assert_eq!(line["git_commit"], "c0ffee400");
        assert_eq!(line["git_branch"], "main");
        assert_eq!(line["outcome"], "pass");
        assert_eq!(line["started_at"], k6gate::time::format_rfc3339_ms(c400.started_at_ns).as_str());
        assert_eq!(line["k6gate_version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            (line["phase"].as_str(), line["group"].as_str()),
            (Some(row.phase.as_str()), Some(row.group.as_str()))
        );
        assert_eq!(line["p95_ms"].as_f64(), row.p95_ms);
        assert_eq!(line["requests"].as_u64(), Some(row.requests));
        assert_eq!(line.get("sketch").is_some(), row.sketch.is_some());
    }
    assert!(lines.iter().any(|l| l["sketch"].is_object()), "the sketches are archived");

    // Again: nothing new is written and nothing changes.
    let again = archive(&store, "test", &policy, &a, Selection::default(), NOW, false).unwrap();
    assert_eq!((again.written.len(), again.objects, again.bytes, again.already_archived), (0, 0, 0, 3));
    assert_eq!(files(&bucket), written);

    // A selection archives only its runs.
    let lab = archive(&store, "test", &policy, &a, Selection { test: Some("lab"), environment: None }, NOW, false);
    assert_eq!(lab.unwrap().runs_due, 0, "a class without archive_days is never archived");

    // An object that says something else is an error naming it, and is not overwritten.
    let doc = bucket.join(&want[3]);
    let mut other: serde_json::Value = serde_json::from_str(&gunzip(&std::fs::read(&doc).unwrap())).unwrap();
    other["deployment_version"] = "v9.9.9".into();
    let tampered = gzip(&other.to_string());
    std::fs::write(&doc, &tampered).unwrap();
    let e = archive(&store, "test", &policy, &a, Selection::default(), NOW, false).unwrap_err();
    assert!(matches!(e, ArchiveError::Different { .. }), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(&want[3]) && msg.contains("not overwritten"), "{msg}");
    assert_eq!(std::fs::read(&doc).unwrap(), tampered);
}

#[test]
fn an_archived_copy_with_finer_series_is_the_same_run() {
    // Prune coarsens a run's series after it was archived: archiving it again is no conflict.
    let dir = tempfile::tempdir().unwrap();
    let (state, bucket) = (dir.path().join("state"), dir.path().join("archive"));
    let store = local(&state);
    for d in 1..=5 {
        record(&store, &state, "checkout", d, Outcome::Pass, NOW);
    }
    let id = record(&store, &state, "checkout", 400, Outcome::Pass, NOW);
    let a = archive_at(&bucket);
    let policy = rules().retention;
    archive(&store, "test", &policy, &a, Selection::default(), NOW, false).unwrap();
    let before = files(&bucket);
    let report = prune(&rules(), &store, "test", &RunDirs::new(&state), NOW, false).unwrap();
    assert_eq!(report.series.count, 1, "{report:#?}");
    assert!(!store.get_run(&id).unwrap().summary.unwrap().get().contains("\"series\":{"));
    let again = archive(&store, "test", &policy, &a, Selection::default(), NOW, false).unwrap();
    assert_eq!((again.objects, again.already_archived), (0, 1));
    assert_eq!(files(&bucket), before, "the archive keeps the copy with the finer series");
}

/// Runs as JSON, by id (every field, the documents included).
fn dump(store: &Store, ids: &[&String]) -> Vec<serde_json::Value> {
    ids.iter().map(|id| serde_json::to_value(store.get_run(id).unwrap()).unwrap()).collect()
}

/// A run archived before k6gate kept compact records comes back with one, made from its
/// summary as `history backfill` would, so `history compare` and `trend` see it at once.
#[test]
fn a_run_archived_without_its_compact_record_is_imported_with_one() {
    let dir = tempfile::tempdir().unwrap();
    let (state, bucket) = (dir.path().join("state"), dir.path().join("archive"));
    let store = local(&state);
    let old = store
        .record_run(&NewRun {
            test: "search".into(),
            environment: "staging".into(),
            outcome: Outcome::Pass,
            started_at_ns: NOW - 400 * DAY,
            finished_at_ns: Some(NOW - 400 * DAY + 1),
            git_branch: Some("main".into()),
            summary: Some(golden_summary()),
            verdict: Some(to_raw_value(&serde_json::json!({"outcome": "pass"})).unwrap()),
            ..NewRun::default()
        })
        .unwrap();
    assert!(store.get_run(&old).unwrap().digest.is_empty());
    let a = archive_at(&bucket);
    archive(&store, "test", &rules().retention, &a, Selection::default(), NOW, false).unwrap();
    let into = local(&dir.path().join("into"));
    assert_eq!(
        import(&a, &into, "into", &ImportFilter::default(), false).unwrap().imported,
        std::slice::from_ref(&old)
    );
    let key = |r: k6gate::summary::digest::DigestRow| (r.phase, r.group, r.p95_ms);
    let mut want: Vec<_> = rows(&serde_json::from_str(golden_summary().get()).unwrap()).into_iter().map(key).collect();
    let mut got: Vec<_> = into.get_run(&old).unwrap().digest.into_iter().map(key).collect();
    want.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    got.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    assert_eq!(got, want);
}

#[test]
fn imported_runs_are_the_archived_runs_whole_into_a_local_and_a_durable_store() {
    let Fixture { dir, state: _, bucket, store, ids } = fixture();
    let a = archive_at(&bucket);
    archive(&store, "test", &rules().retention, &a, Selection::default(), NOW, false).unwrap();
    let archived = [&ids["c-400"], &ids["s-370"], &ids["s-380"]];
    let original = dump(&store, &archived);

    for target in ["local", "durable"] {
        let state2 = dir.path().join(format!("{target}-state"));
        let into = match target {
            "local" => local(&state2),
            _ => durable(&state2, &dir.path().join("durable")),
        };
        let all = ImportFilter::default();
        let dry = import(&a, &into, "into", &all, true).unwrap();
        assert_eq!(dry.imported.len(), 3);
        assert!(into.list_runs(&RunFilter::default()).unwrap().is_empty(), "a dry run imports nothing");
        let report = import(&a, &into, "into", &all, false).unwrap();
        let mut imported = report.imported.clone();
        imported.sort();
        let mut want: Vec<String> = archived.iter().map(|s| s.to_string()).collect();
        want.sort();
        assert_eq!(imported, want, "{target}");
        assert_eq!(dump(&into, &archived), original, "{target}: the runs come back whole, under their ids");
        // They are runs like any other: pinned, they are the baseline again.
        into.pin(&ids["s-370"], "test", "the old normal", NOW).unwrap();
        assert_eq!(into.baseline("search", "staging", "main").unwrap().unwrap().run.id, ids["s-370"]);
        let again = import(&a, &into, "into", &all, false).unwrap();
        assert!(again.imported.is_empty());
        assert_eq!(again.skipped.len(), 3, "{target}: runs already there are skipped and listed");
    }
    // The durable store holds them as objects, for every other machine.
    let other = durable(&dir.path().join("other-state"), &dir.path().join("durable"));
    assert_eq!(dump(&other, &archived), original);

    // Filters: a test, a time range, run ids.
    let filtered = |f: ImportFilter<'_>| {
        let s = local(&tempfile::tempdir().unwrap().keep());
        let mut got = import(&a, &s, "f", &f, true).unwrap().imported;
        got.sort();
        got
    };
    assert_eq!(filtered(ImportFilter { test: Some("checkout"), ..ImportFilter::default() }), [ids["c-400"].clone()]);
    let s370 = store.get_run(&ids["s-370"]).unwrap().started_at_ns;
    let window = ImportFilter { since_ns: Some(s370), until_ns: Some(s370 + 1), ..ImportFilter::default() };
    assert_eq!(filtered(window), [ids["s-370"].clone()]);
    let by_id = [ids["s-380"][..17].to_string()];
    assert_eq!(filtered(ImportFilter { run_ids: &by_id, ..ImportFilter::default() }), [ids["s-380"].clone()]);
    let unknown = ["20200101-000000-0000".to_string()];
    let e = import(
        &a,
        &local(&dir.path().join("x")),
        "x",
        &ImportFilter { run_ids: &unknown, ..ImportFilter::default() },
        false,
    );
    assert!(e.unwrap_err().to_string().contains("20200101-000000-0000"));
}

#[test]
fn a_document_that_does_not_parse_imports_nothing_and_names_its_object() {
    let Fixture { dir, state: _, bucket, store, ids } = fixture();
    let a = archive_at(&bucket);
    archive(&store, "test", &rules().retention, &a, Selection::default(), NOW, false).unwrap();
    let run = store.get_run(&ids["s-370"]).unwrap();
    let key = format!("runs/test=search/env=staging/date={}/{}.json.gz", date(run.started_at_ns), run.id);
    std::fs::write(bucket.join(&key), gzip("{\"id\": \"truncated")).unwrap();
    let into = local(&dir.path().join("into"));
    let e = import(&a, &into, "into", &ImportFilter::default(), false).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains(&key) && msg.contains("not a k6gate run document"), "{msg}");
    assert!(into.list_runs(&RunFilter::default()).unwrap().is_empty(), "nothing is half-imported");

    // A valid document filed under another run's name is refused too.
    let other = store.get_run(&ids["s-380"]).unwrap();
    std::fs::write(bucket.join(&key), gzip(&serde_json::to_string(&other).unwrap())).unwrap();
    let msg = import(&a, &into, "into", &ImportFilter::default(), false).unwrap_err().to_string();
    assert!(msg.contains(&key) && msg.contains("not the run its key names"), "{msg}");
    assert!(into.list_runs(&RunFilter::default()).unwrap().is_empty());
}

#[test]
fn prune_with_an_archive_moves_runs_past_their_hot_period() {
    let Fixture { dir, state, bucket, store, ids } = fixture();
    let moved = [&ids["c-400"], &ids["s-370"], &ids["s-380"]];
    let original = dump(&store, &moved);
    let a = archive_at(&bucket);
    let dirs = RunDirs::new(&state);

    let dry = prune_moving(&rules(), &store, "test", &dirs, NOW, true, &a).unwrap();
    assert_eq!((dry.moved.count, dry.runs.count), (3, 1), "{dry:#?}");
    assert!(files(&bucket).is_empty(), "a dry run writes nothing");
    assert_eq!(store.list_runs(&RunFilter::default()).unwrap().len(), 11);

    let report = prune_moving(&rules(), &store, "test", &dirs, NOW, false, &a).unwrap();
    assert_eq!((report.moved.count, report.runs.count), (3, 1), "{report:#?}");
    assert_eq!(report.moved.bytes, dry.moved.bytes);
    assert!(
        report.archived_bytes > 0
            && report.archived_bytes == files(&bucket).values().map(|b| b.len() as u64).sum::<u64>()
    );
    for id in moved.iter().chain([&&ids["l-40"]]) {
        assert!(store.get_run(id).is_err(), "{id} left the history");
        assert!(!state.join("runs").join(id).exists(), "its run directory went too");
    }
    assert!(store.get_run(&ids["c-100"]).is_ok() && store.get_run(&ids["s-1"]).is_ok());
    // Moved, not lost: they come back whole.
    import(&a, &store, "test", &ImportFilter::default(), false).unwrap();
    assert_eq!(dump(&store, &moved), original);
    // Without an archive, the same history is pruned as before: nothing moves, checkout's
    // old run stays (its summary period is five years), search's and lab's go.
    let other = dir.path().join("other");
    let plain_store = local(&other);
    scenario(&plain_store, &other, NOW);
    let plain = prune(&rules(), &plain_store, "x", &RunDirs::new(&other), NOW, true).unwrap();
    assert_eq!((plain.moved.count, plain.runs.count), (0, 3), "{plain:#?}");
}

#[test]
fn prune_deletes_nothing_when_the_archive_write_fails() {
    let Fixture { dir: _dir, state, bucket, store, ids } = fixture();
    let dirs = RunDirs::new(&state);
    let before = dump(&store, &ids.values().collect::<Vec<_>>());
    let unchanged = |store: &Store| {
        assert_eq!(dump(store, &ids.values().collect::<Vec<_>>()), before, "nothing was deleted or coarsened");
        assert!(ids.values().all(|id| state.join("runs").join(id).exists()), "no run directory went");
    };

    // The archive cannot be written: its directory became a file after it was opened.
    let a = archive_at(&bucket);
    std::fs::remove_dir_all(&bucket).unwrap();
    std::fs::write(&bucket, "not a directory").unwrap();
    let e = prune_moving(&rules(), &store, "test", &dirs, NOW, false, &a).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, RetentionError::Archive(_)), "{msg}");
    assert!(msg.contains("could not archive run") && msg.contains("nothing was deleted"), "{msg}");
    assert!(msg.contains("write"), "it says which write failed: {msg}");
    unchanged(&store);

    // The archive holds another run under one of the names: refused, nothing deleted.
    std::fs::remove_file(&bucket).unwrap();
    let a = archive_at(&bucket);
    let run = store.get_run(&ids["s-370"]).unwrap();
    let key = format!("runs/test=search/env=staging/date={}/{}.json.gz", date(run.started_at_ns), run.id);
    std::fs::create_dir_all(bucket.join(&key).parent().unwrap()).unwrap();
    std::fs::write(bucket.join(&key), gzip("{\"someone\": \"else\"}")).unwrap();
    let msg = prune_moving(&rules(), &store, "test", &dirs, NOW, false, &a).unwrap_err().to_string();
    assert!(msg.contains(&key) && msg.contains("different content") && msg.contains("nothing was deleted"), "{msg}");
    unchanged(&store);
}

#[test]
fn the_commands_archive_import_and_move_runs() {
    let dir = tempfile::tempdir().unwrap();
    let (state, bucket) = (dir.path().join("state"), dir.path().join("archive"));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let ids = scenario(&local(&state), &state, now);
    let url = format!("file://{}", bucket.display());
    let cli = || {
        K6gate::new()
            .current_dir(root())
            .env("K6GATE_STATE_DIR", &state)
            .env_remove("K6GATE_HISTORY_URL")
            .env("K6GATE_ARCHIVE_URL", &url)
    };
    cli()
        .args(["archive", "--dry-run"])
        .status(0)
        .stdout_contains("(dry run: nothing written): would write 3 run(s), 5 object(s)");
    assert!(!bucket.join("rows").exists());
    let json = cli().args(["archive", "--format", "json"]).status(0).stdout_json();
    assert_eq!(json["objects"], 5);
    assert_eq!(json["bytes"].as_u64(), Some(files(&bucket).values().map(|b| b.len() as u64).sum::<u64>()));
    cli()
        .args(["archive"])
        .status(0)
        .stdout_contains("wrote 0 run(s), 0 object(s), 0 B; 3 run(s) past their hot period, 3 already archived");

    let text = cli().args(["history", "prune"]).status(0);
    assert!(text.stdout().contains("runs moved to the archive:              3"), "{}", text.stdout());
    let runs = cli().args(["history", "--format", "json", "--limit", "100"]).status(0).stdout_json();
    // The shipped policy has lab in the standard class: only the three runs moved.
    assert_eq!(runs.as_array().unwrap().len(), 8, "three runs moved");

    let imported = cli().args(["history", "import", "--test", "search", "--since", "2000-01-01"]).status(0);
    assert!(imported.stdout().contains("imported 2 run(s); 0 already in the store"), "{}", imported.stdout());
    cli().args(["history", "import", &ids["c-400"]]).status(0).stdout_contains("imported 1 run(s)");
    cli().args(["history", "import"]).status(0).stdout_contains("imported 0 run(s); 3 already in the store");
    cli()
        .args(["history", "import", "--since", "yesterday"])
        .status(2)
        .stderr_contains("--since \"yesterday\": expected YYYY-MM-DD or an RFC 3339 time");
    cli()
        .env_remove("K6GATE_ARCHIVE_URL")
        .args(["archive"])
        .status(2)
        .stderr_contains("needs an archive: --archive URL or K6GATE_ARCHIVE_URL");
    // Without an archive, prune is what it was: the imported runs stay until summary_days
    // (critical: five years), except search's, past their year.
    let plain =
        cli().env_remove("K6GATE_ARCHIVE_URL").args(["history", "prune", "--format", "json"]).status(0).stdout_json();
    assert_eq!(plain["moved"]["count"], 0);
    assert_eq!(plain["runs"]["count"], 2, "{plain:#}");
}
