//! The gate: policies and data loaded once, waivers and windows checked for approval, then
//! any number of candidates judged. `run`, `evaluate`, the demo, the benches and the tests
//! all decide through [`Gate`], so the sequence (load → approve → compare → evaluate) and the
//! confidence level exist once.
//!
//! It never reads the clock (time comes in the [`Case`]) and never turns missing data into a
//! pass: that is the policies' job, and [`Gate::judge`] only adds what they cannot see (the
//! overrides that were not honoured).

use std::path::{Path, PathBuf};

use crate::compare::{Comparison, Phase, compare};
use crate::error::Result;
use crate::github::actions::{Context, ContextError};
use crate::github::approval::{self, Decision, Mode};
use crate::policy::data::{self, PolicyData};
use crate::policy::engine::Policies;
use crate::policy::verdict::{Approver, Request, Verdict, VerifiedApproval, evaluate};
use crate::summary::RunSummary;
use crate::vars::Vars;

/// Where the gate's policy comes from.
#[derive(Debug, Clone)]
pub struct PolicySource {
    /// Rego files, with their YAML data in `data/`.
    pub policies_dir: PathBuf,
    /// One waiver or migration window per file, added by a PR (read when it exists).
    pub waivers_dir: Option<PathBuf>,
    /// How waivers and windows are checked before the policies see them.
    pub approval: Mode,
    /// Where the GitHub Actions context is read, when an override needs checking.
    pub vars: Vars,
}

impl PolicySource {
    /// `policies_dir` with no waiver directory, and overrides checked as `approval` says.
    pub fn new(policies_dir: impl Into<PathBuf>, approval: Mode) -> PolicySource {
        PolicySource { policies_dir: policies_dir.into(), waivers_dir: None, approval, vars: Vars::default() }
    }
}

/// One run as the gate sees it, and how to name it.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub summary: &'a RunSummary,
    pub source: &'a str,
}

/// The baseline of a case.
#[derive(Debug, Clone)]
pub enum Baseline<'a> {
    /// A run to compare with, and why it was chosen (for the reader).
    Run { side: Side<'a>, reason: Option<String> },
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
    pub baseline: Baseline<'a>,
    /// The previous run inside a migration window, for the ratchet.
    pub previous: Option<Side<'a>>,
}

/// Loaded policies with only the honoured overrides in their data.
#[derive(Debug)]
pub struct Gate {
    policies: Policies,
    data: PolicyData,
    approvals: Vec<Decision>,
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
        let data_dir = source.policies_dir.join("data");
        let all = data::load_dirs(&data_dir, source.waivers_dir.as_deref())?;
        let policies = Policies::load(&source.policies_dir)?;
        let data_dirs: Vec<PathBuf> = std::iter::once(data_dir).chain(source.waivers_dir.clone()).collect();
        let (data, approvals) = approval::apply_in(&all, &source.approval, context, &source.policies_dir, &data_dirs);
        Ok(Gate { policies, data, approvals })
    }

    /// The confidence level of every significance test and interval.
    pub fn confidence(&self) -> f64 {
        self.data.confidence()
    }

    /// The policy data, honoured overrides only.
    pub fn data(&self) -> &PolicyData {
        &self.data
    }

    /// Every waiver and window, and whether it is honoured.
    pub fn approvals(&self) -> &[Decision] {
        &self.approvals
    }

    pub fn policy_files(&self) -> impl Iterator<Item = &Path> {
        self.data.files.iter().chain(&self.policies.files).map(PathBuf::as_path)
    }

    /// `candidate` against `baseline` over `phase`, at the gate's confidence level.
    pub fn compare(&self, baseline: Side<'_>, candidate: Side<'_>, phase: &Phase) -> Comparison {
        compare(baseline.summary, baseline.source, candidate.summary, candidate.source, phase, self.confidence())
    }

    /// Compares, evaluates the policies, and lists the overrides that were not honoured.
    pub fn judge(&self, case: &Case<'_>) -> Result<Verdict> {
        let (baseline, reason, no_baseline) = match &case.baseline {
            Baseline::Run { side, reason } => (*side, reason.clone(), false),
            // Budgets need a baseline; the run against itself lets the SLAs be checked.
            Baseline::None => (Side { summary: case.candidate.summary, source: "this run" }, None, true),
        };
        let comparison = self.compare(baseline, case.candidate, case.phase);
        let previous = case.previous.map(|p| self.compare(p, case.candidate, case.phase));
        let request = Request {
            test: case.test,
            environment: case.environment,
            now_ns: case.now_ns,
            comparison: &comparison,
            previous: previous.as_ref(),
            no_baseline,
            baseline_reason: reason,
        };
        let mut verdict = evaluate(&self.policies, &self.data, &request)?;
        verdict.ignored.extend(approval::ignored(&self.approvals));
        attach_verified(&mut verdict, &self.approvals);
        Ok(verdict)
    }
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
