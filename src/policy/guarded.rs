//! What the load-test guard did during and after a run, as the verdict carries it
//! (`Verdict.guard`): every action on k6 with its reason, the numbers behind it and its time,
//! and the teardown verification. Filled in by `src/guard/live.rs` and `teardown.rs`; here so
//! that the verdict (and the report) can hold it without knowing the guard.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// One reading of the target and the monitoring stack; `None`: missing (no answer, no series,
/// no traffic).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Reading {
    /// 5xx share of the target's requests over the window.
    pub error_rate: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Requests in flight in the target (its gauge).
    pub in_flight: Option<f64>,
    /// The slowest of this reading's Prometheus queries (ms).
    pub query_ms: Option<f64>,
    /// The slowest rule group's last evaluation (s, `prometheus_rule_group_last_duration_seconds`).
    pub rule_lag_s: Option<f64>,
    /// Rule evaluations that failed over the window (`prometheus_rule_evaluation_failures_total`).
    pub rule_failures: Option<f64>,
    /// Seconds from the guard's watchdog probe reaching one Alertmanager to every one showing
    /// it (`guard::watchdog`), when the policy holds it to a limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert_delivery_s: Option<f64>,
}

impl Reading {
    /// `error rate 2.00 %, P95 31.0 ms, in flight 4, ...`: the numbers for a sentence. The
    /// target's are always named (`missing` when missing); the stack's only when read.
    pub fn describe(&self) -> String {
        let f = |v: Option<f64>, unit: &dyn Fn(f64) -> String| v.map_or("missing".to_string(), unit);
        let mut out = format!(
            "error rate {}, P95 {}, in flight {}",
            f(self.error_rate, &|v| format!("{:.2} %", v * 100.0)),
            f(self.p95_ms, &|v| format!("{v:.1} ms")),
            f(self.in_flight, &|v| format!("{v:.0}")),
        );
        let stack = [
            ("query", self.query_ms.map(|v| format!("{v:.0} ms"))),
            ("rule evaluation", self.rule_lag_s.map(|v| format!("{v:.3} s"))),
            ("rule failures", self.rule_failures.map(|v| format!("{v:.0}"))),
            ("alert delivery", self.alert_delivery_s.map(|v| format!("{v:.3} s"))),
        ];
        for (name, v) in stack {
            if let Some(v) = v {
                out.push_str(&format!(", {name} {v}"));
            }
        }
        out
    }
}

/// One action the guard took (or tried to take) on k6.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuardAction {
    /// `lower`, `pause`, `resume` or `stop`.
    pub action: String,
    /// When it was applied (RFC 3339, UTC).
    pub at: String,
    /// Seconds after k6's test started.
    pub t_s: f64,
    /// Rego's reason: which limits were crossed, by how much.
    pub reason: String,
    /// The reading behind it.
    pub reading: Reading,
    /// k6's active VUs before and after (when k6 said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus_before: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus_after: Option<u64>,
    /// From the start of the reading to k6's answer to the action (ms): the guard's own share
    /// of the reaction time (the scrape interval and the window come on top).
    pub took_ms: f64,
    /// Why k6 did not take it, when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One reading after k6 stopped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct TeardownSample {
    /// Seconds after k6 stopped.
    pub t_s: f64,
    pub error_rate: Option<f64>,
    pub p95_ms: Option<f64>,
    pub in_flight: Option<f64>,
    /// Back within the baseline at this reading.
    pub within: bool,
}

/// Teardown verification: is the target back to how it was before the test?
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Teardown {
    pub recovered: bool,
    /// Seconds from k6's end to the start of the sustained healthy stretch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_in_s: Option<f64>,
    /// The target before k6 started.
    pub baseline: Reading,
    /// What "back" means: error rate, P95 and in-flight at most these.
    pub max_error_rate: Option<f64>,
    pub max_p95_ms: Option<f64>,
    pub max_in_flight: Option<f64>,
    /// `recovered in N s`, or the residual impact and why.
    pub summary: String,
    /// Every reading after k6 stopped: the evidence.
    pub samples: Vec<TeardownSample>,
    /// `file:line` of the rules.
    pub rules: String,
}

/// The guard's record of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct GuardRecord {
    /// `file:line` of `guard.live`.
    pub rules: String,
    /// k6's scenario could be scaled and paused (externally-controlled); else only stopped.
    pub scalable: bool,
    /// Readings taken while k6 ran, and the Prometheus queries they made.
    pub readings: u64,
    pub queries: u64,
    /// The guard's own load on Prometheus while k6 ran.
    pub queries_per_s: f64,
    pub actions: Vec<GuardAction>,
    /// What went wrong in the guard itself (an API call that failed while driving the VUs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub teardown: Option<Teardown>,
    /// The guard's own critical conditions, sent as alerts, and which path delivered each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertDelivery>,
}

impl GuardRecord {
    /// The action that stopped k6, if one did.
    pub fn stopped(&self) -> Option<&GuardAction> {
        self.actions.iter().find(|a| a.action == "stop" && a.error.is_none())
    }

    /// Whether the guard changed the load k6 applied (a run that is then never a baseline).
    pub fn acted(&self) -> bool {
        self.actions.iter().any(|a| a.error.is_none())
    }
}

/// One of the guard's critical alerts (`src/guard/alerting.rs`) and how it went out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlertDelivery {
    /// The alert's name (`K6gateGuardStoppedK6`, `K6gateObservabilityLost`).
    pub alert: String,
    /// When it was sent (RFC 3339, UTC).
    pub at: String,
    pub summary: String,
    /// `alertmanager` (at least one accepted it; the cluster deduplicates), `webhook` (no
    /// Alertmanager could be reached: the notification webhook took it) or `none` (nothing
    /// took it: see `errors`).
    pub path: String,
    /// The Alertmanagers that accepted it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub accepted_by: Vec<String>,
    /// Why each path that failed failed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// From the first attempt to the delivering answer (ms).
    pub took_ms: f64,
}
