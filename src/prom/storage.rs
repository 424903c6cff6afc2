//! Storage cost in Prometheus or Mimir (`k6gate history stats --publish`): what each tier
//! holds, and its 30-day growth beside the policy's budget, one sample per series at `now`.
//!
//! | series                                | labels                        | value                     |
//! |---------------------------------------|-------------------------------|---------------------------|
//! | `k6gate_storage_bytes`                | `store, tier, class, test`    | bytes held                |
//! | `k6gate_storage_runs`                 | `store, tier, class, test`    | runs held                 |
//! | `k6gate_storage_growth_30d_bytes`     | `store, tier`                 | bytes added in 30 days    |
//! | `k6gate_storage_growth_budget_bytes`  | `store`                       | the policy's budget       |
//!
//! Labels stay bounded: tiers are five names, classes and tests those of the policy and the
//! history; months are not a label (a series per month would grow forever): the trend is the
//! series over time, and the growth gauge says what the last 30 days added. The budget series
//! is written only when `retention.growth_budget_bytes_30d` is set; the alert
//! (`K6gateStorageGrowthOverBudget`, `src/grafana/rules.rs`) compares the two series, so a
//! budget changed by PR takes effect at the next publish, without regenerating the rules.

use std::collections::BTreeMap;

use crate::prom::remote_write::{InvalidSeries, Sample, TimeSeries};
use crate::retention::stats::{StorageStats, Tier};

pub const BYTES: &str = "k6gate_storage_bytes";
pub const RUNS: &str = "k6gate_storage_runs";
pub const GROWTH_30D: &str = "k6gate_storage_growth_30d_bytes";
pub const GROWTH_BUDGET: &str = "k6gate_storage_growth_budget_bytes";

/// Every storage series name.
pub const METRICS: [&str; 4] = [BYTES, RUNS, GROWTH_30D, GROWTH_BUDGET];

/// The series of `stats`, each one sample at `stats.now_ns`.
pub fn series(stats: &StorageStats) -> Result<Vec<TimeSeries>, InvalidSeries> {
    let at_ms = stats.now_ns / 1_000_000;
    let sample = |v: u64| vec![Sample { value: v as f64, timestamp: at_ms }];
    let mut by_test: BTreeMap<(Tier, &str, &str), (u64, u64)> = BTreeMap::new();
    for r in &stats.rows {
        let cell = by_test.entry((r.tier, &r.class, &r.test)).or_default();
        cell.0 += r.runs;
        cell.1 += r.bytes;
    }
    let mut out = Vec::new();
    for ((tier, class, test), (runs, bytes)) in by_test {
        let labels = [("store", stats.store.as_str()), ("tier", tier.name()), ("class", class), ("test", test)];
        out.push(TimeSeries::new(BYTES, labels, sample(bytes))?);
        out.push(TimeSeries::new(RUNS, labels, sample(runs))?);
    }
    for t in &stats.tiers {
        let labels = [("store", stats.store.as_str()), ("tier", t.tier.name())];
        out.push(TimeSeries::new(GROWTH_30D, labels, sample(t.growth_30d_bytes))?);
    }
    if let Some(budget) = stats.growth_budget_bytes_30d {
        out.push(TimeSeries::new(GROWTH_BUDGET, [("store", stats.store.as_str())], sample(budget))?);
    }
    Ok(out)
}
