//! The handful of tags k6gate reads from each sample, resolved to fixed slots so that
//! the line parser never allocates a map per line.

use std::borrow::Cow;

/// Tag that names the phase of a sample (set by k6gate's templates).
pub const STAGE_TAG: &str = "test_stage";

/// Run-level tags that k6gate's templates put in `options.tags`.
pub const METADATA_TAGS: [&str; 5] =
    ["test_name", "environment", "git_commit", "deployment_version", "test_date"];

pub const SLOT_STAGE: usize = 0;
pub const SLOT_STATUS: usize = 1;
pub const SLOT_METADATA: usize = 2;
pub const SLOT_GROUP: usize = SLOT_METADATA + METADATA_TAGS.len();

/// Most group-by tags supported at once.
pub const MAX_GROUP_TAGS: usize = 8;
pub const MAX_SLOTS: usize = SLOT_GROUP + MAX_GROUP_TAGS;

/// Default group key: the request name and method (status class is counted inside a group).
pub const DEFAULT_GROUP_BY: [&str; 2] = ["name", "method"];

/// Which tags land in which slot.
#[derive(Debug, Clone)]
pub struct TagSpec {
    group_by: Vec<String>,
}

impl TagSpec {
    /// Fails when more than [`MAX_GROUP_TAGS`] tags are asked for.
    pub fn new(group_by: &[String]) -> Result<TagSpec, String> {
        if group_by.len() > MAX_GROUP_TAGS {
            return Err(format!("at most {MAX_GROUP_TAGS} group-by tags are supported"));
        }
        Ok(TagSpec { group_by: group_by.to_vec() })
    }

    pub fn group_by(&self) -> &[String] {
        &self.group_by
    }

    /// The slot of tag `key`, if k6gate reads it.
    #[inline]
    pub fn slot(&self, key: &[u8]) -> Option<usize> {
        match key {
            b"test_stage" => return Some(SLOT_STAGE),
            b"status" => return Some(SLOT_STATUS),
            _ => {}
        }
        if let Some(i) = METADATA_TAGS.iter().position(|t| t.as_bytes() == key) {
            return Some(SLOT_METADATA + i);
        }
        self.group_by.iter().position(|t| t.as_bytes() == key).map(|i| SLOT_GROUP + i)
    }
}

impl Default for TagSpec {
    fn default() -> Self {
        TagSpec { group_by: DEFAULT_GROUP_BY.iter().map(|s| s.to_string()).collect() }
    }
}

/// Values of the tags named by a [`TagSpec`], borrowed from the line when possible.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tags<'a>(pub [Option<Cow<'a, str>>; MAX_SLOTS]);

impl<'a> Tags<'a> {
    pub fn get(&self, slot: usize) -> Option<&str> {
        self.0.get(slot).and_then(|v| v.as_deref())
    }

    pub fn set(&mut self, slot: usize, value: Cow<'a, str>) {
        if let Some(s) = self.0.get_mut(slot) {
            *s = Some(value);
        }
    }
}
