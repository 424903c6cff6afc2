//! The comparison's charts, drawn on the server as inline SVG by plotters (no script draws
//! anything): latency over time per phase, each run's windows from the phase's start, with
//! the candidate's trimmed warm-up shaded; and the latency distribution of the compared
//! phase as two CDFs read from the runs' sketches. Text from the data (phase names) reaches
//! the SVG through plotters' escaping. Reads what the summaries hold; derives no statistic.

use plotters::prelude::*;
use serde::Serialize;

use crate::compare::Phase;
use crate::summary::{RunSummary, Series};

#[derive(Debug, Serialize)]
pub struct Chart {
    pub id: String,
    pub svg: String,
    pub caption: String,
}

const BLUE: RGBColor = RGBColor(9, 105, 218);
const LIGHT_BLUE: RGBColor = RGBColor(84, 174, 255);
const GREY: RGBColor = RGBColor(110, 119, 129);
const TRIM: RGBColor = RGBColor(207, 34, 46);
const AXIS: RGBColor = RGBColor(87, 96, 106);
const GRID: RGBColor = RGBColor(234, 238, 242);

struct Line {
    label: String,
    color: RGBColor,
    dashed: bool,
    points: Vec<(f64, f64)>,
}

struct Spec {
    x_desc: &'static str,
    y_desc: &'static str,
    x_max: f64,
    y_max: f64,
    lines: Vec<Line>,
    /// Shaded spans of the x axis, and what they are.
    shaded: Vec<(f64, f64)>,
}

/// The windows of phase `name` in `s`: (seconds since the phase's first window, index).
fn windows_of(s: &Series, name: &str) -> Vec<(f64, usize)> {
    let idx: Vec<usize> =
        (0..s.start_unix_s.len()).filter(|i| s.phase.get(*i).and_then(|p| p.as_deref()) == Some(name)).collect();
    let first = idx.first().and_then(|i| s.start_unix_s.get(*i)).copied().unwrap_or(0);
    idx.into_iter().filter_map(|i| s.start_unix_s.get(i).map(|t| ((t - first) as f64 + s.window_s / 2.0, i))).collect()
}

fn points(at: &[(f64, usize)], values: &[Option<f64>]) -> Vec<(f64, f64)> {
    at.iter()
        .filter_map(|(x, i)| values.get(*i).copied().flatten().filter(|v| v.is_finite()).map(|v| (*x, v)))
        .collect()
}

/// One chart per phase of the candidate (in time order): candidate P95 and P50, the
/// baseline's P95 over its phase of the same name.
pub fn per_phase(base: &RunSummary, cand: &RunSummary) -> Vec<Chart> {
    let Some(cs) = &cand.series else { return Vec::new() };
    let mut names: Vec<&str> = Vec::new();
    for p in cs.phase.iter().flatten() {
        if !names.contains(&p.as_str()) {
            names.push(p);
        }
    }
    let mut out = Vec::new();
    for (n, name) in names.into_iter().enumerate() {
        let cw = windows_of(cs, name);
        let bw = base.series.as_ref().map(|bs| (bs, windows_of(bs, name)));
        let mut lines = vec![
            Line { label: "candidate P95".into(), color: BLUE, dashed: false, points: points(&cw, &cs.total.p95_ms) },
            Line {
                label: "candidate P50".into(),
                color: LIGHT_BLUE,
                dashed: false,
                points: points(&cw, &cs.total.p50_ms),
            },
        ];
        if let Some((bs, bw)) = &bw
            && !bw.is_empty()
        {
            lines.push(Line {
                label: "baseline P95".into(),
                color: GREY,
                dashed: true,
                points: points(bw, &bs.total.p95_ms),
            });
        }
        // The candidate's windows trimmed from the steady state (its warm-up), as spans.
        let mut shaded: Vec<(f64, f64)> = Vec::new();
        // Only the steady state's own phase is trimmed; a flag elsewhere is not its warm-up.
        let steady = cand.steady_state.as_ref().is_some_and(|st| st.phase == name);
        for (x, i) in cw.iter().filter(|_| steady) {
            if cs.trimmed.get(*i).copied().unwrap_or(false) {
                let (from, to) = (x - cs.window_s / 2.0, x + cs.window_s / 2.0);
                match shaded.last_mut() {
                    Some(last) if (last.1 - from).abs() < 1e-9 => last.1 = to,
                    _ => shaded.push((from, to)),
                }
            }
        }
        let x_max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.0)).fold(1.0, f64::max) + cs.window_s / 2.0;
        let y_max = lines.iter().flat_map(|l| l.points.iter().map(|p| p.1)).fold(0.0, f64::max);
        let trimmed_s: f64 = shaded.iter().map(|(a, b)| b - a).sum();
        let mut caption = format!("{name}: per-window P95 and P50 of the candidate, P95 of the baseline (dashed)");
        if trimmed_s > 0.0 {
            caption.push_str(&format!("; shaded red: the candidate's first {trimmed_s:.0} s, trimmed as warm-up"));
        }
        if name == "warm-up" {
            caption.push_str("; the warm-up phase is never compared");
        }
        let spec = Spec {
            x_desc: "seconds since the phase started",
            y_desc: "ms",
            x_max,
            y_max: y_upper(y_max),
            lines,
            shaded,
        };
        out.push(Chart { id: format!("phase-{n}"), svg: draw(&spec, (640, 300), name), caption });
    }
    out
}

/// The CDF of each run's latency over `phase` (the phase total's sketch), up to the 99.5th
/// percentile so that one slow request does not flatten the curves.
pub fn cdf(base: &RunSummary, cand: &RunSummary, phase: &Phase) -> Option<Chart> {
    let sketch = |s: &RunSummary| -> Option<Vec<(f64, f64)>> {
        let p = match phase {
            Phase::WholeRun => Some(&s.whole_run),
            other => s.phase(other.name()),
        }?;
        let sk = p.total.latency_sketch.as_ref()?;
        let pts: Vec<(f64, f64)> = (0..=199)
            .filter_map(|i| {
                let q = f64::from(i) / 200.0;
                sk.quantile(q).filter(|v| v.is_finite()).map(|v| (v, q * 100.0))
            })
            .collect();
        (!pts.is_empty()).then_some(pts)
    };
    let (b, c) = (sketch(base)?, sketch(cand)?);
    let x_max = b.iter().chain(&c).map(|p| p.0).fold(0.0, f64::max);
    let lines = vec![
        Line { label: "candidate".into(), color: BLUE, dashed: false, points: c },
        Line { label: "baseline".into(), color: GREY, dashed: true, points: b },
    ];
    let spec = Spec {
        x_desc: "latency (ms)",
        y_desc: "% of requests at or below",
        x_max: y_upper(x_max),
        y_max: 100.0,
        lines,
        shaded: Vec::new(),
    };
    Some(Chart {
        id: "cdf".into(),
        svg: draw(&spec, (900, 340), &format!("latency distribution, {}", phase.name())),
        caption: format!(
            "Share of requests (with an expected response) at or below each latency over {}, read from each run's sketch (to the 99.5th percentile); candidate solid, baseline dashed.",
            phase.name()
        ),
    })
}

/// A round upper bound with some headroom.
fn y_upper(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let raw = max * 1.12;
    let mag = 10f64.powf(raw.log10().floor());
    let step = mag / 2.0;
    (raw / step).ceil() * step
}

fn draw(spec: &Spec, size: (u32, u32), title: &str) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        plot(&root, spec, title).and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match drawn {
        // Inline SVG needs no namespace declaration: the page names no URL.
        Ok(()) => svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1),
        Err(e) => {
            tracing::warn!("drawing the {title} chart: {e}");
            String::new()
        }
    }
}

fn plot(root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, spec: &Spec, title: &str) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16).into_font().color(&AXIS))
        .margin(8)
        .x_label_area_size(38)
        .y_label_area_size(56)
        .build_cartesian_2d(0f64..spec.x_max.max(1e-9), 0f64..spec.y_max)
        .map_err(|e| err(&e))?;
    chart
        .draw_series(
            spec.shaded.iter().map(|(a, b)| Rectangle::new([(*a, 0.0), (*b, spec.y_max)], TRIM.mix(0.14).filled())),
        )
        .map_err(|e| err(&e))?;
    chart
        .configure_mesh()
        .x_desc(spec.x_desc)
        .y_desc(spec.y_desc)
        .axis_desc_style(("sans-serif", 13).into_font().color(&AXIS))
        .label_style(("sans-serif", 12).into_font().color(&AXIS))
        .bold_line_style(GRID)
        .light_line_style(RGBColor(246, 248, 250))
        .x_labels(10)
        .y_labels(6)
        .draw()
        .map_err(|e| err(&e))?;
    for line in &spec.lines {
        let style = ShapeStyle::from(&line.color).stroke_width(2);
        let legend =
            |c: RGBColor| move |(x, y): (i32, i32)| PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2));
        if line.dashed {
            chart
                .draw_series(DashedLineSeries::new(line.points.iter().copied(), 7, 5, style))
                .map_err(|e| err(&e))?
                .label(line.label.as_str())
                .legend(legend(line.color));
        } else {
            chart
                .draw_series(LineSeries::new(line.points.iter().copied(), style))
                .map_err(|e| err(&e))?
                .label(line.label.as_str())
                .legend(legend(line.color));
        }
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GRID)
        .label_font(("sans-serif", 12).into_font().color(&AXIS))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}
