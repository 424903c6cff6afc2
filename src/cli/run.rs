//! `k6gate run`: settings into [`RunOptions`], the run, then what it produced.

use super::{Measured, RunArgs, Settings, VerdictFormat};
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
    let measured = args.measured.unwrap_or_else(|| default_measured(&args.deployment_version));
    let caveat = caveat(measured, s.env.get("GITHUB_EVENT_NAME").as_deref(), &args.env);
    if let Some(c) = &caveat {
        tracing::warn!("{c}");
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
        remote_history: s.history().remote,
        bootstrap: args.bootstrap,
        lock: crate::run::lock::LockOptions { wait: args.lock_wait, ..Default::default() },
        phase: args.phase.phase.clone(),
        quiet_k6: false,
        remote_write,
        outputs,
        who: s.who(),
        now_ns: crate::clock::now_ns(),
        caveat,
        guard: crate::run::GuardOptions {
            ignore_window: args.ignore_window,
            window_at_ns: args.now.as_deref().map(super::preflight::parse_now).transpose()?,
        },
        confirm: args.confirm,
        in_ci: s.in_ci(),
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
    if let Some(why) = &result.not_uploaded {
        tracing::warn!(
            "run {} is recorded locally but NOT in the durable store ({why}); the next `k6gate run` or \
             `k6gate history sync` uploads it",
            result.run_id
        );
    }
    // A verdict that could not be reported is an error, whatever the verdict was.
    if let Some(d) = result.delivered.iter().find(|d| d.fatal && d.problem.is_some()) {
        return Err(Error::NotDelivered { service: d.service, reason: d.problem.clone().unwrap_or_default() });
    }
    match result.outcome {
        Outcome::Pass | Outcome::Warn => Ok(Exit::Success),
        Outcome::Fail | Outcome::Incomplete => Ok(Exit::Blocked),
        Outcome::Inconclusive => Ok(Exit::Inconclusive),
        Outcome::Error => Err(Error::RunFailed {
            run_id: result.run_id,
            reason: result.problem.unwrap_or_else(|| "no reason recorded".into()),
        }),
    }
}

/// `--measured`'s default: naming the version that runs in the target says it was deployed
/// for this run; without one, the test measured whatever the environment already ran.
fn default_measured(deployment_version: &str) -> Measured {
    match deployment_version.trim() {
        "" | "unknown" => Measured::Existing,
        _ => Measured::Deployed,
    }
}

/// A pull request's run that measured what was already deployed says so first: its verdict
/// would otherwise read as a verdict on the pull request. `event` is `GITHUB_EVENT_NAME`.
fn caveat(measured: Measured, event: Option<&str>, environment: &str) -> Option<String> {
    let pull_request = matches!(event, Some("pull_request" | "pull_request_target"));
    (pull_request && measured == Measured::Existing).then(|| {
        format!(
            "Measured the build already deployed to {environment}, not this pull request's: no deploy step ran \
             before the test (give the workflow `deploy-command`, or `target-url` with `deployment-version`)."
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_version_means_deployed_and_none_means_existing() {
        assert_eq!(default_measured("v1.4.2"), Measured::Deployed);
        assert_eq!(default_measured("unknown"), Measured::Existing);
        assert_eq!(default_measured(" "), Measured::Existing);
    }

    #[test]
    fn only_a_pull_request_that_measured_the_existing_build_gets_the_caveat() {
        let c = caveat(Measured::Existing, Some("pull_request"), "staging").expect("a caveat");
        assert!(c.starts_with("Measured the build already deployed to staging, not this pull request's"), "{c}");
        assert!(caveat(Measured::Existing, Some("pull_request_target"), "staging").is_some());
        assert_eq!(caveat(Measured::Deployed, Some("pull_request"), "staging"), None);
        assert_eq!(caveat(Measured::Existing, Some("push"), "staging"), None);
        assert_eq!(caveat(Measured::Existing, Some("schedule"), "staging"), None);
        assert_eq!(caveat(Measured::Existing, None, "staging"), None);
    }
}
