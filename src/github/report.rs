//! The verdict where engineers look: one check run per test and environment on the commit
//! (created, or updated in place on a re-run), one PR comment updated in place, and a commit
//! status when the token may not write checks.
//!
//! Fails closed: any API error ends in `Err`, never in a reported success.

use std::fmt::Write;

use serde_json::{Value, json};

use super::actions::{Context, Level, command};
use octocrab::models::StatusState;
use octocrab::params::checks::{
    CheckRunConclusion, CheckRunOutput, CheckRunOutputAnnotation, CheckRunOutputAnnotationLevel, CheckRunStatus,
};

use super::api::{Api, ApiError, encode};
use crate::policy::verdict::{Status, Verdict};
pub use crate::report::Links;
use crate::report::title::clip;
pub use crate::report::title::title;

/// Check run conclusions k6gate uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Conclusion {
    Success,
    /// A warning: shown, not blocking (branch protection accepts neutral).
    Neutral,
    Failure,
}

impl Conclusion {
    pub fn name(self) -> &'static str {
        match self {
            Conclusion::Success => "success",
            Conclusion::Neutral => "neutral",
            Conclusion::Failure => "failure",
        }
    }

    /// The commit status that stands for it: a warning does not block.
    fn status_state(self) -> StatusState {
        match self {
            Conclusion::Success | Conclusion::Neutral => StatusState::Success,
            Conclusion::Failure => StatusState::Failure,
        }
    }
}

/// A check run annotation: a policy or data file line behind a rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    pub path: String,
    pub line: u64,
    pub level: Level,
    pub title: String,
    pub message: String,
}

/// Everything reported, independent of where it goes.
#[derive(Debug, Clone)]
pub struct Report {
    pub test: String,
    pub environment: String,
    pub conclusion: Conclusion,
    pub title: String,
    /// Markdown: headline, failing rules, the gate table, exceptions, ignored items, links.
    pub summary: String,
    pub annotations: Vec<Annotation>,
    pub links: Links,
}

/// The check run summary may hold 65 535 characters; a comment body 65 536.
pub const SUMMARY_LIMIT: usize = 65_000;
/// The Checks API takes at most 50 annotations per request.
pub const ANNOTATIONS_PER_REQUEST: usize = 50;

impl Report {
    pub fn from_verdict(v: &Verdict, links: Links) -> Report {
        let conclusion = match v.outcome {
            Status::Pass => Conclusion::Success,
            Status::Warn => Conclusion::Neutral,
            // A required check must not pass on a run that could not be judged.
            Status::Fail | Status::Inconclusive => Conclusion::Failure,
        };
        let mut summary = crate::report::verdict::markdown(v);
        let _ = writeln!(summary, "\n**Every rule**\n");
        summary.push_str(&crate::report::verdict::gate_table(v));
        summary.push_str(&links_markdown(&links));
        let annotations = v
            .results
            .iter()
            .filter(|r| r.status != Status::Pass)
            .filter_map(|r| {
                let src = r.source.as_ref()?;
                Some(Annotation {
                    path: repo_relative(&src.file, links.workspace.as_deref()),
                    line: src.line.max(1),
                    level: if r.status == Status::Fail { Level::Error } else { Level::Warning },
                    title: format!("k6gate {}: {}", r.status.label().to_lowercase(), r.id),
                    message: r.message.clone(),
                })
            })
            .chain(v.ignored.iter().filter_map(|i| {
                let src = i.source.as_ref()?;
                Some(Annotation {
                    path: repo_relative(&src.file, links.workspace.as_deref()),
                    line: src.line.max(1),
                    level: Level::Warning,
                    title: format!("k6gate ignored {}", i.what),
                    message: i.reason.clone(),
                })
            }))
            .collect();
        Report {
            test: v.test.clone(),
            environment: v.environment.clone(),
            conclusion,
            title: title(v),
            summary,
            annotations,
            links,
        }
    }

    /// A run that produced no verdict (k6 failed, the data is incomplete, the policies are
    /// broken) is a failure, with the reason.
    pub fn from_problem(test: &str, environment: &str, problem: &str, links: Links) -> Report {
        let mut summary = format!("### ❌ k6gate: no verdict\n\n{problem}\n\nA gate without data fails closed.\n");
        summary.push_str(&links_markdown(&links));
        Report {
            test: test.to_string(),
            environment: environment.to_string(),
            conclusion: Conclusion::Failure,
            title: clip(&format!("No verdict: {problem}"), 120),
            summary,
            annotations: Vec::new(),
            links,
        }
    }

    /// Puts `sentence` first in the summary (the check run, the PR comment, the job summary):
    /// what the reader must know before the verdict, such as what the run measured.
    pub fn preface(&mut self, sentence: &str) {
        self.summary = format!("{sentence}\n\n{}", self.summary);
    }

    pub fn check_name(&self) -> String {
        format!("k6gate: {} ({})", self.test, self.environment)
    }

    /// Hidden marker that finds this test's comment again on the next push.
    pub fn comment_marker(&self) -> String {
        format!("<!-- k6gate:comment test={} env={} -->", self.test, self.environment)
    }

    pub fn comment_body(&self) -> String {
        let body =
            format!("{}\n**{}** — `{}`\n\n{}", self.comment_marker(), self.title, self.check_name(), self.summary);
        super::truncate(&body, SUMMARY_LIMIT)
    }

    /// `::error::`/`::warning::` lines for the Actions log and the files view.
    pub fn workflow_commands(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .annotations
            .iter()
            .map(|a| command(a.level, Some(&a.path), Some(a.line), &a.title, &a.message))
            .collect();
        if self.conclusion == Conclusion::Failure && self.annotations.iter().all(|a| a.level != Level::Error) {
            lines.push(command(Level::Error, None, None, &self.check_name(), &self.title));
        }
        lines
    }

    /// The check run's `output`: title, summary and these annotations (none is no
    /// `annotations` field, which the Checks API documents as optional).
    fn check_output(&self, annotations: &[Annotation]) -> CheckRunOutput {
        CheckRunOutput {
            title: self.title.clone(),
            summary: super::truncate(&self.summary, SUMMARY_LIMIT),
            text: None,
            annotations: annotations.iter().map(annotation_param).collect(),
            images: Vec::new(),
        }
    }

    /// `details_url`: the Grafana dashboard, else the Actions run.
    fn details_url(&self) -> Option<&String> {
        self.links.grafana.as_ref().or(self.links.actions_run.as_ref())
    }

    fn check_conclusion(&self) -> CheckRunConclusion {
        match self.conclusion {
            Conclusion::Success => CheckRunConclusion::Success,
            Conclusion::Neutral => CheckRunConclusion::Neutral,
            Conclusion::Failure => CheckRunConclusion::Failure,
        }
    }
}

fn annotation_param(a: &Annotation) -> CheckRunOutputAnnotation {
    let line = u32::try_from(a.line).unwrap_or(u32::MAX);
    CheckRunOutputAnnotation {
        path: a.path.clone(),
        start_line: line,
        end_line: line,
        start_column: None,
        end_column: None,
        annotation_level: match a.level {
            Level::Error => CheckRunOutputAnnotationLevel::Failure,
            Level::Warning => CheckRunOutputAnnotationLevel::Warning,
            Level::Notice => CheckRunOutputAnnotationLevel::Notice,
        },
        message: a.message.clone(),
        title: Some(a.title.clone()),
        raw_details: None,
    }
}

fn links_markdown(links: &Links) -> String {
    let mut items = Vec::new();
    if let Some(u) = &links.grafana {
        items.push(format!("[Grafana dashboard for this run]({u})"));
    }
    if let Some(u) = &links.actions_run {
        items.push(format!("[workflow run and report artifact]({u})"));
    }
    if let Some(u) = &links.serve {
        items.push(format!("[verdict and comparison in k6gate serve]({u})"));
    }
    if let Some(id) = &links.run_id {
        items.push(format!("run id `{id}`"));
    }
    if items.is_empty() { String::new() } else { format!("\n{}\n", items.join(" · ")) }
}

/// Data files are recorded as the gate opened them; annotations need repo-relative paths. A
/// file read from git (a PR's base-branch policy) is `<commit>:<repo path>` already.
fn repo_relative(file: &str, workspace: Option<&std::path::Path>) -> String {
    if let Some((rev, path)) = file.split_once(':') {
        if rev.len() >= 7 && rev.bytes().all(|b| b.is_ascii_hexdigit()) {
            return path.to_string();
        }
    }
    let path = std::path::Path::new(file);
    let stripped = workspace
        .and_then(|ws| path.strip_prefix(ws).ok().map(|p| p.to_path_buf()))
        .or_else(|| std::env::current_dir().ok().and_then(|cwd| path.strip_prefix(cwd).ok().map(|p| p.to_path_buf())))
        .unwrap_or_else(|| path.to_path_buf());
    let s = stripped.display().to_string();
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// What was written where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    CheckCreated {
        id: u64,
    },
    CheckUpdated {
        id: u64,
    },
    /// The token could not write checks; a commit status carries the result.
    Status {
        context: String,
    },
    CommentCreated {
        id: u64,
    },
    CommentUpdated {
        id: u64,
    },
}

#[derive(Debug, Clone, Default)]
pub struct Published {
    pub posted: Vec<Posted>,
    /// Things the user should know (fallbacks, skipped steps).
    pub notes: Vec<String>,
}

fn id_of(v: &Value, what: &str, path: &str) -> Result<u64, ApiError> {
    v.get("id").and_then(|i| i.as_u64()).ok_or_else(|| ApiError::Decode {
        method: "GET",
        path: path.to_string(),
        message: format!("no id in the {what} response"),
    })
}

/// Posts the check run (or the status fallback), then the PR comment.
pub fn publish(api: &Api, ctx: &Context, report: &Report) -> Result<Published, ApiError> {
    let mut out = Published::default();
    match upsert_check_run(api, ctx, report) {
        Ok(p) => out.posted.push(p),
        Err(e) if e.status() == Some(403) => {
            out.notes.push(format!(
                "the token cannot write check runs ({e}); reported as a commit status instead. \
                 Grant the job `permissions: checks: write` (a GitHub App or Actions token; personal tokens cannot create check runs)"
            ));
            out.posted.push(post_status(api, ctx, report)?);
        }
        Err(e) => return Err(e),
    }
    match ctx.pr_number {
        Some(n) => out.posted.push(upsert_comment(api, ctx, n, report)?),
        None => out.notes.push("not a pull request event: no PR comment".into()),
    }
    Ok(out)
}

/// Finds this test's check run on the commit and updates it, or creates one.
pub fn upsert_check_run(api: &Api, ctx: &Context, report: &Report) -> Result<Posted, ApiError> {
    let repo = ctx.repo_path();
    // Raw: octocrab's `list_check_runs_for_git_ref` has no `check_name` or `filter` parameter.
    let list_path = format!(
        "{repo}/commits/{}/check-runs?check_name={}&filter=latest",
        encode(&ctx.sha),
        encode(&report.check_name())
    );
    let existing = api.get(&list_path)?;
    // Updates append annotations (GitHub cannot remove them): a run that already has some is
    // superseded by a new one of the same name, which GitHub shows and branch protection reads.
    let existing_id = existing
        .get("check_runs")
        .and_then(|r| r.as_array())
        .and_then(|runs| runs.iter().find(|r| r.get("name").and_then(|n| n.as_str()) == Some(&report.check_name())))
        .filter(|r| r.pointer("/output/annotations_count").and_then(|c| c.as_u64()).unwrap_or(0) == 0)
        .map(|r| id_of(r, "check run", &list_path))
        .transpose()?;
    let mut batches = report.annotations.chunks(ANNOTATIONS_PER_REQUEST);
    let first = batches.next().unwrap_or(&[]);
    let (id, posted) = match existing_id {
        Some(id) => {
            update_check_run(api, ctx, report, id, first)?;
            (id, Posted::CheckUpdated { id })
        }
        None => {
            let path = format!("{repo}/check-runs");
            let created = api.call("POST", &path, |octo| async move {
                let checks = octo.checks(&ctx.owner, &ctx.repo);
                let mut run = checks
                    .create_check_run(report.check_name(), ctx.sha.clone())
                    .status(CheckRunStatus::Completed)
                    .conclusion(report.check_conclusion())
                    .output(report.check_output(first));
                if let Some(url) = report.details_url() {
                    run = run.details_url(url);
                }
                if let Some(id) = &report.links.run_id {
                    run = run.external_id(id);
                }
                run.send().await
            })?;
            let id = created.id.into_inner();
            (id, Posted::CheckCreated { id })
        }
    };
    // Further annotations are appended by updates, 50 at a time.
    for batch in batches {
        update_check_run(api, ctx, report, id, batch)?;
    }
    Ok(posted)
}

/// "Update a check run" `id` with the report and these annotations.
///
/// Raw: octocrab's `update_check_run` also puts `check_run_id` in the body, which GitHub
/// documents only as a path parameter. The body is built from the same typed parameters.
fn update_check_run(
    api: &Api,
    ctx: &Context,
    report: &Report,
    id: u64,
    annotations: &[Annotation],
) -> Result<(), ApiError> {
    let path = format!("{}/check-runs/{id}", ctx.repo_path());
    let output = serde_json::to_value(report.check_output(annotations)).map_err(|e| ApiError::Decode {
        method: "PATCH",
        path: path.clone(),
        message: e.to_string(),
    })?;
    let mut body = json!({
        "name": report.check_name(),
        "status": CheckRunStatus::Completed,
        "conclusion": report.check_conclusion(),
        "output": output,
    });
    if let Some(o) = body.as_object_mut() {
        if let Some(url) = report.details_url() {
            o.insert("details_url".into(), json!(url));
        }
        if let Some(run_id) = &report.links.run_id {
            o.insert("external_id".into(), json!(run_id));
        }
    }
    api.patch(&path, &body)?;
    Ok(())
}

/// The fallback: a commit status (no annotations, 140 characters of description).
pub fn post_status(api: &Api, ctx: &Context, report: &Report) -> Result<Posted, ApiError> {
    let context = format!("k6gate/{}/{}", report.test, report.environment);
    let path = format!("{}/statuses/{}", ctx.repo_path(), encode(&ctx.sha));
    let state = report.conclusion.status_state();
    api.call("POST", &path, |octo| async {
        let repos = octo.repos(&ctx.owner, &ctx.repo);
        let mut status =
            repos.create_status(ctx.sha.clone(), state).description(clip(&report.title, 139)).context(context.clone());
        if let Some(url) = report.details_url() {
            status = status.target(url.clone());
        }
        status.send().await
    })?;
    Ok(Posted::Status { context })
}

/// Updates this test's comment on the PR, or creates it: one comment, never one per push.
pub fn upsert_comment(api: &Api, ctx: &Context, pr: u64, report: &Report) -> Result<Posted, ApiError> {
    let repo = ctx.repo_path();
    let marker = report.comment_marker();
    let list_path = format!("{repo}/issues/{pr}/comments");
    let comments = api.pages(&list_path, 30, |page| {
        let page_path = format!("{list_path}?per_page=100&page={page}");
        let listed = api.call("GET", &page_path, |octo| async move {
            octo.issues(&ctx.owner, &ctx.repo).list_comments(pr).per_page(100u8).page(page).send().await
        })?;
        Ok(listed.items)
    })?;
    let mine = comments
        .iter()
        // Ours start with the marker; a person quoting it does not edit a person's comment.
        .find(|c| c.body.as_deref().is_some_and(|b| b.starts_with(&marker)))
        .map(|c| c.id.into_inner());
    let body = report.comment_body();
    match mine {
        Some(id) => {
            // Raw: octocrab's `update_comment` sends POST; GitHub documents PATCH.
            api.patch(&format!("{repo}/issues/comments/{id}"), &json!({ "body": body }))?;
            Ok(Posted::CommentUpdated { id })
        }
        None => {
            let created = api.call("POST", &list_path, |octo| async {
                octo.issues(&ctx.owner, &ctx.repo).create_comment(pr, &body).await
            })?;
            Ok(Posted::CommentCreated { id: created.id.into_inner() })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::repo_relative;

    #[test]
    fn a_file_read_from_git_is_annotated_at_its_repo_path() {
        assert_eq!(repo_relative("3f2a9c1:policies/data/budgets.yaml", None), "policies/data/budgets.yaml");
        assert_eq!(
            repo_relative("/ws/policies/data/slas.yaml", Some(std::path::Path::new("/ws"))),
            "policies/data/slas.yaml"
        );
        assert_eq!(repo_relative("./waivers/W-1.yaml", None), "waivers/W-1.yaml");
    }
}
