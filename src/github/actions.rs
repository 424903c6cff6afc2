//! GitHub Actions: the run's context from the standard variables, workflow commands
//! (`::error::`) and the job summary.
//!
//! Only the documented variables are read (`GITHUB_API_URL`, `GITHUB_SERVER_URL`,
//! `GITHUB_REPOSITORY`, `GITHUB_SHA`, `GITHUB_EVENT_PATH`, `GITHUB_TOKEN`, `GITHUB_RUN_ID`,
//! `GITHUB_STEP_SUMMARY`), so GitHub Enterprise Server works unchanged.

use std::io::Write;
use std::path::{Path, PathBuf};

use super::api::Token;

/// Where the report goes.
#[derive(Debug, Clone)]
pub struct Context {
    pub api_url: String,
    pub server_url: String,
    pub owner: String,
    pub repo: String,
    /// The commit the check run belongs to: the PR's head for pull-request events (not
    /// `GITHUB_SHA`, which is the temporary merge commit there), else `GITHUB_SHA`.
    pub sha: String,
    pub pr_number: Option<u64>,
    pub token: Token,
    /// The Actions run, for links.
    pub run_url: Option<String>,
    /// The repository's default branch, when the event names it.
    pub default_branch: Option<String>,
    /// `GITHUB_STEP_SUMMARY`: where the job summary goes.
    pub step_summary: Option<PathBuf>,
    /// `K6GATE_GITHUB_TIMEOUT` (seconds per attempt) and `K6GATE_GITHUB_ATTEMPTS`, when set.
    pub api_timeout: Option<f64>,
    pub api_attempts: Option<f64>,
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error(
        "{0} is not set: run inside GitHub Actions, or export {0} (and GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_TOKEN)"
    )]
    Missing(&'static str),
    #[error("GITHUB_REPOSITORY {0:?} is not OWNER/NAME")]
    Repository(String),
    #[error("{}: cannot read the event payload: {message}", path.display())]
    Event { path: PathBuf, message: String },
}

impl Context {
    /// The context from the Actions variables, read through `var` (the CLI's environment
    /// snapshot, or a test's own).
    pub fn from_lookup(var: impl Fn(&str) -> Option<String>) -> Result<Context, ContextError> {
        let need = |name: &'static str| var(name).ok_or(ContextError::Missing(name));
        let repository = need("GITHUB_REPOSITORY")?;
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
            .ok_or_else(|| ContextError::Repository(repository.clone()))?;
        let token = Token::new(need("GITHUB_TOKEN")?);
        let event = match var("GITHUB_EVENT_PATH") {
            Some(path) => Some(read_event(Path::new(&path))?),
            None => None,
        };
        let pr = event.as_ref().and_then(|e| e.get("pull_request"));
        let pr_number = pr.and_then(|p| p.get("number")).and_then(|n| n.as_u64());
        let pr_head = pr.and_then(|p| p.pointer("/head/sha")).and_then(|s| s.as_str()).map(str::to_string);
        let deployment_sha =
            event.as_ref().and_then(|e| e.pointer("/deployment/sha")).and_then(|s| s.as_str()).map(str::to_string);
        let sha = match pr_head.or(deployment_sha) {
            Some(sha) => sha,
            None => need("GITHUB_SHA")?,
        };
        let server_url = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
        let run_url = var("GITHUB_RUN_ID")
            .map(|id| format!("{}/{owner}/{repo}/actions/runs/{id}", server_url.trim_end_matches('/')));
        Ok(Context {
            api_url: var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            server_url,
            owner: owner.to_string(),
            repo: repo.to_string(),
            sha,
            pr_number,
            token,
            run_url,
            default_branch: event
                .as_ref()
                .and_then(|e| e.pointer("/repository/default_branch"))
                .and_then(|b| b.as_str())
                .map(str::to_string),
            step_summary: var("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            api_timeout: var("K6GATE_GITHUB_TIMEOUT").and_then(|v| v.trim().parse().ok()),
            api_attempts: var("K6GATE_GITHUB_ATTEMPTS").and_then(|v| v.trim().parse().ok()),
        })
    }

    /// `/repos/OWNER/REPO`, encoded.
    pub fn repo_path(&self) -> String {
        format!("/repos/{}/{}", super::api::encode(&self.owner), super::api::encode(&self.repo))
    }
}

/// The events whose checkout holds a pull request's own code, where a PR could otherwise
/// loosen the policy that judges it.
pub const PULL_REQUEST_EVENTS: [&str; 2] = ["pull_request", "pull_request_target"];

/// The commits a `pull_request` event payload names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestRefs {
    /// `pull_request.base.sha`: the base branch's commit the PR is compared with.
    pub base_sha: String,
    /// `pull_request.base.ref`: the base branch's name.
    pub base_ref: Option<String>,
    /// `pull_request.head.sha`: the PR's own last commit.
    pub head_sha: Option<String>,
}

/// `pull_request.base.sha` (required), `base.ref` and `head.sha` from the event payload at
/// `path` (`GITHUB_EVENT_PATH`).
pub fn pull_request_refs(path: &Path) -> Result<PullRequestRefs, ContextError> {
    let event = read_event(path)?;
    let text = |pointer: &str| event.pointer(pointer).and_then(|v| v.as_str()).map(str::to_string);
    let base_sha = text("/pull_request/base/sha").ok_or_else(|| ContextError::Event {
        path: path.to_path_buf(),
        message: "it names no pull_request.base.sha".into(),
    })?;
    Ok(PullRequestRefs { base_sha, base_ref: text("/pull_request/base/ref"), head_sha: text("/pull_request/head/sha") })
}

fn read_event(path: &Path) -> Result<serde_json::Value, ContextError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| ContextError::Event { path: path.to_path_buf(), message: e.to_string() })?;
    serde_json::from_str(&text).map_err(|e| ContextError::Event { path: path.to_path_buf(), message: e.to_string() })
}

/// Level of a workflow command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// One `::error file=..,line=..,title=..::message` line, escaped as the Actions toolkit does
/// (`%`, CR and LF in the message; also `:` and `,` in properties).
pub fn command(level: Level, file: Option<&str>, line: Option<u64>, title: &str, message: &str) -> String {
    let name = match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut props = Vec::new();
    if let Some(f) = file {
        props.push(format!("file={}", escape_property(f)));
    }
    if let Some(l) = line {
        props.push(format!("line={l}"));
    }
    if !title.is_empty() {
        props.push(format!("title={}", escape_property(title)));
    }
    let props = if props.is_empty() { String::new() } else { format!(" {}", props.join(",")) };
    format!("::{name}{props}::{}", escape_data(message))
}

fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// GitHub accepts up to 1 MiB of summary per step.
pub const SUMMARY_LIMIT: usize = 1024 * 1024;

/// Appends Markdown to the job summary file (`GITHUB_STEP_SUMMARY`).
pub fn append_job_summary(path: &Path, markdown: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(super::truncate(markdown, SUMMARY_LIMIT - 1024).as_bytes())?;
    f.write_all(b"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn pull_request_events_report_on_the_head_commit() {
        let dir = tempfile::tempdir().unwrap();
        let event = dir.path().join("event.json");
        std::fs::write(
            &event,
            r#"{"pull_request":{"number":7,"head":{"sha":"abc123"}},"repository":{"default_branch":"trunk"}}"#,
        )
        .unwrap();
        let ctx = Context::from_lookup(lookup(&[
            ("GITHUB_REPOSITORY", "acme/shop"),
            ("GITHUB_SHA", "merge999"),
            ("GITHUB_TOKEN", "t0ken-value"),
            ("GITHUB_EVENT_PATH", event.to_str().unwrap()),
            ("GITHUB_API_URL", "https://ghe.example/api/v3"),
            ("GITHUB_SERVER_URL", "https://ghe.example"),
            ("GITHUB_RUN_ID", "42"),
        ]))
        .unwrap();
        assert_eq!(ctx.sha, "abc123");
        assert_eq!(ctx.pr_number, Some(7));
        assert_eq!(ctx.api_url, "https://ghe.example/api/v3");
        assert_eq!(ctx.run_url.as_deref(), Some("https://ghe.example/acme/shop/actions/runs/42"));
        assert_eq!(ctx.default_branch.as_deref(), Some("trunk"));
        assert!(!format!("{ctx:?}").contains("t0ken-value"));
    }

    #[test]
    fn missing_variables_are_named() {
        let e = Context::from_lookup(lookup(&[("GITHUB_REPOSITORY", "acme/shop")])).unwrap_err();
        assert!(e.to_string().starts_with("GITHUB_TOKEN is not set"), "{e}");
        let e = Context::from_lookup(lookup(&[("GITHUB_REPOSITORY", "acme")])).unwrap_err();
        assert!(e.to_string().contains("not OWNER/NAME"), "{e}");
    }

    #[test]
    fn workflow_commands_are_escaped() {
        assert_eq!(
            command(Level::Error, Some("policies/data/budgets.yaml"), Some(12), "p95: over, budget", "50%\nmore"),
            "::error file=policies/data/budgets.yaml,line=12,title=p95%3A over%2C budget::50%25%0Amore"
        );
        assert_eq!(command(Level::Warning, None, None, "", "w"), "::warning::w");
    }
}
