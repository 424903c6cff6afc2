//! `render`: a test's k6 script for an environment.

use super::{RenderArgs, Settings};
use crate::error::{Error, Exit, Result};
use crate::render::{RenderRequest, RunInfo, render};

pub fn run(args: &RenderArgs, s: &Settings) -> Result<Exit> {
    let vars = s.env.k6gate();
    let req = RenderRequest {
        test: &args.test,
        environment: &args.env,
        templates_dir: &args.sources.templates,
        environments_dir: &args.sources.environments,
        sets: &args.set,
        vars: &vars,
        run: RunInfo {
            run_id: "render".into(),
            git_commit: args.commit.clone().or_else(|| s.git_commit()).unwrap_or_else(|| "unknown".into()),
            deployment_version: args.deployment_version.clone().unwrap_or_else(|| "unknown".into()),
            test_date: crate::clock::date(crate::clock::now_ns()),
        },
        live_labels: None,
    };
    let rendered = render(&req)?;
    match &args.output {
        Some(path) => std::fs::write(path, &rendered.script).map_err(Error::output(path))?,
        None => print!("{}", rendered.script),
    }
    Ok(Exit::Success)
}
