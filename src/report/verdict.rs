//! Verdicts and comparisons for people: terminal text and Markdown (PR comments, job summaries).

use std::fmt::Write;

use crate::compare::{Comparison, Metric, MetricComparison, State};
use crate::policy::verdict::{RuleResult, Status, Verdict, fmt_p, fmt_value};

fn status_icon(s: Status) -> &'static str {
    match s {
        Status::Pass => "✅",
        Status::Warn => "⚠️",
        Status::Fail => "❌",
        Status::Inconclusive => "❔",
    }
}

fn who(r: &crate::compare::RunIdentity) -> String {
    format!(
        "{} ({}{})",
        r.deployment_version.as_deref().unwrap_or("unknown version"),
        r.git_commit.as_deref().map(|c| format!("commit {c}, ")).unwrap_or_default(),
        r.source
    )
}

pub fn text(v: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}: {}", v.outcome.label(), v.headline);
    let _ = writeln!(out, "candidate {}", who(&v.candidate));
    for c in &v.comparison.confirmations {
        let _ = writeln!(out, "  re-run  {}", who(c));
    }
    let _ = writeln!(out, "baseline  {}", who(&v.baseline));
    for b in v.comparison.baselines.iter().skip(1) {
        let _ = writeln!(out, "  and     {}", who(b));
    }
    let trim = |t: Option<f64>| t.map_or("-".into(), |t| format!("{t:.1} s"));
    let _ = writeln!(
        out,
        "phase {} (warm-up trimmed: candidate {}, baseline {}); evaluated at {}",
        v.phase,
        trim(v.candidate.trimmed_s),
        trim(v.baseline.trimmed_s),
        v.now
    );
    if !v.load_model.is_empty() {
        let _ = writeln!(out, "load {}", v.load_model);
    }
    let _ = writeln!(out);
    // Everything that is not a pass, then the passes for all requests; per-group passes are
    // counted (they are all in the JSON and Markdown outputs).
    let mut hidden = 0;
    for r in &v.results {
        if r.status == Status::Pass && r.group != crate::compare::ALL {
            hidden += 1;
            continue;
        }
        let _ = writeln!(out, "  {} {}", r.status.label(), r.message);
    }
    if hidden > 0 {
        let _ = writeln!(out, "  ... and {hidden} per-group checks passed (--format json or markdown lists them)");
    }
    if !v.exceptions.is_empty() {
        let _ = writeln!(out, "\nexceptions:");
        for e in &v.exceptions {
            let _ = writeln!(
                out,
                "  {} by {} ({}; {}expires {}): {}",
                e.kind.name().to_uppercase(),
                e.by,
                e.reason,
                approval(e).map(|a| format!("{a}, ")).unwrap_or_default(),
                e.expires,
                e.message
            );
            if let Some(d) = e.verified.as_ref().and_then(|v| v.disagreement.as_ref()) {
                let _ = writeln!(out, "    note: {d}");
            }
        }
    }
    if !v.ignored.is_empty() {
        let _ = writeln!(out, "\nignored:");
        for i in &v.ignored {
            let _ = writeln!(out, "  {}", i.reason);
        }
    }
    out.push_str(&crate::report::representative::text(v.representative.as_ref()));
    out.push_str(&crate::report::saturation::text(v.saturation.as_ref()));
    if !v.notes.is_empty() {
        let _ = writeln!(out, "\nnotes:");
        for n in &v.notes {
            let _ = writeln!(out, "  {n}");
        }
    }
    if let Some(g) = &v.guard {
        out.push_str(&super::guard::text(g));
    }
    out
}

/// Who approved an exception: the review GitHub shows, else the file's own claim, marked
/// as unverified.
fn approval(e: &crate::policy::verdict::Exception) -> Option<String> {
    match (&e.verified, &e.approved_by) {
        (Some(v), _) => Some(format!("approved by {} (verified)", v.describe())),
        (None, Some(a)) => Some(format!("approved by {a} (not verified)")),
        (None, None) => None,
    }
}

pub fn markdown(v: &Verdict) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "### {} k6gate: {}\n", status_icon(v.outcome), v.headline);
    let _ = writeln!(
        out,
        "Candidate **{}**{} vs baseline **{}**{}, {} phase, evaluated at {}.\n",
        v.candidate.deployment_version.as_deref().unwrap_or("?"),
        match v.comparison.confirmations.len() {
            0 => String::new(),
            n => format!(" (with {n} confirmation re-run{})", if n == 1 { "" } else { "s" }),
        },
        v.baseline.deployment_version.as_deref().unwrap_or("?"),
        match v.comparison.baselines.len() {
            0 | 1 => String::new(),
            n => format!(" (the last {n} accepted runs)"),
        },
        v.phase,
        v.now
    );
    if !v.load_model.is_empty() {
        let _ = writeln!(out, "Load: {}.\n", v.load_model);
    }
    let failing: Vec<_> = v.results.iter().filter(|r| r.status != Status::Pass).collect();
    if !failing.is_empty() {
        for r in failing {
            let _ = writeln!(out, "- {} {}", status_icon(r.status), r.message);
        }
        let _ = writeln!(out);
    }
    out.push_str(&comparison_markdown(&v.comparison));
    if !v.exceptions.is_empty() {
        let _ = writeln!(
            out,
            "\n**Exceptions**\n\n| type | result | by | approved / owner | expires | reason |\n|---|---|---|---|---|---|"
        );
        for e in &v.exceptions {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                e.kind.name(),
                e.result,
                e.by,
                approval(e).or_else(|| e.owner.clone()).unwrap_or_else(|| "-".into()),
                e.expires,
                e.reason
            );
        }
        let mut disagreements = v.exceptions.iter().filter_map(|e| e.verified.as_ref()?.disagreement.as_ref());
        if let Some(first) = disagreements.next() {
            let _ = writeln!(out);
            for d in std::iter::once(first).chain(disagreements) {
                let _ = writeln!(out, "- ⚠️ {d}");
            }
        }
    }
    if !v.ignored.is_empty() {
        let _ = writeln!(out, "\n**Ignored**\n");
        for i in &v.ignored {
            let _ = writeln!(out, "- {}", i.reason);
        }
    }
    out.push_str(&crate::report::representative::markdown(v.representative.as_ref()));
    out.push_str(&crate::report::saturation::markdown(v.saturation.as_ref()));
    if !v.notes.is_empty() {
        let _ = writeln!(out, "\n**Notes**\n");
        for n in &v.notes {
            let _ = writeln!(out, "- {n}");
        }
    }
    if let Some(g) = &v.guard {
        let _ = write!(out, "\n**Load-test guard**\n\n```{}```\n", super::guard::text(g));
    }
    out
}

pub(crate) fn change(m: &MetricComparison) -> String {
    match (m.metric, m.abs_change, m.rel_change) {
        (Metric::ErrorRate, Some(a), _) => format!("{:+.2} pp", a * 100.0),
        (_, _, Some(r)) => format!("{:+.1} %", r * 100.0),
        _ => "-".into(),
    }
}

fn cell(m: &MetricComparison, v: Option<f64>) -> String {
    v.map_or("-".into(), |v| fmt_value(m.metric, v))
}

fn significance(m: &MetricComparison) -> String {
    if m.state != State::Ok {
        return m.state.label().to_string();
    }
    fmt_p(m.p_value)
}

pub fn comparison_markdown(c: &Comparison) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| group | metric | baseline | candidate | change | significance |\n|---|---|---:|---:|---:|---|"
    );
    for m in &c.metrics {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            m.group,
            m.metric.label(),
            cell(m, m.baseline),
            cell(m, m.candidate),
            change(m),
            significance(m)
        );
    }
    out
}

/// Every rule behind the verdict as one table: phase, metric, baseline, candidate, change,
/// significance, the budget or limit it was held to, and its result. Failures first.
pub fn gate_table(v: &Verdict) -> String {
    let mut out = String::from(
        "| phase | group | metric | baseline | candidate | change | significance | budget / limit | result |\n\
         |---|---|---|---:|---:|---:|---|---|---|\n",
    );
    for r in &v.results {
        let metric = Metric::from_name(&r.metric);
        let (baseline, candidate, delta, sig) = match &r.comparison {
            Some(m) => (cell(m, m.baseline), cell(m, m.candidate), change(m), significance(m)),
            None => ("-".into(), "-".into(), "-".into(), "-".into()),
        };
        let held_to = held_to(r, metric);
        let _ = writeln!(
            out,
            "| {} | {} | {} | {baseline} | {candidate} | {delta} | {sig} | {held_to} | {} {} |",
            v.phase,
            if r.group.is_empty() { "-" } else { &r.group },
            metric.map_or(r.metric.as_str(), |m| m.label()),
            status_icon(r.status),
            r.status.label().to_lowercase(),
        );
    }
    out
}

fn held_to(r: &RuleResult, metric: Option<Metric>) -> String {
    metric.map_or_else(|| r.kind.to_string(), |m| super::html::rule_text(r, m))
}

pub fn comparison_text(c: &Comparison) -> String {
    let mut t = comfy_table::Table::new();
    t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(vec![
        "group",
        "metric",
        "baseline",
        "candidate",
        "change",
        "significance",
        "CI",
    ]);
    for m in &c.metrics {
        let ci = match (m.ci_low, m.ci_high, m.metric) {
            (Some(l), Some(h), Metric::ErrorRate) => format!("{:+.2}..{:+.2} pp", l * 100.0, h * 100.0),
            (Some(l), Some(h), _) => format!("{:+.1}..{:+.1} %", l * 100.0, h * 100.0),
            _ => "-".into(),
        };
        t.add_row(vec![
            m.group.clone(),
            m.metric.label().to_string(),
            cell(m, m.baseline),
            cell(m, m.candidate),
            change(m),
            significance(m),
            ci,
        ]);
    }
    format!(
        "baseline {} vs candidate {}, {} phase\n{t}",
        c.baseline.deployment_version.as_deref().unwrap_or(&c.baseline.source),
        c.candidate.deployment_version.as_deref().unwrap_or(&c.candidate.source),
        c.phase
    )
}
