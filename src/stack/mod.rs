//! `k6gate stack generate`: a monitoring stack reserved for load tests, as files. A Prometheus
//! (remote-write receiver and native histograms as flags, an out-of-order window, the
//! dashboards' recording rules and k6gate's alerts, an always-firing watchdog, alerting to two
//! Alertmanagers), two Alertmanagers in one cluster, the Grafana provisioning that points at
//! them with the generated dashboards, a start script and a compose file. Production
//! monitoring is never touched: everything is new files in one directory.
//!
//! Output is a pure function of [`StackParams`]: no clock, no IO but [`write`]. The templates
//! are minijinja files embedded at build time (`templates/`); the rules and dashboards come
//! from `grafana` (one definition each), never copied here.
//!
//! [`proxy`] is `k6gate stack proxy`, the query cache with a circuit breaker in front of the
//! stack's Prometheus; `--proxy-port` points the generated Grafana at it. The load-test health
//! dashboard slots in beside [`generate`] as more files of the same directory.

mod params;
pub mod proxy;
mod render;

pub use params::{ScrapeTarget, StackError, StackParams, WATCHDOG_ALERT};
pub use render::{generate, write};
