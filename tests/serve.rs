//! `k6gate serve` (src/serve) over real HTTP, fast tier: the server on 127.0.0.1:0 in front of
//! a SQLite store recorded through the real code paths. Three decided runs are real k6 1.1
//! outputs (`tests/fixtures/k6-small/policy-*.json`: checkout v1.0.0, v1.0.1 and a 30 %
//! slower v1.1.0), ingested and judged by `Gate` with the shipped policies as `k6gate run`
//! would; the rest are errored runs (no documents) that fill the list for filters and paging,
//! one of them with `<script>` in its version and branch.
//!
//! Requests are written by hand on a TCP socket, so the test sees every status, header and
//! redirect as the server sent it.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::sync::OnceLock;

use k6gate::compare::Phase;
use k6gate::gate::{Baseline, Case, Gate, PolicySource, Side};
use k6gate::github::approval::Mode;
use k6gate::history::{HistoryConfig, NewRun, Outcome, RunStore, Store};
use k6gate::serve::{App, Config, check_listen};
use k6gate::summary::digest;
use serde_json::Value;

use crate::support::cli::K6gate;
use crate::support::fixtures::Set;
use crate::support::verdicts::SHIPPED;

const SCRIPT: &str = "<script>alert('x')</script>";
const T0: i64 = 1_764_547_200_000_000_000; // 2025-12-01T00:00:00Z
const HOUR: i64 = 3_600_000_000_000;

/// The store's runs: the three judged ones by version, and how many errored runs of each kind.
struct Fixture {
    dir: tempfile::TempDir,
    addr: SocketAddr,
    v100: String,
    v101: String,
    v110: String,
}

fn record(store: &Store, run: NewRun) -> String {
    store.record_run(&run).expect("record run")
}

/// A judged run as `k6gate run` records it: summary, verdict and digest rows.
pub(crate) fn judged(
    store: &Store,
    gate: &Gate,
    summary: &k6gate::RunSummary,
    baseline: Option<(&k6gate::RunSummary, &str)>,
    version: &str,
    hour: i64,
) -> String {
    let source = "this run";
    let verdict = gate
        .judge(&Case {
            test: "checkout",
            environment: "ci",
            now_ns: T0 + hour * HOUR,
            phase: &Phase::SteadyState,
            candidate: Side { summary, source },
            confirmations: &[],
            baseline: match baseline {
                Some((b, src)) => Baseline::Runs { runs: vec![Side { summary: b, source: src }], reason: None },
                None => Baseline::None,
            },
            previous: None,
        })
        .expect("judge");
    let outcome = match verdict.outcome {
        k6gate::policy::verdict::Status::Pass => Outcome::Pass,
        k6gate::policy::verdict::Status::Warn => Outcome::Warn,
        k6gate::policy::verdict::Status::Fail => Outcome::Fail,
        k6gate::policy::verdict::Status::Inconclusive => Outcome::Inconclusive,
    };
    record(
        store,
        NewRun {
            test: "checkout".into(),
            environment: "ci".into(),
            outcome,
            started_at_ns: T0 + hour * HOUR,
            finished_at_ns: Some(T0 + hour * HOUR + 10_000_000_000),
            git_branch: Some("main".into()),
            git_commit: Some(format!("{hour:040x}")),
            deployment_version: Some(version.into()),
            summary: Some(serde_json::value::to_raw_value(summary).unwrap()),
            verdict: Some(serde_json::value::to_raw_value(&verdict).unwrap()),
            digest: digest::rows(summary),
            ..NewRun::default()
        },
    )
}

fn errored(store: &Store, test: &str, env: &str, branch: &str, version: &str, hour: i64) -> String {
    record(
        store,
        NewRun {
            test: test.into(),
            environment: env.into(),
            outcome: Outcome::Error,
            started_at_ns: T0 + hour * HOUR,
            git_branch: Some(branch.into()),
            deployment_version: Some(version.into()),
            problem: Some("k6 could not reach the target".into()),
            ..NewRun::default()
        },
    )
}

/// The store (built once) and a server on it.
fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
        let gate = Gate::load(&PolicySource::new(SHIPPED, Mode::Trust)).unwrap();
        let a = Set::Small.ingest("policy-base-a.json");
        let b = Set::Small.ingest("policy-base-b.json");
        let slow = Set::Small.ingest("policy-slow.json");
        let v100 = judged(&store, &gate, &a, None, "v1.0.0", 100);
        let v101 = judged(&store, &gate, &b, Some((&a, &format!("run {v100}"))), "v1.0.1", 101);
        let v110 = judged(&store, &gate, &slow, Some((&b, &format!("run {v101}"))), "v1.1.0", 102);
        // 60 errored runs of `login` in two environments, a day apart, on two branches.
        for i in 0..60 {
            let env = if i % 2 == 0 { "staging" } else { "prod-sim" };
            let branch = if i % 3 == 0 { "main" } else { "feature-x" };
            errored(&store, "login", env, branch, &format!("v2.{i}"), i * 24);
        }
        errored(&store, "search", "staging", SCRIPT, SCRIPT, 2000);
        let addr = start(store, config(BTreeMap::new()));
        Fixture { dir, addr, v100, v101, v110 }
    })
}

pub(crate) fn config(owners: BTreeMap<String, String>) -> Config {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    Config {
        confidence: k6gate::gate::confidence(Path::new(SHIPPED)).unwrap(),
        owners,
        access: check_listen(addr, None, None).unwrap(),
        page_size: 25,
        policies: None,
        waivers: None,
        github: None,
    }
}

/// A server on its own runtime thread, as the CLI runs it.
pub(crate) fn start(store: Store, config: Config) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            k6gate::serve::serve(listener, App::new(store, config).unwrap(), std::future::pending()).await.unwrap();
        });
    });
    rx.recv().unwrap()
}

pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) headers: BTreeMap<String, String>,
    pub(crate) body: String,
}

impl Answer {
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers.get(name).map_or("", String::as_str)
    }
}

/// One HTTP/1.1 request; `headers` replace the defaults (Host: the address).
pub(crate) fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Answer {
    let mut s = TcpStream::connect(addr).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
        head.push_str(&format!("Host: {addr}\r\n"));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8(raw).unwrap();
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    // Chunked bodies: the pages are small enough to come in one chunk or a few; join them.
    let body =
        if text.to_ascii_lowercase().contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_string() };
    Answer { status, headers, body }
}

fn dechunk(mut s: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = s.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.push_str(&rest[..n]);
        s = &rest[n + 2..];
    }
    out
}

fn get(path: &str) -> Answer {
    request(fixture().addr, "GET", path, &[], "")
}

/// `s` as minijinja's HTML escaping writes it.
pub(crate) fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

pub(crate) fn unescape(s: &str) -> String {
    s.replace("&#x2f;", "/")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// The run ids listed on a page, in order.
fn listed(body: &str) -> Vec<String> {
    body.split("<tr class=\"run\" data-id=\"").skip(1).map(|r| r.split('"').next().unwrap().to_string()).collect()
}

/// The CSRF token of the runs page's form.
pub(crate) fn csrf(body: &str) -> String {
    let at = body.find("name=\"csrf\" value=\"").expect("a CSRF field") + "name=\"csrf\" value=\"".len();
    body[at..].split('"').next().unwrap().to_string()
}

#[test]
fn the_root_redirects_to_the_run_list() {
    let a = get("/");
    assert_eq!(a.status, 303);
    assert_eq!(a.header("location"), "/runs");
}

#[test]
fn the_list_filters_on_every_column_and_pages_by_keyset() {
    let f = fixture();
    // Everything, newest first, 25 a page: 64 runs make three pages with no overlap.
    let mut seen = Vec::new();
    let mut path = "/runs".to_string();
    loop {
        let a = get(&path);
        assert_eq!(a.status, 200, "{path}: {}", a.body);
        let ids = listed(&a.body);
        assert!(ids.len() <= 25);
        seen.extend(ids);
        match a.body.split("id=\"next\"").next().and_then(|before| before.rsplit("href=\"").next()) {
            Some(next) if a.body.contains("id=\"next\"") => path = unescape(next.split('"').next().unwrap()),
            _ => break,
        }
    }
    assert_eq!(seen.len(), 64);
    let mut sorted = seen.clone();
    sorted.sort_by(|a, b| b.cmp(a));
    assert_eq!(seen, sorted, "newest first (ids start with the start time)");
    sorted.dedup();
    assert_eq!(sorted.len(), 64, "no run on two pages");

    let ids = |q: &str| listed(&get(&format!("/runs?{q}")).body);
    assert_eq!(ids("test=checkout"), vec![f.v110.clone(), f.v101.clone(), f.v100.clone()]);
    assert_eq!(ids("test=checkout&version=v1.0.1"), vec![f.v101.clone()]);
    assert_eq!(ids("outcome=error&limit=500").len(), 61);
    assert_eq!(ids("test=login&env=staging&limit=500").len(), 30);
    assert_eq!(ids("test=login&branch=main&limit=500").len(), 20);
    // Hours 100..102 are 2025-12-05; the login runs are a day apart from 2025-12-01.
    let day = ids("from=2025-12-05&to=2025-12-05&limit=500");
    assert!(day.contains(&f.v100) && day.contains(&f.v110), "{day:?}");
    assert_eq!(day.len(), 4, "the three checkout runs and the login run of that day: {day:?}");
    assert!(ids("test=nothing").is_empty());
    assert!(get("/runs?test=nothing").body.contains("No run matches"));
    // No owners in this policy data: no team filter, and the page says why.
    assert!(get("/runs").body.contains("id=\"no-teams\""));
    assert_eq!(get("/runs?team=payments").status, 400);
}

#[test]
fn teams_filter_by_the_owners_tests() {
    let f = fixture();
    let owners = BTreeMap::from([("checkout".to_string(), "payments".to_string())]);
    let store = Store::open(&HistoryConfig::local(f.dir.path())).unwrap();
    let addr = start(store, config(owners));
    let a = request(addr, "GET", "/runs?team=payments", &[], "");
    assert_eq!(a.status, 200);
    assert_eq!(listed(&a.body), vec![f.v110.clone(), f.v101.clone(), f.v100.clone()]);
    assert!(a.body.contains("id=\"f-team\""));
    assert_eq!(request(addr, "GET", "/runs?team=search", &[], "").status, 400);
}

#[test]
fn malformed_queries_are_400_pages_that_name_the_parameter() {
    for (q, says) in [
        ("outcome=great", "outcome"),
        ("from=2025-13-01", "from"),
        ("from=2025-12-05&to=2025-12-01", "before"),
        ("limit=0", "limit"),
        ("limit=abc", "limit"),
        ("after=nonsense", "after"),
        ("colour=red", "unknown parameter"),
        ("test=a&test=b", "twice"),
    ] {
        let a = get(&format!("/runs?{q}"));
        assert_eq!(a.status, 400, "{q}");
        assert!(a.header("content-type").starts_with("text/html"), "{q}");
        assert!(a.body.contains(says), "{q}: {}", a.body);
    }
    let f = fixture();
    let a = get(&format!("/compare/{}/{}?phase=middle", f.v100, f.v110));
    assert_eq!(a.status, 400);
    assert!(a.body.contains("unknown phase"));
}

#[test]
fn unknown_and_unusable_runs_are_4xx_pages() {
    let f = fixture();
    for path in [
        "/runs/20991231-000000-ffff".to_string(),
        format!("/compare/{}/20991231-000000-ffff", f.v100),
        "/runs/%3Cscript%3E".to_string(),
        "/api/compare/x/y".to_string(),
        "/no/such/page".to_string(),
    ] {
        let a = get(&path);
        assert_eq!(a.status, 404, "{path}: {}", a.body);
        assert!(a.body.contains("<!DOCTYPE html>") && !a.body.contains("<script>"), "{path}");
    }
    // A path that is not UTF-8, and a method a page does not take: 4xx pages too.
    let a = get("/runs/%FF%FE");
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body.contains("<!DOCTYPE html>"));
    let a = get("/compare");
    assert_eq!(a.status, 405);
    assert!(a.body.contains("<!DOCTYPE html>"));
    // An errored run has no summary to compare: 422, saying why.
    let errored = listed(&get("/runs?test=login&limit=1").body).remove(0);
    let a = get(&format!("/compare/{}/{errored}", f.v100));
    assert_eq!(a.status, 422);
    assert!(a.body.contains("it ended as error: k6 could not reach the target"), "{}", a.body);
    // Its own page shows it, with no comparison.
    assert_eq!(get(&format!("/runs/{errored}")).status, 200);
}

#[test]
fn a_comparison_has_the_numbers_of_k6gate_compare() {
    let f = fixture();
    let cli = K6gate::new()
        .args(["--state-dir"])
        .arg(f.dir.path())
        .args(["--policies", SHIPPED, "compare", &f.v101, &f.v110, "--format", "json"])
        .status(0);
    let from_cli: Value = cli.stdout_json();
    let api = get(&format!("/api/compare/{}/{}", f.v101, f.v110));
    assert_eq!(api.status, 200);
    let served: Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(served, from_cli);

    // The page shows the same numbers: each row's raw values are the JSON's.
    let page = get(&format!("/compare/{}/{}", f.v101, f.v110));
    assert_eq!(page.status, 200);
    let metrics = from_cli["metrics"].as_array().unwrap();
    assert!(!metrics.is_empty());
    for m in metrics {
        let row_start = format!(
            "data-group=\"{}\" data-metric=\"{}\"",
            m["group"].as_str().unwrap(),
            m["metric"].as_str().unwrap()
        );
        let row = page.body.split(&row_start).nth(1).unwrap_or_else(|| panic!("no row {row_start}"));
        let row = row.split("</tr>").next().unwrap();
        for side in ["baseline", "candidate"] {
            if let Some(v) = m[side].as_f64() {
                assert!(row.contains(&format!("data-value=\"{v}\"")), "{row_start} {side} {v}: {row}");
            }
        }
    }
    // The slower version's P95 is flagged worse, in red, with its change and significance.
    let all_p95 = metrics.iter().find(|m| m["group"] == "all" && m["metric"] == "p95_ms").unwrap();
    let rel = all_p95["rel_change"].as_f64().unwrap();
    assert!(rel > 0.1, "the fixture's candidate is slower: {rel}");
    let badge = format!("P95 +{:.1} %", rel * 100.0);
    let row =
        page.body.split("data-group=\"all\" data-metric=\"p95_ms\"").nth(1).unwrap().split("</tr>").next().unwrap();
    assert!(row.contains(&format!("class=\"badge worse\" data-rel=\"{rel}\">{badge}<")), "{row}");
    assert!(row.contains("p &lt; 0.001") || row.contains("p = "), "{row}");
    // Charts: one latency chart per phase and the distribution overlay, drawn inline.
    assert!(page.body.contains("id=\"chart-phase-0\"") && page.body.contains("id=\"chart-cdf\""));
    assert!(page.body.contains("<svg"));
    // A phase other than the default: the same as `k6gate compare --phase whole-run`.
    let whole = get(&format!("/api/compare/{}/{}?phase=whole-run", f.v101, f.v110));
    let cli_whole = K6gate::new()
        .args(["--state-dir"])
        .arg(f.dir.path())
        .args(["--policies", SHIPPED, "compare", &f.v101, &f.v110, "--phase", "whole-run", "--format", "json"])
        .status(0)
        .stdout_json();
    assert_eq!(serde_json::from_str::<Value>(&whole.body).unwrap(), cli_whole);
}

#[test]
fn a_run_page_shows_its_verdict_and_its_baseline() {
    let f = fixture();
    let a = get(&format!("/runs/{}", f.v110));
    assert_eq!(a.status, 200);
    let store = Store::open(&HistoryConfig::local(f.dir.path())).unwrap();
    let verdict: Value = serde_json::from_str(store.get_run(&f.v110).unwrap().verdict.unwrap().get()).unwrap();
    let outcome = verdict["outcome"].as_str().unwrap();
    assert!(a.body.contains(&format!("id=\"verdict-outcome\">{outcome}<")), "{outcome}");
    for r in verdict["results"].as_array().unwrap() {
        assert!(
            a.body.contains(&format!("<td class=\"mono\">{}</td>", html(r["id"].as_str().unwrap()))),
            "rule {}",
            r["id"]
        );
    }
    // Compared with the baseline the verdict names.
    assert!(
        a.body.contains("id=\"side-baseline\"") && a.body.contains(&format!("href=\"/runs/{}\"", f.v101)),
        "{}",
        a.body
    );
    // Another phase than the verdict's: the comparison over it, a bad one a 400.
    let whole = get(&format!("/runs/{}?phase=whole-run", f.v110));
    assert_eq!(whole.status, 200);
    assert!(whole.body.contains("<h2>Comparison: whole-run</h2>"), "{}", whole.body);
    assert!(a.body.contains("<h2>Comparison: steady-state</h2>"));
    assert_eq!(get(&format!("/runs/{}?phase=nope", f.v110)).status, 400);
    // A unique prefix is redirected to the full id.
    let prefix = &f.v110[..f.v110.len() - 1];
    let r = get(&format!("/runs/{prefix}"));
    if r.status == 308 {
        assert_eq!(r.header("location"), format!("/runs/{}", f.v110));
    } else {
        // Another run shares the prefix: the page says so.
        assert_eq!(r.status, 400);
    }
}

#[test]
fn run_data_is_escaped() {
    let a = get("/runs?test=search");
    assert_eq!(a.status, 200);
    assert!(!a.body.contains(SCRIPT));
    assert!(a.body.contains(&html(SCRIPT)), "{}", a.body);
    // Filter values come back escaped too.
    let a = get("/runs?version=%3Cscript%3Ealert(1)%3C%2Fscript%3E");
    assert_eq!(a.status, 200);
    assert!(!a.body.contains("<script>alert(1)") && a.body.contains(&html("<script>alert(1)</script>")));
}

#[test]
fn every_answer_has_the_security_headers() {
    let f = fixture();
    for path in [
        "/runs".to_string(),
        format!("/compare/{}/{}", f.v100, f.v101),
        "/nope".into(),
        "/runs?limit=x".into(),
        "/static/serve.css".into(),
    ] {
        let a = get(&path);
        let csp = a.header("content-security-policy");
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(a.header("referrer-policy"), "same-origin", "{path}");
    }
    // No inline script or style in any page: the CSP would block them.
    let page = get(&format!("/runs/{}", f.v110)).body;
    assert!(!page.contains("<script>") && !page.contains("<style") && !page.contains(" style=\""));
    assert!(page.contains("<script src=\"/static/serve.js\" defer></script>"));
}

#[test]
fn posts_need_the_csrf_token() {
    let f = fixture();
    let form = format!("base={}&cand={}", f.v100, f.v110);
    let urlencoded = [("Content-Type", "application/x-www-form-urlencoded")];
    let a = request(f.addr, "POST", "/compare", &urlencoded, &form);
    assert_eq!(a.status, 403);
    assert!(a.body.contains("CSRF"));
    let a = request(f.addr, "POST", "/compare", &urlencoded, &format!("{form}&csrf=0123456789abcdef"));
    assert_eq!(a.status, 403);
    // With the page's token: a redirect to the deep link.
    let token = csrf(&get("/runs").body);
    let a = request(f.addr, "POST", "/compare", &urlencoded, &format!("{form}&csrf={token}"));
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.header("location"), format!("/compare/{}/{}", f.v100, f.v110));
    // ... unless the browser says the form came from another site.
    let other = [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://evil.example")];
    assert_eq!(request(f.addr, "POST", "/compare", &other, &format!("{form}&csrf={token}")).status, 403);
    // A form without the two runs is a 400, not a crash.
    assert_eq!(request(f.addr, "POST", "/compare", &urlencoded, &format!("csrf={token}")).status, 400);
}

#[test]
fn a_foreign_host_name_is_refused_on_loopback() {
    let f = fixture();
    let a = request(f.addr, "GET", "/runs", &[("Host", "rebound.evil.example:8080")], "");
    assert_eq!(a.status, 403);
    assert_eq!(request(f.addr, "GET", "/runs", &[("Host", "localhost:8080")], "").status, 200);
}

#[test]
fn a_token_is_required_beyond_loopback_and_then_on_every_request() {
    let everywhere: SocketAddr = "0.0.0.0:8080".parse().unwrap();
    assert!(check_listen(everywhere, None, None).unwrap_err().to_string().contains("needs a token"));
    assert!(check_listen(everywhere, Some("short"), None).unwrap_err().to_string().contains("too short"));
    K6gate::new().args(["serve", "--listen", "0.0.0.0:0"]).status(2).stderr_contains("not a loopback address");

    let f = fixture();
    let token = "s3cret-token-of-32-characters-ok";
    let access = check_listen(everywhere, Some(token), Some("X-K6gate-Token")).unwrap();
    let store = Store::open(&HistoryConfig::local(f.dir.path())).unwrap();
    let addr = start(store, Config { access, ..config(BTreeMap::new()) });
    let a = request(addr, "GET", "/runs", &[], "");
    assert_eq!(a.status, 401);
    assert_eq!(a.header("www-authenticate"), "Bearer");
    assert_eq!(
        request(addr, "GET", "/runs", &[("Authorization", "Bearer wrong-token-of-32-characters-no")], "").status,
        401
    );
    assert_eq!(request(addr, "GET", "/runs", &[("Authorization", &format!("Bearer {token}"))], "").status, 200);
    assert_eq!(request(addr, "GET", "/runs", &[("X-K6gate-Token", token)], "").status, 200);
    // Any host name is fine once the token is checked (the proxy names the public host).
    assert_eq!(
        request(addr, "GET", "/runs", &[("X-K6gate-Token", token), ("Host", "perf.example.com")], "").status,
        200
    );
}

/// A year-sized store: 50,000 runs of 20 tests in two environments (decided runs with an 8 KB
/// summary each, so every row has its own pages as a real one does, and 5 % errored), recorded
/// one by one through `record_run`. Every list query, a deep keyset page included, must answer
/// within 250 ms in a debug build; the times are printed.
#[test]
#[ignore = "full tier: builds a 50,000-run store (about a minute)"]
fn the_list_stays_fast_on_a_50000_run_store() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let summary = serde_json::value::to_raw_value(&serde_json::json!({ "pad": "x".repeat(8 * 1024) })).unwrap();
    let verdict = serde_json::value::to_raw_value(&serde_json::json!({ "outcome": "pass" })).unwrap();
    let t0 = std::time::Instant::now();
    let mut middle = None;
    for i in 0..50_000i64 {
        let outcome = match i % 20 {
            0 => Outcome::Error,
            1 => Outcome::Fail,
            _ => Outcome::Pass,
        };
        let decided = outcome != Outcome::Error;
        let id = record(
            &store,
            NewRun {
                test: format!("service-{:02}", i % 20),
                environment: if i % 40 < 20 { "staging" } else { "prod-sim" }.into(),
                outcome,
                started_at_ns: T0 + i * 600_000_000_000,
                git_branch: Some(if i % 7 == 0 { "feature-x" } else { "main" }.into()),
                deployment_version: Some(format!("v1.{}.{}", i / 2000, (i / 40) % 50)),
                summary: decided.then(|| summary.clone()),
                verdict: decided.then(|| verdict.clone()),
                ..NewRun::default()
            },
        );
        if i == 25_000 {
            middle = Some((T0 + i * 600_000_000_000, id));
        }
    }
    eprintln!("50,000 runs recorded in {:.1} s", t0.elapsed().as_secs_f64());
    let (middle_ns, middle_id) = middle.unwrap();
    let addr = start(store, config(BTreeMap::new()));
    let queries = [
        "/runs".to_string(),
        "/runs?test=service-07".into(),
        "/runs?test=service-07&env=staging".into(),
        "/runs?test=service-07&env=staging&version=v1.12.3".into(),
        "/runs?outcome=fail".into(),
        "/runs?version=v1.20.10".into(),
        "/runs?branch=feature-x&outcome=error".into(),
        "/runs?from=2026-03-01&to=2026-03-31".into(),
        format!("/runs?after={middle_ns}_{middle_id}"),
        format!("/runs?test=service-07&after={middle_ns}_{middle_id}"),
        "/runs?test=nothing".into(),
    ];
    for q in &queries {
        // Warm once, then the median of five.
        assert_eq!(request(addr, "GET", q, &[], "").status, 200, "{q}");
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                let a = request(addr, "GET", q, &[], "");
                assert_eq!(a.status, 200);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        eprintln!("{q}: {:.1} ms", times[2]);
        assert!(times[2] < 250.0, "{q}: {:.1} ms", times[2]);
    }
}

#[test]
fn check_runs_and_notifications_link_to_the_run_page() {
    let f = fixture();
    let base = k6gate::run::outputs::LinkBase { serve: Some("https://perf.example.com".into()), ..Default::default() };
    let links = base.links(None, Some(&f.v110));
    let url = format!("https://perf.example.com/runs/{}", f.v110);
    assert_eq!(links.serve.as_deref(), Some(url.as_str()));
    let store = Store::open(&HistoryConfig::local(f.dir.path())).unwrap();
    let verdict: k6gate::policy::verdict::Verdict =
        serde_json::from_str(store.get_run(&f.v110).unwrap().verdict.unwrap().get()).unwrap();
    let plan = k6gate::notify::Plan {
        url_env: "K6GATE_WEBHOOK_URL".into(),
        escalated: false,
        blocked_recently: 1,
        mention: None,
        team: None,
    };
    let message = k6gate::notify::message(&plan, &verdict, &links, None).to_string();
    assert!(message.contains(&format!("<{url}|comparison in k6gate serve>")), "{message}");
    let report = k6gate::github::report::Report::from_verdict(&verdict, links);
    assert!(report.comment_body().contains(&format!("[verdict and comparison in k6gate serve]({url})")));
    // The link's path is the run's page on the server.
    let page = get(url.strip_prefix("https://perf.example.com").unwrap());
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"verdict-outcome\""));
}

/// Waits for `k6gate serve` on `addr` to answer `/healthz`.
pub(crate) fn wait_up(addr: SocketAddr) -> bool {
    (0..100).any(|_| {
        let up = TcpStream::connect(addr).is_ok() && request(addr, "GET", "/healthz", &[], "").status == 200;
        if !up {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        up
    })
}

#[test]
fn the_serve_command_reads_the_store_and_takes_its_token_from_the_environment() {
    let f = fixture();
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let spawn = |listen: &str, token: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_k6gate"));
        cmd.arg("--state-dir").arg(f.dir.path()).args(["--policies", SHIPPED, "serve", "--listen", listen]);
        cmd.env_remove("K6GATE_SERVE_TOKEN");
        if let Some(t) = token {
            cmd.env("K6GATE_SERVE_TOKEN", t);
        }
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        cmd.spawn().unwrap()
    };

    // Loopback, no token: the store's runs.
    let port = free();
    let mut child = spawn(&format!("127.0.0.1:{port}"), None);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = wait_up(addr);
    let listed_ids = if up { listed(&request(addr, "GET", "/runs?test=checkout", &[], "").body) } else { vec![] };
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(up, "k6gate serve did not listen: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains(&format!("http://127.0.0.1:{port}/runs")));
    assert_eq!(listed_ids, vec![f.v110.clone(), f.v101.clone(), f.v100.clone()]);

    // Every address, the token from K6GATE_SERVE_TOKEN: refused without it, served with it.
    let token = "env-token-0123456789abcdef";
    let port = free();
    let mut child = spawn(&format!("0.0.0.0:{port}"), Some(token));
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let up = (0..100).any(|_| {
        let ok = TcpStream::connect(addr).is_ok();
        if !ok {
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        ok
    });
    let without = if up { request(addr, "GET", "/runs", &[], "").status } else { 0 };
    let with =
        if up { request(addr, "GET", "/runs", &[("Authorization", &format!("Bearer {token}"))], "").status } else { 0 };
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(up, "k6gate serve did not listen: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!((without, with), (401, 200));
}
