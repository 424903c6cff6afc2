//! `archive`, `history import`, and `history prune` when an archive is set (it moves runs
//! there; without one, prune is `history.rs`'s).

use super::history::{bytes, prune_text};
use super::{ArchiveArgs, ImportArgs, OutputFormat, PruneArgs, Settings};
use crate::archive::{ImportFilter, RunArchive, Selection};
use crate::error::{Error, Exit, Result};
use crate::load::open_history;

/// The archive the settings name, opened; a usage error without one.
fn open_archive(url: Option<&str>, s: &Settings, command: &str) -> Result<RunArchive> {
    let config = match url {
        Some(url) => s.store_config(url),
        None => s.archive(),
    };
    let Some(config) = config else {
        return Err(Error::Usage(format!("{command} needs an archive: --archive URL or K6GATE_ARCHIVE_URL")));
    };
    Ok(RunArchive::open(&config)?)
}

fn retention_rules(s: &Settings) -> Result<crate::retention::Rules> {
    let data = crate::policy::data::load_dirs(&s.global.policies.join("data"), Some(&s.global.waivers_dir))?;
    crate::retention::Rules::from_policy(&data, &s.global.default_branch).ok_or_else(|| {
        crate::policy::PolicyError::Missing {
            dir: s.global.policies.join("data"),
            what: "retention (the retention classes and their archive_days: policies/data/retention.yaml)".into(),
        }
        .into()
    })
}

/// `k6gate archive`.
pub fn run(args: &ArchiveArgs, s: &Settings) -> Result<Exit> {
    let rules = retention_rules(s)?;
    let archive = open_archive(None, s, "k6gate archive")?;
    let store = open_history(&s.history())?;
    let selection = Selection { test: args.test.as_deref(), environment: args.env.as_deref() };
    let report = crate::archive::archive(
        &store,
        &store.name(),
        &rules.retention,
        &archive,
        selection,
        crate::clock::now_ns(),
        args.dry_run,
    )?;
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(Error::serialize("archive report"))?);
        return Ok(Exit::Success);
    }
    let verb = if report.dry_run { "would write" } else { "wrote" };
    println!(
        "{} -> {}{}: {verb} {} run(s), {} object(s), {}; {} run(s) past their hot period, {} already archived",
        report.store,
        report.archive,
        if report.dry_run { " (dry run: nothing written)" } else { "" },
        report.written.len(),
        report.objects,
        bytes(report.bytes),
        report.runs_due,
        report.already_archived,
    );
    for w in &report.written {
        println!("  {} ({} in {}): {} object(s), {}", w.run_id, w.test, w.environment, w.objects, bytes(w.bytes));
    }
    Ok(Exit::Success)
}

/// `k6gate history import`.
pub fn import(args: &ImportArgs, s: &Settings) -> Result<Exit> {
    let since_ns = args.since.as_deref().map(|t| parse_time(t, "--since", false)).transpose()?;
    let until_ns = args.until.as_deref().map(|t| parse_time(t, "--until", true)).transpose()?;
    let archive = open_archive(args.from.as_deref(), s, "k6gate history import")?;
    let store = open_history(&s.history())?;
    let filter = ImportFilter {
        test: args.test.as_deref(),
        environment: args.env.as_deref(),
        since_ns,
        until_ns,
        run_ids: &args.run_ids,
    };
    let report = crate::archive::import(&archive, &store, &store.name(), &filter, args.dry_run)?;
    // On the durable store, an imported run whose upload failed waits in the outbox.
    let not_uploaded: Vec<(String, Option<String>)> = match store.remote() {
        Some(remote) => remote.pending()?.into_iter().filter(|(id, _)| report.imported.contains(id)).collect(),
        None => Vec::new(),
    };
    if args.format == OutputFormat::Json {
        println!("{}", serde_json::to_string_pretty(&report).map_err(Error::serialize("import report"))?);
    } else {
        let verb = if report.dry_run { "would import" } else { "imported" };
        println!(
            "{} -> {}{}: {verb} {} run(s); {} already in the store",
            report.archive,
            report.store,
            if report.dry_run { " (dry run: nothing imported)" } else { "" },
            report.imported.len(),
            report.skipped.len()
        );
        for id in &report.imported {
            println!("  {verb} {id}");
        }
        for id in &report.skipped {
            println!("  skipped {id} (already in the store)");
        }
    }
    match (not_uploaded.first(), store.remote()) {
        (Some((id, problem)), Some(remote)) => Err(crate::history::HistoryError::Remote {
            url: remote.url().to_string(),
            action: format!("upload {} imported run(s)", not_uploaded.len()),
            message: format!(
                "{id}: {}; they are in the local history: run `k6gate history sync`",
                problem.as_deref().unwrap_or("not uploaded")
            ),
        }
        .into()),
        _ => Ok(Exit::Success),
    }
}

/// `YYYY-MM-DD` (UTC midnight; for an end, the next midnight) or an RFC 3339 time.
fn parse_time(text: &str, flag: &str, end: bool) -> Result<i64> {
    let text = text.trim();
    let is_date = text.len() == 10 && text.as_bytes().get(4) == Some(&b'-');
    let parsed = if is_date {
        crate::time::parse_rfc3339_ns(format!("{text}T00:00:00Z").as_bytes())
            .map(|ns| if end { ns + crate::policy::retention::DAY_NS } else { ns })
    } else {
        crate::time::parse_rfc3339_ns(text.as_bytes())
    };
    parsed.ok_or_else(|| Error::Usage(format!("{flag} {text:?}: expected YYYY-MM-DD or an RFC 3339 time")))
}

/// Whether `history prune` moves runs to an archive: one is set and `--no-archive` is not
/// given. Otherwise it is the prune of `history.rs`.
pub fn moves(args: &PruneArgs, s: &Settings) -> bool {
    !args.no_archive && s.archive().is_some()
}

/// `history prune` with an archive set: runs past their hot period move there first.
pub fn prune(args: &PruneArgs, s: &Settings) -> Result<Exit> {
    let rules = retention_rules(s)?;
    let archive = open_archive(None, s, "k6gate history prune")?;
    let store = open_history(&s.history())?;
    let dirs = crate::history::RunDirs::new(s.state_dir());
    let report = crate::retention::prune_moving(
        &rules,
        &store,
        &store.name(),
        &dirs,
        crate::clock::now_ns(),
        args.dry_run,
        &archive,
    )?;
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(Error::serialize("prune report"))?)
        }
        OutputFormat::Text => {
            let moved = format!(
                "  runs moved to the archive:          {:>5}  {} ({} written to {})",
                report.moved.count,
                bytes(report.moved.bytes),
                bytes(report.archived_bytes),
                archive.url()
            );
            // After the counts, before the list of runs kept.
            let text = prune_text(&report);
            let mut lines: Vec<&str> = text.lines().collect();
            lines.insert(lines.len().min(4), &moved);
            println!("{}", lines.join("\n"));
        }
    }
    Ok(Exit::Success)
}
