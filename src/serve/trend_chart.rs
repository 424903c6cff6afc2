//! The trend chart: a metric over deployment versions, drawn on the server as inline SVG by
//! plotters like [`super::charts`]. The x axis is categorical (one slot per version, in the
//! order of its first run, labelled with the version); reviewed change points are red dashed
//! lines before their version, waivers orange triangles above the point, pinned baselines a
//! grey ring. Version names reach the SVG through plotters' escaping.

use plotters::prelude::*;

const BLUE: RGBColor = RGBColor(9, 105, 218);
const RED: RGBColor = RGBColor(207, 34, 46);
const ORANGE: RGBColor = RGBColor(188, 76, 0);
const GREY: RGBColor = RGBColor(110, 119, 129);
const AXIS: RGBColor = RGBColor(87, 96, 106);
const GRID: RGBColor = RGBColor(234, 238, 242);

/// What marks a version (by its index on the axis).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    ChangePoint(usize),
    Waiver(usize),
    Pinned(usize),
}

/// The most version labels on the axis; beyond it every n-th version is labelled.
const MAX_LABELS: usize = 14;

/// The SVG of the trend, or an empty string when it cannot be drawn (logged; the page's table
/// has the same numbers).
pub fn draw(labels: &[String], values: &[Option<f64>], markers: &[Marker], unit: &str, title: &str) -> String {
    let mut svg = String::new();
    let drawn = {
        let root = SVGBackend::with_string(&mut svg, (960, 360)).into_drawing_area();
        plot(&root, labels, values, markers, unit, title).and_then(|()| root.present().map_err(|e| e.to_string()))
    };
    match drawn {
        Ok(()) => svg.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1),
        Err(e) => {
            tracing::warn!("drawing the trend chart: {e}");
            String::new()
        }
    }
}

fn y_upper(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let raw = max * 1.15;
    let mag = 10f64.powf(raw.log10().floor());
    let step = mag / 2.0;
    (raw / step).ceil() * step
}

fn plot(
    root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>,
    labels: &[String],
    values: &[Option<f64>],
    markers: &[Marker],
    unit: &str,
    title: &str,
) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let n = labels.len().max(1);
    let y_max = y_upper(values.iter().flatten().copied().filter(|v| v.is_finite()).fold(0.0, f64::max));
    // Up to MAX_LABELS versions, one key point each; beyond, plotters' round key points (each an
    // integer: a version's slot), so the SVG does not carry a grid line and an empty label per
    // version (a year of deployments made a 350 KB chart).
    let few = n <= MAX_LABELS;
    let mut chart = ChartBuilder::on(root)
        .caption(title, ("sans-serif", 16).into_font().color(&AXIS))
        .margin(10)
        .x_label_area_size(44)
        .y_label_area_size(60)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..y_max)
        .map_err(|e| err(&e))?;
    let label_of = |x: &f64| -> String {
        let i = x.round();
        if (x - i).abs() > 1e-6 || i < 0.0 {
            return String::new();
        }
        labels.get(i as usize).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .x_desc("deployment version (in the order of its first run)")
        .y_desc(unit)
        .axis_desc_style(("sans-serif", 13).into_font().color(&AXIS))
        .label_style(("sans-serif", 13).into_font().color(&AXIS))
        .bold_line_style(GRID)
        .light_line_style(RGBColor(246, 248, 250))
        .x_labels(if few { n.max(2) } else { MAX_LABELS })
        .x_label_formatter(&label_of)
        .y_labels(6)
        .draw()
        .map_err(|e| err(&e))?;
    for m in markers {
        if let Marker::ChangePoint(i) = m {
            let x = *i as f64 - 0.5;
            chart
                .draw_series(DashedLineSeries::new([(x, 0.0), (x, y_max)], 6, 4, RED.stroke_width(2)))
                .map_err(|e| err(&e))?;
        }
    }
    let pts: Vec<(f64, f64)> =
        values.iter().enumerate().filter_map(|(i, v)| v.filter(|v| v.is_finite()).map(|v| (i as f64, v))).collect();
    // One path (a LineSeries is a path per segment).
    chart.draw_series(std::iter::once(PathElement::new(pts.clone(), BLUE.stroke_width(2)))).map_err(|e| err(&e))?;
    if pts.len() <= super::trends_page::MAX_DOTS {
        chart.draw_series(pts.iter().map(|p| Circle::new(*p, 3, BLUE.filled()))).map_err(|e| err(&e))?;
    }
    let value_at = |i: usize| values.get(i).copied().flatten().filter(|v| v.is_finite());
    for m in markers {
        match m {
            Marker::Waiver(i) => {
                let y = value_at(*i).unwrap_or(0.0);
                chart
                    .draw_series(std::iter::once(TriangleMarker::new((*i as f64, y), 7, ORANGE.filled())))
                    .map_err(|e| err(&e))?;
            }
            Marker::Pinned(i) => {
                let y = value_at(*i).unwrap_or(0.0);
                chart
                    .draw_series(std::iter::once(Circle::new((*i as f64, y), 8, GREY.stroke_width(2))))
                    .map_err(|e| err(&e))?;
            }
            Marker::ChangePoint(_) => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_trend_stays_small() {
        let labels: Vec<String> = (0..438).map(|i| format!("v{}.{}.0", i / 100, i % 100)).collect();
        let values: Vec<Option<f64>> = (0..438).map(|i| Some(200.0 + f64::from(i % 17))).collect();
        let svg =
            draw(&labels, &values, &[Marker::ChangePoint(100), Marker::Waiver(200)], "ms", "p95 over deployments");
        assert!(svg.len() < 60_000, "{} bytes", svg.len());
        assert!(svg.matches("<polyline").count() < 60, "one path for the line, dashes for the change point");
        // Round key points, labelled with their version.
        assert!(svg.contains("v1.0.0\n</text>") && svg.contains("v2.0.0\n</text>"), "{svg}");
    }
}
