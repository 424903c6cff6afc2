//! The one-year simulation (`bench/one-year.sh`) at a tiny scale, so the fast tier proves it
//! still runs through the real code paths: records, prunes, the P99 of the first run kept,
//! and `history compare` and `trend` answered from the records.

use crate::support::one_year::{Config, render, simulate};

#[test]
fn a_few_weeks_of_deployments_record_prune_and_answer() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        weeks: 3,
        deployments_per_week: 3,
        tests: 2,
        run_s: 90,
        rate: 5.0,
        prune_every_days: 7,
        repeats: 3,
        ..Config::year(dir.path(), 1.0)
    };
    let r = simulate(&cfg, |_, _| {});
    let text = render(&cfg, &r);
    assert!(r.runs >= 18, "{text}");
    assert_eq!(r.prunes, 3, "two weekly prunes and the last one: {text}");
    assert!(r.bytes_with_tiers_vacuumed < r.bytes_without_tiers_json, "tiers and gzip save space: {text}");
    assert!(r.summary_stored_fresh * 3 < r.summary_bytes_fresh, "summaries are stored compressed: {text}");
    assert_eq!(r.p99_checks.len(), 2, "{text}");
    for (test, _, record, fresh, after) in &r.p99_checks {
        assert!((after / record - 1.0).abs() < 0.01, "{test}: {text}");
        assert!((fresh / after - 1.0).abs() < 1e-9, "{test}: the stored sketch is the fresh one: {text}");
    }
    assert!(!r.compare_text.starts_with("error"), "{text}");
    assert_eq!(r.trend_points, 9, "{text}");
}
