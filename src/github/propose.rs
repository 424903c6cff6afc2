//! A change of policy files proposed as a pull request: a branch, one commit and the PR,
//! through the git data API (no checkout, no push), and the reviewers it names. What
//! `k6gate serve`'s editors use: the UI never writes policy, review remains the approval.
//!
//! The calls, in order (REST API 2022-11-28):
//! 1. `GET /repos/{o}/{r}/git/ref/heads/{base}`: the base branch's head commit
//!    (<https://docs.github.com/en/rest/git/refs#get-a-reference>);
//! 2. `GET /repos/{o}/{r}/git/commits/{sha}`: its tree
//!    (<https://docs.github.com/en/rest/git/commits#get-a-commit-object>);
//! 3. `POST /repos/{o}/{r}/git/trees` with `base_tree` and the changed files as `content`
//!    (<https://docs.github.com/en/rest/git/trees#create-a-tree>);
//! 4. `POST /repos/{o}/{r}/git/commits` with that tree and the head as parent
//!    (<https://docs.github.com/en/rest/git/commits#create-a-commit>);
//! 5. `POST /repos/{o}/{r}/git/refs` `refs/heads/{branch}` at the commit
//!    (<https://docs.github.com/en/rest/git/refs#create-a-reference>);
//! 6. `POST /repos/{o}/{r}/pulls` from the branch into the base
//!    (<https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request>);
//! 7. with reviewers, `POST /repos/{o}/{r}/pulls/{n}/requested_reviewers`
//!    (<https://docs.github.com/en/rest/pulls/review-requests#request-reviewers-for-a-pull-request>).
//!
//! Every answer is read for the one field the next call needs; a missing one is an error
//! naming the call. A failure after the branch exists leaves the branch (GitHub keeps it;
//! the error says which call failed), never a PR without its commit.

use serde_json::{Value, json};

use super::api::{Api, ApiError, encode};

/// One file of the change: its path in the repository and its whole new content.
#[derive(Debug, Clone)]
pub struct FileChange {
    pub path: String,
    pub content: String,
}

/// What to propose.
#[derive(Debug, Clone)]
pub struct Proposal {
    /// `owner/name`.
    pub repo: String,
    /// The branch the PR merges into.
    pub base: String,
    /// The new branch (must not exist).
    pub branch: String,
    pub files: Vec<FileChange>,
    pub commit_message: String,
    pub title: String,
    pub body: String,
    /// Logins asked to review.
    pub reviewers: Vec<String>,
}

/// The PR as GitHub opened it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Opened {
    pub number: u64,
    pub html_url: String,
    pub branch: String,
    pub commit: String,
}

fn field<'a>(v: &'a Value, pointer: &str, method: &'static str, path: &str) -> Result<&'a Value, ApiError> {
    v.pointer(pointer).ok_or_else(|| ApiError::Decode {
        method,
        path: path.to_string(),
        message: format!("the answer has no {pointer}"),
    })
}

fn text(v: &Value, pointer: &str, method: &'static str, path: &str) -> Result<String, ApiError> {
    field(v, pointer, method, path)?.as_str().map(str::to_string).ok_or_else(|| ApiError::Decode {
        method,
        path: path.to_string(),
        message: format!("{pointer} is not a string"),
    })
}

/// Opens the PR of `p`: branch, commit, pull request, reviewers.
pub fn open(api: &Api, p: &Proposal) -> Result<Opened, ApiError> {
    let repo = &p.repo;
    let ref_path = format!("/repos/{repo}/git/ref/heads/{}", encode_ref(&p.base));
    let head = text(&api.get(&ref_path)?, "/object/sha", "GET", &ref_path)?;

    let commit_path = format!("/repos/{repo}/git/commits/{head}");
    let base_tree = text(&api.get(&commit_path)?, "/tree/sha", "GET", &commit_path)?;

    let trees = format!("/repos/{repo}/git/trees");
    let entries: Vec<Value> = p
        .files
        .iter()
        .map(|f| json!({ "path": f.path, "mode": "100644", "type": "blob", "content": f.content }))
        .collect();
    let tree = text(&api.post(&trees, &json!({ "base_tree": base_tree, "tree": entries }))?, "/sha", "POST", &trees)?;

    let commits = format!("/repos/{repo}/git/commits");
    let commit = text(
        &api.post(&commits, &json!({ "message": p.commit_message, "tree": tree, "parents": [head] }))?,
        "/sha",
        "POST",
        &commits,
    )?;

    let refs = format!("/repos/{repo}/git/refs");
    api.post(&refs, &json!({ "ref": format!("refs/heads/{}", p.branch), "sha": commit }))?;

    let pulls = format!("/repos/{repo}/pulls");
    let pr = api.post(&pulls, &json!({ "title": p.title, "head": p.branch, "base": p.base, "body": p.body }))?;
    let number = field(&pr, "/number", "POST", &pulls)?.as_u64().ok_or_else(|| ApiError::Decode {
        method: "POST",
        path: pulls.clone(),
        message: "/number is not a number".into(),
    })?;
    let html_url = text(&pr, "/html_url", "POST", &pulls)?;

    if !p.reviewers.is_empty() {
        let requested = format!("/repos/{repo}/pulls/{number}/requested_reviewers");
        api.post(&requested, &json!({ "reviewers": p.reviewers }))?;
    }
    Ok(Opened { number, html_url, branch: p.branch.clone(), commit })
}

/// Whether `e` is GitHub's answer to creating a branch that exists: `POST .../git/refs`
/// refused with 422 "Reference already exists"
/// (<https://docs.github.com/en/rest/git/refs#create-a-reference>). A caller that names its
/// branch after a number it allocated (a waiver's `W-<n>`) takes it as "that number is taken".
pub fn branch_exists(e: &ApiError) -> bool {
    match e {
        ApiError::Status { method: "POST", path, status: 422, message, .. } => {
            path.ends_with("/git/refs") && message.contains("Reference already exists")
        }
        _ => false,
    }
}

/// A branch name in a path: each segment percent-encoded, the slashes kept.
fn encode_ref(name: &str) -> String {
    name.split('/').map(encode).collect::<Vec<_>>().join("/")
}

/// A pull request's state as the waiver page shows it: open or closed, merged, and the latest
/// review of each reviewer (`GET /repos/{o}/{r}/pulls/{n}`,
/// <https://docs.github.com/en/rest/pulls/pulls#get-a-pull-request>, and its reviews).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PrState {
    pub state: String,
    pub merged: bool,
    pub html_url: String,
    /// Logins whose latest review approves.
    pub approved_by: Vec<String>,
    /// Logins asked to review who have not yet.
    pub requested: Vec<String>,
    /// The PR's branch (`head.ref`).
    pub branch: String,
}

/// The state of PR `number`.
pub fn state(api: &Api, repo: &str, number: u64) -> Result<PrState, ApiError> {
    let path = format!("/repos/{repo}/pulls/{number}");
    let pr = api.get(&path)?;
    let reviews = super::pulls::reviews(api, &format!("/repos/{repo}"), number)?;
    let approved_by = super::pulls::latest_approvals(&reviews).into_iter().map(|r| r.login).collect();
    let requested = pr
        .get("requested_reviewers")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|u| u.get("login").and_then(Value::as_str).map(str::to_string)).collect())
        .unwrap_or_default();
    Ok(PrState {
        state: text(&pr, "/state", "GET", &path)?,
        merged: pr.get("merged").and_then(Value::as_bool).unwrap_or(false),
        html_url: text(&pr, "/html_url", "GET", &path)?,
        approved_by,
        requested,
        branch: text(&pr, "/head/ref", "GET", &path)?,
    })
}
