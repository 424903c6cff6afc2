//! Between-run statistics: is a candidate's run-level value outside the spread that repeated
//! runs of the baseline show?
//!
//! The per-second windows inside one run measure the noise *within* a run. Two runs of the
//! same build also differ as a whole (machine state, a neighbour on the CI runner, a cold
//! JIT), and only several runs can show by how much. Each run contributes one value (its
//! P95, on a log scale, or its error rate); the model is the one-way random-effects model
//! reduced to run means: value = centre + run effect + sampling error, so the run-to-run
//! variance already holds the within-run sampling error of each run's value.
//!
//! The test is Student's t on the run values, with the variance pooled over the baseline runs
//! and, when there are confirmation re-runs, the candidate runs. Two guards keep a few
//! runs from looking more certain than they are:
//! - the run-to-run standard deviation is never taken below `floor` (the caller passes the
//!   within-run standard error of one run's value): three baselines that happen to agree to
//!   0.1 % say nothing about a 2 % difference;
//! - the degrees of freedom are the runs', so five baselines give a t with 4 degrees of
//!   freedom, whose tails are wide.
//!
//! This module does no IO.

use statrs::distribution::{ContinuousCDF, StudentsT};

/// Between-run spread of a metric and where the candidate falls in it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    /// Run-to-run standard deviation used by the test (after the floor).
    pub sd: f64,
    /// True when the floor, not the runs, set `sd`.
    pub floored: bool,
    /// Degrees of freedom of the t-test.
    pub df: f64,
    /// Candidate mean minus baseline mean.
    pub difference: f64,
    /// Two-sided p-value of the difference.
    pub p_value: f64,
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len() as f64
}

fn sum_sq(v: &[f64]) -> f64 {
    let m = mean(v);
    v.iter().map(|x| (x - m).powi(2)).sum()
}

/// Tests the candidate runs' values against the baseline runs' values. `None` with fewer than
/// two baseline runs (the spread is unknown), no candidate run, or a value that is not finite.
pub fn spread(baseline: &[f64], candidate: &[f64], floor: f64) -> Option<Spread> {
    if baseline.len() < 2 || candidate.is_empty() || baseline.iter().chain(candidate).any(|v| !v.is_finite()) {
        return None;
    }
    let (n, m) = (baseline.len() as f64, candidate.len() as f64);
    let df = n - 1.0 + (m - 1.0);
    let pooled = ((sum_sq(baseline) + if candidate.len() > 1 { sum_sq(candidate) } else { 0.0 }) / df).sqrt();
    let floor = if floor.is_finite() { floor.max(0.0) } else { 0.0 };
    let (sd, floored) = if pooled < floor { (floor, true) } else { (pooled, false) };
    let difference = mean(candidate) - mean(baseline);
    let se = sd * (1.0 / n + 1.0 / m).sqrt();
    let p_value = if se > 0.0 {
        let t = StudentsT::new(0.0, 1.0, df).ok()?;
        (2.0 * (1.0 - t.cdf((difference / se).abs()))).clamp(0.0, 1.0)
    } else if difference == 0.0 {
        1.0
    } else {
        // Every run identical to the last digit, and the candidate is not: as clear as it gets.
        0.0
    };
    Some(Spread { sd, floored, df, difference, p_value })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_baseline_run_has_no_spread() {
        assert_eq!(spread(&[1.0], &[2.0], 0.0), None);
        assert_eq!(spread(&[1.0, 1.1], &[], 0.0), None);
        assert_eq!(spread(&[1.0, f64::NAN], &[1.0], 0.0), None);
    }

    #[test]
    fn a_candidate_inside_the_spread_is_not_significant() {
        let s = spread(&[0.0, 0.05, -0.05, 0.02, -0.02], &[0.03], 0.0).unwrap();
        assert!(s.p_value > 0.5, "{s:?}");
        assert_eq!(s.df, 4.0);
    }

    #[test]
    fn a_candidate_far_outside_the_spread_is_significant() {
        let s = spread(&[0.0, 0.01, -0.01, 0.02, -0.02], &[0.2], 0.0).unwrap();
        assert!(s.p_value < 0.001, "{s:?}");
    }

    #[test]
    fn agreeing_baselines_cannot_make_noise_smaller_than_the_floor() {
        let tight = spread(&[0.0, 0.0001, -0.0001], &[0.02], 0.0).unwrap();
        let floored = spread(&[0.0, 0.0001, -0.0001], &[0.02], 0.02).unwrap();
        assert!(tight.p_value < 0.001);
        assert!(floored.floored && floored.p_value > 0.3, "{floored:?}");
    }

    #[test]
    fn confirmation_runs_add_degrees_of_freedom() {
        let one = spread(&[0.0, 0.02, -0.02], &[0.1], 0.0).unwrap();
        let three = spread(&[0.0, 0.02, -0.02], &[0.1, 0.12, 0.08], 0.0).unwrap();
        assert_eq!((one.df, three.df), (2.0, 4.0));
        assert!(three.p_value < one.p_value);
    }
}
