//! What a run of the saturation template tells its verdict: the measured capacity and the
//! knee from the same USL fit as `k6gate scale` ([`super::analyse`]), and whether the steps
//! reached the knee. Carried by the verdict (`Verdict.saturation`), shown in the run's
//! reports, and read by the adequacy check (`saturation_scenario`), also from earlier runs.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Interval, ScaleReport};
use crate::render::shapes::step_vus;
use crate::summary::RunSummary;

/// A step at or above this share of the capacity has reached it (a model without a knee).
const PLATEAU_SHARE: f64 = 0.9;

/// The saturation section of a verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct SaturationRecord {
    /// The step phases the fit used.
    pub steps: usize,
    /// VUs of the highest step.
    pub highest_step_vus: u32,
    /// The highest step's throughput, requests/s.
    pub highest_step_rps: f64,
    /// Peak throughput of the model (requests/s), 90 % interval; `None` when it never levels off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity: Option<Interval>,
    /// Concurrency of the peak (VUs), 90 % interval; `None` without a coherency cost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub knee: Option<Interval>,
    /// The steps went as far as the knee (the highest step at or past the knee's estimate),
    /// or, without a knee, the highest step carried 90 % of the capacity.
    pub reached_knee: bool,
    #[serde(default)]
    pub rms_relative_error: f64,
    /// Why there is no fit (too few steps, an empty step, the fit failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The resource pressure the steps ran under (`saturation.pressure`, "2 CPU workers
    /// (stress-ng)"); `None`: the machine as it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<String>,
}

/// The record of a run whose phases include saturation steps (`step-<VUs>`); `None` for any
/// other run.
pub fn record(summary: &RunSummary) -> Option<SaturationRecord> {
    let steps: Vec<u32> = summary.phases.iter().filter_map(|p| step_vus(&p.name)).collect();
    let highest = steps.iter().copied().max()?;
    Some(match super::analyse(summary, None) {
        Ok(r) => from_report(&r),
        Err(e) => SaturationRecord {
            steps: steps.len(),
            highest_step_vus: highest,
            highest_step_rps: 0.0,
            capacity: None,
            knee: None,
            reached_knee: false,
            rms_relative_error: 0.0,
            error: Some(e.to_string()),
            pressure: None,
        },
    })
}

fn from_report(r: &ScaleReport) -> SaturationRecord {
    let last = r.steps.last();
    let highest = last.map_or(0, |s| s.vus);
    let highest_rps = last.map_or(0.0, |s| s.requests_per_s);
    let reached_knee = match (&r.knee, &r.capacity) {
        (Some(k), _) => f64::from(highest) >= k.value,
        (None, Some(c)) => highest_rps >= PLATEAU_SHARE * c.value,
        (None, None) => false,
    };
    SaturationRecord {
        steps: r.steps.len(),
        highest_step_vus: highest,
        highest_step_rps: highest_rps,
        capacity: r.capacity.and_then(storable),
        knee: r.knee.and_then(storable),
        reached_knee,
        rms_relative_error: r.rms_relative_error,
        error: None,
        pressure: None,
    }
}

/// An interval JSON can carry: an unbounded top becomes `f64::MAX` (JSON has no infinity,
/// and a verdict must read back from the history); a non-finite estimate is no estimate.
fn storable(i: Interval) -> Option<Interval> {
    (i.value.is_finite() && i.low.is_finite())
        .then(|| Interval { high: if i.high.is_finite() { i.high } else { f64::MAX }, ..i })
}

impl SaturationRecord {
    /// The findings as sentences, for the reports: capacity, knee, reached or not.
    pub fn lines(&self) -> Vec<String> {
        let mut out: Vec<String> = self.pressure.iter().map(|p| format!("measured under pressure: {p}")).collect();
        if let Some(e) = &self.error {
            out.push(format!("no scale model: {e}"));
            return out;
        }
        match &self.capacity {
            Some(c) => out.push(format!("measured capacity: {} (90 % interval)", super::interval(c, " req/s"))),
            None => out.push("measured capacity: not reached (throughput still grows linearly: step higher)".into()),
        }
        match &self.knee {
            Some(k) => out.push(format!("knee: {} VUs", super::interval(k, ""))),
            None => out.push("knee: none in the model (throughput levels off, never falls)".into()),
        }
        out.push(if self.reached_knee {
            format!(
                "the steps reached the knee: the highest, {} VUs, carried {:.1} req/s",
                self.highest_step_vus, self.highest_step_rps
            )
        } else {
            format!(
                "the steps stopped before the knee (highest {} VUs, {:.1} req/s): step higher to measure the capacity",
                self.highest_step_vus, self.highest_step_rps
            )
        });
        out
    }

    /// One sentence for the adequacy section: "capacity 83.7 req/s, knee 4.7 VUs reached".
    pub fn short(&self) -> String {
        let cap = self.capacity.map_or("capacity not reached".into(), |c| format!("capacity {:.1} req/s", c.value));
        let knee = self.knee.map_or("no knee in the model".into(), |k| format!("knee {:.1} VUs", k.value));
        let reached = if self.reached_knee { "reached" } else { "not reached" };
        format!("{cap}, {knee} {reached} (highest step {} VUs)", self.highest_step_vus)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::Step;

    fn report(knee: Option<f64>, capacity: Option<f64>, last_vus: u32, last_rps: f64) -> ScaleReport {
        let i = |v: f64| Interval { value: v, low: v * 0.9, high: v * 1.1 };
        ScaleReport {
            steps: vec![Step { vus: last_vus, requests_per_s: last_rps, mean_ms: None, p95_ms: None }],
            lambda: 1.0,
            sigma: 0.1,
            kappa: 0.01,
            rms_relative_error: 0.05,
            capacity: capacity.map(i),
            knee: knee.map(i),
            think_time_s: 0.0,
            extrapolation: None,
        }
    }

    #[test]
    fn the_knee_is_reached_when_the_highest_step_is_past_it() {
        assert!(from_report(&report(Some(4.7), Some(84.0), 8, 78.0)).reached_knee);
        let short = from_report(&report(Some(12.0), Some(84.0), 8, 70.0));
        assert!(!short.reached_knee);
        assert!(short.lines()[2].contains("stopped before the knee (highest 8 VUs"), "{:?}", short.lines());
        // No knee: the plateau counts when the highest step carries 90 % of the capacity.
        assert!(from_report(&report(None, Some(80.0), 8, 75.0)).reached_knee);
        assert!(!from_report(&report(None, Some(80.0), 8, 60.0)).reached_knee);
        assert!(!from_report(&report(None, None, 8, 60.0)).reached_knee);
        assert_eq!(
            from_report(&report(Some(4.7), Some(84.0), 8, 78.0)).short(),
            "capacity 84.0 req/s, knee 4.7 VUs reached (highest step 8 VUs)"
        );
    }
}
