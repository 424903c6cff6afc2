//! The durable store against a real S3-compatible server (moto's server mode, from PyPI, which
//! `scripts/install-moto.sh` installs), and the per-environment lock with real `k6gate run`
//! processes against the demo shop.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k6gate::history::{HistoryConfig, NewRun, Outcome, RemoteConfig, RunFilter, RunStore, Store};
use k6gate_shop::{TargetArgs, spawn};
use serde_json::value::to_raw_value;

use crate::support::cli::K6gate;
use crate::support::root;

/// A moto server on a free port, killed when dropped (`archive_duckdb.rs` uses it too).
pub(crate) struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    pub(crate) fn start(auth: bool) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        Moto::on(port, auth)
    }

    fn on(port: u16, auth: bool) -> Moto {
        let mut cmd = Command::new("moto_server");
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        if auth {
            // Every request is authenticated: keys moto does not know are refused.
            cmd.env("INITIAL_NO_AUTH_ACTION_COUNT", "0");
        }
        let child = cmd.spawn().expect("moto_server (scripts/install-moto.sh)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto did not start on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto { child, port }
    }

    pub(crate) fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates a bucket (moto takes an unsigned PUT; object_store cannot create buckets).
    pub(crate) fn bucket(&self, name: &str) {
        let url = format!("{}/{name}", self.endpoint());
        let client = k6gate::net::client(&Default::default()).unwrap();
        let status =
            k6gate::net::block_on(async move { client.put(url).send().await.map(|r| r.status()) }).unwrap().unwrap();
        assert!(status.is_success(), "create bucket: {status}");
    }

    pub(crate) fn options(&self, key: &str) -> Vec<(String, String)> {
        [
            ("aws_endpoint", self.endpoint()),
            ("aws_allow_http", "true".into()),
            ("aws_access_key_id", key.into()),
            ("aws_secret_access_key", "secret".into()),
            ("aws_region", "us-east-1".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    fn config(&self, state: &std::path::Path, url: &str) -> HistoryConfig {
        HistoryConfig {
            state_dir: state.to_path_buf(),
            remote: Some(RemoteConfig {
                url: url.into(),
                options: self.options("test"),
                timeout: Duration::from_secs(3),
            }),
        }
    }

    /// `k6gate` with this server's settings in the environment, as CI would set them.
    pub(crate) fn cli(&self, key: &str) -> K6gate {
        let mut cmd = K6gate::new().current_dir(root());
        for (k, v) in self.options(key) {
            cmd = cmd.env(&k.to_ascii_uppercase(), v);
        }
        cmd.env("K6GATE_HISTORY_TIMEOUT", "3s")
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

fn passing(env: &str, minute: i64) -> NewRun {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    NewRun {
        test: "checkout".into(),
        environment: env.into(),
        outcome: Outcome::Pass,
        started_at_ns: now + minute * 60_000_000_000,
        finished_at_ns: Some(now + minute * 60_000_000_000 + 1),
        git_branch: Some("main".into()),
        summary: Some(to_raw_value(&serde_json::json!({"minute": minute})).unwrap()),
        verdict: Some(to_raw_value(&serde_json::json!({"outcome": "pass"})).unwrap()),
        ..NewRun::default()
    }
}

#[test]
#[ignore = "full tier: needs moto (scripts/install-moto.sh)"]
fn runs_baselines_and_failures_on_a_real_s3_server() {
    let mut moto = Moto::start(false);
    moto.bucket("k6gate");
    let url = "s3://k6gate/history";
    let dir = tempfile::tempdir().unwrap();

    // Two writers at once (two CI jobs), each with its own cache.
    let handles: Vec<_> = (0..2)
        .map(|w| {
            let config = moto.config(&dir.path().join(format!("writer-{w}")), url);
            std::thread::spawn(move || {
                let store = Store::open(&config).unwrap();
                (0..10).map(|i| store.record_run(&passing("staging", i)).unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let written: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
    // A new machine rebuilds the index from the objects alone.
    let listed = moto
        .cli("test")
        .args(["history", "--history", url, "--limit", "100", "--format", "json", "--state-dir"])
        .arg(dir.path().join("fresh"))
        .status(0)
        .stdout_json();
    let mut ids: Vec<&str> = listed.as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap()).collect();
    ids.sort();
    let mut expected: Vec<&str> = written.iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(ids, expected, "20 runs, none overwritten");

    // An unknown bucket is an error, never an empty history.
    moto.cli("test")
        .args(["history", "--history", "s3://no-such-bucket/h", "--state-dir"])
        .arg(dir.path().join("nobucket"))
        .status(2)
        .stderr_contains("does the bucket or container exist?");

    // The baseline goes missing from the store: the gate fails closed.
    let a = Store::open(&moto.config(&dir.path().join("writer-0"), url)).unwrap();
    assert!(a.baseline("checkout", "staging", "main").unwrap().is_some());
    delete_prefix(&moto, "history/runs/checkout/staging");
    moto.cli("test")
        .args(["baseline", "show", "--test", "checkout", "--env", "staging", "--history", url, "--state-dir"])
        .arg(dir.path().join("after-loss"))
        .status(2)
        .stderr_contains("had a baseline");

    // The server dies between opening and recording: the run stays local, then goes up.
    let state = dir.path().join("offline");
    let store = Store::open(&moto.config(&state, url)).unwrap();
    let port = moto.port;
    moto.kill();
    let kept = store.record_run(&passing("prod-sim", 0)).unwrap();
    let problem = store.remote().unwrap().upload_problem().expect("the upload failed");
    assert!(problem.contains(&format!("upload run {kept}")), "{problem}");
    drop(store);
    let moto = Moto::on(port, false);
    moto.bucket("k6gate");
    moto.cli("test")
        .args(["history", "sync", "--history", url, "--state-dir"])
        .arg(&state)
        .status(0)
        .stdout_contains(&format!("uploaded {kept}"));
    let elsewhere = Store::open(&moto.config(&dir.path().join("check"), url)).unwrap();
    let runs = elsewhere.list_runs(&RunFilter { environment: Some("prod-sim"), ..Default::default() }).unwrap();
    assert_eq!(runs.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(), [kept.as_str()]);
}

#[test]
#[ignore = "full tier: needs moto (scripts/install-moto.sh)"]
fn wrong_credentials_are_a_clear_error() {
    let moto = Moto::start(true);
    let dir = tempfile::tempdir().unwrap();
    moto.cli("AKIANOTAKEY")
        .args(["history", "--history", "s3://k6gate/history", "--state-dir"])
        .arg(dir.path())
        .status(2)
        .stderr_contains("access denied: check the store's credentials");
}

fn delete_prefix(moto: &Moto, prefix: &str) {
    use futures::TryStreamExt;
    use object_store::{ObjectStore, ObjectStoreExt};
    let mut b = object_store::aws::AmazonS3Builder::new().with_bucket_name("k6gate");
    for (k, v) in moto.options("test") {
        b = b.with_config(k.parse().unwrap(), v);
    }
    let s3: Arc<dyn ObjectStore> = Arc::new(b.build().unwrap());
    let prefix = object_store::path::Path::from(prefix);
    k6gate::net::block_on(async move {
        let keys: Vec<_> = s3.list(Some(&prefix)).map_ok(|m| m.location).try_collect().await.unwrap();
        assert!(!keys.is_empty());
        for k in keys {
            s3.delete(&k).await.unwrap();
        }
    })
    .unwrap();
}

/// `k6gate run` for the checkout test in dev against `port`, sustained for `secs` seconds.
fn run_cmd(state: &std::path::Path, port: u16, secs: u32) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k6gate"));
    cmd.current_dir(root())
        .args(["run", "--test", "checkout", "--env", "dev", "--bootstrap", "--approval", "trust"])
        // One record per run, in CI too (where a near-limit verdict is re-run and recorded).
        .args(["--confirm", "0"])
        .args(["--set", &format!("base_url=http://127.0.0.1:{port}")])
        .args(["--set", "stages.warm_up=1s", "--set", "stages.ramp_up=1s", "--set", "stages.ramp_down=1s"])
        .args(["--set", &format!("stages.sustained={secs}s"), "--state-dir"])
        .arg(state)
        .env("K6_NO_USAGE_REPORT", "true")
        .env_remove("K6GATE_HISTORY_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

#[test]
#[ignore = "full tier: needs k6"]
fn runs_against_one_environment_are_serialized() {
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let state = tempfile::tempdir().unwrap();
    let first = run_cmd(state.path(), target.port(), 6).spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    // A second run that will not wait refuses and names the holder.
    let refused = run_cmd(state.path(), target.port(), 1).args(["--lock-wait", "0s"]).output().unwrap();
    let refused_err = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{refused_err}");
    assert!(
        refused_err.contains("environment \"dev\" is locked by run") && refused_err.contains("of test checkout"),
        "{refused_err}"
    );
    // A third waits its turn, and starts only once the first is recorded.
    let waited = run_cmd(state.path(), target.port(), 1).args(["--lock-wait", "2m"]).output().unwrap();
    let first = first.wait_with_output().unwrap();
    target.stop().unwrap();
    let waited_err = String::from_utf8_lossy(&waited.stderr);
    assert_eq!(first.status.code(), Some(0), "{}", String::from_utf8_lossy(&first.stderr));
    // Judged against the first run (its baseline now): a decision either way, or inconclusive
    // when a busy machine saturated the load generator (recorded all the same, exit 2).
    let inconclusive = waited.status.code() == Some(2) && waited_err.contains("recorded as inconclusive");
    assert!(matches!(waited.status.code(), Some(0 | 1)) || inconclusive, "{waited_err}");
    assert!(waited_err.contains("waiting up to 120s"), "{waited_err}");
    let store = Store::open(&HistoryConfig::local(state.path())).unwrap();
    let mut runs = store.list_runs(&RunFilter::default()).unwrap();
    runs.reverse();
    assert_eq!(runs.len(), 2, "the refused run never started");
    // The waiting run is the shorter one (4 s of load against 9 s): run in parallel it would
    // have finished first. It ran its whole load after the first was recorded.
    let (first_end, second_end) = (runs[0].finished_at_ns.unwrap(), runs[1].finished_at_ns.unwrap());
    assert!(second_end >= first_end + 3_000_000_000, "the second ran after the first ended: {runs:#?}");
}

#[test]
#[ignore = "full tier: needs k6"]
fn a_dead_holders_lock_expires_and_is_broken_with_a_warning() {
    use k6gate::history::{Holder, Leases};
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let state = tempfile::tempdir().unwrap();
    // A holder that took the lock and died: no heartbeat renews it.
    let store = Store::open(&HistoryConfig::local(state.path())).unwrap();
    let dead = Holder {
        user: "ghost".into(),
        host: Some("gone".into()),
        pid: 1,
        run_id: "20260101-000000-dead".into(),
        test: "checkout".into(),
        url: None,
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    store.try_acquire("dev", &dead, "dead-token", now, 3_000_000_000).unwrap();
    drop(store);
    let out = run_cmd(state.path(), target.port(), 1).args(["--lock-wait", "1m"]).output().unwrap();
    target.stop().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("broke the expired lock of dev held by run 20260101-000000-dead"), "{err}");
}

/// `history prune` on a real S3 server: the same scenario as on the other backends
/// (`retention.rs`), then the refusal of a stale plan, then the command with `--history`.
#[test]
#[ignore = "full tier: needs moto (scripts/install-moto.sh)"]
fn prune_applies_the_tiers_on_a_real_s3_server() {
    let moto = Moto::start(false);
    moto.bucket("k6gate");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("a");
    let store = Store::open(&moto.config(&state, "s3://k6gate/prune")).unwrap();
    let other = Store::open(&moto.config(&dir.path().join("b"), "s3://k6gate/prune")).unwrap();
    let report = crate::retention::prune_scenario(&store, &state, || {
        assert_eq!(other.list_runs(&RunFilter::default()).unwrap().len(), 14);
    });
    assert_eq!([report.runs.count, report.series.count, report.run_dirs.count], [3, 3, 6]);
    // The objects hold what prune left, and a cache filled before it does not bring runs back.
    other.remote().unwrap().sync().unwrap();
    let fresh = Store::open(&moto.config(&dir.path().join("c"), "s3://k6gate/prune")).unwrap();
    assert_eq!(fresh.list_runs(&RunFilter::default()).unwrap().len(), 11);

    let state = dir.path().join("d");
    let store = Store::open(&moto.config(&state, "s3://k6gate/refuse")).unwrap();
    crate::retention::refuse_scenario(&store, &state);

    // The command, against the store, by today's clock: an errored checkout run (critical: five
    // years) from six years ago goes.
    let url = "s3://k6gate/cli";
    let state = dir.path().join("e");
    let store = Store::open(&moto.config(&state, url)).unwrap();
    let mut old = passing("staging", -6 * 365 * 24 * 60);
    old.outcome = Outcome::Error;
    (old.summary, old.verdict) = (None, None);
    store.record_run(&old).unwrap();
    store.record_run(&passing("staging", 0)).unwrap();
    let run = |dry: bool| {
        let mut cmd = moto.cli("test").args(["history", "prune", "--history", url, "--format", "json", "--state-dir"]);
        cmd = cmd.arg(&state);
        if dry {
            cmd = cmd.arg("--dry-run");
        }
        cmd.status(0).stdout_json()
    };
    assert_eq!(run(true)["runs"]["count"], 1);
    assert_eq!(run(false)["runs"]["count"], 1);
    assert_eq!(run(false)["runs"]["count"], 0);
    assert_eq!(fresh_count(&moto, &dir.path().join("f"), url), 1);
}

fn fresh_count(moto: &Moto, state: &std::path::Path, url: &str) -> usize {
    Store::open(&moto.config(state, url)).unwrap().list_runs(&RunFilter::default()).unwrap().len()
}
