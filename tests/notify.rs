//! Blocked-deployment notifications: where a notification goes (`notify::plan`), what it says
//! (`notify::message`), how it is sent (`notify::send`, against a local fake webhook), and
//! `k6gate notify` end to end with the history deciding the escalation.
//!
//! The code under test is blocking; each fake webhook gets its own small tokio runtime for
//! wiremock's setup and inspection only.

use crate::support::cli::{K6gate, Ran};
use crate::support::mock_http;
use crate::support::verdicts;

use std::ops::Deref;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use tempfile::TempDir;
use wiremock::matchers::{any, body_json, header_regex, method, path};
use wiremock::{Mock, MockBuilder, ResponseTemplate};

use k6gate::compare::MetricComparison;
use k6gate::github::report::Links;
use k6gate::history::{NewRun, Outcome, RunStore};
use k6gate::net::Secret;
use k6gate::notify::{self, NotifyError, Plan};
use k6gate::policy::data::{self, Notifications};
use k6gate::policy::engine::Policies;
use k6gate::policy::verdict::{Status, Verdict, evaluate};
use mock_http::MockHttp;
use verdicts::{SHIPPED, p95};
const LEAD: &str = "<@U024BE7LH>";
const DAY_NS: i64 = 86_400 * 1_000_000_000;
const NORMAL: &str = "/hooks/T000/B111/normalSECRETtoken";
const ESCALATION: &str = "/hooks/T000/B222/escalationSECRETtoken";

/// Escalation after 3 blocks in 7 days; the webhook variables keep their defaults.
const NOTIFICATIONS_YAML: &str = "\
notifications:
  escalation:
    after: 3
    within_days: 7
  owners:
    checkout:
      team: team-payments
      lead: \"<@U024BE7LH>\"
";

/// Variables that would change what the binary does if the test's environment had them.
const CLEARED_VARS: &[&str] = &[
    "K6GATE_WEBHOOK_URL",
    "K6GATE_ESCALATION_WEBHOOK_URL",
    "K6GATE_GRAFANA_URL",
    "K6GATE_GRAFANA_DASHBOARD_UID",
    "K6GATE_STATE_DIR",
    "GITHUB_ACTIONS",
    "GITHUB_API_URL",
    "GITHUB_SERVER_URL",
    "GITHUB_REPOSITORY",
    "GITHUB_SHA",
    "GITHUB_TOKEN",
    "GITHUB_RUN_ID",
    "GITHUB_EVENT_PATH",
    "GITHUB_STEP_SUMMARY",
];

fn now_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

// ---------------------------------------------------------------------------------------
// Fixtures: notification settings, verdicts, policy directories, history.

fn notifications(yaml_value: Value) -> Notifications {
    serde_json::from_value(yaml_value).unwrap()
}

/// Escalation after 3 in 7 days, custom variables, an owner for `checkout`.
fn with_escalation() -> Notifications {
    notifications(json!({
        "webhook_url_env": "TEAM_WEBHOOK",
        "escalation": { "after": 3, "within_days": 7, "webhook_url_env": "ONCALL_WEBHOOK" },
        "owners": { "checkout": { "team": "team-payments", "lead": LEAD } },
    }))
}

/// A verdict from the shipped policies and data for `checkout` in staging, v1.0.0 -> v1.1.0,
/// built the way `tests/policy_cases.rs` builds them (a synthetic comparison, no k6).
fn verdict_for(metric: MetricComparison) -> Verdict {
    let rego = tempfile::tempdir().unwrap();
    verdicts::copy_shipped_rego(rego.path());
    let policies = Policies::load(rego.path()).unwrap();
    let policy_data = data::load(&Path::new(SHIPPED).join("data")).unwrap();
    let comparison = verdicts::comparison("checkout", "staging", vec![metric]);
    evaluate(&policies, &policy_data, &verdicts::request("checkout", "staging", &comparison)).unwrap()
}

/// P95 82.1 ms -> 94.6 ms (+15.2 %), significant, against the shipped 10 % budget: blocked.
fn failing_verdict() -> Verdict {
    let v = verdict_for(p95(82.1, 94.6, 0.0002, (0.101, 0.203)));
    assert_eq!(v.outcome, Status::Fail, "{:#?}", v.results);
    v
}

fn passing_verdict() -> Verdict {
    let v = verdict_for(p95(82.1, 82.5, 0.6, (-0.02, 0.03)));
    assert_eq!(v.outcome, Status::Pass, "{:#?}", v.results);
    v
}

/// The failing rule's sentence, as the policies write it, up to the first character Slack
/// would want escaped (`82.1 ms -> 94.6 ms`).
const P95_SENTENCE: &str = "P95 latency rose 15.2 % (82.1 ms ";

/// The shipped `policies/*.rego` and `policies/data/*.yaml` in a temp dir, plus
/// `data/notifications.yaml` when given.
fn policy_dir(notifications_yaml: Option<&str>) -> TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    for (from, to) in
        [(PathBuf::from(SHIPPED), dir.path().to_path_buf()), (Path::new(SHIPPED).join("data"), dir.path().join("data"))]
    {
        for e in std::fs::read_dir(&from).unwrap().filter_map(|e| e.ok()) {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.ends_with(".rego") || name.ends_with(".yaml") {
                std::fs::copy(e.path(), to.join(&name)).unwrap();
            }
        }
    }
    if let Some(yaml) = notifications_yaml {
        std::fs::write(dir.path().join("data/notifications.yaml"), yaml).unwrap();
    }
    dir
}

/// Records a run of `test` in the state directory's history database (the one `k6gate`
/// opens: `run::open_history`), started `days_ago` days before now.
fn record(state: &Path, test: &str, env: &str, outcome: Outcome, days_ago: f64) -> String {
    record_as(state, None, test, env, outcome, days_ago)
}

fn record_as(state: &Path, id: Option<&str>, test: &str, env: &str, outcome: Outcome, days_ago: f64) -> String {
    let store = k6gate::run::open_history(&k6gate::history::HistoryConfig::local(state)).unwrap();
    let started = now_ns() - (days_ago * DAY_NS as f64) as i64;
    let doc = |v: Value| Some(serde_json::value::to_raw_value(&v).unwrap());
    let decided = outcome.is_decided();
    store
        .record_run(&NewRun {
            id: id.map(str::to_string),
            test: test.into(),
            environment: env.into(),
            outcome,
            started_at_ns: started,
            finished_at_ns: Some(started + 30_000_000_000),
            git_branch: Some("main".into()),
            summary: if decided { doc(json!({ "schema_version": "k6gate.run-summary/v1" })) } else { None },
            verdict: if decided { doc(json!({ "outcome": outcome.as_str() })) } else { None },
            ..NewRun::default()
        })
        .unwrap()
}

fn write_json<T: serde::Serialize>(dir: &Path, name: &str, v: &T) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, serde_json::to_string_pretty(v).unwrap()).unwrap();
    p
}

// ---------------------------------------------------------------------------------------
// A fake Slack-compatible webhook.

/// The fake's `mount`, `url`, `received` (path and JSON body of each request) and `verify`
/// are [`MockHttp`]'s.
struct Webhook(MockHttp);

impl Deref for Webhook {
    type Target = MockHttp;

    fn deref(&self) -> &MockHttp {
        &self.0
    }
}

/// A `POST` to `route`.
fn post(route: &str) -> MockBuilder {
    Mock::given(method("POST")).and(path(route))
}

impl Webhook {
    fn start() -> Webhook {
        Webhook(MockHttp::start())
    }

    /// Answers 200 to anything, and fails the test at `verify` if anything arrives.
    fn expecting_nothing() -> Webhook {
        let hook = Webhook::start();
        hook.mount(Mock::given(any()).respond_with(ResponseTemplate::new(200)).expect(0));
        hook
    }

    /// Both routes answer 200 `ok`, as Slack does.
    fn both_routes() -> Webhook {
        let hook = Webhook::start();
        for p in [NORMAL, ESCALATION] {
            hook.mount(post(p).respond_with(ResponseTemplate::new(200).set_body_string("ok")));
        }
        hook
    }

    /// The one request received, which must have gone to `route`.
    fn only(&self, route: &str) -> Value {
        let got = self.received();
        let paths: Vec<&str> = got.iter().map(|r| r.path.as_str()).collect();
        assert_eq!(paths, vec![route], "requests received");
        got.into_iter().next().unwrap().body
    }

    /// Env for the binary: both routes pointing at this fake.
    fn env(&self) -> Vec<(&'static str, String)> {
        vec![("K6GATE_WEBHOOK_URL", self.url(NORMAL)), ("K6GATE_ESCALATION_WEBHOOK_URL", self.url(ESCALATION))]
    }
}

fn text(body: &Value) -> &str {
    body["text"].as_str().unwrap_or_else(|| panic!("no text: {body}"))
}

/// Every mrkdwn text of the message, blocks included, in order.
fn all_text(body: &Value) -> String {
    let mut out = vec![text(body).to_string()];
    for b in body["blocks"].as_array().unwrap() {
        if let Some(t) = b.pointer("/text/text").and_then(|t| t.as_str()) {
            out.push(t.to_string());
        }
        for key in ["fields", "elements"] {
            for f in b[key].as_array().into_iter().flatten() {
                out.push(f["text"].as_str().unwrap_or_default().to_string());
            }
        }
    }
    out.join("\n")
}

// ---------------------------------------------------------------------------------------
// notify::plan

#[test]
fn plan_takes_the_normal_route_below_the_threshold_and_escalates_at_it() {
    let n = with_escalation();
    for count in [0, 1, 2] {
        let p = notify::plan(&n, "checkout", count);
        assert_eq!(
            p,
            Plan {
                url_env: "TEAM_WEBHOOK".into(),
                escalated: false,
                blocked_recently: count,
                mention: None,
                team: Some("team-payments".into()),
            },
            "{count} blocks"
        );
    }
    for count in [3, 4, 50] {
        let p = notify::plan(&n, "checkout", count);
        assert_eq!(
            p,
            Plan {
                url_env: "ONCALL_WEBHOOK".into(),
                escalated: true,
                blocked_recently: count,
                mention: Some(LEAD.into()),
                team: Some("team-payments".into()),
            },
            "{count} blocks"
        );
    }
}

#[test]
fn plan_without_escalation_never_escalates() {
    let n = notifications(json!({ "owners": { "checkout": { "team": "team-payments", "lead": LEAD } } }));
    assert!(n.escalation.is_none());
    for count in [0, 1, 3, 1000] {
        let p = notify::plan(&n, "checkout", count);
        assert!(!p.escalated, "{count}: {p:?}");
        assert_eq!(p.url_env, "K6GATE_WEBHOOK_URL", "the default variable");
        assert_eq!(p.mention, None, "nobody is mentioned without escalation");
    }
}

#[test]
fn plan_for_a_test_without_an_owner_mentions_nobody() {
    let n = with_escalation();
    let below = notify::plan(&n, "search", 1);
    assert_eq!((below.escalated, below.mention.as_deref(), below.team.as_deref()), (false, None, None));
    let over = notify::plan(&n, "search", 3);
    assert!(over.escalated, "escalation does not depend on an owner: {over:?}");
    assert_eq!(over.url_env, "ONCALL_WEBHOOK");
    assert_eq!((over.mention.as_deref(), over.team.as_deref()), (None, None));
}

#[test]
fn notifications_data_defaults_name_the_variables_and_reject_a_zero_threshold() {
    let dir = policy_dir(Some(NOTIFICATIONS_YAML));
    let data_dir = dir.path().join("data");
    let d = data::load(&data_dir).unwrap();
    let n = d.notifications.expect("notifications loaded");
    assert_eq!(n.webhook_url_env, "K6GATE_WEBHOOK_URL");
    let e = n.escalation.as_ref().expect("escalation");
    assert_eq!((e.after, e.within_days, e.webhook_url_env.as_str()), (3, 7, "K6GATE_ESCALATION_WEBHOOK_URL"));
    assert_eq!(n.owners["checkout"].lead, LEAD);

    std::fs::write(
        data_dir.join("notifications.yaml"),
        "notifications:\n  escalation:\n    after: 0\n    within_days: 7\n",
    )
    .unwrap();
    let err = data::load(&data_dir).unwrap_err().to_string();
    assert!(err.contains("notifications.yaml") && err.contains("at least 1"), "{err}");
}

// ---------------------------------------------------------------------------------------
// notify::message

fn links() -> Links {
    Links {
        run_id: Some("20261201-101500-ab12".into()),
        actions_run: Some("https://github.com/acme/shop/actions/runs/42".into()),
        grafana: Some(
            "https://grafana.example.com/d/k6gate-live?orgId=1&from=1764583200000&to=1764583300000&var-test=checkout&var-run=20261201-101500-ab12"
                .into(),
        ),
        workspace: None,
        serve: None,
    }
}

#[test]
fn message_is_slack_compatible_with_the_numbers_and_the_debug_links() {
    let v = failing_verdict();
    let plan = notify::plan(&with_escalation(), "checkout", 1);
    let m = notify::message(&plan, &v, &links(), Some(7));

    // Slack's shape: a fallback `text` and `blocks` of sections and a context, all mrkdwn.
    let keys: Vec<&String> = m.as_object().unwrap().keys().collect();
    assert_eq!(keys, vec!["blocks", "text"], "{m:#}");
    let blocks = m["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "section");
    assert_eq!(blocks[0]["text"]["type"], "mrkdwn");
    assert_eq!(blocks[0]["text"]["text"], m["text"], "the first block repeats the fallback text");
    for b in blocks {
        let kind = b["type"].as_str().unwrap();
        assert!(kind == "section" || kind == "context", "{b}");
        for t in b.pointer("/text").into_iter().chain(b["fields"].as_array().into_iter().flatten()) {
            assert_eq!(t["type"], "mrkdwn", "{b}");
        }
    }
    let context = blocks.iter().find(|b| b["type"] == "context").expect("a context block");
    let ctx_elements = context["elements"].as_array().unwrap();
    assert!(ctx_elements.iter().all(|e| e["type"] == "mrkdwn"), "{context}");
    let ctx = ctx_elements.iter().map(|e| e["text"].as_str().unwrap()).collect::<Vec<_>>().join(" ");

    // What was blocked and why, with the numbers.
    let t = text(&m);
    assert!(t.starts_with("🚫 Deployment blocked: checkout (staging)"), "{t}");
    assert!(t.contains("P95 +15.2 % over budget"), "{t}");
    assert!(!t.contains(LEAD), "no mention below the threshold: {t}");
    let all = all_text(&m);
    assert!(
        all.contains(P95_SENTENCE) && all.contains("94.6 ms"),
        "the failing rule's sentence with both values:\n{all}"
    );
    assert!(all.contains("budget 10 %"), "{all}");
    assert!(all.contains("*Candidate*\nv1.1.0") && all.contains("*Baseline*\nv1.0.0"), "{all}");

    // The debug links and the run id, in Slack's `<url|label>` form.
    let l = links();
    assert!(ctx.contains(&format!("<{}|", l.grafana.as_ref().unwrap())), "Grafana link: {ctx}");
    assert!(ctx.contains(&format!("<{}|", l.actions_run.as_ref().unwrap())), "Actions run link: {ctx}");
    assert!(ctx.contains("20261201-101500-ab12"), "run id: {ctx}");
}

#[test]
fn escalated_message_starts_with_the_mention_and_counts_the_blocks() {
    let v = failing_verdict();
    let plan = notify::plan(&with_escalation(), "checkout", 4);
    let m = notify::message(&plan, &v, &links(), Some(7));
    let t = text(&m);
    assert!(t.starts_with(&format!("{LEAD} ")), "{t}");
    assert!(t.contains("blocked 4 times in 7 days"), "{t}");
    assert!(t.contains("team-payments"), "the owning team: {t}");
    assert!(t.contains("P95 +15.2 % over budget"), "the reason stays: {t}");
    assert_eq!(m["blocks"][0]["text"]["text"].as_str(), Some(t), "the mention is in the first block too");

    // Without an owner the text still says how often, and mentions nobody.
    let plan = notify::plan(&with_escalation(), "search", 3);
    let t = notify::message(&plan, &v, &Links::default(), Some(7))["text"].as_str().unwrap().to_string();
    assert!(!t.contains("<@"), "{t}");
    assert!(t.contains("blocked 3 times in 7 days"), "{t}");
}

#[test]
fn message_without_links_has_no_context_block() {
    let v = failing_verdict();
    let plan = notify::plan(&with_escalation(), "checkout", 1);
    let m = notify::message(&plan, &v, &Links::default(), None);
    assert!(m["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "context"), "{m:#}");
    let only_id = Links { run_id: Some("r-1".into()), ..Links::default() };
    let m = notify::message(&plan, &v, &only_id, None);
    let ctx = m["blocks"].as_array().unwrap().iter().find(|b| b["type"] == "context").expect("context");
    assert_eq!(ctx["elements"][0]["text"], "run `r-1`");
}

// ---------------------------------------------------------------------------------------
// notify::send

fn sample_body() -> Value {
    notify::message(&notify::plan(&with_escalation(), "checkout", 1), &failing_verdict(), &links(), Some(7))
}

#[test]
fn send_posts_exactly_the_message_as_json() {
    let hook = Webhook::start();
    let body = sample_body();
    hook.mount(
        post(NORMAL)
            .and(header_regex("content-type", r"^application/json(;\s*charset=utf-8)?$"))
            .and(body_json(&body))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1),
    );
    notify::send(&Secret::new(hook.url(NORMAL)), &body).unwrap();
    hook.verify();
    assert_eq!(hook.received().len(), 1, "sent once");
}

#[test]
fn send_retries_a_server_error_then_succeeds() {
    let hook = Webhook::start();
    // Mounted first, matched first, used once: the first attempt gets a 500.
    hook.mount(
        post(NORMAL).respond_with(ResponseTemplate::new(500).set_body_string("internal")).up_to_n_times(1).expect(1),
    );
    hook.mount(post(NORMAL).respond_with(ResponseTemplate::new(200)).expect(1));
    let body = sample_body();
    notify::send(&Secret::new(hook.url(NORMAL)), &body).unwrap();
    hook.verify();
    let got = hook.received();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|r| r.body == body), "the retry sends the same body");
}

#[test]
fn send_retries_rate_limiting() {
    let hook = Webhook::start();
    hook.mount(
        post(NORMAL)
            .respond_with(ResponseTemplate::new(429).set_body_string("rate_limited"))
            .up_to_n_times(1)
            .expect(1),
    );
    hook.mount(post(NORMAL).respond_with(ResponseTemplate::new(200)).expect(1));
    notify::send(&Secret::new(hook.url(NORMAL)), &sample_body()).unwrap();
    hook.verify();
}

#[test]
fn send_gives_up_on_a_client_error_at_once() {
    let hook = Webhook::start();
    hook.mount(post(NORMAL).respond_with(ResponseTemplate::new(400).set_body_string("invalid_blocks")).expect(1));
    let err = notify::send(&Secret::new(hook.url(NORMAL)), &sample_body()).unwrap_err();
    hook.verify();
    assert!(matches!(&err, NotifyError::Status { status: 400, body } if body == "invalid_blocks"), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("400") && !msg.contains("SECRET"), "{msg}");
}

#[test]
fn send_keeps_failing_server_errors_to_three_attempts() {
    let hook = Webhook::start();
    hook.mount(post(NORMAL).respond_with(ResponseTemplate::new(503)).expect(3));
    let err = notify::send(&Secret::new(hook.url(NORMAL)), &sample_body()).unwrap_err();
    hook.verify();
    assert!(matches!(err, NotifyError::Status { status: 503, .. }), "{err:?}");
}

#[test]
fn send_to_an_unreachable_webhook_fails_without_showing_the_url() {
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("http://127.0.0.1:{port}{NORMAL}");
    let err = notify::send(&Secret::new(url.clone()), &sample_body()).unwrap_err();
    assert!(matches!(err, NotifyError::Transport(_)), "{err:?}");
    let msg = err.to_string();
    assert!(msg.starts_with("webhook unreachable"), "{msg}");
    assert!(!msg.contains(&url), "the URL is a secret: {msg}");
    assert!(!msg.contains("SECRETtoken") && !msg.contains("/hooks/"), "no part of the secret path: {msg}");
}

// ---------------------------------------------------------------------------------------
// k6gate notify

struct Setup {
    policies: TempDir,
    state: TempDir,
    work: TempDir,
}

impl Setup {
    fn new(notifications_yaml: Option<&str>) -> Setup {
        Setup {
            policies: policy_dir(notifications_yaml),
            state: tempfile::tempdir().unwrap(),
            work: tempfile::tempdir().unwrap(),
        }
    }

    fn verdict(&self, v: &Verdict) -> PathBuf {
        write_json(self.work.path(), "verdict.json", v)
    }

    fn notify(&self, verdict: &Path, extra: &[&str], env: &[(&str, String)]) -> Ran {
        let mut cmd = K6gate::new()
            .current_dir(self.work.path())
            .arg("notify")
            .arg("--verdict")
            .arg(verdict)
            .arg("--policies")
            .arg(self.policies.path())
            .arg("--state-dir")
            .arg(self.state.path())
            .args(extra);
        for v in CLEARED_VARS {
            cmd = cmd.env_remove(v);
        }
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        cmd.status(0)
    }
}

/// A RunSummary of two samples 100 s apart, for the Grafana link's time range.
fn summary_file(dir: &Path) -> PathBuf {
    let input = dir.join("k6.json");
    std::fs::write(
        &input,
        concat!(
            r#"{"type":"Point","metric":"vus","data":{"time":"2026-12-01T10:15:00.000Z","value":1,"tags":{}}}"#,
            "\n",
            r#"{"type":"Point","metric":"vus","data":{"time":"2026-12-01T10:16:40.000Z","value":1,"tags":{}}}"#,
            "\n",
        ),
    )
    .unwrap();
    let mut summary = k6gate::ingest(&[input], &k6gate::IngestOptions::default()).unwrap();
    summary.metadata.test_name = Some("checkout".into());
    summary.metadata.environment = Some("staging".into());
    summary.metadata.deployment_version = Some("v1.1.0".into());
    write_json(dir, "run-summary.json", &summary)
}

#[test]
fn cli_blocked_with_an_empty_history_takes_the_normal_route_with_the_links() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let hook = Webhook::both_routes();
    let verdict = s.verdict(&failing_verdict());
    let summary = summary_file(s.work.path());
    let run_id = "20261201-101500-ab12";
    let mut env = hook.env();
    env.extend([
        ("K6GATE_GRAFANA_URL", "https://grafana.example.com".to_string()),
        ("GITHUB_SERVER_URL", "https://github.example".to_string()),
        ("GITHUB_REPOSITORY", "acme/shop".to_string()),
        ("GITHUB_SHA", "0123abcd".to_string()),
        ("GITHUB_TOKEN", "not-used-here".to_string()),
        ("GITHUB_RUN_ID", "42".to_string()),
    ]);
    let out = s.notify(&verdict, &["--run-id", run_id, "--summary", summary.to_str().unwrap()], &env);
    let err = out.stderr();
    assert!(err.contains("webhook: sent to $K6GATE_WEBHOOK_URL"), "{err}");
    assert!(!err.contains("SECRETtoken"), "the webhook URL stays out of the log: {err}");

    let body = hook.only(NORMAL);
    let t = text(&body);
    assert!(t.starts_with("🚫 Deployment blocked: checkout (staging)") && !t.contains(LEAD), "{t}");
    let all = all_text(&body);
    assert!(all.contains(P95_SENTENCE), "{all}");
    assert!(all.contains("<https://github.example/acme/shop/actions/runs/42|"), "Actions run link: {all}");
    // The Grafana dashboard over the run's time range (30 s padding) with the run's variables.
    let grafana = "<https://grafana.example.com/d/k6gate-live?orgId=1&from=1796120070000&to=1796120230000\
                   &var-test=checkout&var-environment=staging&var-version=v1.1.0&var-run=20261201-101500-ab12|";
    assert!(all.contains(grafana), "Grafana link {grafana}:\n{all}");
    assert!(all.contains(&format!("run `{run_id}`")), "{all}");
}

#[test]
fn cli_escalates_when_this_block_is_the_nth_within_the_window() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    // Two earlier blocks of checkout in the last 7 days (any environment counts: same service).
    record(s.state.path(), "checkout", "staging", Outcome::Fail, 1.0);
    record(s.state.path(), "checkout", "prod-sim", Outcome::Fail, 6.5);
    let hook = Webhook::both_routes();
    let verdict = s.verdict(&failing_verdict());
    let out = s.notify(&verdict, &[], &hook.env());
    let err = out.stderr();
    assert!(err.contains("sent to $K6GATE_ESCALATION_WEBHOOK_URL (escalated: blocked 3 times)"), "{err}");

    let body = hook.only(ESCALATION);
    let t = text(&body);
    assert!(t.starts_with(&format!("{LEAD} ")), "{t}");
    assert!(t.contains("blocked 3 times in 7 days"), "{t}");
    assert!(all_text(&body).contains(P95_SENTENCE));
}

#[test]
fn cli_counts_a_recorded_run_once() {
    // `k6gate run` records the run before notifying and passes its id: the count includes it
    // once. Two earlier blocks plus this one make three.
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    record(s.state.path(), "checkout", "staging", Outcome::Fail, 2.0);
    record(s.state.path(), "checkout", "staging", Outcome::Fail, 3.0);
    let id = record_as(s.state.path(), Some("20261201-101500-cafe"), "checkout", "staging", Outcome::Fail, 0.0);
    let hook = Webhook::both_routes();
    let verdict = s.verdict(&failing_verdict());
    s.notify(&verdict, &["--run-id", &id], &hook.env());
    let t = text(&hook.only(ESCALATION)).to_string();
    assert!(t.contains("blocked 3 times in 7 days"), "{t}");

    // With only one earlier block besides the recorded run, it stays on the normal route.
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    record(s.state.path(), "checkout", "staging", Outcome::Fail, 2.0);
    let id = record_as(s.state.path(), Some("20261201-101500-beef"), "checkout", "staging", Outcome::Fail, 0.0);
    let hook = Webhook::both_routes();
    let verdict = s.verdict(&failing_verdict());
    s.notify(&verdict, &["--run-id", &id], &hook.env());
    hook.only(NORMAL);
}

/// `--verdict` takes a run id too: the recorded verdict goes out, with the run's id in the
/// links, and the run counts once.
#[test]
fn cli_takes_a_run_id_for_the_verdict() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let store = k6gate::run::open_history(&k6gate::history::HistoryConfig::local(s.state.path())).unwrap();
    let verdict = failing_verdict();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary_file(s.work.path())).unwrap()).unwrap();
    let id = store
        .record_run(&NewRun {
            id: Some("20261201-101500-f00d".into()),
            test: "checkout".into(),
            environment: "staging".into(),
            outcome: Outcome::Fail,
            started_at_ns: now_ns(),
            summary: Some(serde_json::value::to_raw_value(&summary).unwrap()),
            verdict: Some(serde_json::value::to_raw_value(&verdict).unwrap()),
            ..NewRun::default()
        })
        .unwrap();
    drop(store);
    let hook = Webhook::both_routes();
    s.notify(Path::new(&id), &[], &hook.env());
    let body = hook.only(NORMAL);
    assert!(text(&body).starts_with("🚫 Deployment blocked: checkout (staging)"), "{}", text(&body));
    assert!(body.to_string().contains("20261201-101500-f00d"), "the run id is in the links: {body}");

    // An id that names nothing is a usage error, not a silent success.
    let hook = Webhook::both_routes();
    let out = K6gate::new()
        .current_dir(s.work.path())
        .args(["notify", "--verdict", "20991231-000000-0000"])
        .arg("--policies")
        .arg(s.policies.path())
        .arg("--state-dir")
        .arg(s.state.path())
        .status(2);
    out.stderr_contains("20991231-000000-0000");
    hook.verify();
}

#[test]
fn cli_old_failures_passing_runs_and_other_tests_do_not_count() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let state = s.state.path();
    // Blocks older than 7 days.
    record(state, "checkout", "staging", Outcome::Fail, 7.5);
    record(state, "checkout", "staging", Outcome::Fail, 30.0);
    // Recent runs that did not block.
    for (i, outcome) in [Outcome::Pass, Outcome::Warn, Outcome::Pass, Outcome::Warn].into_iter().enumerate() {
        record(state, "checkout", "staging", outcome, 0.5 + i as f64);
    }
    // Recent blocks of another service.
    record(state, "search", "staging", Outcome::Fail, 1.0);
    record(state, "search", "staging", Outcome::Fail, 2.0);
    // One recent block of checkout: with this one, two.
    record(state, "checkout", "staging", Outcome::Fail, 1.0);

    let hook = Webhook::both_routes();
    let verdict = s.verdict(&failing_verdict());
    let err = s.notify(&verdict, &[], &hook.env()).stderr();
    assert!(err.contains("sent to $K6GATE_WEBHOOK_URL") && !err.contains("escalated"), "{err}");
    let t = text(&hook.only(NORMAL)).to_string();
    assert!(!t.contains(LEAD), "{t}");
}

#[test]
fn cli_passing_verdict_sends_nothing() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    // Even with a history that would escalate.
    for d in [1.0, 2.0, 3.0] {
        record(s.state.path(), "checkout", "staging", Outcome::Fail, d);
    }
    let hook = Webhook::expecting_nothing();
    let verdict = s.verdict(&passing_verdict());
    let out = s.notify(&verdict, &[], &hook.env());
    hook.verify();
    assert!(!out.stderr().contains("notify:"), "{}", out.stderr());
}

#[test]
fn cli_without_the_webhook_variable_warns_naming_it_and_sends_nothing() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let hook = Webhook::expecting_nothing();
    let verdict = s.verdict(&failing_verdict());

    // The normal route's variable unset (only the escalation route is configured).
    let only_escalation = vec![("K6GATE_ESCALATION_WEBHOOK_URL", hook.url(ESCALATION))];
    let err = s.notify(&verdict, &[], &only_escalation).stderr();
    assert!(err.contains("warning") && err.contains("$K6GATE_WEBHOOK_URL is not set"), "{err}");

    // Set but empty (an unset workflow secret) is unset too.
    let empty = vec![("K6GATE_WEBHOOK_URL", String::new()), ("K6GATE_ESCALATION_WEBHOOK_URL", hook.url(ESCALATION))];
    let err = s.notify(&verdict, &[], &empty).stderr();
    assert!(err.contains("$K6GATE_WEBHOOK_URL is not set"), "{err}");

    hook.verify();
}

#[test]
fn cli_escalation_without_its_variable_falls_back_to_the_normal_route() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let hook = Webhook::start();
    hook.mount(post(NORMAL).respond_with(ResponseTemplate::new(200)).expect(1));
    hook.mount(post(ESCALATION).respond_with(ResponseTemplate::new(200)).expect(0));
    let verdict = s.verdict(&failing_verdict());
    for d in [1.0, 2.0] {
        record(s.state.path(), "checkout", "staging", Outcome::Fail, d);
    }
    let only_normal = vec![("K6GATE_WEBHOOK_URL", hook.url(NORMAL))];
    let err = s.notify(&verdict, &[], &only_normal).stderr();
    assert!(err.contains("$K6GATE_ESCALATION_WEBHOOK_URL is not set: escalating on the normal route"), "{err}");
    hook.verify();
    // Still an escalation, on the route that exists.
    assert!(text(&hook.only(NORMAL)).contains("blocked 3 times"));
}

#[test]
fn cli_without_notifications_in_the_data_sends_nothing_and_says_nothing() {
    let s = Setup::new(None);
    let hook = Webhook::expecting_nothing();
    let verdict = s.verdict(&failing_verdict());
    let out = s.notify(&verdict, &[], &hook.env());
    hook.verify();
    assert!(!out.stderr().contains("notify"), "{}", out.stderr());
}

#[test]
fn cli_webhook_failure_is_a_warning_and_never_shows_the_url() {
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let hook = Webhook::start();
    hook.mount(post(NORMAL).respond_with(ResponseTemplate::new(404).set_body_string("no_service")).expect(1));
    let verdict = s.verdict(&failing_verdict());
    let err = s.notify(&verdict, &[], &hook.env()).stderr();
    hook.verify();
    assert!(err.contains("warning: webhook: webhook answered HTTP 404: no_service"), "{err}");
    assert!(!err.contains("SECRETtoken") && !err.contains("/hooks/"), "{err}");
}

// ---------------------------------------------------------------------------------------
// Regressions of bugs found while writing these tests.

#[test]
fn cli_run_id_of_an_unrecorded_run_still_counts_this_block() {
    // A verdict from `k6gate evaluate` (never recorded) with a run id for the links: two
    // earlier blocks plus this one are three, so this must escalate.
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    record(s.state.path(), "checkout", "staging", Outcome::Fail, 1.0);
    record(s.state.path(), "checkout", "staging", Outcome::Fail, 2.0);
    let hook = Webhook::both_routes();
    let verdict = s.verdict(&failing_verdict());
    s.notify(&verdict, &["--run-id", "20261201-101500-0000"], &hook.env());
    let t = text(&hook.only(ESCALATION)).to_string();
    assert!(t.contains("blocked 3 times in 7 days"), "{t}");
}

#[test]
fn cli_webhook_url_with_a_trailing_newline_is_delivered() {
    // Secrets pasted into a CI settings page often end with a newline.
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let hook = Webhook::both_routes();
    let verdict = s.verdict(&failing_verdict());
    let env = vec![("K6GATE_WEBHOOK_URL", format!("{}\n", hook.url(NORMAL)))];
    let err = s.notify(&verdict, &[], &env).stderr();
    assert!(err.contains("sent to $K6GATE_WEBHOOK_URL"), "{err}");
    hook.only(NORMAL);
}

#[test]
fn message_escapes_slack_control_characters_in_the_text() {
    // The policies write "82.1 ms -> 94.6 ms" and "p < 0.001"; in Slack mrkdwn `<` opens a
    // link or mention, so `&`, `<` and `>` must be sent as `&amp;`, `&lt;` and `&gt;`.
    let v = failing_verdict();
    let plan = notify::plan(&with_escalation(), "checkout", 1);
    let m = notify::message(&plan, &v, &Links::default(), Some(7));
    let all = all_text(&m);
    assert!(all.contains("82.1 ms -&gt; 94.6 ms") && all.contains("p &lt; 0.001"), "{all}");
    assert!(!all.contains('<') && !all.contains('>'), "no raw control characters:\n{all}");
}

/// `history changepoints` sends the unreviewed change points of a test to the normal route,
/// naming the owning team, once: a second search (still exit 1) does not send them again.
/// Without notifications in policy data nothing is sent.
#[test]
fn cli_change_points_are_sent_once() {
    use crate::support::series::{Shape, history, record_history};
    let s = Setup::new(Some(NOTIFICATIONS_YAML));
    let p95 = history(9, 30, 200.0, 0.03, &Shape::Step { at: 18, factor: 1.2 });
    let ids = record_history(s.state.path(), "checkout", "staging", &p95);
    let search = |policies: &Path, env: &[(&str, String)]| {
        let mut cmd = K6gate::new().arg("--policies").arg(policies).arg("--state-dir").arg(s.state.path()).args([
            "history",
            "changepoints",
            "--test",
            "checkout",
            "--env",
            "staging",
        ]);
        for v in CLEARED_VARS {
            cmd = cmd.env_remove(v);
        }
        for (k, v) in env {
            cmd = cmd.env(k, v);
        }
        cmd.status(1)
    };

    let hook = Webhook::both_routes();
    search(s.policies.path(), &hook.env()).stderr_contains("1 change point(s) sent to $K6GATE_WEBHOOK_URL");
    let body = hook.only(NORMAL);
    assert_eq!(text(&body), "📈 1 unreviewed change point in checkout (team-payments) on staging");
    let all = all_text(&body);
    assert!(all.contains("• p95_ms +") && all.contains(&format!("from run {} (version v1.18)", ids[18])), "{all}");
    assert!(all.contains("policies/data/changepoints.yaml"), "{all}");

    let again = Webhook::expecting_nothing();
    search(s.policies.path(), &again.env());
    again.verify();

    // No notifications section: nothing is sent (a fresh state directory would announce).
    let quiet = Setup::new(None);
    record_history(quiet.state.path(), "checkout", "staging", &p95);
    let hook = Webhook::expecting_nothing();
    let mut cmd = K6gate::new()
        .arg("--policies")
        .arg(quiet.policies.path())
        .arg("--state-dir")
        .arg(quiet.state.path())
        .args(["history", "changepoints", "--test", "checkout", "--env", "staging"]);
    for (k, v) in hook.env() {
        cmd = cmd.env(k, v);
    }
    cmd.status(1);
    hook.verify();
}
