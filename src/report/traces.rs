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

fn rows(t: &TraceFindings) -> Vec<(String, &ComponentFinding)> {
    std::iter::once(("end-to-end".to_string(), &t.end_to_end))
        .chain(t.components.iter().map(|(c, f)| (c.clone(), f)))
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
    for (c, f) in rows(t) {
        let _ = writeln!(
            s,
            "{:<16} {:>9} {:>9} {:>9} {:>6.1}% {:>8.1}% {:>7}  {}",
            c,
            ms(f.p50_ms),
            ms(f.p95_ms),
            ms(f.p99_ms),
            f.share * 100.0,
            f.coverage * 100.0,
            f.samples,
            unknown(f)
        );
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
    for (c, f) in rows(t) {
        let _ = writeln!(
            s,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{:.1} %</td><td>{:.1} %</td><td>{}</td><td>{}</td></tr>",
            escape_html(&c),
            ms(f.p50_ms),
            ms(f.p95_ms),
            ms(f.p99_ms),
            f.share * 100.0,
            f.coverage * 100.0,
            f.samples,
            escape_html(&unknown(f))
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
