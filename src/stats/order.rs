//! Exact quantiles of a sample and their distribution-free confidence intervals from order
//! statistics.
//!
//! The estimate of the q-quantile is the order statistic `X_(⌈nq⌉)` (nearest rank). Its
//! interval is `[X_(l), X_(u)]`: the number of sample values below the true quantile is
//! Binomial(n, q), so `P(X_(l) ≤ ξ_q < X_(u)) = F(u-1) - F(l-1)` exactly for any continuous
//! distribution; `l` is the largest rank with `F(l-1) ≤ α/2`, `u` the smallest with
//! `F(u-1) ≥ 1 - α/2` (conservative: the coverage is at least the level asked for). With too
//! few values for a side (a P99 from 100 values) there is no interval, never a made-up one.
//!
//! Written here: the textbook construction (Hahn & Meeker, Statistical Intervals, §5.2) on
//! statrs's binomial CDF; the sketch crates give no interval at all. No IO.

use statrs::distribution::{Binomial, DiscreteCDF};

/// `sorted` (ascending) at quantile `q` in [0, 1]: the nearest-rank order statistic.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    let n = sorted.len();
    if n == 0 {
        return None;
    }
    let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
    sorted.get(rank - 1).copied()
}

/// The 1-based ranks `(l, u)` of the interval for the q-quantile of `n` values at
/// `confidence` (e.g. 0.95), and its exact coverage; `None` when `n` is too small.
pub fn quantile_ci_ranks(n: usize, q: f64, confidence: f64) -> Option<(usize, usize, f64)> {
    if n == 0 || !(0.0..1.0).contains(&q) || q <= 0.0 {
        return None;
    }
    let b = Binomial::new(q, n as u64).ok()?;
    let half = (1.0 - confidence) / 2.0;
    let cdf = |k: usize| b.cdf(k as u64);
    // F is increasing in k: binary searches for the two ranks.
    // l: the largest l in 1..=n with F(l-1) <= half.
    if cdf(0) > half {
        return None;
    }
    let (mut lo, mut hi) = (1usize, n);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if cdf(mid - 1) <= half { lo = mid } else { hi = mid - 1 }
    }
    let l = lo;
    // u: the smallest u in 1..=n with F(u-1) >= 1 - half.
    if cdf(n - 1) < 1.0 - half {
        return None;
    }
    let (mut lo, mut hi) = (1usize, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if cdf(mid - 1) >= 1.0 - half { hi = mid } else { lo = mid + 1 }
    }
    let u = lo;
    Some((l, u, cdf(u - 1) - cdf(l - 1)))
}

/// The interval `[X_(l), X_(u)]` of [`quantile_ci_ranks`] over `sorted` values.
pub fn quantile_ci(sorted: &[f64], q: f64, confidence: f64) -> Option<(f64, f64)> {
    let (l, u, _) = quantile_ci_ranks(sorted.len(), q, confidence)?;
    Some((*sorted.get(l - 1)?, *sorted.get(u - 1)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), Some(50.0));
        assert_eq!(quantile(&v, 0.95), Some(95.0));
        assert_eq!(quantile(&v, 0.0), Some(1.0));
        assert_eq!(quantile(&v, 1.0), Some(100.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn ranks_cover_at_least_the_level_and_refuse_small_samples() {
        // The median of 100 values at 95 %: ranks 40 and 61 (coverage 0.9648), the textbook pair.
        let (l, u, cov) = quantile_ci_ranks(100, 0.5, 0.95).unwrap();
        assert_eq!((l, u), (40, 61));
        assert!((0.95..0.97).contains(&cov), "{cov}");
        // A P99 from 100 values has no upper rank: 1 - 0.99^100 < 0.975.
        assert_eq!(quantile_ci_ranks(100, 0.99, 0.95), None);
        let (l, u, cov) = quantile_ci_ranks(1000, 0.99, 0.95).unwrap();
        assert!(l < 990 && u > 990 && u <= 1000 && cov >= 0.95, "{l} {u} {cov}");
    }
}
