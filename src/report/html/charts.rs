//! The report's charts: per-second series on a "seconds since start" axis, each run from its own
//! start, drawn as inline SVG by plotters. Reads the series the RunSummaries hold and never
//! derives a statistic from them; anything from the data reaches the SVG through plotters'
//! escaping.

use std::collections::BTreeMap;

use plotters::coord::Shift;
use plotters::prelude::*;
use serde::Serialize;

use crate::escape::escape_html;
use crate::summary::{GroupSeries, RunSummary, Series};

#[derive(Serialize)]
pub(super) struct ChartView {
    pub(super) id: String,
    pub(super) title: String,
    pub(super) caption: String,
    pub(super) svg: String,
    pub(super) legend: Vec<LegendItem>,
}

#[derive(Serialize)]
pub(super) struct LegendItem {
    pub(super) label: String,
    pub(super) color: String,
    /// solid, dashed, bar or band.
    pub(super) kind: &'static str,
}

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

pub(super) struct Charts {
    pub(super) main: Vec<ChartView>,
    pub(super) groups: Vec<ChartView>,
    pub(super) missing: Option<String>,
}

impl Charts {
    pub(super) fn build(candidate: &RunSummary, baseline: Option<&RunSummary>) -> Charts {
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
