//! A sum of f64 values that does not depend on the order of addition.
//!
//! Floating-point addition is not associative, so a sum merged from chunks parsed on
//! several threads would change in its last bits with the thread count and scheduling.
//! A verdict must be reproducible, so sums are kept in fixed point (2^-32 resolution, an
//! i128 accumulator): integer addition is associative and the result is the same however
//! the input was split. Values are rounded to 2.3e-10 of their unit (ms or bytes).

use serde::{Deserialize, Deserializer, Serialize, Serializer};

const SCALE: f64 = 4_294_967_296.0;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ExactSum(i128);

impl ExactSum {
    pub fn from_f64(v: f64) -> ExactSum {
        // `as` saturates at the i128 range, which only absurd inputs (|v| > 1e28) reach.
        ExactSum((v * SCALE).round() as i128)
    }

    #[inline]
    pub fn add(&mut self, v: f64) {
        self.0 = self.0.saturating_add((v * SCALE).round() as i128);
    }

    pub fn merge(&mut self, other: ExactSum) {
        self.0 = self.0.saturating_add(other.0);
    }

    pub fn value(self) -> f64 {
        self.0 as f64 / SCALE
    }
}

impl Serialize for ExactSum {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.value())
    }
}

impl<'de> Deserialize<'de> for ExactSum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        f64::deserialize(d).map(ExactSum::from_f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_does_not_matter() {
        let v = [0.1, 1e9, -3.3, 2.0e-7, 123.456789, 7.0];
        let mut a = ExactSum::default();
        v.iter().for_each(|x| a.add(*x));
        let mut b = ExactSum::default();
        v.iter().rev().for_each(|x| b.add(*x));
        assert_eq!(a, b);
        assert!((a.value() - v.iter().sum::<f64>()).abs() < 1e-6);
    }
}
