//! What each channel says about an analysis: the GitHub check run (a [`Report`]) and the
//! deployment status, the webhook message's values, the Grafana annotations at the start and
//! at the decision, and the Grafana link they share. Pure: the CLI sends them (through
//! `run::outputs`, like a gate verdict) and shows what each did.
//!
//! Fails closed like the exit code: only a promote is a success anywhere; a rollback, an
//! inconclusive analysis and an analysis that could not decide are failures (the
//! deployment status of the last is `error`).

use std::fmt::Write as _;

use super::policy::Decision;
use super::report;
use super::run::{Analysis, Plan};
use crate::github::deployments::{DeploymentState, DeploymentStatus};
use crate::github::report::{Conclusion, Report};
use crate::grafana::annotate::CanaryFacts;
use crate::notify::CanaryNote;
use crate::report::Links;

/// Which analysis: what is rolled out, where, and (under `canary serve`) the controller's id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subject {
    pub name: String,
    pub environment: String,
    pub version: Option<String>,
    pub id: Option<String>,
}

impl Subject {
    /// The check run's test name: `canary <name>` (`k6gate: canary shop (production)`).
    pub fn test(&self) -> String {
        match &self.id {
            Some(id) => format!("canary {} {id}", self.name),
            None => format!("canary {}", self.name),
        }
    }
}

/// How an analysis ended: decided, or not (why).
#[derive(Debug, Clone, Copy)]
pub enum Ended<'a> {
    Decided(&'a Analysis),
    Failed(&'a str),
}

impl Ended<'_> {
    /// `promote`, `rollback`, `inconclusive` or `error`.
    pub fn word(&self) -> &'static str {
        match self {
            Ended::Decided(a) => match a.outcome.decision {
                Decision::Promote => "promote",
                Decision::Rollback => "rollback",
                // An analysis never ends on `continue` (run::analyse); if it did, no promote.
                Decision::Inconclusive | Decision::Continue => "inconclusive",
            },
            Ended::Failed(_) => "error",
        }
    }

    pub fn promoted(&self) -> bool {
        self.word() == "promote"
    }

    /// One line: the decision with its numbers, or why there is none.
    pub fn headline(&self) -> String {
        match self {
            Ended::Decided(a) => report::headline(a),
            Ended::Failed(why) => format!("canary ERROR: no decision: {why}"),
        }
    }
}

/// The Grafana dashboard over the analysis (a minute either side), when Grafana is set.
pub fn grafana_link(grafana: Option<&(String, String)>, subject: &Subject, from_ms: i64, to_ms: i64) -> Option<String> {
    let (url, uid) = grafana?;
    let mut vars = vec![("environment", subject.environment.as_str())];
    if let Some(v) = &subject.version {
        vars.push(("version", v.as_str()));
    }
    Some(crate::grafana::embed::dashboard_url(url, uid, from_ms - 60_000, to_ms + 60_000, &vars))
}

fn links_markdown(links: &Links) -> String {
    let mut items = Vec::new();
    if let Some(u) = &links.grafana {
        items.push(format!("[Grafana dashboard for the analysis]({u})"));
    }
    if let Some(u) = &links.actions_run {
        items.push(format!("[workflow run]({u})"));
    }
    if items.is_empty() { String::new() } else { format!("\n{}\n", items.join(" · ")) }
}

/// The check run (and PR comment, job summary): success only on a promote.
pub fn github_report(subject: &Subject, ended: &Ended<'_>, links: Links) -> Report {
    let mut summary = String::new();
    let version = subject.version.as_deref().map(|v| format!(", version `{v}`")).unwrap_or_default();
    let _ = writeln!(summary, "Canary analysis of **{}** on {}{version}.\n", subject.name, subject.environment);
    let title = match ended {
        Ended::Failed(why) => {
            let _ = writeln!(
                summary,
                "### ❌ canary ERROR: no decision\n\n{why}\n\nNothing is promoted: an analysis without its data fails closed."
            );
            format!("No decision: {why}")
        }
        Ended::Decided(a) => {
            summary.push_str(&report::markdown(a));
            report::headline(a)
        }
    };
    summary.push_str(&links_markdown(&links));
    Report {
        test: subject.test(),
        environment: subject.environment.clone(),
        conclusion: if ended.promoted() { Conclusion::Success } else { Conclusion::Failure },
        title: crate::report::title::clip(&title, 120),
        summary,
        annotations: Vec::new(),
        links,
    }
}

/// The deployment's status while the analysis runs.
pub fn deployment_started(plan: &Plan, log_url: Option<String>) -> DeploymentStatus {
    DeploymentStatus {
        state: DeploymentState::InProgress,
        description: format!("k6gate canary analysis: {} s in {} s looks", plan.duration_s, plan.interval_s),
        log_url,
    }
}

/// The deployment's status at the decision: `success` only on a promote, `error` when the
/// analysis could not decide.
pub fn deployment_decided(ended: &Ended<'_>, log_url: Option<String>) -> DeploymentStatus {
    let state = match ended {
        Ended::Failed(_) => DeploymentState::Error,
        e if e.promoted() => DeploymentState::Success,
        _ => DeploymentState::Failure,
    };
    DeploymentStatus { state, description: ended.headline(), log_url }
}

/// The webhook message's values: the reasons and one line of numbers per check.
pub fn webhook_note(subject: &Subject, ended: &Ended<'_>, links: &Links) -> CanaryNote {
    let (reasons, numbers) = match ended {
        Ended::Failed(why) => (vec![(*why).to_string()], Vec::new()),
        Ended::Decided(a) => {
            let numbers = report::rows(a)
                .into_iter()
                .map(|[metric, route, stable, canary, change, p, status]| {
                    format!("{metric} {route}: stable {stable}, canary {canary}, change {change}, p {p}: {status}")
                })
                .collect();
            (a.outcome.reasons.clone(), numbers)
        }
    };
    CanaryNote {
        name: subject.name.clone(),
        environment: subject.environment.clone(),
        version: subject.version.clone(),
        decision: ended.word().into(),
        headline: ended.headline(),
        reasons,
        numbers,
        grafana: links.grafana.clone(),
        actions_run: links.actions_run.clone(),
    }
}

/// The annotation facts: at the start (`ended` `None`) or at the decision, `end_ms`.
pub fn annotation(
    subject: &Subject,
    start_ms: i64,
    ended: Option<(&Ended<'_>, i64)>,
    link: Option<String>,
) -> CanaryFacts {
    CanaryFacts {
        name: subject.name.clone(),
        environment: subject.environment.clone(),
        version: subject.version.clone(),
        id: subject.id.clone(),
        start_ms,
        decided: ended.map(|(e, end_ms)| (e.word().to_string(), end_ms, e.headline())),
        link,
    }
}
