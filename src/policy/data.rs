//! Policy data: SLAs, regression budgets, migration windows and waivers, read from
//! `policies/data/*.yaml`, validated, and handed to Rego as `data.k6gate`.
//!
//! Every file is a map with any of the sections `sla`, `budgets`, `migration_windows` and
//! `waivers`; lists merge across files (one waiver per file works), `defaults` may be given
//! once. Unknown keys are errors. Every error names the file, line and column. `retention`
//! and `cardinality` (label allowlist and series budgets, `cardinality.rs`) are set once and
//! are not Rego's: the run and prune read them typed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::PolicyError;
use super::cardinality::{CardinalityPolicy, CardinalitySection};
use super::files::{self, PolicyFile};
use super::locate::{Seg, locate};
use super::retention::{RetentionPolicy, RetentionSection};
use crate::compare::Metric;
use crate::time::parse_rfc3339_ns;
use crate::trend::changepoints::{Decision, Measure, Review};

/// Waivers are one-off overrides: never longer than this.
pub const MAX_WAIVER_DAYS: i64 = 30;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct DataFile {
    /// The canary analysis's section (`policies/data/canary.yaml`): read and checked by
    /// `crate::canary::config`, not by the gate.
    #[expect(dead_code, reason = "only accepted here; the canary analysis reads it")]
    canary: Option<serde::de::IgnoredAny>,
    /// The load-test guard's section (`policies/data/guard.yaml`: off-peak windows, preflight
    /// thresholds): read and checked by `crate::guard::config`, not by the gate.
    #[expect(dead_code, reason = "only accepted here; the guard reads it")]
    guard: Option<serde::de::IgnoredAny>,
    sla: Option<SlaSection>,
    budgets: Option<BudgetSection>,
    migration_windows: Option<Vec<Window>>,
    waivers: Option<Vec<Waiver>>,
    /// Who may approve waiver and migration-window PRs (logins or `org/team`), besides the
    /// files' CODEOWNERS.
    approvers: Option<Vec<String>>,
    notifications: Option<Notifications>,
    /// Change points found in the run history that someone reviewed.
    changepoints: Option<Vec<ChangePointReview>>,
    /// Retention classes and which tests they apply to (`retention.yaml`).
    retention: Option<RetentionSection>,
    /// Label allowlist, per-run labels and series budgets (`cardinality.yaml`).
    cardinality: Option<CardinalitySection>,
    /// The adequacy check's section (`policies/data/adequacy.yaml`): read and checked by
    /// `crate::adequacy::config`, not by the gate.
    #[expect(dead_code, reason = "only accepted here; the adequacy check reads it")]
    adequacy: Option<serde::de::IgnoredAny>,
    /// Per-component SLAs and coverage floors from the trace breakdown (`traces.yaml`).
    traces: Option<super::traces::TracesSection>,
}

/// Where blocked deployments are announced, and when to escalate.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Notifications {
    /// Environment variable holding the Slack-compatible webhook URL (a secret, so not here).
    #[serde(default = "default_webhook_env")]
    pub webhook_url_env: String,
    pub escalation: Option<Escalation>,
    /// Owning team and its lead, per test (service).
    #[serde(default)]
    pub owners: BTreeMap<String, Owner>,
}

fn default_webhook_env() -> String {
    "K6GATE_WEBHOOK_URL".into()
}

fn default_escalation_env() -> String {
    "K6GATE_ESCALATION_WEBHOOK_URL".into()
}

/// Blocked `after` times within `within_days` days: the other route, and the lead mentioned.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Escalation {
    pub after: u32,
    pub within_days: u32,
    #[serde(default = "default_escalation_env")]
    pub webhook_url_env: String,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Owner {
    pub team: String,
    /// How the chat tool mentions the lead, for example `<@U024BE7LH>`.
    pub lead: String,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p95_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_rate: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub requests_per_s: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SlaSection {
    defaults: Option<Limits>,
    #[serde(default)]
    tests: Vec<SlaEntry>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SlaEntry {
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// Endpoint group (`POST checkout`); absent = all requests.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate: Option<f64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct BudgetSection {
    defaults: Option<Limits>,
    significance: Option<Significance>,
    history: Option<HistoryRules>,
    #[serde(default)]
    tests: Vec<BudgetEntry>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Significance {
    /// A change is significant when its p-value is below this.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpha: Option<f64>,
    /// Relative changes whose confidence interval does not clear this are noise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub noise_floor: Option<f64>,
    /// Confidence level of the intervals (default 0.95).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// Over budget, significant within the run, with a between-run p-value below this (but
    /// not below `alpha`) warns; otherwise the change is inside the baseline runs' spread and
    /// passes (default 0.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warn_alpha: Option<f64>,
    /// An endpoint group's P99 is budgeted only when both sides have at least this many
    /// requests (default 1000: ten in the slowest 1 %); all requests always are.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub p99_min_requests: Option<u64>,
}

/// How decisions use the run history (`budgets.history`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryRules {
    /// The baseline is the last this many accepted runs (default 5).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_runs: Option<u32>,
    /// In CI, a FAIL near the budget is re-run up to this many times before it blocks
    /// (default 1; `run --confirm N` overrides it, locally the default is 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm_in_ci: Option<u32>,
}

/// Most baseline runs a policy may ask for: more only slows every run down.
pub const MAX_BASELINE_RUNS: u32 = 20;
/// Most confirmation re-runs a policy may ask for.
pub const MAX_CONFIRM_RUNS: u32 = 5;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BudgetEntry {
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub error_rate: Option<f64>,
    pub requests_per_s: Option<f64>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Window {
    pub id: String,
    pub test: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub environments: Vec<String>,
    pub metrics: Vec<String>,
    /// Added to the budget of each listed metric while the window is open.
    pub extra_regression: f64,
    /// Absolute limits that hold even inside the window.
    #[serde(default)]
    pub ceiling: BTreeMap<String, f64>,
    pub owner: String,
    pub reason: String,
    pub start: String,
    pub expires: String,
    /// Version of the baseline pinned before the window opened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_version: Option<String>,
    /// `start` and `expires` as Unix ns, set by the loader (never read from the file).
    #[serde(default, skip_deserializing)]
    pub start_ns: i64,
    #[serde(default, skip_deserializing)]
    pub expires_ns: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    pub id: String,
    pub test: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    pub metric: String,
    /// The deployment_version it covers.
    pub version: String,
    pub justification: String,
    pub requested_by: String,
    pub approved_by: String,
    pub created: String,
    pub expires: String,
    /// `created` and `expires` as Unix ns, set by the loader (never read from the file).
    #[serde(default, skip_deserializing)]
    pub created_ns: i64,
    #[serde(default, skip_deserializing)]
    pub expires_ns: i64,
}

/// A change point of the run history (`k6gate history changepoints`) that someone looked at,
/// reviewed like any policy data: through a pull request. `accepted`: the shift is the new
/// normal, and the history restarts at its run (the change-point search and the multi-run
/// baseline start there); `dismissed`: not a change worth acting on. Either way it no longer
/// alerts.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePointReview {
    pub test: String,
    pub environment: String,
    /// `p50_ms`, `p95_ms`, `p99_ms`, `error_rate` or `requests_per_s`.
    pub metric: String,
    /// The run id where the change starts, as `history changepoints` names it.
    pub run: String,
    pub decision: Decision,
    pub reason: String,
    pub reviewed_by: String,
}

/// Where an entry came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct Source {
    pub file: String,
    pub line: u64,
}

/// An entry of policy data and the file and line it was written at.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sourced<T> {
    pub entry: T,
    pub source: Source,
}

/// All policy data, validated and typed. Rego sees it through [`PolicyData::rego_data`],
/// the one conversion to JSON.
#[derive(Debug, Clone, Default)]
pub struct PolicyData {
    pub files: Vec<PathBuf>,
    pub sla_defaults: Sourced<Limits>,
    pub sla_tests: Vec<Sourced<SlaEntry>>,
    pub budget_defaults: Sourced<Limits>,
    pub budget_tests: Vec<Sourced<BudgetEntry>>,
    pub significance: Option<Significance>,
    pub history: Option<HistoryRules>,
    pub windows: Vec<Sourced<Window>>,
    pub waivers: Vec<Sourced<Waiver>>,
    pub approvers: Vec<String>,
    pub notifications: Option<Notifications>,
    pub changepoints: Vec<Sourced<ChangePointReview>>,
    /// How long stored data lives (`k6gate history prune`); `None` when no file sets it.
    pub retention: Option<RetentionPolicy>,
    /// Which labels series may carry and how many a run may create; `None` when no file sets it.
    pub cardinality: Option<CardinalityPolicy>,
    /// Per-component SLAs and coverage floors (`policy::traces`), for Rego.
    pub traces: Vec<Sourced<super::traces::TraceRules>>,
}

impl PolicyData {
    /// The data without the listed waivers and migration windows (ids), for when they are
    /// not honoured.
    pub fn without(&self, waivers: &[&str], windows: &[&str]) -> PolicyData {
        let mut out = self.clone();
        out.waivers.retain(|w| !waivers.contains(&w.entry.id.as_str()));
        out.windows.retain(|w| !windows.contains(&w.entry.id.as_str()));
        out
    }

    /// The reviewed change points of `test` in `environment`, as the search takes them.
    pub fn changepoint_reviews(&self, test: &str, environment: &str) -> Vec<Review> {
        self.changepoints
            .iter()
            .filter(|c| c.entry.test == test && c.entry.environment == environment)
            .filter_map(|c| {
                Some(Review {
                    metric: Measure::from_name(&c.entry.metric)?,
                    run: c.entry.run.clone(),
                    decision: c.entry.decision,
                    source: format!("{}:{}", c.source.file, c.source.line),
                })
            })
            .collect()
    }

    /// The run the history of `test` in `environment` restarts at: the latest accepted change
    /// point's (run ids sort by start time), over all metrics. A baseline built from several
    /// runs starts there; `None` when no change point was accepted.
    pub fn accepted_since(&self, test: &str, environment: &str) -> Option<&str> {
        self.changepoints
            .iter()
            .map(|c| &c.entry)
            .filter(|c| c.test == test && c.environment == environment && c.decision == Decision::Accepted)
            .map(|c| c.run.as_str())
            .max()
    }

    pub fn confidence(&self) -> f64 {
        self.significance.as_ref().and_then(|s| s.confidence).unwrap_or(0.95)
    }

    /// How many accepted runs make the baseline (`budgets.history.baseline_runs`, default 5).
    pub fn baseline_runs(&self) -> usize {
        self.history.as_ref().and_then(|h| h.baseline_runs).unwrap_or(5) as usize
    }

    /// Confirmation re-runs of a FAIL near the budget in CI (`budgets.history.confirm_in_ci`,
    /// default 1).
    pub fn confirm_in_ci(&self) -> u32 {
        self.history.as_ref().and_then(|h| h.confirm_in_ci).unwrap_or(1)
    }

    /// `data.k6gate_config` for Rego (rules live in package `k6gate`, so data cannot share
    /// that path): every entry with its `_source`.
    pub fn rego_data(&self) -> serde_json::Value {
        fn sourced<T: Serialize>(s: &Sourced<T>) -> serde_json::Value {
            let mut v = json_of(&s.entry);
            if let Some(o) = v.as_object_mut() {
                o.insert("_source".into(), json_of(&s.source));
            }
            v
        }
        serde_json::json!({ "k6gate_config": {
            "sla": { "defaults": sourced(&self.sla_defaults), "tests": self.sla_tests.iter().map(sourced).collect::<Vec<_>>() },
            "budgets": {
                "defaults": sourced(&self.budget_defaults),
                "significance": self.significance.as_ref().map(json_of).unwrap_or(serde_json::json!({})),
                "tests": self.budget_tests.iter().map(sourced).collect::<Vec<_>>(),
            },
            "migration_windows": self.windows.iter().map(sourced).collect::<Vec<_>>(),
            "waivers": self.waivers.iter().map(sourced).collect::<Vec<_>>(),
            "traces": { "tests": self.traces.iter().map(sourced).collect::<Vec<_>>() },
        }})
    }
}

fn err(path: &Path, text: &str, seg: &[Seg<'_>], message: String) -> PolicyError {
    let (line, col) = locate(text, seg);
    PolicyError::Data { path: path.to_path_buf(), line, col, message }
}

/// Reads every `*.yaml`/`*.yml` in `dir`, sorted by name.
pub fn load(dir: &Path) -> Result<PolicyData, PolicyError> {
    load_dirs(dir, None)
}

/// [`load`], plus the waiver files in `waivers` (one waiver or window per file, added by a
/// PR) when that directory exists.
pub fn load_dirs(dir: &Path, waivers: Option<&Path>) -> Result<PolicyData, PolicyError> {
    let mut files = files::yaml_in(dir)?;
    if let Some(w) = waivers.filter(|w| w.is_dir()) {
        files.extend(files::yaml_in(w)?);
    }
    load_files(&files, &dir.display().to_string())
}

/// The policy data in `files`, in their order; `dir` names where the data came from when
/// a required section is missing. Errors and sources name each file as [`PolicyFile::name`]
/// does (a path, or `<rev>:<path>` for a file read from git).
pub fn load_files(files: &[PolicyFile], dir: &str) -> Result<PolicyData, PolicyError> {
    let mut approvers: Vec<String> = Vec::new();
    let mut notifications: Option<(Notifications, PathBuf)> = None;
    let mut sla_defaults: Option<(Sourced<Limits>, PathBuf)> = None;
    let mut budget_defaults: Option<(Sourced<Limits>, PathBuf)> = None;
    let mut significance: Option<Significance> = None;
    let mut history: Option<HistoryRules> = None;
    let (mut sla_tests, mut budget_tests, mut windows, mut waivers) = (vec![], vec![], vec![], vec![]);
    let mut seen_ids: BTreeMap<String, String> = BTreeMap::new();
    let mut changepoints: Vec<Sourced<ChangePointReview>> = Vec::new();
    let mut retention: Option<(RetentionPolicy, PathBuf)> = None;
    let mut cardinality: Option<(CardinalityPolicy, PathBuf)> = None;
    let mut traces: Vec<Sourced<super::traces::TraceRules>> = Vec::new();

    for f in files {
        let path = &PathBuf::from(&f.name);
        let text = &f.text;
        let doc: DataFile = match super::locate::parse_yaml(text) {
            Ok(Some(doc)) => doc,
            Ok(None) => DataFile::default(),
            Err(e) => {
                return Err(PolicyError::Data { path: path.clone(), line: e.line, col: e.col, message: e.describe() });
            }
        };
        let file = path.display().to_string();
        let source = |segs: &[Seg<'_>]| Source { file: file.clone(), line: locate(text, segs).0 };

        if let Some(sla) = doc.sla {
            if let Some(d) = sla.defaults {
                check_limits(path, text, &[Seg::Key("sla"), Seg::Key("defaults")], &d)?;
                if let Some((_, first)) = &sla_defaults {
                    return Err(err(
                        path,
                        text,
                        &[Seg::Key("sla"), Seg::Key("defaults")],
                        format!("sla.defaults is already set in {}", first.display()),
                    ));
                }
                sla_defaults = Some((
                    Sourced { entry: d, source: source(&[Seg::Key("sla"), Seg::Key("defaults")]) },
                    path.clone(),
                ));
            }
            for (i, e) in sla.tests.into_iter().enumerate() {
                let segs = [Seg::Key("sla"), Seg::Key("tests"), Seg::Index(i)];
                let limits = Limits {
                    p50_ms: e.p50_ms,
                    p95_ms: e.p95_ms,
                    p99_ms: e.p99_ms,
                    error_rate: e.error_rate,
                    requests_per_s: None,
                };
                check_limits(path, text, &segs, &limits)?;
                sla_tests.push(Sourced { entry: e, source: source(&segs) });
            }
        }
        if let Some(b) = doc.budgets {
            if let Some(d) = b.defaults {
                check_limits(path, text, &[Seg::Key("budgets"), Seg::Key("defaults")], &d)?;
                if let Some((_, first)) = &budget_defaults {
                    return Err(err(
                        path,
                        text,
                        &[Seg::Key("budgets"), Seg::Key("defaults")],
                        format!("budgets.defaults is already set in {}", first.display()),
                    ));
                }
                budget_defaults = Some((
                    Sourced { entry: d, source: source(&[Seg::Key("budgets"), Seg::Key("defaults")]) },
                    path.clone(),
                ));
            }
            if let Some(s) = b.significance {
                let segs = [Seg::Key("budgets"), Seg::Key("significance")];
                for (name, v) in [
                    ("alpha", s.alpha),
                    ("noise_floor", s.noise_floor),
                    ("confidence", s.confidence),
                    ("warn_alpha", s.warn_alpha),
                ] {
                    if v.is_some_and(|v| !(0.0..1.0).contains(&v)) {
                        let mut at = segs.to_vec();
                        at.push(Seg::Key(name));
                        return Err(err(path, text, &at, format!("budgets.significance.{name} must be in [0, 1)")));
                    }
                }
                significance = Some(s);
            }
            if let Some(h) = b.history {
                let at = |name| vec![Seg::Key("budgets"), Seg::Key("history"), Seg::Key(name)];
                if h.baseline_runs.is_some_and(|n| !(1..=MAX_BASELINE_RUNS).contains(&n)) {
                    let m = format!("budgets.history.baseline_runs must be between 1 and {MAX_BASELINE_RUNS}");
                    return Err(err(path, text, &at("baseline_runs"), m));
                }
                if h.confirm_in_ci.is_some_and(|n| n > MAX_CONFIRM_RUNS) {
                    let m = format!("budgets.history.confirm_in_ci must be at most {MAX_CONFIRM_RUNS}");
                    return Err(err(path, text, &at("confirm_in_ci"), m));
                }
                history = Some(h);
            }
            for (i, e) in b.tests.into_iter().enumerate() {
                let segs = [Seg::Key("budgets"), Seg::Key("tests"), Seg::Index(i)];
                let limits = Limits {
                    p50_ms: e.p50_ms,
                    p95_ms: e.p95_ms,
                    p99_ms: e.p99_ms,
                    error_rate: e.error_rate,
                    requests_per_s: e.requests_per_s,
                };
                check_limits(path, text, &segs, &limits)?;
                budget_tests.push(Sourced { entry: e, source: source(&segs) });
            }
        }
        approvers.extend(doc.approvers.unwrap_or_default().into_iter().map(|a| a.trim_start_matches('@').to_string()));
        if let Some(n) = doc.notifications {
            if let Some((_, first)) = &notifications {
                return Err(err(
                    path,
                    text,
                    &[Seg::Key("notifications")],
                    format!("notifications is already set in {}", first.display()),
                ));
            }
            if let Some(e) = &n.escalation {
                if e.after == 0 || e.within_days == 0 {
                    return Err(err(
                        path,
                        text,
                        &[Seg::Key("notifications"), Seg::Key("escalation")],
                        "notifications.escalation: after and within_days must be at least 1".into(),
                    ));
                }
            }
            notifications = Some((n, path.clone()));
        }
        for (i, mut w) in doc.migration_windows.unwrap_or_default().into_iter().enumerate() {
            let segs = [Seg::Key("migration_windows"), Seg::Index(i)];
            let at = |k: &'static str| [Seg::Key("migration_windows"), Seg::Index(i), Seg::Key(k)];
            unique_id(&mut seen_ids, &w.id, &file).map_err(|m| err(path, text, &at("id"), m))?;
            for m in w.metrics.iter().chain(w.ceiling.keys()) {
                known_metric(m).map_err(|msg| err(path, text, &at("metrics"), format!("window {}: {msg}", w.id)))?;
            }
            if w.metrics.is_empty() {
                return Err(err(path, text, &at("metrics"), format!("window {}: list at least one metric", w.id)));
            }
            if !w.extra_regression.is_finite() || w.extra_regression < 0.0 {
                return Err(err(
                    path,
                    text,
                    &at("extra_regression"),
                    format!("window {}: extra_regression must be >= 0", w.id),
                ));
            }
            let start =
                time(&w.start).map_err(|m| err(path, text, &at("start"), format!("window {}: start {m}", w.id)))?;
            let expires = time(&w.expires)
                .map_err(|m| err(path, text, &at("expires"), format!("window {}: expires {m}", w.id)))?;
            if expires <= start {
                return Err(err(path, text, &at("expires"), format!("window {}: expires must be after start", w.id)));
            }
            (w.start_ns, w.expires_ns) = (start, expires);
            windows.push(Sourced { entry: w, source: source(&segs) });
        }
        for (i, mut w) in doc.waivers.unwrap_or_default().into_iter().enumerate() {
            let segs = [Seg::Key("waivers"), Seg::Index(i)];
            let at = |k: &'static str| [Seg::Key("waivers"), Seg::Index(i), Seg::Key(k)];
            unique_id(&mut seen_ids, &w.id, &file).map_err(|m| err(path, text, &at("id"), m))?;
            known_metric(&w.metric).map_err(|m| err(path, text, &at("metric"), format!("waiver {}: {m}", w.id)))?;
            let created = time(&w.created)
                .map_err(|m| err(path, text, &at("created"), format!("waiver {}: created {m}", w.id)))?;
            let expires = time(&w.expires)
                .map_err(|m| err(path, text, &at("expires"), format!("waiver {}: expires {m}", w.id)))?;
            if expires <= created {
                return Err(err(path, text, &at("expires"), format!("waiver {}: expires must be after created", w.id)));
            }
            if expires - created > MAX_WAIVER_DAYS * 86_400 * 1_000_000_000 {
                return Err(err(
                    path,
                    text,
                    &at("expires"),
                    format!("waiver {}: a waiver lasts at most {MAX_WAIVER_DAYS} days", w.id),
                ));
            }
            (w.created_ns, w.expires_ns) = (created, expires);
            waivers.push(Sourced { entry: w, source: source(&segs) });
        }
        for (i, c) in doc.changepoints.unwrap_or_default().into_iter().enumerate() {
            let segs = [Seg::Key("changepoints"), Seg::Index(i)];
            let at = |k: &'static str| [Seg::Key("changepoints"), Seg::Index(i), Seg::Key(k)];
            let what = format!("change point {}/{} {} at run {:?}", c.test, c.environment, c.metric, c.run);
            for (key, value) in [
                ("test", &c.test),
                ("environment", &c.environment),
                ("run", &c.run),
                ("reason", &c.reason),
                ("reviewed_by", &c.reviewed_by),
            ] {
                if value.trim().is_empty() {
                    return Err(err(path, text, &at(key), format!("{what}: {key} must not be empty")));
                }
            }
            if Measure::from_name(&c.metric).is_none() {
                let m = format!("{what}: unknown metric {:?} (known: {})", c.metric, Measure::names());
                return Err(err(path, text, &at("metric"), m));
            }
            let source = source(&segs);
            let same = |o: &ChangePointReview| {
                (&o.test, &o.environment, &o.metric, &o.run) == (&c.test, &c.environment, &c.metric, &c.run)
            };
            if let Some(first) = changepoints.iter().find(|o| same(&o.entry)) {
                let m = format!("{what} is already reviewed at {}:{}", first.source.file, first.source.line);
                return Err(err(path, text, &segs, m));
            }
            changepoints.push(Sourced { entry: c, source });
        }
        if let Some(r) = doc.retention {
            if let Some((_, first)) = &retention {
                let m = format!("retention is already set in {}", first.display());
                return Err(err(path, text, &[Seg::Key("retention")], m));
            }
            let policy = super::retention::validate(r, source(&[Seg::Key("retention")])).map_err(|invalid| {
                let mut segs = vec![Seg::Key("retention")];
                segs.extend(invalid.at.iter().map(|k| match k.strip_prefix('#').and_then(|n| n.parse().ok()) {
                    Some(i) => Seg::Index(i),
                    None => Seg::Key(k),
                }));
                err(path, text, &segs, invalid.message)
            })?;
            retention = Some((policy, path.clone()));
        }
        if let Some(c) = doc.cardinality {
            if let Some((_, first)) = &cardinality {
                let m = format!("cardinality is already set in {}", first.display());
                return Err(err(path, text, &[Seg::Key("cardinality")], m));
            }
            fn segs_of(at: &[String]) -> Vec<Seg<'_>> {
                let mut segs = vec![Seg::Key("cardinality")];
                segs.extend(at.iter().map(|k| match k.strip_prefix('#').and_then(|n| n.parse().ok()) {
                    Some(i) => Seg::Index(i),
                    None => Seg::Key(k),
                }));
                segs
            }
            let source_of = |at: &[&str]| {
                let at: Vec<String> = at.iter().map(|s| s.to_string()).collect();
                source(&segs_of(&at))
            };
            let policy = super::cardinality::validate(c, source(&[Seg::Key("cardinality")]), &source_of)
                .map_err(|invalid| err(path, text, &segs_of(&invalid.at), invalid.message))?;
            cardinality = Some((policy, path.clone()));
        }
        for (i, t) in doc.traces.map(|t| t.tests).unwrap_or_default().into_iter().enumerate() {
            let base = [Seg::Key("traces"), Seg::Key("tests"), Seg::Index(i)];
            if let Err(invalid) = super::traces::validate(&t) {
                let mut segs = base.to_vec();
                segs.extend(invalid.at.iter().map(|k| Seg::Key(k)));
                return Err(err(path, text, &segs, format!("traces.tests[{i}]: {}", invalid.message)));
            }
            traces.push(Sourced { entry: t, source: source(&base) });
        }
    }
    let sla_defaults = sla_defaults.ok_or_else(|| PolicyError::Missing {
        dir: PathBuf::from(dir),
        what: "sla.defaults (the SLA that applies to every test not named)".into(),
    })?;
    let budget_defaults = budget_defaults.ok_or_else(|| PolicyError::Missing {
        dir: PathBuf::from(dir),
        what: "budgets.defaults (the allowed change against the baseline)".into(),
    })?;
    Ok(PolicyData {
        files: files.iter().map(|f| PathBuf::from(&f.name)).collect(),
        sla_defaults: sla_defaults.0,
        sla_tests,
        budget_defaults: budget_defaults.0,
        budget_tests,
        significance,
        history,
        windows,
        waivers,
        approvers,
        notifications: notifications.map(|(n, _)| n),
        changepoints,
        retention: retention.map(|(r, _)| r),
        cardinality: cardinality.map(|(c, _)| c),
        traces,
    })
}

/// The types above always serialize; a failure would be a bug, shown as null to Rego.
fn json_of<T: Serialize>(v: &T) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
}

fn check_limits(path: &Path, text: &str, segs: &[Seg<'_>], l: &Limits) -> Result<(), PolicyError> {
    for (name, v) in [
        ("p50_ms", l.p50_ms),
        ("p95_ms", l.p95_ms),
        ("p99_ms", l.p99_ms),
        ("error_rate", l.error_rate),
        ("requests_per_s", l.requests_per_s),
    ] {
        if let Some(v) = v {
            if !v.is_finite() || v < 0.0 {
                let mut at = segs.to_vec();
                at.push(Seg::Key(name));
                return Err(err(path, text, &at, format!("{name} must be a number >= 0, got {v}")));
            }
        }
    }
    Ok(())
}

fn known_metric(m: &str) -> Result<(), String> {
    if Metric::from_name(m).is_some() || super::traces::is_component_metric(m) {
        Ok(())
    } else {
        let names: Vec<&str> = Metric::ALL.iter().map(|x| x.name()).collect();
        Err(format!("unknown metric {m:?} (known: {}), nor a component's (db.p95_ms)", names.join(", ")))
    }
}

fn unique_id(seen: &mut BTreeMap<String, String>, id: &str, file: &str) -> Result<(), String> {
    match seen.insert(id.to_string(), file.to_string()) {
        Some(other) => Err(format!("id {id} is already used in {other}")),
        None => Ok(()),
    }
}

/// RFC 3339, or a bare date (midnight UTC).
pub fn time(s: &str) -> Result<i64, String> {
    parse_rfc3339_ns(s.as_bytes())
        .or_else(|| parse_rfc3339_ns(format!("{s}T00:00:00Z").as_bytes()))
        .ok_or_else(|| format!("{s:?} is not an RFC 3339 time or a YYYY-MM-DD date"))
}
