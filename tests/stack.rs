//! `k6gate stack generate`: the files' structure (fast tier: parsed as YAML, nothing but
//! Rust), promtool and amtool on them, and the stack started from them for real (full tier):
//! the watchdog alert reaches both Alertmanagers, they see each other as cluster peers, and
//! the webhook receives it exactly once.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::support::cli::K6gate;
use crate::support::mock_http::MockHttp;
use crate::support::stack::{Stack, args_of, wait_until};

fn yaml(dir: &Path, rel: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    yaml_serde::from_str(&text).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}\n{text}"))
}

fn generate(dir: &Path, extra: &[&str]) {
    K6gate::new().args(["stack", "generate", "--out"]).arg(dir).args(extra).status(0).stdout_contains("wrote ");
}

#[test]
fn the_generated_prometheus_receives_remote_write_keeps_late_samples_and_alerts_both_alertmanagers() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--scrape", "shop=127.0.0.1:8080", "--alertmanager-ports", "19093,19094"]);
    let args = args_of(&dir.path().join("prometheus.args"));
    for flag in
        ["--web.enable-remote-write-receiver", "--enable-feature=native-histograms", "--rules.alert.resend-delay=1m"]
    {
        assert!(args.iter().any(|a| a == flag), "{flag} missing in {args:?}");
    }
    let prom = yaml(dir.path(), "prometheus/prometheus.yml");
    assert_eq!(prom["storage"]["tsdb"]["out_of_order_time_window"], "30d");
    assert_eq!(prom["rule_files"], serde_json::json!(["rules/*.yml"]));
    let targets = &prom["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"];
    assert_eq!(targets, &serde_json::json!(["127.0.0.1:19093", "127.0.0.1:19094"]));
    let jobs: Vec<&str> =
        prom["scrape_configs"].as_array().unwrap().iter().map(|j| j["job_name"].as_str().unwrap()).collect();
    assert_eq!(jobs, ["prometheus", "alertmanager", "shop"]);
    assert_eq!(prom["scrape_configs"][2]["static_configs"][0]["targets"][0], "127.0.0.1:8080");
}

#[test]
fn the_rules_hold_an_always_firing_watchdog_and_the_dashboards_recordings() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &[]);
    let stack = yaml(dir.path(), "prometheus/rules/k6gate-stack.yml");
    let rules: Vec<&Value> =
        stack["groups"].as_array().unwrap().iter().flat_map(|g| g["rules"].as_array().unwrap()).collect();
    let watchdog = rules.iter().find(|r| r["alert"] == "Watchdog").expect("a Watchdog alert");
    assert_eq!(watchdog["expr"], "vector(1)");
    assert!(watchdog.get("for").is_none(), "it fires at once");
    assert!(rules.iter().any(|r| r["record"] == "job:http_server_error_ratio:rate1m"));
    // The dashboards' recording rules are grafana's, loaded beside the stack's.
    let dashboards = yaml(dir.path(), "prometheus/rules/k6gate-rules.yml");
    let records: Vec<&str> =
        dashboards["groups"][0]["rules"].as_array().unwrap().iter().filter_map(|r| r["record"].as_str()).collect();
    assert!(records.contains(&"k6gate:http_req_duration_seconds:p95_by_test"), "{records:?}");
    assert!(dir.path().join("grafana/dashboards/k6gate-live.json").is_file());
}

#[test]
fn both_alertmanagers_share_one_config_and_each_names_the_other_as_its_peer() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--webhook-url", "http://127.0.0.1:9/hook", "--cluster-ports", "19194,19195"]);
    let am = yaml(dir.path(), "alertmanager/alertmanager.yml");
    assert_eq!(am["route"]["receiver"], "k6gate-webhook");
    assert_eq!(am["receivers"][0]["webhook_configs"][0]["url"], "http://127.0.0.1:9/hook");
    assert!(args_of(&dir.path().join("alertmanager-1.args")).contains(&"--cluster.peer=127.0.0.1:19195".to_string()));
    assert!(args_of(&dir.path().join("alertmanager-2.args")).contains(&"--cluster.peer=127.0.0.1:19194".to_string()));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("alertmanager/alertmanager.yml")).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the webhook URL is readable by its owner only");
    }
    // Grafana: the Prometheus and both Alertmanagers, and the generated dashboards.
    let ds = yaml(dir.path(), "grafana/provisioning/datasources/k6gate-alertmanagers.yaml");
    let kinds: Vec<&str> = ds["datasources"].as_array().unwrap().iter().map(|d| d["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["alertmanager", "alertmanager"]);
    let prom_ds = yaml(dir.path(), "grafana/provisioning/datasources/k6gate.yaml");
    assert_eq!(prom_ds["datasources"][0]["url"], "http://127.0.0.1:9090");
    let provider = yaml(dir.path(), "grafana/provisioning/dashboards/k6gate.yaml");
    assert_eq!(provider["providers"][0]["options"]["path"], "/var/lib/grafana/dashboards/k6gate");
    // Compose runs the same flags as the args files.
    let compose = yaml(dir.path(), "compose.yaml");
    let command: Vec<String> = compose["services"]["alertmanager-2"]["command"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(command, args_of(&dir.path().join("alertmanager-2.args")));
    assert_eq!(compose["services"].as_object().unwrap().len(), 4);
    // The start script is valid shell.
    let sh = std::process::Command::new("sh").arg("-n").arg(dir.path().join("start.sh")).status().unwrap();
    assert!(sh.success(), "sh -n start.sh");
}

#[test]
fn a_bad_parameter_is_refused_and_named() {
    let dir = tempfile::tempdir().unwrap();
    K6gate::new()
        .args(["stack", "generate", "--out"])
        .arg(dir.path())
        .args(["--alertmanager-ports", "9090,9094"])
        .status(2)
        .stderr_contains("the alertmanager port 9090 is already the prometheus port");
    assert!(!dir.path().join("prometheus").exists(), "nothing written");
}

#[test]
#[ignore = "full tier: needs promtool and amtool (scripts/install-prometheus.sh, scripts/install-alertmanager.sh)"]
fn promtool_and_amtool_accept_the_generated_files() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), &["--scrape", "shop=127.0.0.1:8080"]);
    let run = |cmd: &str, args: &[&str]| {
        let out = std::process::Command::new(cmd).args(args).current_dir(dir.path()).output().unwrap();
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "{cmd} {args:?}:\n{text}");
        text
    };
    assert!(run("promtool", &["check", "config", "prometheus/prometheus.yml"]).contains("2 rule files found"));
    let rules =
        run("promtool", &["check", "rules", "prometheus/rules/k6gate-stack.yml", "prometheus/rules/k6gate-rules.yml"]);
    assert!(rules.contains("SUCCESS: 6 rules found"), "{rules}");
    run("amtool", &["check-config", "alertmanager/alertmanager.yml"]);
}

#[test]
#[ignore = "full tier: needs prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn the_watchdog_reaches_both_clustered_alertmanagers_and_the_webhook_exactly_once() {
    let hook = MockHttp::start();
    hook.mount(Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(200)));
    let stack = Stack::start(&hook.url("/hook"), &[]);
    for url in &stack.alertmanager_urls {
        let peers = Stack::status(url)["cluster"]["peers"].as_array().map_or(0, Vec::len);
        assert_eq!(peers, 2, "{url} sees {peers} peers\n{}", stack.logs());
    }
    let posts =
        || -> Vec<Value> { hook.received().into_iter().filter(|r| r.path == "/hook").map(|r| r.body).collect() };
    let ready = stack.started.elapsed();
    wait_until(Duration::from_secs(30), "the webhook receives the watchdog", || !posts().is_empty());
    let took = stack.started.elapsed();
    for url in &stack.alertmanager_urls {
        assert_eq!(Stack::alerts(url, "Watchdog").len(), 1, "{url} holds the watchdog\n{}", stack.logs());
    }
    // Prometheus resends every 2 s to both; the cluster's notification log keeps it to one
    // POST (group_interval 5m, repeat 4h). Wait past several resends and the peer timeout.
    std::thread::sleep(Duration::from_secs(8));
    let got = posts();
    assert_eq!(got.len(), 1, "one notification, not one per Alertmanager: {got:#?}\n{}", stack.logs());
    assert_eq!(got[0]["status"], "firing");
    assert_eq!(got[0]["alerts"][0]["labels"]["alertname"], "Watchdog");
    eprintln!("cluster ready {ready:?} and the watchdog at the webhook {took:?} after the stack started");
}
