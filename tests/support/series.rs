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
