//! Full tier: `k6gate canary` against real parts. Two demo shops (stable and canary, one
//! database between them, as in production), haproxy from Debian in front weighted like a
//! staged rollout, k6 at a modest open-model rate through it, and a real Prometheus scraping
//! both shops' `/metrics` every second. Each test runs a short analysis (40 s in 5 s looks)
//! and checks the decision and the exit code (one of them through `k6gate canary serve`, the
//! rollout controllers' endpoint). One test at a time (libtest-mimic, one thread):
//! they share the machine's two cores and time the service.
//!
//! Needs `haproxy` (scripts/install-haproxy.sh), `prometheus` (scripts/install-prometheus.sh)
//! and `k6` (scripts/install-k6.sh) on PATH.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libtest_mimic::{Arguments, Trial};
use serde_json::Value;

#[path = "support/proc.rs"]
mod proc;

use proc::Proc;

const ANALYSIS: [&str; 6] = ["--duration", "40s", "--interval", "5s", "--delay", "2s"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("k6gate-canary-tests-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn wait_for(url: &str, what: &str) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(60) {
        if let Ok(out) = Command::new("curl").args(["-sf", "-o", "/dev/null", url]).status() {
            if out.success() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("{what} did not answer {url} within 60 s");
}

/// Prometheus scraping both shops every second, its data in `dir`.
fn prometheus(dir: &Path, stable: u16, canary: u16) -> (Proc, String) {
    std::fs::create_dir_all(dir).unwrap();
    let port = free_port();
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: shop\n    \
             static_configs:\n      - targets: ['127.0.0.1:{stable}', '127.0.0.1:{canary}']\n"
        ),
    )
    .unwrap();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let p = Proc::spawn(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(log.try_clone().unwrap())
            .stderr(log),
        "prometheus",
    );
    let url = format!("http://127.0.0.1:{port}");
    wait_for(&format!("{url}/-/ready"), "Prometheus");
    (p, url)
}

/// What every test shares: the stable shop and its database, the canary's port, Prometheus.
struct Env {
    dir: PathBuf,
    db: PathBuf,
    stable: u16,
    canary: u16,
    prometheus: String,
    _stable_shop: Proc,
    _prometheus: Proc,
}

/// `k6gate target` as a child on `port`.
fn shop(port: u16, db: &Path, extra: &[&str]) -> Proc {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k6gate"));
    cmd.arg("target").arg("--port").arg(port.to_string()).arg("--db").arg(db).args(extra);
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut p = Proc::spawn(&mut cmd, "the demo shop");
    let mut line = String::new();
    BufReader::new(p.child().stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert!(line.starts_with("listening on"), "demo shop said {line:?}");
    p
}

static ENV: OnceLock<std::sync::Mutex<Env>> = OnceLock::new();

fn env() -> std::sync::MutexGuard<'static, Env> {
    ENV.get_or_init(|| {
        let dir = scratch();
        let db = dir.join("shop.sqlite");
        let _ = std::fs::remove_file(&db);
        let (stable, canary) = (free_port(), free_port());
        let stable_shop = shop(stable, &db, &["--seed", "1"]);
        let (prom, url) = prometheus(&dir.join("prometheus"), stable, canary);
        std::sync::Mutex::new(Env {
            dir,
            db,
            stable,
            canary,
            prometheus: url,
            _stable_shop: stable_shop,
            _prometheus: prom,
        })
    })
    .lock()
    .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// haproxy in front of both shops: `stable` and `canary` are weights (0-256); `stable_servers`
/// lines for the stable shop, to reach shares below 1/256.
fn haproxy(env: &Env, stable_servers: usize, stable: u32, canary: u32) -> (Proc, u16) {
    let port = free_port();
    let mut servers = String::new();
    for i in 0..stable_servers {
        servers.push_str(&format!("    server stable{i} 127.0.0.1:{} weight {stable}\n", env.stable));
    }
    servers.push_str(&format!("    server canary 127.0.0.1:{} weight {canary}\n", env.canary));
    let cfg = format!(
        "global\n    maxconn 512\ndefaults\n    mode http\n    timeout connect 2s\n    timeout client 10s\n    \
         timeout server 10s\nfrontend fe\n    bind 127.0.0.1:{port}\n    default_backend app\nbackend app\n    \
         balance roundrobin\n{servers}"
    );
    let path = env.dir.join("haproxy.cfg");
    std::fs::write(&path, cfg).unwrap();
    let p = Proc::spawn(Command::new("haproxy").arg("-db").arg("-f").arg(&path).stdout(Stdio::null()), "haproxy");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(started.elapsed() < Duration::from_secs(10), "haproxy did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (p, port)
}

fn k6(env: &Env, port: u16, seconds: u64) -> Proc {
    let log = std::fs::File::create(env.dir.join("k6.log")).unwrap();
    Proc::spawn(
        Command::new("k6")
            .args(["run", "--quiet", "--no-usage-report", "--address", ""])
            .arg(root().join("tests/canary/shop-mix.js"))
            .env("K6_NO_USAGE_REPORT", "true")
            .env("BASE_URL", format!("http://127.0.0.1:{port}"))
            .env("RATE", "60")
            .env("DURATION", format!("{seconds}s"))
            .stdout(log.try_clone().unwrap())
            .stderr(log),
        "k6",
    )
}

struct Outcome {
    code: i32,
    report: Value,
    stderr: String,
    seconds: f64,
}

/// One analysis: the canary shop with `canary_args`, haproxy with the weights, k6 through it,
/// 5 s of traffic before `k6gate canary` starts. `during` runs once the analysis started, with the environment.
fn analysis(
    canary_args: &[&str],
    weights: (usize, u32, u32),
    prometheus: Option<&str>,
    during: impl FnOnce(&Env),
) -> Outcome {
    let env = env();
    let mut args = vec!["--seed", "2"];
    args.extend_from_slice(canary_args);
    let _canary = shop(env.canary, &env.db, &args);
    let (_lb, port) = haproxy(&env, weights.0, weights.1, weights.2);
    let _k6 = k6(&env, port, 75);
    std::thread::sleep(Duration::from_secs(5));
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_k6gate"))
        .arg("--policies")
        .arg(root().join("policies"))
        .args(["canary", "--format", "json", "--prometheus", prometheus.unwrap_or(&env.prometheus)])
        .arg("--canary-selector")
        .arg(format!("instance=\"127.0.0.1:{}\"", env.canary))
        .arg("--stable-selector")
        .arg(format!("instance=\"127.0.0.1:{}\"", env.stable))
        .args(ANALYSIS)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start k6gate canary");
    during(&env);
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let stderr = String::from_utf8_lossy(&stderr).into_owned();
    let stdout = String::from_utf8_lossy(&stdout).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    let code = status.code().unwrap_or(-1);
    eprintln!("exit {code} after {seconds:.1} s\n{stderr}");
    let _ = std::io::stderr().flush();
    Outcome { code, report, stderr, seconds }
}

fn reasons(o: &Outcome) -> String {
    o.report["outcome"]["reasons"].to_string()
}

/// An instant query with curl (the test checks k6gate, so it does not use k6gate's client).
fn query(prometheus: &str, promql: &str, at: u64) -> Vec<Value> {
    let out = Command::new("curl")
        .args(["-sfG", &format!("{prometheus}/api/v1/query"), "--data-urlencode"])
        .arg(format!("query={promql}"))
        .args(["--data-urlencode", &format!("time={at}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{promql}: {}", String::from_utf8_lossy(&out.stderr));
    let body: Value = serde_json::from_slice(&out.stdout).unwrap();
    body["data"]["result"].as_array().cloned().unwrap_or_default()
}

/// The quantiles k6gate reads from a window's buckets are Prometheus's own
/// `histogram_quantile` of the same buckets.
fn quantiles_match_histogram_quantile(env: &Env) {
    let at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3;
    let buckets = format!(
        "sum by (le) (increase(http_server_request_duration_seconds_bucket{{instance=\"127.0.0.1:{}\",\
         route=\"POST /api/checkout\",status_class!=\"5xx\"}}[5s]))",
        env.stable
    );
    let value = |v: &Value| v["value"][1].as_str().unwrap().parse::<f64>().unwrap();
    let b: Vec<(f64, f64)> = query(&env.prometheus, &buckets, at)
        .iter()
        .map(|r| {
            let le = r["metric"]["le"].as_str().unwrap();
            (if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap() }, value(r))
        })
        .collect();
    assert!(b.len() > 10, "{b:?}");
    for q in [0.5, 0.95] {
        let theirs = value(&query(&env.prometheus, &format!("histogram_quantile({q}, {buckets})"), at)[0]);
        let ours = k6gate::stats::buckets::quantile(q, &b).unwrap();
        assert!((ours - theirs).abs() <= 1e-9 * theirs, "q {q}: ours {ours}, histogram_quantile {theirs}");
    }
}

fn a_healthy_canary_promotes() {
    let o = analysis(&[], (1, 95, 5), None, |env| {
        std::thread::sleep(Duration::from_secs(10));
        quantiles_match_histogram_quantile(env);
    });
    assert_eq!(o.code, 0, "{}\n{}", reasons(&o), o.stderr);
    assert_eq!(o.report["outcome"]["decision"], "promote");
    assert_eq!(o.report["looks"].as_array().unwrap().len(), 8, "a promote only after every look");
    assert!(o.report["canary"]["requests"].as_f64().unwrap() >= 100.0);
}

fn a_canary_with_slower_checkout_rolls_back() {
    let o = analysis(&["--regression", "0.3"], (1, 95, 5), None, |_| {});
    assert_eq!(o.code, 1, "{}\n{}", reasons(&o), o.stderr);
    assert_eq!(o.report["outcome"]["decision"], "rollback");
    assert!(reasons(&o).contains("POST /api/checkout"), "{}", reasons(&o));
    eprintln!("DETECTION checkout +30 %: {:.1} s, {} looks", o.seconds, o.report["looks"].as_array().unwrap().len());
}

fn a_canary_with_two_percent_errors_rolls_back() {
    let o = analysis(&["--fault-rate", "0.02"], (1, 95, 5), None, |_| {});
    assert_eq!(o.code, 1, "{}\n{}", reasons(&o), o.stderr);
    assert!(reasons(&o).contains("error_rate"), "{}", reasons(&o));
    eprintln!("DETECTION 2 % errors: {:.1} s, {} looks", o.seconds, o.report["looks"].as_array().unwrap().len());
}

fn a_canary_with_a_trickle_of_traffic_is_inconclusive() {
    // Four stable servers at 250 and the canary at 1: 1/1001, about 0.1 %.
    let o = analysis(&[], (4, 250, 1), None, |_| {});
    assert_eq!(o.code, 2, "{}\n{}", reasons(&o), o.stderr);
    assert_eq!(o.report["outcome"]["decision"], "inconclusive");
    assert!(reasons(&o).contains("canary served"), "{}", reasons(&o));
}

fn prometheus_down_mid_analysis_is_an_error() {
    let (stable, canary, dir) = {
        let e = env();
        (e.stable, e.canary, e.dir.join("prometheus-killed"))
    };
    let _ = std::fs::remove_dir_all(&dir);
    let (mut prom, url) = prometheus(&dir, stable, canary);
    let o = analysis(&[], (1, 95, 5), Some(&url), |_| {
        std::thread::sleep(Duration::from_secs(15));
        prom.stop();
    });
    assert_eq!(o.code, 2, "{}", o.stderr);
    assert_eq!(o.report, Value::Null, "no report, no decision");
    assert!(o.stderr.contains("Prometheus"), "{}", o.stderr);
    assert!(o.seconds < 40.0, "the error ends the analysis at the next look ({:.1} s)", o.seconds);
}

/// `curl` an endpoint of `k6gate canary serve`: (status, JSON body).
fn call(method: &str, url: &str, body: &str) -> (u16, Value) {
    let out = Command::new("curl")
        .args(["-s", "-X", method, "-H", "Content-Type: application/json", "--data", body])
        .args(["-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (json, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (status.trim().parse().unwrap_or(0), serde_json::from_str(json).unwrap_or(Value::Null))
}

/// Argo Rollouts' view: `k6gate canary serve` with the canary selector's port as `{id}`,
/// polled with GET like the web metric provider, answers running until the slow canary is
/// rolled back; Flagger's confirm-promotion then says no, its rollback hook yes.
fn the_argo_endpoint_answers_running_then_rollback() {
    let env = env();
    let _canary = shop(env.canary, &env.db, &["--seed", "2", "--regression", "0.3"]);
    let (_lb, port) = haproxy(&env, 1, 95, 5);
    let _k6 = k6(&env, port, 75);
    std::thread::sleep(Duration::from_secs(5));
    let listen = free_port();
    let log = std::fs::File::create(env.dir.join("serve.log")).unwrap();
    let _serve = Proc::spawn(
        Command::new(env!("CARGO_BIN_EXE_k6gate"))
            .arg("--policies")
            .arg(root().join("policies"))
            .args(["canary", "serve", "--listen", &format!("127.0.0.1:{listen}"), "--prometheus", &env.prometheus])
            .args(["--canary-selector", "instance=\"127.0.0.1:{id}\""])
            .arg("--stable-selector")
            .arg(format!("instance=\"127.0.0.1:{}\"", env.stable))
            .args(ANALYSIS)
            .stdout(log.try_clone().unwrap())
            .stderr(log),
        "k6gate canary serve",
    );
    let base = format!("http://127.0.0.1:{listen}");
    wait_for(&format!("{base}/healthz"), "k6gate canary serve");
    let url = format!("{base}/v1/canary/{}", env.canary);
    let started = Instant::now();
    let (status, first) = call("GET", &url, "");
    assert_eq!((status, first["decision"].as_str()), (200, Some("running")), "{first}");
    let (status, done) = loop {
        std::thread::sleep(Duration::from_secs(2));
        let (status, body) = call("GET", &url, "");
        if body["decision"] != "running" {
            break (status, body);
        }
        assert_eq!(status, 200, "{body}");
        assert!(started.elapsed() < Duration::from_secs(90), "still running after 90 s: {body}");
    };
    eprintln!("DETECTION over the endpoint: {:.1} s, {}", started.elapsed().as_secs_f64(), done["reasons"]);
    assert_eq!(
        (status, done["decision"].as_str(), &done["exit_code"]),
        (200, Some("rollback"), &Value::from(1)),
        "{done}"
    );
    assert!(done["reasons"].to_string().contains("POST /api/checkout"), "{done}");
    // The same analysis through Flagger's webhooks (metadata.id names it).
    let payload = format!(
        r#"{{"name":"shop","namespace":"prod","phase":"Progressing","checksum":"x","metadata":{{"id":"{}"}}}}"#,
        env.canary
    );
    assert_eq!(call("POST", &format!("{base}/v1/flagger/confirm-promotion"), &payload).0, 409);
    assert_eq!(call("POST", &format!("{base}/v1/flagger/rollback"), &payload).0, 200);
}

fn full(name: &'static str, test: fn()) -> Trial {
    Trial::test(name, move || std::panic::catch_unwind(test).map_err(|_| format!("{name} panicked").into()))
        .with_ignored_flag(true)
        .with_kind("haproxy, prometheus, k6")
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    let trials = vec![
        full("a_healthy_canary_promotes", a_healthy_canary_promotes),
        full("a_canary_with_slower_checkout_rolls_back", a_canary_with_slower_checkout_rolls_back),
        full("a_canary_with_two_percent_errors_rolls_back", a_canary_with_two_percent_errors_rolls_back),
        full("a_canary_with_a_trickle_of_traffic_is_inconclusive", a_canary_with_a_trickle_of_traffic_is_inconclusive),
        full("prometheus_down_mid_analysis_is_an_error", prometheus_down_mid_analysis_is_an_error),
        full("the_argo_endpoint_answers_running_then_rollback", the_argo_endpoint_answers_running_then_rollback),
    ];
    libtest_mimic::run(&args, trials).exit();
}
