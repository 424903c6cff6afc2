//! Property tests: the sketch merges exactly, aggregation does not depend on how the input
//! is split, and the fast line parser agrees with serde_json.

use std::borrow::Cow;

use k6gate::aggregate::Aggregator;
use k6gate::ingest::ndjson::{Line, parse_line, parse_line_slow};
use k6gate::samples::Point;
use k6gate::samples::tags::{SLOT_GROUP, SLOT_STAGE, TagSpec, Tags};
use k6gate::stats::Sketch;
use k6gate::summary::{BuildOptions, RunSummary, build_from_stream};
use proptest::prelude::*;

fn sketch_of(values: &[f64]) -> Sketch {
    let mut s = Sketch::new();
    values.iter().for_each(|v| s.add(*v));
    s
}

fn exact(sorted: &[f64], q: f64) -> f64 {
    sorted[(q * (sorted.len() - 1) as f64).floor() as usize]
}

fn within(got: f64, want: f64) -> bool {
    (got - want).abs() <= want.abs() * 0.01 + 1e-9
}

const STAGES: [&str; 3] = ["ramp-up", "sustained", "ramp-down"];
const NAMES: [&str; 3] = ["login", "cart", "checkout"];

/// (millisecond offset, stage, name, latency)
type Sample = (u32, usize, usize, f64);

fn point(s: &Sample, metric: &'static str, value: f64) -> Point<'static> {
    let mut tags = Tags::default();
    tags.set(SLOT_STAGE, Cow::Borrowed(STAGES[s.1]));
    tags.set(SLOT_GROUP, Cow::Borrowed(NAMES[s.2]));
    tags.set(SLOT_GROUP + 1, Cow::Borrowed("GET"));
    Point {
        metric: Cow::Borrowed(metric),
        time_ns: 1_795_824_000_000_000_000 + i64::from(s.0) * 1_000_000,
        value,
        tags,
        same_tags: false,
    }
}

fn summarize(parts: &[&[Sample]]) -> RunSummary {
    let mut total: Option<Aggregator> = None;
    for part in parts {
        let mut agg = Aggregator::new(TagSpec::default());
        for s in *part {
            agg.add_point(&point(s, "http_req_duration", s.3), 0).unwrap();
            agg.add_point(&point(s, "http_reqs", 1.0), 0).unwrap();
        }
        agg.finish();
        match &mut total {
            None => total = Some(agg),
            Some(t) => t.merge(agg).unwrap(),
        }
    }
    let mut agg = total.unwrap();
    agg.resolve_types();
    build_from_stream(&agg, vec![], vec![], &BuildOptions::default())
}

fn samples() -> impl Strategy<Value = Vec<Sample>> {
    prop::collection::vec((0u32..30_000, 0usize..3, 0usize..3, 0.05f64..2_000.0), 1..400)
}

proptest! {
    #[test]
    fn sketch_merge_is_associative_and_exact(a in prop::collection::vec(0.01f64..1e5, 0..200),
                                             b in prop::collection::vec(-1e3f64..1e5, 0..200),
                                             c in prop::collection::vec(0.0f64..10.0, 0..200)) {
        let (sa, sb, sc) = (sketch_of(&a), sketch_of(&b), sketch_of(&c));
        let mut left = sa.clone();
        left.merge(&sb);
        left.merge(&sc);
        let mut bc = sb.clone();
        bc.merge(&sc);
        let mut right = sa.clone();
        right.merge(&bc);
        let all: Vec<f64> = a.iter().chain(&b).chain(&c).copied().collect();
        let direct = sketch_of(&all);
        prop_assert_eq!(&left.positive, &right.positive);
        prop_assert_eq!(&left.negative, &direct.negative);
        prop_assert_eq!(&left.positive, &direct.positive);
        prop_assert_eq!(left.count, direct.count);
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            prop_assert_eq!(left.quantile(q), right.quantile(q));
            prop_assert_eq!(left.quantile(q), direct.quantile(q));
        }
    }

    #[test]
    fn sketch_quantiles_are_within_one_percent(mut v in prop::collection::vec(0.001f64..1e6, 1..500)) {
        let s = sketch_of(&v);
        v.sort_by(f64::total_cmp);
        for q in [0.5, 0.9, 0.95, 0.99] {
            prop_assert!(within(s.quantile(q).unwrap(), exact(&v, q)));
        }
    }

    #[test]
    fn any_split_of_the_input_gives_the_same_phases(input in samples(), cuts in prop::collection::vec(0usize..400, 0..4)) {
        let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(input.len())).collect();
        cuts.sort();
        let mut parts = Vec::new();
        let mut start = 0;
        for c in cuts.into_iter().chain([input.len()]) {
            parts.push(&input[start..c]);
            start = c;
        }
        let whole = summarize(&[&input]);
        let split = summarize(&parts);
        let (a, b) = (serde_json::to_value(&whole).unwrap(), serde_json::to_value(&split).unwrap());
        prop_assert!(approx_eq(&a, &b), "split changed the summary");
        // Phase quantiles merged from one-second windows match the exact values.
        for (i, stage) in STAGES.iter().enumerate() {
            let mut v: Vec<f64> = input.iter().filter(|s| s.1 == i).map(|s| s.3).collect();
            let Some(phase) = whole.phases.iter().find(|p| p.name == *stage) else {
                prop_assert!(v.is_empty());
                continue;
            };
            v.sort_by(f64::total_cmp);
            let lat = phase.total.latency_ms.as_ref().unwrap();
            prop_assert_eq!(lat.count as usize, v.len());
            prop_assert!(within(lat.p95.unwrap(), exact(&v, 0.95)));
            prop_assert!(within(lat.p50.unwrap(), exact(&v, 0.5)));
        }
    }

    #[test]
    fn fast_parser_agrees_with_serde_json(
        metric in "[a-z_]{1,20}",
        secs in 0i64..4_000_000_000,
        nanos in 0u32..1_000_000_000,
        value in prop_oneof![any::<f64>().prop_filter("finite", |v| v.is_finite()), (0u32..100_000).prop_map(f64::from)],
        tags in prop::collection::btree_map("[a-z_]{1,12}", "[ -~]{0,16}", 0..8),
        metadata in prop::option::of("[a-z0-9-]{0,12}"),
    ) {
        let time = format_time(secs, nanos);
        let tags_json = serde_json::to_string(&tags).unwrap();
        let meta = metadata.map(|m| format!(r#","metadata":{{"trace_id":{}}}"#, serde_json::to_string(&m).unwrap())).unwrap_or_default();
        let value_json = serde_json::to_string(&value).unwrap();
        let line = format!(r#"{{"metric":"{metric}","type":"Point","data":{{"time":"{time}","value":{value_json},"tags":{tags_json}{meta}}}}}"#);
        let spec = TagSpec::new(&["name".into(), "method".into(), "status".into()]).unwrap();
        let fast = parse_line(&line, &spec);
        let slow = parse_line_slow(line.as_bytes(), &spec);
        prop_assert_eq!(&fast, &slow, "line: {}", line);
        prop_assert!(matches!(fast, Ok(Line::Point(_))));
    }
}

/// Equal JSON, except floating-point sums may differ in their last bits (addition order).
fn approx_eq(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value::*;
    match (a, b) {
        (Number(x), Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Array(x), Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(x, y)| approx_eq(x, y)),
        (Object(x), Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| approx_eq(v, w)))
        }
        _ => a == b,
    }
}

/// RFC 3339 the way k6 writes it: fractional seconds with trailing zeros trimmed.
fn format_time(secs: i64, nanos: u32) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil(days);
    let frac = if nanos == 0 { String::new() } else { format!(".{nanos:09}").trim_end_matches('0').to_string() };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{frac}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

fn civil(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}
