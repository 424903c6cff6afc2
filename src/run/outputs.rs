//! Where a run goes once it is judged: the summary to Prometheus/Mimir, an annotation to
//! Grafana, the check run and PR comment to GitHub, and a blocked deployment to the webhook.
//!
//! One place for all of them, configured once at the edge ([`Outputs`]). Each returns a
//! [`Delivery`]: what it did, or why it could not. Nothing here prints and nothing here
//! changes a verdict: a failure is data the caller shows, and the run's verdict lists it in
//! its notes. Only GitHub's failure is fatal for the exit code, because a verdict that was
//! not reported must never look like a pass in a pipeline.

use std::path::{Path, PathBuf};

use crate::error::Service;
use crate::github::actions::Context;
use crate::github::api::{Api, ApiConfig};
use crate::github::report::{Posted, Report};
use crate::grafana::annotate::{self, GrafanaConfig};
use crate::history::{Outcome, RunFilter, RunStore};
use crate::policy::data::Notifications;
use crate::policy::verdict::{Status, Verdict};
use crate::report::Links;
use crate::summary::RunSummary;

use super::Judged;

/// Every output, as the settings configured it. `Default` sends nothing anywhere.
#[derive(Debug, Clone, Default)]
pub struct Outputs {
    /// Publish the summary's series after the verdict.
    pub prometheus: Option<Prometheus>,
    /// Annotate the run (queued on disk while Grafana is unreachable).
    pub grafana: Option<Grafana>,
    /// Report the verdict as a check run and PR comment.
    pub github: Option<GitHub>,
    /// Announce a blocked deployment on the webhook that policy data names.
    pub webhook: Option<Webhook>,
    /// What links in reports and messages point at.
    pub links: LinkBase,
}

#[derive(Debug, Clone)]
pub struct Prometheus {
    /// Where and how to write (the same as k6's live output).
    pub remote_write: super::k6::RemoteWrite,
}

#[derive(Debug, Clone)]
pub struct Grafana {
    pub config: GrafanaConfig,
    /// Where annotations wait while Grafana is unreachable.
    pub queue_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct GitHub {
    pub context: Context,
    pub api: ApiConfig,
    /// Inside GitHub Actions: also the job summary and `::error::` lines.
    pub in_actions: bool,
}

#[derive(Debug, Clone)]
pub struct Webhook {
    /// The history, for escalation (blocked runs of the same test).
    pub history: crate::history::HistoryConfig,
    /// Where the webhook URLs (secrets named by policy data) are read.
    pub vars: crate::vars::Vars,
}

/// The parts links are made of, from the settings.
#[derive(Debug, Clone, Default)]
pub struct LinkBase {
    /// Grafana's URL and the dashboard a run links to.
    pub grafana: Option<(String, String)>,
    /// The Actions run (its artifacts hold `report.html`).
    pub actions_run: Option<String>,
    /// `GITHUB_WORKSPACE`, where repo-relative paths start.
    pub workspace: Option<PathBuf>,
    /// Where `k6gate serve` answers for this store (`K6GATE_SERVE_URL`), without a trailing `/`.
    pub serve: Option<String>,
}

impl LinkBase {
    /// The links of one run.
    pub fn links(&self, summary: Option<&RunSummary>, run_id: Option<&str>) -> Links {
        let grafana = match (&self.grafana, summary, run_id) {
            (Some((url, uid)), Some(s), Some(id)) => crate::grafana::embed::run_dashboard_url(url, uid, s, id).ok(),
            _ => None,
        };
        Links {
            run_id: run_id.map(str::to_string),
            actions_run: self.actions_run.clone(),
            grafana,
            workspace: self.workspace.clone(),
            serve: match (&self.serve, run_id) {
                (Some(url), Some(id)) => Some(format!("{url}/runs/{}", crate::net::percent_encode(id))),
                _ => None,
            },
        }
    }
}

/// What one output did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub service: Service,
    /// What was done, one line each.
    pub done: Vec<String>,
    /// Things the reader should know that are not failures (a fallback taken).
    pub notes: Vec<String>,
    /// Why it did not (fully) happen.
    pub problem: Option<String>,
    /// The failure must fail the command (a verdict that was not reported).
    pub fatal: bool,
    /// Lines for standard output: GitHub workflow commands inside Actions.
    pub stdout: Vec<String>,
}

impl Delivery {
    pub fn new(service: Service) -> Delivery {
        Delivery { service, done: Vec::new(), notes: Vec::new(), problem: None, fatal: false, stdout: Vec::new() }
    }

    pub fn failed(service: Service, problem: impl Into<String>) -> Delivery {
        Delivery { problem: Some(problem.into()), ..Delivery::new(service) }
    }

    /// The line the verdict's notes get when this output failed.
    pub fn note(&self) -> Option<String> {
        self.problem.as_ref().map(|p| format!("{}: {p}", self.service))
    }
}

/// A judged run, as the outputs need it.
pub struct Delivered<'a> {
    pub run_id: &'a str,
    pub run_dir: &'a Path,
    pub test: &'a str,
    pub environment: &'a str,
    pub deployment_version: &'a str,
    pub started_ns: i64,
    pub finished_ns: i64,
    pub judged: &'a Judged,
    /// Policy data's notification routes, if any.
    pub notifications: Option<&'a Notifications>,
    /// Policy data's label allowlist for the published series, if any.
    pub cardinality: Option<&'a crate::policy::cardinality::CardinalityPolicy>,
    /// What the reader must know before the verdict ([`super::RunOptions::caveat`]): the
    /// first sentence of the GitHub report.
    pub caveat: Option<&'a str>,
}

/// Sends the run everywhere configured, in a fixed order: Prometheus, Grafana, GitHub, webhook.
pub fn deliver(outputs: &Outputs, run: &Delivered<'_>) -> Vec<Delivery> {
    let judged = run.judged;
    let mut out = Vec::new();
    if let (Some(p), Some(summary)) = (&outputs.prometheus, &judged.summary) {
        out.push(publish_summary(p, summary, run.run_id, Some(judged.outcome.as_str()), run.cardinality));
    }
    if let Some(g) = &outputs.grafana {
        out.push(annotate_run(g, run));
    }
    let links = outputs.links.links(judged.summary.as_ref(), Some(run.run_id));
    if let Some(gh) = &outputs.github {
        let mut report = match (&judged.verdict, &judged.problem) {
            (Some(v), None) => Report::from_verdict(v, links.clone()),
            _ => Report::from_problem(
                run.test,
                run.environment,
                judged.problem.as_deref().unwrap_or("the run produced no verdict"),
                links.clone(),
            ),
        };
        if let Some(caveat) = run.caveat {
            report.preface(caveat);
        }
        out.push(report_to_github(gh, &report));
    }
    if let (Some(w), Some(v)) = (&outputs.webhook, &judged.verdict) {
        out.extend(notify_blocked(w, run.notifications, v, &links, run.finished_ns));
    }
    out
}

/// Remote-writes the summary's series (a handful per phase and group).
pub fn publish_summary(
    p: &Prometheus,
    summary: &RunSummary,
    run_id: &str,
    outcome: Option<&str>,
    cardinality: Option<&crate::policy::cardinality::CardinalityPolicy>,
) -> Delivery {
    let rw = &p.remote_write;
    let shown = crate::prom::remote_write::redact_url(&rw.url);
    let published = crate::prom::publish::publish_summary(
        &rw.url,
        rw.tenant.as_deref(),
        rw.auth.clone(),
        summary,
        run_id,
        outcome,
        cardinality,
    );
    match published {
        Ok(n) => Delivery {
            done: vec![format!("published {n} summary series to {shown}")],
            ..Delivery::new(Service::Prometheus)
        },
        Err(e) => Delivery::failed(Service::Prometheus, format!("the run summary was not published to {shown}: {e}")),
    }
}

/// The run as a region annotation, or queued on disk when Grafana cannot take it now.
fn annotate_run(g: &Grafana, run: &Delivered<'_>) -> Delivery {
    let facts = annotate::RunFacts {
        run_id: run.run_id.to_string(),
        test: run.test.to_string(),
        environment: run.environment.to_string(),
        deployment_version: Some(run.deployment_version.to_string()),
        outcome: run.judged.outcome,
        start_ms: annotate::ns_to_ms_floor(run.started_ns),
        end_ms: Some(annotate::ns_to_ms_ceil(run.finished_ns)),
        report_link: Some(run.run_dir.join("report.html").display().to_string()),
    };
    let a = annotate::run_annotation(&facts, g.config.dashboard_uid.as_deref());
    send_annotation(g, &a)
}

/// Sends one annotation, or queues it; a problem only when it is neither sent nor kept.
pub fn send_annotation(g: &Grafana, a: &annotate::Annotation) -> Delivery {
    let queue = annotate::Queue::new(&g.queue_dir);
    match annotate::send_or_queue(&g.config, &queue, a) {
        Ok(annotate::Outcome::Sent(id)) => {
            Delivery { done: vec![format!("annotation {id} created")], ..Delivery::new(Service::Grafana) }
        }
        Ok(other) => Delivery::failed(Service::Grafana, other.to_string()),
        Err(e) => Delivery::failed(Service::Grafana, e.to_string()),
    }
}

/// The check run (or the status fallback) and the PR comment; inside Actions also the job
/// summary and the `::error::` lines. Any failure is fatal: the report never claims success.
pub fn report_to_github(gh: &GitHub, report: &Report) -> Delivery {
    let mut d = Delivery::new(Service::GitHub);
    d.fatal = true;
    if gh.in_actions {
        d.stdout = report.workflow_commands();
        let summary = format!("{}\n{}", report.title, report.summary);
        if let Some(Err(e)) =
            gh.context.step_summary.as_ref().map(|p| crate::github::actions::append_job_summary(p, &summary))
        {
            d.problem = Some(format!("cannot write the job summary (GITHUB_STEP_SUMMARY): {e}"));
            return d;
        }
    }
    let api = match Api::new(gh.api.clone()) {
        Ok(api) => api,
        Err(e) => {
            d.problem = Some(format!("{e}; the verdict was NOT reported"));
            return d;
        }
    };
    let ctx = &gh.context;
    match crate::github::report::publish(&api, ctx, report) {
        Ok(published) => {
            d.notes = published.notes;
            let repo = format!("{}/{}", ctx.owner, ctx.repo);
            d.done = published
                .posted
                .iter()
                .map(|p| {
                    let what = match p {
                        Posted::CheckCreated { id } => format!("created check run {id}"),
                        Posted::CheckUpdated { id } => format!("updated check run {id}"),
                        Posted::Status { context } => format!("set commit status {context}"),
                        Posted::CommentCreated { id } => format!("commented on the pull request (comment {id})"),
                        Posted::CommentUpdated { id } => format!("updated the pull request comment {id}"),
                    };
                    format!("{what} in {repo} at {}", ctx.sha)
                })
                .collect();
        }
        Err(e) => d.problem = Some(format!("{e}; the verdict was NOT reported")),
    }
    d
}

/// A status on GitHub deployment `id` (the canary analysis's). Fatal like the check run when
/// it fails: a decision that was not reported never looks like a pass.
pub fn report_deployment(gh: &GitHub, id: u64, status: &crate::github::deployments::DeploymentStatus) -> Delivery {
    let mut d = Delivery::new(Service::GitHub);
    d.fatal = true;
    let ctx = &gh.context;
    let posted =
        Api::new(gh.api.clone()).and_then(|api| crate::github::deployments::post_status(&api, ctx, id, status));
    match posted {
        Ok(status_id) => d.done.push(format!(
            "set deployment {id} of {}/{} to {} (status {status_id})",
            ctx.owner,
            ctx.repo,
            status.state.name()
        )),
        Err(e) => d.problem = Some(format!("{e}; deployment {id} was NOT set to {}", status.state.name())),
    }
    d
}

/// Posts `body` to the webhook whose URL is in `$url_env`: a problem when the variable is not
/// set or the post fails.
pub fn post_webhook(w: &Webhook, url_env: &str, body: &serde_json::Value) -> Delivery {
    let mut d = Delivery::new(Service::Webhook);
    let Some(url) = w.vars.get(url_env) else {
        d.problem = Some(format!("notifications are configured but ${url_env} is not set: nothing sent"));
        return d;
    };
    match crate::notify::send(&crate::net::Secret::new(url), body) {
        Ok(()) => d.done.push(format!("sent to ${url_env}")),
        Err(e) => d.problem = Some(e.to_string()),
    }
    d
}

/// The blocked-deployment message, escalated when the same test keeps being blocked.
/// `None` when there is nothing to send (not blocked, or no notifications configured).
pub fn notify_blocked(
    w: &Webhook,
    notifications: Option<&Notifications>,
    verdict: &Verdict,
    links: &Links,
    now_ns: i64,
) -> Option<Delivery> {
    if verdict.outcome != Status::Fail {
        return None;
    }
    let n = notifications?;
    let mut d = Delivery::new(Service::Webhook);
    let within = n.escalation.as_ref().map(|e| e.within_days);
    // Earlier blocks, plus this one (whether or not its run is in the history yet).
    let earlier = match within {
        Some(days) => match blocked_recently(&w.history, &verdict.test, days, now_ns, links.run_id.as_deref()) {
            Ok(n) => n,
            Err(e) => {
                d.problem = Some(format!("cannot count earlier blocks for escalation: {}", crate::error::chain(&e)));
                return Some(d);
            }
        },
        None => 0,
    };
    let count = 1 + earlier;
    let mut plan = crate::notify::plan(n, &verdict.test, count);
    let env_url = |name: &str| w.vars.get(name);
    let mut url = env_url(&plan.url_env);
    if url.is_none() && plan.escalated {
        d.notes.push(format!("${} is not set: escalating on the normal route", plan.url_env));
        plan.url_env = n.webhook_url_env.clone();
        url = env_url(&plan.url_env);
    }
    let Some(url) = url else {
        d.problem = Some(format!("notifications are configured but ${} is not set: nothing sent", plan.url_env));
        return Some(d);
    };
    let body = crate::notify::message(&plan, verdict, links, within);
    match crate::notify::send(&crate::net::Secret::new(url), &body) {
        Ok(()) => d.done.push(format!(
            "sent to ${}{}",
            plan.url_env,
            if plan.escalated { format!(" (escalated: blocked {count} times)") } else { String::new() }
        )),
        Err(e) => d.problem = Some(e.to_string()),
    }
    Some(d)
}

/// Blocked runs of `test` (any environment) in the last `days` days, from the history, not
/// counting `this_run` (the block being announced, which the caller counts once).
fn blocked_recently(
    history: &crate::history::HistoryConfig,
    test: &str,
    days: u32,
    now_ns: i64,
    this_run: Option<&str>,
) -> crate::Result<usize> {
    let store = crate::load::open_history(history)?;
    let since = now_ns - i64::from(days) * 86_400 * 1_000_000_000;
    let runs = store.list_runs(&RunFilter { test: Some(test), environment: None, limit: None })?;
    Ok(runs
        .iter()
        .filter(|r| r.outcome == Outcome::Fail && r.started_at_ns >= since && Some(r.id.as_str()) != this_run)
        .count())
}
