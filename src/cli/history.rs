//! `history`, `history changepoints` and `baseline`.

use super::{BaselineCommand, ChangepointsArgs, DetectionArgs, HistoryArgs, OutputFormat, PruneArgs, Settings};
use crate::error::{Error, Exit, Result};
use crate::history::{RunFilter, RunStore};
use crate::load::open_history;
use crate::time::format_rfc3339_ms;
use crate::trend::changepoints::{Measure, Report, Status, detect};

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

/// `history prune`: the retention classes applied to the store and the run directories.
pub fn prune(args: &PruneArgs, s: &Settings) -> Result<Exit> {
    let data = crate::policy::data::load_dirs(&s.global.policies.join("data"), Some(&s.global.waivers_dir))?;
    let rules = crate::retention::Rules::from_policy(&data, &s.global.default_branch).ok_or_else(|| {
        crate::policy::PolicyError::Missing {
            dir: s.global.policies.join("data"),
            what: "retention (the retention classes history prune applies: policies/data/retention.yaml)".into(),
        }
    })?;
    let store = open_history(&s.history())?;
    let dirs = crate::history::RunDirs::new(s.state_dir());
    let report = crate::retention::prune(&rules, &store, &store.name(), &dirs, crate::clock::now_ns(), args.dry_run)?;
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(Error::serialize("prune report"))?)
        }
        OutputFormat::Text => println!("{}", prune_text(&report)),
    }
    Ok(Exit::Success)
}

pub(super) fn prune_text(r: &crate::retention::Report) -> String {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    let mut out = format!(
        "{}{}: {verb} {} in all
  runs past their summary period:     {:>5}  {}
  runs whose finer series went:       {:>5}  {}
  run directories past the raw period: {:>4}  {}",
        r.store,
        if r.dry_run { " (dry run: nothing changed)" } else { "" },
        bytes(r.bytes_saved),
        r.runs.count,
        bytes(r.runs.bytes),
        r.series.count,
        bytes(r.series.bytes),
        r.run_dirs.count,
        bytes(r.run_dirs.bytes),
    );
    if !r.kept.is_empty() {
        out.push_str(&format!(
            "
{} run(s) past their summary period kept:",
            r.kept.len()
        ));
        for k in &r.kept {
            let why: Vec<String> = k
                .why
                .iter()
                .map(|w| match w {
                    crate::retention::Exempt::Baseline { branch } => format!("baseline on {branch}"),
                    crate::retention::Exempt::Pinned => "pinned".into(),
                    crate::retention::Exempt::Waiver { id } => format!("waiver {id}"),
                    crate::retention::Exempt::Window { id } => format!("migration window {id}"),
                    crate::retention::Exempt::ChangePoint => "reviewed change point".into(),
                })
                .collect();
            out.push_str(&format!(
                "
  {} ({} in {}): {}",
                k.run_id,
                k.test,
                k.environment,
                why.join(", ")
            ));
        }
    }
    out
}

/// Bytes in binary units, as people read sizes.
pub(super) fn bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    for unit in ["KiB", "MiB", "GiB"] {
        v /= 1024.0;
        if v < 1024.0 {
            return format!("{v:.1} {unit}");
        }
    }
    format!("{:.1} TiB", v / 1024.0)
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

pub fn changepoints(args: &ChangepointsArgs, s: &Settings) -> Result<Exit> {
    let metrics = match &args.metric {
        Some(m) => vec![
            Measure::from_name(m)
                .ok_or_else(|| Error::Usage(format!("--metric: unknown metric {m:?} (known: {})", Measure::names())))?,
        ],
        None => Measure::ALL.to_vec(),
    };
    search_and_announce(&args.test, &args.env, &metrics, &args.detection, args.format, s)
}

/// The change points of `test` in `environment`, printed, and the new unreviewed ones
/// announced; [`Exit::Blocked`] when one is unreviewed.
pub(super) fn search_and_announce(
    test: &str,
    environment: &str,
    metrics: &[Measure],
    detection: &DetectionArgs,
    format: OutputFormat,
    s: &Settings,
) -> Result<Exit> {
    let data = crate::policy::data::load(&s.global.policies.join("data"))?;
    let store = open_history(&s.history())?;
    let runs = store.list_runs(&RunFilter { test: Some(test), environment: Some(environment), limit: None })?;
    let reviews = data.changepoint_reviews(test, environment);
    let report = detect(test, environment, &runs, &reviews, metrics, &detection.settings())
        .map_err(|e| Error::Usage(format!("change points: {e}")))?;
    match format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(Error::serialize("change points"))?)
        }
        OutputFormat::Text => println!("{}", table(&report)),
    }
    super::github::show_deliveries(&super::announce::announce(s, data.notifications.as_ref(), &report));
    Ok(if report.has_alerts() { Exit::Blocked } else { Exit::Success })
}

/// The report as people read it: a headline, a table, the runs left out.
fn table(r: &Report) -> String {
    let runs = r.series.iter().map(|x| x.runs).max().unwrap_or(0);
    let alerts = r.alerts().count();
    let mut out = format!(
        "{} in {}: {} change point(s) in {runs} run(s) ({} phase, all requests), {alerts} unreviewed",
        r.test,
        r.environment,
        r.change_points.len(),
        r.phase
    );
    for x in r.series.iter().filter(|x| !x.transient.is_empty()) {
        out.push_str(&format!(
            "\n{}: {} run(s) left out as a transient (a level that did not last): {}",
            x.metric,
            x.transient.len(),
            x.transient.join(", ")
        ));
    }
    for x in r.series.iter().filter(|x| x.restarted_at.is_some()) {
        out.push_str(&format!(
            "\n{} restarts at the accepted change point of run {}",
            x.metric,
            x.restarted_at.as_deref().unwrap_or_default()
        ));
    }
    if !r.change_points.is_empty() {
        let mut t = comfy_table::Table::new();
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(vec![
            "metric",
            "status",
            "from run",
            "version",
            "started",
            "before",
            "after",
            "change",
            "p-value",
            "runs since",
            "review",
        ]);
        for c in &r.change_points {
            let review = match &c.status {
                Status::Accepted { review } | Status::Dismissed { review } => review.clone(),
                Status::Alert | Status::Pending => String::new(),
            };
            t.add_row(vec![
                c.metric.to_string(),
                c.status.label().to_string(),
                c.run_id.clone(),
                c.version.clone().unwrap_or_default(),
                format_rfc3339_ms(c.started_at_ns),
                value(c.metric, c.mean_before),
                value(c.metric, c.mean_after),
                c.rel_change.map(|x| format!("{:+.1} %", x * 100.0)).unwrap_or_else(|| "-".into()),
                format!("{:.4}", c.p_value),
                c.runs_since.to_string(),
                review,
            ]);
        }
        out.push_str(&format!("\n{t}"));
    }
    if alerts > 0 {
        out.push_str(
            "\nAn ALERT is a shift nobody reviewed: look at it, then accept or dismiss it in \
             policies/data/changepoints.yaml by pull request (runbooks/change-point-alert.md).",
        );
    }
    if !r.skipped.is_empty() {
        out.push_str(&format!("\n{} run(s) left out:", r.skipped.len()));
        for x in &r.skipped {
            out.push_str(&format!("\n  {}: {}", x.run_id, x.reason));
        }
    }
    out
}

fn value(m: Measure, v: f64) -> String {
    match m {
        Measure::P50Ms | Measure::P95Ms | Measure::P99Ms => format!("{v:.1} ms"),
        Measure::ErrorRate => format!("{:.2} %", v * 100.0),
        Measure::RequestsPerS => format!("{v:.1}/s"),
    }
}
