//! The trace views of the HTML report, from `Verdict.traces` (`traces::TraceFindings`): a
//! latency heatmap per component (the run's time x latency rows), a stacked breakdown per
//! endpoint group (each component's share of end-to-end time), and the slowest requests, each
//! a `<details>` that opens its trace as a waterfall with the attribution's component timings.
//!
//! Like the rest of the page it loads nothing and runs no JavaScript: the charts are inline
//! SVG and HTML written here, the drill-down is `<details>`, and every string from the data
//! goes through `escape_html`. It computes no statistic: it lays out what the findings hold.

use std::collections::BTreeSet;
use std::fmt::Write;

use crate::escape::escape_html;
use crate::traces::TraceFindings;
use crate::traces::views::{Heatmap, SlowRequest};

/// Colours of the components, in the order of their names (then again).
const PALETTE: [&str; 10] =
    ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"];

const STYLE: &str = "<style>\n\
.traces svg { display: block; margin: 4px 0 12px; }\n\
.traces .heatmaps { display: flex; flex-wrap: wrap; gap: 16px; }\n\
.traces .stack { display: flex; height: 18px; width: 100%; max-width: 720px; background: #eee; border-radius: 3px; overflow: hidden; }\n\
.traces .seg { display: block; height: 100%; }\n\
.traces .legend span { display: inline-block; margin-right: 12px; }\n\
.traces .swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; }\n\
.traces details { border: 1px solid var(--line); border-radius: 4px; padding: 4px 8px; margin: 6px 0; }\n\
.traces summary { cursor: pointer; }\n\
.traces td.ms { text-align: right; font-variant-numeric: tabular-nums; }\n\
</style>\n";

/// The colour of `component` among `all` (sorted names).
fn colour(all: &[String], component: &str) -> &'static str {
    let i = all.iter().position(|c| c == component).unwrap_or(all.len());
    PALETTE.get(i % PALETTE.len()).copied().unwrap_or("#888")
}

/// Every component the views name, sorted.
fn components(f: &TraceFindings) -> Vec<String> {
    let mut all: BTreeSet<String> = f.components.keys().cloned().collect();
    all.extend(f.endpoints.iter().flat_map(|e| e.shares.keys().cloned()));
    all.extend(f.slowest.iter().flat_map(|r| r.parts_ms.keys().cloned()));
    all.into_iter().collect()
}

/// The views as an HTML section, inserted before the end of the page's body.
pub fn insert_html(page: String, f: &TraceFindings) -> String {
    let s = section(f);
    match page.rfind("</body>") {
        Some(i) => format!("{}{s}{}", page.get(..i).unwrap_or_default(), page.get(i..).unwrap_or_default()),
        None => page + &s,
    }
}

fn section(f: &TraceFindings) -> String {
    let all = components(f);
    let mut s = String::from(STYLE);
    let _ = writeln!(
        s,
        "<section class=\"traces\" id=\"traces\">\n<h2>Where the time goes</h2>\n<p class=\"caption\">{} traced of {} request(s), from {}.</p>",
        f.traced,
        f.requests,
        escape_html(&f.source)
    );
    s.push_str(&crate::report::traces::summary_html(f));
    s.push_str(&heatmaps(f));
    s.push_str(&endpoints(f, &all));
    s.push_str(&slowest(f, &all));
    s.push_str("</section>\n");
    s
}

fn heatmaps(f: &TraceFindings) -> String {
    let mut s = String::from(
        "<h3>Latency heatmaps</h3>\n<p class=\"caption\">Per component: requests by the run's time (across) and self time (up, rows by powers of two); darker is more.</p>\n<div class=\"heatmaps\">\n",
    );
    if f.heatmaps.is_empty() {
        s.push_str("<p class=\"muted\">No heatmap: the findings hold none (no traced request, or recorded before k6gate kept them).</p>\n");
    }
    for (name, h) in &f.heatmaps {
        s.push_str(&heatmap(name, h));
    }
    s.push_str("</div>\n");
    s
}

fn heatmap(name: &str, h: &Heatmap) -> String {
    let (cell_w, cell_h, left, top) = (10usize, 10usize, 64usize, 18usize);
    let rows = h.bounds_ms.len() + 1;
    let cols = h.counts.len();
    let (w, ht) = (left + cols * cell_w + 4, top + rows * cell_h + 18);
    let max = h.counts.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let mut s = format!(
        "<figure><svg class=\"heatmap\" data-component=\"{n}\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{n} latency heatmap\">\n<text x=\"0\" y=\"12\" font-size=\"12\" font-weight=\"600\">{n}</text>\n",
        n = escape_html(name)
    );
    let _ = writeln!(
        s,
        "<rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"#fafafa\" stroke=\"#ddd\"/>",
        cols * cell_w,
        rows * cell_h
    );
    for r in 0..rows {
        // The lowest latency at the bottom.
        let y = top + (rows - 1 - r) * cell_h;
        if r % 4 == 0 {
            let label = match h.bounds_ms.get(r) {
                Some(b) => format!("≤{b} ms"),
                None => "more".into(),
            };
            let _ =
                writeln!(s, "<text x=\"0\" y=\"{}\" font-size=\"9\">{}</text>", y + cell_h - 1, escape_html(&label));
        }
        for (c, column) in h.counts.iter().enumerate() {
            let n = column.get(r).copied().unwrap_or(0);
            // Empty cells are the background: the page stays small.
            if n == 0 {
                continue;
            }
            let alpha = 0.15 + 0.85 * n as f64 / max;
            let _ = writeln!(
                s,
                "<rect x=\"{}\" y=\"{y}\" width=\"{cell_w}\" height=\"{cell_h}\" fill=\"#b3261e\" fill-opacity=\"{alpha:.3}\" stroke=\"#eee\" stroke-width=\"0.5\"><title>{n} request(s)</title></rect>",
                left + c * cell_w
            );
        }
    }
    let total_s = h.slice_ms as f64 * cols as f64 / 1000.0;
    let _ = writeln!(
        s,
        "<text x=\"{left}\" y=\"{}\" font-size=\"9\">0 s</text><text x=\"{}\" y=\"{}\" font-size=\"9\" text-anchor=\"end\">{total_s:.0} s</text>\n</svg></figure>",
        ht - 4,
        left + cols * cell_w,
        ht - 4
    );
    s
}

fn endpoints(f: &TraceFindings, all: &[String]) -> String {
    let mut s = String::from(
        "<h3>Breakdown per endpoint</h3>\n<p class=\"caption\">Each component's known self time as a share of the endpoint's end-to-end time; grey is time not known.</p>\n<p class=\"legend\">",
    );
    for c in all {
        let _ = write!(
            s,
            "<span><i class=\"swatch\" style=\"background:{}\"></i>{}</span>",
            colour(all, c),
            escape_html(c)
        );
    }
    s.push_str(
        "</p>\n<table class=\"endpoints\"><tr><th>endpoint</th><th>requests</th><th>mean</th><th>breakdown</th></tr>\n",
    );
    for e in &f.endpoints {
        let name = match &e.phase {
            Some(p) => format!("{} [{p}]", e.group),
            None => e.group.clone(),
        };
        let _ = write!(
            s,
            "<tr data-group=\"{}\"><td>{}</td><td class=\"ms\">{}</td><td class=\"ms\">{:.1} ms</td><td><div class=\"stack\">",
            escape_html(&e.group),
            escape_html(&name),
            e.requests,
            e.mean_ms
        );
        for (c, share) in e.shares.iter().filter(|(_, v)| **v > 0.0) {
            let _ = write!(
                s,
                "<span class=\"seg\" data-component=\"{c}\" data-share=\"{share:.6}\" style=\"width:{:.3}%;background:{}\" title=\"{c}: {:.1} %\"></span>",
                share * 100.0,
                colour(all, c),
                share * 100.0,
                c = escape_html(c)
            );
        }
        s.push_str("</div></td></tr>\n");
    }
    s.push_str("</table>\n");
    s
}

/// `link` with the trace id in it, when it is an http(s) URL.
fn trace_href(link: Option<&str>, trace_id: &str) -> Option<String> {
    let link = link?;
    let scheme_ok = link.starts_with("http://") || link.starts_with("https://");
    scheme_ok.then(|| link.replace("{trace_id}", trace_id))
}

fn slowest(f: &TraceFindings, all: &[String]) -> String {
    let mut s = format!(
        "<h3>Slowest requests</h3>\n<p class=\"caption\">The {} slowest traced requests; open one for its trace as a waterfall and the time each component spent on its critical path.</p>\n",
        f.slowest.len()
    );
    for (i, r) in f.slowest.iter().enumerate() {
        s.push_str(&drill_down(i, r, f.trace_link.as_deref(), all));
    }
    s
}

fn drill_down(i: usize, r: &SlowRequest, link: Option<&str>, all: &[String]) -> String {
    let mut s = format!(
        "<details class=\"trace\" data-trace-id=\"{id}\"><summary>#{n} {name} · {ms:.1} ms · trace {id}</summary>\n",
        n = i + 1,
        name = escape_html(&r.name),
        ms = r.duration_ms,
        id = escape_html(&r.trace_id)
    );
    if let Some(href) = trace_href(link, &r.trace_id) {
        let _ = writeln!(
            s,
            "<p><a class=\"trace-link\" href=\"{}\" rel=\"noopener noreferrer\">Open in Tempo/Grafana</a></p>",
            escape_html(&href)
        );
    }
    s.push_str("<table class=\"timings\"><tr><th>component</th><th>critical-path self time</th></tr>\n");
    for (c, ms) in &r.parts_ms {
        let unknown = r.unknown.get(c).map(|rs| format!(" (unknown: {})", rs.join(", "))).unwrap_or_default();
        let _ = writeln!(
            s,
            "<tr data-component=\"{c}\"><td><i class=\"swatch\" style=\"background:{}\"></i>{c}{}</td><td class=\"ms\" data-ms=\"{ms}\">{ms:.3} ms</td></tr>",
            colour(all, c),
            escape_html(&unknown),
            c = escape_html(c)
        );
    }
    for (c, rs) in r.unknown.iter().filter(|(c, _)| !r.parts_ms.contains_key(*c)) {
        let _ = writeln!(
            s,
            "<tr data-component=\"{c}\"><td>{c}</td><td class=\"ms\">unknown: {}</td></tr>",
            escape_html(&rs.join(", ")),
            c = escape_html(c)
        );
    }
    s.push_str("</table>\n");
    s.push_str(&waterfall(r, all));
    s.push_str("</details>\n");
    s
}

fn waterfall(r: &SlowRequest, all: &[String]) -> String {
    if r.spans.is_empty() {
        return "<p class=\"muted\">No spans kept for this trace.</p>\n".into();
    }
    let extent = r.spans.iter().map(|x| x.offset_ms + x.duration_ms).fold(r.duration_ms, f64::max);
    let first = r.spans.iter().map(|x| x.offset_ms).fold(0.0, f64::min);
    let range = (extent - first).max(1e-3);
    let (left, width, row) = (260.0, 640.0, 18usize);
    let ht = (r.spans.len() + 1) * row + 4;
    let x = |ms: f64| left + (ms - first) / range * width;
    let mut s = format!(
        "<svg class=\"waterfall\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\" xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"trace waterfall\">\n<rect x=\"{:.1}\" y=\"0\" width=\"{:.1}\" height=\"{}\" fill=\"#f0f0f0\"><title>k6: {:.3} ms</title></rect><text x=\"0\" y=\"{}\" font-size=\"11\">k6 request</text>\n",
        x(0.0),
        x(r.duration_ms) - x(0.0),
        row - 4,
        r.duration_ms,
        row - 6,
        w = left + width + 80.0
    );
    for (i, sp) in r.spans.iter().enumerate() {
        let y = (i + 1) * row;
        let label = format!("{}: {}", sp.component, sp.name);
        let _ = writeln!(
            s,
            "<g class=\"span\" data-span-id=\"{id}\" data-component=\"{c}\"><text x=\"{:.0}\" y=\"{}\" font-size=\"11\">{}</text><rect x=\"{:.1}\" y=\"{y}\" width=\"{:.1}\" height=\"{}\" fill=\"{}\"{}><title>{} · +{:.3} ms · {:.3} ms</title></rect><text x=\"{:.1}\" y=\"{}\" font-size=\"10\">{:.1} ms</text></g>",
            (sp.depth * 10).min(120),
            y + row - 6,
            escape_html(&label),
            x(sp.offset_ms),
            (x(sp.offset_ms + sp.duration_ms) - x(sp.offset_ms)).max(1.0),
            row - 4,
            colour(all, &sp.component),
            if sp.error { " stroke=\"#cf222e\" stroke-width=\"2\"" } else { "" },
            escape_html(&label),
            sp.offset_ms,
            sp.duration_ms,
            x(sp.offset_ms + sp.duration_ms) + 4.0,
            y + row - 6,
            sp.duration_ms,
            id = escape_html(&sp.span_id),
            c = escape_html(&sp.component)
        );
    }
    if r.spans_dropped > 0 {
        let _ = write!(
            s,
            "<text x=\"0\" y=\"{}\" font-size=\"10\">{} more span(s) not kept</text>",
            ht - 2,
            r.spans_dropped
        );
    }
    s.push_str("</svg>\n");
    s
}
