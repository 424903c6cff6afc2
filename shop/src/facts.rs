//! What the shop tells about itself beyond request timings, for k6gate's adequacy check ("is
//! this test representative?") and for telling pool exhaustion from a slow third party:
//!
//! - `shop_db_rows{table}` and `shop_db_bytes` (gauges, read once at start: the data size);
//! - `shop_db_pool_size`, `shop_db_pool_in_use`, `shop_db_pool_in_use_max`,
//!   `shop_db_pool_waiting`, `shop_db_pool_waiting_max` (gauges) and
//!   `shop_db_pool_wait_seconds` (histogram, every checkout of a connection, zero waits included):
//!   a pool that is too small for the load shows as queueing here;
//! - `shop_cache_hits_total`, `shop_cache_misses_total`, `shop_cache_deploys_total` (counters)
//!   and `shop_cache_entries` (gauge): the catalog cache in front of `GET /api/search`;
//! - `shop_third_party_calls_total{provider,outcome}` (counter) and
//!   `shop_third_party_call_seconds_sum`/`_count{provider}`: calls to the payment provider.
//!
//! Appended to `metrics::Metrics::render`'s text by the `/metrics` handler. Hand-written like
//! `metrics`, for the same reasons.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use crate::metrics::bounds;

/// A histogram over `metrics::bounds`, non-cumulative per bound, +Inf last.
#[derive(Debug)]
struct Hist {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Hist {
    fn new() -> Hist {
        Hist { counts: vec![0; bounds().len() + 1], sum: 0.0, count: 0 }
    }

    fn observe(&mut self, secs: f64) {
        let slot = bounds().iter().position(|b| secs <= *b).unwrap_or(bounds().len());
        if let Some(c) = self.counts.get_mut(slot) {
            *c += 1;
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (i, c) in self.counts.iter().enumerate() {
            cumulative += c;
            let le = bounds().get(i).map_or_else(|| "+Inf".to_string(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {}", self.sum);
        let _ = writeln!(out, "{name}_count{braces} {}", self.count);
    }
}

/// The connection pool's queue.
#[derive(Debug)]
pub struct PoolStats {
    size: usize,
    in_use: AtomicU64,
    in_use_max: AtomicU64,
    waiting: AtomicU64,
    waiting_max: AtomicU64,
    wait: Mutex<Hist>,
}

impl PoolStats {
    pub fn new(size: usize) -> PoolStats {
        PoolStats {
            size,
            in_use: AtomicU64::new(0),
            in_use_max: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            waiting_max: AtomicU64::new(0),
            wait: Mutex::new(Hist::new()),
        }
    }

    /// A request found no idle connection and queues.
    pub fn queued(&self) {
        let now = self.waiting.fetch_add(1, Ordering::Relaxed) + 1;
        self.waiting_max.fetch_max(now, Ordering::Relaxed);
    }

    /// A connection was handed out after `waited` (`queued`: it had to queue).
    pub fn acquired(&self, waited: Duration, queued: bool) {
        if queued {
            self.waiting.fetch_sub(1, Ordering::Relaxed);
        }
        let now = self.in_use.fetch_add(1, Ordering::Relaxed) + 1;
        self.in_use_max.fetch_max(now, Ordering::Relaxed);
        self.wait.lock().unwrap_or_else(PoisonError::into_inner).observe(waited.as_secs_f64());
    }

    pub fn released(&self) {
        self.in_use.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The catalog cache's hits and misses.
#[derive(Debug, Default)]
pub struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub deploys: AtomicU64,
}

/// (provider, outcome) -> (calls, seconds spent in them).
type Calls = BTreeMap<(&'static str, &'static str), (u64, f64)>;

/// Calls to third parties, by provider and outcome.
#[derive(Debug, Default)]
pub struct ThirdParty {
    calls: Mutex<Calls>,
}

impl ThirdParty {
    pub fn call(&self, provider: &'static str, failed: bool, took: Duration) {
        let outcome = if failed { "failed" } else { "ok" };
        let mut calls = self.calls.lock().unwrap_or_else(PoisonError::into_inner);
        let e = calls.entry((provider, outcome)).or_default();
        e.0 += 1;
        e.1 += took.as_secs_f64();
    }
}

/// The data size, read once when the database opens.
#[derive(Debug, Clone, Default)]
pub struct DataSize {
    pub rows: Vec<(&'static str, i64)>,
    pub bytes: i64,
}

impl DataSize {
    pub fn read(conn: &rusqlite::Connection) -> rusqlite::Result<DataSize> {
        let mut rows = Vec::new();
        for table in ["products", "users"] {
            rows.push((table, conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?));
        }
        let pages: i64 = conn.query_row("PRAGMA page_count", [], |r| r.get(0))?;
        let page_size: i64 = conn.query_row("PRAGMA page_size", [], |r| r.get(0))?;
        Ok(DataSize { rows, bytes: pages * page_size })
    }
}

/// The exposition text of all of the above.
pub fn render(
    out: &mut String,
    size: &DataSize,
    pool: &PoolStats,
    cache: &CacheStats,
    entries: usize,
    tp: &ThirdParty,
) {
    let gauge = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
    };
    let counter = |out: &mut String, name: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
    };
    gauge(out, "shop_db_rows", "Rows per table when the database opened.");
    for (table, n) in &size.rows {
        let _ = writeln!(out, "shop_db_rows{{table=\"{table}\"}} {n}");
    }
    gauge(out, "shop_db_bytes", "Database file size when it opened (pages x page size).");
    let _ = writeln!(out, "shop_db_bytes {}", size.bytes);
    let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
    for (name, help, v) in [
        ("shop_db_pool_size", "Connections in the database pool.", pool.size as u64),
        ("shop_db_pool_in_use", "Connections checked out now.", load(&pool.in_use)),
        ("shop_db_pool_in_use_max", "Most connections checked out at once since start.", load(&pool.in_use_max)),
        ("shop_db_pool_waiting", "Requests queued for a connection now.", load(&pool.waiting)),
        ("shop_db_pool_waiting_max", "Most requests queued at once since start.", load(&pool.waiting_max)),
    ] {
        gauge(out, name, help);
        let _ = writeln!(out, "{name} {v}");
    }
    let name = "shop_db_pool_wait_seconds";
    let _ = writeln!(out, "# HELP {name} Time from asking the pool for a connection to getting one.");
    let _ = writeln!(out, "# TYPE {name} histogram");
    pool.wait.lock().unwrap_or_else(PoisonError::into_inner).render(out, name, "");
    for (name, help, v) in [
        ("shop_cache_hits_total", "Catalog reads answered by the cache.", load(&cache.hits)),
        ("shop_cache_misses_total", "Catalog reads that went to the database.", load(&cache.misses)),
        ("shop_cache_deploys_total", "Deploys (POST /admin/deploy) that emptied the cache.", load(&cache.deploys)),
    ] {
        counter(out, name, help);
        let _ = writeln!(out, "{name} {v}");
    }
    gauge(out, "shop_cache_entries", "Entries in the catalog cache now.");
    let _ = writeln!(out, "shop_cache_entries {entries}");
    let calls = tp.calls.lock().unwrap_or_else(PoisonError::into_inner);
    counter(out, "shop_third_party_calls_total", "Calls to third parties, by provider and outcome.");
    for ((provider, outcome), (n, _)) in calls.iter() {
        let _ = writeln!(out, "shop_third_party_calls_total{{provider=\"{provider}\",outcome=\"{outcome}\"}} {n}");
    }
    let name = "shop_third_party_call_seconds";
    let _ = writeln!(out, "# HELP {name} Time spent in calls to third parties.\n# TYPE {name} summary");
    let mut per: BTreeMap<&str, (u64, f64)> = BTreeMap::new();
    for ((provider, _), (n, s)) in calls.iter() {
        let e = per.entry(provider).or_default();
        e.0 += n;
        e.1 += s;
    }
    for (provider, (n, s)) in per {
        let _ = writeln!(out, "{name}_sum{{provider=\"{provider}\"}} {s}");
        let _ = writeln!(out, "{name}_count{{provider=\"{provider}\"}} {n}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_queue_is_counted() {
        let p = PoolStats::new(2);
        p.acquired(Duration::ZERO, false);
        p.queued();
        p.queued();
        p.acquired(Duration::from_millis(30), true);
        p.released();
        let mut out = String::new();
        render(&mut out, &DataSize::default(), &p, &CacheStats::default(), 0, &ThirdParty::default());
        assert!(out.contains("shop_db_pool_waiting 1\n"), "{out}");
        assert!(out.contains("shop_db_pool_waiting_max 2\n"));
        assert!(out.contains("shop_db_pool_in_use 1\n"));
        assert!(out.contains("shop_db_pool_in_use_max 2\n"));
        assert!(out.contains("shop_db_pool_wait_seconds_count 2\n"));
        assert!(out.contains("shop_db_pool_wait_seconds_bucket{le=\"+Inf\"} 2\n"));
    }
}
