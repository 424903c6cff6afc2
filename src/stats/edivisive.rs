//! E-divisive means: change points in a series of run results (Matteson & James, "A
//! Nonparametric Approach for Multiple Change Point Analysis of Multivariate Data", JASA
//! 2014), the method MongoDB's `signal-processing-algorithms` (`e_divisive`) and Apache Otava
//! (`compute_change_points_orig`) use on their performance histories.
//!
//! Hand-written because no maintained Rust crate implements it: `edivisive` 0.1.0 (2021, one
//! release, ndarray 0.14) is abandoned, `changepoint` and `augurs-changepoint` are Bayesian
//! online detectors (another method, and heavy), `pelt` is MPL-2.0.
//!
//! The method, on one series `z`:
//! 1. **Best split.** For every `τ < κ` within a segment, with `X = z[start..τ]` (`n` values)
//!    and `Y = z[τ..κ]` (`m` values), the energy statistic with α = 1 (absolute differences,
//!    as both references use):
//!    `q̂ = 2/(n+m)·Σ|Xi−Yj| − 2m/((n+m)(n−1))·Σi<k|Xi−Xk| − 2n/((n+m)(m−1))·Σj<k|Yj−Yk|`
//!    (that is `nm/(n+m)` times the U-statistic form of the energy distance; a within term is
//!    0 for a one-value side). The split is the `τ` of the largest `q̂`, both sides at least
//!    `min_size` long, with `κ` at the segment's end ([`Kappa::End`], as MongoDB) or searched
//!    too ([`Kappa::Search`], as Matteson & James and Otava); ties go to the smallest `τ`, then
//!    `κ`, as in Otava. `O(L²)` per segment of length `L`, with per-column prefix sums.
//! 2. **Significance.** The values are shuffled within each segment (the change points found
//!    so far stay), the best `q̂` over all segments is taken again, `permutations` times. The
//!    p-value is `(#{permuted q̂ ≥ observed} + 1) / (permutations + 1)`, the Monte Carlo
//!    p-value of Matteson & James (the references count without the `+ 1`, which is
//!    slightly optimistic). The split is kept when `p ≤ pvalue`.
//! 3. **Recursion.** Kept splits cut the series into segments; the next candidate is the best
//!    split over all segments, tested the same way, until one is not significant.
//!
//! Where the references differ: MongoDB's `e_divisive` uses the V-statistic form (within sums
//! divided by `n²`) with `κ` at the segment's end; Otava's `compute_change_points_orig` is the
//! statistic above with `κ` searched and no minimum size. `tests/changepoints.rs` compares
//! all three. k6gate searches `κ` by default, like Otava: it finds both ends of a short
//! excursion (a bad weekend), which `trend` then takes out as a transient, where `κ` at the
//! end sees one change point with nothing after it; the detection-quality measurement
//! (`benches/changepoint_quality.rs`) compares the two.
//!
//! Deterministic: the permutations come from [`SplitMix64`] seeded by [`Config::seed`], so
//! the same series and configuration always give the same change points. Pure: no IO.

use super::rng::SplitMix64;

/// How change points are searched for and when one counts.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// A split is kept when its permutation p-value is at most this. MongoDB's default is
    /// 0.05; Otava uses 0.001 for its t-test variant.
    pub pvalue: f64,
    /// Permutations per significance test. With `R` of them the smallest p-value is
    /// `1 / (R + 1)`, so `pvalue` must be at least that.
    pub permutations: u32,
    /// The fewest values on either side of a split (so also the fewest after the last change
    /// point). 1 is what the references allow.
    pub min_size: usize,
    /// Where the second part of a split may end.
    pub kappa: Kappa,
    /// Seeds the permutations.
    pub seed: u64,
}

/// Where the second part `Y = z[τ..κ]` of a split ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kappa {
    /// At the segment's end, as MongoDB's `e_divisive` does: a split compares everything
    /// before `τ` with everything after it.
    End,
    /// Wherever `q̂` is largest, as Matteson & James and Otava do: it also finds a cluster
    /// inside a segment, such as a short excursion (a few slow nights), with both its ends.
    Search,
}

impl Default for Config {
    /// 0.005, 399 permutations, segments of at least 3 values, `κ` searched, a fixed seed: the
    /// settings the detection-quality measurement chose (`benches/changepoint_quality.rs`,
    /// README).
    fn default() -> Config {
        Config { pvalue: 0.005, permutations: 399, min_size: 3, kappa: Kappa::Search, seed: 0x6b36_6761_7465 }
    }
}

/// A change in the series' distribution, between `index - 1` and `index`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePoint {
    /// The first value after the change.
    pub index: usize,
    /// The permutation p-value the split was kept with.
    pub p_value: f64,
    /// Its energy statistic `q̂`.
    pub qhat: f64,
    /// Means of the segments on either side: from the previous change point (or the start)
    /// to this one, and from this one to the next (or the end).
    pub mean_before: f64,
    pub mean_after: f64,
}

impl ChangePoint {
    /// `mean_after / mean_before - 1`; `None` when the mean before is 0.
    pub fn rel_change(&self) -> Option<f64> {
        (self.mean_before != 0.0).then(|| self.mean_after / self.mean_before - 1.0)
    }
}

/// The best split of one segment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Split {
    /// The first value of the second part, relative to the segment.
    pub tau: usize,
    /// The end (exclusive) of the second part that maximised `q̂`.
    pub kappa: usize,
    pub qhat: f64,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EdivisiveError {
    #[error("value {index} of the series is not a finite number")]
    NotFinite { index: usize },
    #[error("invalid change-point configuration: {0}")]
    Config(String),
}

/// The change points of `series`, in index order.
pub fn e_divisive(series: &[f64], config: &Config) -> Result<Vec<ChangePoint>, EdivisiveError> {
    check(series, config)?;
    let mut rng = SplitMix64::new(config.seed);
    let mut scratch = Vec::new();
    // (index, p-value, q̂), kept sorted by index.
    let mut found: Vec<(usize, f64, f64)> = Vec::new();
    // The best split of each segment, by its bounds: segments not cut keep theirs.
    let mut memo: Vec<((usize, usize), Option<Split>)> = Vec::new();
    let mut permuted = series.to_vec();
    loop {
        let bounds = segments(series.len(), &found);
        let mut best: Option<(usize, f64)> = None;
        for &(a, b) in &bounds {
            let split = match memo.iter().find(|(k, _)| *k == (a, b)) {
                Some((_, s)) => *s,
                None => {
                    let s = best_split_with(
                        series.get(a..b).unwrap_or_default(),
                        config.min_size,
                        config.kappa,
                        &mut scratch,
                    );
                    memo.push(((a, b), s));
                    s
                }
            };
            if let Some(s) = split {
                if best.is_none_or(|(_, q)| s.qhat > q) {
                    best = Some((a + s.tau, s.qhat));
                }
            }
        }
        let Some((index, qhat)) = best else { break };
        let p = permutation_p(series, &mut permuted, &bounds, qhat, config, &mut rng, &mut scratch);
        match p {
            Some(p) if p <= config.pvalue => {
                let at = found.partition_point(|c| c.0 < index);
                found.insert(at, (index, p, qhat));
            }
            _ => break,
        }
    }
    let bounds = segments(series.len(), &found);
    let means: Vec<f64> = bounds.iter().map(|&(a, b)| mean(series.get(a..b).unwrap_or_default())).collect();
    Ok(found
        .iter()
        .zip(means.windows(2))
        .map(|(&(index, p_value, qhat), m)| ChangePoint {
            index,
            p_value,
            qhat,
            mean_before: m.first().copied().unwrap_or(f64::NAN),
            mean_after: m.get(1).copied().unwrap_or(f64::NAN),
        })
        .collect())
}

fn check(series: &[f64], config: &Config) -> Result<(), EdivisiveError> {
    if let Some(index) = series.iter().position(|v| !v.is_finite()) {
        return Err(EdivisiveError::NotFinite { index });
    }
    if config.permutations == 0 {
        return Err(EdivisiveError::Config("permutations must be at least 1".into()));
    }
    let smallest = 1.0 / (f64::from(config.permutations) + 1.0);
    if !(config.pvalue >= smallest && config.pvalue < 1.0) {
        return Err(EdivisiveError::Config(format!(
            "pvalue {} must be in [{smallest:.4}, 1): with {} permutations no p-value is smaller than {smallest:.4}",
            config.pvalue, config.permutations
        )));
    }
    if config.min_size == 0 {
        return Err(EdivisiveError::Config("min_size must be at least 1".into()));
    }
    Ok(())
}

/// `[0, c1), [c1, c2), ..., [ck, len)` for the change points `found` (sorted).
fn segments(len: usize, found: &[(usize, f64, f64)]) -> Vec<(usize, usize)> {
    let cuts: Vec<usize> = std::iter::once(0).chain(found.iter().map(|c| c.0)).chain(std::iter::once(len)).collect();
    cuts.windows(2).filter_map(|w| Some((*w.first()?, *w.get(1)?))).collect()
}

/// The permutation p-value of `observed`, or `None` as soon as it cannot be at most
/// `config.pvalue` any more (the remaining permutations cannot change the decision).
fn permutation_p(
    series: &[f64],
    permuted: &mut [f64],
    bounds: &[(usize, usize)],
    observed: f64,
    config: &Config,
    rng: &mut SplitMix64,
    scratch: &mut Vec<f64>,
) -> Option<f64> {
    // Each segment is shuffled within itself: start from the series' own segments.
    permuted.copy_from_slice(series);
    let total = f64::from(config.permutations) + 1.0;
    let mut extreme = 0u32;
    for _ in 0..config.permutations {
        let mut best = f64::NEG_INFINITY;
        for &(a, b) in bounds {
            // Shuffling the previous permutation of a segment is as uniform as shuffling it anew.
            let Some(segment) = permuted.get_mut(a..b) else { continue };
            rng.shuffle(segment);
            if let Some(s) = best_split_with(segment, config.min_size, config.kappa, scratch) {
                best = best.max(s.qhat);
            }
        }
        if best >= observed {
            extreme += 1;
            if (f64::from(extreme) + 1.0) / total > config.pvalue {
                return None;
            }
        }
    }
    Some((f64::from(extreme) + 1.0) / total)
}

/// The best split of `z` with both parts at least `min_size` long (see the module docs), or
/// `None` when `z` is too short for one.
pub fn best_split(z: &[f64], min_size: usize, kappa: Kappa) -> Option<Split> {
    best_split_with(z, min_size, kappa, &mut Vec::new())
}

fn best_split_with(z: &[f64], min_size: usize, kappa: Kappa, prefix: &mut Vec<f64>) -> Option<Split> {
    let len = z.len();
    let min = min_size.max(1);
    if len < 2 * min {
        return None;
    }
    let at = |i: usize| z.get(i).copied().unwrap_or(0.0);
    // prefix[k * w + a] = Σ_{i<a} |z_i − z_k|: column k's distances to the values before a.
    let w = len + 1;
    prefix.clear();
    prefix.resize(len * w, 0.0);
    for (k, column) in prefix.chunks_exact_mut(w).enumerate() {
        let zk = at(k);
        let mut sum = 0.0;
        for (i, cell) in column.iter_mut().skip(1).enumerate() {
            sum += (at(i) - zk).abs();
            *cell = sum;
        }
    }
    let pre = |k: usize, a: usize| prefix.get(k * w + a).copied().unwrap_or(0.0);

    let mut best: Option<Split> = None;
    let mut within_x = 0.0;
    for tau in 1..len {
        // X gains z[tau - 1]: its distances to the values before it.
        within_x += pre(tau - 1, tau - 1);
        if tau < min {
            continue;
        }
        if len - tau < min {
            break;
        }
        let n = tau as f64;
        let (mut between, mut within_y) = (0.0, 0.0);
        for k in tau..len {
            // Y gains z[k]: its distances to X, and to the values of Y before it.
            let to_x = pre(k, tau);
            between += to_x;
            within_y += pre(k, k) - to_x;
            let m_len = k + 1 - tau;
            if m_len < min || (kappa == Kappa::End && k + 1 < len) {
                continue;
            }
            let q = qhat(n, m_len as f64, between, within_x, within_y);
            if best.is_none_or(|b| q > b.qhat) {
                best = Some(Split { tau, kappa: k + 1, qhat: q });
            }
        }
    }
    best
}

/// `q̂` from the sums of distances between the parts and within each (pairs counted once).
fn qhat(n: f64, m: f64, between: f64, within_x: f64, within_y: f64) -> f64 {
    let s = n + m;
    let x = if n > 1.0 { 2.0 * m / (s * (n - 1.0)) * within_x } else { 0.0 };
    let y = if m > 1.0 { 2.0 * n / (s * (m - 1.0)) * within_y } else { 0.0 };
    2.0 / s * between - x - y
}

fn mean(v: &[f64]) -> f64 {
    if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `len` values around 100 with `sd` noise, the mean multiplied by `factor` from each
    /// `(index, factor)` on.
    fn series(seed: u64, len: usize, sd: f64, steps: &[(usize, f64)]) -> Vec<f64> {
        let mut rng = SplitMix64::new(seed);
        (0..len)
            .map(|i| {
                let level: f64 = steps.iter().filter(|(at, _)| i >= *at).map(|(_, f)| f).product();
                100.0 * level * (1.0 + sd * rng.normal())
            })
            .collect()
    }

    /// Fixed here, whatever the defaults become.
    fn strict() -> Config {
        Config { pvalue: 0.01, permutations: 199, min_size: 3, kappa: Kappa::End, seed: 1 }
    }

    fn indices(cps: &[ChangePoint]) -> Vec<usize> {
        cps.iter().map(|c| c.index).collect()
    }

    /// The statistic by its definition, O(n^4): the fast one must agree.
    fn qhat_naive(x: &[f64], y: &[f64]) -> f64 {
        let (n, m) = (x.len() as f64, y.len() as f64);
        let between: f64 = x.iter().flat_map(|a| y.iter().map(move |b| (a - b).abs())).sum();
        let within = |v: &[f64]| -> f64 {
            let mut s = 0.0;
            for i in 0..v.len() {
                for k in i + 1..v.len() {
                    s += (v[i] - v[k]).abs();
                }
            }
            s
        };
        qhat(n, m, between, within(x), within(y))
    }

    #[test]
    fn the_fast_statistic_is_the_definition() {
        let z = series(3, 24, 0.1, &[(9, 1.3), (17, 0.8)]);
        for (min, kappa) in [1, 2, 4].into_iter().flat_map(|m| [(m, Kappa::End), (m, Kappa::Search)]) {
            let s = best_split(&z, min, kappa).unwrap();
            let mut best = (0, 0, f64::NEG_INFINITY);
            for tau in min..=z.len() - min {
                let kappas = match kappa {
                    Kappa::End => z.len()..=z.len(),
                    Kappa::Search => tau + min..=z.len(),
                };
                for kappa in kappas {
                    let q = qhat_naive(&z[..tau], &z[tau..kappa]);
                    if q > best.2 {
                        best = (tau, kappa, q);
                    }
                }
            }
            assert_eq!((s.tau, s.kappa), (best.0, best.1), "min_size {min}, {kappa:?}");
            assert!((s.qhat - best.2).abs() < 1e-9 * best.2.abs().max(1.0), "{} vs {}", s.qhat, best.2);
        }
    }

    #[test]
    fn the_best_split_of_a_clean_step_is_the_step() {
        for kappa in [Kappa::End, Kappa::Search] {
            let s = best_split(&[1.0, 1.0, 1.0, 5.0, 5.0, 5.0], 1, kappa).unwrap();
            assert_eq!((s.tau, s.kappa), (3, 6));
            assert_eq!(best_split(&[1.0, 2.0, 3.0], 2, kappa), None);
        }
        // A short excursion: searched, the second part ends with it; at the end, it does not.
        let z = [1.0, 1.1, 0.9, 1.0, 3.0, 3.1, 1.0, 0.9, 1.1, 1.0, 1.0, 0.9];
        assert_eq!(best_split(&z, 2, Kappa::Search).map(|s| (s.tau, s.kappa)), Some((4, 6)));
        assert_eq!(best_split(&z, 2, Kappa::End).map(|s| s.kappa), Some(z.len()));
    }

    #[test]
    fn a_single_step_is_found_where_it_is() {
        let z = series(12, 60, 0.03, &[(37, 1.15)]);
        let cps = e_divisive(&z, &strict()).unwrap();
        assert_eq!(indices(&cps), [37]);
        let cp = &cps[0];
        assert!(cp.p_value <= 0.05, "{cp:?}");
        let rel = cp.rel_change().unwrap();
        assert!((rel - 0.15).abs() < 0.03, "{rel}");
    }

    #[test]
    fn constant_plus_noise_has_no_change_point() {
        for seed in [1, 2, 3] {
            let z = series(seed, 100, 0.03, &[]);
            assert_eq!(indices(&e_divisive(&z, &strict()).unwrap()), [] as [usize; 0], "seed {seed}");
        }
        assert!(e_divisive(&[5.0; 40], &Config::default()).unwrap().is_empty());
    }

    #[test]
    fn two_steps_are_both_found() {
        let z = series(5, 90, 0.03, &[(30, 1.2), (62, 0.8)]);
        let cps = e_divisive(&z, &strict()).unwrap();
        assert_eq!(indices(&cps), [30, 62]);
        assert!((cps[0].mean_before - 100.0).abs() < 3.0 && (cps[0].mean_after - 120.0).abs() < 3.0, "{cps:?}");
        assert_eq!(cps[0].mean_after, cps[1].mean_before);
    }

    /// The permutations of the second test shuffle within the segments the first split
    /// made: the large first step must not leak into the second test's null distribution.
    #[test]
    fn a_small_step_after_a_large_one_is_found() {
        let z = series(6, 90, 0.01, &[(30, 3.0), (60, 1.1)]);
        let cps = e_divisive(&z, &strict()).unwrap();
        assert_eq!(indices(&cps), [30, 60]);
        assert!(cps.iter().all(|c| c.p_value <= 0.01), "{cps:?}");
    }

    #[test]
    fn the_same_seed_gives_the_same_answer() {
        let z = series(8, 80, 0.05, &[(40, 1.08)]);
        let c = Config::default();
        assert_eq!(e_divisive(&z, &c).unwrap(), e_divisive(&z, &c).unwrap());
    }

    #[test]
    fn short_series_and_bad_input() {
        assert!(e_divisive(&[], &Config::default()).unwrap().is_empty());
        assert!(e_divisive(&[1.0, 9.0, 9.0], &Config::default()).unwrap().is_empty());
        assert_eq!(e_divisive(&[1.0, f64::NAN], &Config::default()), Err(EdivisiveError::NotFinite { index: 1 }));
        let c = Config { pvalue: 0.001, ..Config::default() };
        assert!(matches!(e_divisive(&[1.0], &c), Err(EdivisiveError::Config(_))));
    }

    #[test]
    fn nothing_is_found_closer_to_the_end_than_min_size() {
        let mut z = series(4, 40, 0.01, &[]);
        z.extend([200.0, 200.0]);
        let c = Config { min_size: 3, ..strict() };
        assert!(e_divisive(&z, &c).unwrap().iter().all(|cp| cp.index <= z.len() - 3));
        let c = Config { min_size: 2, ..strict() };
        assert_eq!(indices(&e_divisive(&z, &c).unwrap()), [40]);
    }
}
