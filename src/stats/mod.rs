//! Statistics that k6gate's decisions rest on. Pure functions and data: no IO, no clocks.

pub mod buckets;
pub mod edivisive;
pub mod exact_sum;
pub mod modes;
pub mod mser;
pub mod order;
pub mod rank;
pub mod rng;
pub mod runs;
pub mod sequential;
pub mod sketch;
pub mod usl;

pub use exact_sum::ExactSum;
pub use sketch::Sketch;
