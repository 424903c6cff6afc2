//! `k6gate stack proxy`, the query cache with a circuit breaker in front of Prometheus.
//!
//! Fast tier: the proxy in process (the library's `serve`) in front of a wiremock upstream
//! that counts its requests and answers as slowly or as badly as a test needs: coalescing,
//! step-aligned hits, the breaker opening on slow and failing answers, stale answers marked in
//! the header and the body, 503s in Prometheus' shape, refused writes.
//!
//! Full tier (`prometheus` on PATH): the `k6gate stack proxy` binary in front of a real
//! Prometheus 2.42: answers equal to direct queries; identical concurrent queries reach
//! Prometheus once (its own `prometheus_http_requests_total`); the drill: Prometheus killed,
//! stale answers and clean 503s, then restarted on the same port and data directory, and the
//! breaker half-opens and closes.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use k6gate::stack::proxy::{Proxy, ProxyConfig, serve};
use serde_json::Value;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::support::proc::Proc;
use crate::support::stack::free_port;

/// One answer of the proxy (or of Prometheus).
#[derive(Debug)]
struct Answer {
    status: u16,
    /// `X-K6gate-Cache`.
    cache: Option<String>,
    /// `X-K6gate-Stale`.
    stale: Option<String>,
    body: Value,
}

fn client() -> reqwest::Client {
    k6gate::net::client(&k6gate::net::ClientOptions::default()).expect("HTTP client")
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_string)
}

/// `GET base+path?params`, or a POST with them as a form body (as Grafana sends them).
async fn ask(base: &str, path: &str, params: &[(&str, &str)], post: bool) -> Answer {
    let form = serde_urlencoded::to_string(params).unwrap();
    let c = client();
    let req = if post {
        c.post(format!("{base}{path}")).header("content-type", "application/x-www-form-urlencoded").body(form)
    } else {
        c.get(format!("{base}{path}?{form}"))
    };
    let r = req.send().await.unwrap_or_else(|e| panic!("{path}: {e}"));
    let (status, cache, stale) = (r.status().as_u16(), header(&r, "x-k6gate-cache"), header(&r, "x-k6gate-stale"));
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}: {text}"));
    Answer { status, cache, stale, body }
}

async fn text(url: &str) -> String {
    client().get(url).send().await.unwrap().text().await.unwrap()
}

/// The value of the sample `series` (name and labels as written) in a text exposition.
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{exposition}"))
}

fn served(exposition: &str, how: &str) -> f64 {
    sample(exposition, &format!("k6gate_proxy_requests_total{{served=\"{how}\"}}"))
}

fn transitions(exposition: &str, from: &str, to: &str) -> f64 {
    sample(exposition, &format!("k6gate_proxy_breaker_transitions_total{{from=\"{from}\",to=\"{to}\"}}"))
}

/// The proxy in process, in front of `upstream`; its base URL.
async fn start_proxy(config: ProxyConfig) -> String {
    let proxy = Proxy::new(config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, proxy, std::future::pending()));
    url
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

const VECTOR: &str =
    r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"job":"a"},"value":[1700000000,"1"]}]}}"#;
const MATRIX: &str = r#"{"status":"success","data":{"resultType":"matrix","result":[]}}"#;

fn ok(body: &str, delay: Duration) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(body.to_string(), "application/json").set_delay(delay)
}

async fn upstream_requests(server: &MockServer) -> usize {
    server.received_requests().await.map_or(0, |r| r.len())
}

#[test]
fn identical_concurrent_queries_reach_the_upstream_once() {
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        // Slow enough that every request below arrives while the first is in flight.
        Mock::given(path("/api/v1/query")).respond_with(ok(VECTOR, Duration::from_millis(800))).mount(&upstream).await;
        let proxy = start_proxy(ProxyConfig { sla: Duration::from_secs(5), ..ProxyConfig::new(&upstream.uri()) }).await;
        let asks = (0..16).map(|i| {
            let proxy = proxy.clone();
            // Half GET, half POST, parameters in either order: one query.
            let params: &[(&str, &str)] = if i % 2 == 0 {
                &[("query", "up"), ("time", "1700000000")]
            } else {
                &[("time", "1700000000"), ("query", "up")]
            };
            async move { ask(&proxy, "/api/v1/query", params, i % 3 == 0).await }
        });
        let answers = futures::future::join_all(asks).await;
        assert_eq!(upstream_requests(&upstream).await, 1, "one upstream call for 16 identical queries");
        for a in &answers {
            assert_eq!(a.status, 200);
            assert_eq!(a.body, serde_json::from_str::<Value>(VECTOR).unwrap());
        }
        let m = text(&format!("{proxy}/metrics")).await;
        assert_eq!(served(&m, "miss"), 1.0, "{m}");
        // All 15 others waited on the one call, unless the machine was so busy that some
        // arrived after its 800 ms answer (then they hit the cache): never a second call.
        assert!(served(&m, "coalesced") >= 1.0, "{m}");
        assert_eq!(served(&m, "coalesced") + served(&m, "hit"), 15.0, "{m}");
        // Now fresh in the cache: a hit.
        assert_eq!(
            ask(&proxy, "/api/v1/query", &[("query", "up"), ("time", "1700000000")], false).await.cache.as_deref(),
            Some("hit")
        );
        assert_eq!(upstream_requests(&upstream).await, 1);
    });
}

#[test]
fn a_dashboards_moving_window_hits_the_step_aligned_cache() {
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        Mock::given(path("/api/v1/query_range")).respond_with(ok(MATRIX, Duration::ZERO)).mount(&upstream).await;
        let proxy = start_proxy(ProxyConfig::new(&upstream.uri())).await;
        // A 1 h window refreshed every 5 s with a 15 s step: four refreshes over two steps.
        let mut caches = Vec::new();
        for now in [1_700_000_005, 1_700_000_010, 1_700_000_015, 1_700_000_020] {
            let (start, end) = ((now - 3600).to_string(), now.to_string());
            let a = ask(
                &proxy,
                "/api/v1/query_range",
                &[("query", "up"), ("start", &start), ("end", &end), ("step", "15")],
                true,
            )
            .await;
            assert_eq!(a.status, 200);
            caches.push(a.cache.unwrap());
        }
        // 1700000010 is a multiple of 15: the first refresh is still in the step before it.
        assert_eq!(caches, ["miss", "miss", "hit", "hit"]);
        let seen = upstream.received_requests().await.unwrap();
        let forms: Vec<String> = seen.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
        // Prometheus was asked for windows on multiples of the step, by POST.
        assert_eq!(
            forms,
            ["end=1699999995&query=up&start=1699996395&step=15", "end=1700000010&query=up&start=1699996410&step=15"]
        );
        assert!(seen.iter().all(|r| r.method.as_str() == "POST"));
    });
}

#[test]
fn the_breaker_opens_on_slow_or_failing_answers_serves_stale_then_closes() {
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        Mock::given(path("/api/v1/query")).respond_with(ok(VECTOR, Duration::ZERO)).mount(&upstream).await;
        let config = ProxyConfig {
            ttl: Duration::from_millis(200),
            // Generous against a busy machine: a local answer never takes 1 s, the slow one
            // takes 1.5 s, and nothing below waits 3 s before the probe.
            sla: Duration::from_secs(1),
            failures_to_open: 2,
            cool_down: Duration::from_secs(3),
            upstream_timeout: Duration::from_secs(5),
            ..ProxyConfig::new(&upstream.uri())
        };
        let proxy = start_proxy(config).await;
        let known: &[(&str, &str)] = &[("query", "up")];
        assert_eq!(ask(&proxy, "/api/v1/query", known, false).await.cache.as_deref(), Some("miss"));
        tokio::time::sleep(Duration::from_millis(300)).await; // past the TTL

        // Slower than the SLA, then failing: two bad calls open the breaker.
        upstream.reset().await;
        Mock::given(path("/api/v1/query"))
            .respond_with(ok(VECTOR, Duration::from_millis(1500)))
            .up_to_n_times(1)
            .mount(&upstream)
            .await;
        Mock::given(path("/api/v1/query"))
            .respond_with(ResponseTemplate::new(503).set_body_string("overloaded"))
            .mount(&upstream)
            .await;
        let slow = ask(&proxy, "/api/v1/query", &[("query", "slow")], false).await;
        assert_eq!((slow.status, slow.cache.as_deref()), (200, Some("miss")), "a slow answer is still an answer");
        let failed = ask(&proxy, "/api/v1/query", known, false).await;
        assert_eq!(failed.status, 200, "{failed:?}");
        assert_eq!(failed.cache.as_deref(), Some("stale"));
        let m = text(&format!("{proxy}/metrics")).await;
        assert_eq!(sample(&m, "k6gate_proxy_breaker_state{state=\"open\"}"), 1.0, "{m}");
        assert_eq!(sample(&m, "k6gate_proxy_upstream_requests_total{outcome=\"slow\"}"), 1.0);
        assert_eq!(sample(&m, "k6gate_proxy_upstream_requests_total{outcome=\"failed\"}"), 1.0);

        // Open: nothing goes upstream; the last good answer, marked, or a 503.
        let calls = upstream_requests(&upstream).await;
        let stale = ask(&proxy, "/api/v1/query", known, true).await;
        assert_eq!(stale.status, 200);
        assert_eq!(stale.cache.as_deref(), Some("stale"));
        let age: u64 = stale.stale.as_deref().unwrap().parse().unwrap();
        assert!(age < 60, "age {age}");
        assert_eq!(stale.body["data"], serde_json::from_str::<Value>(VECTOR).unwrap()["data"]);
        let warnings = stale.body["warnings"].as_array().unwrap();
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0].as_str().unwrap().contains("stale answer")
                && warnings[0].as_str().unwrap().contains("circuit breaker is open")
        );
        let never = ask(&proxy, "/api/v1/query", &[("query", "never_asked")], false).await;
        assert_eq!(never.status, 503);
        assert_eq!(never.body["status"], "error");
        assert_eq!(never.body["errorType"], "unavailable");
        assert!(never.body["error"].as_str().unwrap().contains("no earlier answer"));
        assert!(never.body.get("data").is_none(), "never an empty success");
        assert_eq!(upstream_requests(&upstream).await, calls, "an open breaker calls nobody");

        // After the cool-down one probe goes; Prometheus is back, so the breaker closes.
        upstream.reset().await;
        Mock::given(path("/api/v1/query")).respond_with(ok(VECTOR, Duration::ZERO)).mount(&upstream).await;
        tokio::time::sleep(Duration::from_millis(3100)).await;
        let probe = ask(&proxy, "/api/v1/query", known, false).await;
        assert_eq!((probe.status, probe.cache.as_deref(), probe.stale), (200, Some("miss"), None));
        assert!(probe.body.get("warnings").is_none());
        let m = text(&format!("{proxy}/metrics")).await;
        assert_eq!(sample(&m, "k6gate_proxy_breaker_state{state=\"closed\"}"), 1.0, "{m}");
        assert_eq!(transitions(&m, "closed", "open"), 1.0);
        assert_eq!(transitions(&m, "open", "half_open"), 1.0);
        assert_eq!(transitions(&m, "half_open", "closed"), 1.0);
        assert_eq!(served(&m, "stale"), 2.0);
        assert_eq!(served(&m, "unavailable"), 1.0);
    });
}

#[test]
fn bad_queries_are_passed_on_uncached_and_not_held_against_prometheus() {
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        let bad = r#"{"status":"error","errorType":"bad_data","error":"parse error"}"#;
        Mock::given(path("/api/v1/query"))
            .respond_with(ResponseTemplate::new(400).set_body_raw(bad, "application/json"))
            .mount(&upstream)
            .await;
        let proxy = start_proxy(ProxyConfig { failures_to_open: 1, ..ProxyConfig::new(&upstream.uri()) }).await;
        for _ in 0..3 {
            let a = ask(&proxy, "/api/v1/query", &[("query", "up{")], false).await;
            assert_eq!((a.status, a.cache.as_deref()), (400, Some("pass")));
            assert_eq!(a.body, serde_json::from_str::<Value>(bad).unwrap());
        }
        assert_eq!(upstream_requests(&upstream).await, 3, "errors are not cached");
        let m = text(&format!("{proxy}/metrics")).await;
        assert_eq!(sample(&m, "k6gate_proxy_breaker_state{state=\"closed\"}"), 1.0, "{m}");
    });
}

#[test]
fn only_the_read_api_is_proxied() {
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/api/v1/status/buildinfo"))
            .respond_with(ok(r#"{"status":"success","data":{"version":"2.42.0"}}"#, Duration::ZERO))
            .mount(&upstream)
            .await;
        let proxy = start_proxy(ProxyConfig::new(&upstream.uri())).await;
        let info = ask(&proxy, "/api/v1/status/buildinfo", &[], false).await;
        assert_eq!((info.status, info.cache.as_deref()), (200, Some("pass")));
        assert_eq!(info.body["data"]["version"], "2.42.0");
        for (p, status) in
            [("/api/v1/write", 403), ("/-/reload", 403), ("/api/v1/admin/tsdb/delete_series", 403), ("/graph", 404)]
        {
            let a = ask(&proxy, p, &[], true).await;
            assert_eq!(a.status, status, "{p}");
            assert_eq!(a.body["status"], "error");
            assert!(a.body["error"].as_str().unwrap().contains(p));
        }
        let label_post = ask(&proxy, "/api/v1/label/job/values", &[], true).await;
        assert_eq!(label_post.status, 405);
        // `..` out of the read API, sent raw (an HTTP client would normalise it away).
        for raw in ["/api/v1/../-/healthy", "/api/v1/%2e%2e/-/healthy", "/api/v1/label/../values"] {
            let addr = proxy.trim_start_matches("http://").to_string();
            let status = tokio::task::spawn_blocking(move || {
                use std::io::{Read, Write};
                let mut s = std::net::TcpStream::connect(addr).unwrap();
                write!(s, "GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
                let mut out = String::new();
                s.read_to_string(&mut out).unwrap();
                out.lines().next().unwrap_or_default().to_string()
            })
            .await
            .unwrap();
            assert!(status.contains(" 403 ") || status.contains(" 404 "), "{raw}: {status}");
        }
        assert_eq!(upstream_requests(&upstream).await, 1, "refused requests never reach Prometheus");
    });
}

#[test]
fn bad_flags_are_refused_before_listening() {
    crate::support::cli::K6gate::new()
        .args(["stack", "proxy", "--upstream", "http://127.0.0.1:1", "--listen", "127.0.0.1:0", "--ttl", "0s"])
        .status(2)
        .stderr_contains("--ttl must be more than 0");
    crate::support::cli::K6gate::new()
        .args(["stack", "proxy", "--upstream", "ftp://127.0.0.1:1", "--listen", "127.0.0.1:0", "--sla", "1s"])
        .status(2)
        .stderr_contains("must be an http:// or https:// URL");
}

// ---- full tier: a real Prometheus ----

/// A Prometheus on `port` with its TSDB in `dir/tsdb`, scraping itself every second.
fn prometheus(dir: &std::path::Path, port: u16) -> Proc {
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: prometheus\n    static_configs: [{{targets: ['127.0.0.1:{port}']}}]\n"
        ),
    )
    .unwrap();
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("prometheus.log")).unwrap();
    let p = Proc::spawn(
        Command::new("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(log),
        "prometheus",
    );
    crate::support::stack::wait_until(Duration::from_secs(30), "Prometheus ready", || {
        k6gate::net::block_on(async { client().get(format!("http://127.0.0.1:{port}/-/ready")).send().await })
            .ok()
            .and_then(Result::ok)
            .is_some_and(|r| r.status().is_success())
    });
    p
}

/// Prometheus' own count of the queries its `/api/v1/query` handler answered.
fn prometheus_queries(url: &str) -> f64 {
    let m = k6gate::net::block_on(text(&format!("{url}/metrics"))).unwrap();
    m.lines()
        .filter(|l| l.starts_with("prometheus_http_requests_total{") && l.contains("handler=\"/api/v1/query\""))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

fn block<F: std::future::Future + Send>(f: F) -> F::Output
where
    F::Output: Send,
{
    k6gate::net::block_on(f).unwrap()
}

/// `k6gate stack generate --proxy-port` into `dir/stack`: checks that Grafana's datasource
/// points at the proxy, and returns the flags of `proxy.args`.
fn generate_with_proxy(dir: &std::path::Path, prom_port: u16, proxy_port: u16) -> Vec<String> {
    let out = dir.join("stack");
    crate::support::cli::K6gate::new()
        .args(["stack", "generate", "--out"])
        .arg(&out)
        .args(["--prometheus-port", &prom_port.to_string(), "--proxy-port", &proxy_port.to_string()])
        .args(["--trace-sample-percent", "5"])
        .status(0)
        .stdout_contains("through the proxy");
    let ds = std::fs::read_to_string(out.join("grafana/provisioning/datasources/k6gate.yaml")).unwrap();
    let ds: Value = yaml_serde::from_str(&ds).unwrap();
    let prometheus = ds["datasources"].as_array().unwrap().iter().find(|d| d["type"] == "prometheus").unwrap();
    assert_eq!(prometheus["url"], format!("http://127.0.0.1:{proxy_port}"));
    let sampling = std::fs::read_to_string(out.join("otel/tail-sampling.yaml")).unwrap();
    assert!(sampling.contains("sampling_percentage: 5.0"), "{sampling}");
    let args = crate::support::stack::args_of(&out.join("proxy.args"));
    assert_eq!(args, [format!("--upstream=http://127.0.0.1:{prom_port}"), format!("--listen=127.0.0.1:{proxy_port}")]);
    args
}

#[test]
fn stack_generate_writes_the_proxys_flags_and_points_grafana_at_it() {
    let tmp = tempfile::tempdir().unwrap();
    generate_with_proxy(tmp.path(), 19090, 19091);
}

#[test]
#[ignore = "full tier: needs prometheus"]
fn through_a_real_prometheus_and_its_outage() {
    let tmp = tempfile::tempdir().unwrap();
    let (prom_port, proxy_port) = (free_port(), free_port());
    let direct = format!("http://127.0.0.1:{prom_port}");
    let mut prom = prometheus(tmp.path(), prom_port);
    // The proxy as `stack generate --proxy-port` writes it (its flags in proxy.args), with
    // short timings for the drill.
    let generated = generate_with_proxy(tmp.path(), prom_port, proxy_port);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k6gate"));
    cmd.args(["stack", "proxy"])
        .args(&generated)
        .args([
            "--ttl",
            "1s",
            "--sla",
            "5s",
            "--upstream-timeout",
            "2s",
            "--failures-to-open",
            "2",
            "--cool-down",
            "1s",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let _proxy_proc = Proc::spawn(&mut cmd, "k6gate stack proxy");
    let proxy = format!("http://127.0.0.1:{proxy_port}");
    crate::support::stack::wait_until(Duration::from_secs(20), "the proxy answers /metrics", || {
        block(async { client().get(format!("{proxy}/metrics")).send().await }).is_ok()
    });
    // A few scrapes, so that every query below has data.
    crate::support::stack::wait_until(Duration::from_secs(30), "4 samples of up", || {
        let a = block(ask(&direct, "/api/v1/query", &[("query", "count_over_time(up[1m])")], false));
        a.body["data"]["result"][0]["value"][1].as_str().and_then(|v| v.parse::<u32>().ok()).is_some_and(|n| n >= 4)
    });

    // 1. The same answers as Prometheus itself.
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 2;
    let (at, end) = (now.to_string(), (now - now % 2).to_string());
    let start = (now - now % 2 - 60).to_string();
    let cases: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("/api/v1/query", vec![("query", "up"), ("time", &at)]),
        ("/api/v1/query", vec![("query", "sum by (job) (rate(prometheus_http_requests_total[30s]))"), ("time", &at)]),
        ("/api/v1/query_range", vec![("query", "up"), ("start", &start), ("end", &end), ("step", "2")]),
        (
            "/api/v1/query_range",
            vec![
                ("query", "rate(prometheus_tsdb_head_samples_appended_total[10s])"),
                ("start", &start),
                ("end", &end),
                ("step", "2s"),
            ],
        ),
        ("/api/v1/labels", vec![("start", &start), ("end", &end)]),
        ("/api/v1/series", vec![("match[]", "up"), ("start", &start), ("end", &end)]),
        ("/api/v1/label/job/values", vec![]),
    ];
    for (p, params) in &cases {
        for post in [false, true] {
            let post = post && !p.contains("/label/");
            let want = block(ask(&direct, p, params, post));
            let got = block(ask(&proxy, p, params, post));
            assert_eq!(got.status, 200, "{p} {params:?}: {:?}", got.body);
            assert_eq!(got.body, want.body, "{p} {params:?} post={post}");
        }
    }
    // An unaligned window: Prometheus' answer for the window aligned to the step.
    let (ustart, uend) = ((now - now % 2 - 59).to_string(), (now - now % 2 + 1).to_string());
    let got = block(ask(
        &proxy,
        "/api/v1/query_range",
        &[("query", "up"), ("start", &ustart), ("end", &uend), ("step", "2")],
        false,
    ));
    let want = block(ask(
        &direct,
        "/api/v1/query_range",
        &[("query", "up"), ("start", &start), ("end", &end), ("step", "2")],
        false,
    ));
    assert_eq!(got.body, want.body);

    // 2. Sixteen identical queries at once reach Prometheus once. With the drill's 1 s TTL, a
    // machine that stalls the batch for longer than that sends a late one upstream again, so
    // a batch may be tried three times (a new query each time); without coalescing every
    // batch would reach Prometheus about 16 times.
    let mut calls = Vec::new();
    for attempt in 0..3 {
        let before = prometheus_queries(&direct);
        let query = format!("sum(rate(prometheus_http_requests_total[1m])) + 0 * {}", 16 + attempt);
        let params = [("query", query.as_str()), ("time", at.as_str())];
        let answers = block(futures::future::join_all((0..16).map(|_| ask(&proxy, "/api/v1/query", &params, false))));
        assert!(answers.iter().all(|a| a.status == 200 && a.body == answers[0].body));
        calls.push(prometheus_queries(&direct) - before);
        if calls.last() == Some(&1.0) {
            break;
        }
    }
    assert_eq!(calls.last(), Some(&1.0), "Prometheus answered each batch of 16 queries this often: {calls:?}");

    // 3. The drill: Prometheus killed in the middle.
    let known: &[(&str, &str)] = &[("query", "up"), ("time", &at)];
    let good = block(ask(&proxy, "/api/v1/query", known, false));
    prom.stop();
    let killed_at = Instant::now();
    std::thread::sleep(Duration::from_millis(1100)); // past the 1 s TTL
    let mut stale = Vec::new();
    for _ in 0..3 {
        stale.push(block(ask(&proxy, "/api/v1/query", known, false)));
    }
    for a in &stale {
        assert_eq!((a.status, a.cache.as_deref()), (200, Some("stale")), "{a:?}");
        assert!(a.stale.as_deref().and_then(|s| s.parse::<u64>().ok()).is_some());
        assert_eq!(a.body["data"], good.body["data"], "the last good answer");
        assert!(a.body["warnings"][0].as_str().unwrap().starts_with("k6gate proxy: stale answer"));
    }
    let never = block(ask(&proxy, "/api/v1/query", &[("query", "up == 42")], false));
    assert_eq!(never.status, 503, "{never:?}");
    assert_eq!((never.body["status"].as_str(), never.body["errorType"].as_str()), (Some("error"), Some("unavailable")));
    let m = block(text(&format!("{proxy}/metrics")));
    assert_eq!(sample(&m, "k6gate_proxy_breaker_state{state=\"open\"}"), 1.0, "{m}");

    // Restarted on the same port and data: after the cool-down a probe closes the breaker.
    let _prom = prometheus(tmp.path(), prom_port);
    let took = crate::support::stack::wait_until(Duration::from_secs(20), "a fresh answer after the restart", || {
        let a = block(ask(&proxy, "/api/v1/query", known, false));
        a.status == 200 && a.cache.as_deref() != Some("stale")
    });
    let back = block(ask(&proxy, "/api/v1/query", known, false));
    assert_eq!(back.body["data"], good.body["data"], "the same data, read from the same TSDB");
    let m = block(text(&format!("{proxy}/metrics")));
    assert_eq!(sample(&m, "k6gate_proxy_breaker_state{state=\"closed\"}"), 1.0, "{m}");
    assert!(transitions(&m, "open", "half_open") >= 1.0);
    assert_eq!(transitions(&m, "half_open", "closed"), 1.0);
    eprintln!(
        "drill: breaker closed {:.1} s after Prometheus was ready again ({:.1} s after the kill); {} stale answers, {} unavailable",
        took.as_secs_f64(),
        killed_at.elapsed().as_secs_f64(),
        served(&m, "stale"),
        served(&m, "unavailable")
    );
}

#[test]
fn answers_live_longer_while_a_test_runs() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        Mock::given(path("/api/v1/query")).respond_with(ok(VECTOR, Duration::ZERO)).mount(&upstream).await;
        let running = Arc::new(AtomicBool::new(false));
        let probe: k6gate::stack::proxy::TestRunning = {
            let running = Arc::clone(&running);
            Arc::new(move || Ok(running.load(Ordering::Relaxed)))
        };
        let config = ProxyConfig {
            ttl: Duration::from_millis(300),
            test_ttl: Duration::from_secs(30),
            test_poll: Duration::from_millis(50),
            ..ProxyConfig::new(&upstream.uri())
        };
        let proxy = Proxy::new(config).unwrap();
        proxy.watch_tests(probe);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(serve(listener, proxy, std::future::pending()));
        let aggressive = |on: bool| {
            let url = url.clone();
            async move {
                for _ in 0..100 {
                    let m = text(&format!("{url}/metrics")).await;
                    if sample(&m, "k6gate_proxy_aggressive_ttl") == f64::from(u8::from(on)) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                panic!("k6gate_proxy_aggressive_ttl never became {on}");
            }
        };
        let twice = |q: &'static str| {
            let url = url.clone();
            async move {
                let first = ask(&url, "/api/v1/query", &[("query", q)], false).await.cache;
                // Past the normal TTL (300 ms), well within the test's (30 s).
                tokio::time::sleep(Duration::from_millis(700)).await;
                (first, ask(&url, "/api/v1/query", &[("query", q)], false).await.cache)
            }
        };
        aggressive(false).await;
        assert_eq!(twice("a").await, (Some("miss".into()), Some("miss".into())));
        running.store(true, Ordering::Relaxed);
        aggressive(true).await;
        assert_eq!(twice("b").await, (Some("miss".into()), Some("hit".into())));
        running.store(false, Ordering::Relaxed);
        aggressive(false).await;
        assert_eq!(twice("c").await, (Some("miss".into()), Some("miss".into())));
    });
}

#[test]
fn the_environments_lease_turns_the_aggressive_ttl_on_and_off() {
    use k6gate::history::{HistoryConfig, Holder, Leases, Store};
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_k6gate"));
    cmd.arg("--state-dir")
        .arg(state.path())
        .args(["stack", "proxy", "--upstream", "http://127.0.0.1:1", "--listen", &format!("127.0.0.1:{port}")])
        .args(["--env", "staging", "--sla", "1s"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Fast tier: a plain child killed on drop (no setsid watchdog, which the full tier's
    // `Proc` adds).
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _proxy = KillOnDrop(cmd.spawn().expect("start k6gate stack proxy"));
    let url = format!("http://127.0.0.1:{port}/metrics");
    let aggressive = || block(async { client().get(&url).send().await.ok()?.text().await.ok() });
    // The probe asks the history every 2 s: 20 s is generous on a busy machine.
    let wait = |on: &str| {
        crate::support::stack::wait_until(Duration::from_secs(20), &format!("aggressive TTL {on}"), || {
            aggressive().is_some_and(|m| m.contains(&format!("\nk6gate_proxy_aggressive_ttl {on}\n")))
        })
    };
    wait("0");
    let store = Store::open(&HistoryConfig::local(state.path())).unwrap();
    let holder =
        Holder { user: "alice".into(), host: None, pid: 1, run_id: "r1".into(), test: "checkout".into(), url: None };
    store.try_acquire("staging", &holder, "t1", k6gate::clock::now_ns(), 60_000_000_000).unwrap();
    wait("1");
    store.release("staging", "t1").unwrap();
    wait("0");
}

#[test]
fn upstream_headers_go_with_every_call_and_old_answers_are_not_served() {
    use wiremock::matchers::header;
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        Mock::given(path("/api/v1/query"))
            .and(header("x-scope-orgid", "load-tests"))
            .respond_with(ok(VECTOR, Duration::ZERO))
            .mount(&upstream)
            .await;
        // Without the tenant, Mimir-like: 401, a client error passed on.
        Mock::given(path("/api/v1/query")).respond_with(ResponseTemplate::new(401)).mount(&upstream).await;
        let tenant = vec![("X-Scope-OrgID".to_string(), k6gate::net::Secret::new("load-tests"))];
        let config = ProxyConfig {
            ttl: Duration::from_millis(100),
            // Generous: the stale answer below must come within it on a busy machine.
            max_stale: Duration::from_secs(3),
            failures_to_open: 10,
            upstream_headers: tenant,
            ..ProxyConfig::new(&upstream.uri())
        };
        let proxy = start_proxy(config).await;
        let q: &[(&str, &str)] = &[("query", "up")];
        assert_eq!(ask(&proxy, "/api/v1/query", q, true).await.cache.as_deref(), Some("miss"));
        upstream.reset().await;
        Mock::given(path("/api/v1/query")).respond_with(ResponseTemplate::new(500)).mount(&upstream).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        let stale = ask(&proxy, "/api/v1/query", q, false).await;
        assert_eq!((stale.status, stale.cache.as_deref()), (200, Some("stale")));
        assert!(stale.body["warnings"][0].as_str().unwrap().contains("answered 500"));
        // Past --max-stale: a 503, not a stale answer of any age.
        tokio::time::sleep(Duration::from_millis(3000)).await;
        let old = ask(&proxy, "/api/v1/query", q, false).await;
        assert_eq!(old.status, 503, "{old:?}");
        assert!(old.body["error"].as_str().unwrap().contains("--max-stale 3 s"));
    });
    crate::support::cli::K6gate::new()
        .args(["stack", "proxy", "--listen", "127.0.0.1:0", "--sla", "1s", "--upstream-header", "Bearer hunter2"])
        .status(2)
        .stderr_contains("not NAME=VALUE")
        .stderr_lacks("hunter2");
}

#[test]
fn instant_panels_share_answers_with_instant_align() {
    runtime().block_on(async {
        let upstream = MockServer::start().await;
        Mock::given(path("/api/v1/query")).respond_with(ok(VECTOR, Duration::ZERO)).mount(&upstream).await;
        let config = ProxyConfig { instant_align: Some(Duration::from_secs(5)), ..ProxyConfig::new(&upstream.uri()) };
        let proxy = start_proxy(config).await;
        let mut caches = Vec::new();
        for t in ["1700000000.5", "1700000003", "1700000004.999", "1700000005"] {
            caches.push(ask(&proxy, "/api/v1/query", &[("query", "up"), ("time", t)], true).await.cache.unwrap());
        }
        assert_eq!(caches, ["miss", "hit", "hit", "miss"]);
        let seen = upstream.received_requests().await.unwrap();
        let forms: Vec<String> = seen.iter().map(|r| String::from_utf8_lossy(&r.body).into_owned()).collect();
        assert_eq!(forms, ["query=up&time=1700000000", "query=up&time=1700000005"]);
    });
}
