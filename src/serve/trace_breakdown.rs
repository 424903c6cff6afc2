//! The trace breakdown section of the compare and run pages: per component (and end to end)
//! the P50/P95/P99 of its self time, its share of the end-to-end time and its coverage, for
//! each run that has one (`Verdict.traces`, recorded by `k6gate evaluate --traces`), side by
//! side with the change of the P95. It formats the recorded findings and computes nothing but
//! that ratio; a run without a breakdown says so.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::traces::TraceFindings;
use crate::traces::findings::ComponentFinding;

/// The one part of a stored verdict this section reads.
#[derive(Deserialize)]
struct WithTraces {
    #[serde(default)]
    traces: Option<TraceFindings>,
}

/// A run's breakdown from its stored verdict: `Ok(None)` without a verdict or a breakdown,
/// `Err` (the reason) when the verdict's breakdown cannot be read.
pub fn of_verdict(verdict: Option<&serde_json::value::RawValue>) -> Result<Option<TraceFindings>, String> {
    let Some(raw) = verdict else { return Ok(None) };
    serde_json::from_str::<WithTraces>(raw.get()).map(|w| w.traces).map_err(|e| e.to_string())
}

/// What is said where a run has no breakdown.
pub const NONE: &str = "no trace breakdown for this run";

/// The end-to-end row's name.
const END_TO_END: &str = "end to end";

#[derive(Debug, Serialize)]
pub struct TraceSection {
    /// One per run shown (baseline first).
    pub sides: Vec<TraceSide>,
    /// Whether any side has a breakdown (otherwise only the sides' notes are shown).
    pub any: bool,
    /// Whether there are two sides (the change column).
    pub pair: bool,
    pub rows: Vec<TraceRow>,
}

#[derive(Debug, Serialize)]
pub struct TraceSide {
    pub role: &'static str,
    pub id: String,
    /// "1,200 requests, 1,180 traced, 20 untraced; from ...", or why there is none.
    pub about: String,
    pub present: bool,
}

#[derive(Debug, Serialize)]
pub struct TraceRow {
    pub component: String,
    pub cells: Vec<Cells>,
    /// Candidate P95 over baseline P95, minus one ("+12.0 %"), when both are known.
    pub change: String,
    pub change_raw: String,
    /// worse, better or same (within 5 %, or not known).
    pub trend: &'static str,
}

#[derive(Debug, Serialize, Default)]
pub struct Cells {
    pub present: bool,
    pub p50: String,
    pub p95: String,
    pub p95_raw: String,
    pub p99: String,
    pub share: String,
    pub coverage: String,
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "–".into(), |v| format!("{v:.1} ms"))
}

fn cells(f: Option<&ComponentFinding>) -> Cells {
    let Some(f) = f else { return Cells::default() };
    let reasons: Vec<String> = f.unknown_reasons.iter().map(|(k, n)| format!("{k} {n}")).collect();
    let unknown = if f.unknown == 0 {
        String::new()
    } else if reasons.is_empty() {
        format!(", {} unknown", f.unknown)
    } else {
        format!(", {} unknown: {}", f.unknown, reasons.join(", "))
    };
    Cells {
        present: true,
        p50: ms(f.p50_ms),
        p95: ms(f.p95_ms),
        p95_raw: f.p95_ms.map(|v| v.to_string()).unwrap_or_default(),
        p99: ms(f.p99_ms),
        share: format!("{:.1} %", f.share * 100.0),
        coverage: format!("{:.1} % of {}{unknown}", f.coverage * 100.0, f.samples + f.unknown),
    }
}

fn finding<'a>(t: &'a TraceFindings, component: &str) -> Option<&'a ComponentFinding> {
    if component == END_TO_END { Some(&t.end_to_end) } else { t.components.get(component) }
}

/// One run of the section: its role, its id, and its breakdown (or why it cannot be read).
pub type TracedRun<'a> = (&'static str, &'a str, Result<Option<&'a TraceFindings>, String>);

/// The section for these runs, baseline first.
pub fn section(runs: &[TracedRun<'_>]) -> TraceSection {
    let sides = runs
        .iter()
        .map(|(role, id, t)| TraceSide {
            role,
            id: (*id).to_string(),
            present: matches!(t, Ok(Some(_))),
            about: match t {
                Ok(Some(t)) => {
                    format!("{} requests, {} traced, {} untraced; from {}", t.requests, t.traced, t.untraced, t.source)
                }
                Ok(None) => NONE.to_string(),
                Err(e) => format!("{NONE}: its recorded breakdown cannot be read ({e})"),
            },
        })
        .collect();
    let found: Vec<Option<&TraceFindings>> = runs.iter().map(|(_, _, t)| t.as_ref().ok().copied().flatten()).collect();
    let mut components = vec![END_TO_END.to_string()];
    let named: BTreeSet<&String> = found.iter().flatten().flat_map(|t| t.components.keys()).collect();
    components.extend(named.into_iter().cloned());
    let pair = runs.len() == 2;
    let rows = if found.iter().any(Option::is_some) {
        components
            .into_iter()
            .map(|c| {
                let per: Vec<Option<&ComponentFinding>> =
                    found.iter().map(|t| t.and_then(|t| finding(t, &c))).collect();
                let p95 = |i: usize| per.get(i).copied().flatten().and_then(|f| f.p95_ms);
                let rel = match (pair, p95(0), p95(1)) {
                    (true, Some(b), Some(c)) if b > 0.0 => Some(c / b - 1.0),
                    _ => None,
                };
                TraceRow {
                    cells: per.iter().map(|f| cells(*f)).collect(),
                    change: rel
                        .map_or_else(String::new, |r| format!("P95 {:+.1} %", r * 100.0).replacen('-', "\u{2212}", 1)),
                    change_raw: rel.map(|r| r.to_string()).unwrap_or_default(),
                    trend: match rel {
                        Some(r) if r > 0.05 => "worse",
                        Some(r) if r < -0.05 => "better",
                        _ => "same",
                    },
                    component: c,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    TraceSection { any: found.iter().any(Option::is_some), sides, pair, rows }
}
