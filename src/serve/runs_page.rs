//! `/runs`: the run list. The query string is read strictly (an unknown parameter, a bad date
//! or outcome, a cursor that is not one: 400), turned into a [`PageQuery`] on the `runs`
//! table's own columns, and each page links to the next by keyset.

use std::collections::BTreeSet;

use axum::response::Response;
use serde::Serialize;

use super::error::PageError;
use super::{App, html, html_response};
use crate::history::{Cursor, Facets, ListedRun, Outcome, PageQuery, RunPages};

/// The most runs one page may ask for (`limit`).
pub const MAX_LIMIT: usize = 500;

/// The parameters `/runs` takes.
const PARAMETERS: [&str; 10] = ["test", "env", "version", "outcome", "branch", "team", "from", "to", "after", "limit"];

/// The filters as given (for the form and the links).
#[derive(Debug, Default, Serialize, Clone)]
struct Filters {
    test: String,
    env: String,
    version: String,
    outcome: String,
    branch: String,
    team: String,
    from: String,
    to: String,
    limit: String,
}

impl Filters {
    /// The query string of these filters (empty ones left out), `after` appended when given.
    fn link(&self, after: Option<&Cursor>) -> String {
        let pairs = [
            ("test", &self.test),
            ("env", &self.env),
            ("version", &self.version),
            ("outcome", &self.outcome),
            ("branch", &self.branch),
            ("team", &self.team),
            ("from", &self.from),
            ("to", &self.to),
            ("limit", &self.limit),
        ];
        let mut parts: Vec<String> = pairs
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| format!("{k}={}", crate::net::percent_encode(v)))
            .collect();
        if let Some(c) = after {
            parts.push(format!("after={}", cursor_text(c)));
        }
        if parts.is_empty() { "/runs".into() } else { format!("/runs?{}", parts.join("&")) }
    }
}

#[derive(Serialize)]
struct RunsPage {
    title: &'static str,
    filters: Filters,
    facets: FacetView,
    outcomes: Vec<&'static str>,
    teams: Vec<String>,
    runs: Vec<RunRow>,
    next: Option<String>,
    first: Option<String>,
    shown: String,
    csrf: String,
    /// Why the list may be behind the durable store.
    stale: Option<String>,
}

#[derive(Serialize)]
struct FacetView {
    tests: Vec<String>,
    environments: Vec<String>,
}

#[derive(Serialize)]
struct RunRow {
    id: String,
    started: String,
    test: String,
    environment: String,
    outcome: &'static str,
    version: String,
    branch: String,
    commit: String,
    user: String,
}

/// A run id as a path segment may carry it: letters, digits and dashes, at most 64.
pub fn plain_id(id: &str) -> Option<&str> {
    let ok = (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    ok.then_some(id)
}

fn cursor_text(c: &Cursor) -> String {
    format!("{}_{}", c.started_at_ns, c.id)
}

fn parse_cursor(s: &str) -> Option<Cursor> {
    let (ns, id) = s.split_once('_')?;
    Some(Cursor { started_at_ns: ns.parse().ok()?, id: plain_id(id)?.to_string() })
}

/// `YYYY-MM-DD` as Unix ns at 00:00 UTC.
fn day_ns(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() });
    if !shaped {
        return None;
    }
    let ns = crate::time::parse_rfc3339_ns(format!("{s}T00:00:00Z").as_bytes())?;
    // 2026-02-31 parses as a day count; only a date that formats back as itself is one.
    crate::time::format_rfc3339_ms(ns).starts_with(s).then_some(ns)
}

const DAY_NS: i64 = 86_400_000_000_000;

/// The query string read into filters and the store's query. Every mistake is a 400 that
/// names the parameter.
fn parse(
    raw: &str,
    owners: &std::collections::BTreeMap<String, String>,
    page_size: usize,
) -> Result<(Filters, PageQuery), PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw)
        .map_err(|e| PageError::BadRequest(format!("the query string could not be read: {e}")))?;
    let mut f = Filters::default();
    let mut seen = BTreeSet::new();
    let mut after = None;
    for (key, value) in pairs {
        if !seen.insert(key.clone()) {
            return Err(PageError::BadRequest(format!("{key:?} is given twice")));
        }
        let value = value.trim().to_string();
        match key.as_str() {
            "test" => f.test = value,
            "env" => f.env = value,
            "version" => f.version = value,
            "outcome" => f.outcome = value,
            "branch" => f.branch = value,
            "team" => f.team = value,
            "from" => f.from = value,
            "to" => f.to = value,
            "limit" => f.limit = value,
            "after" if !value.is_empty() => {
                after = Some(parse_cursor(&value).ok_or_else(|| {
                    PageError::BadRequest(format!(
                        "after={value:?} is not a position in the list (use the page's links)"
                    ))
                })?);
            }
            "after" => {}
            other => {
                return Err(PageError::BadRequest(format!(
                    "unknown parameter {other:?}: /runs takes {}",
                    PARAMETERS.join(", ")
                )));
            }
        }
    }
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    let outcome = match f.outcome.as_str() {
        "" => None,
        o => Some(o.parse::<Outcome>().map_err(|e| PageError::BadRequest(format!("outcome: {e}")))?),
    };
    let date = |name: &str, v: &str| -> Result<Option<i64>, PageError> {
        if v.is_empty() {
            return Ok(None);
        }
        day_ns(v).map(Some).ok_or_else(|| PageError::BadRequest(format!("{name}={v:?} is not a date (YYYY-MM-DD)")))
    };
    let since_ns = date("from", &f.from)?;
    let until_ns = date("to", &f.to)?.map(|d| d + DAY_NS);
    if let (Some(s), Some(u)) = (since_ns, until_ns)
        && u <= s
    {
        return Err(PageError::BadRequest(format!("to={} is before from={}", f.to, f.from)));
    }
    let limit = match f.limit.as_str() {
        "" => page_size,
        l => match l.parse::<usize>() {
            Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
            _ => return Err(PageError::BadRequest(format!("limit={l:?}: a number from 1 to {MAX_LIMIT}"))),
        },
    };
    let tests = match f.team.as_str() {
        "" => None,
        _ if owners.is_empty() => {
            return Err(PageError::BadRequest(
                "team: the policy data names no owners (notifications.owners), so there are no teams".into(),
            ));
        }
        team => {
            let tests: Vec<String> = owners.iter().filter(|(_, t)| *t == team).map(|(test, _)| test.clone()).collect();
            if tests.is_empty() {
                return Err(PageError::BadRequest(format!("team={team:?} owns no test in the policy data")));
            }
            Some(tests)
        }
    };
    let query = PageQuery {
        test: some(&f.test),
        tests,
        environment: some(&f.env),
        version: some(&f.version),
        outcome,
        branch: some(&f.branch),
        since_ns,
        until_ns,
        after,
        limit,
    };
    Ok((f, query))
}

fn started(ns: i64) -> String {
    let t = crate::time::format_rfc3339_ms(ns);
    t.get(..19).unwrap_or(&t).replacen('T', " ", 1)
}

fn row(r: ListedRun) -> RunRow {
    RunRow {
        started: started(r.started_at_ns),
        test: r.test,
        environment: r.environment,
        outcome: r.outcome.as_str(),
        version: r.deployment_version.unwrap_or_default(),
        branch: r.git_branch.unwrap_or_default(),
        commit: r.git_commit.map(|c| c.chars().take(10).collect()).unwrap_or_default(),
        user: r.user.unwrap_or_default(),
        id: r.id,
    }
}

/// The page for this query string.
pub fn page(app: &App, raw_query: &str) -> Result<Response, PageError> {
    let (filters, query) = parse(raw_query, &app.config.owners, app.config.page_size)?;
    let stale = app.refresh_if_stale();
    let (listed, facets) = app.with_store(|s| -> Result<_, PageError> {
        let listed = s.run_page(&query).map_err(|e| PageError::from_store(e, ""))?;
        let facets = s.facets().map_err(|e| PageError::from_store(e, ""))?;
        Ok((listed, facets))
    })?;
    let Facets { tests, environments } = facets;
    let teams: BTreeSet<String> = app.config.owners.values().cloned().collect();
    let count = listed.runs.len();
    let view = RunsPage {
        title: "Runs",
        next: listed.next.as_ref().map(|c| filters.link(Some(c))),
        first: query.after.is_some().then(|| filters.link(None)),
        shown: match count {
            0 => String::new(),
            1 => "1 run".into(),
            n => format!("{n} runs{}", if listed.next.is_some() { ", more below" } else { "" }),
        },
        filters,
        facets: FacetView { tests, environments },
        outcomes: Outcome::ALL.iter().map(|o| o.as_str()).collect(),
        teams: teams.into_iter().collect(),
        runs: listed.runs.into_iter().map(row).collect(),
        csrf: app.csrf.token().to_string(),
        stale,
    };
    Ok(html_response(html::render("runs.html", &view)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_whole_days() {
        assert_eq!(day_ns("1970-01-02"), Some(DAY_NS));
        for bad in ["2026-02-31", "2026-13-01", "26-01-01", "2026-1-01", "2026-01-01T00:00:00Z", "yesterday"] {
            assert_eq!(day_ns(bad), None, "{bad}");
        }
    }

    #[test]
    fn cursors_round_trip_and_refuse_junk() {
        let c = Cursor { started_at_ns: 1_765_000_000_000_000_000, id: "20261206-101500-ab12".into() };
        assert_eq!(parse_cursor(&cursor_text(&c)), Some(c));
        for bad in ["", "x_20261206", "12_", "12_a'b", "12"] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }
}
