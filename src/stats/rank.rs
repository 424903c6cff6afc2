//! Distribution-free two-sample statistics for run comparisons.
//!
//! - Mann-Whitney U (Wilcoxon rank-sum), two-sided, normal approximation with tie and
//!   continuity correction: is one sample stochastically larger than the other?
//! - Hodges-Lehmann shift with the Moses confidence interval: how large is the shift, and
//!   how sure are we? Applied to log values it estimates a ratio, which is what a latency
//!   budget ("p95 may rise 10 %") speaks about.
//! - Two-proportion z-test for error rates.
//!
//! Written here: the candidates (hypors, pragmastat) either lack the Moses interval or
//! pull in nalgebra; these are textbook formulas (Hollander, Wolfe & Chicken, Nonparametric
//! Statistical Methods, 3rd ed., sections 4.1-4.3). This module does no IO.

use statrs::distribution::{ContinuousCDF, Normal};

fn std_normal() -> Normal {
    // Mean 0, sd 1 are valid parameters; the fallback is unreachable.
    Normal::new(0.0, 1.0).unwrap_or_else(|_| Normal::standard())
}

/// Two-sided p-value of the Mann-Whitney U test. `None` when either sample is empty.
pub fn mann_whitney_p(x: &[f64], y: &[f64]) -> Option<f64> {
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let mut all: Vec<(f64, bool)> = x.iter().map(|v| (*v, true)).chain(y.iter().map(|v| (*v, false))).collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    let n = all.len();
    let mut rank_sum_x = 0.0;
    let mut tie_term = 0.0;
    let mut i = 0;
    while i < n {
        let mut j = i;
        while j + 1 < n && all.get(j + 1).map(|a| a.0) == all.get(i).map(|a| a.0) {
            j += 1;
        }
        let t = (j - i + 1) as f64;
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum_x += all.get(i..=j).unwrap_or_default().iter().filter(|a| a.1).count() as f64 * avg_rank;
        tie_term += t * t * t - t;
        i = j + 1;
    }
    let u = rank_sum_x - n1 * (n1 + 1.0) / 2.0;
    let mu = n1 * n2 / 2.0;
    let nn = n1 + n2;
    let var = n1 * n2 / 12.0 * ((nn + 1.0) - tie_term / (nn * (nn - 1.0)));
    if var <= 0.0 {
        // Every value identical: no evidence of any difference.
        return Some(1.0);
    }
    let diff = u - mu;
    let z = (diff.abs() - 0.5).max(0.0) / var.sqrt();
    Some((2.0 * (1.0 - std_normal().cdf(z))).clamp(0.0, 1.0))
}

/// Hodges-Lehmann estimate of the shift `y - x` and its Moses interval at `confidence`.
/// Returns (estimate, low, high); `None` when either sample is empty.
pub fn hodges_lehmann(x: &[f64], y: &[f64], confidence: f64) -> Option<(f64, f64, f64)> {
    if x.is_empty() || y.is_empty() {
        return None;
    }
    let mut d: Vec<f64> = y.iter().flat_map(|b| x.iter().map(move |a| b - a)).collect();
    d.sort_by(f64::total_cmp);
    let m = d.len();
    let median = if m % 2 == 1 { *d.get(m / 2)? } else { (d.get(m / 2 - 1)? + d.get(m / 2)?) / 2.0 };
    let (n1, n2) = (x.len() as f64, y.len() as f64);
    let z = std_normal().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    let k = (n1 * n2 / 2.0 - z * (n1 * n2 * (n1 + n2 + 1.0) / 12.0).sqrt()).floor();
    let k = if k < 0.0 { 0 } else { k as usize };
    let low = *d.get(k.min(m - 1))?;
    let high = *d.get((m - 1).saturating_sub(k))?;
    Some((median, low, high))
}

/// Two-sided p-value of the pooled two-proportion z-test (`fails` out of `total` each).
pub fn two_proportion_p(fails_a: u64, total_a: u64, fails_b: u64, total_b: u64) -> Option<f64> {
    if total_a == 0 || total_b == 0 {
        return None;
    }
    let (na, nb) = (total_a as f64, total_b as f64);
    let (pa, pb) = (fails_a as f64 / na, fails_b as f64 / nb);
    let pooled = (fails_a + fails_b) as f64 / (na + nb);
    let se = (pooled * (1.0 - pooled) * (1.0 / na + 1.0 / nb)).sqrt();
    if se == 0.0 {
        return Some(1.0);
    }
    let z = (pb - pa).abs() / se;
    Some((2.0 * (1.0 - std_normal().cdf(z))).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mann_whitney_matches_a_textbook_value() {
        // scipy 1.x: mannwhitneyu(x, y, method="asymptotic", use_continuity=True) -> p = 0.244624.
        let x = [0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46];
        let y = [1.15, 0.88, 0.90, 0.74, 1.21];
        let p = mann_whitney_p(&x, &y).unwrap();
        assert!((p - 0.244624).abs() < 1e-5, "p = {p}");
        let shifted: Vec<f64> = x.iter().map(|v| v + 2.0).collect();
        assert!(mann_whitney_p(&x, &shifted).unwrap() < 0.001);
        assert_eq!(mann_whitney_p(&[1.0, 1.0], &[1.0, 1.0]), Some(1.0));
    }

    #[test]
    fn hodges_lehmann_recovers_a_shift() {
        let x: Vec<f64> = (0..30).map(|i| (i % 7) as f64).collect();
        let y: Vec<f64> = x.iter().map(|v| v + 3.0).collect();
        let (est, lo, hi) = hodges_lehmann(&x, &y, 0.95).unwrap();
        assert_eq!(est, 3.0);
        assert!(lo <= 3.0 && hi >= 3.0 && lo > 1.0);
    }

    #[test]
    fn proportions() {
        // Pooled z-test by hand with scipy's norm.cdf: p = 0.0014013.
        assert!((two_proportion_p(10, 1000, 30, 1000).unwrap() - 0.0014013).abs() < 1e-6);
        assert!(two_proportion_p(10, 1000, 12, 1000).unwrap() > 0.5);
        assert_eq!(two_proportion_p(0, 100, 0, 100), Some(1.0));
    }
}
