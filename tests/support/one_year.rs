//! The one-year simulation of issue 13: a year of deployments recorded in a real store through
//! the real code paths, pruned by the real retention as time advances, then asked the
//! historical questions. `benches/one_year.rs` (run by `bench/one-year.sh`) runs it at full
//! scale; `tests/one_year.rs` runs it tiny in the fast tier.
//!
//! How runs are made: one real RunSummary per test, built by the real `Aggregator` and
//! `summary::build_from_stream` from synthetic k6 samples (`synthetic.rs`: 10 endpoint groups,
//! three phases (ramp-up, sustained, ramp-down), a 5-minute open-model run). Building 52,000
//! of those from samples would take hours, so each recorded run is its test's summary
//! re-scaled by the run's latency factor: the factor is rounded to a whole power of the
//! sketch's γ (1.0202), so every sketch shifts by whole buckets and stays an exact DDSketch
//! of the scaled samples, and every latency number (quantiles, means, series) is multiplied
//! by the same factor. The factor is slow drift (a random walk) + occasional steps (a
//! regression or a fix, about one deployment in 60) + run-to-run noise (σ 3 % on the log).
//! Each run is recorded with `RunStore::record_run` and its rows from `summary::digest::rows`
//! (as `k6gate run` records it); a failing run is re-run once (a confirmation, same version).
//! Every `prune_every_days` the real `retention::prune` runs with the shipped retention
//! classes (`policies/data/retention.yaml`: `checkout` critical, the rest standard).

#![allow(dead_code, reason = "shared by benches/one_year.rs and the fast-tier test, each uses a part")]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use k6gate::RunSummary;
use k6gate::history::{DigestQuery, NewRun, Outcome, Records, RunStore, SqliteStore};
use k6gate::stats::Sketch;
use k6gate::summary::digest::{self, DigestRow, TOTAL, WHOLE_RUN};
use k6gate::trend::changepoints::Measure;
use k6gate::trend::deployments::{self, Selection};
use serde_json::Value;

use super::synthetic::{Endpoint, Spec};

const DAY_NS: i64 = 86_400_000_000_000;
/// 2026-01-05T00:00:00Z, a Monday.
pub const START_NS: i64 = 1_767_571_200_000_000_000;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct Config {
    pub dir: PathBuf,
    pub weeks: u32,
    pub deployments_per_week: u32,
    pub tests: usize,
    /// Seconds of each run (30 s ramp-up, the rest sustained, 30 s ramp-down).
    pub run_s: u32,
    /// Requests per second in the sustained phase.
    pub rate: f64,
    pub prune_every_days: i64,
    /// Repetitions of each timed query (the median is reported).
    pub repeats: usize,
    pub seed: u64,
}

impl Config {
    /// The year: 50 deployments a week x 20 tests, 5-minute runs, 52 weeks, a weekly
    /// prune; `scale` multiplies the deployments per week.
    pub fn year(dir: &Path, scale: f64) -> Config {
        Config {
            dir: dir.to_path_buf(),
            weeks: 52,
            deployments_per_week: ((50.0 * scale).round() as u32).max(1),
            tests: 20,
            run_s: 300,
            rate: 20.0,
            prune_every_days: 7,
            repeats: 21,
            seed: 13,
        }
    }
}

/// What the simulation measured.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub runs: u64,
    pub deployments: u64,
    /// Sum of the documents (summary, verdict) as stored (gzip) and the record rows' bytes as
    /// recorded: the store without tiers.
    pub bytes_without_tiers: u64,
    /// The same with the documents as JSON, uncompressed (the store before schema 6).
    pub bytes_without_tiers_json: u64,
    /// The SQLite file (with its WAL checkpointed) after the last prune.
    pub bytes_with_tiers: u64,
    /// The pages in use: the file after VACUUM (free pages returned).
    pub bytes_with_tiers_vacuumed: u64,
    pub summary_bytes_fresh: u64,
    pub summary_stored_fresh: u64,
    pub prunes: u32,
    pub prune_seconds_last: f64,
    pub prune_seconds_total: f64,
    pub record_seconds: f64,
    pub build_seconds: f64,
    /// (test, run id, fresh P99 from the record, fresh P99 from the sketch, P99 of the stored
    /// summary's sketch after the year)
    pub p99_checks: Vec<(String, String, f64, f64, f64)>,
    /// Median milliseconds of `history compare` (store opened, records read, answer built).
    pub compare_ms: f64,
    pub trend_ms: f64,
    pub compare_text: String,
    pub trend_points: usize,
}

/// One test's base: its real summary, as JSON.
struct Base {
    json: Value,
}

/// A scaled run, cached by test and γ-power.
struct Scaled {
    text: String,
    /// What the store takes for `text` (gzip).
    stored: u64,
    rows: Vec<DigestRow>,
}

/// The seeded generator (SplitMix64 + Box-Muller), for the timeline.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn normal(&mut self) -> f64 {
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

pub fn test_name(i: usize) -> String {
    if i == 0 { "checkout".to_string() } else { format!("service-{i:02}") }
}

/// Ten endpoints with medians from 8 to 120 ms, the test's own mix.
fn endpoints(test: usize) -> Vec<Endpoint> {
    const NAMES: [&str; 10] =
        ["home", "search", "product", "reviews", "cart", "cart-add", "login", "checkout", "payment", "orders"];
    NAMES
        .iter()
        .enumerate()
        .map(|(i, name)| Endpoint {
            name,
            method: if i % 3 == 1 { "POST" } else { "GET" },
            share: 1.0 + ((i + test) % 4) as f64,
            median_ms: 8.0 * (1.35f64).powi(i as i32) * (1.0 + 0.05 * test as f64),
            sigma: 0.3 + 0.02 * i as f64,
        })
        .collect()
}

fn build_base(cfg: &Config, test: usize) -> Base {
    let names: &'static str = Box::leak(test_name(test).into_boxed_str());
    let spec = Spec {
        test: names,
        environment: "staging",
        deployment_version: "v1.0.0",
        ramp_up_s: 30,
        sustained_s: cfg.run_s.saturating_sub(60).max(1),
        ramp_down_s: 30,
        rate: cfg.rate,
        endpoints: endpoints(test),
        error_rate: 0.002,
        seed: cfg.seed + test as u64,
        ..Spec::default()
    };
    let summary = spec.run();
    Base { json: serde_json::to_value(&summary).expect("a summary serializes") }
}

fn gamma() -> f64 {
    let a = k6gate::stats::sketch::RELATIVE_ACCURACY;
    (1.0 + a) / (1.0 - a)
}

/// Multiplies every latency in a summary by γ^k: sketches shift by `k` buckets, latency
/// numbers (`*_ms` keys, `latency_ms` objects, the `http_req_duration*` metrics) by the factor.
fn scale(v: &mut Value, k: i32, f: f64) {
    match v {
        Value::Object(map) => {
            if map.contains_key("alpha") && map.contains_key("positive") {
                for store in ["positive", "negative"] {
                    if let Some(Value::Number(o)) = map.get_mut(store).and_then(|s| s.get_mut("offset")) {
                        *o = (o.as_i64().unwrap_or(0) + i64::from(k)).into();
                    }
                }
                for key in ["sum", "min", "max"] {
                    mul(map.get_mut(key), f);
                }
                return;
            }
            for (key, value) in map.iter_mut() {
                if key == "metrics" {
                    if let Value::Object(metrics) = value {
                        for (name, m) in metrics.iter_mut() {
                            if name.starts_with("http_req_duration") {
                                scale_numbers(m, k, f);
                            }
                        }
                    }
                } else if key.ends_with("_ms") {
                    scale_numbers(value, k, f);
                } else {
                    scale(value, k, f);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| scale(x, k, f)),
        _ => {}
    }
}

/// Every number inside `v` times `f` (but counts), sketches shifted.
fn scale_numbers(v: &mut Value, k: i32, f: f64) {
    match v {
        Value::Number(_) => mul(Some(v), f),
        Value::Object(map) if map.contains_key("alpha") && map.contains_key("positive") => scale(v, k, f),
        Value::Object(map) => {
            for (key, value) in map.iter_mut() {
                if key != "count" && key != "type" {
                    scale_numbers(value, k, f);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|x| scale_numbers(x, k, f)),
        _ => {}
    }
}

fn mul(v: Option<&mut Value>, f: f64) {
    if let Some(v) = v
        && let Some(x) = v.as_f64()
        && let Some(n) = serde_json::Number::from_f64(x * f)
    {
        *v = Value::Number(n);
    }
}

fn scaled(base: &Base, k: i32) -> Scaled {
    let mut json = base.json.clone();
    scale(&mut json, k, gamma().powi(k));
    let summary: RunSummary = serde_json::from_value(json.clone()).expect("a scaled summary is a summary");
    let text = serde_json::to_string(&json).expect("serializes");
    let stored = k6gate::history::stored_bytes(&serde_json::value::RawValue::from_string(text.clone()).expect("json"))
        .expect("gzip");
    Scaled { text, stored, rows: digest::rows(&summary) }
}

fn whole_run_sketch(summary: &RunSummary) -> Option<&Sketch> {
    summary.whole_run.total.latency_sketch.as_ref()
}

fn file_bytes(path: &Path) -> u64 {
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    std::fs::metadata(path).map_or(0, |m| m.len()) + std::fs::metadata(wal).map_or(0, |m| m.len())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Runs the year. `progress` is told about each simulated week.
pub fn simulate(cfg: &Config, mut progress: impl FnMut(u32, &Report)) -> Report {
    let db = cfg.dir.join("history.db");
    let _ = std::fs::remove_file(&db);
    let store = SqliteStore::open(&db).expect("the store opens");
    let data = k6gate::policy::data::load(&super::root().join("policies/data")).expect("the shipped policy data");
    let rules = k6gate::retention::Rules::from_policy(&data, "main").expect("the shipped retention classes");
    let dirs = k6gate::history::RunDirs::new(&cfg.dir);
    let mut report = Report::default();

    let t = Instant::now();
    let bases: Vec<Base> = (0..cfg.tests).map(|i| build_base(cfg, i)).collect();
    report.build_seconds = t.elapsed().as_secs_f64();
    let mut cache: HashMap<(usize, i32), Scaled> = HashMap::new();
    let mut rng = Rng(cfg.seed);
    let ln_gamma = gamma().ln();
    // Each test's slow drift (log scale) and its level after steps.
    let mut level = vec![0.0f64; cfg.tests];
    // Each test's first counted run's factor, to rebuild its fresh summary at the end.
    let mut first_k: Vec<Option<i32>> = vec![None; cfg.tests];
    let step_ns = 7 * DAY_NS / i64::from(cfg.deployments_per_week);
    let deployments = cfg.weeks * cfg.deployments_per_week;
    let mut next_prune = START_NS + cfg.prune_every_days * DAY_NS;
    let verdict = |outcome: Outcome| {
        // A stand-in of a real verdict's size (about 2 KB: results, notes, the comparison).
        serde_json::value::to_raw_value(&serde_json::json!({
            "outcome": outcome.as_str(),
            "results": (0..12).map(|i| serde_json::json!({
                "rule": format!("latency/p95/group-{i}"), "status": "pass",
                "message": "P95 within budget and not significantly slower than the baseline"
            })).collect::<Vec<_>>(),
        }))
        .expect("json")
    };
    let record_t = Instant::now();
    let mut prune_t = 0.0;
    for d in 0..deployments {
        let at = START_NS + i64::from(d) * step_ns;
        while at >= next_prune {
            let p = Instant::now();
            k6gate::retention::prune(&rules, &store, "sim", &dirs, next_prune, false).expect("prune");
            report.prune_seconds_last = p.elapsed().as_secs_f64();
            prune_t += report.prune_seconds_last;
            report.prunes += 1;
            next_prune += cfg.prune_every_days * DAY_NS;
        }
        let version = format!("v1.{}.{}", d / cfg.deployments_per_week, d % cfg.deployments_per_week);
        report.deployments += 1;
        for (test, base) in bases.iter().enumerate() {
            level[test] += 0.004 * rng.normal();
            if rng.uniform() < 1.0 / 60.0 {
                level[test] += if rng.uniform() < 0.5 { 0.15 } else { -0.12 };
            }
            let roll = rng.uniform();
            let mut outcome = match roll {
                r if r < 0.005 => Outcome::Error,
                r if r < 0.01 => Outcome::Inconclusive,
                r if r < 0.03 => Outcome::Fail,
                r if r < 0.07 => Outcome::Warn,
                _ => Outcome::Pass,
            };
            // A failing run is confirmed by a re-run of the same version.
            let attempts = if outcome == Outcome::Fail { 2 } else { 1 };
            for attempt in 0..attempts {
                let log_factor = level[test] + 0.03 * rng.normal();
                let k = (log_factor / ln_gamma).round() as i32;
                let s = cache.entry((test, k)).or_insert_with(|| scaled(base, k));
                let started = at + i64::from(attempt) * 600_000_000_000 + test as i64 * 1_000_000_000;
                let decided = outcome.is_decided();
                let summary = decided.then(|| serde_json::value::RawValue::from_string(s.text.clone()).expect("json"));
                let verdict = decided.then(|| verdict(outcome));
                let rows = if decided { s.rows.len() as u64 * 150 } else { 0 };
                report.bytes_without_tiers_json += summary.as_ref().map_or(0, |x| x.get().len() as u64)
                    + verdict.as_ref().map_or(0, |x| x.get().len() as u64)
                    + rows;
                report.bytes_without_tiers += if decided { s.stored } else { 0 }
                    + verdict.as_deref().map_or(0, |v| k6gate::history::stored_bytes(v).expect("gzip"))
                    + rows;
                if matches!(outcome, Outcome::Pass | Outcome::Warn | Outcome::Fail) && first_k[test].is_none() {
                    first_k[test] = Some(k);
                }
                if decided && report.summary_bytes_fresh == 0 {
                    report.summary_bytes_fresh = s.text.len() as u64;
                    report.summary_stored_fresh = s.stored;
                }
                store
                    .record_run(&NewRun {
                        test: test_name(test),
                        environment: "staging".into(),
                        outcome,
                        started_at_ns: started,
                        finished_at_ns: Some(started + i64::from(cfg.run_s) * 1_000_000_000),
                        git_branch: Some("main".into()),
                        git_commit: Some(format!("{:08x}", d)),
                        deployment_version: Some(version.clone()),
                        problem: (!decided).then(|| "k6 exited 107".to_string()),
                        summary,
                        verdict,
                        digest: if decided { s.rows.clone() } else { Vec::new() },
                        // As `run` records one: the stand-in verdict's decision record (its rules
                        // all pass, and it has no exception).
                        decision: decided.then(k6gate::history::Decision::default),
                        ..NewRun::default()
                    })
                    .expect("record");
                report.runs += 1;
                if attempt == 0 && outcome == Outcome::Fail && rng.uniform() < 0.5 {
                    outcome = Outcome::Pass;
                }
            }
        }
        // Bound the cache: scaled summaries of levels long gone are dropped.
        if cache.len() > 40 * cfg.tests {
            cache.clear();
        }
        if (d + 1) % cfg.deployments_per_week == 0 {
            progress((d + 1) / cfg.deployments_per_week, &report);
        }
    }
    let end = START_NS + i64::from(deployments) * step_ns;
    let p = Instant::now();
    k6gate::retention::prune(&rules, &store, "sim", &dirs, end, false).expect("prune");
    report.prune_seconds_last = p.elapsed().as_secs_f64();
    prune_t += report.prune_seconds_last;
    report.prunes += 1;
    report.prune_seconds_total = prune_t;
    report.record_seconds = record_t.elapsed().as_secs_f64() - prune_t;
    drop(store);

    let fresh = |test: usize| {
        first_k[test]
            .map(|k| {
                let mut json = bases[test].json.clone();
                scale(&mut json, k, gamma().powi(k));
                let s: RunSummary = serde_json::from_value(json).expect("summary");
                whole_run_sketch(&s).and_then(|s| s.quantile(0.99)).unwrap_or(f64::NAN)
            })
            .unwrap_or(f64::NAN)
    };
    measure(cfg, &db, &mut report, fresh);
    report
}

/// The measurements on a store the simulation left (`--measure-only` re-runs them): sizes,
/// the first runs' P99, the timed questions. `fresh` gives a test's first run's P99 from its
/// fresh sketch (NaN when unknown).
pub fn measure(cfg: &Config, db: &Path, report: &mut Report, fresh: impl Fn(usize) -> f64) {
    // The size with tiers: the file after a checkpoint, and the pages in use (what VACUUM
    // would leave; VACUUM itself needs as much free disk again).
    {
        let conn = rusqlite::Connection::open(db).expect("open");
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())).ok();
        let pragma = |name: &str| conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get::<_, i64>(0)).unwrap_or(0);
        let used = (pragma("page_count") - pragma("freelist_count")) * pragma("page_size");
        report.bytes_with_tiers_vacuumed = used.unsigned_abs();
        if report.runs == 0 {
            report.runs =
                conn.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get::<_, i64>(0)).unwrap_or(0).unsigned_abs();
        }
    }
    report.bytes_with_tiers = file_bytes(db);

    // The P99 of each test's first run after the year, against its fresh value.
    let store = SqliteStore::open(db).expect("the store opens");
    for test in [0, 1.min(cfg.tests - 1)] {
        let name = test_name(test);
        let runs = store
            .digest_runs(&DigestQuery {
                test: &name,
                environment: "staging",
                version: None,
                since_ns: None,
                phases: &[WHOLE_RUN],
                group: Some(TOTAL),
            })
            .expect("records");
        let Some(first) = runs.iter().find(|r| matches!(r.outcome, Outcome::Pass | Outcome::Warn | Outcome::Fail))
        else {
            continue;
        };
        let record_p99 = first.rows.first().and_then(|r| r.p99_ms).unwrap_or(f64::NAN);
        let stored: RunSummary =
            store.get_run(&first.run_id).expect("run").summary_as().expect("summary").expect("a RunSummary");
        let after = whole_run_sketch(&stored).and_then(|s| s.quantile(0.99)).unwrap_or(f64::NAN);
        report.p99_checks.push((name, first.run_id.clone(), record_p99, fresh(test), after));
    }
    drop(store);
    // The historical questions, timed as the CLI answers them: open the store, read the
    // records, build the answer.
    let name = test_name(1.min(cfg.tests - 1));
    let deployments = cfg.weeks * cfg.deployments_per_week;
    let mid = deployments / 2;
    let from = format!("v1.{}.{}", mid / cfg.deployments_per_week, mid % cfg.deployments_per_week);
    let to_d = mid + 1;
    let to = format!("v1.{}.{}", to_d / cfg.deployments_per_week, to_d % cfg.deployments_per_week);
    let phases = Selection::default().phases();
    let mut compare_times = Vec::new();
    let mut trend_times = Vec::new();
    for _ in 0..cfg.repeats {
        let t = Instant::now();
        let store = SqliteStore::open(db).expect("open");
        let read = |version: &str| {
            store
                .digest_runs(&DigestQuery {
                    test: &name,
                    environment: "staging",
                    version: Some(version),
                    since_ns: None,
                    phases: &phases,
                    group: None,
                })
                .expect("records")
        };
        let (a, b) = (read(&from), read(&to));
        let answer = deployments::compare_versions(&name, "staging", (&from, &a), (&to, &b), Selection::default());
        compare_times.push(t.elapsed().as_secs_f64() * 1000.0);
        report.compare_text = match answer {
            Ok(c) => format!(
                "{} -> {}: {} group(s), P95 (all requests) {:?} -> {:?} ({:+.1} %), {}",
                c.from.version,
                c.to.version,
                c.groups.len(),
                c.groups[0].p95_ms.from.map(|x| (x * 10.0).round() / 10.0),
                c.groups[0].p95_ms.to.map(|x| (x * 10.0).round() / 10.0),
                c.groups[0].p95_ms.change_pct.unwrap_or(f64::NAN),
                c.groups[0].p95_ms.between.describe()
            ),
            Err(e) => format!("error: {e}"),
        };

        let t = Instant::now();
        let store = SqliteStore::open(db).expect("open");
        let runs = store
            .digest_runs(&DigestQuery {
                test: &name,
                environment: "staging",
                version: None,
                since_ns: None,
                phases: &phases,
                group: Some(TOTAL),
            })
            .expect("records");
        let pins: Vec<deployments::PinMark> = store
            .list_pins(Some(&name), Some("staging"))
            .expect("pins")
            .into_iter()
            .map(|p| deployments::PinMark { active: p.invalidated.is_none(), run_id: p.run_id })
            .collect();
        let trend =
            deployments::trend(&name, "staging", &runs, Measure::P95Ms, Selection::default(), (&[], &pins), "-")
                .expect("a trend");
        trend_times.push(t.elapsed().as_secs_f64() * 1000.0);
        report.trend_points = trend.points.len();
    }
    report.compare_ms = median(compare_times);
    report.trend_ms = median(trend_times);
}

/// The report as the README shows it.
pub fn render(cfg: &Config, r: &Report) -> String {
    let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
    let mut out = format!(
        "one-year simulation: {} week(s) x {} deployment(s)/week x {} test(s) = {} deployment(s), {} run(s) \
         (failing runs confirmed once), {} s runs at {} req/s, 10 endpoint groups, 3 phases\n",
        cfg.weeks, cfg.deployments_per_week, cfg.tests, r.deployments, r.runs, cfg.run_s, cfg.rate
    );
    out.push_str(&format!(
        "  base summaries built from samples: {:.1} s; one fresh summary: {:.0} KiB ({:.0} KiB stored)\n",
        r.build_seconds,
        r.summary_bytes_fresh as f64 / 1024.0,
        r.summary_stored_fresh as f64 / 1024.0
    ));
    out.push_str(&format!(
        "  recording: {:.1} s; {} prune(s) every {} day(s): {:.1} s in all, the last {:.2} s\n",
        r.record_seconds, r.prunes, cfg.prune_every_days, r.prune_seconds_total, r.prune_seconds_last
    ));
    out.push_str(&format!(
        "  size without tiers (documents gzip as stored, and records): {:.1} MiB ({:.1} MiB with the documents \
         as plain JSON)\n  size with tiers (history.db): {:.1} MiB, of which in use (what VACUUM leaves) {:.1} MiB\n",
        mib(r.bytes_without_tiers),
        mib(r.bytes_without_tiers_json),
        mib(r.bytes_with_tiers),
        mib(r.bytes_with_tiers_vacuumed)
    ));
    for (test, id, record, fresh, after) in &r.p99_checks {
        out.push_str(&format!(
            "  P99 of {test}'s first run {id} (whole run): recorded {record:.2} ms, fresh sketch {fresh:.2} ms, \
             after the year from the stored sketch {after:.2} ms ({:+.3} % vs the recorded value)\n",
            (after / record - 1.0) * 100.0
        ));
    }
    out.push_str(&format!(
        "  history compare ({}): median {:.2} ms over {} runs\n  history trend over the year ({} points): median \
         {:.2} ms\n",
        r.compare_text, r.compare_ms, cfg.repeats, r.trend_points, r.trend_ms
    ));
    out
}
