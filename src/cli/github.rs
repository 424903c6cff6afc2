//! `report github`, `notify`, `audit`, and the same reporting at the end of `run`.

use std::path::Path;

use super::{AuditArgs, AuditFormat, NotifyArgs, ReportGithubArgs, VerdictArgs};
use crate::error::{Error, Result, exit};
use crate::github::actions::{self, Context};
use crate::github::api::{Api, ApiConfig};
use crate::github::approval::{self, Verifier};
use crate::github::audit;
use crate::github::report::{Links, Posted, Report, publish};
use crate::history::{Outcome, RunFilter, RunStore};
use crate::policy::data;
use crate::policy::verdict::{Status, Verdict};
use crate::summary::RunSummary;

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, None, format!("cannot read: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::input(path, Some(e.line() as u64), format!("not a valid {what}: {e}")))
}

/// Links for a run: the Actions run, and the Grafana dashboard over the run's time range
/// when `K6GATE_GRAFANA_URL` is set (dashboard `K6GATE_GRAFANA_DASHBOARD_UID`, else the
/// live dashboard `grafana generate` provisions).
pub fn links(summary: Option<&RunSummary>, run_id: Option<&str>) -> Links {
    use crate::grafana::annotate::{ENV_DASHBOARD_UID, ENV_URL};
    let var = |n: &str| std::env::var(n).ok().filter(|v| !v.trim().is_empty());
    let grafana = match (var(ENV_URL), summary, run_id) {
        (Some(url), Some(s), Some(id)) => {
            let uid = var(ENV_DASHBOARD_UID).unwrap_or_else(|| crate::grafana::generate::LIVE_UID.to_string());
            crate::grafana::embed::run_dashboard_url(&url, &uid, s, id).ok()
        }
        _ => None,
    };
    // Built from the plain variables: `notify` may run without a token in its environment.
    let actions_run = match (var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
        (Some(repo), Some(id)) => Some(format!(
            "{}/{repo}/actions/runs/{id}",
            var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()).trim_end_matches('/')
        )),
        _ => None,
    };
    Links { run_id: run_id.map(str::to_string), actions_run, grafana }
}

/// Writes the job summary and workflow commands (inside Actions), then posts the check run
/// and the PR comment. Any API failure is an error: the report never claims success.
pub fn to_github(report: &Report) -> Result<()> {
    if actions::in_actions() {
        for line in report.workflow_commands() {
            println!("{line}");
        }
        actions::append_job_summary(&format!("{}\n{}", report.title, report.summary))
            .map_err(|e| Error::Usage(format!("cannot write the job summary (GITHUB_STEP_SUMMARY): {e}")))?;
    }
    let ctx = Context::from_env().map_err(|e| Error::Usage(format!("report github: {e}")))?;
    let api = Api::new(ApiConfig::from_env(ctx.api_url.clone(), ctx.token.clone()))
        .map_err(|e| Error::Usage(format!("report github: {e}")))?;
    let published = publish(&api, &ctx, report)
        .map_err(|e| Error::Usage(format!("report github: {e}; the verdict was NOT reported")))?;
    for note in &published.notes {
        eprintln!("report github: note: {note}");
    }
    let repo = format!("{}/{}", ctx.owner, ctx.repo);
    for p in &published.posted {
        let done = match p {
            Posted::CheckCreated { id } => format!("created check run {id}"),
            Posted::CheckUpdated { id } => format!("updated check run {id}"),
            Posted::Status { context } => format!("set commit status {context}"),
            Posted::CommentCreated { id } => format!("commented on the pull request (comment {id})"),
            Posted::CommentUpdated { id } => format!("updated the pull request comment {id}"),
        };
        eprintln!("report github: {done} in {repo} at {}", ctx.sha);
    }
    Ok(())
}

impl VerdictArgs {
    fn load(&self) -> Result<(Verdict, Links)> {
        let verdict: Verdict = read_json(&self.verdict, "verdict")?;
        // The summary loader checks its schema version (and ingests raw k6 output too).
        let summary: Option<RunSummary> = self.summary.as_deref().map(super::load_run).transpose()?;
        Ok((verdict, links(summary.as_ref(), self.run_id.as_deref())))
    }
}

pub fn report(args: &ReportGithubArgs) -> Result<i32> {
    let (verdict, links) = args.input.load()?;
    to_github(&Report::from_verdict(&verdict, links))?;
    Ok(if verdict.outcome == Status::Fail { exit::GATE_FAILED } else { exit::OK })
}

/// Blocked runs of `test` (any environment) in the last `days` days, from the history, not
/// counting `this_run` (the block being announced, which the caller counts once).
fn blocked_recently(state_dir: &Path, test: &str, days: u32, now_ns: i64, this_run: Option<&str>) -> Result<usize> {
    let store = crate::run::open_history(state_dir)?;
    let since = now_ns - i64::from(days) * 86_400 * 1_000_000_000;
    let runs = store
        .list_runs(&RunFilter { test: Some(test), environment: None, limit: None })
        .map_err(|e| Error::Usage(format!("history: {e}")))?;
    Ok(runs
        .iter()
        .filter(|r| r.outcome == Outcome::Fail && r.started_at_ns >= since && Some(r.id.as_str()) != this_run)
        .count())
}

/// Sends the blocked-deployment notification when policy data configures one. Problems are
/// warnings (printed here): the gate's result is already decided.
pub fn notify_blocked(verdict: &Verdict, links: &Links, policies: &Path, state_dir: &Path) {
    if let Err(e) = try_notify(verdict, links, policies, state_dir) {
        eprintln!("notify: warning: {e}");
    }
}

fn try_notify(verdict: &Verdict, links: &Links, policies: &Path, state_dir: &Path) -> Result<()> {
    if verdict.outcome != Status::Fail {
        return Ok(());
    }
    let data = data::load(&policies.join("data")).map_err(|e| Error::Policy(e.to_string()))?;
    let Some(n) = data.notifications.as_ref() else { return Ok(()) };
    let within = n.escalation.as_ref().map(|e| e.within_days);
    let now = super::render::now_ns();
    // Earlier blocks, plus this one (whether or not its run is in the history).
    let count = 1 + match within {
        Some(days) => blocked_recently(state_dir, &verdict.test, days, now, links.run_id.as_deref())?,
        None => 0,
    };
    let mut plan = crate::notify::plan(n, &verdict.test, count);
    let env_url = |name: &str| std::env::var(name).ok().map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    let mut url = env_url(&plan.url_env);
    if url.is_none() && plan.escalated {
        eprintln!("notify: warning: ${} is not set: escalating on the normal route", plan.url_env);
        plan.url_env = n.webhook_url_env.clone();
        url = env_url(&plan.url_env);
    }
    let Some(url) = url else {
        eprintln!("notify: warning: notifications are configured but ${} is not set: nothing sent", plan.url_env);
        return Ok(());
    };
    let body = crate::notify::message(&plan, verdict, links, within);
    match crate::notify::send(&crate::net::Secret::new(url), &body) {
        Ok(()) => eprintln!(
            "notify: sent to ${}{}",
            plan.url_env,
            if plan.escalated { format!(" (escalated: blocked {count} times)") } else { String::new() }
        ),
        Err(e) => eprintln!("notify: warning: {e}"),
    }
    Ok(())
}

pub fn notify(args: &NotifyArgs) -> Result<i32> {
    let (verdict, links) = args.input.load()?;
    notify_blocked(&verdict, &links, &args.policies, &args.state_dir);
    Ok(exit::OK)
}

pub fn audit(args: &AuditArgs) -> Result<i32> {
    let now_ns = match &args.now {
        Some(s) => data::time(s).map_err(|m| Error::Usage(format!("--now: {m}")))?,
        None => super::render::now_ns(),
    };
    let since_ns = match &args.since {
        Some(s) => Some(data::time(s).map_err(|m| Error::Usage(format!("--since: {m}")))?),
        None => None,
    };
    let data_dir = args.policies.join("data");
    let policy_data = data::load_dirs(&data_dir, Some(&args.waivers_dir)).map_err(|e| Error::Policy(e.to_string()))?;
    let data_dirs = vec![data_dir, args.waivers_dir.clone()];
    let repo = git2::Repository::discover(&args.policies).map_err(|e| {
        Error::Usage(format!("audit: {} is not in a git repository: {}", args.policies.display(), e.message()))
    })?;
    let workdir =
        repo.workdir().and_then(|w| w.canonicalize().ok()).ok_or_else(|| Error::Usage("audit: no work tree".into()))?;
    let rel_dirs: Vec<String> = data_dirs
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .filter_map(|d| d.strip_prefix(&workdir).ok().map(|p| p.display().to_string()))
        .collect();

    let online = if args.offline {
        None
    } else {
        let ctx = Context::from_env().map_err(|e| Error::Usage(format!("audit: {e} (or pass --offline)")))?;
        let api = Api::new(ApiConfig::from_env(ctx.api_url.clone(), ctx.token.clone()))
            .map_err(|e| Error::Usage(format!("audit: {e}")))?;
        Some((ctx, api))
    };
    let branch =
        online.as_ref().and_then(|(c, _)| c.default_branch.clone()).unwrap_or_else(|| args.default_branch.clone());
    let tip = ["refs/remotes/origin/", "refs/heads/"]
        .iter()
        .find_map(|p| repo.find_reference(&format!("{p}{branch}")).ok().and_then(|r| r.peel_to_commit().ok()))
        .map(|c| c.id())
        .ok_or_else(|| Error::Usage(format!("audit: branch {branch} is not in this clone (fetch-depth: 0)")))?;
    let repo_path = online.as_ref().map(|(c, _)| c.repo_path());
    let api_ref = online.as_ref().zip(repo_path.as_deref()).map(|((_, api), path)| (api, path));
    let changes = audit::changes(&repo, tip, &rel_dirs, since_ns, api_ref, &branch)
        .map_err(|e| Error::Usage(format!("audit: git: {}", e.message())))?;

    let subjects = approval::subjects(&policy_data);
    let decisions = match &online {
        None => approval::refuse_all(&subjects, "not verified (--offline)"),
        Some((ctx, api)) => match Verifier::open(&args.policies, api, ctx, &branch, &data_dirs) {
            Ok(mut v) => v.verify(&subjects),
            Err(e) => approval::refuse_all(&subjects, &format!("its approval cannot be checked: {e}")),
        },
    };
    let entries: Vec<serde_json::Value> = ["waivers", "migration_windows"]
        .iter()
        .flat_map(|k| {
            policy_data
                .json
                .pointer(&format!("/k6gate_config/{k}"))
                .and_then(|l| l.as_array())
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    let current = decisions
        .into_iter()
        .map(|d| {
            let e = entries.iter().find(|e| e.get("id").and_then(|i| i.as_str()) == Some(d.subject.id.as_str()));
            let s = |k: &str| e.and_then(|e| e.get(k)).and_then(|v| v.as_str()).unwrap_or_default().to_string();
            let envs = e
                .and_then(|e| e.get("environments"))
                .and_then(|v| v.as_array())
                .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(","))
                .filter(|s| !s.is_empty());
            let env = e.and_then(|e| e.get("environment")).and_then(|v| v.as_str()).map(str::to_string).or(envs);
            let metric = e.and_then(|e| e.get("metric").or_else(|| e.get("metrics"))).map(|m| match m {
                serde_json::Value::String(s) => s.clone(),
                other => other
                    .as_array()
                    .map(|a| a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(","))
                    .unwrap_or_default(),
            });
            let mut scope = format!("test {}", s("test"));
            if let Some(env) = env {
                scope.push_str(&format!(", env {env}"));
            }
            if let Some(m) = metric {
                scope.push_str(&format!(", {m}"));
            }
            if !s("version").is_empty() {
                scope.push_str(&format!(", version {}", s("version")));
            }
            let expires_ns = e.and_then(|e| e.get("expires_ns")).and_then(|v| v.as_i64()).unwrap_or(i64::MIN);
            audit::Current { test: s("test"), scope, expires: s("expires"), expired: expires_ns <= now_ns, decision: d }
        })
        .collect();
    let report = audit::AuditReport { default_branch: branch, since: args.since.clone(), changes, current };
    match args.format {
        AuditFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(|e| Error::Usage(e.to_string()))?)
        }
        AuditFormat::Markdown => print!("{}", audit::markdown(&report)),
    }
    Ok(exit::OK)
}
