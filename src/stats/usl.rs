//! The Universal Scalability Law, fitted to throughput against concurrency.
//!
//! `X(N) = λN / (1 + σ(N−1) + κN(N−1))`: λ the throughput of one client, σ contention (the
//! serial share), κ coherency (crosstalk). The fit minimises the relative residuals
//! `(X(Nᵢ) − Xᵢ)/Xᵢ` by Levenberg-Marquardt from a linearised start, with σ ∈ [0, 1] and
//! κ ≥ 0. Hand-written: three parameters and a 3×3 solve; the crates that do nonlinear least
//! squares (`levenberg-marquardt` with `nalgebra`) are far larger than this and are not on
//! this machine (/work/shared/facts/rust-crates.md).
//!
//! Uncertainty comes from a seeded residual bootstrap: the relative residuals are resampled
//! (scaled up for the three fitted
//! parameters) onto the fitted curve and the model refitted, [`BOOTSTRAP`] times; intervals are the 5th
//! and 95th percentiles of each derived quantity (a 90 % interval).

use super::rng::SplitMix64;

/// Bootstrap refits behind every interval.
pub const BOOTSTRAP: usize = 300;

/// One load level: `n` concurrent clients gave `throughput` per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    pub n: f64,
    pub throughput: f64,
}

/// The fitted parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usl {
    pub lambda: f64,
    pub sigma: f64,
    pub kappa: f64,
}

/// An estimate with its 90 % bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl Estimate {
    /// `high / low`: 1 is exact; a factor of 2 means the truth may be anywhere within 2×.
    pub fn spread(&self) -> f64 {
        if self.low > 0.0 { self.high / self.low } else { f64::INFINITY }
    }
}

/// A fit with the bootstrap refits behind its intervals.
#[derive(Debug, Clone, PartialEq)]
pub struct Fit {
    pub model: Usl,
    /// Root mean square of the relative residuals.
    pub rms_relative_error: f64,
    /// The bootstrap refits (for derived quantities' intervals).
    pub resamples: Vec<Usl>,
}

impl Usl {
    pub fn throughput(&self, n: f64) -> f64 {
        self.lambda * n / (1.0 + self.sigma * (n - 1.0) + self.kappa * n * (n - 1.0))
    }

    /// Concurrency of peak throughput, `sqrt((1−σ)/κ)`; `None` without coherency (κ ≈ 0:
    /// throughput only levels off).
    pub fn knee(&self) -> Option<f64> {
        (self.kappa > 1e-12).then(|| ((1.0 - self.sigma).max(0.0) / self.kappa).sqrt().max(1.0))
    }

    /// The highest throughput the model allows: at the knee, else the asymptote `λ/σ`;
    /// `None` when the model never levels off (σ ≈ κ ≈ 0).
    pub fn capacity(&self) -> Option<f64> {
        match self.knee() {
            Some(k) => Some(self.throughput(k)),
            None if self.sigma > 1e-9 => Some(self.lambda / self.sigma),
            None => None,
        }
    }

    /// Mean response time in seconds at `n` clients with think time `z` s (Little's law for
    /// a closed system: `R = N/X − Z`).
    pub fn response_time_s(&self, n: f64, z: f64) -> f64 {
        (n / self.throughput(n) - z).max(0.0)
    }
}

/// Why no fit.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FitError {
    #[error("{0} load levels: the fit needs at least 4 distinct concurrencies (3 parameters and 1 to spare)")]
    TooFewPoints(usize),
    #[error("load level {index}: concurrency {n} and throughput {throughput} must both be positive and finite")]
    BadPoint { index: usize, n: f64, throughput: f64 },
    #[error("the fit did not converge to finite parameters")]
    Diverged,
}

/// Fits the USL to `points` and bootstraps it with `seed`.
pub fn fit(points: &[Point], seed: u64) -> Result<Fit, FitError> {
    for (index, p) in points.iter().enumerate() {
        if !(p.n.is_finite() && p.n > 0.0 && p.throughput.is_finite() && p.throughput > 0.0) {
            return Err(FitError::BadPoint { index, n: p.n, throughput: p.throughput });
        }
    }
    let mut distinct: Vec<f64> = points.iter().map(|p| p.n).collect();
    distinct.sort_by(f64::total_cmp);
    distinct.dedup();
    if distinct.len() < 4 {
        return Err(FitError::TooFewPoints(distinct.len()));
    }
    let model = least_squares(points).ok_or(FitError::Diverged)?;
    let residuals: Vec<f64> = points.iter().map(|p| p.throughput / model.throughput(p.n) - 1.0).collect();
    let rms = (residuals.iter().map(|r| r * r).sum::<f64>() / residuals.len() as f64).sqrt();
    // Fitted residuals are smaller than the errors by about sqrt((n−3)/n): scaled back up
    // (the usual leverage correction), or a few load levels give intervals too narrow.
    let inflate = (points.len() as f64 / (points.len() as f64 - 3.0)).sqrt();
    let residuals: Vec<f64> = residuals.iter().map(|r| r * inflate).collect();
    let mut rng = SplitMix64::new(seed);
    let mut resamples = Vec::with_capacity(BOOTSTRAP);
    let mut sample = points.to_vec();
    for _ in 0..BOOTSTRAP {
        for (s, p) in sample.iter_mut().zip(points) {
            let r = residuals.get(rng.below(residuals.len())).copied().unwrap_or(0.0);
            s.throughput = (model.throughput(p.n) * (1.0 + r)).max(1e-9);
        }
        if let Some(m) = least_squares(&sample) {
            resamples.push(m);
        }
    }
    if resamples.len() < BOOTSTRAP / 2 {
        return Err(FitError::Diverged);
    }
    Ok(Fit { model, rms_relative_error: rms, resamples })
}

impl Fit {
    /// A derived quantity with its 90 % interval over the bootstrap refits; `None` when the
    /// fitted model or too many refits have no value for it.
    pub fn estimate(&self, f: impl Fn(&Usl) -> Option<f64>) -> Option<Estimate> {
        let value = f(&self.model).filter(|v| v.is_finite())?;
        let mut vals: Vec<f64> = self.resamples.iter().filter_map(&f).filter(|v| v.is_finite()).collect();
        if vals.len() < self.resamples.len() * 9 / 10 {
            // More than a tenth of the refits have no such value: the interval is unbounded.
            return Some(Estimate { value, low: value.min(0.0), high: f64::INFINITY });
        }
        vals.sort_by(f64::total_cmp);
        let q = |p: f64| vals.get(((vals.len() - 1) as f64 * p).round() as usize).copied();
        Some(Estimate { value, low: q(0.05)?.min(value), high: q(0.95)?.max(value) })
    }
}

fn clamp(m: Usl) -> Usl {
    Usl { lambda: m.lambda.max(1e-12), sigma: m.sigma.clamp(0.0, 1.0), kappa: m.kappa.max(0.0) }
}

/// Sum of squared relative residuals.
fn cost(points: &[Point], m: &Usl) -> f64 {
    points.iter().map(|p| (m.throughput(p.n) / p.throughput - 1.0).powi(2)).sum()
}

/// Start: λ from the lowest concurrency, then σ, κ from the linearised law
/// `N/C(N) − 1 = σ(N−1) + κN(N−1)` with `C(N) = X(N)/(λN)` (least squares through the origin).
fn start(points: &[Point]) -> Option<Usl> {
    let lowest = points.iter().copied().reduce(|a, p| if p.n < a.n { p } else { a })?;
    let lambda = lowest.throughput / lowest.n;
    let (mut saa, mut sab, mut sbb, mut sya, mut syb) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for p in points {
        let y = lambda * p.n / p.throughput - 1.0;
        let (a, b) = (p.n - 1.0, p.n * (p.n - 1.0));
        saa += a * a;
        sab += a * b;
        sbb += b * b;
        sya += y * a;
        syb += y * b;
    }
    let det = saa * sbb - sab * sab;
    let (sigma, kappa) =
        if det.abs() > 1e-12 { ((sya * sbb - syb * sab) / det, (saa * syb - sab * sya) / det) } else { (0.0, 0.0) };
    Some(clamp(Usl { lambda, sigma, kappa }))
}

/// Levenberg-Marquardt on the relative residuals, within the parameters' bounds.
fn least_squares(points: &[Point]) -> Option<Usl> {
    let mut m = start(points)?;
    let mut c = cost(points, &m);
    let mut mu = 1e-3;
    for _ in 0..500 {
        let mut jtj = [[0.0f64; 3]; 3];
        let mut jtr = [0.0f64; 3];
        for p in points {
            let n = p.n;
            let d = 1.0 + m.sigma * (n - 1.0) + m.kappa * n * (n - 1.0);
            let f = m.lambda * n / d;
            let r = f / p.throughput - 1.0;
            let j = [
                n / d / p.throughput,
                -m.lambda * n * (n - 1.0) / (d * d) / p.throughput,
                -m.lambda * n * n * (n - 1.0) / (d * d) / p.throughput,
            ];
            for ((row, t), ja) in jtj.iter_mut().zip(jtr.iter_mut()).zip(j) {
                *t += ja * r;
                for (cell, jb) in row.iter_mut().zip(j) {
                    *cell += ja * jb;
                }
            }
        }
        let mut improved = false;
        for _ in 0..30 {
            let [[a00, a01, a02], [a10, a11, a12], [a20, a21, a22]] = jtj;
            let damp = |d: f64| d + mu * d.max(1e-18);
            let a = [[damp(a00), a01, a02], [a10, damp(a11), a12], [a20, a21, damp(a22)]];
            let [r0, r1, r2] = jtr;
            let Some([s0, s1, s2]) = solve3(a, [-r0, -r1, -r2]) else {
                mu *= 10.0;
                continue;
            };
            let next = clamp(Usl { lambda: m.lambda + s0, sigma: m.sigma + s1, kappa: m.kappa + s2 });
            let nc = cost(points, &next);
            if nc.is_finite() && nc < c {
                let done = (c - nc) <= 1e-14 * c.max(1e-300);
                m = next;
                c = nc;
                mu = (mu / 3.0).max(1e-12);
                improved = !done;
                break;
            }
            mu *= 4.0;
        }
        if !improved {
            break;
        }
    }
    [m.lambda, m.sigma, m.kappa].iter().all(|v| v.is_finite()).then_some(m)
}

/// Solves a 3×3 system by Cramer's rule (the normal equations of three parameters).
fn solve3(a: [[f64; 3]; 3], b: [f64; 3]) -> Option<[f64; 3]> {
    let det = |[[a, b, c], [d, e, f], [g, h, i]]: [[f64; 3]; 3]| {
        a * (e * i - f * h) - b * (d * i - f * g) + c * (d * h - e * g)
    };
    let d = det(a);
    if !d.is_finite() || d.abs() < 1e-300 {
        return None;
    }
    let [[a00, a01, a02], [a10, a11, a12], [a20, a21, a22]] = a;
    let [b0, b1, b2] = b;
    let x = [
        det([[b0, a01, a02], [b1, a11, a12], [b2, a21, a22]]) / d,
        det([[a00, b0, a02], [a10, b1, a12], [a20, b2, a22]]) / d,
        det([[a00, a01, b0], [a10, a11, b1], [a20, a21, b2]]) / d,
    ];
    x.iter().all(|v| v.is_finite()).then_some(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic(truth: Usl, ns: &[f64], noise: f64, seed: u64) -> Vec<Point> {
        let mut rng = SplitMix64::new(seed);
        ns.iter().map(|&n| Point { n, throughput: truth.throughput(n) * (1.0 + noise * rng.normal()) }).collect()
    }

    const NS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 12.0, 16.0, 24.0, 32.0];

    #[test]
    fn exact_data_gives_back_the_parameters() {
        let truth = Usl { lambda: 100.0, sigma: 0.05, kappa: 0.002 };
        let f = fit(&synthetic(truth, &NS, 0.0, 1), 7).unwrap();
        assert!((f.model.lambda - 100.0).abs() < 1e-3, "{:?}", f.model);
        assert!((f.model.sigma - 0.05).abs() < 1e-5, "{:?}", f.model);
        assert!((f.model.kappa - 0.002).abs() < 1e-6, "{:?}", f.model);
        let knee = f.model.knee().unwrap();
        assert!((knee - (0.95f64 / 0.002).sqrt()).abs() < 1e-3);
    }

    #[test]
    fn noisy_data_recovers_the_capacity_within_its_interval() {
        // 3 % noise, 40 seeds: the capacity (peak throughput) within 10 %, and inside the
        // 90 % interval in at least 30 of 40 (measured: 35; a residual bootstrap over 8
        // levels runs a little narrow, and 30 leaves room for that, not for a broken one).
        let truth = Usl { lambda: 50.0, sigma: 0.08, kappa: 0.004 };
        let cap = truth.capacity().unwrap();
        let mut covered = 0;
        for seed in 0..40 {
            let f = fit(&synthetic(truth, &NS, 0.03, seed), seed).unwrap();
            let est = f.estimate(Usl::capacity).unwrap();
            assert!((est.value / cap - 1.0).abs() < 0.10, "seed {seed}: {} vs {cap}", est.value);
            if est.low <= cap && cap <= est.high {
                covered += 1;
            }
        }
        assert!(covered >= 30, "covered {covered} of 40");
    }

    #[test]
    fn contention_only_levels_off_at_lambda_over_sigma() {
        let truth = Usl { lambda: 40.0, sigma: 0.2, kappa: 0.0 };
        let f = fit(&synthetic(truth, &NS, 0.0, 1), 1).unwrap();
        assert!(f.model.kappa < 1e-6, "{:?}", f.model);
        assert!((f.model.capacity().unwrap() - 200.0).abs() < 1.0);
    }

    #[test]
    fn far_extrapolation_from_noisy_data_is_wide() {
        // Measured up to 8 clients: the response time at 1000 is far beyond the data.
        let truth = Usl { lambda: 50.0, sigma: 0.02, kappa: 0.0005 };
        let pts = synthetic(truth, &[1.0, 2.0, 3.0, 4.0, 6.0, 8.0], 0.08, 3);
        let f = fit(&pts, 3).unwrap();
        let near = f.estimate(|m| Some(m.response_time_s(4.0, 0.0))).unwrap();
        let far = f.estimate(|m| Some(m.response_time_s(1000.0, 0.0))).unwrap();
        assert!(far.spread() > near.spread(), "near {near:?} far {far:?}");
        assert!(far.spread() > 2.0, "{far:?}");
    }

    #[test]
    fn bad_input_is_refused() {
        let p = |n, throughput| Point { n, throughput };
        assert_eq!(fit(&[p(1.0, 1.0), p(2.0, 2.0), p(3.0, 3.0)], 1).unwrap_err(), FitError::TooFewPoints(3));
        assert!(matches!(
            fit(&[p(1.0, 1.0), p(2.0, 0.0), p(3.0, 3.0), p(4.0, 4.0)], 1),
            Err(FitError::BadPoint { index: 1, .. })
        ));
    }
}
