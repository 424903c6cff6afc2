//! `render`: a test's k6 script for an environment.

use super::{RenderArgs, Settings};
use crate::error::{Error, Exit, Result};
use crate::render::{RenderRequest, RunInfo, render};

pub fn run(args: &RenderArgs, s: &Settings) -> Result<Exit> {
    let vars = s.env.k6gate();
    // As `run` renders with remote write (`src/run/mod.rs`, `render_for`).
    let cardinality = match args.remote_write {
        true => crate::policy::data::load(&s.global.policies.join("data"))?.cardinality,
        false => None,
    };
    let live_labels = cardinality
        .as_ref()
        .map(|policy| |tag: &str| policy.allows(&args.test, crate::policy::cardinality::Target::Live, tag));
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
        live_labels: live_labels.as_ref().map(|f| f as &dyn Fn(&str) -> bool),
    };
    let rendered = render(&req)?;
    match &args.output {
        Some(path) => std::fs::write(path, &rendered.script).map_err(Error::output(path))?,
        None => print!("{}", rendered.script),
    }
    Ok(Exit::Success)
}
