//! Accountability per team: `/teams` and the metric behind its alert (`/metrics`).
//!
//! A team owns tests (`notifications.owners`). Over a window of whole weeks ending at `until`
//! (default now), per team: deployments gated (decided runs: pass, warn, fail, inconclusive),
//! blocked (fail: the gate said no), overridden (a verdict with an exception: a waiver or a
//! migration window let a failing rule pass, listed with who approved it), and the violation
//! rate, (blocked + overridden) / gated, week by week. A team is elevated when its rate over the
//! last four weeks is higher than its own before them and higher than the rest of the org's
//! over the same four weeks, both by a two-proportion test at p < 0.05
//! ([`crate::stats::rank::two_proportion_p`]): a few bad runs of a small team are not enough.
//!
//! Counts come from the `runs` table (keyset pages, no summary); overrides from the runs'
//! decision records ([`Decisions::decisions`]: rows written when the run was recorded, two
//! indexed queries per page of runs), read for every pass and warn run of the window (an
//! exception turns a failing rule into a pass). No verdict is parsed per request, except a
//! run's that has no record yet (see [`overrides_of`]). A team with more than [`MAX_RUNS`]
//! runs in the window is cut there, and the page says so.
//!
//! `/metrics` publishes the last 28 days in Prometheus' text format
//! (`k6gate_team_violation_rate`, `k6gate_team_deployments_gated`,
//! `k6gate_team_violation_elevated`), which `prom/k6gate-teams-rules.yml` alerts on.

use std::collections::BTreeMap;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::PageError;
use super::{App, html, html_response};
use crate::history::{Decisions, Outcome, Override, PageQuery, RunPages};

const WEEK_NS: i64 = 7 * 86_400 * 1_000_000_000;
const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// Weeks compared with the rest: the last four.
const RECENT_WEEKS: usize = 4;
/// The most runs read per team (26 weeks of three hourly tests); the page says when a team
/// has more in its window.
const MAX_RUNS: usize = 20_000;
const ALPHA: f64 = 0.05;
/// The longest window: a page costs one keyset page per 500 runs of a team.
const MAX_WEEKS: usize = 26;

#[derive(Debug, Default, Clone, Copy, Serialize)]
struct Counts {
    gated: u64,
    blocked: u64,
    overridden: u64,
}

impl Counts {
    fn violations(&self) -> u64 {
        self.blocked + self.overridden
    }

    fn rate(&self) -> Option<f64> {
        (self.gated > 0).then(|| self.violations() as f64 / self.gated as f64)
    }

    fn add(&mut self, o: &Counts) {
        self.gated += o.gated;
        self.blocked += o.blocked;
        self.overridden += o.overridden;
    }
}

#[derive(Serialize)]
struct OverrideRow {
    run: String,
    test: String,
    version: String,
    started: String,
    by: String,
    approved_by: String,
}

/// One team over the window.
struct Team {
    name: String,
    tests: Vec<String>,
    /// Oldest week first.
    weeks: Vec<Counts>,
    overrides: Vec<OverrideRow>,
    capped: bool,
}

impl Team {
    fn total(&self, weeks: std::ops::Range<usize>) -> Counts {
        let mut c = Counts::default();
        for w in self.weeks.get(weeks).unwrap_or_default() {
            c.add(w);
        }
        c
    }
}

/// The overrides of these runs, from their decision records (`history::Decision`, written
/// when the run was recorded or back-filled once): no verdict is read. A run without a record
/// (recorded by an older k6gate into a store whose back-fill has not run) is read from its
/// verdict; one whose verdict cannot be read is an error naming it, never a clean run.
fn overrides_of(app: &App, ids: &[&str]) -> Result<BTreeMap<String, Vec<Override>>, PageError> {
    let records = app.with_store(|s| s.decisions(ids)).map_err(|e| PageError::from_store(e, ""))?;
    let mut out = BTreeMap::new();
    let mut missing = Vec::new();
    for r in records {
        match r.decision {
            Some(d) => {
                out.insert(r.id, d.overrides);
            }
            None => missing.push(r.id),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    let refs: Vec<&str> = missing.iter().map(String::as_str).collect();
    let verdicts = app.with_store(|s| s.verdicts(&refs)).map_err(|e| PageError::from_store(e, ""))?;
    for v in verdicts {
        let Some(Ok(d)) = v.verdict.as_deref().map(crate::policy::decision::of_json) else {
            return Err(PageError::Internal(format!(
                "run {} was decided but its verdict cannot be read: its overrides cannot be counted",
                v.id
            )));
        };
        out.insert(v.id, d.overrides);
    }
    Ok(out)
}

fn team_tests(owners: &BTreeMap<String, String>) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (test, team) in owners {
        out.entry(team.clone()).or_default().push(test.clone());
    }
    out
}

fn day(ns: i64) -> String {
    crate::time::format_rfc3339_ms(ns).chars().take(10).collect()
}

/// The team's runs in `[since, until)`, counted by week, and its overrides.
fn gather(app: &App, name: &str, tests: Vec<String>, since: i64, until: i64, weeks: usize) -> Result<Team, PageError> {
    let mut team = Team {
        name: name.to_string(),
        tests: tests.clone(),
        weeks: vec![Counts::default(); weeks],
        overrides: Vec::new(),
        capped: false,
    };
    let mut query = PageQuery {
        test: None,
        tests: Some(tests),
        environment: None,
        version: None,
        outcome: None,
        branch: None,
        since_ns: Some(since),
        until_ns: Some(until),
        after: None,
        limit: 500,
    };
    let mut seen = 0usize;
    loop {
        let page = app.with_store(|s| s.run_page(&query)).map_err(|e| PageError::from_store(e, ""))?;
        // An exception turns a failing rule into a pass: only pass and warn runs can carry one.
        let judged: Vec<&str> = page
            .runs
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Pass | Outcome::Warn))
            .map(|r| r.id.as_str())
            .collect();
        let exceptions = overrides_of(app, &judged)?;
        for r in &page.runs {
            seen += 1;
            let week = usize::try_from((r.started_at_ns - since) / WEEK_NS).unwrap_or(0).min(weeks.saturating_sub(1));
            let Some(w) = team.weeks.get_mut(week) else { continue };
            match r.outcome {
                Outcome::Fail => {
                    w.gated += 1;
                    w.blocked += 1;
                }
                Outcome::Pass | Outcome::Warn => {
                    w.gated += 1;
                    let Some(found) = exceptions.get(&r.id) else {
                        return Err(PageError::Internal(format!(
                            "run {} was listed but its verdict was not found: its overrides cannot be counted",
                            r.id
                        )));
                    };
                    if !found.is_empty() {
                        w.overridden += 1;
                        for e in found {
                            let approved = match (&e.approved_by, e.verified) {
                                (Some(a), true) => a.clone(),
                                (Some(a), false) => format!("{a} (as the file says; not verified)"),
                                (None, _) => {
                                    e.owner.as_ref().map_or_else(|| "nobody named".into(), |o| format!("owner {o}"))
                                }
                            };
                            team.overrides.push(OverrideRow {
                                run: r.id.clone(),
                                test: r.test.clone(),
                                version: r.deployment_version.clone().unwrap_or_default(),
                                started: day(r.started_at_ns),
                                by: format!("{} ({}) on {}", e.by, e.kind, e.result),
                                approved_by: approved,
                            });
                        }
                    }
                }
                Outcome::Inconclusive => w.gated += 1,
                _ => {}
            }
        }
        match page.next {
            Some(c) if seen < MAX_RUNS => query.after = Some(c),
            Some(_) => {
                team.capped = true;
                break;
            }
            None => break,
        }
    }
    Ok(team)
}

/// Elevated against its own history and the rest of the org, and the two p-values.
fn elevated(team: &Team, org_recent: &Counts, weeks: usize) -> (bool, Option<f64>, Option<f64>) {
    let recent_from = weeks.saturating_sub(RECENT_WEEKS);
    let recent = team.total(recent_from..weeks);
    let before = team.total(0..recent_from);
    let mut rest = *org_recent;
    rest.gated -= recent.gated.min(rest.gated);
    rest.blocked -= recent.blocked.min(rest.blocked);
    rest.overridden -= recent.overridden.min(rest.overridden);
    let p_own =
        crate::stats::rank::two_proportion_p(recent.violations(), recent.gated, before.violations(), before.gated);
    let p_org = crate::stats::rank::two_proportion_p(recent.violations(), recent.gated, rest.violations(), rest.gated);
    let higher = |a: &Counts, b: &Counts| a.rate().zip(b.rate()).is_some_and(|(x, y)| x > y);
    let up = higher(&recent, &before)
        && higher(&recent, &rest)
        && p_own.is_some_and(|p| p < ALPHA)
        && p_org.is_some_and(|p| p < ALPHA);
    (up, p_own, p_org)
}

/// Every team over `weeks` weeks ending at `until`, and the org's counts of the recent weeks.
fn teams(app: &App, until: i64, weeks: usize) -> Result<(Vec<Team>, Counts), PageError> {
    let since = until - WEEK_NS * weeks as i64;
    let mut out = Vec::new();
    for (name, tests) in team_tests(&app.config.owners) {
        out.push(gather(app, &name, tests, since, until, weeks)?);
    }
    let mut org = Counts::default();
    for t in &out {
        org.add(&t.total(weeks.saturating_sub(RECENT_WEEKS)..weeks));
    }
    Ok((out, org))
}

#[derive(Serialize)]
struct TeamView {
    name: String,
    tests: String,
    gated: u64,
    blocked: u64,
    overridden: u64,
    rate: String,
    recent: String,
    before: String,
    elevated: bool,
    why: String,
    weeks: Vec<String>,
    overrides: Vec<OverrideRow>,
    capped: bool,
}

#[derive(Serialize)]
struct TeamsPage {
    title: &'static str,
    from: String,
    until: String,
    weeks: usize,
    week_starts: Vec<String>,
    org_recent: String,
    teams: Vec<TeamView>,
    /// Whether any team has an override in the window (else the section says so).
    any_overrides: bool,
    empty: Option<String>,
}

fn pct(r: Option<f64>) -> String {
    r.map_or_else(|| "–".into(), |r| format!("{:.1} %", r * 100.0))
}

/// `GET /teams?weeks=&until=`.
pub fn page(app: &App, raw_query: &str) -> Result<Response, PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw_query)
        .map_err(|e| PageError::BadRequest(format!("the query string could not be read: {e}")))?;
    let (mut weeks, mut until) = (12usize, None);
    for (k, v) in pairs {
        match k.as_str() {
            "weeks" => {
                weeks = match v.parse::<usize>() {
                    Ok(w) if (RECENT_WEEKS + 1..=MAX_WEEKS).contains(&w) => w,
                    _ => {
                        return Err(PageError::BadRequest(format!(
                            "weeks={v:?}: from {} to {MAX_WEEKS}",
                            RECENT_WEEKS + 1
                        )));
                    }
                }
            }
            "until" => {
                let t = crate::time::parse_rfc3339_ns(format!("{v}T00:00:00Z").as_bytes())
                    .filter(|_| v.len() == 10)
                    .ok_or_else(|| PageError::BadRequest(format!("until={v:?} is not a date (YYYY-MM-DD)")))?;
                until = Some(t + DAY_NS);
            }
            other => {
                return Err(PageError::BadRequest(format!("unknown parameter {other:?}: /teams takes weeks, until")));
            }
        }
    }
    let until = until.unwrap_or_else(crate::clock::now_ns);
    let since = until - WEEK_NS * weeks as i64;
    if app.config.owners.is_empty() {
        let view = TeamsPage {
            title: "Teams",
            from: day(since),
            until: day(until - 1),
            weeks,
            week_starts: Vec::new(),
            org_recent: String::new(),
            teams: Vec::new(),
            any_overrides: false,
            empty: Some("No teams: the policy data names no owners (notifications.owners).".into()),
        };
        return Ok(html_response(html::render("teams.html", &view)?));
    }
    let (teams, org) = teams(app, until, weeks)?;
    let recent_from = weeks.saturating_sub(RECENT_WEEKS);
    let views: Vec<TeamView> = teams
        .into_iter()
        .map(|t| {
            let all = t.total(0..weeks);
            let (up, p_own, p_org) = elevated(&t, &org, weeks);
            let p = |p: Option<f64>| p.map_or_else(|| "no test (no runs)".into(), |p| format!("p = {p:.3}"));
            TeamView {
                tests: t.tests.join(", "),
                gated: all.gated,
                blocked: all.blocked,
                overridden: all.overridden,
                rate: pct(all.rate()),
                recent: pct(t.total(recent_from..weeks).rate()),
                before: pct(t.total(0..recent_from).rate()),
                elevated: up,
                why: format!(
                    "last {RECENT_WEEKS} weeks against the {recent_from} before: {}; against the rest of the org: {}",
                    p(p_own),
                    p(p_org)
                ),
                weeks: t.weeks.iter().map(|w| pct(w.rate())).collect(),
                overrides: t.overrides,
                capped: t.capped,
                name: t.name,
            }
        })
        .collect();
    let view = TeamsPage {
        title: "Teams",
        from: day(since),
        until: day(until - 1),
        weeks,
        week_starts: (0..weeks).map(|i| day(since + WEEK_NS * i as i64)).collect(),
        org_recent: pct(org.rate()),
        any_overrides: views.iter().any(|t| !t.overrides.is_empty()),
        teams: views,
        empty: None,
    };
    Ok(html_response(html::render("teams.html", &view)?))
}

/// A label value in Prometheus' text format.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `GET /metrics`: the last 28 days per team, for Prometheus to scrape.
pub fn metrics(app: &App) -> Result<Response, PageError> {
    // Four weeks of counts and the four before them, for the elevated flag.
    let weeks = 2 * RECENT_WEEKS;
    let (teams, org) = teams(app, crate::clock::now_ns(), weeks)?;
    let mut out = String::from(
        "# HELP k6gate_team_violation_rate Share of the team's gated deployments of the last 28 days that were blocked or passed only by an override.\n\
         # TYPE k6gate_team_violation_rate gauge\n",
    );
    let mut gated = String::from(
        "# HELP k6gate_team_deployments_gated Deployments the gate decided for the team's tests in the last 28 days.\n\
         # TYPE k6gate_team_deployments_gated gauge\n",
    );
    let mut up = String::from(
        "# HELP k6gate_team_violation_elevated 1 when the team's violation rate of the last 28 days is above its own 28 days before and the rest of the org's (two-proportion test, p < 0.05).\n\
         # TYPE k6gate_team_violation_elevated gauge\n",
    );
    for t in &teams {
        let recent = t.total(RECENT_WEEKS..weeks);
        let name = label(&t.name);
        if let Some(r) = recent.rate() {
            out.push_str(&format!("k6gate_team_violation_rate{{team=\"{name}\"}} {r}\n"));
        }
        gated.push_str(&format!("k6gate_team_deployments_gated{{team=\"{name}\"}} {}\n", recent.gated));
        up.push_str(&format!(
            "k6gate_team_violation_elevated{{team=\"{name}\"}} {}\n",
            u8::from(elevated(t, &org, weeks).0)
        ));
    }
    out.push_str(&gated);
    out.push_str(&up);
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], out).into_response())
}
