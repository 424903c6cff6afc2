//! `k6gate canary serve` (src/canary/serve.rs) over real HTTP: the server as the CLI builds it
//! (the shipped rules, the Prometheus source, a real reqwest client), with a clock that jumps
//! instead of sleeping and a fake Prometheus that answers `/api/v1/query` in Prometheus's
//! documented JSON (`{"status":"success","data":{"resultType":"vector","result":[{"metric":
//! {...},"value":[<time>,"<number>"]}]}}`; errors as `{"status":"error","errorType":...,
//! "error":...}` with 400 for a query that does not parse, 503 when unavailable).
//!
//! Each window's data is drawn from the query's `time` (`support/fake_prometheus.rs`). Also: the examples (Argo Rollouts AnalysisTemplate,
//! Flagger Canary, the GitHub workflow) read only keys and values the server really emits.

use std::path::Path;
use std::sync::{Arc, Mutex};

use k6gate::canary::policy::Rules;
use k6gate::canary::run::{Clock, Plan, analyse};
use k6gate::canary::serve::{ANSWER_KEYS, Analyser, DECISIONS, Registry, selector_for};
use k6gate::canary::source::Source;
use serde_json::{Value, json};
use wiremock::{Mock, MockServer};

use crate::support::fake_prometheus::{CANARY, FakeProm, HEALTHY, STABLE, Scenario};

/// A clock that jumps to wherever it is asked to sleep until.
struct Jump(Mutex<f64>);

impl Clock for Jump {
    fn now_s(&self) -> f64 {
        *self.0.lock().unwrap()
    }
    fn sleep_until(&self, t: f64) {
        let mut now = self.0.lock().unwrap();
        *now = now.max(t);
    }
}

/// The server the CLI builds (src/cli/canary.rs `serve`), on a free port, in front of a fake
/// Prometheus. `selector`: the canary's, to break it on purpose.
async fn server(scenario: Scenario, canary_selector: &str) -> (String, MockServer) {
    let prom = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/api/v1/query"))
        .respond_with(FakeProm(scenario))
        .mount(&prom)
        .await;
    let rules = Rules::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap();
    let source = Source::with_defaults(&prom.uri(), canary_selector, STABLE);
    let client = k6gate::prom::query::client().unwrap();
    let plan = Plan { duration_s: 40, interval_s: 5, delay_s: 1.0 };
    let analyser: Arc<Analyser> = Arc::new(move |id, on_look| {
        let clock = Jump(Mutex::new(1_700_000_000.3));
        let source = Source { canary_selector: selector_for(&source.canary_selector, id), ..source.clone() };
        analyse(&rules, &plan, &clock, |end_s, seconds| source.window(&client, end_s, seconds), |l| on_look(l))
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(k6gate::canary::serve::serve(listener, Registry::new(analyser), std::future::pending()));
    (base, prom)
}

fn http() -> reqwest::Client {
    k6gate::net::client(&k6gate::net::ClientOptions::default()).unwrap()
}

async fn get(url: &str) -> (u16, Value) {
    // Through k6gate's client: it installs the crypto provider reqwest needs (a bare
    // `reqwest::get` panics when this test runs alone).
    let resp = http().get(url).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

async fn post(url: &str, body: Value) -> (u16, Value) {
    let resp = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Polls `/v1/canary/{id}` like Argo until the decision is not `running`.
async fn until_decided(base: &str, id: &str) -> (u16, Value) {
    let url = format!("{base}/v1/canary/{id}");
    for _ in 0..600 {
        let (status, body) = get(&url).await;
        if body["decision"] != "running" {
            return (status, body);
        }
        assert_eq!((status, &body["exit_code"]), (200, &Value::Null), "{body}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("{id}: still running after 30 s");
}

fn assert_shape(body: &Value) {
    let keys: Vec<&str> = body.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = ANSWER_KEYS.to_vec();
    want.sort();
    assert_eq!(keys, want, "{body}");
    assert!(DECISIONS.contains(&body["decision"].as_str().unwrap()), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_canary_answers_running_then_promote() {
    let (base, _prom) = server(HEALTHY, CANARY).await;
    // The first request starts the analysis and can only say it runs.
    let (status, first) = get(&format!("{base}/v1/canary/rollout-abc123")).await;
    assert_eq!((status, first["decision"].as_str(), first["status"].as_str()), (200, Some("running"), Some("running")));
    assert_eq!(first["exit_code"], Value::Null);
    assert_shape(&first);
    let (status, done) = until_decided(&base, "rollout-abc123").await;
    assert_shape(&done);
    assert_eq!((status, done["decision"].as_str(), &done["exit_code"]), (200, Some("promote"), &json!(0)), "{done}");
    assert_eq!((done["looks"].as_u64(), done["looks_planned"].as_u64()), (Some(8), Some(8)));
    assert!(done["canary"]["requests"].as_f64().unwrap() > 200.0, "{done}");
    assert!(done["metrics"].as_array().unwrap().iter().any(|m| m["metric"] == "latency_p50"), "{done}");
    // The answer stays; POST (Argo's web provider with a body) reads the same analysis.
    let resp = reqwest::Client::new().post(format!("{base}/v1/canary/rollout-abc123")).body("{}").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.json::<Value>().await.unwrap(), done);
    // Flagger: the promotion is confirmed, the rollback hook says no.
    let payload = json!({"name": "shop", "namespace": "prod", "phase": "Progressing", "checksum": "1", "metadata": {"id": "rollout-abc123"}});
    let (status, body) = post(&format!("{base}/v1/flagger/confirm-promotion"), payload.clone()).await;
    assert_eq!((status, body["decision"].as_str()), (200, Some("promote")));
    assert_eq!(post(&format!("{base}/v1/flagger/rollback"), payload).await.0, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_canary_rolls_back_early_and_flagger_hears_it() {
    let slow = Scenario { canary_ms: 13.0 * 1.3, ..HEALTHY };
    let (base, _prom) = server(slow, CANARY).await;
    let payload =
        json!({"name": "shop", "namespace": "prod", "phase": "Progressing", "checksum": "7f9c", "metadata": {}});
    // While it runs, Flagger may neither promote nor roll back.
    let (status, body) = post(&format!("{base}/v1/flagger/confirm-promotion"), payload.clone()).await;
    assert_eq!(
        (status, body["decision"].as_str(), body["id"].as_str()),
        (409, Some("running"), Some("prod.shop.7f9c"))
    );
    let (status, done) = until_decided(&base, "prod.shop.7f9c").await;
    assert_shape(&done);
    assert_eq!((status, done["decision"].as_str(), &done["exit_code"]), (200, Some("rollback"), &json!(1)), "{done}");
    assert_eq!(done["stopped_early"], true, "{done}");
    assert!(
        done["reasons"].as_array().unwrap().iter().any(|r| r.as_str().unwrap().contains("POST /api/checkout")),
        "{done}"
    );
    assert_eq!(post(&format!("{base}/v1/flagger/rollback"), payload.clone()).await.0, 200);
    assert_eq!(post(&format!("{base}/v1/flagger/confirm-promotion"), payload).await.0, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_erroring_canary_rolls_back() {
    // The id fills the selector's placeholder: without it the canary would have no series.
    let (base, _prom) = server(Scenario { canary_errors: 0.1, ..HEALTHY }, r#"instance="{id}:8080""#).await;
    get(&format!("{base}/v1/canary/canary")).await;
    let (status, done) = until_decided(&base, "canary").await;
    assert_eq!((status, done["decision"].as_str(), &done["exit_code"]), (200, Some("rollback"), &json!(1)), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickle_of_canary_traffic_is_inconclusive_never_promote() {
    let (base, _prom) = server(Scenario { canary_requests: 2, ..HEALTHY }, CANARY).await;
    get(&format!("{base}/v1/canary/t1")).await;
    let (status, done) = until_decided(&base, "t1").await;
    assert_shape(&done);
    assert_eq!(
        (status, done["decision"].as_str(), &done["exit_code"]),
        (200, Some("inconclusive"), &json!(2)),
        "{done}"
    );
    let payload = json!({"name": "shop", "namespace": "prod", "metadata": {"id": "t1"}});
    assert_eq!(post(&format!("{base}/v1/flagger/confirm-promotion"), payload.clone()).await.0, 409);
    assert_eq!(
        post(&format!("{base}/v1/flagger/rollback"), payload).await.0,
        200,
        "inconclusive stops a Flagger canary"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_unavailable_is_a_502_error_never_a_promote() {
    let (base, _prom) = server(Scenario { fail: Some((503, "unavailable")), ..HEALTHY }, CANARY).await;
    get(&format!("{base}/v1/canary/down")).await;
    let (status, body) = until_decided(&base, "down").await;
    assert_shape(&body);
    assert_eq!((status, body["decision"].as_str(), &body["exit_code"]), (502, Some("error"), &json!(2)), "{body}");
    assert!(body["error"].as_str().unwrap().contains("HTTP 503"), "{body}");
    // It stays an error (Argo counts consecutive errors); Flagger's rollback hook fires.
    assert_eq!(get(&format!("{base}/v1/canary/down")).await.0, 502);
    let payload = json!({"name": "shop", "namespace": "prod", "metadata": {"id": "down"}});
    assert_eq!(post(&format!("{base}/v1/flagger/rollback"), payload.clone()).await.0, 200);
    assert_eq!(post(&format!("{base}/v1/flagger/confirm-promotion"), payload).await.0, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selector_prometheus_cannot_parse_is_a_502_error() {
    let (base, _prom) = server(HEALTHY, r#"instance="canary:8080"#).await;
    get(&format!("{base}/v1/canary/bad")).await;
    let (status, body) = until_decided(&base, "bad").await;
    assert_eq!((status, body["decision"].as_str()), (502, Some("error")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("parse error"), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused_with_json() {
    let (base, prom) = server(HEALTHY, CANARY).await;
    let (status, body) = get(&format!("{base}/v1/canary/a%20b")).await;
    assert_eq!((status, body["decision"].as_str()), (400, Some("error")), "{body}");
    assert_shape(&body);
    let (status, body) = post(&format!("{base}/v1/flagger/confirm-promotion"), json!({"nope": 1})).await;
    assert_eq!((status, body["decision"].as_str()), (400, Some("error")), "{body}");
    let (status, _) = post(&format!("{base}/v1/flagger/pre-rollout"), json!({"name": "a", "namespace": "b"})).await;
    assert_eq!(status, 404);
    // None of these started an analysis.
    assert!(prom.received_requests().await.unwrap().is_empty());
}

// ---------------------------------------------------------------------------------------
// The examples read what the server emits

fn example(rel: &str) -> (String, Value) {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)).unwrap();
    let docs: Vec<Value> = text
        .split("\n---")
        .filter(|d| d.lines().any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#')))
        .map(|d| yaml_serde::from_str::<Value>(d).unwrap_or_else(|e| panic!("{rel}: {e}")))
        .collect();
    (text, Value::Array(docs))
}

/// The string literals in an Argo condition (expr language): every one must be a decision.
fn literals(cond: &str) -> Vec<&str> {
    cond.split('"').skip(1).step_by(2).collect()
}

#[test]
fn the_argo_analysis_template_reads_the_answer() {
    let (_, docs) = example("examples/rollouts/argo-analysis-template.yaml");
    let t = docs.as_array().unwrap().iter().find(|d| d["kind"] == "AnalysisTemplate").expect("an AnalysisTemplate");
    assert_eq!(t["apiVersion"], "argoproj.io/v1alpha1");
    let metric = &t["spec"]["metrics"][0];
    let web = &metric["provider"]["web"];
    let url = web["url"].as_str().unwrap();
    assert!(url.contains("/v1/canary/{{"), "the id comes from an argument: {url}");
    let path = web["jsonPath"].as_str().unwrap();
    let key = path.strip_prefix("{$.").and_then(|p| p.strip_suffix('}')).expect("jsonPath {$.KEY}");
    assert!(ANSWER_KEYS.contains(&key), "jsonPath reads {key:?}, which the server does not emit");
    assert_eq!(key, "decision");
    let success = metric["successCondition"].as_str().unwrap();
    assert_eq!(literals(success), ["promote"], "only a promote succeeds: {success}");
    assert!(!success.contains("!="), "{success}");
    let failure = metric["failureCondition"].as_str().unwrap();
    let mut fails = literals(failure);
    fails.sort();
    assert_eq!(fails, ["error", "inconclusive", "rollback"], "{failure}");
    for d in literals(success).into_iter().chain(literals(failure)) {
        assert!(DECISIONS.contains(&d), "{d:?} is not a decision the server emits");
    }
    // A running answer is neither: inconclusive measurements, fewer allowed than polls, so
    // an analysis that never ends is never a success.
    let count = metric["count"].as_u64().unwrap();
    let inconclusive = metric["inconclusiveLimit"].as_u64().unwrap();
    assert!(inconclusive < count, "count {count}, inconclusiveLimit {inconclusive}");
    assert_eq!(metric["failureLimit"], 0);
    assert!(metric["consecutiveErrorLimit"].as_u64().is_some());
    let rollout = docs.as_array().unwrap().iter().find(|d| d["kind"] == "Rollout").expect("a Rollout using it");
    let steps = rollout["spec"]["strategy"]["canary"]["steps"].as_array().unwrap();
    assert!(steps.iter().any(|s| s["analysis"]["templates"][0]["templateName"] == t["metadata"]["name"]));
}

#[test]
fn the_flagger_canary_calls_both_gates() {
    let (_, docs) = example("examples/rollouts/flagger-canary.yaml");
    let c = docs.as_array().unwrap().iter().find(|d| d["kind"] == "Canary").expect("a Canary");
    assert_eq!(c["apiVersion"], "flagger.app/v1beta1");
    let hooks = c["spec"]["analysis"]["webhooks"].as_array().unwrap();
    let url_of = |kind: &str| {
        hooks
            .iter()
            .find(|h| h["type"] == kind)
            .and_then(|h| h["url"].as_str())
            .unwrap_or_else(|| panic!("no {kind} hook"))
    };
    assert!(url_of("confirm-promotion").ends_with("/v1/flagger/confirm-promotion"));
    assert!(url_of("rollback").ends_with("/v1/flagger/rollback"));
}

#[test]
fn the_github_workflow_acts_on_the_exit_code() {
    let (text, docs) = example("examples/canary.yml");
    let wf = &docs[0];
    let steps: Vec<&Value> =
        wf["jobs"].as_object().unwrap().values().flat_map(|j| j["steps"].as_array().unwrap()).collect();
    let runs: Vec<&str> = steps.iter().filter_map(|s| s["run"].as_str()).collect();
    let analysis = runs.iter().find(|r| r.contains("k6gate canary")).expect("a step running k6gate canary");
    for code in ["0)", "1)"] {
        assert!(analysis.contains(code), "the exit code {code} is not acted on:\n{analysis}");
    }
    assert!(runs.iter().any(|r| r.contains("promote")) && runs.iter().any(|r| r.contains("roll")), "{text}");
    for s in &steps {
        if let Some(uses) = s["uses"].as_str() {
            let version = uses.rsplit_once('@').map(|(_, v)| v).unwrap_or("");
            assert!(
                version.starts_with('v') && version[1..].bytes().all(|b| b.is_ascii_digit() || b == b'.'),
                "{uses}"
            );
        }
        if let Some(run) = s["run"].as_str() {
            assert!(!run.contains("${{"), "a run script interpolates an expression: {run}");
        }
        assert!(s.get("continue-on-error").is_none());
    }
}

// ---------------------------------------------------------------------------------------
// The command line

/// `k6gate canary serve` parses its flags, listens, and answers; `k6gate canary` without the
/// analysis flags is a usage error.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_serve_command_listens_and_answers() {
    let prom = MockServer::start().await;
    Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/api/v1/query"))
        .respond_with(FakeProm(HEALTHY))
        .mount(&prom)
        .await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_k6gate"))
        .arg("--policies")
        .arg(&policies)
        .args(["canary", "serve", "--listen", &format!("127.0.0.1:{port}"), "--prometheus", &prom.uri()])
        .args(["--canary-selector", r#"instance="{id}:8080""#, "--stable-selector", STABLE])
        .args(["--duration", "10s", "--interval", "5s", "--delay", "0s"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut up = false;
    for _ in 0..100 {
        if http().get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            up = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let first = if up { Some(get(&format!("{base}/v1/canary/canary")).await) } else { None };
    let bad = if up { Some(get(&format!("{base}/v1/canary/a%22b")).await.0) } else { None };
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(up, "k6gate canary serve did not listen: {}", String::from_utf8_lossy(&out.stderr));
    let (status, first) = first.unwrap();
    assert_eq!((status, first["decision"].as_str()), (200, Some("running")), "{first}");
    assert_eq!(bad, Some(400));

    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k6gate"))
        .arg("--policies")
        .arg(&policies)
        .arg("canary")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}
