//! The self-contained HTML report: the verdict, the side-by-side comparison, the phase tables
//! and per-second charts of a run against its baseline, in one file that opens offline.
//!
//! Everything is inline: the CSS in a `<style>` element, the charts as SVG drawn by plotters.
//! The page loads nothing (no scripts, fonts, images or links to fetch) and runs no JavaScript,
//! so it can be archived as a CI artifact and opened years later. Every string that comes from
//! the data (test names, tag values, phase names, policy messages) goes through minijinja's
//! HTML auto-escaping or plotters' SVG escaping. Like the rest of `report`, it computes no
//! statistics: it lays out what the RunSummaries and the verdict already hold.

use std::collections::BTreeMap;

use minijinja::{Environment, UndefinedBehavior, context};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use super::verdict::change;
use crate::compare::{Comparison, Metric, MetricComparison, RunIdentity, State};
use crate::policy::verdict::{Exception, RuleResult, Status, Verdict, fmt_p, fmt_value};
use crate::summary::{GroupSeries, GroupStats, PhaseSource, PhaseSummary, RunSummary, Series};

/// The report of a judged run, as one HTML document.
pub fn render(verdict: &Verdict, candidate: &RunSummary, baseline: Option<&RunSummary>) -> String {
    render_run(candidate, baseline, Some(verdict))
}

/// The report of any run. Without a verdict (an incomplete run, or one without a baseline)
/// the page says so in its header and still shows the runs, phases and charts.
pub fn render_run(candidate: &RunSummary, baseline: Option<&RunSummary>, verdict: Option<&Verdict>) -> String {
    let page = Page::build(verdict, candidate, baseline);
    match render_page(&page) {
        Ok(html) => html,
        // Only a bug in the template gets here (the tests render every section); the page
        // still carries the outcome and headline, and says why the rest is missing.
        Err(e) => error_page(&e.to_string(), &page),
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

fn render_page(page: &Page) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // The `.html` name turns on auto-escaping.
    env.add_template("report.html", TEMPLATE)?;
    env.get_template("report.html")?.render(context! { page => page })
}

fn error_page(error: &str, page: &Page) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>k6gate report</title></head>\
         <body><h1>{}: {}</h1><p>k6gate could not lay out the full report: {}</p></body></html>\n",
        escape_html(page.outcome_label),
        escape_html(&page.headline),
        escape_html(error)
    )
}

// ------------------------------------------------------------------------------------------
// What the template shows: strings formatted here, so the template only lays them out.

#[derive(Serialize)]
struct Page {
    /// CSS class: pass, warn, fail or none.
    outcome: &'static str,
    outcome_label: &'static str,
    headline: String,
    title: String,
    subtitle: Vec<String>,
    has_baseline: bool,
    runs: Vec<RunRow>,
    problems: Vec<String>,
    notes: Vec<String>,
    verdict: Option<VerdictView>,
    comparison: Option<ComparisonView>,
    no_comparison: String,
    charts: Vec<ChartView>,
    group_charts: Vec<ChartView>,
    no_charts: Option<String>,
    phases: Vec<PhaseTable>,
    footer: String,
}

#[derive(Serialize)]
struct RunRow {
    label: &'static str,
    baseline: String,
    candidate: String,
}

#[derive(Serialize)]
struct VerdictView {
    attention: Vec<ResultRow>,
    passed: Vec<ResultRow>,
    exceptions: Vec<ExceptionRow>,
    ignored: Vec<IgnoredRow>,
}

#[derive(Serialize)]
struct ResultRow {
    status: &'static str,
    label: &'static str,
    id: String,
    kind: String,
    message: String,
    source: String,
}

#[derive(Serialize)]
struct ExceptionRow {
    kind: String,
    result: String,
    message: String,
    by: String,
    people: String,
    expires: String,
    reason: String,
    source: String,
}

#[derive(Serialize)]
struct IgnoredRow {
    what: String,
    reason: String,
    source: String,
}

#[derive(Serialize)]
struct ComparisonView {
    phase: String,
    confidence: String,
    baseline: String,
    candidate: String,
    rows: Vec<ComparisonRow>,
}

#[derive(Serialize)]
struct ComparisonRow {
    group: String,
    /// Whether this row starts its group (the group name is shown once).
    first: bool,
    metric: String,
    metric_id: &'static str,
    baseline: String,
    candidate: String,
    change: String,
    /// better, worse or empty: a significant change and its direction.
    trend: &'static str,
    significance: String,
    /// Why the comparison is not sound, when it is not.
    reason: String,
    ci: String,
    rules: Vec<RuleCell>,
    /// Worst status of the rules on this row (empty when none).
    status: &'static str,
}

#[derive(Serialize)]
struct RuleCell {
    rule: String,
    status: &'static str,
    label: String,
}

#[derive(Serialize)]
struct ChartView {
    id: String,
    title: String,
    caption: String,
    svg: String,
    legend: Vec<LegendItem>,
}

#[derive(Serialize)]
struct LegendItem {
    label: String,
    color: String,
    /// solid, dashed, bar or band.
    kind: &'static str,
}

#[derive(Serialize)]
struct PhaseTable {
    title: String,
    caption: String,
    rows: Vec<PhaseRow>,
}

#[derive(Serialize)]
struct PhaseRow {
    name: String,
    detail: String,
    compared: bool,
    duration: String,
    windows: u64,
    requests: u64,
    rate: String,
    p50: String,
    p90: String,
    p95: String,
    p99: String,
    max: String,
    failed: u64,
    error_rate: String,
    checks: String,
    vus: String,
}

fn status_class(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
    }
}

fn opt(v: Option<&String>) -> String {
    v.cloned().unwrap_or_else(|| "-".into())
}

fn source_of(s: Option<&crate::policy::data::Source>) -> String {
    s.map(|s| format!("{}:{}", s.file, s.line)).unwrap_or_default()
}

impl Page {
    fn build(verdict: Option<&Verdict>, candidate: &RunSummary, baseline: Option<&RunSummary>) -> Page {
        let m = &candidate.metadata;
        let (outcome, outcome_label, headline) = match verdict {
            Some(v) => (status_class(v.outcome), v.outcome.label(), v.headline.clone()),
            None if !candidate.completeness.complete => {
                ("none", "NO VERDICT", "The run is incomplete and was not judged".to_string())
            }
            None => ("none", "NO VERDICT", "The run was not judged against a baseline".to_string()),
        };
        let test = verdict.map(|v| v.test.clone()).or_else(|| m.test_name.clone()).unwrap_or_else(|| "-".into());
        let environment =
            verdict.map(|v| v.environment.clone()).or_else(|| m.environment.clone()).unwrap_or_else(|| "-".into());
        let phase = verdict.map(|v| v.phase.clone());
        let mut subtitle = vec![format!("test {test}"), format!("environment {environment}")];
        let version = |s: &RunSummary| s.metadata.deployment_version.clone().unwrap_or_else(|| "?".into());
        match baseline {
            Some(b) => subtitle.push(format!("candidate {} vs baseline {}", version(candidate), version(b))),
            None => subtitle.push(format!("version {}", version(candidate))),
        }
        if let Some(p) = &phase {
            subtitle.push(format!("{p} phase compared"));
        }
        if let Some(v) = verdict {
            subtitle.push(format!("evaluated at {}", v.now));
        }

        let mut problems = Vec::new();
        let mut notes = Vec::new();
        for (role, s) in [("candidate", Some(candidate)), ("baseline", baseline)] {
            let Some(s) = s else { continue };
            if !s.completeness.complete {
                if s.completeness.issues.is_empty() {
                    problems.push(format!("The {role} run is incomplete."));
                }
                for i in &s.completeness.issues {
                    problems.push(format!("The {role} run is incomplete: {i}"));
                }
            }
            for n in &s.notes {
                notes.push(format!("{role}: {n}"));
            }
        }

        let compared = phase.clone().unwrap_or_else(|| crate::compare::DEFAULT_PHASE.to_string());
        let mut phases = vec![phase_table("Candidate", candidate, &compared)];
        if let Some(b) = baseline {
            phases.push(phase_table("Baseline", b, &compared));
        }
        let charts = Charts::build(candidate, baseline);

        Page {
            outcome,
            outcome_label,
            headline,
            title: format!("k6gate {outcome_label}: {test} ({environment})"),
            subtitle,
            has_baseline: baseline.is_some(),
            runs: run_rows(verdict, candidate, baseline),
            problems,
            notes,
            verdict: verdict.map(verdict_view),
            // Without a baseline the verdict's comparison is the run against itself: not shown.
            comparison: verdict
                .filter(|_| baseline.is_some())
                .map(|v| comparison_view(&v.comparison, &v.results, &v.exceptions)),
            no_comparison: match (verdict, baseline) {
                (Some(_), None) => {
                    "No baseline yet: nothing to compare with. SLAs were checked on the run alone.".into()
                }
                _ => "No verdict was evaluated for this run, so there is no comparison to show.".into(),
            },
            charts: charts.main,
            group_charts: charts.groups,
            no_charts: charts.missing,
            phases,
            footer: footer(verdict),
        }
    }
}

fn footer(verdict: Option<&Verdict>) -> String {
    let mut out = format!("Generated by k6gate {}", env!("CARGO_PKG_VERSION"));
    if let Some(v) = verdict {
        let files: Vec<&str> = v.policy.rego_files.iter().chain(&v.policy.data_files).map(String::as_str).collect();
        if !files.is_empty() {
            out.push_str(&format!(" with policies {}", files.join(", ")));
        }
    }
    out.push('.');
    out
}

fn run_rows(verdict: Option<&Verdict>, candidate: &RunSummary, baseline: Option<&RunSummary>) -> Vec<RunRow> {
    let ids = |s: &RunSummary, id: Option<&RunIdentity>| -> Vec<(&'static str, String)> {
        let m = &s.metadata;
        let source = id.map(|i| i.source.clone()).unwrap_or_else(|| {
            let paths: Vec<&str> = m.sources.iter().map(|f| f.path.as_str()).collect();
            if paths.is_empty() { "-".into() } else { paths.join(", ") }
        });
        let phases = match s.phase_source {
            PhaseSource::Tagged => "from test_stage tags",
            PhaseSource::InferredVus => "inferred from VUs",
            PhaseSource::InferredRequestRate => "inferred from request rate",
            PhaseSource::None => "none",
        };
        let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
        let phases = if names.is_empty() { phases.to_string() } else { format!("{} ({phases})", names.join(", ")) };
        let trimmed = match &s.steady_state {
            Some(ss) => format!(
                "{:.1} s ({} of {} windows, {})",
                ss.trimmed_s, ss.truncation.trimmed, ss.truncation.observations, ss.truncation.rule
            ),
            None => "-".into(),
        };
        let complete = if s.completeness.complete {
            "yes".to_string()
        } else {
            format!(
                "no ({} issue{})",
                s.completeness.issues.len(),
                if s.completeness.issues.len() == 1 { "" } else { "s" }
            )
        };
        vec![
            ("Version", opt(m.deployment_version.as_ref())),
            ("Commit", opt(m.git_commit.as_ref())),
            ("Test", opt(m.test_name.as_ref())),
            ("Environment", opt(m.environment.as_ref())),
            ("Test date", opt(m.test_date.as_ref())),
            ("Start", opt(m.start.as_ref())),
            ("Duration", m.duration_s.map_or("-".into(), |d| format!("{d:.1} s"))),
            ("Samples", m.samples.to_string()),
            ("Phases", phases),
            ("Warm-up trimmed", trimmed),
            ("Complete", complete),
            ("k6 exit code", m.k6_exit_code.map_or("-".into(), |c| c.to_string())),
            ("Source", source),
        ]
    };
    let mut cand = ids(candidate, verdict.map(|v| &v.candidate));
    let mut base = baseline.map(|b| ids(b, verdict.map(|v| &v.baseline))).unwrap_or_default();
    if let (Some(reason), Some(_)) = (verdict.and_then(|v| v.baseline_reason.clone()), baseline) {
        base.push(("Chosen as baseline", reason));
        cand.push(("Chosen as baseline", String::new()));
    }
    cand.into_iter()
        .enumerate()
        .map(|(i, (label, c))| RunRow {
            label,
            baseline: base.get(i).map(|(_, b)| b.clone()).unwrap_or_default(),
            candidate: c,
        })
        // A row that says nothing for either run (say, no k6 exit code) is left out.
        .filter(|r| r.candidate != "-" || (baseline.is_some() && r.baseline != "-"))
        .collect()
}

fn verdict_view(v: &Verdict) -> VerdictView {
    let mut results: Vec<&RuleResult> = v.results.iter().collect();
    // Failures first, then warnings, then passes; the verdict's own order within each.
    results.sort_by_key(|r| std::cmp::Reverse(r.status));
    let row = |r: &RuleResult| ResultRow {
        status: status_class(r.status),
        label: r.status.label(),
        id: r.id.clone(),
        kind: r.kind.clone(),
        message: r.message.trim_end_matches(&format!(" — {}", r.status.label())).to_string(),
        source: source_of(r.source.as_ref()),
    };
    VerdictView {
        attention: results.iter().filter(|r| r.status != Status::Pass).map(|r| row(r)).collect(),
        passed: results.iter().filter(|r| r.status == Status::Pass).map(|r| row(r)).collect(),
        exceptions: v
            .exceptions
            .iter()
            .map(|e| ExceptionRow {
                kind: e.kind.clone(),
                result: e.result.clone(),
                message: e.message.clone(),
                by: e.by.clone(),
                people: [
                    e.requested_by.as_ref().map(|p| format!("requested by {p}")),
                    e.approved_by.as_ref().map(|p| format!("approved by {p}")),
                    e.owner.as_ref().map(|p| format!("owner {p}")),
                ]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(", "),
                expires: e.expires.clone(),
                reason: e.reason.clone(),
                source: source_of(e.source.as_ref()),
            })
            .collect(),
        ignored: v
            .ignored
            .iter()
            .map(|i| IgnoredRow {
                what: i.what.clone(),
                reason: i.reason.clone(),
                source: source_of(i.source.as_ref()),
            })
            .collect(),
    }
}

fn ci(m: &MetricComparison) -> String {
    match (m.effect, m.ci_low, m.ci_high, m.metric) {
        (Some(e), Some(l), Some(h), Metric::ErrorRate) => {
            format!("{:+.2} pp [{:+.2}, {:+.2}]", e * 100.0, l * 100.0, h * 100.0)
        }
        (Some(e), Some(l), Some(h), _) => format!("{:+.1} % [{:+.1}, {:+.1}]", e * 100.0, l * 100.0, h * 100.0),
        _ => "-".into(),
    }
}

/// `worse` or `better` when the confidence interval excludes no change, else empty.
fn trend(m: &MetricComparison) -> &'static str {
    let (Some(lo), Some(hi)) = (m.ci_low, m.ci_high) else { return "" };
    let up = lo > 0.0;
    let down = hi < 0.0;
    let higher_is_worse = m.metric != Metric::RequestsPerS;
    match (up, down) {
        (true, _) if higher_is_worse => "worse",
        (true, _) => "better",
        (_, true) if higher_is_worse => "better",
        (_, true) => "worse",
        _ => "",
    }
}

/// "budget 10 %", "SLA < 500.0 ms", "ceiling 450.0 ms", "ratchet".
pub(crate) fn rule_text(r: &RuleResult, metric: Metric) -> String {
    match r.kind.as_str() {
        "sla" => r.limit.map_or("SLA".into(), |l| format!("SLA < {}", fmt_value(metric, l))),
        "window" => r.limit.map_or("window ceiling".into(), |l| format!("ceiling {}", fmt_value(metric, l))),
        "ratchet" => "no worse than the previous run".into(),
        kind => match (r.budget, metric) {
            (Some(b), Metric::ErrorRate) => format!("{kind} +{:.2} pp", b * 100.0),
            (Some(b), Metric::RequestsPerS) => format!("{kind} -{:.0} %", b * 100.0),
            (Some(b), _) => format!("{kind} +{:.0} %", b * 100.0),
            (None, _) => kind.to_string(),
        },
    }
}

fn comparison_view(c: &Comparison, results: &[RuleResult], exceptions: &[Exception]) -> ComparisonView {
    let mut rows = Vec::with_capacity(c.metrics.len());
    let mut last_group: Option<&str> = None;
    for m in &c.metrics {
        let name = m.metric.name();
        let mut rules: Vec<RuleCell> = results
            .iter()
            .filter(|r| r.group == m.group && r.metric == name)
            .map(|r| RuleCell {
                rule: rule_text(r, m.metric),
                status: status_class(r.status),
                label: r.status.label().to_string(),
            })
            .collect();
        // Waived and allowed results are not in `results`; their ids end in `/<group>/<metric>`.
        let suffix = format!("/{}/{}", m.group, name);
        for e in exceptions.iter().filter(|e| e.result.ends_with(&suffix)) {
            rules.push(RuleCell {
                rule: e.result.split('/').next().unwrap_or_default().to_string(),
                status: "waived",
                label: format!("{} by {}", e.kind.to_uppercase(), e.by),
            });
        }
        let worst = results
            .iter()
            .filter(|r| r.group == m.group && r.metric == name)
            .map(|r| r.status)
            .max()
            .map_or("", status_class);
        let first = last_group != Some(m.group.as_str());
        last_group = Some(m.group.as_str());
        let value = |v: Option<f64>| v.map_or("-".into(), |v| fmt_value(m.metric, v));
        rows.push(ComparisonRow {
            group: m.group.clone(),
            first,
            metric: m.metric.label().to_string(),
            metric_id: name,
            baseline: value(m.baseline),
            candidate: value(m.candidate),
            change: change(m),
            trend: trend(m),
            significance: if m.state == State::Ok { fmt_p(m.p_value) } else { m.state.label().to_string() },
            reason: m.reason.clone().unwrap_or_default(),
            ci: ci(m),
            rules,
            status: worst,
        });
    }
    let who = |r: &RunIdentity| r.deployment_version.clone().unwrap_or_else(|| r.source.clone());
    ComparisonView {
        phase: c.phase.clone(),
        confidence: format!("{:.0} %", c.confidence * 100.0),
        baseline: who(&c.baseline),
        candidate: who(&c.candidate),
        rows,
    }
}

fn phase_table(role: &str, s: &RunSummary, compared: &str) -> PhaseTable {
    let ms = |v: Option<f64>| v.map_or("-".into(), |v| format!("{v:.1}"));
    let row = |name: String, detail: String, p: &PhaseSummary, compared: bool| {
        let t: &GroupStats = &p.total;
        let l = t.latency_ms.as_ref();
        PhaseRow {
            name,
            detail,
            compared,
            duration: format!("{:.1}", p.duration_s),
            windows: p.windows,
            requests: t.requests,
            rate: format!("{:.1}", t.requests_per_s),
            p50: ms(l.and_then(|l| l.p50)),
            p90: ms(l.and_then(|l| l.p90)),
            p95: ms(l.and_then(|l| l.p95)),
            p99: ms(l.and_then(|l| l.p99)),
            max: ms(l.and_then(|l| l.max)),
            failed: t.failed,
            error_rate: t.error_rate.map_or("-".into(), |r| format!("{:.2} %", r * 100.0)),
            checks: t.checks.as_ref().and_then(|c| c.rate).map_or("-".into(), |r| format!("{:.2} %", r * 100.0)),
            vus: t.throughput.as_ref().and_then(|t| t.vus_max).map_or("-".into(), |v| format!("{v:.0}")),
        }
    };
    let mut rows: Vec<PhaseRow> =
        s.phases.iter().map(|p| row(p.name.clone(), String::new(), p, p.name == compared)).collect();
    if let Some(ss) = &s.steady_state {
        rows.push(row(
            "steady-state".into(),
            format!("{} minus {:.1} s of warm-up", ss.phase, ss.trimmed_s),
            &ss.summary,
            compared == "steady-state",
        ));
    }
    rows.push(row("whole run".into(), String::new(), &s.whole_run, compared == "whole-run"));
    let m = &s.metadata;
    PhaseTable {
        title: format!("{role}: {}", m.deployment_version.clone().unwrap_or_else(|| "unknown version".into())),
        caption: format!(
            "{} samples, {}",
            m.samples,
            m.start.as_ref().map_or("start unknown".into(), |st| format!("started {st}"))
        ),
        rows,
    }
}

// ------------------------------------------------------------------------------------------
// Charts: per-second series on a "seconds since start" axis, each run from its own start.

const BLUE: RGBColor = RGBColor(9, 105, 218);
const LIGHT_BLUE: RGBColor = RGBColor(84, 174, 255);
const GREY: RGBColor = RGBColor(110, 119, 129);
const RED: RGBColor = RGBColor(207, 34, 46);
const AXIS: RGBColor = RGBColor(87, 96, 106);
const GRID: RGBColor = RGBColor(234, 238, 242);
const TRIM: RGBColor = RGBColor(207, 34, 46);

fn hex(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

fn phase_color(name: &str) -> RGBColor {
    match name {
        "sustained" => RGBColor(45, 164, 78),
        "ramp-up" => RGBColor(9, 105, 218),
        "ramp-down" => RGBColor(130, 80, 223),
        "warm-up" => RGBColor(191, 135, 0),
        _ => RGBColor(110, 119, 129),
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Stroke {
    Solid,
    Dashed,
}

struct Line {
    label: String,
    color: RGBColor,
    stroke: Stroke,
    width: u32,
    /// (seconds since start, value); `None` breaks the line.
    points: Vec<(f64, Option<f64>)>,
}

/// A span of the time axis: a phase, or warm-up windows trimmed from the steady state.
struct Band {
    from: f64,
    to: f64,
    name: String,
}

struct Timeline {
    phases: Vec<Band>,
    trimmed: Vec<Band>,
    /// The baseline's trimmed warm-up, on its own time axis (a strip under the lines).
    baseline_trimmed: Vec<Band>,
}

struct Spec<'a> {
    y_desc: &'a str,
    size: (u32, u32),
    x_max: f64,
    lines: Vec<Line>,
    /// (from, to, height) rectangles.
    bars: Vec<(f64, f64, f64)>,
    bar_color: RGBColor,
    timeline: &'a Timeline,
}

/// Seconds since the first window, at the middle of each window.
fn times(s: &Series) -> Vec<f64> {
    let first = s.start_unix_s.first().copied().unwrap_or(0);
    s.start_unix_s.iter().map(|t| (t - first) as f64 + s.window_s / 2.0).collect()
}

fn span(s: &Series) -> f64 {
    let first = s.start_unix_s.first().copied().unwrap_or(0);
    s.start_unix_s.last().map_or(0.0, |l| (l - first) as f64 + s.window_s)
}

fn timeline(s: &Series) -> Timeline {
    let first = s.start_unix_s.first().copied().unwrap_or(0);
    let mut phases: Vec<Band> = Vec::new();
    let mut trimmed: Vec<Band> = Vec::new();
    for (i, t) in s.start_unix_s.iter().enumerate() {
        let (from, to) = ((t - first) as f64, (t - first) as f64 + s.window_s);
        if let Some(name) = s.phase.get(i).cloned().flatten() {
            match phases.last_mut() {
                Some(b) if b.name == name && (b.to - from).abs() < 1e-9 => b.to = to,
                _ => phases.push(Band { from, to, name }),
            }
        }
        if s.trimmed.get(i).copied().unwrap_or(false) {
            match trimmed.last_mut() {
                Some(b) if (b.to - from).abs() < 1e-9 => b.to = to,
                _ => trimmed.push(Band { from, to, name: "warm-up trimmed".into() }),
            }
        }
    }
    Timeline { phases, trimmed, baseline_trimmed: Vec::new() }
}

fn values(s: &Series, v: &[Option<f64>]) -> Vec<(f64, Option<f64>)> {
    times(s).into_iter().zip(v.iter().copied()).collect()
}

fn counts(s: &Series, v: &[u64]) -> Vec<(f64, Option<f64>)> {
    times(s).into_iter().zip(v.iter().map(|c| Some(*c as f64))).collect()
}

/// Requests in a window are a rate only for whole seconds: the first and last windows of a
/// run are partial, so they are left out of the request-rate lines.
fn inner(mut points: Vec<(f64, Option<f64>)>) -> Vec<(f64, Option<f64>)> {
    let n = points.len();
    for (i, p) in points.iter_mut().enumerate() {
        if i == 0 || i + 1 == n {
            p.1 = None;
        }
    }
    points
}

struct Charts {
    main: Vec<ChartView>,
    groups: Vec<ChartView>,
    missing: Option<String>,
}

impl Charts {
    fn build(candidate: &RunSummary, baseline: Option<&RunSummary>) -> Charts {
        let Some(cs) = &candidate.series else {
            return Charts {
                main: Vec::new(),
                groups: Vec::new(),
                missing: Some(
                    "No per-second series: the candidate was ingested from a k6 summary, which holds \
                     whole-run numbers only. Ingest k6's JSON or CSV output for charts."
                        .into(),
                ),
            };
        };
        let bs = baseline.and_then(|b| b.series.as_ref());
        let mut tl = timeline(cs);
        if let Some(bs) = bs {
            tl.baseline_trimmed = timeline(bs).trimmed;
        }
        let x_max = span(cs).max(bs.map_or(0.0, span)).max(1.0);
        let cand = version_label("candidate", candidate);
        let base = baseline.map(|b| version_label("baseline", b)).unwrap_or_default();
        let mut bands_legend = band_legend(&tl);

        // Latency: candidate p95 and p50, baseline p95.
        let mut lines = vec![
            Line {
                label: format!("{cand} p95"),
                color: BLUE,
                stroke: Stroke::Solid,
                width: 2,
                points: values(cs, &cs.total.p95_ms),
            },
            Line {
                label: format!("{cand} p50"),
                color: LIGHT_BLUE,
                stroke: Stroke::Solid,
                width: 2,
                points: values(cs, &cs.total.p50_ms),
            },
        ];
        if let Some(bs) = bs {
            lines.push(Line {
                label: format!("{base} p95"),
                color: GREY,
                stroke: Stroke::Dashed,
                width: 2,
                points: values(bs, &bs.total.p95_ms),
            });
        }
        let latency = chart(
            "latency",
            "Latency over time (all requests)",
            &latency_caption(&tl, bs.is_some()),
            Spec { y_desc: "ms", size: (1160, 380), x_max, lines, bars: Vec::new(), bar_color: RED, timeline: &tl },
            &bands_legend,
        );

        // Request rate.
        let mut lines = vec![Line {
            label: cand.clone(),
            color: BLUE,
            stroke: Stroke::Solid,
            width: 2,
            points: inner(counts(cs, &cs.total.requests)),
        }];
        if let Some(bs) = bs {
            lines.push(Line {
                label: base.clone(),
                color: GREY,
                stroke: Stroke::Dashed,
                width: 2,
                points: inner(counts(bs, &bs.total.requests)),
            });
        }
        let rate = chart(
            "requests",
            "Request rate",
            "http_reqs per second (the partial first and last seconds are left out).",
            Spec { y_desc: "req/s", size: (570, 300), x_max, lines, bars: Vec::new(), bar_color: RED, timeline: &tl },
            &bands_legend,
        );

        // Errors: candidate as bars, baseline as a dashed line.
        let bars: Vec<(f64, f64, f64)> = times(cs)
            .into_iter()
            .zip(&cs.total.failed)
            .filter(|(_, f)| **f > 0)
            .map(|(t, f)| (t - cs.window_s * 0.4, t + cs.window_s * 0.4, *f as f64))
            .collect();
        let mut lines = Vec::new();
        if let Some(bs) = bs {
            lines.push(Line {
                label: base.clone(),
                color: GREY,
                stroke: Stroke::Dashed,
                width: 2,
                points: counts(bs, &bs.total.failed),
            });
        }
        let mut errors = chart(
            "errors",
            "Failed requests",
            "Requests with http_req_failed per second.",
            Spec { y_desc: "failed/s", size: (570, 300), x_max, lines, bars, bar_color: RED, timeline: &tl },
            &bands_legend,
        );
        errors.legend.insert(0, LegendItem { label: cand.clone(), color: hex(RED), kind: "bar" });

        // One small chart per group: p95 of the candidate against the baseline's.
        bands_legend.clear();
        let mut groups = Vec::new();
        for (i, g) in cs.groups.iter().enumerate() {
            let name = crate::compare::group_name(&g.key);
            let mut lines = vec![Line {
                label: format!("{cand} p95"),
                color: BLUE,
                stroke: Stroke::Solid,
                width: 2,
                points: values(cs, &g.p95_ms),
            }];
            if let Some((bs, bg)) = bs.and_then(|bs| group_of(bs, &g.key).map(|bg| (bs, bg))) {
                lines.push(Line {
                    label: format!("{base} p95"),
                    color: GREY,
                    stroke: Stroke::Dashed,
                    width: 2,
                    points: values(bs, &bg.p95_ms),
                });
            }
            groups.push(chart(
                &format!("group-{i}"),
                &name,
                "",
                Spec { y_desc: "ms", size: (570, 260), x_max, lines, bars: Vec::new(), bar_color: RED, timeline: &tl },
                &bands_legend,
            ));
        }
        Charts { main: vec![latency, rate, errors], groups, missing: None }
    }
}

fn latency_caption(tl: &Timeline, baseline: bool) -> String {
    let mut out = String::from("Per-second quantiles of http_req_duration. Shaded: the candidate's phases");
    if !tl.trimmed.is_empty() {
        out.push_str("; red: the candidate's warm-up, trimmed from the steady state and not compared");
    }
    if !tl.baseline_trimmed.is_empty() {
        out.push_str("; grey strip: the baseline's trimmed warm-up");
    }
    out.push('.');
    if baseline {
        out.push_str(" Each run is plotted from its own start.");
    }
    out
}

fn group_of<'a>(s: &'a Series, key: &BTreeMap<String, String>) -> Option<&'a GroupSeries> {
    s.groups.iter().find(|g| g.key == *key)
}

fn version_label(role: &str, s: &RunSummary) -> String {
    match &s.metadata.deployment_version {
        Some(v) => format!("{role} {v}"),
        None => role.to_string(),
    }
}

fn band_legend(tl: &Timeline) -> Vec<LegendItem> {
    let mut out: Vec<LegendItem> = Vec::new();
    for b in &tl.phases {
        if !out.iter().any(|l| l.label == b.name) {
            out.push(LegendItem { label: b.name.clone(), color: hex(phase_color(&b.name)), kind: "band" });
        }
    }
    if !tl.trimmed.is_empty() {
        out.push(LegendItem { label: "candidate warm-up trimmed".into(), color: hex(TRIM), kind: "band" });
    }
    if !tl.baseline_trimmed.is_empty() {
        out.push(LegendItem { label: "baseline warm-up trimmed".into(), color: hex(GREY), kind: "strip" });
    }
    out
}

fn chart(id: &str, title: &str, caption: &str, spec: Spec<'_>, bands: &[LegendItem]) -> ChartView {
    let mut legend: Vec<LegendItem> = spec
        .lines
        .iter()
        .map(|l| LegendItem {
            label: l.label.clone(),
            color: hex(l.color),
            kind: if l.stroke == Stroke::Dashed { "dashed" } else { "solid" },
        })
        .collect();
    legend.extend(bands.iter().map(|b| LegendItem { label: b.label.clone(), color: b.color.clone(), kind: b.kind }));
    let svg = match draw(&spec) {
        Ok(svg) => svg,
        Err(e) => format!("<p class=\"problem\">This chart could not be drawn: {}</p>", escape_html(&e)),
    };
    ChartView { id: id.to_string(), title: title.to_string(), caption: caption.to_string(), svg, legend }
}

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// A round upper bound for the y axis, with headroom for the phase labels.
fn y_upper(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let raw = max * 1.18;
    let mag = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().map(|s| s * mag).find(|s| *s >= raw).unwrap_or(raw);
    // Finer than the decade: a multiple of a tenth of it.
    let tenth = mag / 2.0;
    ((raw / tenth).ceil() * tenth).min(step)
}

fn axis_number(v: f64) -> String {
    if v.abs() >= 100.0 || v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v:.1}") }
}

fn draw(spec: &Spec<'_>) -> Result<String, String> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, spec.size).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        plot(&root, spec)?;
        root.present().map_err(err)?;
    }
    // Inline SVG in HTML needs no namespace declaration; dropping it keeps every URL out of the page.
    Ok(svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1))
}

fn plot(root: &DrawingArea<SVGBackend<'_>, Shift>, spec: &Spec<'_>) -> Result<(), String> {
    let max = spec
        .lines
        .iter()
        .flat_map(|l| l.points.iter().filter_map(|p| p.1))
        .chain(spec.bars.iter().map(|b| b.2))
        .filter(|v| v.is_finite())
        .fold(0.0, f64::max);
    let y_max = y_upper(max);
    let mut chart = ChartBuilder::on(root)
        .margin_top(8)
        .margin_right(16)
        .margin_left(4)
        .x_label_area_size(42)
        .y_label_area_size(58)
        .build_cartesian_2d(0f64..spec.x_max, 0f64..y_max)
        .map_err(err)?;

    // Bands under the grid and the lines.
    chart
        .draw_series(spec.timeline.phases.iter().map(|b| {
            Rectangle::new([(b.from, 0.0), (b.to.min(spec.x_max), y_max)], phase_color(&b.name).mix(0.07).filled())
        }))
        .map_err(err)?;
    chart
        .draw_series(
            spec.timeline
                .trimmed
                .iter()
                .map(|b| Rectangle::new([(b.from, 0.0), (b.to.min(spec.x_max), y_max)], TRIM.mix(0.14).filled())),
        )
        .map_err(err)?;

    let label = ("sans-serif", 15).into_font().color(&AXIS);
    chart
        .configure_mesh()
        .x_desc("seconds since start")
        .y_desc(spec.y_desc)
        .axis_desc_style(("sans-serif", 15).into_font().color(&AXIS))
        .label_style(label)
        .axis_style(RGBColor(175, 184, 193))
        .bold_line_style(GRID)
        .light_line_style(RGBColor(246, 248, 250))
        .x_labels(12)
        .y_labels(6)
        .x_label_formatter(&|v| format!("{v:.0}"))
        .y_label_formatter(&|v| axis_number(*v))
        .draw()
        .map_err(err)?;

    // Phase names at the top of their bands; the trimmed span is named under them.
    let text = |c: RGBColor| ("sans-serif", 15).into_font().color(&c);
    chart
        .draw_series(
            spec.timeline.phases.iter().map(|b| {
                EmptyElement::at((b.from, y_max)) + Text::new(b.name.clone(), (6, 5), text(phase_color(&b.name)))
            }),
        )
        .map_err(err)?;
    chart
        .draw_series(
            spec.timeline
                .trimmed
                .iter()
                .map(|b| EmptyElement::at((b.from, y_max)) + Text::new("trimmed", (6, 24), text(TRIM))),
        )
        .map_err(err)?;

    chart
        .draw_series(
            spec.timeline.baseline_trimmed.iter().map(|b| {
                Rectangle::new([(b.from, 0.0), (b.to.min(spec.x_max), y_max * 0.035)], GREY.mix(0.45).filled())
            }),
        )
        .map_err(err)?;
    chart
        .draw_series(spec.bars.iter().map(|(a, b, h)| Rectangle::new([(*a, 0.0), (*b, *h)], spec.bar_color.filled())))
        .map_err(err)?;

    for line in &spec.lines {
        let style = ShapeStyle::from(&line.color).stroke_width(line.width);
        for seg in segments(&line.points) {
            match (seg.as_slice(), line.stroke) {
                ([only], _) => {
                    chart.draw_series(std::iter::once(Circle::new(*only, 2, line.color.filled()))).map_err(err)?;
                }
                (_, Stroke::Solid) => {
                    chart.draw_series(LineSeries::new(seg, style)).map_err(err)?;
                }
                (_, Stroke::Dashed) => {
                    chart.draw_series(DashedLineSeries::new(seg, 7, 5, style)).map_err(err)?;
                }
            }
        }
    }
    Ok(())
}

/// Runs of consecutive finite points: a window without samples breaks the line.
fn segments(points: &[(f64, Option<f64>)]) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = Vec::new();
    let mut cur: Vec<(f64, f64)> = Vec::new();
    for (x, y) in points {
        match y {
            Some(y) if y.is_finite() => cur.push((*x, *y)),
            _ if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            _ => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

// ------------------------------------------------------------------------------------------

const TEMPLATE: &str = r##"<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="k6gate">
<title>{{ page.title }}</title>
<style>
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --soft: #f6f8fa;
  --pass: #1a7f37; --warn: #9a6700; --fail: #cf222e; --none: #59636e; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: #fff; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 0 20px 40px; }
h1 { font-size: 22px; margin: 0; font-weight: 600; }
h2 { font-size: 18px; margin: 32px 0 10px; padding-bottom: 6px; border-bottom: 1px solid var(--line); font-weight: 600; }
h3 { font-size: 15px; margin: 20px 0 8px; font-weight: 600; }
p { margin: 6px 0; }
.muted, .caption { color: var(--muted); }
.caption { font-size: 13px; margin: 4px 0 8px; }
header.banner { border-left: 8px solid var(--none); background: var(--soft); padding: 18px 20px; margin: 20px 0 8px; border-radius: 6px; }
header.pass { border-color: var(--pass); background: #dafbe1; }
header.warn { border-color: var(--warn); background: #fff8c5; }
header.fail { border-color: var(--fail); background: #ffebe9; }
header .top { display: flex; align-items: center; gap: 14px; }
header .sub { margin-top: 8px; color: var(--muted); }
header .sub span + span::before { content: "·"; margin: 0 8px; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 700; letter-spacing: .03em; color: #fff; background: var(--none); white-space: nowrap; }
.badge.big { font-size: 16px; padding: 4px 14px; border-radius: 14px; }
.badge.pass { background: var(--pass); } .badge.warn { background: var(--warn); } .badge.fail { background: var(--fail); }
.badge.waived { background: #8250df; } .badge.info { background: #0969da; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { padding: 5px 10px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; font-size: 13px; }
td.num, th.num { text-align: right; white-space: nowrap; }
table.runs th[scope=row] { width: 170px; background: none; color: var(--muted); font-weight: 500; }
table.runs th, table.runs td { padding: 3px 10px; }
table.runs td { width: 40%; }
tr.group-start td { border-top: 2px solid var(--line); }
tr.fail td { background: #fff5f5; } tr.warn td { background: #fffbea; }
td.group { font-weight: 600; white-space: nowrap; }
.worse { color: var(--fail); font-weight: 600; } .better { color: var(--pass); font-weight: 600; }
.reason { display: block; color: var(--muted); font-size: 12px; }
.rule { display: block; white-space: nowrap; }
.problems { border: 1px solid #ff8182; background: #ffebe9; border-radius: 6px; padding: 8px 14px 8px 32px; margin: 12px 0; }
.problems li, .notes li { margin: 2px 0; }
.problem { color: var(--fail); }
.notes { color: var(--muted); }
details { margin: 10px 0; }
summary { cursor: pointer; color: var(--muted); font-weight: 600; }
.chart { margin: 12px 0 20px; }
.chart svg { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 6px; }
.pair { display: grid; grid-template-columns: repeat(auto-fit, minmax(480px, 1fr)); gap: 20px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 18px; font-size: 13px; color: var(--muted); margin: 6px 0 0; padding: 0; list-style: none; }
.legend li { display: flex; align-items: center; gap: 6px; }
.sw { display: inline-block; width: 22px; height: 0; border-top: 3px solid; }
.sw.dashed { border-top-style: dashed; }
.sw.bar { height: 10px; border-top: 0; }
.sw.band { height: 12px; border-top: 0; opacity: .35; }
.sw.strip { height: 4px; border-top: 0; opacity: .6; }
table.phases th, table.phases td { padding: 5px 7px; }
table.phases th.num { white-space: normal; }
code, .mono { font-family: ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace; font-size: 12px; }
footer { margin-top: 36px; color: var(--muted); font-size: 12px; }
</style>
</head>
<body>
<main>
<header class="banner {{ page.outcome }}" id="verdict">
  <div class="top"><span class="badge big {{ page.outcome }}" id="outcome">{{ page.outcome_label }}</span>
  <h1 id="headline">{{ page.headline }}</h1></div>
  <div class="sub">{% for s in page.subtitle %}<span>{{ s }}</span>{% endfor %}</div>
</header>

{% if page.problems %}
<ul class="problems" id="problems">{% for p in page.problems %}<li>{{ p }}</li>{% endfor %}</ul>
{% endif %}

<h2>Runs</h2>
<table class="runs" id="runs">
  <thead><tr><th></th>{% if page.has_baseline %}<th>Baseline</th>{% endif %}<th>Candidate</th></tr></thead>
  <tbody>
  {% for r in page.runs %}<tr><th scope="row">{{ r.label }}</th>{% if page.has_baseline %}<td>{{ r.baseline }}</td>{% endif %}<td class="cand">{{ r.candidate }}</td></tr>
  {% endfor %}</tbody>
</table>
{% if page.notes %}<ul class="notes">{% for n in page.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}

{% if page.verdict %}{% set v = page.verdict %}
<h2>Results</h2>
{% if v.attention %}
<table id="results">
  <thead><tr><th>result</th><th>rule</th><th>kind</th><th>what the policy says</th><th>policy</th></tr></thead>
  <tbody>
  {% for r in v.attention %}<tr class="{{ r.status }}"><td><span class="badge {{ r.status }}">{{ r.label }}</span></td><td class="mono">{{ r.id }}</td><td>{{ r.kind }}</td><td>{{ r.message }}</td><td class="mono">{{ r.source }}</td></tr>
  {% endfor %}</tbody>
</table>
{% else %}
<p>Every check passed.</p>
{% endif %}
{% if v.passed %}
<details id="passed"><summary>{{ v.passed | length }} check{% if v.passed | length != 1 %}s{% endif %} passed</summary>
<table>
  <thead><tr><th>result</th><th>rule</th><th>kind</th><th>what the policy says</th><th>policy</th></tr></thead>
  <tbody>
  {% for r in v.passed %}<tr><td><span class="badge {{ r.status }}">{{ r.label }}</span></td><td class="mono">{{ r.id }}</td><td>{{ r.kind }}</td><td>{{ r.message }}</td><td class="mono">{{ r.source }}</td></tr>
  {% endfor %}</tbody>
</table>
</details>
{% endif %}
{% if v.exceptions %}
<h3>Exceptions</h3>
<table id="exceptions">
  <thead><tr><th>type</th><th>result</th><th>by</th><th>who</th><th>expires</th><th>reason</th><th>what it overrides</th><th>policy</th></tr></thead>
  <tbody>
  {% for e in v.exceptions %}<tr><td><span class="badge waived">{{ e.kind | upper }}</span></td><td class="mono">{{ e.result }}</td><td>{{ e.by }}</td><td>{{ e.people }}</td><td>{{ e.expires }}</td><td>{{ e.reason }}</td><td>{{ e.message }}</td><td class="mono">{{ e.source }}</td></tr>
  {% endfor %}</tbody>
</table>
{% endif %}
{% if v.ignored %}
<h3>Ignored</h3>
<ul id="ignored">{% for i in v.ignored %}<li><span class="mono">{{ i.what }}</span>: {{ i.reason }}{% if i.source %} <span class="mono muted">({{ i.source }})</span>{% endif %}</li>{% endfor %}</ul>
{% endif %}
{% endif %}

<h2>Comparison</h2>
{% if page.comparison %}{% set c = page.comparison %}
<p class="caption">Baseline <strong>{{ c.baseline }}</strong> against candidate <strong>{{ c.candidate }}</strong>, {{ c.phase }} phase.
Values are the phase's quantiles over all samples; p-values and the {{ c.confidence }} interval of the change come from the per-second windows
(Mann-Whitney U, Hodges-Lehmann; error rate: two-proportion test).</p>
<table id="comparison">
  <thead><tr><th>group</th><th>metric</th><th class="num">baseline</th><th class="num">candidate</th><th class="num">change</th><th>significance</th><th class="num">per-window change [{{ c.confidence }} CI]</th><th>budget / limit</th><th>result</th></tr></thead>
  <tbody>
  {% for r in c.rows %}<tr class="{% if r.first %}group-start {% endif %}{{ r.status }}" data-group="{{ r.group }}" data-metric="{{ r.metric_id }}">
    <td class="group">{% if r.first %}{{ r.group }}{% endif %}</td><td>{{ r.metric }}</td>
    <td class="num">{{ r.baseline }}</td><td class="num">{{ r.candidate }}</td>
    <td class="num">{{ r.change }}</td>
    <td>{{ r.significance }}{% if r.reason %}<span class="reason">{{ r.reason }}</span>{% endif %}</td>
    <td class="num {{ r.trend }}">{{ r.ci }}</td>
    <td>{% for x in r.rules %}<span class="rule">{{ x.rule }}</span>{% endfor %}</td>
    <td>{% for x in r.rules %}<span class="rule"><span class="badge {{ x.status }}">{{ x.label }}</span></span>{% endfor %}</td>
  </tr>
  {% endfor %}</tbody>
</table>
{% else %}
<p class="muted" id="no-comparison">{{ page.no_comparison }}</p>
{% endif %}

<h2>Over time</h2>
{% if page.no_charts %}<p class="muted">{{ page.no_charts }}</p>{% endif %}
{% macro chart(ch) %}<figure class="chart" id="chart-{{ ch.id }}">
  <h3>{{ ch.title }}</h3>
  {% if ch.caption %}<p class="caption">{{ ch.caption }}</p>{% endif %}
  {{ ch.svg | safe }}
  <ul class="legend">{% for l in ch.legend %}<li><span class="sw {{ l.kind }}" style="{% if l.kind in ['bar', 'band', 'strip'] %}background:{{ l.color }}{% else %}border-top-color:{{ l.color }}{% endif %}"></span>{{ l.label }}</li>{% endfor %}</ul>
</figure>{% endmacro %}
{% for ch in page.charts %}{% if loop.first %}{{ chart(ch) }}<div class="pair">{% else %}<div>{{ chart(ch) }}</div>{% endif %}{% if loop.last %}</div>{% endif %}{% endfor %}
{% if page.group_charts %}
<details id="group-charts"><summary>P95 latency per group</summary>
<div class="pair">{% for ch in page.group_charts %}<div>{{ chart(ch) }}</div>{% endfor %}</div>
</details>
{% endif %}

<h2>Phases</h2>
{% for t in page.phases %}
<h3>{{ t.title }}</h3>
<p class="caption">{{ t.caption }}</p>
<table class="phases">
  <thead><tr><th>phase</th><th class="num">duration s</th><th class="num">windows</th><th class="num">requests</th><th class="num">req/s</th><th class="num">p50 ms</th><th class="num">p90 ms</th><th class="num">p95 ms</th><th class="num">p99 ms</th><th class="num">max ms</th><th class="num">failed</th><th class="num">error rate</th><th class="num">checks</th><th class="num">VUs max</th></tr></thead>
  <tbody>
  {% for r in t.rows %}<tr{% if r.compared %} class="compared"{% endif %}><td class="phase">{{ r.name }}{% if r.compared %} <span class="badge info">compared</span>{% endif %}{% if r.detail %}<span class="reason">{{ r.detail }}</span>{% endif %}</td><td class="num">{{ r.duration }}</td><td class="num">{{ r.windows }}</td><td class="num">{{ r.requests }}</td><td class="num">{{ r.rate }}</td><td class="num">{{ r.p50 }}</td><td class="num">{{ r.p90 }}</td><td class="num">{{ r.p95 }}</td><td class="num">{{ r.p99 }}</td><td class="num">{{ r.max }}</td><td class="num">{{ r.failed }}</td><td class="num">{{ r.error_rate }}</td><td class="num">{{ r.checks }}</td><td class="num">{{ r.vus }}</td></tr>
  {% endfor %}</tbody>
</table>
{% endfor %}

<footer>{{ page.footer }}</footer>
</main>
</body>
</html>
"##;
