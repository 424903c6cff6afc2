//! The view model of the HTML report: what the page shows, computed from the verdict and the
//! RunSummaries as ready-made strings, so the template only lays them out. It formats numbers
//! and words; it never computes a statistic and never writes HTML (escaping is the template's).

use super::charts::{ChartView, Charts};
use crate::compare::{Comparison, Metric, MetricComparison, RunIdentity, State};
use crate::policy::verdict::{Exception, RuleKind, RuleResult, Status, Verdict, fmt_p, fmt_value};
use crate::report::verdict::change;
use crate::summary::{GroupStats, PhaseSource, PhaseSummary, RunSummary};
use serde::Serialize;

#[derive(Serialize)]
pub(super) struct Page {
    /// CSS class: pass, warn, fail or none.
    outcome: &'static str,
    pub(super) outcome_label: &'static str,
    pub(super) headline: String,
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
    /// "Is this test representative?": the answer, (status class, label, line) per finding,
    /// and the interpretation.
    representative: Option<RepresentativeView>,
    /// Sections of their own (the saturation run's capacity, test-vs-prod validation): a
    /// title and its lines, in order.
    sections: Vec<SectionView>,
}

#[derive(Serialize)]
struct SectionView {
    id: &'static str,
    title: &'static str,
    lines: Vec<String>,
}

fn sections(verdict: Option<&crate::policy::verdict::Verdict>) -> Vec<SectionView> {
    let mut out = Vec::new();
    if let Some(s) = verdict.and_then(|v| v.saturation.as_ref()) {
        out.push(SectionView { id: "saturation", title: crate::report::saturation::TITLE, lines: s.lines() });
    }
    out
}

#[derive(Serialize)]
struct RepresentativeView {
    title: &'static str,
    answer: &'static str,
    rows: Vec<(&'static str, &'static str, String)>,
    interpretation: Vec<String>,
}

fn representative_view(r: &crate::policy::representative::Representative) -> RepresentativeView {
    use crate::report::representative as rep;
    RepresentativeView {
        title: rep::TITLE,
        answer: rep::verdict_word(r.outcome),
        rows: rep::lines(r).into_iter().map(|(s, line)| (status_class(s), s.label(), line)).collect(),
        interpretation: r.interpretation.clone(),
    }
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
        Status::Inconclusive => "inconclusive",
    }
}

fn opt(v: Option<&String>) -> String {
    v.cloned().unwrap_or_else(|| "-".into())
}

fn source_of(s: Option<&crate::policy::data::Source>) -> String {
    s.map(|s| format!("{}:{}", s.file, s.line)).unwrap_or_default()
}

impl Page {
    pub(super) fn build(verdict: Option<&Verdict>, candidate: &RunSummary, baseline: Option<&RunSummary>) -> Page {
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
            representative: verdict.and_then(|v| v.representative.as_ref()).map(representative_view),
            sections: sections(verdict),
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
        kind: r.kind.name().to_string(),
        message: r.message.clone(),
        source: source_of(r.source.as_ref()),
    };
    VerdictView {
        attention: results.iter().filter(|r| r.status != Status::Pass).map(|r| row(r)).collect(),
        passed: results.iter().filter(|r| r.status == Status::Pass).map(|r| row(r)).collect(),
        exceptions: v
            .exceptions
            .iter()
            .map(|e| ExceptionRow {
                kind: e.kind.name().to_string(),
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
    match &r.kind {
        RuleKind::Sla => r.limit.map_or("SLA".into(), |l| format!("SLA < {}", fmt_value(metric, l))),
        RuleKind::Window => r.limit.map_or("window ceiling".into(), |l| format!("ceiling {}", fmt_value(metric, l))),
        RuleKind::Ratchet => "no worse than the previous run".into(),
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
                label: format!("{} by {}", e.kind.name().to_uppercase(), e.by),
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
