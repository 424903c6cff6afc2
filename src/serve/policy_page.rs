//! `/policy`: the effective policy per team and test: SLAs and regression budgets per
//! environment (the entry that applies and the file and line it is written at), migration
//! windows, waivers, the retention class and the owner. Read with the loader the gate uses
//! ([`crate::policy::data::load_dirs`]: `policies/data` plus the waiver files), on every
//! request, so the page shows the files as they are now; a broken file is a page that names
//! its file, line and field, never a view of half the data.
//!
//! Which entry applies is decided in Rego (`policies/k6gate.rego`, `sla_limit` and
//! `budget_for`); [`sla_limit`] and [`budget_limit`] mirror those two rules for display (the
//! most specific matching entry, the last one among equals, else the defaults), and
//! `tests/serve_policy.rs` checks them against the verdicts the gate writes.

use std::collections::{BTreeMap, BTreeSet};

use axum::response::Response;
use serde::Serialize;

use super::error::PageError;
use super::{App, html, html_response};
use crate::history::RunPages;
use crate::policy::data::{BudgetEntry, Limits, PolicyData, SlaEntry, Sourced};

/// The policy data as the gate reads it, or `None` when the server has no policy directory
/// (or it has no `data/`). A file that does not load is a 500 page naming file, line and field:
/// the server's policy is broken, and nothing is shown as if it held.
pub(super) fn load_data(app: &App) -> Result<Option<PolicyData>, PageError> {
    let Some(dir) = &app.config.policies else { return Ok(None) };
    let data_dir = dir.join("data");
    if !data_dir.is_dir() {
        return Ok(None);
    }
    crate::policy::data::load_dirs(&data_dir, app.config.waivers.as_deref())
        .map(Some)
        .map_err(|e| PageError::Internal(format!("the policy data does not load: {e}")))
}

/// The metrics an SLA may limit (`sla_metrics` in the Rego).
pub(super) const SLA_METRICS: [&str; 4] = ["p50_ms", "p95_ms", "p99_ms", "error_rate"];
/// The metrics a budget may limit.
const BUDGET_METRICS: [&str; 5] = ["p50_ms", "p95_ms", "p99_ms", "error_rate", "requests_per_s"];

fn limit_of(l: &Limits, metric: &str) -> Option<f64> {
    match metric {
        "p50_ms" => l.p50_ms,
        "p95_ms" => l.p95_ms,
        "p99_ms" => l.p99_ms,
        "error_rate" => l.error_rate,
        "requests_per_s" => l.requests_per_s,
        _ => None,
    }
}

pub(super) fn sla_entry_limit(e: &SlaEntry, metric: &str) -> Option<f64> {
    match metric {
        "p50_ms" => e.p50_ms,
        "p95_ms" => e.p95_ms,
        "p99_ms" => e.p99_ms,
        "error_rate" => e.error_rate,
        _ => None,
    }
}

fn budget_entry_limit(e: &BudgetEntry, metric: &str) -> Option<f64> {
    match metric {
        "p50_ms" => e.p50_ms,
        "p95_ms" => e.p95_ms,
        "p99_ms" => e.p99_ms,
        "error_rate" => e.error_rate,
        "requests_per_s" => e.requests_per_s,
        _ => None,
    }
}

/// A limit and where it is written.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Effective {
    pub value: f64,
    /// `file:line`.
    pub source: String,
    /// `sla.tests[2]`, `sla.defaults`, as the verdict names it.
    pub from: String,
}

/// The SLA limit of `metric` for `test` in `env` on `group` (`"all"`: all requests), as
/// `sla_limit` in `policies/k6gate.rego` picks it: among the matching entries with a number
/// for the metric, the highest specificity (environment 2, group 4), the last one among
/// equals; else, for all requests only, the defaults.
pub fn sla_limit(data: &PolicyData, test: &str, env: &str, group: &str, metric: &str) -> Option<Effective> {
    let specificity = |e: &SlaEntry| 2 * usize::from(e.environment.is_some()) + 4 * usize::from(e.group.is_some());
    let best = data
        .sla_tests
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let e = &s.entry;
            e.test == test
                && e.environment.as_deref().is_none_or(|x| x == env)
                && e.group.as_deref().unwrap_or("all") == group
                && sla_entry_limit(e, metric).is_some()
        })
        .max_by_key(|(i, s)| (specificity(&s.entry), *i));
    if let Some((i, s)) = best {
        return sla_entry_limit(&s.entry, metric).map(|value| Effective {
            value,
            source: format!("{}:{}", s.source.file, s.source.line),
            from: format!("sla.tests[{i}]"),
        });
    }
    let d = &data.sla_defaults;
    (group == "all").then_some(()).and_then(|()| limit_of(&d.entry, metric)).map(|value| Effective {
        value,
        source: format!("{}:{}", d.source.file, d.source.line),
        from: "sla.defaults".into(),
    })
}

/// The budget of `metric` for `test` in `env`, as `budget_for` in the Rego picks it.
pub fn budget_limit(data: &PolicyData, test: &str, env: &str, metric: &str) -> Option<Effective> {
    let best = data
        .budget_tests
        .iter()
        .enumerate()
        .filter(|(_, s)| {
            let e = &s.entry;
            e.test == test
                && e.environment.as_deref().is_none_or(|x| x == env)
                && budget_entry_limit(e, metric).is_some()
        })
        .max_by_key(|(i, s)| (usize::from(s.entry.environment.is_some()), *i));
    if let Some((i, s)) = best {
        return budget_entry_limit(&s.entry, metric).map(|value| Effective {
            value,
            source: format!("{}:{}", s.source.file, s.source.line),
            from: format!("budgets.tests[{i}]"),
        });
    }
    let d = &data.budget_defaults;
    limit_of(&d.entry, metric).map(|value| Effective {
        value,
        source: format!("{}:{}", d.source.file, d.source.line),
        from: "budgets.defaults".into(),
    })
}

/// A limit as the pages show it.
pub(super) fn show_limit(metric: &str, v: f64, budget: bool) -> String {
    match (metric, budget) {
        ("error_rate", false) => format!("{:.2} %", v * 100.0),
        ("error_rate", true) => format!("+{:.2} pp", v * 100.0),
        ("requests_per_s", true) => format!("−{:.0} %", v * 100.0),
        (_, true) => format!("+{:.0} %", v * 100.0),
        (_, false) => format!("{v} ms"),
    }
}

#[derive(Serialize)]
struct Cell {
    text: String,
    source: String,
    from: String,
}

#[derive(Serialize)]
struct EnvRow {
    environment: String,
    sla: Vec<Option<Cell>>,
    budget: Vec<Option<Cell>>,
}

#[derive(Serialize)]
struct Override {
    kind: &'static str,
    id: String,
    scope: String,
    detail: String,
    by: String,
    until: String,
    state: &'static str,
    source: String,
}

#[derive(Serialize)]
struct TestView {
    test: String,
    team: String,
    lead: String,
    retention: String,
    envs: Vec<EnvRow>,
    group_slas: Vec<String>,
    overrides: Vec<Override>,
}

#[derive(Serialize)]
struct TeamView {
    team: String,
    tests: Vec<TestView>,
}

#[derive(Serialize)]
struct PolicyPage {
    title: &'static str,
    sla_metrics: Vec<&'static str>,
    budget_metrics: Vec<&'static str>,
    teams: Vec<TeamView>,
    team_names: Vec<String>,
    filter_team: String,
    filter_test: String,
    classes: Vec<String>,
    approvers: Vec<String>,
    empty: Option<String>,
    /// The retention form: the class names, and whether a PR can be opened.
    class_names: Vec<String>,
    can_propose: bool,
    csrf: String,
}

fn parse(raw: &str) -> Result<(String, String), PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| PageError::BadRequest(format!("the query string could not be read: {e}")))?;
    let (mut team, mut test) = (None, None);
    for (k, v) in pairs {
        let slot = match k.as_str() {
            "team" => &mut team,
            "test" => &mut test,
            other => {
                return Err(PageError::BadRequest(format!("unknown parameter {other:?}: /policy takes team, test")));
            }
        };
        if slot.replace(v.trim().to_string()).is_some() {
            return Err(PageError::BadRequest(format!("{k:?} is given twice")));
        }
    }
    Ok((team.unwrap_or_default(), test.unwrap_or_default()))
}

fn cell(e: Option<Effective>, metric: &str, budget: bool) -> Option<Cell> {
    e.map(|e| Cell { text: show_limit(metric, e.value, budget), source: e.source, from: e.from })
}

fn src<T>(s: &Sourced<T>) -> String {
    format!("{}:{}", s.source.file, s.source.line)
}

/// The tests the policy or the store knows, and the environments.
fn known(data: &PolicyData, tests: Vec<String>, envs: Vec<String>) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut t: BTreeSet<String> = tests.into_iter().collect();
    let mut e: BTreeSet<String> = envs.into_iter().collect();
    t.extend(data.sla_tests.iter().map(|s| s.entry.test.clone()));
    t.extend(data.budget_tests.iter().map(|s| s.entry.test.clone()));
    t.extend(data.windows.iter().map(|s| s.entry.test.clone()));
    t.extend(data.waivers.iter().map(|s| s.entry.test.clone()));
    if let Some(n) = &data.notifications {
        t.extend(n.owners.keys().cloned());
    }
    if let Some(r) = &data.retention {
        t.extend(r.tests.keys().cloned());
    }
    e.extend(data.sla_tests.iter().filter_map(|s| s.entry.environment.clone()));
    e.extend(data.budget_tests.iter().filter_map(|s| s.entry.environment.clone()));
    e.extend(data.windows.iter().flat_map(|s| s.entry.environments.clone()));
    (t, e)
}

fn test_view(data: &PolicyData, test: &str, envs: &BTreeSet<String>, now_ns: i64) -> TestView {
    let owner = data.notifications.as_ref().and_then(|n| n.owners.get(test));
    let retention = match &data.retention {
        None => "no retention policy (runs are kept)".to_string(),
        Some(r) => match r.class_of(test) {
            Some(c) => format!(
                "{}{}: summaries {} days, run directories {} days{}",
                c.name,
                if r.tests.contains_key(test) { "" } else { " (the default class)" },
                c.summary_days,
                c.raw_days,
                c.archive_days.map(|d| format!(", archived after {d} days")).unwrap_or_default()
            ),
            None => "no class".into(),
        },
    };
    let envs = envs
        .iter()
        .map(|env| EnvRow {
            environment: env.clone(),
            sla: SLA_METRICS.iter().map(|m| cell(sla_limit(data, test, env, "all", m), m, false)).collect(),
            budget: BUDGET_METRICS.iter().map(|m| cell(budget_limit(data, test, env, m), m, true)).collect(),
        })
        .collect();
    let group_slas = data
        .sla_tests
        .iter()
        .filter(|s| s.entry.test == test && s.entry.group.is_some())
        .map(|s| {
            let e = &s.entry;
            let limits: Vec<String> = SLA_METRICS
                .iter()
                .filter_map(|m| sla_entry_limit(e, m).map(|v| format!("{m} {}", show_limit(m, v, false))))
                .collect();
            format!(
                "{} in {}: {} ({})",
                e.group.as_deref().unwrap_or(""),
                e.environment.as_deref().unwrap_or("every environment"),
                limits.join(", "),
                src(s)
            )
        })
        .collect();
    let state = |start: i64, end: i64| {
        if now_ns < start {
            "not yet"
        } else if now_ns >= end {
            "expired"
        } else {
            "active"
        }
    };
    let mut overrides: Vec<Override> = data
        .windows
        .iter()
        .filter(|w| w.entry.test == test)
        .map(|w| {
            let e = &w.entry;
            Override {
                kind: "migration window",
                id: e.id.clone(),
                scope: if e.environments.is_empty() { "every environment".into() } else { e.environments.join(", ") },
                detail: format!("{} +{:.0} % ({})", e.metrics.join(", "), e.extra_regression * 100.0, e.reason),
                by: e.owner.clone(),
                until: e.expires.clone(),
                state: state(e.start_ns, e.expires_ns),
                source: src(w),
            }
        })
        .collect();
    overrides.extend(data.waivers.iter().filter(|w| w.entry.test == test).map(|w| {
        let e = &w.entry;
        Override {
            kind: "waiver",
            id: e.id.clone(),
            scope: e.environment.clone().unwrap_or_else(|| "every environment".into()),
            detail: format!("{} of {}: {}", e.metric, e.version, e.justification),
            by: format!("{} (asked by {})", e.approved_by, e.requested_by),
            until: e.expires.clone(),
            state: state(e.created_ns, e.expires_ns),
            source: src(w),
        }
    }));
    TestView {
        test: test.to_string(),
        team: owner.map(|o| o.team.clone()).unwrap_or_default(),
        lead: owner.map(|o| o.lead.clone()).unwrap_or_default(),
        retention,
        envs,
        group_slas,
        overrides,
    }
}

/// The page for this query string.
pub fn page(app: &App, raw_query: &str) -> Result<Response, PageError> {
    let (filter_team, filter_test) = parse(raw_query)?;
    let data = load_data(app)?;
    let Some(data) = data else {
        let view = PolicyPage {
            title: "Policy",
            sla_metrics: Vec::new(),
            budget_metrics: Vec::new(),
            teams: Vec::new(),
            team_names: Vec::new(),
            filter_team,
            filter_test,
            classes: Vec::new(),
            approvers: Vec::new(),
            class_names: Vec::new(),
            can_propose: false,
            csrf: String::new(),
            empty: Some("This server was started without policy data (--policies DIR with a data/ directory).".into()),
        };
        return Ok(html_response(html::render("policy.html", &view)?));
    };
    let facets = app.with_store(|s| s.facets()).map_err(|e| PageError::from_store(e, ""))?;
    let (tests, envs) = known(&data, facets.tests, facets.environments);
    let now = crate::clock::now_ns();
    let mut teams: BTreeMap<String, Vec<TestView>> = BTreeMap::new();
    let mut team_names = BTreeSet::new();
    for test in &tests {
        let v = test_view(&data, test, &envs, now);
        team_names.insert(v.team.clone());
        if (!filter_test.is_empty() && *test != filter_test) || (!filter_team.is_empty() && v.team != filter_team) {
            continue;
        }
        teams.entry(v.team.clone()).or_default().push(v);
    }
    if !filter_test.is_empty() && !tests.contains(&filter_test) {
        return Err(PageError::NotFound(format!("no test {filter_test:?} in the policy data or the store")));
    }
    if !filter_team.is_empty() && !team_names.contains(&filter_team) {
        return Err(PageError::NotFound(format!("no team {filter_team:?} owns a test (notifications.owners)")));
    }
    let empty = teams.is_empty().then(|| "No test is named in the policy data or the store yet.".to_string());
    let view = PolicyPage {
        title: "Policy",
        sla_metrics: SLA_METRICS.to_vec(),
        budget_metrics: BUDGET_METRICS.to_vec(),
        teams: teams
            .into_iter()
            .map(|(team, tests)| TeamView {
                team: if team.is_empty() { "(no owner in notifications.owners)".into() } else { team },
                tests,
            })
            .collect(),
        team_names: team_names.into_iter().filter(|t| !t.is_empty()).collect(),
        filter_team,
        filter_test,
        classes: data
            .retention
            .as_ref()
            .map(|r| {
                r.classes
                    .values()
                    .map(|c| {
                        let tiers: Vec<String> = c
                            .series
                            .iter()
                            .map(|t| format!("{} s windows until day {}", t.window_s, t.until_days))
                            .collect();
                        format!(
                            "{}{}: summaries {} days, run directories {} days{}; series: {}",
                            c.name,
                            if c.name == r.default_class { " (default)" } else { "" },
                            c.summary_days,
                            c.raw_days,
                            c.archive_days.map(|d| format!(", archived after {d} days")).unwrap_or_default(),
                            if tiers.is_empty() { "as recorded".into() } else { tiers.join(", ") }
                        )
                    })
                    .collect()
            })
            .unwrap_or_default(),
        approvers: data.approvers.clone(),
        empty,
        class_names: data.retention.as_ref().map(|r| r.classes.keys().cloned().collect()).unwrap_or_default(),
        can_propose: app.config.github.is_some(),
        csrf: app.csrf.token().to_string(),
    };
    Ok(html_response(html::render("policy.html", &view)?))
}
