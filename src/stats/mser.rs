//! Steady-state truncation: where does the initial transient of a series end?
//!
//! MSER-m (White 1997; White, Cobb, Spratt 2000, "A comparison of five steady-state
//! truncation heuristics"): batch the series into means of `m` observations, then pick
//! the truncation point `d` that minimizes the marginal standard error
//! `sum_{j>=d} (Y_j - mean_d)^2 / (k - d)^2`, searching only the first half of the batches
//! (a minimum in the second half means the series never settled, so nothing is trimmed
//! on that evidence). k6gate applies it to the per-second mean latency of the sustained
//! phase, so a warm-up spike while caches fill never pollutes a comparison.
//!
//! This module does no IO.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Batch size of the classic MSER-5 rule.
pub const MSER5_BATCH: usize = 5;

/// Series shorter than this many windows use batches of one window (MSER-1): five-window
/// batches would leave too few batches to locate a transient of a few seconds.
pub const MIN_WINDOWS_FOR_MSER5: usize = 50;

/// Fewer batches than this: the series is too short to tell a transient from noise.
const MIN_BATCHES: usize = 4;

/// The outcome of a truncation search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Truncation {
    /// Rule applied, e.g. "MSER-5" or "MSER-1".
    pub rule: String,
    /// Leading observations to drop.
    pub trimmed: usize,
    /// Observations the rule looked at.
    pub observations: usize,
    /// Why nothing was trimmed, when the rule could not be applied.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Runs MSER on `series`, choosing the batch size from its length.
/// Non-finite observations (windows without samples) must be removed by the caller.
pub fn truncate(series: &[f64]) -> Truncation {
    let batch = if series.len() >= MIN_WINDOWS_FOR_MSER5 { MSER5_BATCH } else { 1 };
    truncate_with_batch(series, batch)
}

pub fn truncate_with_batch(series: &[f64], batch: usize) -> Truncation {
    let rule = format!("MSER-{batch}");
    let batch = batch.max(1);
    let batches: Vec<f64> = series.chunks_exact(batch).map(|c| c.iter().sum::<f64>() / batch as f64).collect();
    let k = batches.len();
    if k < MIN_BATCHES {
        return Truncation {
            rule,
            trimmed: 0,
            observations: series.len(),
            note: Some(format!("{k} batches, at least {MIN_BATCHES} needed")),
        };
    }
    let mut best = (f64::INFINITY, 0usize);
    for d in 0..=k / 2 {
        let tail = batches.get(d..).unwrap_or_default();
        let n = tail.len() as f64;
        let mean = tail.iter().sum::<f64>() / n;
        let sse: f64 = tail.iter().map(|y| (y - mean).powi(2)).sum();
        let stat = sse / (n * n);
        if stat < best.0 {
            best = (stat, d);
        }
    }
    Truncation { rule, trimmed: best.1 * batch, observations: series.len(), note: None }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_an_initial_spike() {
        let mut s = vec![40.0, 35.0, 30.0];
        s.extend((0..17).map(|i| 5.0 + (i % 3) as f64 * 0.2));
        let t = truncate(&s);
        assert_eq!(t.rule, "MSER-1");
        assert_eq!(t.trimmed, 3);
    }

    #[test]
    fn uses_batches_of_five_on_long_series() {
        let mut s = vec![50.0; 10];
        s.extend((0..90).map(|i| 5.0 + (i % 7) as f64 * 0.1));
        let t = truncate(&s);
        assert_eq!(t.rule, "MSER-5");
        assert!(t.trimmed >= 10 && t.trimmed <= 50 && t.trimmed % 5 == 0, "{t:?}");
    }

    #[test]
    fn too_short_series_trims_nothing_and_says_why() {
        let t = truncate(&[9.0, 1.0, 1.0]);
        assert_eq!(t.trimmed, 0);
        assert!(t.note.is_some());
    }

    #[test]
    fn never_trims_more_than_half() {
        let s: Vec<f64> = (0..20).map(|i| i as f64).collect();
        assert!(truncate(&s).trimmed <= 10);
    }
}
