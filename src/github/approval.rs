//! Waivers and migration windows are overrides, so they count only when they arrived as a
//! reviewed act: the file reached the default branch through a merged PR, approved by an
//! allowed approver who is not the PR's author, and was not changed after that approval.
//! Expiry and scope are the policies' business (Rego); everything else is checked here, with
//! git (git2: which commit last changed the file on the default branch) and the GitHub API
//! (the PR merged as that commit, and its reviews).
//!
//! Allowed approvers are the `approvers` listed in policy data plus the CODEOWNERS owners of
//! the file, both read as they were *before* the PR merged (its merge commit's first parent),
//! so a PR cannot name its own approver. Anything unverifiable is not honoured, with a reason.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid, Repository};
use serde::Serialize;
use serde_json::Value;

use super::actions::Context;
use super::api::{Api, ApiError, encode};
use super::codeowners::{self, CodeOwners};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Waiver,
    MigrationWindow,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Waiver => "waiver",
            Kind::MigrationWindow => "migration window",
        }
    }
}

/// A waiver or window as loaded from policy data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Subject {
    pub kind: Kind,
    pub id: String,
    /// As the policy data loader recorded it.
    pub file: String,
    pub line: u64,
}

/// The reviewed act behind a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// The default-branch commit that last changed the file.
    pub commit: String,
    pub pr: u64,
    pub pr_url: Option<String>,
    pub author: String,
    /// Approvers whose approval counts.
    pub approved_by: Vec<String>,
    /// The same approvals as GitHub recorded them: who, and when.
    pub approvals: Vec<Review>,
    pub merged_at: Option<String>,
}

/// An approving review as GitHub recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    pub login: String,
    /// The commit the review approved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `submitted_at`, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub subject: Subject,
    pub honoured: bool,
    /// Why it is honoured or not, for people.
    pub reason: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<Provenance>,
}

/// Collects every waiver and migration window from policy data.
pub fn subjects(data: &crate::policy::data::PolicyData) -> Vec<Subject> {
    let subject = |kind, id: &str, source: &crate::policy::data::Source| Subject {
        kind,
        id: id.to_string(),
        file: source.file.clone(),
        line: source.line,
    };
    let waivers = data.waivers.iter().map(|w| subject(Kind::Waiver, &w.entry.id, &w.source));
    let windows = data.windows.iter().map(|w| subject(Kind::MigrationWindow, &w.entry.id, &w.source));
    waivers.chain(windows).collect()
}

/// Every subject is refused with the same reason (no token, not a git repository, ...).
pub fn refuse_all(subjects: &[Subject], reason: &str) -> Vec<Decision> {
    subjects
        .iter()
        .map(|s| Decision {
            subject: s.clone(),
            honoured: false,
            reason: format!("{} {} ignored: {reason}", s.kind.label(), s.id),
            provenance: None,
        })
        .collect()
}

/// Checks subjects against the history of the repository at `repo_dir` and the GitHub API.
pub struct Verifier<'a> {
    repo: Repository,
    workdir: PathBuf,
    api: &'a Api,
    ctx: &'a Context,
    default_branch: String,
    /// Repo-relative directories whose YAML files may list `approvers`.
    data_dirs: Vec<String>,
    teams: BTreeMap<(String, String), bool>,
}

impl<'a> Verifier<'a> {
    pub fn open(
        repo_dir: &Path,
        api: &'a Api,
        ctx: &'a Context,
        default_branch: &str,
        data_dirs: &[PathBuf],
    ) -> Result<Verifier<'a>, String> {
        let repo = Repository::discover(repo_dir)
            .map_err(|e| format!("{} is not in a git repository ({})", repo_dir.display(), e.message()))?;
        let workdir = repo
            .workdir()
            .ok_or_else(|| "the git repository has no working tree".to_string())?
            .canonicalize()
            .map_err(|e| e.to_string())?;
        let mut v = Verifier {
            repo,
            workdir,
            api,
            ctx,
            default_branch: default_branch.to_string(),
            data_dirs: Vec::new(),
            teams: BTreeMap::new(),
        };
        v.data_dirs = data_dirs.iter().filter_map(|d| v.relative(&d.display().to_string())).collect();
        Ok(v)
    }

    /// One decision per subject; files are checked once.
    pub fn verify(&mut self, subjects: &[Subject]) -> Vec<Decision> {
        let mut by_file: BTreeMap<String, Result<Provenance, String>> = BTreeMap::new();
        subjects
            .iter()
            .map(|s| {
                let result = by_file.entry(s.file.clone()).or_insert_with(|| self.file_provenance(&s.file)).clone();
                let what = format!("{} {}", s.kind.label(), s.id);
                match result {
                    Ok(p) => Decision {
                        subject: s.clone(),
                        honoured: true,
                        reason: format!(
                            "{what}: merged in PR #{} by {}, approved by {}",
                            p.pr,
                            p.author,
                            p.approved_by.join(", ")
                        ),
                        provenance: Some(p),
                    },
                    Err(why) => Decision {
                        subject: s.clone(),
                        honoured: false,
                        reason: format!("{what} ignored: {why}"),
                        provenance: None,
                    },
                }
            })
            .collect()
    }

    /// `file` relative to the work tree, `/`-separated.
    fn relative(&self, file: &str) -> Option<String> {
        let abs = Path::new(file).canonicalize().ok()?;
        let rel = abs.strip_prefix(&self.workdir).ok()?;
        Some(rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/"))
    }

    fn default_tip(&self) -> Result<Oid, String> {
        let b = &self.default_branch;
        for name in [format!("refs/remotes/origin/{b}"), format!("refs/heads/{b}")] {
            if let Ok(r) = self.repo.find_reference(&name) {
                if let Ok(c) = r.peel_to_commit() {
                    return Ok(c.id());
                }
            }
        }
        Err(format!("the default branch {b} is not in this clone (check out with fetch-depth: 0)"))
    }

    fn file_provenance(&mut self, file: &str) -> Result<Provenance, String> {
        let rel = self.relative(file).ok_or_else(|| format!("{file} is not inside the git work tree"))?;
        let b = self.default_branch.clone();
        let tip = self.default_tip()?;
        let at_tip = blob_at(&self.repo, tip, &rel)
            .ok_or_else(|| format!("{rel} is not on {b}: it counts only after its pull request is merged"))?;
        let here = Oid::hash_file(ObjectType::Blob, self.workdir.join(&rel)).map_err(|e| e.message().to_string())?;
        if here != at_tip {
            return Err(format!("{rel} differs from {b}: changed on this branch and not merged through a reviewed PR"));
        }
        let change = last_change(&self.repo, tip, &rel)?;
        let change_short = short(&change.to_string());
        let pr = self.merged_pr(change).map_err(|e| format!("cannot verify with the GitHub API: {e}"))?;
        let Some(pr) = pr else {
            let who = self
                .repo
                .find_commit(change)
                .ok()
                .and_then(|c| c.author().name().ok().map(str::to_string))
                .unwrap_or_else(|| "unknown".into());
            return Err(format!("pushed directly to {b} without a pull request (commit {change_short} by {who})"));
        };
        let number = pr.get("number").and_then(|n| n.as_u64()).unwrap_or_default();
        let author = pr
            .pointer("/user/login")
            .and_then(|l| l.as_str())
            .filter(|l| !l.is_empty())
            .ok_or_else(|| format!("PR #{number} names no author, so self-approval cannot be ruled out"))?
            .to_string();
        let reviews = reviews(self.api, &self.ctx.repo_path(), number)
            .map_err(|e| format!("cannot verify with the GitHub API: {e}"))?;
        let approvals = latest_approvals(&reviews);
        if approvals.is_empty() {
            return Err(format!("PR #{number} was merged without an approving review"));
        }
        let base = self.repo.find_commit(change).ok().and_then(|c| c.parent_id(0).ok());
        let (listed, owners) = match base {
            Some(base) => (self.approvers_at(base), self.codeowners_at(base, &rel)),
            None => (Vec::new(), Vec::new()),
        };
        let mut valid = Vec::new();
        let mut refusals = Vec::new();
        for review in approvals {
            let (login, commit_id) = (review.login.clone(), review.commit.clone());
            if login.eq_ignore_ascii_case(&author) {
                refusals.push(format!("approved by its own author ({login}) in PR #{number}"));
                continue;
            }
            match self.allowed(&login, &listed, &owners) {
                Ok(true) => {}
                Ok(false) => {
                    refusals.push(format!(
                        "approved in PR #{number} by {login}, who is not an allowed approver (policy data `approvers` or the CODEOWNERS of {rel}, as before the merge)"
                    ));
                    continue;
                }
                Err(e) => {
                    refusals.push(format!("cannot check {login}'s team membership: {e}"));
                    continue;
                }
            }
            match commit_id.as_deref().and_then(|c| Oid::from_str(c).ok()) {
                Some(approved) if self.repo.find_commit(approved).is_ok() => {
                    if blob_at(&self.repo, approved, &rel) != blob_at(&self.repo, change, &rel) {
                        refusals.push(format!(
                            "{rel} changed after {login} approved PR #{number} at {}",
                            short(&approved.to_string())
                        ));
                        continue;
                    }
                }
                Some(approved) => {
                    // Squash merges drop the PR's commits from the clone; the approval must then
                    // be of the PR's final head.
                    let head = pr.pointer("/head/sha").and_then(|h| h.as_str()).unwrap_or_default();
                    if approved.to_string() != head {
                        refusals.push(format!(
                            "{login} approved PR #{number} at {}, not its final commit, and that commit is not in this clone: cannot confirm {rel} was unchanged after the approval",
                            short(&approved.to_string())
                        ));
                        continue;
                    }
                }
                None => {
                    refusals.push(format!("{login}'s approval of PR #{number} names no commit"));
                    continue;
                }
            }
            valid.push(review);
        }
        if valid.is_empty() {
            return Err(refusals.join("; "));
        }
        Ok(Provenance {
            commit: change.to_string(),
            pr: number,
            pr_url: pr.get("html_url").and_then(|u| u.as_str()).map(str::to_string),
            author,
            approved_by: valid.iter().map(|r| r.login.clone()).collect(),
            approvals: valid,
            merged_at: pr.get("merged_at").and_then(|m| m.as_str()).map(str::to_string),
        })
    }

    /// The PR merged into the default branch as `commit`, if any.
    fn merged_pr(&self, commit: Oid) -> Result<Option<Value>, ApiError> {
        merged_pr(self.api, &self.ctx.repo_path(), &commit.to_string(), &self.default_branch)
    }

    /// `approvers` listed in the policy data files as of `commit`.
    fn approvers_at(&self, commit: Oid) -> Vec<String> {
        let mut out = Vec::new();
        for blob in super::audit::yaml_files(&self.repo, commit, &self.data_dirs).values() {
            let doc = super::audit::parse_blob(&self.repo, Some(blob));
            for a in doc.get("approvers").and_then(|a| a.as_array()).into_iter().flatten() {
                if let Some(s) = a.as_str() {
                    out.push(s.trim_start_matches('@').to_string());
                }
            }
        }
        out
    }

    fn codeowners_at(&self, commit: Oid, rel: &str) -> Vec<String> {
        let Ok(tree) = self.repo.find_commit(commit).and_then(|c| c.tree()) else { return Vec::new() };
        for location in codeowners::LOCATIONS {
            if let Ok(entry) = tree.get_path(Path::new(location)) {
                if let Ok(blob) = self.repo.find_blob(entry.id()) {
                    return CodeOwners::parse(&String::from_utf8_lossy(blob.content())).owners(rel).to_vec();
                }
            }
        }
        Vec::new()
    }

    /// Users match by login; `org/team` entries by active team membership.
    fn allowed(&mut self, login: &str, listed: &[String], owners: &[String]) -> Result<bool, ApiError> {
        for entry in listed.iter().chain(owners) {
            match entry.split_once('/') {
                None if entry.eq_ignore_ascii_case(login) => return Ok(true),
                None => {}
                Some((org, team)) if self.team_member(org, team, login)? => return Ok(true),
                Some(_) => {}
            }
        }
        Ok(false)
    }

    fn team_member(&mut self, org: &str, team: &str, login: &str) -> Result<bool, ApiError> {
        let key = (format!("{org}/{team}"), login.to_lowercase());
        if let Some(&m) = self.teams.get(&key) {
            return Ok(m);
        }
        let path = format!("/orgs/{}/teams/{}/memberships/{}", encode(org), encode(team), encode(login));
        let (org, team, login) = (encode(org), encode(team), encode(login));
        let member = self.api.call("GET", &path, |octo| async {
            octo.teams(org.as_str()).memberships(team.as_str()).get(login.as_str()).await
        });
        let member = match member {
            Ok(m) => m.state == octocrab::models::memberships::State::Active,
            Err(e) if e.status() == Some(404) => false,
            Err(e) => return Err(e),
        };
        self.teams.insert(key, member);
        Ok(member)
    }
}

/// How waivers and migration windows are checked before the policies see them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// Against git history and the GitHub API (the Actions context). The default.
    Verify { default_branch: String },
    /// Taken as they are: local experiments only (the CLI warns).
    Trust,
}

/// The policy data with only the honoured waivers and windows, and every decision. The
/// Actions context comes from `context`, called only when something needs checking: without
/// any waiver or window nothing is looked up.
pub fn apply_in(
    data: &crate::policy::data::PolicyData,
    mode: &Mode,
    context: impl FnOnce() -> Result<Context, super::actions::ContextError>,
    repo_dir: &Path,
    data_dirs: &[PathBuf],
) -> (crate::policy::data::PolicyData, Vec<Decision>) {
    let subjects = subjects(data);
    if subjects.is_empty() {
        return (data.clone(), Vec::new());
    }
    let decisions = match mode {
        Mode::Trust => subjects
            .iter()
            .map(|s| Decision {
                subject: s.clone(),
                honoured: true,
                reason: format!(
                    "{} {}: trusted without checking its approval (--approval trust)",
                    s.kind.label(),
                    s.id
                ),
                provenance: None,
            })
            .collect(),
        Mode::Verify { default_branch } => verify_in(context(), &subjects, default_branch, repo_dir, data_dirs),
    };
    let refused = |kind: Kind| -> Vec<&str> {
        decisions.iter().filter(|d| !d.honoured && d.subject.kind == kind).map(|d| d.subject.id.as_str()).collect()
    };
    (data.without(&refused(Kind::Waiver), &refused(Kind::MigrationWindow)), decisions)
}

fn verify_in(
    context: Result<Context, super::actions::ContextError>,
    subjects: &[Subject],
    default_branch: &str,
    repo_dir: &Path,
    data_dirs: &[PathBuf],
) -> Vec<Decision> {
    let ctx = match context {
        Ok(c) => c,
        Err(e) => {
            return refuse_all(
                subjects,
                &format!("its approval cannot be checked: {e} (use --approval trust only for local experiments)"),
            );
        }
    };
    let api = match Api::new(super::api::ApiConfig::for_context(&ctx)) {
        Ok(a) => a,
        Err(e) => return refuse_all(subjects, &format!("its approval cannot be checked: {e}")),
    };
    let branch = ctx.default_branch.clone().unwrap_or_else(|| default_branch.to_string());
    match Verifier::open(repo_dir, &api, &ctx, &branch, data_dirs) {
        Ok(mut v) => v.verify(subjects),
        Err(e) => refuse_all(subjects, &format!("its approval cannot be checked: {e}")),
    }
}

/// Refused decisions as the verdict's `ignored` items.
pub fn ignored(decisions: &[Decision]) -> Vec<crate::policy::verdict::Ignored> {
    decisions
        .iter()
        .filter(|d| !d.honoured)
        .map(|d| crate::policy::verdict::Ignored {
            // The bare id, as the policies name what they ignore; the reason names the kind.
            what: d.subject.id.clone(),
            reason: d.reason.clone(),
            source: Some(crate::policy::data::Source { file: d.subject.file.clone(), line: d.subject.line }),
        })
        .collect()
}

/// The PR merged into `default_branch` as `sha` (its merge or squash commit), if any.
pub fn merged_pr(api: &Api, repo_path: &str, sha: &str, default_branch: &str) -> Result<Option<Value>, ApiError> {
    // Raw: octocrab's `associated_pull_requests` adds a `target` query parameter GitHub does
    // not document.
    let pulls = api.get(&format!("{repo_path}/commits/{sha}/pulls"))?;
    Ok(pulls
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| {
            p.get("merged_at").is_some_and(|m| !m.is_null())
                && p.get("merge_commit_sha").and_then(|m| m.as_str()) == Some(sha)
                && p.pointer("/base/ref").and_then(|r| r.as_str()) == Some(default_branch)
        })
        .cloned())
}

/// Every review of PR `number` (`repo_path` is `/repos/OWNER/REPO`), as JSON in GitHub's
/// shape. More than 1,000 reviews is an error, never a partial list.
pub fn reviews(api: &Api, repo_path: &str, number: u64) -> Result<Vec<Value>, ApiError> {
    let (owner, repo) = super::api::owner_repo(repo_path)?;
    let path = format!("{repo_path}/pulls/{number}/reviews");
    let reviews = api.pages(&path, 10, |page| {
        let page_path = format!("{path}?per_page=100&page={page}");
        let listed = api.call("GET", &page_path, |octo| async move {
            octo.pulls(owner, repo).list_reviews(number).per_page(100u8).page(page).send().await
        })?;
        Ok(listed.items)
    })?;
    reviews
        .iter()
        .map(|r| {
            serde_json::to_value(r).map_err(|e| ApiError::Decode {
                method: "GET",
                path: path.clone(),
                message: e.to_string(),
            })
        })
        .collect()
}

fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// The blob of `path` in `commit`'s tree.
pub fn blob_at(repo: &Repository, commit: Oid, path: &str) -> Option<Oid> {
    let tree = repo.find_commit(commit).ok()?.tree().ok()?;
    tree.get_path(Path::new(path)).ok().map(|e| e.id())
}

/// The newest commit on `tip`'s first-parent chain whose `path` differs from its first
/// parent's: the merge (or direct push) that brought the current content.
pub fn last_change(repo: &Repository, tip: Oid, path: &str) -> Result<Oid, String> {
    let mut commit = repo.find_commit(tip).map_err(|e| e.message().to_string())?;
    loop {
        let here = blob_at(repo, commit.id(), path);
        let Ok(parent) = commit.parent(0) else { return Ok(commit.id()) };
        if blob_at(repo, parent.id(), path) != here {
            return Ok(commit.id());
        }
        commit = parent;
    }
}

/// Each reviewer's latest decisive review (approve, request changes, dismissed); returns the
/// approving ones, in review order.
pub fn latest_approvals(reviews: &[Value]) -> Vec<Review> {
    let mut latest: BTreeMap<String, (usize, &str, Review)> = BTreeMap::new();
    for (i, r) in reviews.iter().enumerate() {
        let state = r.get("state").and_then(|s| s.as_str()).unwrap_or_default();
        if !matches!(state, "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED") {
            continue;
        }
        let Some(login) = r.pointer("/user/login").and_then(|l| l.as_str()) else { continue };
        let text = |k: &str| r.get(k).and_then(|c| c.as_str()).map(str::to_string);
        let review = Review { login: login.to_string(), commit: text("commit_id"), submitted_at: text("submitted_at") };
        latest.insert(login.to_string(), (i, state, review));
    }
    let mut approvals: Vec<_> = latest.into_values().filter(|(_, s, _)| *s == "APPROVED").collect();
    approvals.sort_by_key(|(i, _, _)| *i);
    approvals.into_iter().map(|(_, _, review)| review).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_later_change_request_cancels_an_approval() {
        let reviews = vec![
            json!({"user": {"login": "bob"}, "state": "APPROVED", "commit_id": "a1"}),
            json!({"user": {"login": "carol"}, "state": "APPROVED", "commit_id": "a1", "submitted_at": "2026-11-30T10:00:00Z"}),
            json!({"user": {"login": "bob"}, "state": "CHANGES_REQUESTED", "commit_id": "a2"}),
            json!({"user": {"login": "carol"}, "state": "COMMENTED", "commit_id": "a2"}),
        ];
        let carol = Review {
            login: "carol".into(),
            commit: Some("a1".into()),
            submitted_at: Some("2026-11-30T10:00:00Z".into()),
        };
        assert_eq!(latest_approvals(&reviews), vec![carol]);
    }
}
