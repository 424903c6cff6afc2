//! `k6gate audit`: the store's audit trail (runs, refusals, guard actions, read-only switches
//! and restores, teardown results) beside the policy changes, one timeline.
//!
//! The policy changes are the commits that touched the policy directory, read with git2 from
//! the repository that holds it (as `github::approval` reads its history): who committed,
//! when, the subject and the files. Pure apart from that read: the store's entries are given,
//! and nothing here prints or reads the clock.

use std::path::Path;

use serde::Serialize;

use crate::history::AuditEntry;

/// A commit that changed the policy files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyChange {
    pub commit: String,
    pub at_ns: i64,
    pub author: String,
    pub subject: String,
    /// Paths relative to the repository root, `/`-separated.
    pub files: Vec<String>,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "source", rename_all = "kebab-case")]
pub enum Event {
    /// From the store's audit trail.
    Store(AuditEntry),
    /// A commit to the policy files.
    Policy(PolicyChange),
}

impl Event {
    pub fn at_ns(&self) -> i64 {
        match self {
            Event::Store(e) => e.entry.at_ns,
            Event::Policy(c) => c.at_ns,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("{}: cannot read the policy history: {message}", path.display())]
    Git { path: std::path::PathBuf, message: String },
}

/// The commits reachable from `HEAD` that changed anything under `policies`, newest last,
/// from `since_ns` on. A policy directory outside a git repository is an error: the audit
/// would otherwise show no policy changes where it cannot know.
pub fn policy_changes(policies: &Path, since_ns: Option<i64>) -> Result<Vec<PolicyChange>, AuditError> {
    let err = |message: String| AuditError::Git { path: policies.to_path_buf(), message };
    let repo =
        git2::Repository::discover(policies).map_err(|e| err(format!("not in a git repository ({})", e.message())))?;
    let workdir = repo.workdir().ok_or_else(|| err("the git repository has no working tree".into()))?;
    let workdir = workdir.canonicalize().map_err(|e| err(e.to_string()))?;
    let dir = policies.canonicalize().map_err(|e| err(e.to_string()))?;
    let rel = dir.strip_prefix(&workdir).map_err(|_| err("not inside the repository's working tree".into()))?;
    let prefix: String =
        rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect::<Vec<_>>().join("/");
    let g = |e: git2::Error| err(e.message().to_string());
    let mut walk = repo.revwalk().map_err(g)?;
    walk.set_sorting(git2::Sort::TIME | git2::Sort::REVERSE).map_err(g)?;
    match repo.head() {
        Ok(_) => walk.push_head().map_err(g)?,
        // A repository without commits has no policy changes yet.
        Err(e) if e.code() == git2::ErrorCode::UnbornBranch => return Ok(Vec::new()),
        Err(e) => return Err(g(e)),
    }
    let mut out = Vec::new();
    for oid in walk {
        let commit = repo.find_commit(oid.map_err(g)?).map_err(g)?;
        let at_ns = commit.time().seconds().saturating_mul(1_000_000_000);
        if since_ns.is_some_and(|s| at_ns < s) {
            continue;
        }
        let tree = commit.tree().map_err(g)?;
        let parent = match commit.parent(0) {
            Ok(p) => Some(p.tree().map_err(g)?),
            Err(_) => None,
        };
        let mut opts = git2::DiffOptions::new();
        if !prefix.is_empty() {
            opts.pathspec(&prefix);
        }
        let diff = repo.diff_tree_to_tree(parent.as_ref(), Some(&tree), Some(&mut opts)).map_err(g)?;
        let files: Vec<String> = diff
            .deltas()
            .filter_map(|d| {
                d.new_file().path().or_else(|| d.old_file().path()).map(|p| p.to_string_lossy().replace('\\', "/"))
            })
            .collect();
        if files.is_empty() {
            continue;
        }
        let author = commit.author();
        let who = match (author.name().ok(), author.email().ok()) {
            (Some(n), Some(m)) => format!("{n} <{m}>"),
            (Some(n), None) => n.to_string(),
            (None, Some(m)) => m.to_string(),
            (None, None) => "unknown".into(),
        };
        out.push(PolicyChange {
            commit: oid_short(commit.id()),
            at_ns,
            author: who,
            subject: commit.summary().ok().flatten().unwrap_or("").to_string(),
            files,
        });
    }
    Ok(out)
}

fn oid_short(oid: git2::Oid) -> String {
    oid.to_string().chars().take(12).collect()
}

/// The store's entries and the policy changes in one timeline, oldest first (the store's
/// entries before a commit of the same instant).
pub fn timeline(entries: Vec<AuditEntry>, changes: Vec<PolicyChange>) -> Vec<Event> {
    let mut out: Vec<Event> =
        entries.into_iter().map(Event::Store).chain(changes.into_iter().map(Event::Policy)).collect();
    out.sort_by_key(|e| (e.at_ns(), matches!(e, Event::Policy(_))));
    out
}

/// The timeline as a table: when, who, what, environment, result.
pub fn text(events: &[Event]) -> String {
    if events.is_empty() {
        return "no audit entries and no policy changes in this range\n".into();
    }
    let mut rows =
        vec![["when".to_string(), "who".into(), "what".into(), "env".into(), "result".into(), "details".into()]];
    for e in events {
        let when = crate::time::format_rfc3339_ms(e.at_ns());
        rows.push(match e {
            Event::Store(a) => {
                let a = &a.entry;
                let who = match &a.host {
                    Some(h) => format!("{}@{h}", a.who),
                    None => a.who.clone(),
                };
                let mut details = a.run_id.as_ref().map(|r| format!("run {r}")).unwrap_or_default();
                if !a.detail.is_null() && a.detail != serde_json::json!({}) {
                    if !details.is_empty() {
                        details.push(' ');
                    }
                    details.push_str(&a.detail.to_string());
                }
                [
                    when,
                    who,
                    a.kind.clone(),
                    a.environment.clone().unwrap_or_else(|| "-".into()),
                    a.result.clone(),
                    details,
                ]
            }
            Event::Policy(c) => [
                when,
                c.author.clone(),
                "policy-change".into(),
                "-".into(),
                format!("commit {}", c.commit),
                format!("{} ({})", c.subject, c.files.join(", ")),
            ],
        });
    }
    let mut widths = [0usize; 5];
    for r in &rows {
        for (w, cell) in widths.iter_mut().zip(r.iter()) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
        for (cell, w) in r.iter().zip(widths.iter().map(Some).chain(std::iter::once(None))) {
            match w {
                Some(w) => out.push_str(&format!("{cell:<w$}  ")),
                None => out.push_str(cell),
            }
        }
        let trimmed = out.trim_end().len();
        out.truncate(trimmed);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::NewAuditEntry;

    fn entry(seq: i64, at_ns: i64, kind: &str) -> AuditEntry {
        AuditEntry {
            seq,
            entry: NewAuditEntry {
                at_ns,
                environment: Some("prod".into()),
                who: "alice".into(),
                host: Some("ci-1".into()),
                kind: kind.into(),
                run_id: Some("r1".into()),
                result: "ok".into(),
                detail: serde_json::json!({}),
            },
        }
    }

    #[test]
    fn the_timeline_interleaves_by_time() {
        let change = PolicyChange {
            commit: "abc".into(),
            at_ns: 2,
            author: "bob".into(),
            subject: "raise the SLA".into(),
            files: vec!["policies/data/sla.yaml".into()],
        };
        let t = timeline(vec![entry(1, 3, "run"), entry(2, 1, "readonly-switch")], vec![change]);
        let kinds: Vec<i64> = t.iter().map(Event::at_ns).collect();
        assert_eq!(kinds, [1, 2, 3]);
        let table = text(&t);
        assert!(
            table.lines().nth(2).is_some_and(|l| l.contains("policy-change") && l.contains("raise the SLA")),
            "{table}"
        );
        assert!(table.contains("alice@ci-1"), "{table}");
        assert_eq!(text(&[]), "no audit entries and no policy changes in this range\n");
    }
}
