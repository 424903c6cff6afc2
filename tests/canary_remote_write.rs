//! Full tier: the canary analysis on synthetic series written into a real Prometheus by
//! remote write (k6gate's own client, `prom::remote_write`), for the edge cases live traffic
//! does not produce on demand: a canary without any series, a canary whose counters reset
//! in the middle of the analysis (a restarted process), and histograms with too few
//! observations. Prometheus is `scripts/start-prometheus.sh`'s (remote-write receiver,
//! out-of-order window of 30 days), so the series are written some minutes in the past and
//! the analysis runs with a clock pointed at them (`canary::run::analyse` takes the clock and
//! the reader): no test waits in real time. Each test has its own `instance` labels, so they
//! share one Prometheus.
//!
//! The series have the demo shop's shape: a classic latency histogram
//! (`http_server_request_duration_seconds_bucket{route, status_class, le}`) and a request
//! counter (`http_server_requests_total{route, status}`), one sample a second (a scrape at
//! half past), read with the same PromQL as against a live shop.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::sync::OnceLock;

use k6gate::canary::analysis::State;
use k6gate::canary::policy::{Decision, Rules};
use k6gate::canary::run::{Analysis, Clock, Plan, analyse};
use k6gate::canary::source::Source;
use k6gate::prom::remote_write::{Histogram, RemoteWriter, Sample, TimeSeries, WriteOptions};
use k6gate::stats::rng::SplitMix64;

use crate::support::{prometheus, root};

fn prometheus() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| prometheus::start("prom-canary"))
}

/// A clock that jumps to wherever it is asked to sleep until.
struct Jump(Cell<f64>);

impl Clock for Jump {
    fn now_s(&self) -> f64 {
        self.0.get()
    }
    fn sleep_until(&self, t: f64) {
        self.0.set(self.0.get().max(t));
    }
}

const PLAN: Plan = Plan { duration_s: 40, interval_s: 5, delay_s: 0.0 };

/// The analysis starts this long before now: inside the out-of-order window, and old enough
/// that nothing scraped or written live lands in it.
const AGO_S: f64 = 900.0;

/// Classic bucket bounds, 25 % apart from 1 ms to about 10 s, then `+Inf`.
fn bounds() -> Vec<f64> {
    let mut out = Vec::new();
    let mut le = 0.001;
    while le < 10.0 {
        out.push(le);
        le *= 1.25;
    }
    out
}

fn le_label(le: f64) -> String {
    if le.is_infinite() { "+Inf".into() } else { format!("{le}") }
}

/// One population as a process exposes it.
struct Population<'a> {
    instance: String,
    routes: &'a [&'a str],
    /// Requests a second, per route.
    per_s: f64,
    median_ms: f64,
    error_share: f64,
    /// The process restarts here (Unix s): its counters start again from zero after a gap
    /// of two seconds without scrapes.
    restart_at: Option<f64>,
    /// The latency histogram is native (schema 3, as k6 and client libraries default to)
    /// instead of classic.
    native: bool,
    /// CPU seconds per request (`process_cpu_seconds_total`, 10 % noise a second); 0: none.
    cpu_s_per_request: f64,
}

/// Prometheus's default zero bucket: observations at or below it count as zero.
const ZERO_THRESHOLD: f64 = 2.938_735_877_055_719e-39;

/// The cumulative series of `p`, one sample a second from `from_s` to `to_s` (at half past).
fn series(p: &Population<'_>, from_s: f64, to_s: f64, seed: u64) -> Vec<TimeSeries> {
    let bounds = bounds();
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::new();
    for route in p.routes {
        // Cumulative counts per bucket (the last is +Inf), ok and failed requests.
        let mut buckets = vec![0.0; bounds.len() + 1];
        let (mut ok, mut failed) = (0.0, 0.0);
        let mut bucket_samples: Vec<Vec<Sample>> = vec![Vec::new(); bounds.len() + 1];
        let (mut ok_samples, mut failed_samples) = (Vec::new(), Vec::new());
        let mut native: BTreeMap<i32, u64> = BTreeMap::new();
        let mut native_sum = 0.0;
        let mut histograms = Vec::new();
        let (mut cpu, mut cpu_samples) = (0.0, Vec::new());
        let mut carried = 0.0;
        let mut t = from_s;
        while t <= to_s {
            if let Some(r) = p.restart_at {
                if t >= r && t < r + 2.0 {
                    t += 1.0;
                    continue;
                }
                if t >= r + 2.0 && t < r + 3.0 {
                    buckets.iter_mut().for_each(|b| *b = 0.0);
                    (ok, failed) = (0.0, 0.0);
                    native.clear();
                    native_sum = 0.0;
                }
            }
            // Whole requests: the fraction is carried to the next second.
            carried += p.per_s;
            let n = carried.floor();
            carried -= n;
            let errors = (n * p.error_share).round();
            for _ in 0..(n - errors) as usize {
                let latency = p.median_ms / 1000.0 * (0.2 * rng.normal()).exp();
                *native.entry(Histogram::bucket_index(3, latency)).or_default() += 1;
                native_sum += latency;
                for (i, le) in bounds.iter().enumerate() {
                    if latency <= *le {
                        buckets[i] += 1.0;
                    }
                }
                buckets[bounds.len()] += 1.0;
            }
            ok += n - errors;
            failed += errors;
            if p.cpu_s_per_request > 0.0 {
                cpu += n * p.cpu_s_per_request * (1.0 + 0.1 * rng.normal()).max(0.0);
            }
            let at = ((t + 0.5) * 1000.0) as i64;
            for (i, b) in buckets.iter().enumerate() {
                bucket_samples[i].push(Sample { value: *b, timestamp: at });
            }
            histograms.push(Histogram::from_buckets(3, ZERO_THRESHOLD, 0, &native, native_sum, at));
            ok_samples.push(Sample { value: ok, timestamp: at });
            cpu_samples.push(Sample { value: cpu, timestamp: at });
            failed_samples.push(Sample { value: failed, timestamp: at });
            t += 1.0;
        }
        let base = [("instance", p.instance.as_str()), ("job", "shop"), ("route", *route)];
        if p.native {
            let labels = base.iter().map(|(k, v)| (*k, v.to_string())).chain([("status_class", "2xx".to_string())]);
            out.push(TimeSeries::native("http_server_request_duration_seconds", labels, histograms).unwrap());
        }
        for (i, samples) in bucket_samples.into_iter().enumerate().filter(|_| !p.native) {
            let le = le_label(bounds.get(i).copied().unwrap_or(f64::INFINITY));
            let labels =
                base.iter().map(|(k, v)| (*k, v.to_string())).chain([("status_class", "2xx".to_string()), ("le", le)]);
            out.push(TimeSeries::new("http_server_request_duration_seconds_bucket", labels, samples).unwrap());
        }
        if p.cpu_s_per_request > 0.0 {
            let labels = base.iter().map(|(k, v)| (*k, v.to_string()));
            out.push(TimeSeries::new("process_cpu_seconds_total", labels, cpu_samples).unwrap());
        }
        for (status, samples) in [("200", ok_samples), ("500", failed_samples)] {
            let labels = base.iter().map(|(k, v)| (*k, v.to_string())).chain([("status", status.to_string())]);
            out.push(TimeSeries::new("http_server_requests_total", labels, samples).unwrap());
        }
    }
    out
}

fn write(series: &[TimeSeries]) {
    let writer = RemoteWriter::new(format!("{}/api/v1/write", prometheus()), None, WriteOptions::default());
    writer.write(series).unwrap_or_else(|e| panic!("remote write: {e}"));
}

fn source(case: &str) -> Source {
    Source::with_defaults(
        prometheus(),
        &format!(r#"instance="{case}-canary""#),
        &format!(r#"instance="{case}-stable""#),
    )
}

/// The analysis start: whole seconds, [`AGO_S`] ago.
fn start_s() -> f64 {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() - AGO_S).floor()
}

/// Writes `populations` around the analysis (from 10 s before it), then runs it with the
/// shipped rules; every look as it was seen, and the analysis.
fn analyse_written(case: &str, start: f64, populations: &[Population<'_>]) -> (Analysis, Vec<(f64, f64)>) {
    let rules = Rules::load(&root().join("policies")).unwrap();
    analyse_seeded(&rules, case, start, populations, 7)
}

/// [`analyse_written`] with these rules, the populations' latencies drawn from `seed`.
fn analyse_seeded(
    rules: &Rules,
    case: &str,
    start: f64,
    populations: &[Population<'_>],
    seed: u64,
) -> (Analysis, Vec<(f64, f64)>) {
    let series: Vec<TimeSeries> = populations
        .iter()
        .enumerate()
        .flat_map(|(i, p)| series(p, start - 10.0, start + PLAN.duration_s as f64 + 1.0, seed * 16 + i as u64))
        .collect();
    write(&series);
    let client = k6gate::prom::query::client().unwrap();
    // As the CLI builds it: the saturation queries come from the policy data.
    let src = Source {
        saturation: rules.config.saturation.iter().map(|(n, r)| (n.clone(), r.query.clone())).collect(),
        ..source(case)
    };
    let clock = Jump(Cell::new(start + 0.2));
    let mut looks = Vec::new();
    let a = analyse(
        rules,
        &PLAN,
        &clock,
        |end_s, seconds| src.window(&client, end_s, seconds),
        |l| looks.push((l.canary.requests, l.stable.requests)),
    )
    .unwrap_or_else(|e| panic!("{case}: {e}"));
    (a, looks)
}

const TWO: [&str; 2] = ["POST /api/checkout", "GET /api/products"];

fn stable(case: &str, routes: &'static [&'static str]) -> Population<'static> {
    Population {
        instance: format!("{case}-stable"),
        routes,
        per_s: 20.0,
        median_ms: 13.0,
        error_share: 0.0,
        restart_at: None,
        native: false,
        cpu_s_per_request: 0.0,
    }
}

#[test]
#[ignore = "full tier: needs Prometheus"]
fn a_canary_without_any_series_is_inconclusive_and_named() {
    let start = start_s();
    let (a, looks) = analyse_written("missing", start, &[stable("missing", &TWO)]);
    assert_eq!(a.outcome.decision, Decision::Inconclusive, "{:?}", a.outcome);
    assert_eq!(looks.len(), 8, "watched to the end: only a rollback ends early");
    assert!(looks.iter().all(|(canary, stable)| *canary == 0.0 && *stable > 0.0), "{looks:?}");
    let reasons = a.outcome.reasons.join("; ");
    assert!(reasons.contains("canary: no requests in any of the 8 windows"), "{reasons}");
    assert!(a.metrics.iter().filter(|m| m.metric.starts_with("latency")).all(|m| m.state == State::NoData));
}

#[test]
#[ignore = "full tier: needs Prometheus"]
fn a_restarted_canary_counts_like_increase_and_still_promotes() {
    let start = start_s();
    let restart = start + 17.0;
    let canary = Population {
        instance: "reset-canary".into(),
        routes: &TWO,
        per_s: 3.0,
        median_ms: 13.0,
        error_share: 0.0,
        restart_at: Some(restart),
        native: false,
        cpu_s_per_request: 0.0,
    };
    let (a, looks) = analyse_written("reset", start, &[stable("reset", &TWO), canary]);
    // Per window: the canary served 2 routes x 3/s x 5 s = 30 requests (18 in the window of
    // the restart, 15 as increase() reads it). The drop read as a decrease (`delta`: negative,
    // so nothing), or the restart's counters read as new requests (about 160 since the
    // series began), would show here.
    let mut before = 0.0;
    for (i, (canary, _)) in looks.iter().enumerate() {
        let window = canary - before;
        assert!((10.0..=40.0).contains(&window), "window {}: {window} canary requests ({looks:?})", i + 1);
        before = *canary;
    }
    let total = looks.last().unwrap().0;
    // 40 s at 6/s, less the 2 s without scrapes: 228, give or take increase()'s extrapolation.
    assert!((190.0..=260.0).contains(&total), "{total} canary requests ({looks:?})");
    assert_eq!(a.outcome.decision, Decision::Promote, "{:?}", a.outcome);
}

#[test]
#[ignore = "full tier: needs Prometheus"]
fn histograms_with_too_few_observations_are_inconclusive_never_promote() {
    const FIVE: [&str; 5] = ["POST /api/checkout", "GET /api/products", "GET /api/cart", "POST /api/cart", "GET /"];
    let start = start_s();
    // 0.6 a second per route: 3 requests a window, below min_window_requests (5), while the
    // canary's 120 requests are above min_requests (100).
    let canary = Population {
        instance: "few-canary".into(),
        routes: &FIVE,
        per_s: 0.6,
        median_ms: 13.0,
        error_share: 0.0,
        restart_at: None,
        native: false,
        cpu_s_per_request: 0.0,
    };
    let (a, _) = analyse_written("few", start, &[stable("few", &FIVE), canary]);
    assert_eq!(a.outcome.decision, Decision::Inconclusive, "{:?}", a.outcome);
    assert!(a.canary.requests >= 100.0, "enough traffic overall: {:?}", a.canary);
    let reasons = a.outcome.reasons.join("; ");
    assert!(reasons.contains("latency_p50 of POST /api/checkout: no data (0 canary and 8 stable windows"), "{reasons}");
    assert!(!reasons.contains("served"), "the reason is the histograms, not the traffic: {reasons}");
}

/// Native histograms, stable and canary: `median_ms` for the canary.
fn native(case: &str, canary_ms: f64) -> Vec<Population<'static>> {
    let pop = |who: &str, median_ms: f64, per_s: f64| Population {
        instance: format!("{case}-{who}"),
        routes: &TWO,
        per_s,
        median_ms,
        error_share: 0.0,
        restart_at: None,
        native: true,
        cpu_s_per_request: 0.0,
    };
    vec![pop("stable", 13.0, 20.0), pop("canary", canary_ms, 3.0)]
}

/// `promql` at `at` through the query API, the raw JSON (curl: the test checks k6gate's reader).
fn raw_query(promql: &str, at: f64) -> (serde_json::Value, String) {
    let out = std::process::Command::new("curl")
        .args(["-sfG", &format!("{}/api/v1/query", prometheus()), "--data-urlencode"])
        .arg(format!("query={promql}"))
        .args(["--data-urlencode", &format!("time={at}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{promql}: {}", String::from_utf8_lossy(&out.stderr));
    (serde_json::from_slice(&out.stdout).unwrap(), String::from_utf8(out.stdout).unwrap())
}

#[test]
#[ignore = "full tier: needs Prometheus"]
fn native_histograms_are_read_like_classic_ones_and_promote_a_healthy_canary() {
    let start = start_s();
    let (a, _) = analyse_written("native", start, &native("native", 13.0));
    assert_eq!(a.outcome.decision, Decision::Promote, "{:?}", a.outcome);
    let p50 = a.metrics.iter().find(|m| m.metric == "latency_p50" && m.route == TWO[0]).unwrap();
    assert_eq!((p50.n_canary, p50.n_stable), (8.0, 8.0), "every window read: {p50:?}");
    // 13 ms median, read from buckets 9 % wide.
    assert!((12.0..14.5).contains(&p50.stable.unwrap()), "{p50:?}");

    // The answer is Prometheus's: what k6gate reads from one window's histogram is within a
    // bucket of Prometheus's own histogram_quantile of it. The raw answer is kept
    // (tests/fixtures/prometheus/ holds one, for the fast tier's parser test).
    let at = start + 20.0;
    let promql = format!(
        r#"sum by (route) (increase(http_server_request_duration_seconds{{instance="native-stable",route="{}"}}[5s]))"#,
        TWO[0]
    );
    let (answer, raw) = raw_query(&promql, at);
    std::fs::write(crate::support::target_dir().join("prom-canary/native-increase.json"), raw).unwrap();
    let h = &answer["data"]["result"][0]["histogram"][1];
    let buckets = k6gate::canary::source::native_buckets(h).unwrap_or_else(|| panic!("not a histogram: {answer}"));
    assert_eq!(buckets.last().unwrap().1, h["count"].as_str().unwrap().parse::<f64>().unwrap());
    for q in [0.5, 0.95] {
        let theirs = raw_query(&format!("histogram_quantile({q}, {promql})"), at).0["data"]["result"][0]["value"][1]
            .as_str()
            .unwrap()
            .parse::<f64>()
            .unwrap();
        let ours = k6gate::stats::buckets::quantile(q, &buckets).unwrap();
        assert!((ours / theirs - 1.0).abs() < 0.095, "q {q}: ours {ours}, histogram_quantile {theirs}");
    }
}

#[test]
#[ignore = "full tier: needs Prometheus"]
fn a_slow_canary_in_native_histograms_rolls_back() {
    let start = start_s();
    let (a, _) = analyse_written("native-slow", start, &native("native-slow", 13.0 * 1.3));
    assert_eq!(a.outcome.decision, Decision::Rollback, "{:?}", a.outcome);
    assert!(a.outcome.reasons.join(" ").contains("latency_p50 of POST /api/checkout"), "{:?}", a.outcome);
}

/// The false-rollback rate: healthy canaries (the stable version's latency and errors, 7 %
/// of the traffic: 3 requests a second per route beside 20) analysed 40 s in 5 s looks under
/// the shipped rules, each with its own draws. `K6GATE_CANARY_ANALYSES` analyses (20 in the
/// full tier; `bench/canary-false-rollbacks.sh` runs 200).
#[test]
#[ignore = "full tier: needs Prometheus"]
fn healthy_canaries_are_rarely_rolled_back() {
    let n: u64 = std::env::var("K6GATE_CANARY_ANALYSES").ok().and_then(|v| v.parse().ok()).unwrap_or(20);
    let rules = Rules::load(&root().join("policies")).unwrap();
    let start = start_s();
    let (mut promoted, mut rolled_back, mut inconclusive) = (0u64, Vec::new(), 0u64);
    let timer = std::time::Instant::now();
    for i in 0..n {
        let case = format!("healthy{i}");
        let canary = Population { instance: format!("{case}-canary"), per_s: 3.0, ..stable(&case, &TWO) };
        let (a, _) = analyse_seeded(&rules, &case, start, &[stable(&case, &TWO), canary], 1000 + i);
        match a.outcome.decision {
            Decision::Promote => promoted += 1,
            Decision::Rollback => rolled_back.push(format!("{case}: {}", a.outcome.reasons.join("; "))),
            _ => inconclusive += 1,
        }
    }
    let rate = rolled_back.len() as f64 / n as f64;
    // Binomial: the 95 % upper bound of the rate (Wilson score interval).
    let z = 1.96_f64;
    let nf = n as f64;
    let upper = (rate + z * z / (2.0 * nf) + z * (rate * (1.0 - rate) / nf + z * z / (4.0 * nf * nf)).sqrt())
        / (1.0 + z * z / nf);
    eprintln!(
        "FALSE ROLLBACKS: {} of {n} healthy analyses ({:.1} %, 95 % upper bound {:.1} %); {promoted} promoted, \
         {inconclusive} inconclusive; {:.1} s\n{}",
        rolled_back.len(),
        rate * 100.0,
        upper * 100.0,
        timer.elapsed().as_secs_f64(),
        rolled_back.join("\n")
    );
    assert_eq!(inconclusive, 0, "healthy canaries with enough traffic are decided");
    // Each critical metric spends α = 0.05 on a two-sided-large change; the documented bound.
    assert!(rate <= 0.10, "{} false rollbacks of {n}: {:?}", rolled_back.len(), rolled_back);
}

/// The shipped rules with a saturation signal: CPU seconds per request, critical beyond
/// +50 % when `judged`, else only reported.
fn with_cpu(judged: bool) -> Rules {
    let root = root().join("policies");
    let mut config = k6gate::canary::config::CanaryConfig::load(&root).unwrap();
    config.saturation.insert(
        "cpu_per_request".into(),
        k6gate::canary::config::SaturationRule {
            query: "sum(rate(process_cpu_seconds_total{{selector}}[{interval}])) / \
                    sum(rate(http_server_requests_total{{selector}}[{interval}]))"
                .into(),
            max_increase: judged.then_some(0.5),
            critical: true,
            weight: 1.0,
        },
    );
    Rules::from_parts(k6gate::policy::engine::Policies::load(&root).unwrap(), config)
}

fn cpu_case(case: &str, canary_cpu_s: f64) -> Vec<Population<'static>> {
    let stable_one = Population { cpu_s_per_request: 0.002, ..stable(case, &TWO) };
    let canary = Population {
        instance: format!("{case}-canary"),
        per_s: 3.0,
        cpu_s_per_request: canary_cpu_s,
        ..stable(case, &TWO)
    };
    vec![stable_one, canary]
}

#[test]
#[ignore = "full tier: needs Prometheus"]
fn saturation_is_reported_and_judged_where_the_policy_says_so() {
    let start = start_s();
    // Twice the CPU per request, judged: a critical failure.
    let (a, _) = analyse_seeded(&with_cpu(true), "cpu-judged", start, &cpu_case("cpu-judged", 0.004), 3);
    assert_eq!(a.outcome.decision, Decision::Rollback, "{:?}", a.outcome);
    let m = a.metrics.iter().find(|m| m.metric == "saturation_cpu_per_request").unwrap();
    // A value every window (a clear critical failure may stop before the last look).
    assert_eq!((m.route.as_str(), m.state, m.n_canary), ("all", State::Ok, a.looks.len() as f64), "{m:?}");
    // 2 ms a request against 4 ms.
    assert!((0.0018..0.0022).contains(&m.stable.unwrap()) && (0.0036..0.0044).contains(&m.canary.unwrap()), "{m:?}");
    assert!(a.outcome.reasons.join(" ").contains("critical: saturation_cpu_per_request of all: +"), "{:?}", a.outcome);
    // The same, only reported: shown, and the healthy latency and errors promote.
    let (a, _) = analyse_seeded(&with_cpu(false), "cpu-shown", start, &cpu_case("cpu-shown", 0.004), 3);
    assert_eq!(a.outcome.decision, Decision::Promote, "{:?}", a.outcome);
    let c = a.outcome.checks.iter().find(|c| c.metric == "saturation_cpu_per_request").unwrap();
    assert_eq!(c.status, "report", "{c:?}");
    assert!(
        k6gate::canary::report::text(&a).contains("saturation_cpu_per_request  all"),
        "{}",
        k6gate::canary::report::text(&a)
    );
    // Not available (no CPU series): shown as such, never in the way of a promote.
    let (a, _) = analyse_seeded(&with_cpu(true), "cpu-none", start, &cpu_case("cpu-none", 0.0)[..], 3);
    let c = a.outcome.checks.iter().find(|c| c.metric == "saturation_cpu_per_request").unwrap();
    assert_eq!((a.outcome.decision, c.status.as_str()), (Decision::Promote, "unavailable"), "{:?}", a.outcome);
}
