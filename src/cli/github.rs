//! `report github`, `notify`, `audit`, and how deliveries are shown.

use std::path::Path;

use super::{AuditArgs, AuditFormat, NotifyArgs, ReportGithubArgs, Settings, VerdictArgs};
use crate::error::{Error, Exit, Result, Service};
use crate::github::api::Api;
use crate::github::approval::{self, Verifier};
use crate::github::audit;
use crate::github::report::{Links, Report};
use crate::policy::data;
use crate::policy::verdict::Verdict;
use crate::run::outputs::{self, Delivery};
use crate::summary::RunSummary;

fn read_json<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, None, format!("cannot read: {e}")))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::input(path, Some(e.line() as u64), format!("not a valid {what}: {e}")))
}

/// What each output did, on stderr; GitHub workflow commands on stdout, where Actions reads
/// them. Problems of fatal outputs are left to the caller's error.
pub fn show_deliveries(delivered: &[Delivery]) {
    for d in delivered {
        for line in &d.stdout {
            println!("{line}");
        }
        for done in &d.done {
            tracing::info!("{}: {done}", d.service);
        }
        for note in &d.notes {
            tracing::info!("{}: note: {note}", d.service);
        }
        if let (Some(p), false) = (&d.problem, d.fatal) {
            tracing::warn!("{}: {p}", d.service);
        }
    }
}

impl VerdictArgs {
    fn load(&self, s: &Settings) -> Result<(Verdict, Links)> {
        // The summary loader checks its schema version (and ingests raw k6 output too).
        let summary: Option<RunSummary> = self.summary.as_deref().map(crate::load::summary_file).transpose()?;
        let path = Path::new(&self.verdict);
        if path.exists() {
            let verdict: Verdict = read_json(path, "verdict")?;
            return Ok((verdict, s.links().links(summary.as_ref(), self.run_id.as_deref())));
        }
        // A run id: the recorded verdict, with the run's own summary and id unless given.
        let store = crate::load::open_history(&s.history())?;
        let record = crate::history::RunStore::get_run(&store, &self.verdict)?;
        let verdict: Verdict = match record.verdict_as() {
            Some(v) => v.map_err(|e| crate::load::unreadable(&record, &store, "verdict", e))?,
            None => {
                return Err(Error::Usage(format!("run {} has no verdict (it ended as {})", record.id, record.outcome)));
            }
        };
        let run_id = self.run_id.clone().unwrap_or(record.id.clone());
        let summary = match summary {
            Some(s) => Some(s),
            None => Some(crate::load::recorded(record, &store)?.summary),
        };
        Ok((verdict, s.links().links(summary.as_ref(), Some(&run_id))))
    }
}

pub fn report(args: &ReportGithubArgs, s: &Settings) -> Result<Exit> {
    let (verdict, links) = args.input.load(s)?;
    let d = outputs::report_to_github(&s.github()?, &Report::from_verdict(&verdict, links));
    show_deliveries(std::slice::from_ref(&d));
    if let Some(reason) = d.problem {
        return Err(Error::NotDelivered { service: Service::GitHub, reason });
    }
    Ok(super::evaluate::exit_for(verdict.outcome))
}

/// Sends the blocked-deployment notification when policy data configures one. Problems are
/// warnings: the gate's result is already decided.
pub fn notify(args: &NotifyArgs, s: &Settings) -> Result<Exit> {
    let (verdict, links) = args.input.load(s)?;
    let data = data::load(&s.global.policies.join("data"))?;
    let now = crate::clock::now_ns();
    if let Some(d) = outputs::notify_blocked(&s.webhook(), data.notifications.as_ref(), &verdict, &links, now) {
        show_deliveries(std::slice::from_ref(&d));
    }
    Ok(Exit::Success)
}

pub fn audit(args: &AuditArgs, s: &Settings) -> Result<Exit> {
    let now_ns = match &args.now {
        Some(s) => data::time(s).map_err(|m| Error::Usage(format!("--now: {m}")))?,
        None => crate::clock::now_ns(),
    };
    let since_ns = match &args.since {
        Some(s) => Some(data::time(s).map_err(|m| Error::Usage(format!("--since: {m}")))?),
        None => None,
    };
    let policies = &s.global.policies;
    let waivers_dir = &s.global.waivers_dir;
    let data_dir = policies.join("data");
    let policy_data = data::load_dirs(&data_dir, Some(waivers_dir))?;
    let data_dirs = vec![data_dir, waivers_dir.clone()];
    let repo = git2::Repository::discover(policies)
        .map_err(|e| Error::service(Service::Git, format!("{} is not in a git repository", policies.display()), e))?;
    let workdir = repo
        .workdir()
        .and_then(|w| w.canonicalize().ok())
        .ok_or_else(|| Error::Usage(format!("audit: {} has no work tree", policies.display())))?;
    let rel_dirs: Vec<String> = data_dirs
        .iter()
        .filter_map(|d| d.canonicalize().ok())
        .filter_map(|d| d.strip_prefix(&workdir).ok().map(|p| p.display().to_string()))
        .collect();

    let online = if args.offline {
        None
    } else {
        let gh =
            s.github().map_err(|e| Error::Usage(format!("audit: {} (or pass --offline)", crate::error::chain(&e))))?;
        let api = Api::new(gh.api.clone()).map_err(|e| Error::service(Service::GitHub, "connecting", e))?;
        Some((gh.context, api))
    };
    let branch =
        online.as_ref().and_then(|(c, _)| c.default_branch.clone()).unwrap_or_else(|| s.global.default_branch.clone());
    let tip = ["refs/remotes/origin/", "refs/heads/"]
        .iter()
        .find_map(|p| repo.find_reference(&format!("{p}{branch}")).ok().and_then(|r| r.peel_to_commit().ok()))
        .map(|c| c.id())
        .ok_or_else(|| Error::Usage(format!("audit: branch {branch} is not in this clone (fetch-depth: 0)")))?;
    let repo_path = online.as_ref().map(|(c, _)| c.repo_path());
    let api_ref = online.as_ref().zip(repo_path.as_deref()).map(|((_, api), path)| (api, path));
    let changes = audit::changes(&repo, tip, &rel_dirs, since_ns, api_ref, &branch)
        .map_err(|e| Error::service(Service::Git, "reading the policy history", e))?;

    let subjects = approval::subjects(&policy_data);
    let decisions = match &online {
        None => approval::refuse_all(&subjects, "not verified (--offline)"),
        Some((ctx, api)) => match Verifier::open(policies, api, ctx, &branch, &data_dirs) {
            Ok(mut v) => v.verify(&subjects),
            Err(e) => approval::refuse_all(&subjects, &format!("its approval cannot be checked: {e}")),
        },
    };
    let current = decisions.into_iter().map(|d| current_entry(&policy_data, d, now_ns)).collect();
    let report = audit::AuditReport { default_branch: branch, since: args.since.clone(), changes, current };
    match args.format {
        AuditFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(Error::serialize("audit report"))?)
        }
        AuditFormat::Markdown => print!("{}", audit::markdown(&report)),
    }
    Ok(Exit::Success)
}

/// A current waiver or window for the audit: its scope and expiry, and whether it is honoured.
fn current_entry(data: &data::PolicyData, d: approval::Decision, now_ns: i64) -> audit::Current {
    let waiver = data.waivers.iter().map(|w| &w.entry).find(|w| w.id == d.subject.id);
    let window = data.windows.iter().map(|w| &w.entry).find(|w| w.id == d.subject.id);
    let (test, scope, expires, expires_ns) = match (waiver, window) {
        (Some(w), _) => {
            let mut scope = format!("test {}", w.test);
            if let Some(env) = &w.environment {
                scope.push_str(&format!(", env {env}"));
            }
            scope.push_str(&format!(", {}, version {}", w.metric, w.version));
            (w.test.clone(), scope, w.expires.clone(), w.expires_ns)
        }
        (None, Some(w)) => {
            let mut scope = format!("test {}", w.test);
            if !w.environments.is_empty() {
                scope.push_str(&format!(", env {}", w.environments.join(",")));
            }
            scope.push_str(&format!(", {}", w.metrics.join(",")));
            (w.test.clone(), scope, w.expires.clone(), w.expires_ns)
        }
        (None, None) => (String::new(), "test ".into(), String::new(), i64::MIN),
    };
    audit::Current { test, scope, expires, expired: expires_ns <= now_ns, decision: d }
}
