//! The analysis as text, Markdown or JSON. Numbers, not adjectives: every check with its
//! change, interval, p-value and the level it was held to.

use std::fmt::Write as _;

use super::analysis::MetricResult;
use super::policy::Decision;
use super::run::Analysis;

/// `promote`, `rollback`, `inconclusive`.
pub fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Promote => "PROMOTE",
        Decision::Rollback => "ROLLBACK",
        Decision::Inconclusive => "INCONCLUSIVE",
        Decision::Continue => "CONTINUE",
    }
}

/// One line: the decision and when it was made.
pub fn headline(a: &Analysis) -> String {
    let looks = a.looks.len();
    let at = a.looks.last().map_or(0.0, |l| l.window_end_s - a.started_s);
    let early = if a.stopped_early { ", stopped early" } else { "" };
    format!(
        "canary {}: after {at:.0} s ({looks} of {} looks{early}); canary {:.0} requests ({:.1}/s), stable {:.0} ({:.1}/s)",
        decision_word(a.outcome.decision),
        a.looks_planned,
        a.canary.requests,
        a.canary.per_s,
        a.stable.requests,
        a.stable.per_s,
    )
}

fn value(m: &MetricResult, v: Option<f64>) -> String {
    match v {
        None => "-".into(),
        Some(v) if m.metric == "error_rate" => format!("{:.2} %", v * 100.0),
        Some(v) if m.metric.starts_with(super::config::SATURATION_PREFIX) => format!("{v:.4}"),
        Some(v) => format!("{v:.2} ms"),
    }
}

fn change(m: &MetricResult) -> String {
    let pct = |v: f64| {
        if m.metric == "error_rate" { format!("{:+.2} pp", v * 100.0) } else { format!("{:+.1} %", v * 100.0) }
    };
    match (m.change, m.change_low, m.change_high) {
        (Some(c), Some(l), Some(h)) => format!("{} [{}, {}]", pct(c), pct(l), pct(h)),
        _ => "-".into(),
    }
}

/// One row per check: metric, route, stable, canary, change [interval], p, status.
pub fn rows(a: &Analysis) -> Vec<[String; 7]> {
    a.outcome
        .checks
        .iter()
        .map(|c| {
            let m = a.metrics.iter().find(|m| m.metric == c.metric && m.route == c.route);
            let (stable, canary, chg, p) = m.map_or_else(
                || ("-".into(), "-".into(), "-".into(), "-".into()),
                |m| (value(m, m.stable), value(m, m.canary), change(m), m.p_value.map_or("-".into(), p_value)),
            );
            let status = if c.critical { format!("{} (critical)", c.status) } else { c.status.clone() };
            [c.metric.clone(), c.route.clone(), stable, canary, chg, p, status]
        })
        .collect()
}

/// Two significant digits: `0.043`, `2.1e-5`.
fn p_value(p: f64) -> String {
    if p >= 0.001 { format!("{p:.3}") } else { format!("{p:.1e}") }
}

pub const HEADER: [&str; 7] = ["metric", "route", "stable", "canary", "change [interval]", "p", "status"];

/// Plain text for a terminal or a log.
pub fn text(a: &Analysis) -> String {
    let mut out = headline(a);
    out.push('\n');
    for r in &a.outcome.reasons {
        let _ = writeln!(out, "  - {r}");
    }
    let rows = rows(a);
    let widths: Vec<usize> = HEADER
        .iter()
        .enumerate()
        .map(|(i, h)| {
            rows.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).chain([h.len()]).max().unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (c, w) in cells.iter().zip(&widths) {
            let _ = write!(l, "  {c:<w$}");
        }
        l.trim_end().to_string()
    };
    out.push('\n');
    let _ = writeln!(out, "{}", line(HEADER.to_vec()));
    for r in &rows {
        let _ = writeln!(out, "{}", line(r.iter().map(String::as_str).collect()));
    }
    if let Some(l) = a.looks.last() {
        let _ = writeln!(
            out,
            "\nlevel of the last look: {:.4} (α spent over {} looks; README, \"Canary analysis\")",
            l.look.level, a.looks_planned
        );
    }
    if !a.notes.is_empty() {
        out.push_str("\nnotes:\n");
        for n in &a.notes {
            let _ = writeln!(out, "  - {n}");
        }
    }
    out
}

/// Markdown for a pull request, a job summary or a deployment note.
pub fn markdown(a: &Analysis) -> String {
    let mut out = format!("### {}\n\n", headline(a));
    for r in &a.outcome.reasons {
        let _ = writeln!(out, "- {}", r.replace('|', "\\|"));
    }
    let _ = writeln!(out, "\n| {} |", HEADER.join(" | "));
    let _ = writeln!(out, "|{}", "---|".repeat(7));
    for r in rows(a) {
        let cells: Vec<String> = r.iter().map(|c| c.replace('|', "\\|")).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
    if !a.notes.is_empty() {
        out.push_str("\n**Notes**\n\n");
        for n in &a.notes {
            let _ = writeln!(out, "- {}", n.replace('|', "\\|"));
        }
    }
    out
}

/// The whole analysis as JSON.
pub fn json(a: &Analysis) -> Result<String, serde_json::Error> {
    serde_json::to_string_pretty(a)
}
