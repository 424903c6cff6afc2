//! Scale modelling of a saturation run: the Universal Scalability Law (`crate::stats::usl`)
//! fitted to the throughput of each step (the `step-<VUs>` phases the `saturation` template
//! tags), the measured capacity and the knee with their intervals, and the latency expected
//! at production's concurrency, or "too uncertain" when its interval is too wide.
//!
//! Latency at `N` clients comes from Little's law for a closed system, `R = N/X(N) − Z`, with
//! `Z` the think time per request the run measured; P95 is that mean times the P95/mean ratio
//! of the highest step (the tail's shape is assumed to stay as it was at the last step).

mod record;

pub use record::{SaturationRecord, record};

use serde::{Deserialize, Serialize};

use crate::render::shapes::step_vus;
use crate::stats::usl::{self, Estimate, Point, Usl};
use crate::summary::RunSummary;

/// An extrapolation whose 90 % interval spans more than this factor (high/low) is reported
/// as too uncertain.
pub const MAX_SPREAD: f64 = 2.0;

/// The seed of the bootstrap: a report is the same every time it is made.
const SEED: u64 = 0x5ca1e;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Step {
    pub vus: u32,
    pub requests_per_s: f64,
    pub mean_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Interval {
    pub value: f64,
    pub low: f64,
    pub high: f64,
}

impl From<Estimate> for Interval {
    fn from(e: Estimate) -> Interval {
        Interval { value: e.value, low: e.low, high: e.high }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extrapolation {
    pub users: u64,
    pub mean_ms: Interval,
    pub p95_ms: Interval,
    /// The interval spans more than [`MAX_SPREAD`]: no number should be quoted.
    pub too_uncertain: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScaleReport {
    pub steps: Vec<Step>,
    pub lambda: f64,
    pub sigma: f64,
    pub kappa: f64,
    pub rms_relative_error: f64,
    /// Peak throughput the model allows (requests/s); `None` when it never levels off.
    pub capacity: Option<Interval>,
    /// Concurrency of the peak; `None` without coherency cost (κ ≈ 0).
    pub knee: Option<Interval>,
    pub think_time_s: f64,
    pub extrapolation: Option<Extrapolation>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScaleError {
    #[error(
        "the run has {0} step phases (step-<VUs>, from the saturation template): a scale model needs at least 4 (phases found: {1})"
    )]
    TooFewSteps(usize, String),
    #[error("phase {0}: no requests, so no throughput to fit")]
    EmptyStep(String),
    #[error("the USL fit failed: {0}")]
    Fit(#[from] usl::FitError),
}

/// Fits the run's steps; with `users`, extrapolates the latency there.
pub fn analyse(summary: &RunSummary, users: Option<u64>) -> Result<ScaleReport, ScaleError> {
    let mut steps = Vec::new();
    for phase in &summary.phases {
        let Some(vus) = step_vus(&phase.name) else { continue };
        if phase.total.requests == 0 || phase.total.requests_per_s <= 0.0 {
            return Err(ScaleError::EmptyStep(phase.name.clone()));
        }
        let lat = phase.total.latency_ms.as_ref();
        steps.push(Step {
            vus,
            requests_per_s: phase.total.requests_per_s,
            mean_ms: lat.and_then(|q| q.mean),
            p95_ms: lat.and_then(|q| q.p95),
        });
    }
    if steps.len() < 4 {
        let names: Vec<&str> = summary.phases.iter().map(|p| p.name.as_str()).collect();
        return Err(ScaleError::TooFewSteps(steps.len(), names.join(", ")));
    }
    steps.sort_by_key(|s| s.vus);
    let points: Vec<Point> =
        steps.iter().map(|s| Point { n: f64::from(s.vus), throughput: s.requests_per_s }).collect();
    let fit = usl::fit(&points, SEED)?;
    // Think time per request: what the VUs asked to sleep, over the requests made.
    let think_ms = summary.whole_run.metrics.get("k6gate_think_ms").and_then(|m| m.sum).unwrap_or(0.0);
    let requests = summary.whole_run.total.requests.max(1) as f64;
    let z = think_ms / requests / 1000.0;
    let extrapolation = users.map(|users| {
        let n = users as f64;
        let mean = fit.estimate(|m: &Usl| Some(m.response_time_s(n, z) * 1000.0));
        // The tail's shape at the highest step.
        let last = steps.last();
        let ratio = last.and_then(|s| Some(s.p95_ms? / s.mean_ms?)).filter(|r| r.is_finite() && *r >= 1.0);
        let p95 = ratio.and_then(|r| fit.estimate(|m: &Usl| Some(m.response_time_s(n, z) * 1000.0 * r)));
        let unbounded = Interval { value: f64::NAN, low: 0.0, high: f64::INFINITY };
        let (mean, p95) = (mean.map_or(unbounded, Interval::from), p95.map_or(unbounded, Interval::from));
        let too_uncertain = !(p95.low > 0.0 && p95.high / p95.low <= MAX_SPREAD);
        Extrapolation { users, mean_ms: mean, p95_ms: p95, too_uncertain }
    });
    Ok(ScaleReport {
        lambda: fit.model.lambda,
        sigma: fit.model.sigma,
        kappa: fit.model.kappa,
        rms_relative_error: fit.rms_relative_error,
        capacity: fit.estimate(Usl::capacity).map(Interval::from),
        knee: fit.estimate(Usl::knee).map(Interval::from),
        think_time_s: z,
        extrapolation,
        steps,
    })
}

fn interval(i: &Interval, unit: &str) -> String {
    if i.high.is_finite() && i.high < f64::MAX {
        format!("{:.1}{unit} [{:.1}, {:.1}]", i.value, i.low, i.high)
    } else {
        format!("{:.1}{unit} [{:.1}, unbounded]", i.value, i.low)
    }
}

/// The report as text.
pub fn text(r: &ScaleReport) -> String {
    let mut out = String::from("Saturation steps (closed model):\n  VUs   req/s    mean ms   p95 ms\n");
    for s in &r.steps {
        let ms = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.1}"));
        out.push_str(&format!("  {:>3} {:>8.1} {:>9} {:>8}\n", s.vus, s.requests_per_s, ms(s.mean_ms), ms(s.p95_ms)));
    }
    out.push_str(&format!(
        "USL fit: lambda {:.2} req/s per VU, sigma {:.4}, kappa {:.5} (rms relative error {:.1} %)\n",
        r.lambda,
        r.sigma,
        r.kappa,
        r.rms_relative_error * 100.0
    ));
    match &r.capacity {
        Some(c) => out.push_str(&format!("Measured capacity: {} (90 % interval)\n", interval(c, " req/s"))),
        None => out.push_str("Measured capacity: not reached (throughput still grows linearly: step higher)\n"),
    }
    match &r.knee {
        Some(k) => out.push_str(&format!("Knee: {} VUs\n", interval(k, ""))),
        None => out.push_str("Knee: none in the model (kappa = 0: throughput levels off, never falls)\n"),
    }
    if let Some(e) = &r.extrapolation {
        if e.too_uncertain {
            out.push_str(&format!(
                "At {} users: too uncertain to say (P95 {}, an interval wider than {MAX_SPREAD}x)\n",
                e.users,
                interval(&e.p95_ms, " ms")
            ));
        } else {
            out.push_str(&format!(
                "At {} users expect P95 ≈ {} (mean {})\n",
                e.users,
                interval(&e.p95_ms, " ms"),
                interval(&e.mean_ms, " ms")
            ));
        }
    }
    out
}
