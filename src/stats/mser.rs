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
//! MSER alone over-trims series that have no transient at all: on a short series of pure
//! noise the statistic often reaches its minimum deep into the search range (one clean
//! run lost 12 of its 25 steady windows). So a trim is only taken at face value while it
//! is short:
//!
//! - A trim of at most [`UNTESTED_TRIM_SHARE`] of the observations (at least
//!   [`MIN_UNTESTED_TRIM`]) is accepted as MSER found it: cheap, and harmless on a clean run.
//! - A longer trim needs evidence that the trimmed windows differ from the kept ones the
//!   way a warm-up does: slower. A one-sided Mann-Whitney test of the trimmed observations
//!   against the kept ones, alternative "the trimmed ones are larger", must give
//!   p < [`EVIDENCE_ALPHA`], and their mean must be higher too.
//! - Without that evidence the trim falls back to the cap: the `d` that minimizes MSER's
//!   statistic among the trims that fit under the cap (possibly 0), so the choice is
//!   still MSER's, only restricted.
//!
//! [`Truncation`] records MSER's own choice, the cap, whether it applied and the p-value.
//! This module does no IO.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::rank::mann_whitney_greater_p;

/// Batch size of the classic MSER-5 rule.
pub const MSER5_BATCH: usize = 5;

/// Series shorter than this many windows use batches of one window (MSER-1): five-window
/// batches would leave too few batches to locate a transient of a few seconds.
pub const MIN_WINDOWS_FOR_MSER5: usize = 50;

/// Fewer batches than this: the series is too short to tell a transient from noise.
const MIN_BATCHES: usize = 4;

/// Share of the observations MSER may trim without further evidence.
pub const UNTESTED_TRIM_SHARE: f64 = 0.10;

/// The cap is never below this many observations.
pub const MIN_UNTESTED_TRIM: usize = 1;

/// Significance a longer trim needs: the trimmed observations slower than the kept ones.
pub const EVIDENCE_ALPHA: f64 = 0.01;

/// The outcome of a truncation search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Truncation {
    /// Rule applied, e.g. "MSER-5" or "MSER-1".
    pub rule: String,
    /// Leading observations to drop: the final answer.
    pub trimmed: usize,
    /// Observations the rule looked at.
    pub observations: usize,
    /// Leading observations MSER alone would drop (0 in summaries written before k6gate
    /// recorded it).
    #[serde(default)]
    pub mser_trimmed: usize,
    /// Most observations trimmed without evidence: [`UNTESTED_TRIM_SHARE`] of them, at
    /// least [`MIN_UNTESTED_TRIM`] (0 in summaries written before k6gate recorded it).
    #[serde(default)]
    pub cap: usize,
    /// MSER's trim was longer than `cap` and lacked the evidence, so `trimmed` is the best
    /// trim under the cap.
    #[serde(default)]
    pub capped: bool,
    /// One-sided Mann-Whitney p-value of "the trimmed observations are slower than the kept
    /// ones", when MSER's trim was longer than `cap`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence_p: Option<f64>,
    /// Why the trim is not simply MSER's: the series was too short, or the trim was capped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Most observations of a series of `n` trimmed without evidence.
pub fn untested_cap(n: usize) -> usize {
    ((n as f64 * UNTESTED_TRIM_SHARE).floor() as usize).max(MIN_UNTESTED_TRIM)
}

/// Runs MSER on `series`, choosing the batch size from its length, then applies the cap.
/// Non-finite observations (windows without samples) must be removed by the caller.
pub fn truncate(series: &[f64]) -> Truncation {
    let batch = if series.len() >= MIN_WINDOWS_FOR_MSER5 { MSER5_BATCH } else { 1 };
    truncate_with_batch(series, batch)
}

/// MSER's statistic for every truncation point `d` it searches (in batches), or `None` when
/// the series has too few batches.
fn statistics(series: &[f64], batch: usize) -> Option<Vec<f64>> {
    let batches: Vec<f64> = series.chunks_exact(batch).map(|c| c.iter().sum::<f64>() / batch as f64).collect();
    let k = batches.len();
    if k < MIN_BATCHES {
        return None;
    }
    Some(
        (0..=k / 2)
            .map(|d| {
                let tail = batches.get(d..).unwrap_or_default();
                let n = tail.len() as f64;
                let mean = tail.iter().sum::<f64>() / n;
                let sse: f64 = tail.iter().map(|y| (y - mean).powi(2)).sum();
                sse / (n * n)
            })
            .collect(),
    )
}

/// The `d` with the smallest statistic among the first `limit + 1`; the earliest on a tie.
fn best(stats: &[f64], limit: usize) -> usize {
    let mut best = (f64::INFINITY, 0usize);
    for (d, stat) in stats.iter().enumerate().take(limit.saturating_add(1)) {
        if *stat < best.0 {
            best = (*stat, d);
        }
    }
    best.1
}

/// MSER-`batch` alone, without the cap: the leading observations it would drop.
pub fn mser_only(series: &[f64], batch: usize) -> usize {
    let batch = batch.max(1);
    statistics(series, batch).map_or(0, |s| best(&s, usize::MAX) * batch)
}

pub fn truncate_with_batch(series: &[f64], batch: usize) -> Truncation {
    let rule = format!("MSER-{batch}");
    let batch = batch.max(1);
    let n = series.len();
    let cap = untested_cap(n);
    let Some(stats) = statistics(series, batch) else {
        return Truncation {
            rule,
            trimmed: 0,
            observations: n,
            mser_trimmed: 0,
            cap,
            capped: false,
            evidence_p: None,
            note: Some(format!("{} batches, at least {MIN_BATCHES} needed", n / batch)),
        };
    };
    let mser_trimmed = best(&stats, usize::MAX) * batch;
    let accepted = |trimmed, evidence_p, capped, note| Truncation {
        rule: rule.clone(),
        trimmed,
        observations: n,
        mser_trimmed,
        cap,
        capped,
        evidence_p,
        note,
    };
    if mser_trimmed <= cap {
        return accepted(mser_trimmed, None, false, None);
    }
    let (cut, kept) = series.split_at(mser_trimmed.min(n));
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len().max(1) as f64;
    let p = mann_whitney_greater_p(cut, kept).unwrap_or(1.0);
    if p < EVIDENCE_ALPHA && mean(cut) > mean(kept) {
        return accepted(mser_trimmed, Some(p), false, None);
    }
    let trimmed = best(&stats, cap / batch) * batch;
    let note = format!(
        "{} would trim {mser_trimmed} of {n} observations, but they are not significantly slower than \
         the kept ones (one-sided Mann-Whitney p = {p:.3}, below {EVIDENCE_ALPHA} needed): trimmed \
         {trimmed}, at most {cap} without that evidence",
        rule
    );
    accepted(trimmed, Some(p), true, Some(note))
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

    /// splitmix64 and Box-Muller: seeded noise without a dependency.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        fn uniform(&mut self) -> f64 {
            ((self.next() >> 11) as f64 + 1.0) / (1u64 << 53) as f64
        }

        fn normal(&mut self) -> f64 {
            let (u1, u2) = (self.uniform(), self.uniform());
            (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
        }
    }

    /// Per-second mean latency of a run without warm-up: 20 ms, iid noise with sd 2 ms.
    fn clean(seed: u64, n: usize) -> Vec<f64> {
        let mut r = Rng(seed);
        (0..n).map(|_| 20.0 + 2.0 * r.normal()).collect()
    }

    #[test]
    fn the_cap_is_a_tenth_of_the_windows_and_at_least_one() {
        assert_eq!(untested_cap(5), 1);
        assert_eq!(untested_cap(25), 2);
        assert_eq!(untested_cap(60), 6);
    }

    /// Clean series on which MSER alone trims far more than the cap (the (25, 30) one loses 12 of
    /// its 25 windows, like the clean run that motivated the cap): the rule keeps them.
    #[test]
    fn a_clean_series_is_not_over_trimmed() {
        for (n, seed, mser, now) in
            [(20, 22, 8, 2), (25, 30, 12, 0), (25, 33, 12, 0), (30, 42, 10, 0), (40, 39, 20, 0), (60, 1, 30, 0)]
        {
            let s = clean(seed, n);
            let t = truncate(&s);
            assert_eq!(mser_only(&s, if n >= MIN_WINDOWS_FOR_MSER5 { MSER5_BATCH } else { 1 }), mser);
            assert_eq!((t.mser_trimmed, t.trimmed), (mser, now), "n {n} seed {seed}: {t:?}");
            assert!(t.mser_trimmed > t.cap && t.trimmed <= t.cap && t.capped, "n {n} seed {seed}: {t:?}");
            assert!(t.evidence_p.is_some_and(|p| p >= EVIDENCE_ALPHA), "{t:?}");
            assert!(t.note.as_deref().is_some_and(|n| n.contains("not significantly slower")), "{t:?}");
        }
    }

    /// 200 seeds for each of six lengths: MSER alone trims more than the cap on 205 of the 1200
    /// clean series; with the evidence rule 7 remain (the test follows MSER's own choice of
    /// the cut, so its false-positive rate is above the nominal 1 %).
    #[test]
    fn over_trimming_of_clean_series_is_rare() {
        let (mut before, mut after) = (0, 0);
        for n in [20, 25, 30, 40, 49, 60] {
            for seed in 0..200 {
                let t = truncate(&clean(seed, n));
                before += usize::from(t.mser_trimmed > t.cap);
                after += usize::from(t.trimmed > t.cap);
            }
        }
        assert_eq!((before, after), (205, 7));
    }

    #[test]
    fn a_short_trim_is_taken_as_mser_found_it() {
        // 2 slow windows out of 25: within the cap, no test.
        let mut s = clean(7, 25);
        s[0] += 30.0;
        s[1] += 30.0;
        let t = truncate(&s);
        assert_eq!((t.mser_trimmed, t.trimmed, t.capped, t.evidence_p), (2, 2, false, None), "{t:?}");
    }

    #[test]
    fn a_genuine_warm_up_is_still_fully_trimmed() {
        for seed in 0..20 {
            let mut s = clean(seed, 30);
            for x in s.iter_mut().take(8) {
                *x += 30.0;
            }
            let t = truncate(&s);
            // MSER may take a few steady windows with it, never fewer than the warm-up.
            assert!((8..=15).contains(&t.trimmed), "seed {seed}: {t:?}");
            assert!(!t.capped && t.evidence_p.is_some_and(|p| p < EVIDENCE_ALPHA), "seed {seed}: {t:?}");
        }
    }

    #[test]
    fn a_fast_start_is_no_warm_up() {
        // The first 8 windows faster than the rest: MSER cuts them, but a warm-up is slower.
        let mut s = clean(3, 30);
        for x in s.iter_mut().take(8) {
            *x -= 10.0;
        }
        let t = truncate(&s);
        assert!(t.mser_trimmed > t.cap && t.capped && t.trimmed <= t.cap, "{t:?}");
    }
}
