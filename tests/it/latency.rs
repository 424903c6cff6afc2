//! Latency is that of the successful requests (k6's `http_req_duration{expected_response:true}`),
//! on synthetic k6 JSON lines where the failed requests are fast: through the whole ingest path,
//! the fast line parser included.

use std::fmt::Write;

use k6gate::compare::{Metric, Phase, State, compare};
use k6gate::summary::LATENCY_ALL_REQUESTS_NOTE;
use k6gate::{IngestOptions, RunSummary};

/// One request as k6 writes it, with `expected_response` unless `tag` is false.
fn request(out: &mut String, t_ms: u64, duration: f64, ok: bool, tag: bool) {
    let time = format!("2026-11-28T00:00:{:02}.{:03}Z", t_ms / 1000, t_ms % 1000);
    let expected = if tag { format!("\"expected_response\":\"{ok}\",") } else { String::new() };
    let status = if ok { "200" } else { "503" };
    let tags = format!(
        "{{{expected}\"group\":\"\",\"method\":\"GET\",\"name\":\"GET /x\",\"proto\":\"HTTP/1.1\",\"scenario\":\"default\",\"status\":\"{status}\",\"test_stage\":\"sustained\"}}"
    );
    for (metric, value) in
        [("http_reqs", 1.0), ("http_req_duration", duration), ("http_req_failed", if ok { 0.0 } else { 1.0 })]
    {
        writeln!(
            out,
            r#"{{"metric":"{metric}","type":"Point","data":{{"time":"{time}","value":{value},"tags":{tags}}}}}"#
        )
        .unwrap();
    }
}

/// 30 seconds; each has `ok` successful requests of 200..=290 ms and `failed` failed ones of 1 ms.
fn run(ok: u64, failed: u64, tag: bool) -> RunSummary {
    let mut text = String::new();
    for m in ["http_reqs", "http_req_duration", "http_req_failed"] {
        let (kind, contains) = match m {
            "http_reqs" => ("counter", "default"),
            "http_req_duration" => ("trend", "time"),
            _ => ("rate", "default"),
        };
        writeln!(
            text,
            r#"{{"type":"Metric","data":{{"name":"{m}","type":"{kind}","contains":"{contains}","thresholds":[],"submetrics":null}},"metric":"{m}"}}"#
        )
        .unwrap();
    }
    for sec in 0..30 {
        for i in 0..ok {
            request(&mut text, sec * 1000 + i, 200.0 + (i % 10) as f64 * 10.0, true, tag);
        }
        for i in 0..failed {
            request(&mut text, sec * 1000 + 500 + i, 1.0, false, tag);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k6.json");
    std::fs::write(&path, text).unwrap();
    k6gate::ingest(&[path], &IngestOptions::default()).unwrap()
}

#[test]
fn p95_is_that_of_the_successful_requests_when_failures_are_fast() {
    // 80 % of the requests fail in 1 ms: over all requests the p95 would be ~280 ms but the
    // p50 1 ms; the successful ones alone are 200..=290 ms.
    let s = run(10, 40, true);
    for phase in [&s.whole_run, s.phase("sustained").unwrap(), s.phase("steady-state").unwrap()] {
        let t = &phase.total;
        let l = t.latency_ms.as_ref().unwrap();
        assert!(l.p50.unwrap() >= 200.0 && l.p95.unwrap() >= 280.0, "{}: {l:?}", phase.name);
        assert_eq!(l.min, Some(200.0), "{}", phase.name);
        let f = t.failed_latency_ms.as_ref().expect("failed latency");
        assert_eq!((f.count, f.p95, f.max), (t.failed, Some(1.0), Some(1.0)), "{}", phase.name);
        assert_eq!(l.count + f.count, t.requests, "{}", phase.name);
    }
    assert_eq!(s.whole_run.total.latency_ms.as_ref().unwrap().count, 300);
    assert!(!s.notes.iter().any(|n| n == LATENCY_ALL_REQUESTS_NOTE), "{:?}", s.notes);
    let series = s.series.as_ref().unwrap();
    assert!(series.total.p50_ms.iter().flatten().all(|p| *p >= 200.0));
    // The JSON carries both.
    let json = serde_json::to_value(&s).unwrap();
    assert!(json["whole_run"]["total"]["failed_latency_ms"]["count"] == 1200);
}

#[test]
fn an_all_failed_run_has_no_latency_quantiles() {
    let s = run(0, 20, true);
    for phase in [&s.whole_run, s.phase("sustained").unwrap()] {
        assert_eq!(phase.total.latency_ms, None, "{}: never p95 0 ms", phase.name);
        assert_eq!(phase.total.failed_latency_ms.as_ref().map(|f| f.count), Some(phase.total.requests));
        for g in &phase.groups {
            assert_eq!(g.latency_ms, None, "{}: {:?}", phase.name, g.key);
        }
    }
    // Nothing to find a steady state in: no window has a successful request.
    assert!(s.steady_state.is_none() || s.steady_state.as_ref().unwrap().summary.total.latency_ms.is_none());
    assert!(s.series.as_ref().unwrap().total.p95_ms.iter().all(Option::is_none));

    // Downstream: a comparison has no latency to judge, and the reports show a dash.
    let good = run(10, 0, true);
    let c = compare(&good, "baseline", &s, "candidate", &Phase::SteadyState, 0.95);
    let p95 = c.metrics.iter().find(|m| m.group == "all" && m.metric == Metric::P95Ms).expect("p95 row");
    assert_eq!(p95.state, State::InsufficientData, "{p95:?}");
    assert!(p95.reason.as_deref().is_some_and(|r| r.contains("not in the summary")), "{p95:?}");
    let text = k6gate::report::text::render(&s);
    assert!(text.contains('-') && !text.contains("NaN"), "{text}");
    let html = k6gate::report::html::render_run(&s, Some(&good), None);
    assert!(html.contains("</html>") && !html.contains("NaN"));
}

#[test]
fn without_the_tag_latency_covers_every_request_with_a_note() {
    let s = run(10, 40, false);
    let t = &s.whole_run.total;
    assert_eq!(t.latency_ms.as_ref().map(|l| (l.count, l.p50)), Some((1500, Some(1.0))));
    assert_eq!(t.failed_latency_ms, None);
    assert_eq!(s.notes.iter().filter(|n| *n == LATENCY_ALL_REQUESTS_NOTE).count(), 1, "{:?}", s.notes);
}
