//! `prom::publish` and `prom::remote_write` against a real Prometheus 2.42 (started once per
//! test binary by `scripts/start-prometheus.sh`, TSDB under `target/prom-publish`), and the
//! retry and header behaviour against a scripted receiver on the shared wiremock fake.
//!
//! Prometheus lifetime: the first test that needs it stops a Prometheus left by an earlier
//! run of this binary (`--stop` on the same data dir), wipes the TSDB and starts a fresh one
//! in its own session (`setsid`). A watchdog, also in its own session, waits for this
//! process to exit (`tail --pid`) and then runs `--stop`, so Prometheus goes away however
//! the tests end, Ctrl-C and panics included. (A static with a `Drop` never runs at exit.)
//!
//! Tests share that Prometheus, so each publishes under its own `testid` (and the version
//! comparison under its own `test_name`) and queries only its own series.

use crate::support::http;
use crate::support::mock_http::MockHttp;
use crate::support::prometheus;

use crate::support::fixtures::Set;

use std::collections::{BTreeMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k6gate::RunSummary;
use k6gate::prom::live;
use k6gate::prom::publish::{self, METRICS, P95, PublishReport, STEADY_STATE, WHOLE_RUN};
use k6gate::prom::remote_write::{
    Auth, Label, Rejection, RemoteWriter, RetryPolicy, Sample, Secret, TimeSeries, WriteErrorKind, WriteOptions, decode,
};
use k6gate::time::format_rfc3339_ms;
use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, Respond, ResponseTemplate};

// ------------------------------------------------------------------ Prometheus

/// Base URL of this binary's Prometheus.
fn prometheus() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| prometheus::start("prom-publish"))
}

fn write_url() -> String {
    format!("{}/api/v1/write", prometheus())
}

/// An instant query at `at_ms`; the `data.result` array.
fn query(promql: &str, at_ms: i64) -> Vec<Value> {
    let url = format!("{}/api/v1/query", prometheus());
    let time = format!("{}.{:03}", at_ms.div_euclid(1000), at_ms.rem_euclid(1000));
    let v = http::get_json(&url, &[("query", promql), ("time", &time)]);
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The value of a one-element result.
fn only_value(result: &[Value]) -> f64 {
    assert_eq!(result.len(), 1, "expected one series: {result:?}");
    result[0]["value"][1].as_str().expect("value string").parse().expect("value number")
}

fn labels_of(v: &Value) -> BTreeMap<String, String> {
    v["metric"]
        .as_object()
        .expect("metric")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
        .collect()
}

/// A run id unique to this test and process.
fn run_id(test: &str) -> String {
    format!("{test}-{}-{}", std::process::id(), now_ms())
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis() as i64
}

// ------------------------------------------------------------------ fixtures

fn base_a() -> &'static RunSummary {
    static S: OnceLock<RunSummary> = OnceLock::new();
    S.get_or_init(|| Set::Small.ingest("policy-base-a.json"))
}

fn slow() -> &'static RunSummary {
    static S: OnceLock<RunSummary> = OnceLock::new();
    S.get_or_init(|| Set::Small.ingest("policy-slow.json"))
}

fn steady_p95_ms(s: &RunSummary) -> f64 {
    s.steady_state.as_ref().expect("steady state").summary.total.latency_ms.as_ref().expect("latency").p95.expect("p95")
}

fn fast_retries() -> WriteOptions {
    WriteOptions {
        retry: RetryPolicy {
            attempts: 4,
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            budget: Duration::from_secs(5),
        },
        timeout: Duration::from_secs(2),
        ..WriteOptions::default()
    }
}

// ------------------------------------------------------------------ series

#[test]
fn series_cover_every_phase_and_group_with_finite_values_and_sorted_labels() {
    let s = base_a();
    let series = publish::series(s, "run-1", Some("PASS")).unwrap();
    let end = publish::end_time_ms(s).unwrap();

    let stages: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).chain([STEADY_STATE, WHOLE_RUN]).collect();
    let mut expected = 1; // info
    for stage in &stages {
        let phase = s.phase(stage).unwrap_or(&s.whole_run);
        expected += 1; // phase duration
        for g in std::iter::once(&phase.total).chain(&phase.groups) {
            let q = g.latency_ms.as_ref();
            expected += [q.and_then(|q| q.p50), q.and_then(|q| q.p95), q.and_then(|q| q.p99), g.error_rate]
                .iter()
                .filter(|v| v.is_some())
                .count();
            expected += 1; // requests per second
        }
    }
    assert_eq!(series.len(), expected);

    for ts in &series {
        assert!(METRICS.contains(&ts.metric()), "{}", ts.describe());
        let names: Vec<&str> = ts.labels.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(
            names,
            [
                "__name__",
                "deployment_version",
                "environment",
                "git_commit",
                "group",
                "test_name",
                "test_stage",
                "testid",
                "verdict"
            ]
        );
        assert_eq!(ts.label("verdict"), Some("pass"));
        assert_eq!(ts.samples.len(), 1);
        assert_eq!(ts.samples[0].timestamp, end);
        assert!(ts.samples[0].value.is_finite(), "{}", ts.describe());
        assert!(stages.contains(&ts.label("test_stage").unwrap()));
    }
    let info: Vec<&TimeSeries> = series.iter().filter(|t| t.metric() == "k6gate_run_info").collect();
    assert_eq!(info.len(), 1);
    assert_eq!(info[0].samples[0].value, 1.0);

    // Groups are named like compare::group_name: tag values in key order, space-joined.
    let steady = &s.steady_state.as_ref().unwrap().summary;
    for g in &steady.groups {
        let name = k6gate::compare::group_name(&g.key);
        let p95 = series
            .iter()
            .find(|t| {
                t.metric() == P95 && t.label("test_stage") == Some(STEADY_STATE) && t.label("group") == Some(&name)
            })
            .unwrap_or_else(|| panic!("no steady-state p95 for group {name}"));
        assert_eq!(p95.samples[0].value, g.latency_ms.as_ref().unwrap().p95.unwrap() / 1000.0);
    }
    assert!(
        steady.groups.iter().any(|g| k6gate::compare::group_name(&g.key).contains(' ')),
        "fixture has method+name groups"
    );

    assert_eq!(publish::verdict_label(None), "none");
    assert_eq!(publish::verdict_label(Some("incomplete")), "none");
    assert!(publish::series(s, " ", None).is_err());
}

// ------------------------------------------------------------------ real Prometheus

#[test]
#[ignore = "full tier: needs prometheus"]
fn a_published_run_reads_back_exactly_with_its_labels_and_verdict() {
    let s = base_a();
    let id = run_id("labels");
    let series = publish::series(s, &id, Some("pass")).unwrap();
    let report = publish::publish(&write_url(), None, &series, &WriteOptions::default()).unwrap();
    assert_eq!(report, PublishReport { series: series.len(), samples: series.len(), requests: 1, attempts: 1 });

    let end = publish::end_time_ms(s).unwrap();
    let got = query(
        &format!(r#"k6gate_run_latency_p95_seconds{{testid="{id}",test_stage="steady-state",group="all"}}"#),
        end,
    );
    assert_eq!(only_value(&got), steady_p95_ms(s) / 1000.0, "exactly the summary's p95 in seconds");
    assert_eq!(got[0]["value"][0].as_f64().unwrap(), end as f64 / 1000.0);
    let m = &s.metadata;
    let want: BTreeMap<String, String> = [
        ("__name__", "k6gate_run_latency_p95_seconds"),
        ("test_name", m.test_name.as_deref().unwrap()),
        ("environment", m.environment.as_deref().unwrap()),
        ("deployment_version", m.deployment_version.as_deref().unwrap()),
        ("git_commit", m.git_commit.as_deref().unwrap()),
        ("test_stage", "steady-state"),
        ("group", "all"),
        ("verdict", "pass"),
        ("testid", &id),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(labels_of(&got[0]), want);
    assert_eq!((want["test_name"].as_str(), want["deployment_version"].as_str()), ("checkout", "v1.0.0"));

    let info = query(&format!(r#"k6gate_run_info{{testid="{id}"}}"#), end);
    assert_eq!(only_value(&info), 1.0);
    assert_eq!(labels_of(&info[0])["verdict"], "pass");

    // Everything arrived: every series, every metric name.
    assert_eq!(only_value(&query(&format!(r#"count({{testid="{id}"}})"#), end)), series.len() as f64);
    let names = query(&format!(r#"count by (__name__) ({{testid="{id}"}})"#), end);
    let mut names: Vec<String> = names.iter().map(|v| labels_of(v)["__name__"].clone()).collect();
    names.sort();
    let mut want_names: Vec<String> = METRICS.iter().map(|s| s.to_string()).collect();
    want_names.sort();
    assert_eq!(names, want_names);

    // Only runs that ended in the last 5 minutes (the lookback) show in an instant selector.
    assert!(query(&format!(r#"k6gate_run_info{{testid="{id}"}}"#), end + 6 * 60 * 1000).is_empty());
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn versions_compare_in_promql() {
    // Own test name, so runs published by other tests do not enter the averages.
    let test_name = format!("checkout-compare-{}", std::process::id());
    let mut runs = Vec::new();
    for (summary, verdict) in [(base_a(), "pass"), (slow(), "fail")] {
        let mut s = summary.clone();
        s.metadata.test_name = Some(test_name.clone());
        let id = run_id(&format!("compare-{verdict}"));
        publish::publish(
            &write_url(),
            None,
            &publish::series(&s, &id, Some(verdict)).unwrap(),
            &WriteOptions::default(),
        )
        .unwrap();
        runs.push(s);
    }
    let (old, new) = (&runs[0], &runs[1]);
    let (old_v, new_v) =
        (old.metadata.deployment_version.clone().unwrap(), new.metadata.deployment_version.clone().unwrap());
    assert_ne!(old_v, new_v);

    // The query of the publish module's docs: each other version minus `old_v`.
    let sel = |version: &str| {
        format!(
            r#"k6gate_run_latency_p95_seconds{{test_name="{test_name}", environment="ci", test_stage="steady-state", group="all", deployment_version{version}}}"#
        )
    };
    let promql = format!(
        "avg by (test_name, environment, deployment_version) (avg_over_time({}[30d])) \
         - on (test_name, environment) group_left \
         avg by (test_name, environment) (avg_over_time({}[30d]))",
        sel(&format!("!=\"{old_v}\"")),
        sel(&format!("=\"{old_v}\""))
    );
    let at = publish::end_time_ms(new).unwrap().max(publish::end_time_ms(old).unwrap()) + 1000;
    let got = query(&promql, at);
    let diff = only_value(&got);
    assert_eq!(labels_of(&got[0])["deployment_version"], new_v);
    assert_eq!(diff, steady_p95_ms(new) / 1000.0 - steady_p95_ms(old) / 1000.0);
    assert!(diff > 0.0, "policy-slow runs a 30 % slower target: {diff}");
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn a_sample_older_than_the_out_of_order_window_gets_the_clear_error() {
    // The script's Prometheus accepts samples up to 30 d older than the newest one it holds
    // (`out_of_order_time_window: 30d`). A run that ended 40 d ago is beyond that: Prometheus
    // 2.42 answers 500 `too old sample`, which must not be retried like other 500s. The
    // window is measured from the newest sample in the TSDB, so one is written at "now"
    // first; otherwise an empty TSDB would take the first sample at any age.
    let id = run_id("too-old");
    let now = now_ms();
    let clock =
        TimeSeries::new("k6gate_test_clock", [("testid", id.as_str())], vec![Sample { value: 1.0, timestamp: now }])
            .unwrap();
    publish::publish(&write_url(), None, &[clock], &WriteOptions::default()).unwrap();

    let mut s = base_a().clone();
    let forty_days_ago = now - 40 * 24 * 3600 * 1000;
    s.metadata.end = Some(format_rfc3339_ms(forty_days_ago * 1_000_000));
    let series = publish::series(&s, &id, Some("pass")).unwrap();
    let start = Instant::now();
    let err = publish::publish(&write_url(), None, &series, &WriteOptions::default()).unwrap_err();
    assert!(start.elapsed() < Duration::from_millis(400), "a rejection is not retried: {:?}", start.elapsed());
    match &err.kind {
        WriteErrorKind::Rejected { status, rejection, body } => {
            assert_eq!((*status, *rejection), (500, Rejection::TooOld), "{body}");
            assert!(body.contains("too old sample"), "{body}");
        }
        other => panic!("expected a too-old rejection, got {other:?}"),
    }
    let msg = err.to_string();
    for needle in ["request 1 of 1", "too-old sample", "out_of_order_time_window", "publish runs promptly", "nothing"] {
        assert!(msg.contains(needle), "{needle:?} not in: {msg}");
    }
    assert!(query(&format!(r#"count({{testid="{id}",__name__!="k6gate_test_clock"}})"#), forty_days_ago).is_empty());
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn republishing_is_idempotent_and_changed_values_are_a_duplicate_error() {
    // Prometheus checks duplicates only in its in-order range (the last hour of the head):
    // a run that just ended, as here. Older samples go through the out-of-order path,
    // which keeps the first value and silently drops a different one (below).
    let mut fresh = base_a().clone();
    let now = now_ms();
    fresh.metadata.end = Some(format_rfc3339_ms((now - 1000) * 1_000_000));
    let id = run_id("duplicate");
    let series = publish::series(&fresh, &id, Some("pass")).unwrap();
    publish::publish(&write_url(), None, &series, &WriteOptions::default()).unwrap();
    publish::publish(&write_url(), None, &series, &WriteOptions::default()).expect("same values again are accepted");

    let bump_p95 = |s: &mut RunSummary| {
        let q = s.steady_state.as_mut().unwrap().summary.total.latency_ms.as_mut().unwrap();
        q.p95 = q.p95.map(|v| v + 1.0);
    };
    let mut changed = fresh.clone();
    bump_p95(&mut changed);
    let err =
        publish::publish(&write_url(), None, &publish::series(&changed, &id, Some("pass")).unwrap(), &fast_retries())
            .unwrap_err();
    assert!(matches!(err.kind, WriteErrorKind::Rejected { status: 400, rejection: Rejection::Duplicate, .. }), "{err}");
    assert!(err.to_string().contains("new run id"), "{err}");
    let p95_query =
        |id: &str| format!(r#"k6gate_run_latency_p95_seconds{{testid="{id}",test_stage="steady-state",group="all"}}"#);
    let end = publish::end_time_ms(&fresh).unwrap();
    assert_eq!(only_value(&query(&p95_query(&id), end)), steady_p95_ms(base_a()) / 1000.0, "the first values stay");

    // The fixture's own end time, usually more than an hour old: the change is rejected as a
    // duplicate (in-order range) or dropped (out-of-order range); the first value stays.
    let id = run_id("duplicate-old");
    publish::publish(
        &write_url(),
        None,
        &publish::series(base_a(), &id, Some("pass")).unwrap(),
        &WriteOptions::default(),
    )
    .unwrap();
    let mut changed = base_a().clone();
    bump_p95(&mut changed);
    match publish::publish(&write_url(), None, &publish::series(&changed, &id, Some("pass")).unwrap(), &fast_retries())
    {
        Ok(_) => {}
        Err(e) => assert!(matches!(e.kind, WriteErrorKind::Rejected { rejection: Rejection::Duplicate, .. }), "{e}"),
    }
    let end = publish::end_time_ms(base_a()).unwrap();
    assert_eq!(only_value(&query(&p95_query(&id), end)), steady_p95_ms(base_a()) / 1000.0, "the first values stay");
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn batches_of_three_make_one_request_per_three_series() {
    let id = run_id("batches");
    let series = publish::series(base_a(), &id, None).unwrap();
    let opts = WriteOptions { batch_size: 3, ..WriteOptions::default() };
    let report = publish::publish(&write_url(), None, &series, &opts).unwrap();
    assert_eq!(report.requests, series.len().div_ceil(3));
    assert_eq!(report.attempts, report.requests);
    assert_eq!(report.series, series.len());
    let end = publish::end_time_ms(base_a()).unwrap();
    assert_eq!(only_value(&query(&format!(r#"count({{testid="{id}"}})"#), end)), series.len() as f64);
    let info = query(&format!(r#"k6gate_run_info{{testid="{id}"}}"#), end);
    assert_eq!(labels_of(&info[0])["verdict"], "none");
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn a_wrong_path_is_a_final_error_with_a_hint() {
    let url = format!("{}/api/v1/push", prometheus());
    let series = publish::series(base_a(), &run_id("path"), None).unwrap();
    let err = publish::publish(&url, None, &series, &fast_retries()).unwrap_err();
    assert!(matches!(err.kind, WriteErrorKind::Status { status: 404, .. }), "{err}");
    assert!(err.to_string().contains("/api/v1/write"), "{err}");
}

// ------------------------------------------------------------------ scripted receiver

/// One request as the receiver got it.
struct Received {
    method: String,
    path: String,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

/// Answers `responses` in order, one per request (a request past the script gets a 599 and
/// is still recorded).
struct Script(Mutex<VecDeque<(u16, String)>>);

impl Respond for Script {
    fn respond(&self, _: &wiremock::Request) -> ResponseTemplate {
        let (status, body) = self.0.lock().unwrap().pop_front().unwrap_or((599, "unscripted request".into()));
        ResponseTemplate::new(status).set_body_raw(body, "text/plain")
    }
}

/// A remote-write receiver at `/api/v1/push` on the shared wiremock fake, answering the
/// scripted `(status, body)`s in order; `.expect`ed to get exactly that many requests. Returns
/// the URL and the fake, whose requests are the ones sent.
fn scripted(responses: Vec<(u16, String)>) -> (String, MockHttp) {
    let receiver = MockHttp::start();
    let n = responses.len() as u64;
    receiver.mount(Mock::given(any()).respond_with(Script(Mutex::new(responses.into()))).expect(n));
    (receiver.url("/api/v1/push"), receiver)
}

/// Every request the receiver got, after checking the `.expect`ed count.
fn received(receiver: &MockHttp) -> Vec<Received> {
    receiver.verify();
    receiver
        .requests()
        .into_iter()
        .map(|r| Received {
            method: r.method.to_string(),
            path: r.url.path().to_string(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), v.to_str().expect("ASCII header").to_string()))
                .collect(),
            body: r.body,
        })
        .collect()
}

fn small_series() -> Vec<TimeSeries> {
    vec![
        TimeSeries::new(
            P95,
            [("testid", "r1"), ("test_stage", "steady-state"), ("group", "all")],
            vec![Sample { value: 0.25, timestamp: 1_700_000_000_000 }],
        )
        .unwrap(),
    ]
}

#[test]
fn retries_5xx_with_backoff_and_sends_the_remote_write_headers() {
    let (url, server) = scripted(vec![(503, "busy".into()), (503, "busy".into()), (204, String::new())]);
    let opts = WriteOptions { auth: Auth::Bearer(Secret::new("s3cr3t-token")), ..fast_retries() };
    let report = publish::publish(&url, Some("team-a"), &small_series(), &opts).unwrap();
    assert_eq!(report, PublishReport { series: 1, samples: 1, requests: 1, attempts: 3 });

    let requests = received(&server);
    assert_eq!(requests.len(), 3);
    let host = url.trim_start_matches("http://").split('/').next().unwrap().to_string();
    for r in &requests {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/api/v1/push"));
        let h = |k: &str| r.headers.get(k).map(String::as_str);
        // HTTP/1.1, which requires `Host` (HTTP/2 carries `:authority` instead).
        assert_eq!(h("host"), Some(host.as_str()));
        assert_eq!(h("content-encoding"), Some("snappy"));
        assert_eq!(h("content-type"), Some("application/x-protobuf"));
        assert_eq!(h("x-prometheus-remote-write-version"), Some("0.1.0"));
        assert_eq!(h("user-agent"), Some(format!("k6gate/{}", env!("CARGO_PKG_VERSION")).as_str()));
        assert_eq!(h("x-scope-orgid"), Some("team-a"));
        assert_eq!(h("authorization"), Some("Bearer s3cr3t-token"));

        let wr = decode(&r.body).expect("snappy block + protobuf");
        assert_eq!(wr.timeseries.len(), 1);
        let ts = &wr.timeseries[0];
        assert_eq!(
            ts.labels,
            [
                Label::new("__name__", P95),
                Label::new("group", "all"),
                Label::new("test_stage", "steady-state"),
                Label::new("testid", "r1"),
            ]
        );
        assert_eq!(ts.samples, [Sample { value: 0.25, timestamp: 1_700_000_000_000 }]);
    }
    // Raw snappy block, not the framed format (whose stream starts with 0xff "sNaPpY").
    assert_ne!(requests[0].body.first(), Some(&0xff));
}

#[test]
fn a_4xx_is_not_retried_and_basic_auth_is_sent() {
    let (url, server) = scripted(vec![(400, "bad labels".into())]);
    let opts = WriteOptions { auth: Auth::Basic { user: "u".into(), password: Secret::new("pw") }, ..fast_retries() };
    let err = publish::publish(&url, None, &small_series(), &opts).unwrap_err();
    assert!(matches!(&err.kind, WriteErrorKind::Status { status: 400, body, .. } if body == "bad labels"), "{err}");
    let requests = received(&server);
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0].headers.get("authorization").map(String::as_str), Some("Basic dTpwdw=="));
    assert!(!requests[0].headers.contains_key("x-scope-orgid"));
}

#[test]
fn persistent_failures_give_up_after_the_attempts_and_never_show_the_token() {
    // The server echoes the token, as a misconfigured proxy might.
    let echo = "upstream said: Authorization: Bearer s3cr3t-token".to_string();
    let (url, server) = scripted(vec![(503, echo.clone()), (429, echo.clone()), (503, echo.clone()), (502, echo)]);
    let opts = WriteOptions { auth: Auth::Bearer(Secret::new("s3cr3t-token")), ..fast_retries() };
    let err = publish::publish(&url, None, &small_series(), &opts).unwrap_err();
    assert!(matches!(err.kind, WriteErrorKind::GaveUp { attempts: 4, .. }), "{err}");
    assert_eq!(received(&server).len(), 4);
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("s3cr3t-token"), "{shown}");
    assert!(shown.contains("HTTP 502"), "{shown}");

    // Credentials in the URL are not shown either.
    let (url, server) = scripted(vec![(401, "no".into())]);
    let url = url.replace("http://", "http://bob:hunter22@");
    let err = RemoteWriter::new(url, None, fast_retries()).write(&small_series()).unwrap_err();
    assert_eq!(received(&server).len(), 1);
    assert!(matches!(err.kind, WriteErrorKind::Unauthorized { status: 401, .. }), "{err}");
    assert!(!format!("{err} {err:?}").contains("hunter22"), "{err}");
}

#[test]
fn connection_errors_are_retried_within_the_budget() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}/api/v1/write");
    let start = Instant::now();
    let err = publish::publish(&url, None, &small_series(), &fast_retries()).unwrap_err();
    assert!(matches!(err.kind, WriteErrorKind::GaveUp { attempts: 4, .. }), "{err}");
    // 20 + 40 + 80 ms of backoff.
    assert!(start.elapsed() >= Duration::from_millis(140), "{:?}", start.elapsed());

    // The default policy stays within its 10 s budget even against a silent server.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/api/v1/write", listener.local_addr().unwrap());
    let start = Instant::now();
    let err = publish::publish(&url, None, &small_series(), &WriteOptions::default()).unwrap_err();
    assert!(matches!(err.kind, WriteErrorKind::GaveUp { .. }), "{err}");
    assert!(start.elapsed() < Duration::from_secs(11), "{:?}", start.elapsed());
    drop(listener);
}

// ------------------------------------------------------------------ the live-series check

fn fake_query_api(result: Value, times: u64) -> MockHttp {
    use wiremock::matchers::{method, path, query_param};
    let prom = MockHttp::start();
    prom.mount(
        wiremock::Mock::given(method("GET"))
            .and(path("/api/v1/query"))
            .and(query_param("query", "count(count_over_time(k6_vus{testid=\"r1\"}[3600s]))"))
            .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(
                serde_json::json!({"status": "success", "data": {"resultType": "vector", "result": result}}),
            ))
            .expect(times),
    );
    prom
}

#[test]
fn live_series_that_arrived_need_one_query() {
    let prom = fake_query_api(serde_json::json!([{"metric": {}, "value": [1_700_000_000, "3"]}]), 1);
    assert_eq!(
        live::series_missing(&prom.url("/api/v1/write"), None, None, &Auth::None, &live::RunSelector::by_run_id("r1")),
        None
    );
    prom.verify();
}

#[test]
fn live_series_that_never_arrive_are_polled_five_times_then_explained() {
    let prom = fake_query_api(serde_json::json!([]), 5);
    let why = live::series_missing(
        &prom.url("/api/v1/write"),
        None,
        Some("team-a"),
        &Auth::None,
        &live::RunSelector::by_run_id("r1"),
    )
    .expect("missing");
    prom.verify();
    assert!(
        why.starts_with("live metrics did not arrive in Prometheus (no series with testid=\"r1\" at http://127.0.0.1:"),
        "{why}"
    );
    assert!(why.contains("--web.enable-remote-write-receiver"), "{why}");
}

/// The README's PromQL recipe ("The same comparison from Prometheus/Mimir") against what
/// `history compare` answers from the records of the same runs: the geometric mean of each
/// version's decided runs' steady-state P95, the change in %, and an inconclusive run (verdict
/// `none`) left out on both sides.
#[test]
#[ignore = "full tier: needs prometheus"]
fn the_readme_recipe_gives_the_p95_history_compare_gives() {
    use k6gate::history::{DigestQuery, NewRun, Outcome, Records, RunStore, SqliteStore};
    use k6gate::summary::digest;
    use k6gate::trend::deployments::{Selection, compare_versions};

    let test_name = format!("checkout-recipe-{}", std::process::id());
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("history.db")).unwrap();
    let runs = [
        (base_a(), "v1.2.2", Outcome::Pass),
        (slow(), "v1.2.2", Outcome::Warn),
        (slow(), "v1.2.3", Outcome::Fail),
        (base_a(), "v1.2.3", Outcome::Pass),
        (base_a(), "v1.2.3", Outcome::Inconclusive),
    ];
    let mut at = 0;
    let mut environment = String::new();
    for (i, (summary, version, outcome)) in runs.into_iter().enumerate() {
        let mut s = summary.clone();
        s.metadata.test_name = Some(test_name.clone());
        s.metadata.deployment_version = Some(version.to_string());
        environment = s.metadata.environment.clone().unwrap();
        let id = run_id(&format!("recipe-{i}"));
        let series = publish::series(&s, &id, Some(outcome.as_str())).unwrap();
        publish::publish(&write_url(), None, &series, &WriteOptions::default()).unwrap();
        at = at.max(publish::end_time_ms(&s).unwrap() + 1000);
        store
            .record_run(&NewRun {
                test: test_name.clone(),
                environment: environment.clone(),
                outcome,
                started_at_ns: i as i64 * 1_000_000_000,
                deployment_version: Some(version.to_string()),
                summary: Some(serde_json::value::to_raw_value(&s).unwrap()),
                verdict: Some(serde_json::value::to_raw_value(&serde_json::json!({})).unwrap()),
                digest: digest::rows(&s),
                ..NewRun::default()
            })
            .unwrap();
    }
    let read = |version: &str| {
        store
            .digest_runs(&DigestQuery {
                test: &test_name,
                environment: &environment,
                version: Some(version),
                since_ns: None,
                phases: &["steady-state"],
                group: Some(""),
            })
            .unwrap()
    };
    let (a, b) = (read("v1.2.2"), read("v1.2.3"));
    let c = compare_versions(&test_name, &environment, ("v1.2.2", &a), ("v1.2.3", &b), Selection::default()).unwrap();
    let p95 = &c.groups[0].p95_ms;

    let geo_by = |version: &str, by: &str| {
        format!(
            r#"exp(avg by ({by}) (ln(last_over_time(k6gate_run_latency_p95_seconds{{test_name="{test_name}", environment="{environment}", test_stage="steady-state", group="all", deployment_version="{version}", verdict=~"pass|warn|fail"}}[365d]))))"#
        )
    };
    let geo = |version: &str| geo_by(version, "test_name, environment, deployment_version");
    for (version, k6gate_ms) in [("v1.2.2", p95.from.unwrap()), ("v1.2.3", p95.to.unwrap())] {
        let prom_s = only_value(&query(&geo(version), at));
        assert!((prom_s * 1000.0 / k6gate_ms - 1.0).abs() < 1e-9, "{version}: {prom_s} s vs {k6gate_ms} ms");
    }
    let change = format!(
        "100 * ({} / on (test_name, environment) {} - 1)",
        geo_by("v1.2.3", "test_name, environment"),
        geo_by("v1.2.2", "test_name, environment")
    );
    let prom_change = only_value(&query(&change, at));
    assert!((prom_change - p95.change_pct.unwrap()).abs() < 1e-6, "{prom_change} vs {:?}", p95.change_pct);
}
