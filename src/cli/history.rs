use super::{BaselineCommand, HistoryArgs, OutputFormat};
use crate::error::{Error, Result, exit};
use crate::history::{RunFilter, RunStore, who};
use crate::run::open_history;
use crate::time::format_rfc3339_ms;

fn history_err(e: impl std::fmt::Display) -> Error {
    Error::Usage(format!("history: {e}"))
}

pub fn list(args: &HistoryArgs) -> Result<i32> {
    let store = open_history(&args.state_dir)?;
    let runs = store
        .list_runs(&RunFilter { test: args.test.as_deref(), environment: args.env.as_deref(), limit: Some(args.limit) })
        .map_err(history_err)?;
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&runs).unwrap_or_default());
        return Ok(exit::OK);
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED)
        .set_header(vec!["run", "test", "env", "outcome", "version", "commit", "branch", "started", "by"]);
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
        ]);
    }
    println!("{t}");
    Ok(exit::OK)
}

pub fn baseline(cmd: &BaselineCommand) -> Result<i32> {
    let now = super::render::now_ns();
    let by = who::current_user().unwrap_or_else(|| "unknown".into());
    match cmd {
        BaselineCommand::Pin { run_id, reason, state_dir } => {
            let store = open_history(state_dir)?;
            let pin = store.pin(run_id, &by, reason, now).map_err(history_err)?;
            println!(
                "pinned run {} as the baseline of {} in {} ({})",
                pin.run_id, pin.test, pin.environment, pin.reason
            );
        }
        BaselineCommand::Unpin { test, env, reason, state_dir } => {
            let store = open_history(state_dir)?;
            let pin = store.invalidate_pin(test, env, &by, reason, now).map_err(history_err)?;
            println!("unpinned run {} for {} in {}: {reason}", pin.run_id, pin.test, pin.environment);
        }
        BaselineCommand::Show { test, env, default_branch, state_dir } => {
            let store = open_history(state_dir)?;
            match store.baseline(test, env, default_branch).map_err(history_err)? {
                Some(c) => {
                    println!("run {} ({}): {}", c.run.id, c.run.deployment_version.as_deref().unwrap_or("?"), c.reason)
                }
                None => {
                    println!("no baseline yet for {test} in {env}: the next passing run on {default_branch} becomes it")
                }
            }
        }
    }
    Ok(exit::OK)
}
