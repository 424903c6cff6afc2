//! `k6gate audit`: the history of waivers, migration windows, SLAs, budgets and approvers,
//! read from git (first-parent history of the default branch, so each merged PR is one step)
//! and, when a token is at hand, the PR behind each change with its author and approvers.
//! Then the state of every current waiver and window: honoured or ignored, and why.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use git2::{Oid, Repository};
use serde::Serialize;
use serde_json::Value;

use super::api::Api;
use super::approval::Decision;
use super::pulls::latest_approvals;
use crate::time::format_rfc3339_ms;

/// One entry added, changed or removed by one commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    pub date: String,
    pub commit: String,
    /// `waiver`, `migration window`, `sla`, `budget`, `approvers`, `notifications`,
    /// `change point` (a reviewed one).
    pub kind: String,
    pub id: String,
    /// `added`, `changed` or `removed`.
    pub change: String,
    pub file: String,
    /// The PR's author, or the commit's author for a direct push.
    pub proposed_by: String,
    pub approved_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pr_url: Option<String>,
    /// `pull request`, `direct push`, or `not checked (no GitHub token)`.
    pub via: String,
}

/// A current waiver or window.
#[derive(Debug, Clone, Serialize)]
pub struct Current {
    #[serde(flatten)]
    pub decision: Decision,
    pub test: String,
    pub scope: String,
    pub expires: String,
    pub expired: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AuditReport {
    pub default_branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<String>,
    pub changes: Vec<Change>,
    pub current: Vec<Current>,
}

/// Entries of one data file, keyed by (kind, id).
fn entries(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    let s = |v: &Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    for (key, kind) in [("waivers", "waiver"), ("migration_windows", "migration window")] {
        for e in doc.get(key).and_then(|l| l.as_array()).into_iter().flatten() {
            out.insert((kind.to_string(), s(e, "id").unwrap_or_else(|| "?".into())), e.clone());
        }
    }
    for (key, kind) in [("sla", "sla"), ("budgets", "budget")] {
        let Some(section) = doc.get(key) else { continue };
        for part in ["defaults", "significance"] {
            if let Some(v) = section.get(part) {
                out.insert((kind.to_string(), part.to_string()), v.clone());
            }
        }
        for e in section.get("tests").and_then(|l| l.as_array()).into_iter().flatten() {
            let id = [s(e, "test"), s(e, "environment"), s(e, "group")].into_iter().flatten().collect::<Vec<_>>();
            out.insert((kind.to_string(), id.join("/")), e.clone());
        }
    }
    // Reviewed change points: who accepted or dismissed which shift, and when.
    for e in doc.get("changepoints").and_then(|l| l.as_array()).into_iter().flatten() {
        let id = [s(e, "test"), s(e, "environment"), s(e, "metric"), s(e, "run")].into_iter().flatten();
        out.insert(("change point".to_string(), id.collect::<Vec<_>>().join("/")), e.clone());
    }
    for key in ["approvers", "notifications"] {
        if let Some(v) = doc.get(key) {
            out.insert((key.to_string(), key.to_string()), v.clone());
        }
    }
    out
}

pub(crate) fn yaml_files(repo: &Repository, commit: Oid, dirs: &[String]) -> BTreeMap<String, Oid> {
    let mut out = BTreeMap::new();
    let Ok(tree) = repo.find_commit(commit).and_then(|c| c.tree()) else { return out };
    for dir in dirs {
        let Ok(entry) = tree.get_path(Path::new(dir)) else { continue };
        let Ok(sub) = repo.find_tree(entry.id()) else { continue };
        for item in sub.iter() {
            let name = item.name().unwrap_or_default();
            if name.ends_with(".yaml") || name.ends_with(".yml") {
                out.insert(format!("{dir}/{name}"), item.id());
            }
        }
    }
    out
}

pub(crate) fn parse_blob(repo: &Repository, id: Option<&Oid>) -> Value {
    id.and_then(|id| repo.find_blob(*id).ok())
        .and_then(|b| yaml_serde::from_str::<Value>(&String::from_utf8_lossy(b.content())).ok())
        .unwrap_or(Value::Null)
}

/// Who proposed and approved the change made by `commit`.
struct Via {
    proposed_by: String,
    approved_by: Vec<String>,
    pr: Option<u64>,
    pr_url: Option<String>,
    via: String,
}

fn via(api: Option<(&Api, &str)>, commit: &git2::Commit<'_>, default_branch: &str) -> Via {
    // A merge's proposer is the author of what was merged, not whoever merged it.
    let proposer = commit
        .parent(1)
        .map(|p| p.author().name().map(str::to_string).ok())
        .unwrap_or_else(|_| commit.author().name().map(str::to_string).ok());
    let author = proposer.unwrap_or_else(|| "unknown".into());
    let unchecked = |via: String| Via { proposed_by: author.clone(), approved_by: vec![], pr: None, pr_url: None, via };
    let Some((api, repo_path)) = api else {
        return unchecked("not checked (no GitHub token)".into());
    };
    let sha = commit.id().to_string();
    let pr = match super::pulls::merged_pr(api, repo_path, &sha, default_branch) {
        Ok(pr) => pr,
        Err(e) => return unchecked(format!("not checked (GitHub API error: {e})")),
    };
    let Some(pr) = pr else { return unchecked("direct push".into()) };
    let number = pr.get("number").and_then(|n| n.as_u64()).unwrap_or_default();
    let approved_by = match super::pulls::reviews(api, repo_path, number) {
        Ok(r) => latest_approvals(&r).into_iter().map(|review| review.login).collect(),
        Err(e) => return unchecked(format!("not checked (GitHub API error: {e})")),
    };
    Via {
        proposed_by: pr.pointer("/user/login").and_then(|l| l.as_str()).unwrap_or(&author).to_string(),
        approved_by,
        pr: Some(number),
        pr_url: pr.get("html_url").and_then(|u| u.as_str()).map(str::to_string),
        via: "pull request".into(),
    }
}

/// Changes to the policy data under `dirs` (repo-relative) on the first-parent chain from
/// `tip`, newest first, not older than `since_ns`.
pub fn changes(
    repo: &Repository,
    tip: Oid,
    dirs: &[String],
    since_ns: Option<i64>,
    api: Option<(&Api, &str)>,
    default_branch: &str,
) -> Result<Vec<Change>, git2::Error> {
    let mut out = Vec::new();
    let mut commit = repo.find_commit(tip)?;
    loop {
        let time_ns = commit.time().seconds().saturating_mul(1_000_000_000);
        if since_ns.is_some_and(|s| time_ns < s) {
            break;
        }
        let parent = commit.parent(0).ok();
        let now = yaml_files(repo, commit.id(), dirs);
        let before = parent.as_ref().map(|p| yaml_files(repo, p.id(), dirs)).unwrap_or_default();
        let mut files: Vec<&String> = now.keys().chain(before.keys()).collect();
        files.sort();
        files.dedup();
        let mut found = Vec::new();
        for file in files {
            if now.get(file) == before.get(file) {
                continue;
            }
            let (a, b) = (entries(&parse_blob(repo, before.get(file))), entries(&parse_blob(repo, now.get(file))));
            let mut keys: Vec<_> = a.keys().chain(b.keys()).cloned().collect();
            keys.sort();
            keys.dedup();
            for key in keys {
                let change = match (a.get(&key), b.get(&key)) {
                    (None, Some(_)) => "added",
                    (Some(_), None) => "removed",
                    (Some(x), Some(y)) if x != y => "changed",
                    _ => continue,
                };
                found.push((key, change, file.clone()));
            }
        }
        if !found.is_empty() {
            let v = via(api, &commit, default_branch);
            for ((kind, id), change, file) in found {
                out.push(Change {
                    date: format_rfc3339_ms(time_ns),
                    commit: commit.id().to_string(),
                    kind,
                    id,
                    change: change.into(),
                    file,
                    proposed_by: v.proposed_by.clone(),
                    approved_by: v.approved_by.clone(),
                    pr: v.pr,
                    pr_url: v.pr_url.clone(),
                    via: v.via.clone(),
                });
            }
        }
        match parent {
            Some(p) => commit = p,
            None => break,
        }
    }
    Ok(out)
}

pub fn markdown(r: &AuditReport) -> String {
    let mut out = format!(
        "## k6gate audit: policy data on {}{}\n\n",
        r.default_branch,
        r.since.as_deref().map(|s| format!(" since {s}")).unwrap_or_default()
    );
    out.push_str("### Current waivers and migration windows\n\n");
    if r.current.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str("| kind | id | scope | expires | status | why |\n|---|---|---|---|---|---|\n");
        for c in &r.current {
            let status = match (c.decision.honoured, c.expired) {
                (_, true) => "expired",
                (true, false) => "honoured",
                (false, false) => "ignored",
            };
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {status} | {} |",
                c.decision.subject.kind.label(),
                c.decision.subject.id,
                c.scope,
                c.expires,
                c.decision.reason.replace('|', "\\|")
            );
        }
    }
    out.push_str("\n### Changes, newest first\n\n");
    if r.changes.is_empty() {
        out.push_str("None.\n");
    } else {
        out.push_str("| date | what | change | proposed by | approved by | via | commit | file |\n|---|---|---|---|---|---|---|---|\n");
        for c in &r.changes {
            let via = match (c.pr, &c.pr_url) {
                (Some(n), Some(u)) => format!("[PR #{n}]({u})"),
                (Some(n), None) => format!("PR #{n}"),
                _ => c.via.clone(),
            };
            let _ = writeln!(
                out,
                "| {} | {} {} | {} | {} | {} | {via} | {} | {} |",
                c.date,
                c.kind,
                c.id,
                c.change,
                c.proposed_by,
                if c.approved_by.is_empty() { "-".into() } else { c.approved_by.join(", ") },
                c.commit.chars().take(7).collect::<String>(),
                c.file
            );
        }
    }
    out
}
