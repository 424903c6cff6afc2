//! A mergeable quantile sketch with a guaranteed relative error (DDSketch).
//!
//! Written here rather than taken from `sketches-ddsketch` because k6gate keeps one
//! sketch per one-second window, per group and per metric, and serializes sketches
//! into the versioned RunSummary: it needs a store that trims itself to the occupied
//! key range, exact merging, negative values (custom Trends may go below zero), and a
//! stable, compact serialized form that we own. The algorithm is the one published in
//! Masson, Rim, Lee, "DDSketch: A Fast and Fully-Mergeable Quantile Sketch with
//! Relative-Error Guarantees", VLDB 2019: a value `x > 0` goes into bucket
//! `ceil(log_gamma(x))` with `gamma = (1 + a) / (1 - a)`; every bucket's representative
//! `2 gamma^k / (gamma + 1)` is within `a` of every value the bucket holds.
//!
//! This module does no IO.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ExactSum;

/// Relative accuracy of every quantile answered by a [`Sketch`].
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// Magnitudes below this are counted as zero (1 ns when values are milliseconds).
const MIN_INDEXABLE: f64 = 1e-6;

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

fn ln_gamma() -> f64 {
    gamma().ln()
}

fn key_of(magnitude: f64) -> i32 {
    // `magnitude` is >= MIN_INDEXABLE and finite, so the key fits easily in an i32.
    (magnitude.ln() / ln_gamma()).ceil() as i32
}

fn value_of(key: i32) -> f64 {
    2.0 * gamma().powi(key) / (gamma() + 1.0)
}

/// Dense counts for a contiguous range of keys, grown on demand.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Store {
    /// Key of `counts[0]`.
    pub offset: i32,
    /// Count per key, starting at `offset`.
    pub counts: Vec<u64>,
}

impl Store {
    fn add(&mut self, key: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = key;
            self.counts.push(n);
            return;
        }
        if key < self.offset {
            let grow = (self.offset - key) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = key;
        }
        let idx = (key - self.offset) as usize;
        if idx >= self.counts.len() {
            self.counts.resize(idx + 1, 0);
        }
        if let Some(slot) = self.counts.get_mut(idx) {
            *slot += n;
        }
    }

    fn merge(&mut self, other: &Store) {
        for (i, &n) in other.counts.iter().enumerate() {
            if n > 0 {
                self.add(other.offset + i as i32, n);
            }
        }
    }

    fn keys(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| (self.offset + i as i32, *n))
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// A DDSketch over f64 values with exact count, sum, min and max on the side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Sketch {
    /// Relative accuracy the sketch was built with; merging requires equal values.
    pub alpha: f64,
    pub count: u64,
    /// Exact whatever the merge order (see [`ExactSum`]); serialized as a number.
    #[schemars(with = "f64")]
    pub sum: ExactSum,
    pub min: f64,
    pub max: f64,
    /// Values whose magnitude is below 1e-6.
    pub zero_count: u64,
    /// Buckets of positive values.
    pub positive: Store,
    /// Buckets of negative values, keyed by magnitude.
    pub negative: Store,
}

impl Default for Sketch {
    fn default() -> Self {
        Self::new()
    }
}

impl Sketch {
    pub fn new() -> Self {
        Sketch {
            alpha: RELATIVE_ACCURACY,
            count: 0,
            sum: ExactSum::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            zero_count: 0,
            positive: Store::default(),
            negative: Store::default(),
        }
    }

    /// Adds one value. Non-finite values are the caller's to reject; they are ignored here.
    pub fn add(&mut self, value: f64) {
        if !value.is_finite() {
            return;
        }
        self.count += 1;
        self.sum.add(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value > MIN_INDEXABLE {
            self.positive.add(key_of(value), 1);
        } else if value < -MIN_INDEXABLE {
            self.negative.add(key_of(-value), 1);
        } else {
            self.zero_count += 1;
        }
    }

    /// Adds every value of `other`. Exact: the result equals the sketch of the union.
    pub fn merge(&mut self, other: &Sketch) {
        if other.count == 0 {
            return;
        }
        self.count += other.count;
        self.sum.merge(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.zero_count += other.zero_count;
        self.positive.merge(&other.positive);
        self.negative.merge(&other.negative);
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    pub fn mean(&self) -> Option<f64> {
        (self.count > 0).then(|| self.sum.value() / self.count as f64)
    }

    /// The value at rank `q * (count - 1)`, within `alpha` relative error of the exact
    /// sample at that rank. `None` on an empty sketch or a `q` outside `[0, 1]`.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.count == 0 || !(0.0..=1.0).contains(&q) {
            return None;
        }
        // The extremes are known exactly.
        if q == 0.0 {
            return Some(self.min);
        }
        if q == 1.0 {
            return Some(self.max);
        }
        let rank = (q * (self.count - 1) as f64).floor() as u64;
        let mut seen = 0u64;
        // Most negative values first: the negative store's highest magnitude.
        for (key, n) in self.negative.keys().rev() {
            seen += n;
            if seen > rank {
                return Some(self.clamp(-value_of(key)));
            }
        }
        seen += self.zero_count;
        if seen > rank {
            return Some(self.clamp(0.0));
        }
        for (key, n) in self.positive.keys() {
            seen += n;
            if seen > rank {
                return Some(self.clamp(value_of(key)));
            }
        }
        Some(self.max)
    }

    fn clamp(&self, v: f64) -> f64 {
        v.clamp(self.min, self.max)
    }

    /// Number of values held in buckets; equals `count` for a well-formed sketch.
    pub fn bucketed(&self) -> u64 {
        self.positive.total() + self.negative.total() + self.zero_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(sorted: &[f64], q: f64) -> f64 {
        let rank = (q * (sorted.len() - 1) as f64).floor() as usize;
        sorted[rank]
    }

    #[test]
    fn quantiles_are_within_relative_accuracy() {
        let values: Vec<f64> = (1..=10_000).map(|i| (i as f64).powf(1.7) / 100.0).collect();
        let mut s = Sketch::new();
        values.iter().for_each(|v| s.add(*v));
        for q in [0.0, 0.5, 0.9, 0.95, 0.99, 1.0] {
            let want = exact(&values, q);
            let got = s.quantile(q).unwrap();
            assert!((got - want).abs() <= want * RELATIVE_ACCURACY, "q={q} want={want} got={got}");
        }
    }

    #[test]
    fn handles_negative_and_zero_values() {
        let mut s = Sketch::new();
        for v in [-50.0, -10.0, 0.0, 0.0, 5.0, 100.0] {
            s.add(v);
        }
        assert_eq!(s.quantile(0.0), Some(-50.0));
        assert!((s.quantile(0.2).unwrap() + 10.0).abs() <= 0.1);
        assert_eq!(s.quantile(0.4), Some(0.0));
        assert_eq!(s.quantile(1.0), Some(100.0));
        assert_eq!(s.bucketed(), s.count);
    }

    #[test]
    fn empty_sketch_has_no_quantiles() {
        assert_eq!(Sketch::new().quantile(0.5), None);
        assert_eq!(Sketch::new().mean(), None);
    }
}
