//! The environment's trace backend (`traces:`): where `run` reads the run's traces after k6
//! and writes k6's side of them (README, "Where the time goes"). Strict like the other
//! sections: unknown keys, URLs that are not http(s), durations that do not parse and
//! bounds out of range are errors naming the field and its line.
//!
//! ```yaml
//! traces:
//!   tempo: http://tempo:3200            # Tempo's query frontend
//!   tenant: k6                          # X-Scope-OrgID (optional)
//!   otlp: http://tempo:4318/v1/traces   # OTLP/HTTP endpoint for k6's spans (optional)
//!   export_client_spans: true           # default: true when `otlp` is given
//!   settle: { fetches: 4, interval: 2s, budget: 2m }
//!   expect: [api, db]                   # components every request reaches
//!   gateway: gateway                    # the load balancer's component
//! ```

use serde::{Deserialize, Serialize};

use super::duration_ms;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TracesConfig {
    /// Tempo's query frontend (`http://tempo:3200`).
    pub tempo: String,
    /// Tempo's (and the OTLP endpoint's) tenant, sent as `X-Scope-OrgID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// The OTLP/HTTP traces endpoint k6's side is written to (JSON encoding).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp: Option<String>,
    /// Write k6's side (a root span per traced request, `measure()` timers under it) before
    /// the traces are read; default: when `otlp` is given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_client_spans: Option<bool>,
    /// How long the traces are given to settle.
    #[serde(default)]
    pub settle: SettleConfig,
    /// Components every request is expected to reach: without their span, their time is
    /// unknown (`missing_leaf`), never zero, and coverage floors can count it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub expect: Vec<String>,
    /// The gateway / load balancer component: its span covers the LB's time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
}

/// Fetches of each trace until its span count is stable, the wait between them, and the
/// bound on the whole settle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettleConfig {
    #[serde(default = "default_fetches")]
    pub fetches: u32,
    #[serde(default = "default_interval")]
    pub interval: String,
    #[serde(default = "default_budget")]
    pub budget: String,
}

fn default_fetches() -> u32 {
    4
}
fn default_interval() -> String {
    "2s".into()
}
fn default_budget() -> String {
    "2m".into()
}

impl Default for SettleConfig {
    fn default() -> SettleConfig {
        SettleConfig { fetches: default_fetches(), interval: default_interval(), budget: default_budget() }
    }
}

impl TracesConfig {
    /// Whether k6's side is written.
    pub fn exports(&self) -> bool {
        self.export_client_spans.unwrap_or(self.otlp.is_some())
    }

    pub fn interval_ms(&self) -> u64 {
        duration_ms(&self.settle.interval).unwrap_or(2_000)
    }

    pub fn budget_ms(&self) -> u64 {
        duration_ms(&self.settle.budget).unwrap_or(120_000)
    }

    /// The first problem: the field below `traces` and what is wrong.
    pub fn validate(&self) -> Result<(), (String, String)> {
        let url = |field: &str, u: &str| {
            if u.starts_with("http://") || u.starts_with("https://") {
                Ok(())
            } else {
                Err((field.to_string(), format!("{u:?} is not an http:// or https:// URL")))
            }
        };
        url("tempo", &self.tempo)?;
        if let Some(o) = &self.otlp {
            url("otlp", o)?;
        }
        if self.export_client_spans == Some(true) && self.otlp.is_none() {
            return Err(("export_client_spans".into(), "k6's spans need an endpoint: give `otlp`".into()));
        }
        if let Some(t) = &self.tenant {
            if t.trim().is_empty() || t.contains(['\r', '\n']) {
                return Err(("tenant".into(), format!("{t:?} is not a tenant id")));
            }
        }
        if !(2..=100).contains(&self.settle.fetches) {
            return Err((
                "settle.fetches".into(),
                format!("{} is not in 2..=100 (stability is two equal span counts in a row)", self.settle.fetches),
            ));
        }
        for (field, d) in [("settle.interval", &self.settle.interval), ("settle.budget", &self.settle.budget)] {
            duration_ms(d).ok_or_else(|| (field.to_string(), format!("{d:?} is not a duration like 2s or 1m30s")))?;
        }
        for (i, c) in self.expect.iter().enumerate() {
            if c.trim().is_empty() {
                return Err((format!("expect[{i}]"), "an empty component name".into()));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_the_first_problem_by_field() {
        let c: TracesConfig = yaml_serde::from_str("tempo: http://t:3200\n").unwrap();
        assert_eq!((c.exports(), c.settle.fetches, c.interval_ms(), c.budget_ms()), (false, 4, 2_000, 120_000));
        assert_eq!(c.validate(), Ok(()));
        let c: TracesConfig = yaml_serde::from_str("tempo: http://t:3200\notlp: http://t:4318/v1/traces\n").unwrap();
        assert!(c.exports());
        let bad = |yaml: &str| yaml_serde::from_str::<TracesConfig>(yaml).unwrap().validate().unwrap_err().0;
        assert_eq!(bad("tempo: t:3200\n"), "tempo");
        assert_eq!(bad("tempo: http://t\nexport_client_spans: true\n"), "export_client_spans");
        assert_eq!(bad("tempo: http://t\nsettle: {fetches: 1}\n"), "settle.fetches");
        assert_eq!(bad("tempo: http://t\nsettle: {budget: soon}\n"), "settle.budget");
        assert_eq!(bad("tempo: http://t\ntenant: ''\n"), "tenant");
        assert!(yaml_serde::from_str::<TracesConfig>("tempo: http://t\ntempoo: x\n").is_err());
    }
}
