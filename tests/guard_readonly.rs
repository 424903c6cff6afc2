//! Grafana read-only during a load test (`guard::readonly`, `k6gate guard restore`), against
//! the fake Grafana's folder permissions API (`support/fake_grafana.rs`, which checks every
//! request against Grafana's Folder Permissions HTTP API documentation) and a real SQLite
//! store in a temp dir. Fast tier.

use std::time::Duration;

use crate::support::cli::K6gate;
use crate::support::fake_grafana::{FakeGrafana, TOKEN};

use k6gate::grafana::annotate::GrafanaConfig;
use k6gate::guard::readonly::{self, Actor, ReadonlyError};
use k6gate::history::{AuditLog, AuditQuery, FILE_NAME, SavedPermissions, SqliteStore};

fn config(url: &str) -> GrafanaConfig {
    let mut c = GrafanaConfig::new(url, TOKEN).expect("config");
    c.timeout = Duration::from_secs(5);
    c
}

fn actor() -> Actor {
    Actor { who: "alice@example.com".into(), host: Some("ci-7".into()) }
}

type Perms = Vec<(String, String, u8)>;

fn perms(items: &[(&str, &str, u8)]) -> Perms {
    let mut v: Perms = items.iter().map(|(k, w, p)| (k.to_string(), w.to_string(), *p)).collect();
    v.sort();
    v
}

const OPS: &[(&str, &str, u8)] = &[("role", "Editor", 2), ("role", "Viewer", 1), ("team", "3", 2), ("user", "11", 4)];
const PAYMENTS: &[(&str, &str, u8)] = &[("role", "Editor", 2)];

fn grafana_with_folders() -> FakeGrafana {
    let g = FakeGrafana::start();
    g.add_folder("ops", OPS);
    g.add_folder("payments", PAYMENTS);
    g
}

fn kinds(store: &SqliteStore) -> Vec<(String, String)> {
    store
        .audit_entries(&AuditQuery::default())
        .expect("audit")
        .into_iter()
        .map(|e| (e.entry.kind, e.entry.result))
        .collect()
}

#[test]
fn folders_go_view_only_and_come_back_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join(FILE_NAME)).unwrap();
    let g = grafana_with_folders();
    let c = config(&g.url);
    let folders = vec!["ops".to_string(), "payments".to_string()];

    let switched = readonly::switch(&store, &c, "prod", Some("run-1"), &folders, &actor(), 1_000).unwrap();
    assert_eq!(switched, folders);
    // Edit became View; View and Admin stayed.
    assert_eq!(
        g.folder("ops"),
        perms(&[("role", "Editor", 1), ("role", "Viewer", 1), ("team", "3", 1), ("user", "11", 4)])
    );
    assert_eq!(g.folder("payments"), perms(&[("role", "Editor", 1)]));
    // The originals are in the store, keyed by Grafana and folder.
    let saved = store.saved_permissions(None).unwrap();
    assert_eq!(saved.iter().map(|s| s.folder_uid.as_str()).collect::<Vec<_>>(), ["ops", "payments"]);
    assert!(saved.iter().all(|s| s.environment == "prod" && s.run_id.as_deref() == Some("run-1")));

    let done = readonly::restore(&store, &c, &actor(), 2_000).unwrap();
    assert_eq!(done.folders, folders);
    assert_eq!(g.folder("ops"), perms(OPS));
    assert_eq!(g.folder("payments"), perms(PAYMENTS));
    assert!(store.saved_permissions(None).unwrap().is_empty());

    let trail = kinds(&store);
    let ok = |k: &str| (k.to_string(), "ok".to_string());
    assert_eq!(trail, [ok("readonly-switch"), ok("readonly-switch"), ok("readonly-restore"), ok("readonly-restore")]);
    let entries = store.audit_entries(&AuditQuery { environment: Some("prod".into()), since_ns: Some(2_000) }).unwrap();
    assert_eq!(entries.len(), 2, "the --since bound keeps the restores only");
    assert!(entries.iter().all(|e| e.entry.who == "alice@example.com" && e.entry.host.as_deref() == Some("ci-7")));

    // GET then POST per folder, all as documented.
    let calls: Vec<(String, String)> = g.seen().iter().map(|s| (s.method.clone(), s.path.clone())).collect();
    assert_eq!(calls[0], ("GET".into(), "/api/folders/ops/permissions".into()));
    assert_eq!(calls[1], ("POST".into(), "/api/folders/ops/permissions".into()));
    assert_eq!(calls.len(), 6);
    g.assert_all_documented();
}

#[test]
fn a_folder_that_cannot_be_switched_puts_back_the_ones_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join(FILE_NAME)).unwrap();
    let g = grafana_with_folders();
    let c = config(&g.url);
    let folders = vec!["ops".to_string(), "no-such-folder".to_string()];
    let err = readonly::switch(&store, &c, "prod", Some("run-2"), &folders, &actor(), 1).unwrap_err();
    let message = err.to_string();
    assert!(
        matches!(err, ReadonlyError::Switch { ref folder, ref left, .. } if folder == "no-such-folder" && left.is_empty()),
        "{message}"
    );
    assert!(message.contains("HTTP 404") && message.contains("no-such-folder"), "{message}");
    assert!(!message.contains(TOKEN));
    assert_eq!(g.folder("ops"), perms(OPS), "the first folder is back");
    assert!(store.saved_permissions(None).unwrap().is_empty());
    let trail = kinds(&store);
    assert_eq!(trail[0], ("readonly-switch".into(), "ok".into()));
    assert!(trail[1].0 == "readonly-switch" && trail[1].1.starts_with("failed: "), "{trail:?}");
    assert_eq!(trail[2], ("readonly-restore".into(), "ok".into()));
    g.assert_all_documented();
}

#[test]
fn permissions_grafana_does_not_take_back_stay_saved_until_it_does() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join(FILE_NAME)).unwrap();
    let g = grafana_with_folders();
    let c = config(&g.url);
    readonly::switch(&store, &c, "prod", None, &["ops".to_string()], &actor(), 1).unwrap();
    g.set_folders_failing(true);
    let err = readonly::restore(&store, &c, &actor(), 2).unwrap_err();
    assert!(matches!(&err, ReadonlyError::Restore { failed } if failed.len() == 1 && failed[0].0 == "ops"), "{err}");
    assert!(err.to_string().contains("k6gate guard restore"), "{err}");
    assert_eq!(store.saved_permissions(None).unwrap().len(), 1, "kept for the next restore");
    assert_eq!(g.folder("ops")[0].2, 1, "still view-only");
    g.set_folders_failing(false);
    readonly::restore(&store, &c, &actor(), 3).unwrap();
    assert_eq!(g.folder("ops"), perms(OPS));
    assert!(store.saved_permissions(None).unwrap().is_empty());
    g.assert_all_documented();
}

#[test]
fn a_folder_already_saved_is_never_saved_again() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join(FILE_NAME)).unwrap();
    let saved = SavedPermissions {
        grafana: "http://127.0.0.1:3000".into(),
        folder_uid: "ops".into(),
        environment: "prod".into(),
        run_id: Some("run-0".into()),
        saved_at_ns: 1,
        items: serde_json::json!([{"role": "Editor", "permission": 2}]),
    };
    store.save_permissions(&saved).unwrap();
    let view_only =
        SavedPermissions { items: serde_json::json!([{"role": "Editor", "permission": 1}]), ..saved.clone() };
    let err = store.save_permissions(&view_only).unwrap_err().to_string();
    assert!(err.contains("already has saved permissions") && err.contains("guard restore"), "{err}");
    assert_eq!(store.saved_permissions(None).unwrap(), [saved], "the original is kept");
}

/// A process that switched the folders and died without restoring them (the store is all it
/// left behind): `k6gate guard restore` puts them back, records it, and a second call has
/// nothing left to do.
#[test]
fn guard_restore_puts_back_what_a_killed_run_left_view_only() {
    let dir = tempfile::tempdir().unwrap();
    let g = grafana_with_folders();
    {
        // The run's process: switched, then gone (no restore, no drop logic to lean on).
        let store = SqliteStore::open(dir.path().join(FILE_NAME)).unwrap();
        let folders = vec!["ops".to_string(), "payments".to_string()];
        readonly::switch(&store, &config(&g.url), "prod", Some("run-9"), &folders, &actor(), 1).unwrap();
        std::mem::forget(store);
    }
    assert_eq!(g.folder("payments"), perms(&[("role", "Editor", 1)]));

    // Without Grafana configured it refuses and names what is left.
    K6gate::new()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["guard", "restore"])
        .status(2)
        .stderr_contains("K6GATE_GRAFANA_URL is not set")
        .stderr_contains("ops on ");

    K6gate::new()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["guard", "restore"])
        .env("K6GATE_GRAFANA_URL", &g.url)
        .env("K6GATE_GRAFANA_TOKEN", TOKEN)
        .env("USER", "bob")
        .status(0)
        .stdout_contains("restored Grafana folder ops")
        .stdout_contains("restored Grafana folder payments");
    assert_eq!(g.folder("ops"), perms(OPS));
    assert_eq!(g.folder("payments"), perms(PAYMENTS));

    K6gate::new()
        .arg("--state-dir")
        .arg(dir.path())
        .args(["guard", "restore"])
        .status(0)
        .stdout_contains("nothing to restore");

    let store = SqliteStore::open(dir.path().join(FILE_NAME)).unwrap();
    let restores: Vec<_> = store
        .audit_entries(&AuditQuery::default())
        .unwrap()
        .into_iter()
        .filter(|e| e.entry.kind == "readonly-restore")
        .collect();
    assert_eq!(restores.len(), 2);
    assert!(restores.iter().all(|e| e.entry.result == "ok" && e.entry.run_id.as_deref() == Some("run-9")));
    g.assert_all_documented();
}

/// What the guard posts for the health dashboard goes through the annotation client as a
/// documented `POST /api/annotations`, tagged for the dashboard's "k6gate guard" query.
#[test]
fn the_guards_annotation_is_a_documented_request() {
    let g = FakeGrafana::start();
    let a = readonly::annotation(
        "readonly-switch",
        "prod",
        Some("run-1"),
        "folders ops view-only",
        1_796_119_200_000_000_000,
    );
    k6gate::grafana::annotate::post(&config(&g.url), &a).unwrap();
    g.assert_all_documented();
    let body = g.seen()[0].json();
    assert_eq!(body["tags"], serde_json::json!(["k6gate", "guard", "guard:readonly-switch", "env:prod", "run:run-1"]));
    assert_eq!(body["time"], 1_796_119_200_000_i64);
    assert_eq!(g.texts(), ["k6gate guard, prod: folders ops view-only"]);
    // The health dashboard shows exactly these tags.
    let files = k6gate::grafana::generate::generate(&Default::default());
    let (_, text) = files.iter().find(|(p, _)| p.ends_with("k6gate-load-test-health.json")).expect("health dashboard");
    let d: serde_json::Value = serde_json::from_str(text).unwrap();
    let queries = d["annotations"]["list"].as_array().unwrap();
    assert!(queries.iter().any(|q| q["target"]["tags"] == serde_json::json!(["k6gate", "guard"])), "{queries:?}");
}

// ---------------------------------------------------------------------------------------------
// Full tier: `k6gate run` with real k6 against the demo shop.

/// The repo's policies, copied, with `guard.readonly.dev` naming the fake's `ops` folder.
fn policies_with_readonly(dir: &std::path::Path) -> std::path::PathBuf {
    fn copy(from: &std::path::Path, to: &std::path::Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let policies = dir.join("policies");
    copy(&crate::support::root().join("policies"), &policies);
    std::fs::write(policies.join("data/guard-readonly.yaml"), "guard:\n  readonly:\n    dev:\n      folders: [ops]\n")
        .unwrap();
    policies
}

/// A run makes `ops` view-only while k6 runs and puts it back after, with the trail and the
/// annotations; a run killed (SIGKILL, with its k6) while the folder is view-only leaves it
/// saved, and `k6gate guard restore` puts it back. About 15 s.
#[test]
#[ignore = "full tier: needs k6"]
fn a_run_switches_folders_around_k6_and_a_killed_run_is_undone_by_guard_restore() {
    use k6gate_shop::{TargetArgs, spawn};
    let dir = tempfile::tempdir().unwrap();
    let policies = policies_with_readonly(dir.path());
    let g = grafana_with_folders();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let state = dir.path().join("state");

    // 1. A whole run, in process.
    let mut opts = crate::support::run_options::short_run(&state, target.port(), "v1", "main", "2s");
    opts.policy = k6gate::gate::PolicySource::new(&policies, k6gate::github::approval::Mode::Trust);
    opts.outputs.grafana =
        Some(k6gate::run::outputs::Grafana { config: config(&g.url), queue_dir: dir.path().join("queue") });
    let result = k6gate::run::execute(&opts).unwrap();
    assert!(result.problem.is_none(), "{:?}", result.problem);
    assert_eq!(g.folder("ops"), perms(OPS), "back after the run");
    assert_eq!(g.folder("payments"), perms(PAYMENTS), "a folder the policy does not name is never touched");
    let store = SqliteStore::open(state.join(FILE_NAME)).unwrap();
    let trail = kinds(&store);
    assert_eq!(trail[0], ("readonly-switch".into(), "ok".into()), "{trail:?}");
    assert_eq!(trail[1], ("readonly-restore".into(), "ok".into()), "{trail:?}");
    assert_eq!(trail[2].0, "run", "{trail:?}");
    let posts: Vec<String> =
        g.seen().iter().filter(|s| s.path.starts_with("/api/folders/")).map(|s| s.method.clone()).collect();
    assert_eq!(posts, ["GET", "POST", "POST"], "read, view-only, restored");
    let guard_notes: Vec<String> = g.texts().into_iter().filter(|t| t.starts_with("k6gate guard")).collect();
    assert_eq!(guard_notes.len(), 2, "{guard_notes:?}");
    drop(store);

    // 2. Killed while k6 runs.
    use std::os::unix::process::CommandExt;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_k6gate"))
        .current_dir(crate::support::root())
        .arg("--policies")
        .arg(&policies)
        .args(["--approval", "trust", "--state-dir"])
        .arg(&state)
        .args(["run", "--test", "checkout", "--env", "dev", "--deployment-version", "v2", "--bootstrap"])
        .args(["--set", &format!("base_url=http://127.0.0.1:{}", target.port()), "--set", "stages.sustained=60s"])
        .env("K6_NO_USAGE_REPORT", "true")
        .env("K6GATE_GRAFANA_URL", &g.url)
        .env("K6GATE_GRAFANA_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn()
        .unwrap();
    // Generous on a busy machine: the switch comes after prepare (render, policies, preflight).
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while g.folder("ops")[0].2 != 1 || g.folder("ops")[2].2 != 1 {
        assert!(std::time::Instant::now() < deadline, "the run never made ops view-only");
        std::thread::sleep(Duration::from_millis(100));
    }
    let pgid = nix::unistd::Pid::from_raw(-(child.id() as i32));
    nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL).unwrap();
    child.wait().unwrap();
    assert_ne!(g.folder("ops"), perms(OPS), "killed: nothing put it back");
    K6gate::new()
        .arg("--state-dir")
        .arg(&state)
        .args(["guard", "restore"])
        .env("K6GATE_GRAFANA_URL", &g.url)
        .env("K6GATE_GRAFANA_TOKEN", TOKEN)
        .status(0)
        .stdout_contains("restored Grafana folder ops");
    assert_eq!(g.folder("ops"), perms(OPS));
    target.stop().unwrap();
    g.assert_all_documented();
}
