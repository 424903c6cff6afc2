//! The canary analysis's policy data: the `canary` section of `policies/data/*.yaml`
//! (shipped in `policies/data/canary.yaml`), typed and checked here, handed to Rego whole as
//! `data.k6gate_canary_config`. The gate's own loader accepts the section and leaves it alone.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CanaryError;
use crate::policy::files::{PolicyFile, PolicyFiles};
use crate::stats::sequential::Schedule;

/// The metrics the analysis can compute; a rule for any other name is an error.
pub const METRICS: [&str; 4] = ["latency_p50", "latency_p95", "latency_p99", "error_rate"];

/// What the analysis is held to.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CanaryConfig {
    /// Per metric over the whole analysis: α = 1 - confidence, spent over the looks.
    pub confidence: f64,
    /// Share of α spent on early stops, evenly over the interim looks (0: never stop early).
    pub interim_alpha_share: f64,
    /// The first look (interval) that may stop the analysis early.
    pub first_look: usize,
    /// Requests each population must have served over the analysis; below it nothing but
    /// inconclusive is decided (Rego).
    pub min_requests: u64,
    /// Windows with enough requests that a latency metric needs on each side, else it has
    /// no data.
    pub min_windows: usize,
    /// Requests of a route in one window for that window's quantiles to count.
    pub min_window_requests: f64,
    /// Routes with at least this share of the stable population's requests are analysed.
    pub route_min_share: f64,
    /// Weighted score (0-100) of passing checks below which a final look rolls back (Rego).
    pub pass_score: f64,
    /// One rule per metric name (`latency_p50`, `latency_p95`, `latency_p99`, `error_rate`).
    pub metrics: BTreeMap<String, MetricRule>,
    /// Saturation where available (CPU, memory, pool use): one PromQL per name, read for each
    /// population and window; compared like latency, judged only with a `max_increase`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub saturation: BTreeMap<String, SaturationRule>,
}

/// One saturation signal.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SaturationRule {
    /// PromQL giving one number per population and window, evaluated at the window's end:
    /// `{selector}` becomes the population's matchers, `{interval}` the window (`30s`).
    /// Normalise by traffic (per request): the canary serves a small share of it.
    pub query: String,
    /// Largest allowed ratio - 1 of the canary's per-window values over the stable one's;
    /// without it the signal is only reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_increase: Option<f64>,
    #[serde(default)]
    pub critical: bool,
    #[serde(default = "one")]
    pub weight: f64,
}

/// A saturation signal's metric name in the results and the rules: `saturation_<name>`.
pub const SATURATION_PREFIX: &str = "saturation_";

/// When a metric fails.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MetricRule {
    /// Largest allowed change of canary against stable: a ratio - 1 for latency (0.15 = 15 %
    /// slower), an absolute difference for the error ratio (0.01 = one percentage point).
    pub max_increase: f64,
    /// A failure rolls back at once (at any look), whatever the other metrics say.
    #[serde(default)]
    pub critical: bool,
    /// Weight in the score of the non-critical checks.
    #[serde(default = "one")]
    pub weight: f64,
}

fn one() -> f64 {
    1.0
}

#[derive(Deserialize)]
struct File {
    canary: Option<CanaryConfig>,
}

impl CanaryConfig {
    /// The `canary` section of the policy data in `policies` (its `data/` directory).
    pub fn load(policies: &Path) -> Result<CanaryConfig, CanaryError> {
        let files = PolicyFiles::from_dir(policies)?;
        CanaryConfig::from_files(&files.data, &policies.join("data"))
    }

    /// The one `canary` section among `files`; none, two, or a bad one is an error naming the
    /// file and line.
    pub fn from_files(files: &[PolicyFile], dir: &Path) -> Result<CanaryConfig, CanaryError> {
        let mut found: Option<(CanaryConfig, &PolicyFile)> = None;
        for f in files {
            let file: Option<File> = crate::policy::locate::parse_yaml(&f.text).map_err(|e| CanaryError::Config {
                file: f.name.clone(),
                line: e.line,
                message: format!("{}: {}", e.field, e.message),
            })?;
            let Some(config) = file.and_then(|f| f.canary) else { continue };
            if let Some((_, first)) = &found {
                return Err(CanaryError::Config {
                    file: f.name.clone(),
                    line: line_of(&f.text, "canary"),
                    message: format!("canary is already set in {}", first.name),
                });
            }
            config.check().map_err(|(key, message)| CanaryError::Config {
                file: f.name.clone(),
                line: line_of(&f.text, key),
                message,
            })?;
            found = Some((config, f));
        }
        found.map(|(c, _)| c).ok_or_else(|| CanaryError::NoConfig { dir: PathBuf::from(dir) })
    }

    /// The key to blame and why, for numbers that cannot work.
    fn check(&self) -> Result<(), (&'static str, String)> {
        let bad = |key: &'static str, m: String| Err((key, m));
        if !(self.confidence > 0.5 && self.confidence < 1.0) {
            return bad("confidence", format!("canary.confidence must be in (0.5, 1), got {}", self.confidence));
        }
        if !(0.0..1.0).contains(&self.interim_alpha_share) {
            let m = format!("canary.interim_alpha_share must be in [0, 1), got {}", self.interim_alpha_share);
            return bad("interim_alpha_share", m);
        }
        if self.first_look < 2 {
            return bad("first_look", "canary.first_look must be 2 or more (a rank test needs windows)".into());
        }
        if self.min_requests == 0 {
            return bad("min_requests", "canary.min_requests must be at least 1: no traffic is never a promote".into());
        }
        if self.min_windows < 2 {
            return bad("min_windows", "canary.min_windows must be 2 or more".into());
        }
        if self.min_window_requests.is_nan() || self.min_window_requests < 1.0 {
            return bad("min_window_requests", "canary.min_window_requests must be at least 1".into());
        }
        if !(0.0..=1.0).contains(&self.route_min_share) {
            return bad("route_min_share", "canary.route_min_share must be in [0, 1]".into());
        }
        if !(0.0..=100.0).contains(&self.pass_score) {
            return bad("pass_score", "canary.pass_score must be in [0, 100]".into());
        }
        if self.metrics.is_empty() {
            return bad("metrics", "canary.metrics must name at least one metric".into());
        }
        for (name, rule) in &self.metrics {
            if !METRICS.contains(&name.as_str()) {
                return bad(
                    "metrics",
                    format!("canary.metrics: unknown metric {name:?} (known: {})", METRICS.join(", ")),
                );
            }
            if !(rule.max_increase.is_finite() && rule.max_increase >= 0.0) {
                return bad("max_increase", format!("canary.metrics.{name}.max_increase must be a number >= 0"));
            }
            if !(rule.weight.is_finite() && rule.weight > 0.0) {
                return bad("weight", format!("canary.metrics.{name}.weight must be > 0"));
            }
        }
        for (name, rule) in &self.saturation {
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
                return bad(
                    "saturation",
                    format!("canary.saturation: {name:?} must be lowercase letters, digits and _"),
                );
            }
            if !rule.query.contains("{selector}") {
                let m =
                    format!("canary.saturation.{name}.query must contain {{selector}} (each population's matchers)");
                return bad("query", m);
            }
            if rule.max_increase.is_some_and(|m| !(m.is_finite() && m >= 0.0)) {
                return bad("max_increase", format!("canary.saturation.{name}.max_increase must be a number >= 0"));
            }
            if !(rule.weight.is_finite() && rule.weight > 0.0) {
                return bad("weight", format!("canary.saturation.{name}.weight must be > 0"));
            }
        }
        Ok(())
    }

    /// How α is spent over `planned` looks.
    pub fn schedule(&self, planned: usize) -> Option<Schedule> {
        Schedule::new(1.0 - self.confidence, self.interim_alpha_share, planned, self.first_look)
    }

    /// `data` for Rego.
    pub fn rego_data(&self) -> serde_json::Value {
        serde_json::json!({ "k6gate_canary_config": self })
    }
}

/// The 1-based line of the first `key:` in `text` (1 when absent).
fn line_of(text: &str, key: &str) -> u64 {
    text.lines().position(|l| l.trim_start().starts_with(&format!("{key}:"))).map_or(1, |i| i as u64 + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, text: &str) -> PolicyFile {
        PolicyFile { rel: format!("data/{name}"), name: format!("policies/data/{name}"), text: text.into() }
    }

    #[test]
    fn the_shipped_data_loads() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
        let c = CanaryConfig::load(&root).unwrap();
        assert!(c.metrics.contains_key("error_rate") && c.metrics["error_rate"].critical);
        assert!(c.schedule(8).is_some());
    }

    #[test]
    fn errors_name_file_and_line() {
        let dir = Path::new("policies/data");
        let good =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/data/canary.yaml")).unwrap();
        let other = file("slas.yaml", "sla:\n  defaults: {p95_ms: 500}\n");
        assert!(CanaryConfig::from_files(&[other.clone(), file("canary.yaml", &good)], dir).is_ok());
        let e = CanaryConfig::from_files(std::slice::from_ref(&other), dir).unwrap_err().to_string();
        assert!(e.contains("no canary section"), "{e}");
        let twice = CanaryConfig::from_files(&[file("a.yaml", &good), file("b.yaml", &good)], dir);
        assert!(twice.unwrap_err().to_string().contains("already set in policies/data/a.yaml"));
        let bad = good.replace("confidence: 0.95", "confidence: 1.5");
        let e = CanaryConfig::from_files(&[file("canary.yaml", &bad)], dir).unwrap_err().to_string();
        let line = good.lines().position(|l| l.trim_start().starts_with("confidence:")).unwrap() + 1;
        assert!(e.starts_with(&format!("policies/data/canary.yaml:{line}: ")), "{e}");
        let unknown = good.replace("latency_p50:", "latency_p42:");
        let e = CanaryConfig::from_files(&[file("canary.yaml", &unknown)], dir).unwrap_err().to_string();
        assert!(e.contains("unknown metric \"latency_p42\""), "{e}");
        let typo = good.replace("min_windows:", "min_windowz:");
        let e = CanaryConfig::from_files(&[file("canary.yaml", &typo)], dir).unwrap_err().to_string();
        assert!(e.contains("min_windowz"), "{e}");
    }

    #[test]
    fn saturation_needs_a_selector_and_a_plain_name() {
        let dir = Path::new("policies/data");
        let good =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/data/canary.yaml")).unwrap();
        let with = |entry: &str| format!("{good}  saturation:\n{entry}");
        let ok = with("    cpu: { query: 'sum(rate(cpu{{selector}}[{interval}]))', max_increase: 0.5 }\n");
        let c = CanaryConfig::from_files(&[file("canary.yaml", &ok)], dir).unwrap();
        assert_eq!(c.saturation["cpu"].max_increase, Some(0.5));
        assert!(!c.saturation["cpu"].critical);
        let e = CanaryConfig::from_files(&[file("canary.yaml", &with("    cpu: { query: 'sum(cpu)' }\n"))], dir);
        assert!(e.unwrap_err().to_string().contains("must contain {selector}"));
        let e = CanaryConfig::from_files(&[file("canary.yaml", &with("    CPU: { query: 'x{{selector}}' }\n"))], dir);
        assert!(e.unwrap_err().to_string().contains("lowercase letters"));
    }
}
