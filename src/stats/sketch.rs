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
    #[schemars(with = "Vec<u64>")]
    pub counts: Counts,
}

impl Store {
    fn add(&mut self, key: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = key;
            self.counts.resize(1);
        } else if key < self.offset {
            self.counts.prepend_zeros((self.offset - key) as usize);
            self.offset = key;
        }
        let idx = (key - self.offset) as usize;
        if idx >= self.counts.len() {
            self.counts.resize(idx + 1);
        }
        self.counts.add(idx, n);
    }

    fn merge(&mut self, other: &Store) {
        for (key, n) in other.keys() {
            self.add(key, n);
        }
    }

    fn keys(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts.iter().enumerate().filter(|(_, n)| *n > 0).map(|(i, n)| (self.offset + i as i32, n))
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

/// Bucket counts in the narrowest unsigned width that holds the largest of them, widened as
/// they grow. An ingest keeps one sketch per window, group and Trend metric (about 40,000 for
/// half an hour of 1 s windows), and most windows' buckets hold a few hundred values at most:
/// one byte per bucket instead of eight is what keeps a day-long run's ingest small.
/// Serialized as plain numbers, whatever the width.
///
/// Hand-written: the crates for compact integer vectors (bitpacking, succinct structures)
/// are built for read-only data, not for counts incremented on every sample.
#[derive(Debug, Clone)]
pub enum Counts {
    U8(Vec<u8>),
    U16(Vec<u16>),
    U32(Vec<u32>),
    U64(Vec<u64>),
}

/// One expression for each width; `$v` is the vector.
macro_rules! each_width {
    ($counts:expr, $v:ident => $e:expr) => {
        match $counts {
            Counts::U8($v) => $e,
            Counts::U16($v) => $e,
            Counts::U32($v) => $e,
            Counts::U64($v) => $e,
        }
    };
}

impl Default for Counts {
    fn default() -> Self {
        Counts::U8(Vec::new())
    }
}

impl Counts {
    /// The narrowest counts holding `values` (whose largest is `max`).
    fn from_values(values: impl Iterator<Item = u64>, max: u64) -> Counts {
        if max <= u64::from(u8::MAX) {
            Counts::U8(values.map(|n| n as u8).collect())
        } else if max <= u64::from(u16::MAX) {
            Counts::U16(values.map(|n| n as u16).collect())
        } else if max <= u64::from(u32::MAX) {
            Counts::U32(values.map(|n| n as u32).collect())
        } else {
            Counts::U64(values.collect())
        }
    }

    fn capacity_max(&self) -> u64 {
        match self {
            Counts::U8(_) => u64::from(u8::MAX),
            Counts::U16(_) => u64::from(u16::MAX),
            Counts::U32(_) => u64::from(u32::MAX),
            Counts::U64(_) => u64::MAX,
        }
    }

    pub fn len(&self) -> usize {
        each_width!(self, v => v.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn iter(&self) -> impl DoubleEndedIterator<Item = u64> + ExactSizeIterator + '_ {
        // One boxed-free iterator over any width: index into the vector.
        (0..self.len()).map(move |i| self.get(i))
    }

    fn get(&self, i: usize) -> u64 {
        match self {
            Counts::U8(v) => v.get(i).map_or(0, |&n| u64::from(n)),
            Counts::U16(v) => v.get(i).map_or(0, |&n| u64::from(n)),
            Counts::U32(v) => v.get(i).map_or(0, |&n| u64::from(n)),
            Counts::U64(v) => v.get(i).copied().unwrap_or(0),
        }
    }

    fn resize(&mut self, len: usize) {
        each_width!(self, v => v.resize(len, 0))
    }

    fn prepend_zeros(&mut self, n: usize) {
        each_width!(self, v => { v.splice(0..0, std::iter::repeat_n(0, n)); })
    }

    /// Adds `n` at `i` (which must be in range), widening first when the sum needs it.
    fn add(&mut self, i: usize, n: u64) {
        let sum = self.get(i).saturating_add(n);
        if sum > self.capacity_max() {
            let max = self.iter().max().unwrap_or(0).max(sum);
            *self = Counts::from_values(self.iter(), max);
        }
        each_width!(self, v => if let Some(slot) = v.get_mut(i) {
            *slot = sum as _;
        })
    }
}

impl PartialEq for Counts {
    /// Equal counts are equal whatever their widths.
    fn eq(&self, other: &Counts) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Serialize for Counts {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Counts {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wide = Vec::<u64>::deserialize(deserializer)?;
        let max = wide.iter().copied().max().unwrap_or(0);
        Ok(Counts::from_values(wide.into_iter(), max))
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
    fn counts_widen_as_they_grow_and_serialize_as_numbers() {
        let mut s = Sketch::new();
        for _ in 0..300 {
            s.add(10.0);
        }
        s.add(1000.0);
        assert!(matches!(s.positive.counts, Counts::U16(_)), "{:?}", s.positive.counts);
        let mut big = Sketch::new();
        big.positive = Store { offset: s.positive.offset, counts: Counts::U64(vec![u64::from(u32::MAX) + 7]) };
        big.count = u64::from(u32::MAX) + 7;
        s.merge(&big);
        assert!(matches!(s.positive.counts, Counts::U64(_)));
        assert_eq!(s.bucketed(), s.count);
        let json = serde_json::to_string(&s.positive).unwrap();
        assert!(json.contains(&format!("[{},", 300 + u64::from(u32::MAX) + 7)), "{json}");
        let back: Store = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s.positive);
        // Narrowed again on the way in: only the width changes, never a count.
        let small: Store = serde_json::from_str(r#"{"offset":3,"counts":[1,0,255]}"#).unwrap();
        assert!(matches!(small.counts, Counts::U8(_)));
        assert_eq!(small.keys().collect::<Vec<_>>(), [(3, 1), (5, 255)]);
    }

    #[test]
    fn empty_sketch_has_no_quantiles() {
        assert_eq!(Sketch::new().quantile(0.5), None);
        assert_eq!(Sketch::new().mean(), None);
    }
}
