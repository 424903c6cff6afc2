//! The decision: the Rego input of one look, evaluated with the repo's policies (package
//! `k6gate_canary`, `policies/canary.rego`) through the same engine as the gate. Anything
//! but a well-formed decision is an error: a policy that says nothing never promotes.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::CanaryError;
use super::analysis::{MetricResult, Traffic};
use super::config::CanaryConfig;
use crate::policy::engine::Policies;

/// What the rules decided at one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Promote,
    Rollback,
    Inconclusive,
    /// Only at an interim look: no clear failure yet, keep watching.
    Continue,
}

/// One check as the rules report it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    pub id: String,
    pub metric: String,
    pub route: String,
    pub status: String,
    pub critical: bool,
    pub weight: f64,
    pub message: String,
}

/// The rules' answer at one look.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    pub decision: Decision,
    pub reasons: Vec<String>,
    pub score: f64,
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// This look: 1-based index, looks planned, and the significance level spent on it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Look {
    pub index: usize,
    pub planned: usize,
    #[serde(rename = "final")]
    pub is_final: bool,
    pub level: f64,
}

/// The loaded rules and their data.
#[derive(Debug, Clone)]
pub struct Rules {
    policies: Policies,
    pub config: CanaryConfig,
}

impl Rules {
    /// The Rego files in `policies` and the `canary` section of its data.
    pub fn load(policies: &Path) -> Result<Rules, CanaryError> {
        Ok(Rules { policies: Policies::load(policies)?, config: CanaryConfig::load(policies)? })
    }

    pub fn from_parts(policies: Policies, config: CanaryConfig) -> Rules {
        Rules { policies, config }
    }

    /// Evaluates one look.
    pub fn decide(
        &self,
        look: &Look,
        traffic: (&Traffic, &Traffic),
        metrics: &[MetricResult],
    ) -> Result<Outcome, CanaryError> {
        let input = serde_json::json!({
            "look": look,
            "traffic": { "canary": traffic.0, "stable": traffic.1 },
            "metrics": metrics,
        });
        let data = self.config.rego_data();
        let undefined = |what: &str| CanaryError::Policy(format!("data.k6gate_canary.{what} is undefined"));
        let decision =
            self.policies.query(&data, &input, "data.k6gate_canary.decision")?.ok_or_else(|| undefined("decision"))?;
        let checks =
            self.policies.query(&data, &input, "data.k6gate_canary.checks")?.ok_or_else(|| undefined("checks"))?;
        let mut outcome: Outcome = serde_json::from_value(decision)
            .map_err(|e| CanaryError::Policy(format!("data.k6gate_canary.decision: {e}")))?;
        outcome.checks = serde_json::from_value(checks)
            .map_err(|e| CanaryError::Policy(format!("data.k6gate_canary.checks: {e}")))?;
        outcome.checks.sort_by(|a, b| a.id.cmp(&b.id));
        if look.is_final && outcome.decision == Decision::Continue {
            return Err(CanaryError::Policy("the rules said continue at the final look".into()));
        }
        Ok(outcome)
    }
}

#[cfg(test)]
mod tests {
    use super::super::analysis::State;
    use super::*;

    fn rules() -> Rules {
        Rules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap()
    }

    fn traffic(requests: f64) -> Traffic {
        Traffic { requests, errors: 0.0, per_s: requests / 40.0, windows_with_traffic: 8 }
    }

    fn metric(metric: &str, change: f64, p: f64) -> MetricResult {
        MetricResult {
            metric: metric.into(),
            route: "POST /api/checkout".into(),
            state: State::Ok,
            stable: Some(10.0),
            canary: Some(10.0 * (1.0 + change)),
            change: Some(change),
            change_low: Some(change - 0.05),
            change_high: Some(change + 0.05),
            p_value: Some(p),
            n_stable: 8.0,
            n_canary: 8.0,
            why: None,
        }
    }

    fn look(index: usize) -> Look {
        let planned = 8;
        let level = rules().config.schedule(planned).unwrap().level(index);
        Look { index, planned, is_final: index == planned, level }
    }

    fn healthy() -> Vec<MetricResult> {
        vec![metric("latency_p50", 0.02, 0.6), metric("latency_p95", -0.01, 0.8), metric("error_rate", 0.0, 1.0)]
    }

    #[test]
    fn a_healthy_canary_promotes_only_at_the_final_look() {
        let r = rules();
        let end = r.decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &healthy()).unwrap();
        assert_eq!(end.decision, Decision::Promote, "{end:?}");
        assert_eq!(end.checks.iter().filter(|c| c.status == "pass").count(), 3);
        let mid = r.decide(&look(5), (&traffic(200.0), &traffic(4000.0)), &healthy()).unwrap();
        assert_eq!(mid.decision, Decision::Continue);
    }

    #[test]
    fn a_critical_failure_rolls_back_early_only_past_the_interim_level() {
        let r = rules();
        let slow = |p| vec![metric("latency_p50", 0.3, p), metric("error_rate", 0.0, 1.0)];
        // Interim level at look 5 of 8 from look 4: 0.05 * 0.2 / 4 = 0.0025.
        let clear = r.decide(&look(5), (&traffic(200.0), &traffic(4000.0)), &slow(0.001)).unwrap();
        assert_eq!(clear.decision, Decision::Rollback, "{clear:?}");
        assert!(clear.reasons.iter().any(|x| x.contains("critical: latency_p50 of POST /api/checkout")), "{clear:?}");
        let unclear = r.decide(&look(5), (&traffic(200.0), &traffic(4000.0)), &slow(0.01)).unwrap();
        assert_eq!(unclear.decision, Decision::Continue, "p 0.01 is not below the interim level");
        let end = r.decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &slow(0.01)).unwrap();
        assert_eq!(end.decision, Decision::Rollback, "p 0.01 is below the final level 0.04");
        // Significant but within the allowed change: a pass.
        let small = vec![metric("latency_p50", 0.05, 0.0001), metric("error_rate", 0.0, 1.0)];
        assert_eq!(
            r.decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &small).unwrap().decision,
            Decision::Promote
        );
    }

    #[test]
    fn errors_beside_a_stable_that_never_errs_roll_back() {
        let mut m = healthy();
        m[2] = metric("error_rate", 0.02, 1e-9);
        m[2].stable = Some(0.0);
        let o = rules().decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &m).unwrap();
        assert_eq!(o.decision, Decision::Rollback, "{o:?}");
        assert!(
            o.reasons.iter().any(|x| x.contains("error_rate of POST /api/checkout: +2") && x.contains(" pp beyond")),
            "{o:?}"
        );
    }

    #[test]
    fn too_little_traffic_missing_data_or_no_rule_is_never_a_promote() {
        let r = rules();
        let few = r.decide(&look(8), (&traffic(4.0), &traffic(8000.0)), &healthy()).unwrap();
        assert_eq!(few.decision, Decision::Inconclusive);
        assert!(few.reasons.iter().any(|x| x.contains("canary served 4 requests")), "{few:?}");
        // Even a clear failure does not roll back on 4 requests: it cannot be told apart.
        let bad = vec![metric("latency_p50", 0.5, 1e-6)];
        assert_eq!(
            r.decide(&look(8), (&traffic(4.0), &traffic(8000.0)), &bad).unwrap().decision,
            Decision::Inconclusive
        );
        let mut m = healthy();
        m[0].state = State::NoData;
        m[0].why = Some("0 canary windows".into());
        let o = r.decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &m).unwrap();
        assert_eq!(o.decision, Decision::Inconclusive);
        assert!(o.reasons.iter().any(|x| x.contains("no data (0 canary windows)")), "{o:?}");
        let mut m = healthy();
        m.push(metric("latency_p99", 0.0, 1.0));
        let o = r.decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &m).unwrap();
        assert_eq!(o.decision, Decision::Inconclusive, "latency_p99 has no rule in the shipped data: {o:?}");
        assert_eq!(
            r.decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &[]).unwrap().decision,
            Decision::Inconclusive
        );
    }

    #[test]
    fn non_critical_failures_count_by_weight() {
        let r = rules();
        // One of three checks fails (latency_p95, weight 1): score 66.7 < 75 -> rollback.
        let mut m = healthy();
        m[1] = metric("latency_p95", 0.5, 1e-6);
        let o = r.decide(&look(8), (&traffic(400.0), &traffic(8000.0)), &m).unwrap();
        assert_eq!(o.decision, Decision::Rollback, "{o:?}");
        assert!(o.reasons.iter().any(|x| x.starts_with("score 67 below 75")), "{o:?}");
        // Not at an interim look: only critical metrics stop early.
        assert_eq!(r.decide(&look(5), (&traffic(200.0), &traffic(4000.0)), &m).unwrap().decision, Decision::Continue);
    }
}
