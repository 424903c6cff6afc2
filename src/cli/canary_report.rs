//! Where a canary analysis is reported besides stdout, configured like `run`'s outputs: the
//! GitHub check run (`--report github`) and deployment status (`--github-deployment`), the
//! webhook policy data names (`notifications`), and Grafana (`K6GATE_GRAFANA_URL`): a point at
//! the start and a region at the decision. What to say is `canary::channels`'; this file
//! sends it through `run::outputs` and collects what each did as a [`Delivery`].
//!
//! Failures are data: the report lists them as notes and the log shows them. Only GitHub's is
//! fatal (the caller exits 2): a decision that was not reported must never look like a pass.
//! The webhook hears every decision but a promote: a rollback, an inconclusive analysis and
//! one that could not decide all stop the rollout, and someone has to know.

use crate::canary::channels::{self, Ended, Subject};
use crate::canary::run::Plan;
use crate::error::{Error, Result};
use crate::grafana::annotate;
use crate::policy::data::Notifications;
use crate::report::Links;
use crate::run::outputs::{self, Delivery, LinkBase};

use super::{CanaryArgs, ReportTarget, Settings};

/// The channels one analysis reports to, resolved before it starts.
pub struct Channels {
    pub subject: Subject,
    github: Option<outputs::GitHub>,
    report_github: bool,
    deployment: Option<u64>,
    grafana: Option<outputs::Grafana>,
    webhook: Option<(outputs::Webhook, Notifications)>,
    links: LinkBase,
    /// Problems found while resolving (a broken Grafana setting): shown, not fatal.
    pub warnings: Vec<String>,
}

impl Channels {
    /// From the flags and the environment. `serve`: GitHub is refused (a server has no one
    /// commit or deployment); a missing GitHub context when asked for is an error.
    pub fn resolve(args: &CanaryArgs, s: &Settings, serve: bool) -> Result<Channels> {
        let report_github = args.report.contains(&ReportTarget::Github);
        if serve && (report_github || args.github_deployment.is_some()) {
            return Err(Error::Usage(
                "canary serve reports to Grafana and the webhook only: --report github and --github-deployment \
                 belong to one analysis in a pipeline (k6gate canary)"
                    .into(),
            ));
        }
        let mut warnings = Vec::new();
        let github = if report_github || args.github_deployment.is_some() { Some(s.github()?) } else { None };
        let grafana = match s.grafana() {
            Ok(config) => {
                config.map(|config| outputs::Grafana { config, queue_dir: s.state_dir().join(annotate::QUEUE_DIR) })
            }
            Err(e) => {
                warnings.push(format!("Grafana annotations skipped: {}", crate::error::chain(&e)));
                None
            }
        };
        let data = crate::policy::data::load(&s.global.policies.join("data"))?;
        let webhook = data.notifications.map(|n| (s.webhook(), n));
        Ok(Channels {
            subject: Subject {
                name: args.name.clone(),
                environment: args.env.clone(),
                version: args.deployment_version.clone(),
                id: None,
            },
            github,
            report_github,
            deployment: args.github_deployment,
            grafana,
            webhook,
            links: s.links(),
            warnings,
        })
    }

    /// The same channels for the analysis `id` (`canary serve`).
    pub fn for_id(&self, id: &str) -> Channels {
        Channels {
            subject: Subject { id: Some(id.to_string()), ..self.subject.clone() },
            github: self.github.clone(),
            report_github: self.report_github,
            deployment: self.deployment,
            grafana: self.grafana.clone(),
            webhook: self.webhook.clone(),
            links: self.links.clone(),
            warnings: Vec::new(),
        }
    }

    fn links(&self, from_ms: i64, to_ms: i64) -> Links {
        Links {
            run_id: None,
            actions_run: self.links.actions_run.clone(),
            grafana: channels::grafana_link(self.links.grafana.as_ref(), &self.subject, from_ms, to_ms),
            workspace: self.links.workspace.clone(),
            // A canary analysis is not a stored run: `k6gate serve` has no page for it.
            serve: None,
        }
    }

    fn log_url(links: &Links) -> Option<String> {
        links.grafana.clone().or_else(|| links.actions_run.clone())
    }

    /// The analysis starts at `start_ms`: the Grafana point and the deployment's `in_progress`
    /// (a failure there is not fatal: nothing was decided yet).
    pub fn started(&self, plan: &Plan, start_ms: i64) -> Vec<Delivery> {
        let mut out = Vec::new();
        let planned_end = start_ms + (plan.duration_s as i64) * 1000;
        let links = self.links(start_ms, planned_end);
        if let Some(g) = &self.grafana {
            let facts = channels::annotation(&self.subject, start_ms, None, Self::log_url(&links));
            out.push(outputs::send_annotation(
                g,
                &annotate::canary_annotation(&facts, g.config.dashboard_uid.as_deref()),
            ));
        }
        if let (Some(gh), Some(id)) = (&self.github, self.deployment) {
            let mut d = outputs::report_deployment(gh, id, &channels::deployment_started(plan, Self::log_url(&links)));
            d.fatal = false;
            out.push(d);
        }
        out
    }

    /// The analysis ended at `end_ms`: the check run, the deployment status, the Grafana
    /// region and the webhook, in that order.
    pub fn ended(&self, ended: &Ended<'_>, start_ms: i64, end_ms: i64) -> Vec<Delivery> {
        let mut out = Vec::new();
        let links = self.links(start_ms, end_ms);
        if let (Some(gh), true) = (&self.github, self.report_github) {
            out.push(outputs::report_to_github(gh, &channels::github_report(&self.subject, ended, links.clone())));
        }
        if let (Some(gh), Some(id)) = (&self.github, self.deployment) {
            out.push(outputs::report_deployment(gh, id, &channels::deployment_decided(ended, Self::log_url(&links))));
        }
        if let Some(g) = &self.grafana {
            let facts = channels::annotation(&self.subject, start_ms, Some((ended, end_ms)), Self::log_url(&links));
            out.push(outputs::send_annotation(
                g,
                &annotate::canary_annotation(&facts, g.config.dashboard_uid.as_deref()),
            ));
        }
        if let (Some((w, n)), false) = (&self.webhook, ended.promoted()) {
            let test = &self.subject.name;
            let plan = crate::notify::plan(n, test, 1);
            let body = crate::notify::canary_message(&plan, &channels::webhook_note(&self.subject, ended, &links));
            out.push(outputs::post_webhook(w, &plan.url_env, &body));
        }
        out
    }
}

/// The first fatal delivery's problem, as the command's error.
pub fn fatal(delivered: &[Delivery]) -> Option<Error> {
    delivered
        .iter()
        .find(|d| d.fatal && d.problem.is_some())
        .map(|d| Error::NotDelivered { service: d.service, reason: d.problem.clone().unwrap_or_default() })
}
