//! Integration tests for `k6gate ingest`, over fixtures produced by real k6 runs
//! (`scripts/gen-fixtures.sh`, generated once per test binary).

mod bad_input;
mod cli;
mod exact;
mod formats;
mod merged_checks;
mod phases;
mod policy;
