//! The handful of tags k6gate reads from each sample, resolved to fixed slots so that
//! the line parser never allocates a map per line.

use std::borrow::Cow;

/// Tag that names the phase of a sample (set by k6gate's templates).
pub const STAGE_TAG: &str = "test_stage";

/// Run-level tags that k6gate's templates put in `options.tags`.
pub const METADATA_TAGS: [&str; 5] = ["test_name", "environment", "git_commit", "deployment_version", "test_date"];

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
    /// Every tag read and its slot.
    wanted: Vec<(Box<[u8]>, usize)>,
    /// Bit `n` set when some wanted tag is `n` bytes long: most tags k6 writes (url, proto,
    /// scenario, group, expected_response) are rejected by this one test.
    lengths: u64,
}

impl TagSpec {
    /// Fails when more than [`MAX_GROUP_TAGS`] tags are asked for.
    pub fn new(group_by: &[String]) -> Result<TagSpec, String> {
        if group_by.len() > MAX_GROUP_TAGS {
            return Err(format!("at most {MAX_GROUP_TAGS} group-by tags are supported"));
        }
        let fixed = [(STAGE_TAG, SLOT_STAGE), ("status", SLOT_STATUS)];
        let wanted: Vec<(Box<[u8]>, usize)> = fixed
            .into_iter()
            .chain(METADATA_TAGS.iter().enumerate().map(|(i, t)| (*t, SLOT_METADATA + i)))
            .chain(group_by.iter().enumerate().map(|(i, t)| (t.as_str(), SLOT_GROUP + i)))
            .map(|(t, slot)| (t.as_bytes().into(), slot))
            .collect();
        let lengths = wanted.iter().fold(0u64, |m, (t, _)| m | 1u64.checked_shl(t.len() as u32).unwrap_or(0));
        Ok(TagSpec { group_by: group_by.to_vec(), wanted, lengths })
    }

    pub fn group_by(&self) -> &[String] {
        &self.group_by
    }

    /// The slot of tag `key`, if k6gate reads it.
    #[inline]
    pub fn slot(&self, key: &[u8]) -> Option<usize> {
        let len_bit = 1u64.checked_shl(key.len() as u32).unwrap_or(0);
        if key.len() >= 64 || self.lengths & len_bit == 0 {
            // Tags of 64 bytes or more are never wanted by length mask; check them fully.
            if key.len() < 64 {
                return None;
            }
        }
        // First match wins, like the lookup order above: fixed, metadata, then group tags.
        self.wanted.iter().find(|(t, _)| **t == *key).map(|(_, s)| *s)
    }
}

impl Default for TagSpec {
    fn default() -> Self {
        let group_by: Vec<String> = DEFAULT_GROUP_BY.iter().map(|s| s.to_string()).collect();
        TagSpec::new(&group_by).unwrap_or_else(|_| TagSpec { group_by: Vec::new(), wanted: Vec::new(), lengths: 0 })
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
