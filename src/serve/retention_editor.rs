//! The retention class of a test, changed through a pull request like an SLA:
//! `POST /retention/propose` (test, class) edits the `tests:` mapping of the `retention`
//! section in `data/retention.yaml` line by line (every comment and every other line kept),
//! checks the result with the policy loader together with the rest of the data (an unknown
//! class is the loader's error), and opens the PR through [`crate::github::propose`]. The
//! form is on the policy page. Read-only without a GitHub target.

use axum::response::Response;
use serde::Serialize;

use super::error::PageError;
use super::policy_page::load_data;
use super::sla_editor::{form_pairs, plain_name};
use super::{App, html, html_response};
use crate::github::propose::{FileChange, Opened, Proposal};

/// `text` with `test: class` set in the `tests:` mapping of the top-level `retention:`
/// section: an existing line replaced, else a line added after the mapping's last entry.
/// Errors when the section is not laid out as the shipped file (block mappings, two-space
/// indent), rather than guessing.
pub(super) fn set_class(text: &str, test: &str, class: &str) -> Result<String, String> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == "retention:").ok_or("it has no top-level `retention:`")?;
    let end = lines
        .iter()
        .skip(start + 1)
        .position(|l| !l.is_empty() && !l.starts_with([' ', '#']))
        .map_or(lines.len(), |p| start + 1 + p);
    let tests = (start + 1..end)
        .find(|i| lines.get(*i).is_some_and(|l| l.trim_end() == "  tests:"))
        .ok_or("its `retention` section has no block `  tests:` mapping")?;
    let mut last_entry = tests;
    let mut existing = None;
    for i in tests + 1..end {
        let l = lines.get(i).copied().unwrap_or("");
        let body = l.trim_start();
        if l.is_empty() || body.starts_with('#') {
            continue;
        }
        if !l.starts_with("    ") || l.starts_with("     ") {
            break;
        }
        last_entry = i;
        if body.split(':').next().map(str::trim) == Some(test) {
            existing = Some(i);
        }
    }
    let line = format!("    {test}: {class}");
    let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    match existing {
        Some(i) => {
            if let Some(slot) = out.get_mut(i) {
                *slot = line;
            }
        }
        None => out.insert(last_entry + 1, line),
    }
    Ok(out.join("\n") + "\n")
}

#[derive(Serialize)]
struct Proposed {
    title: &'static str,
    test: String,
    class: String,
    text: String,
    opened: Opened,
}

/// A class change, read from the form and checked with the policy loader.
struct Checked {
    test: String,
    class: String,
    path: std::path::PathBuf,
    new_text: String,
    /// The policy data as it is, and as it would be.
    before: crate::policy::data::PolicyData,
    after: crate::policy::data::PolicyData,
    target: super::GithubTarget,
}

fn checked(app: &App, body: &[u8]) -> Result<Checked, PageError> {
    let (mut test, mut class) = (String::new(), String::new());
    for (k, v) in form_pairs(body)? {
        match k.as_str() {
            "csrf" => {}
            "test" => test = v.trim().to_string(),
            "class" => class = v.trim().to_string(),
            other => {
                return Err(PageError::BadRequest(format!(
                    "unknown field {other:?}: the retention form takes test, class"
                )));
            }
        }
    }
    if !plain_name(&test) {
        return Err(PageError::BadRequest(format!("test={test:?}: a test name")));
    }
    if !plain_name(&class) {
        return Err(PageError::BadRequest(format!("class={class:?}: a retention class name")));
    }
    let Some(target) = app.config.github.clone() else {
        return Err(PageError::Forbidden(
            "read-only: this server has no GitHub repository and token to open a pull request with".into(),
        ));
    };
    let Some(policies) = &app.config.policies else {
        return Err(PageError::Forbidden("this server was started without policy data".into()));
    };
    let data = load_data(app)?.ok_or_else(|| PageError::Forbidden("the policies directory has no data/".into()))?;
    let Some(retention) = &data.retention else {
        return Err(PageError::Unprocessable("the policy data has no retention section to edit".into()));
    };
    let path = std::path::PathBuf::from(&retention.source.file);
    let text = std::fs::read_to_string(&path)
        .map_err(|e| PageError::Unprocessable(format!("{} cannot be read: {e}", path.display())))?;
    let new_text = set_class(&text, &test, &class).map_err(|why| {
        PageError::Unprocessable(format!("{} cannot be edited here: {why}; edit it by hand", path.display()))
    })?;

    // The loader on the data with the changed file: an unknown class is refused here.
    let mut files = crate::policy::files::yaml_in(&policies.join("data"))
        .map_err(|e| PageError::Internal(format!("the policy data does not load: {e}")))?;
    let name = path.display().to_string();
    for f in files.iter_mut().filter(|f| f.name == name) {
        f.text = new_text.clone();
    }
    let after = crate::policy::data::load_files(&files, &policies.join("data").display().to_string())
        .map_err(|e| PageError::Unprocessable(format!("the change does not load as the gate would read it: {e}")))?;
    Ok(Checked { test, class, path, new_text, before: data, after, target })
}

/// `POST /retention/propose`.
pub fn propose(app: &App, body: &[u8]) -> Result<Response, PageError> {
    let Checked { test, class, path, new_text, before: data, target, .. } = checked(app, body)?;
    let Some(policies) = &app.config.policies else {
        return Err(PageError::Forbidden("this server was started without policy data".into()));
    };
    let Some(retention) = &data.retention else {
        return Err(PageError::Unprocessable("the policy data has no retention section to edit".into()));
    };

    let rel =
        path.strip_prefix(policies).map_or_else(|_| "data/retention.yaml".to_string(), |p| p.display().to_string());
    let stamp: String =
        crate::time::format_rfc3339_ms(crate::clock::now_ns()).chars().filter(char::is_ascii_digit).take(14).collect();
    let before =
        retention.tests.get(&test).cloned().unwrap_or_else(|| format!("{} (the default)", retention.default_class));
    let proposal = Proposal {
        repo: target.repo.clone(),
        base: target.base.clone(),
        branch: format!("k6gate/retention-{test}-{stamp}"),
        files: vec![FileChange {
            path: format!("{}/{rel}", target.policies_path.trim_end_matches('/')),
            content: new_text.clone(),
        }],
        commit_message: format!(
            "Retention: {test} in class {class}\n\nProposed with k6gate serve; checked with the policy loader."
        ),
        title: format!("Retention: {test} in class {class}"),
        body: format!(
            "This PR moves `{test}` from retention class {before} to `{class}`. `k6gate history prune --dry-run` shows what the next prune would do under it once merged. Opened by `k6gate serve`; the review of this PR is the approval."
        ),
        reviewers: Vec::new(),
    };
    let api = crate::github::api::Api::new(target.api.clone())
        .map_err(|e| PageError::Internal(format!("the GitHub client could not start: {e}")))?;
    let opened = crate::github::propose::open(&api, &proposal).map_err(|e| {
        tracing::error!("opening the retention pull request: {e}");
        PageError::BadGateway(format!("GitHub refused the pull request: {e}"))
    })?;
    let page = Proposed { title: "Retention change proposed", test, class, text: new_text, opened };
    Ok(html_response(html::render("retention.html", &page)?))
}

/// What the next prune would do to one test's stored runs.
#[derive(Serialize, Default)]
struct Effect {
    delete: usize,
    coarsen: usize,
    drop_series: usize,
    kept: usize,
}

/// The retention planner (`k6gate history prune`'s) over `test`'s stored runs and pins under
/// `data`, now: how many runs it would delete (or move to the archive), thin, strip of their
/// series, and keep past their period (baselines, pins, waivers, windows, change points).
fn effect(app: &App, data: &crate::policy::data::PolicyData, test: &str, branch: &str) -> Result<Effect, PageError> {
    use crate::history::{Prune, RunFilter, RunStore};
    let Some(rules) = crate::retention::Rules::from_policy(data, branch) else {
        return Ok(Effect::default());
    };
    let (runs, pins) = app
        .with_store(|s| -> Result<_, crate::history::HistoryError> {
            Ok((
                s.stored_runs(&RunFilter { test: Some(test), ..RunFilter::default() })?,
                s.list_pins(Some(test), None)?,
            ))
        })
        .map_err(|e| PageError::from_store(e, ""))?;
    let plan = crate::retention::plan(&rules, &runs, &pins, &[], crate::clock::now_ns())
        .map_err(|e| PageError::Unprocessable(e.to_string()))?;
    Ok(Effect {
        delete: plan.delete_runs.len() + plan.move_runs.len(),
        coarsen: plan.coarsen.iter().filter(|c| c.min_window_s.is_some()).count(),
        drop_series: plan.coarsen.iter().filter(|c| c.min_window_s.is_none()).count(),
        kept: plan.kept.len(),
    })
}

#[derive(Serialize)]
struct Preview {
    title: &'static str,
    test: String,
    class: String,
    from: String,
    runs: usize,
    now: Effect,
    proposed: Effect,
    csrf: String,
}

/// `POST /retention/preview`: the change checked, and its effect on the test's stored runs
/// under the current and the proposed class, before the PR is opened.
pub fn preview(app: &App, body: &[u8]) -> Result<Response, PageError> {
    let c = checked(app, body)?;
    let branch = c.target.base.clone();
    let runs = app
        .with_store(|s| {
            crate::history::Prune::stored_runs(
                s,
                &crate::history::RunFilter { test: Some(&c.test), ..crate::history::RunFilter::default() },
            )
        })
        .map_err(|e| PageError::from_store(e, ""))?
        .len();
    let from = c
        .before
        .retention
        .as_ref()
        .map(|r| r.tests.get(&c.test).cloned().unwrap_or_else(|| format!("{} (the default)", r.default_class)))
        .unwrap_or_default();
    let page = Preview {
        title: "Retention change: its effect",
        now: effect(app, &c.before, &c.test, &branch)?,
        proposed: effect(app, &c.after, &c.test, &branch)?,
        test: c.test,
        class: c.class,
        from,
        runs,
        csrf: app.csrf.token().to_string(),
    };
    Ok(html_response(html::render("retention_preview.html", &page)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "# head\nretention:\n  raw_days: 14\n  classes:\n    critical:\n      summary_days: 1\n  # which class\n  tests:\n    checkout: critical\n  # budget\n  growth_budget_bytes_30d: 5\n";

    #[test]
    fn a_class_is_set_line_by_line() {
        let changed = set_class(FILE, "checkout", "standard").unwrap_or_default();
        assert_eq!(changed, FILE.replace("    checkout: critical", "    checkout: standard"));
        let added = set_class(FILE, "search", "critical").unwrap_or_default();
        assert_eq!(added, FILE.replace("    checkout: critical\n", "    checkout: critical\n    search: critical\n"));
        assert!(set_class("retention:\n  tests: {}\n", "a", "b").is_err());
        assert!(set_class("sla: {}\n", "a", "b").is_err());
    }
}
