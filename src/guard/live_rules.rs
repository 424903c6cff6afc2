//! The live guard's and teardown's policy data: `guard.live` and `guard.teardown` in
//! `policies/data/*.yaml` (shipped in `policies/data/guard.yaml`). The thresholds and what
//! each one asks for are read by policies/guard.rego, which decides; the numbers that drive
//! the loop (how often, how far to lower, how long to watch) are read here. Every error names
//! the file, line and column of the key to blame (through `config.rs`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a reading may ask for, least to most severe.
pub const ACTIONS: [&str; 3] = ["lower", "pause", "stop"];

/// The readings the guard takes, by the names the policy and Rego use: the target's and the
/// monitoring stack's.
pub const TARGET_READINGS: [&str; 3] = ["error_rate", "p95_ms", "in_flight"];
pub const STACK_READINGS: [&str; 4] = ["query_ms", "rule_lag_s", "rule_failures", "alert_delivery_s"];

/// `guard.live`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveRules {
    /// Seconds between two readings.
    pub interval_s: f64,
    /// The PromQL range of the target's rates and P95 (`10s`): short, to react fast; at least
    /// a few scrape intervals.
    pub window: String,
    /// Per target reading, the limit above which it asks for an action: `{lower: 0.05, stop: 0.25}`.
    pub target: BTreeMap<String, BTreeMap<String, f64>>,
    /// The same for the monitoring stack's own health.
    #[serde(default)]
    pub observability: BTreeMap<String, BTreeMap<String, f64>>,
    /// Lowering multiplies the planned VUs by this (0 < f < 1), once more per lowering.
    pub lower_factor: f64,
    /// A breach asking to lower after this many lowerings stops k6 instead.
    pub max_lowerings: u32,
    /// After an action, a breach that asks to lower waits this long (s): the readings'
    /// window still holds the load before it.
    pub cooldown_s: f64,
    /// A target reading that is missing (no answer, no series) while k6 runs: `stop` (the
    /// default: fail closed) or `continue`.
    #[serde(default = "stop")]
    pub on_missing_data: String,
    /// The target's in-flight gauge (the demo shop's name by default).
    #[serde(default = "in_flight_metric")]
    pub in_flight_metric: String,
    /// The guard's own conditions sent as critical alerts (`src/guard/alerting.rs`): `stop`
    /// (it stopped k6), `observability_lost` (Prometheus answered none of a reading's queries).
    #[serde(default = "alert_on")]
    pub alert_on: Vec<String>,
}

/// The conditions `guard.live.alert_on` may name.
pub const ALERT_CONDITIONS: [&str; 2] = ["stop", "observability_lost"];

fn alert_on() -> Vec<String> {
    ALERT_CONDITIONS.iter().map(|s| s.to_string()).collect()
}

fn stop() -> String {
    "stop".into()
}

fn in_flight_metric() -> String {
    "k6gate_shop_in_flight_requests".into()
}

/// `guard.teardown`: after k6 stops, the target must be back within its pre-test baseline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TeardownRules {
    /// The PromQL range of the error rate and P95, before the test (baseline) and after.
    pub window: String,
    /// Seconds between two readings after k6 stopped.
    pub interval_s: f64,
    /// Back within the baseline for this long without a break (s).
    pub sustain_s: f64,
    /// Still not back after this long (s): residual impact, the run fails.
    pub timeout_s: f64,
    /// The error rate may exceed the baseline's by this much (absolute share).
    pub error_rate_margin: f64,
    /// P95 may exceed the baseline's by this factor plus `p95_margin_ms`.
    pub p95_factor: f64,
    pub p95_margin_ms: f64,
    /// Requests in flight may exceed the baseline's by this many (the target's own users
    /// keep some in flight).
    #[serde(default)]
    pub in_flight_margin: f64,
}

/// The key to blame and why, for numbers that cannot work.
pub fn check_live(l: &LiveRules) -> Result<(), (String, String)> {
    let positive = |key: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err((key.to_string(), format!("guard.live.{key} must be a number > 0, got {v}")))
        }
    };
    positive("interval_s", l.interval_s)?;
    positive("cooldown_s", l.cooldown_s)?;
    if !(l.lower_factor > 0.0 && l.lower_factor < 1.0) {
        let m = format!("guard.live.lower_factor must be between 0 and 1 (exclusive), got {}", l.lower_factor);
        return Err(("lower_factor".into(), m));
    }
    if crate::render::duration_ms(&l.window).is_none_or(|ms| ms < 1000) {
        return Err(("window".into(), format!("guard.live.window: {:?} is not a duration like 10s", l.window)));
    }
    if !["stop", "continue"].contains(&l.on_missing_data.as_str()) {
        let m = format!("guard.live.on_missing_data: {:?} is neither stop nor continue", l.on_missing_data);
        return Err(("on_missing_data".into(), m));
    }
    if l.target.is_empty() {
        return Err(("target".into(), "guard.live.target: give at least one threshold".into()));
    }
    for (section, known, map) in
        [("target", &TARGET_READINGS[..], &l.target), ("observability", &STACK_READINGS[..], &l.observability)]
    {
        for (reading, levels) in map {
            let key = format!("{section}.{reading}");
            if !known.contains(&reading.as_str()) {
                let m = format!("guard.live.{key}: unknown reading (known: {})", known.join(", "));
                return Err((key, m));
            }
            for (action, limit) in levels {
                let key = format!("{section}.{reading}.{action}");
                if !ACTIONS.contains(&action.as_str()) {
                    return Err((
                        key.clone(),
                        format!("guard.live.{key}: unknown action (known: {})", ACTIONS.join(", ")),
                    ));
                }
                if !(limit.is_finite() && *limit >= 0.0) {
                    return Err((key.clone(), format!("guard.live.{key} must be a number >= 0, got {limit}")));
                }
            }
        }
    }
    if let Some(bad) = l.alert_on.iter().find(|c| !ALERT_CONDITIONS.contains(&c.as_str())) {
        let m = format!("guard.live.alert_on: {bad:?} is not a condition (known: {})", ALERT_CONDITIONS.join(", "));
        return Err(("alert_on".into(), m));
    }
    if l.in_flight_metric.is_empty()
        || !l.in_flight_metric.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':')
    {
        return Err((
            "in_flight_metric".into(),
            format!("guard.live.in_flight_metric: {:?} is not a metric name", l.in_flight_metric),
        ));
    }
    Ok(())
}

pub fn check_teardown(t: &TeardownRules) -> Result<(), (String, String)> {
    for (key, v) in [
        ("interval_s", t.interval_s),
        ("sustain_s", t.sustain_s),
        ("timeout_s", t.timeout_s),
        ("p95_factor", t.p95_factor),
    ] {
        if !(v.is_finite() && v > 0.0) {
            return Err((key.into(), format!("guard.teardown.{key} must be a number > 0, got {v}")));
        }
    }
    for (key, v) in [
        ("error_rate_margin", t.error_rate_margin),
        ("p95_margin_ms", t.p95_margin_ms),
        ("in_flight_margin", t.in_flight_margin),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err((key.into(), format!("guard.teardown.{key} must be a number >= 0, got {v}")));
        }
    }
    if t.timeout_s < t.sustain_s {
        return Err(("timeout_s".into(), "guard.teardown.timeout_s must be at least sustain_s".into()));
    }
    if crate::render::duration_ms(&t.window).is_none_or(|ms| ms < 1000) {
        return Err(("window".into(), format!("guard.teardown.window: {:?} is not a duration like 10s", t.window)));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::guard::GuardConfig;
    use crate::policy::files::PolicyFile;

    fn err(text: &str) -> String {
        let f =
            PolicyFile { rel: "data/guard.yaml".into(), name: "policies/data/guard.yaml".into(), text: text.into() };
        GuardConfig::from_files(&[f]).unwrap_err().to_string()
    }

    const LIVE: &str = "guard:\n  live:\n    interval_s: 2\n    window: 10s\n    target:\n      error_rate: { lower: 0.05 }\n    lower_factor: 0.5\n    max_lowerings: 2\n    cooldown_s: 10\n";

    #[test]
    fn the_shipped_live_and_teardown_rules_load() {
        let c = GuardConfig::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap();
        let (live, source) = c.live.unwrap();
        assert!(source.contains("policies/data/guard.yaml:"), "{source}");
        assert_eq!(live.on_missing_data, "stop", "fail closed by default");
        assert!(c.teardown.is_some());
    }

    #[test]
    fn bad_live_rules_name_file_line_and_key() {
        let e = err(&LIVE.replace("error_rate: { lower: 0.05 }", "errors: { lower: 0.05 }"));
        assert!(
            e.starts_with("policies/data/guard.yaml:6:") && e.contains("guard.live.target.errors: unknown reading"),
            "{e}"
        );
        let e = err(&LIVE.replace("{ lower: 0.05 }", "{ slow_down: 0.05 }"));
        assert!(
            e.starts_with("policies/data/guard.yaml:6:") && e.contains("unknown action (known: lower, pause, stop)"),
            "{e}"
        );
        let e = err(&LIVE.replace("lower_factor: 0.5", "lower_factor: 1.5"));
        assert!(
            e.starts_with("policies/data/guard.yaml:7:") && e.contains("lower_factor must be between 0 and 1"),
            "{e}"
        );
        let e = err(&format!("{LIVE}    on_missing_data: ignore\n"));
        assert!(e.contains("on_missing_data: \"ignore\" is neither stop nor continue"), "{e}");
        let e = err(
            "guard:\n  teardown:\n    window: 10s\n    interval_s: 1\n    sustain_s: 30\n    timeout_s: 10\n    error_rate_margin: 0.01\n    p95_factor: 1.5\n    p95_margin_ms: 20\n",
        );
        assert!(
            e.starts_with("policies/data/guard.yaml:6:") && e.contains("timeout_s must be at least sustain_s"),
            "{e}"
        );
    }
}
