//! The self-contained HTML report: the verdict, the side-by-side comparison, the phase tables
//! and per-second charts of a run against its baseline, in one file that opens offline.
//!
//! Everything is inline: the CSS in a `<style>` element, the charts as SVG drawn by plotters.
//! The page loads nothing (no scripts, fonts, images or links to fetch) and runs no JavaScript,
//! so it can be archived as a CI artifact and opened years later. Every string that comes from
//! the data (test names, tag values, phase names, policy messages) goes through minijinja's
//! HTML auto-escaping or plotters' SVG escaping. Like the rest of `report`, it computes no
//! statistics: it lays out what the RunSummaries and the verdict already hold.
//!
//! Three parts: `view` computes what the page shows, `charts` draws the SVG charts, and
//! `report.html.j2` lays them out. This file only renders the one into the other.

mod charts;
mod view;

use minijinja::{Environment, UndefinedBehavior, context};

use crate::escape::escape_html;
use view::Page;
pub(crate) use view::rule_text;

use crate::policy::verdict::Verdict;
use crate::summary::RunSummary;

/// The page template. Named `.html` below so that minijinja auto-escapes every value.
const TEMPLATE: &str = include_str!("report.html.j2");

/// The report of a judged run, as one HTML document.
pub fn render(verdict: &Verdict, candidate: &RunSummary, baseline: Option<&RunSummary>) -> String {
    let page = render_run(candidate, baseline, Some(verdict));
    let page = match &verdict.guard {
        Some(g) => super::guard::insert_html(page, g),
        None => page,
    };
    match &verdict.traces {
        Some(t) => super::traces::insert_html(page, t),
        None => page,
    }
}

/// The report of any run. Without a verdict (an incomplete run, or one without a baseline)
/// the page says so in its header and still shows the runs, phases and charts.
pub fn render_run(candidate: &RunSummary, baseline: Option<&RunSummary>, verdict: Option<&Verdict>) -> String {
    let page = Page::build(verdict, candidate, baseline);
    match render_page(&page) {
        Ok(html) => html,
        // Only a bug in the template gets here (the tests render every section); the page
        // still carries the outcome and headline, and says why the rest is missing.
        Err(e) => error_page(&e.to_string(), &page),
    }
}

fn render_page(page: &Page) -> Result<String, minijinja::Error> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // The `.html` name turns on auto-escaping.
    env.add_template("report.html", TEMPLATE)?;
    env.get_template("report.html")?.render(context! { page => page })
}

fn error_page(error: &str, page: &Page) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>k6gate report</title></head>\
         <body><h1>{}: {}</h1><p>k6gate could not lay out the full report: {}</p></body></html>\n",
        escape_html(page.outcome_label),
        escape_html(&page.headline),
        escape_html(error)
    )
}
