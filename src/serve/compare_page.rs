//! `/compare/{base}/{cand}` and `/runs/{id}`: two runs side by side. The numbers are
//! [`crate::compare::compare`]'s at the configured confidence, with the sources named
//! `run <id>` as `k6gate compare` names runs from the store, so `/api/compare/...` is the JSON
//! `k6gate compare --format json` prints. This module formats them; it computes no statistic.

use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

use super::charts::{self, Chart};
use super::error::PageError;
use super::runs_page::plain_id;
use super::trace_breakdown::{self, TraceSection};
use super::{App, html, html_response};
use crate::compare::{Comparison, Metric, MetricComparison, Phase, State};
use crate::history::{RunRecord, RunStore};
use crate::policy::verdict::{Status, Verdict, fmt_p, fmt_value};
use crate::summary::RunSummary;

/// A run from the store with its summary and its trace breakdown (from its verdict).
struct Loaded {
    record: RunRecord,
    summary: Option<RunSummary>,
    traces: Result<Option<crate::traces::TraceFindings>, String>,
}

impl Loaded {
    fn source(&self) -> String {
        format!("run {}", self.record.id)
    }

    /// The summary, or why the run has none to compare.
    fn summary(&self) -> Result<&RunSummary, PageError> {
        self.summary.as_ref().ok_or_else(|| {
            let why = self.record.problem.as_deref().map(|p| format!(": {p}")).unwrap_or_default();
            PageError::Unprocessable(format!(
                "run {} has no summary to compare (it ended as {}{why})",
                self.record.id, self.record.outcome
            ))
        })
    }
}

fn load(app: &App, id: &str) -> Result<Loaded, PageError> {
    let Some(id) = plain_id(id) else {
        return Err(PageError::NotFound(format!("no run {id:?}: a run id is letters, digits and dashes")));
    };
    let record = app.with_store(|s| s.get_run(id)).map_err(|e| PageError::from_store(e, id))?;
    let summary = match record.summary_as::<RunSummary>() {
        None => None,
        Some(Ok(s)) => Some(s),
        Some(Err(e)) => {
            tracing::error!("run {}: the stored summary is unreadable: {e}", record.id);
            return Err(PageError::Internal(format!("the stored summary of run {} cannot be read", record.id)));
        }
    };
    let traces = trace_breakdown::of_verdict(record.verdict.as_deref());
    if let Err(e) = &traces {
        tracing::warn!("run {}: the verdict's trace breakdown is unreadable: {e}", record.id);
    }
    Ok(Loaded { record, summary, traces })
}

/// The `phase` of a query string (the only parameter these pages take); steady state by default.
fn phase_of(raw: &str) -> Result<Phase, PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| PageError::BadRequest(format!("the query string could not be read: {e}")))?;
    let mut phase = None;
    for (k, v) in pairs {
        match k.as_str() {
            "phase" if phase.is_none() => {
                phase = Some(v.parse::<Phase>().map_err(|e| PageError::BadRequest(format!("phase: {e}")))?);
            }
            "phase" => return Err(PageError::BadRequest("\"phase\" is given twice".into())),
            other => return Err(PageError::BadRequest(format!("unknown parameter {other:?}: this page takes phase"))),
        }
    }
    Ok(phase.unwrap_or_default())
}

/// The comparison `k6gate compare <base> <cand> --phase <phase>` makes.
fn comparison(app: &App, base: &Loaded, cand: &Loaded, phase: &Phase) -> Result<Comparison, PageError> {
    Ok(crate::compare::compare(
        base.summary()?,
        &base.source(),
        cand.summary()?,
        &cand.source(),
        phase,
        app.config.confidence,
    ))
}

/// A prefix or a differently written id gets the canonical link.
fn canonical(given: &[&str], loaded: &[&Loaded], prefix: &str, query: &str) -> Option<Response> {
    let ids: Vec<&str> = loaded.iter().map(|l| l.record.id.as_str()).collect();
    (given != ids.as_slice()).then(|| {
        let q = if query.is_empty() { String::new() } else { format!("?{query}") };
        Redirect::permanent(&format!("{prefix}/{}{q}", ids.join("/"))).into_response()
    })
}

/// `/api/compare/{base}/{cand}`: the comparison as JSON.
pub fn json(app: &App, base: &str, cand: &str, query: &str) -> Result<Response, PageError> {
    let phase = phase_of(query)?;
    let (b, c) = (load(app, base)?, load(app, cand)?);
    if let Some(r) = canonical(&[base, cand], &[&b, &c], "/api/compare", query) {
        return Ok(r);
    }
    let cmp = comparison(app, &b, &c, &phase)?;
    let body = serde_json::to_string_pretty(&cmp)
        .map_err(|e| PageError::Internal(format!("the comparison could not be written as JSON: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `/compare/{base}/{cand}`.
pub fn page(app: &App, base: &str, cand: &str, query: &str) -> Result<Response, PageError> {
    let phase = phase_of(query)?;
    let (b, c) = (load(app, base)?, load(app, cand)?);
    if let Some(r) = canonical(&[base, cand], &[&b, &c], "/compare", query) {
        return Ok(r);
    }
    let cmp = comparison(app, &b, &c, &phase)?;
    let title = format!("{} against {}", c.record.id, b.record.id);
    let view = View::build(title, &b, &c, Some(&cmp), &phase, None, Vec::new());
    Ok(html_response(html::render("compare.html", &view)?))
}

/// `/runs/{id}`: the run, its verdict, and the comparison with the baseline the verdict names,
/// over the verdict's phase unless `?phase=` asks for another.
pub fn run_page(app: &App, id: &str, query: &str) -> Result<Response, PageError> {
    let asked = if query.is_empty() { None } else { Some(phase_of(query)?) };
    let run = load(app, id)?;
    if let Some(r) = canonical(&[id], &[&run], "/runs", query) {
        return Ok(r);
    }
    let verdict = match run.record.verdict_as::<Verdict>() {
        None => None,
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            tracing::error!("run {}: the stored verdict is unreadable: {e}", run.record.id);
            return Err(PageError::Internal(format!("the stored verdict of run {} cannot be read", run.record.id)));
        }
    };
    let baseline_id = verdict.as_ref().and_then(|v| v.baseline.source.strip_prefix("run ").map(str::to_string));
    let mut notes = Vec::new();
    let title = format!("Run {}", run.record.id);
    let baseline = match &baseline_id {
        Some(bid) if *bid != run.record.id => match load(app, bid) {
            Ok(b) => Some(b),
            Err(e) => {
                notes.push(format!("The verdict's baseline, run {bid}, cannot be shown: {e}"));
                None
            }
        },
        _ => None,
    };
    let phase: Phase = match (asked, &verdict) {
        (Some(p), _) => p,
        (None, Some(v)) => v.phase.parse().unwrap_or_default(),
        (None, None) => Phase::default(),
    };
    let Some(b) = baseline else {
        if verdict.is_some() && baseline_id.is_none() {
            notes.push("No baseline: the verdict checked the SLAs only.".into());
        } else if verdict.is_none() {
            notes.push(format!("No verdict: the run ended as {}.", run.record.outcome));
        }
        let view = View::build(title, &run, &run, None, &phase, verdict.as_ref(), notes);
        return Ok(html_response(html::render("compare.html", &view)?));
    };
    if let Some(v) = &verdict
        && v.comparison.baselines.len() > 1
    {
        notes.push(format!(
            "The verdict was judged against {} baseline runs; the table compares with the newest, run {}.",
            v.comparison.baselines.len(),
            b.record.id
        ));
    }
    let cmp = match (b.summary(), run.summary()) {
        (Ok(_), Ok(_)) => Some(comparison(app, &b, &run, &phase)?),
        (Err(e), _) | (_, Err(e)) => {
            notes.push(e.to_string());
            None
        }
    };
    let view = View::build(title, &b, &run, cmp.as_ref(), &phase, verdict.as_ref(), notes);
    Ok(html_response(html::render("compare.html", &view)?))
}

#[derive(Serialize)]
struct View {
    title: String,
    notes: Vec<String>,
    sides: Vec<SideView>,
    verdict: Option<VerdictView>,
    comparison: Option<ComparisonView>,
    no_comparison: String,
    charts: Vec<Chart>,
    no_charts: String,
    cdf: Option<Chart>,
    no_cdf: String,
    traces: TraceSection,
}

#[derive(Serialize)]
struct SideView {
    role: &'static str,
    id: String,
    outcome: &'static str,
    test: String,
    environment: String,
    version: String,
    branch: String,
    commit: String,
    started: String,
    problem: Option<String>,
}

#[derive(Serialize)]
struct VerdictView {
    outcome: &'static str,
    headline: String,
    baseline: Option<String>,
    rules: Vec<RuleView>,
    exceptions: Vec<ExceptionView>,
    ignored: Vec<String>,
}

#[derive(Serialize)]
struct RuleView {
    id: String,
    status: &'static str,
    group: String,
    metric: String,
    message: String,
    source: String,
}

#[derive(Serialize)]
struct ExceptionView {
    result: String,
    kind: String,
    by: String,
    message: String,
    source: String,
}

#[derive(Serialize)]
struct ComparisonView {
    phase: String,
    phases: Vec<String>,
    confidence: String,
    base_id: String,
    cand_id: String,
    json: String,
    rows: Vec<Row>,
}

#[derive(Serialize)]
struct Row {
    group: String,
    first: bool,
    metric: &'static str,
    metric_id: &'static str,
    baseline: String,
    candidate: String,
    /// The numbers as JSON has them, for scripts and the browser tests.
    baseline_raw: String,
    candidate_raw: String,
    rel_raw: String,
    p_raw: String,
    /// "P95 +15.0 %", or empty when there is no change to show.
    badge: String,
    /// worse, better or same.
    trend: &'static str,
    significance: String,
    reason: String,
    ci: String,
}

fn status_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "pass",
        Status::Warn => "warn",
        Status::Fail => "fail",
        Status::Inconclusive => "inconclusive",
    }
}

fn raw(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn short(metric: Metric) -> &'static str {
    match metric {
        Metric::P50Ms => "P50",
        Metric::P95Ms => "P95",
        Metric::P99Ms => "P99",
        Metric::ErrorRate => "Errors",
        Metric::RequestsPerS => "Throughput",
    }
}

/// `worse` or `better` when the interval of the change excludes zero, else `same` (the
/// report's rule: `report::html`).
fn trend(m: &MetricComparison) -> &'static str {
    let (Some(lo), Some(hi)) = (m.ci_low, m.ci_high) else { return "same" };
    let higher_is_worse = m.metric != Metric::RequestsPerS;
    match (lo > 0.0, hi < 0.0) {
        (true, _) => {
            if higher_is_worse {
                "worse"
            } else {
                "better"
            }
        }
        (_, true) => {
            if higher_is_worse {
                "better"
            } else {
                "worse"
            }
        }
        _ => "same",
    }
}

fn row(m: &MetricComparison, first: bool) -> Row {
    let change = crate::report::verdict::change(m);
    let ok = m.state == State::Ok && change != "-";
    let ci = match (m.effect, m.ci_low, m.ci_high, m.metric) {
        (Some(e), Some(l), Some(h), Metric::ErrorRate) => {
            format!("{:+.2} pp [{:+.2}, {:+.2}]", e * 100.0, l * 100.0, h * 100.0)
        }
        (Some(e), Some(l), Some(h), _) => format!("{:+.1} % [{:+.1}, {:+.1}]", e * 100.0, l * 100.0, h * 100.0),
        _ => String::new(),
    };
    Row {
        group: m.group.clone(),
        first,
        metric: m.metric.label(),
        metric_id: m.metric.name(),
        baseline: m.baseline.map_or("-".into(), |v| fmt_value(m.metric, v)),
        candidate: m.candidate.map_or("-".into(), |v| fmt_value(m.metric, v)),
        baseline_raw: raw(m.baseline),
        candidate_raw: raw(m.candidate),
        rel_raw: raw(m.rel_change),
        p_raw: raw(m.p_value),
        // A typographic minus for people; `data-rel` keeps the number.
        badge: if ok { format!("{} {}", short(m.metric), change.replacen('-', "\u{2212}", 1)) } else { String::new() },
        trend: if ok { trend(m) } else { "same" },
        significance: if m.state == State::Ok { fmt_p(m.p_value) } else { m.state.label().to_string() },
        reason: m.reason.clone().unwrap_or_else(|| m.state.label().to_string()),
        ci,
    }
}

fn side(role: &'static str, l: &Loaded) -> SideView {
    let r = &l.record;
    let t = crate::time::format_rfc3339_ms(r.started_at_ns);
    SideView {
        role,
        id: r.id.clone(),
        outcome: r.outcome.as_str(),
        test: r.test.clone(),
        environment: r.environment.clone(),
        version: r.deployment_version.clone().unwrap_or_default(),
        branch: r.git_branch.clone().unwrap_or_default(),
        commit: r.git_commit.clone().unwrap_or_default(),
        started: t.get(..19).unwrap_or(&t).replacen('T', " ", 1),
        problem: r.problem.clone(),
    }
}

fn verdict_view(v: &Verdict) -> VerdictView {
    let source =
        |s: Option<&crate::policy::data::Source>| s.map(|s| format!("{}:{}", s.file, s.line)).unwrap_or_default();
    VerdictView {
        outcome: status_word(v.outcome),
        headline: v.headline.clone(),
        baseline: v.baseline_reason.clone(),
        rules: v
            .results
            .iter()
            .map(|r| RuleView {
                id: r.id.clone(),
                status: status_word(r.status),
                group: r.group.clone(),
                metric: r.metric.clone(),
                message: r.message.clone(),
                source: source(r.source.as_ref()),
            })
            .collect(),
        exceptions: v
            .exceptions
            .iter()
            .map(|e| ExceptionView {
                result: e.result.clone(),
                kind: e.kind.name().to_string(),
                by: e.by.clone(),
                message: e.message.clone(),
                source: source(e.source.as_ref()),
            })
            .collect(),
        ignored: v.ignored.iter().map(|i| format!("{}: {}", i.what, i.reason)).collect(),
    }
}

/// The phases a comparison can be asked for: the standard ones and the candidate's own stages.
fn phases(cand: Option<&RunSummary>) -> Vec<String> {
    let mut out: Vec<String> = Phase::NAMES.iter().map(|p| (*p).to_string()).collect();
    for p in cand.map(|c| c.phases.as_slice()).unwrap_or_default() {
        if !Phase::NAMES.contains(&p.name.as_str()) {
            out.push(format!("stage:{}", p.name));
        }
    }
    out
}

impl View {
    fn build(
        title: String,
        base: &Loaded,
        cand: &Loaded,
        cmp: Option<&Comparison>,
        phase: &Phase,
        verdict: Option<&Verdict>,
        notes: Vec<String>,
    ) -> View {
        let same = base.record.id == cand.record.id;
        let mut sides = Vec::new();
        if !same {
            sides.push(side("baseline", base));
        }
        sides.push(side("candidate", cand));
        let comparison = cmp.map(|c| {
            let mut rows = Vec::with_capacity(c.metrics.len());
            let mut last_group: Option<&str> = None;
            for m in &c.metrics {
                let first = last_group != Some(m.group.as_str());
                last_group = Some(&m.group);
                rows.push(row(m, first));
            }
            let phase_arg = if *phase == Phase::SteadyState {
                String::new()
            } else {
                format!("?phase={}", crate::net::percent_encode(phase.name()))
            };
            ComparisonView {
                phase: c.phase.clone(),
                phases: phases(cand.summary.as_ref()),
                confidence: format!("{:.0} %", c.confidence * 100.0),
                base_id: base.record.id.clone(),
                cand_id: cand.record.id.clone(),
                json: format!("/api/compare/{}/{}{phase_arg}", base.record.id, cand.record.id),
                rows,
            }
        });
        let (charts, no_charts, cdf, no_cdf) = match (cmp, &base.summary, &cand.summary) {
            (Some(_), Some(b), Some(c)) => {
                let per_phase = charts::per_phase(b, c);
                let no_charts = if per_phase.is_empty() {
                    "No per-second series in these runs (a k6 summary export holds whole-run numbers only).".into()
                } else {
                    String::new()
                };
                let cdf = charts::cdf(b, c, phase);
                let no_cdf = if cdf.is_none() {
                    format!("No latency sketch for {} in both runs.", phase.name())
                } else {
                    String::new()
                };
                (per_phase, no_charts, cdf, no_cdf)
            }
            _ => (Vec::new(), String::new(), None, String::new()),
        };
        let trace_side = |role: &'static str, l: &'_ Loaded| (role, l.record.id.clone(), l.traces.clone());
        let mut traced = Vec::new();
        if !same {
            traced.push(trace_side("baseline", base));
        }
        traced.push(trace_side("candidate", cand));
        let traced: Vec<_> = traced
            .iter()
            .map(|(r, id, t)| (*r, id.as_str(), t.as_ref().map(Option::as_ref).map_err(String::clone)))
            .collect();
        View {
            traces: trace_breakdown::section(&traced),
            title,
            notes,
            sides,
            verdict: verdict.map(verdict_view),
            comparison,
            no_comparison: "No comparison to show.".into(),
            charts,
            no_charts,
            cdf,
            no_cdf,
        }
    }
}
