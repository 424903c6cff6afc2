//! Detection quality of the change-point alerts (`k6gate::trend::alerting`) on seeded
//! synthetic nightly histories: recall, precision, detection delay and false alerts. It
//! measures what the detector finds, not how fast, and prints a table:
//!
//! ```sh
//! cargo bench --bench changepoint_quality              # the default settings
//! cargo bench --bench changepoint_quality -- --grid    # and the settings around them
//! ```
//!
//! Every history is evaluated the way `k6gate nightly` meets it: the detector runs after each
//! new run over the history so far, and a change point alerts once (an alert within ±2 runs
//! of an earlier one is the same alert). The histories (run-to-run noise log-normal, sd 3 %):
//!
//! - **drift**: 8 weeks flat, then 2 % slower per week for 8 weeks (7 runs a week). Found
//!   when an alert falls at or after the drift's start (−2 runs); the delay is counted from
//!   the drift's start.
//! - **step**: 40 runs flat, then 15 % slower for 4 weeks. Found when an alert falls within
//!   ±2 runs of the step.
//! - **flat**: 100 runs, no change: every alert is a false one.
//! - **spikes**: 100 runs, no change but transient outliers: one run 50 % slower at run 30,
//!   two runs 30 % slower at 50, four runs 25 % slower at 70 (a bad weekend), and two runs 30 %
//!   slower at 97, the end of the history (where only the persistence requirement can tell a
//!   spike from a step). Every alert is a false one.
//!
//! Recall is found / histories with a change; precision is true alerts / all alerts (an alert
//! in a drift or step history that is not at the change is false too). A test has five
//! metrics, so its false alerts are about five times the per-series number.

#[path = "../tests/support/series.rs"]
mod series;

use k6gate::stats::edivisive::{Config, Kappa};
use k6gate::trend::{Settings, alerting};
use series::{Shape, history};

const SD: f64 = 0.03;
const HISTORIES: u64 = 100;
/// The first night the detector runs: fewer runs than this say nothing.
const FIRST_NIGHT: usize = 10;
/// An alert within this many runs of the true change is at the right place.
const TOLERANCE: usize = 2;

struct Scenario {
    name: &'static str,
    len: usize,
    shape: Shape,
    /// Where the change starts; `None` for a flat history.
    change: Option<usize>,
    /// Whether an alert at `index` is a true one.
    is_true: fn(usize, usize) -> bool,
}

fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            name: "drift 2 %/week (8 weeks)",
            len: 112,
            shape: Shape::Drift { from: 56, per_week: 0.02 },
            change: Some(56),
            is_true: |index, at| index + TOLERANCE >= at,
        },
        Scenario {
            name: "step +15 % (4 weeks)",
            len: 68,
            shape: Shape::Step { at: 40, factor: 1.15 },
            change: Some(40),
            is_true: |index, at| index.abs_diff(at) <= TOLERANCE,
        },
        Scenario { name: "flat (100 runs)", len: 100, shape: Shape::Flat, change: None, is_true: |_, _| false },
        Scenario {
            name: "spikes (100 runs)",
            len: 100,
            shape: Shape::Spikes(vec![(30, 1, 1.5), (50, 2, 1.3), (70, 4, 1.25), (97, 2, 1.3)]),
            change: None,
            is_true: |_, _| false,
        },
    ]
}

/// The alerts of one history, run night after night: (night's history length, index).
fn nightly(values: &[f64], settings: &Settings) -> Vec<(usize, usize)> {
    let mut alerts: Vec<(usize, usize)> = Vec::new();
    for night in FIRST_NIGHT..=values.len() {
        for cp in alerting(&values[..night], settings).expect("finite values, valid settings") {
            if !alerts.iter().any(|&(_, i)| i.abs_diff(cp.index) <= TOLERANCE) {
                alerts.push((night, cp.index));
            }
        }
    }
    alerts
}

#[derive(Default)]
struct Tally {
    histories: u64,
    found: u64,
    true_alerts: u64,
    false_alerts: u64,
    /// Runs from the change to the night it was first found.
    delays: Vec<usize>,
    runs: u64,
}

fn measure(s: &Scenario, settings: &Settings) -> Tally {
    let mut t = Tally::default();
    for seed in 0..HISTORIES {
        let values = history(seed * 7919 + s.len as u64, s.len, 200.0, SD, &s.shape);
        let alerts = nightly(&values, settings);
        t.histories += 1;
        t.runs += s.len as u64;
        let mut first: Option<usize> = None;
        for &(night, index) in &alerts {
            match s.change {
                Some(at) if (s.is_true)(index, at) => {
                    t.true_alerts += 1;
                    first = Some(first.map_or(night, |f: usize| f.min(night)));
                }
                _ => t.false_alerts += 1,
            }
        }
        if let (Some(at), Some(night)) = (s.change, first) {
            t.found += 1;
            t.delays.push(night - at);
        }
    }
    t
}

fn median(v: &mut [usize]) -> Option<usize> {
    v.sort_unstable();
    v.get(v.len() / 2).copied()
}

fn row(settings: &Settings) -> String {
    let mut cells = Vec::new();
    let (mut true_alerts, mut all_alerts, mut found, mut with_change) = (0, 0, 0, 0);
    for s in scenarios() {
        let mut t = measure(&s, settings);
        true_alerts += t.true_alerts;
        all_alerts += t.true_alerts + t.false_alerts;
        match s.change {
            Some(_) => {
                found += t.found;
                with_change += t.histories;
                let p90 = {
                    t.delays.sort_unstable();
                    t.delays.get(t.delays.len() * 9 / 10).copied()
                };
                cells.push(format!(
                    "{}/{} found, delay median {} p90 {}, false {}",
                    t.found,
                    t.histories,
                    median(&mut t.delays).map_or("-".into(), |d| d.to_string()),
                    p90.map_or("-".into(), |d| d.to_string()),
                    t.false_alerts
                ));
            }
            None => cells.push(format!(
                "{} false in {} runs ({:.2} per 100 runs)",
                t.false_alerts,
                t.runs,
                t.false_alerts as f64 * 100.0 / t.runs as f64
            )),
        }
    }
    let c = &settings.detector;
    format!(
        "| {} | {} | {} | {} | {:.2} | {:.3} | {} |",
        c.pvalue,
        c.min_size,
        settings.persistence,
        match c.kappa {
            Kappa::End => "end",
            Kappa::Search => "searched",
        },
        found as f64 / with_change as f64,
        if all_alerts == 0 { 1.0 } else { true_alerts as f64 / all_alerts as f64 },
        cells.join(" | ")
    )
}

fn main() {
    let grid = std::env::args().any(|a| a == "--grid");
    println!(
        "{HISTORIES} seeded histories per scenario, nightly detection from run {FIRST_NIGHT}, noise log-sd {SD}, \
         {} permutations; delays in runs (7 a week)\n",
        Config::default().permutations
    );
    let names: Vec<&str> = scenarios().iter().map(|s| s.name).collect();
    println!("| pvalue | min_size | persistence | κ | recall | precision | {} |", names.join(" | "));
    println!("|---|---|---|---|---|---|{}", "---|".repeat(names.len()));
    let default = Settings::default();
    println!("{}", row(&default));
    if grid {
        let with = |pvalue, min_size, persistence, kappa| Settings {
            detector: Config { pvalue, min_size, kappa, ..default.detector.clone() },
            persistence,
        };
        let others = [
            with(0.005, 3, 7, Kappa::Search),
            with(0.005, 3, 7, Kappa::End),
            with(0.01, 3, 7, Kappa::Search),
            with(0.005, 3, 5, Kappa::Search),
            with(0.01, 3, 5, Kappa::End),
            with(0.005, 3, 3, Kappa::End),
            with(0.005, 5, 5, Kappa::End),
            with(0.05, 3, 3, Kappa::End),
            with(0.01, 3, 5, Kappa::Search),
            with(0.005, 5, 5, Kappa::Search),
            // Like the references: no minimum, no persistence.
            with(0.05, 1, 1, Kappa::Search),
        ];
        for s in others.iter().filter(|s| **s != default) {
            println!("{}", row(s));
        }
    }
}
