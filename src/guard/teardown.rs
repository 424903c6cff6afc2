//! Teardown verification: after k6 stops, is the target back to how it was before the test?
//!
//! Before k6 starts, `baseline` reads the target's error rate and P95 over
//! `guard.teardown.window` and its requests in flight. After k6 stops, `watch` reads the same
//! every `interval_s` until they are back within the baseline (error rate at most the
//! baseline's plus `error_rate_margin`; P95 at most the baseline's times `p95_factor` plus
//! `p95_margin_ms`; in flight at most the baseline's plus `in_flight_margin`) for `sustain_s`
//! without a break: "recovered in N s". Still not back after `timeout_s`: residual impact,
//! with every reading as the evidence, and the run fails. A missing number (no answer, no
//! traffic) is never "back"; a baseline with a missing number cannot show recovery at all.
//!
//! `assess` is pure (the unit tests feed it synthetic series); `watch` does the reading.

use std::time::{Duration, Instant};

use super::live::Probe;
use super::live_rules::TeardownRules;
use crate::policy::guarded::{Reading, Teardown, TeardownSample};

/// The target before the test.
pub fn baseline(probe: &Probe, rules: &TeardownRules) -> Reading {
    crate::net::block_on(probe.read(&rules.window, false)).map(|r| r.0).unwrap_or_default()
}

/// The limits "back within the baseline" means: error rate, P95, in flight.
fn limits(baseline: &Reading, rules: &TeardownRules) -> (Option<f64>, Option<f64>, Option<f64>) {
    (
        baseline.error_rate.map(|e| e + rules.error_rate_margin),
        baseline.p95_ms.map(|p| p * rules.p95_factor + rules.p95_margin_ms),
        baseline.in_flight.map(|i| i + rules.in_flight_margin),
    )
}

/// Judges the readings taken so far (`samples`, oldest first; `within` is filled in here).
/// `finished`: no more readings will come (the timeout passed).
pub fn assess(
    mut samples: Vec<TeardownSample>,
    baseline: &Reading,
    rules: &TeardownRules,
    source: &str,
    finished: bool,
) -> Teardown {
    let (max_e, max_p, max_i) = limits(baseline, rules);
    let under = |v: Option<f64>, limit: Option<f64>| matches!((v, limit), (Some(v), Some(l)) if v <= l);
    for s in &mut samples {
        s.within = under(s.error_rate, max_e) && under(s.p95_ms, max_p) && under(s.in_flight, max_i);
    }
    // The start of the last unbroken stretch within the baseline.
    let stretch = samples.iter().rposition(|s| !s.within).map_or(0, |i| i + 1);
    let last_t = samples.last().map(|s| s.t_s);
    let recovered_in = match (samples.get(stretch), last_t) {
        (Some(first), Some(last)) if last - first.t_s >= rules.sustain_s => Some(first.t_s),
        _ => None,
    };
    let recovered = recovered_in.is_some();
    let summary = if let Some(t) = recovered_in {
        format!(
            "recovered in {t:.0} s: back within the pre-test baseline for {:.0} s (error rate <= {}, P95 <= {}, in flight <= {})",
            last_t.unwrap_or(t) - t,
            pct(max_e),
            ms(max_p),
            num(max_i)
        )
    } else if max_e.is_none() || max_p.is_none() || max_i.is_none() {
        format!(
            "residual impact unknown, counted as residual: the pre-test baseline is incomplete ({}), so recovery cannot be shown",
            baseline.describe()
        )
    } else if finished {
        let within = samples.iter().filter(|s| s.within).count();
        let last = samples.last();
        format!(
            "residual impact: not back within the pre-test baseline {:.0} s after k6 stopped (within it at {within} of {} readings); \
             last: error rate {}, P95 {}, in flight {}; limits: error rate <= {}, P95 <= {}, in flight <= {} (baseline {})",
            last_t.unwrap_or(0.0),
            samples.len(),
            pct(last.and_then(|s| s.error_rate)),
            ms(last.and_then(|s| s.p95_ms)),
            num(last.and_then(|s| s.in_flight)),
            pct(max_e),
            ms(max_p),
            num(max_i),
            baseline.describe()
        )
    } else {
        "watching".to_string()
    };
    Teardown {
        recovered,
        recovered_in_s: recovered_in,
        baseline: baseline.clone(),
        max_error_rate: max_e,
        max_p95_ms: max_p,
        max_in_flight: max_i,
        summary,
        samples,
        rules: source.to_string(),
    }
}

fn pct(v: Option<f64>) -> String {
    v.map_or("missing".into(), |v| format!("{:.2} %", v * 100.0))
}

fn ms(v: Option<f64>) -> String {
    v.map_or("missing".into(), |v| format!("{v:.1} ms"))
}

fn num(v: Option<f64>) -> String {
    v.map_or("missing".into(), |v| format!("{v:.0}"))
}

/// Reads the target every `interval_s` after k6 stopped, until it is back within `baseline`
/// for `sustain_s` or `timeout_s` passed.
pub fn watch(probe: &Probe, rules: &TeardownRules, source: &str, baseline: &Reading) -> Teardown {
    let start = Instant::now();
    let mut samples = Vec::new();
    let interval = Duration::from_secs_f64(rules.interval_s);
    loop {
        let taken = Instant::now();
        let (r, _) = crate::net::block_on(probe.read(&rules.window, false)).unwrap_or_default();
        samples.push(TeardownSample {
            t_s: (start.elapsed().as_secs_f64() * 10.0).round() / 10.0,
            error_rate: r.error_rate,
            p95_ms: r.p95_ms,
            in_flight: r.in_flight,
            within: false,
        });
        let finished = start.elapsed().as_secs_f64() >= rules.timeout_s;
        let t = assess(samples.clone(), baseline, rules, source, finished);
        if t.recovered || finished {
            return t;
        }
        std::thread::sleep(interval.saturating_sub(taken.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> TeardownRules {
        TeardownRules {
            window: "5s".into(),
            interval_s: 1.0,
            sustain_s: 3.0,
            timeout_s: 10.0,
            error_rate_margin: 0.01,
            p95_factor: 1.5,
            p95_margin_ms: 10.0,
            in_flight_margin: 1.0,
        }
    }

    fn base() -> Reading {
        Reading { error_rate: Some(0.0), p95_ms: Some(20.0), in_flight: Some(0.0), ..Reading::default() }
    }

    /// One reading a second: (error rate, P95, in flight).
    fn series(points: &[(f64, f64, f64)]) -> Vec<TeardownSample> {
        points
            .iter()
            .enumerate()
            .map(|(i, (e, p, f))| TeardownSample {
                t_s: i as f64,
                error_rate: Some(*e),
                p95_ms: Some(*p),
                in_flight: Some(*f),
                within: false,
            })
            .collect()
    }

    #[test]
    fn recovery_is_the_start_of_the_sustained_stretch_back_within_the_baseline() {
        // Loaded for 3 s, one healthy reading, a relapse, then healthy for 4 s.
        let s = series(&[
            (0.3, 400.0, 40.0),
            (0.2, 300.0, 10.0),
            (0.05, 60.0, 0.0),
            (0.0, 25.0, 0.0),
            (0.0, 80.0, 0.0),
            (0.0, 30.0, 1.0),
            (0.005, 39.0, 0.0),
            (0.0, 22.0, 0.0),
            (0.0, 21.0, 0.0),
        ]);
        let t = assess(s, &base(), &rules(), "guard.yaml:60", false);
        assert!(t.recovered, "{t:#?}");
        assert_eq!(t.recovered_in_s, Some(5.0));
        assert!(t.summary.starts_with("recovered in 5 s"), "{}", t.summary);
        assert_eq!(t.samples.iter().filter(|s| s.within).count(), 5);
    }

    #[test]
    fn a_target_that_stays_degraded_is_residual_impact_with_the_numbers() {
        let s = series(&[(0.3, 400.0, 4.0), (0.3, 410.0, 3.0), (0.0, 25.0, 0.0), (0.25, 390.0, 5.0)]);
        let t = assess(s.clone(), &base(), &rules(), "guard.yaml:60", false);
        assert!(!t.recovered && t.summary == "watching", "{t:#?}");
        let t = assess(s, &base(), &rules(), "guard.yaml:60", true);
        assert!(!t.recovered);
        assert!(
            t.summary.starts_with("residual impact: not back within the pre-test baseline 3 s after"),
            "{}",
            t.summary
        );
        assert!(t.summary.contains("last: error rate 25.00 %, P95 390.0 ms, in flight 5"), "{}", t.summary);
        assert!(t.summary.contains("within it at 1 of 4 readings"), "{}", t.summary);
    }

    #[test]
    fn missing_numbers_are_never_back_and_a_missing_baseline_cannot_show_recovery() {
        let mut s = series(&[(0.0, 20.0, 0.0); 6]);
        s[4].p95_ms = None;
        let t = assess(s.clone(), &base(), &rules(), "", false);
        assert!(!t.recovered, "the gap breaks the stretch: only 1 s since: {t:#?}");
        let blind = Reading { p95_ms: None, ..base() };
        let t = assess(series(&[(0.0, 20.0, 0.0); 6]), &blind, &rules(), "", true);
        assert!(!t.recovered);
        assert!(t.summary.contains("the pre-test baseline is incomplete"), "{}", t.summary);
    }
}
