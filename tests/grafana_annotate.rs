//! Grafana annotations and embed URLs against a fake Grafana.
//!
//! The fake (`support/fake_grafana.rs`) plays Grafana's part as the Grafana HTTP API documents it
//! (grafana/grafana `docs/sources/developers/http_api/annotations.md`, "Create Annotation",
//! https://grafana.com/docs/grafana/latest/developers/http_api/annotations/; the
//! `Authorization: Bearer <token>` header as in that page's PUT and PATCH examples and in
//! `docs/sources/developers/http_api/auth.md`):
//!
//! - `POST /api/annotations` with `Content-Type: application/json`;
//! - a JSON object body with `dashboardUID` (string), `panelId` (number), `time` and
//!   `timeEnd` (epoch numbers in millisecond resolution), `tags` (array of strings) and
//!   `text` (string, the only required field);
//! - the answer `200 {"message":"Annotation added","id":N}` (the page's example has a
//!   trailing comma after the id, which is not JSON; the handler writes valid JSON).
//!
//! It answers the way Grafana's handler (`pkg/api/annotations.go`, `PostAnnotation`) does when
//! something is off: 401 without the right token, 400 `bad request data` for a body it cannot
//! bind, 400 `Failed to save annotation` for an empty `text`, 404 elsewhere. Anything the
//! client sends that the documentation does not describe is recorded as a problem, and every
//! test checks there were none.

use crate::support::fake_grafana::{Canned, FakeGrafana, TOKEN, canned};
use crate::support::http;

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use k6gate::grafana::annotate::{
    AnnotateError, Annotation, BaselineFacts, ConfigError, GrafanaConfig, Outcome, Queue, QueuedAnnotation, RunFacts,
    baseline_annotation, flush, post, run_annotation, send_or_queue,
};
use k6gate::grafana::embed::{Panel, embed_url, run_embed_url};
use k6gate::history::Outcome as RunOutcome;

// ---------------------------------------------------------------------------------------------
// Helpers

/// An address where nothing listens: a port the OS gave out, closed again.
fn down_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

fn config(url: &str) -> GrafanaConfig {
    let mut config = GrafanaConfig::new(url, TOKEN).expect("config");
    config.backoff = Duration::from_millis(10);
    config.timeout = Duration::from_secs(5);
    config
}

fn facts() -> RunFacts {
    RunFacts {
        run_id: "20251128-001542-ab12".to_string(),
        test: "checkout".to_string(),
        environment: "staging".to_string(),
        deployment_version: Some("v1.2.3+build/5".to_string()),
        outcome: RunOutcome::Fail,
        start_ms: 1_764_288_942_011,
        end_ms: Some(1_764_289_242_500),
        report_link: Some("https://ci.example.com/runs/42/report.html?a=1&b=2".to_string()),
    }
}

fn note(text: &str) -> Annotation {
    Annotation {
        time_ms: 1_764_288_942_011,
        time_end_ms: None,
        tags: vec!["k6gate".to_string()],
        text: text.to_string(),
        dashboard_uid: None,
        panel_id: None,
    }
}

/// Every file under `dir`, recursively, holds no token.
fn assert_no_token_under(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            assert_no_token_under(&path);
        } else {
            let text = std::fs::read_to_string(&path).expect("read");
            assert!(!text.contains(TOKEN), "{} holds the token", path.display());
        }
    }
}

fn assert_no_token(message: &str) {
    assert!(!message.contains(TOKEN), "message holds the token: {message}");
}

// ---------------------------------------------------------------------------------------------
// Posting

#[test]
fn post_sends_the_documented_request_and_returns_the_id() {
    let grafana = FakeGrafana::start();
    let annotation = run_annotation(&facts(), Some("k6gate-run"));

    let id = post(&config(&grafana.url), &annotation).expect("posted");

    assert_eq!(id, 41);
    grafana.assert_all_documented();
    let seen = grafana.seen();
    assert_eq!(seen.len(), 1);
    let req = &seen[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/api/annotations");
    assert_eq!(req.authorization.as_deref(), Some(format!("Bearer {TOKEN}").as_str()));
    assert_eq!(req.content_type.as_deref(), Some("application/json"));
    assert_eq!(req.accept.as_deref(), Some("application/json"), "as in the documented example request");
    assert_eq!(
        req.json(),
        json!({
            "dashboardUID": "k6gate-run",
            "time": 1_764_288_942_011_i64,
            "timeEnd": 1_764_289_242_500_i64,
            "tags": ["k6gate", "run", "test:checkout", "env:staging", "version:v1.2.3+build/5", "verdict:fail",
                     "run:20251128-001542-ab12"],
            "text": "k6gate <b>FAIL</b>: checkout on staging, version v1.2.3+build/5<br />run 20251128-001542-ab12 \
                     · <a href=\"https://ci.example.com/runs/42/report.html?a=1&amp;b=2\">report</a>",
        })
    );
}

#[test]
fn an_organization_annotation_sends_no_dashboard_fields() {
    let grafana = FakeGrafana::start();
    let mut run = facts();
    run.end_ms = None;
    post(&config(&grafana.url), &run_annotation(&run, None)).expect("posted");
    grafana.assert_all_documented();
    let body = grafana.seen()[0].json();
    let keys: Vec<&str> = body.as_object().expect("object").keys().map(String::as_str).collect();
    assert_eq!(keys, ["tags", "text", "time"]);
}

#[test]
fn a_server_error_is_retried() {
    let grafana = FakeGrafana::start_with(
        TOKEN,
        vec![canned(500, r#"{"message":"Failed to save annotation"}"#), canned(502, "Bad Gateway")],
    );
    let id = post(&config(&grafana.url), &note("retried")).expect("posted on the third attempt");
    assert_eq!(id, 41);
    grafana.assert_all_documented();
    let seen = grafana.seen();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|s| s.body == seen[0].body), "every attempt sends the same body");
}

#[test]
fn a_timeout_is_retried() {
    // The first attempt hangs for 3 s and saves nothing (the fake's late 504 comes long after
    // the client gave up at 300 ms); the second is answered at once.
    let stuck = Canned { status: 504, body: r#"{"message":"Gateway Timeout"}"#, delay: Duration::from_secs(3) };
    let grafana = FakeGrafana::start_with(TOKEN, vec![stuck]);
    let mut config = config(&grafana.url);
    config.timeout = Duration::from_millis(300);
    let id = post(&config, &note("slow")).expect("posted on the second attempt");
    assert_eq!(id, 41);
    assert_eq!(grafana.seen().len(), 2);
    grafana.assert_all_documented();
}

#[test]
fn a_server_failing_every_attempt_is_queued() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    let grafana = FakeGrafana::start_with(TOKEN, (0..3).map(|_| canned(503, r#"{"message":"unavailable"}"#)).collect());

    let outcome = send_or_queue(&config(&grafana.url), &queue, &note("later")).expect("queued");

    let Outcome::Queued(path, AnnotateError::Server { status: 503, attempts: 3, .. }) = &outcome else {
        panic!("expected queued after 3 attempts, got {outcome:?}");
    };
    assert!(path.exists());
    assert_eq!(grafana.seen().len(), 3, "bounded: max_attempts requests, no more");
    let message = outcome.to_string();
    assert!(message.contains("failed 3 time(s)"), "{message}");
    assert!(message.contains("k6gate grafana flush"), "{message}");
    grafana.assert_all_documented();
}

#[test]
fn a_refused_token_is_named_and_the_annotation_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    // This Grafana knows another token than the client's.
    let grafana = FakeGrafana::start_with("glsa_the_right_one", Vec::new());

    let outcome = send_or_queue(&config(&grafana.url), &queue, &note("kept")).expect("queued");

    let Outcome::Queued(path, error) = &outcome else { panic!("expected queued, got {outcome:?}") };
    assert!(error.is_auth(), "{error:?}");
    assert_eq!(grafana.seen().len(), 1, "a refused token is not retried");
    let message = outcome.to_string();
    assert!(message.contains("refused the token (HTTP 401: Unauthorized)"), "{message}");
    assert!(message.contains("K6GATE_GRAFANA_TOKEN"), "{message}");
    assert!(message.contains(&format!("annotation queued in {}", path.display())), "{message}");
    assert!(message.contains("once the token is fixed"), "{message}");
    assert_no_token(&message);
    assert_no_token(&format!("{error:?}"));
    assert_eq!(queue.pending().expect("pending"), std::slice::from_ref(path));

    // A flush with the same token stops at once and keeps it; nothing is thrown away.
    let report = flush(&config(&grafana.url), &queue).expect("flush");
    assert_eq!((report.sent.len(), report.failed.len(), report.still_queued.len()), (0, 0, 1));
    assert!(report.errors[0].contains("refused the token"), "{report}");
    assert!(queue.failed().expect("failed").is_empty());
    assert_no_token(&report.to_string());

    // With the right token, it goes.
    let mut fixed = GrafanaConfig::new(&grafana.url, "glsa_the_right_one").expect("config");
    fixed.backoff = Duration::from_millis(10);
    let report = flush(&fixed, &queue).expect("flush");
    assert!(report.is_clean(), "{report}");
    assert_eq!(report.sent.len(), 1);
    grafana.assert_all_documented();
    assert_no_token_under(dir.path());
}

#[test]
fn grafana_down_queues_the_annotation_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    let url = down_url();
    let mut config = config(&url);
    config.backoff = Duration::from_secs(5);
    let annotation = run_annotation(&facts(), None);

    let started = Instant::now();
    let outcome = send_or_queue(&config, &queue, &annotation).expect("queued");

    assert!(started.elapsed() < Duration::from_secs(2), "a refused connection is not retried: {:?}", started.elapsed());
    let Outcome::Queued(path, error) = &outcome else { panic!("expected queued, got {outcome:?}") };
    assert!(error.is_unreachable(), "{error:?}");
    assert_eq!(
        outcome.to_string(),
        format!(
            "Grafana unreachable at {url} (connection refused): annotation queued in {}; run `k6gate grafana flush` later",
            path.display()
        )
    );
    assert_eq!(path.parent(), Some(queue.dir()));
    assert!(path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.ends_with(".json")));

    // The file: the annotation as built, why it waits, no token.
    let file: Value = serde_json::from_str(&std::fs::read_to_string(path).expect("read")).expect("json");
    assert_eq!(file["format"], "k6gate.grafana-annotation/v1");
    assert!(file["queued_at_ms"].as_i64().is_some_and(|ms| ms > 1_700_000_000_000));
    assert_eq!(file["reason"], format!("Grafana unreachable at {url} (connection refused)"));
    let entry: QueuedAnnotation = queue.read(path).expect("entry");
    assert_eq!(entry.annotation, annotation);
    assert_no_token_under(dir.path());
    assert!(!format!("{config:?}").contains(TOKEN), "Debug of the config shows the token");
}

// ---------------------------------------------------------------------------------------------
// Flushing

#[test]
fn flush_sends_in_order_and_empties_the_queue() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    let down = config(&down_url());
    for text in ["first", "second", "third"] {
        let outcome = send_or_queue(&down, &queue, &note(text)).expect("queued");
        assert!(matches!(outcome, Outcome::Queued(..)), "{outcome:?}");
    }
    assert_eq!(queue.pending().expect("pending").len(), 3);

    let grafana = FakeGrafana::start();
    let report = flush(&config(&grafana.url), &queue).expect("flush");

    assert!(report.is_clean(), "{report}");
    assert_eq!(report.sent.iter().map(|(_, id)| *id).collect::<Vec<_>>(), [41, 42, 43]);
    assert_eq!(grafana.texts(), ["first", "second", "third"]);
    assert!(queue.pending().expect("pending").is_empty());
    assert_eq!(report.to_string(), "Grafana annotations: 3 sent, 0 moved to failed/, 0 still queued");
    grafana.assert_all_documented();
}

#[test]
fn flush_stops_at_the_first_connection_failure() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    let down = config(&down_url());
    for text in ["a", "b"] {
        send_or_queue(&down, &queue, &note(text)).expect("queued");
    }
    let report = flush(&down, &queue).expect("flush");
    assert_eq!((report.sent.len(), report.failed.len(), report.still_queued.len()), (0, 0, 2));
    assert_eq!(report.errors.len(), 1);
    assert!(report.errors[0].starts_with("stopped: Grafana unreachable at"), "{report}");
    assert_eq!(report.still_queued, queue.pending().expect("pending"));
    let shown = report.to_string();
    assert!(shown.contains("2 still queued"), "{shown}");
    assert!(shown.contains("run `k6gate grafana flush` again later"), "{shown}");
}

#[test]
fn a_rejected_annotation_moves_to_failed_and_the_flush_goes_on() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    let down = config(&down_url());
    // Grafana refuses an empty text with 400 "Failed to save annotation".
    for text in ["before", "", "after"] {
        send_or_queue(&down, &queue, &note(text)).expect("queued");
    }

    let grafana = FakeGrafana::start();
    let report = flush(&config(&grafana.url), &queue).expect("flush");

    assert_eq!(report.sent.len(), 2, "{report}");
    assert_eq!(report.failed.len(), 1, "{report}");
    assert!(report.still_queued.is_empty());
    assert_eq!(grafana.texts(), ["before", "", "after"], "each sent once, the bad one not retried");
    let (moved, why) = &report.failed[0];
    assert_eq!(
        why,
        &format!("Grafana at {} rejected the annotation (HTTP 400: Failed to save annotation)", grafana.url)
    );
    assert_eq!(moved.parent(), Some(queue.failed_dir().as_path()));
    assert_eq!(queue.failed().expect("failed"), std::slice::from_ref(moved));
    let entry = queue.read(moved).expect("failed entry");
    assert_eq!(entry.failed.as_deref(), Some(why.as_str()));
    assert_eq!(entry.annotation.text, "");
    assert!(queue.pending().expect("pending").is_empty());

    // A second flush does not touch failed/.
    let again = flush(&config(&grafana.url), &queue).expect("flush");
    assert!(again.is_clean() && again.sent.is_empty(), "{again}");
    assert_eq!(grafana.seen().len(), 3);
    assert_no_token_under(dir.path());
    grafana.assert_all_documented();
}

#[test]
fn send_or_queue_puts_a_rejected_annotation_straight_into_failed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    let grafana = FakeGrafana::start();

    let outcome = send_or_queue(&config(&grafana.url), &queue, &note("")).expect("saved");

    let Outcome::Failed(path, error) = &outcome else { panic!("expected failed, got {outcome:?}") };
    assert!(error.is_rejection());
    assert!(queue.pending().expect("pending").is_empty());
    assert_eq!(queue.failed().expect("failed"), std::slice::from_ref(path));
    assert!(outcome.to_string().contains("it will not be retried"), "{outcome}");
    assert_eq!(grafana.seen().len(), 1);
    grafana.assert_all_documented();
}

#[test]
fn a_wrong_url_is_not_blamed_on_the_annotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let queue = Queue::new(dir.path().join("grafana-queue"));
    let grafana = FakeGrafana::start();
    // Grafana is at the root; the URL says it is under /grafana.
    let url = format!("{}/grafana/", grafana.url);

    let outcome = send_or_queue(&config(&url), &queue, &note("kept")).expect("queued");

    let Outcome::Queued(_, AnnotateError::NotFound { status: 404, .. }) = &outcome else {
        panic!("expected queued as not found, got {outcome:?}");
    };
    assert_eq!(grafana.seen()[0].path, "/grafana/api/annotations");
    assert!(outcome.to_string().contains("check K6GATE_GRAFANA_URL"), "{outcome}");
    assert_eq!(queue.pending().expect("pending").len(), 1);
    assert!(queue.failed().expect("failed").is_empty());
    grafana.assert_all_documented();
}

// ---------------------------------------------------------------------------------------------
// Configuration and builders

#[test]
fn config_comes_from_the_environment_variables() {
    let vars = |pairs: &'static [(&'static str, &'static str)]| {
        move |name: &str| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    };
    assert!(GrafanaConfig::from_lookup(vars(&[])).expect("no config").is_none());
    assert!(GrafanaConfig::from_lookup(vars(&[("K6GATE_GRAFANA_URL", "")])).expect("no config").is_none());

    let missing = GrafanaConfig::from_lookup(vars(&[("K6GATE_GRAFANA_URL", "https://g.example.com")]));
    assert!(matches!(missing, Err(ConfigError::MissingToken { .. })), "{missing:?}");

    let bad =
        GrafanaConfig::from_lookup(vars(&[("K6GATE_GRAFANA_URL", "g.example.com"), ("K6GATE_GRAFANA_TOKEN", TOKEN)]));
    assert!(matches!(bad, Err(ConfigError::BadUrl { .. })), "{bad:?}");

    let config = GrafanaConfig::from_lookup(vars(&[
        ("K6GATE_GRAFANA_URL", "https://admin:pw@g.example.com/grafana/"),
        ("K6GATE_GRAFANA_TOKEN", TOKEN),
        ("K6GATE_GRAFANA_DASHBOARD_UID", "k6gate-run"),
    ]))
    .expect("config")
    .expect("configured");
    assert_eq!(config.url, "https://admin:pw@g.example.com/grafana");
    assert_eq!(config.display_url(), "https://g.example.com/grafana");
    assert_eq!(config.dashboard_uid.as_deref(), Some("k6gate-run"));
    assert!(!format!("{config:?}").contains(TOKEN));
}

#[test]
fn run_annotation_is_a_tagged_region_with_escaped_text() {
    let mut run = facts();
    run.test = "check<out>".to_string();
    run.deployment_version = None;
    run.outcome = RunOutcome::Pass;
    run.report_link = Some(".k6gate/runs/x/report.html".to_string());
    let a = run_annotation(&run, None);
    assert_eq!((a.time_ms, a.time_end_ms), (1_764_288_942_011, Some(1_764_289_242_500)));
    assert_eq!(a.tags, ["k6gate", "run", "test:check<out>", "env:staging", "verdict:pass", "run:20251128-001542-ab12"]);
    assert_eq!(
        a.text,
        "k6gate <b>PASS</b>: check&lt;out&gt; on staging<br />run 20251128-001542-ab12 · report: .k6gate/runs/x/report.html"
    );
    assert_eq!(a.dashboard_uid, None);
}

#[test]
fn baseline_annotation_has_its_own_tags() {
    let baseline = BaselineFacts {
        run_id: "20251120-101010-0f0f".to_string(),
        test: "checkout".to_string(),
        environment: "staging".to_string(),
        deployment_version: Some("v1.2.2".to_string()),
        start_ms: 1_763_633_410_000,
        end_ms: Some(1_763_633_710_000),
        reason: "pinned by alice at 2025-11-20T12:00:00.000Z: new normal after the cache change".to_string(),
        pinned: true,
    };
    let a = baseline_annotation(&baseline, Some("k6gate-run"));
    assert_eq!(
        a.tags,
        ["k6gate", "baseline", "test:checkout", "env:staging", "version:v1.2.2", "run:20251120-101010-0f0f", "pinned"]
    );
    assert_eq!(
        a.text,
        "k6gate <b>baseline</b>: checkout on staging, version v1.2.2<br />run 20251120-101010-0f0f: pinned by alice at \
         2025-11-20T12:00:00.000Z: new normal after the cache change"
    );
    assert_eq!((a.time_ms, a.time_end_ms), (1_763_633_410_000, Some(1_763_633_710_000)));
    assert_eq!(a.dashboard_uid.as_deref(), Some("k6gate-run"));

    let grafana = FakeGrafana::start();
    post(&config(&grafana.url), &a).expect("posted");
    grafana.assert_all_documented();
}

// ---------------------------------------------------------------------------------------------
// Embed URLs

#[test]
fn embed_url_is_exact_and_encoded() {
    let url = embed_url(
        "https://grafana.example.com/sub/",
        "k6gate-run",
        "k6gate-run",
        4,
        1_764_288_912_011,
        1_764_289_272_500,
        &[
            ("test", "checkout"),
            ("environment", "staging eu"),
            ("version", "v1.2.3+build/5"),
            ("run", "20251128-001542-ab12"),
        ],
    );
    assert_eq!(
        url,
        "https://grafana.example.com/sub/d-solo/k6gate-run/k6gate-run?orgId=1&from=1764288912011&to=1764289272500\
         &panelId=4&var-test=checkout&var-environment=staging%20eu&var-version=v1.2.3%2Bbuild%2F5\
         &var-run=20251128-001542-ab12"
    );
}

#[test]
fn run_embed_url_frames_the_run_with_padding() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("k6.json");
    // Two samples of k6's JSON output, 300.499 s apart.
    std::fs::write(
        &input,
        concat!(
            r#"{"type":"Point","metric":"vus","data":{"time":"2025-11-28T00:15:42.011Z","value":1,"tags":{}}}"#,
            "\n",
            r#"{"type":"Point","metric":"vus","data":{"time":"2025-11-28T00:20:42.510Z","value":1,"tags":{}}}"#,
            "\n",
        ),
    )
    .expect("write");
    let mut summary = k6gate::ingest(&[input], &k6gate::IngestOptions::default()).expect("ingest");
    summary.metadata.test_name = Some("checkout".to_string());
    summary.metadata.environment = Some("staging".to_string());
    summary.metadata.deployment_version = Some("v1.2.3+build/5".to_string());

    let panel =
        Panel { grafana_url: "https://grafana.example.com", dashboard_uid: "k6gate-run", slug: "", panel_id: 2 };
    let url = run_embed_url(&panel, &summary, "20251128-001542-ab12").expect("url");

    assert_eq!(
        url,
        "https://grafana.example.com/d-solo/k6gate-run?orgId=1&from=1764288912011&to=1764289272510&panelId=2\
         &var-test=checkout&var-environment=staging&var-version=v1.2.3%2Bbuild%2F5&var-run=20251128-001542-ab12"
    );

    summary.metadata.end = None;
    let err = run_embed_url(&panel, &summary, "r1").expect_err("no end");
    assert_eq!(err.to_string(), "run r1: the summary has no end time, so there is no time range to show");
}

/// The fake's checks are not vacuous: a request off the documentation is flagged and answered
/// the way Grafana would.
#[test]
fn the_fake_flags_requests_off_the_documentation() {
    let grafana = FakeGrafana::start();
    let url = format!("{}/api/annotations", grafana.url);
    let bearer = format!("Bearer {TOKEN}");

    // Seconds instead of milliseconds, a number as text, an unknown field, no token.
    let body = r#"{"time":1764288942,"text":5,"title":"x"}"#;
    assert_eq!(http::post(&url, &[("content-type", "text/plain")], body), 401);
    // Right token and headers, but no text: Grafana's 400.
    let json = [("authorization", bearer.as_str()), ("content-type", "application/json")];
    assert_eq!(http::post(&url, &json, r#"{"time":1764288942011,"tags":["k6gate"]}"#), 400);
    // A time in seconds binds (Grafana would store a date in 1970): only the fake's check sees it.
    assert_eq!(http::post(&url, &json, r#"{"time":1764288942,"text":"x"}"#), 200);

    let seen = grafana.seen();
    let problems = seen[0].problems.join("\n");
    for expected in [
        "Authorization None",
        "Content-Type Some(\"text/plain\")",
        "\"time\" has the wrong type or unit",
        "\"text\" has the wrong type",
        "undocumented field \"title\"",
    ] {
        assert!(problems.contains(expected), "{expected:?} not flagged in:\n{problems}");
    }
    assert_eq!(seen[1].problems, ["no \"text\" (the one required field)"]);
    assert_eq!(seen[2].problems, ["field \"time\" has the wrong type or unit: 1764288942"]);
}

/// From the command line: a run annotated while Grafana is down is queued, which is not a
/// failure (exit 0); a flush that still cannot reach Grafana did not deliver, which is an
/// error (exit 2), never the gate's "no" (exit 1).
#[test]
fn cli_annotate_queues_and_a_failed_flush_exits_2() {
    use crate::support::cli::K6gate;
    use k6gate::history::{NewRun, Outcome, RunStore};
    let state = tempfile::tempdir().unwrap();
    let store = k6gate::run::open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
    let id = store
        .record_run(&NewRun {
            test: "checkout".into(),
            environment: "staging".into(),
            outcome: Outcome::Error,
            started_at_ns: 1_764_584_100_000_000_000,
            finished_at_ns: Some(1_764_584_130_000_000_000),
            problem: Some("k6 failed".into()),
            ..NewRun::default()
        })
        .unwrap();
    drop(store);
    let down = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cli = || {
        K6gate::new()
            .env("K6GATE_GRAFANA_URL", format!("http://127.0.0.1:{down}"))
            .env("K6GATE_GRAFANA_TOKEN", "glsa_test")
            .arg("--state-dir")
            .arg(state.path())
    };
    cli().args(["grafana", "annotate", &id]).status(0).stderr_contains("queued");
    let queued = state.path().join(k6gate::grafana::annotate::QUEUE_DIR);
    assert_eq!(std::fs::read_dir(&queued).unwrap().filter(|e| e.as_ref().unwrap().path().is_file()).count(), 1);
    cli().args(["grafana", "flush"]).status(2).stdout_contains("1 still queued").stderr_contains("error: Grafana");
}

/// `history changepoints` annotates each unreviewed change point once, as a point at its first
/// run tagged the way Otava tags them (`change-point`, `test:`, `metric:`) plus k6gate's own
/// tags; a second search finds it again (still exit 1) but does not annotate it again.
#[test]
fn cli_change_points_are_annotated_once() {
    use crate::support::cli::K6gate;
    use crate::support::series::{DAY_NS, NIGHT0_NS, Shape, history, record_history};
    let grafana = FakeGrafana::start();
    let state = tempfile::tempdir().unwrap();
    let p95 = history(9, 30, 200.0, 0.03, &Shape::Step { at: 18, factor: 1.2 });
    let ids = record_history(state.path(), "checkout", "staging", &p95);
    let search = || {
        K6gate::new()
            .env("K6GATE_GRAFANA_URL", &grafana.url)
            .env("K6GATE_GRAFANA_TOKEN", TOKEN)
            .env_remove("K6GATE_GRAFANA_DASHBOARD_UID")
            .arg("--state-dir")
            .arg(state.path())
            .arg("--policies")
            .arg(crate::support::root().join("policies"))
            .args(["history", "changepoints", "--test", "checkout", "--env", "staging"])
            .status(1)
    };
    search().stderr_contains("Grafana annotation 41 added");
    grafana.assert_all_documented();
    let seen = grafana.seen();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    let body = seen[0].json();
    let run = &ids[18];
    assert_eq!(
        body["tags"],
        json!([
            "k6gate",
            "change-point",
            "test:checkout",
            "env:staging",
            "metric:p95_ms",
            format!("run:{run}"),
            "version:v1.18"
        ])
    );
    assert_eq!(body["time"], json!((NIGHT0_NS + 18 * DAY_NS) / 1_000_000));
    assert!(body.get("timeEnd").is_none(), "a point, not a region: {body}");
    let text = body["text"].as_str().unwrap();
    assert!(text.starts_with("k6gate <b>change point</b>: p95_ms of checkout on staging +"), "{text}");
    assert!(text.contains(&format!("from run {run}, version v1.18")), "{text}");

    search().stderr_lacks("annotation");
    assert_eq!(grafana.seen().len(), 1, "annotated twice");
}
