//! The same run through every output format k6 writes.

use std::collections::BTreeMap;

use k6gate::RunSummary;
use k6gate::summary::{Granularity, PhaseSource};
use serde_json::value::RawValue;

use super::exact;
use crate::support::fixtures::{self, Set, close, on_both_sets};

const STAGED_ORDER: [&str; 3] = ["ramp-up", "sustained", "ramp-down"];

/// One parser thread on both sides: this is about decompression, not about the
/// reproducibility of multi-threaded parsing (see phases::repeated_ingest_*).
#[test]
#[ignore = "full tier: needs k6"]
fn gzipped_json_gives_the_same_summary_as_plain_json() {
    let one = k6gate::IngestOptions { threads: 1, ..Default::default() };
    let plain = &fixtures::ingest_with("staged.json", &one);
    let gz = fixtures::ingest_with("staged.json.gz", &one);
    let (a, b) = (fixtures::without_sources(&gz), fixtures::without_sources(plain));
    assert!(a == b, "staged.json.gz and staged.json differ:\n{}", fixtures::first_difference(&a, &b));
}

#[test]
#[ignore = "full tier: needs k6"]
fn gzipped_json_source_records_gzip_and_uncompressed_size() {
    let gz = fixtures::ingest("staged.json.gz");
    let plain = fixtures::staged();
    let (g, p) = (&gz.metadata.sources[0], &plain.metadata.sources[0]);
    assert_eq!(g.compression, k6gate::samples::Compression::Gzip);
    assert_eq!(p.compression, k6gate::samples::Compression::None);
    assert_eq!((g.lines, g.bytes), (p.lines, p.bytes), "lines and uncompressed bytes");
    assert_eq!(p.bytes, std::fs::metadata(fixtures::path("staged.json")).unwrap().len());
}

fn assert_csv_matches_json(set: Set, csv_name: &str) {
    let s = set.ingest(csv_name);
    assert_eq!(s.phase_source, PhaseSource::Tagged, "{csv_name}");
    assert_eq!(s.metadata.sources[0].format, k6gate::samples::Format::Csv);
    let want = exact::by_stage(&exact::json_in(set, "staged.json"));
    exact::assert_phases_match(&s.phases, &s.whole_run, &want, &STAGED_ORDER);
    // And the same as the JSON summary's counts, phase by phase.
    let json = set.staged();
    for (c, j) in s.phases.iter().zip(&json.phases) {
        assert_eq!((c.total.requests, c.total.failed), (j.total.requests, j.total.failed), "phase {}", c.name);
        let (cl, jl) = (c.total.latency_ms.as_ref().unwrap(), j.total.latency_ms.as_ref().unwrap());
        for (a, b) in [(cl.p50, jl.p50), (cl.p90, jl.p90), (cl.p95, jl.p95), (cl.p99, jl.p99)] {
            assert!(close(a.unwrap(), b.unwrap(), 0.01), "phase {}: csv {a:?} json {b:?}", c.name);
        }
    }
}

fn staged_csv_phases_match_staged_json(set: Set) {
    assert_csv_matches_json(set, "staged.csv");
}

#[test]
#[ignore = "full tier: needs k6"]
fn staged_csv_gz_phases_match_staged_json() {
    assert_csv_matches_json(Set::Full, "staged.csv.gz");
}

#[test]
fn staged_csv_metadata_comes_from_extra_tags() {
    let s = Set::Small.ingest("staged.csv");
    assert_eq!(s.metadata.test_name.as_deref(), Some("staged"));
    assert_eq!(s.metadata.environment.as_deref(), Some("ci"));
    assert_eq!(s.metadata.git_commit.as_deref(), Some("3f2a9c1"));
    assert_eq!(s.metadata.deployment_version.as_deref(), Some("1.4.2"));
    assert_eq!(s.metadata.test_date.as_deref(), Some("2026-11-28"));
}

fn assert_csv_totals_exact(name: &str, test_name: &str) {
    let s = fixtures::ingest(name);
    assert!(s.completeness.complete, "{name}: {:?}", s.completeness.issues);
    let samples = exact::csv_in(Set::Full, name);
    let want = exact::by_phase(&samples, |_| None);
    assert!(want.whole.requests > 0);
    exact::assert_group_matches(&format!("{name} whole-run"), &s.whole_run.total, &want.whole);
    assert_eq!(s.metadata.samples, samples.len() as u64, "{name}: samples");
    assert_eq!(s.metadata.test_name.as_deref(), Some(test_name));
    // The run lasted about 4 s: the timestamps were read in the right unit.
    let first = samples.iter().map(|x| x.time_ns).min().unwrap();
    let last = samples.iter().map(|x| x.time_ns).max().unwrap();
    let d = s.whole_run.duration_s;
    assert!(close(d, (last - first) as f64 / 1e9, 1e-6), "{name}: duration {d}");
    assert!((3.0..6.0).contains(&d), "{name}: duration {d}");
    // Every window of the series sums back to the whole run.
    let series = s.series.as_ref().expect("series");
    assert_eq!(series.total.requests.iter().sum::<u64>(), want.whole.requests);
    assert_eq!(series.total.failed.iter().sum::<u64>(), want.whole.failed);
}

#[test]
#[ignore = "full tier: needs k6"]
fn csv_rfc3339_timestamps_parse_and_totals_match_exact() {
    assert_csv_totals_exact("csv-rfc3339.csv", "csv-rfc3339");
}

#[test]
#[ignore = "full tier: needs k6"]
fn csv_unixmilli_timestamps_parse_and_totals_match_exact() {
    assert_csv_totals_exact("csv-unixmilli.csv", "csv-unixmilli");
}

/// The JSON text of the value at `path` in a summary document.
fn raw_at<'a>(text: &'a str, path: &[&str]) -> &'a str {
    let mut cur = text;
    for key in path {
        let m: BTreeMap<String, &'a RawValue> = serde_json::from_str(cur).expect("object");
        cur = m.get(*key).unwrap_or_else(|| panic!("no {key} in {path:?}")).get();
    }
    cur
}

fn num_at(text: &str, path: &[&str]) -> f64 {
    raw_at(text, path).parse().expect("number")
}

fn summary_file(set: Set, name: &str) -> (RunSummary, String, Vec<&'static str>) {
    let s = set.ingest(name);
    let text = std::fs::read_to_string(set.path(name)).unwrap();
    let prefix = if name.contains("handle-summary") { vec!["values"] } else { vec![] };
    (s, text, prefix)
}

/// The metric k6gate's latency comes from: the expected responses' submetric when the
/// document exports it.
fn latency_metric(text: &str) -> &'static str {
    let doc: serde_json::Value = serde_json::from_str(text).expect("JSON");
    if doc["metrics"].get("http_req_duration{expected_response:true}").is_some() {
        "http_req_duration{expected_response:true}"
    } else {
        "http_req_duration"
    }
}

fn values_path<'a>(prefix: &[&'a str], metric: &'a str, key: &'a str) -> Vec<&'a str> {
    let mut p = vec!["metrics", metric];
    p.extend_from_slice(prefix);
    p.push(key);
    p
}

fn assert_whole_run_only(set: Set, name: &str) {
    let (s, _, _) = summary_file(set, name);
    assert_eq!(s.granularity, Granularity::WholeRun, "{name}");
    assert!(s.phases.is_empty(), "{name}: phases {:?}", s.phases.iter().map(|p| &p.name).collect::<Vec<_>>());
    assert!(s.series.is_none(), "{name}: series");
    assert!(s.steady_state.is_none(), "{name}: steady state");
    assert_eq!(s.phase_source, PhaseSource::None);
    assert!(
        s.notes.iter().any(|n| n.contains("whole-run") && n.contains("only")),
        "{name}: no whole-run-only note in {:?}",
        s.notes
    );
    assert!(s.completeness.complete, "{name}: {:?}", s.completeness.issues);
}

fn assert_summary_values(set: Set, name: &str) {
    let (s, text, prefix) = summary_file(set, name);
    let t = &s.whole_run.total;
    let count: u64 = raw_at(&text, &values_path(&prefix, "http_reqs", "count")).parse().expect("count");
    assert_eq!(t.requests, count, "{name}: requests");
    let p95 = num_at(&text, &values_path(&prefix, latency_metric(&text), "p(95)"));
    assert_eq!(t.latency_ms.as_ref().and_then(|l| l.p95), Some(p95), "{name}: p95");
    let rate_key = if prefix.is_empty() { "value" } else { "rate" };
    let rate = num_at(&text, &values_path(&prefix, "http_req_failed", rate_key));
    assert_eq!(t.error_rate, Some(rate), "{name}: error_rate");
    let passes: u64 = raw_at(&text, &values_path(&prefix, "http_req_failed", "passes")).parse().unwrap();
    assert_eq!(t.failed, passes, "{name}: failed = http_req_failed passes");
}

/// Every exported trend statistic of http_req_duration, bit for bit.
fn assert_summary_trend_bit_exact(set: Set, name: &str) {
    let (s, text, prefix) = summary_file(set, name);
    let l = s.whole_run.total.latency_ms.clone().expect("latency");
    for (key, got) in [
        ("med", l.p50),
        ("p(90)", l.p90),
        ("p(95)", l.p95),
        ("p(99)", l.p99),
        ("min", l.min),
        ("max", l.max),
        ("avg", l.mean),
    ] {
        let metric = latency_metric(&text);
        let text_value = raw_at(&text, &values_path(&prefix, metric, key));
        let want: f64 = text_value.parse().unwrap();
        assert_eq!(got, Some(want), "{name}: {metric} {key} is {text_value} in the file");
    }
}

fn summary_export_is_whole_run_only(set: Set) {
    assert_whole_run_only(set, "staged.summary-export.json");
}

fn summary_export_requests_p95_and_error_rate_equal_the_file(set: Set) {
    assert_summary_values(set, "staged.summary-export.json");
}

fn summary_export_trend_values_are_bit_exact(set: Set) {
    assert_summary_trend_bit_exact(set, "staged.summary-export.json");
}

fn handle_summary_is_whole_run_only(set: Set) {
    assert_whole_run_only(set, "staged.handle-summary.json");
}

fn handle_summary_requests_p95_and_error_rate_equal_the_file(set: Set) {
    assert_summary_values(set, "staged.handle-summary.json");
}

fn handle_summary_trend_values_are_bit_exact(set: Set) {
    assert_summary_trend_bit_exact(set, "staged.handle-summary.json");
}

fn summaries_agree_with_the_sample_stream(set: Set) {
    let stream = set.staged();
    for name in ["staged.summary-export.json", "staged.handle-summary.json"] {
        let s = set.ingest(name);
        assert_eq!(s.whole_run.total.requests, stream.whole_run.total.requests, "{name}");
        assert_eq!(s.whole_run.total.failed, stream.whole_run.total.failed, "{name}");
        // Both describe the expected responses: the same count, the same extremes.
        let (a, b) =
            (s.whole_run.total.latency_ms.as_ref().unwrap(), stream.whole_run.total.latency_ms.as_ref().unwrap());
        assert_eq!((a.count, a.min, a.max), (b.count, b.min, b.max), "{name}");
    }
}

/// Without the submetric, a k6 summary's latency is every request's, and the summary says so.
#[test]
fn a_summary_without_the_expected_response_submetric_says_latency_includes_failures() {
    let text = std::fs::read_to_string(Set::Small.path("staged.summary-export.json")).unwrap();
    let mut doc: serde_json::Value = serde_json::from_str(&text).unwrap();
    let metrics = doc["metrics"].as_object_mut().unwrap();
    assert!(metrics.remove("http_req_duration{expected_response:true}").is_some(), "the fixture exports it");
    let all_p95 = metrics["http_req_duration"]["p(95)"].as_f64();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    std::fs::write(&path, doc.to_string()).unwrap();
    let s = k6gate::ingest(&[path], &k6gate::IngestOptions::default()).unwrap();
    assert_eq!(s.whole_run.total.latency_ms.as_ref().and_then(|l| l.p95), all_p95);
    assert!(s.notes.iter().any(|n| n == k6gate::summary::LATENCY_ALL_REQUESTS_NOTE), "{:?}", s.notes);
    assert!(
        !set_notes(&Set::Small.ingest("staged.summary-export.json"))
            .contains(&k6gate::summary::LATENCY_ALL_REQUESTS_NOTE)
    );
}

fn set_notes(s: &RunSummary) -> Vec<&str> {
    s.notes.iter().map(String::as_str).collect()
}

#[test]
fn an_unknown_contains_in_a_summary_is_an_error_naming_the_metric() {
    // Like an unknown `type`: `contains` decides the unit, so a guess would be silent.
    let text = std::fs::read_to_string(Set::Small.path("staged.handle-summary.json")).unwrap();
    let broken = text.replacen("\"contains\":\"time\"", "\"contains\":\"seconds\"", 1);
    assert_ne!(broken, text, "the fixture declares a time metric");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("summary.json");
    std::fs::write(&path, broken).unwrap();
    let err = k6gate::ingest(&[path], &k6gate::IngestOptions::default()).unwrap_err().to_string();
    assert!(err.contains(".contains: unknown value \"seconds\""), "{err}");
}

on_both_sets!(
    staged_csv_phases_match_staged_json,
    summary_export_is_whole_run_only,
    summary_export_requests_p95_and_error_rate_equal_the_file,
    summary_export_trend_values_are_bit_exact,
    handle_summary_is_whole_run_only,
    handle_summary_requests_p95_and_error_rate_equal_the_file,
    handle_summary_trend_values_are_bit_exact,
    summaries_agree_with_the_sample_stream,
);
