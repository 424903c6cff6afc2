//! Significance levels for an analysis that looks at its data several times and may stop at
//! the first clear failure (a canary analysis: one look per interval).
//!
//! Looking at a growing sample after every interval and stopping at the first p < α rejects
//! a true null hypothesis far more often than α (five looks at 0.05 give about 0.14). Here
//! the overall level α is *spent* over the planned looks, and the type I error over the whole
//! analysis is at most α by the union bound (Bonferroni over the looks), whatever the
//! correlation between looks:
//!
//! - the looks before `first` spend nothing (too few windows to test anything);
//! - the interim looks `first..planned` share `interim_share × α` evenly (each at
//!   `interim_share × α / (planned - first)`), a Haybittle-Peto-like strict interim level;
//! - the final look gets the rest, `(1 - interim_share) × α`; with no interim look, all of α.
//!
//! P(reject at some look | H0) ≤ Σ levels = α. This is conservative next to exact group-
//! sequential boundaries (Pocock, O'Brien-Fleming), which need the looks' joint
//! distribution; it holds for any test whose p-values are valid at each look, which is all a
//! rank test on windows offers. Pure: no IO.

/// How α is spent over the looks. Built by [`Schedule::new`], which checks its numbers.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Schedule {
    pub alpha: f64,
    pub interim_share: f64,
    /// Looks planned, the last one final (1-based).
    pub planned: usize,
    /// The first look that may stop the analysis early.
    pub first: usize,
}

impl Schedule {
    /// `None` unless 0 < α < 1, 0 ≤ `interim_share` < 1 and `planned` ≥ 1.
    pub fn new(alpha: f64, interim_share: f64, planned: usize, first: usize) -> Option<Schedule> {
        let ok = alpha > 0.0 && alpha < 1.0 && (0.0..1.0).contains(&interim_share) && planned >= 1 && first >= 1;
        ok.then_some(Schedule { alpha, interim_share, planned, first })
    }

    /// Looks that may stop early (before the final one).
    pub fn interim_looks(&self) -> usize {
        self.planned.saturating_sub(self.first)
    }

    /// The level p-values are compared with at `look` (1-based); 0 where nothing may be
    /// rejected (before `first`, after `planned`).
    pub fn level(&self, look: usize) -> f64 {
        let interim = self.interim_looks();
        if look == self.planned {
            if interim == 0 { self.alpha } else { self.alpha * (1.0 - self.interim_share) }
        } else if look >= self.first && look < self.planned {
            self.alpha * self.interim_share / interim as f64
        } else {
            0.0
        }
    }

    /// Σ of the levels of every look: the bound on the type I error (≤ α).
    pub fn spent(&self) -> f64 {
        (1..=self.planned).map(|k| self.level(k)).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::rank::mann_whitney_p;
    use crate::stats::rng::SplitMix64;

    #[test]
    fn levels_add_up_to_alpha() {
        for planned in 1..20 {
            for first in 1..=planned + 1 {
                let s = Schedule::new(0.05, 0.25, planned, first).unwrap();
                assert!((s.spent() - 0.05).abs() < 1e-12, "planned {planned} first {first}: {}", s.spent());
                assert_eq!(s.level(0), 0.0);
                assert_eq!(s.level(planned + 1), 0.0);
            }
        }
        let s = Schedule::new(0.05, 0.2, 8, 4).unwrap();
        assert_eq!(s.level(3), 0.0);
        assert!((s.level(4) - 0.0025).abs() < 1e-15);
        assert!((s.level(8) - 0.04).abs() < 1e-15);
        assert!(Schedule::new(0.0, 0.2, 8, 4).is_none());
        assert!(Schedule::new(0.05, 1.0, 8, 4).is_none());
        assert!(Schedule::new(0.05, 0.2, 0, 1).is_none());
    }

    /// Monte Carlo under the null hypothesis, with the statistic the canary analysis uses
    /// (Mann-Whitney over the windows seen so far): the schedule keeps the false-rejection
    /// rate at or below α, where stopping at the first p < α at each look does not.
    #[test]
    fn the_schedule_keeps_the_error_rate_and_naive_peeking_does_not() {
        let (planned, trials) = (8, 2_000);
        let s = Schedule::new(0.05, 0.2, planned, 4).unwrap();
        let mut rng = SplitMix64::new(18);
        let (mut spent, mut naive) = (0, 0);
        for _ in 0..trials {
            let a: Vec<f64> = (0..planned).map(|_| rng.normal()).collect();
            let b: Vec<f64> = (0..planned).map(|_| rng.normal()).collect();
            let p = |k: usize| mann_whitney_p(&a[..k], &b[..k]).unwrap();
            if (1..=planned).any(|k| p(k) < s.level(k)) {
                spent += 1;
            }
            if (2..=planned).any(|k| p(k) < 0.05) {
                naive += 1;
            }
        }
        let (spent, naive) = (spent as f64 / trials as f64, naive as f64 / trials as f64);
        // Two binomial standard errors above α at most.
        assert!(spent <= 0.05 + 2.0 * (0.05_f64 * 0.95 / trials as f64).sqrt(), "schedule: {spent}");
        assert!(naive > spent, "naive {naive} vs schedule {spent}");
    }
}
