//! Trends over the run history: change points in each metric of a test in an environment,
//! found by E-divisive means (`stats::edivisive`) over the recorded runs' summaries.
//!
//! `deployments.rs` answers the common historical questions (`history compare`, `history
//! trend`) from the runs' compact records alone, never their summaries.
//!
//! It sits beside `compare` (rank 6): it reads RunSummaries (`summary`) of the runs the store
//! lists (`history`), because the store itself never reads inside summaries. It does no IO of
//! its own and reads no clock: runs go in, change points come out.

pub mod changepoints;
pub mod deployments;

pub use changepoints::{Settings, alerting};
