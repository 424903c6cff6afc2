//! `mix: {include: traffic/<env>.yaml}`: an environment's traffic mix taken from the file
//! `k6gate profile from-prometheus` writes, instead of a hand copy of it.
//!
//! ```yaml
//! mix:
//!   include: traffic/prod.yaml   # relative to the environments directory
//!   connections: 60              # keys beside `include` win over the included file's
//! ```
//!
//! The included file's top-level `mix:` block is read strictly (the same `Mix` type): an
//! unknown key, a wrong type or a bad value is an error naming the included file, its line and
//! the field. The path must stay inside the environments directory (no absolute path, no `..`
//! out of it, no symlink out of it), must not be the environment itself, and the included
//! block may not include again: one level, so a cycle cannot be written.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use super::RenderError;
use super::mix::Mix;
use super::production::line_of;

/// Where the environment's mix came from, to locate later errors in the right file.
#[derive(Debug, Clone)]
pub struct Included {
    pub path: PathBuf,
    pub text: String,
    /// The keys under `mix` that the included file gave (the environment's own keys win).
    pub keys: BTreeSet<String>,
}

impl Included {
    /// The file and line a `mix.<...>` field's error belongs to: the included file when the
    /// field's first key came from it, else `None` (the environment's own key).
    pub fn locate(&self, field: &str) -> Option<(PathBuf, Option<u64>)> {
        let first = field.strip_prefix("mix.")?.split(['.', '[']).next()?;
        self.keys.contains(first).then(|| (self.path.clone(), line_of(&self.text, field)))
    }
}

/// Replaces `mix.include` in `raw` (the environment as parsed YAML) by the included file's
/// `mix:` block, the environment's other `mix` keys over it. `Ok(None)` without an include.
pub fn resolve_mix(
    dir: &Path,
    env_path: &Path,
    env_text: &str,
    raw: &mut serde_json::Value,
) -> Result<Option<Included>, RenderError> {
    let Some(mix) = raw.get_mut("mix").and_then(|m| m.as_object_mut()) else { return Ok(None) };
    let Some(include) = mix.remove("include") else { return Ok(None) };
    let here = |message: String| RenderError::input(env_path, line_of(env_text, "mix.include"), message);
    let rel = include
        .as_str()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| here(format!("mix.include: {include} is not a path (traffic/<env>.yaml)")))?;
    let rel_path = Path::new(rel);
    if rel_path.is_absolute() || rel_path.components().any(|c| matches!(c, std::path::Component::ParentDir)) {
        return Err(here(format!(
            "mix.include: {rel:?} must be a path inside the environments directory {} (no absolute path, no ..)",
            dir.display()
        )));
    }
    let path = dir.join(rel_path);
    let canonical =
        path.canonicalize().map_err(|e| here(format!("mix.include: cannot read {}: {e}", path.display())))?;
    let inside = dir.canonicalize().is_ok_and(|d| canonical.starts_with(d));
    if !inside {
        return Err(here(format!(
            "mix.include: {} leads outside the environments directory {}",
            path.display(),
            dir.display()
        )));
    }
    if env_path.canonicalize().is_ok_and(|e| e == canonical) {
        return Err(here(format!("mix.include: {rel:?} is this environment itself")));
    }
    let text = std::fs::read_to_string(&canonical)
        .map_err(|e| here(format!("mix.include: cannot read {}: {e}", path.display())))?;
    let doc: serde_json::Value = yaml_serde::from_str(&text)
        .map_err(|e| RenderError::input(&path, e.location().map(|l| l.line() as u64), format!("invalid YAML: {e}")))?;
    let block = doc.get("mix").and_then(|m| m.as_object()).ok_or_else(|| {
        RenderError::input(
            &path,
            None,
            "no top-level `mix:` block to include (write one with `k6gate profile from-prometheus`)",
        )
    })?;
    if block.contains_key("include") {
        return Err(RenderError::input(
            &path,
            line_of(&text, "mix.include"),
            "mix.include: an included mix may not include another file (one level only: no cycles)",
        ));
    }
    // The included block on its own must be a valid mix: its errors are its file's.
    let own: Result<Mix, _> = serde_path_to_error::deserialize(serde_json::Value::Object(block.clone()));
    if let Err(e) = own {
        let field = format!("mix.{}", e.path());
        return Err(RenderError::input(&path, line_of(&text, &field), format!("{field}: {}", e.into_inner())));
    }
    let keys: BTreeSet<String> = block.keys().filter(|k| !mix.contains_key(*k)).cloned().collect();
    let mut merged = block.clone();
    merged.extend(std::mem::take(mix));
    *mix = merged;
    Ok(Some(Included { path, text, keys }))
}
