//! Seeded synthetic run histories: one value per run (a p95 in ms, say) around a level, with
//! log-normal run-to-run noise (`sd` is the log standard deviation, about the relative sd),
//! and the level changed by steps or a drift. The same seed always gives the same series.
//!
//! Shared by the change-point tests (`tests/changepoints.rs`) and the detection-quality
//! measurement (`benches/changepoint_quality.rs`, which includes this file by path).

#![allow(dead_code)] // each includer uses part of it

use k6gate::stats::rng::SplitMix64;

/// Runs per week of a nightly schedule.
pub const NIGHTLY_PER_WEEK: f64 = 7.0;

/// What changes in a history.
#[derive(Debug, Clone, PartialEq)]
pub enum Shape {
    /// No change at all.
    Flat,
    /// The level times `factor` from run `at` on (1.15: 15 % slower).
    Step { at: usize, factor: f64 },
    /// Several steps, each from its run on, compounding.
    Steps(Vec<(usize, f64)>),
    /// Transient outliers: `(at, runs, factor)` makes `runs` runs from `at` on `factor` times
    /// the level, then it is back (a noisy neighbour, a bad night).
    Spikes(Vec<(usize, usize, f64)>),
    /// From run `from` on, the level grows by `per_week` (0.02: 2 %) every week of nightly runs,
    /// compounding run by run.
    Drift { from: usize, per_week: f64 },
}

impl Shape {
    /// The level's factor at run `i`.
    pub fn level(&self, i: usize) -> f64 {
        match self {
            Shape::Flat => 1.0,
            Shape::Step { at, factor } => {
                if i >= *at {
                    *factor
                } else {
                    1.0
                }
            }
            Shape::Steps(steps) => steps.iter().filter(|(at, _)| i >= *at).map(|(_, f)| f).product(),
            Shape::Spikes(spikes) => {
                spikes.iter().filter(|(at, runs, _)| (*at..at + runs).contains(&i)).map(|(_, _, f)| f).product()
            }
            Shape::Drift { from, per_week } => {
                let runs = i.saturating_sub(*from) as f64;
                (1.0 + per_week).powf(runs / NIGHTLY_PER_WEEK)
            }
        }
    }
}

/// `len` runs of `shape` around `base` with log-normal noise of log-sd `sd`.
pub fn history(seed: u64, len: usize, base: f64, sd: f64, shape: &Shape) -> Vec<f64> {
    let mut rng = SplitMix64::new(seed);
    (0..len).map(|i| base * shape.level(i) * (sd * rng.normal()).exp()).collect()
}

/// 2026-11-01T02:00:00Z: the first night of a recorded history.
pub const NIGHT0_NS: i64 = 1_793_498_400_000_000_000;
pub const DAY_NS: i64 = 86_400_000_000_000;

/// A RunSummary (as JSON) whose steady-state phase has these values for all requests: what
/// the change-point search reads. Everything else is the least a valid summary holds.
pub fn run_summary(p50: f64, p95: f64, p99: f64, error_rate: f64, requests_per_s: f64) -> serde_json::Value {
    let phase = |name: &str| {
        serde_json::json!({
            "name": name,
            "duration_s": 60.0,
            "windows": 60,
            "total": {
                "key": {},
                "requests": (requests_per_s * 60.0) as u64,
                "requests_per_s": requests_per_s,
                "latency_ms": { "count": (requests_per_s * 60.0) as u64, "p50": p50, "p95": p95, "p99": p99 },
                "failed": 0,
                "error_rate": error_rate,
                "status_classes": {},
            },
            "groups": [],
            "metrics": {},
        })
    };
    serde_json::json!({
        "schema_version": k6gate::summary::SCHEMA_VERSION,
        "metadata": { "sources": [], "samples": 0 },
        "completeness": { "complete": true, "issues": [] },
        "granularity": "windows",
        "phase_source": "tagged",
        "phases": [phase("sustained")],
        "steady_state": {
            "phase": "sustained",
            "trimmed_s": 0.0,
            "truncation": { "rule": "MSER-5", "trimmed": 0, "observations": 60 },
            "summary": phase("steady-state"),
        },
        "whole_run": phase("whole-run"),
        "notes": [],
    })
}

/// Records one passing run per `p95` value in the state directory's history, a night apart,
/// oldest first, versions `v1.<i>`; p50, p99, the error rate and the request rate are flat
/// with 3 % noise of their own (fixed seeds). Returns the run ids, oldest first.
pub fn record_history(state: &std::path::Path, test: &str, env: &str, p95: &[f64]) -> Vec<String> {
    use k6gate::history::{HistoryConfig, NewRun, Outcome, RunStore};
    let store = k6gate::run::open_history(&HistoryConfig::local(state)).unwrap();
    let flat = |seed: u64, base: f64| history(seed, p95.len(), base, 0.03, &Shape::Flat);
    let (p50, p99, errors, rps) = (flat(501, 40.0), flat(502, 300.0), flat(503, 0.002), flat(504, 50.0));
    let doc = |v: serde_json::Value| Some(serde_json::value::to_raw_value(&v).unwrap());
    p95.iter()
        .enumerate()
        .map(|(i, &v)| {
            let started = NIGHT0_NS + i as i64 * DAY_NS;
            store
                .record_run(&NewRun {
                    test: test.into(),
                    environment: env.into(),
                    outcome: Outcome::Pass,
                    started_at_ns: started,
                    finished_at_ns: Some(started + 120_000_000_000),
                    git_branch: Some("main".into()),
                    deployment_version: Some(format!("v1.{i}")),
                    summary: doc(run_summary(p50[i], v, p99[i], errors[i], rps[i])),
                    verdict: doc(serde_json::json!({ "outcome": "pass" })),
                    ..NewRun::default()
                })
                .unwrap()
        })
        .collect()
}
