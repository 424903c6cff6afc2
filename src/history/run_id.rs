//! Run ids: `YYYYMMDD-HHMMSS-xxxx`, the UTC second the run started and 16 random bits.
//!
//! Short enough to type (and a unique prefix is enough), sorted by start time as plain
//! strings, and unique: two runs starting in the same second get different random bits,
//! and the store draws again on the rare clash.

use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::time::{format_rfc3339_ms, parse_rfc3339_ns};

/// The id of a run that started at `started_at_ns` (Unix nanoseconds), with `salt` as its
/// last four hex digits.
pub fn format_run_id(started_at_ns: i64, salt: u16) -> String {
    // `2026-11-28T00:15:42.011Z` -> `20261128001542`
    let digits: String = format_rfc3339_ms(started_at_ns).chars().take(19).filter(char::is_ascii_digit).collect();
    match digits.split_at_checked(8) {
        Some((date, time)) => format!("{date}-{time}-{salt:04x}"),
        None => format!("{digits}-{salt:04x}"),
    }
}

/// A fresh id for a run starting at `started_at_ns`, for callers that name the run before
/// recording it (its directory, its k6 `testid` tag).
pub fn new_run_id(started_at_ns: i64) -> String {
    format_run_id(started_at_ns, random_salt())
}

/// 16 bits that differ between calls, threads and processes. `RandomState` is seeded by
/// the OS; the time, pid and counter make repeated draws in one process differ too.
pub(super) fn random_salt() -> u16 {
    static DRAWS: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    h.write_u128(nanos);
    h.write_u32(std::process::id());
    h.write_u64(DRAWS.fetch_add(1, Ordering::Relaxed));
    (h.finish() & 0xffff) as u16
}

/// Whether `s` can start a run id: only digits, `a`-`f` and `-`. Anything else (including
/// GLOB wildcards) matches no run.
pub(super) fn is_id_prefix(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c) || c == b'-')
}

/// When the run named `id` started, to the second, when `id` is a whole run id
/// (`YYYYMMDD-HHMMSS-xxxx`); `None` for anything else.
pub fn parse_run_id_time(id: &str) -> Option<i64> {
    let b = id.as_bytes();
    let shape = b.len() == 20
        && b.get(8) == Some(&b'-')
        && b.get(15) == Some(&b'-')
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 15 => true,
            16.. => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return None;
    }
    let d = |r: std::ops::Range<usize>| id.get(r).unwrap_or_default();
    let text = format!("{}-{}-{}T{}:{}:{}Z", d(0..4), d(4..6), d(6..8), d(9..11), d(11..13), d(13..15));
    parse_rfc3339_ns(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_id_gives_back_its_start_second() {
        let t = 1_795_824_942_000_000_000; // 2026-11-28T00:15:42Z
        assert_eq!(parse_run_id_time(&format_run_id(t + 999_000_000, 0xbeef)), Some(t));
        for bad in ["", "20261128-001542", "20261128-001542-BEEF", "20261128x001542-beef", "../20261128-001542-be"] {
            assert_eq!(parse_run_id_time(bad), None, "{bad}");
        }
    }
}
