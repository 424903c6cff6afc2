//! Provenance per entry (src/github/approval.rs, entries.rs, pulls.rs, codeowners.rs): the five
//! ways the red team got a blocked deployment through the approval check (issue 11, item 6),
//! each refused now, and the reviewed entries that still count.
//!
//! Each way would have let the waiver through the check as it was: (a) it judged the whole
//! file, crediting an entry to the last reviewed PR that touched its file; (b) it resolved a
//! symbolic link and judged the target; (c) its CODEOWNERS `dir/*` matched nested paths; (d)
//! it read the approver lists as they were before the merge, direct pushes included; (e) it
//! only compared an approver with the PR's author.
//!
//! Repositories are built commit by commit with git2 (trees written directly, so links,
//! squash merges and hand-made merges are exact) and checked out by writing the default
//! branch's files. GitHub is the wiremock fake (`support::fake_github`): only the documented
//! requests, with the documented headers, are answered; anything else fails the test.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use git2::{FileMode, Oid, Repository, Signature};
use serde_json::{Value, json};
use wiremock::ResponseTemplate;

use crate::support::fake_github::body::{self, CommitBy};
use crate::support::fake_github::{FakeGithub, error, ok};
use crate::support::verdicts::SHIPPED;
use k6gate::github::actions::Context;
use k6gate::github::approval::{self, Decision, Mode};
use k6gate::policy::data::{self, PolicyData};

const TOKEN: &str = "ghs_provenanceFakeToken0123456789";
const REPO: &str = "acme/shop";
const WAIVERS: &str = "policies/data/waivers.yaml";

// ---------------------------------------------------------------------------------------
// The repository.

#[derive(Debug, Clone, PartialEq)]
enum File {
    Text(String),
    /// A symbolic link to this path.
    Link(String),
}

/// Files written (`Some`) or deleted (`None`) by one commit.
type Changes<'a> = &'a [(&'a str, Option<File>)];

fn text(s: &str) -> Option<File> {
    Some(File::Text(s.to_string()))
}

/// Who makes a commit: the git identity, and the GitHub account GitHub matches it to.
#[derive(Debug, Clone)]
struct Who {
    name: String,
    email: String,
    login: Option<String>,
}

/// A GitHub user committing under their login and noreply address.
fn user(login: &str) -> Who {
    Who { name: login.into(), email: format!("{login}@users.noreply.github.com"), login: Some(login.into()) }
}

/// GitHub itself, committing merges made with its buttons.
fn web_flow() -> Who {
    Who { name: "GitHub".into(), email: "noreply@github.com".into(), login: Some("web-flow".into()) }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Merge {
    /// "Create a merge commit".
    NoFf,
    /// "Squash and merge"; the PR's commits are then not in the clone (its branch deleted).
    Squash,
}

#[derive(Debug, Clone)]
struct Pr {
    number: u64,
    author: String,
    /// The PR's commits, oldest first, and who made each.
    commits: Vec<(Oid, Who)>,
    base: Oid,
    merge: Oid,
    /// The head's files, for the contents API when the head is not in the clone.
    head_files: BTreeMap<String, File>,
    in_clone: bool,
    reviews: Vec<Value>,
}

impl Pr {
    fn head(&self) -> Oid {
        self.commits.last().unwrap().0
    }

    /// Adds a review by `login` in `state` of `commit`.
    fn review(&mut self, login: &str, state: &str, commit: Oid) {
        let (n, id) = (self.number, self.number * 100 + self.reviews.len() as u64);
        let html = format!("https://github.com/{REPO}/pull/{n}#pullrequestreview-{id}");
        let pull = format!("https://api.github.com/repos/{REPO}/pulls/{n}");
        self.reviews.push(json!({
            "id": id,
            "node_id": format!("PRR_kwDOshop{id}"),
            "user": body::user(login, login.bytes().map(u64::from).sum(), "User"),
            "body": "LGTM",
            "state": state,
            "html_url": html,
            "pull_request_url": pull,
            "author_association": "MEMBER",
            "_links": { "html": { "href": html }, "pull_request": { "href": pull } },
            "submitted_at": "2026-11-28T10:00:00Z",
            "commit_id": commit.to_string(),
        }));
    }

    /// Approved by `login` at the PR's head.
    fn approved_by(mut self, login: &str) -> Pr {
        let head = self.head();
        self.review(login, "APPROVED", head);
        self
    }
}

struct World {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    git: Repository,
    main: Oid,
    /// The files at `main`.
    files: BTreeMap<String, File>,
    /// Commit times, one hour apart.
    time: i64,
    prs: Vec<Pr>,
    /// The waiver directory beside `policies/data`, repo-relative.
    waivers_dir: String,
}

fn shipped(name: &str) -> String {
    std::fs::read_to_string(Path::new(SHIPPED).join("data").join(name)).unwrap()
}

/// One waiver entry of a `waivers:` list.
fn w(id: &str, expires_day: u32) -> String {
    format!(
        "  - id: {id}\n    test: checkout\n    metric: p95_ms\n    version: v1.1.0\n    justification: known slow path until v1.1.1\n    requested_by: alice\n    approved_by: perf-lead\n    created: 2026-11-20T00:00:00Z\n    expires: 2026-12-{expires_day:02}T00:00:00Z\n"
    )
}

/// A data file with these waiver entries.
fn waivers(entries: &[String]) -> Option<File> {
    text(&format!("# Waivers: one-off overrides, each through its own reviewed PR.\nwaivers:\n{}", entries.concat()))
}

impl World {
    /// A repository whose first commit (admin's) holds the shipped SLAs and budgets,
    /// `approvers` as `policies/data/approvers.yaml` and `codeowners` as `.github/CODEOWNERS`.
    fn new(codeowners: &str, approvers: &str) -> World {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap().join("shop");
        std::fs::create_dir(&root).unwrap();
        let git = Repository::init_opts(&root, git2::RepositoryInitOptions::new().initial_head("main")).unwrap();
        let mut world = World {
            _tmp: tmp,
            root,
            git,
            main: Oid::ZERO_SHA1,
            files: BTreeMap::new(),
            time: 1_790_000_000,
            prs: Vec::new(),
            waivers_dir: "waivers".into(),
        };
        let first = [
            ("policies/data/slas.yaml", text(&shipped("slas.yaml"))),
            ("policies/data/budgets.yaml", text(&shipped("budgets.yaml"))),
            ("policies/data/approvers.yaml", text(approvers)),
            (".github/CODEOWNERS", text(codeowners)),
            ("README.md", text("# shop\n")),
        ];
        let files = apply(&BTreeMap::new(), &first);
        let commit = world.commit(&files, &[], &user("admin"), &user("admin"));
        world.advance(commit, files);
        world
    }

    fn tree(&self, files: &BTreeMap<String, File>) -> Oid {
        let empty = self.git.treebuilder(None).unwrap().write().unwrap();
        let empty = self.git.find_tree(empty).unwrap();
        let mut update = git2::build::TreeUpdateBuilder::new();
        for (path, file) in files {
            let (content, mode) = match file {
                File::Text(t) => (t.as_str(), FileMode::Blob),
                File::Link(to) => (to.as_str(), FileMode::Link),
            };
            update.upsert(path.as_str(), self.git.blob(content.as_bytes()).unwrap(), mode);
        }
        update.create_updated(&self.git, &empty).unwrap()
    }

    fn commit(&mut self, files: &BTreeMap<String, File>, parents: &[Oid], author: &Who, committer: &Who) -> Oid {
        self.time += 3600;
        let when = git2::Time::new(self.time, 0);
        let sig = |w: &Who| Signature::new(&w.name, &w.email, &when).unwrap();
        let tree = self.git.find_tree(self.tree(files)).unwrap();
        let parents: Vec<git2::Commit<'_>> = parents.iter().map(|p| self.git.find_commit(*p).unwrap()).collect();
        let parents: Vec<&git2::Commit<'_>> = parents.iter().collect();
        self.git.commit(None, &sig(author), &sig(committer), "Update policy data", &tree, &parents).unwrap()
    }

    /// `main` is now `commit`, with `files`, checked out.
    fn advance(&mut self, commit: Oid, files: BTreeMap<String, File>) {
        self.git.reference("refs/heads/main", commit, true, "test").unwrap();
        self.git.set_head("refs/heads/main").unwrap();
        self.main = commit;
        self.files = files;
        self.checkout();
    }

    /// The work tree holds exactly `main`'s files.
    fn checkout(&self) {
        for entry in std::fs::read_dir(&self.root).unwrap() {
            let path = entry.unwrap().path();
            if path.file_name().unwrap() == ".git" {
                continue;
            }
            if std::fs::symlink_metadata(&path).unwrap().is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
        for (path, file) in &self.files {
            write(&self.root, path, file);
        }
    }

    /// A commit by `who` pushed straight to `main`.
    fn push(&mut self, who: &str, changes: &[(&str, Option<File>)]) -> Oid {
        let files = apply(&self.files, changes);
        let commit = self.commit(&files, &[self.main], &user(who), &user(who));
        self.advance(commit, files);
        commit
    }

    /// PR `number` by `author`, branched from `main`: one commit per `(who, changes)`, then
    /// merged as `merge` says, by admin.
    fn pr(&mut self, number: u64, author: &str, commits: &[(Who, Changes<'_>)], merge: Merge) -> Pr {
        let base = self.main;
        let mut files = self.files.clone();
        let mut made = Vec::new();
        let mut parent = base;
        for (who, changes) in commits {
            files = apply(&files, changes);
            parent = self.commit(&files, &[parent], who, who);
            made.push((parent, who.clone()));
        }
        let merge_commit = match merge {
            Merge::NoFf => self.commit(&files, &[base, parent], &user("admin"), &web_flow()),
            Merge::Squash => self.commit(&files, &[base], &user(author), &web_flow()),
        };
        let pr = Pr {
            number,
            author: author.into(),
            commits: made,
            base,
            merge: merge_commit,
            head_files: files.clone(),
            in_clone: merge == Merge::NoFf,
            reviews: Vec::new(),
        };
        self.advance(merge_commit, files);
        if merge == Merge::Squash {
            // The branch was deleted and never fetched: its commits are not in the clone.
            for (commit, _) in &pr.commits {
                let hex = commit.to_string();
                std::fs::remove_file(self.git.path().join("objects").join(&hex[..2]).join(&hex[2..])).unwrap();
            }
        }
        pr
    }

    /// PR `number` by `author`: one commit of `changes`, merged with a merge commit.
    fn simple_pr(&mut self, number: u64, author: &str, changes: &[(&str, Option<File>)]) -> Pr {
        self.pr(number, author, &[(user(author), changes)], Merge::NoFf)
    }

    /// GitHub knows `pr` (its merge, reviews, commits and, when not in the clone, its files).
    fn on_github(&mut self, pr: Pr) -> Pr {
        self.prs.push(pr.clone());
        pr
    }

    fn data(&self) -> PolicyData {
        data::load_dirs(&self.root.join("policies/data"), Some(&self.root.join(&self.waivers_dir)))
            .expect("the policy data loads")
    }

    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.root.join("policies/data"), self.root.join(&self.waivers_dir)]
    }

    /// The fake GitHub for this repository as it is now.
    fn github(&self) -> FakeGithub {
        let fake = FakeGithub::start(TOKEN);
        fake.catch_all(
            ResponseTemplate::new(418).set_body_json(json!({"message": "unexpected request"})),
            "catch-all: a request GitHub's API does not document, or one this test did not expect",
        );
        let merges: BTreeMap<Oid, &Pr> = self.prs.iter().map(|p| (p.merge, p)).collect();
        let mut commit = self.git.find_commit(self.main).unwrap();
        loop {
            let pulls = merges.get(&commit.id()).map_or(json!([]), |pr| json!([self.pr_json(pr)]));
            let path = format!("/repos/{REPO}/commits/{}/pulls", commit.id());
            fake.mount(fake.get(&path, &[]).respond_with(ok(pulls)));
            match commit.parent(0) {
                Ok(p) => commit = p,
                Err(_) => break,
            }
        }
        let page = [("per_page", "100"), ("page", "1")];
        for pr in &self.prs {
            let n = pr.number;
            let reviews = Value::Array(pr.reviews.clone());
            fake.mount(fake.get(&format!("/repos/{REPO}/pulls/{n}/reviews"), &page).respond_with(ok(reviews)));
            let mut parent = pr.base.to_string();
            let mut commits = Vec::new();
            for (oid, who) in &pr.commits {
                let sha = oid.to_string();
                let by = CommitBy { name: &who.name, email: &who.email, login: who.login.as_deref() };
                let tree = sha.clone(); // any id: k6gate does not read it
                commits.push(body::pr_commit(REPO, &sha, &tree, &[&parent], by, by, "2026-11-27T10:00:00Z"));
                parent = sha;
            }
            fake.mount(
                fake.get(&format!("/repos/{REPO}/pulls/{n}/commits"), &page).respond_with(ok(Value::Array(commits))),
            );
            if !pr.in_clone {
                let head = pr.head().to_string();
                for (path, file) in &pr.head_files {
                    let File::Text(t) = file else { continue };
                    let blob = Oid::hash_object(git2::ObjectType::Blob, t.as_bytes()).unwrap().to_string();
                    let content = body::content_file(REPO, path, &head, &blob, t.as_bytes());
                    let q = [("ref", head.as_str())];
                    fake.mount(fake.get(&format!("/repos/{REPO}/contents/{path}"), &q).respond_with(ok(content)));
                }
            }
        }
        fake
    }

    /// A merged PR as "List pull requests associated with a commit" returns it.
    fn pr_json(&self, pr: &Pr) -> Value {
        let n = pr.number;
        json!({
            "url": format!("https://api.github.com/repos/{REPO}/pulls/{n}"),
            "id": 1_000_000 + n,
            "node_id": format!("PR_kwDOshop{n}"),
            "html_url": format!("https://github.com/{REPO}/pull/{n}"),
            "number": n,
            "state": "closed",
            "locked": false,
            "title": format!("Policy data, PR {n}"),
            "user": body::user(&pr.author, pr.author.bytes().map(u64::from).sum(), "User"),
            "body": "Please review.",
            "labels": [],
            "created_at": "2026-11-27T08:00:00Z",
            "updated_at": "2026-11-28T12:00:00Z",
            "closed_at": "2026-11-28T12:00:00Z",
            "merged_at": "2026-11-28T12:00:00Z",
            "merge_commit_sha": pr.merge.to_string(),
            "assignees": [],
            "requested_reviewers": [],
            "draft": false,
            "head": {
                "label": format!("acme:{}/pr-{n}", pr.author),
                "ref": format!("{}/pr-{n}", pr.author),
                "sha": pr.head().to_string(),
            },
            "base": { "label": "acme:main", "ref": "main", "sha": pr.base.to_string() },
            "author_association": "MEMBER",
            "auto_merge": null,
        })
    }

    /// The approval check of the checked-out policy data against `fake`: the data with only
    /// the honoured overrides, and every decision.
    fn check(&self, fake: &FakeGithub) -> (PolicyData, Vec<Decision>) {
        let vars: Vec<(&str, String)> = vec![
            ("GITHUB_API_URL", fake.api_url()),
            ("GITHUB_REPOSITORY", REPO.into()),
            ("GITHUB_SHA", self.main.to_string()),
            ("GITHUB_TOKEN", TOKEN.into()),
            ("K6GATE_GITHUB_ATTEMPTS", "1".into()),
        ];
        let lookup = move |name: &str| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone());
        approval::apply_in(
            &self.data(),
            &Mode::Verify { default_branch: "main".into() },
            || Context::from_lookup(lookup),
            &self.root.join("policies"),
            &self.dirs(),
        )
    }
}

/// `files` with `changes` made (`None` deletes).
fn apply(files: &BTreeMap<String, File>, changes: &[(&str, Option<File>)]) -> BTreeMap<String, File> {
    let mut out = files.clone();
    for (path, file) in changes {
        match file {
            Some(f) => out.insert(path.to_string(), f.clone()),
            None => out.remove(*path),
        };
    }
    out
}

fn write(root: &Path, rel: &str, file: &File) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    match file {
        File::Text(t) => std::fs::write(&path, t).unwrap(),
        File::Link(to) => std::os::unix::fs::symlink(to, &path).unwrap(),
    }
}

fn short(oid: Oid) -> String {
    oid.to_string()[..7].to_string()
}

fn decision<'a>(decisions: &'a [Decision], id: &str) -> &'a Decision {
    decisions.iter().find(|d| d.subject.id == id).unwrap_or_else(|| panic!("no decision for {id}: {decisions:#?}"))
}

#[track_caller]
fn assert_honoured(decisions: &[Decision], id: &str, pr: u64) {
    let d = decision(decisions, id);
    assert!(d.honoured, "{id} must be honoured: {d:#?}");
    assert_eq!(d.provenance.as_ref().map(|p| p.pr), Some(pr), "{d:#?}");
}

#[track_caller]
fn assert_refused(decisions: &[Decision], id: &str, parts: &[&str]) {
    let d = decision(decisions, id);
    assert!(!d.honoured && d.provenance.is_none(), "{id} must not be honoured: {d:#?}");
    assert!(d.reason.starts_with(&format!("{} {id} ignored: ", d.subject.kind.label())), "{}", d.reason);
    for p in parts {
        assert!(d.reason.contains(p), "{:?} should contain {p:?}", d.reason);
    }
}

fn waiver_ids(data: &PolicyData) -> Vec<&str> {
    data.waivers.iter().map(|w| w.entry.id.as_str()).collect()
}

const CODEOWNERS: &str = "* @admin\n";
const APPROVERS: &str = "# Who may approve overrides.\napprovers: [perf-lead]\n";

// ---------------------------------------------------------------------------------------
// (a) Whole-file provenance.

#[test]
fn a_waiver_pushed_into_a_shared_file_is_not_credited_to_the_next_reviewed_pr() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let pr = world.simple_pr(1, "alice", &[(WAIVERS, waivers(&[w("W-1", 10)]))]).approved_by("perf-lead");
    world.on_github(pr);
    let pushed = world.push("eve", &[(WAIVERS, waivers(&[w("W-1", 10), w("W-66", 10)]))]);
    // A reviewed PR then touches the same file: the old check credited W-66 to it.
    let pr = world.simple_pr(2, "bob", &[(WAIVERS, waivers(&[w("W-1", 10), w("W-66", 10), w("W-2", 12)]))]);
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "W-1", 1);
    assert_honoured(&decisions, "W-2", 2);
    assert_refused(
        &decisions,
        "W-66",
        &[
            &format!("W-66 in {WAIVERS}: set by commit {} by eve", short(pushed)),
            "pushed directly to main without a pull request",
        ],
    );
    assert_eq!(waiver_ids(&verified), ["W-1", "W-2"]);
    fake.verify();
}

#[test]
fn a_waiver_merged_without_review_is_not_credited_to_the_next_reviewed_pr() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    // PR #3 is merged with no review at all (an admin's bypass).
    let unreviewed = world.simple_pr(3, "eve", &[(WAIVERS, waivers(&[w("W-77", 10)]))]);
    world.on_github(unreviewed.clone());
    let pr = world.simple_pr(4, "alice", &[(WAIVERS, waivers(&[w("W-77", 10), w("W-4", 10)]))]);
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "W-4", 4);
    assert_refused(
        &decisions,
        "W-77",
        &[&format!("set by {}, the merge of PR #3", short(unreviewed.merge)), "without an approving review"],
    );
    assert_eq!(waiver_ids(&verified), ["W-4"]);
}

#[test]
fn a_squash_merge_is_judged_by_the_entries_its_diff_carried() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let pushed = world.push("eve", &[(WAIVERS, waivers(&[w("W-66", 10)]))]);
    // Squash-merged, branch deleted: the PR's head is only on GitHub, read through the
    // contents API.
    let pr =
        world.pr(5, "alice", &[(user("alice"), &[(WAIVERS, waivers(&[w("W-66", 10), w("W-5", 10)]))])], Merge::Squash);
    let pr = world.on_github(pr.approved_by("perf-lead"));
    let clone = Repository::open(&world.root).unwrap();
    assert!(clone.find_commit(pr.head()).is_err(), "the PR's head is not in the clone");

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "W-5", 5);
    assert_eq!(decision(&decisions, "W-5").provenance.as_ref().unwrap().commit, pr.merge.to_string());
    assert_refused(&decisions, "W-66", &[&short(pushed), "by eve", "pushed directly to main"]);
    assert_eq!(waiver_ids(&verified), ["W-5"]);
    let contents = format!("GET /repos/{REPO}/contents/{WAIVERS}");
    assert_eq!(fake.calls().iter().filter(|c| **c == contents).count(), 1, "{:#?}", fake.calls());
    fake.verify();
}

#[test]
fn a_waiver_the_merge_added_outside_the_prs_diff_is_refused() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    // alice's PR adds W-6; whoever merged it locally slipped W-99 into the merge commit.
    let mut pr = world.simple_pr(6, "alice", &[(WAIVERS, waivers(&[w("W-6", 10)]))]);
    let files = apply(&world.files, &[(WAIVERS, waivers(&[w("W-6", 10), w("W-99", 10)]))]);
    let evil = world.commit(&files, &[pr.base, pr.head()], &user("eve"), &user("eve"));
    world.advance(evil, files);
    pr.merge = evil;
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "W-6", 6);
    assert_refused(
        &decisions,
        "W-99",
        &[&format!("set by {}, the merge of PR #6, but the PR's diff did not carry it", short(evil))],
    );
    assert_eq!(waiver_ids(&verified), ["W-6"]);
}

// ---------------------------------------------------------------------------------------
// (b) Symbolic links.

#[test]
fn a_symlinked_waiver_is_refused_whatever_it_points_to() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    // A reviewed waiver for another service, in its own directory.
    let reviewed = "approved/W-1.yaml";
    let pr = world.simple_pr(1, "alice", &[(reviewed, waivers(&[w("W-1", 10)]))]);
    world.on_github(pr.approved_by("perf-lead"));
    // A link to it in waivers/, even through a reviewed PR, is not a waiver file.
    let pr = world.simple_pr(2, "eve", &[("waivers/W-1.yaml", Some(File::Link("../approved/W-1.yaml".into())))]);
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_refused(&decisions, "W-1", &["waivers/W-1.yaml is a symbolic link", "only a regular file tracked by git"]);
    assert!(waiver_ids(&verified).is_empty());

    // The work tree holds a copy, but main's tree holds the link: still refused.
    std::fs::remove_file(world.root.join("waivers/W-1.yaml")).unwrap();
    write(&world.root, "waivers/W-1.yaml", &waivers(&[w("W-1", 10)]).unwrap());
    let (_, decisions) = world.check(&fake);
    assert_refused(&decisions, "W-1", &["waivers/W-1.yaml is a symbolic link on main"]);
}

#[test]
fn a_waiver_directory_that_is_a_link_is_refused() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let pr = world.simple_pr(1, "alice", &[("elsewhere/W-1.yaml", waivers(&[w("W-1", 10)]))]);
    world.on_github(pr.approved_by("perf-lead"));
    // Only on this branch: waivers/ is a link to a directory someone else's PR filled.
    std::os::unix::fs::symlink("elsewhere", world.root.join("waivers")).unwrap();

    let fake = world.github();
    let (_, decisions) = world.check(&fake);
    assert_refused(&decisions, "W-1", &["waivers is a symbolic link"]);
    assert!(fake.calls().is_empty(), "refused from the work tree alone: {:#?}", fake.calls());
}

// ---------------------------------------------------------------------------------------
// (c) CODEOWNERS over-matching.

#[test]
fn a_dir_star_code_owner_does_not_own_nested_waivers() {
    // perf-lead owns everything under waivers/; mallory only the files directly in it.
    let mut world = World::new("* @admin\n/waivers/ @perf-lead\n/waivers/* @mallory\n", "approvers: [carol]\n");
    world.waivers_dir = "waivers/checkout".into();
    let w7 = "waivers/checkout/W-7.yaml";
    let pr = world.simple_pr(7, "frank", &[(w7, waivers(&[w("W-7", 10)]))]);
    world.on_github(pr.approved_by("mallory"));
    let pr = world.simple_pr(8, "frank", &[("waivers/checkout/W-8.yaml", waivers(&[w("W-8", 10)]))]);
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_refused(
        &decisions,
        "W-7",
        &[&format!(
            "approved in PR #7 by mallory, who is not an allowed approver (policy data `approvers` or the CODEOWNERS of {w7}"
        )],
    );
    // The last matching line for the nested file is `/waivers/`: perf-lead owns it.
    assert_honoured(&decisions, "W-8", 8);
    assert_eq!(waiver_ids(&verified), ["W-8"]);
}

// ---------------------------------------------------------------------------------------
// (d) Approver lists changed without review.

#[test]
fn an_approver_list_changed_by_a_direct_push_names_no_approver() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let pushed = world.push("eve", &[("policies/data/approvers.yaml", text("approvers: [perf-lead, mallory]\n"))]);
    let pr = world.simple_pr(10, "frank", &[(WAIVERS, waivers(&[w("W-10", 10)]))]);
    world.on_github(pr.approved_by("mallory"));
    // Fail closed: the pushed list counts for nothing, not even for perf-lead, whom it kept.
    let pr = world.simple_pr(11, "frank", &[("waivers/W-11.yaml", waivers(&[w("W-11", 10)]))]);
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    let not_counted = format!(
        "not counted: the approvers in policies/data/approvers.yaml: set by commit {} by eve, pushed directly to main",
        short(pushed)
    );
    assert_refused(&decisions, "W-10", &["by mallory, who is not an allowed approver", &not_counted]);
    assert_refused(&decisions, "W-11", &["by perf-lead, who is not an allowed approver", &not_counted]);
    assert!(waiver_ids(&verified).is_empty());
}

#[test]
fn codeowners_changed_by_a_direct_push_names_no_owner() {
    let mut world = World::new("* @admin\n/waivers/ @perf-lead\n", "approvers: [carol]\n");
    let pushed = world.push("eve", &[(".github/CODEOWNERS", text("* @admin\n/waivers/ @perf-lead @mallory\n"))]);
    let pr = world.simple_pr(12, "frank", &[("waivers/W-12.yaml", waivers(&[w("W-12", 10)]))]);
    world.on_github(pr.approved_by("mallory"));

    let fake = world.github();
    let (_, decisions) = world.check(&fake);
    assert_refused(
        &decisions,
        "W-12",
        &[
            "by mallory, who is not an allowed approver",
            &format!("the code owners in .github/CODEOWNERS: set by commit {} by eve", short(pushed)),
        ],
    );
}

#[test]
fn an_approver_list_changed_through_review_names_approvers() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    // carol joins the approvers through a PR perf-lead (already an approver) approves.
    let pr = world.simple_pr(13, "alice", &[("policies/data/approvers.yaml", text("approvers: [perf-lead, carol]\n"))]);
    world.on_github(pr.approved_by("perf-lead"));
    // dave joins through a PR approved by dave's friend, who is no approver: dave does not count.
    let pr = world.simple_pr(14, "dave", &[("policies/data/team.yaml", text("approvers: [dave]\n"))]);
    world.on_github(pr.approved_by("friend"));
    let pr = world.simple_pr(15, "frank", &[("waivers/W-15.yaml", waivers(&[w("W-15", 10)]))]);
    world.on_github(pr.approved_by("carol"));
    let pr = world.simple_pr(16, "frank", &[("waivers/W-16.yaml", waivers(&[w("W-16", 10)]))]);
    world.on_github(pr.approved_by("dave"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "W-15", 15);
    assert_refused(
        &decisions,
        "W-16",
        &["by dave, who is not an allowed approver", "the approvers in policies/data/team.yaml", "friend"],
    );
    assert_eq!(waiver_ids(&verified), ["W-15"]);
}

// ---------------------------------------------------------------------------------------
// (e) Approving your own content.

#[test]
fn an_approver_who_pushed_the_waiver_onto_the_pr_is_not_independent() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    // alice opens PR #20 with W-21; perf-lead pushes W-20 onto it, as "P. Lead" with a work
    // address (GitHub still knows the account), then approves the PR.
    let plead = Who { name: "P. Lead".into(), email: "plead@acme.example".into(), login: Some("perf-lead".into()) };
    let one = waivers(&[w("W-21", 10)]);
    let two = waivers(&[w("W-21", 10), w("W-20", 10)]);
    let pr = world.pr(20, "alice", &[(user("alice"), &[(WAIVERS, one)]), (plead, &[(WAIVERS, two)])], Merge::NoFf);
    let pr = world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_refused(
        &decisions,
        "W-20",
        &[&format!(
            "perf-lead approved PR #20 but made its commit {}, which changed W-20 in {WAIVERS}: not an independent approval",
            short(pr.commits[1].0)
        )],
    );
    // Only alice changed W-21: perf-lead reviewed it independently.
    assert_honoured(&decisions, "W-21", 20);
    assert_eq!(waiver_ids(&verified), ["W-21"]);
}

#[test]
fn a_git_identity_alone_marks_the_author_when_github_matched_no_account() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let unmatched = Who { name: "perf-lead".into(), email: "perf-lead@laptop.local".into(), login: None };
    let pr = world.pr(22, "alice", &[(unmatched, &[(WAIVERS, waivers(&[w("W-22", 10)]))])], Merge::NoFf);
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (_, decisions) = world.check(&fake);
    assert_refused(
        &decisions,
        "W-22",
        &["perf-lead approved PR #22 but made its commit", "not an independent approval"],
    );
}

// ---------------------------------------------------------------------------------------
// Reviewed entries still count.

#[test]
fn a_direct_push_refuses_only_the_entry_it_changed() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let pr = world.simple_pr(30, "alice", &[(WAIVERS, waivers(&[w("W-30", 10), w("W-31", 10)]))]);
    let pr = world.on_github(pr.approved_by("perf-lead"));
    // eve reformats W-30 and comments on it: the same entry, so not a change of it.
    let reformatted = format!(
        "waivers:\n  # reviewed in PR #30\n  - {{id: W-30, test: checkout, metric: p95_ms, version: v1.1.0, justification: known slow path until v1.1.1, requested_by: alice, approved_by: perf-lead, created: '2026-11-20T00:00:00Z', expires: '2026-12-10T00:00:00Z'}}\n{}",
        w("W-31", 10)
    );
    world.push("eve", &[(WAIVERS, text(&reformatted))]);
    let before = world.data();
    // Then eve extends W-31 by ten days.
    let extended = reformatted.replace(&w("W-31", 10), &w("W-31", 20));
    let pushed = world.push("eve", &[(WAIVERS, text(&extended))]);
    assert_ne!(world.data().waivers[1].entry.expires, before.waivers[1].entry.expires);

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "W-30", 30);
    let p = decision(&decisions, "W-30").provenance.clone().unwrap();
    assert_eq!((p.commit, p.approved_by), (pr.merge.to_string(), vec!["perf-lead".to_string()]));
    assert_eq!(decision(&decisions, "W-30").reason, "waiver W-30: merged in PR #30 by alice, approved by perf-lead");
    assert_refused(
        &decisions,
        "W-31",
        &[&format!("W-31 in {WAIVERS}: set by commit {} by eve, pushed directly to main", short(pushed))],
    );
    assert_eq!(waiver_ids(&verified), ["W-30"]);
}

#[test]
fn every_change_of_an_entry_must_be_reviewed_and_then_each_counts() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let pr = world.simple_pr(40, "alice", &[(WAIVERS, waivers(&[w("W-40", 10)]))]);
    world.on_github(pr.approved_by("perf-lead"));
    let pr = world.simple_pr(41, "bob", &[(WAIVERS, waivers(&[w("W-40", 15)]))]);
    world.on_github(pr.approved_by("perf-lead"));
    // W-41 was pushed directly, then changed through a reviewed PR: its scope was never reviewed.
    let pushed = world.push("eve", &[("waivers/W-41.yaml", waivers(&[w("W-41", 10)]))]);
    let pr = world.simple_pr(42, "bob", &[("waivers/W-41.yaml", waivers(&[w("W-41", 12)]))]);
    world.on_github(pr.approved_by("perf-lead"));

    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "W-40", 41);
    assert_eq!(decision(&decisions, "W-40").provenance.as_ref().unwrap().earlier_prs, [40]);
    assert_eq!(
        decision(&decisions, "W-40").reason,
        "waiver W-40: merged in PR #41 by bob, approved by perf-lead; earlier changes reviewed in PR #40"
    );
    assert_refused(&decisions, "W-41", &[&format!("set by commit {} by eve", short(pushed))]);
    assert_eq!(waiver_ids(&verified), ["W-40"]);
}

#[test]
fn a_reviewed_window_in_a_shared_file_counts_and_an_api_error_refuses() {
    let mut world = World::new(CODEOWNERS, APPROVERS);
    let window = "migration_windows:\n  - id: MW-50\n    test: checkout\n    metrics: [p99_ms]\n    extra_regression: 0.25\n    owner: team-payments\n    reason: moving the cart\n    start: 2026-11-26T00:00:00Z\n    expires: 2026-12-15T00:00:00Z\n";
    let pr = world.simple_pr(50, "grace", &[("policies/data/windows.yaml", text(window))]);
    world.on_github(pr.approved_by("perf-lead"));
    let fake = world.github();
    let (verified, decisions) = world.check(&fake);
    assert_honoured(&decisions, "MW-50", 50);
    assert_eq!(verified.windows.len(), 1);

    // The PR's commits cannot be read: the approver's independence is unknown, so no.
    let fake = world.github();
    fake.mount(
        fake.get(&format!("/repos/{REPO}/pulls/50/commits"), &[("per_page", "100"), ("page", "1")])
            .respond_with(error(403, "Resource not accessible by integration", "https://docs.github.com/rest"))
            .with_priority(1),
    );
    let (_, decisions) = world.check(&fake);
    let d = decision(&decisions, "MW-50");
    assert!(!d.honoured, "{d:#?}");
    assert!(d.reason.starts_with("migration window MW-50 ignored: cannot verify with the GitHub API"), "{}", d.reason);
    assert!(d.reason.contains("/pulls/50/commits") && d.reason.contains("HTTP 403"), "{}", d.reason);
    assert!(!d.reason.contains(TOKEN));
}
