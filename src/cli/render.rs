use std::collections::BTreeMap;
use std::path::Path;

use super::RenderArgs;
use crate::error::{Error, Result, exit};
use crate::render::{RenderRequest, RunInfo, render};

/// `git rev-parse --short HEAD` in the current directory, if it is a git checkout.
pub fn git_commit() -> Option<String> {
    if let Ok(sha) = std::env::var("GITHUB_SHA") {
        return Some(sha.chars().take(12).collect());
    }
    let out = std::process::Command::new("git").args(["rev-parse", "--short=12", "HEAD"]).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

pub fn today(now_ns: i64) -> String {
    crate::time::format_rfc3339_ms(now_ns).chars().take(10).collect()
}

pub fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as i64).unwrap_or(0)
}

pub fn k6gate_vars() -> BTreeMap<String, String> {
    std::env::vars().filter(|(k, _)| k.starts_with("K6GATE_")).collect()
}

pub fn run(args: &RenderArgs) -> Result<i32> {
    let vars = k6gate_vars();
    let req = RenderRequest {
        test: &args.test,
        environment: &args.env,
        templates_dir: &args.templates,
        environments_dir: &args.environments,
        sets: &args.set,
        vars: &vars,
        run: RunInfo {
            run_id: "render".into(),
            git_commit: args.commit.clone().or_else(git_commit).unwrap_or_else(|| "unknown".into()),
            deployment_version: args.deployment_version.clone().unwrap_or_else(|| "unknown".into()),
            test_date: today(now_ns()),
        },
    };
    let rendered = render(&req)?;
    match &args.output {
        Some(path) => write(path, &rendered.script)?,
        None => print!("{}", rendered.script),
    }
    Ok(exit::OK)
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Output { path: path.to_path_buf(), source })
}
