//! k6gate's integration tests: one binary, one module per area (casey/just's layout), so the
//! crate is linked once. Shared helpers live in [`support`]; the data-driven policy cases are
//! their own target (`tests/policy_cases.rs`, libtest-mimic).
//!
//! Two tiers. `cargo test` needs nothing but Rust: every test that needs k6 (or the fixtures
//! k6 makes), Prometheus, promtool, Chromium or actionlint is `#[ignore = "full tier: needs
//! ..."]`, listed as ignored, never a silent pass. `scripts/test.sh` installs those tools and
//! runs everything with `--include-ignored`.

mod adequacy;
mod approval;
mod archive;
mod archive_duckdb;
mod audit;
mod canary_remote_write;
mod canary_report;
mod canary_serve;
mod cardinality;
mod changepoints;
mod decision_records;
mod decisions;
mod durable_store;
mod github_report;
mod grafana_annotate;
mod grafana_generate;
mod guard_drills;
mod guard_live;
mod guard_readonly;
mod guard_sampling;
mod history;
mod history_backends;
mod history_queries;
mod html_report;
mod it;
mod layering;
mod live_metrics;
mod load_shapes;
mod notify;
mod one_year;
mod policy_base;
mod preflight;
mod profile;
mod prom_publish;
mod props;
mod provenance;
mod render;
mod retention;
mod run;
mod run_report;
mod runbooks;
mod saturation_pressure;
mod saturation_run;
mod schema;
mod serve;
mod serve_slas;
mod serve_teams;
mod serve_traces;
mod serve_trends;
mod serve_waivers;
mod stack;
mod stack_proxy;
mod storage_stats;
mod support;
mod trace_views;
mod traces;
mod traces_policy;
mod traces_run;
mod traces_stack;
mod validate;
mod workflows;
