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

/// `POST /retention/propose`.
pub fn propose(app: &App, body: &[u8]) -> Result<Response, PageError> {
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
    crate::policy::data::load_files(&files, &policies.join("data").display().to_string())
        .map_err(|e| PageError::Unprocessable(format!("the change does not load as the gate would read it: {e}")))?;

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
