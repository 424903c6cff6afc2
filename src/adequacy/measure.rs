//! What k6gate measures for the adequacy check: from the run's summary (peak VUs) and from the
//! target's `/metrics` before and after the run (`TargetFacts`). Every value is `None` when it
//! could not be measured, with the reason in `why`: the policy takes unknown as unknown.

use std::collections::BTreeMap;

use serde::Serialize;

use super::exposition::{self, Sample};
use crate::render::CacheState;
use crate::summary::RunSummary;

/// The target's series k6gate reads, from one scrape.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TargetFacts {
    pub rows: Option<f64>,
    pub bytes: Option<f64>,
    pub cache_entries: Option<f64>,
    pub cache_hits: Option<f64>,
    pub cache_misses: Option<f64>,
    /// Calls per provider; `None` when the target does not export the family at all.
    pub third_party: Option<BTreeMap<String, f64>>,
    /// Seconds spent in calls, per provider (`shop_third_party_call_seconds_sum`).
    pub third_party_seconds: BTreeMap<String, f64>,
    pub pool_size: Option<f64>,
    pub pool_in_use_max: Option<f64>,
    pub pool_waiting_max: Option<f64>,
    /// `shop_db_pool_wait_seconds` buckets: (upper bound, cumulative count).
    pub pool_wait_buckets: Vec<(f64, f64)>,
    pub pool_wait_count: Option<f64>,
    /// TCP connections open at the target at this scrape (`k6gate_shop_open_connections`),
    /// the scrape's own included.
    pub open_connections: Option<f64>,
}

impl TargetFacts {
    /// The facts in an exposition text; a text that cannot be parsed is an error.
    pub fn from_text(text: &str) -> Result<TargetFacts, String> {
        let samples = exposition::parse(text)?;
        let one = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        let sum = |name: &str| {
            let v: Vec<&Sample> = samples.iter().filter(|s| s.name == name).collect();
            (!v.is_empty()).then(|| v.iter().map(|s| s.value).sum::<f64>())
        };
        let has_family = |name: &str| text.lines().any(|l| l.starts_with(&format!("# TYPE {name} ")));
        let third_party = has_family("shop_third_party_calls_total").then(|| {
            let mut calls = BTreeMap::new();
            for s in samples.iter().filter(|s| s.name == "shop_third_party_calls_total") {
                if let Some(p) = s.labels.get("provider") {
                    *calls.entry(p.clone()).or_insert(0.0) += s.value;
                }
            }
            calls
        });
        let third_party_seconds = samples
            .iter()
            .filter(|s| s.name == "shop_third_party_call_seconds_sum")
            .filter_map(|s| Some((s.labels.get("provider")?.clone(), s.value)))
            .collect();
        let pool_wait_buckets = samples
            .iter()
            .filter(|s| s.name == "shop_db_pool_wait_seconds_bucket")
            .filter_map(|s| {
                let le = s.labels.get("le")?;
                let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().ok()? };
                Some((bound, s.value))
            })
            .collect();
        Ok(TargetFacts {
            rows: sum("shop_db_rows"),
            bytes: one("shop_db_bytes"),
            cache_entries: one("shop_cache_entries"),
            cache_hits: one("shop_cache_hits_total"),
            cache_misses: one("shop_cache_misses_total"),
            third_party,
            third_party_seconds,
            pool_size: one("shop_db_pool_size"),
            pool_in_use_max: one("shop_db_pool_in_use_max"),
            pool_waiting_max: one("shop_db_pool_waiting_max"),
            pool_wait_buckets,
            pool_wait_count: one("shop_db_pool_wait_seconds_count"),
            open_connections: one("k6gate_shop_open_connections"),
        })
    }
}

/// The database pool over the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolMeasure {
    pub size: f64,
    /// Most requests queued at once (since the target started).
    pub waiting_max: f64,
    /// P95 of the wait for a connection over the run's checkouts, in ms.
    pub wait_p95_ms: Option<f64>,
    pub checkouts: f64,
}

/// What the run showed, `None` where it could not be measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Measured {
    pub users: Option<f64>,
    pub connections: Option<f64>,
    pub data_rows: Option<f64>,
    pub data_bytes: Option<f64>,
    pub cache_at_start: Option<CacheState>,
    /// Hits over reads during the run.
    pub cache_hit_rate: Option<f64>,
    pub third_party_calls: Option<BTreeMap<String, f64>>,
    /// Mean time of one call during the run, in ms, per provider that was called.
    pub third_party_mean_ms: BTreeMap<String, f64>,
    pub saturation_scenario: Option<bool>,
    /// Which run showed the saturation scenario (`saturation::seen`), as a sentence.
    #[serde(skip)]
    pub saturation_text: Option<String>,
    /// k6's peak VUs (one keep-alive connection each), kept beside `connections` when the
    /// target's own peak is the one compared.
    pub k6_peak_vus: Option<f64>,
    /// The most connections the target had open at once while k6 ran (scraped every second).
    pub target_connections: Option<f64>,
    /// Which of the two `connections` is, as a phrase for the section.
    #[serde(skip)]
    pub connections_source: Option<String>,
    pub pool: Option<PoolMeasure>,
    /// k6's P95 of the whole run's successful requests, in ms.
    pub request_p95_ms: Option<f64>,
    /// Why a measurement is missing, by aspect.
    #[serde(skip)]
    pub why: BTreeMap<String, String>,
}

impl Measured {
    /// The target's peak open connections while k6 ran (`None`: not measured, `why`): when
    /// measured, they are what production's connections are compared with, k6's VUs beside.
    pub fn set_target_connections(&mut self, peak: Result<f64, String>) {
        match peak {
            Ok(peak) => {
                self.target_connections = Some(peak);
                self.connections = Some(peak);
                self.why.remove("connections");
                let k6 = self.k6_peak_vus.map_or("k6's VUs unknown".to_string(), |v| format!("k6: {v:.0} VUs"));
                self.connections_source = Some(format!("peak open at the target, {k6}"));
            }
            Err(why) => {
                if let Some(s) = self.connections_source.as_mut() {
                    *s = format!("{s}; the target's own count unknown: {why}");
                }
            }
        }
    }

    /// Records whether a saturation scenario reached the knee (`saturation::seen`).
    pub fn set_saturation(&mut self, seen: super::saturation::Seen) {
        match seen {
            Ok((reached, sentence)) => {
                self.saturation_scenario = Some(reached);
                if reached {
                    self.why.remove("saturation_scenario");
                    self.saturation_text = Some(sentence);
                } else {
                    self.why.insert("saturation_scenario".into(), sentence);
                }
            }
            Err(why) => {
                self.saturation_scenario = None;
                self.why.insert("saturation_scenario".into(), why);
            }
        }
    }
}

/// A counter's increase between two scrapes; `None` when either is missing or it went down
/// (the target restarted between them).
fn increase(before: Option<f64>, after: Option<f64>) -> Option<f64> {
    let (b, a) = (before?, after?);
    (a >= b).then_some(a - b)
}

impl Measured {
    /// From the run's summary and the target's facts before and after it. `target` is an
    /// error string when the target could not be scraped.
    pub fn new(summary: &RunSummary, target: Result<(&TargetFacts, &TargetFacts), &str>) -> Measured {
        let mut m = Measured::default();
        let total = &summary.whole_run.total;
        let peak_vus = total.throughput.as_ref().and_then(|t| t.vus_max);
        m.users = peak_vus;
        m.connections = peak_vus;
        m.k6_peak_vus = peak_vus;
        m.connections_source = peak_vus.map(|_| "k6's peak VUs, one connection each".to_string());
        if peak_vus.is_none() {
            for a in ["users", "connections"] {
                m.why.insert(a.into(), "k6's output has no vus samples".into());
            }
        }
        m.request_p95_ms = total.latency_ms.as_ref().and_then(|q| q.p95);
        m.why.insert(
            "saturation_scenario".into(),
            "only this run was looked at (no run history), and it has no saturation steps".into(),
        );
        if let Some(r) = crate::scale::record(summary) {
            m.set_saturation(super::saturation::seen(Some(&r), Ok(&[]), 0));
        }
        let (before, after) = match target {
            Ok(pair) => pair,
            Err(why) => {
                for a in ["data_rows", "data_bytes", "cache", "third_party_calls"] {
                    m.why.insert(a.into(), format!("the target's /metrics could not be read: {why}"));
                }
                return m;
            }
        };
        let absent = |series: &str| format!("the target's /metrics has no {series}");
        m.data_rows = after.rows.or(before.rows);
        if m.data_rows.is_none() {
            m.why.insert("data_rows".into(), absent("shop_db_rows"));
        }
        m.data_bytes = after.bytes.or(before.bytes);
        if m.data_bytes.is_none() {
            m.why.insert("data_bytes".into(), absent("shop_db_bytes"));
        }
        m.cache_at_start = before.cache_entries.map(|n| if n > 0.0 { CacheState::Warm } else { CacheState::Cold });
        if m.cache_at_start.is_none() {
            m.why.insert("cache".into(), absent("shop_cache_entries"));
        }
        let hits = increase(before.cache_hits, after.cache_hits);
        let misses = increase(before.cache_misses, after.cache_misses);
        m.cache_hit_rate = match (hits, misses) {
            (Some(h), Some(x)) if h + x > 0.0 => Some(h / (h + x)),
            _ => None,
        };
        m.third_party_calls = match (&before.third_party, &after.third_party) {
            (Some(b), Some(a)) => {
                let mut calls = BTreeMap::new();
                // A provider that disappeared went down to zero: a restart too.
                let mut reset = b.keys().any(|p| !a.contains_key(p));
                for (p, n) in a {
                    match increase(Some(b.get(p).copied().unwrap_or(0.0)), Some(*n)) {
                        Some(d) => {
                            calls.insert(p.clone(), d);
                        }
                        None => reset = true,
                    }
                }
                if reset {
                    m.why.insert("third_party_calls".into(), "the target's counters went down: it restarted".into());
                    None
                } else {
                    Some(calls)
                }
            }
            _ => {
                m.why.insert("third_party_calls".into(), absent("shop_third_party_calls_total"));
                None
            }
        };
        if let Some(calls) = &m.third_party_calls {
            for (p, n) in calls.iter().filter(|(_, n)| **n > 0.0) {
                let spent = increase(
                    Some(before.third_party_seconds.get(p).copied().unwrap_or(0.0)),
                    after.third_party_seconds.get(p).copied(),
                );
                if let Some(spent) = spent {
                    m.third_party_mean_ms.insert(p.clone(), spent * 1000.0 / n);
                }
            }
        }
        m.pool = pool(before, after);
        m
    }

    /// Sentences on where the time went, from the measurements (empty when nothing stands out).
    pub fn interpretation(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let (Some(pool), Some(p95)) = (&self.pool, self.request_p95_ms)
            && let Some(wait) = pool.wait_p95_ms
            && pool.waiting_max >= 1.0
            && p95 > 0.0
            && wait >= POOL_SHARE * p95
        {
            // The wait's P95 comes from the shop's histogram (bounds 20 % apart) and can read
            // above k6's exact P95 of the whole request: shown no higher than it.
            out.push(format!(
                "connection pool exhausted: waited P95 {} ms of {} ms (pool of {}, up to {} requests queued)",
                round_ms(wait.min(p95)),
                round_ms(p95),
                pool.size,
                pool.waiting_max
            ));
        }
        if let Some(p95) = self.request_p95_ms.filter(|p| *p > 0.0) {
            for (provider, mean) in self.third_party_mean_ms.iter().filter(|(_, m)| **m >= POOL_SHARE * p95) {
                let calls = self.third_party_calls.as_ref().and_then(|c| c.get(provider)).copied().unwrap_or(0.0);
                out.push(format!(
                    "third party {provider}: {} ms per call on average over {calls} calls, against a request P95 of {} ms",
                    round_ms(*mean),
                    round_ms(p95)
                ));
            }
        }
        out
    }
}

/// A pool wait (or a third party's mean call) at or above this share of the request P95 is
/// named as where the time went.
pub const POOL_SHARE: f64 = 0.3;

fn round_ms(ms: f64) -> String {
    if ms >= 10.0 { format!("{ms:.0}") } else { format!("{ms:.1}") }
}

fn pool(before: &TargetFacts, after: &TargetFacts) -> Option<PoolMeasure> {
    let size = after.pool_size?;
    let checkouts = increase(before.pool_wait_count, after.pool_wait_count)?;
    // The run's own waits: the cumulative buckets after minus before, bound by bound.
    let buckets: Vec<(f64, f64)> = after
        .pool_wait_buckets
        .iter()
        .map(|(le, n)| {
            let was = before.pool_wait_buckets.iter().find(|(b, _)| b == le).map_or(0.0, |(_, c)| *c);
            (*le, (n - was).max(0.0))
        })
        .collect();
    let wait_p95_ms = crate::stats::buckets::quantile(0.95, &buckets).map(|s| s * 1000.0);
    Some(PoolMeasure { size, waiting_max: after.pool_waiting_max.unwrap_or(0.0), wait_p95_ms, checkouts })
}

/// A count as a reader writes it: 950, 2,000, 10K, 1.5M.
pub fn human_count(n: f64) -> String {
    let (v, unit) = if n >= 1e9 {
        (n / 1e9, "G")
    } else if n >= 1e6 {
        (n / 1e6, "M")
    } else if n >= 1e4 {
        (n / 1e3, "K")
    } else {
        // Below 10K, whole with a thousands separator: 2,000.
        let whole = format!("{n:.0}");
        let mut out = String::new();
        for (i, c) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i) % 3 == 0 && c.is_ascii_digit() {
                out.push(',');
            }
            out.push(c);
        }
        return out;
    };
    let s = format!("{v:.1}");
    format!("{}{unit}", s.strip_suffix(".0").unwrap_or(&s))
}

/// Bytes as a reader writes them: 1 MB, 10 GB (decimal units).
pub fn human_bytes(n: f64) -> String {
    let units = [(1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")];
    for (size, unit) in units {
        if n >= size {
            let s = format!("{:.1}", n / size);
            return format!("{} {unit}", s.strip_suffix(".0").unwrap_or(&s));
        }
    }
    format!("{n:.0} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_as_people_write_them() {
        assert_eq!(human_count(950.0), "950");
        assert_eq!(human_count(2000.0), "2,000");
        assert_eq!(human_count(10_000.0), "10K");
        assert_eq!(human_count(1_000_000.0), "1M");
        assert_eq!(human_count(1_500_000.0), "1.5M");
        assert_eq!(human_bytes(10e9), "10 GB");
        assert_eq!(human_bytes(1_200_000.0), "1.2 MB");
    }

    #[test]
    fn the_interpretation_names_the_pool_and_a_slow_third_party() {
        let mut m = Measured {
            request_p95_ms: Some(1000.0),
            pool: Some(PoolMeasure { size: 2.0, waiting_max: 9.0, wait_p95_ms: Some(700.0), checkouts: 50.0 }),
            third_party_calls: Some(BTreeMap::from([("payment".to_string(), 12.0)])),
            third_party_mean_ms: BTreeMap::from([("payment".to_string(), 520.0)]),
            ..Measured::default()
        };
        assert_eq!(
            m.interpretation(),
            [
                "connection pool exhausted: waited P95 700 ms of 1000 ms (pool of 2, up to 9 requests queued)",
                "third party payment: 520 ms per call on average over 12 calls, against a request P95 of 1000 ms",
            ]
        );
        // A short wait, a fast provider: nothing stands out.
        m.pool = Some(PoolMeasure { size: 2.0, waiting_max: 1.0, wait_p95_ms: Some(20.0), checkouts: 50.0 });
        m.third_party_mean_ms.insert("payment".into(), 8.0);
        assert!(m.interpretation().is_empty());
    }

    #[test]
    fn a_counter_that_went_down_is_unknown() {
        assert_eq!(increase(Some(5.0), Some(3.0)), None);
        assert_eq!(increase(Some(5.0), Some(8.0)), Some(3.0));
        assert_eq!(increase(None, Some(8.0)), None);
    }
}
