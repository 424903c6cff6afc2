//! `history`, `history changepoints` and `baseline`.

use super::{
    BaselineCommand, ChangepointsArgs, DetectionArgs, HistoryArgs, HistoryCompareArgs, HistoryTrendArgs, OutputFormat,
    PruneArgs, RecordSelection, Settings, TableFormat,
};
use crate::error::{Error, Exit, Result};
use crate::history::{DigestQuery, Records, RunFilter, RunStore};
use crate::load::open_history;
use crate::time::format_rfc3339_ms;
use crate::trend::changepoints::{Measure, Report, Status, detect};
use crate::trend::deployments::{self, Between, Change, PinMark, Selection, Trend, VersionComparison};

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
    if r.reclaimed_bytes > 0 {
        out.push_str(&format!("\n  given back to the file system by the history file: {}", bytes(r.reclaimed_bytes)));
    }
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

fn selection(args: &RecordSelection) -> Selection<'_> {
    Selection { phase: args.phase.as_deref(), group: args.group.as_deref() }
}

/// `history compare --from A --to B`: read from the records only (two index lookups).
pub fn compare(args: &HistoryCompareArgs, s: &Settings) -> Result<Exit> {
    let store = open_history(&s.history())?;
    let select = selection(&args.select);
    let phases = select.phases();
    let read = |version: &str| {
        store.digest_runs(&DigestQuery {
            test: &args.select.test,
            environment: &args.select.env,
            version: Some(version),
            since_ns: None,
            phases: &phases,
            group: select.group,
        })
    };
    let (from, to) = (read(&args.from)?, read(&args.to)?);
    let c = deployments::compare_versions(
        &args.select.test,
        &args.select.env,
        (&args.from, &from),
        (&args.to, &to),
        select,
    )
    .map_err(|e| Error::Usage(format!("history compare: {e}")))?;
    match args.select.format {
        TableFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&c).map_err(Error::serialize("comparison"))?)
        }
        TableFormat::Text => println!("{}", comparison_text(&c, false)),
        TableFormat::Markdown => println!("{}", comparison_text(&c, true)),
    }
    Ok(Exit::Success)
}

/// `--since`: an RFC 3339 time, a date, or days back from now.
fn since_ns(since: Option<&str>, now_ns: i64) -> Result<Option<i64>> {
    let Some(text) = since.map(str::trim) else { return Ok(None) };
    if let Some(days) = text.strip_suffix('d').and_then(|d| d.parse::<i64>().ok()) {
        return Ok(Some(now_ns - days * 86_400 * 1_000_000_000));
    }
    let full = if text.len() == 10 { format!("{text}T00:00:00Z") } else { text.to_string() };
    crate::time::parse_rfc3339_ns(full.as_bytes()).map(Some).ok_or_else(|| {
        Error::Usage(format!("--since {text:?}: expected an RFC 3339 time, a date (2026-01-31) or days back (90d)"))
    })
}

fn measure(name: &str) -> Result<crate::trend::changepoints::Measure> {
    Ok(match name {
        "p50" => Measure::P50Ms,
        "p95" => Measure::P95Ms,
        "p99" => Measure::P99Ms,
        "rps" => Measure::RequestsPerS,
        other => Measure::from_name(other).ok_or_else(|| {
            Error::Usage(format!("--metric: unknown metric {other:?} (known: p50, p95, p99, error_rate, rps)"))
        })?,
    })
}

/// `history trend`: the metric over the deployments, from the records only.
pub fn trend(args: &HistoryTrendArgs, s: &Settings) -> Result<Exit> {
    let metric = measure(&args.metric)?;
    let since = since_ns(args.since.as_deref(), crate::clock::now_ns())?;
    let store = open_history(&s.history())?;
    let select = selection(&args.select);
    let phases = select.phases();
    let (test, env) = (&args.select.test, &args.select.env);
    let runs = store.digest_runs(&DigestQuery {
        test,
        environment: env,
        version: None,
        since_ns: since,
        phases: &phases,
        group: Some(select.group.unwrap_or(crate::summary::digest::TOTAL)),
    })?;
    // Reviewed change points mark the trend when there is policy data to read them from.
    let data_dir = s.global.policies.join("data");
    let reviews = if data_dir.is_dir() {
        crate::policy::data::load(&data_dir)?.changepoint_reviews(test, env)
    } else {
        Vec::new()
    };
    let pins: Vec<PinMark> = store
        .list_pins(Some(test), Some(env))?
        .into_iter()
        .map(|p| PinMark { active: p.invalidated.is_none(), run_id: p.run_id })
        .collect();
    let since_text = since.map_or_else(|| "the first run".to_string(), format_rfc3339_ms);
    let t = deployments::trend(test, env, &runs, metric, select, (&reviews, &pins), &since_text)
        .map_err(|e| Error::Usage(format!("history trend: {e}")))?;
    match args.select.format {
        TableFormat::Json => println!("{}", serde_json::to_string_pretty(&t).map_err(Error::serialize("trend"))?),
        TableFormat::Text => println!("{}", trend_text(&t, false)),
        TableFormat::Markdown => println!("{}", trend_text(&t, true)),
    }
    Ok(Exit::Success)
}

/// `history backfill`: the records of runs recorded before them, from their summaries. Read
/// here, above the store, which never reads inside a summary.
pub fn backfill(s: &Settings) -> Result<Exit> {
    let store = open_history(&s.history())?;
    let ids = store.runs_without_digest()?;
    let mut done = 0;
    for id in &ids {
        let run = store.get_run(id)?;
        let summary: crate::summary::RunSummary = match run.summary_as() {
            Some(Ok(summary)) => summary,
            Some(Err(e)) => {
                return Err(Error::input(
                    store.name(),
                    None,
                    format!("run {id}: its summary is not a RunSummary this k6gate reads: {e}"),
                ));
            }
            None => continue,
        };
        store.put_digest(id, &crate::summary::digest::rows(&summary))?;
        done += 1;
    }
    println!("{}: added the record of {done} run(s) ({} needed one)", store.name(), ids.len());
    let decided = crate::policy::decision::backfill(&store)?;
    println!("{}: added the decision record of {} run(s)", store.name(), decided.filled);
    for (id, why) in &decided.unreadable {
        println!("{}: run {id} has no decision record: {why}", store.name());
    }
    Ok(Exit::Success)
}

/// A table as text (comfy-table) or Markdown.
fn grid(header: Vec<&str>, rows: Vec<Vec<String>>, markdown: bool) -> String {
    if markdown {
        let mut out = format!("| {} |\n|{}|", header.join(" | "), vec!["---"; header.len()].join("|"));
        for r in rows {
            out.push_str(&format!("\n| {} |", r.iter().map(|c| c.replace('|', "\\|")).collect::<Vec<_>>().join(" | ")));
        }
        return out;
    }
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(header);
    for r in rows {
        t.add_row(r);
    }
    t.to_string()
}

fn group_name(group: &str) -> String {
    if group.is_empty() { "(all requests)".into() } else { group.to_string() }
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1} ms"))
}

fn rate(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{:.2} %", v * 100.0))
}

fn pct(c: &Change) -> String {
    c.change_pct.map_or_else(|| "-".into(), |p| format!("{p:+.1} %"))
}

fn comparison_text(c: &VersionComparison, markdown: bool) -> String {
    let heading = format!(
        "{} in {}: {} ({} run(s)) -> {} ({} run(s)), {} phase",
        c.test,
        c.environment,
        c.from.version,
        c.from.runs.len(),
        c.to.version,
        c.to.runs.len(),
        c.phase
    );
    let mut out = if markdown { format!("### {heading}\n\n") } else { format!("{heading}\n") };
    let mut rows = Vec::new();
    for g in &c.groups {
        for (name, change, fmt) in [
            ("P50", &g.p50_ms, ms as fn(Option<f64>) -> String),
            ("P95", &g.p95_ms, ms),
            ("P99", &g.p99_ms, ms),
            ("errors", &g.error_rate, rate),
        ] {
            rows.push(vec![
                group_name(&g.group),
                name.to_string(),
                fmt(change.from),
                fmt(change.to),
                pct(change),
                change.between.describe(),
            ]);
        }
    }
    out.push_str(&grid(
        vec!["group", "metric", &c.from.version, &c.to.version, "change", "between runs (α = 0.05)"],
        rows,
        markdown,
    ));
    out.push_str(if markdown { "\n\n**Runs**\n\n" } else { "\nRuns:\n" });
    let mut runs = Vec::new();
    for side in [&c.from, &c.to] {
        for (r, counted) in side.runs.iter().map(|r| (r, true)).chain(side.left_out.iter().map(|r| (r, false))) {
            runs.push(vec![
                side.version.clone(),
                r.run_id.clone(),
                format_rfc3339_ms(r.started_at_ns),
                r.outcome.to_string(),
                if counted { ms(r.p95_ms) } else { "left out".into() },
            ]);
        }
    }
    out.push_str(&grid(vec!["version", "run", "started", "outcome", "P95 (all requests)"], runs, markdown));
    if c.groups.iter().any(|g| matches!(g.p95_ms.between, Between::Tested { stands_out: true, .. })) {
        out.push_str("\nA change that stands out is larger than the runs of each version differ among themselves.");
    }
    out
}

fn trend_text(t: &Trend, markdown: bool) -> String {
    let heading = format!(
        "{} in {}: {} over {} deployment(s), {} phase, {}",
        t.test,
        t.environment,
        t.metric,
        t.points.len(),
        t.phase,
        group_name(&t.group)
    );
    let value = |v: Option<f64>| match t.metric {
        "error_rate" => rate(v),
        "requests_per_s" => v.map_or_else(|| "-".into(), |v| format!("{v:.1}/s")),
        _ => ms(v),
    };
    let rows = t
        .points
        .iter()
        .map(|p| {
            let outcomes: Vec<String> = p.outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect();
            let marks: Vec<String> = p
                .marks
                .iter()
                .map(|m| match m {
                    deployments::Mark::ChangePoint { metric, decision, source, .. } => {
                        format!("change point {metric} {decision:?} ({source})").to_lowercase()
                    }
                    deployments::Mark::Pinned { run_id, active } => {
                        format!("{} baseline {run_id}", if *active { "pinned" } else { "was pinned" })
                    }
                })
                .collect();
            vec![
                p.version.clone().unwrap_or_else(|| "(no version)".into()),
                format_rfc3339_ms(p.first_started_at_ns),
                value(p.value),
                p.runs.to_string(),
                outcomes.join(", "),
                marks.join("; "),
            ]
        })
        .collect();
    let table = grid(vec!["version", "first run", t.metric, "runs", "outcomes", "marks"], rows, markdown);
    if markdown { format!("### {heading}\n\n{table}") } else { format!("{heading}\n{table}") }
}
