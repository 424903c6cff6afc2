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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::retention::stats::{Row, TierTotal};

    fn stats(budget: Option<u64>) -> StorageStats {
        let row = |tier, test: &str, month: &str, bytes| Row {
            tier,
            class: "standard".into(),
            test: test.into(),
            month: month.into(),
            runs: 2,
            bytes,
        };
        let total =
            |tier, growth| TierTotal { tier, location: "x".into(), runs: 4, bytes: 0, growth_30d_bytes: growth };
        StorageStats {
            store: "s3://b/h".into(),
            now_ns: 1_796_515_200_000_000_000,
            tiers: vec![total(Tier::Remote, 700), total(Tier::Archive, 50)],
            rows: vec![
                row(Tier::Remote, "checkout", "2026-11", 100),
                row(Tier::Remote, "checkout", "2026-12", 600),
                row(Tier::Archive, "checkout", "2025-11", 50),
            ],
            growth_30d_bytes: 750,
            growth_budget_bytes_30d: budget,
        }
    }

    fn find<'a>(series: &'a [TimeSeries], metric: &str, tier: Option<&str>) -> Vec<&'a TimeSeries> {
        series.iter().filter(|s| s.metric() == metric && (tier.is_none() || s.label("tier") == tier)).collect()
    }

    #[test]
    fn months_add_up_into_one_series_per_tier_class_and_test_and_the_budget_only_when_set() {
        let series = series(&stats(Some(1000))).unwrap();
        let remote = find(&series, BYTES, Some("remote"));
        assert_eq!(remote.len(), 1, "no month label: the months add up");
        assert_eq!(remote[0].samples[0].value, 700.0);
        assert_eq!(remote[0].samples[0].timestamp, 1_796_515_200_000);
        assert_eq!(
            remote[0].labels.iter().map(|l| l.name.as_str()).collect::<Vec<_>>(),
            ["__name__", "class", "store", "test", "tier"]
        );
        assert_eq!(find(&series, RUNS, Some("remote"))[0].samples[0].value, 4.0);
        assert_eq!(find(&series, GROWTH_30D, Some("archive"))[0].samples[0].value, 50.0);
        assert_eq!(find(&series, GROWTH_BUDGET, None)[0].samples[0].value, 1000.0);
        let without = super::series(&stats(None)).unwrap();
        assert!(find(&without, GROWTH_BUDGET, None).is_empty(), "no budget in the policy: no budget series");
        assert_eq!(without.len(), series.len() - 1);
    }
}
