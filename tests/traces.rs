//! `k6gate traces` (issue 15, first slice): the Tempo client against a fake kept to Tempo's
//! documented API (paths, tenant header, v2 -> v1 fallback, PARTIAL, the settle loop and its
//! late spans, retries), and the command end to end on OTLP/JSON files and on the fake.
//! Attribution and aggregates have their unit and property tests next to them
//! (`src/traces/attribute.rs`, `aggregate.rs`).

use std::time::Duration;

use serde_json::json;
use wiremock::Mock;
use wiremock::matchers::any;

use crate::support::cli::K6gate;
use crate::support::fake_tempo::{FakeSpan, FakeTempo, T0_NS, resource_spans};
use crate::support::mock_http::MockHttp;
use k6gate::net::RetryPolicy;
use k6gate::traces::TraceId;
use k6gate::traces::tempo::{Api, Settle, Tempo};

const ID_A: &str = "0af7651916cd43dd8448eb211c80319c";
const ID_B: &str = "00f067aa0ba902b7a1b2c3d4e5f60718";

fn chain(db_ms: f64) -> Vec<FakeSpan> {
    vec![
        FakeSpan { span_id: 1, parent: None, service: "gateway", start_ms: 1.0, end_ms: 19.0 + db_ms },
        FakeSpan { span_id: 2, parent: Some(1), service: "api", start_ms: 2.0, end_ms: 18.0 + db_ms },
        FakeSpan { span_id: 3, parent: Some(2), service: "db", start_ms: 10.0, end_ms: 10.0 + db_ms },
    ]
}

fn serve(fake: FakeTempo) -> MockHttp {
    let http = MockHttp::start();
    http.mount(Mock::given(any()).respond_with(fake));
    http
}

fn fast() -> RetryPolicy {
    RetryPolicy {
        attempts: 3,
        backoff: Duration::from_millis(5),
        max_backoff: Duration::from_millis(20),
        budget: Duration::from_secs(5),
    }
}

fn id(hex: &str) -> TraceId {
    TraceId::parse(hex).unwrap()
}

fn no_wait() -> Settle {
    Settle { max_fetches: 4, interval: Duration::from_millis(5), budget: Duration::from_secs(5) }
}

#[test]
fn trace_by_id_sends_the_tenant_and_reads_partial_v2_answers() {
    let http = serve(FakeTempo { tenant: Some("team-a"), ..FakeTempo::default() }.trace(ID_A, vec![chain(5.0)], true));
    let tempo = Tempo::new(&http.uri(), Some("team-a".into())).unwrap().with_retry(fast());
    let got = k6gate::net::block_on(tempo.trace(id(ID_A))).unwrap().unwrap();
    assert_eq!(got.api, Some(Api::V2));
    assert!(got.partial);
    assert_eq!(got.message.as_deref(), Some("trace exceeds max size"));
    let trace = got.trace.unwrap();
    assert_eq!(trace.spans.len(), 3, "base64 ids read");
    assert!(trace.spans.iter().any(|s| s.component == "db"));
    let reqs = http.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].url.path(), format!("/api/v2/traces/{ID_A}"));
    assert_eq!(reqs[0].headers.get("X-Scope-OrgID").unwrap(), "team-a");

    // Without the tenant the fake refuses (401), and the error says so; it is not retried.
    let anonymous = Tempo::new(&http.uri(), None).unwrap().with_retry(fast());
    let e = k6gate::net::block_on(anonymous.trace(id(ID_A))).unwrap().unwrap_err().to_string();
    assert!(e.contains("HTTP 401: no org id"), "{e}");
    assert_eq!(http.requests().len(), 2);
}

#[test]
fn a_tempo_without_v2_is_read_through_v1_from_then_on() {
    let http = serve(FakeTempo { v1_only: true, ..FakeTempo::default() }.trace(ID_A, vec![chain(5.0)], false).trace(
        ID_B,
        vec![chain(7.0)],
        false,
    ));
    let tempo = Tempo::new(&http.uri(), None).unwrap().with_retry(fast());
    let a = k6gate::net::block_on(tempo.trace(id(ID_A))).unwrap().unwrap();
    assert_eq!(a.api, Some(Api::V1));
    assert!(!a.partial, "v1 cannot say PARTIAL");
    assert_eq!(a.trace.unwrap().spans.len(), 3, "batches read");
    let b = k6gate::net::block_on(tempo.trace(id(ID_B))).unwrap().unwrap();
    assert_eq!(b.api, Some(Api::V1));
    let missing = k6gate::net::block_on(tempo.trace(id("11111111111111111111111111111111"))).unwrap().unwrap();
    assert!(missing.trace.is_none());
    let paths: Vec<String> = http.requests().iter().map(|r| r.url.path().to_string()).collect();
    assert_eq!(
        paths,
        vec![
            format!("/api/v2/traces/{ID_A}"),
            format!("/api/traces/{ID_A}"),
            format!("/api/traces/{ID_B}"),
            "/api/traces/11111111111111111111111111111111".to_string(),
        ]
    );
}

#[test]
fn a_trace_missing_from_both_versions_is_not_found_and_503s_are_retried() {
    let http = serve(FakeTempo { fail_first: 2, ..FakeTempo::default() }.trace(ID_A, vec![chain(5.0)], false));
    let tempo = Tempo::new(&http.uri(), None).unwrap().with_retry(fast());
    let a = k6gate::net::block_on(tempo.trace(id(ID_A))).unwrap().unwrap();
    assert_eq!(a.trace.unwrap().spans.len(), 3, "two 503s, then the answer");
    assert_eq!(http.requests().len(), 3);
    // v2 has answered 200 once: a 404 from it now means "not found", without asking v1.
    let missing = k6gate::net::block_on(tempo.trace(id(ID_B))).unwrap().unwrap();
    assert!(missing.trace.is_none());
    assert_eq!(http.requests().len(), 4);
    // Always 503: the retries run out and the error names Tempo and the request.
    let down = serve(FakeTempo { fail_first: usize::MAX, ..FakeTempo::default() });
    let tempo = Tempo::new(&down.uri(), None).unwrap().with_retry(fast());
    let e = k6gate::net::block_on(tempo.trace(id(ID_A))).unwrap().unwrap_err().to_string();
    assert!(e.contains(&format!("GET /api/v2/traces/{ID_A}: HTTP 503")), "{e}");
    assert_eq!(down.requests().len(), 3);
}

#[test]
fn settling_refetches_until_the_span_count_is_stable_and_counts_late_spans() {
    let full = chain(5.0);
    let http =
        serve(FakeTempo::default().trace(ID_A, vec![full[..1].to_vec(), full.clone(), full.clone()], false).trace(
            ID_B,
            vec![full[..1].to_vec(), full[..2].to_vec(), full.clone(), full.clone()],
            false,
        ));
    let tempo = Tempo::new(&http.uri(), None).unwrap().with_retry(fast());
    let a = k6gate::net::block_on(tempo.settle(id(ID_A), no_wait(), &k6gate::net::TokioClock)).unwrap().unwrap();
    assert_eq!((a.fetches, a.late_spans, a.stable), (3, 2, true));
    // Three fetches at most: B is still growing at the last one.
    let three = Settle { max_fetches: 3, ..no_wait() };
    let b = k6gate::net::block_on(tempo.settle(id(ID_B), three, &k6gate::net::TokioClock)).unwrap().unwrap();
    assert_eq!((b.fetches, b.late_spans, b.stable), (3, 2, false));
    // The run's traces settle together, in rounds: only the unsettled ones are fetched again.
    let http = serve(FakeTempo::default().trace(ID_A, vec![full.clone()], false));
    let tempo = Tempo::new(&http.uri(), None).unwrap().with_retry(fast());
    let missing = id("11111111111111111111111111111111");
    let both = tempo.settle_all(&[id(ID_A), missing], no_wait(), 2).unwrap();
    assert_eq!((both[0].id, both[0].fetches, both[0].stable), (id(ID_A), 2, true));
    assert_eq!((both[1].id, both[1].fetches, both[1].stable), (missing, 4, false));
    assert!(both[1].last.trace.is_none());
    // A budget shorter than one wait: one fetch only.
    let tight = Settle { max_fetches: 4, interval: Duration::from_millis(50), budget: Duration::from_millis(10) };
    let http = serve(FakeTempo::default().trace(ID_A, vec![full.clone()], false));
    let tempo = Tempo::new(&http.uri(), None).unwrap().with_retry(fast());
    let one = k6gate::net::block_on(tempo.settle(id(ID_A), tight, &k6gate::net::TokioClock)).unwrap().unwrap();
    assert_eq!((one.fetches, one.stable), (1, false));
}

#[test]
fn traceql_search_sends_the_documented_parameters() {
    let http = serve(FakeTempo::default().trace(ID_B, vec![chain(5.0)], false));
    let tempo = Tempo::new(&http.uri(), None).unwrap().with_retry(fast());
    let q = r#"{ resource.service.name = "db" && duration > 5ms }"#;
    let hits = k6gate::net::block_on(tempo.search(q, 1_764_288_000, 1_764_288_600, 20)).unwrap().unwrap();
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].trace_id, id(ID_B), "the trimmed hex id is padded back");
    assert_eq!(hits[0].root_service.as_deref(), Some("gateway"));
    assert_eq!(hits[0].duration_ms, Some(23.0));
    let req = &http.requests()[0];
    assert_eq!(req.url.path(), "/api/search");
    let params: std::collections::BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
    assert_eq!(params.get("q").map(String::as_str), Some(q));
    assert_eq!(params.get("start").map(String::as_str), Some("1764288000"));
    assert_eq!(params.get("end").map(String::as_str), Some("1764288600"));
    assert_eq!(params.get("limit").map(String::as_str), Some("20"));
}

/// k6 JSON output: one `http_req_duration` point per request (stamped at its end), with the
/// template's `trace_id` metadata, plus the other samples k6 writes around it.
fn k6_output(requests: &[(&str, &str, f64)]) -> String {
    let mut out = String::from(
        r#"{"type":"Metric","data":{"name":"http_req_duration","type":"trend","contains":"time"},"metric":"http_req_duration"}"#,
    );
    out.push('\n');
    for (i, (trace, group, ms)) in requests.iter().enumerate() {
        let start = T0_NS + i as i64 * 1_000_000_000;
        let end = start + (ms * 1e6).round() as i64;
        let secs = end / 1_000_000_000;
        let time = format!(
            "{}.{:09}Z",
            k6gate::time::format_rfc3339_ms(secs * 1_000_000_000).trim_end_matches(".000Z").trim_end_matches('Z'),
            end % 1_000_000_000
        );
        let tags =
            json!({"group": group, "name": "GET /items", "method": "GET", "status": "200", "test_stage": "steady"});
        let meta = json!({"trace_id": trace});
        for metric in ["http_reqs", "http_req_duration", "http_req_waiting"] {
            let value = if metric == "http_reqs" { 1.0 } else { *ms };
            out.push_str(&json!({"metric": metric, "type": "Point", "data": {"time": time, "value": value, "tags": tags, "metadata": meta}}).to_string());
            out.push('\n');
        }
    }
    out
}

/// Trace hex ids for request i.
fn hex(i: usize) -> String {
    format!("{:032x}", 0x4bf92f3577b34da6a3ce929d0e0e4736u128 + i as u128)
}

/// A run of 40 requests of 24 ms + DB time (5..8 ms times `db_scale`) as k6 JSON output and
/// OTLP/JSON files under `dir` named after `name`. Request i starts at T0 + i s; its spans are
/// written with that offset. One request in ten has no DB span.
pub(crate) fn write_run(dir: &std::path::Path, name: &str, db_scale: f64) -> (std::path::PathBuf, std::path::PathBuf) {
    let mut reqs = Vec::new();
    let mut resources = Vec::new();
    for i in 0..40 {
        let db = (5.0 + (i % 4) as f64) * db_scale;
        let total = 24.0 + db;
        reqs.push((hex(i), "::shop", total));
        let offset = i as f64 * 1000.0;
        let mut spans = chain(db);
        for s in &mut spans {
            s.start_ms += offset + 2.0;
            s.end_ms += offset + 2.0;
        }
        if i % 10 == 9 {
            spans.pop(); // DB instrumentation missing for one request in ten.
        }
        resources.extend(resource_spans(&hex(i), &spans, false).as_array().unwrap().clone());
    }
    let reqs_ref: Vec<(&str, &str, f64)> = reqs.iter().map(|(t, g, d)| (t.as_str(), *g, *d)).collect();
    let k6 = dir.join(format!("{name}-k6.json"));
    std::fs::write(&k6, k6_output(&reqs_ref)).unwrap();
    let otlp = dir.join(format!("{name}-traces.json"));
    std::fs::write(&otlp, json!({"resourceSpans": resources}).to_string()).unwrap();
    (k6, otlp)
}

#[test]
fn traces_on_otlp_files_gives_the_breakdown_as_json_and_text() {
    let dir = tempfile::tempdir().unwrap();
    let (k6, otlp) = write_run(dir.path(), "run", 1.0);
    let ran = K6gate::new()
        .args([
            "traces",
            k6.to_str().unwrap(),
            "--otlp",
            otlp.to_str().unwrap(),
            "--expect",
            "db",
            "--gateway",
            "gateway",
            "--format",
            "json",
        ])
        .status(0);
    let out = ran.stdout_json();
    let b = &out["breakdown"];
    assert_eq!(b["requests"], 40);
    assert_eq!(b["traced"], 40);
    let comp = |c: &str| b["components"].as_array().unwrap().iter().find(|x| x["component"] == c).unwrap().clone();
    assert_eq!(comp("db")["samples"], 36);
    assert_eq!(comp("db")["unknown"], 4);
    assert_eq!(comp("db")["unknown_reasons"]["missing_leaf"], 4);
    // The gateway span runs 3 ms after k6's start to 3 ms before its end: network 3 + 3 ms,
    // gateway 1 + 1 ms around the API, the API 16 ms around the query.
    assert_eq!(comp("network")["quantiles"][0]["ms"], 6.0);
    assert_eq!(comp("gateway")["quantiles"][0]["ms"], 2.0);
    assert_eq!(comp("api")["quantiles"][0]["ms"], 16.0);
    assert_eq!(b["groups"][0]["bottleneck"], "api");

    let text = K6gate::new()
        .args(["traces", k6.to_str().unwrap(), "--otlp", otlp.to_str().unwrap(), "--expect", "db"])
        .status(0)
        .stdout();
    assert!(text.contains("40 request(s), 40 traced"), "{text}");
    assert!(text.contains("missing_leaf 4"), "{text}");
    assert!(text.contains("network + LB"), "no --gateway: the LB is outside the spans\n{text}");
    assert!(text.contains("::shop [steady] (40 requests): api"), "{text}");

    // Against a baseline: the candidate's DB takes 1.4 times the baseline's, the rest is the same.
    let (base_k6, base_otlp) = (k6.clone(), otlp.clone());
    let (slow_k6, slow_otlp) = write_run(dir.path(), "slow", 1.4);
    let out = K6gate::new()
        .args([
            "traces",
            slow_k6.to_str().unwrap(),
            "--otlp",
            slow_otlp.to_str().unwrap(),
            "--expect",
            "db",
            "--gateway",
            "gateway",
        ])
        .args(["--baseline-k6-output", base_k6.to_str().unwrap(), "--baseline-otlp", base_otlp.to_str().unwrap()])
        .status(0)
        .stdout();
    assert!(
        out.contains("Against the baseline: api unchanged, db P95 +40 %, gateway unchanged, network unchanged"),
        "{out}"
    );
}

#[test]
fn traces_reads_tempo_with_its_tenant_and_reports_what_tempo_did() {
    let dir = tempfile::tempdir().unwrap();
    let k6 = dir.path().join("k6.json");
    // Two requests: one traced in Tempo (spans arrive late), one Tempo never got.
    let mut spans = chain(6.0);
    for s in &mut spans {
        s.start_ms += 2.0;
        s.end_ms += 2.0;
    }
    std::fs::write(&k6, k6_output(&[(ID_A, "::shop", 30.0), (ID_B, "::shop", 30.0)])).unwrap();
    let http = serve(FakeTempo { tenant: Some("perf"), ..FakeTempo::default() }.trace(
        ID_A,
        vec![spans[..2].to_vec(), spans.clone()],
        false,
    ));
    let ran = K6gate::new()
        .args([
            "traces",
            k6.to_str().unwrap(),
            "--tempo",
            &http.uri(),
            "--tempo-tenant",
            "perf",
            "--settle-interval",
            "10ms",
            "--format",
            "json",
        ])
        .status(0);
    let out = ran.stdout_json();
    assert_eq!(out["tempo"]["traces"], 2);
    assert_eq!(out["tempo"]["not_found"], 1);
    assert_eq!(out["tempo"]["late_spans"], 1);
    assert_eq!(out["tempo"]["unsettled"], 0);
    assert_eq!(out["breakdown"]["untraced"], 1);
    let db =
        out["breakdown"]["components"].as_array().unwrap().iter().find(|x| x["component"] == "db").unwrap().clone();
    assert_eq!(db["quantiles"][0]["ms"], 6.0);
    assert!(http.requests().iter().all(|r| r.headers.get("X-Scope-OrgID").is_some_and(|v| v == "perf")));
    assert!(out.get("requests").is_none(), "per-request breakdowns only when asked");

    let again = K6gate::new()
        .args(["traces", k6.to_str().unwrap(), "--tempo", &http.uri(), "--tempo-tenant", "perf"])
        .args(["--settle-interval", "10ms", "--format", "json", "--per-request"])
        .status(0)
        .stdout_json();
    let reqs = again["requests"].as_array().unwrap();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0]["trace_id"], ID_A);
    assert_eq!(reqs[0]["parts"]["db"], 6_000_000);
    assert_eq!(reqs[0]["parts"]["network + LB"], 6_000_000);
    assert_eq!(reqs[1]["reasons"], json!(["no_trace"]));
}

#[test]
fn bad_inputs_are_named_with_their_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let k6 = dir.path().join("k6.json");
    std::fs::write(&k6, k6_output(&[(ID_A, "::shop", 30.0)])).unwrap();
    let otlp = dir.path().join("bad.json");
    std::fs::write(&otlp, r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"0af7651916cd43dd8448eb211c80319c","spanId":"b7ad6b7169203331","startTimeUnixNano":"1","endTimeUnixNano":"later"}]}]}]}"#).unwrap();
    K6gate::new().args(["traces", k6.to_str().unwrap(), "--otlp", otlp.to_str().unwrap()]).status(2).stderr_contains(
        "bad.json: resourceSpans[0].scopeSpans[0].spans[0].endTimeUnixNano: \"later\" is not nanoseconds",
    );
    let summary = dir.path().join("summary.json");
    std::fs::write(&summary, r#"{"schema_version":"k6gate.run-summary/9"}"#).unwrap();
    K6gate::new()
        .args(["traces", summary.to_str().unwrap(), "--otlp", otlp.to_str().unwrap()])
        .status(2)
        .stderr_contains("a RunSummary does not keep per-request trace ids yet; pass --k6-output FILE");
    K6gate::new().args(["traces", k6.to_str().unwrap()]).status(2).stderr_contains("--otlp");
    let csv = dir.path().join("k6.csv");
    std::fs::write(&csv, "metric_name,timestamp,metric_value\nhttp_req_duration,1764288000,12.5\n").unwrap();
    K6gate::new()
        .args(["traces", csv.to_str().unwrap(), "--otlp", otlp.to_str().unwrap()])
        .status(2)
        .stderr_contains("k6.csv: no http_req_duration points: not k6's JSON output");
}

/// The README's table of reason codes is the code's: every code in it, no other.
#[test]
fn the_readme_lists_every_reason_code() {
    let readme = std::fs::read_to_string(crate::support::root().join("README.md")).unwrap();
    let section = readme.split("## Where the time goes").nth(1).unwrap().split("\n## ").next().unwrap();
    let listed: Vec<&str> = section.lines().filter_map(|l| l.strip_prefix("| `")?.split('`').next()).collect();
    let codes: Vec<&str> = k6gate::traces::Reason::ALL.iter().map(|r| r.code()).collect();
    let mut sorted = listed.clone();
    sorted.sort();
    let mut expected = codes.clone();
    expected.sort();
    assert_eq!(sorted, expected, "README table {listed:?} vs Reason::ALL {codes:?}");
}
