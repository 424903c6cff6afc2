use super::render::{git_commit, k6gate_vars, now_ns};
use super::{RunArgs, VerdictFormat};
use crate::error::{Result, exit};
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
        state_dir: args.state_dir.clone(),
        phase: args.phase.clone(),
        quiet_k6: false,
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
    Ok(match result.outcome {
        Outcome::Pass | Outcome::Warn => exit::OK,
        Outcome::Fail | Outcome::Incomplete => exit::GATE_FAILED,
        Outcome::Error => exit::ERROR,
    })
}
