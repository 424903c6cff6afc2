//! Waiver requests: `/waivers/new` is a form (test, environment, metric, version,
//! justification, who asks, the requested approver, days up to 30); `POST /waivers/request`
//! writes the waiver file (`waivers/W-<n>.yaml`, the format of `waivers/README.md`), checks it
//! with the policy loader together with the data it joins (the 30-day limit, a unique id, a
//! known metric are the loader's), and opens a pull request that requests the approver as
//! reviewer. `/waivers/requests/{pr}` shows the request's state: the PR (open, closed,
//! merged, approved by whom) from the GitHub API, and what the gate did with the waiver in
//! the test's latest judged runs (honoured, or ignored with the gate's reason) from the store.
//!
//! The file's `approved_by` names the requested approver: the gate honours the waiver only
//! when GitHub shows that review (and flags a file whose text says otherwise), so writing it
//! ahead grants nothing.

use std::collections::BTreeSet;

use axum::response::Response;
use serde::Serialize;

use super::error::PageError;
use super::policy_page::load_data;
use super::sla_editor::{form_pairs, plain_name};
use super::{App, html, html_response};
use crate::github::propose::{FileChange, Proposal};
use crate::history::{Outcome, RunFilter, RunStore};
use crate::policy::data::MAX_WAIVER_DAYS;
use crate::policy::files::PolicyFile;
use crate::policy::verdict::Verdict;

const METRICS: [&str; 5] = ["p95_ms", "p99_ms", "p50_ms", "error_rate", "requests_per_s"];
const DAY_NS: i64 = 86_400 * 1_000_000_000;
/// How many of the test's latest runs the state page reads for the gate's decision.
const RUNS_READ: usize = 20;

#[derive(Debug, Clone, Default, Serialize)]
struct WaiverForm {
    test: String,
    env: String,
    metric: String,
    version: String,
    justification: String,
    requested_by: String,
    approver: String,
    days: String,
}

/// A GitHub login: letters, digits and single hyphens, at most 39.
fn login(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 39
        && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !s.starts_with('-')
        && !s.ends_with('-')
        && !s.contains("--")
}

fn parse(pairs: Vec<(String, String)>) -> Result<(WaiverForm, u32), PageError> {
    let mut f = WaiverForm::default();
    let mut seen = BTreeSet::new();
    for (k, v) in pairs {
        if !seen.insert(k.clone()) {
            return Err(PageError::BadRequest(format!("{k:?} is given twice")));
        }
        let v = v.trim().to_string();
        let slot = match k.as_str() {
            "csrf" => continue,
            "test" => &mut f.test,
            "env" => &mut f.env,
            "metric" => &mut f.metric,
            "version" => &mut f.version,
            "justification" => &mut f.justification,
            "requested_by" => &mut f.requested_by,
            "approver" => &mut f.approver,
            "days" => &mut f.days,
            other => {
                return Err(PageError::BadRequest(format!(
                    "unknown field {other:?}: the waiver form takes test, env, metric, version, justification, requested_by, approver, days"
                )));
            }
        };
        *slot = v;
    }
    let bad = |m: String| Err(PageError::BadRequest(m));
    if !plain_name(&f.test) {
        return bad(format!("test={:?}: a test name", f.test));
    }
    if !f.env.is_empty() && !plain_name(&f.env) {
        return bad(format!("env={:?}: an environment name, or empty for every one", f.env));
    }
    if !METRICS.contains(&f.metric.as_str()) {
        return bad(format!("metric={:?}: one of {}", f.metric, METRICS.join(", ")));
    }
    if f.version.is_empty() || f.version.len() > 100 || f.version.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return bad(format!("version={:?}: the one deployment version the waiver covers", f.version));
    }
    let words = f.justification.split_whitespace().count();
    if words < 3
        || f.justification.chars().count() > 1000
        || f.justification.chars().any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return bad("justification: say why, in at least three words (at most 1000 characters)".into());
    }
    if !login(&f.requested_by) {
        return bad(format!("requested_by={:?}: your GitHub login", f.requested_by));
    }
    if !login(&f.approver) {
        return bad(format!("approver={:?}: the GitHub login of the approver", f.approver));
    }
    if f.approver.eq_ignore_ascii_case(&f.requested_by) {
        return bad("the approver cannot be the one who asks: a PR author never approves their own PR".into());
    }
    let days = match f.days.parse::<u32>() {
        Ok(d) if (1..=MAX_WAIVER_DAYS as u32).contains(&d) => d,
        _ => return bad(format!("days={:?}: from 1 to {MAX_WAIVER_DAYS}", f.days)),
    };
    Ok((f, days))
}

fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// The next free `W-<n>` among the ids the policy data holds (its number).
fn next_id(ids: impl Iterator<Item = String>) -> NextId {
    let n = ids.filter_map(|id| id.strip_prefix("W-").and_then(|n| n.parse::<u64>().ok())).max().unwrap_or(0);
    NextId(n.saturating_add(1))
}

#[derive(Debug, PartialEq, Eq)]
struct NextId(u64);

fn waiver_file(id: &str, f: &WaiverForm, created: &str, expires: &str) -> String {
    let mut out = String::from(
        "# Requested with k6gate serve. Honoured only once this PR merges with the approver's review\n# (waivers/README.md).\nwaivers:\n",
    );
    out.push_str(&format!("  - id: {id}\n    test: {}\n", quoted(&f.test)));
    if !f.env.is_empty() {
        out.push_str(&format!("    environment: {}\n", quoted(&f.env)));
    }
    out.push_str(&format!(
        "    metric: {}\n    version: {}\n    justification: {}\n    requested_by: {}\n    approved_by: {}\n    created: {created}\n    expires: {expires}\n",
        f.metric,
        quoted(&f.version),
        quoted(&f.justification),
        quoted(&f.requested_by),
        quoted(&f.approver)
    ));
    out
}

#[derive(Serialize)]
struct NewPage {
    title: &'static str,
    csrf: String,
    form: WaiverForm,
    metrics: Vec<&'static str>,
    max_days: i64,
    approvers: Vec<String>,
    can_request: bool,
    notes: Vec<String>,
}

/// `GET /waivers/new?test=&version=&metric=&env=`: the form.
pub fn new(app: &App, raw_query: &str) -> Result<Response, PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw_query)
        .map_err(|e| PageError::BadRequest(format!("the query string could not be read: {e}")))?;
    let mut form = WaiverForm { days: "7".into(), metric: "p95_ms".into(), ..WaiverForm::default() };
    for (k, v) in pairs {
        match k.as_str() {
            "test" => form.test = v,
            "env" => form.env = v,
            "metric" => form.metric = v,
            "version" => form.version = v,
            other => {
                return Err(PageError::BadRequest(format!(
                    "unknown parameter {other:?}: /waivers/new takes test, env, metric, version"
                )));
            }
        }
    }
    let data = load_data(app)?;
    let mut notes = Vec::new();
    if app.config.github.is_none() {
        notes.push("Read-only: no GitHub repository and token are configured, so no request can be sent.".into());
    }
    let page = NewPage {
        title: "Request a waiver",
        csrf: app.csrf.token().to_string(),
        form,
        metrics: METRICS.to_vec(),
        max_days: MAX_WAIVER_DAYS,
        approvers: data.map(|d| d.approvers).unwrap_or_default(),
        can_request: app.config.github.is_some(),
        notes,
    };
    Ok(html_response(html::render("waiver_new.html", &page)?))
}

/// `POST /waivers/request`: the file checked by the loader, then the PR with its reviewer.
pub fn request(app: &App, body: &[u8]) -> Result<Response, PageError> {
    let (form, days) = parse(form_pairs(body)?)?;
    let Some(target) = app.config.github.clone() else {
        return Err(PageError::Forbidden(
            "read-only: this server has no GitHub repository and token to open a pull request with".into(),
        ));
    };
    let Some(policies) = &app.config.policies else {
        return Err(PageError::Forbidden("this server was started without policy data".into()));
    };
    let data = load_data(app)?.ok_or_else(|| PageError::Forbidden("the policies directory has no data/".into()))?;
    let first =
        next_id(data.waivers.iter().map(|w| w.entry.id.clone()).chain(data.windows.iter().map(|w| w.entry.id.clone())));
    let api = crate::github::api::Api::new(target.api.clone())
        .map_err(|e| PageError::Internal(format!("the GitHub client could not start: {e}")))?;
    // The branch `k6gate/waiver-W-<n>` is the number's lock: a request that finds it taken
    // (another request, here or on another server, took the number since the data was read)
    // takes the next one, a bounded number of times.
    let mut tried = Vec::new();
    let mut opened = None;
    for n in first.0..first.0 + ID_ATTEMPTS {
        let id = format!("W-{n}");
        match propose_waiver(app, &api, &target, policies, &form, days, &id) {
            Ok(o) => {
                opened = Some(o);
                break;
            }
            Err(Proposed::Taken) => tried.push(id),
            Err(Proposed::Page(e)) => return Err(e),
        }
    }
    let Some(opened) = opened else {
        return Err(PageError::BadGateway(format!(
            "GitHub already has a branch for each of {}: other waiver requests took these numbers; try again",
            tried.join(", ")
        )));
    };
    // 303 to the request's page: a reload does not send the form again.
    Ok(axum::response::IntoResponse::into_response(axum::response::Redirect::to(&format!(
        "/waivers/requests/{}",
        opened.number
    ))))
}

/// How many numbers a request tries before it gives up (each a branch another request took).
const ID_ATTEMPTS: u64 = 8;

/// Why [`propose_waiver`] did not open the PR.
enum Proposed {
    /// The number's branch exists: take the next.
    Taken,
    Page(PageError),
}

impl From<PageError> for Proposed {
    fn from(e: PageError) -> Proposed {
        Proposed::Page(e)
    }
}

/// The waiver file `id` of `form`, checked with the loader, proposed as a PR.
fn propose_waiver(
    app: &App,
    api: &crate::github::api::Api,
    target: &super::GithubTarget,
    policies: &std::path::Path,
    form: &WaiverForm,
    days: u32,
    id: &str,
) -> Result<crate::github::propose::Opened, Proposed> {
    let now = crate::clock::now_ns();
    let second = |ns: i64| {
        let t = crate::time::format_rfc3339_ms(ns);
        format!("{}Z", t.get(..19).unwrap_or(&t))
    };
    let text = waiver_file(id, form, &second(now), &second(now + i64::from(days) * DAY_NS));
    let file_name = format!("{id}.yaml");

    // The loader, on the data the waiver joins: its format, id, metric and 30 days are checked
    // exactly as the gate will read them.
    let mut files = crate::policy::files::yaml_in(&policies.join("data"))
        .map_err(|e| PageError::Internal(format!("the policy data does not load: {e}")))?;
    if let Some(w) = app.config.waivers.as_deref().filter(|w| w.is_dir()) {
        files.extend(
            crate::policy::files::yaml_in(w)
                .map_err(|e| PageError::Internal(format!("the waiver files do not load: {e}")))?,
        );
    }
    let shown = format!("waivers/{file_name}");
    files.push(PolicyFile { rel: shown.clone(), name: shown.clone(), text: text.clone() });
    crate::policy::data::load_files(&files, &policies.join("data").display().to_string())
        .map_err(|e| PageError::Unprocessable(format!("the waiver does not load as the gate would read it: {e}")))?;

    let scope = if form.env.is_empty() { String::new() } else { format!(" in {}", form.env) };
    let proposal = Proposal {
        repo: target.repo.clone(),
        base: target.base.clone(),
        branch: format!("k6gate/waiver-{id}"),
        files: vec![FileChange {
            path: format!("{}/{file_name}", target.waivers_path.trim_end_matches('/')),
            content: text.clone(),
        }],
        commit_message: format!(
            "Waiver {id}: {} of {} {}{scope}, {days} days\n\nRequested by {} with k6gate serve.",
            form.metric, form.test, form.version, form.requested_by
        ),
        title: format!("Waiver {id}: {} of {} {}{scope} ({days} days)", form.metric, form.test, form.version),
        body: format!(
            "@{} is asked to approve waiver {id}, requested by @{}:\n\n> {}\n\n- test: `{}`{scope}\n- metric: `{}`\n- version: `{}`\n- expires after {days} days\n\nThe gate honours it only once this PR merges with that approval (waivers/README.md). Opened by `k6gate serve`.",
            form.approver, form.requested_by, form.justification, form.test, form.metric, form.version
        ),
        reviewers: vec![form.approver.clone()],
    };
    crate::github::propose::open(api, &proposal).map_err(|e| {
        if crate::github::propose::branch_exists(&e) {
            tracing::info!("waiver {id} is taken (its branch exists): trying the next number");
            return Proposed::Taken;
        }
        tracing::error!("opening the waiver pull request: {e}");
        Proposed::Page(PageError::BadGateway(format!("GitHub refused the pull request: {e}")))
    })
}

#[derive(Serialize)]
struct GateSaw {
    run: String,
    version: String,
    started: String,
    what: &'static str,
    detail: String,
}

#[derive(Serialize)]
struct StatePage {
    title: String,
    number: u64,
    id: String,
    pr: crate::github::propose::PrState,
    branch: String,
    in_policy: Option<String>,
    gate: Vec<GateSaw>,
    notes: Vec<String>,
}

/// `GET /waivers/requests/{number}`: the request's state.
pub fn state(app: &App, number: &str) -> Result<Response, PageError> {
    let number: u64 = number
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| PageError::NotFound(format!("no request {number:?}: a request is a pull request number")))?;
    let Some(target) = app.config.github.clone() else {
        return Err(PageError::NotFound("this server has no GitHub repository: it has no waiver requests".into()));
    };
    let api = crate::github::api::Api::new(target.api.clone())
        .map_err(|e| PageError::Internal(format!("the GitHub client could not start: {e}")))?;
    let pr = crate::github::propose::state(&api, &target.repo, number).map_err(|e| match e.status() {
        Some(404) => PageError::NotFound(format!("no pull request #{number} on {}", target.repo)),
        _ => PageError::BadGateway(format!("GitHub did not answer: {e}")),
    })?;
    let branch = pr.branch.clone();
    let Some(id) = branch.strip_prefix("k6gate/waiver-").map(str::to_string) else {
        return Err(PageError::NotFound(format!(
            "pull request #{number} is not a waiver request made here (branch {branch:?})"
        )));
    };
    // In the policy data this server reads (the default branch's checkout, once merged).
    let data = load_data(app)?;
    let entry = data.as_ref().and_then(|d| d.waivers.iter().find(|w| w.entry.id == id));
    let in_policy = entry.map(|w| format!("{}:{}", w.source.file, w.source.line));
    // What the gate did with it in the test's latest judged runs.
    let mut gate = Vec::new();
    if let Some(w) = entry {
        let records = app
            .with_store(|s| {
                s.list_runs(&RunFilter {
                    test: Some(&w.entry.test),
                    environment: w.entry.environment.as_deref(),
                    limit: Some(RUNS_READ),
                })
            })
            .map_err(|e| PageError::from_store(e, ""))?;
        for r in records.into_iter().filter(|r| matches!(r.outcome, Outcome::Pass | Outcome::Warn | Outcome::Fail)) {
            let full = app.with_store(|s| s.get_run(&r.id)).map_err(|e| PageError::from_store(e, &r.id))?;
            let Some(Ok(v)) = full.verdict_as::<Verdict>() else { continue };
            let started = crate::time::format_rfc3339_ms(full.started_at_ns)
                .chars()
                .take(16)
                .collect::<String>()
                .replacen('T', " ", 1);
            let version = full.deployment_version.clone().unwrap_or_default();
            for e in v.exceptions.iter().filter(|e| e.by == id) {
                let approvers = e.verified.as_ref().map(|a| a.describe()).unwrap_or_default();
                gate.push(GateSaw {
                    run: full.id.clone(),
                    version: version.clone(),
                    started: started.clone(),
                    what: "honoured",
                    detail: format!("{} {approvers}", e.result).trim().to_string(),
                });
            }
            for i in v.ignored.iter().filter(|i| i.what == id) {
                gate.push(GateSaw {
                    run: full.id.clone(),
                    version: version.clone(),
                    started: started.clone(),
                    what: "ignored",
                    detail: i.reason.clone(),
                });
            }
        }
    }
    let mut notes = Vec::new();
    if in_policy.is_none() {
        notes.push(format!(
            "Waiver {id} is not in the policy data this server reads yet: the gate cannot use it until the PR merges."
        ));
    } else if gate.is_empty() {
        notes.push(format!("No judged run of the test since names waiver {id}."));
    }
    let page = StatePage { title: format!("Waiver request #{number}"), number, id, pr, branch, in_policy, gate, notes };
    Ok(html_response(html::render("waiver_state.html", &page)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(s).unwrap_or_default()
    }

    const OK: &str = "test=checkout&metric=p95_ms&version=v1.1.0&justification=known+slow+path+until+v1.1.1&requested_by=alice&approver=bob&days=7";

    #[test]
    fn forms_are_read_strictly() {
        assert!(parse(pairs(OK)).is_ok());
        for (from, to) in [
            ("days=7", "days=31"),
            ("days=7", "days=0"),
            ("approver=bob", "approver=alice"),
            ("approver=bob", "approver=b%20b"),
            ("metric=p95_ms", "metric=latency"),
            ("justification=known+slow+path+until+v1.1.1", "justification=because"),
            ("version=v1.1.0", "version="),
        ] {
            let bad = OK.replace(from, to);
            assert!(matches!(parse(pairs(&bad)), Err(PageError::BadRequest(_))), "{bad}");
        }
    }

    #[test]
    fn ids_follow_the_highest() {
        assert_eq!(next_id(["W-1", "W-7", "MW-9", "W-x"].map(String::from).into_iter()), NextId(8));
        assert_eq!(next_id(std::iter::empty()), NextId(1));
    }
}
