//! `k6gate audit --trail`: the store's audit trail beside the commits to the policy files, on
//! real git repositories in temp dirs (git2 writes the commits with fixed times). Fast tier.

use std::path::Path;

use serde_json::{Value, json};

use crate::support::cli::K6gate;

use k6gate::history::{AuditLog, FILE_NAME, NewAuditEntry, SqliteStore};

/// 2026-12-01T10:00:00Z and the hours after it, in seconds.
const T0: i64 = 1_796_119_200;
const HOUR: i64 = 3600;

fn commit(repo: &git2::Repository, file: &str, text: &str, author: &str, at_s: i64, message: &str) {
    let path = repo.workdir().unwrap().join(file);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(Path::new(file)).unwrap();
    index.write().unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig =
        git2::Signature::new(author, &format!("{}@example.com", author.to_lowercase()), &git2::Time::new(at_s, 0))
            .unwrap();
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    let parents: Vec<&git2::Commit<'_>> = parent.iter().collect();
    repo.commit(Some("HEAD"), &sig, &sig, message, &tree, &parents).unwrap();
}

fn entry(at_s: i64, env: &str, kind: &str, result: &str) -> NewAuditEntry {
    NewAuditEntry {
        at_ns: at_s * 1_000_000_000,
        environment: Some(env.into()),
        who: "alice".into(),
        host: Some("ci-7".into()),
        kind: kind.into(),
        run_id: Some(format!("run-{at_s}")),
        result: result.into(),
        detail: json!({"reason": "because"}),
    }
}

/// A repository with two policy commits and one elsewhere, and a store with three entries.
fn fixture() -> (tempfile::TempDir, std::path::PathBuf, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let repo_dir = dir.path().join("repo");
    let repo = git2::Repository::init(&repo_dir).unwrap();
    commit(&repo, "policies/data/sla.yaml", "slas: {}\n", "Carol", T0, "policies: the first SLAs");
    commit(&repo, "README.md", "hello\n", "Dan", T0 + 2 * HOUR, "README: not a policy change");
    commit(&repo, "policies/data/guard.yaml", "guard: {}\n", "Erin", T0 + 3 * HOUR, "guard: prod read-only folders");
    let state = dir.path().join("state");
    std::fs::create_dir_all(&state).unwrap();
    let store = SqliteStore::open(state.join(FILE_NAME)).unwrap();
    store.append_audit(&entry(T0 + HOUR, "prod", "readonly-switch", "ok")).unwrap();
    store.append_audit(&entry(T0 + HOUR + 60, "prod", "run", "pass")).unwrap();
    store.append_audit(&entry(T0 + 4 * HOUR, "staging", "refused", "refused")).unwrap();
    (dir, repo_dir.join("policies"), state)
}

fn trail(policies: &Path, state: &Path, extra: &[&str]) -> Vec<Value> {
    let ran = K6gate::new()
        .arg("--policies")
        .arg(policies)
        .arg("--state-dir")
        .arg(state)
        .arg("audit")
        .args(extra)
        .args(["--format", "json"])
        .status(0);
    ran.stdout_json().as_array().cloned().unwrap_or_default()
}

fn line(e: &Value) -> String {
    match e["source"].as_str() {
        Some("store") => format!(
            "{} {} {}",
            e["kind"].as_str().unwrap(),
            e["environment"].as_str().unwrap(),
            e["result"].as_str().unwrap()
        ),
        Some("policy") => format!("policy {} {}", e["author"].as_str().unwrap(), e["subject"].as_str().unwrap()),
        other => panic!("unknown source {other:?} in {e}"),
    }
}

#[test]
fn the_trail_interleaves_store_entries_with_policy_commits() {
    let (_dir, policies, state) = fixture();
    let all: Vec<String> = trail(&policies, &state, &["--trail"]).iter().map(line).collect();
    assert_eq!(
        all,
        [
            "policy Carol <carol@example.com> policies: the first SLAs",
            "readonly-switch prod ok",
            "run prod pass",
            "policy Erin <erin@example.com> guard: prod read-only folders",
            "refused staging refused",
        ]
    );
    let prod: Vec<String> = trail(&policies, &state, &["--env", "prod"]).iter().map(line).collect();
    assert_eq!(prod.len(), 4, "--env keeps every policy change and that environment's entries: {prod:?}");
    assert!(!prod.iter().any(|l| l.contains("staging")));
    let since: Vec<String> =
        trail(&policies, &state, &["--trail", "--since", "2026-12-01T12:30:00Z"]).iter().map(line).collect();
    assert_eq!(since, ["policy Erin <erin@example.com> guard: prod read-only folders", "refused staging refused"]);
    // The entries keep who, where, the run and the details.
    let first = &trail(&policies, &state, &["--env", "prod"])[1];
    assert_eq!(first["who"], "alice");
    assert_eq!(first["host"], "ci-7");
    assert_eq!(first["detail"]["reason"], "because");
    assert_eq!(trail(&policies, &state, &["--env", "prod"])[0]["files"], json!(["policies/data/sla.yaml"]));
}

#[test]
fn the_text_trail_is_a_table() {
    let (_dir, policies, state) = fixture();
    let ran = K6gate::new()
        .arg("--policies")
        .arg(&policies)
        .arg("--state-dir")
        .arg(&state)
        .args(["audit", "--env", "staging"])
        .status(0);
    let out = ran.stdout();
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("when") && lines[0].contains("result"), "{out}");
    assert!(lines.last().unwrap().contains("alice@ci-7") && lines.last().unwrap().contains("refused"), "{out}");
    assert!(out.contains("policy-change") && out.contains("commit "), "{out}");
}

#[test]
fn policies_outside_git_are_an_error_not_an_empty_history() {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(&policies).unwrap();
    K6gate::new()
        .arg("--policies")
        .arg(&policies)
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .args(["audit", "--trail"])
        .status(2)
        .stderr_contains("not in a git repository");
}
