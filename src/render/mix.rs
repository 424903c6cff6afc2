//! The traffic mix an environment declares (`mix:` in `environments/<env>.yaml`): which
//! scenarios run side by side, at which arrival rates, and the bursts on top. The `mix`
//! template (`k6-templates/mix.js.j2`) turns it into one k6 arrival-rate scenario per entry;
//! `k6gate profile from-prometheus` writes it from production's observed rates.
//!
//! ```yaml
//! mix:
//!   rate: 40                # total iterations/s; needed when an entry gives only a weight
//!   connections: 60         # concurrent connections (VUs) production holds; split by share
//!   scenarios:
//!     browse:   { weight: 0.55 }
//!     search:   { weight: 0.25 }
//!     cart:     { weight: 0.12 }
//!     checkout: { weight: 0.06, rate: 2.5 }   # a rate wins over the weight
//!     admin:    { weight: 0.02 }
//!   bursts:                 # optional: spikes on top of the base rate
//!     base_rate: 40         # total iterations/s between spikes (rescales the entries' rates)
//!     spike_factor: 3       # rate multiplier during a spike (>= 1)
//!     spike_period: 20s     # one spike every period ...
//!     spike_duration: 4s    # ... lasting this long (< period)
//! ```
//!
//! Resolution ([`Mix::resolve`]): an entry's rate is its `rate`, else its share of the
//! weights (weights are normalised over the entries that have one) times `rate`. With
//! `bursts`, every rate is then scaled so that their sum is `base_rate`. Every problem is an
//! error naming the field (`mix.scenarios.cart.weight`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::duration_ms;

/// Scenario names the templates know (their `exec` functions).
pub const SCENARIOS: [&str; 5] = ["browse", "search", "cart", "checkout", "admin"];

/// One scenario of the mix: a weight, a rate, or both (the rate wins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    /// Relative share of the traffic (any positive scale: shares are normalised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<f64>,
    /// Iterations per second of this scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
}

/// Spikes on top of a base rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bursts {
    /// Total iterations per second between spikes.
    pub base_rate: f64,
    /// The rate during a spike is `base_rate × spike_factor` (>= 1).
    pub spike_factor: f64,
    /// A spike starts every `spike_period` (a k6 duration: `20s`, `1m`).
    pub spike_period: String,
    /// Each spike lasts this long (shorter than the period).
    pub spike_duration: String,
}

/// The traffic mix.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    /// Total iterations per second over all scenarios.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Concurrent connections at the peak (k6 VUs: one connection each), split over the
    /// scenarios by share; defaults to enough for the rates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    /// Scenario name (one of [`SCENARIOS`]) -> its weight and/or rate.
    pub scenarios: BTreeMap<String, MixEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bursts: Option<Bursts>,
}

/// One scenario with its resolved numbers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedEntry {
    pub name: String,
    /// Iterations per second (between spikes, with bursts).
    pub rate: f64,
    /// Share of the total rate, 0..1.
    pub share: f64,
    /// VUs allocated to it (at least 1).
    pub vus: u32,
}

fn positive(v: f64) -> bool {
    v.is_finite() && v > 0.0
}

impl Mix {
    /// Checks the block and resolves every entry's rate; `(field, message)` on the first
    /// problem (`field` below `mix.`).
    pub fn resolve(&self) -> Result<Vec<ResolvedEntry>, (String, String)> {
        if self.scenarios.is_empty() {
            return Err(("scenarios".into(), "list at least one scenario".into()));
        }
        if let Some(r) = self.rate.filter(|r| !positive(*r)) {
            return Err(("rate".into(), format!("{r} is not a positive rate (iterations per second)")));
        }
        if self.connections == Some(0) {
            return Err(("connections".into(), "must be at least 1".into()));
        }
        let mut weight_sum = 0.0;
        for (name, e) in &self.scenarios {
            if !SCENARIOS.contains(&name.as_str()) {
                return Err((
                    format!("scenarios.{name}"),
                    format!("unknown scenario {name:?} (known: {})", SCENARIOS.join(", ")),
                ));
            }
            match (e.weight, e.rate) {
                (None, None) => return Err((format!("scenarios.{name}"), "give a weight, a rate or both".into())),
                (Some(w), _) if !positive(w) => {
                    return Err((format!("scenarios.{name}.weight"), format!("{w} is not a positive weight")));
                }
                (_, Some(r)) if !positive(r) => {
                    return Err((format!("scenarios.{name}.rate"), format!("{r} is not a positive rate")));
                }
                _ => {}
            }
            if e.rate.is_none() {
                weight_sum += e.weight.unwrap_or(0.0);
            }
        }
        let needs_total = self.scenarios.values().any(|e| e.rate.is_none());
        let total = match (self.rate, &self.bursts) {
            (Some(r), _) => r,
            (None, Some(b)) => b.base_rate,
            (None, None) if needs_total => {
                return Err(("rate".into(), "an entry gives only a weight: set mix.rate (the total rate)".into()));
            }
            (None, None) => 0.0,
        };
        // Weighted entries share what the fixed-rate entries leave of the total.
        let fixed: f64 = self.scenarios.values().filter_map(|e| e.rate).sum();
        let left = total - fixed;
        if needs_total && left <= 0.0 {
            return Err((
                "rate".into(),
                format!(
                    "the entries' own rates ({fixed}/s) leave nothing of the total {total}/s for the weighted ones"
                ),
            ));
        }
        let mut rates: Vec<(String, f64)> = self
            .scenarios
            .iter()
            .map(|(n, e)| (n.clone(), e.rate.unwrap_or_else(|| left * e.weight.unwrap_or(0.0) / weight_sum)))
            .collect();
        if let Some(b) = &self.bursts {
            b.validate()?;
            let sum: f64 = rates.iter().map(|(_, r)| r).sum();
            for (_, r) in &mut rates {
                *r *= b.base_rate / sum;
            }
        }
        let sum: f64 = rates.iter().map(|(_, r)| r).sum();
        let peak_factor = self.bursts.as_ref().map_or(1.0, |b| b.spike_factor);
        Ok(rates
            .into_iter()
            .map(|(name, rate)| {
                let share = rate / sum;
                // Default: one VU per expected concurrent iteration at a 1 s iteration, ×2 headroom.
                let vus = match self.connections {
                    Some(c) => (f64::from(c) * share).round(),
                    None => (rate * peak_factor * 2.0).ceil(),
                };
                ResolvedEntry { name, rate, share, vus: (vus as u32).max(1) }
            })
            .collect())
    }
}

impl Bursts {
    fn validate(&self) -> Result<(), (String, String)> {
        if !positive(self.base_rate) {
            return Err(("bursts.base_rate".into(), format!("{} is not a positive rate", self.base_rate)));
        }
        if !(self.spike_factor.is_finite() && self.spike_factor >= 1.0) {
            return Err(("bursts.spike_factor".into(), format!("{} is not a factor >= 1", self.spike_factor)));
        }
        let period = duration_ms(&self.spike_period).filter(|p| *p > 0).ok_or_else(|| {
            ("bursts.spike_period".to_string(), format!("{:?} is not a duration like 20s or 1m", self.spike_period))
        })?;
        let dur = duration_ms(&self.spike_duration).filter(|d| *d > 0).ok_or_else(|| {
            ("bursts.spike_duration".to_string(), format!("{:?} is not a duration like 4s", self.spike_duration))
        })?;
        if dur >= period {
            return Err((
                "bursts.spike_duration".into(),
                format!("{} must be shorter than spike_period {}", self.spike_duration, self.spike_period),
            ));
        }
        Ok(())
    }

    /// The period and duration in milliseconds (after [`Mix::resolve`] accepted them).
    pub fn period_ms(&self) -> (u64, u64) {
        (duration_ms(&self.spike_period).unwrap_or(0), duration_ms(&self.spike_duration).unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(yaml: &str) -> Mix {
        yaml_serde::from_str(yaml).unwrap()
    }

    #[test]
    fn weights_share_what_fixed_rates_leave() {
        let m = mix("rate: 10\nscenarios:\n  browse: {weight: 3}\n  search: {weight: 1}\n  checkout: {rate: 2}\n");
        let r = m.resolve().unwrap();
        let rate = |n: &str| r.iter().find(|e| e.name == n).unwrap().rate;
        assert!((rate("browse") - 6.0).abs() < 1e-9);
        assert!((rate("search") - 2.0).abs() < 1e-9);
        assert!((rate("checkout") - 2.0).abs() < 1e-9);
    }

    #[test]
    fn bursts_rescale_to_the_base_rate_and_are_checked() {
        let m = mix(
            "scenarios:\n  browse: {weight: 1}\n  cart: {weight: 1}\nbursts: {base_rate: 8, spike_factor: 3, spike_period: 10s, spike_duration: 2s}\n",
        );
        let r = m.resolve().unwrap();
        assert!((r[0].rate - 4.0).abs() < 1e-9 && (r[1].rate - 4.0).abs() < 1e-9);
        let bad = mix(
            "scenarios:\n  browse: {weight: 1}\nbursts: {base_rate: 8, spike_factor: 3, spike_period: 2s, spike_duration: 2s}\n",
        );
        assert_eq!(bad.resolve().unwrap_err().0, "bursts.spike_duration");
    }

    #[test]
    fn bad_entries_name_their_field() {
        assert_eq!(mix("rate: 5\nscenarios:\n  nope: {weight: 1}\n").resolve().unwrap_err().0, "scenarios.nope");
        assert_eq!(
            mix("rate: 5\nscenarios:\n  cart: {weight: -1}\n").resolve().unwrap_err().0,
            "scenarios.cart.weight"
        );
        assert_eq!(mix("scenarios:\n  cart: {weight: 1}\n").resolve().unwrap_err().0, "rate");
        assert_eq!(mix("rate: 5\nscenarios:\n  cart: {}\n").resolve().unwrap_err().0, "scenarios.cart");
    }
}
