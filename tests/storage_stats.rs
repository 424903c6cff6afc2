//! `k6gate history stats` on real files: a SQLite history with run directories of known sizes
//! and a local-path archive, counted by tier, class, test and month, checked against the files
//! themselves; the CLI's text and JSON, the budget, and a store that cannot be listed (an
//! error, never 0 bytes). Full tier: the `k6gate_storage_*` series written to a real
//! Prometheus and read back.

use std::path::Path;

use k6gate::archive::RunArchive;
use k6gate::history::{RemoteConfig, RunDirs, RunStore};
use k6gate::retention::stats::{ArchivedObject, StorageStats, Tier, compute, gather};

use crate::archive::{local, scenario};
use crate::support::cli::K6gate;
use crate::support::root;

/// 2026-12-06T00:00:00Z.
const NOW: i64 = 1_796_515_200_000_000_000;
/// Every run directory of [`scenario`] holds one 4000-byte file.
const RUN_DIR_BYTES: u64 = 4000;

const BASE: &str = "sla:\n  defaults:\n    p95_ms: 500\nbudgets:\n  defaults:\n    p95_ms: 0.1\n";

fn config(path: &Path) -> RemoteConfig {
    RemoteConfig {
        url: format!("file://{}", path.display()),
        options: vec![],
        timeout: std::time::Duration::from_secs(5),
    }
}

/// Bytes of the regular files under `dir`.
fn du(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() { du(&e.path()) } else { e.metadata().unwrap().len() }
        })
        .sum()
}

fn tier(s: &StorageStats, t: Tier) -> (u64, u64, u64) {
    let x = s.tiers.iter().find(|x| x.tier == t).unwrap_or_else(|| panic!("no tier {t}: {s:?}"));
    (x.runs, x.bytes, x.growth_30d_bytes)
}

/// The scenario (eleven runs: checkout 1-5, 100 and 400 days old; search 1, 370 and 380; lab 40)
/// in a local history, and the 400-day-old checkout run in a local-path archive.
fn setup(dir: &Path, now: i64) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let (state, bucket) = (dir.join("state"), dir.join("archive"));
    let store = local(&state);
    let ids = scenario(&store, &state, now);
    std::fs::create_dir_all(&bucket).unwrap();
    let archive = RunArchive::open(&config(&bucket)).unwrap();
    archive.put_run(&store.get_run(&ids["c-400"]).unwrap(), false).unwrap();
    (state, bucket, ids["c-400"].clone())
}

#[test]
fn stats_count_every_tier_by_class_test_and_month_from_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let (state, bucket, c400) = setup(dir.path(), NOW);
    let store = local(&state);
    let data = k6gate::policy::data::load(&root().join("policies/data")).unwrap();
    let archive = RunArchive::open(&config(&bucket)).unwrap();
    let objects: Vec<ArchivedObject> = archive.stored_objects().unwrap();
    let gathered = gather(&store, &RunDirs::new(&state)).unwrap();
    let s = compute(&gathered.listings(Some(("archive", &objects))), data.retention.as_ref(), NOW);

    // Run directories: exact, from the files.
    assert_eq!(tier(&s, Tier::RunDirs), (11, 11 * RUN_DIR_BYTES, 6 * RUN_DIR_BYTES), "6 runs are under 30 days old");
    // Archive: exactly the bytes on disk; one run (its document) and its rows.
    assert_eq!(objects.len(), 2, "{objects:?}");
    let (runs, bytes, growth) = tier(&s, Tier::Archive);
    assert_eq!((runs, bytes), (1, du(&bucket)));
    assert_eq!(growth, bytes, "written just now: all of it is growth");
    let c400_month = k6gate::retention::stats::month_of(store.get_run(&c400).unwrap().started_at_ns);
    assert!(s.rows.iter().any(|r| r.tier == Tier::Archive && r.test == "checkout" && r.month == c400_month));
    // The history: every run, at least its summary and verdict; the class from the policy.
    let (runs, bytes, growth) = tier(&s, Tier::Local);
    let documents: u64 = store
        .list_runs(&k6gate::history::RunFilter { test: None, environment: None, limit: None })
        .unwrap()
        .iter()
        .map(|r| {
            let stored = |doc: Option<&serde_json::value::RawValue>| {
                doc.map_or(0, |d| k6gate::history::stored_bytes(d).unwrap())
            };
            stored(r.summary.as_deref()) + stored(r.verdict.as_deref())
        })
        .sum();
    assert_eq!(runs, 11);
    assert!(bytes >= documents && bytes < documents + 11 * 4096, "{bytes} for {documents} bytes of documents");
    assert!(growth > 0 && growth < bytes);
    let classes = s.by(|r| &r.class);
    assert!(classes["critical"][&Tier::Local] > 0 && classes["standard"][&Tier::Local] > 0, "{classes:?}");
    assert!(s.rows.iter().filter(|r| r.test == "checkout").all(|r| r.class == "critical"));
    assert_eq!(s.rows.iter().filter(|r| r.tier == Tier::Local).map(|r| r.runs).sum::<u64>(), 11);
    assert!(s.by(|r| &r.month).len() >= 4, "runs span at least four months");
    assert_eq!(s.growth_30d_bytes, tier(&s, Tier::Local).2 + 6 * RUN_DIR_BYTES + du(&bucket));
}

fn policies(dir: &Path, budget: u64) -> std::path::PathBuf {
    let policies = dir.join("policies");
    std::fs::create_dir_all(policies.join("data")).unwrap();
    std::fs::write(policies.join("data/base.yaml"), BASE).unwrap();
    let retention = std::fs::read_to_string(root().join("policies/data/retention.yaml")).unwrap();
    let retention = match retention.find("  growth_budget_bytes_30d:") {
        Some(at) => retention[..at].to_string(),
        None => retention,
    };
    std::fs::write(
        policies.join("data/retention.yaml"),
        format!("{}\n  growth_budget_bytes_30d: {budget}\n", retention.trim_end()),
    )
    .unwrap();
    policies
}

#[test]
fn the_command_prints_text_and_json_and_says_when_growth_is_over_budget() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let (state, bucket, _) = setup(dir.path(), now);
    let cli = |budget: u64| {
        K6gate::new()
            .current_dir(root())
            .env("K6GATE_STATE_DIR", &state)
            .env_remove("K6GATE_HISTORY_URL")
            .env_remove("K6GATE_PROMETHEUS_RW_URL")
            .env("K6GATE_ARCHIVE_URL", format!("file://{}", bucket.display()))
            .arg("--policies")
            .arg(policies(dir.path(), budget))
    };
    let json = cli(1 << 40).args(["history", "stats", "--format", "json"]).status(0).stdout_json();
    let tiers: Vec<&str> = json["tiers"].as_array().unwrap().iter().map(|t| t["tier"].as_str().unwrap()).collect();
    assert_eq!(tiers, ["local", "run_dirs", "archive"]);
    assert_eq!(json["tiers"][1]["bytes"], 11 * RUN_DIR_BYTES);
    assert_eq!(json["tiers"][2]["bytes"], du(&bucket));
    assert_eq!(json["growth_budget_bytes_30d"], 1u64 << 40);
    let growth = json["growth_30d_bytes"].as_u64().unwrap();
    assert!(growth > 6 * RUN_DIR_BYTES, "{json}");

    let text = cli(1 << 40).args(["history", "stats"]).status(0);
    let out = text.stdout();
    assert!(out.contains("run_dirs") && out.contains("43.0 KiB") && out.contains("by class:"), "{out}");
    assert!(out.contains("of a budget of 1.0 TiB") && !out.contains("OVER BUDGET"), "{out}");
    assert!(out.contains("checkout") && out.contains("critical"), "{out}");
    cli(growth - 1)
        .args(["history", "stats"])
        .status(0)
        .stdout_contains("OVER BUDGET (runbooks/managing-k6-metrics-volume.md)");
    cli(growth).args(["history", "stats"]).status(0).stdout_lacks("OVER BUDGET");

    // Fail closed: an archive that cannot be listed is an error, not 0 bytes.
    let not_a_dir = dir.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    cli(1 << 40)
        .env("K6GATE_ARCHIVE_URL", format!("file://{}", not_a_dir.display()))
        .args(["history", "stats"])
        .status(2)
        .stdout_is_empty();
    cli(1 << 40)
        .args(["history", "stats", "--publish"])
        .status(2)
        .stderr_contains("history stats --publish needs --remote-write URL or K6GATE_PROMETHEUS_RW_URL");
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn published_stats_read_back_from_prometheus() {
    let dir = tempfile::tempdir().unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let (state, bucket, _) = setup(dir.path(), now);
    let prometheus = crate::support::prometheus::start("prom-storage");
    K6gate::new()
        .current_dir(root())
        .env("K6GATE_STATE_DIR", &state)
        .env_remove("K6GATE_HISTORY_URL")
        .env("K6GATE_ARCHIVE_URL", format!("file://{}", bucket.display()))
        .arg("--policies")
        .arg(policies(dir.path(), 12345))
        .args(["history", "stats", "--publish", "--remote-write", &format!("{prometheus}/api/v1/write")])
        .status(0);
    let store = state.join("history.db");
    let query = |promql: &str| -> f64 {
        let v = crate::support::http::get_json(&format!("{prometheus}/api/v1/query"), &[("query", promql)]);
        assert_eq!(v["status"], "success", "{v}");
        let result = v["data"]["result"].as_array().cloned().unwrap_or_default();
        assert_eq!(result.len(), 1, "{promql}: {result:?}");
        result[0]["value"][1].as_str().unwrap().parse().unwrap()
    };
    let sel = |extra: &str| format!("store=\"{}\"{extra}", store.display());
    assert_eq!(query(&format!("k6gate_storage_bytes{{{}}}", sel(", tier=\"run_dirs\", test=\"lab\""))), 4000.0);
    assert_eq!(query(&format!("sum(k6gate_storage_runs{{{}}})", sel(", tier=\"local\""))), 11.0);
    assert_eq!(query(&format!("k6gate_storage_growth_budget_bytes{{{}}}", sel(""))), 12345.0);
    assert_eq!(query(&format!("k6gate_storage_growth_30d_bytes{{{}}}", sel(", tier=\"archive\""))), du(&bucket) as f64);
}

#[test]
fn with_a_durable_store_the_remote_tier_is_its_objects_and_the_cache_does_not_count() {
    let dir = tempfile::tempdir().unwrap();
    let (state, bucket) = (dir.path().join("state"), dir.path().join("bucket"));
    std::fs::create_dir_all(&bucket).unwrap();
    let store = k6gate::history::Store::open(&k6gate::history::HistoryConfig {
        state_dir: state.clone(),
        remote: Some(config(&bucket)),
    })
    .unwrap();
    scenario(&store, &state, NOW);
    let gathered = gather(&store, &RunDirs::new(&state)).unwrap();
    let s = compute(&gathered.listings(None), None, NOW);
    let tiers: Vec<Tier> = s.tiers.iter().map(|t| t.tier).collect();
    assert_eq!(tiers, [Tier::Cache, Tier::Remote, Tier::RunDirs]);
    let (runs, bytes, growth) = tier(&s, Tier::Remote);
    assert_eq!((runs, bytes), (11, du(&bucket.join("runs"))), "the run objects' sizes, exactly");
    assert!(tier(&s, Tier::Cache).2 > 0);
    assert_eq!(s.growth_30d_bytes, growth + 6 * RUN_DIR_BYTES, "the cache is a copy: not counted");

    // Fail closed: a durable store that cannot be listed any more is an error, not 0 bytes.
    std::fs::remove_dir_all(&bucket).unwrap();
    std::fs::write(&bucket, "not a directory").unwrap();
    assert!(gather(&store, &RunDirs::new(&state)).is_err());
}

#[test]
fn the_alert_and_the_panel_read_the_series_history_stats_publishes() {
    use k6gate::prom::storage::{BYTES, GROWTH_30D, GROWTH_BUDGET};
    let alert = k6gate::grafana::rules::alerts()
        .into_iter()
        .find(|a| a.name == "K6gateStorageGrowthOverBudget")
        .expect("the storage alert");
    let grafana_query = alert.grafana_query();
    assert!(grafana_query.contains(GROWTH_30D) && grafana_query.contains(GROWTH_BUDGET), "{grafana_query}");
    assert_eq!(alert.panel.dashboard_uid(), k6gate::grafana::generate::DEPLOYMENTS_UID);
    let files = k6gate::grafana::generate::generate(&Default::default());
    let (_, dashboard) = files
        .iter()
        .find(|(path, _)| path.to_string_lossy().ends_with("k6gate-deployments.json"))
        .expect("the deployments dashboard");
    let dashboard: serde_json::Value = serde_json::from_str(dashboard).unwrap();
    let panel = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == alert.panel.panel_id())
        .expect("the panel the alert is attached to");
    let exprs: Vec<&str> = panel["targets"].as_array().unwrap().iter().map(|t| t["expr"].as_str().unwrap()).collect();
    for metric in [BYTES, GROWTH_30D, GROWTH_BUDGET] {
        assert!(exprs.iter().any(|e| e.contains(metric)), "{metric} not in {exprs:?}");
    }
    assert_eq!(panel["fieldConfig"]["defaults"]["unit"], "bytes");
}
