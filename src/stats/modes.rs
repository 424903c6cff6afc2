//! Is a sample bimodal, and where do its two modes part?
//!
//! - Sarle's bimodality coefficient `BC = (g² + 1) / (κ + 3(n-1)²/((n-2)(n-3)))`, with `g`
//!   the sample skewness and `κ` the excess kurtosis, both bias-corrected (SAS's G1, G2).
//!   A uniform distribution has 5/9; a value above 5/9 suggests two modes (Pfister et al.
//!   2013, "Good things peak in pairs"). Known weakness: a very skewed unimodal sample can
//!   pass it (an exponential sits at 5/9), so the split below reports the modes' sizes too.
//! - The split: the threshold between two modes that minimises the within-mode sum of
//!   squares of the logarithms (1-D two-means, exact in O(n) on sorted values: Otsu's
//!   method). Latencies are compared as logarithms because their modes differ by ratios.
//!
//! Written here: formulas of a few lines; the dip test would need Hartigan's algorithm and a
//! table, which no maintained crate provides. No IO.

/// Sarle's finite-sample bimodality coefficient; `None` below 4 values or without spread.
pub fn bimodality_coefficient(values: &[f64]) -> Option<f64> {
    let n = values.len();
    if n < 4 {
        return None;
    }
    let nf = n as f64;
    let mean = values.iter().sum::<f64>() / nf;
    let (mut m2, mut m3, mut m4) = (0.0, 0.0, 0.0);
    for v in values {
        let d = v - mean;
        m2 += d * d;
        m3 += d * d * d;
        m4 += d * d * d * d;
    }
    let (m2, m3, m4) = (m2 / nf, m3 / nf, m4 / nf);
    if m2 <= 0.0 {
        return None;
    }
    let g1 = m3 / m2.powf(1.5);
    let g2 = m4 / (m2 * m2) - 3.0;
    let skew = g1 * (nf * (nf - 1.0)).sqrt() / (nf - 2.0);
    let kurt = ((nf + 1.0) * g2 + 6.0) * (nf - 1.0) / ((nf - 2.0) * (nf - 3.0));
    Some((skew * skew + 1.0) / (kurt + 3.0 * (nf - 1.0).powi(2) / ((nf - 2.0) * (nf - 3.0))))
}

/// The bimodality threshold: a uniform distribution's coefficient.
pub const BIMODAL_ABOVE: f64 = 5.0 / 9.0;

/// The split of positive `sorted` values (ascending) into a fast and a slow mode: the first
/// slow value's index (1..n), by two-means on the logarithms. `None` below 2 values or
/// when all are equal.
pub fn split_index(sorted: &[f64]) -> Option<usize> {
    let logs: Vec<f64> = sorted.iter().map(|v| v.max(f64::MIN_POSITIVE).ln()).collect();
    let n = logs.len();
    if n < 2 || logs.first() == logs.last() {
        return None;
    }
    let total: f64 = logs.iter().sum();
    let mut left = 0.0;
    let mut best: Option<(f64, usize)> = None;
    for k in 1..n {
        left += logs.get(k - 1).copied().unwrap_or_default();
        // Only between distinct values: equal values stay in one mode.
        if logs.get(k - 1) == logs.get(k) {
            continue;
        }
        let (nl, nr) = (k as f64, (n - k) as f64);
        // Maximising the between-mode sum of squares minimises the within-mode one.
        let between = nl * nr * (left / nl - (total - left) / nr).powi(2);
        if best.is_none_or(|(b, _)| between > b) {
            best = Some((between, k));
        }
    }
    best.map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::rng::SplitMix64;

    fn normal(rng: &mut SplitMix64, mean: f64, sd: f64) -> f64 {
        mean + sd * rng.normal()
    }

    #[test]
    fn a_ten_percent_slow_mode_is_bimodal_a_lognormal_is_not() {
        let mut rng = SplitMix64::new(7);
        let mixed: Vec<f64> = (0..2000)
            .map(|i| if i % 10 == 0 { normal(&mut rng, 80.0, 4.0) } else { normal(&mut rng, 20.0, 2.0) })
            .collect();
        assert!(bimodality_coefficient(&mixed).unwrap() > BIMODAL_ABOVE);
        let lognormal: Vec<f64> = (0..2000).map(|_| normal(&mut rng, 3.0, 0.5).exp()).collect();
        assert!(bimodality_coefficient(&lognormal).unwrap() < BIMODAL_ABOVE);
        let mut sorted = mixed.clone();
        sorted.sort_by(f64::total_cmp);
        let k = split_index(&sorted).unwrap();
        assert_eq!(sorted.len() - k, 200, "the slow mode is the 10 %");
        assert_eq!(bimodality_coefficient(&[1.0, 1.0, 1.0, 1.0]), None);
        assert_eq!(split_index(&[3.0, 3.0]), None);
    }
}
