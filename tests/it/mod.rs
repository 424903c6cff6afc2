//! `k6gate ingest` and `evaluate` over real k6 outputs: the small checked-in set in the fast
//! tier, the full set (`scripts/gen-fixtures.sh`, generated once per target dir) in the full
//! tier; see `support::fixtures`.

mod bad_input;
mod cli;
mod exact;
mod formats;
mod latency;
mod load_generator;
mod long_run;
mod merged_checks;
mod phases;
mod policy;
