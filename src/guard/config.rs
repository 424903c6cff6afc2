//! The guard's policy data: the `guard` section of `policies/data/*.yaml` (shipped in
//! `policies/data/guard.yaml`), typed and checked here. The gate's own loader accepts the
//! section and leaves it alone, as it does the canary's.
//!
//! - `windows`: per environment, the off-peak slots (UTC) a load test may start in, and
//!   whether the policy lets a run override them (`allow_override`, default false). An
//!   environment not listed may be loaded at any time.
//! - `preflight`: what `k6gate preflight` holds the monitoring stack and the target to.
//!
//! Every error names the file, line and column of the key to blame.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::window::{self, DAYS, Segment};
use crate::policy::PolicyError;
use crate::policy::files::{PolicyFile, PolicyFiles};
use crate::policy::locate::{Seg, locate, parse_yaml};

#[derive(Debug, Deserialize)]
struct File {
    guard: Option<GuardSection>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GuardSection {
    #[serde(default)]
    windows: BTreeMap<String, EnvWindows>,
    preflight: Option<PreflightRules>,
    live: Option<super::live_rules::LiveRules>,
    teardown: Option<super::live_rules::TeardownRules>,
    #[serde(default)]
    readonly: BTreeMap<String, super::readonly::ReadonlyEnv>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvWindows {
    #[serde(default)]
    allow_override: bool,
    slots: Vec<Slot>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Slot {
    days: Vec<String>,
    from: String,
    to: String,
}

/// One environment's off-peak windows, as Rego and the next-slot search read them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Windows {
    pub allow_override: bool,
    pub segments: Vec<Segment>,
    /// `file:line` of the environment's entry, for messages.
    pub source: String,
}

/// What preflight holds the stack and the target to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreflightRules {
    /// The reference query must answer within this many milliseconds.
    pub query_sla_ms: f64,
    /// PromQL that must answer with at least one series (say `count(up)`).
    #[serde(default = "reference_query")]
    pub reference_query: String,
    /// Every rule group must have been evaluated within this many seconds (or twice its
    /// interval, when that is longer), every rule with health `ok`.
    pub rule_evaluation_max_age_s: f64,
    /// The watchdog alert must have reached each Alertmanager within this many seconds.
    pub watchdog_max_age_s: f64,
    pub target: TargetRules,
    /// A refused preflight suggests trying again this many minutes later (at the next
    /// off-peak slot from then on, when the environment has windows).
    pub reschedule_after_min: u32,
}

fn reference_query() -> String {
    "count(up)".into()
}

/// The target's health from its own metrics, over the last `window`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetRules {
    /// A Prometheus duration: `5m`.
    pub window: String,
    /// 5xx share of its requests.
    pub max_error_rate: f64,
    pub max_p95_ms: f64,
    /// Fewer requests than this in the window cannot show the target healthy: refused.
    pub min_requests: f64,
    #[serde(default = "requests_metric")]
    pub requests_metric: String,
    #[serde(default = "duration_metric")]
    pub duration_metric: String,
}

fn requests_metric() -> String {
    "http_server_requests_total".into()
}

fn duration_metric() -> String {
    "http_server_request_duration_seconds".into()
}

/// The guard's policy, checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GuardConfig {
    pub windows: BTreeMap<String, Windows>,
    /// `None` when no file sets it: preflight then refuses (it has nothing to hold to).
    pub preflight: Option<(PreflightRules, String)>,
    /// The live guard's thresholds (`guard.live`); `None`: an environment with `live_guard`
    /// is refused (nothing to guard by).
    pub live: Option<(super::live_rules::LiveRules, String)>,
    /// Teardown verification (`guard.teardown`).
    pub teardown: Option<(super::live_rules::TeardownRules, String)>,
    /// Per environment, the Grafana folders made view-only while its load tests run
    /// (`guard.readonly`), with `file:line`.
    pub readonly: BTreeMap<String, (super::readonly::ReadonlyEnv, String)>,
}

fn data_error(f: &PolicyFile, at: &[Seg<'_>], message: String) -> PolicyError {
    let (line, col) = locate(&f.text, at);
    PolicyError::Data { path: f.name.clone().into(), line, col, message }
}

impl GuardConfig {
    /// The `guard` sections of the policy data in `policies` (its `data/` directory).
    pub fn load(policies: &Path) -> Result<GuardConfig, PolicyError> {
        GuardConfig::from_files(&PolicyFiles::from_dir(policies)?.data)
    }

    /// Windows merge across files (an environment once); `preflight` is set once.
    pub fn from_files(files: &[PolicyFile]) -> Result<GuardConfig, PolicyError> {
        let mut out = GuardConfig::default();
        for f in files {
            let file: Option<File> = parse_yaml(&f.text).map_err(|e| PolicyError::Data {
                path: f.name.clone().into(),
                line: e.line,
                col: e.col,
                message: format!("{}: {}", e.field, e.message),
            })?;
            let Some(guard) = file.and_then(|f| f.guard) else { continue };
            for (env, w) in guard.windows {
                let at = [Seg::Key("guard"), Seg::Key("windows"), Seg::Key(&env)];
                if let Some(first) = out.windows.get(&env) {
                    return Err(data_error(f, &at, format!("guard.windows.{env} is already set at {}", first.source)));
                }
                if w.slots.is_empty() {
                    let m = format!(
                        "guard.windows.{env}.slots: list at least one slot (or remove {env} to allow any time)"
                    );
                    return Err(data_error(f, &at, m));
                }
                let mut segments = Vec::new();
                for (i, slot) in w.slots.iter().enumerate() {
                    let here = |key: &'static str| {
                        [
                            Seg::Key("guard"),
                            Seg::Key("windows"),
                            Seg::Key(&env),
                            Seg::Key("slots"),
                            Seg::Index(i),
                            Seg::Key(key),
                        ]
                    };
                    let mut days = Vec::new();
                    for d in &slot.days {
                        let Some(n) = DAYS.iter().position(|x| x.eq_ignore_ascii_case(d)) else {
                            let m = format!(
                                "guard.windows.{env}.slots[{i}].days: unknown day {d:?} (known: {})",
                                DAYS.join(", ")
                            );
                            return Err(data_error(f, &here("days"), m));
                        };
                        days.push(n);
                    }
                    if days.is_empty() {
                        return Err(data_error(
                            f,
                            &here("days"),
                            format!("guard.windows.{env}.slots[{i}].days: list at least one day"),
                        ));
                    }
                    let time = |key: &'static str, v: &str| {
                        window::minute_of_day(v).ok_or_else(|| {
                            let m = format!(
                                "guard.windows.{env}.slots[{i}].{key}: {v:?} is not a UTC time HH:MM (00:00 to 24:00)"
                            );
                            data_error(f, &here(key), m)
                        })
                    };
                    let (from, to) = (time("from", &slot.from)?, time("to", &slot.to)?);
                    if from == window::MINUTES_PER_DAY {
                        return Err(data_error(
                            f,
                            &here("from"),
                            format!("guard.windows.{env}.slots[{i}].from: a slot cannot start at 24:00"),
                        ));
                    }
                    if from == to {
                        let m = format!(
                            "guard.windows.{env}.slots[{i}]: from and to are equal (use 00:00 to 24:00 for a whole day)"
                        );
                        return Err(data_error(f, &here("to"), m));
                    }
                    segments.extend(window::segments(&days, from, to));
                }
                segments.sort_by_key(|s| (s.start, s.end));
                let source = format!("{}:{}", f.name, locate(&f.text, &at).0);
                out.windows.insert(env, Windows { allow_override: w.allow_override, segments, source });
            }
            if let Some(p) = guard.preflight {
                let at = [Seg::Key("guard"), Seg::Key("preflight")];
                if let Some((_, first)) = &out.preflight {
                    return Err(data_error(f, &at, format!("guard.preflight is already set at {first}")));
                }
                check_preflight(&p).map_err(|(key, m)| {
                    let mut at = at.to_vec();
                    at.extend(key.split('.').map(Seg::Key));
                    data_error(f, &at, m)
                })?;
                out.preflight = Some((p, format!("{}:{}", f.name, locate(&f.text, &at).0)));
            }
            if let Some(l) = guard.live {
                let at = [Seg::Key("guard"), Seg::Key("live")];
                if let Some((_, first)) = &out.live {
                    return Err(data_error(f, &at, format!("guard.live is already set at {first}")));
                }
                super::live_rules::check_live(&l).map_err(|(key, m)| {
                    let mut at = at.to_vec();
                    at.extend(key.split('.').map(Seg::Key));
                    data_error(f, &at, m)
                })?;
                out.live = Some((l, format!("{}:{}", f.name, locate(&f.text, &at).0)));
            }
            if let Some(t) = guard.teardown {
                let at = [Seg::Key("guard"), Seg::Key("teardown")];
                if let Some((_, first)) = &out.teardown {
                    return Err(data_error(f, &at, format!("guard.teardown is already set at {first}")));
                }
                super::live_rules::check_teardown(&t).map_err(|(key, m)| {
                    let mut at = at.to_vec();
                    at.extend(key.split('.').map(Seg::Key));
                    data_error(f, &at, m)
                })?;
                out.teardown = Some((t, format!("{}:{}", f.name, locate(&f.text, &at).0)));
            }
            for (env, r) in guard.readonly {
                let at = [Seg::Key("guard"), Seg::Key("readonly"), Seg::Key(&env)];
                if let Some((_, first)) = out.readonly.get(&env) {
                    return Err(data_error(f, &at, format!("guard.readonly.{env} is already set at {first}")));
                }
                r.check().map_err(|m| data_error(f, &at, format!("guard.readonly.{env}.{m}")))?;
                let source = format!("{}:{}", f.name, locate(&f.text, &at).0);
                out.readonly.insert(env, (r, source));
            }
        }
        Ok(out)
    }

    /// `data.k6gate_guard_config` for Rego.
    pub fn rego_data(&self) -> serde_json::Value {
        let live = self.live.as_ref().map(|(l, source)| serde_json::json!({ "rules": l, "source": source }));
        serde_json::json!({ "k6gate_guard_config": { "windows": self.windows, "live": live } })
    }
}

/// The key to blame and why, for numbers that cannot work.
fn check_preflight(p: &PreflightRules) -> Result<(), (&'static str, String)> {
    let positive = |key: &'static str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(())
        } else {
            Err((key, format!("guard.preflight.{key} must be a number > 0, got {v}")))
        }
    };
    positive("query_sla_ms", p.query_sla_ms)?;
    positive("rule_evaluation_max_age_s", p.rule_evaluation_max_age_s)?;
    positive("watchdog_max_age_s", p.watchdog_max_age_s)?;
    positive("target.max_p95_ms", p.target.max_p95_ms)?;
    if !(0.0..=1.0).contains(&p.target.max_error_rate) {
        return Err(("target.max_error_rate", "guard.preflight.target.max_error_rate must be in [0, 1]".into()));
    }
    if !(p.target.min_requests.is_finite() && p.target.min_requests >= 1.0) {
        let m = "guard.preflight.target.min_requests must be at least 1: no traffic cannot show the target healthy";
        return Err(("target.min_requests", m.into()));
    }
    if crate::render::duration_ms(&p.target.window).is_none_or(|ms| ms < 1000) {
        return Err((
            "target.window",
            format!("guard.preflight.target.window: {:?} is not a duration like 5m", p.target.window),
        ));
    }
    if p.reference_query.trim().is_empty() {
        return Err(("reference_query", "guard.preflight.reference_query must not be empty".into()));
    }
    for (key, m) in
        [("target.requests_metric", &p.target.requests_metric), ("target.duration_metric", &p.target.duration_metric)]
    {
        if m.is_empty() || !m.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b':') {
            return Err((key, format!("guard.preflight.{key}: {m:?} is not a metric name")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> PolicyFile {
        PolicyFile { rel: "data/guard.yaml".into(), name: "policies/data/guard.yaml".into(), text: text.into() }
    }

    fn err(text: &str) -> String {
        GuardConfig::from_files(&[file(text)]).unwrap_err().to_string()
    }

    #[test]
    fn the_shipped_policy_loads() {
        let c = GuardConfig::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap();
        assert!(c.windows.contains_key("prod-sim"));
        assert!(!c.windows.contains_key("dev"), "dev may be loaded at any time");
        assert!(c.preflight.is_some());
    }

    #[test]
    fn bad_windows_name_file_line_and_column() {
        let text = "guard:\n  windows:\n    staging:\n      slots:\n        - days: [mon, funday]\n          from: \"20:00\"\n          to: \"06:00\"\n";
        let e = err(text);
        assert!(e.starts_with("policies/data/guard.yaml:5:"), "{e}");
        assert!(e.contains("unknown day \"funday\""), "{e}");
        let e = err(
            "guard:\n  windows:\n    staging:\n      slots:\n        - days: [mon]\n          from: \"8pm\"\n          to: \"06:00\"\n",
        );
        assert!(e.starts_with("policies/data/guard.yaml:6:") && e.contains("not a UTC time HH:MM"), "{e}");
        let e = err("guard:\n  windows:\n    staging:\n      slot: []\n");
        assert!(e.contains("unknown field `slot`"), "{e}");
        let e = err("guard:\n  windows:\n    staging:\n      slots: []\n");
        assert!(e.contains("list at least one slot"), "{e}");
    }

    #[test]
    fn a_whole_day_is_one_segment_and_a_night_crosses_midnight() {
        let text = "guard:\n  windows:\n    prod-sim:\n      slots:\n        - { days: [sat], from: \"00:00\", to: \"24:00\" }\n        - { days: [fri], from: \"22:00\", to: \"02:00\" }\n";
        let c = GuardConfig::from_files(&[file(text)]).unwrap();
        let w = &c.windows["prod-sim"];
        let day = window::MINUTES_PER_DAY;
        assert_eq!(
            w.segments,
            vec![Segment { start: 4 * day + 22 * 60, end: 5 * day + 120 }, Segment { start: 5 * day, end: 6 * day }]
        );
        assert_eq!(w.source, "policies/data/guard.yaml:3");
        assert!(!w.allow_override, "no override unless the policy says so");
    }

    #[test]
    fn bad_preflight_numbers_name_their_key() {
        let text = "guard:\n  preflight:\n    query_sla_ms: 500\n    rule_evaluation_max_age_s: 60\n    watchdog_max_age_s: 0\n    reschedule_after_min: 30\n    target: { window: 5m, max_error_rate: 0.01, max_p95_ms: 500, min_requests: 10 }\n";
        let e = err(text);
        assert!(
            e.starts_with("policies/data/guard.yaml:5:") && e.contains("watchdog_max_age_s must be a number > 0"),
            "{e}"
        );
    }
}
