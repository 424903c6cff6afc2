//! Decisions from history with the real k6 against the demo shop: a multi-run baseline of
//! five unchanged runs, a regression judged against their spread, a confirmation re-run that
//! clears a FAIL near its limit, and a candidate measured while `stress-ng` loads the machine.
//! These time the service, so they run one at a time in their own binary (`tests/serial.rs`).

use std::collections::BTreeMap;
use std::path::Path;

use k6gate::gate::PolicySource;
use k6gate::github::approval::Mode;
use k6gate::history::{HistoryConfig, Outcome, RunFilter, RunStore};
use k6gate::policy::verdict::Status;
use k6gate::run::{RunOptions, execute, open_history};
use k6gate::summary::RunSummary;
use k6gate_shop::{Running, TargetArgs, spawn};

use crate::forward::Forward;
use crate::support::{root, run_options};

fn shop(args: &[&str]) -> Running {
    let mut all = vec!["--db", ":memory:"];
    all.extend_from_slice(args);
    spawn(&TargetArgs::try_from_args(all).unwrap()).unwrap()
}

fn run(state: &Path, port: u16, version: &str, branch: &str) -> RunOptions {
    run_options::short_run(state, port, version, branch, "8s")
}

/// The steady-state P95 of `POST checkout`.
fn checkout_p95(s: &RunSummary) -> f64 {
    let key =
        BTreeMap::from([("method".to_string(), "POST".to_string()), ("name".to_string(), "checkout".to_string())]);
    let steady = s.phase("steady-state").expect("a steady state");
    steady.groups.iter().find(|g| g.key == key).and_then(|g| g.latency_ms.as_ref()?.p95).expect("checkout P95")
}

pub fn a_regression_is_judged_against_five_baseline_runs_and_an_unchanged_build_is_not() {
    let state = tempfile::tempdir().unwrap();
    let (healthy, slow) = (shop(&[]), shop(&["--regression", "0.25"]));
    for i in 0..5 {
        let r = execute(&run(state.path(), healthy.port(), &format!("v1.0.{i}"), "main")).unwrap();
        assert!(
            matches!(r.outcome, Outcome::Pass | Outcome::Warn),
            "baseline run {i}: {:?} {:?}",
            r.outcome,
            r.problem
        );
    }

    let regressed = execute(&run(state.path(), slow.port(), "v1.1.0", "main")).unwrap();
    let v = regressed.verdict.as_ref().expect("verdict");
    assert_eq!(v.comparison.baselines.len(), 5, "{:?}", v.baseline_reason);
    assert!(v.baseline_reason.as_deref().unwrap().contains("with 4 earlier run(s)"), "{:?}", v.baseline_reason);
    assert_eq!(v.outcome, Status::Fail, "{}", k6gate::report::verdict::text(v));
    let checkout = v.results.iter().find(|r| r.id == "budget/POST checkout/p95_ms").expect("checkout P95 budget");
    assert_eq!(checkout.status, Status::Fail, "{}", checkout.message);
    assert!(checkout.message.contains("outside the range of the last 5 baselines"), "{}", checkout.message);
    let between = checkout.comparison.as_ref().and_then(|c| c.between.as_ref()).expect("between-run statistics");
    assert_eq!((between.baseline_runs, between.baseline_values.len()), (5, 5));
    assert!(between.p_value.unwrap() < 0.01 && between.noise.is_some(), "{between:?}");
    assert!(v.load_model.starts_with("closed model"), "{}", v.load_model);

    // The same build again, judged against the same five: not a regression.
    let unchanged = execute(&run(state.path(), healthy.port(), "v1.0.5", "feature/a-a")).unwrap();
    let u = unchanged.verdict.as_ref().unwrap();
    assert_ne!(u.outcome, Status::Fail, "{}", k6gate::report::verdict::text(u));
    assert_eq!(u.comparison.baselines.len(), 5);
    healthy.stop().unwrap();
    slow.stop().unwrap();
}

/// The shipped policies with `checkout` held to an SLA on its own P95 of `limit_ms`, and
/// budgets so wide that only the SLA decides.
fn policies_with_checkout_sla(limit_ms: f64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for entry in std::fs::read_dir(root().join("policies")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rego") {
            std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
        }
    }
    let data = format!(
        "sla:\n  defaults:\n    p95_ms: 5000\n    error_rate: 0.01\n  tests:\n    - test: checkout\n      group: POST checkout\n      p95_ms: {limit_ms:.3}\nbudgets:\n  defaults:\n    p95_ms: 5.0\n    p99_ms: 5.0\n    error_rate: 0.5\n    requests_per_s: 0.9\n"
    );
    std::fs::write(dir.path().join("data/policy.yaml"), data).unwrap();
    dir
}

pub fn a_fail_near_its_limit_is_re_run_and_the_re_run_clears_it() {
    let (healthy, slow) = (shop(&[]), shop(&["--regression", "0.5"]));
    // Where the slow build lands, measured once: the SLA goes 5 % under it, so the slow run
    // fails near its limit (less than 10 % over) and the healthy re-run is well under it.
    let probe = tempfile::tempdir().unwrap();
    let measured = execute(&run(probe.path(), slow.port(), "probe", "main")).unwrap();
    let slow_p95 = checkout_p95(measured.summary.as_ref().unwrap());
    let policies = policies_with_checkout_sla(slow_p95 / 1.05);

    let state = tempfile::tempdir().unwrap();
    let with_policy = |port: u16, version: &str| RunOptions {
        policy: PolicySource::new(policies.path(), Mode::Trust),
        ..run(state.path(), port, version, "main")
    };
    let base = execute(&with_policy(healthy.port(), "v1.0.0")).unwrap();
    assert!(matches!(base.outcome, Outcome::Pass | Outcome::Warn), "{:?}", base.verdict.map(|v| v.headline));

    // The candidate meets the slow build; its re-run (a new run directory) the healthy one.
    let forward = Forward::start(slow.port());
    let runs_dir = state.path().join("runs");
    let watcher = {
        let (runs_dir, healthy_port) = (runs_dir.clone(), healthy.port());
        let forward = std::sync::Arc::new(forward);
        let f = std::sync::Arc::clone(&forward);
        let t = std::thread::spawn(move || {
            for _ in 0..1200 {
                if std::fs::read_dir(&runs_dir).map(|d| d.count()).unwrap_or(0) >= 3 {
                    f.switch_to(healthy_port);
                    return true;
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            false
        });
        (forward, t)
    };
    let candidate = execute(&RunOptions { confirm: Some(1), ..with_policy(watcher.0.port(), "v1.1.0") }).unwrap();
    assert!(watcher.1.join().unwrap(), "the re-run never started");
    let v = candidate.verdict.as_ref().expect("verdict");
    let text = k6gate::report::verdict::text(v);
    assert!(
        v.notes.iter().any(|n| n.contains("a FAIL near its limit (sla/POST checkout/p95_ms): re-run to confirm")),
        "{text}"
    );
    assert_eq!(v.comparison.confirmations.len(), 1, "{text}");
    assert_ne!(v.outcome, Status::Fail, "the healthy re-run clears the near FAIL:\n{text}");
    let sla = v.results.iter().find(|r| r.id == "sla/POST checkout/p95_ms").unwrap();
    assert_eq!(sla.comparison.as_ref().unwrap().between.as_ref().unwrap().candidate_runs, 2, "{text}");

    // Both runs are in the history; the re-run says which run it confirmed.
    let store = open_history(&HistoryConfig::local(state.path())).unwrap();
    let runs = store.list_runs(&RunFilter { test: Some("checkout"), environment: Some("dev"), limit: None }).unwrap();
    assert_eq!(runs.len(), 3);
    let rerun = runs.iter().find(|r| r.context.as_ref().and_then(|c| c.confirms.as_deref()).is_some()).unwrap();
    assert_eq!(rerun.context.as_ref().unwrap().confirms.as_deref(), Some(candidate.run_id.as_str()));
    assert_eq!(rerun.outcome, candidate.outcome);
    healthy.stop().unwrap();
    slow.stop().unwrap();
}

/// `stress-ng` with eight CPU workers (four per core here) for `secs` seconds, stopped when dropped.
struct Stress(std::process::Child);

impl Stress {
    fn start(secs: u32) -> Stress {
        let child = std::process::Command::new("stress-ng")
            .args(["--cpu", "8", "--timeout", &format!("{secs}s"), "--quiet"])
            .spawn()
            .expect("stress-ng (scripts/install-stress-ng.sh)");
        Stress(child)
    }
}

impl Drop for Stress {
    fn drop(&mut self) {
        // SIGTERM to the parent ends its workers too (measured: test-infrastructure.md §5).
        let _ =
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(self.0.id() as i32), nix::sys::signal::Signal::SIGTERM);
        let _ = self.0.wait();
    }
}

pub fn a_candidate_measured_under_cpu_pressure_is_never_blocked_as_a_regression() {
    let state = tempfile::tempdir().unwrap();
    let healthy = shop(&[]);
    for i in 0..2 {
        let r = execute(&run(state.path(), healthy.port(), &format!("v1.0.{i}"), "main")).unwrap();
        assert!(
            matches!(r.outcome, Outcome::Pass | Outcome::Warn),
            "baseline run {i}: {:?}",
            r.verdict.map(|v| v.headline)
        );
    }
    let stress = Stress::start(60);
    let pressed = execute(&run(state.path(), healthy.port(), "v1.0.2", "main")).unwrap();
    drop(stress);
    let summary = pressed.summary.as_ref().expect("summary");
    let generator = summary.load_generator.as_ref().expect("load generator");
    assert!(generator.host_saturated, "{generator:?}");
    assert!(generator.host_cpu_busy.unwrap() >= k6gate::summary::HOST_BUSY_MAX, "{generator:?}");
    let v = pressed.verdict.as_ref().expect("verdict");
    let text = k6gate::report::verdict::text(v);
    // Flagged (a warning) when nothing else moved, inconclusive when something did: never a FAIL.
    assert!(matches!(pressed.outcome, Outcome::Warn | Outcome::Inconclusive), "{text}");
    assert_ne!(v.outcome, Status::Fail, "{text}");
    let flag = v.results.iter().find(|r| r.id == "load/host/candidate").expect("the machine's result");
    assert!(flag.message.contains("busy machine"), "{}", flag.message);
    // An inconclusive run is never a baseline.
    if pressed.outcome == Outcome::Inconclusive {
        let store = open_history(&HistoryConfig::local(state.path())).unwrap();
        let next = store.baseline("checkout", "dev", "main").unwrap().unwrap();
        assert_ne!(next.run.id, pressed.run_id);
    }
    healthy.stop().unwrap();
}
