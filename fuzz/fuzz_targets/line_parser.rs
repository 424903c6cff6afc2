//! The k6 JSON line parser never panics, and its fast path agrees with serde_json on
//! every line it accepts. Run from `fuzz/` (see fuzz/README.md):
//! `./seed.sh && RUSTC_BOOTSTRAP=1 cargo fuzz run line_parser -- -dict=line_parser.dict`
//!
//! `K6GATE_FUZZ_SKIP_KNOWN=1` skips the disagreements already filed under
//! `fuzz/regressions/line_parser/` (fast path accepts raw control characters in strings,
//! and numbers outside JSON's grammar, both of which serde_json rejects), so a run can
//! look past them for anything new. Off by default: those are real bugs.
#![no_main]

use std::sync::OnceLock;

use k6gate::ingest::ndjson::{Line, parse_line, parse_line_slow, parse_point_fast};
use k6gate::ingest::tags::TagSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = TagSpec::default();
    let _ = parse_line_slow(data, &spec);
    let Ok(line) = std::str::from_utf8(data) else { return };
    let _ = parse_line(line, &spec);
    if let Some(fast) = parse_point_fast(line, &spec) {
        let slow = parse_line_slow(line.as_bytes(), &spec);
        if slow.is_err() && skip_known() && known_bug(line) {
            return;
        }
        assert_eq!(slow, Ok(Line::Point(fast)), "{line}");
    }
});

fn skip_known() -> bool {
    static SKIP: OnceLock<bool> = OnceLock::new();
    *SKIP.get_or_init(|| std::env::var_os("K6GATE_FUZZ_SKIP_KNOWN").is_some_and(|v| v != "0"))
}

/// The line falls in a class of fast-path bugs already on file (only consulted when
/// serde_json rejected a line the fast path accepted).
fn known_bug(line: &str) -> bool {
    // 1. A raw control character (U+0000..U+001F) inside a string: JSON forbids it.
    if line.bytes().any(|b| b < 0x20) {
        return true;
    }
    // 2. `data.value` that Rust's f64 parser takes but JSON does not (`1.`, `01`, `-.5`, `1.e5`).
    let Some(at) = line.find(",\"value\":") else { return false };
    let rest = &line[at + 9..];
    let num = &rest[..rest.find(',').unwrap_or(rest.len())];
    !is_json_number(num)
}

/// RFC 8259: `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`
fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            digits(&mut i);
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}
