//! `k6gate validate RUN --against ENV`: after a run, does production look like the test?
//! Production's per-route latency (P50/P95 from its histograms) and error rate over a window
//! as long as the run's steady phase, endpoint by endpoint against the run's own numbers.
//!
//! - `endpoints.rs`: pure: which production route a run's request name is, and the
//!   comparison (where production is slower, by what factor);
//! - the Prometheus side is `profile::routes` (the same queries the traffic profile uses).
//!
//! - `in_report.rs`: the section the run's report.md and report.html gain once validated.
//!
//! It records nothing itself: the CLI writes the [`Validation`] beside the run
//! (`validation-<env>.json` in the run directory) for the post-test root-cause runbook.

pub mod endpoints;
pub mod in_report;

pub use endpoints::{Comparison, Endpoint, Numbers, Validation, compare, test_phase};
