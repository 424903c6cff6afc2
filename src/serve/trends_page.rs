//! `/trends?test=&env=&metric=`: a metric over the deployments of a test in an environment,
//! one point per version in the order of its first run, with the reviewed change points, the
//! waivers that name a version, and the baseline history (pins) marked.
//!
//! The numbers are `k6gate history trend`'s: the same store query ([`DigestQuery`]: records
//! only, never a summary, so the page costs the same on a year of runs), the same pure
//! [`crate::trend::deployments::trend`], the same change-point reviews and pins. This module
//! only adds the waivers from the policy data and draws the chart; it computes no statistic.
//!
//! Size on a long history: the chart has every version (beyond [`MAX_DOTS`] a line without a
//! dot each, the marks always drawn); the table has the newest [`TABLE_NEWEST`] versions and
//! every marked one (change point, waiver, pin), and says how many it left out, with a link
//! to all of them (`all=1`).

use std::collections::{BTreeMap, BTreeSet};

use axum::response::Response;
use serde::Serialize;

use super::error::PageError;
use super::policy_page::load_data;
use super::trend_chart::{self, Marker};
use super::{App, html, html_response};
use crate::history::{DigestQuery, Records, RunPages, RunStore};
use crate::policy::data::PolicyData;
use crate::trend::changepoints::Measure;
use crate::trend::deployments::{self, Mark, PinMark, Selection, Trend};

/// The parameters `/trends` takes.
const PARAMETERS: [&str; 6] = ["test", "env", "metric", "phase", "group", "all"];

/// The newest versions the table shows (with every marked one, whatever its age); `all=1`
/// shows every version. A year of hourly deployments is 438 versions: the whole table was
/// most of a 500 KB page.
pub const TABLE_NEWEST: usize = 60;

/// Beyond this many points the chart draws the line without a dot per version (the marks are
/// always drawn).
pub const MAX_DOTS: usize = 120;

/// The metrics by their short names (as `history trend --metric` takes them), then the full ones.
fn measure(name: &str) -> Option<Measure> {
    match name {
        "" | "p95" => Some(Measure::P95Ms),
        "p50" => Some(Measure::P50Ms),
        "p99" => Some(Measure::P99Ms),
        "rps" => Some(Measure::RequestsPerS),
        other => Measure::from_name(other),
    }
}

#[derive(Debug, Default, Serialize)]
struct Query {
    test: String,
    env: String,
    metric: String,
    phase: String,
    group: String,
    /// `1`: every version in the table.
    all: String,
}

fn parse(raw: &str) -> Result<Query, PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| PageError::BadRequest(format!("the query string could not be read: {e}")))?;
    let mut q = Query::default();
    let mut seen = BTreeSet::new();
    for (key, value) in pairs {
        if !seen.insert(key.clone()) {
            return Err(PageError::BadRequest(format!("{key:?} is given twice")));
        }
        let value = value.trim().to_string();
        match key.as_str() {
            "test" => q.test = value,
            "env" => q.env = value,
            "metric" => q.metric = value,
            "phase" => q.phase = value,
            "group" => q.group = value,
            "all" if value == "1" || value.is_empty() => q.all = value,
            "all" => return Err(PageError::BadRequest(format!("all={value:?}: 1 or nothing"))),
            other => {
                return Err(PageError::BadRequest(format!(
                    "unknown parameter {other:?}: /trends takes {}",
                    PARAMETERS.join(", ")
                )));
            }
        }
    }
    Ok(q)
}

#[derive(Serialize)]
struct MarkView {
    kind: &'static str,
    text: String,
}

#[derive(Serialize)]
struct PointView {
    version: String,
    first: String,
    value: String,
    /// The value as Rust writes it (shortest round trip), empty without one.
    value_raw: String,
    runs: usize,
    outcomes: String,
    marks: Vec<MarkView>,
}

#[derive(Serialize)]
struct PinView {
    run_id: String,
    version: String,
    pinned_by: String,
    pinned_at: String,
    reason: String,
    state: String,
}

#[derive(Serialize)]
struct TrendView {
    heading: String,
    metric: &'static str,
    phase: String,
    group: String,
    svg: String,
    caption: String,
    points: Vec<PointView>,
    /// Versions left out of the table (neither among the newest nor marked), and the link
    /// that shows them.
    hidden: usize,
    all_link: String,
    pins: Vec<PinView>,
    cli: String,
}

#[derive(Serialize)]
struct TrendsPage {
    title: &'static str,
    query: Query,
    tests: Vec<String>,
    environments: Vec<String>,
    metrics: Vec<(&'static str, &'static str)>,
    trend: Option<TrendView>,
    /// Why there is no trend (nothing chosen yet, no decided run...).
    empty: Option<String>,
    notes: Vec<String>,
}

const METRICS: [(&str, &str); 5] = [
    ("p95", "P95 latency"),
    ("p50", "P50 latency"),
    ("p99", "P99 latency"),
    ("error_rate", "error rate"),
    ("rps", "requests/s"),
];

/// A value as `history trend` prints it.
pub(super) fn format_value(metric: &str, v: Option<f64>) -> String {
    match (metric, v) {
        (_, None) => "-".into(),
        ("error_rate", Some(v)) => format!("{:.2} %", v * 100.0),
        ("requests_per_s", Some(v)) => format!("{v:.1}/s"),
        (_, Some(v)) => format!("{v:.1} ms"),
    }
}

fn day(ns: i64) -> String {
    let t = crate::time::format_rfc3339_ms(ns);
    t.get(..16).unwrap_or(&t).replacen('T', " ", 1)
}

/// The waivers of `data` for this test and environment, by the version they name.
fn waivers_by_version<'a>(data: Option<&'a PolicyData>, test: &str, env: &str) -> BTreeMap<&'a str, Vec<String>> {
    let mut out: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for w in data.iter().flat_map(|d| d.waivers.iter()) {
        let e = &w.entry;
        if e.test == test && e.environment.as_deref().is_none_or(|x| x == env) {
            out.entry(e.version.as_str()).or_default().push(format!(
                "waiver {} on {} approved by {} until {} ({}:{})",
                e.id, e.metric, e.approved_by, e.expires, w.source.file, w.source.line
            ));
        }
    }
    out
}

/// The indices of the versions the table shows: all, or the newest [`TABLE_NEWEST`] and every
/// marked one.
fn table_rows(marked: &[bool], all: bool) -> Vec<usize> {
    let n = marked.len();
    (0..n).filter(|&i| all || i + TABLE_NEWEST >= n || marked.get(i).copied().unwrap_or(false)).collect()
}

/// The page for this query string.
pub fn page(app: &App, raw_query: &str) -> Result<Response, PageError> {
    let q = parse(raw_query)?;
    let metric = measure(&q.metric).ok_or_else(|| {
        PageError::BadRequest(format!(
            "metric={:?}: one of p50, p95, p99, error_rate, rps (or {})",
            q.metric,
            Measure::names()
        ))
    })?;
    let facets = app.with_store(|s| s.facets()).map_err(|e| PageError::from_store(e, ""))?;
    let mut view = TrendsPage {
        title: "Trends",
        tests: facets.tests,
        environments: facets.environments,
        metrics: METRICS.to_vec(),
        trend: None,
        empty: None,
        notes: Vec::new(),
        query: q,
    };
    if view.query.test.is_empty() || view.query.env.is_empty() {
        view.empty = Some("Choose a test and an environment.".into());
        return Ok(html_response(html::render("trends.html", &view)?));
    }
    let data = load_data(app)?;
    if data.is_none() {
        view.notes.push("No policy data: change-point reviews and waivers are not marked.".into());
    }
    match build(app, &view.query, metric, data.as_ref()) {
        Ok(t) => view.trend = Some(t),
        Err(Built::Empty(why)) => view.empty = Some(why),
        Err(Built::Page(e)) => return Err(e),
    }
    Ok(html_response(html::render("trends.html", &view)?))
}

enum Built {
    /// No trend to draw, and why (shown on the page, status 200: the choice was valid).
    Empty(String),
    Page(PageError),
}

fn build(app: &App, q: &Query, metric: Measure, data: Option<&PolicyData>) -> Result<TrendView, Built> {
    let select = Selection { phase: Some(q.phase.as_str()).filter(|p| !p.is_empty()), group: Some(q.group.as_str()) };
    let phases = select.phases();
    let (runs, pins) = app
        .with_store(|s| -> Result<_, crate::history::HistoryError> {
            let runs = s.digest_runs(&DigestQuery {
                test: &q.test,
                environment: &q.env,
                version: None,
                since_ns: None,
                phases: &phases,
                group: Some(&q.group),
            })?;
            Ok((runs, s.list_pins(Some(&q.test), Some(&q.env))?))
        })
        .map_err(|e| Built::Page(PageError::from_store(e, "")))?;
    let reviews = data.map(|d| d.changepoint_reviews(&q.test, &q.env)).unwrap_or_default();
    let pin_marks: Vec<PinMark> =
        pins.iter().map(|p| PinMark { run_id: p.run_id.clone(), active: p.is_active() }).collect();
    let t: Trend = deployments::trend(&q.test, &q.env, &runs, metric, select, (&reviews, &pin_marks), "the first run")
        .map_err(|e| Built::Empty(e.to_string()))?;
    let waivers = waivers_by_version(data, &q.test, &q.env);
    let version_of: BTreeMap<&str, &str> =
        runs.iter().filter_map(|r| Some((r.run_id.as_str(), r.deployment_version.as_deref()?))).collect();

    let mut markers = Vec::new();
    let points: Vec<PointView> = t
        .points
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let version = p.version.clone().unwrap_or_else(|| "(no version)".into());
            let mut marks: Vec<MarkView> = p
                .marks
                .iter()
                .map(|m| match m {
                    Mark::ChangePoint { run_id, metric, decision, source } => {
                        markers.push(Marker::ChangePoint(i));
                        MarkView {
                            kind: "changepoint",
                            text: format!("change point in {metric} at run {run_id}, {decision:?} ({source})")
                                .to_lowercase(),
                        }
                    }
                    Mark::Pinned { run_id, active } => {
                        markers.push(Marker::Pinned(i));
                        MarkView {
                            kind: "pin",
                            text: format!("{} baseline: run {run_id}", if *active { "pinned" } else { "was pinned" }),
                        }
                    }
                })
                .collect();
            for w in p.version.as_deref().and_then(|v| waivers.get(v)).into_iter().flatten() {
                markers.push(Marker::Waiver(i));
                marks.push(MarkView { kind: "waiver", text: w.clone() });
            }
            PointView {
                version,
                first: day(p.first_started_at_ns),
                value: format_value(t.metric, p.value),
                value_raw: p.value.map(|v| v.to_string()).unwrap_or_default(),
                runs: p.runs,
                outcomes: p.outcomes.iter().map(|(o, n)| format!("{n} {o}")).collect::<Vec<_>>().join(", "),
                marks,
            }
        })
        .collect();
    let labels: Vec<String> = points.iter().map(|p| p.version.clone()).collect();
    // The table: the newest versions and every marked one (change points, waivers, pins),
    // unless all are asked for; the chart keeps every version.
    let total = points.len();
    let marked: Vec<bool> = points.iter().map(|p| !p.marks.is_empty()).collect();
    let keep: BTreeSet<usize> = table_rows(&marked, q.all == "1").into_iter().collect();
    let points: Vec<PointView> =
        points.into_iter().enumerate().filter(|(i, _)| keep.contains(i)).map(|(_, p)| p).collect();
    let hidden = total - points.len();
    let mut all_link = format!(
        "/trends?test={}&env={}&metric={}",
        crate::net::percent_encode(&q.test),
        crate::net::percent_encode(&q.env),
        crate::net::percent_encode(&q.metric)
    );
    for (k, v) in [("phase", &q.phase), ("group", &q.group)] {
        if !v.is_empty() {
            all_link.push_str(&format!("&{k}={}", crate::net::percent_encode(v)));
        }
    }
    all_link.push_str("&all=1");
    let values: Vec<Option<f64>> = t.points.iter().map(|p| p.value).collect();
    let unit = match t.metric {
        "error_rate" => "error rate",
        "requests_per_s" => "requests/s",
        _ => "ms",
    };
    let svg = trend_chart::draw(&labels, &values, &markers, unit, &format!("{} over deployments", t.metric));
    // Newest first, as the store lists them.
    let pins = pins
        .into_iter()
        .map(|p| PinView {
            version: version_of.get(p.run_id.as_str()).map(|v| v.to_string()).unwrap_or_default(),
            pinned_at: day(p.pinned_at_ns),
            state: match &p.invalidated {
                None => "active".into(),
                Some(inv) => format!("ended {} by {}: {}", day(inv.at_ns), inv.by, inv.reason),
            },
            run_id: p.run_id,
            pinned_by: p.pinned_by,
            reason: p.reason,
        })
        .collect();
    let group_name = if t.group.is_empty() { "all requests".to_string() } else { t.group.clone() };
    let short = METRICS.iter().find(|(k, _)| measure(k) == Some(metric)).map_or(t.metric, |(k, _)| *k);
    let mut cli = format!("k6gate history trend --test {} --env {} --metric {short}", t.test, t.environment);
    if !q.phase.is_empty() {
        cli.push_str(&format!(" --phase {}", q.phase));
    }
    if !q.group.is_empty() {
        cli.push_str(&format!(" --group '{}'", q.group));
    }
    Ok(TrendView {
        heading: format!("{} in {}: {} over {} deployment(s)", t.test, t.environment, t.metric, t.points.len()),
        metric: t.metric,
        caption: format!(
            "{} of the {} phase, {group_name}: each version's value over its decided runs (pass, warn, fail). \
             Red dashed line: a reviewed change point starts at that version; orange triangle: a waiver names it; \
             grey ring: one of its runs is or was the pinned baseline.",
            t.metric, t.phase
        ),
        phase: t.phase,
        group: group_name,
        svg,
        points,
        hidden,
        all_link,
        pins,
        cli,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_by_short_and_full_name() {
        assert_eq!(measure(""), Some(Measure::P95Ms));
        assert_eq!(measure("rps"), Some(Measure::RequestsPerS));
        assert_eq!(measure("error_rate"), Some(Measure::ErrorRate));
        assert_eq!(measure("p99_ms"), Some(Measure::P99Ms));
        assert_eq!(measure("p42"), None);
    }

    #[test]
    fn the_table_keeps_the_newest_and_every_marked_version() {
        let mut marked = vec![false; 438];
        marked[3] = true;
        marked[200] = true;
        let rows = table_rows(&marked, false);
        assert_eq!(rows.len(), TABLE_NEWEST + 2);
        assert_eq!(&rows[..2], &[3, 200]);
        assert_eq!(rows.last(), Some(&437));
        assert_eq!(table_rows(&marked, true).len(), 438);
        assert_eq!(table_rows(&marked[..10], false).len(), 10, "a short trend is shown whole");
    }

    #[test]
    fn queries_are_read_strictly() {
        assert!(parse("test=a&env=b&metric=p95").is_ok());
        assert!(matches!(parse("test=a&test=b"), Err(PageError::BadRequest(_))));
        assert!(matches!(parse("version=1"), Err(PageError::BadRequest(_))));
        assert!(matches!(parse("all=yes"), Err(PageError::BadRequest(_))));
    }
}
