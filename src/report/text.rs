//! The terminal view of a RunSummary: one row per phase.

use std::fmt::Write;

use comfy_table::{Cell, CellAlignment, Table, presets::UTF8_FULL_CONDENSED};

use crate::summary::{Granularity, GroupStats, PhaseSource, PhaseSummary, RunSummary};

pub fn render(s: &RunSummary) -> String {
    let mut out = String::new();
    let m = &s.metadata;
    let show = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
    let _ = writeln!(
        out,
        "test {}  env {}  version {}  commit {}",
        show(&m.test_name),
        show(&m.environment),
        show(&m.deployment_version),
        show(&m.git_commit)
    );
    let _ = writeln!(
        out,
        "{} .. {}  ({} samples from {} file(s))",
        show(&m.start),
        show(&m.end),
        m.samples,
        m.sources.len()
    );
    let phases = match s.phase_source {
        PhaseSource::Tagged => "from test_stage tags",
        PhaseSource::InferredVus => "inferred from the vus gauge",
        PhaseSource::InferredRequestRate => "inferred from the request rate",
        PhaseSource::None => "none",
    };
    let _ = writeln!(out, "phases: {phases}");
    if let Some(ss) = &s.steady_state {
        let _ = writeln!(
            out,
            "steady state: sustained phase minus {:.1} s of warm-up ({}, {} of {} windows trimmed)",
            ss.trimmed_s, ss.truncation.rule, ss.truncation.trimmed, ss.truncation.observations
        );
    }
    for n in &s.notes {
        let _ = writeln!(out, "note: {n}");
    }
    if !s.completeness.complete {
        let _ = writeln!(out, "INCOMPLETE:");
        for i in &s.completeness.issues {
            let _ = writeln!(out, "  - {i}");
        }
    }

    let mut table = new_table(&[
        "phase", "dur s", "reqs", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms", "errors", "checks",
    ]);
    let mut rows: Vec<&PhaseSummary> = s.phases.iter().collect();
    if let Some(ss) = &s.steady_state {
        rows.push(&ss.summary);
    }
    rows.push(&s.whole_run);
    for p in rows {
        table.add_row(row(&p.name, Some(p.duration_s), &p.total));
    }
    let _ = writeln!(out, "{table}");

    let detail = s.steady_state.as_ref().map(|x| &x.summary).unwrap_or(&s.whole_run);
    if !detail.groups.is_empty() && s.granularity == Granularity::Windows {
        let mut t =
            new_table(&["group", "", "reqs", "req/s", "p50 ms", "p90 ms", "p95 ms", "p99 ms", "max ms", "errors", ""]);
        for g in &detail.groups {
            let name = g.key.values().cloned().collect::<Vec<_>>().join(" ");
            t.add_row(row(&name, None, g));
        }
        let _ = writeln!(out, "by group ({}):\n{t}", detail.name);
    }
    out
}

fn new_table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(header.to_vec());
    t
}

fn row(name: &str, duration: Option<f64>, g: &GroupStats) -> Vec<Cell> {
    let num = |v: Option<f64>, digits: usize| {
        Cell::new(v.map_or("-".to_string(), |x| format!("{x:.digits$}"))).set_alignment(CellAlignment::Right)
    };
    let l = g.latency_ms.as_ref();
    vec![
        Cell::new(name),
        num(duration, 1),
        num(Some(g.requests as f64), 0),
        num(Some(g.requests_per_s), 1),
        num(l.and_then(|l| l.p50), 2),
        num(l.and_then(|l| l.p90), 2),
        num(l.and_then(|l| l.p95), 2),
        num(l.and_then(|l| l.p99), 2),
        num(l.and_then(|l| l.max), 2),
        Cell::new(g.error_rate.map_or("-".into(), |r| format!("{:.2}%", r * 100.0)))
            .set_alignment(CellAlignment::Right),
        Cell::new(g.checks.as_ref().and_then(|c| c.rate).map_or("-".into(), |r| format!("{:.2}%", r * 100.0)))
            .set_alignment(CellAlignment::Right),
    ]
}
