//! `history` and `baseline`.

use super::{BaselineCommand, HistoryArgs, OutputFormat, Settings};
use crate::error::{Error, Exit, Result};
use crate::history::{RunFilter, RunStore};
use crate::load::open_history;
use crate::time::format_rfc3339_ms;

pub fn list(args: &HistoryArgs, s: &Settings) -> Result<Exit> {
    let store = open_history(&s.history())?;
    let runs = store.list_runs(&RunFilter {
        test: args.test.as_deref(),
        environment: args.env.as_deref(),
        limit: Some(args.limit),
    })?;
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&runs).map_err(Error::serialize("run list"))?);
        return Ok(Exit::Success);
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(vec!["run", "test", "env", "outcome", "version", "commit", "branch", "started", "by", "problem"]);
    for r in &runs {
        t.add_row(vec![
            r.id.clone(),
            r.test.clone(),
            r.environment.clone(),
            r.outcome.to_string(),
            r.deployment_version.clone().unwrap_or_default(),
            r.git_commit.clone().unwrap_or_default(),
            r.git_branch.clone().unwrap_or_default(),
            format_rfc3339_ms(r.started_at_ns),
            r.user.clone().unwrap_or_default(),
            r.problem.as_deref().map(|p| p.chars().take(60).collect()).unwrap_or_default(),
        ]);
    }
    println!("{t}");
    Ok(Exit::Success)
}

pub fn sync(s: &Settings) -> Result<Exit> {
    let store = open_history(&s.history())?;
    let Some(remote) = store.remote() else {
        return Err(Error::Usage("history sync needs the durable store: --history URL or K6GATE_HISTORY_URL".into()));
    };
    let report = remote.sync()?;
    println!("{}: uploaded {} run(s), downloaded {}", remote.url(), report.uploaded.len(), report.downloaded);
    for id in &report.uploaded {
        println!("  uploaded {id}");
    }
    if report.failed.is_empty() {
        return Ok(Exit::Success);
    }
    for (id, why) in &report.failed {
        println!("  NOT uploaded {id}: {why}");
    }
    Err(crate::history::HistoryError::Remote {
        url: remote.url().to_string(),
        action: format!("upload {} run(s)", report.failed.len()),
        message: format!(
            "they are still only in {}; run `k6gate history sync` again once the store is reachable",
            s.state_dir().display()
        ),
    }
    .into())
}

pub fn baseline(cmd: &BaselineCommand, s: &Settings) -> Result<Exit> {
    let now = crate::clock::now_ns();
    let by = s.who().user.unwrap_or_else(|| "unknown".into());
    let store = open_history(&s.history())?;
    match cmd {
        BaselineCommand::Pin { run_id, reason } => {
            let pin = store.pin(run_id, &by, reason, now)?;
            println!(
                "pinned run {} as the baseline of {} in {} ({})",
                pin.run_id, pin.test, pin.environment, pin.reason
            );
        }
        BaselineCommand::Unpin { test, env, reason } => {
            let pin = store.invalidate_pin(test, env, &by, reason, now)?;
            println!("unpinned run {} for {} in {}: {reason}", pin.run_id, pin.test, pin.environment);
        }
        BaselineCommand::Show { test, env } => {
            let branch = &s.global.default_branch;
            match store.baseline(test, env, branch)? {
                Some(c) => {
                    println!("run {} ({}): {}", c.run.id, c.run.deployment_version.as_deref().unwrap_or("?"), c.reason)
                }
                None => println!("no baseline yet for {test} in {env}: the next passing run on {branch} becomes it"),
            }
        }
    }
    Ok(Exit::Success)
}
