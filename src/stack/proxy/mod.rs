//! `k6gate stack proxy`: a query cache with a circuit breaker in front of one Prometheus, for
//! the dashboards and the guard's reads during a load test, so that a busy or dead Prometheus
//! neither gets more load from them nor blinds them.
//!
//! - **Cached** (GET, and POST with a form body as Grafana sends them): `/api/v1/query`,
//!   `/api/v1/query_range` (step-aligned, [`key::prepare`]), `/api/v1/labels`,
//!   `/api/v1/series`, `/api/v1/label/<name>/values`. Identical queries in flight at once go
//!   upstream once (moka's `try_get_with`). Fresh answers live for `ttl`, or `test_ttl` while
//!   a load test runs ([`TestRunning`]).
//! - **Last good answer**: every success is also kept past its TTL (bounded by size). When
//!   the upstream fails or the breaker is open, it is served with `X-K6gate-Stale: <age s>`
//!   and a line in the body's `warnings` array. No last good answer: `503` with Prometheus'
//!   error envelope (`errorType: unavailable`), never an empty success. Nothing older than
//!   `max_stale` is served.
//! - **Breaker** ([`breaker`]): consecutive failures or answers slower than the SLA open it;
//!   half-open probing after the cool-down; closes on a good probe.
//! - **Passed through, uncached**: other `GET /api/v1/...` (build info, metadata, rules,
//!   alerts...) and `/-/ready`, `/-/healthy`, with no cache and no stale answer. Anything else
//!   (writes, admin, lifecycle) is refused with `403`/`404` and says why.
//! - **`/metrics`**: the proxy's own ([`metrics`]).
//!
//! The library neither prints nor reads the environment: `cli` hands it a [`ProxyConfig`] and,
//! to know when a test runs, a probe (the environment's lease in the history).

mod answer;
mod breaker;
mod key;
mod metrics;
mod server;
mod upstream;

use std::sync::Arc;
use std::time::Duration;

use crate::net::Secret;

pub use breaker::{Admit, Breaker, BreakerConfig, Outcome, State};
pub use key::{Endpoint, Prepared, duration_ms, prepare, prepare_with, time_ms};
pub use metrics::{Metrics, Served};
pub use server::{Proxy, router, serve};

/// Says whether a load test runs now (blocking is allowed: it runs on a blocking thread,
/// every [`ProxyConfig::test_poll`]). An error counts as "a test runs": when the proxy
/// cannot tell, it protects Prometheus.
pub type TestRunning = Arc<dyn Fn() -> Result<bool, String> + Send + Sync>;

/// Everything the proxy is told.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyConfig {
    /// The upstream Prometheus' root URL.
    pub upstream: String,
    /// How long a fresh answer is served from the cache.
    pub ttl: Duration,
    /// The same while a load test runs (aggressive: longer, fewer queries reach Prometheus).
    pub test_ttl: Duration,
    /// Always use `test_ttl` (`--during-test`).
    pub always_test_ttl: bool,
    /// How often the [`TestRunning`] probe is asked.
    pub test_poll: Duration,
    /// An upstream answer slower than this counts against the breaker.
    pub sla: Duration,
    /// The most one upstream call may take (then it failed).
    pub upstream_timeout: Duration,
    pub failures_to_open: u32,
    pub cool_down: Duration,
    /// The bytes of answers kept, fresh and last good each.
    pub max_bytes: u64,
    /// The oldest last good answer served as stale; older ones are dropped (then a 503).
    pub max_stale: Duration,
    /// Headers sent with every upstream call (Mimir's `X-Scope-OrgID`, an `Authorization`):
    /// the values are secrets, never shown. One proxy serves one tenant: they are not part
    /// of the cache key.
    pub upstream_headers: Vec<(String, Secret)>,
    /// Move an instant query's `time` down to a multiple of this ([`key::prepare_with`]);
    /// `None`: instant queries are keyed by the `time` they ask for.
    pub instant_align: Option<Duration>,
}

impl ProxyConfig {
    /// The defaults for `upstream`: 5 s TTL, 30 s during a test, a 500 ms SLA (the shipped
    /// preflight's `query_sla_ms`), 3 bad calls to open, 5 s cool-down, 30 s timeout, 256 MiB.
    pub fn new(upstream: &str) -> ProxyConfig {
        ProxyConfig {
            upstream: upstream.to_string(),
            ttl: Duration::from_secs(5),
            test_ttl: Duration::from_secs(30),
            always_test_ttl: false,
            test_poll: Duration::from_secs(2),
            sla: Duration::from_millis(500),
            upstream_timeout: Duration::from_secs(30),
            failures_to_open: 3,
            cool_down: Duration::from_secs(5),
            max_bytes: 256 << 20,
            max_stale: Duration::from_secs(3600),
            upstream_headers: Vec::new(),
            instant_align: None,
        }
    }

    /// Every value checked; the first problem names its flag.
    pub fn check(&self) -> Result<(), String> {
        let positive = [
            ("--ttl", self.ttl),
            ("--test-ttl", self.test_ttl),
            ("--sla", self.sla),
            ("--upstream-timeout", self.upstream_timeout),
            ("--cool-down", self.cool_down),
            ("--max-stale", self.max_stale),
        ];
        if let Some((flag, _)) = positive.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{flag} must be more than 0"));
        }
        if self.failures_to_open == 0 {
            return Err("--failures-to-open must be at least 1".into());
        }
        if self.max_bytes < 1 << 20 {
            return Err("--max-cache-mib must be at least 1".into());
        }
        Ok(())
    }
}
