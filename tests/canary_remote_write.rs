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
use std::sync::OnceLock;

use k6gate::canary::analysis::State;
use k6gate::canary::policy::{Decision, Rules};
use k6gate::canary::run::{Analysis, Clock, Plan, analyse};
use k6gate::canary::source::Source;
use k6gate::prom::remote_write::{Auth, RemoteWriter, Sample, TimeSeries, WriteOptions};
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
}

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
                }
            }
            // Whole requests: the fraction is carried to the next second.
            carried += p.per_s;
            let n = carried.floor();
            carried -= n;
            let errors = (n * p.error_share).round();
            for _ in 0..(n - errors) as usize {
                let latency = p.median_ms / 1000.0 * (0.2 * rng.normal()).exp();
                for (i, le) in bounds.iter().enumerate() {
                    if latency <= *le {
                        buckets[i] += 1.0;
                    }
                }
                buckets[bounds.len()] += 1.0;
            }
            ok += n - errors;
            failed += errors;
            let at = ((t + 0.5) * 1000.0) as i64;
            for (i, b) in buckets.iter().enumerate() {
                bucket_samples[i].push(Sample { value: *b, timestamp: at });
            }
            ok_samples.push(Sample { value: ok, timestamp: at });
            failed_samples.push(Sample { value: failed, timestamp: at });
            t += 1.0;
        }
        let base = [("instance", p.instance.as_str()), ("job", "shop"), ("route", *route)];
        for (i, samples) in bucket_samples.into_iter().enumerate() {
            let le = le_label(bounds.get(i).copied().unwrap_or(f64::INFINITY));
            let labels =
                base.iter().map(|(k, v)| (*k, v.to_string())).chain([("status_class", "2xx".to_string()), ("le", le)]);
            out.push(TimeSeries::new("http_server_request_duration_seconds_bucket", labels, samples).unwrap());
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
    Source {
        url: prometheus().to_string(),
        tenant: None,
        auth: Auth::None,
        canary_selector: format!(r#"instance="{case}-canary""#),
        stable_selector: format!(r#"instance="{case}-stable""#),
        latency_metric: "http_server_request_duration_seconds".into(),
        latency_matchers: r#"status_class!="5xx""#.into(),
        requests_metric: "http_server_requests_total".into(),
        route_label: "route".into(),
        status_label: "status".into(),
    }
}

/// The analysis start: whole seconds, [`AGO_S`] ago.
fn start_s() -> f64 {
    (std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64() - AGO_S).floor()
}

/// Writes `populations` around the analysis (from 10 s before it), then runs it with the
/// shipped rules; every look as it was seen, and the analysis.
fn analyse_written(case: &str, start: f64, populations: &[Population<'_>]) -> (Analysis, Vec<(f64, f64)>) {
    for (i, p) in populations.iter().enumerate() {
        write(&series(p, start - 10.0, start + PLAN.duration_s as f64 + 1.0, 7 + i as u64));
    }
    let rules = Rules::load(&root().join("policies")).unwrap();
    let client = k6gate::prom::query::client().unwrap();
    let src = source(case);
    let clock = Jump(Cell::new(start + 0.2));
    let mut looks = Vec::new();
    let a = analyse(
        &rules,
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
    };
    let (a, _) = analyse_written("few", start, &[stable("few", &FIVE), canary]);
    assert_eq!(a.outcome.decision, Decision::Inconclusive, "{:?}", a.outcome);
    assert!(a.canary.requests >= 100.0, "enough traffic overall: {:?}", a.canary);
    let reasons = a.outcome.reasons.join("; ");
    assert!(reasons.contains("latency_p50 of POST /api/checkout: no data (0 canary and 8 stable windows"), "{reasons}");
    assert!(!reasons.contains("served"), "the reason is the histograms, not the traffic: {reasons}");
}
