//! k6's sample model: what one k6 sample is, whatever file it was read from.
//!
//! Metric types and the built-in metrics (`metric`), the few tags k6gate reads and their
//! slots (`tags`), one sample (`point`), and the names of k6's result formats (`format`).
//!
//! Why a module of its own: `aggregate` and `summary` need these types, and `ingest` (which
//! knows k6's file formats) sits above both, because it feeds the `Aggregator` sample by
//! sample while reading. So the types they share live down here, in a leaf.
//!
//! It must never parse or open anything, nor import from the rest of the crate: syntax and
//! detection belong to `ingest`. This file only lists and re-exports.

pub mod format;
pub mod keep;
pub mod metric;
pub mod point;
pub mod tags;

pub use format::{Compression, Format};
pub use keep::KeepShare;
pub use metric::{Contains, MetricKind, MetricType};
pub use point::Point;
pub use tags::{TagSpec, Tags};
