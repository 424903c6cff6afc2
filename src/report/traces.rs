//! The trace breakdown's short section of a run's reports: per component its P50/P95/P99,
//! coverage and share, and the comparison with the baseline's breakdown. Reads
//! `Verdict.traces`, computes nothing. (The rich views, heatmaps and waterfalls, are the HTML
//! report's own.)

use std::fmt::Write;

use crate::escape::escape_html;
use crate::traces::findings::{ComponentFinding, TraceFindings};

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.1}"))
}

/// One table row per component, end to end first, as the text and HTML tables show it:
/// component, P50, P95, P99 (ms), share and coverage (%), samples, unknown by reason.
fn rows(t: &TraceFindings) -> Vec<[String; 8]> {
    std::iter::once(("end-to-end", &t.end_to_end))
        .chain(t.components.iter().map(|(c, f)| (c.as_str(), f)))
        .map(|(c, f)| {
            [
                c.to_string(),
                ms(f.p50_ms),
                ms(f.p95_ms),
                ms(f.p99_ms),
                format!("{:.1}", f.share * 100.0),
                format!("{:.1}", f.coverage * 100.0),
                f.samples.to_string(),
                unknown(f),
            ]
        })
        .collect()
}

fn unknown(f: &ComponentFinding) -> String {
    f.unknown_reasons.iter().map(|(r, n)| format!("{r} {n}")).collect::<Vec<_>>().join(", ")
}

/// The headline: where the traces came from and how many requests had one.
pub fn headline(t: &TraceFindings) -> String {
    format!(
        "Where the time goes ({}): {} request(s), {} traced, {} without a trace",
        t.source, t.requests, t.traced, t.untraced
    )
}

/// Plain text, for `report.md` and the terminal.
pub fn text(t: &TraceFindings) -> String {
    let mut s = format!("{}\n", headline(t));
    let _ = writeln!(
        s,
        "{:<16} {:>9} {:>9} {:>9} {:>7} {:>9} {:>7}  unknown",
        "component", "P50 ms", "P95 ms", "P99 ms", "share", "coverage", "samples"
    );
    for [c, p50, p95, p99, share, coverage, samples, unknown] in rows(t) {
        let _ = writeln!(s, "{c:<16} {p50:>9} {p95:>9} {p99:>9} {share:>6}% {coverage:>8}% {samples:>7}  {unknown}");
    }
    if !t.comparison.is_empty() {
        let parts: Vec<&str> = t.comparison.iter().map(|c| c.text.as_str()).collect();
        let _ = writeln!(s, "Against the baseline's breakdown: {}", parts.join(", "));
    }
    s
}

/// The summary as HTML (headline, per-component table, the baseline comparison): the top of
/// the HTML report's trace section (`html::traces`), above its heatmaps and waterfalls.
pub fn summary_html(t: &TraceFindings) -> String {
    let mut s = format!("<p class=\"traces\">{}</p>\n", escape_html(&headline(t)));
    s.push_str(
        "<table class=\"traces\"><tr><th>component</th><th>P50 ms</th><th>P95 ms</th><th>P99 ms</th>\
         <th>share</th><th>coverage</th><th>samples</th><th>unknown</th></tr>\n",
    );
    for [c, p50, p95, p99, share, coverage, samples, unknown] in rows(t) {
        let (c, unknown) = (escape_html(&c), escape_html(&unknown));
        let _ = writeln!(
            s,
            "<tr><td>{c}</td><td>{p50}</td><td>{p95}</td><td>{p99}</td><td>{share} %</td><td>{coverage} %</td><td>{samples}</td><td>{unknown}</td></tr>"
        );
    }
    s.push_str("</table>\n");
    if !t.comparison.is_empty() {
        let parts: Vec<String> = t.comparison.iter().map(|c| escape_html(&c.text)).collect();
        let _ =
            writeln!(s, "<p class=\"traces-comparison\">Against the baseline's breakdown: {}</p>", parts.join(", "));
    }
    s
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn finding(p95: f64, unknown: usize) -> ComponentFinding {
        ComponentFinding {
            samples: 80,
            unknown,
            coverage: 80.0 / (80 + unknown) as f64,
            unknown_reasons: if unknown > 0 {
                BTreeMap::from([("missing_leaf".into(), unknown)])
            } else {
                BTreeMap::new()
            },
            p50_ms: Some(p95 / 2.0),
            p95_ms: Some(p95),
            p99_ms: None,
            p95_ci_ms: None,
            share: 0.25,
            histogram: None,
        }
    }

    fn findings() -> TraceFindings {
        TraceFindings {
            source: "http://tempo".into(),
            requests: 100,
            traced: 100,
            untraced: 0,
            confidence: 0.95,
            end_to_end: finding(40.0, 0),
            components: BTreeMap::from([("<db>".into(), finding(12.5, 20))]),
            comparison: Vec::new(),
            heatmaps: BTreeMap::new(),
            endpoints: Vec::new(),
            slowest: Vec::new(),
            trace_link: None,
        }
    }

    #[test]
    fn the_text_and_html_tables_show_the_same_cells_and_the_html_escapes_them() {
        let t = findings();
        let text = text(&t);
        let db = text.lines().find(|l| l.starts_with("<db>")).expect("a row for the component");
        let cells: Vec<&str> = db.split_whitespace().collect();
        assert_eq!(cells, ["<db>", "6.2", "12.5", "-", "25.0%", "80.0%", "80", "missing_leaf", "20"], "{text}");
        let html = summary_html(&t);
        assert!(
            html.contains("<tr><td>&lt;db&gt;</td><td>6.2</td><td>12.5</td><td>-</td><td>25.0 %</td><td>80.0 %</td><td>80</td><td>missing_leaf 20</td></tr>"),
            "{html}"
        );
        assert!(!html.contains("<db>"), "{html}");
    }
}
