//! `k6gate profile from-prometheus`: what production's traffic looks like, read from its
//! Prometheus (the target's `http_server_requests_total` and
//! `http_server_request_duration_seconds` per `route`), written as a generated traffic file
//! beside the environment (`environments/traffic/<env>.yaml`).
//!
//! - `routes.rs`: per-route requests, errors and latency quantiles over a window (the
//!   queries, through `prom::query`, which goes through `net`), also used by `validate`;
//! - `mix.rs`: pure: the weighted mix and the burst pattern from those numbers, and the
//!   generated YAML.
//!
//! It never edits the environment file: the traffic file is generated whole, so the
//! environment's comments cannot be lost, and regenerating it is a one-file diff.

pub mod mix;
pub mod routes;

pub use mix::{Bursts, RouteShare, TrafficProfile};
pub use routes::{ProfileError, RouteStats, Source};
