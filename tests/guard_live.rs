//! The live guard beside k6 and teardown verification (issue 14).
//!
//! Fast tier: k6's REST API client against a fake that checks the documented request shapes
//! (k6 itself is in the full tier). The Rego decisions are `policies/guard_test.rego`, the
//! VU plan and teardown's judgement on synthetic series are unit tests in `src/guard/`.
//!
//! Full tier (real k6, real demo shops with light background traffic, one real Prometheus
//! scraping them every second, two real Alertmanagers and the fake Grafana for preflight,
//! shared by the three drills, which run side by side):
//! - the target degrades mid-test (an admin switch flipped by the test): the guard lowers the
//!   load, then stops k6; the reaction time is measured, the verdict records the actions, and
//!   the run is never a baseline;
//! - the target stays degraded after the test: teardown fails the run with the evidence;
//! - a healthy run: no action, "recovered in N s", and it can be a baseline.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, ResponseTemplate};

use k6gate::guard::k6api::K6Api;
use k6gate::history::{HistoryConfig, Outcome, RunFilter, RunStore};
use k6gate_shop::{TargetArgs, spawn};

use crate::support::cli::K6gate;
use crate::support::fake_grafana::FakeGrafana;
use crate::support::mock_http::MockHttp;
use crate::support::root;
use crate::support::stack::{Stack, free_port, wait_until};

fn status_body(vus: u64, paused: bool) -> Value {
    serde_json::json!({"data": {"type": "status", "id": "default", "attributes": {
        "status": 7, "paused": paused, "vus": vus, "vus-max": 20, "stopped": false, "running": true, "tainted": false
    }}})
}

fn patch(attributes: Value) -> Value {
    serde_json::json!({"data": {"type": "status", "id": "default", "attributes": attributes}})
}

#[test]
fn k6_api_requests_have_the_documented_shape_and_refusals_keep_k6s_words() {
    let k6 = MockHttp::start();
    k6.mount(
        Mock::given(method("GET"))
            .and(path("/v1/status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(status_body(4, false))),
    );
    for (attrs, answer) in [
        (serde_json::json!({"vus": 3}), status_body(3, false)),
        (serde_json::json!({"paused": true}), status_body(0, true)),
        (serde_json::json!({"paused": false}), status_body(3, false)),
        (serde_json::json!({"stopped": true}), status_body(3, false)),
    ] {
        k6.mount(
            Mock::given(method("PATCH"))
                .and(path("/v1/status"))
                .and(header("content-type", "application/json"))
                .and(body_json(patch(attrs)))
                .respond_with(ResponseTemplate::new(200).set_body_json(answer))
                .expect(1),
        );
    }
    // k6 1.1's answer to scaling any executor but externally-controlled (measured).
    k6.mount(
        Mock::given(method("PATCH")).and(body_json(patch(serde_json::json!({"vus": 99})))).respond_with(
            ResponseTemplate::new(500).set_body_json(serde_json::json!({"errors": [{"status": "500",
                "title": "Execution config error",
                "detail": "an externally-controlled executor needs to be configured for live configuration updates"}]})),
        ),
    );
    let api = K6Api::new(k6.uri().trim_start_matches("http://")).unwrap();
    let run =
        |f: std::pin::Pin<Box<dyn std::future::Future<Output = _> + Send + '_>>| k6gate::net::block_on(f).unwrap();
    let s = run(Box::pin(api.status())).unwrap();
    assert_eq!((s.status, s.vus, s.vus_max, s.paused), (7, 4, 20, false));
    assert_eq!(run(Box::pin(api.scale(3))).unwrap().vus, 3);
    assert!(run(Box::pin(api.pause())).unwrap().paused);
    assert!(!run(Box::pin(api.resume())).unwrap().paused);
    run(Box::pin(api.stop())).unwrap();
    let e = run(Box::pin(api.scale(99))).unwrap_err().to_string();
    assert!(
        e.contains("scaling the VUs: HTTP 500: Execution config error: an externally-controlled executor needs"),
        "{e}"
    );
    k6.verify();
    // Nothing listening: the error names the address and what was asked.
    let gone = K6Api::new("127.0.0.1:9").unwrap();
    let e = run(Box::pin(gone.stop())).unwrap_err().to_string();
    assert!(e.starts_with("k6's REST API at 127.0.0.1:9: stopping: "), "{e}");
}

// ---- Full tier ----

/// The stack the three drills share: started once, each drill's shop on its own port and
/// scrape job.
struct Shared {
    stack: Stack,
    grafana: FakeGrafana,
    _hook: MockHttp,
    ports: [u16; 4],
}

fn shared() -> &'static Mutex<Shared> {
    static SHARED: OnceLock<Mutex<Shared>> = OnceLock::new();
    SHARED.get_or_init(|| {
        let ports = [free_port(), free_port(), free_port(), free_port()];
        let hook = MockHttp::start();
        let scrape: Vec<String> = ports.iter().enumerate().map(|(i, p)| format!("guard{i}=127.0.0.1:{p}")).collect();
        let stack = Stack::start(&hook.url("/hook"), &scrape);
        Mutex::new(Shared { stack, grafana: FakeGrafana::start(), _hook: hook, ports })
    })
}

/// GETs the shop's products every 100 ms until dropped: its own users (10 requests a second,
/// below the 20 a second under which a load-induced degradation lifts).
pub(crate) struct Traffic(Arc<AtomicBool>, Option<std::thread::JoinHandle<()>>);

impl Traffic {
    pub(crate) fn start(url: String) -> Traffic {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let client = k6gate::net::client(&k6gate::net::ClientOptions::default()).unwrap();
            while !flag.load(Ordering::Relaxed) {
                let _ = k6gate::net::block_on(async { client.get(&url).send().await.map(|r| r.status()) });
                std::thread::sleep(Duration::from_millis(100));
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

/// The shipped policies with the guard's numbers made for a drill of seconds: a reading every
/// second over a 3 s window, one lowering before a stop, teardown watched for at most 10 s.
pub(crate) fn policies(dir: &Path) -> PathBuf {
    policies_with(dir, 1, 3)
}

/// [`policies`] with this many lowerings before a stop and this cooldown between actions.
fn policies_with(dir: &Path, max_lowerings: u32, cooldown_s: u32) -> PathBuf {
    let out = dir.join("policies");
    std::fs::create_dir_all(out.join("data")).unwrap();
    for sub in ["", "data"] {
        for e in std::fs::read_dir(root().join("policies").join(sub)).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_file() {
                std::fs::copy(e.path(), out.join(sub).join(e.file_name())).unwrap();
            }
        }
    }
    let guard = std::fs::read_to_string(out.join("data/guard.yaml")).unwrap();
    let cut = guard.find("  # The live guard beside k6").expect("guard.yaml's live section");
    let live = format!(
        "  live:
    interval_s: 1
    window: 3s
    target:
      error_rate: {{ lower: 0.05, stop: 0.6 }}
      p95_ms: {{ lower: 800, stop: 3000 }}
      in_flight: {{ lower: 300, stop: 1000 }}
    observability:
      query_ms: {{ pause: 3000, stop: 10000 }}
      rule_failures: {{ pause: 0 }}
    lower_factor: 0.5
    max_lowerings: {max_lowerings}
    cooldown_s: {cooldown_s}
    on_missing_data: stop
  teardown:
    window: 3s
    interval_s: 1
    sustain_s: 3
    timeout_s: 10
    error_rate_margin: 0.02
    p95_factor: 2
    p95_margin_ms: 30
    in_flight_margin: 3
"
    );
    let text = format!("{}{live}", &guard[..cut]);
    std::fs::write(out.join("data/guard.yaml"), text).unwrap();
    out
}

/// One drill's world: its shop, traffic, environment file and state directory.
struct Drill {
    shop: k6gate_shop::Running,
    base: String,
    _traffic: Traffic,
    tmp: tempfile::TempDir,
    policies: PathBuf,
}

impl Drill {
    /// Starts drill `i`'s shop under light traffic and waits until preflight lets a run start.
    fn start(i: usize) -> Drill {
        Drill::start_with(i, "", &|d: &Path| policies(d))
    }

    /// [`Drill::start`] with more lines in the environment's `monitoring` and its own policies.
    fn start_with(i: usize, monitoring: &str, policies: &dyn Fn(&Path) -> PathBuf) -> Drill {
        let (port, prometheus, alertmanagers, grafana) = {
            let s = shared().lock().unwrap_or_else(|e| e.into_inner());
            (s.ports[i], s.stack.prometheus_url.clone(), s.stack.alertmanager_urls.clone(), s.grafana.url.clone())
        };
        let args = ["--port", &port.to_string(), "--db", ":memory:", "--latency-scale", "0.2"];
        let shop = spawn(&TargetArgs::try_from_args(args).unwrap()).unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let traffic = Traffic::start(format!("{base}/api/products"));
        let tmp = tempfile::tempdir().unwrap();
        let policies = policies(tmp.path());
        std::fs::create_dir_all(tmp.path().join("envs")).unwrap();
        let env = format!(
            "base_url: {base}
executor: ramping-vus
vus: 10
stages:
  warm_up: 2s
  ramp_up: 2s
  sustained: 12s
  ramp_down: 2s
think_time_s: 0.05
live_guard: true
monitoring:
  prometheus: {prometheus}
  alertmanagers: [{}]
  grafana: {grafana}
  target_job: guard{i}
{monitoring}",
            alertmanagers.join(", ")
        );
        std::fs::write(tmp.path().join("envs/guarded.yaml"), env).unwrap();
        let drill = Drill { shop, base, _traffic: traffic, tmp, policies };
        wait_until(Duration::from_secs(90), "preflight passes for the drill", || {
            drill.k6gate(&["preflight", "--env", "guarded"]).output().code() == Some(0)
        });
        drill
    }

    fn k6gate(&self, args: &[&str]) -> K6gate {
        K6gate::new()
            .current_dir(root())
            .env("K6_NO_USAGE_REPORT", "true")
            .arg("--state-dir")
            .arg(self.tmp.path().join("state"))
            .arg("--policies")
            .arg(&self.policies)
            .args(args)
            .arg("--environments")
            .arg(self.tmp.path().join("envs"))
    }

    /// `k6gate run` of the checkout test, on a thread; its output.
    fn run(&self) -> std::thread::JoinHandle<crate::support::cli::Ran> {
        let cli = self.k6gate(&["run", "--test", "checkout", "--env", "guarded", "--bootstrap", "--format", "json"]);
        std::thread::spawn(move || cli.output())
    }

    /// Waits until k6's traffic reaches the shop (its first login).
    fn wait_for_k6(&self) {
        let url = format!("{}/metrics", self.base);
        let client = k6gate::net::client(&k6gate::net::ClientOptions::default()).unwrap();
        wait_until(Duration::from_secs(120), "k6 reaches the shop", || {
            let text = k6gate::net::block_on(async { client.get(&url).send().await.ok()?.text().await.ok() });
            text.ok().flatten().is_some_and(|t| t.contains("route=\"POST /api/login\""))
        });
    }

    fn degrade(&self, setting: Value) {
        let url = format!("{}/admin/degrade", self.base);
        let status = crate::support::http::post(&url, &[("content-type", "application/json")], &setting.to_string());
        assert_eq!(status, 200);
    }

    fn store(&self) -> k6gate::history::Store {
        k6gate::run::open_history(&HistoryConfig::local(self.tmp.path().join("state"))).unwrap()
    }
}

fn wall_ns() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as i64
}

fn ns(rfc3339: &str) -> i64 {
    k6gate::time::parse_rfc3339_ns(rfc3339.as_bytes()).unwrap()
}

#[test]
#[ignore = "full tier: needs k6, prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn the_target_degrades_mid_test_and_the_guard_lowers_the_load_then_stops_k6_within_its_reaction_time() {
    let drill = Drill::start(0);
    let ran = drill.run();
    drill.wait_for_k6();
    // Into the ramp-up: the lowering and the stop after it fit in the 18 s even on a busy machine.
    std::thread::sleep(Duration::from_secs(3));
    // A quarter of the API requests fail from now on, as long as the load lasts: over the
    // guard's lower limit (5 %), under its stop limit (60 %).
    let flipped = wall_ns();
    drill.degrade(serde_json::json!({"error_rate": 0.25}));
    let ran = ran.join().unwrap();
    let verdict = ran.stdout_json();
    let guard = &verdict["guard"];
    let actions = guard["actions"].as_array().unwrap_or_else(|| panic!("{verdict:#}\n{}", ran.stderr()));
    let kinds: Vec<&str> = actions.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["lower", "stop"], "{guard:#}");
    let first = &actions[0];
    assert!(first["reason"].as_str().unwrap().contains("error_rate"), "{first:#}");
    assert!(first["reading"]["error_rate"].as_f64().unwrap() > 0.05, "the numbers behind it: {first:#}");
    assert!(first["vus_after"].as_u64().unwrap() < first["vus_before"].as_u64().unwrap(), "{first:#}");
    assert!(first.get("error").is_none() && actions[1].get("error").is_none(), "{guard:#}");
    // Reaction time: from the switch to k6 running fewer VUs. Nominally a scrape (1 s), the
    // errors filling enough of the 3 s window and one reading interval (1 s); the bound is
    // generous because the machine is shared with other builds.
    let reaction_s = (ns(first["at"].as_str().unwrap()) - flipped) as f64 / 1e9;
    eprintln!(
        "guard reaction: lowered {reaction_s:.1} s after the switch (guard's own part {} ms), stopped at {} s; \
         {} readings, {} queries, {} queries/s on Prometheus",
        first["took_ms"], actions[1]["t_s"], guard["readings"], guard["queries"], guard["queries_per_s"]
    );
    assert!(reaction_s > 0.0 && reaction_s < 15.0, "reaction {reaction_s} s: {guard:#}");
    assert!(guard["queries_per_s"].as_f64().unwrap() > 0.0);
    // The verdict says why, and the run is no baseline.
    let notes = verdict["notes"].to_string();
    assert!(notes.contains("the live guard stopped k6") && notes.contains("never a baseline"), "{notes}");
    let store = drill.store();
    let runs = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].outcome, Outcome::Incomplete);
    assert_eq!(runs[0].k6_exit_code, Some(103), "stopped through k6's REST API");
    // Judged on the branch the run recorded (the worktree's), the one it could be a baseline on.
    let branch = runs[0].git_branch.clone().unwrap_or_else(|| "main".into());
    assert!(
        store.baseline("checkout", "guarded", &branch).unwrap().is_none(),
        "a run the guard stopped is no baseline"
    );
    // The reports show the actions with their numbers.
    let report = std::fs::read_to_string(runs[0].run_dir.as_ref().unwrap().join("report.md")).unwrap();
    assert!(report.contains("**Load-test guard**") && report.contains("\n  lower at "), "{report}");
    // The degradation was load-induced: once k6 stopped, the shop recovered.
    let teardown = &guard["teardown"];
    assert_eq!(teardown["recovered"], true, "{teardown:#}");
    assert_eq!(ran.code(), Some(1));
    drop(drill);
}

/// Every line of a metric in a `/metrics` text, summed (`name{` or `name `).
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn get_text(url: &str) -> String {
    let client = k6gate::net::client(&k6gate::net::ClientOptions::default()).unwrap();
    k6gate::net::block_on(async { client.get(url).send().await.unwrap().text().await.unwrap() }).unwrap()
}

#[test]
#[ignore = "full tier: needs k6, prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn a_mild_degradation_is_only_lowered_through_the_proxy_and_the_archive_keeps_every_failed_request() {
    // A real `k6gate stack proxy` in front of the drills' Prometheus: the guard reads the target
    // through it (monitoring.proxy) and times Prometheus directly.
    let prometheus = shared().lock().unwrap_or_else(|e| e.into_inner()).stack.prometheus_url.clone();
    let proxy_port = free_port();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_k6gate"));
    cmd.args(["stack", "proxy", "--upstream", &prometheus, "--listen", &format!("127.0.0.1:{proxy_port}")])
        .args(["--sla", "5s", "--ttl", "1s"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let _proxy = crate::support::proc::Proc::spawn(&mut cmd, "k6gate stack proxy");
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    wait_until(Duration::from_secs(20), "the proxy answers /metrics", || {
        let client = k6gate::net::client(&k6gate::net::ClientOptions::default()).unwrap();
        k6gate::net::block_on(async { client.get(format!("{proxy}/metrics")).send().await.is_ok() }).unwrap()
    });
    // One lowering, then a cooldown longer than the test: the guard lowers and waits. The
    // drill's SLA tolerates the errors, so the verdict is the guard's: inconclusive.
    let policies = |d: &Path| {
        let out = policies_with(d, 1, 60);
        let slas = std::fs::read_to_string(out.join("data/slas.yaml")).unwrap();
        std::fs::write(out.join("data/slas.yaml"), slas.replace("error_rate: 0.01", "error_rate: 0.5")).unwrap();
        out
    };
    let drill = Drill::start_with(3, &format!("  proxy: {proxy}\n"), &policies);
    let proxied_before = metric_sum(&get_text(&format!("{proxy}/metrics")), "k6gate_proxy_requests_total");
    let ran = drill.run();
    drill.wait_for_k6();
    std::thread::sleep(Duration::from_secs(3));
    // Mild: a tenth of the API requests fail while the load lasts (over the 5 % that lowers,
    // far under the 60 % that stops).
    let flipped = wall_ns();
    drill.degrade(serde_json::json!({"error_rate": 0.1}));
    let ran = ran.join().unwrap();
    let verdict = ran.stdout_json();
    let guard = &verdict["guard"];
    let actions = guard["actions"].as_array().unwrap_or_else(|| panic!("{verdict:#}\n{}", ran.stderr()));
    let kinds: Vec<&str> = actions.iter().map(|a| a["action"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["lower"], "lowered, never stopped: {guard:#}");
    let lower = &actions[0];
    assert!(lower["reason"].as_str().unwrap().contains("error_rate"), "{lower:#}");
    assert!(lower["vus_after"].as_u64().unwrap() < lower["vus_before"].as_u64().unwrap(), "{lower:#}");
    let reaction_s = (ns(lower["at"].as_str().unwrap()) - flipped) as f64 / 1e9;
    eprintln!(
        "lowered-only drill: lowered {reaction_s:.1} s after the switch (guard's own part {} ms); {} readings, \
         {} queries/s",
        lower["took_ms"], guard["readings"], guard["queries_per_s"]
    );
    assert!(reaction_s > 0.0 && reaction_s < 15.0, "reaction {reaction_s} s: {guard:#}");
    assert_eq!(verdict["outcome"], "inconclusive", "{verdict:#}\n{}", ran.stderr());
    assert_eq!(ran.code(), Some(2), "inconclusive: nothing decided, not a gate failure: {}", ran.stderr());
    let notes = verdict["notes"].to_string();
    assert!(notes.contains("the live guard changed the load"), "{notes}");
    assert!(guard["teardown"]["recovered"] == true, "{:#}", guard["teardown"]);

    // The guard's reads went through the proxy; its query latency is Prometheus' own.
    let proxied = metric_sum(&get_text(&format!("{proxy}/metrics")), "k6gate_proxy_requests_total") - proxied_before;
    let readings = guard["readings"].as_f64().unwrap();
    assert!(proxied >= 3.0 * readings, "{proxied} proxied requests for {readings} readings of 3 target queries");

    // The run directory keeps every failed request and about a tenth of the others; the
    // summary was built from all of them (k6's own count agrees).
    let store = drill.store();
    let runs = store.list_runs(&RunFilter::default()).unwrap();
    assert_eq!(runs[0].outcome, Outcome::Inconclusive);
    let dir = runs[0].run_dir.clone().unwrap();
    let record: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("k6-sampling.json")).unwrap()).unwrap();
    let summary: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("run-summary.json")).unwrap()).unwrap();
    let export: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("k6-summary-export.json")).unwrap()).unwrap();
    let total = &summary["whole_run"]["total"];
    let k6_count = export["metrics"]["http_reqs"]["count"].as_u64().unwrap();
    assert_eq!(total["requests"].as_u64(), Some(k6_count), "the summary counts every request");
    assert_eq!(record["requests"].as_u64(), Some(k6_count), "{record:#}");
    assert_eq!(record["failed"], total["failed"], "{record:#}");
    assert!(total["failed"].as_u64().unwrap() > 0, "the run had failures: {total:#}");
    assert_eq!(record["keep_share"], 0.1);
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::MultiGzDecoder::new(std::fs::File::open(dir.join("k6.json.gz")).unwrap()),
        &mut text,
    )
    .unwrap();
    let points: Vec<Value> = text
        .lines()
        .filter(|l| l.contains("\"http_req_duration\"") && l.contains("\"Point\""))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let failed_kept = points.iter().filter(|p| p["data"]["tags"]["expected_response"] == "false").count() as u64;
    let ok_kept = points.len() as u64 - failed_kept;
    let ok_all = k6_count - total["failed"].as_u64().unwrap();
    assert_eq!(Some(failed_kept), total["failed"].as_u64(), "every failed request is in the archive");
    assert_eq!(record["kept"].as_u64(), Some(points.len() as u64));
    let share = ok_kept as f64 / ok_all as f64;
    eprintln!("archive: {failed_kept} failed + {ok_kept} of {ok_all} others kept ({:.1} %)", share * 100.0);
    assert!(ok_all >= 200 && (0.03..0.2).contains(&share), "{ok_kept} of {ok_all}");
    drop(drill);
}

#[test]
#[ignore = "full tier: needs k6, prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn a_target_that_stays_degraded_after_the_test_fails_the_run_with_the_evidence() {
    let drill = Drill::start(1);
    let ran = drill.run();
    drill.wait_for_k6();
    std::thread::sleep(Duration::from_secs(3));
    // Slower by 150 ms, for good: under the guard's P95 limit (800 ms), over the baseline.
    drill.degrade(serde_json::json!({"slow_ms": 150, "sticky": true}));
    let ran = ran.join().unwrap();
    let verdict = ran.stdout_json();
    let guard = &verdict["guard"];
    assert_eq!(guard["actions"].as_array().map(Vec::len), Some(0), "{guard:#}");
    let t = &guard["teardown"];
    assert_eq!(t["recovered"], false, "{t:#}");
    let summary = t["summary"].as_str().unwrap();
    assert!(summary.starts_with("residual impact: not back within the pre-test baseline"), "{summary}");
    let samples = t["samples"].as_array().unwrap();
    let limit = t["max_p95_ms"].as_f64().unwrap();
    assert!(samples.len() >= 5, "readings over the 10 s: {t:#}");
    assert!(samples.iter().all(|s| s["within"] == false), "{t:#}");
    assert!(samples.last().unwrap()["p95_ms"].as_f64().unwrap() > limit.max(150.0), "{t:#}");
    eprintln!("teardown evidence: {summary}");
    assert_eq!(verdict["outcome"], "fail");
    assert!(verdict["headline"].as_str().unwrap().starts_with("FAIL: residual impact after the test"));
    assert_eq!(ran.code(), Some(1));
    let runs = drill.store().list_runs(&RunFilter::default()).unwrap();
    assert_eq!(runs[0].outcome, Outcome::Fail);
    assert!(runs[0].problem.as_deref().unwrap_or("").starts_with("teardown: residual impact"), "{:?}", runs[0].problem);
    let html = std::fs::read_to_string(runs[0].run_dir.as_ref().unwrap().join("report.html")).unwrap();
    assert!(html.contains("<p class=\"teardown\">Teardown: residual impact"), "the HTML report has the evidence");
    assert!(html.matches("<tr><td>+").count() >= 5, "one row per reading");
}

#[test]
#[ignore = "full tier: needs k6, prometheus and prometheus-alertmanager (scripts/install-alertmanager.sh)"]
fn a_healthy_guarded_run_recovers_with_no_action_and_can_be_a_baseline() {
    let drill = Drill::start(2);
    let started = Instant::now();
    let ran = drill.run().join().unwrap();
    let verdict = ran.stdout_json();
    let guard = &verdict["guard"];
    assert_eq!(guard["actions"].as_array().map(Vec::len), Some(0), "{guard:#}\n{}", ran.stderr());
    assert_eq!(guard["scalable"], true);
    assert!(guard["readings"].as_u64().unwrap() >= 8, "a reading a second over 18 s: {guard:#}");
    let t = &guard["teardown"];
    assert_eq!(t["recovered"], true, "{t:#}");
    let summary = t["summary"].as_str().unwrap();
    assert!(summary.starts_with("recovered in "), "{summary}");
    eprintln!(
        "healthy guarded run: {summary}; {} queries/s on Prometheus; whole run {:?}",
        guard["queries_per_s"],
        started.elapsed()
    );
    // The guard drove k6 along the stages without a refusal.
    assert!(guard.get("problems").is_none(), "{guard:#}");
    let k6log = std::fs::read_dir(drill.tmp.path().join("state/runs")).unwrap().next().unwrap().unwrap().path();
    let log = std::fs::read_to_string(k6log.join("k6.log")).unwrap_or_default();
    assert!(!log.contains("level=error"), "{log}");
    let runs = drill.store().list_runs(&RunFilter::default()).unwrap();
    assert!(matches!(runs[0].outcome, Outcome::Pass | Outcome::Warn), "{:?}: {}", runs[0], ran.stderr());
    let branch = runs[0].git_branch.clone().unwrap_or_else(|| "main".into());
    assert!(drill.store().baseline("checkout", "guarded", &branch).unwrap().is_some(), "{:?}", runs[0]);
    drop(drill.shop);
}

#[test]
fn with_the_live_guard_the_script_runs_an_externally_controlled_scenario_along_the_same_stages() {
    let dir = tempfile::tempdir().unwrap();
    let dev = std::fs::read_to_string(root().join("environments/dev.yaml")).unwrap();
    let monitoring = "monitoring:\n  prometheus: http://127.0.0.1:9090\n  alertmanagers: [http://127.0.0.1:9093]\n  grafana: http://127.0.0.1:3000\n  target_job: shop\n";
    std::fs::write(dir.path().join("watched.yaml"), format!("{dev}{monitoring}")).unwrap();
    std::fs::write(dir.path().join("dev.yaml"), &dev).unwrap();
    let vars = std::collections::BTreeMap::new();
    let load = |env: &str, sets: &[String]| k6gate::render::load_environment(dir.path(), env, &vars, sets);
    let on = ["live_guard=true".to_string()];
    // The guard reads the target through the environment's Prometheus: no monitoring, no guard.
    let e = load("dev", &on).unwrap_err().to_string();
    assert!(e.contains("live_guard: the live guard reads the target through monitoring.prometheus"), "{e}");
    let (guarded, _) = load("watched", &on).unwrap();
    let (scenario, plan) = k6gate::render::scenario(&guarded);
    assert_eq!(
        scenario,
        serde_json::json!({"executor": "externally-controlled", "vus": 1, "maxVUs": 5, "duration": "30000ms"})
    );
    assert_eq!(plan.last().unwrap().end_ms, 30_000, "the same stages tag the samples");
    let ramp = k6gate::render::guard_ramp(&guarded).unwrap();
    let points: Vec<(u64, u32)> = ramp.iter().map(|p| (p.at_ms, p.target)).collect();
    assert_eq!(points, [(0, 0), (3000, 1), (7000, 5), (27_000, 5), (30_000, 0)]);
    // Without it, nothing changes (the render snapshots hold the script byte for byte).
    let (plain, _) = load("watched", &[]).unwrap();
    assert_eq!(k6gate::render::scenario(&plain).0["executor"], "ramping-vus");
    assert!(k6gate::render::guard_ramp(&plain).is_none());
    assert!(!serde_json::to_string(&plain).unwrap().contains("live_guard"));
}

/// The guard against a k6 API fake and a Prometheus that does not answer (killed, or never
/// there): every target reading is missing, and the policy decides.
fn guard_without_prometheus(
    on_missing_data: &str,
    watch_for: Duration,
) -> (k6gate::policy::guarded::GuardRecord, MockHttp) {
    let k6 = MockHttp::start();
    k6.mount(
        Mock::given(method("GET"))
            .and(path("/v1/status"))
            .respond_with(ResponseTemplate::new(200).set_body_json(status_body(1, false))),
    );
    k6.mount(
        Mock::given(method("PATCH"))
            .and(path("/v1/status"))
            .and(header("content-type", "application/json"))
            .respond_with(ResponseTemplate::new(200).set_body_json(status_body(1, false))),
    );
    let mut rules = k6gate::guard::Rules::load(&root().join("policies")).unwrap();
    let (mut live, source) = rules.config.live.clone().unwrap();
    live.interval_s = 0.3;
    // Missing readings count once the test is a window old.
    live.window = "1s".into();
    live.on_missing_data = on_missing_data.into();
    rules.config.live = Some((live.clone(), source.clone()));
    let monitoring = k6gate::render::Monitoring {
        prometheus: "http://127.0.0.1:9".into(),
        alertmanagers: vec![],
        grafana: String::new(),
        target_job: "shop".into(),
        proxy: None,
        keep_share: k6gate::samples::KeepShare::DEFAULT,
    };
    let probe = k6gate::guard::live::Probe::new(
        &monitoring,
        "http_server_requests_total",
        "http_server_request_duration_seconds",
        &live.in_flight_metric,
    )
    .unwrap();
    let ramp =
        vec![k6gate::render::RampPoint { at_ms: 0, target: 0 }, k6gate::render::RampPoint { at_ms: 10_000, target: 4 }];
    let wall = || 0i64;
    let setup = k6gate::guard::live::Setup {
        rules: &rules,
        live: &live,
        source: &source,
        probe,
        ramp: Some(ramp),
        wall_ns: &wall,
        alerting: None,
    };
    let api = K6Api::new(k6.uri().trim_start_matches("http://")).unwrap();
    let done = AtomicBool::new(false);
    let record = std::thread::scope(|s| {
        let guard = s.spawn(|| k6gate::guard::live::watch(&setup, &api, &done));
        std::thread::sleep(watch_for);
        done.store(true, Ordering::SeqCst);
        guard.join().unwrap()
    });
    (record, k6)
}

#[test]
fn without_prometheus_the_guard_stops_k6_unless_the_policy_says_continue() {
    let (record, k6) = guard_without_prometheus("stop", Duration::from_secs(3));
    let kinds: Vec<&str> = record.actions.iter().map(|a| a.action.as_str()).collect();
    assert_eq!(kinds, ["stop"], "{record:#?}");
    let stop = &record.actions[0];
    assert!(stop.reason.contains("error_rate missing (asks to stop)"), "{}", stop.reason);
    assert!(stop.error.is_none() && stop.reading.error_rate.is_none(), "{stop:#?}");
    let patches: Vec<Value> = k6
        .received()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .map(|r| r.body["data"]["attributes"].clone())
        .collect();
    assert_eq!(patches.first(), Some(&serde_json::json!({"vus": 1})), "the guard drives the plan from its start");
    assert_eq!(patches.last(), Some(&serde_json::json!({"stopped": true})), "{patches:?}");
    assert_eq!(record.stopped().map(|a| a.action.as_str()), Some("stop"));

    // `continue`: the run goes on blind, the guard only keeps driving the VUs.
    let (record, k6) = guard_without_prometheus("continue", Duration::from_millis(1500));
    assert!(record.actions.is_empty(), "{record:#?}");
    assert!(record.readings >= 2, "{record:#?}");
    assert!(k6.received().iter().all(|r| r.body["data"]["attributes"].get("stopped").is_none()));
}
