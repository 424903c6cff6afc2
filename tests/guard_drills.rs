//! Replicated alerting with a fallback, and the outage drills (issue 14).
//!
//! Fast tier: the guard's critical alert (`k6gate::guard::alerting::deliver`) against fakes
//! that check Alertmanager's documented `POST /api/v2/alerts` (method, path, content type, the
//! JSON array of `{labels, annotations, startsAt}`) and the Slack-compatible webhook: one
//! Alertmanager down, both down (the webhook takes it), nothing reachable (fail closed: `none`,
//! with why).
//!
//! Full tier (real Prometheus, two real clustered Alertmanagers from `k6gate stack generate`,
//! the demo shop as the thing an alert watches; one stack per drill, the drills side by side):
//! - both Alertmanagers up: the always-firing Watchdog reaches both and the webhook once;
//!   one Alertmanager killed: a new alert still reaches the webhook exactly once;
//! - both killed: the guard's critical alert reaches the fallback webhook; the alert that
//!   started firing meanwhile arrives once they restart (Prometheus resends firing alerts);
//! - Prometheus killed in the middle of a guarded `k6gate run`: the guard follows
//!   `on_missing_data: continue`, raises its observability-lost alert through the
//!   Alertmanagers, the run completes its verdict from k6's own output, and the alert that
//!   started firing during the outage is delivered once Prometheus is back.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use k6gate::guard::alerting::{Alerting, Critical, deliver};

use crate::support::mock_http::MockHttp;
use crate::support::stack::{Stack, free_port, wait_until};

fn alerting(alertmanagers: Vec<String>, fallback: Option<String>) -> Alerting {
    Alerting {
        alertmanagers,
        fallback: fallback.map(k6gate::net::Secret::new),
        labels: [("environment".to_string(), "drill".to_string()), ("test".to_string(), "checkout".to_string())]
            .into_iter()
            .collect(),
    }
}

const AT: &str = "2026-12-06T22:00:00.000Z";

/// A fake Alertmanager that accepts exactly the documented request for `c`.
fn fake_alertmanager(c: &Critical) -> MockHttp {
    let am = MockHttp::start();
    am.mount(
        Mock::given(method("POST"))
            .and(path("/api/v2/alerts"))
            .and(header("content-type", "application/json"))
            .and(body_json(json!([{
                "labels": {"alertname": c.name, "severity": "critical", "source": "k6gate-guard",
                    "environment": "drill", "test": "checkout"},
                "annotations": {"summary": c.summary},
                "startsAt": AT,
            }])))
            .respond_with(ResponseTemplate::new(200))
            .expect(1),
    );
    am.catch_all(ResponseTemplate::new(400), "a request Alertmanager's v2 API does not document");
    am
}

/// A webhook receiver answering 200 at `/hook`.
fn webhook() -> MockHttp {
    let hook = MockHttp::start();
    hook.mount(Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)));
    hook
}

/// Nothing listens there.
fn dead() -> String {
    format!("http://127.0.0.1:{}", free_port())
}

#[test]
fn the_guards_alert_goes_to_every_alertmanager_that_answers_and_the_webhook_stays_quiet() {
    let c = Critical::stopped_k6("error_rate 0.70 over 0.6 (asks to stop)");
    let am = fake_alertmanager(&c);
    let hook = webhook();
    let gone = dead();
    let d = deliver(&alerting(vec![gone.clone(), am.uri()], Some(hook.url("/hook"))), &c, AT);
    assert_eq!(d.path, "alertmanager", "{d:#?}");
    assert_eq!(d.accepted_by, [am.uri()]);
    assert_eq!(d.errors.len(), 1, "{d:#?}");
    assert!(d.errors[0].starts_with(&format!("Alertmanager {gone}: ")), "the dead one is named: {d:#?}");
    am.verify();
    assert!(hook.received().is_empty(), "an Alertmanager took it: no fallback");
}

#[test]
fn with_no_alertmanager_reachable_the_guards_alert_goes_straight_to_the_webhook() {
    let c = Critical::observability_lost("Prometheus at http://127.0.0.1:9 answered none of its queries");
    let hook = webhook();
    let refusing = MockHttp::start();
    refusing.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(503).set_body_string("draining")));
    let (gone, url) = (dead(), refusing.uri());
    let d = deliver(&alerting(vec![gone, url.clone()], Some(hook.url("/hook"))), &c, AT);
    assert_eq!(d.path, "webhook", "{d:#?}");
    assert!(d.accepted_by.is_empty());
    assert!(d.errors.iter().any(|e| e == &format!("Alertmanager {url}: HTTP 503: draining")), "{d:#?}");
    let got = hook.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body["alertname"], "K6gateObservabilityLost");
    assert_eq!(got[0].body["severity"], "critical");
    let text = got[0].body["text"].as_str().unwrap();
    assert!(text.starts_with("🚨 [critical] K6gateObservabilityLost: the load-test guard lost its view"), "{text}");
    assert!(text.contains("no Alertmanager could be reached"), "{text}");
}

#[test]
fn an_alert_nobody_takes_is_recorded_as_delivered_nowhere_with_why() {
    let c = Critical::stopped_k6("drill");
    let d = deliver(&alerting(vec![dead()], None), &c, AT);
    assert_eq!(d.path, "none", "{d:#?}");
    assert!(d.errors.iter().any(|e| e.starts_with("no fallback webhook")), "{d:#?}");
    let failing = MockHttp::start();
    failing.mount(Mock::given(method("POST")).respond_with(ResponseTemplate::new(500)));
    let d = deliver(&alerting(vec![], Some(failing.url("/hook"))), &c, AT);
    assert_eq!(d.path, "none", "{d:#?}");
    assert!(d.errors.iter().any(|e| e.starts_with("no Alertmanager configured")), "{d:#?}");
    assert!(d.errors.iter().any(|e| e.starts_with("fallback webhook: webhook answered HTTP 500")), "{d:#?}");
}

#[test]
fn an_unknown_alert_condition_in_policy_data_is_refused_with_its_key() {
    let mut rules = k6gate::guard::Rules::load(&crate::support::root().join("policies")).unwrap();
    let (mut live, _) = rules.config.live.clone().unwrap();
    assert_eq!(live.alert_on, ["stop", "observability_lost"], "the shipped policy alerts on both");
    live.alert_on.push("lower".into());
    let (key, msg) = k6gate::guard::live_rules::check_live(&live).unwrap_err();
    assert_eq!(key, "alert_on");
    assert!(msg.contains("\"lower\" is not a condition (known: stop, observability_lost)"), "{msg}");
    rules.config.live = None;
}

// ---- Full tier ----

/// A rule file: `alert` fires while the scrape job `job` is up (its target answers).
fn up_rule(alert: &str, job: &str) -> String {
    format!(
        "groups:\n  - name: drill\n    interval: 1s\n    rules:\n      - alert: {alert}\n        expr: up{{job=\"{job}\"}} == 1\n        labels:\n          severity: critical\n"
    )
}

/// The firing notifications of `alert` the webhook received.
fn firing(hook: &MockHttp, alert: &str) -> usize {
    hook.received()
        .iter()
        .filter(|r| {
            r.body["status"] == "firing"
                && r.body["alerts"].as_array().is_some_and(|a| a.iter().any(|x| x["labels"]["alertname"] == alert))
        })
        .count()
}

/// A demo shop on `port`: what the drill's alert watches.
fn shop(port: u16) -> k6gate_shop::Running {
    let args = ["--port", &port.to_string(), "--db", ":memory:"];
    k6gate_shop::spawn(&k6gate_shop::TargetArgs::try_from_args(args).unwrap()).unwrap()
}

fn cluster_members(url: &str) -> usize {
    Stack::status(url)["cluster"]["peers"].as_array().map_or(0, Vec::len)
}

#[test]
#[ignore = "full tier: needs prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn replicated_alertmanagers_deliver_each_alert_once_and_with_one_killed_still_once() {
    let hook = webhook();
    let port = free_port();
    let mut stack = Stack::start_with_rules(
        &hook.url("/hook"),
        &[format!("drill1=127.0.0.1:{port}")],
        &up_rule("DrillOne", "drill1"),
    );
    // Both up: Prometheus sends the Watchdog to both, both hold it, the cluster notifies once.
    wait_until(Duration::from_secs(20), "the Watchdog reaches the webhook", || firing(&hook, "Watchdog") >= 1);
    for url in &stack.alertmanager_urls {
        assert_eq!(Stack::alerts(url, "Watchdog").len(), 1, "{url} received it too\n{}", stack.logs());
    }
    // Longer than group_wait and the 15 s peer timeout after which the second would have sent.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(firing(&hook, "Watchdog"), 1, "deduplicated by the cluster\n{}", stack.logs());

    // One killed: once the survivor has noticed (gossip), a new alert still arrives, once.
    stack.kill_alertmanager(0);
    let survivor = stack.alertmanager_urls[1].clone();
    let noticed =
        wait_until(Duration::from_secs(30), "the survivor drops its dead peer", || cluster_members(&survivor) == 1);
    let fired = Instant::now();
    let _shop = shop(port);
    let latency = wait_until(Duration::from_secs(30), "DrillOne reaches the webhook through the survivor", || {
        firing(&hook, "DrillOne") >= 1
    });
    eprintln!(
        "one Alertmanager down: dead peer dropped after {noticed:.1?}; alert delivered {latency:.1?} after its \
         target came up (1 s scrape + 1 s evaluation + 1 s group wait nominal)"
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(firing(&hook, "DrillOne"), 1, "exactly once\n{}", stack.logs());
    assert!(fired.elapsed() < Duration::from_secs(40));
}

/// A guarded `k6gate run` against its own generated stack: a demo shop under light traffic
/// (scrape job `drill`), a late shop that is not up yet (job `late`, watched by `alert`), the
/// fake Grafana for preflight, and guard_live's drill policy with `on_missing_data` and the
/// notification webhook (`$K6GATE_WEBHOOK_URL`, set to `fallback`).
struct Guarded {
    stack: Stack,
    base: String,
    late_port: u16,
    tmp: tempfile::TempDir,
    policies: std::path::PathBuf,
    fallback: String,
    _grafana: crate::support::fake_grafana::FakeGrafana,
    _shop: k6gate_shop::Running,
    _traffic: crate::guard_live::Traffic,
}

impl Guarded {
    fn start(hook: &MockHttp, alert: &str, on_missing_data: &str, fallback: String) -> Guarded {
        let (port, late_port) = (free_port(), free_port());
        let scrape = [format!("drill=127.0.0.1:{port}"), format!("late=127.0.0.1:{late_port}")];
        let stack = Stack::start_with_rules(&hook.url("/hook"), &scrape, &up_rule(alert, "late"));
        let grafana = crate::support::fake_grafana::FakeGrafana::start();
        let args = ["--port", &port.to_string(), "--db", ":memory:", "--latency-scale", "0.2"];
        let shop = k6gate_shop::spawn(&k6gate_shop::TargetArgs::try_from_args(args).unwrap()).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let traffic = crate::guard_live::Traffic::start(format!("{base}/api/products"));
        let tmp = tempfile::tempdir().unwrap();
        let policies = crate::guard_live::policies(tmp.path());
        let guard = std::fs::read_to_string(policies.join("data/guard.yaml")).unwrap();
        assert_eq!(guard.matches("    on_missing_data: stop\n").count(), 1);
        let guard = guard.replace("    on_missing_data: stop\n", &format!("    on_missing_data: {on_missing_data}\n"));
        std::fs::write(policies.join("data/guard.yaml"), guard).unwrap();
        std::fs::write(
            policies.join("data/notifications.yaml"),
            "notifications:\n  webhook_url_env: K6GATE_WEBHOOK_URL\n",
        )
        .unwrap();
        std::fs::create_dir_all(tmp.path().join("envs")).unwrap();
        // 13 s of load: the drills fit k6's part in 15 s.
        let env = format!(
            "base_url: {base}\nexecutor: ramping-vus\nvus: 6\nstages:\n  warm_up: 1s\n  ramp_up: 2s\n  sustained: 9s\n  ramp_down: 1s\n\
             think_time_s: 0.05\nlive_guard: true\nmonitoring:\n  prometheus: {}\n  alertmanagers: [{}]\n  grafana: {}\n  target_job: drill\n",
            stack.prometheus_url,
            stack.alertmanager_urls.join(", "),
            grafana.url
        );
        std::fs::write(tmp.path().join("envs/drill.yaml"), env).unwrap();
        let g = Guarded {
            stack,
            base,
            late_port,
            tmp,
            policies,
            fallback,
            _grafana: grafana,
            _shop: shop,
            _traffic: traffic,
        };
        wait_until(Duration::from_secs(90), "preflight passes", || {
            g.k6gate(&["preflight", "--env", "drill"]).output().code() == Some(0)
        });
        g
    }

    fn k6gate(&self, args: &[&str]) -> crate::support::cli::K6gate {
        crate::support::cli::K6gate::new()
            .current_dir(crate::support::root())
            .env("K6_NO_USAGE_REPORT", "true")
            .env("K6GATE_WEBHOOK_URL", &self.fallback)
            .arg("--state-dir")
            .arg(self.tmp.path().join("state"))
            .arg("--policies")
            .arg(&self.policies)
            .args(args)
            .arg("--environments")
            .arg(self.tmp.path().join("envs"))
    }

    /// Starts the run on a thread and returns once k6's traffic reaches the shop.
    fn run(&self) -> std::thread::JoinHandle<crate::support::cli::Ran> {
        let cli = self.k6gate(&["run", "--test", "checkout", "--env", "drill", "--bootstrap", "--format", "json"]);
        let ran = std::thread::spawn(move || cli.output());
        let metrics = format!("{}/metrics", self.base);
        let client = k6gate::net::client(&k6gate::net::ClientOptions::default()).unwrap();
        wait_until(Duration::from_secs(120), "k6 reaches the shop", || {
            let text = k6gate::net::block_on(async { client.get(&metrics).send().await.ok()?.text().await.ok() });
            text.ok().flatten().is_some_and(|t| t.contains("route=\"POST /api/login\""))
        });
        ran
    }
}

/// The guard's alerts the fallback webhook received, by name (blocked-deployment messages,
/// which go to the same webhook, have no `alertname`).
fn fallback_alerts(fallback: &MockHttp) -> Vec<String> {
    fallback.received().iter().filter_map(|r| r.body["alertname"].as_str().map(str::to_string)).collect()
}

#[test]
#[ignore = "full tier: needs k6, prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn with_both_alertmanagers_killed_the_guards_alert_takes_the_fallback_and_the_normal_alert_follows_their_restart() {
    let hook = webhook();
    let fallback = MockHttp::start();
    fallback.mount(Mock::given(method("POST")).and(path("/fallback")).respond_with(ResponseTemplate::new(200)));
    let mut g = Guarded::start(&hook, "DrillTwo", "stop", fallback.url("/fallback"));
    let ran = g.run();
    // Both Alertmanagers die mid-test; the drill's alert starts firing with nobody to take it;
    // then the target fails nine requests in ten, over the guard's stop limit (60 %).
    g.stack.kill_alertmanager(0);
    g.stack.kill_alertmanager(1);
    let _late = shop(g.late_port);
    let url = format!("{}/admin/degrade", g.base);
    let status = crate::support::http::post(
        &url,
        &[("content-type", "application/json")],
        &json!({"error_rate": 0.9}).to_string(),
    );
    assert_eq!(status, 200);
    let ran = ran.join().unwrap();
    let verdict = ran.stdout_json();
    let guard = &verdict["guard"];
    let stop = guard["actions"].as_array().and_then(|a| a.iter().find(|x| x["action"] == "stop"));
    assert!(stop.is_some(), "the guard stopped k6: {guard:#}\n{}", ran.stderr());
    let alerts = guard["alerts"].as_array().unwrap_or_else(|| panic!("{guard:#}"));
    let stopped = alerts.iter().find(|a| a["alert"] == "K6gateGuardStoppedK6").unwrap_or_else(|| panic!("{guard:#}"));
    assert_eq!(stopped["path"], "webhook", "{stopped:#}");
    assert_eq!(stopped["errors"].as_array().map(Vec::len), Some(2), "both Alertmanagers named: {stopped:#}");
    assert_eq!(fallback_alerts(&fallback), ["K6gateGuardStoppedK6"], "once, on the fallback");
    let text = fallback.received().into_iter().find(|r| r.body["alertname"].is_string()).unwrap().body["text"].clone();
    assert!(text.as_str().unwrap().contains("environment=drill, test=checkout"), "{text}");
    // The reports say which path delivered it.
    let runs = g.tmp.path().join("state/runs");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap().path();
    for report in ["report.md", "report.html"] {
        let r = std::fs::read_to_string(run.join(report)).unwrap();
        assert!(r.contains("alert K6gateGuardStoppedK6 at "), "{report}: {r}");
        assert!(r.contains("no Alertmanager reachable: delivered straight to the notification webhook"), "{report}");
    }
    // The rule's alert fired meanwhile: Prometheus could not deliver it.
    let prom = g.stack.prometheus_url.clone();
    let rule_firing = || {
        let v = crate::support::http::get_json(&format!("{prom}/api/v1/alerts"), &[]);
        v["data"]["alerts"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["labels"]["alertname"] == "DrillTwo" && x["state"] == "firing"))
    };
    wait_until(Duration::from_secs(10), "DrillTwo fires in Prometheus", rule_firing);
    assert_eq!(firing(&hook, "DrillTwo"), 0, "nobody delivered it yet");

    // Restarted: the cluster settles (10 s), Prometheus resends (every 2 s), it arrives once.
    g.stack.restart_alertmanager(0);
    g.stack.restart_alertmanager(1);
    let after =
        wait_until(Duration::from_secs(45), "DrillTwo arrives after the restart", || firing(&hook, "DrillTwo") >= 1);
    eprintln!(
        "both Alertmanagers down: the guard's stop alert reached the fallback webhook in {} ms (stopped at {} s); \
         the normal alert arrived {after:.1?} after the restart (10 s gossip settle + 2 s resend + 1 s group wait nominal)",
        stopped["took_ms"],
        stop.map_or(Value::Null, |s| s["t_s"].clone())
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(firing(&hook, "DrillTwo"), 1, "once\n{}", g.stack.logs());
}

#[test]
#[ignore = "full tier: needs k6, prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn prometheus_killed_mid_test_the_guard_continues_by_policy_alerts_and_the_run_still_has_its_verdict() {
    let hook = webhook();
    let fallback = webhook();
    let mut g = Guarded::start(&hook, "DrillThreeLate", "continue", fallback.url("/hook"));
    let ran = g.run();
    // The guard's first window passes; then Prometheus dies for 6 s, and meanwhile a condition
    // its alert rule watches starts (the late target comes up).
    std::thread::sleep(Duration::from_secs(4));
    g.stack.stop_prometheus();
    let _late = shop(g.late_port);
    std::thread::sleep(Duration::from_secs(6));
    let back = Instant::now();
    g.stack.restart_prometheus();
    // The rule's alert, once Prometheus evaluates again (k6 still runs meanwhile).
    wait_until(Duration::from_secs(30), "the outage's alert is delivered", || firing(&hook, "DrillThreeLate") >= 1);
    let after = back.elapsed();
    let ran = ran.join().unwrap();
    let verdict = ran.stdout_json();
    let guard = &verdict["guard"];
    // The guard carried on (no stop), and said so to the on-call through the Alertmanagers.
    let actions: Vec<&str> = guard["actions"]
        .as_array()
        .map(|a| a.iter().filter_map(|x| x["action"].as_str()).collect())
        .unwrap_or_default();
    assert!(!actions.contains(&"stop"), "on_missing_data: continue: {guard:#}\n{}", ran.stderr());
    let alerts = guard["alerts"].as_array().unwrap_or_else(|| panic!("{guard:#}\n{}", ran.stderr()));
    let lost = alerts.iter().find(|a| a["alert"] == "K6gateObservabilityLost").unwrap_or_else(|| panic!("{guard:#}"));
    assert_eq!(lost["path"], "alertmanager", "{lost:#}");
    assert_eq!(lost["accepted_by"].as_array().map(Vec::len), Some(2), "{lost:#}");
    assert!(fallback_alerts(&fallback).is_empty(), "the Alertmanagers took it: no fallback");
    // The verdict comes from k6's own output: its summary is there whatever Prometheus did.
    assert!(verdict["headline"].as_str().is_some_and(|h| !h.is_empty()), "{verdict:#}");
    assert!(verdict["results"].as_array().is_some_and(|r| !r.is_empty()), "{verdict:#}");
    // The alerts reach the webhook: the guard's at once, the rule's once Prometheus is back.
    wait_until(Duration::from_secs(20), "the guard's alert is delivered", || {
        firing(&hook, "K6gateObservabilityLost") >= 1
    });
    eprintln!(
        "Prometheus killed mid-test: guard's alert via {} in {} ms; the outage's alert delivered {after:.1?} after \
         Prometheus was restarted; guard readings {}, actions {actions:?}",
        lost["path"], lost["took_ms"], guard["readings"]
    );
    assert_eq!(firing(&hook, "K6gateObservabilityLost"), 1, "once\n{}", g.stack.logs());
}

#[test]
#[ignore = "full tier: needs prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn alert_delivery_latency_is_read_from_the_real_alertmanagers_and_grows_while_none_takes_it() {
    use k6gate::guard::watchdog::Watchdog;
    let hook = webhook();
    let mut stack = Stack::start(&hook.url("/hook"), &[]);
    let urls = stack.alertmanager_urls.clone();
    wait_until(Duration::from_secs(30), "both Alertmanagers see two peers", || {
        urls.iter().all(|u| cluster_members(u) == 2)
    });
    let wall = || std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64;
    let mut w = Watchdog::new(&urls, &[("environment".into(), "drill".into())]).unwrap();
    // A reading every 200 ms until a probe posted to both shows.
    let mut readings = Vec::new();
    wait_until(Duration::from_secs(20), "a probe reaches both Alertmanagers", || {
        readings.push(k6gate::net::block_on(w.read("drill", wall())).unwrap());
        std::thread::sleep(Duration::from_millis(200));

        w.last().is_some()
    });
    let healthy = w.last().unwrap();
    eprintln!("alert delivery through the real cluster: {healthy:.3} s (readings {readings:?})");
    assert!((0.0..10.0).contains(&healthy), "{healthy}");
    // The probe is an ordinary alert on both, with its labels.
    for u in &urls {
        let shown = Stack::alerts(u, k6gate::guard::watchdog::ALERT);
        assert!(!shown.is_empty() && shown.iter().all(|a| a["labels"]["environment"] == "drill"), "{u}: {shown:?}");
    }

    // Both gone: the next probe is taken nowhere, and the reading grows with its age.
    stack.kill_alertmanager(0);
    stack.kill_alertmanager(1);
    let start = Instant::now();
    let mut last = 0.0;
    while start.elapsed() < Duration::from_secs(4) {
        last = k6gate::net::block_on(w.read("drill", wall())).unwrap().unwrap();
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(last >= 3.0, "the pending probe's age, not the last good latency: {last}");
    assert_eq!(w.last(), Some(healthy), "no probe completed without an Alertmanager");
    // Read by the policy: 45 s of it would pause the test under the shipped limits (30 s).
    let rules = k6gate::guard::Rules::load(&crate::support::root().join("policies")).unwrap();
    let input = json!({
        "reading": {"error_rate": 0.0, "p95_ms": 10, "in_flight": 1, "query_ms": 5, "alert_delivery_s": 45.0},
        "state": {"lowerings": 0, "paused": false, "since_last_action_s": null, "scalable": true, "warming": false},
    });
    let d = rules.live(&input).unwrap();
    assert_eq!(d.action, "pause", "{d:?}");
    assert!(d.reason.contains("alert_delivery_s 45 over 30"), "{d:?}");
}
