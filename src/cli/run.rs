use super::render::{git_commit, k6gate_vars, now_ns};
use super::{RunArgs, VerdictFormat};
use crate::error::{Result, exit};
use crate::github::report::Report;
use crate::history::Outcome;
use crate::run::{BaselineSource, RunOptions, execute};

/// The current branch: CI variables first, then git.
pub fn git_branch() -> Option<String> {
    for var in ["GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return Some(v);
            }
        }
    }
    let out = std::process::Command::new("git").args(["branch", "--show-current"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

pub fn run(args: &RunArgs) -> Result<i32> {
    args.approval.warn_if_trusted();
    let opts = RunOptions {
        test: args.test.clone(),
        environment: args.env.clone(),
        sets: args.set.clone(),
        vars: k6gate_vars(),
        deployment_version: args.deployment_version.clone(),
        git_commit: args.commit.clone().or_else(git_commit).unwrap_or_else(|| "unknown".into()),
        git_branch: args.branch.clone().or_else(git_branch),
        default_branch: args.default_branch.clone(),
        baseline: if args.baseline == "auto" {
            BaselineSource::Auto
        } else {
            BaselineSource::Given(args.baseline.clone())
        },
        previous: args.previous.clone(),
        templates_dir: args.templates.clone(),
        environments_dir: args.environments.clone(),
        policies_dir: args.policies.clone(),
        waivers_dir: args.waivers_dir.clone(),
        approval: args.approval.mode(&args.default_branch),
        state_dir: args.state_dir.clone(),
        phase: args.phase.clone(),
        quiet_k6: false,
        // An empty variable (an unset workflow input) means "not configured".
        remote_write: args.remote_write.clone().filter(|u| !u.trim().is_empty()).map(|url| {
            crate::run::k6::RemoteWrite { url, tenant: args.tenant.clone().filter(|t| !t.trim().is_empty()) }
        }),
        now_ns: now_ns(),
    };
    let result = execute(&opts)?;
    if let Some(v) = &result.verdict {
        let text = match args.format {
            VerdictFormat::Json => serde_json::to_string_pretty(v).unwrap_or_default(),
            VerdictFormat::Markdown => crate::report::verdict::markdown(v),
            VerdictFormat::Text => crate::report::verdict::text(v),
        };
        println!("{text}");
    }
    if let Some(p) = &result.problem {
        eprintln!("k6gate: {p}");
    }
    eprintln!("run {} recorded as {}; files in {}", result.run_id, result.outcome, result.run_dir.display());
    if let Some(h) = &result.html_report {
        eprintln!("report: {}", h.display());
    }
    annotate_in_grafana(args, &result.run_id);
    let links = super::github::links(result.summary.as_ref(), Some(&result.run_id));
    let code = match result.outcome {
        Outcome::Pass | Outcome::Warn => exit::OK,
        Outcome::Fail | Outcome::Incomplete => exit::GATE_FAILED,
        Outcome::Error => exit::ERROR,
    };
    let reported = if args.report.contains(&super::ReportTarget::Github) {
        let report = match &result.verdict {
            Some(v) if result.problem.is_none() => Report::from_verdict(v, links.clone()),
            _ => Report::from_problem(
                &args.test,
                &args.env,
                result.problem.as_deref().unwrap_or("the run produced no verdict"),
                links.clone(),
            ),
        };
        super::github::to_github(&report)
    } else {
        Ok(())
    };
    if let Some(v) = &result.verdict {
        super::github::notify_blocked(v, &links, &args.policies, &args.state_dir);
    }
    // A verdict that could not be reported is an error, whatever the verdict was.
    reported.map(|()| code)
}

/// When Grafana is configured, the run becomes a region annotation (queued on disk if Grafana
/// is unreachable). Never changes the exit code: the gate judges the run's own data.
fn annotate_in_grafana(args: &RunArgs, run_id: &str) {
    use crate::grafana::annotate;
    use crate::history::RunStore;
    let config = match annotate::GrafanaConfig::from_env() {
        Ok(Some(c)) => c,
        Ok(None) => return,
        Err(e) => {
            eprintln!("k6gate: warning: Grafana annotation skipped: {e}");
            return;
        }
    };
    let Ok(store) = crate::run::open_history(&args.state_dir) else { return };
    let Ok(record) = store.get_run(run_id) else { return };
    let report = record.run_dir.as_ref().map(|d| d.join("report.html").display().to_string());
    let a =
        annotate::run_annotation(&annotate::RunFacts::from_record(&record, report), config.dashboard_uid.as_deref());
    let queue = annotate::Queue::new(args.state_dir.join(annotate::QUEUE_DIR));
    if let Err(e) = super::grafana::send(&config, &queue, &a) {
        eprintln!("k6gate: warning: {e}");
    }
}
