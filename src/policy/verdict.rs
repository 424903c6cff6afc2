//! The verdict: every rule result with the numbers behind it, exceptions and ignored
//! overrides, and the outcome. Builds the Rego input, runs the policies, and never turns
//! "nothing was checked" into a pass.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::PolicyError;
use super::data::{PolicyData, Source};
use super::engine::Policies;
use crate::compare::{ALL, Between, Comparison, Metric, MetricComparison, RunIdentity, Scale};
use crate::time::format_rfc3339_ms;

pub const SCHEMA_VERSION: &str = "k6gate.verdict/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Warn,
    Fail,
    /// The run cannot be judged (its load generator was saturated): never a regression, never
    /// a pass, and above a failure, since a failure measured that way means nothing.
    Inconclusive,
}

impl Status {
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Inconclusive => "INCONCLUSIVE",
        }
    }
}

/// What a rule checks. Custom rules may name their own kind; it is kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(from = "String", into = "String")]
pub enum RuleKind {
    /// An absolute limit on the candidate.
    Sla,
    /// An allowed change against the baseline.
    Budget,
    /// A migration window's ceiling.
    Window,
    /// Inside a migration window: no worse than the previous run.
    Ratchet,
    /// The data itself (missing, incomplete, unsound).
    Data,
    Custom(String),
}

impl RuleKind {
    pub fn name(&self) -> &str {
        match self {
            RuleKind::Sla => "sla",
            RuleKind::Budget => "budget",
            RuleKind::Window => "window",
            RuleKind::Ratchet => "ratchet",
            RuleKind::Data => "data",
            RuleKind::Custom(s) => s,
        }
    }
}

impl From<String> for RuleKind {
    fn from(s: String) -> RuleKind {
        match s.as_str() {
            "sla" => RuleKind::Sla,
            "budget" => RuleKind::Budget,
            "window" => RuleKind::Window,
            "ratchet" => RuleKind::Ratchet,
            "data" => RuleKind::Data,
            _ => RuleKind::Custom(s),
        }
    }
}

impl std::fmt::Display for RuleKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl From<RuleKind> for String {
    fn from(k: RuleKind) -> String {
        k.name().to_string()
    }
}

/// How an exception lets a result through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExceptionKind {
    /// By a waiver: the result is taken out of the verdict.
    Waived,
    /// By a migration window: the result stays, with the window's wider budget.
    Allowed,
}

impl std::fmt::Display for ExceptionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl ExceptionKind {
    pub fn name(self) -> &'static str {
        match self {
            ExceptionKind::Waived => "waived",
            ExceptionKind::Allowed => "allowed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct RuleResult {
    pub id: String,
    pub kind: RuleKind,
    pub status: Status,
    pub group: String,
    pub metric: String,
    /// The sentence a person reads; the status is in `status`, never in the text.
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub limit: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub budget: Option<f64>,
    /// The compared numbers, when the rule is about one metric of one group.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub comparison: Option<MetricComparison>,
    /// The policy data entry behind the rule.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<Source>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Exception {
    #[serde(rename = "type")]
    pub kind: ExceptionKind,
    /// The rule result it applies to, and what that result said.
    pub result: String,
    pub message: String,
    /// The waiver or window id.
    pub by: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub requested_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub approved_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub owner: Option<String>,
    pub reason: String,
    pub expires: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<Source>,
    /// The review GitHub shows for the waiver or window (absent when it was trusted unchecked).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verified: Option<VerifiedApproval>,
}

/// Who approved an override, as GitHub recorded it (not as its file says).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VerifiedApproval {
    pub pr: u64,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub pr_url: Option<String>,
    pub approvers: Vec<Approver>,
    /// The file's free-text `approved_by` disagrees with the reviewers GitHub shows.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub disagreement: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Approver {
    pub login: String,
    /// When the approving review was submitted (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub at: Option<String>,
}

impl VerifiedApproval {
    /// "bob at 2026-11-30T10:00:00Z in PR #3".
    pub fn describe(&self) -> String {
        let who: Vec<String> = self
            .approvers
            .iter()
            .map(|a| match &a.at {
                Some(at) => format!("{} at {at}", a.login),
                None => a.login.clone(),
            })
            .collect();
        format!("{} in PR #{}", who.join(", "), self.pr)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Ignored {
    pub what: String,
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub source: Option<Source>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyInfo {
    pub rego_files: Vec<String>,
    pub data_files: Vec<String>,
    /// Where the files were read from when not from the checkout: a pull request's base branch.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub base: Option<PolicyBase>,
}

/// The base branch commit a pull request's binding policy was read from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct PolicyBase {
    /// The base branch (or the revision given with `--policy-base`).
    pub branch: String,
    /// The merge base of the PR's head and the base branch: the policy files are this
    /// commit's.
    pub commit: String,
}

impl PolicyBase {
    /// The first 7 hex digits of the commit.
    pub fn short(&self) -> &str {
        self.commit.get(..7).unwrap_or(&self.commit)
    }
}

/// A pull request's own policy, evaluated beside the binding one because it differs. Shown
/// for review, never binding: it takes effect once the PR is merged.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Proposed {
    /// Whose policy it is ("this PR's policy").
    pub policy: String,
    /// Policy files it adds, removes or changes, relative to the policies directory.
    pub changed_files: Vec<String>,
    /// What the verdict would be under it.
    pub outcome: Status,
    pub headline: String,
    pub results: Vec<RuleResult>,
}

impl Proposed {
    /// "under main's policy (merge base abc1234): FAIL; under this PR's policy: PASS (not
    /// binding until merged; it changes data/budgets.yaml)".
    pub fn note(&self, binding: Status, base: &PolicyBase) -> String {
        format!(
            "under {}'s policy (merge base {}): {}; under {}: {} (not binding until merged; it changes {})",
            base.branch,
            base.short(),
            binding.label(),
            self.policy,
            self.outcome.label(),
            self.changed_files.join(", ")
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Verdict {
    pub schema_version: String,
    pub outcome: Status,
    /// One line for a check-run title.
    pub headline: String,
    pub test: String,
    pub environment: String,
    /// The evaluation time given to the policies.
    pub now: String,
    pub phase: String,
    pub baseline: RunIdentity,
    /// Why this baseline was chosen, when k6gate chose it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub baseline_reason: Option<String>,
    pub candidate: RunIdentity,
    /// The candidate's load model and what it means for throughput, as a sentence.
    #[serde(default)]
    pub load_model: String,
    /// Results that count, waived ones excluded (they are in `exceptions`).
    pub results: Vec<RuleResult>,
    pub exceptions: Vec<Exception>,
    pub ignored: Vec<Ignored>,
    pub policy: PolicyInfo,
    /// The full comparison the rules saw.
    pub comparison: Comparison,
    /// What happened around the decision without changing it: an output (Grafana, GitHub,
    /// Prometheus, the webhook) that could not be reached, and why; a pull request's own
    /// policy and what it would decide.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// On a pull request that changes the policy: the verdict under the PR's policy. Never
    /// binding; `outcome` is the base branch's policy's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub proposed: Option<Proposed>,
    /// "Is this test representative?": production as declared against the run as measured
    /// (`representative.rs`). A `fail` finding makes the outcome a fail, a `warn` a warn at most.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub representative: Option<super::representative::Representative>,
    /// What the load-test guard did during the run (its actions on k6, with reasons and
    /// numbers) and after it (teardown verification): `policy::guarded`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub guard: Option<super::guarded::GuardRecord>,
    /// The run's trace breakdown as the per-component rules judged it (`policies/traces.rego`):
    /// per component its coverage, quantiles and the comparison with the baseline's.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub traces: Option<crate::traces::TraceFindings>,
    /// A saturation run's scale model (`crate::scale::record`): the measured capacity, the
    /// knee, and whether the steps reached it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub saturation: Option<crate::scale::SaturationRecord>,
}

/// What the policies are asked about.
pub struct Request<'a> {
    pub test: &'a str,
    pub environment: &'a str,
    pub now_ns: i64,
    pub comparison: &'a Comparison,
    /// The candidate against the previous run, for migration-window ratchets.
    pub previous: Option<&'a Comparison>,
    /// No baseline exists yet: the comparison is the run against itself, budgets are not
    /// checked (the policies say so with a warning), SLAs are.
    pub no_baseline: bool,
    /// Why this baseline (pinned by whom, or the latest passing run), for the reader.
    pub baseline_reason: Option<String>,
}

fn identity_json(r: &RunIdentity) -> serde_json::Value {
    serde_json::to_value(r).unwrap_or_default()
}

/// The Rego input document.
pub fn input(req: &Request<'_>) -> serde_json::Value {
    serde_json::json!({
        "test": req.test,
        "environment": req.environment,
        "now": format_rfc3339_ms(req.now_ns),
        "now_ns": req.now_ns,
        "phase": req.comparison.phase,
        "no_baseline": req.no_baseline,
        "run": identity_json(&req.comparison.candidate),
        "baseline": identity_json(&req.comparison.baseline),
        "baselines": if req.comparison.baselines.is_empty() {
            vec![identity_json(&req.comparison.baseline)]
        } else {
            req.comparison.baselines.iter().map(identity_json).collect()
        },
        "confirmations": req.comparison.confirmations.iter().map(identity_json).collect::<Vec<_>>(),
        "comparisons": serde_json::to_value(&req.comparison.metrics).unwrap_or_default(),
        "previous": req.previous.map(|p| serde_json::json!({
            "baseline": identity_json(&p.baseline),
            "comparisons": serde_json::to_value(&p.metrics).unwrap_or_default(),
        })),
    })
}

#[derive(Deserialize)]
struct RawResult {
    id: String,
    kind: RuleKind,
    status: Status,
    #[serde(default)]
    group: String,
    #[serde(default)]
    metric: String,
    summary: Option<String>,
    limit: Option<f64>,
    budget: Option<f64>,
    source: Option<Source>,
}

#[derive(Deserialize)]
struct RawException {
    #[serde(rename = "type")]
    kind: ExceptionKind,
    result: String,
    by: String,
    requested_by: Option<String>,
    approved_by: Option<String>,
    owner: Option<String>,
    reason: String,
    expires: String,
    source: Option<Source>,
}

fn parse_list<T: serde::de::DeserializeOwned>(what: &str, v: serde_json::Value) -> Result<Vec<T>, PolicyError> {
    serde_json::from_value(v).map_err(|e| PolicyError::Rego(format!("data.k6gate.{what} has an unexpected shape: {e}")))
}

/// Runs the policies and assembles the verdict.
pub fn evaluate(policies: &Policies, data: &PolicyData, req: &Request<'_>) -> Result<Verdict, PolicyError> {
    evaluate_traced(policies, data, req, None)
}

/// [`evaluate`] with the run's trace breakdown as `input.traces` (null without one: the
/// per-component rules then fail closed when the policy sets any), recorded in the verdict.
pub fn evaluate_traced(
    policies: &Policies,
    data: &PolicyData,
    req: &Request<'_>,
    traces: Option<&crate::traces::TraceFindings>,
) -> Result<Verdict, PolicyError> {
    evaluate_with_traces(policies, data, req, traces, None)
}

/// [`evaluate_traced`] for a run whose environment has a trace backend: `unavailable` says
/// why the breakdown could not be made (`input.traces_unavailable`), which fails the run
/// (`policies/traces.rego`, `traces/unavailable`) whether or not the policy sets limits.
pub fn evaluate_with_traces(
    policies: &Policies,
    data: &PolicyData,
    req: &Request<'_>,
    traces: Option<&crate::traces::TraceFindings>,
    unavailable: Option<&str>,
) -> Result<Verdict, PolicyError> {
    let mut doc = input(req);
    if let Some(o) = doc.as_object_mut() {
        o.insert("traces".into(), serde_json::to_value(traces).unwrap_or_default());
        if let Some(why) = unavailable {
            o.insert("traces_unavailable".into(), why.into());
        }
    }
    let mut verdict = evaluate_input(policies, data, req, &doc)?;
    verdict.traces = traces.cloned();
    Ok(verdict)
}

fn evaluate_input(
    policies: &Policies,
    data: &PolicyData,
    req: &Request<'_>,
    input: &serde_json::Value,
) -> Result<Verdict, PolicyError> {
    let out = policies.evaluate(&data.rego_data(), input)?;
    let raw: Vec<RawResult> = parse_list("results", out.results)?;
    let raw_ex: Vec<RawException> = parse_list("exceptions", out.exceptions)?;
    let ignored: Vec<Ignored> = parse_list("ignored", out.ignored)?;
    let phase = &req.comparison.phase;

    let mut results: Vec<RuleResult> = raw
        .into_iter()
        .map(|r| {
            // A ratchet judges the candidate against the previous run, not the baseline.
            let against =
                if r.kind == RuleKind::Ratchet { req.previous.unwrap_or(req.comparison) } else { req.comparison };
            let comparison = Metric::from_name(&r.metric).and_then(|m| against.get(&r.group, m)).cloned();
            let message = r.summary.clone().unwrap_or_else(|| describe(&r, comparison.as_ref(), phase));
            let message =
                if r.group != ALL && !r.group.is_empty() { format!("[{}] {message}", r.group) } else { message };
            RuleResult {
                id: r.id,
                kind: r.kind,
                status: r.status,
                group: r.group,
                metric: r.metric,
                message,
                limit: r.limit,
                budget: r.budget,
                comparison,
                source: r.source,
            }
        })
        .collect();
    results.sort_by(|a, b| b.status.cmp(&a.status).then_with(|| a.id.cmp(&b.id)));

    let mut exceptions = Vec::new();
    for e in raw_ex {
        let message = results.iter().find(|r| r.id == e.result).map(|r| r.message.clone()).unwrap_or_default();
        exceptions.push(Exception {
            kind: e.kind,
            result: e.result,
            message,
            by: e.by,
            requested_by: e.requested_by,
            approved_by: e.approved_by,
            owner: e.owner,
            reason: e.reason,
            expires: e.expires,
            source: e.source,
            verified: None,
        });
    }
    exceptions.sort_by(|a, b| a.result.cmp(&b.result).then_with(|| a.by.cmp(&b.by)));
    let waived: Vec<String> =
        exceptions.iter().filter(|e| e.kind == ExceptionKind::Waived).map(|e| e.result.clone()).collect();
    results.retain(|r| !waived.contains(&r.id));

    if results.is_empty() && exceptions.is_empty() {
        // A policy set that checks nothing must not let a deployment through.
        results.push(RuleResult {
            id: "no-results".into(),
            kind: RuleKind::Data,
            status: Status::Fail,
            group: ALL.into(),
            metric: String::new(),
            message: "the policies produced no results: nothing was checked, failing closed".into(),
            limit: None,
            budget: None,
            comparison: None,
            source: None,
        });
    }
    let outcome = results.iter().map(|r| r.status).max().unwrap_or(Status::Pass);
    let headline = headline(outcome, &results, req);

    Ok(Verdict {
        schema_version: SCHEMA_VERSION.into(),
        outcome,
        headline,
        test: req.test.into(),
        environment: req.environment.into(),
        now: format_rfc3339_ms(req.now_ns),
        phase: phase.clone(),
        baseline: req.comparison.baseline.clone(),
        baseline_reason: req.baseline_reason.clone(),
        candidate: req.comparison.candidate.clone(),
        load_model: load_model_sentence(&req.comparison.candidate),
        results,
        exceptions,
        ignored,
        policy: PolicyInfo {
            rego_files: policies.files.iter().map(|f| f.display().to_string()).collect(),
            data_files: data.files.iter().map(|f| f.display().to_string()).collect(),
            base: None,
        },
        comparison: req.comparison.clone(),
        notes: Vec::new(),
        proposed: None,
        representative: None,
        guard: None,
        traces: None,
        saturation: None,
    })
}

/// Which load model the candidate ran under and how throughput was judged for it.
fn load_model_sentence(run: &RunIdentity) -> String {
    use crate::summary::Model;
    let g = run.load_generator.as_ref();
    match run.load_model.as_ref().map(|m| m.model) {
        Some(Model::Open) => {
            let rate = |v: Option<f64>| v.map_or("an unknown number of".to_string(), |v| format!("{v:.1}"));
            let offered = g.and_then(|g| g.offered_iterations_per_s);
            let achieved = g.and_then(|g| g.achieved_iterations_per_s);
            let dropped = g.map_or(0, |g| g.dropped_iterations);
            format!(
                "open model (arrival rate): k6 offered {} iterations/s and completed {}, {dropped} dropped; throughput \
                 is judged by whether the service carried the offered load, never per endpoint",
                rate(offered),
                rate(achieved)
            )
        }
        Some(Model::Closed) => {
            "closed model (VUs): throughput is a result of the service's speed, budgeted for all requests".into()
        }
        None => "load model unknown (no load_model tag, no dropped iterations): throughput is budgeted for all \
                 requests, as under a closed model"
            .into(),
    }
}

/// "12.3 ms", "1.52 %", "240.1 req/s".
pub fn fmt_value(metric: Metric, v: f64) -> String {
    match metric {
        Metric::ErrorRate => format!("{:.2} %", v * 100.0),
        Metric::RequestsPerS => format!("{v:.1} req/s"),
        _ => format!("{v:.1} ms"),
    }
}

pub fn fmt_p(p: Option<f64>) -> String {
    match p {
        Some(p) if p < 0.001 => "p < 0.001".into(),
        Some(p) => format!("p = {p:.3}"),
        None => "p n/a".into(),
    }
}

fn fmt_budget(metric: Metric, b: f64) -> String {
    match metric {
        Metric::ErrorRate => format!("{:.2} pp", b * 100.0),
        _ => format!("{:.0} %", b * 100.0),
    }
}

/// "P95 latency rose 15.2 % (82.1 ms -> 94.6 ms, steady-state phase, p < 0.001) — budget 10 %".
fn describe(r: &RawResult, c: Option<&MetricComparison>, phase: &str) -> String {
    let Some(metric) = Metric::from_name(&r.metric) else { return r.id.clone() };
    let label = metric.label();
    let Some(c) = c else { return format!("{label}: no comparison") };
    let (Some(b), Some(v)) = (c.baseline, c.candidate) else {
        return format!("{label}: {}", c.reason.clone().unwrap_or_else(|| "no data".into()));
    };
    match r.kind {
        RuleKind::Sla => format!(
            "{label} {} ({phase} phase) — SLA < {}",
            fmt_value(metric, v),
            r.limit.map_or("?".into(), |l| fmt_value(metric, l))
        ),
        RuleKind::Window => format!(
            "{label} {} — migration window ceiling {}",
            fmt_value(metric, v),
            r.limit.map_or("?".into(), |l| fmt_value(metric, l))
        ),
        _ => {
            let change = match metric {
                Metric::ErrorRate => {
                    let d = (v - b) * 100.0;
                    format!("{} {:.2} pp", if d >= 0.0 { "rose" } else { "fell" }, d.abs())
                }
                _ => {
                    let rel = c.rel_change.unwrap_or(0.0) * 100.0;
                    format!("{} {:.1} %", if rel >= 0.0 { "rose" } else { "fell" }, rel.abs())
                }
            };
            let ci = match (c.ci_low, c.ci_high) {
                (Some(lo), Some(hi)) if metric == Metric::ErrorRate => {
                    format!(", CI {:+.2}..{:+.2} pp", lo * 100.0, hi * 100.0)
                }
                (Some(lo), Some(hi)) => format!(", CI {:+.1}..{:+.1} %", lo * 100.0, hi * 100.0),
                _ => String::new(),
            };
            let what =
                if r.kind == RuleKind::Ratchet { format!("{label} vs the previous run") } else { label.to_string() };
            let budget = match (&r.kind, r.budget) {
                (RuleKind::Ratchet, _) => " — must not get worse inside the migration window".to_string(),
                (_, Some(bu)) => format!(" — budget {}", fmt_budget(metric, bu)),
                _ => String::new(),
            };
            let between = match (&r.kind, &c.between) {
                (RuleKind::Budget, Some(between)) => {
                    let worse = match metric {
                        Metric::ErrorRate => c.abs_change,
                        Metric::RequestsPerS => c.rel_change.map(|r| -r),
                        _ => c.rel_change,
                    };
                    let over = worse.zip(r.budget).is_some_and(|(w, b)| w > b);
                    // The range is relative on the log scale, a difference on the absolute one.
                    let change = match between.scale {
                        Scale::Log => c.rel_change,
                        Scale::Absolute => c.abs_change,
                    };
                    between_sentence(metric, between, r.status, over, change)
                }
                _ => String::new(),
            };
            format!(
                "{what} {change} ({} -> {}, {phase} phase, {}{ci}){budget}{between}",
                fmt_value(metric, b),
                fmt_value(metric, v),
                fmt_p(c.p_value)
            )
        }
    }
}

/// "; outside the range of the last 5 baselines [−4.0 %, +6.0 %], between-run p < 0.001", or
/// why a change over budget is not a regression, or that the noise between runs is unknown.
fn between_sentence(metric: Metric, b: &Between, status: Status, over: bool, change: Option<f64>) -> String {
    let fmt = |x: f64| match b.scale {
        Scale::Log => format!("{:+.1} %", x * 100.0),
        Scale::Absolute if metric == Metric::ErrorRate => format!("{:+.2} pp", x * 100.0),
        Scale::Absolute => format!("{x:+.1}"),
    };
    let (Some(lo), Some(hi), Some(p)) = (b.range_low, b.range_high, b.p_value) else {
        // Said once in the verdict's notes; repeated only where it decided something.
        // One baseline run is said once, in the verdict's notes.
        return match &b.note {
            Some(note) if b.baseline_runs > 1 && status != Status::Pass => format!("; {note}"),
            _ => String::new(),
        };
    };
    let runs = b.baseline_runs;
    let with = match b.candidate_runs {
        0 | 1 => String::new(),
        n => format!(" (with {} confirmation re-run{})", n - 1, if n == 2 { "" } else { "s" }),
    };
    let p = fmt_p(Some(p)).replacen('p', "between-run p", 1);
    let p = match (b.noise, b.scale) {
        (Some(sd), Scale::Log) => format!("run-to-run ±{:.1} %, {p}", sd * 100.0),
        (Some(sd), Scale::Absolute) if metric == Metric::ErrorRate => format!("run-to-run ±{:.2} pp, {p}", sd * 100.0),
        _ => p,
    };
    let outside = change.is_some_and(|c| c < lo || c > hi);
    match status {
        Status::Pass if !over => format!("; the last {runs} baselines ranged {}..{}", fmt(lo), fmt(hi)),
        Status::Pass => format!(
            "; inside the noise of the last {runs} baselines (range {}..{}, {p}){with}: not counted as a regression",
            fmt(lo),
            fmt(hi)
        ),
        _ if outside => {
            format!("; outside the range of the last {runs} baselines [{}, {}], {p}{with}", fmt(lo), fmt(hi))
        }
        _ => format!("; within the range of the last {runs} baselines [{}, {}], {p}{with}", fmt(lo), fmt(hi)),
    }
}

fn headline(outcome: Status, results: &[RuleResult], req: &Request<'_>) -> String {
    let ctx = format!("({}, {})", req.test, req.environment);
    let worst = results.iter().find(|r| r.status == outcome && outcome != Status::Pass);
    let Some(r) = worst else {
        return format!("All {} checks passed {ctx}", results.len());
    };
    let short = match (Metric::from_name(&r.metric), &r.comparison) {
        (Some(m), Some(c)) if r.kind == RuleKind::Budget && m != Metric::ErrorRate => {
            let name = m.label().split(' ').next().unwrap_or("");
            format!("{name} {:+.1} % over budget", c.rel_change.unwrap_or(0.0) * 100.0)
        }
        (Some(m), Some(c)) if r.kind == RuleKind::Sla => {
            format!("{} {} over SLA", m.label(), c.candidate.map_or("?".into(), |v| fmt_value(m, v)))
        }
        _ => r.message.clone(),
    };
    let more = results.iter().filter(|x| x.status == outcome).count().saturating_sub(1);
    let more = if more > 0 { format!(" and {more} more") } else { String::new() };
    format!("{short}{more} {ctx}")
}
