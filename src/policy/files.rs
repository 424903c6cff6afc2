//! The files a policy is made of, read from a directory on disk or from a git tree.
//!
//! A policy is the `*.rego` files directly in its directory and the `data/*.yaml` (or
//! `.yml`) files beside them. On a pull request the binding policy is the base branch's, read
//! straight from git's object database (no second checkout), so the loaders take the files as
//! [`PolicyFiles`] and never open a path themselves. Each file keeps the name its errors and
//! sources use: the path on disk, or git's `<rev>:<path>` for a file of a tree.

use std::path::Path;

use git2::{ObjectType, Oid, Repository};

use super::PolicyError;

/// One policy file and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyFile {
    /// Where it sits inside the policies directory, `/`-separated: `k6gate.rego`,
    /// `data/budgets.yaml`. What two policies are compared by.
    pub rel: String,
    /// How errors and sources name it: `policies/data/budgets.yaml` on disk,
    /// `abc1234:policies/data/budgets.yaml` in a tree.
    pub name: String,
    pub text: String,
}

/// The Rego and data files of one policy, each list sorted by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyFiles {
    /// The policies directory as errors name it (`policies`, `abc1234:policies`).
    pub dir: String,
    pub rego: Vec<PolicyFile>,
    pub data: Vec<PolicyFile>,
}

fn is_yaml(name: &str) -> bool {
    name.ends_with(".yaml") || name.ends_with(".yml")
}

fn is_rego(name: &str) -> bool {
    name.ends_with(".rego")
}

/// The files directly in `dir` whose name `keep` accepts, sorted by name; `prefix` starts
/// their `rel`.
fn dir_files(dir: &Path, prefix: &str, keep: fn(&str) -> bool) -> Result<Vec<PolicyFile>, PolicyError> {
    let io = |path: &Path, e: std::io::Error| PolicyError::Io { path: path.to_path_buf(), message: e.to_string() };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(keep))
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).map_err(|e| io(&path, e))?;
            let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            Ok(PolicyFile { rel: format!("{prefix}{file_name}"), name: path.display().to_string(), text })
        })
        .collect()
}

/// The `*.yaml`/`*.yml` files directly in `dir`, sorted (a waivers directory, a data directory).
pub fn yaml_in(dir: &Path) -> Result<Vec<PolicyFile>, PolicyError> {
    dir_files(dir, "", is_yaml)
}

/// The `*.rego` files directly in `dir`, sorted.
pub fn rego_in(dir: &Path) -> Result<Vec<PolicyFile>, PolicyError> {
    dir_files(dir, "", is_rego)
}

impl PolicyFiles {
    /// The policy in the directory `dir`: its `*.rego` files and `data/*.yaml`. A directory
    /// that cannot be read is an error naming it.
    pub fn from_dir(dir: &Path) -> Result<PolicyFiles, PolicyError> {
        let data = dir_files(&dir.join("data"), "data/", is_yaml)?;
        let rego = dir_files(dir, "", is_rego)?;
        Ok(PolicyFiles { dir: dir.display().to_string(), rego, data })
    }

    /// The policy in the directory `dir` (repo-relative, `/`-separated; empty for the root)
    /// of `commit`'s tree, read from the object database. Files are named `<rev>:<path>`.
    pub fn from_tree(repo: &Repository, commit: Oid, dir: &str, rev: &str) -> Result<PolicyFiles, PolicyError> {
        let dir = dir.trim_matches('/');
        let label = if dir.is_empty() { format!("{rev}:") } else { format!("{rev}:{dir}") };
        let missing = |what: String| PolicyError::Io { path: label.clone().into(), message: what };
        let git = |e: git2::Error| missing(e.message().to_string());
        let root = repo.find_commit(commit).and_then(|c| c.tree()).map_err(git)?;
        let tree = if dir.is_empty() {
            root
        } else {
            let entry =
                root.get_path(Path::new(dir)).map_err(|_| missing("no such directory in this commit".into()))?;
            if entry.kind() != Some(ObjectType::Tree) {
                return Err(missing("not a directory in this commit".into()));
            }
            repo.find_tree(entry.id()).map_err(git)?
        };
        let files =
            |tree: &git2::Tree<'_>, sub: &str, keep: fn(&str) -> bool| -> Result<Vec<PolicyFile>, PolicyError> {
                let mut out = Vec::new();
                for entry in tree.iter() {
                    let Some(file_name) = entry.name().ok().filter(|n| keep(n)) else { continue };
                    if entry.kind() != Some(ObjectType::Blob) {
                        continue;
                    }
                    let rel = format!("{sub}{file_name}");
                    let name = if dir.is_empty() { format!("{rev}:{rel}") } else { format!("{rev}:{dir}/{rel}") };
                    let blob = repo.find_blob(entry.id()).map_err(git)?;
                    let text = String::from_utf8(blob.content().to_vec())
                        .map_err(|_| PolicyError::Io { path: name.clone().into(), message: "not UTF-8 text".into() })?;
                    out.push(PolicyFile { rel, name, text });
                }
                out.sort_by(|a, b| a.rel.cmp(&b.rel));
                Ok(out)
            };
        let data = match tree.get_name("data") {
            Some(entry) if entry.kind() == Some(ObjectType::Tree) => {
                files(&repo.find_tree(entry.id()).map_err(git)?, "data/", is_yaml)?
            }
            _ => Vec::new(),
        };
        let rego = files(&tree, "", is_rego)?;
        Ok(PolicyFiles { dir: label, rego, data })
    }

    /// The files whose contents differ between `self` and `other` (added, removed or changed),
    /// by their place in the policies directory, sorted. Empty: the same policy.
    pub fn changed(&self, other: &PolicyFiles) -> Vec<String> {
        let all = |p: &PolicyFiles| -> std::collections::BTreeMap<String, String> {
            p.rego.iter().chain(&p.data).map(|f| (f.rel.clone(), f.text.clone())).collect()
        };
        let (a, b) = (all(self), all(other));
        let mut out: Vec<String> =
            a.keys().chain(b.keys()).filter(|k| a.get(*k) != b.get(*k)).cloned().collect::<Vec<_>>();
        out.sort();
        out.dedup();
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(rel: &str, text: &str) -> PolicyFile {
        PolicyFile { rel: rel.into(), name: format!("p/{rel}"), text: text.into() }
    }

    #[test]
    fn changed_lists_added_removed_and_edited_files() {
        let a = PolicyFiles {
            dir: "p".into(),
            rego: vec![file("a.rego", "x"), file("b.rego", "y")],
            data: vec![file("data/s.yaml", "1")],
        };
        assert!(a.changed(&a.clone()).is_empty());
        let b = PolicyFiles {
            dir: "q".into(),
            rego: vec![file("a.rego", "x")],
            data: vec![file("data/s.yaml", "2"), file("data/t.yaml", "")],
        };
        assert_eq!(a.changed(&b), ["b.rego", "data/s.yaml", "data/t.yaml"]);
    }
}
