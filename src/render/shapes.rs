//! The k6 scenarios of the load shapes that are not one ramp: the traffic mix (one
//! arrival-rate scenario per `mix:` entry, bursts as ramping stages) and the saturation step
//! load (`saturation:`). The template named after the shape gets them: `mix.js.j2` needs the
//! environment's `mix:`, `saturation.js.j2` its `saturation:`; any other template keeps the
//! environment's one ramp ([`super::scenario`]).

use serde::{Deserialize, Serialize};

use super::mix::Mix;
use super::{Environment, PlanStage, duration_ms};

/// A step load to the knee: `steps` VUs (closed model, one connection each), each held for
/// `step_duration`; every step is its own phase `step-<VUs>` for `k6gate scale`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Saturation {
    /// Concurrent VUs of each step, increasing (at least 4 steps: the USL has 3 parameters).
    pub steps: Vec<u32>,
    /// How long each step holds (`4s`, `1m`).
    pub step_duration: String,
    /// `stress-ng` workers loading the machine while the steps run (`pressure.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pressure: Option<super::pressure::Pressure>,
}

impl Saturation {
    pub fn validate(&self) -> Result<(), (String, String)> {
        if self.steps.len() < 4 {
            return Err(("steps".into(), format!("{} steps: the scale model needs at least 4", self.steps.len())));
        }
        if self.steps.first() == Some(&0) || self.steps.iter().zip(self.steps.iter().skip(1)).any(|(a, b)| b <= a) {
            return Err(("steps".into(), "VUs per step must be at least 1 and increasing".into()));
        }
        if duration_ms(&self.step_duration).filter(|d| *d >= 1000).is_none() {
            return Err(("step_duration".into(), format!("{:?} is not a duration of 1s or more", self.step_duration)));
        }
        if let Some(p) = &self.pressure {
            p.validate().map_err(|(field, m)| (format!("pressure.{field}"), m))?;
        }
        Ok(())
    }
}

/// The phase name of a saturation step with `vus` VUs; [`step_vus`] reads it back.
pub fn step_phase(vus: u32) -> String {
    format!("step-{vus}")
}

/// The VUs of a saturation step's phase name (`step-8` -> 8).
pub fn step_vus(phase: &str) -> Option<u32> {
    phase.strip_prefix("step-")?.parse().ok().filter(|v| *v > 0)
}

/// The scenarios and the phase plan of a shape template; `Ok(None)` for other templates;
/// `Err(message)` when the environment lacks what the shape needs.
pub fn scenarios(test: &str, env: &Environment) -> Result<Option<(serde_json::Value, Vec<PlanStage>)>, String> {
    match test {
        "saturation" => {
            let s = env.saturation.as_ref().ok_or(
                "the saturation template needs a `saturation:` block (steps, step_duration) in the environment",
            )?;
            Ok(Some(saturation(s)))
        }
        "mix" => {
            let m = env.mix.as_ref().ok_or("the mix template needs a `mix:` block in the environment")?;
            mix(m, env).map(Some)
        }
        _ => Ok(None),
    }
}

/// The load model tags of a test (`load_model`, `offered_rate`): a shape template's own
/// model, else the environment's executor's ([`super::load_model_tags`]). The mix is open and
/// offers the sum of its scenarios' rates (between spikes, with bursts: the rate k6 holds at
/// the least, so the completed-rate check never asks more than was offered); the saturation
/// step load is closed.
pub fn load_model_tags(test: &str, env: &Environment) -> Vec<(String, serde_json::Value)> {
    match (test, &env.mix, &env.saturation) {
        ("mix", Some(m), _) => {
            let mut tags = vec![("load_model".to_string(), serde_json::Value::from("open"))];
            if let Ok(entries) = m.resolve() {
                let total: f64 = entries.iter().map(|e| e.rate).sum();
                let text = format!("{total:.3}");
                let text = text.trim_end_matches('0').trim_end_matches('.');
                tags.push(("offered_rate".into(), text.into()));
            }
            tags
        }
        ("saturation", _, Some(_)) => vec![("load_model".into(), "closed".into())],
        _ => super::load_model_tags(env),
    }
}

/// One ramping-vus scenario that jumps to each step (a 0 s stage) and holds it.
fn saturation(s: &Saturation) -> (serde_json::Value, Vec<PlanStage>) {
    let hold = duration_ms(&s.step_duration).unwrap_or(0);
    let mut stages = Vec::new();
    let mut plan = Vec::new();
    let mut t = 0u64;
    for &vus in &s.steps {
        stages.push(serde_json::json!({ "duration": "0s", "target": vus }));
        stages.push(serde_json::json!({ "duration": s.step_duration, "target": vus }));
        t += hold;
        plan.push(PlanStage { name: step_phase(vus), end_ms: t });
    }
    let scenario = serde_json::json!({
        "executor": "ramping-vus", "startVUs": s.steps.first().copied().unwrap_or(1), "stages": stages,
        "gracefulRampDown": "0s", "gracefulStop": "5s",
    });
    (serde_json::json!({ "saturation": scenario }), plan)
}

/// One arrival-rate scenario per entry, all over the environment's stages; with bursts, each
/// rate is a square wave (base, then `spike_factor ×` for `spike_duration` every period).
fn mix(m: &Mix, env: &Environment) -> Result<(serde_json::Value, Vec<PlanStage>), String> {
    let entries = m.resolve().map_err(|(field, msg)| format!("mix.{field}: {msg}"))?;
    // The phases: warm-up, ramp-up, sustained, ramp-down as every template has them.
    let (_, plan) = super::scenario(env);
    let total_ms = plan.last().map_or(0, |p| p.end_ms);
    let mut scenarios = serde_json::Map::new();
    for e in &entries {
        let rate_at = |factor: f64| (e.rate * factor * 1000.0).round().max(1.0) as u64;
        let scenario = match &m.bursts {
            None => serde_json::json!({
                "executor": "constant-arrival-rate", "exec": e.name,
                // Rates are per 1000 s so that fractional rates (0.5/s) are kept exactly enough.
                "rate": rate_at(1.0), "timeUnit": "1000s", "duration": format!("{total_ms}ms"),
                "preAllocatedVUs": e.vus, "maxVUs": e.vus, "gracefulStop": "5s",
            }),
            Some(b) => {
                let (period, spike) = b.period_ms();
                let mut stages = Vec::new();
                let mut t = 0u64;
                // Spikes start mid-period: base, jump, hold the spike, drop, base.
                while t < total_ms {
                    let base_len = (period - spike).min(total_ms - t);
                    stages.push(serde_json::json!({ "duration": format!("{base_len}ms"), "target": rate_at(1.0) }));
                    t += base_len;
                    if t >= total_ms {
                        break;
                    }
                    let spike_len = spike.min(total_ms - t);
                    stages.push(serde_json::json!({ "duration": "0s", "target": rate_at(b.spike_factor) }));
                    stages.push(
                        serde_json::json!({ "duration": format!("{spike_len}ms"), "target": rate_at(b.spike_factor) }),
                    );
                    stages.push(serde_json::json!({ "duration": "0s", "target": rate_at(1.0) }));
                    t += spike_len;
                }
                serde_json::json!({
                    "executor": "ramping-arrival-rate", "exec": e.name,
                    "startRate": rate_at(1.0), "timeUnit": "1000s", "stages": stages,
                    "preAllocatedVUs": e.vus, "maxVUs": e.vus, "gracefulStop": "5s",
                })
            }
        };
        scenarios.insert(e.name.clone(), scenario);
    }
    Ok((serde_json::Value::Object(scenarios), plan))
}
