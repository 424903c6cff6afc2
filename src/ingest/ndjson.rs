//! One line of k6's JSON output (`--out json`): a `Metric` declaration or a `Point`.
//!
//! Two parsers: a fast path that walks the fixed shape k6 writes
//! (`{"metric":…,"type":"Point","data":{"time":…,"value":…,"tags":{…}[,"metadata":{…}]}}`)
//! without building a tree, and serde_json for everything else (Metric lines, escaped
//! strings, reordered keys, whitespace). The fast path either returns exactly what
//! serde_json would or gives up; a property test and a fuzz target hold it to that.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::Deserialize;

use crate::samples::{Contains, MetricKind, MetricType, Point, TagSpec, Tags};
use crate::time::parse_rfc3339_ns;

/// The tag object of the last Point the fast path read, and what it held.
pub type PrevTags<'a> = Option<(&'a str, Tags<'a>)>;

/// One parsed line. Points dominate by far, so the size gap to `Metric` costs nothing.
#[expect(clippy::large_enum_variant, reason = "Points are the common case; boxing them would allocate per line")]
#[derive(Debug, Clone, PartialEq)]
pub enum Line<'a> {
    Point(Point<'a>),
    Metric { name: String, ty: MetricType },
    Blank,
}

/// Parses one line (without its newline).
pub fn parse_line<'a>(line: &'a str, spec: &TagSpec) -> Result<Line<'a>, String> {
    parse_line_cached(line, spec, &mut None)
}

/// Parses one line, reusing the tags of the previous line when its tag object is identical.
/// `prev` must only ever see lines of one buffer, in order.
pub fn parse_line_cached<'a>(line: &'a str, spec: &TagSpec, prev: &mut PrevTags<'a>) -> Result<Line<'a>, String> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    if let Some(p) = fast_point(line, spec, prev) {
        return Ok(Line::Point(p));
    }
    let parsed = parse_line_slow(line.as_bytes(), spec);
    if matches!(parsed, Ok(Line::Point(_))) {
        *prev = None;
    }
    parsed
}

/// The general parser. Public so tests can hold the fast path to it.
pub fn parse_line_slow<'a>(line: &'a [u8], spec: &TagSpec) -> Result<Line<'a>, String> {
    if line.iter().all(u8::is_ascii_whitespace) {
        return Ok(Line::Blank);
    }
    #[derive(Deserialize)]
    struct Raw<'a> {
        #[serde(rename = "type")]
        kind: Option<Cow<'a, str>>,
        #[serde(borrow)]
        metric: Option<Cow<'a, str>>,
        #[serde(borrow)]
        data: Option<&'a serde_json::value::RawValue>,
    }
    #[derive(Deserialize)]
    struct RawPoint<'a> {
        #[serde(borrow)]
        time: Option<Cow<'a, str>>,
        value: Option<serde_json::Value>,
        #[serde(borrow)]
        tags: Option<HashMap<Cow<'a, str>, serde_json::Value>>,
        #[serde(borrow)]
        metadata: Option<HashMap<Cow<'a, str>, serde_json::Value>>,
    }
    #[derive(Deserialize)]
    struct RawMetric {
        name: Option<String>,
        #[serde(rename = "type")]
        kind: Option<String>,
        contains: Option<String>,
    }
    let raw: Raw<'a> = serde_json::from_slice(line).map_err(|e| {
        if line.windows(3).any(|w| w == b"NaN") {
            "value is NaN, which is not a number k6gate can use".to_string()
        } else {
            format!("not valid JSON ({e})")
        }
    })?;
    let kind = raw.kind.ok_or("missing field `type`")?;
    let data = raw.data.ok_or("missing field `data`")?;
    match kind.as_ref() {
        "Point" => {
            let metric = raw.metric.ok_or("Point without field `metric`")?;
            let d: RawPoint<'a> = serde_json::from_str(data.get()).map_err(|e| format!("invalid Point data ({e})"))?;
            let time = d.time.ok_or("Point without `data.time`")?;
            let time_ns = parse_rfc3339_ns(time.as_bytes())
                .ok_or_else(|| format!("`data.time` is not an RFC 3339 timestamp: {time:?}"))?;
            let value = match d.value {
                Some(serde_json::Value::Number(n)) => n.as_f64().ok_or("`data.value` is out of range")?,
                Some(other) => return Err(format!("`data.value` is not a number: {other}")),
                None => return Err("Point without `data.value`".into()),
            };
            if !value.is_finite() {
                return Err("`data.value` is not finite".into());
            }
            let mut tags = Tags::default();
            for (k, v) in d.tags.into_iter().flatten() {
                if let Some(slot) = spec.slot(k.as_bytes()) {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    tags.set(slot, Cow::Owned(v));
                }
            }
            for (k, v) in d.metadata.into_iter().flatten() {
                if let Some(slot) = spec.metadata_slot(k.as_bytes())
                    && tags.get(slot).is_none()
                {
                    let v = match v {
                        serde_json::Value::String(s) => s,
                        other => other.to_string(),
                    };
                    tags.set(slot, Cow::Owned(v));
                }
            }
            Ok(Line::Point(Point { metric, time_ns, value, tags, same_tags: false }))
        }
        "Metric" => {
            let m: RawMetric = serde_json::from_str(data.get()).map_err(|e| format!("invalid Metric data ({e})"))?;
            let name = m.name.or(raw.metric.map(Cow::into_owned)).ok_or("Metric without a name")?;
            let kind_s = m.kind.ok_or("Metric without `data.type`")?;
            let kind = MetricKind::parse(&kind_s).ok_or_else(|| {
                format!("metric {name:?} has unknown type {kind_s:?} (expected counter, gauge, rate or trend)")
            })?;
            let contains = match m.contains.as_deref() {
                None => Contains::Default,
                Some(c) => Contains::parse(c).ok_or_else(|| format!("metric {name:?} has unknown `contains` {c:?}"))?,
            };
            Ok(Line::Metric { name, ty: MetricType { kind, contains } })
        }
        other => Err(format!("unknown line type {other:?} (expected \"Metric\" or \"Point\")")),
    }
}

/// A cursor over k6's fixed Point shape. Any surprise returns `None`.
/// The caller has checked that the line holds no backslash, so every `"` opens or closes a string.
struct Cursor<'a> {
    s: &'a str,
    i: usize,
}

impl<'a> Cursor<'a> {
    #[inline]
    fn bytes(&self) -> &'a [u8] {
        self.s.as_bytes()
    }

    #[inline]
    fn lit(&mut self, lit: &[u8]) -> Option<()> {
        let end = self.i + lit.len();
        (self.bytes().get(self.i..end)? == lit).then(|| self.i = end)
    }

    /// A string whose opening quote is already consumed.
    #[inline]
    fn plain_str(&mut self) -> Option<&'a str> {
        let end = self.i + memchr::memchr(b'"', self.bytes().get(self.i..)?)?;
        // Both ends sit next to an ASCII quote, so they are char boundaries.
        let out = self.s.get(self.i..end)?;
        self.i = end + 1;
        Some(out)
    }

    #[inline]
    fn peek(&self) -> Option<u8> {
        self.bytes().get(self.i).copied()
    }

    /// A flat object of string values, after its `{`; calls `each` per pair.
    #[inline]
    fn string_object(&mut self, mut each: impl FnMut(&'a str, &'a str)) -> Option<()> {
        if self.peek()? == b'}' {
            self.i += 1;
            return Some(());
        }
        loop {
            self.lit(b"\"")?;
            let k = self.plain_str()?;
            self.lit(b":\"")?;
            let v = self.plain_str()?;
            each(k, v);
            match self.peek()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }
}

/// The fast path alone: `Some` only for lines in k6's exact Point shape. Public so the fuzz
/// target and property tests can hold it to [`parse_line_slow`].
pub fn parse_point_fast<'a>(line: &'a str, spec: &TagSpec) -> Option<Point<'a>> {
    fast_point(line, spec, &mut None)
}

#[inline]
fn fast_point<'a>(line: &'a str, spec: &TagSpec, prev: &mut PrevTags<'a>) -> Option<Point<'a>> {
    // Escapes and raw control characters (which JSON forbids in strings) go to serde_json.
    // No short-circuit: the loop vectorizes, and lines are short.
    if line.bytes().fold(false, |seen, b| seen | (b == b'\\') | (b < 0x20)) {
        return None;
    }
    let mut c = Cursor { s: line, i: 0 };
    c.lit(b"{\"metric\":\"")?;
    let metric = c.plain_str()?;
    c.lit(b",\"type\":\"Point\",\"data\":{\"time\":\"")?;
    let time = c.plain_str()?;
    c.lit(b",\"value\":")?;
    let rest = c.s.get(c.i..)?;
    let end = rest.bytes().position(|b| b == b',')?;
    let num = rest.get(..end)?;
    // JSON numbers only: Rust's parser also takes "inf", "NaN", "+1", ".5", "1.", "01".
    if !is_json_number(num.as_bytes()) {
        return None;
    }
    let value: f64 = num.parse().ok()?;
    if !value.is_finite() {
        return None;
    }
    c.i += end;
    c.lit(b",\"tags\":")?;
    let tags_start = c.i;
    // Identical bytes parse identically (no escapes): the same object, ending at the same '}'.
    let cached = prev.as_ref().filter(|(src, _)| c.s.get(tags_start..tags_start + src.len()) == Some(*src));
    let (tags, same_tags) = match cached {
        Some((src, tags)) => {
            c.i += src.len();
            (tags.clone(), true)
        }
        None => {
            c.lit(b"{")?;
            let mut tags = Tags::default();
            c.string_object(|k, v| {
                if let Some(slot) = spec.slot(k.as_bytes()) {
                    tags.set(slot, Cow::Borrowed(v));
                }
            })?;
            (tags, false)
        }
    };
    let tag_src = c.s.get(tags_start..c.i)?;
    // The cache holds the tag object's own values, never the metadata's.
    let cache = (!same_tags).then(|| tags.clone());
    let mut tags = tags;
    if c.peek()? == b',' {
        // Metadata: trace ids (not kept), and the run-level values the cardinality policy kept
        // off k6's tags (`metadata_slot`), read where the tags do not have them.
        c.lit(b",\"metadata\":{")?;
        c.string_object(|k, v| {
            if let Some(slot) = spec.metadata_slot(k.as_bytes())
                && tags.get(slot).is_none()
            {
                tags.set(slot, Cow::Borrowed(v));
            }
        })?;
    }
    c.lit(b"}}")?;
    if c.i != line.len() {
        return None;
    }
    let time_ns = parse_rfc3339_ns(time.as_bytes())?;
    if let Some(cache) = cache {
        *prev = Some((tag_src, cache));
    }
    Some(Point { metric: Cow::Borrowed(metric), time_ns, value, tags, same_tags })
}

/// RFC 8259 number grammar: `-? (0 | [1-9][0-9]*) (\.[0-9]+)? ([eE][+-]?[0-9]+)?`.
fn is_json_number(b: &[u8]) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    const POINT: &str = r#"{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-28T00:15:42.011026333Z","value":4.787588,"tags":{"deployment_version":"v9.9.9","expected_response":"true","method":"GET","name":"GET /items","status":"200","test_name":"truth-test","test_stage":"sustained"},"metadata":{"trace_id":"t-1-0"}}}"#;

    #[test]
    fn fast_path_reads_a_k6_point() {
        let spec = TagSpec::default();
        let p = fast_point(POINT, &spec, &mut None).expect("fast path");
        assert_eq!(p.metric, "http_req_duration");
        assert_eq!(p.value, 4.787588);
        assert_eq!(p.tags.get(crate::samples::tags::SLOT_STAGE), Some("sustained"));
        assert_eq!(Line::Point(p), parse_line_slow(POINT.as_bytes(), &spec).unwrap());
    }

    #[test]
    fn repeated_tag_objects_are_reused_and_only_when_identical() {
        let spec = TagSpec::default();
        let second = POINT.replace("http_req_duration", "http_reqs").replace("4.787588", "1");
        let third = POINT.replace("GET /items", "GET /itemz");
        let text = format!("{POINT}\n{second}\n{third}");
        let lines: Vec<&str> = text.lines().collect();
        let mut prev = None;
        let mut got = Vec::new();
        for l in &lines {
            match parse_line_cached(l, &spec, &mut prev).unwrap() {
                Line::Point(p) => got.push(p),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(got.iter().map(|p| p.same_tags).collect::<Vec<_>>(), [false, true, false]);
        for (p, l) in got.iter().zip(&lines) {
            match parse_line_slow(l.as_bytes(), &spec).unwrap() {
                Line::Point(slow) => assert_eq!(p.tags, slow.tags),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn fuzz_regressions_agree_with_serde_json() {
        // Inputs found by `cargo fuzz` (fuzz/regressions/line_parser/): the fast path accepted
        // raw control characters and numbers outside JSON's grammar.
        let spec = TagSpec::default();
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fuzz/regressions/line_parser");
        let mut n = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let bytes = std::fs::read(f.unwrap().path()).unwrap();
            let Ok(line) = std::str::from_utf8(&bytes) else { continue };
            if let Some(p) = parse_point_fast(line, &spec) {
                assert_eq!(parse_line_slow(line.as_bytes(), &spec), Ok(Line::Point(p)), "{line:?}");
            }
            n += 1;
        }
        assert!(n >= 7);
        for (num, ok) in [
            ("1", true),
            ("-0.5e+3", true),
            ("0", true),
            ("1.", false),
            ("01", false),
            ("-.5", false),
            ("1.e5", false),
            ("+1", false),
            ("1e", false),
        ] {
            assert_eq!(is_json_number(num.as_bytes()), ok, "{num}");
        }
    }

    #[test]
    fn run_level_values_in_metadata_fill_the_metadata_slots_and_tags_win() {
        use crate::samples::tags::{SLOT_METADATA, meta};
        let spec = TagSpec::default();
        let line = r#"{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-28T00:15:42Z","value":1,"tags":{"test_name":"t","name":"a"},"metadata":{"git_commit":"abc","test_name":"other","trace_id":"x"}}}"#;
        let escaped = line.replace(r#""name":"a""#, r#""name":"\u0061""#);
        for l in [line, escaped.as_str()] {
            let Line::Point(p) = parse_line(l, &spec).unwrap() else { panic!("a point") };
            assert_eq!(p.tags.get(SLOT_METADATA + meta::GIT_COMMIT), Some("abc"), "{l}");
            assert_eq!(p.tags.get(SLOT_METADATA + meta::TEST_NAME), Some("t"), "a tag wins over metadata: {l}");
        }
        // The tag cache holds the tag object's values only.
        let mut prev = None;
        let without = line.replace(r#""git_commit":"abc","#, "");
        let a = parse_line_cached(line, &spec, &mut prev).unwrap();
        let b = parse_line_cached(&without, &spec, &mut prev).unwrap();
        let (Line::Point(a), Line::Point(b)) = (a, b) else { panic!("points") };
        assert_eq!(a.tags.get(SLOT_METADATA + meta::GIT_COMMIT), Some("abc"));
        assert!(b.same_tags);
        assert_eq!(b.tags.get(SLOT_METADATA + meta::GIT_COMMIT), None);
    }

    #[test]
    fn escaped_strings_fall_back_to_serde() {
        let line = r#"{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-28T00:15:42Z","value":1,"tags":{"name":"GET /a?x=1\u0026y=2"}}}"#;
        let spec = TagSpec::default();
        assert!(fast_point(line, &spec, &mut None).is_none());
        match parse_line(line, &spec).unwrap() {
            Line::Point(p) => assert_eq!(p.tags.get(crate::samples::tags::SLOT_GROUP), Some("GET /a?x=1&y=2")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn metric_lines_and_errors() {
        let spec = TagSpec::default();
        let m = r#"{"type":"Metric","data":{"name":"cart_ok","type":"rate","contains":"default","thresholds":[],"submetrics":null},"metric":"cart_ok"}"#;
        assert!(matches!(
            parse_line(m, &spec).unwrap(),
            Line::Metric { ty: MetricType { kind: MetricKind::Rate, .. }, .. }
        ));
        let bad = r#"{"type":"Metric","data":{"name":"x","type":"histogram","contains":"default"},"metric":"x"}"#;
        assert!(parse_line(bad, &spec).unwrap_err().contains("unknown type"));
        assert!(parse_line("garbage", &spec).unwrap_err().contains("not valid JSON"));
        let nan = r#"{"metric":"vus","type":"Point","data":{"time":"2026-11-28T00:15:42Z","value":NaN,"tags":{}}}"#;
        assert!(parse_line(nan, &spec).unwrap_err().contains("NaN"));
        assert_eq!(parse_line("  ", &spec).unwrap(), Line::Blank);
    }
}
