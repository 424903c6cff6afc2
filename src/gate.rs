//! The gate: policies and data loaded once, waivers and windows checked for approval, then
//! any number of candidates judged. `run`, `evaluate`, the demo, the benches and the tests
//! all decide through [`Gate`], so the sequence (load → approve → compare → evaluate) and the
//! confidence level exist once.
//!
//! On a pull request the binding policy is the base branch's ([`PolicyFrom`], `base.rs`);
//! when the PR's own policy differs, it is evaluated too and shown, never binding.
//!
//! It never reads the clock (time comes in the [`Case`]) and never turns missing data into a
//! pass: that is the policies' job, and [`Gate::judge`] only adds what they cannot see (the
//! overrides that were not honoured).

mod base;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compare::{Comparison, Phase, compare, compare_runs};
use crate::error::Result;
use crate::github::actions::{Context, ContextError};
use crate::github::approval::{self, Decision, Kind, Mode};
use crate::policy::data::{self, PolicyData, Sourced};
use crate::policy::engine::Policies;
use crate::policy::files::{self, PolicyFile, PolicyFiles};
use crate::policy::verdict::{
    Approver, PolicyBase, Proposed, Request, Verdict, VerifiedApproval, evaluate_with_traces,
};
use crate::vars::Vars;

pub use base::PolicyFrom;

/// Where the gate's policy comes from.
#[derive(Debug, Clone)]
pub struct PolicySource {
    /// Rego files, with their YAML data in `data/`.
    pub policies_dir: PathBuf,
    /// One waiver or migration window per file, added by a PR (read when it exists).
    pub waivers_dir: Option<PathBuf>,
    /// How waivers and windows are checked before the policies see them.
    pub approval: Mode,
    /// Where the GitHub Actions context is read, when an override needs checking or the
    /// event decides which policy binds.
    pub vars: Vars,
    /// Whether the policies directory binds as checked out, or as the base branch has it
    /// (the same path, read from git).
    pub from: PolicyFrom,
}

impl PolicySource {
    /// `policies_dir` as checked out, with no waiver directory, and overrides checked as
    /// `approval` says.
    pub fn new(policies_dir: impl Into<PathBuf>, approval: Mode) -> PolicySource {
        PolicySource {
            policies_dir: policies_dir.into(),
            waivers_dir: None,
            approval,
            vars: Vars::default(),
            from: PolicyFrom::Checkout,
        }
    }
}

/// One run as the gate sees it, and how to name it.
pub use crate::compare::Run as Side;

/// The baseline of a case.
#[derive(Debug, Clone)]
pub enum Baseline<'a> {
    /// The runs to compare with, newest first (never empty; the first is "the" baseline), and
    /// why they were chosen (for the reader). Several runs let the statistics see the noise
    /// between runs.
    Runs { runs: Vec<Side<'a>>, reason: Option<String> },
    /// No baseline yet: SLAs only, and the policies warn that budgets were not checked.
    None,
}

/// What the gate is asked about.
#[derive(Debug, Clone)]
pub struct Case<'a> {
    pub test: &'a str,
    pub environment: &'a str,
    /// The evaluation time given to the policies (Unix ns).
    pub now_ns: i64,
    pub phase: &'a Phase,
    pub candidate: Side<'a>,
    /// Confirmation re-runs of the candidate, judged together with it.
    pub confirmations: &'a [Side<'a>],
    pub baseline: Baseline<'a>,
    /// The previous run inside a migration window, for the ratchet.
    pub previous: Option<Side<'a>>,
}

/// One policy, loaded: its Rego, its data with only the honoured overrides, and the approval
/// decisions about those overrides.
#[derive(Debug)]
struct Loaded {
    policies: Policies,
    data: PolicyData,
    approvals: Vec<Decision>,
}

/// A pull request's own policy, when it differs from the binding one.
#[derive(Debug)]
struct Proposal {
    loaded: Loaded,
    /// Whose it is, for the note ("this PR's policy").
    policy: &'static str,
    changed: Vec<String>,
}

/// The verdict's note when the baseline is a single run.
pub const ONE_BASELINE: &str =
    "one baseline run: the noise between runs is unknown, so budgets were judged on the noise within the runs alone";

/// Loaded policies with only the honoured overrides in their data.
#[derive(Debug)]
pub struct Gate {
    binding: Loaded,
    /// The binding policy's files (the base branch's on a pull request), for the rule sets
    /// beside the gate's that must bind the same way (the load-test guard's).
    binding_files: PolicyFiles,
    /// Where the binding policy was read when not from the checkout.
    base: Option<PolicyBase>,
    proposal: Option<Proposal>,
}

impl Gate {
    /// Loads the policies and their data and checks every waiver and window; the GitHub
    /// context comes from the source's Actions variables, and only when an override needs
    /// checking.
    pub fn load(source: &PolicySource) -> Result<Gate> {
        Gate::load_with(source, || Context::from_lookup(|n| source.vars.get(n)))
    }

    /// [`Gate::load`] with the GitHub context from `context`.
    pub fn load_with(
        source: &PolicySource,
        context: impl FnOnce() -> std::result::Result<Context, ContextError>,
    ) -> Result<Gate> {
        let waivers = match source.waivers_dir.as_deref().filter(|w| w.is_dir()) {
            Some(w) => files::yaml_in(w)?,
            None => Vec::new(),
        };
        let data_dirs: Vec<PathBuf> =
            std::iter::once(source.policies_dir.join("data")).chain(source.waivers_dir.clone()).collect();
        let Some(base) = base::resolve(source)? else {
            let files = PolicyFiles::from_dir(&source.policies_dir)?;
            let (policies, all) = parse(&files, &waivers)?;
            let (data, approvals) =
                approval::apply_in(&all, &source.approval, context, &source.policies_dir, &data_dirs);
            return Ok(Gate {
                binding: Loaded { policies, data, approvals },
                binding_files: files,
                base: None,
                proposal: None,
            });
        };
        // The PR's own policy must load too: once merged it would bind, broken or not.
        let checkout = PolicyFiles::from_dir(&source.policies_dir)?;
        let (policies, binding) = parse(&base.files, &waivers)?;
        let changed = base.files.changed(&checkout);
        let proposed = if changed.is_empty() { None } else { Some(parse(&checkout, &waivers)?) };

        // Overrides keep their review rules, which look at the files in the checkout: the
        // base's entries are checked as the same files there, and both policies' overrides
        // in one pass.
        let at_checkout = checkout_names(&base.files, &source.policies_dir);
        let binding_here = renamed(&binding, &at_checkout);
        let mut all = binding_here.clone();
        if let Some((_, p)) = &proposed {
            add_missing(&mut all.waivers, &p.waivers, |w| &w.id);
            add_missing(&mut all.windows, &p.windows, |w| &w.id);
        }
        let (_, decisions) = approval::apply_in(&all, &source.approval, context, &source.policies_dir, &data_dirs);
        let (data, approvals) = honoured(&binding, &binding_here, &decisions);
        let proposal = proposed.map(|(policies, data)| {
            let (data, approvals) = honoured(&data, &data, &decisions);
            Proposal { loaded: Loaded { policies, data, approvals }, policy: base.checkout_is, changed }
        });
        Ok(Gate {
            binding: Loaded { policies, data, approvals },
            binding_files: base.files,
            base: Some(base.base),
            proposal,
        })
    }

    /// The confidence level of every significance test and interval.
    pub fn confidence(&self) -> f64 {
        self.binding.data.confidence()
    }

    /// The binding policy data, honoured overrides only.
    pub fn data(&self) -> &PolicyData {
        &self.binding.data
    }

    /// The binding policy's Rego and data files: the checkout's, or the base branch's on a
    /// pull request (so a PR cannot loosen the rules it is judged by).
    pub fn binding_files(&self) -> &PolicyFiles {
        &self.binding_files
    }

    /// Every waiver and window of the binding policy, and whether it is honoured.
    pub fn approvals(&self) -> &[Decision] {
        &self.binding.approvals
    }

    pub fn policy_files(&self) -> impl Iterator<Item = &Path> {
        self.binding.data.files.iter().chain(&self.binding.policies.files).map(PathBuf::as_path)
    }

    /// `candidate` against `baseline` over `phase`, at the gate's confidence level.
    pub fn compare(&self, baseline: Side<'_>, candidate: Side<'_>, phase: &Phase) -> Comparison {
        compare(baseline.summary, baseline.source, candidate.summary, candidate.source, phase, self.confidence())
    }

    /// Compares, evaluates the policies, and lists the overrides that were not honoured. On a
    /// pull request that changes the policy, the PR's policy is evaluated too: its verdict is
    /// in `proposed` and a note, and the outcome stays the binding policy's.
    pub fn judge(&self, case: &Case<'_>) -> Result<Verdict> {
        self.judge_traced(case, None)
    }

    /// [`Gate::judge`] with the run's trace breakdown, for the per-component SLAs and coverage
    /// floors (`policies/traces.rego`); without one, a policy that sets them fails closed.
    pub fn judge_traced(&self, case: &Case<'_>, traces: Option<&crate::traces::TraceFindings>) -> Result<Verdict> {
        self.judge_with_traces(case, traces, None)
    }

    /// [`Gate::judge_traced`] for a run whose environment has a trace backend; `unavailable`
    /// says why there is no breakdown (the backend could not be reached, had no traces), and
    /// fails the run (`traces/unavailable`): never a pass on missing spans.
    pub fn judge_with_traces(
        &self,
        case: &Case<'_>,
        traces: Option<&crate::traces::TraceFindings>,
        unavailable: Option<&str>,
    ) -> Result<Verdict> {
        let mut verdict = judge_under(&self.binding, case, traces, unavailable)?;
        verdict.policy.base = self.base.clone();
        if let (Some(p), Some(base)) = (&self.proposal, &self.base) {
            let theirs = judge_under(&p.loaded, case, traces, unavailable)?;
            let proposed = Proposed {
                policy: p.policy.to_string(),
                changed_files: p.changed.clone(),
                outcome: theirs.outcome,
                headline: theirs.headline,
                results: theirs.results,
            };
            verdict.notes.push(proposed.note(verdict.outcome, base));
            verdict.proposed = Some(proposed);
        }
        if matches!(&case.baseline, Baseline::Runs { runs, .. } if runs.len() == 1) {
            verdict.notes.push(ONE_BASELINE.to_string());
        }
        Ok(verdict)
    }
}

/// The Rego files of `files`, and the data of `files` and the waiver files.
fn parse(files: &PolicyFiles, waivers: &[PolicyFile]) -> Result<(Policies, PolicyData)> {
    let data_files: Vec<PolicyFile> = files.data.iter().chain(waivers).cloned().collect();
    let data = data::load_files(&data_files, &format!("{}/data", files.dir))?;
    let policies = Policies::from_files(&files.rego, &files.dir)?;
    Ok((policies, data))
}

fn judge_under(
    policy: &Loaded,
    case: &Case<'_>,
    traces: Option<&crate::traces::TraceFindings>,
    unavailable: Option<&str>,
) -> Result<Verdict> {
    let confidence = policy.data.confidence();
    let candidates: Vec<Side<'_>> = std::iter::once(case.candidate).chain(case.confirmations.iter().copied()).collect();
    let itself = [Side { summary: case.candidate.summary, source: "this run" }];
    let (baselines, reason, no_baseline) = match &case.baseline {
        Baseline::Runs { runs, reason } if !runs.is_empty() => (runs.as_slice(), reason.clone(), false),
        Baseline::Runs { .. } => return Err(crate::error::Error::Usage("a baseline of no runs".into())),
        // Budgets need a baseline; the run against itself lets the SLAs be checked.
        Baseline::None => (itself.as_slice(), None, true),
    };
    let comparison = compare_runs(baselines, &candidates, case.phase, confidence);
    let previous = case.previous.map(|p| compare_runs(&[p], &candidates, case.phase, confidence));
    let request = Request {
        test: case.test,
        environment: case.environment,
        now_ns: case.now_ns,
        comparison: &comparison,
        previous: previous.as_ref(),
        no_baseline,
        baseline_reason: reason,
    };
    let mut verdict = evaluate_with_traces(&policy.policies, &policy.data, &request, traces, unavailable)?;
    verdict.ignored.extend(approval::ignored(&policy.approvals));
    attach_verified(&mut verdict, &policy.approvals);
    Ok(verdict)
}

/// Each base-branch data file's name (`abc1234:policies/data/x.yaml`) -> the same file in the
/// checkout (`policies/data/x.yaml`), where the approval rules look.
fn checkout_names(base: &PolicyFiles, policies_dir: &Path) -> BTreeMap<String, String> {
    base.data.iter().map(|f| (f.name.clone(), policies_dir.join(&f.rel).display().to_string())).collect()
}

/// `data` with its waivers' and windows' files named as `names` says.
fn renamed(data: &PolicyData, names: &BTreeMap<String, String>) -> PolicyData {
    let mut out = data.clone();
    let rename = |file: &mut String| {
        if let Some(n) = names.get(file.as_str()) {
            *file = n.clone();
        }
    };
    out.waivers.iter_mut().for_each(|w| rename(&mut w.source.file));
    out.windows.iter_mut().for_each(|w| rename(&mut w.source.file));
    out
}

/// Adds the entries of `more` that `to` does not have (same id, same file).
fn add_missing<T: Clone>(to: &mut Vec<Sourced<T>>, more: &[Sourced<T>], id: fn(&T) -> &str) {
    for m in more {
        if !to.iter().any(|t| id(&t.entry) == id(&m.entry) && t.source.file == m.source.file) {
            to.push(m.clone());
        }
    }
}

/// `data` without the overrides `decisions` refuse (or say nothing about), and the decisions
/// about its overrides. `as_checked` is `data` with the files named as the approval step saw
/// them.
fn honoured(data: &PolicyData, as_checked: &PolicyData, decisions: &[Decision]) -> (PolicyData, Vec<Decision>) {
    let subjects = as_checked.waivers.iter().map(|w| (Kind::Waiver, &w.entry.id, &w.source.file));
    let subjects =
        subjects.chain(as_checked.windows.iter().map(|w| (Kind::MigrationWindow, &w.entry.id, &w.source.file)));
    let (mut mine, mut refused) = (Vec::new(), Vec::new());
    for (kind, id, file) in subjects {
        match decisions.iter().find(|d| d.subject.kind == kind && &d.subject.id == id && &d.subject.file == file) {
            Some(d) => {
                if !d.honoured {
                    refused.push((kind, id.as_str()));
                }
                mine.push(d.clone());
            }
            None => refused.push((kind, id.as_str())),
        }
    }
    let ids = |kind: Kind| -> Vec<&str> { refused.iter().filter(|(k, _)| *k == kind).map(|(_, id)| *id).collect() };
    (data.without(&ids(Kind::Waiver), &ids(Kind::MigrationWindow)), mine)
}

/// Gives each exception the review GitHub showed for its waiver or window, and says when the
/// file's own free-text `approved_by` disagrees with it.
pub fn attach_verified(verdict: &mut Verdict, decisions: &[Decision]) {
    for e in &mut verdict.exceptions {
        e.verified = verified(decisions, &e.by, e.approved_by.as_deref());
    }
}

fn verified(decisions: &[Decision], id: &str, claimed: Option<&str>) -> Option<VerifiedApproval> {
    let decision = decisions.iter().find(|d| d.honoured && d.subject.id == id)?;
    let p = decision.provenance.as_ref()?;
    let approvers: Vec<Approver> =
        p.approvals.iter().map(|r| Approver { login: r.login.clone(), at: r.submitted_at.clone() }).collect();
    let disagreement = claimed
        .map(|c| c.trim().trim_start_matches('@'))
        .filter(|c| !c.is_empty() && !approvers.iter().any(|a| a.login.eq_ignore_ascii_case(c)));
    let disagreement = disagreement.map(|c| {
        let logins: Vec<&str> = approvers.iter().map(|a| a.login.as_str()).collect();
        format!("{id} says approved_by {c}, but GitHub shows {} approved PR #{}", logins.join(", "), p.pr)
    });
    Some(VerifiedApproval { pr: p.pr, pr_url: p.pr_url.clone(), approvers, disagreement })
}

/// The confidence level the policy data in `policies_dir` sets, for comparisons without a
/// verdict (`k6gate compare`). Reads the data only: no Rego, no approval.
pub fn confidence(policies_dir: &Path) -> Result<f64> {
    let data_dir = policies_dir.join("data");
    if !data_dir.is_dir() {
        return Ok(PolicyData::default().confidence());
    }
    Ok(data::load(&data_dir)?.confidence())
}
