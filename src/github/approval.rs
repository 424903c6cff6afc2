//! Waivers and migration windows are overrides, so they count only as reviewed acts. Each one
//! is checked by its id, not by its file: every commit of the default branch's first-parent
//! history that introduced or changed the entry (its parsed content, so a comment or a
//! neighbour's change is not one) must be the merge of a pull request whose diff carried that
//! change (the PR's head has the entry as merged, its base did not), approved by an allowed
//! approver who is not its author and made none of the PR's commits that changed the entry,
//! at a commit where the entry already was as merged. Expiry and scope are the policies'
//! business (Rego); everything else is checked here, with git (git2) and the GitHub API.
//!
//! Only a regular file tracked by git counts: a symbolic link (in the work tree or in the
//! default branch's tree), or a path through one, is refused, never verified through its target.
//!
//! Allowed approvers are the `approvers` listed in policy data plus the CODEOWNERS owners of
//! the file (GitHub's matching, `codeowners.rs`), both read on the default branch just before
//! the merge (its first parent), so a PR cannot name its own approver. A list counts only when
//! its own changes passed the same check, each approved by someone the list allowed before it.
//! A list changed outside that (a direct push, an unreviewed PR) counts for nothing: not the
//! pushed state, and not the last reviewed one either, which may name someone the push removed.
//! This is the fail-closed choice. The roots of that chain: a list in the repository's first
//! commit (when the history has one root and the clone is complete), and, where no list has
//! ever been, or its removal was itself reviewed, a first list approved by anyone independent.
//! Anything unverifiable is not honoured, with a reason naming the entry and the commit.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{Oid, Repository};
use serde::Serialize;

use super::actions::Context;
use super::api::{Api, ApiError, encode};
use super::codeowners::{self, CodeOwners};
use super::entries::{Key, NotRegular, Reader, Target, regular_blob, relative_regular, value_of_text, yaml_files};
use super::pulls::{self, PrCommit};
pub use super::pulls::{Review, latest_approvals, merged_pr, reviews};

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

    /// The policy data list the entries are in.
    pub fn section(self) -> &'static str {
        match self {
            Kind::Waiver => "waivers",
            Kind::MigrationWindow => "migration_windows",
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

/// The reviewed act behind an entry: the pull request of its latest change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// The default-branch commit that last changed the entry.
    pub commit: String,
    pub pr: u64,
    pub pr_url: Option<String>,
    pub author: String,
    /// Approvers whose approval counts.
    pub approved_by: Vec<String>,
    /// The same approvals as GitHub recorded them: who, and when.
    pub approvals: Vec<Review>,
    pub merged_at: Option<String>,
    /// The PRs of the entry's earlier changes, all reviewed too, newest first.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub earlier_prs: Vec<u64>,
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

/// A merged PR as the check needs it.
#[derive(Debug, Clone)]
struct Pr {
    number: u64,
    author: String,
    url: Option<String>,
    merged_at: Option<String>,
    /// The PR's final commit.
    head: String,
    approvals: Vec<Review>,
}

/// How one commit's change of a target stands.
#[derive(Debug, Clone)]
enum Change {
    Reviewed(Provenance),
    /// In the repository's first commit: the root of trust for approver lists only.
    FirstCommit,
}

/// The approver lists as of one default-branch commit, only the parts that count.
#[derive(Debug, Clone, Default)]
struct Lists {
    approvers: Vec<String>,
    codeowners: Option<CodeOwners>,
    /// Why a list present there does not count.
    untrusted: Vec<String>,
    /// No list is there, and that absence is sound: a first list may be approved by anyone
    /// independent.
    bootstrap: bool,
}

impl Lists {
    /// What a refusal for a not-allowed approver adds.
    fn note(&self) -> String {
        if self.untrusted.is_empty() { String::new() } else { format!(" (not counted: {})", self.untrusted.join("; ")) }
    }
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
    reader: Reader,
    /// Per default-branch commit: the PR merged as it, if any.
    prs: BTreeMap<Oid, Result<Option<Pr>, String>>,
    pr_commits: BTreeMap<u64, Result<Vec<PrCommit>, String>>,
    /// A file as of a commit not in this clone, from the API: (commit, path) -> its text.
    remote_files: BTreeMap<(String, String), Result<Option<String>, String>>,
    changes: BTreeMap<(Oid, Target), Result<Change, String>>,
    lists: BTreeMap<Oid, Lists>,
    single_root: Option<Result<(), String>>,
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
        let data_dirs = data_dirs.iter().filter_map(|d| relative_dir(&workdir, d)).collect();
        Ok(Verifier {
            repo,
            workdir,
            api,
            ctx,
            default_branch: default_branch.to_string(),
            data_dirs,
            teams: BTreeMap::new(),
            reader: Reader::default(),
            prs: BTreeMap::new(),
            pr_commits: BTreeMap::new(),
            remote_files: BTreeMap::new(),
            changes: BTreeMap::new(),
            lists: BTreeMap::new(),
            single_root: None,
        })
    }

    /// One decision per subject, each checked by its own entry. GitHub is asked about each
    /// merge, PR and team membership once.
    pub fn verify(&mut self, subjects: &[Subject]) -> Vec<Decision> {
        subjects
            .iter()
            .map(|s| {
                let what = format!("{} {}", s.kind.label(), s.id);
                match self.subject(s) {
                    Ok(p) => {
                        let earlier = if p.earlier_prs.is_empty() {
                            String::new()
                        } else {
                            let prs: Vec<String> = p.earlier_prs.iter().map(|n| format!("#{n}")).collect();
                            format!("; earlier changes reviewed in PR {}", prs.join(", "))
                        };
                        Decision {
                            subject: s.clone(),
                            honoured: true,
                            reason: format!(
                                "{what}: merged in PR #{} by {}, approved by {}{earlier}",
                                p.pr,
                                p.author,
                                p.approved_by.join(", ")
                            ),
                            provenance: Some(p),
                        }
                    }
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

    /// The provenance of one waiver or window: every change of its entry reviewed.
    fn subject(&mut self, s: &Subject) -> Result<Provenance, String> {
        let rel = relative_regular(&self.workdir, Path::new(&s.file))?;
        let b = self.default_branch.clone();
        let tip = self.default_tip()?;
        match regular_blob(&self.repo, tip, &rel) {
            Ok(_) => {}
            Err(NotRegular::Absent) => {
                return Err(format!("{rel} is not on {b}: it counts only after its pull request is merged"));
            }
            Err(NotRegular::Other { path, what }) => {
                return Err(format!("{path} is {what} on {b}: only a regular file tracked by git counts"));
            }
        }
        let target = Target { path: rel, key: Key::Entry { section: s.kind.section(), id: s.id.clone() } };
        let label = target.label();
        let text = std::fs::read_to_string(&s.file).map_err(|e| format!("{}: {e}", s.file))?;
        let here = value_of_text(&target.key, &text);
        match self.reader.value(&self.repo, tip, &target) {
            None => return Err(format!("{label} is not on {b}: it counts only after its pull request is merged")),
            Some(on_tip) if here.as_ref() != Some(&on_tip) => {
                return Err(format!(
                    "{label} differs from {b}: changed on this branch and not merged through a reviewed PR"
                ));
            }
            Some(_) => {}
        }
        let commits = self.reader.changes(&self.repo, tip, &target)?;
        let mut reviewed = Vec::new();
        for commit in commits {
            match self.change(commit, &target)? {
                Change::Reviewed(p) => reviewed.push(p),
                Change::FirstCommit => {
                    return Err(format!("{label}: set by the repository's first commit, not through a pull request"));
                }
            }
        }
        let mut reviewed = reviewed.into_iter();
        let mut latest = reviewed.next().ok_or_else(|| format!("{label}: no commit of {b} introduced it"))?;
        let pr = latest.pr;
        latest.earlier_prs = reviewed.map(|p| p.pr).filter(|n| *n != pr).collect();
        latest.earlier_prs.dedup();
        Ok(latest)
    }

    /// Whether `commit`'s change of `target` was a reviewed act (checked once).
    fn change(&mut self, commit: Oid, target: &Target) -> Result<Change, String> {
        let key = (commit, target.clone());
        if let Some(done) = self.changes.get(&key) {
            return done.clone();
        }
        let result = self.check_change(commit, target);
        self.changes.insert(key, result.clone());
        result
    }

    fn check_change(&mut self, c: Oid, target: &Target) -> Result<Change, String> {
        let label = target.label();
        let b = self.default_branch.clone();
        let short_c = short_oid(c);
        let (parent, who) = {
            let commit = self.repo.find_commit(c).map_err(|e| e.message().to_string())?;
            (commit.parent_id(0), commit.author().name().unwrap_or("unknown").to_string())
        };
        let Ok(parent) = parent else {
            if !target.is_list() {
                return Err(format!(
                    "{label}: set by {short_c}, the repository's first commit, not through a pull request"
                ));
            }
            return self
                .root_of_trust()
                .map(|()| Change::FirstCommit)
                .map_err(|why| format!("{label}: set by {short_c}, {why}"));
        };
        let Some(pr) = self.merged(c)? else {
            return Err(format!(
                "{label}: set by commit {short_c} by {who}, pushed directly to {b} without a pull request"
            ));
        };
        let n = pr.number;
        if pr.approvals.is_empty() {
            return Err(format!(
                "{label}: set by {short_c}, the merge of PR #{n}, which was merged without an approving review"
            ));
        }
        let value = self.reader.value(&self.repo, c, target);
        self.carried(&pr, c, parent, target, &value)?;
        let lists = self.lists_at(parent);
        let mut valid = Vec::new();
        let mut refusals = Vec::new();
        for review in &pr.approvals {
            match self.approval(&pr, review, target, &value, &lists) {
                Ok(()) => valid.push(review.clone()),
                Err(why) => refusals.push(why),
            }
        }
        if valid.is_empty() {
            return Err(refusals.join("; "));
        }
        Ok(Change::Reviewed(Provenance {
            commit: c.to_string(),
            pr: n,
            pr_url: pr.url.clone(),
            author: pr.author.clone(),
            approved_by: valid.iter().map(|r| r.login.clone()).collect(),
            approvals: valid,
            merged_at: pr.merged_at.clone(),
            earlier_prs: Vec::new(),
        }))
    }

    /// Whether one approval of `pr` counts for `target` (as merged: `value`).
    fn approval(
        &mut self,
        pr: &Pr,
        review: &Review,
        target: &Target,
        value: &Option<serde_json::Value>,
        lists: &Lists,
    ) -> Result<(), String> {
        let (login, n, label) = (&review.login, pr.number, target.label());
        if login.eq_ignore_ascii_case(&pr.author) {
            return Err(format!("approved by its own author ({login}) in PR #{n}"));
        }
        match review.commit.as_deref().and_then(|c| Oid::from_str(c).ok()) {
            Some(approved) if self.repo.find_commit(approved).is_ok() => {
                if self.reader.value(&self.repo, approved, target) != *value {
                    return Err(format!("{label} changed after {login} approved PR #{n} at {}", short_oid(approved)));
                }
            }
            // Squash merges drop the PR's commits from the clone; the approval must then be of
            // the PR's final head, whose content `carried` checked.
            Some(approved) if approved.to_string() == pr.head => {}
            Some(approved) => {
                return Err(format!(
                    "{login} approved PR #{n} at {}, not its final commit, and that commit is not in this clone: cannot confirm {label} was unchanged after the approval",
                    short_oid(approved)
                ));
            }
            None => return Err(format!("{login}'s approval of PR #{n} names no commit")),
        }
        if !(target.is_list() && lists.bootstrap) {
            let owners = lists.codeowners.as_ref().map(|co| co.owners(&target.path).to_vec()).unwrap_or_default();
            match self.allowed(login, &lists.approvers, &owners) {
                Ok(true) => {}
                Ok(false) => {
                    return Err(format!(
                        "approved in PR #{n} by {login}, who is not an allowed approver (policy data `approvers` or the CODEOWNERS of {}, as before the merge){}",
                        target.path,
                        lists.note()
                    ));
                }
                Err(e) => return Err(format!("cannot check {login}'s team membership: {e}")),
            }
        }
        if let Some(sha) = self.authored(pr, target, login)? {
            return Err(format!(
                "{login} approved PR #{n} but made its commit {sha}, which changed {label}: not an independent approval"
            ));
        }
        Ok(())
    }

    /// The PR merged as `c`, with its reviews.
    fn merged(&mut self, c: Oid) -> Result<Option<Pr>, String> {
        if let Some(done) = self.prs.get(&c) {
            return done.clone();
        }
        let result = self.fetch_pr(c);
        self.prs.insert(c, result.clone());
        result
    }

    fn fetch_pr(&self, c: Oid) -> Result<Option<Pr>, String> {
        let api_error = |e: ApiError| format!("cannot verify with the GitHub API: {e}");
        let repo_path = self.ctx.repo_path();
        let Some(pr) = merged_pr(self.api, &repo_path, &c.to_string(), &self.default_branch).map_err(api_error)? else {
            return Ok(None);
        };
        let text = |p: &str| pr.pointer(p).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_string);
        let number = pr.get("number").and_then(|n| n.as_u64()).unwrap_or_default();
        let author = text("/user/login")
            .ok_or_else(|| format!("PR #{number} names no author, so self-approval cannot be ruled out"))?;
        let head = text("/head/sha").ok_or_else(|| format!("PR #{number} names no head commit"))?;
        let reviews = reviews(self.api, &repo_path, number).map_err(api_error)?;
        Ok(Some(Pr {
            number,
            author,
            url: text("/html_url"),
            merged_at: text("/merged_at"),
            head,
            approvals: latest_approvals(&reviews),
        }))
    }

    /// Whether `pr`'s diff carried the change `c` made to `target`: the PR's head has it as
    /// merged, and the base the PR was compared with did not.
    fn carried(
        &mut self,
        pr: &Pr,
        c: Oid,
        parent: Oid,
        target: &Target,
        value: &Option<serde_json::Value>,
    ) -> Result<(), String> {
        let (n, label, short_c) = (pr.number, target.label(), short_oid(c));
        let not_carried = |why: String| {
            format!("{label}: set by {short_c}, the merge of PR #{n}, but the PR's diff did not carry it ({why})")
        };
        let head = Oid::from_str(&pr.head).ok().filter(|h| self.repo.find_commit(*h).is_ok());
        match head {
            Some(head) => {
                if self.reader.value(&self.repo, head, target) != *value {
                    return Err(not_carried(format!("the PR's head {} does not have it as merged", short_oid(head))));
                }
                let base = self.repo.merge_base(head, parent).map_err(|e| not_carried(e.message().to_string()))?;
                if self.reader.value(&self.repo, base, target) == *value {
                    return Err(not_carried(format!("its base {} already had it", short_oid(base))));
                }
            }
            None => {
                // Not in this clone: GitHub made the merge (squash or rebase), which applies the
                // PR's diff, so the head having it as merged is what shows the diff carried it.
                let text = self.remote_file(&pr.head, &target.path)?;
                if text.as_deref().and_then(|t| value_of_text(&target.key, t)) != *value {
                    return Err(not_carried(format!("the PR's head {} does not have it as merged", short(&pr.head))));
                }
            }
        }
        Ok(())
    }

    /// `path` as of `commit` (not in this clone) from the API.
    fn remote_file(&mut self, commit: &str, path: &str) -> Result<Option<String>, String> {
        let key = (commit.to_string(), path.to_string());
        if let Some(done) = self.remote_files.get(&key) {
            return done.clone();
        }
        let result = pulls::file_at(self.api, &self.ctx.repo_path(), path, commit)
            .map(|file| file.map(|(_, bytes)| String::from_utf8_lossy(&bytes).into_owned()))
            .map_err(|e| format!("cannot verify with the GitHub API: {e}"));
        self.remote_files.insert(key, result.clone());
        result
    }

    /// The first commit of `pr` that changed `target` and was made by `login` (git author or
    /// committer, or the GitHub account of either), if any. A commit not in this clone
    /// (squash merges) counts as changing it.
    fn authored(&mut self, pr: &Pr, target: &Target, login: &str) -> Result<Option<String>, String> {
        let commits = match self.pr_commits.get(&pr.number) {
            Some(done) => done.clone(),
            None => {
                let got = pulls::commits(self.api, &self.ctx.repo_path(), pr.number)
                    .map_err(|e| format!("cannot verify with the GitHub API: {e}"));
                self.pr_commits.insert(pr.number, got.clone());
                got
            }
        }?;
        for pc in commits {
            let mut identities = pc.identities.clone();
            let local = Oid::from_str(&pc.sha).ok().and_then(|o| self.repo.find_commit(o).ok());
            let touched = match &local {
                Some(commit) => {
                    let now = self.reader.value(&self.repo, commit.id(), target);
                    let before = commit.parent_id(0).ok().and_then(|p| self.reader.value(&self.repo, p, target));
                    for who in [commit.author(), commit.committer()] {
                        identities.extend([who.name(), who.email()].into_iter().flatten().map(str::to_string));
                    }
                    now != before
                }
                None => true,
            };
            let made = pc.logins.iter().any(|l| l.eq_ignore_ascii_case(login))
                || identities.iter().any(|i| identity_is(i, login));
            if touched && made {
                return Ok(Some(short(&pc.sha)));
            }
        }
        Ok(None)
    }

    /// The approver lists as of default-branch commit `at`, only the parts whose changes were
    /// all reviewed.
    fn lists_at(&mut self, at: Oid) -> Lists {
        if let Some(done) = self.lists.get(&at) {
            return done.clone();
        }
        let mut lists = Lists::default();
        let present = self.list_targets(at);
        for target in &present {
            if let Err(why) = self.trusted(at, target) {
                lists.untrusted.push(why);
                continue;
            }
            match target.key {
                Key::Approvers => {
                    if let Some(serde_json::Value::Array(names)) = self.reader.value(&self.repo, at, target) {
                        lists.approvers.extend(names.iter().filter_map(|n| n.as_str().map(str::to_string)));
                    }
                }
                _ => {
                    lists.codeowners = regular_blob(&self.repo, at, &target.path)
                        .ok()
                        .and_then(|b| self.repo.find_blob(b).ok())
                        .map(|b| CodeOwners::parse(&String::from_utf8_lossy(b.content())));
                }
            }
        }
        if let Some(blocked) = self.codeowners_not_regular(at) {
            lists.untrusted.push(blocked);
        } else if present.is_empty() {
            match self.absence_trusted(at) {
                Ok(()) => lists.bootstrap = true,
                Err(why) => lists.untrusted.push(why),
            }
        }
        self.lists.insert(at, lists.clone());
        lists
    }

    /// The approver lists present at `at`: each data file's `approvers`, and the CODEOWNERS
    /// file GitHub reads (the first of its locations).
    fn list_targets(&mut self, at: Oid) -> Vec<Target> {
        let mut out = Vec::new();
        for dir in self.data_dirs.clone() {
            for path in yaml_files(&self.repo, at, &dir) {
                let target = Target { path, key: Key::Approvers };
                if self.reader.value(&self.repo, at, &target).is_some() {
                    out.push(target);
                }
            }
        }
        for location in codeowners::LOCATIONS {
            match regular_blob(&self.repo, at, location) {
                Err(NotRegular::Absent) => continue,
                Ok(_) => out.push(Target { path: location.to_string(), key: Key::CodeOwners }),
                Err(NotRegular::Other { .. }) => {}
            }
            break;
        }
        out
    }

    /// A CODEOWNERS location that holds something other than a regular file (GitHub's reading
    /// of a link is not this check's to guess): then no code owner counts.
    fn codeowners_not_regular(&self, at: Oid) -> Option<String> {
        for location in codeowners::LOCATIONS {
            match regular_blob(&self.repo, at, location) {
                Err(NotRegular::Absent) => continue,
                Ok(_) => return None,
                Err(NotRegular::Other { path, what }) => {
                    return Some(format!("{path} is {what}, not a regular file: no code owner counts"));
                }
            }
        }
        None
    }

    /// Every change of list `target` up to `at` was reviewed.
    fn trusted(&mut self, at: Oid, target: &Target) -> Result<(), String> {
        let label = target.label();
        for commit in self.reader.changes(&self.repo, at, target)? {
            // Reasons about an approval do not name what it approved; a list's must.
            self.change(commit, target)
                .map_err(|why| if why.starts_with(&label) { why } else { format!("{label}: {why}") })?;
        }
        Ok(())
    }

    /// No list is at `at`: sound when none was ever there on the first-parent history, or the
    /// commit that removed the last ones was a reviewed change of each.
    fn absence_trusted(&mut self, at: Oid) -> Result<(), String> {
        let mut commit = at;
        loop {
            let Ok(parent) = self.repo.find_commit(commit).and_then(|c| c.parent_id(0)) else { return Ok(()) };
            let before = self.list_targets(parent);
            if !before.is_empty() {
                for target in &before {
                    self.change(commit, target)
                        .map_err(|why| format!("no approver list is left, and its removal was not reviewed: {why}"))?;
                }
                return Ok(());
            }
            commit = parent;
        }
    }

    /// The repository's first commit founds the approver lists only when it is the one root
    /// of the default branch's history (no root grafted in by a merge) in a complete clone.
    fn root_of_trust(&mut self) -> Result<(), String> {
        if let Some(done) = &self.single_root {
            return done.clone();
        }
        let result = self.count_roots();
        self.single_root = Some(result.clone());
        result
    }

    fn count_roots(&self) -> Result<(), String> {
        if self.repo.is_shallow() {
            return Err("a commit at the edge of a shallow clone, not known to be the first one (check out with fetch-depth: 0)".into());
        }
        let tip = self.default_tip()?;
        let mut walk = self.repo.revwalk().map_err(|e| e.message().to_string())?;
        walk.push(tip).map_err(|e| e.message().to_string())?;
        let mut roots = 0usize;
        for oid in walk {
            let oid = oid.map_err(|e| e.message().to_string())?;
            if self.repo.find_commit(oid).map_err(|e| e.message().to_string())?.parent_count() == 0 {
                roots += 1;
            }
        }
        if roots == 1 {
            Ok(())
        } else {
            Err(format!(
                "a root commit of a history with {roots} roots: only the repository's one first commit is trusted without review"
            ))
        }
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

/// A data directory relative to the work tree, `/`-separated (as given, so a directory that
/// is a link is looked up as the link and holds nothing).
fn relative_dir(workdir: &Path, dir: &Path) -> Option<String> {
    let abs = std::path::absolute(dir).ok()?;
    let root = abs.ancestors().filter(|a| a.canonicalize().is_ok_and(|c| c == workdir)).last()?;
    let rel = abs.strip_prefix(root).ok()?;
    let names: Vec<String> = rel
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    Some(names.join("/"))
}

/// Whether a git identity (a name or an e-mail address) is GitHub user `login`: the name
/// itself, or the user's noreply address (`login@` or `ID+login@users.noreply.github.com`).
fn identity_is(identity: &str, login: &str) -> bool {
    let identity = identity.trim().to_lowercase();
    let login = login.to_lowercase();
    if identity == login {
        return true;
    }
    let Some(local) = identity.strip_suffix("@users.noreply.github.com") else { return false };
    local == login
        || local.split_once('+').is_some_and(|(id, name)| name == login && id.chars().all(|c| c.is_ascii_digit()))
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

fn short(sha: &str) -> String {
    sha.chars().take(7).collect()
}

fn short_oid(oid: Oid) -> String {
    short(&oid.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_git_identity_is_a_login_by_name_or_noreply_address() {
        assert!(identity_is("Perf-Lead", "perf-lead"));
        assert!(identity_is("perf-lead@users.noreply.github.com", "perf-lead"));
        assert!(identity_is("1234+perf-lead@users.noreply.github.com", "Perf-Lead"));
        assert!(!identity_is("perf-lead@example.com", "perf-lead"));
        assert!(!identity_is("x+perf-lead@users.noreply.github.com", "perf-lead"));
        assert!(!identity_is("alice", "perf-lead"));
    }
}
