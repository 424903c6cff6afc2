//! The analysis loop: one look per interval. Each look reads the window that just ended (a
//! little later, so that the scrape of its last seconds has landed), compares everything seen
//! so far and asks the rules. Only a rollback may end the analysis before the planned
//! duration (the rules spend part of α on it: `stats::sequential`); a read that fails is an
//! error, whatever was seen before. Time comes in through [`Clock`], windows through a
//! reader: the loop itself does no IO.

use serde::Serialize;

use super::CanaryError;
use super::analysis::{self, MetricResult, Traffic};
use super::policy::{Decision, Look, Outcome, Rules};
use super::window::Window;

/// How long, how often, and how late to look.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Plan {
    pub duration_s: u64,
    pub interval_s: u64,
    /// After a window's end, how long to wait before reading it (at least a scrape interval).
    pub delay_s: f64,
}

impl Plan {
    /// The looks planned: whole intervals in the duration. At least two.
    pub fn looks(&self) -> Result<usize, CanaryError> {
        if self.interval_s == 0 || self.duration_s % self.interval_s != 0 || self.duration_s / self.interval_s < 2 {
            return Err(CanaryError::Plan(format!(
                "--duration {}s must be a multiple of --interval {}s, with at least two intervals",
                self.duration_s, self.interval_s
            )));
        }
        Ok((self.duration_s / self.interval_s) as usize)
    }
}

/// The wall clock, as the loop needs it.
pub trait Clock {
    /// Unix seconds.
    fn now_s(&self) -> f64;
    fn sleep_until(&self, unix_s: f64);
}

/// One look, as it is reported while the analysis runs.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LookReport {
    pub look: Look,
    pub window_end_s: f64,
    pub canary: Traffic,
    pub stable: Traffic,
    pub decision: Decision,
}

/// The whole analysis.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Analysis {
    pub started_s: f64,
    pub plan: Plan,
    pub looks_planned: usize,
    pub looks: Vec<LookReport>,
    /// Ended before the planned duration (a clear failure).
    pub stopped_early: bool,
    pub outcome: Outcome,
    pub canary: Traffic,
    pub stable: Traffic,
    pub metrics: Vec<MetricResult>,
    /// What the reader should know that is not part of the decision: the report channels that
    /// failed (filled in by the caller that sends them).
    pub notes: Vec<String>,
}

/// Runs the analysis from now: `read(end_s, seconds)` reads the window ending at `end_s`;
/// `on_look` hears every look as it happens.
pub fn analyse(
    rules: &Rules,
    plan: &Plan,
    clock: &dyn Clock,
    mut read: impl FnMut(f64, u64) -> Result<Window, CanaryError>,
    mut on_look: impl FnMut(&LookReport),
) -> Result<Analysis, CanaryError> {
    let planned = plan.looks()?;
    let schedule = rules
        .config
        .schedule(planned)
        .ok_or_else(|| CanaryError::Plan("the canary policy's confidence and interim share give no schedule".into()))?;
    // Whole seconds: windows end on the same second boundaries Prometheus's `time` reads.
    let started_s = clock.now_s().floor();
    let mut windows: Vec<Window> = Vec::with_capacity(planned);
    let mut looks: Vec<LookReport> = Vec::with_capacity(planned);
    for index in 1..=planned {
        let end_s = started_s + (index as u64 * plan.interval_s) as f64;
        clock.sleep_until(end_s + plan.delay_s);
        windows.push(read(end_s, plan.interval_s)?);
        let (canary, stable) = analysis::traffic_of(&windows);
        let metrics = analysis::compare(&windows, &rules.config);
        let look = Look { index, planned, is_final: index == planned, level: schedule.level(index) };
        let outcome = rules.decide(&look, (&canary, &stable), &metrics)?;
        let report = LookReport { look, window_end_s: end_s, canary, stable, decision: outcome.decision };
        on_look(&report);
        looks.push(report);
        let done = match outcome.decision {
            Decision::Continue => false,
            Decision::Rollback => true,
            other if look.is_final => other != Decision::Continue,
            other => {
                return Err(CanaryError::Policy(format!(
                    "the rules decided {other:?} at interim look {index} of {planned}; only a rollback may end an analysis early"
                )));
            }
        };
        if done {
            return Ok(Analysis {
                started_s,
                plan: *plan,
                looks_planned: planned,
                looks,
                stopped_early: !look.is_final,
                outcome,
                canary,
                stable,
                metrics,
                notes: Vec::new(),
            });
        }
    }
    Err(CanaryError::Policy("the analysis ended without a decision".into()))
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::path::Path;

    use super::super::window::{Population, RouteWindow};
    use super::*;
    use crate::stats::rng::SplitMix64;

    /// A clock that jumps to wherever it is asked to sleep until.
    struct Jump(Cell<f64>);

    impl Clock for Jump {
        fn now_s(&self) -> f64 {
            self.0.get()
        }
        fn sleep_until(&self, t: f64) {
            self.0.set(self.0.get().max(t));
        }
    }

    fn rules() -> Rules {
        Rules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap()
    }

    fn population(rng: &mut SplitMix64, n: usize, median_ms: f64, error_share: f64) -> Population {
        let mut p = Population::default();
        for (route, share) in [("POST /api/checkout", 0.5), ("GET /api/products", 0.5)] {
            let n = (n as f64 * share) as usize;
            let errors = (n as f64 * error_share).round();
            p.routes.insert(route.into(), RouteWindow::log_normal(rng, n, median_ms, errors));
        }
        p
    }

    fn run(canary_n: usize, canary_ms: f64, error_share: f64) -> (Analysis, Vec<LookReport>, f64) {
        let clock = Jump(Cell::new(1_000.4));
        let plan = Plan { duration_s: 40, interval_s: 5, delay_s: 1.0 };
        let mut rng = SplitMix64::new(9);
        let mut seen = Vec::new();
        let a = analyse(
            &rules(),
            &plan,
            &clock,
            |end_s, seconds| {
                Ok(Window {
                    end_s,
                    seconds: seconds as f64,
                    canary: population(&mut rng, canary_n, canary_ms, error_share),
                    stable: population(&mut rng, 400, 13.0, 0.0),
                })
            },
            |l| seen.push(l.clone()),
        )
        .unwrap();
        (a, seen, clock.0.get())
    }

    #[test]
    fn a_healthy_canary_is_watched_to_the_end_and_promoted() {
        let (a, seen, now) = run(30, 13.0, 0.0);
        assert_eq!(a.outcome.decision, Decision::Promote, "{:?}", a.outcome);
        assert_eq!(seen.len(), 8);
        assert!(!a.stopped_early);
        // Windows end on whole seconds from the start; the last read one delay after the end.
        assert_eq!((a.started_s, seen[7].window_end_s, now), (1000.0, 1040.0, 1041.0));
    }

    #[test]
    fn a_slow_canary_stops_early_at_the_interim_level() {
        let (a, seen, _) = run(30, 13.0 * 1.3, 0.0);
        assert_eq!(a.outcome.decision, Decision::Rollback, "{:?}", a.outcome);
        assert!(a.stopped_early && seen.len() < 8, "{} looks", seen.len());
        assert!(seen.iter().all(|l| l.look.index >= 4 || l.decision == Decision::Continue));
    }

    #[test]
    fn the_reports_show_the_decision_and_every_check() {
        let (a, _, _) = run(30, 13.0 * 1.3, 0.0);
        let text = super::super::report::text(&a);
        assert!(text.starts_with("canary ROLLBACK: after "), "{text}");
        assert!(text.contains("stopped early"), "{text}");
        assert!(text.contains("  - critical: latency_p50 of POST /api/checkout: +"), "{text}");
        let row = text
            .lines()
            .find(|l| l.trim_start().starts_with("latency_p50") && l.contains("POST /api/checkout"))
            .unwrap();
        assert!(row.contains(" ms") && row.trim_end().ends_with("fail (critical)"), "{row}");
        let md = super::super::report::markdown(&a);
        assert!(md.starts_with("### canary ROLLBACK") && md.contains("| metric | route | stable |"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&super::super::report::json(&a).unwrap()).unwrap();
        assert_eq!(json["outcome"]["decision"], "rollback");
        assert_eq!(json["looks"].as_array().unwrap().len(), a.looks.len());
    }

    #[test]
    fn an_erroring_canary_rolls_back() {
        let (a, _, _) = run(30, 13.0, 0.1);
        assert_eq!(a.outcome.decision, Decision::Rollback, "{:?}", a.outcome);
    }

    #[test]
    fn a_trickle_of_canary_traffic_is_inconclusive() {
        let (a, seen, _) = run(2, 13.0, 0.0);
        assert_eq!(a.outcome.decision, Decision::Inconclusive, "{:?}", a.outcome);
        assert_eq!(seen.len(), 8);
    }

    #[test]
    fn a_failed_read_mid_analysis_is_an_error() {
        let clock = Jump(Cell::new(0.0));
        let plan = Plan { duration_s: 40, interval_s: 5, delay_s: 1.0 };
        let mut rng = SplitMix64::new(1);
        let mut n = 0;
        let r = analyse(
            &rules(),
            &plan,
            &clock,
            |end_s, _| {
                n += 1;
                if n == 3 {
                    return Err(CanaryError::Plan("prometheus went away".into()));
                }
                Ok(Window {
                    end_s,
                    seconds: 5.0,
                    canary: population(&mut rng, 30, 13.0, 0.0),
                    stable: population(&mut rng, 400, 13.0, 0.0),
                })
            },
            |_| {},
        );
        assert!(r.is_err());
    }

    #[test]
    fn plans_need_whole_intervals() {
        assert_eq!(Plan { duration_s: 300, interval_s: 30, delay_s: 0.0 }.looks().unwrap(), 10);
        assert!(Plan { duration_s: 45, interval_s: 30, delay_s: 0.0 }.looks().is_err());
        assert!(Plan { duration_s: 30, interval_s: 30, delay_s: 0.0 }.looks().is_err());
        assert!(Plan { duration_s: 30, interval_s: 0, delay_s: 0.0 }.looks().is_err());
    }
}
