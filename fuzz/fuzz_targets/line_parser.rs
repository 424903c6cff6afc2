//! The k6 JSON line parser never panics, and its fast path agrees with serde_json on
//! every line it accepts. Run: `cargo fuzz run line_parser` (seed corpus: benches/data).
#![no_main]

use k6gate::ingest::ndjson::{Line, parse_line, parse_line_slow, parse_point_fast};
use k6gate::ingest::tags::TagSpec;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let spec = TagSpec::default();
    let _ = parse_line_slow(data, &spec);
    let Ok(line) = std::str::from_utf8(data) else { return };
    let _ = parse_line(line, &spec);
    if let Some(fast) = parse_point_fast(line, &spec) {
        assert_eq!(parse_line_slow(line.as_bytes(), &spec), Ok(Line::Point(fast)), "{line}");
    }
});
