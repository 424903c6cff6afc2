//! On a pull request the base branch's policy decides (src/gate/base.rs): a PR that loosens
//! its own budget, relaxes an SLA or deletes a Rego rule is still judged by the policy it
//! would change, and sees what its own policy would say, marked as not binding until merged.
//!
//! Every test builds a real git repository with git2: `main` holds a copy of the shipped
//! `policies/`, a PR branch changes it, and `main` moves on after the fork (so the merge base
//! is not the base branch's tip). The candidate is the small set's `policy-slow` against
//! `policy-base-a`: 25-30 % slower at p95 and p99, which the shipped 10 % budgets block.

use std::path::{Path, PathBuf};

use git2::{Commit, IndexAddOption, Oid, Repository, RepositoryInitOptions, Signature, Time};
use serde_json::{Value, json};

use crate::support::cli::K6gate;
use crate::support::fixtures::Set;
use crate::support::root;

const NOW: &str = "2026-11-28T12:00:00Z";

/// A git repository in a temporary directory, its work tree checked out on one branch.
struct Repo {
    tmp: tempfile::TempDir,
    repo: Repository,
    /// Seconds since the epoch of the next commit (one a minute, so history is ordered).
    clock: std::cell::Cell<i64>,
}

impl Repo {
    /// `main` with the shipped policies (their Rego and data) and a README, one commit.
    fn new() -> Repo {
        let tmp = tempfile::tempdir().unwrap();
        let repo = Repository::init_opts(tmp.path(), RepositoryInitOptions::new().initial_head("main")).unwrap();
        let r = Repo { tmp, repo, clock: std::cell::Cell::new(1_764_000_000) };
        let shipped = root().join("policies");
        let mut files = Vec::new();
        for (from, to) in [(shipped.clone(), "policies"), (shipped.join("data"), "policies/data")] {
            for f in std::fs::read_dir(&from).unwrap() {
                let f = f.unwrap().path();
                if f.is_file() {
                    let name = f.file_name().unwrap().to_str().unwrap().to_string();
                    files.push((format!("{to}/{name}"), std::fs::read_to_string(&f).unwrap()));
                }
            }
        }
        files.push(("README.md".into(), "# shop\n".into()));
        let files: Vec<(&str, Option<&str>)> = files.iter().map(|(p, t)| (p.as_str(), Some(t.as_str()))).collect();
        r.commit("main: the shipped policies", &files);
        r
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root().join(rel)).unwrap()
    }

    fn sig(&self) -> Signature<'static> {
        let t = self.clock.get() + 60;
        self.clock.set(t);
        Signature::new("alice", "alice@users.noreply.github.com", &Time::new(t, 0)).unwrap()
    }

    /// Writes (`Some`) or deletes (`None`) files, and commits everything on the current branch.
    fn commit(&self, message: &str, files: &[(&str, Option<&str>)]) -> Oid {
        for (rel, text) in files {
            let path = self.root().join(rel);
            match text {
                Some(t) => {
                    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
                    std::fs::write(&path, t).unwrap();
                }
                None => std::fs::remove_file(&path).unwrap(),
            }
        }
        let mut index = self.repo.index().unwrap();
        index.add_all(["*"], IndexAddOption::DEFAULT, None).unwrap();
        index.update_all(["*"], None).unwrap();
        index.write().unwrap();
        let tree = self.repo.find_tree(index.write_tree().unwrap()).unwrap();
        let parent = self.repo.head().ok().and_then(|h| h.peel_to_commit().ok());
        let parents: Vec<&Commit<'_>> = parent.iter().collect();
        let sig = self.sig();
        self.repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap()
    }

    /// A new branch at HEAD, checked out.
    fn branch(&self, name: &str) {
        let head = self.repo.head().unwrap().peel_to_commit().unwrap();
        self.repo.branch(name, &head, false).unwrap();
        self.switch(name);
    }

    fn switch(&self, name: &str) {
        self.repo.set_head(&format!("refs/heads/{name}")).unwrap();
        self.repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force())).unwrap();
    }

    fn tip(&self, branch: &str) -> Oid {
        self.repo.find_branch(branch, git2::BranchType::Local).unwrap().get().peel_to_commit().unwrap().id()
    }

    /// Merges `branch` into the current branch with a merge commit, as GitHub's "Create a
    /// merge commit" does, and checks the result out.
    fn merge(&self, branch: &str) -> Oid {
        let ours = self.repo.head().unwrap().peel_to_commit().unwrap();
        let theirs = self.repo.find_commit(self.tip(branch)).unwrap();
        let mut index = self.repo.merge_commits(&ours, &theirs, None).unwrap();
        assert!(!index.has_conflicts(), "the fixture's merge has conflicts");
        let tree = self.repo.find_tree(index.write_tree_to(&self.repo).unwrap()).unwrap();
        let sig = self.sig();
        let merge = self
            .repo
            .commit(Some("HEAD"), &sig, &sig, &format!("Merge pull request #7 from {branch}"), &tree, &[&ours, &theirs])
            .unwrap();
        self.repo.checkout_head(Some(git2::build::CheckoutBuilder::new().force())).unwrap();
        merge
    }

    fn merge_base(&self, a: &str, b: &str) -> String {
        self.repo.merge_base(self.tip(a), self.tip(b)).unwrap().to_string()
    }

    /// A `pull_request` event payload for `head` into `main`, as GitHub writes it at
    /// GITHUB_EVENT_PATH.
    fn pr_event(&self, head: &str) -> PathBuf {
        self.event(json!({
            "action": "synchronize",
            "number": 7,
            "pull_request": {
                "number": 7,
                "head": { "ref": head, "sha": self.tip(head).to_string() },
                "base": { "ref": "main", "sha": self.tip("main").to_string() },
            },
            "repository": { "full_name": "acme/shop", "default_branch": "main" },
        }))
    }

    fn event(&self, payload: Value) -> PathBuf {
        // Outside the work tree, as on a runner.
        let path = self.root().join(".git").join("event.json");
        std::fs::write(&path, payload.to_string()).unwrap();
        path
    }

    /// `k6gate evaluate` of policy-slow against policy-base-a in this repository (its
    /// policies and waivers given relative to it, as in a workflow), without any GitHub event.
    fn evaluate(&self) -> K6gate {
        self.evaluate_policies("policies")
    }

    /// [`Repo::evaluate`] with the policies in `dir`.
    fn evaluate_policies(&self, dir: &str) -> K6gate {
        K6gate::new()
            .current_dir(self.root())
            .arg("evaluate")
            .arg("--run")
            .arg(Set::Small.path("policy-slow.json"))
            .arg("--baseline")
            .arg(Set::Small.path("policy-base-a.json"))
            .args(["--test", "checkout", "--env", "ci", "--now", NOW, "--policies", dir])
            .args(["--waivers-dir", "waivers"])
    }

    /// [`Repo::evaluate`] as a `pull_request` event's job for `head`.
    fn evaluate_pr(&self, head: &str) -> K6gate {
        self.evaluate().env("GITHUB_EVENT_NAME", "pull_request").env("GITHUB_EVENT_PATH", self.pr_event(head))
    }
}

fn short(sha: &str) -> &str {
    &sha[..7]
}

/// The shipped budgets with p95 and p99 allowed to rise 500 %.
fn loosened_budgets(repo: &Repo) -> String {
    let text = repo.read("policies/data/budgets.yaml");
    let loose =
        text.replace("    p95_ms: 0.10\n", "    p95_ms: 5.0\n").replace("    p99_ms: 0.10\n", "    p99_ms: 5.0\n");
    assert_ne!(loose, text, "the shipped budgets changed shape: update this test");
    loose
}

/// main -> branch `name` with `change` committed -> main moves on (an unrelated commit).
fn pr(repo: &Repo, name: &str, change: &[(&str, Option<&str>)]) {
    repo.branch(name);
    repo.commit(&format!("{name}: the PR's change"), change);
    repo.switch("main");
    repo.commit("main: meanwhile, an unrelated change", &[("README.md", Some("# shop\n\nNow with docs.\n"))]);
    repo.switch(name);
}

#[test]
fn a_pr_that_loosens_its_budget_is_blocked_by_the_base_policy_until_it_is_merged() {
    let repo = Repo::new();
    let loose = loosened_budgets(&repo);
    pr(&repo, "loosen", &[("policies/data/budgets.yaml", Some(&loose))]);
    let fork = repo.merge_base("loosen", "main");
    assert_ne!(fork, repo.tip("main").to_string(), "main must have moved on after the fork");

    // The PR's check: blocked under main's policy; its own policy would pass, not binding.
    let note = format!(
        "under main's policy (merge base {}): FAIL; under this PR's policy: PASS (not binding until merged; it changes data/budgets.yaml)",
        short(&fork)
    );
    repo.evaluate_pr("loosen").status(1).stdout_contains("FAIL: P95 +").stdout_contains(&note);
    repo.evaluate_pr("loosen").args(["--format", "markdown"]).status(1).stdout_contains(&format!("- {note}"));
    let v = repo.evaluate_pr("loosen").args(["--format", "json"]).status(1).stdout_json();
    assert_eq!(v["outcome"], "fail");
    assert_eq!(v["policy"]["base"], json!({ "branch": "main", "commit": fork }));
    let budget_files: Vec<&str> =
        v["policy"]["data_files"].as_array().unwrap().iter().map(|f| f.as_str().unwrap()).collect();
    assert!(
        budget_files.contains(&format!("{}:policies/data/budgets.yaml", short(&fork)).as_str()),
        "{budget_files:?}"
    );
    let p95 = v["results"].as_array().unwrap().iter().find(|r| r["id"] == "budget/all/p95_ms").unwrap();
    assert_eq!(p95["source"]["file"], format!("{}:policies/data/budgets.yaml", short(&fork)));
    assert_eq!(v["proposed"]["outcome"], "pass");
    assert_eq!(v["proposed"]["policy"], "this PR's policy");
    assert_eq!(v["proposed"]["changed_files"], json!(["data/budgets.yaml"]));
    let theirs = v["proposed"]["results"].as_array().unwrap().iter().find(|r| r["id"] == "budget/all/p95_ms").unwrap();
    assert_eq!((theirs["status"].clone(), theirs["budget"].clone()), (json!("pass"), json!(5.0)));

    // Outside a pull request (a push to the branch, a local run) the checkout's policy applies.
    repo.evaluate().status(0).stdout_lacks("not binding");
    repo.evaluate().env("GITHUB_EVENT_NAME", "push").status(0);

    // Merged (a real merge commit), the new budget is main's: a push to main passes.
    repo.switch("main");
    let merge = repo.merge("loosen");
    assert_eq!(repo.read("policies/data/budgets.yaml"), loose);
    let push = repo.event(json!({ "after": merge.to_string(), "ref": "refs/heads/main" }));
    let v = repo
        .evaluate()
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &push)
        .args(["--format", "json"])
        .status(0)
        .stdout_json();
    assert_eq!(v["outcome"], "pass");
    assert!(v.get("proposed").is_none() && !v["notes"].to_string().contains("not binding"), "{v:#}");
    assert!(v["policy"].get("base").is_none());
}

#[test]
fn a_relaxed_sla_is_not_binding_on_its_own_pr() {
    // The candidate's p95 is ~27 ms: a 20 ms SLA on main blocks it, the PR relaxes it to 500 ms.
    let repo = Repo::new();
    let slas = repo.read("policies/data/slas.yaml");
    let strict = slas.replace("    p95_ms: 500\n", "    p95_ms: 20\n");
    assert_ne!(strict, slas, "the shipped SLAs changed shape: update this test");
    let budgets = loosened_budgets(&repo);
    repo.commit(
        "main: a strict SLA, loose budgets",
        &[("policies/data/slas.yaml", Some(&strict)), ("policies/data/budgets.yaml", Some(&budgets))],
    );
    pr(&repo, "relax-sla", &[("policies/data/slas.yaml", Some(&slas))]);
    repo.evaluate_pr("relax-sla")
        .status(1)
        .stdout_contains("P95 latency 27")
        .stdout_contains("SLA < 20.0 ms")
        .stdout_contains("under this PR's policy: PASS (not binding until merged; it changes data/slas.yaml)");
}

#[test]
fn a_rego_rule_deleted_on_the_pr_branch_is_not_binding() {
    let repo = Repo::new();
    let rego = repo.read("policies/k6gate.rego");
    let rule = "checks contains r if {\n\tnot input.no_baseline\n\tsome c in input.comparisons\n\tbudgeted(c)\n\tbudget := budget_for(c.metric)\n\tr := budget_result(c, budget, budget.value + window_extra(c.metric))\n}\n";
    assert!(rego.contains(rule), "the shipped budget rule changed shape: update this test");
    pr(&repo, "no-budgets", &[("policies/k6gate.rego", Some(&rego.replace(rule, "")))]);
    let v = repo.evaluate_pr("no-budgets").args(["--format", "json"]).status(1).stdout_json();
    assert_eq!(v["outcome"], "fail");
    assert_eq!(v["proposed"]["changed_files"], json!(["k6gate.rego"]));
    assert_eq!(v["proposed"]["outcome"], "pass");
    assert!(!v["proposed"]["results"].as_array().unwrap().iter().any(|r| r["kind"] == "budget"));
    let fork = repo.merge_base("no-budgets", "main");
    let rego_files = v["policy"]["rego_files"].as_array().unwrap();
    assert!(rego_files.contains(&json!(format!("{}:policies/k6gate.rego", short(&fork)))), "{rego_files:?}");
    let notes = v["notes"].as_array().unwrap();
    assert!(
        notes[0].as_str().unwrap().contains(": FAIL; under this PR's policy: PASS (not binding until merged"),
        "{notes:?}"
    );
}

#[test]
fn an_identical_policy_is_evaluated_once_without_a_note() {
    let repo = Repo::new();
    pr(&repo, "docs", &[("README.md", Some("# shop\n\nA PR that does not touch the policy.\n"))]);
    repo.evaluate_pr("docs").status(1).stdout_lacks("not binding");
    let v = repo.evaluate_pr("docs").args(["--format", "json"]).status(1).stdout_json();
    assert!(v.get("proposed").is_none() && !v["notes"].to_string().contains("not binding"), "{v:#}");
    // Still read from the base: the files say so.
    assert_eq!(v["policy"]["base"]["commit"], repo.merge_base("docs", "main"));
}

#[test]
fn a_migration_window_on_the_base_branch_still_applies_when_the_pr_removes_it() {
    // main has an open window that widens p95/p99 by 100 %: the slower candidate gets through
    // (a warning: no previous run to ratchet against). The PR removes the window; under its
    // policy the run would fail, but main's decides.
    let repo = Repo::new();
    let window = "migration_windows:\n  - id: MW-1\n    test: checkout\n    environments: [ci]\n    metrics: [p95_ms, p99_ms]\n    extra_regression: 1.0\n    owner: team-payments\n    reason: moving the cart to the new database\n    start: 2026-11-20T00:00:00Z\n    expires: 2026-12-15T00:00:00Z\n";
    let none = repo.read("policies/data/migration-windows.yaml");
    repo.commit("main: open MW-1", &[("policies/data/migration-windows.yaml", Some(window))]);
    pr(&repo, "close-window", &[("policies/data/migration-windows.yaml", Some(&none))]);
    let v = repo.evaluate_pr("close-window").args(["--approval", "trust", "--format", "json"]).status(0).stdout_json();
    assert_eq!(v["outcome"], "warn", "{:#}", v["results"]);
    assert_eq!(v["proposed"]["outcome"], "fail");
    let fork = repo.merge_base("close-window", "main");
    assert_eq!(
        v["notes"][0],
        format!(
            "under main's policy (merge base {}): WARN; under this PR's policy: FAIL (not binding until merged; it changes data/migration-windows.yaml)",
            short(&fork)
        )
    );
}

#[test]
fn a_base_that_cannot_be_read_fails_closed_with_exit_2() {
    let repo = Repo::new();
    let loose = loosened_budgets(&repo);
    pr(&repo, "loosen", &[("policies/data/budgets.yaml", Some(&loose))]);
    let not_used = "the checked-out policy is not used in its place";

    // The base commit is not in this clone (a shallow checkout).
    let missing = "0123456789abcdef0123456789abcdef01234567";
    let event = repo.event(json!({ "pull_request": { "base": { "ref": "main", "sha": missing }, "head": { "sha": repo.tip("loosen").to_string() } } }));
    repo.evaluate()
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .status(2)
        .stderr_contains("the binding policy comes from the PR's base branch (pull_request event)")
        .stderr_contains(&format!("{missing} is not a commit in this clone"))
        .stderr_contains("fetch-depth: 0")
        .stderr_contains(not_used)
        .stdout_is_empty();

    // No event payload to read the base from.
    repo.evaluate()
        .env("GITHUB_EVENT_NAME", "pull_request_target")
        .status(2)
        .stderr_contains("GITHUB_EVENT_PATH is not set")
        .stderr_contains(not_used);
    let event = repo.event(json!({ "pull_request": { "number": 7 } }));
    repo.evaluate()
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", &event)
        .status(2)
        .stderr_contains("names no pull_request.base.sha");

    // --policy-from base outside a pull request, with no --policy-base.
    repo.evaluate()
        .args(["--policy-from", "base"])
        .status(2)
        .stderr_contains("not a pull request event")
        .stderr_contains("--policy-base REV");

    // The policies are not in a git repository.
    let plain = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(plain.path().join("policies/data")).unwrap();
    for rel in ["policies/k6gate.rego", "policies/data/budgets.yaml", "policies/data/slas.yaml"] {
        std::fs::write(plain.path().join(rel), repo.read(rel)).unwrap();
    }
    repo.evaluate()
        .current_dir(plain.path())
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", repo.pr_event("loosen"))
        .status(2)
        .stderr_contains("policies is not in a git repository")
        .stderr_contains(not_used);
}

#[test]
fn a_merge_base_without_the_policies_directory_fails_closed() {
    // The PR moves the policies: at the merge base there is nothing at the configured path.
    let repo = Repo::new();
    repo.branch("move");
    let mut moves: Vec<(String, Option<String>)> = Vec::new();
    for rel in [
        "k6gate.rego",
        "k6gate_test.rego",
        "data/approvers.yaml",
        "data/budgets.yaml",
        "data/migration-windows.yaml",
        "data/notifications.yaml",
        "data/slas.yaml",
        "data/waivers.yaml",
    ] {
        let text = repo.read(&format!("policies/{rel}"));
        moves.push((format!("gate/{rel}"), Some(text)));
        moves.push((format!("policies/{rel}"), None));
    }
    let moves: Vec<(&str, Option<&str>)> = moves.iter().map(|(p, t)| (p.as_str(), t.as_deref())).collect();
    repo.commit("move the policies to gate/", &moves);
    let fork = repo.merge_base("move", "main");
    repo.evaluate_policies("gate")
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", repo.pr_event("move"))
        .status(2)
        .stderr_contains(&format!(
            "the merge base {} has no policy to read: {}:gate: no such directory",
            short(&fork),
            short(&fork)
        ))
        .stderr_contains("the checked-out policy is not used in its place");
}

#[test]
fn a_broken_base_policy_names_the_commit_file_and_line() {
    let repo = Repo::new();
    let budgets = repo.read("policies/data/budgets.yaml");
    let broken = budgets.replace("    p95_ms: 0.10\n", "    p95_ms: -1\n");
    repo.commit("main: a negative budget", &[("policies/data/budgets.yaml", Some(&broken))]);
    pr(&repo, "fix", &[("policies/data/budgets.yaml", Some(&budgets))]);
    let fork = repo.merge_base("fix", "main");
    let line = broken.lines().position(|l| l == "    p95_ms: -1").unwrap() + 1;
    repo.evaluate_pr("fix")
        .status(2)
        .stderr_contains(&format!("{}:policies/data/budgets.yaml:{line}:", short(&fork)))
        .stderr_contains("p95_ms must be a number >= 0");
}

#[test]
fn policy_from_and_policy_base_choose_the_binding_policy() {
    let repo = Repo::new();
    let loose = loosened_budgets(&repo);
    pr(&repo, "loosen", &[("policies/data/budgets.yaml", Some(&loose))]);
    let fork = repo.merge_base("loosen", "main");

    // Locally, against a named base: the same rule as on the PR.
    repo.evaluate().args(["--policy-base", "main"]).status(1).stdout_contains(&format!(
        "under main's policy (merge base {}): FAIL; under the checked-out policy: PASS (not binding until merged",
        short(&fork)
    ));
    // The policies directory given as an absolute path is the same directory in git.
    let absolute = repo.root().join("policies");
    repo.evaluate_policies(absolute.to_str().unwrap()).args(["--policy-base", "main"]).status(1).stdout_contains(
        &format!("under main's policy (merge base {}): FAIL; under the checked-out policy: PASS", short(&fork)),
    );
    // Asked for explicitly, the checkout binds even on a pull request.
    repo.evaluate_pr("loosen").args(["--policy-from", "checkout"]).status(0).stdout_lacks("not binding");
    repo.evaluate_pr("loosen").env("K6GATE_POLICY_FROM", "checkout").status(0);
    repo.evaluate_pr("loosen").env("K6GATE_POLICY_FROM", "base").status(1).stdout_contains("not binding until merged");
    repo.evaluate()
        .args(["--policy-from", "checkout", "--policy-base", "main"])
        .status(2)
        .stderr_contains("--policy-base main names the base branch's policy, but --policy-from checkout");
}

#[test]
fn a_pr_that_removes_its_off_peak_windows_is_still_refused_outside_the_base_branch_windows() {
    let repo = Repo::new();
    let text = repo.read("policies/data/guard.yaml");
    let open = text.replace("  windows:\n    prod-sim:\n", "  windows:\n    prod-sim-retired:\n");
    assert_ne!(open, text, "the shipped guard data changed shape: update this test");
    pr(&repo, "open-prod-sim", &[("policies/data/guard.yaml", Some(&open))]);
    let fork = repo.merge_base("open-prod-sim", "main");
    let state = tempfile::tempdir().unwrap();
    let run = || {
        K6gate::new()
            .current_dir(repo.root())
            .arg("--state-dir")
            .arg(state.path())
            .args([
                "run",
                "--test",
                "checkout",
                "--env",
                "prod-sim",
                "--now",
                "2026-12-09T12:00:00Z",
                "--lock-wait",
                "0s",
            ])
            .arg("--templates")
            .arg(root().join("k6-templates"))
            .arg("--environments")
            .arg(root().join("environments"))
    };
    // On the PR, main's windows bind: refused, naming the base branch's file.
    run()
        .env("GITHUB_EVENT_NAME", "pull_request")
        .env("GITHUB_EVENT_PATH", repo.pr_event("open-prod-sim"))
        .status(2)
        .stderr_contains(&format!(
            "outside the off-peak windows of prod-sim ({}:policies/data/guard.yaml:",
            short(&fork)
        ))
        .stderr_contains("the next off-peak slot starts at 2026-12-09T20:00:00.000Z");
    // Outside a pull request the checkout's policy applies: no window stops it (something later may).
    run().output().stderr_lacks("off-peak");
}
