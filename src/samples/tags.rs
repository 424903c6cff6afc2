//! The handful of tags k6gate reads from each sample, resolved to fixed slots so that
//! the line parser never allocates a map per line.

use std::borrow::Cow;

/// Tag that names the phase of a sample (set by k6gate's templates).
pub const STAGE_TAG: &str = "test_stage";

/// k6's tag on every `http_*` sample: `"true"` when the response was one the script
/// expected (by default a status below 400; `http.setResponseCallback` changes it),
/// `"false"` otherwise. Its absence means k6 was told not to write it.
pub const EXPECTED_RESPONSE_TAG: &str = "expected_response";

/// Run-level tags that k6gate's templates put in `options.tags`.
pub const METADATA_TAGS: [&str; 7] =
    ["test_name", "environment", "git_commit", "deployment_version", "test_date", "load_model", "offered_rate"];

/// Index of each metadata tag in [`METADATA_TAGS`] (and in `Aggregator::metadata`).
pub mod meta {
    pub const TEST_NAME: usize = 0;
    pub const ENVIRONMENT: usize = 1;
    pub const GIT_COMMIT: usize = 2;
    pub const DEPLOYMENT_VERSION: usize = 3;
    pub const TEST_DATE: usize = 4;
    /// `open` (arrival-rate executors) or `closed` (VU executors).
    pub const LOAD_MODEL: usize = 5;
    /// Iterations per second at the plateau of an open model.
    pub const OFFERED_RATE: usize = 6;
}

pub const SLOT_STAGE: usize = 0;
pub const SLOT_STATUS: usize = 1;
pub const SLOT_EXPECTED: usize = 2;
pub const SLOT_METADATA: usize = 3;
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
    /// The slot holding each group-by tag's value: its own group slot, or the fixed or
    /// metadata slot of the same tag (`--group-by status` reads the status slot).
    group_slots: Vec<usize>,
    /// Bit `n` set when some wanted tag is `n` bytes long: most tags k6 writes (url, proto,
    /// scenario, group) are rejected by this one test.
    lengths: u64,
}

impl TagSpec {
    /// Fails when more than [`MAX_GROUP_TAGS`] tags are asked for.
    pub fn new(group_by: &[String]) -> Result<TagSpec, String> {
        if group_by.len() > MAX_GROUP_TAGS {
            return Err(format!("at most {MAX_GROUP_TAGS} group-by tags are supported"));
        }
        let fixed = [(STAGE_TAG, SLOT_STAGE), ("status", SLOT_STATUS), (EXPECTED_RESPONSE_TAG, SLOT_EXPECTED)];
        let mut wanted: Vec<(Box<[u8]>, usize)> = fixed
            .into_iter()
            .chain(METADATA_TAGS.iter().enumerate().map(|(i, t)| (*t, SLOT_METADATA + i)))
            .map(|(t, slot)| (t.as_bytes().into(), slot))
            .collect();
        let mut group_slots = Vec::with_capacity(group_by.len());
        for (i, t) in group_by.iter().enumerate() {
            // A tag is read into one slot only: a group tag that is also a fixed or metadata
            // tag (or named twice) is read from the slot it already has.
            match wanted.iter().find(|(w, _)| **w == *t.as_bytes()) {
                Some((_, slot)) => group_slots.push(*slot),
                None => {
                    wanted.push((t.as_bytes().into(), SLOT_GROUP + i));
                    group_slots.push(SLOT_GROUP + i);
                }
            }
        }
        let lengths = wanted.iter().fold(0u64, |m, (t, _)| m | 1u64.checked_shl(t.len() as u32).unwrap_or(0));
        Ok(TagSpec { group_by: group_by.to_vec(), wanted, group_slots, lengths })
    }

    pub fn group_by(&self) -> &[String] {
        &self.group_by
    }

    /// The slot holding the value of the `i`-th group-by tag.
    #[inline]
    pub fn group_slot(&self, i: usize) -> usize {
        self.group_slots.get(i).copied().unwrap_or(SLOT_GROUP + i)
    }

    /// The slot of a run-level tag ([`METADATA_TAGS`]) written as sample metadata instead
    /// (the cardinality policy keeps it off k6's live labels).
    pub fn metadata_slot(&self, key: &[u8]) -> Option<usize> {
        METADATA_TAGS.iter().position(|t| t.as_bytes() == key).map(|i| SLOT_METADATA + i)
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
        // Each tag is listed once (see `new`).
        self.wanted.iter().find(|(t, _)| **t == *key).map(|(_, s)| *s)
    }
}

impl Default for TagSpec {
    fn default() -> Self {
        let group_by: Vec<String> = DEFAULT_GROUP_BY.iter().map(|s| s.to_string()).collect();
        TagSpec::new(&group_by).unwrap_or_else(|_| TagSpec {
            group_by: Vec::new(),
            wanted: Vec::new(),
            group_slots: Vec::new(),
            lengths: 0,
        })
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_tag_has_one_slot() {
        let spec = TagSpec::default();
        assert_eq!(spec.slot(b"expected_response"), Some(SLOT_EXPECTED));
        assert_eq!(spec.slot(b"load_model"), Some(SLOT_METADATA + meta::LOAD_MODEL));
        assert_eq!(spec.slot(b"offered_rate"), Some(SLOT_METADATA + meta::OFFERED_RATE));
        assert_eq!(spec.slot(b"name"), Some(SLOT_GROUP));
        assert_eq!(spec.slot(b"url"), None);
    }

    #[test]
    fn a_group_tag_that_is_also_a_fixed_tag_is_read_from_its_slot() {
        let spec = TagSpec::new(&["name".into(), "status".into(), "expected_response".into()]).unwrap();
        assert_eq!(spec.slot(b"status"), Some(SLOT_STATUS));
        assert_eq!(spec.group_slot(0), SLOT_GROUP);
        assert_eq!(spec.group_slot(1), SLOT_STATUS);
        assert_eq!(spec.group_slot(2), SLOT_EXPECTED);
    }
}
