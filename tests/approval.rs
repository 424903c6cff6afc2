//! Waivers and migration windows count only as reviewed acts (src/github/approval.rs), and
//! `k6gate audit` tells their history (src/github/audit.rs).
//!
//! Every test builds a real git repository with the `git` CLI (deterministic names and dates,
//! PRs merged with `--no-ff` exactly as GitHub's "Create a merge commit" does) and a fake
//! GitHub REST API (wiremock) that answers only requests with the exact method, path, query
//! and headers k6gate must send; anything else hits a catch-all that fails the test.
//!
//! The repository, as of `NOW` (2026-12-01), for a `checkout` run in `staging` of v1.1.0:
//!
//! | file               | how it reached main                                   | expected            |
//! |--------------------|-------------------------------------------------------|---------------------|
//! | waivers/W-1.yaml   | PR #1 by alice, approved by perf-lead at its head     | honoured, waives    |
//! | waivers/W-2.yaml   | pushed directly to main by eve                        | ignored (no PR)     |
//! | waivers/W-3.yaml   | PR #3 by bob, approved by bob only                    | ignored (own author)|
//! | waivers/W-4.yaml   | PR #4 by carol, approved at A, edited in B, merged    | ignored (changed)   |
//! | waivers/W-5.yaml   | PR #5 by dan, approved; expired 2026-10-20            | Rego: expired       |
//! | waivers/W-6.yaml   | PR #6 by erin, approved; for the `search` test        | out of scope        |
//! | waivers/W-7.yaml   | PR #7 by frank, approved by mallory (not a member)    | ignored (approver)  |
//! | waivers/MW-1.yaml  | PR #8 by grace, approved by dave (team member)        | honoured, allows    |
//! | waivers/W-8.yaml   | PR #9 by heidi, approved by ivan, whom it adds to the | ignored (approver)  |
//! |                    | approvers in the same PR                              |                     |
//!
//! Allowed approvers: `approvers: [perf-lead, bob]` in policies/data/approvers.yaml, and the
//! CODEOWNERS of `waivers/` (perf-lead and the team acme/perf-reviewers, of which dave is an
//! active member). bob is an allowed approver, so W-3 is refused for being approved by its
//! author and for nothing else.

use crate::support::cli::{K6gate, Ran};
use crate::support::fake_github::FakeGithub;
use crate::support::fake_github::body::{self, CommitBy};
use crate::support::mock_http;
use crate::support::verdicts;

use std::collections::BTreeMap;
use std::ops::Deref;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::{MockBuilder, Request, ResponseTemplate};

use k6gate::compare::{Comparison, Metric};
use k6gate::github::actions::Context;
use k6gate::github::api::{Api, ApiConfig, Token};
use k6gate::github::approval::{self, Decision, Kind, Mode, Verifier};
use k6gate::policy::data::{self, PolicyData};
use k6gate::policy::engine::Policies;
use k6gate::policy::verdict::{Approver, Request as VerdictRequest, Status, Verdict, evaluate};
use verdicts::{NOW, SHIPPED, metric};

const TOKEN: &str = "ghs_k6gateFakeToken0123456789";
const REPO: &str = "/repos/acme/shop";

// ---------------------------------------------------------------------------------------
// The git fixture.

/// Runs `git` in `dir` as `who` at `date` (author and committer), isolated from any user
/// or system configuration.
fn git(dir: &Path, who: &str, date: &str, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .args(["-c", &format!("user.name={who}"), "-c", &format!("user.email={who}@users.noreply.github.com")])
        .args(["-c", "commit.gpgsign=false", "-c", "core.autocrlf=false"])
        .args(args)
        .output()
        .expect("git runs");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn head(root: &Path) -> String {
    git(root, "nobody", NOW, &["rev-parse", "HEAD"])
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

#[derive(Debug, Clone)]
struct Pr {
    number: u64,
    author: &'static str,
    /// The PR branch's commits, oldest first.
    commits: Vec<String>,
    /// The merge commit on main.
    merge: String,
    /// main before the merge.
    base: String,
    merged_at: String,
    file: String,
}

impl Pr {
    fn head(&self) -> &str {
        self.commits.last().unwrap()
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    /// The initial commit (SLAs, budgets, approvers, CODEOWNERS), pushed directly.
    initial: String,
    /// W-2, pushed directly to main.
    direct: String,
    prs: BTreeMap<u64, Pr>,
}

impl Fixture {
    fn pr(&self, n: u64) -> &Pr {
        &self.prs[&n]
    }
    fn data_dir(&self) -> PathBuf {
        self.root.join("policies/data")
    }
    fn waivers_dir(&self) -> PathBuf {
        self.root.join("waivers")
    }
    fn dirs(&self) -> Vec<PathBuf> {
        vec![self.data_dir(), self.waivers_dir()]
    }
    fn load(&self) -> PolicyData {
        data::load_dirs(&self.data_dir(), Some(&self.waivers_dir())).expect("fixture policy data loads")
    }
    fn tip(&self) -> String {
        git(&self.root, "nobody", NOW, &["rev-parse", "main"])
    }
}

fn waiver(
    id: &str,
    test: &str,
    env: Option<&str>,
    requested_by: &str,
    approved_by: &str,
    created: &str,
    expires: &str,
) -> String {
    let env = env.map(|e| format!("    environment: {e}\n")).unwrap_or_default();
    format!(
        "# {id}: a one-off override, added by a reviewed PR\nwaivers:\n  - id: {id}\n    test: {test}\n{env}    metric: p95_ms\n    version: v1.1.0\n    justification: known slow path until the cache fix in v1.1.1\n    requested_by: {requested_by}\n    approved_by: {approved_by}\n    created: {created}\n    expires: {expires}\n"
    )
}

const WINDOW: &str = "migration_windows:
  - id: MW-1
    test: checkout
    environments: [staging]
    metrics: [p99_ms]
    extra_regression: 0.25
    owner: team-payments
    reason: moving the cart to the new database
    start: 2026-11-26T00:00:00Z
    expires: 2026-12-15T00:00:00Z
    baseline_version: v1.0.0
";

/// Branch from main, commit each `(content, date)` of `file` as `author` (the first commit
/// also writes `also`), and merge with `--no-ff` as perf-lead at `merged_at`, the way GitHub's
/// merge button does.
fn merge_pr(
    root: &Path,
    number: u64,
    author: &'static str,
    file: &str,
    versions: &[(&str, &str)],
    also: &[(&str, &str)],
    merged_at: &str,
) -> Pr {
    let branch = format!("{author}/pr-{number}");
    let base = head(root);
    git(root, author, versions[0].1, &["checkout", "-q", "-b", &branch, "main"]);
    let mut commits = Vec::new();
    for (i, (content, date)) in versions.iter().enumerate() {
        write(root, file, content);
        git(root, author, date, &["add", file]);
        for (other, text) in also.iter().filter(|_| i == 0) {
            write(root, other, text);
            git(root, author, date, &["add", other]);
        }
        let msg = if i == 0 { format!("Add {file}") } else { format!("Update {file}") };
        git(root, author, date, &["commit", "-q", "-m", &msg]);
        commits.push(head(root));
    }
    git(root, "perf-lead", merged_at, &["checkout", "-q", "main"]);
    let msg = format!("Merge pull request #{number} from acme/{branch}\n\n{file}");
    git(root, "perf-lead", merged_at, &["merge", "-q", "--no-ff", &branch, "-m", &msg]);
    Pr { number, author, commits, merge: head(root), base, merged_at: merged_at.to_string(), file: file.to_string() }
}

/// The repository described at the top of this file.
fn fixture() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().canonicalize().unwrap().join("shop");
    std::fs::create_dir(&root).unwrap();
    git(&root, "admin", "2026-09-01T09:00:00Z", &["init", "-q", "-b", "main"]);
    for name in ["slas.yaml", "budgets.yaml"] {
        let text = std::fs::read_to_string(Path::new(SHIPPED).join("data").join(name)).unwrap();
        write(&root, &format!("policies/data/{name}"), &text);
    }
    write(
        &root,
        "policies/data/approvers.yaml",
        "# Who may approve waiver and window PRs.\napprovers: [perf-lead, bob]\n",
    );
    write(&root, ".github/CODEOWNERS", "* @acme/platform\n/waivers/ @perf-lead @acme/perf-reviewers\n");
    write(&root, "README.md", "# shop\n");
    git(&root, "admin", "2026-09-01T09:00:00Z", &["add", "-A"]);
    git(&root, "admin", "2026-09-01T09:00:00Z", &["commit", "-q", "-m", "Policies for the shop"]);
    let initial = head(&root);

    let mut prs = BTreeMap::new();
    let mut add = |pr: Pr| {
        prs.insert(pr.number, pr);
    };
    let w5 = waiver("W-5", "checkout", None, "dan", "perf-lead", "2026-10-01T00:00:00Z", "2026-10-20T00:00:00Z");
    add(merge_pr(&root, 5, "dan", "waivers/W-5.yaml", &[(&w5, "2026-10-01T10:00:00Z")], &[], "2026-10-01T12:00:00Z"));
    let w1 = waiver(
        "W-1",
        "checkout",
        Some("staging"),
        "alice",
        "perf-lead",
        "2026-11-20T00:00:00Z",
        "2026-12-10T00:00:00Z",
    );
    add(merge_pr(&root, 1, "alice", "waivers/W-1.yaml", &[(&w1, "2026-11-20T10:00:00Z")], &[], "2026-11-20T12:00:00Z"));

    let w2 = waiver("W-2", "checkout", None, "eve", "perf-lead", "2026-11-21T00:00:00Z", "2026-12-10T00:00:00Z");
    write(&root, "waivers/W-2.yaml", &w2);
    git(&root, "eve", "2026-11-21T09:00:00Z", &["add", "waivers/W-2.yaml"]);
    git(&root, "eve", "2026-11-21T09:00:00Z", &["commit", "-q", "-m", "Waive p95 for v1.1.0 (hotfix)"]);
    let direct = head(&root);

    // The YAML claims perf-lead approved; the PR says otherwise.
    let w3 = waiver("W-3", "checkout", None, "bob", "perf-lead", "2026-11-22T00:00:00Z", "2026-12-10T00:00:00Z");
    add(merge_pr(&root, 3, "bob", "waivers/W-3.yaml", &[(&w3, "2026-11-22T10:00:00Z")], &[], "2026-11-22T12:00:00Z"));
    let w4a = waiver("W-4", "checkout", None, "carol", "perf-lead", "2026-11-23T00:00:00Z", "2026-11-30T00:00:00Z");
    let w4b = waiver("W-4", "checkout", None, "carol", "perf-lead", "2026-11-23T00:00:00Z", "2026-12-20T00:00:00Z");
    add(merge_pr(
        &root,
        4,
        "carol",
        "waivers/W-4.yaml",
        &[(&w4a, "2026-11-23T10:00:00Z"), (&w4b, "2026-11-23T11:00:00Z")],
        &[],
        "2026-11-23T12:00:00Z",
    ));
    let w6 = waiver("W-6", "search", None, "erin", "perf-lead", "2026-11-24T00:00:00Z", "2026-12-10T00:00:00Z");
    add(merge_pr(&root, 6, "erin", "waivers/W-6.yaml", &[(&w6, "2026-11-24T10:00:00Z")], &[], "2026-11-24T12:00:00Z"));
    let w7 = waiver("W-7", "checkout", None, "frank", "perf-lead", "2026-11-25T00:00:00Z", "2026-12-10T00:00:00Z");
    add(merge_pr(&root, 7, "frank", "waivers/W-7.yaml", &[(&w7, "2026-11-25T10:00:00Z")], &[], "2026-11-25T12:00:00Z"));
    add(merge_pr(
        &root,
        8,
        "grace",
        "waivers/MW-1.yaml",
        &[(WINDOW, "2026-11-26T10:00:00Z")],
        &[],
        "2026-11-26T12:00:00Z",
    ));
    // heidi's PR names its own approver: ivan is added to the approvers by the same PR.
    let w8 = waiver("W-8", "checkout", None, "heidi", "ivan", "2026-11-27T00:00:00Z", "2026-12-10T00:00:00Z");
    let approvers = "# Who may approve waiver and window PRs.\napprovers: [perf-lead, bob, ivan]\n";
    add(merge_pr(
        &root,
        9,
        "heidi",
        "waivers/W-8.yaml",
        &[(&w8, "2026-11-27T10:00:00Z")],
        &[("policies/data/approvers.yaml", approvers)],
        "2026-11-27T12:00:00Z",
    ));
    Fixture { _tmp: tmp, root, initial, direct, prs }
}

// ---------------------------------------------------------------------------------------
// The fake GitHub API.

/// Exactly one value for each header GitHub's REST API documents for a request.
fn github_headers(r: &Request) -> bool {
    let one = |name: &str, want: &str| {
        let values: Vec<_> = r.headers.get_all(name).iter().collect();
        values.len() == 1 && values[0].as_bytes() == want.as_bytes()
    };
    one("authorization", &format!("Bearer {TOKEN}"))
        && one("accept", "application/vnd.github+json")
        && one("x-github-api-version", "2022-11-28")
}

/// The shared fake GitHub ([`FakeGithub`], on the one HTTP fake), with this file's stricter
/// GET: the query exactly as written, and each required header exactly once. `mount`, `uri`
/// and `verify` (the catch-all is verified at drop too) are [`MockHttp`]'s.
struct Fake(FakeGithub);

impl Deref for Fake {
    type Target = FakeGithub;

    fn deref(&self) -> &FakeGithub {
        &self.0
    }
}

impl Fake {
    fn start() -> Fake {
        let fake = Fake(FakeGithub::start(TOKEN));
        // Whatever no other mock matches (another path, a missing or wrong header, a query
        // that is not the documented pagination) is a test failure.
        fake.catch_all(
            ResponseTemplate::new(418).set_body_json(json!({"message": "unexpected request"})),
            "catch-all: a request with an unexpected method, path, query or headers",
        );
        fake
    }

    /// A GET of exactly `path` with exactly `query` and GitHub's headers.
    fn get(&self, p: &str, query: Option<&str>) -> MockBuilder {
        let query = query.map(str::to_string);
        self.0.request("GET", p).and(move |r: &Request| r.url.query() == query.as_deref()).and(github_headers)
    }

    /// Every request received, as `GET /path?query`, in order.
    fn calls(&self) -> Vec<String> {
        let call = |r: &mock_http::Received| {
            let q = r.query.as_ref().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{} {}{q}", r.method, r.path)
        };
        self.received().iter().map(call).collect()
    }

    /// `GET /repos/acme/shop/commits/{sha}/pulls`: "List pull requests associated with a commit".
    fn pulls(&self, sha: &str, body: Value) {
        self.mount(self.get(&format!("{REPO}/commits/{sha}/pulls"), None).respond_with(ok(body)));
    }

    /// `GET /repos/acme/shop/pulls/{n}/reviews?per_page=100&page=1`.
    fn reviews(&self, n: u64, response: ResponseTemplate) {
        self.mount(self.get(&format!("{REPO}/pulls/{n}/reviews"), Some("per_page=100&page=1")).respond_with(response));
    }

    /// `GET /repos/acme/shop/pulls/{n}/commits?per_page=100&page=1`: "List commits on a pull request".
    fn pr_commits(&self, n: u64, body: Value) {
        self.mount(self.get(&format!("{REPO}/pulls/{n}/commits"), Some("per_page=100&page=1")).respond_with(ok(body)));
    }

    /// `GET /orgs/acme/teams/perf-reviewers/memberships/{login}`.
    fn membership(&self, login: &str, response: ResponseTemplate) {
        self.mount(
            self.get(&format!("/orgs/acme/teams/perf-reviewers/memberships/{login}"), None).respond_with(response),
        );
    }
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).insert_header("content-type", "application/json; charset=utf-8").set_body_json(body)
}

/// A `simple-user`, with every field the schema requires.
fn user(login: &str) -> Value {
    let id = login.bytes().map(u64::from).sum::<u64>();
    let api = |tail: &str| format!("https://api.github.com/users/{login}{tail}");
    json!({
        "login": login, "id": id, "node_id": format!("U_{login}"), "type": "User", "site_admin": false,
        "html_url": format!("https://github.com/{login}"),
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api(""),
        "followers_url": api("/followers"),
        "following_url": api("/following{/other_user}"),
        "gists_url": api("/gists{/gist_id}"),
        "starred_url": api("/starred{/owner}{/repo}"),
        "subscriptions_url": api("/subscriptions"),
        "organizations_url": api("/orgs"),
        "repos_url": api("/repos"),
        "events_url": api("/events{/privacy}"),
        "received_events_url": api("/received_events"),
    })
}

/// A closed, merged PR as "List pull requests associated with a commit" returns it.
fn pr_json(pr: &Pr) -> Value {
    let n = pr.number;
    json!({
        "url": format!("https://api.github.com/repos/acme/shop/pulls/{n}"),
        "id": 1_000_000 + n,
        "node_id": format!("PR_kwDOshop{n}"),
        "html_url": format!("https://github.com/acme/shop/pull/{n}"),
        "number": n,
        "state": "closed",
        "locked": false,
        "title": format!("Add {}", pr.file),
        "user": user(pr.author),
        "body": "Please review.",
        "labels": [],
        "created_at": "2026-09-30T08:00:00Z",
        "updated_at": pr.merged_at,
        "closed_at": pr.merged_at,
        "merged_at": pr.merged_at,
        "merge_commit_sha": pr.merge,
        "assignees": [],
        "requested_reviewers": [],
        "draft": false,
        "head": {
            "label": format!("acme:{}/pr-{n}", pr.author),
            "ref": format!("{}/pr-{n}", pr.author),
            "sha": pr.head(),
            "user": user("acme"),
        },
        "base": {"label": "acme:main", "ref": "main", "sha": pr.base, "user": user("acme")},
        "author_association": "MEMBER",
        "auto_merge": null,
    })
}

/// One entry of "List reviews for a pull request".
fn review(pr: &Pr, id: u64, login: &str, state: &str, commit: &str) -> Value {
    let n = pr.number;
    json!({
        "id": id,
        "node_id": format!("PRR_kwDOshop{id}"),
        "user": user(login),
        "body": if state == "APPROVED" { "LGTM" } else { "Why is this needed?" },
        "state": state,
        "html_url": format!("https://github.com/acme/shop/pull/{n}#pullrequestreview-{id}"),
        "pull_request_url": format!("https://api.github.com/repos/acme/shop/pulls/{n}"),
        "author_association": "MEMBER",
        "_links": {
            "html": {"href": format!("https://github.com/acme/shop/pull/{n}#pullrequestreview-{id}")},
            "pull_request": {"href": format!("https://api.github.com/repos/acme/shop/pulls/{n}")},
        },
        "submitted_at": pr.merged_at,
        "commit_id": commit,
    })
}

/// The reviews of each PR of the fixture.
fn reviews_of(pr: &Pr) -> Value {
    let h = pr.head();
    let reviews = match pr.number {
        1 => vec![review(pr, 101, "bob", "COMMENTED", h), review(pr, 102, "perf-lead", "APPROVED", h)],
        3 => vec![review(pr, 301, "bob", "APPROVED", h)],
        // Approved at the first commit; the second changed the waiver.
        4 => vec![review(pr, 401, "perf-lead", "APPROVED", &pr.commits[0])],
        5 | 6 => vec![review(pr, pr.number * 100 + 1, "perf-lead", "APPROVED", h)],
        7 => vec![review(pr, 701, "mallory", "APPROVED", h)],
        8 => vec![review(pr, 801, "dave", "APPROVED", h)],
        9 => vec![review(pr, 901, "ivan", "APPROVED", h)],
        n => panic!("no reviews for PR #{n}"),
    };
    Value::Array(reviews)
}

/// The commits of a PR as GitHub lists them: all by its author, as the fixture made them.
fn commits_of(fx: &Fixture, pr: &Pr) -> Value {
    let email = format!("{}@users.noreply.github.com", pr.author);
    let by = CommitBy::user(pr.author, &email);
    let mut parent = pr.base.clone();
    let mut commits = Vec::new();
    for sha in &pr.commits {
        let tree = git(&fx.root, "nobody", NOW, &["rev-parse", &format!("{sha}^{{tree}}")]);
        commits.push(body::pr_commit("acme/shop", sha, &tree, &[&parent], by, by, &pr.merged_at));
        parent = sha.clone();
    }
    Value::Array(commits)
}

/// GitHub as it knows the fixture: every commit on main that changed policy data, the
/// reviews and commits of each PR, and the perf-reviewers team (dave is in it, mallory is not).
fn github_for(fx: &Fixture, fake: &Fake) {
    fake.pulls(&fx.initial, json!([]));
    fake.pulls(&fx.direct, json!([]));
    for pr in fx.prs.values() {
        fake.pulls(&pr.merge, json!([pr_json(pr)]));
        fake.reviews(pr.number, ok(reviews_of(pr)));
        fake.pr_commits(pr.number, commits_of(fx, pr));
    }
    fake.membership(
        "dave",
        ok(json!({
            "url": "https://api.github.com/organizations/1/team/2/memberships/dave",
            "role": "member",
            "state": "active",
        })),
    );
    for login in ["mallory", "ivan"] {
        fake.membership(
            login,
            ResponseTemplate::new(404).set_body_json(json!({
                "message": "Not Found",
                "documentation_url": "https://docs.github.com/rest/teams/members#get-team-membership-for-a-user",
                "status": "404",
            })),
        );
    }
}

/// The fixture, and a fake GitHub that knows it ([`github_for`]).
fn fixture_on_github() -> (Fixture, Fake) {
    let fx = fixture();
    let fake = Fake::start();
    github_for(&fx, &fake);
    (fx, fake)
}

fn vars(fake: &Fake, fx: &Fixture, token: bool) -> impl Fn(&str) -> Option<String> + use<> {
    let mut v: Vec<(&'static str, String)> = vec![
        ("GITHUB_API_URL", fake.uri()),
        ("GITHUB_SERVER_URL", "https://github.com".into()),
        ("GITHUB_REPOSITORY", "acme/shop".into()),
        ("GITHUB_SHA", fx.tip()),
    ];
    if token {
        v.push(("GITHUB_TOKEN", TOKEN.into()));
    }
    move |name| v.iter().find(|(k, _)| *k == name).map(|(_, val)| val.clone())
}

fn verify_mode() -> Mode {
    Mode::Verify { default_branch: "main".into() }
}

/// `data` after the approval checks of the fixture's checkout against `fake`, with or
/// without a token, and every decision.
fn apply(fx: &Fixture, fake: &Fake, data: &PolicyData, token: bool) -> (PolicyData, Vec<Decision>) {
    approval::apply_in(
        data,
        &verify_mode(),
        || Context::from_lookup(vars(fake, fx, token)),
        &fx.root.join("policies"),
        &fx.dirs(),
    )
}

fn decision<'a>(decisions: &'a [Decision], id: &str) -> &'a Decision {
    decisions.iter().find(|d| d.subject.id == id).unwrap_or_else(|| panic!("no decision for {id}: {decisions:#?}"))
}

fn ids(data: &PolicyData, key: &str) -> Vec<String> {
    match key {
        "waivers" => data.waivers.iter().map(|w| w.entry.id.clone()).collect(),
        "migration_windows" => data.windows.iter().map(|w| w.entry.id.clone()).collect(),
        other => panic!("no list {other} in policy data"),
    }
}

#[track_caller]
fn assert_refused(d: &Decision, parts: &[&str]) {
    assert!(!d.honoured, "{} must not be honoured: {d:#?}", d.subject.id);
    assert!(d.provenance.is_none(), "{d:#?}");
    let start = format!("{} {} ignored: ", d.subject.kind.label(), d.subject.id);
    assert!(d.reason.starts_with(&start), "{:?} should start with {start:?}", d.reason);
    for p in parts {
        assert!(d.reason.contains(p), "{:?} should contain {p:?}", d.reason);
    }
    assert!(!d.reason.contains(TOKEN), "the token leaked: {}", d.reason);
}

// ---------------------------------------------------------------------------------------
// The verdict.

/// v1.0.0 -> v1.1.0 in staging: p95 +30 % (budget 10 %, significant), p99 +15 % (inside
/// MW-1's extra 25 %), error rate unchanged; the previous run for MW-1's ratchet is as good.
fn evaluate_for(data: &PolicyData, test: &str) -> Verdict {
    let policies = Policies::load(Path::new(SHIPPED)).unwrap();
    let comparison = verdicts::comparison(
        test,
        "staging",
        vec![
            metric(Metric::P95Ms, 100.0, 130.0, 0.0001, (0.25, 0.35)),
            metric(Metric::P99Ms, 200.0, 230.0, 0.0001, (0.12, 0.18)),
            metric(Metric::ErrorRate, 0.001, 0.001, 0.9, (-0.001, 0.001)),
        ],
    );
    // The previous run: v1.1.0 too.
    let previous = Comparison {
        baseline: comparison.candidate.clone(),
        metrics: vec![metric(Metric::P99Ms, 229.0, 230.0, 0.8, (-0.02, 0.03))],
        ..comparison.clone()
    };
    let req = VerdictRequest { previous: Some(&previous), ..verdicts::request(test, "staging", &comparison) };
    evaluate(&policies, data, &req).unwrap()
}

fn exceptions(v: &Verdict) -> Vec<(String, String, String)> {
    let mut e: Vec<_> = v.exceptions.iter().map(|e| (e.kind.to_string(), e.result.clone(), e.by.clone())).collect();
    e.sort();
    e
}

fn ex(kind: &str, result: &str, by: &str) -> (String, String, String) {
    (kind.into(), result.into(), by.into())
}

// ---------------------------------------------------------------------------------------
// Library level.

#[test]
fn only_the_reviewed_waiver_is_honoured_and_it_alone_waives() {
    let (fx, fake) = fixture_on_github();
    let data = fx.load();
    assert_eq!(ids(&data, "waivers"), ["W-1", "W-2", "W-3", "W-4", "W-5", "W-6", "W-7", "W-8"]);
    assert_eq!(ids(&data, "migration_windows"), ["MW-1"]);

    let (verified, decisions) = apply(&fx, &fake, &data, true);

    let order: Vec<(&str, Kind)> = decisions.iter().map(|d| (d.subject.id.as_str(), d.subject.kind)).collect();
    assert_eq!(
        order,
        [
            ("W-1", Kind::Waiver),
            ("W-2", Kind::Waiver),
            ("W-3", Kind::Waiver),
            ("W-4", Kind::Waiver),
            ("W-5", Kind::Waiver),
            ("W-6", Kind::Waiver),
            ("W-7", Kind::Waiver),
            ("W-8", Kind::Waiver),
            ("MW-1", Kind::MigrationWindow),
        ]
    );
    for d in &decisions {
        assert_eq!(d.subject.file, fx.root.join(format!("waivers/{}.yaml", d.subject.id)).display().to_string());
        assert!(d.subject.line >= 2, "{d:?}");
    }

    // W-1: merged in PR #1, approved by perf-lead (an approver from policy data and a code
    // owner) at the PR's head, which has the merged content.
    let w1 = decision(&decisions, "W-1");
    assert!(w1.honoured, "{w1:#?}");
    assert_eq!(w1.reason, "waiver W-1: merged in PR #1 by alice, approved by perf-lead");
    let p = w1.provenance.as_ref().unwrap();
    assert_eq!(p.commit, fx.pr(1).merge);
    assert_eq!(p.pr, 1);
    assert_eq!(p.pr_url.as_deref(), Some("https://github.com/acme/shop/pull/1"));
    assert_eq!(p.author, "alice");
    assert_eq!(p.approved_by, ["perf-lead"]);
    assert_eq!(p.merged_at.as_deref(), Some("2026-11-20T12:00:00Z"));

    assert_refused(
        decision(&decisions, "W-2"),
        &["pushed directly to main without a pull request", short(&fx.direct), "by eve"],
    );
    assert_refused(decision(&decisions, "W-3"), &["approved by its own author (bob) in PR #3"]);
    assert_refused(
        decision(&decisions, "W-4"),
        &["waivers/W-4.yaml changed after perf-lead approved PR #4", short(&fx.pr(4).commits[0])],
    );
    assert_refused(
        decision(&decisions, "W-7"),
        &["approved in PR #7 by mallory, who is not an allowed approver", "waivers/W-7.yaml"],
    );
    // Approvers are read as they were before the merge: a PR cannot name its own approver.
    assert_refused(
        decision(&decisions, "W-8"),
        &["approved in PR #9 by ivan, who is not an allowed approver", "as before the merge"],
    );

    // Expiry and scope are the policies' business: the approvals themselves are sound.
    let w5 = decision(&decisions, "W-5");
    assert!(w5.honoured, "{w5:#?}");
    assert_eq!(w5.reason, "waiver W-5: merged in PR #5 by dan, approved by perf-lead");
    let w6 = decision(&decisions, "W-6");
    assert!(w6.honoured, "{w6:#?}");
    assert_eq!(w6.provenance.as_ref().unwrap().commit, fx.pr(6).merge);
    // dave is not listed anywhere by name: he counts through the CODEOWNERS team.
    let mw1 = decision(&decisions, "MW-1");
    assert!(mw1.honoured, "{mw1:#?}");
    assert_eq!(mw1.reason, "migration window MW-1: merged in PR #8 by grace, approved by dave");

    // Only the honoured overrides reach the policies.
    assert_eq!(ids(&verified, "waivers"), ["W-1", "W-5", "W-6"]);
    assert_eq!(ids(&verified, "migration_windows"), ["MW-1"]);

    // Each entry was checked once: its merge's PR, the PR's reviews, the PR's commits when an
    // approval is otherwise sound (is the approver independent of the change?), and the team
    // membership of approvers who are neither listed nor named in CODEOWNERS. Nothing else.
    let mut got = fake.calls();
    got.sort();
    let mut want: Vec<String> = vec![format!("GET {REPO}/commits/{}/pulls", fx.direct)];
    for pr in fx.prs.values() {
        want.push(format!("GET {REPO}/commits/{}/pulls", pr.merge));
        want.push(format!("GET {REPO}/pulls/{}/reviews?per_page=100&page=1", pr.number));
        if [1, 5, 6, 8].contains(&pr.number) {
            want.push(format!("GET {REPO}/pulls/{}/commits?per_page=100&page=1", pr.number));
        }
    }
    want.push("GET /orgs/acme/teams/perf-reviewers/memberships/dave".into());
    want.push("GET /orgs/acme/teams/perf-reviewers/memberships/mallory".into());
    want.push("GET /orgs/acme/teams/perf-reviewers/memberships/ivan".into());
    want.sort();
    assert_eq!(got, want);
    fake.verify();

    // The policies: W-1 turns the failing p95 budget into an exception, MW-1 allows the p99
    // regression, W-5 is expired (Rego says so), W-6 is for another test (nothing at all).
    let mut verdict = evaluate_for(&verified, "checkout");
    verdict.ignored.extend(approval::ignored(&decisions));
    assert_eq!(
        exceptions(&verdict),
        [ex("allowed", "budget/all/p99_ms", "MW-1"), ex("waived", "budget/all/p95_ms", "W-1")],
        "{verdict:#?}"
    );
    let waived = verdict.exceptions.iter().find(|e| e.by == "W-1").unwrap();
    assert_eq!(waived.requested_by.as_deref(), Some("alice"));
    assert!(waived.message.contains("P95 latency rose 30.0 %"), "{}", waived.message);
    assert!(verdict.results.iter().all(|r| r.id != "budget/all/p95_ms"), "a waived result is not counted");
    assert!(verdict.results.iter().all(|r| r.status == Status::Pass), "{:#?}", verdict.results);
    assert_eq!(verdict.outcome, Status::Pass, "{}", verdict.headline);
    assert!(verdict.results.iter().any(|r| r.id == "window/MW-1/ratchet/p99_ms"), "MW-1 is active");

    // The verdict names who approved as GitHub recorded it, not as the file says.
    k6gate::gate::attach_verified(&mut verdict, &decisions);
    let approver = |login: &str, at: &str| Approver { login: login.into(), at: Some(at.into()) };
    let w1 = verdict.exceptions.iter().find(|e| e.by == "W-1").unwrap();
    let v = w1.verified.as_ref().expect("W-1 was verified");
    assert_eq!((v.pr, v.pr_url.as_deref()), (1, Some("https://github.com/acme/shop/pull/1")));
    assert_eq!(v.approvers, [approver("perf-lead", "2026-11-20T12:00:00Z")]);
    assert_eq!(v.disagreement, None, "W-1 says approved_by perf-lead, as GitHub does");
    let mw1 = verdict.exceptions.iter().find(|e| e.by == "MW-1").unwrap();
    assert_eq!(
        mw1.verified.as_ref().map(|v| v.approvers.clone()),
        Some(vec![approver("dave", "2026-11-26T12:00:00Z")])
    );
    let text = k6gate::report::verdict::text(&verdict);
    assert!(text.contains("approved by perf-lead at 2026-11-20T12:00:00Z in PR #1 (verified)"), "{text}");
    // A file whose `approved_by` names someone else is shown as it is, and flagged.
    let mut claimed = verdict.clone();
    for e in claimed.exceptions.iter_mut().filter(|e| e.by == "W-1") {
        e.approved_by = Some("carol".into());
    }
    k6gate::gate::attach_verified(&mut claimed, &decisions);
    let w1 = claimed.exceptions.iter().find(|e| e.by == "W-1").unwrap();
    let said = w1.verified.as_ref().and_then(|v| v.disagreement.clone()).unwrap_or_default();
    assert_eq!(said, "W-1 says approved_by carol, but GitHub shows perf-lead approved PR #1");
    assert!(k6gate::report::verdict::markdown(&claimed).contains(&format!("- ⚠️ {said}")));
    // Unchecked overrides are never shown as verified.
    let mut trusted = verdict.clone();
    k6gate::gate::attach_verified(&mut trusted, &[]);
    assert!(trusted.exceptions.iter().all(|e| e.verified.is_none()));
    assert!(k6gate::report::verdict::text(&trusted).contains("approved by perf-lead (not verified)"));

    let ignored: Vec<(&str, &str)> = verdict.ignored.iter().map(|i| (i.what.as_str(), i.reason.as_str())).collect();
    assert_eq!(ignored.len(), 6, "{ignored:#?}");
    assert!(ignored.contains(&("W-5", "waiver W-5 ignored: expired")), "{ignored:#?}");
    for (id, part) in [
        ("W-2", "without a pull request"),
        ("W-3", "approved by its own author"),
        ("W-4", "changed after"),
        ("W-7", "not an allowed approver"),
        ("W-8", "not an allowed approver"),
    ] {
        let i = verdict.ignored.iter().find(|i| i.what == id).unwrap();
        assert!(i.reason.starts_with(&format!("waiver {id} ignored: ")) && i.reason.contains(part), "{i:?}");
        let source = i.source.as_ref().unwrap();
        assert!(source.file.ends_with(&format!("waivers/{id}.yaml")), "{source:?}");
        assert_eq!(source.line, 3, "the line of the waiver's entry");
    }
    let text = serde_json::to_string(&(&verdict.exceptions, &verdict.ignored)).unwrap();
    assert!(!text.contains("W-6"), "W-6 is for another test and must not appear: {text}");

    // Control: unchecked, every refused waiver would have waived the same failure.
    let unchecked = evaluate_for(&data, "checkout");
    assert_eq!(
        exceptions(&unchecked),
        [
            ex("allowed", "budget/all/p99_ms", "MW-1"),
            ex("waived", "budget/all/p95_ms", "W-1"),
            ex("waived", "budget/all/p95_ms", "W-2"),
            ex("waived", "budget/all/p95_ms", "W-3"),
            ex("waived", "budget/all/p95_ms", "W-4"),
            ex("waived", "budget/all/p95_ms", "W-7"),
            ex("waived", "budget/all/p95_ms", "W-8"),
        ]
    );
    // And W-6 is honoured, only out of scope here: a `search` run is waived by it alone.
    let search = evaluate_for(&verified, "search");
    assert_eq!(exceptions(&search), [ex("waived", "budget/all/p95_ms", "W-6")], "{search:#?}");
    // MW-1 is for `checkout`: the p99 regression fails `search`.
    let failing: Vec<&str> =
        search.results.iter().filter(|r| r.status == Status::Fail).map(|r| r.id.as_str()).collect();
    assert_eq!(failing, ["budget/all/p99_ms"], "{}", search.headline);
}

#[test]
fn without_a_token_every_override_is_refused_and_github_is_not_called() {
    let fx = fixture();
    let fake = Fake::start();
    let data = fx.load();
    let (verified, decisions) = apply(&fx, &fake, &data, false);
    assert_eq!(decisions.len(), 9);
    for d in &decisions {
        assert_refused(d, &["its approval cannot be checked", "GITHUB_TOKEN is not set"]);
    }
    assert!(ids(&verified, "waivers").is_empty());
    assert!(ids(&verified, "migration_windows").is_empty());
    assert_eq!(fake.calls(), Vec::<String>::new());
    fake.verify();

    // The failing budget stays failing, and the verdict says why nothing was waived.
    let mut verdict = evaluate_for(&verified, "checkout");
    verdict.ignored.extend(approval::ignored(&decisions));
    assert!(verdict.exceptions.is_empty(), "{:#?}", verdict.exceptions);
    assert_eq!(verdict.outcome, Status::Fail);
    assert!(verdict.results.iter().any(|r| r.id == "budget/all/p95_ms" && r.status == Status::Fail));
    assert_eq!(verdict.ignored.len(), 9, "{:#?}", verdict.ignored);
}

#[test]
fn without_waivers_nothing_is_checked_and_github_is_not_called() {
    let fx = fixture();
    let fake = Fake::start();
    // policies/data alone: SLAs, budgets and approvers, no waiver or window.
    let data = data::load_dirs(&fx.data_dir(), Some(&fx.root.join("no-such-dir"))).unwrap();
    let asked = std::cell::Cell::new(false);
    let (out, decisions) = approval::apply_in(
        &data,
        &verify_mode(),
        || {
            asked.set(true);
            Context::from_lookup(vars(&fake, &fx, true))
        },
        &fx.root.join("policies"),
        &[fx.data_dir()],
    );
    assert!(decisions.is_empty());
    assert!(!asked.get(), "the GitHub context is read only when something needs checking");
    assert_eq!(out.rego_data(), data.rego_data());
    assert_eq!(fake.calls(), Vec::<String>::new());
    fake.verify();
}

#[test]
fn a_local_edit_of_an_approved_waiver_is_refused() {
    let (fx, fake) = fixture_on_github();
    let path = fx.waivers_dir().join("W-1.yaml");
    let text = std::fs::read_to_string(&path).unwrap().replace("expires: 2026-12-10", "expires: 2026-12-19");
    std::fs::write(&path, text).unwrap();
    let data = fx.load();
    let (verified, decisions) = apply(&fx, &fake, &data, true);
    assert_refused(
        decision(&decisions, "W-1"),
        &["waivers/W-1.yaml differs from main", "not merged through a reviewed PR"],
    );
    assert!(decision(&decisions, "W-5").honoured);
    assert_eq!(ids(&verified, "waivers"), ["W-5", "W-6"]);
    // Refused from git alone: PR #1 was never looked up.
    let got = fake.calls();
    assert!(!got.iter().any(|r| r.contains(&fx.pr(1).merge) || r.contains("/pulls/1/")), "{got:#?}");
    fake.verify();
    let verdict = evaluate_for(&verified, "checkout");
    assert_eq!(exceptions(&verdict), [ex("allowed", "budget/all/p99_ms", "MW-1")]);
    assert_eq!(verdict.outcome, Status::Fail);
}

#[test]
fn a_waiver_only_on_a_pr_branch_is_refused() {
    let (fx, fake) = fixture_on_github();
    let root = &fx.root;
    git(root, "zoe", "2026-11-30T10:00:00Z", &["checkout", "-q", "-b", "zoe/pr-9", "main"]);
    let w9 = waiver("W-9", "checkout", None, "zoe", "perf-lead", "2026-11-30T00:00:00Z", "2026-12-10T00:00:00Z");
    write(root, "waivers/W-9.yaml", &w9);
    git(root, "zoe", "2026-11-30T10:00:00Z", &["add", "waivers/W-9.yaml"]);
    git(root, "zoe", "2026-11-30T10:00:00Z", &["commit", "-q", "-m", "Add W-9"]);
    let data = fx.load();
    let (verified, decisions) = apply(&fx, &fake, &data, true);
    assert_refused(
        decision(&decisions, "W-9"),
        &["waivers/W-9.yaml is not on main", "it counts only after its pull request is merged"],
    );
    // What is on main is judged as on main.
    assert!(decision(&decisions, "W-1").honoured, "{decisions:#?}");
    assert_eq!(ids(&verified, "waivers"), ["W-1", "W-5", "W-6"]);
    let head = head(root);
    assert!(!fake.calls().iter().any(|r| r.contains(&head)));
    fake.verify();
}

#[test]
fn an_api_error_on_the_reviews_refuses_the_waiver_after_bounded_retries() {
    let fx = fixture();
    let fake = Fake::start();
    fake.pulls(&fx.pr(1).merge, json!([pr_json(fx.pr(1))]));
    fake.mount(
        fake.get(&format!("{REPO}/pulls/1/reviews"), Some("per_page=100&page=1"))
            .respond_with(ResponseTemplate::new(500).set_body_json(json!({"message": "Server Error"})))
            .expect(2),
    );
    let data = fx.load();
    let subjects: Vec<_> = approval::subjects(&data).into_iter().filter(|s| s.id == "W-1").collect();
    let ctx = Context::from_lookup(vars(&fake, &fx, true)).unwrap();
    let api = Api::new(ApiConfig {
        api_url: fake.uri(),
        token: Token::new(TOKEN),
        timeout: Duration::from_secs(10),
        attempts: 2,
        backoff: Duration::from_millis(10),
    })
    .unwrap();
    let mut verifier = Verifier::open(&fx.root, &api, &ctx, "main", &fx.dirs()).unwrap();
    let decisions = verifier.verify(&subjects);
    assert_eq!(decisions.len(), 1);
    assert_refused(
        &decisions[0],
        &["cannot verify with the GitHub API", "/pulls/1/reviews", "HTTP 500", "Server Error", "after 2 attempts"],
    );
    assert_eq!(
        fake.calls(),
        [
            format!("GET {REPO}/commits/{}/pulls", fx.pr(1).merge),
            format!("GET {REPO}/pulls/1/reviews?per_page=100&page=1"),
            format!("GET {REPO}/pulls/1/reviews?per_page=100&page=1"),
        ]
    );
    fake.verify();
}

// ---------------------------------------------------------------------------------------
// `k6gate audit`, the real binary.

fn audit(fx: &Fixture, fake: Option<&Fake>, args: &[&str], env: &[(&str, &str)]) -> Ran {
    let mut cmd = K6gate::new().current_dir(&fx.root).env_clear();
    if let Some(fake) = fake {
        cmd = cmd
            .env("GITHUB_API_URL", fake.uri())
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_SHA", fx.tip());
    }
    for (k, v) in env {
        cmd = cmd.env(k, v);
    }
    let policies = fx.root.join("policies");
    let waivers = fx.waivers_dir();
    cmd.args(["audit", "--now", NOW, "--policies"])
        .arg(&policies)
        .arg("--waivers-dir")
        .arg(&waivers)
        .args(args)
        .status(0)
        .stdout_lacks(TOKEN)
        .stderr_lacks(TOKEN)
}

fn audit_json(fx: &Fixture, fake: Option<&Fake>, args: &[&str], env: &[(&str, &str)]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    let out = audit(fx, fake, &all, env);
    out.stdout_json()
}

/// A change as (kind, id, change, file, proposed_by, approved_by, pr, via).
type Row = (String, String, String, String, String, Vec<String>, Option<u64>, String);

fn rows(report: &Value) -> Vec<Row> {
    let s = |c: &Value, k: &str| c[k].as_str().unwrap_or_else(|| panic!("{k} in {c}")).to_string();
    report["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let approved =
                c["approved_by"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect();
            (
                s(c, "kind"),
                s(c, "id"),
                s(c, "change"),
                s(c, "file"),
                s(c, "proposed_by"),
                approved,
                c["pr"].as_u64(),
                s(c, "via"),
            )
        })
        .collect()
}

fn row(kind: &str, id: &str, file: &str, by: &str, approved: &[&str], pr: Option<u64>, via: &str) -> Row {
    let approved = approved.iter().map(|a| a.to_string()).collect();
    (kind.into(), id.into(), "added".into(), file.into(), by.into(), approved, pr, via.into())
}

/// Every change of the fixture, newest first, as the online audit reports it.
fn expected_rows() -> Vec<Row> {
    let pr = "pull request";
    let direct = "direct push";
    let mut approvers = row("approvers", "approvers", "policies/data/approvers.yaml", "heidi", &["ivan"], Some(9), pr);
    approvers.2 = "changed".into();
    vec![
        approvers,
        row("waiver", "W-8", "waivers/W-8.yaml", "heidi", &["ivan"], Some(9), pr),
        row("migration window", "MW-1", "waivers/MW-1.yaml", "grace", &["dave"], Some(8), pr),
        row("waiver", "W-7", "waivers/W-7.yaml", "frank", &["mallory"], Some(7), pr),
        row("waiver", "W-6", "waivers/W-6.yaml", "erin", &["perf-lead"], Some(6), pr),
        row("waiver", "W-4", "waivers/W-4.yaml", "carol", &["perf-lead"], Some(4), pr),
        row("waiver", "W-3", "waivers/W-3.yaml", "bob", &["bob"], Some(3), pr),
        row("waiver", "W-2", "waivers/W-2.yaml", "eve", &[], None, direct),
        row("waiver", "W-1", "waivers/W-1.yaml", "alice", &["perf-lead"], Some(1), pr),
        row("waiver", "W-5", "waivers/W-5.yaml", "dan", &["perf-lead"], Some(5), pr),
        row("approvers", "approvers", "policies/data/approvers.yaml", "admin", &[], None, direct),
        row("budget", "defaults", "policies/data/budgets.yaml", "admin", &[], None, direct),
        row("budget", "significance", "policies/data/budgets.yaml", "admin", &[], None, direct),
        row("sla", "checkout/prod-sim", "policies/data/slas.yaml", "admin", &[], None, direct),
        row("sla", "defaults", "policies/data/slas.yaml", "admin", &[], None, direct),
    ]
}

#[test]
fn audit_json_lists_every_change_and_the_state_of_every_override() {
    let (fx, fake) = fixture_on_github();
    let report = audit_json(&fx, Some(&fake), &[], &[]);
    assert_eq!(report["default_branch"], "main");
    assert!(report.get("since").is_none());
    assert_eq!(rows(&report), expected_rows());

    // Which commit and when: the merge for a PR, the pushed commit otherwise.
    let changes = report["changes"].as_array().unwrap();
    let by_id = |id: &str| changes.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(by_id("W-1")["commit"], fx.pr(1).merge.as_str());
    assert_eq!(by_id("W-1")["date"], "2026-11-20T12:00:00.000Z");
    assert_eq!(by_id("W-1")["pr_url"], "https://github.com/acme/shop/pull/1");
    assert_eq!(by_id("W-2")["commit"], fx.direct.as_str());
    assert_eq!(by_id("W-2")["date"], "2026-11-21T09:00:00.000Z");
    assert!(by_id("W-2").get("pr").is_none() && by_id("W-2").get("pr_url").is_none());
    assert_eq!(by_id("W-4")["commit"], fx.pr(4).merge.as_str());
    assert_eq!(by_id("defaults")["commit"], fx.initial.as_str());
    assert_eq!(by_id("defaults")["date"], "2026-09-01T09:00:00.000Z");

    // The current overrides: (id, kind, honoured, expired, reason part).
    let current = report["current"].as_array().unwrap();
    let got: Vec<(&str, &str, bool, bool)> = current
        .iter()
        .map(|c| {
            (
                c["subject"]["id"].as_str().unwrap(),
                c["subject"]["kind"].as_str().unwrap(),
                c["honoured"].as_bool().unwrap(),
                c["expired"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("W-1", "waiver", true, false),
            ("W-2", "waiver", false, false),
            ("W-3", "waiver", false, false),
            ("W-4", "waiver", false, false),
            ("W-5", "waiver", true, true),
            ("W-6", "waiver", true, false),
            ("W-7", "waiver", false, false),
            ("W-8", "waiver", false, false),
            ("MW-1", "migration_window", true, false),
        ]
    );
    let reason = |id: &str| current.iter().find(|c| c["subject"]["id"] == id).unwrap()["reason"].as_str().unwrap();
    assert_eq!(reason("W-1"), "waiver W-1: merged in PR #1 by alice, approved by perf-lead");
    assert!(reason("W-2").contains("without a pull request") && reason("W-2").contains("by eve"), "{}", reason("W-2"));
    assert!(reason("W-3").contains("approved by its own author (bob)"), "{}", reason("W-3"));
    assert!(reason("W-4").contains("changed after perf-lead approved PR #4"), "{}", reason("W-4"));
    assert!(reason("W-7").contains("mallory, who is not an allowed approver"), "{}", reason("W-7"));
    assert!(reason("W-8").contains("ivan, who is not an allowed approver"), "{}", reason("W-8"));
    assert_eq!(reason("MW-1"), "migration window MW-1: merged in PR #8 by grace, approved by dave");
    let w1 = &current[0];
    assert_eq!(w1["test"], "checkout");
    assert_eq!(w1["scope"], "test checkout, env staging, p95_ms, version v1.1.0");
    assert_eq!(w1["expires"], "2026-12-10T00:00:00Z");
    assert_eq!(w1["provenance"]["pr"], 1);
    assert_eq!(w1["provenance"]["approved_by"], json!(["perf-lead"]));
    assert!(current[1].get("provenance").is_none());
    assert_eq!(current[5]["scope"], "test search, p95_ms, version v1.1.0");
    assert_eq!(current[8]["scope"], "test checkout, env staging, p99_ms");
    fake.verify();
}

#[test]
fn audit_since_leaves_older_changes_out() {
    let (fx, fake) = fixture_on_github();
    let report = audit_json(&fx, Some(&fake), &["--since", "2026-11-01"], &[]);
    assert_eq!(report["since"], "2026-11-01");
    let want: Vec<Row> = expected_rows().into_iter().take(9).collect();
    assert_eq!(rows(&report), want);
    // The current state does not depend on --since: W-5 is still there, expired.
    let w5 = report["current"].as_array().unwrap().iter().find(|c| c["subject"]["id"] == "W-5").unwrap();
    assert_eq!((w5["honoured"].as_bool(), w5["expired"].as_bool()), (Some(true), Some(true)));
    // Older commits are not looked up for the history (W-5's merge is, for its current state).
    let got = fake.calls();
    assert!(!got.iter().any(|r| r.contains(&fx.initial)), "{got:#?}");
    let w5_lookups = got.iter().filter(|r| r.contains(&fx.pr(5).merge)).count();
    let w1_lookups = got.iter().filter(|r| r.contains(&fx.pr(1).merge)).count();
    assert_eq!((w5_lookups, w1_lookups), (1, 2), "{got:#?}");
    fake.verify();

    let later = audit_json(&fx, Some(&fake), &["--since", "2026-11-24T00:00:00Z"], &[]);
    let ids: Vec<String> = rows(&later).into_iter().map(|r| r.1).collect();
    assert_eq!(ids, ["approvers", "W-8", "MW-1", "W-7", "W-6"]);
}

#[test]
fn audit_markdown_has_both_tables() {
    let (fx, fake) = fixture_on_github();
    let out = audit(&fx, Some(&fake), &["--format", "markdown"], &[]);
    let md = out.stdout();
    for want in [
        "## k6gate audit: policy data on main\n",
        "### Current waivers and migration windows\n",
        "| kind | id | scope | expires | status | why |\n|---|---|---|---|---|---|\n",
        "| waiver | W-1 | test checkout, env staging, p95_ms, version v1.1.0 | 2026-12-10T00:00:00Z | honoured | waiver W-1: merged in PR #1 by alice, approved by perf-lead |",
        "| waiver | W-5 | test checkout, p95_ms, version v1.1.0 | 2026-10-20T00:00:00Z | expired |",
        "| waiver | W-3 | test checkout, p95_ms, version v1.1.0 | 2026-12-10T00:00:00Z | ignored | waiver W-3 ignored: approved by its own author (bob) in PR #3 |",
        "| migration window | MW-1 | test checkout, env staging, p99_ms | 2026-12-15T00:00:00Z | honoured |",
        "### Changes, newest first\n",
        "| date | what | change | proposed by | approved by | via | commit | file |\n|---|---|---|---|---|---|---|---|\n",
        "| 2026-11-20T12:00:00.000Z | waiver W-1 | added | alice | perf-lead | [PR #1](https://github.com/acme/shop/pull/1) |",
        "| 2026-11-21T09:00:00.000Z | waiver W-2 | added | eve | - | direct push |",
        "| 2026-09-01T09:00:00.000Z | approvers approvers | added | admin | - | direct push |",
    ] {
        assert!(md.contains(want), "missing {want:?} in:\n{md}");
    }
    let w2 = md.lines().find(|l| l.starts_with("| waiver | W-2 |")).unwrap();
    assert!(w2.contains("| ignored |") && w2.contains("without a pull request"), "{w2}");
    let merged = md.lines().find(|l| l.contains("| waiver W-1 | added |")).unwrap();
    assert!(merged.contains(&format!("| {} | waivers/W-1.yaml |", short(&fx.pr(1).merge))), "{merged}");
    fake.verify();
}

#[test]
fn audit_offline_reads_git_only_and_verifies_nothing() {
    let fx = fixture();
    // No GitHub variables at all, and no server.
    let report = audit_json(&fx, None, &["--offline"], &[]);
    let got = rows(&report);
    assert_eq!(got.len(), expected_rows().len());
    for (r, want) in got.iter().zip(expected_rows()) {
        assert_eq!((&r.0, &r.1, &r.2, &r.3), (&want.0, &want.1, &want.2, &want.3));
        assert_eq!(r.7, "not checked (no GitHub token)");
        assert!(r.5.is_empty() && r.6.is_none(), "{r:?}");
    }
    // Without the API, who proposed a change is the author of what was merged (the merge's
    // second parent), not whoever merged it; a direct push is its own author's.
    let by: Vec<&str> = got.iter().map(|r| r.4.as_str()).collect();
    assert_eq!(by[..10], ["heidi", "heidi", "grace", "frank", "erin", "carol", "bob", "eve", "alice", "dan"]);
    for c in report["current"].as_array().unwrap() {
        assert_eq!(c["honoured"], false, "{c}");
        assert!(c["reason"].as_str().unwrap().ends_with("ignored: not verified (--offline)"), "{c}");
    }
    let expired: Vec<bool> =
        report["current"].as_array().unwrap().iter().map(|c| c["expired"].as_bool().unwrap()).collect();
    assert_eq!(expired, [false, false, false, false, true, false, false, false, false]);

    // Without --offline and without a token, audit says what is missing.
    K6gate::new()
        .current_dir(&fx.root)
        .env_clear()
        .args(["audit", "--now", NOW, "--policies", "policies", "--waivers-dir", "waivers"])
        .status(2)
        .stderr_contains("GITHUB_REPOSITORY is not set")
        .stderr_contains("--offline");
}

#[test]
fn audit_with_a_failing_reviews_endpoint_never_honours_the_waiver() {
    let fx = fixture();
    let fake = Fake::start();
    // Mounted first, so it answers PR #1's reviews before the world's mock does.
    fake.mount(
        fake.get(&format!("{REPO}/pulls/1/reviews"), Some("per_page=100&page=1"))
            .respond_with(ResponseTemplate::new(502).set_body_string("<html>Bad Gateway</html>"))
            .with_priority(1),
    );
    github_for(&fx, &fake);
    let report = audit_json(&fx, Some(&fake), &[], &[("K6GATE_GITHUB_ATTEMPTS", "1")]);
    let w1 = report["current"].as_array().unwrap().iter().find(|c| c["subject"]["id"] == "W-1").unwrap();
    assert_eq!(w1["honoured"], false, "{w1}");
    let reason = w1["reason"].as_str().unwrap();
    assert!(reason.starts_with("waiver W-1 ignored: cannot verify with the GitHub API"), "{reason}");
    assert!(reason.contains("HTTP 502"), "{reason}");
    // The others are unaffected.
    let w5 = report["current"].as_array().unwrap().iter().find(|c| c["subject"]["id"] == "W-5").unwrap();
    assert_eq!(w5["honoured"], true, "{w5}");
    // The history says the lookup failed, rather than showing PR #1 with no approvers.
    let change = report["changes"].as_array().unwrap().iter().find(|c| c["id"] == "W-1").unwrap();
    let via = change["via"].as_str().unwrap();
    assert!(via.starts_with("not checked (GitHub API error:") && via.contains("HTTP 502"), "{change}");
    assert!(change.get("pr").is_none() && change["approved_by"].as_array().unwrap().is_empty(), "{change}");
    // One attempt each: once for the history, once for the current state.
    let got = fake.calls();
    assert_eq!(got.iter().filter(|r| r.contains("/pulls/1/reviews")).count(), 2, "{got:#?}");
    fake.verify();
}
