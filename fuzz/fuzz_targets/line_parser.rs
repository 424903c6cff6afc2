//! The k6 JSON line parser never panics, and its fast path agrees with serde_json on
//! every line it accepts, alone and with the tag-object cache across consecutive lines.
//! Run from `fuzz/` (see fuzz/README.md):
//! `./seed.sh && RUSTC_BOOTSTRAP=1 cargo fuzz run line_parser -- -dict=line_parser.dict`
#![no_main]

use k6gate::ingest::ndjson::{Line, parse_line, parse_line_cached, parse_line_slow, parse_point_fast};
use k6gate::samples::TagSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = TagSpec::default();
    let _ = parse_line_slow(data, &spec);
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = parse_line(text, &spec);
    if let Some(fast) = parse_point_fast(text, &spec) {
        assert_eq!(parse_line_slow(text.as_bytes(), &spec), Ok(Line::Point(fast)), "{text}");
    }
    // Several lines: the cached tags of one line must never leak into the next.
    let mut prev = None;
    for line in text.split('\n') {
        let cached = parse_line_cached(line, &spec, &mut prev);
        let slow = parse_line_slow(line.strip_suffix('\r').unwrap_or(line).as_bytes(), &spec);
        match (cached, slow) {
            (Ok(Line::Point(mut a)), Ok(Line::Point(b))) => {
                a.same_tags = false;
                assert_eq!(a, b, "{line}");
            }
            (Ok(a), Ok(b)) => assert_eq!(a, b, "{line}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("fast {a:?} vs serde_json {b:?} on {line:?}"),
        }
    }
});
