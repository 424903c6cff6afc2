//! The git side of the approval check: what one entry of one file (a waiver, a migration
//! window, a file's `approvers`, the CODEOWNERS rules) was at each commit, and which commits
//! of the default branch's first-parent history changed it.
//!
//! An entry is compared by what it means (its parsed content), never by the bytes of its
//! file, so a comment or a reformatted neighbour is not a change, and a change to the entry
//! is one whatever else its commit did. Only regular files count: a symbolic link, a
//! submodule, or a path through either, has no entries.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use git2::{FileMode, ObjectType, Oid, Repository};
use serde_json::Value;

use super::codeowners::CodeOwners;

/// What is looked up in a file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Key {
    /// One item of the `waivers` or `migration_windows` list, by id.
    Entry { section: &'static str, id: String },
    /// The file's `approvers` list.
    Approvers,
    /// A CODEOWNERS file's rules.
    CodeOwners,
}

/// One entry of one file (repo-relative, `/`-separated).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    pub path: String,
    pub key: Key,
}

impl Target {
    /// How reasons name it: `W-1 in waivers/W-1.yaml`.
    pub fn label(&self) -> String {
        match &self.key {
            Key::Entry { id, .. } => format!("{id} in {}", self.path),
            Key::Approvers => format!("the approvers in {}", self.path),
            Key::CodeOwners => format!("the code owners in {}", self.path),
        }
    }

    /// Whether it is an approver list (approvers or CODEOWNERS) rather than an override.
    pub fn is_list(&self) -> bool {
        !matches!(self.key, Key::Entry { .. })
    }
}

/// What the text of a file says about `key`, `None` when it does not have it (or does not
/// parse).
pub fn value_of_text(key: &Key, text: &str) -> Option<Value> {
    match key {
        Key::CodeOwners => Some(CodeOwners::parse(text).meaning()),
        Key::Entry { section, id } => {
            let doc: Value = yaml_serde::from_str(text).ok()?;
            doc.get(*section)?
                .as_array()?
                .iter()
                .find(|e| e.get("id").and_then(|i| i.as_str()) == Some(id.as_str()))
                .cloned()
        }
        Key::Approvers => {
            let doc: Value = yaml_serde::from_str(text).ok()?;
            let list = doc.get("approvers")?.as_array()?;
            let mut names: Vec<String> = list
                .iter()
                .filter_map(|a| a.as_str())
                .map(|a| a.trim().trim_start_matches('@').to_lowercase())
                .collect();
            names.sort();
            names.dedup();
            Some(Value::from(names))
        }
    }
}

/// Why a path is not a regular file in a commit's tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRegular {
    /// Nothing there.
    Absent,
    /// Something that is not a regular file, described (`a symbolic link`).
    Other { path: String, what: String },
}

fn describe_mode(mode: i32) -> String {
    match mode {
        0o120000 => "a symbolic link".into(),
        0o160000 => "a submodule".into(),
        0o040000 => "a directory".into(),
        m => format!("git mode {m:o}"),
    }
}

/// The blob of `path` in `commit`'s tree when every directory on the way is a tree and the
/// file is a regular blob (mode 100644 or 100755).
pub fn regular_blob(repo: &Repository, commit: Oid, path: &str) -> Result<Oid, NotRegular> {
    let tree = repo.find_commit(commit).and_then(|c| c.tree()).map_err(|_| NotRegular::Absent)?;
    let names: Vec<&str> = path.split('/').collect();
    let mut tree = tree;
    for (i, name) in names.iter().enumerate() {
        let Some(entry) = tree.get_name(name) else { return Err(NotRegular::Absent) };
        let so_far = names.get(..=i).unwrap_or_default().join("/");
        let mode = entry.filemode();
        let last = i + 1 == names.len();
        if last {
            let regular = mode == i32::from(FileMode::Blob) || mode == i32::from(FileMode::BlobExecutable);
            if !regular || entry.kind() != Some(ObjectType::Blob) {
                return Err(NotRegular::Other { path: so_far, what: describe_mode(mode) });
            }
            return Ok(entry.id());
        }
        if mode != i32::from(FileMode::Tree) {
            return Err(NotRegular::Other { path: so_far, what: describe_mode(mode) });
        }
        let id = entry.id();
        drop(entry);
        tree = repo.find_tree(id).map_err(|_| NotRegular::Absent)?;
    }
    Err(NotRegular::Absent)
}

/// The regular YAML files directly in `dir` at `commit` (a directory that is itself a
/// symbolic link has none).
pub fn yaml_files(repo: &Repository, commit: Oid, dir: &str) -> Vec<String> {
    let Ok(tree) = repo.find_commit(commit).and_then(|c| c.tree()) else { return Vec::new() };
    let sub = if dir.is_empty() {
        Some(tree)
    } else {
        tree.get_path(Path::new(dir))
            .ok()
            .filter(|e| e.filemode() == i32::from(FileMode::Tree))
            .and_then(|e| repo.find_tree(e.id()).ok())
    };
    let Some(sub) = sub else { return Vec::new() };
    sub.iter()
        .filter(|e| e.filemode() == i32::from(FileMode::Blob) || e.filemode() == i32::from(FileMode::BlobExecutable))
        .filter_map(|e| e.name().ok().map(str::to_string))
        .filter(|n| n.ends_with(".yaml") || n.ends_with(".yml"))
        .map(|n| if dir.is_empty() { n } else { format!("{dir}/{n}") })
        .collect()
}

/// Reads entries from commits, each distinct blob parsed once.
#[derive(Default)]
pub struct Reader {
    parsed: BTreeMap<(Oid, Key), Option<Value>>,
    /// [`Reader::changes`] already walked: (target, commit) -> the changes up to that commit.
    walked: BTreeMap<(Target, Oid), Vec<Oid>>,
}

impl Reader {
    /// `target` as of `commit`; `None` when the file or the entry is not there, or the file is
    /// not a regular one.
    pub fn value(&mut self, repo: &Repository, commit: Oid, target: &Target) -> Option<Value> {
        let blob = regular_blob(repo, commit, &target.path).ok()?;
        self.value_of_blob(repo, blob, &target.key)
    }

    pub fn value_of_blob(&mut self, repo: &Repository, blob: Oid, key: &Key) -> Option<Value> {
        self.parsed
            .entry((blob, key.clone()))
            .or_insert_with(|| {
                let blob = repo.find_blob(blob).ok()?;
                value_of_text(key, &String::from_utf8_lossy(blob.content()))
            })
            .clone()
    }

    /// The commits on `tip`'s first-parent chain that made `target` what it is at `tip`,
    /// newest first: every commit where it differs from the first parent, back to the one that
    /// introduced it (the root commit when it was there from the start). Empty when `tip` does
    /// not have it.
    pub fn changes(&mut self, repo: &Repository, tip: Oid, target: &Target) -> Result<Vec<Oid>, String> {
        let mut out = Vec::new();
        let mut commit = repo.find_commit(tip).map_err(|e| e.message().to_string())?;
        let mut here = self.value(repo, tip, target);
        while here.is_some() {
            // The approval check walks from many commits of one chain: stop where a walk did.
            if let Some(known) = self.walked.get(&(target.clone(), commit.id())) {
                out.extend(known);
                break;
            }
            let Ok(parent) = commit.parent(0) else {
                out.push(commit.id());
                break;
            };
            let before = self.value(repo, parent.id(), target);
            if before != here {
                out.push(commit.id());
            }
            (commit, here) = (parent, before);
        }
        self.walked.insert((target.clone(), tip), out.clone());
        Ok(out)
    }
}

/// `file` relative to the work tree `workdir` (canonical), `/`-separated, without resolving
/// symbolic links: every component inside the work tree must be a real directory and the file
/// a regular file, so a link is never verified through what it points to.
pub fn relative_regular(workdir: &Path, file: &Path) -> Result<String, String> {
    let abs = std::path::absolute(file).map_err(|e| format!("{}: {e}", file.display()))?;
    // Directories above the work tree may be links (a temp dir, a mount); it starts at the
    // outermost ancestor that is the work tree, so a link inside it back to its root is seen.
    let inside = abs
        .ancestors()
        .skip(1)
        .filter(|a| a.canonicalize().is_ok_and(|c| c == workdir))
        .last()
        .and_then(|root| abs.strip_prefix(root).ok().map(|rel| (root.to_path_buf(), rel.to_path_buf())));
    let Some((root, rel)) = inside else {
        return Err(format!("{} is not inside the git work tree", file.display()));
    };
    let mut names = Vec::new();
    let mut at = root;
    for component in rel.components() {
        let name = match component {
            Component::Normal(n) => n.to_string_lossy().into_owned(),
            Component::CurDir => continue,
            _ => return Err(format!("{}: `..` in a policy path is not followed", file.display())),
        };
        at.push(&name);
        names.push(name);
        let meta = std::fs::symlink_metadata(&at).map_err(|e| format!("{}: {e}", at.display()))?;
        if meta.file_type().is_symlink() {
            return Err(format!(
                "{} is a symbolic link: only a regular file tracked by git counts, never what a link points to",
                names.join("/")
            ));
        }
    }
    let meta = std::fs::symlink_metadata(&at).map_err(|e| format!("{}: {e}", at.display()))?;
    if !meta.file_type().is_file() {
        return Err(format!("{} is not a regular file", names.join("/")));
    }
    Ok(names.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_its_meaning_not_its_bytes() {
        let key = Key::Entry { section: "waivers", id: "W-1".into() };
        let a = "waivers:\n  - id: W-1\n    metric: p95_ms\n  - id: W-2\n    metric: p99_ms\n";
        let b = "# reformatted\nwaivers:\n- {id: W-1, metric: p95_ms}   # same\n- id: W-2\n  metric: p50_ms\n";
        let c = "waivers:\n  - id: W-1\n    metric: p99_ms\n";
        assert_eq!(value_of_text(&key, a), value_of_text(&key, b));
        assert_ne!(value_of_text(&key, a), value_of_text(&key, c));
        assert_eq!(value_of_text(&key, "sla: {}\n"), None);
        assert_eq!(value_of_text(&key, "waivers: [\n"), None, "unparsable is absent");
    }

    #[test]
    fn approvers_are_a_set_of_logins() {
        let a = value_of_text(&Key::Approvers, "approvers: [perf-lead, '@Bob']\n");
        let b = value_of_text(&Key::Approvers, "# who\napprovers:\n  - bob\n  - perf-lead\n  - bob\n");
        assert_eq!(a, b);
        assert_eq!(a, Some(serde_json::json!(["bob", "perf-lead"])));
        assert_eq!(value_of_text(&Key::Approvers, "waivers: []\n"), None);
    }
}
