//! Prometheus/Mimir: remote write of run summaries and storage stats, and the series names
//! k6gate publishes.

pub mod live;
pub mod publish;
pub mod query;
pub mod remote_write;
pub mod spans;
pub mod storage;
