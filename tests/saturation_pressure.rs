//! Resource pressure for saturation runs (issue 16): `saturation.pressure:` in an environment
//! is checked field by field (file, line, field), and in the full tier `k6gate run` runs the
//! saturation template against a CPU-bound shop (`--cpu-work-us`) once on a quiet machine and
//! once beside `stress-ng`: the measured capacity falls, and the run says what it ran under.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use k6gate::history::RunStore;
use k6gate::render::{RenderRequest, RunInfo, render};

use crate::support::proc::Proc;
use crate::support::root;

/// Steps of 2 s against a shop that serves one query at a time (pool of 1).
const SAT: &str = "base_url: http://127.0.0.1:PORT\nexecutor: ramping-vus\nvus: 2\n\
stages: {ramp_up: 1s, sustained: 2s, ramp_down: 1s}\nthink_time_s: 0\n\
saturation:\n  steps: [1, 2, 3, 4, 6, 8]\n  step_duration: 2s\n";

fn render_err(dir: &Path, body: &str) -> String {
    std::fs::write(dir.join("e.yaml"), body.replace("PORT", "1")).unwrap();
    let r = render(&RenderRequest {
        test: "saturation",
        environment: "e",
        templates_dir: &root().join("k6-templates"),
        environments_dir: dir,
        sets: &[],
        vars: &BTreeMap::new(),
        run: RunInfo {
            run_id: "20261207-010000-pres".into(),
            git_commit: "3f2a9c1".into(),
            deployment_version: "v1".into(),
            test_date: "2026-12-07".into(),
        },
        live_labels: None,
    });
    match r {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_broken_pressure_block_names_the_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let with = |p: &str| format!("{SAT}  pressure:\n{p}");
    assert_eq!(render_err(dir.path(), &with("    cpu_workers: 2\n    cpus: [0]\n")), "", "a good block renders");
    let err = render_err(dir.path(), &with("    cpu_workers: 0\n"));
    assert!(err.contains("e.yaml:10: saturation.pressure.cpu_workers: 0 is not between 1 and 64"), "{err}");
    let err = render_err(dir.path(), &with("    cpu_workers: 2\n    vm_bytes: 64M\n"));
    assert!(err.contains("e.yaml:11: saturation.pressure.vm_bytes: memory per vm worker without vm_workers"), "{err}");
    let err = render_err(dir.path(), &with("    cpu_workers: 2\n    vm_workers: 1\n    vm_bytes: lots\n"));
    assert!(err.contains("e.yaml:12: saturation.pressure.vm_bytes: \"lots\" is not a size like 64M or 1G"), "{err}");
    let err = render_err(dir.path(), &with("    cpu_workers: 2\n    cpu_load: 50\n"));
    assert!(err.contains("e.yaml:11: saturation.pressure.cpu_load: unknown field `cpu_load`"), "{err}");
    let err = render_err(dir.path(), &with("    cpus: [0]\n"));
    assert!(err.contains("saturation.pressure: missing field `cpu_workers`"), "{err}");
}

/// `taskset -c 0 k6gate target ...`: the CPU-bound shop on CPU 0, where the pressure goes.
fn pinned_shop() -> (Proc, u16) {
    let mut cmd = Command::new("taskset");
    cmd.args(["-c", "0", env!("CARGO_BIN_EXE_k6gate"), "target", "--port", "0"])
        .args([
            "--pool-size",
            "1",
            "--cpu-work-us",
            "4000",
            "--latency-scale",
            "0",
            "--cache-warm",
            "--products",
            "1000",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut p = Proc::spawn(&mut cmd, "the demo shop (taskset, scripts/install-stress-ng.sh)");
    let mut line = String::new();
    BufReader::new(p.child().stdout.take().unwrap()).read_line(&mut line).unwrap();
    let port = line.trim().rsplit(':').next().and_then(|p| p.parse().ok());
    (p, port.unwrap_or_else(|| panic!("demo shop said {line:?}")))
}

fn capacity(r: &k6gate::run::RunResult) -> f64 {
    let s = r.verdict.as_ref().expect("a verdict").saturation.as_ref().expect("the saturation section");
    assert!(s.error.is_none(), "{s:?}");
    s.capacity.unwrap_or_else(|| panic!("a capacity: {s:?}")).value
}

fn run_in(state: &Path, envs: &Path, environment: &str, port: u16) -> k6gate::run::RunResult {
    let mut opts = crate::support::run_options::short_run(state, port, "v1.0.0", "main", "2s");
    opts.test = "saturation".into();
    opts.environment = environment.into();
    opts.environments_dir = envs.to_path_buf();
    opts.phase = k6gate::compare::Phase::WholeRun;
    k6gate::run::execute(&opts).unwrap()
}

#[test]
#[ignore = "full tier: needs k6, stress-ng and taskset"]
fn cpu_pressure_lowers_the_measured_capacity_of_a_cpu_bound_shop() {
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir(&envs).unwrap();
    let quiet = SAT.replace("PORT", "1");
    std::fs::write(envs.join("quiet.yaml"), &quiet).unwrap();
    // Two workers on the shop's CPU: it keeps about a third of it; k6 is kept to the other CPU.
    std::fs::write(envs.join("pressed.yaml"), format!("{quiet}  pressure: {{cpu_workers: 2, cpus: [0]}}\n")).unwrap();
    let (mut shop, port) = pinned_shop();
    let state = dir.path().join("state");

    let alone = run_in(&state, &envs, "quiet", port);
    let pressed = run_in(&state, &envs, "pressed", port);
    shop.stop();
    let (c0, c1) = (capacity(&alone), capacity(&pressed));
    eprintln!("capacity: {c0:.1} req/s alone, {c1:.1} req/s under 2 CPU workers on the shop's CPU");
    for r in [&alone, &pressed] {
        let g = r.summary.as_ref().and_then(|s| s.load_generator.as_ref());
        eprintln!("{}: {:?}, machine {:?}", r.run_id, r.outcome, g.map(|g| (g.host_cpu_busy, g.k6_cpu_wait_ratio)));
    }
    // 4 ms of CPU a request on one CPU: 250 req/s at most alone; a third of the CPU under
    // pressure. Two thirds leaves room for a busy machine in either run.
    assert!(c1 < 0.67 * c0, "capacity {c0:.1} -> {c1:.1} req/s");

    let v = pressed.verdict.as_ref().unwrap();
    let what = "2 CPU workers pinned to CPU 0 (stress-ng); k6 kept to CPU 1";
    let said = format!("measured under pressure: {what}");
    assert!(v.notes.contains(&said), "{:?}", v.notes);
    assert_eq!(v.saturation.as_ref().unwrap().pressure.as_deref(), Some(what));
    let md = std::fs::read_to_string(pressed.run_dir.join("report.md")).unwrap();
    assert!(md.contains(&format!("- {said}")), "{md}");
    assert!(pressed.run_dir.join("stress-ng.log").exists());
    let v0 = alone.verdict.as_ref().unwrap();
    assert!(v0.saturation.as_ref().unwrap().pressure.is_none() && !v0.notes.iter().any(|n| n.contains("pressure")));
    // The history keeps what the run was measured under.
    let store = k6gate::run::open_history(&k6gate::history::HistoryConfig::local(&state)).unwrap();
    let kept: k6gate::policy::verdict::Verdict =
        store.get_run(&pressed.run_id).unwrap().verdict_as().expect("a stored verdict").unwrap();
    assert!(kept.notes.contains(&said), "{:?}", kept.notes);
}
