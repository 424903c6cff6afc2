//! k6gate: a policy-as-code quality gate for k6 load tests.
//!
//! See ARCHITECTURE.md for the data path and the invariants each module keeps.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

pub mod adequacy;
pub mod aggregate;
pub mod archive;
pub mod audit;
pub mod canary;
pub mod cli;
pub mod clock;
pub mod compare;
pub mod error;
pub mod escape;
pub mod gate;
pub mod github;
pub mod grafana;
pub mod guard;
pub mod history;
pub mod ingest;
pub mod load;
pub mod net;
pub mod notify;
pub mod policy;
pub mod profile;
pub mod prom;
pub mod render;
pub mod report;
pub mod retention;
pub mod run;
pub mod samples;
pub mod scale;
pub mod serve;
pub mod stack;
pub mod stats;
pub mod summary;
pub mod time;
pub mod traces;
pub mod trend;
pub mod validate;
pub mod vars;

pub use error::{Error, Result};
pub use ingest::{IngestOptions, ingest};
pub use summary::RunSummary;
