//! Which policy binds. On a pull request the checkout is the PR's own code, policy included:
//! read from there, a PR that raises a budget would pass its own check before anyone reviewed
//! the change. So on `pull_request` and `pull_request_target` events the binding policy is
//! the base branch's, at the merge base of the PR's head and `pull_request.base.sha`, read
//! with git2 from the object database (no second checkout, no `git` process).
//!
//! When that policy is required and cannot be read, loading fails: it never falls back to
//! the checkout, which is exactly the policy the PR could have changed.

use std::path::{Path, PathBuf};

use git2::{Oid, Repository};

use super::PolicySource;
use crate::github::actions::{PULL_REQUEST_EVENTS, pull_request_refs};
use crate::policy::PolicyError;
use crate::policy::files::PolicyFiles;
use crate::policy::verdict::PolicyBase;

/// Where the binding policy comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum PolicyFrom {
    /// The checked-out policies directory, always.
    #[default]
    Checkout,
    /// The base branch on `pull_request` and `pull_request_target` events
    /// (`GITHUB_EVENT_NAME`, base commit from `GITHUB_EVENT_PATH`), else the checkout.
    Auto,
    /// The base branch, always: at the merge base of `HEAD` and `rev` when given, else of the
    /// pull request event's head and base.
    Base { rev: Option<String> },
}

/// The base branch's policy files and where they came from.
#[derive(Debug)]
pub(super) struct BasePolicy {
    pub files: PolicyFiles,
    pub base: PolicyBase,
    /// Whose the checked-out policy is, for the note: "this PR's policy".
    pub checkout_is: &'static str,
}

/// Which base revision, and why it is wanted.
struct Wanted {
    /// The base side of the merge base: a commit or any revision git2 parses.
    base: String,
    /// The head side, when the event names it (else `HEAD`).
    head: Option<String>,
    /// The branch as people call it.
    branch: String,
    /// Why the base is wanted, for the error.
    why: String,
    checkout_is: &'static str,
}

fn fail(why: &str, reason: impl Into<String>) -> PolicyError {
    PolicyError::Base { wanted: why.to_string(), reason: reason.into() }
}

/// The base branch's policy when `source` says it binds (the files differ from the checkout's
/// or not: the caller compares), `None` when the checkout's binds.
pub(super) fn resolve(source: &PolicySource) -> Result<Option<BasePolicy>, PolicyError> {
    let Some(wanted) = wanted(source)? else { return Ok(None) };
    let base = read(source, &wanted).map_err(|reason| fail(&wanted.why, reason))?;
    tracing::info!(
        "policy: {}'s at merge base {}, read from git; {} is judged too when it differs, not binding",
        base.base.branch,
        base.base.short(),
        base.checkout_is
    );
    Ok(Some(base))
}

fn wanted(source: &PolicySource) -> Result<Option<Wanted>, PolicyError> {
    let event = source.vars.get("GITHUB_EVENT_NAME");
    let on_pr = event.as_deref().filter(|e| PULL_REQUEST_EVENTS.contains(e));
    match (&source.from, on_pr) {
        (PolicyFrom::Checkout, _) | (PolicyFrom::Auto, None) => Ok(None),
        (PolicyFrom::Base { rev: Some(rev) }, _) => Ok(Some(Wanted {
            base: rev.clone(),
            head: None,
            branch: rev.clone(),
            why: format!("--policy-base {rev}"),
            checkout_is: "the checked-out policy",
        })),
        (PolicyFrom::Base { rev: None }, None) => Err(fail(
            "the base branch (--policy-from base)",
            format!(
                "this is not a pull request event (GITHUB_EVENT_NAME is {}), so there is no base to read it from; \
                 name one with --policy-base REV",
                event.as_deref().unwrap_or("not set")
            ),
        )),
        (PolicyFrom::Auto | PolicyFrom::Base { rev: None }, Some(name)) => {
            let why = format!("the PR's base branch ({name} event)");
            let path = source
                .vars
                .get("GITHUB_EVENT_PATH")
                .ok_or_else(|| fail(&why, "GITHUB_EVENT_PATH is not set, so the PR's base commit is unknown"))?;
            let refs = pull_request_refs(Path::new(&path)).map_err(|e| fail(&why, e.to_string()))?;
            Ok(Some(Wanted {
                branch: refs.base_ref.unwrap_or_else(|| "the base branch".into()),
                base: refs.base_sha,
                head: refs.head_sha,
                why,
                checkout_is: "this PR's policy",
            }))
        }
    }
}

fn read(source: &PolicySource, wanted: &Wanted) -> Result<BasePolicy, String> {
    let (repo, dir) = open(&source.policies_dir)?;
    let commit = |rev: &str| -> Result<Oid, String> {
        repo.revparse_single(rev).and_then(|o| o.peel_to_commit()).map(|c| c.id()).map_err(|e| {
            format!(
                "{rev} is not a commit in this clone ({}); fetch the base branch's history (actions/checkout with fetch-depth: 0)",
                e.message()
            )
        })
    };
    let base = commit(&wanted.base)?;
    // The event's head when this clone has it (pull_request_target checks out the base branch
    // without the PR's commits), else HEAD. Either way the merge base is an ancestor of the
    // base commit: base-branch history, never the PR's.
    let head = match wanted.head.as_deref().map(commit) {
        Some(Ok(head)) => head,
        _ => commit("HEAD")?,
    };
    let merge_base = repo.merge_base(head, base).map_err(|e| {
        format!(
            "{} and {} have no merge base in this clone ({}); fetch the full history (fetch-depth: 0)",
            short(head),
            short(base),
            e.message()
        )
    })?;
    let rev = short(merge_base);
    let files = PolicyFiles::from_tree(&repo, merge_base, &dir, &rev)
        .map_err(|e| format!("the merge base {rev} has no policy to read: {e}"))?;
    if files.rego.is_empty() {
        return Err(format!("the merge base {rev} has no .rego files in {}", files.dir));
    }
    Ok(BasePolicy {
        files,
        base: PolicyBase { branch: wanted.branch.clone(), commit: merge_base.to_string() },
        checkout_is: wanted.checkout_is,
    })
}

fn short(id: Oid) -> String {
    id.to_string().chars().take(7).collect()
}

/// The repository `policies_dir` is in, and the directory's path from its root
/// (`/`-separated). The directory need not exist in the checkout (a PR may delete it).
fn open(policies_dir: &Path) -> Result<(Repository, String), String> {
    let abs = std::path::absolute(policies_dir).map_err(|e| format!("{}: {e}", policies_dir.display()))?;
    let existing = abs.ancestors().find(|a| a.exists()).unwrap_or(&abs);
    let rest = abs.strip_prefix(existing).map(Path::to_path_buf).unwrap_or_default();
    let repo = Repository::discover(existing)
        .map_err(|e| format!("{} is not in a git repository ({})", policies_dir.display(), e.message()))?;
    let workdir = repo.workdir().ok_or("the git repository has no work tree")?;
    let canonical = |p: &Path| p.canonicalize().map_err(|e| format!("{}: {e}", p.display()));
    let (existing, workdir) = (canonical(existing)?, canonical(workdir)?);
    let inside: PathBuf = existing
        .strip_prefix(&workdir)
        .map_err(|_| format!("{} is outside the git work tree {}", policies_dir.display(), workdir.display()))?
        .join(rest);
    let dir = inside.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
    Ok((repo, dir))
}
