//! `k6gate run`: settings into [`RunOptions`], the run, then what it produced.

use super::{RunArgs, Settings, VerdictFormat};
use crate::error::{Error, Exit, Result};
use crate::history::Outcome;
use crate::run::{BaselineSource, RunOptions, execute, k6::RemoteWrite};

pub fn run(args: &RunArgs, s: &Settings) -> Result<Exit> {
    if let Some(w) = s.trusted_warning() {
        tracing::warn!("{w}");
    }
    // An empty variable (an unset workflow input) means "not configured".
    let remote_write = match args.remote_write.clone().filter(|u| !u.trim().is_empty()) {
        Some(url) => Some(RemoteWrite {
            url,
            tenant: args.tenant.clone().filter(|t| !t.trim().is_empty()),
            auth: s.remote_write_auth()?,
            query_url: s.env.get("K6GATE_PROMETHEUS_QUERY_URL"),
        }),
        None => None,
    };
    let mut warnings = Vec::new();
    let outputs =
        s.outputs(remote_write.as_ref(), args.report.contains(&super::ReportTarget::Github), &mut warnings)?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let opts = RunOptions {
        test: args.test.clone(),
        environment: args.env.clone(),
        sets: args.set.clone(),
        vars: s.env.k6gate(),
        deployment_version: args.deployment_version.clone(),
        git_commit: args.commit.clone().or_else(|| s.git_commit()).unwrap_or_else(|| "unknown".into()),
        git_branch: args.branch.clone().or_else(|| s.git_branch()),
        default_branch: s.global.default_branch.clone(),
        baseline: if args.baseline == "auto" {
            BaselineSource::Auto
        } else {
            BaselineSource::Given(args.baseline.clone())
        },
        previous: args.previous.clone(),
        templates_dir: args.sources.templates.clone(),
        environments_dir: args.sources.environments.clone(),
        policy: s.policy_source()?,
        state_dir: s.global.state_dir.clone(),
        phase: args.phase.phase.clone(),
        quiet_k6: false,
        remote_write,
        outputs,
        who: s.who(),
        now_ns: crate::clock::now_ns(),
    };
    let result = execute(&opts)?;
    if let Some(v) = &result.verdict {
        let text = match args.format {
            VerdictFormat::Json => serde_json::to_string_pretty(v).map_err(Error::serialize("verdict"))?,
            VerdictFormat::Markdown => crate::report::verdict::markdown(v),
            VerdictFormat::Text => crate::report::verdict::text(v),
        };
        println!("{text}");
    }
    if let Some(p) = result.problem.as_ref().filter(|_| result.outcome != Outcome::Error) {
        tracing::warn!("{p}");
    }
    tracing::info!("run {} recorded as {}; files in {}", result.run_id, result.outcome, result.run_dir.display());
    if let Some(h) = &result.html_report {
        tracing::info!("report: {}", h.display());
    }
    super::github::show_deliveries(&result.delivered);
    // A verdict that could not be reported is an error, whatever the verdict was.
    if let Some(d) = result.delivered.iter().find(|d| d.fatal && d.problem.is_some()) {
        return Err(Error::NotDelivered { service: d.service, reason: d.problem.clone().unwrap_or_default() });
    }
    match result.outcome {
        Outcome::Pass | Outcome::Warn => Ok(Exit::Success),
        Outcome::Fail | Outcome::Incomplete => Ok(Exit::Blocked),
        Outcome::Error => Err(Error::RunFailed {
            run_id: result.run_id,
            reason: result.problem.unwrap_or_else(|| "no reason recorded".into()),
        }),
    }
}
