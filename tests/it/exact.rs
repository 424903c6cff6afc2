//! An exact reference computation over k6 output, independent of k6gate's parsers:
//! every sample is kept, values are sorted, quantiles are read at rank floor(q*(n-1)).

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use k6gate::summary::{GroupStats, PhaseSummary};
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::support::fixtures::{Set, close};

/// One k6 sample.
#[derive(Debug, Clone)]
pub struct Sample {
    pub metric: String,
    pub time_ns: i64,
    pub value: f64,
    pub tags: BTreeMap<String, String>,
}

impl Sample {
    /// The one-second window: floor(unix seconds).
    pub fn window(&self) -> i64 {
        self.time_ns.div_euclid(1_000_000_000)
    }

    pub fn stage(&self) -> Option<&str> {
        self.tags.get("test_stage").map(String::as_str).filter(|s| !s.is_empty())
    }
}

/// Every sample of a JSON fixture of the full set, cached per process.
pub fn json_fixture(name: &str) -> Arc<Vec<Sample>> {
    json_in(Set::Full, name)
}

/// Every sample of a JSON fixture of `set`, cached per process.
pub fn json_in(set: Set, name: &str) -> Arc<Vec<Sample>> {
    cached(set.path(name), json_samples)
}

/// Every sample of a CSV fixture of `set`, cached per process.
pub fn csv_in(set: Set, name: &str) -> Arc<Vec<Sample>> {
    cached(set.path(name), csv_samples)
}

fn cached(path: PathBuf, load: impl FnOnce(&Path) -> Vec<Sample>) -> Arc<Vec<Sample>> {
    static CACHE: OnceLock<Mutex<HashMap<PathBuf, Arc<Vec<Sample>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(s) = cache.lock().unwrap().get(&path) {
        return Arc::clone(s);
    }
    let samples = Arc::new(load(&path));
    cache.lock().unwrap().entry(path).or_insert(samples).clone()
}

fn read_maybe_gz(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("read");
    if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&bytes[..]).read_to_string(&mut s).expect("gunzip");
        s
    } else {
        String::from_utf8(bytes).expect("utf-8")
    }
}

/// Reads k6 `--out json` lines. Values are parsed from their JSON text with `str::parse`
/// (correctly rounded), not through serde_json's float parser.
pub fn json_samples(path: &Path) -> Vec<Sample> {
    #[derive(Deserialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: String,
        metric: Option<String>,
        #[serde(borrow)]
        data: &'a RawValue,
    }
    #[derive(Deserialize)]
    struct Data<'a> {
        time: String,
        #[serde(borrow)]
        value: &'a RawValue,
        #[serde(default)]
        tags: Option<BTreeMap<String, String>>,
    }
    let text = read_maybe_gz(path);
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: Line = serde_json::from_str(line).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
        if l.kind != "Point" {
            continue;
        }
        let d: Data =
            serde_json::from_str(l.data.get()).unwrap_or_else(|e| panic!("{}:{}: {e}", path.display(), i + 1));
        out.push(Sample {
            metric: l.metric.expect("Point has a metric"),
            time_ns: parse_rfc3339_ns(&d.time),
            value: d.value.get().parse().expect("numeric value"),
            tags: d.tags.unwrap_or_default(),
        });
    }
    out
}

/// Reads k6 `--out csv` rows (any K6_CSV_TIME_FORMAT).
pub fn csv_samples(path: &Path) -> Vec<Sample> {
    let text = read_maybe_gz(path);
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let headers = rdr.headers().expect("csv header").clone();
    let col = |n: &str| headers.iter().position(|h| h == n).unwrap_or_else(|| panic!("no column {n}"));
    let (cm, ct, cv, ce) = (col("metric_name"), col("timestamp"), col("metric_value"), col("extra_tags"));
    let mut out = Vec::new();
    for rec in rdr.records() {
        let rec = rec.expect("csv record");
        let mut tags = BTreeMap::new();
        for (i, h) in headers.iter().enumerate() {
            if ![cm, ct, cv, ce].contains(&i) && h != "metadata" && !rec[i].is_empty() {
                tags.insert(h.to_string(), rec[i].to_string());
            }
        }
        for pair in rec[ce].split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            tags.insert(k.to_string(), v.to_string());
        }
        out.push(Sample {
            metric: rec[cm].to_string(),
            time_ns: parse_csv_time_ns(&rec[ct]),
            value: rec[cv].parse().expect("metric_value"),
            tags,
        });
    }
    out
}

fn parse_csv_time_ns(t: &str) -> i64 {
    if t.contains('T') {
        return parse_rfc3339_ns(t);
    }
    let n: i64 = t.parse().unwrap_or_else(|_| panic!("timestamp {t:?}"));
    match t.len() {
        0..=11 => n * 1_000_000_000,
        12..=14 => n * 1_000_000,
        15..=17 => n * 1_000,
        _ => n,
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.frac]Z` to unix nanoseconds.
pub fn parse_rfc3339_ns(s: &str) -> i64 {
    let b = s.as_bytes();
    assert!(s.len() >= 20 && s.ends_with('Z') && b[10] == b'T', "timestamp {s:?}");
    let n = |r: std::ops::Range<usize>| -> i64 { s[r].parse().unwrap_or_else(|_| panic!("timestamp {s:?}")) };
    let (y, mo, d, h, mi, se) = (n(0..4), n(5..7), n(8..10), n(11..13), n(14..16), n(17..19));
    let frac = &s[19..s.len() - 1];
    let nanos = if let Some(f) = frac.strip_prefix('.') {
        let mut digits = f.to_string();
        digits.truncate(9);
        while digits.len() < 9 {
            digits.push('0');
        }
        digits.parse::<i64>().expect("fraction")
    } else {
        assert!(frac.is_empty(), "timestamp {s:?}");
        0
    };
    // Howard Hinnant's days_from_civil.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    ((days * 86_400 + h * 3600 + mi * 60 + se) * 1_000_000_000) + nanos
}

/// Exact statistics of the HTTP requests of one phase.
#[derive(Debug, Default, Clone)]
pub struct Exact {
    /// The latency k6gate reports, sorted once `finish` ran: the `http_req_duration` of the
    /// expected responses when every sample of the input has an `expected_response` tag,
    /// else every `http_req_duration`.
    pub durations: Vec<f64>,
    /// `http_req_duration` of the unexpected responses (`expected_response` = false), sorted;
    /// empty when some sample of the input has no tag.
    pub failed_durations: Vec<f64>,
    /// `http_req_duration` by `expected_response` tag: true, false, none.
    by_tag: [Vec<f64>; 3],
    /// Sum of `http_reqs` values.
    pub requests: u64,
    /// `http_req_failed` samples with a non-zero value.
    pub failed: u64,
    /// All `http_req_failed` samples.
    pub failed_samples: u64,
    /// `checks` samples: passed (non-zero) and all.
    pub checks_passed: u64,
    pub checks: u64,
}

impl Exact {
    pub fn add(&mut self, s: &Sample) {
        match s.metric.as_str() {
            "http_req_duration" => {
                let i = match s.tags.get("expected_response").map(String::as_str) {
                    Some("true") => 0,
                    Some("false") => 1,
                    _ => 2,
                };
                self.by_tag[i].push(s.value);
            }
            "http_reqs" => self.requests += s.value as u64,
            "http_req_failed" => {
                self.failed_samples += 1;
                if s.value != 0.0 {
                    self.failed += 1;
                }
            }
            "checks" => {
                self.checks += 1;
                if s.value != 0.0 {
                    self.checks_passed += 1;
                }
            }
            _ => {}
        }
    }

    /// Some `http_req_duration` sample has no `expected_response` tag.
    pub fn untagged(&self) -> bool {
        !self.by_tag[2].is_empty()
    }

    /// Sorts; `all_tagged` says whether every sample of the whole input had the tag.
    pub fn finish(&mut self, all_tagged: bool) {
        let [ok, failed, none] = &self.by_tag;
        if all_tagged {
            self.durations = ok.clone();
            self.failed_durations = failed.clone();
        } else {
            self.durations = ok.iter().chain(failed).chain(none).copied().collect();
            self.failed_durations.clear();
        }
        self.durations.sort_by(f64::total_cmp);
        self.failed_durations.sort_by(f64::total_cmp);
    }

    /// The sample at rank floor(q*(n-1)).
    pub fn quantile(&self, q: f64) -> f64 {
        let n = self.durations.len();
        assert!(n > 0, "no durations");
        self.durations[(q * (n - 1) as f64).floor() as usize]
    }

    pub fn min(&self) -> f64 {
        self.durations[0]
    }

    pub fn max(&self) -> f64 {
        *self.durations.last().expect("no durations")
    }

    pub fn mean(&self) -> f64 {
        self.durations.iter().sum::<f64>() / self.durations.len() as f64
    }
}

/// Per-phase and whole-run exact statistics; `phase_of` names the phase of a sample.
pub struct ByPhase {
    pub phases: BTreeMap<String, Exact>,
    pub whole: Exact,
}

pub fn by_phase(samples: &[Sample], phase_of: impl Fn(&Sample) -> Option<String>) -> ByPhase {
    let mut phases: BTreeMap<String, Exact> = BTreeMap::new();
    let mut whole = Exact::default();
    for s in samples {
        whole.add(s);
        if let Some(p) = phase_of(s) {
            phases.entry(p).or_default().add(s);
        }
    }
    let all_tagged = !whole.untagged();
    phases.values_mut().for_each(|e| e.finish(all_tagged));
    whole.finish(all_tagged);
    ByPhase { phases, whole }
}

/// Phases from the `test_stage` tag.
pub fn by_stage(samples: &[Sample]) -> ByPhase {
    by_phase(samples, |s| s.stage().map(str::to_owned))
}

pub const QUANTILES: [(&str, f64); 4] = [("p50", 0.5), ("p90", 0.9), ("p95", 0.95), ("p99", 0.99)];

/// Checks one GroupStats against the exact computation: counts exact, quantiles within 1%,
/// min and max exact.
pub fn assert_group_matches(what: &str, got: &GroupStats, want: &Exact) {
    assert_eq!(got.requests, want.requests, "{what}: requests");
    assert_eq!(got.failed, want.failed, "{what}: failed");
    if want.failed_samples > 0 {
        let rate = want.failed as f64 / want.failed_samples as f64;
        assert!(
            close(got.error_rate.expect("error_rate"), rate, 1e-12),
            "{what}: error_rate {:?} vs {rate}",
            got.error_rate
        );
    }
    if let Some(c) = &got.checks {
        assert_eq!((c.passes, c.passes + c.fails), (want.checks_passed, want.checks), "{what}: checks passed/all");
    }
    match (&got.failed_latency_ms, want.failed_durations.len()) {
        (None, 0) => {}
        (Some(f), n) => {
            assert_eq!(f.count, n as u64, "{what}: failed latency count");
            assert_eq!((f.min, f.max), (want.failed_durations.first().copied(), want.failed_durations.last().copied()));
        }
        (None, n) => panic!("{what}: no failed latency, {n} unexpected responses"),
    }
    if want.durations.is_empty() {
        assert_eq!(got.latency_ms, None, "{what}: latency without a request to measure");
        return;
    }
    let l = got.latency_ms.as_ref().unwrap_or_else(|| panic!("{what}: no latency"));
    assert_eq!(l.count, want.durations.len() as u64, "{what}: latency count");
    let q = |name: &str| match name {
        "p50" => l.p50,
        "p90" => l.p90,
        "p95" => l.p95,
        _ => l.p99,
    };
    for (name, p) in QUANTILES {
        let exact = want.quantile(p);
        let sketch = q(name).unwrap_or_else(|| panic!("{what}: no {name}"));
        assert!(close(sketch, exact, 0.01), "{what}: {name} = {sketch}, exact rank value {exact} (more than 1% off)");
    }
    assert_eq!(l.min, Some(want.min()), "{what}: min");
    assert_eq!(l.max, Some(want.max()), "{what}: max");
    assert!(close(l.mean.expect("mean"), want.mean(), 1e-9), "{what}: mean {:?} vs {}", l.mean, want.mean());
}

/// Checks the phases of a summary (names in order) and its whole run.
pub fn assert_phases_match(got_phases: &[PhaseSummary], whole_run: &PhaseSummary, want: &ByPhase, order: &[&str]) {
    let names: Vec<&str> = got_phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, order, "phase names in order");
    for p in got_phases {
        let e = want.phases.get(&p.name).unwrap_or_else(|| panic!("phase {} not in the exact computation", p.name));
        assert_group_matches(&format!("phase {}", p.name), &p.total, e);
        assert!(p.total.checks.is_some() || e.checks == 0, "phase {}: no checks stats", p.name);
    }
    assert_group_matches("whole-run", &whole_run.total, &want.whole);
}

/// The group key k6gate uses by default: the non-empty `name` and `method` tags.
pub fn default_group_key(s: &Sample) -> BTreeMap<String, String> {
    ["name", "method"]
        .iter()
        .filter_map(|k| s.tags.get(*k).filter(|v| !v.is_empty()).map(|v| (k.to_string(), v.clone())))
        .collect()
}

/// Exact statistics per (phase, group key) of the HTTP samples.
pub fn by_phase_and_group(
    samples: &[Sample],
    phase_of: impl Fn(&Sample) -> Option<String>,
) -> BTreeMap<(String, BTreeMap<String, String>), Exact> {
    let mut out: BTreeMap<(String, BTreeMap<String, String>), Exact> = BTreeMap::new();
    let all_tagged = samples
        .iter()
        .filter(|s| s.metric == "http_req_duration")
        .all(|s| matches!(s.tags.get("expected_response").map(String::as_str), Some("true" | "false")));
    for s in samples.iter().filter(|s| s.metric.starts_with("http_req")) {
        let key = default_group_key(s);
        if let (Some(p), false) = (phase_of(s), key.is_empty()) {
            out.entry((p, key)).or_default().add(s);
        }
    }
    out.values_mut().for_each(|e| e.finish(all_tagged));
    out
}
