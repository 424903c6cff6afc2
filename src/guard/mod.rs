//! The load-test guard: what stands between a load test and the people it could hurt. This
//! slice holds the checks before a test starts; the live guard beside k6, teardown
//! verification and the audit trail slot in beside them as more files.
//!
//! - `window`: off-peak windows as minutes of the week (UTC), the next slot; pure.
//! - `config`: the `guard` section of the policy data (windows, preflight thresholds), checked,
//!   errors at `file:line:col`.
//! - `policy`: policies/guard.rego decides whether a run may start now (`now` is an input: the
//!   CLI reads the clock).
//! - `live_rules`: `guard.live` and `guard.teardown` of the policy data, checked.
//! - `k6api`: k6's REST API (status, scale, pause, resume, stop) through `net`.
//! - `live`: the live guard beside k6: drives the VUs along the stages, reads the target and
//!   the stack from Prometheus (`Probe`), asks policies/guard.rego, acts on k6, records why.
//! - `teardown`: after k6, is the target back within its pre-test baseline, and since when.
//! - `preflight`: the monitoring stack and the target, checked through their HTTP APIs (all
//!   requests through `net`), one row per check with its numbers; any failure refuses with
//!   the reason and a time to reschedule.
//!
//! - `alerting`: the guard's own critical conditions as alerts to the Alertmanagers, else
//!   straight to the notification webhook; which path delivered.
//! - `watchdog`: alert-delivery latency, the guard's own probe alert posted to one
//!   Alertmanager and timed until every one of the cluster shows it.
//! - `readonly`: the policy's Grafana folders made view-only before k6 starts, their
//!   permissions saved in the store first and put back after (`guard restore` after a crash).
//!
//! It never prints and never reads the clock or the environment.

pub mod alerting;
pub mod config;
pub mod k6api;
pub mod live;
pub mod live_rules;
pub mod policy;
pub mod preflight;
pub mod readonly;
pub mod teardown;
pub mod watchdog;
pub mod window;

pub use config::{GuardConfig, PreflightRules, TargetRules};
pub use policy::{LiveDecision, Rules, WindowDecision};
