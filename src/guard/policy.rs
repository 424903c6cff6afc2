//! The off-peak decision: policies/guard.rego (package `k6gate_guard`) over `now`, through the
//! same Rego engine as the gate, with the windows of the policy data. Rego decides whether a
//! run may start; the next allowed slot is computed here from the same segments, and the two
//! must agree, else the decision is an error (fail closed).

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::config::GuardConfig;
use super::window;
use crate::error::{Error, Result};
use crate::policy::PolicyError;
use crate::policy::engine::Policies;
use crate::time::format_rfc3339_ms;

/// The guard's rules and their data.
#[derive(Debug, Clone)]
pub struct Rules {
    policies: Policies,
    pub config: GuardConfig,
}

/// Whether a load test may start now, and when the environment's windows open next.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowDecision {
    pub allowed: bool,
    /// The environment has off-peak windows.
    pub restricted: bool,
    /// Allowed outside the windows because the policy permits an override and it was asked.
    pub overridden: bool,
    pub reason: String,
    /// When the next off-peak slot starts (now, when inside one); `None` without windows.
    #[serde(default)]
    pub next_slot_ns: Option<i64>,
}

/// Rego's answer for one reading of the live guard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveDecision {
    /// `none`, `lower`, `pause`, `resume` or `stop`.
    pub action: String,
    pub reason: String,
    #[serde(default)]
    pub breaches: Vec<serde_json::Value>,
}

impl Rules {
    /// The Rego files in `policies` and the `guard` section of its data.
    pub fn load(policies: &Path) -> Result<Rules> {
        Ok(Rules { policies: Policies::load(policies)?, config: GuardConfig::load(policies)? })
    }

    /// The guard's rules from a policy's files: the gate's binding ones in `run`, so that on a
    /// pull request the base branch's windows bind, not the PR's.
    pub fn from_files(files: &crate::policy::files::PolicyFiles) -> Result<Rules> {
        let policies = Policies::from_files(&files.rego, &files.dir)?;
        Ok(Rules { policies, config: GuardConfig::from_files(&files.data)? })
    }

    pub fn from_parts(policies: Policies, config: GuardConfig) -> Rules {
        Rules { policies, config }
    }

    /// May `environment` be loaded at `now_ns`? `override_requested`: the run asks to start
    /// outside the windows, which only a policy with `allow_override` grants.
    /// An environment without windows is open without asking Rego (so a policy directory
    /// without guard.rego still runs what has no windows); one with windows needs the rule.
    pub fn window(&self, environment: &str, now_ns: i64, override_requested: bool) -> Result<WindowDecision> {
        if !self.config.windows.contains_key(environment) {
            return Ok(WindowDecision {
                allowed: true,
                restricted: false,
                overridden: false,
                reason: format!("{environment} has no off-peak windows: it may be loaded at any time"),
                next_slot_ns: None,
            });
        }
        let input = serde_json::json!({
            "environment": environment,
            "now": { "ns": now_ns, "time": format_rfc3339_ms(now_ns), "week_minute": window::week_minute(now_ns) },
            "override_requested": override_requested,
        });
        let rego = |m: String| Error::Policy(PolicyError::Rego(m));
        let value = self
            .policies
            .query(&self.config.rego_data(), &input, "data.k6gate_guard.window")?
            .ok_or_else(|| rego("data.k6gate_guard.window is undefined (policies/guard.rego missing?)".into()))?;
        let mut decision: WindowDecision =
            serde_json::from_value(value).map_err(|e| rego(format!("data.k6gate_guard.window: {e}")))?;
        let windows = self.config.windows.get(environment);
        decision.next_slot_ns = windows.and_then(|w| window::next_start(&w.segments, now_ns));
        let inside = decision.next_slot_ns == Some(now_ns);
        if decision.restricted != windows.is_some()
            || (decision.restricted && !decision.overridden && decision.allowed != inside)
        {
            return Err(rego(format!(
                "data.k6gate_guard.window disagrees with the windows of {environment} at {}: Rego says {decision:?}",
                format_rfc3339_ms(now_ns)
            )));
        }
        Ok(decision)
    }

    /// What the live guard does about one reading: `data.k6gate_guard.live` over the reading
    /// and the guard's state (`live::decide` builds the input).
    pub fn live(&self, input: &serde_json::Value) -> Result<LiveDecision> {
        let rego = |m: String| Error::Policy(PolicyError::Rego(m));
        let value = self
            .policies
            .query(&self.config.rego_data(), input, "data.k6gate_guard.live")?
            .ok_or_else(|| rego("data.k6gate_guard.live is undefined (policies/guard.rego too old?)".into()))?;
        serde_json::from_value(value).map_err(|e| rego(format!("data.k6gate_guard.live: {e}")))
    }

    /// [`Rules::window`], refusing when the run may not start: the error names the next slot.
    pub fn require_window(&self, environment: &str, now_ns: i64, override_requested: bool) -> Result<WindowDecision> {
        let d = self.window(environment, now_ns, override_requested)?;
        if d.allowed {
            return Ok(d);
        }
        let reschedule = match d.next_slot_ns {
            Some(t) => format!("the next off-peak slot starts at {}", format_rfc3339_ms(t)),
            None => "the environment has no off-peak slot".into(),
        };
        Err(Error::Refused { reason: d.reason, reschedule })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::parse_rfc3339_ns;

    fn rules() -> Rules {
        Rules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap()
    }

    fn at(s: &str) -> i64 {
        parse_rfc3339_ns(s.as_bytes()).unwrap()
    }

    #[test]
    fn outside_the_shipped_prod_sim_windows_the_run_is_refused_with_the_next_slot() {
        // Wednesday 2026-12-09 12:00 UTC: peak; the next slot is 20:00 that day.
        let e = rules().require_window("prod-sim", at("2026-12-09T12:00:00Z"), false).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("outside the off-peak windows of prod-sim (") && text.contains("guard.yaml:11; UTC)"),
            "{text}"
        );
        assert!(text.contains("the policy allows no override"), "{text}");
        assert!(text.contains("the next off-peak slot starts at 2026-12-09T20:00:00.000Z"), "{text}");
        assert_eq!(e.exit_code(), 2);
        // Asking for an override changes nothing when the policy does not allow one.
        assert!(rules().require_window("prod-sim", at("2026-12-09T12:00:00Z"), true).is_err());
    }

    #[test]
    fn inside_a_window_and_without_windows_the_run_may_start() {
        let d = rules().require_window("prod-sim", at("2026-12-12T12:00:00Z"), false).unwrap();
        assert!(d.allowed && d.restricted && !d.overridden, "{d:?}");
        let d = rules().require_window("dev", at("2026-12-09T12:00:00Z"), false).unwrap();
        assert!(d.allowed && !d.restricted && d.next_slot_ns.is_none(), "{d:?}");
    }

    #[test]
    fn rego_and_the_next_slot_search_agree_at_every_minute_of_a_week() {
        let r = rules();
        let monday = at("2026-12-07T00:00:00Z");
        // Every 53 minutes over a week and a bit (a step that lands on every minute of the
        // hour in turn): each decision is checked against the segments.
        for i in 0..(window::MINUTES_PER_WEEK / 53 + 30) {
            let now = monday + i64::from(i) * 53 * 60_000_000_000;
            let d = r.window("prod-sim", now, false).unwrap();
            assert_eq!(d.allowed, d.next_slot_ns == Some(now), "{d:?}");
        }
    }

    #[test]
    fn an_override_is_honoured_only_when_the_policy_allows_it() {
        let mut r = rules();
        if let Some(w) = r.config.windows.get_mut("prod-sim") {
            w.allow_override = true;
        }
        let peak = at("2026-12-09T12:00:00Z");
        let d = r.require_window("prod-sim", peak, true).unwrap();
        assert!(d.overridden, "{d:?}");
        assert!(r.require_window("prod-sim", peak, false).is_err());
    }
}
