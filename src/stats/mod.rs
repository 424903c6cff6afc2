//! Statistics that k6gate's decisions rest on. Pure functions and data: no IO, no clocks.

pub mod mser;
pub mod sketch;

pub use sketch::Sketch;
