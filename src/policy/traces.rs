//! Per-component SLAs and coverage floors (`traces` in `policies/data/traces.yaml`, issue 15):
//! limits on each component's self time from the run's trace breakdown, and the share of
//! requests whose time in a component must be known before its limits count. Checked here
//! (numbers, names, with the file and line), judged by `policies/traces.rego` in package
//! `k6gate` like every other rule, so waivers and migration windows apply to them the same way.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The section as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesSection {
    #[serde(default)]
    pub tests: Vec<TraceRules>,
}

/// The rules of one test (optionally one environment); the entry naming the environment wins
/// over the one without, per component and metric.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TraceRules {
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Limits on each component's self time (`db: {p95_ms: 50}`).
    #[serde(default)]
    pub components: BTreeMap<String, ComponentLimits>,
    /// The least share of requests with the component's time known (`db: 0.99`).
    #[serde(default)]
    pub coverage: BTreeMap<String, f64>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ComponentLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
}

/// The metrics a component limit may name; a waiver or window names one as `db.p95_ms`.
pub const COMPONENT_METRICS: [&str; 3] = ["p50_ms", "p95_ms", "p99_ms"];

/// Whether `m` is a component metric (`<component>.p95_ms`), as waivers and windows name it.
pub fn is_component_metric(m: &str) -> bool {
    match m.rsplit_once('.') {
        Some((component, metric)) => valid_component(component) && COMPONENT_METRICS.contains(&metric),
        None => false,
    }
}

/// A component name as `service.name` gives it: letters, digits, `-`, `_`, `+` (the
/// attribution's own `network+lb`), `.` inside.
fn valid_component(c: &str) -> bool {
    !c.is_empty() && c.chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '-' | '_' | '+' | '.'))
}

/// A problem in one entry: the key path below `traces.tests[i]` and the message.
#[derive(Debug)]
pub struct Invalid {
    pub at: Vec<String>,
    pub message: String,
}

/// Checks one entry: components named sensibly, limits >= 0, coverage floors in [0, 1].
pub fn validate(r: &TraceRules) -> Result<(), Invalid> {
    let bad = |at: Vec<String>, message: String| Err(Invalid { at, message });
    if r.components.is_empty() && r.coverage.is_empty() {
        return bad(vec!["test".into()], format!("traces rules for {}: give components or coverage", r.test));
    }
    for (c, limits) in &r.components {
        if !valid_component(c) {
            return bad(vec!["components".into(), c.clone()], format!("{c:?} is not a component name"));
        }
        for (name, v) in [("p50_ms", limits.p50_ms), ("p95_ms", limits.p95_ms), ("p99_ms", limits.p99_ms)] {
            if let Some(v) = v.filter(|v| !v.is_finite() || *v < 0.0) {
                let at = vec!["components".into(), c.clone(), name.into()];
                return bad(at, format!("{c}.{name} must be a number >= 0, got {v}"));
            }
        }
        if limits.p50_ms.is_none() && limits.p95_ms.is_none() && limits.p99_ms.is_none() {
            let at = vec!["components".into(), c.clone()];
            return bad(at, format!("{c}: give at least one of p50_ms, p95_ms, p99_ms"));
        }
    }
    for (c, floor) in &r.coverage {
        if !valid_component(c) {
            return bad(vec!["coverage".into(), c.clone()], format!("{c:?} is not a component name"));
        }
        if !floor.is_finite() || !(0.0..=1.0).contains(floor) {
            let at = vec!["coverage".into(), c.clone()];
            return bad(at, format!("coverage of {c} is a share between 0 and 1, got {floor}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn component_metrics_are_component_dot_quantile() {
        assert!(is_component_metric("db.p95_ms"));
        assert!(is_component_metric("network+lb.p99_ms"));
        assert!(!is_component_metric("p95_ms"));
        assert!(!is_component_metric("db.error_rate"));
        assert!(!is_component_metric(".p95_ms"));
    }
}
