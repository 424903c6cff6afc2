//! Before a load test: off-peak windows (`run` refuses outside them and names the next slot)
//! and `k6gate preflight` (the environment's monitoring stack, the target, the lease).
//!
//! Fast tier: the window refusal before anything starts, and preflight against nothing but the
//! fake Grafana (every other check refuses, with reasons; a held lease moves the time to
//! reschedule). Full tier: a stack generated and started for real (Prometheus and two
//! clustered Alertmanagers) scraping a demo shop under light traffic: preflight passes, then
//! refuses as the shop degrades, as both Alertmanagers stop and as Prometheus stops, and
//! `run` refuses with it before k6 starts.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use k6gate::history::{HistoryConfig, Holder, Leases, Store};
use k6gate_shop::{TargetArgs, spawn};

use crate::support::cli::K6gate;
use crate::support::fake_grafana::FakeGrafana;
use crate::support::root;
use crate::support::stack::{Stack, free_port, wait_until};

/// Writes `<env>.yaml` (dev's profile against `base_url`) declaring this monitoring.
fn environment(dir: &Path, env: &str, base_url: &str, prometheus: &str, alertmanagers: &[String], grafana: &str) {
    let dev = std::fs::read_to_string(root().join("environments/dev.yaml")).unwrap();
    let dev = dev.replace("base_url: http://127.0.0.1:8080", &format!("base_url: {base_url}"));
    let text = format!(
        "{dev}monitoring:\n  prometheus: {prometheus}\n  alertmanagers: [{}]\n  grafana: {grafana}\n  target_job: shop\n",
        alertmanagers.join(", ")
    );
    std::fs::write(dir.join(format!("{env}.yaml")), text).unwrap();
}

fn preflight(state: &Path, envs: &Path, env: &str) -> K6gate {
    K6gate::new()
        .current_dir(root())
        .arg("--state-dir")
        .arg(state)
        .args(["preflight", "--env", env, "--environments"])
        .arg(envs)
}

fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no {name} in {report:#}"))
}

#[test]
fn run_outside_the_off_peak_windows_is_refused_before_anything_starts_and_names_the_next_slot() {
    let state = tempfile::tempdir().unwrap();
    // Wednesday noon UTC: prod-sim's shipped windows are weeknights from 20:00 and weekends.
    let run = |extra: &[&str]| {
        K6gate::new()
            .current_dir(root())
            .arg("--state-dir")
            .arg(state.path())
            .args(["run", "--test", "checkout", "--env", "prod-sim", "--now", "2026-12-09T12:00:00Z"])
            .args(extra)
            .status(2)
    };
    run(&[])
        .stderr_contains("2026-12-09T12:00:00.000Z is outside the off-peak windows of prod-sim (")
        .stderr_contains("the next off-peak slot starts at 2026-12-09T20:00:00.000Z; nothing was started");
    // The override is not offered: the shipped policy does not allow it.
    run(&["--ignore-window"]).stderr_contains("the policy allows no override");
    assert!(!state.path().join("runs").exists(), "no run directory: nothing started");
    // Friday 23:00 is inside: the window lets it through to the next step (whatever stops it there).
    K6gate::new()
        .current_dir(root())
        .arg("--state-dir")
        .arg(state.path())
        .args(["run", "--test", "checkout", "--env", "prod-sim", "--now", "2026-12-11T23:00:00Z", "--lock-wait", "0s"])
        .output()
        .stderr_lacks("off-peak");
}

#[test]
fn preflight_needs_the_environment_to_declare_its_monitoring() {
    let state = tempfile::tempdir().unwrap();
    preflight(state.path(), &root().join("environments"), "dev")
        .status(2)
        .stderr_contains("dev.yaml: declares no monitoring stack");
}

#[test]
fn preflight_with_nothing_answering_but_grafana_refuses_with_every_reason_and_when_to_come_back() {
    let (state, envs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let grafana = FakeGrafana::start();
    let dead = format!("http://127.0.0.1:{}", free_port());
    environment(envs.path(), "staging", &dead, &dead, &[dead.clone(), dead.clone()], &grafana.url);
    // Another run holds the environment for two more hours.
    let store = Store::open(&HistoryConfig { state_dir: state.path().to_path_buf(), remote: None }).unwrap();
    let holder = Holder {
        user: "ci".into(),
        host: None,
        pid: 1,
        run_id: "20261206-120000-abcd".into(),
        test: "checkout".into(),
        url: None,
    };
    let now = k6gate::clock::now_ns();
    let ttl = 2 * 3600 * 1_000_000_000;
    store.try_acquire("staging", &holder, "token", now, ttl).unwrap();

    let ran = preflight(state.path(), envs.path(), "staging").args(["--format", "json"]).status(2);
    let report = ran.stdout_json();
    assert_eq!(report["passed"], false);
    assert_eq!(check(&report, "Grafana")["passed"], true, "{report:#}");
    for name in
        ["Prometheus query", "rule evaluation", "target shop scraped", "target shop error rate", "target shop latency"]
    {
        let c = check(&report, name);
        assert_eq!(c["passed"], false, "{c}");
        assert!(c["reason"].as_str().unwrap().contains("127.0.0.1"), "{c}");
    }
    let lease = check(&report, "environment lease");
    assert!(
        lease["reason"].as_str().unwrap().contains("run 20261206-120000-abcd of test checkout by ci holds staging")
    );
    // Not before the lease expires (later than 30 minutes from now).
    let at = k6gate::time::parse_rfc3339_ns(report["reschedule_at"].as_str().unwrap().as_bytes()).unwrap();
    assert!(at >= now + ttl - 1_000_000_000, "{report:#}");
    ran.stderr_contains("preflight of staging refused the load test: Prometheus query:")
        .stderr_contains("or later; nothing was started");
    grafana.assert_all_documented();

    // Grafana's database check failing fails its row.
    grafana.set_database_failing();
    let report = preflight(state.path(), envs.path(), "staging").args(["--format", "json"]).status(2).stdout_json();
    let g = check(&report, "Grafana");
    assert_eq!(g["passed"], false);
    assert!(g["reason"].as_str().unwrap().contains("answered HTTP 503 with database failing"), "{g}");

    // Both refusals are in the audit trail: who, when, the result and the checks behind it.
    let entries = k6gate::history::AuditLog::audit_entries(
        &store,
        &k6gate::history::AuditQuery { environment: Some("staging".into()), since_ns: None },
    )
    .unwrap();
    let preflights: Vec<_> = entries.iter().filter(|e| e.entry.kind == "preflight").collect();
    assert_eq!(preflights.len(), 2, "{entries:#?}");
    for e in &preflights {
        assert_eq!(e.entry.result, "refused");
        assert!(e.entry.at_ns >= now && !e.entry.who.is_empty(), "{e:?}");
        assert_eq!(e.entry.detail["passed"], false);
        assert!(e.entry.detail["checks"].as_array().is_some_and(|c| c.len() >= 5), "{e:?}");
    }
    // `k6gate audit` shows them beside the policy changes.
    K6gate::new()
        .current_dir(root())
        .arg("--state-dir")
        .arg(state.path())
        .args(["audit", "--env", "staging"])
        .status(0)
        .stdout_contains("preflight");
}

#[test]
fn preflight_outside_the_windows_names_the_next_slot_as_the_time_to_reschedule() {
    let (state, envs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let grafana = FakeGrafana::start();
    let dead = format!("http://127.0.0.1:{}", free_port());
    environment(envs.path(), "prod-sim", &dead, &dead, std::slice::from_ref(&dead), &grafana.url);
    let ran = preflight(state.path(), envs.path(), "prod-sim")
        .args(["--format", "json", "--now", "2026-12-09T12:00:00Z"])
        .status(2);
    let report = ran.stdout_json();
    let w = check(&report, "off-peak window");
    assert_eq!(w["passed"], false);
    assert!(w["reason"].as_str().unwrap().contains("outside the off-peak windows of prod-sim"), "{w}");
    // 30 minutes on is still peak: the next slot, 20:00.
    assert_eq!(report["reschedule_at"], "2026-12-09T20:00:00.000Z");
}

/// GETs the shop's products every 50 ms until dropped: its usual traffic.
struct Traffic(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Traffic {
    fn start(url: String) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let client = k6gate::net::client(&k6gate::net::ClientOptions::default()).unwrap();
            while !flag.load(Ordering::Relaxed) {
                let _ = k6gate::net::block_on(async { client.get(&url).send().await.map(|r| r.status()) });
                std::thread::sleep(Duration::from_millis(50));
            }
        });
        Traffic(stop, Some(handle))
    }
}

impl Drop for Traffic {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        if let Some(h) = self.1.take() {
            let _ = h.join();
        }
    }
}

fn shop(port: u16, extra: &[&str]) -> k6gate_shop::Running {
    let mut args = vec!["--port".to_string(), port.to_string(), "--db".into(), ":memory:".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    spawn(&TargetArgs::try_from_args(args).unwrap()).unwrap()
}

#[test]
#[ignore = "full tier: needs prometheus, prometheus-alertmanager (scripts/install-alertmanager.sh) and k6"]
fn preflight_passes_on_a_healthy_stack_and_refuses_as_the_shop_the_alertmanagers_and_prometheus_fail() {
    let port = free_port();
    let healthy = shop(port, &[]);
    let traffic = Traffic::start(format!("http://127.0.0.1:{port}/api/products"));
    let hook = crate::support::mock_http::MockHttp::start();
    let mut stack = Stack::start(&hook.url("/hook"), &[format!("shop=127.0.0.1:{port}")]);
    let grafana = FakeGrafana::start();
    let (state, envs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let base = format!("http://127.0.0.1:{port}");
    environment(envs.path(), "staging", &base, &stack.prometheus_url, &stack.alertmanager_urls, &grafana.url);
    let json = || preflight(state.path(), envs.path(), "staging").args(["--format", "json"]).output();

    // Healthy: every check passes once the watchdog arrived and the shop was scraped twice.
    let mut last = None;
    let ready = wait_until(Duration::from_secs(40), "preflight passes on the healthy stack", || {
        let ran = json();
        let ok = ran.code() == Some(0);
        last = Some(ran.stdout());
        ok
    });
    let started = Instant::now();
    let ran = preflight(state.path(), envs.path(), "staging").status(0);
    let took = started.elapsed();
    let ran = ran.stdout_contains("preflight of staging passed");
    let report = json().stdout_json();
    for c in report["checks"].as_array().unwrap() {
        assert_eq!(c["passed"], true, "{c}\n{}", stack.logs());
    }
    assert!(
        check(&report, &format!("Alertmanager {}", stack.alertmanager_urls[1]))["measured"]
            .as_str()
            .unwrap()
            .contains("cluster ready, 2 peers, Watchdog")
    );
    eprintln!(
        "preflight passed {:?} after the stack started ({ready:?} after it was ready); one preflight took {took:?}:\n{}",
        stack.started.elapsed(),
        ran.stdout()
    );
    drop(last);

    // The shop degrades: half its API requests answer 500.
    healthy.stop().unwrap();
    let degraded = shop(port, &["--fault-rate", "0.5"]);
    wait_until(Duration::from_secs(30), "preflight refuses the degraded shop", || {
        let r = json();
        r.code() == Some(2)
            && r.stdout_json().pointer("/checks").is_some_and(|c| {
                c.as_array().unwrap().iter().any(|c| c["name"] == "target shop error rate" && c["passed"] == false)
            })
    });
    let report = json().stdout_json();
    let e = check(&report, "target shop error rate");
    assert!(e["reason"].as_str().unwrap().contains("of its requests failed in 5m, over 1.00 %"), "{e}");
    assert_eq!(check(&report, "Prometheus query")["passed"], true, "only the target is to blame: {report:#}");
    degraded.stop().unwrap();
    let _healthy_again = shop(port, &[]);

    // Both Alertmanagers stop: the alerting path is gone.
    stack.stop_alertmanagers();
    let report = json().stdout_json();
    for url in &stack.alertmanager_urls {
        let c = check(&report, &format!("Alertmanager {url}"));
        assert_eq!(c["passed"], false, "{c}");
    }

    // Prometheus stops too: `run` refuses in prepare, before k6 and without taking the lock.
    stack.stop_prometheus();
    let report = json().stdout_json();
    assert_eq!(check(&report, "Prometheus query")["passed"], false);
    assert_eq!(check(&report, "target shop error rate")["passed"], false);
    K6gate::new()
        .current_dir(root())
        .arg("--state-dir")
        .arg(state.path())
        .args(["run", "--test", "checkout", "--env", "staging", "--bootstrap", "--environments"])
        .arg(envs.path())
        .status(2)
        .stderr_contains("preflight of staging refused the load test: Prometheus query:")
        .stderr_contains("nothing was started");
    assert!(!state.path().join("runs").exists(), "k6 never started");
    drop(traffic);
}

/// A Prometheus answering the preflight's queries with these numbers, and an `/api/v1/rules`
/// whose one group is stale and whose one rule is broken; an Alertmanager still settling,
/// alone in its cluster and without the watchdog.
#[test]
fn each_failing_check_says_why_with_its_numbers() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, Request, ResponseTemplate};

    let prom = crate::support::mock_http::MockHttp::start();
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let log = seen.clone();
    prom.mount(Mock::given(method("GET")).and(path("/api/v1/query")).respond_with(move |r: &Request| {
        let q = r.url.query_pairs().find(|(k, _)| k == "query").map(|(_, v)| v.into_owned()).unwrap_or_default();
        log.lock().unwrap().push(q.clone());
        let value = if q.starts_with("histogram_quantile") {
            "0.9"
        } else if q.contains("status=~") {
            "30"
        } else if q.starts_with("sum(increase") {
            "1000"
        } else {
            "1"
        };
        let body = serde_json::json!({"status": "success", "data": {"resultType": "vector",
            "result": [{"metric": {"job": "shop"}, "value": [1_765_000_000.0, value]}]}});
        ResponseTemplate::new(200).set_body_json(body)
    }));
    let stale = k6gate::time::format_rfc3339_ms(k6gate::clock::now_ns() - 600 * 1_000_000_000);
    prom.mount(Mock::given(method("GET")).and(path("/api/v1/rules")).respond_with(
        ResponseTemplate::new(200).set_body_json(
            serde_json::json!({"status": "success", "data": {"groups": [{"name": "k6gate-target", "interval": 15,
            "lastEvaluation": stale, "rules": [{"name": "job:http_server_error_ratio:rate1m", "type": "recording",
            "health": "err", "lastError": "many-to-many matching not allowed"}]}]}}),
        ),
    ));
    let am = crate::support::mock_http::MockHttp::start();
    am.mount(
        Mock::given(method("GET")).and(path("/api/v2/status")).respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({"cluster": {"status": "settling", "peers": [{"name": "a"}]}})),
        ),
    );
    am.mount(
        Mock::given(method("GET"))
            .and(path("/api/v2/alerts"))
            .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!([]))),
    );
    let grafana = FakeGrafana::start();
    let (state, envs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    environment(envs.path(), "staging", &prom.uri(), &prom.uri(), &[am.uri(), am.uri()], &grafana.url);

    let report = preflight(state.path(), envs.path(), "staging").args(["--format", "json"]).status(2).stdout_json();
    assert_eq!(check(&report, "Prometheus query")["passed"], true, "{report:#}");
    let rules = check(&report, "rule evaluation");
    let why = rules["reason"].as_str().unwrap();
    assert!(why.contains("group k6gate-target last evaluated 600 s ago"), "{why}");
    assert!(
        why.contains(
            "rule job:http_server_error_ratio:rate1m of group k6gate-target is err (many-to-many matching not allowed)"
        ),
        "{why}"
    );
    let a = check(&report, &format!("Alertmanager {}", am.uri()));
    let why = a["reason"].as_str().unwrap();
    assert!(why.contains("cluster status is settling, not ready"), "{why}");
    assert!(why.contains("1 cluster peers, 2 Alertmanagers declared"), "{why}");
    assert!(why.contains("no active Watchdog alert"), "{why}");
    assert_eq!(check(&report, "target shop scraped")["passed"], true);
    let e = check(&report, "target shop error rate");
    assert_eq!(
        (e["passed"].clone(), e["measured"].clone()),
        (Value::Bool(false), Value::from("3.00 % of 1000 requests"))
    );
    let l = check(&report, "target shop latency");
    assert!(l["reason"].as_str().unwrap().contains("P95 900.0 ms over 5m, above 500 ms"), "{l}");
    assert!(
        seen.lock()
            .unwrap()
            .iter()
            .any(|q| q == "sum(increase(http_server_requests_total{job=\"shop\",status=~\"5..\"}[5m]))")
    );
}
