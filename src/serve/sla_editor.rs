//! The SLA editor, the GitOps way: `/slas/edit` shows a form for one SLA entry (test,
//! environment, endpoint group, limits); `POST /slas/preview` writes the changed
//! `data/slas.yaml` into a private copy of the policies directory, loads it with
//! [`Gate::load`] (the gate's loader and Rego: a change that does not load is refused with
//! the loader's file, line and field) and re-judges the last N decided runs' stored summaries
//! under the current and the proposed SLA ("under this SLA, 3 of the last 20 runs would have
//! failed"); `POST /slas/propose` does the same checks again and opens a pull request with
//! the file ([`crate::github::propose`]). The UI never writes policy: without a GitHub
//! target the server is read-only and the preview says so.
//!
//! The file is rewritten from its parsed entries (its leading comment block kept, the `sla`
//! section written anew), so a reviewer sees the whole section in the diff; comments inside
//! the section are not kept, which the page says before the PR is opened.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use axum::response::Response;
use serde::Serialize;

use super::error::PageError;
use super::policy_page::{SLA_METRICS, load_data, show_limit, sla_entry_limit, sla_limit};
use super::{App, html, html_response};
use crate::compare::Phase;
use crate::gate::{Baseline, Case, Gate, PolicySource, Side};
use crate::github::approval::Mode;
use crate::github::propose::{FileChange, Proposal};
use crate::history::{Outcome, RunFilter, RunStore};
use crate::policy::data::{PolicyData, SlaEntry};
use crate::policy::verdict::{RuleKind, Status};
use crate::summary::RunSummary;

/// Where the server may open pull requests.
#[derive(Debug, Clone)]
pub struct GithubTarget {
    pub api: crate::github::api::ApiConfig,
    /// `owner/name`.
    pub repo: String,
    /// The branch PRs merge into.
    pub base: String,
    /// The policies directory in the repository, `/`-separated (`policies`).
    pub policies_path: String,
    /// The waiver files' directory in the repository (`waivers`).
    pub waivers_path: String,
}

/// The most runs a preview re-judges.
pub const MAX_RUNS: usize = 100;
const DEFAULT_RUNS: usize = 20;
/// Limits beyond these are typing mistakes, not SLAs.
const MAX_LATENCY_MS: f64 = 3_600_000.0;

/// The form, read strictly.
#[derive(Debug, Clone, Default, Serialize)]
pub(super) struct SlaForm {
    pub test: String,
    pub env: String,
    pub group: String,
    /// As typed, by metric (for the form), and parsed.
    pub typed: BTreeMap<&'static str, String>,
    #[serde(skip)]
    pub limits: BTreeMap<&'static str, f64>,
    pub runs: usize,
}

/// A test, environment or similar name: what the rest of k6gate accepts in a file name or tag.
pub(super) fn plain_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !s.starts_with(['.', '-'])
}

pub(super) fn form_pairs(body: &[u8]) -> Result<Vec<(String, String)>, PageError> {
    serde_urlencoded::from_bytes(body).map_err(|e| PageError::BadRequest(format!("the form could not be read: {e}")))
}

fn parse(pairs: Vec<(String, String)>) -> Result<SlaForm, PageError> {
    let mut f = SlaForm { runs: DEFAULT_RUNS, ..SlaForm::default() };
    let mut seen = BTreeSet::new();
    for (k, v) in pairs {
        if !seen.insert(k.clone()) {
            return Err(PageError::BadRequest(format!("{k:?} is given twice")));
        }
        let v = v.trim().to_string();
        match k.as_str() {
            "csrf" => {}
            "test" => f.test = v,
            "env" => f.env = v,
            "group" => f.group = v,
            "runs" => {
                f.runs = match v.parse::<usize>() {
                    Ok(n) if (1..=MAX_RUNS).contains(&n) => n,
                    _ => return Err(PageError::BadRequest(format!("runs={v:?}: a number from 1 to {MAX_RUNS}"))),
                }
            }
            other => match SLA_METRICS.iter().find(|m| **m == other) {
                Some(m) => {
                    if !v.is_empty() {
                        let n: f64 =
                            v.parse().map_err(|_| PageError::BadRequest(format!("{m}={v:?} is not a number")))?;
                        let ok =
                            n.is_finite() && n > 0.0 && if *m == "error_rate" { n <= 1.0 } else { n <= MAX_LATENCY_MS };
                        if !ok {
                            return Err(PageError::BadRequest(if *m == "error_rate" {
                                format!("error_rate={v:?}: a fraction above 0 and at most 1 (0.01 is 1 %)")
                            } else {
                                format!("{m}={v:?}: milliseconds above 0 and at most {MAX_LATENCY_MS}")
                            }));
                        }
                        f.limits.insert(m, n);
                    }
                    f.typed.insert(m, v);
                }
                None => {
                    return Err(PageError::BadRequest(format!(
                        "unknown field {other:?}: the SLA form takes test, env, group, runs and {}",
                        SLA_METRICS.join(", ")
                    )));
                }
            },
        }
    }
    if !plain_name(&f.test) {
        return Err(PageError::BadRequest(format!(
            "test={:?}: a test name (letters, digits, '-', '_', '.'; at most 64)",
            f.test
        )));
    }
    if !f.env.is_empty() && !plain_name(&f.env) {
        return Err(PageError::BadRequest(format!("env={:?}: an environment name, or empty for every one", f.env)));
    }
    if f.group.chars().count() > 100 || f.group.chars().any(char::is_control) || f.group == "all" {
        return Err(PageError::BadRequest(format!(
            "group={:?}: an endpoint group (`POST checkout`), one line, at most 100 characters; empty for all requests",
            f.group
        )));
    }
    Ok(f)
}

fn same_scope(e: &SlaEntry, f: &SlaForm) -> bool {
    e.test == f.test && e.environment.as_deref().unwrap_or("") == f.env && e.group.as_deref().unwrap_or("") == f.group
}

fn quoted(s: &str) -> String {
    // A JSON string is a valid YAML double-quoted scalar.
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// The changed file: the leading comments of `text`, then the `sla` section with the form's
/// entry replaced, added, or (no limit given) removed. Errors when the file holds anything
/// but the section and comments, or an entry is written in another file.
fn edited(data: &PolicyData, file: &str, text: &str, f: &SlaForm) -> Result<(String, &'static str), PageError> {
    let unsafe_edit =
        |why: &str| PageError::Unprocessable(format!("{file} cannot be edited here: {why}; edit it by hand"));
    let lines: Vec<&str> = text.lines().collect();
    let start =
        lines.iter().position(|l| l.starts_with("sla:")).ok_or_else(|| unsafe_edit("it has no top-level `sla:`"))?;
    if lines.iter().skip(start + 1).any(|l| !l.is_empty() && !l.starts_with([' ', '#'])) {
        return Err(unsafe_edit("it has top-level keys besides `sla`"));
    }
    if data.sla_defaults.source.file != file {
        return Err(unsafe_edit("the SLA defaults are written in another file"));
    }
    let mut entries: Vec<SlaEntry> = Vec::new();
    for s in &data.sla_tests {
        if s.source.file != file {
            if same_scope(&s.entry, f) {
                return Err(unsafe_edit(&format!("this entry is written at {}:{}", s.source.file, s.source.line)));
            }
            continue;
        }
        entries.push(s.entry.clone());
    }
    let new = SlaEntry {
        test: f.test.clone(),
        environment: (!f.env.is_empty()).then(|| f.env.clone()),
        group: (!f.group.is_empty()).then(|| f.group.clone()),
        p50_ms: f.limits.get("p50_ms").copied(),
        p95_ms: f.limits.get("p95_ms").copied(),
        p99_ms: f.limits.get("p99_ms").copied(),
        error_rate: f.limits.get("error_rate").copied(),
    };
    let action = match entries.iter().position(|e| same_scope(e, f)) {
        Some(i) if f.limits.is_empty() => {
            entries.remove(i);
            "removes"
        }
        Some(i) => {
            if let Some(slot) = entries.get_mut(i) {
                *slot = new;
            }
            "changes"
        }
        None if f.limits.is_empty() => {
            return Err(PageError::BadRequest(
                "give at least one limit (or edit an existing entry to remove it)".into(),
            ));
        }
        None => {
            entries.push(new);
            "adds"
        }
    };
    let mut out: String = lines.iter().take(start).map(|l| format!("{l}\n")).collect();
    out.push_str("sla:\n  defaults:\n");
    let d = &data.sla_defaults.entry;
    for (m, v) in [
        ("p50_ms", d.p50_ms),
        ("p95_ms", d.p95_ms),
        ("p99_ms", d.p99_ms),
        ("error_rate", d.error_rate),
        ("requests_per_s", d.requests_per_s),
    ] {
        if let Some(v) = v {
            out.push_str(&format!("    {m}: {v}\n"));
        }
    }
    if entries.is_empty() {
        out.push_str("  tests: []\n");
    } else {
        out.push_str("  tests:\n");
        for e in &entries {
            out.push_str(&format!("    - test: {}\n", quoted(&e.test)));
            if let Some(env) = &e.environment {
                out.push_str(&format!("      environment: {}\n", quoted(env)));
            }
            if let Some(g) = &e.group {
                out.push_str(&format!("      group: {}\n", quoted(g)));
            }
            for m in SLA_METRICS {
                if let Some(v) = sla_entry_limit(e, m) {
                    out.push_str(&format!("      {m}: {v}\n"));
                }
            }
        }
    }
    Ok((out, action))
}

/// Copies the policy files (Rego and YAML, recursively) of `from` into `to`.
fn copy_policies(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_policies(&e.path(), &target)?;
        } else if e.path().extension().is_some_and(|x| x == "rego" || x == "yaml" || x == "yml") {
            std::fs::copy(e.path(), target)?;
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct Rejudged {
    id: String,
    version: String,
    started: String,
    outcome: &'static str,
    now: &'static str,
    proposed: &'static str,
    why: String,
}

/// What the change does to the last runs.
#[derive(Serialize)]
struct Effect {
    runs: usize,
    fail_now: usize,
    fail_proposed: usize,
    sentence: String,
    rows: Vec<Rejudged>,
}

/// Whether the verdict's SLA rules fail, and their messages.
fn sla_fails(
    gate: &Gate,
    test: &str,
    env: &str,
    id: &str,
    at: i64,
    summary: &RunSummary,
) -> Result<(bool, String), String> {
    let source = format!("run {id}");
    let v = gate
        .judge(&Case {
            test,
            environment: env,
            now_ns: at,
            phase: &Phase::SteadyState,
            candidate: Side { summary, source: &source },
            confirmations: &[],
            baseline: Baseline::None,
            previous: None,
        })
        .map_err(|e| e.to_string())?;
    let failing: Vec<String> = v
        .results
        .iter()
        .filter(|r| r.kind == RuleKind::Sla && r.status == Status::Fail)
        .map(|r| r.message.clone())
        .collect();
    Ok((!failing.is_empty(), failing.join("; ")))
}

/// The change checked by the gate's loader and Rego, and its effect on the last runs.
struct Checked {
    path_in_repo: String,
    text: String,
    action: &'static str,
    effect: Effect,
    env_note: Option<String>,
}

fn check(app: &App, f: &SlaForm) -> Result<Checked, PageError> {
    let Some(policies) = &app.config.policies else {
        return Err(PageError::Forbidden("this server was started without policy data: nothing to edit".into()));
    };
    let data = load_data(app)?.ok_or_else(|| PageError::Forbidden("the policies directory has no data/".into()))?;
    let file_path = policies.join("data").join("slas.yaml");
    let file = file_path.display().to_string();
    let text = std::fs::read_to_string(&file_path)
        .map_err(|e| PageError::Unprocessable(format!("{file} cannot be read: {e}")))?;
    let (new_text, action) = edited(&data, &file, &text, f)?;

    // The proposal as the gate would load it once merged.
    let internal = |what: &str, e: &dyn std::fmt::Display| {
        tracing::error!("SLA preview: {what}: {e}");
        PageError::Internal(format!("the proposal could not be checked ({what}; the server log says why)"))
    };
    let copy = tempfile::tempdir().map_err(|e| internal("a private copy of the policies", &e))?;
    copy_policies(policies, copy.path()).map_err(|e| internal("copying the policies", &e))?;
    std::fs::write(copy.path().join("data").join("slas.yaml"), &new_text)
        .map_err(|e| internal("writing the proposal", &e))?;
    let source =
        |dir: &Path| PolicySource { waivers_dir: app.config.waivers.clone(), ..PolicySource::new(dir, Mode::Trust) };
    let proposed = Gate::load(&source(copy.path())).map_err(|e| {
        let copy_name = copy.path().join("data").join("slas.yaml").display().to_string();
        PageError::Unprocessable(format!(
            "the changed SLA does not load as the gate would read it: {}",
            e.to_string().replace(&copy_name, &file)
        ))
    })?;
    let current = Gate::load(&source(policies))
        .map_err(|e| PageError::Internal(format!("the current policy does not load: {e}")))?;

    // The last N decided runs of the test (in the environment, when one is named).
    let env_filter = (!f.env.is_empty()).then_some(f.env.as_str());
    let records = app
        .with_store(|s| {
            s.list_runs(&RunFilter { test: Some(&f.test), environment: env_filter, limit: Some(f.runs * 5 + 50) })
        })
        .map_err(|e| PageError::from_store(e, ""))?;
    let mut rows = Vec::new();
    let (mut fail_now, mut fail_proposed) = (0, 0);
    for listed in records.into_iter().filter(|r| matches!(r.outcome, Outcome::Pass | Outcome::Warn | Outcome::Fail)) {
        if rows.len() >= f.runs {
            break;
        }
        let record = app.with_store(|s| s.get_run(&listed.id)).map_err(|e| PageError::from_store(e, &listed.id))?;
        let Some(Ok(summary)) = record.summary_as::<RunSummary>() else {
            return Err(PageError::Internal(format!(
                "run {} has no readable summary: the effect cannot be judged without it",
                record.id
            )));
        };
        let judge = |gate: &Gate| {
            sla_fails(gate, &record.test, &record.environment, &record.id, record.started_at_ns, &summary)
                .map_err(|e| internal(&format!("judging run {}", record.id), &e))
        };
        let (now, _) = judge(&current)?;
        let (then, why) = judge(&proposed)?;
        fail_now += usize::from(now);
        fail_proposed += usize::from(then);
        let word = |b: bool| if b { "fail" } else { "pass" };
        rows.push(Rejudged {
            id: record.id.clone(),
            version: record.deployment_version.clone().unwrap_or_default(),
            started: crate::time::format_rfc3339_ms(record.started_at_ns)
                .chars()
                .take(16)
                .collect::<String>()
                .replacen('T', " ", 1),
            outcome: record.outcome.as_str(),
            now: word(now),
            proposed: word(then),
            why,
        });
    }
    let n = rows.len();
    let sentence = if n == 0 {
        format!(
            "{} has no decided run to judge again{}.",
            f.test,
            env_filter.map(|e| format!(" in {e}")).unwrap_or_default()
        )
    } else {
        format!(
            "Under this SLA, {fail_proposed} of the last {n} runs would have failed its SLA checks (under the current one: {fail_now})."
        )
    };
    let env_note = env_filter.is_none().then(|| {
        "No environment: the entry applies in every environment, and the runs of every environment are judged."
            .to_string()
    });
    Ok(Checked {
        path_in_repo: String::new(),
        text: new_text,
        action,
        effect: Effect { runs: n, fail_now, fail_proposed, sentence, rows },
        env_note,
    })
}

#[derive(Serialize)]
struct CurrentLimit {
    metric: &'static str,
    value: String,
    source: String,
}

#[derive(Serialize)]
struct EditPage {
    title: &'static str,
    csrf: String,
    form: SlaForm,
    metrics: Vec<&'static str>,
    current: Vec<CurrentLimit>,
    can_propose: bool,
    repo: String,
    /// After a preview.
    effect: Option<Effect>,
    action: String,
    text: String,
    notes: Vec<String>,
    /// After the PR was opened.
    opened: Option<crate::github::propose::Opened>,
}

fn view(app: &App, form: SlaForm, data: Option<&PolicyData>) -> EditPage {
    let current = data
        .map(|d| {
            SLA_METRICS
                .iter()
                .filter_map(|m| {
                    let env = if form.env.is_empty() { "" } else { form.env.as_str() };
                    let group = if form.group.is_empty() { "all" } else { form.group.as_str() };
                    sla_limit(d, &form.test, env, group, m).map(|e| CurrentLimit {
                        metric: m,
                        value: show_limit(m, e.value, false),
                        source: format!("{} at {}", e.from, e.source),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    EditPage {
        title: "Edit an SLA",
        csrf: app.csrf.token().to_string(),
        form,
        metrics: SLA_METRICS.to_vec(),
        current,
        can_propose: app.config.github.is_some(),
        repo: app.config.github.as_ref().map(|g| g.repo.clone()).unwrap_or_default(),
        effect: None,
        action: String::new(),
        text: String::new(),
        notes: Vec::new(),
        opened: None,
    }
}

/// `GET /slas/edit?test=&env=&group=`: the form, filled with the entry of that scope.
pub fn edit(app: &App, raw_query: &str) -> Result<Response, PageError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw_query)
        .map_err(|e| PageError::BadRequest(format!("the query string could not be read: {e}")))?;
    let mut form = SlaForm { runs: DEFAULT_RUNS, ..SlaForm::default() };
    for (k, v) in pairs {
        match k.as_str() {
            "test" => form.test = v,
            "env" => form.env = v,
            "group" => form.group = v,
            other => {
                return Err(PageError::BadRequest(format!(
                    "unknown parameter {other:?}: /slas/edit takes test, env, group"
                )));
            }
        }
    }
    let data = load_data(app)?;
    if let Some(d) = &data {
        if let Some(s) = d.sla_tests.iter().rev().find(|s| same_scope(&s.entry, &form)) {
            for m in SLA_METRICS {
                form.typed.insert(m, sla_entry_limit(&s.entry, m).map(|v| v.to_string()).unwrap_or_default());
            }
        }
    }
    let mut page = view(app, form, data.as_ref());
    if data.is_none() {
        page.notes.push("This server was started without policy data: nothing to edit.".into());
    }
    Ok(html_response(html::render("sla_edit.html", &page)?))
}

/// `POST /slas/preview`: the change checked and its effect.
pub fn preview(app: &App, body: &[u8]) -> Result<Response, PageError> {
    let form = parse(form_pairs(body)?)?;
    let checked = check(app, &form)?;
    let data = load_data(app)?;
    let mut page = view(app, form, data.as_ref());
    page.action = checked.action.to_string();
    page.text = checked.text;
    page.notes.extend(checked.env_note);
    page.notes.push("The section is written anew from its entries: comments inside it are not kept.".into());
    if !page.can_propose {
        page.notes.push(
            "Read-only: no GitHub repository and token are configured (--github-repo and GITHUB_TOKEN), so no pull request can be opened."
                .into(),
        );
    }
    page.effect = Some(checked.effect);
    Ok(html_response(html::render("sla_edit.html", &page)?))
}

/// `POST /slas/propose`: the change checked again, then a pull request.
pub fn propose(app: &App, body: &[u8]) -> Result<Response, PageError> {
    let Some(target) = app.config.github.clone() else {
        return Err(PageError::Forbidden(
            "read-only: this server has no GitHub repository and token to open a pull request with".into(),
        ));
    };
    let form = parse(form_pairs(body)?)?;
    let mut checked = check(app, &form)?;
    checked.path_in_repo = format!("{}/data/slas.yaml", target.policies_path.trim_end_matches('/'));
    let scope = format!(
        "{}{}{}",
        form.test,
        if form.env.is_empty() { String::new() } else { format!(" in {}", form.env) },
        if form.group.is_empty() { String::new() } else { format!(", {}", form.group) }
    );
    let limits: Vec<String> = form.limits.iter().map(|(m, v)| format!("{m} {}", show_limit(m, *v, false))).collect();
    let what = if limits.is_empty() { "no limit (entry removed)".to_string() } else { limits.join(", ") };
    let stamp: String =
        crate::time::format_rfc3339_ms(crate::clock::now_ns()).chars().filter(char::is_ascii_digit).take(14).collect();
    let branch = format!("k6gate/sla-{}-{}-{stamp}", form.test, if form.env.is_empty() { "all" } else { &form.env });
    let proposal = Proposal {
        repo: target.repo.clone(),
        base: target.base.clone(),
        branch,
        files: vec![FileChange { path: checked.path_in_repo.clone(), content: checked.text.clone() }],
        commit_message: format!(
            "SLA {scope}: {what}\n\nProposed with k6gate serve; checked with the gate's loader and Rego."
        ),
        title: format!("SLA {scope}: {what}"),
        body: format!(
            "This PR {} the SLA entry for {scope} in `{}`: {what}.\n\n{}\n\nChecked by `k6gate serve` with the gate's loader and Rego before it was opened. The review of this PR is the approval; nothing changes until it merges.",
            checked.action, checked.path_in_repo, checked.effect.sentence
        ),
        reviewers: Vec::new(),
    };
    let api = crate::github::api::Api::new(target.api.clone())
        .map_err(|e| PageError::Internal(format!("the GitHub client could not start: {e}")))?;
    let opened = crate::github::propose::open(&api, &proposal).map_err(|e| {
        tracing::error!("opening the SLA pull request: {e}");
        PageError::BadGateway(format!("GitHub refused the pull request: {e}"))
    })?;
    let data = load_data(app)?;
    let mut page = view(app, form, data.as_ref());
    page.action = checked.action.to_string();
    page.text = checked.text;
    page.effect = Some(checked.effect);
    page.opened = Some(opened);
    Ok(html_response(html::render("sla_edit.html", &page)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        serde_urlencoded::from_str(s).unwrap_or_default()
    }

    #[test]
    fn forms_are_read_strictly() {
        let f = parse(pairs("test=checkout&env=ci&p95_ms=450&error_rate=&runs=10")).ok();
        assert_eq!(f.as_ref().map(|f| f.limits.clone()), Some(BTreeMap::from([("p95_ms", 450.0)])));
        for bad in [
            "test=&p95_ms=1",
            "test=a/b&p95_ms=1",
            "test=x&p95_ms=fast",
            "test=x&p95_ms=-3",
            "test=x&error_rate=2",
            "test=x&p95_ms=NaN",
            "test=x&runs=0",
            "test=x&runs=1000",
            "test=x&owner=me",
            "test=x&test=y",
            "test=x&group=all",
        ] {
            assert!(matches!(parse(pairs(bad)), Err(PageError::BadRequest(_))), "{bad}");
        }
    }
}
