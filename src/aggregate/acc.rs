//! The accumulator behind every (window, stage, group, metric) cell.

use crate::stats::{ExactSum, Sketch};

/// Exact count, sum, min, max, non-zero count and last value, plus a quantile sketch for
/// Trends. One type for all four k6 metric kinds, so a Point whose metric type is not yet
/// known (its declaration sits in another chunk) can still be aggregated, and the right
/// statistics are read off once the type is known.
#[derive(Debug, Clone)]
pub struct Acc {
    pub count: u64,
    pub sum: ExactSum,
    pub min: f64,
    pub max: f64,
    /// Samples with a non-zero value: a Rate's "passes".
    pub nonzero: u64,
    pub last: f64,
    pub last_t: i64,
    pub sketch: Option<Box<Sketch>>,
}

impl Acc {
    pub fn new(with_sketch: bool) -> Acc {
        Acc {
            count: 0,
            sum: ExactSum::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            nonzero: 0,
            last: 0.0,
            last_t: i64::MIN,
            sketch: with_sketch.then(Box::default),
        }
    }

    #[inline]
    pub fn add(&mut self, value: f64, time_ns: i64) {
        self.count += 1;
        self.sum.add(value);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        if value != 0.0 {
            self.nonzero += 1;
        }
        if time_ns > self.last_t || (time_ns == self.last_t && value > self.last) {
            self.last_t = time_ns;
            self.last = value;
        }
        if let Some(s) = &mut self.sketch {
            s.add(value);
        }
    }

    pub fn sum(&self) -> f64 {
        self.sum.value()
    }

    pub fn merge(&mut self, other: &Acc) {
        self.count += other.count;
        self.sum.merge(other.sum);
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.nonzero += other.nonzero;
        // Ties on the last timestamp go to the larger value, so merge order never matters.
        if other.last_t > self.last_t || (other.last_t == self.last_t && other.last > self.last) {
            self.last_t = other.last_t;
            self.last = other.last;
        }
        match (&mut self.sketch, &other.sketch) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => self.sketch = Some(b.clone()),
            _ => {}
        }
    }
}
