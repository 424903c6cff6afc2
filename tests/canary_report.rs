//! `k6gate canary` reports its decision in the usual channels (src/cli/canary_report.rs,
//! src/canary/channels.rs): the GitHub check run and deployment status, Grafana annotations
//! at the start and at the decision, and the webhook with the numbers and a Grafana link.
//! The binary runs a short analysis (two 1 s looks, under policy data that allows a decision
//! on two windows) against the fake Prometheus, and the fakes of GitHub, Grafana and the
//! webhook check every request against the documented API.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Value, json};
use tempfile::TempDir;
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::support::cli::{K6gate, Ran};
use crate::support::fake_github::{FakeGithub, body, created, deployment_status_problems, error, ok};
use crate::support::fake_grafana::{FakeGrafana, TOKEN as GRAFANA_TOKEN};
use crate::support::fake_prometheus::{CANARY, FakeProm, HEALTHY, STABLE, Scenario};
use crate::support::mock_http::MockHttp;
use crate::support::root;

const TOKEN: &str = "ghs_canaryTEST0123456789";
const REPO: &str = "acme/shop";
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const CHECK_NAME: &str = "k6gate: canary shop (production)";
const DEPLOYMENT: u64 = 4242;

/// The shipped policies, with the canary data cut down to decide on two 1 s windows and a
/// webhook named in `notifications`.
fn policies() -> TempDir {
    let dir = TempDir::new().unwrap();
    let src = root().join("policies");
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    for entry in std::fs::read_dir(&src).unwrap().chain(std::fs::read_dir(src.join("data")).unwrap()) {
        let p = entry.unwrap().path();
        if p.is_file() {
            let rel = p.strip_prefix(&src).unwrap();
            std::fs::copy(&p, dir.path().join(rel)).unwrap();
        }
    }
    let canary = dir.path().join("data/canary.yaml");
    let text = std::fs::read_to_string(&canary).unwrap();
    let text = text
        .replace("first_look: 4", "first_look: 2")
        .replace("min_requests: 100", "min_requests: 20")
        .replace("min_windows: 4", "min_windows: 2");
    assert!(text.contains("first_look: 2") && text.contains("min_windows: 2"), "{text}");
    std::fs::write(&canary, text).unwrap();
    std::fs::write(
        dir.path().join("data/notifications.yaml"),
        "notifications:\n  webhook_url_env: K6GATE_WEBHOOK_URL\n  owners:\n    shop: { team: team-payments, lead: \"<@U1>\" }\n",
    )
    .unwrap();
    dir
}

fn prometheus(scenario: Scenario) -> MockHttp {
    let prom = MockHttp::start();
    prom.mount(Mock::given(method("GET")).and(path("/api/v1/query")).respond_with(FakeProm(scenario)));
    prom
}

fn webhook() -> MockHttp {
    let hook = MockHttp::start();
    hook.mount(Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)));
    hook
}

/// A GitHub that takes the check run and the deployment's statuses.
fn github() -> FakeGithub {
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&format!("/repos/{REPO}/commits/{SHA}/check-runs"), &[("check_name", CHECK_NAME), ("filter", "latest")])
            .respond_with(ok(body::check_runs(vec![]))),
    );
    gh.mount(gh.any_body("POST", &format!("/repos/{REPO}/check-runs")).respond_with(created(body::check_run(
        REPO,
        7,
        CHECK_NAME,
        SHA,
        Some("failure"),
    ))));
    let next = AtomicU64::new(100);
    gh.mount(gh.deployment_status(REPO, DEPLOYMENT).respond_with(move |r: &Request| {
        let request: Value = serde_json::from_slice(&r.body).unwrap();
        created(body::deployment_status(REPO, DEPLOYMENT, next.fetch_add(1, Ordering::SeqCst), &request))
    }));
    gh
}

/// `k6gate canary` against the fakes, two looks of 1 s.
fn canary(policies: &Path, prom: &MockHttp) -> K6gate {
    K6gate::new()
        .arg("--policies")
        .arg(policies)
        .arg("--state-dir")
        .arg(policies.join("state"))
        .args(["canary", "--format", "json", "--prometheus", &prom.uri()])
        .args(["--canary-selector", CANARY, "--stable-selector", STABLE])
        .args(["--duration", "2s", "--interval", "1s", "--delay", "0s"])
        .args(["--name", "shop", "--deployment-version", "v2.1.0"])
        .env_remove("K6GATE_GRAFANA_URL")
        .env_remove("K6GATE_GRAFANA_TOKEN")
        .env_remove("K6GATE_GRAFANA_DASHBOARD_UID")
        .env_remove("K6GATE_WEBHOOK_URL")
        .env_remove("K6GATE_GITHUB_DEPLOYMENT_ID")
}

fn with_github(k: K6gate, gh: &FakeGithub) -> K6gate {
    k.env("GITHUB_REPOSITORY", REPO)
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_TOKEN", TOKEN)
        .env("GITHUB_API_URL", gh.api_url())
        .env("GITHUB_SERVER_URL", "https://github.com")
        .env("GITHUB_RUN_ID", "99")
        .env("K6GATE_GITHUB_ATTEMPTS", "1")
}

fn with_grafana(k: K6gate, grafana: &FakeGrafana) -> K6gate {
    k.env("K6GATE_GRAFANA_URL", &grafana.url)
        .env("K6GATE_GRAFANA_TOKEN", GRAFANA_TOKEN)
        .env("K6GATE_GRAFANA_DASHBOARD_UID", "k6gate-deployments")
}

fn report(ran: &Ran) -> Value {
    ran.stdout_json()
}

fn posted_bodies(gh: &FakeGithub, call: &str) -> Vec<Value> {
    gh.requests().into_iter().filter(|r| r.call() == call).filter_map(|r| r.body).collect()
}

#[test]
fn a_rollback_reaches_github_grafana_and_the_webhook_with_its_numbers() {
    let dir = policies();
    let prom = prometheus(Scenario { canary_errors: 0.1, ..HEALTHY });
    let (gh, grafana, hook) = (github(), FakeGrafana::start(), webhook());
    let ran = with_grafana(with_github(canary(dir.path(), &prom), &gh), &grafana)
        .args(["--report", "github", "--github-deployment", &DEPLOYMENT.to_string()])
        .env("K6GATE_WEBHOOK_URL", hook.url("/hook"))
        .status(1);
    let r = report(&ran);
    assert_eq!(r["outcome"]["decision"], "rollback", "{}", ran.stderr());
    // Nothing failed, so nothing to note.
    assert_eq!(r["notes"], json!([]), "{}", ran.stderr());

    // GitHub: the check run fails, the deployment went in_progress, then failure.
    for req in gh.requests() {
        req.assert_github_headers(TOKEN);
    }
    let checks = posted_bodies(&gh, &format!("POST /repos/{REPO}/check-runs"));
    assert_eq!(checks.len(), 1, "{:?}", gh.calls());
    assert_eq!((checks[0]["name"].as_str(), checks[0]["conclusion"].as_str()), (Some(CHECK_NAME), Some("failure")));
    let summary = checks[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("### canary ROLLBACK") && summary.contains("| error_rate | all |"), "{summary}");
    assert!(summary.contains("version `v2.1.0`"), "{summary}");
    let statuses = posted_bodies(&gh, &format!("POST /repos/{REPO}/deployments/{DEPLOYMENT}/statuses"));
    let states: Vec<&str> = statuses.iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["in_progress", "failure"], "{statuses:?}");
    for s in &statuses {
        assert_eq!(deployment_status_problems(s), Vec::<String>::new());
        assert!(s["log_url"].as_str().unwrap().contains("/d/k6gate-deployments?orgId=1&from="), "{s}");
    }
    assert!(statuses[1]["description"].as_str().unwrap().starts_with("canary ROLLBACK: after 2 s"), "{statuses:?}");

    // Grafana: a point at the start, a region to the decision, both tagged for the dashboard.
    grafana.assert_all_documented();
    let notes: Vec<Value> = grafana.seen().iter().map(|s| s.json()).collect();
    assert_eq!(notes.len(), 2, "{notes:?}");
    let tags = |n: &Value| -> Vec<String> { serde_json::from_value(n["tags"].clone()).unwrap() };
    assert!(tags(&notes[0]).contains(&"stage:start".to_string()) && notes[0].get("timeEnd").is_none(), "{notes:?}");
    assert!(tags(&notes[1]).contains(&"decision:rollback".to_string()), "{notes:?}");
    for n in &notes {
        let t = tags(n);
        for want in ["k6gate", "canary", "canary:shop", "env:production", "version:v2.1.0"] {
            assert!(t.contains(&want.to_string()), "{want} missing: {t:?}");
        }
        assert_eq!(n["dashboardUID"], "k6gate-deployments");
    }
    assert_eq!(notes[0]["time"], notes[1]["time"], "the region starts at the start");
    let span = notes[1]["timeEnd"].as_i64().unwrap() - notes[1]["time"].as_i64().unwrap();
    // The analysis's windows start on the whole second before it starts (`canary::run`), so a
    // 2 s analysis decides between 1 and 2 s (plus its queries) after the start annotation.
    assert!((900..10_000).contains(&span), "the region spans the analysis: {span} ms");

    // The webhook: decision, reasons, the numbers and the Grafana link, routed to the owner.
    let sent = hook.received();
    assert_eq!(sent.len(), 1, "{sent:?}");
    let text = sent[0].body.to_string();
    assert!(
        sent[0].body["text"].as_str().unwrap().starts_with("⏪ Canary ROLLBACK: shop (team-payments) on production")
    );
    assert!(text.contains("error_rate all: stable 0.00 %, canary "), "{text}");
    assert!(text.contains("Grafana dashboard for the analysis"), "{text}");
    assert!(text.contains("/d/k6gate-deployments?orgId=1&from="), "{text}");
}

#[test]
fn a_promote_is_a_success_everywhere_and_sends_no_webhook() {
    let dir = policies();
    let prom = prometheus(HEALTHY);
    let (gh, hook) = (github(), webhook());
    let ran = with_github(canary(dir.path(), &prom), &gh)
        .args(["--report", "github", "--github-deployment", &DEPLOYMENT.to_string()])
        .env("K6GATE_WEBHOOK_URL", hook.url("/hook"))
        .status(0);
    assert_eq!(report(&ran)["outcome"]["decision"], "promote");
    let checks = posted_bodies(&gh, &format!("POST /repos/{REPO}/check-runs"));
    assert_eq!(checks[0]["conclusion"], "success");
    let statuses = posted_bodies(&gh, &format!("POST /repos/{REPO}/deployments/{DEPLOYMENT}/statuses"));
    let states: Vec<&str> = statuses.iter().map(|s| s["state"].as_str().unwrap()).collect();
    assert_eq!(states, ["in_progress", "success"]);
    // Without Grafana the log URL is the workflow run.
    assert_eq!(statuses[1]["log_url"], "https://github.com/acme/shop/actions/runs/99");
    assert!(hook.received().is_empty(), "a promote is not announced");
}

#[test]
fn a_decision_github_refuses_fails_the_command_and_the_report_says_why() {
    let dir = policies();
    let prom = prometheus(HEALTHY);
    let gh = FakeGithub::start(TOKEN);
    let docs = "https://docs.github.com/rest/deployments/statuses#create-a-deployment-status";
    gh.mount(gh.deployment_status(REPO, DEPLOYMENT).respond_with(error(
        403,
        "Resource not accessible by integration",
        docs,
    )));
    let ran = with_github(canary(dir.path(), &prom), &gh)
        .args(["--github-deployment", &DEPLOYMENT.to_string()])
        .status(2)
        .stderr_contains("GitHub");
    // The analysis promoted; that it was not reported is the error, and the report notes it.
    let r = report(&ran);
    assert_eq!(r["outcome"]["decision"], "promote");
    let notes = r["notes"].to_string();
    assert!(notes.contains("deployment 4242 was NOT set to success"), "{notes}");
    assert!(notes.contains("deployment 4242 was NOT set to in_progress"), "{notes}");
}

#[test]
fn an_analysis_that_cannot_decide_is_an_error_everywhere() {
    let dir = policies();
    let prom = prometheus(Scenario { fail: Some((503, "unavailable")), ..HEALTHY });
    let (gh, grafana, hook) = (github(), FakeGrafana::start(), webhook());
    let ran = with_grafana(with_github(canary(dir.path(), &prom), &gh), &grafana)
        .args(["--report", "github", "--github-deployment", &DEPLOYMENT.to_string()])
        .env("K6GATE_WEBHOOK_URL", hook.url("/hook"))
        .status(2)
        .stderr_contains("Prometheus");
    assert!(ran.stdout().trim().is_empty(), "no decision, no report: {}", ran.stdout());
    let checks = posted_bodies(&gh, &format!("POST /repos/{REPO}/check-runs"));
    assert_eq!(checks[0]["conclusion"], "failure");
    let title = checks[0]["output"]["title"].as_str().unwrap();
    assert!(title.starts_with("No decision: reading the populations from Prometheus failed"), "{title}");
    let summary = checks[0]["output"]["summary"].as_str().unwrap();
    assert!(summary.contains("### ❌ canary ERROR: no decision") && summary.contains("HTTP 503"), "{summary}");
    let statuses = posted_bodies(&gh, &format!("POST /repos/{REPO}/deployments/{DEPLOYMENT}/statuses"));
    assert_eq!(statuses.last().unwrap()["state"], "error");
    grafana.assert_all_documented();
    let last = grafana.seen().last().unwrap().json();
    assert!(last["tags"].as_array().unwrap().contains(&json!("decision:error")), "{last}");
    let sent = hook.received();
    assert_eq!(sent.len(), 1);
    assert!(sent[0].body.to_string().contains("HTTP 503"), "{:?}", sent[0].body);
}

#[test]
fn reporting_flags_without_a_github_context_are_refused_before_anything_runs() {
    let dir = policies();
    let prom = prometheus(HEALTHY);
    canary(dir.path(), &prom).args(["--report", "github"]).status(2).stderr_contains("GITHUB_REPOSITORY");
    assert!(prom.requests().is_empty(), "nothing was read");
    let gh = github();
    with_github(K6gate::new(), &gh)
        .arg("--policies")
        .arg(dir.path())
        .args(["canary", "serve", "--prometheus", &prom.uri(), "--canary-selector", CANARY])
        .args(["--stable-selector", STABLE, "--github-deployment", "1"])
        .status(2)
        .stderr_contains("canary serve reports to Grafana and the webhook only");
}
