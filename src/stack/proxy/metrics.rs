//! The proxy's own metrics at `/metrics`, in Prometheus' text format (version 0.0.4). A
//! handful of counters, one histogram and the breaker's state: written by hand, since the
//! crate has no metrics library and these need none.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::breaker::{Breaker, State};

/// Upper bounds (seconds) of the upstream latency histogram.
pub const LATENCY_BUCKETS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How a request was answered, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// From the cache, fresh.
    Hit,
    /// Fetched upstream for this request.
    Miss,
    /// Answered by another request's upstream call for the same key, made at the same time.
    Coalesced,
    /// The last good answer, past its TTL, while the upstream could not answer.
    Stale,
    /// A 503: the upstream could not answer and no earlier answer was kept.
    Unavailable,
    /// Passed to the upstream's answer as it was (an error of the query, or an uncached path).
    Passed,
}

impl Served {
    pub const ALL: [Served; 6] =
        [Served::Hit, Served::Miss, Served::Coalesced, Served::Stale, Served::Unavailable, Served::Passed];

    /// The value of the `X-K6gate-Cache` header.
    pub fn name(self) -> &'static str {
        match self {
            Served::Hit => "hit",
            Served::Miss => "miss",
            Served::Coalesced => "coalesced",
            Served::Stale => "stale",
            Served::Unavailable => "unavailable",
            Served::Passed => "pass",
        }
    }

    fn index(self) -> usize {
        Served::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// What an upstream call came to, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Upstream {
    Ok,
    /// Answered, slower than the SLA.
    Slow,
    /// A client error (the query's fault): passed on, not cached, not held against upstream.
    Refused,
    Failed,
}

impl Upstream {
    const ALL: [Upstream; 4] = [Upstream::Ok, Upstream::Slow, Upstream::Refused, Upstream::Failed];

    fn name(self) -> &'static str {
        match self {
            Upstream::Ok => "ok",
            Upstream::Slow => "slow",
            Upstream::Refused => "refused",
            Upstream::Failed => "failed",
        }
    }

    fn index(self) -> usize {
        Upstream::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// The counters, shared by every request.
#[derive(Debug, Default)]
pub struct Metrics {
    served: [AtomicU64; 6],
    upstream: [AtomicU64; 4],
    /// Cumulative counts per bucket of [`LATENCY_BUCKETS`], then +Inf.
    buckets: [AtomicU64; 13],
    latency_sum_us: AtomicU64,
}

fn bump(c: Option<&AtomicU64>) {
    if let Some(c) = c {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub fn served(&self, how: Served) {
        bump(self.served.get(how.index()));
    }

    pub fn count(&self, how: Served) -> u64 {
        self.served.get(how.index()).map_or(0, |c| c.load(Ordering::Relaxed))
    }

    /// One upstream call: how it ended and how long it took.
    pub fn upstream(&self, outcome: Upstream, latency: Duration) {
        bump(self.upstream.get(outcome.index()));
        let secs = latency.as_secs_f64();
        let bucket = LATENCY_BUCKETS.iter().position(|le| secs <= *le).unwrap_or(LATENCY_BUCKETS.len());
        bump(self.buckets.get(bucket));
        self.latency_sum_us.fetch_add(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
    }

    /// The text exposition, with the breaker's state and whether the aggressive TTL is on.
    pub fn render(&self, breaker: &Breaker, aggressive: bool, entries: u64) -> String {
        let mut out = String::new();
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP k6gate_proxy_requests_total Requests to cached endpoints, by how they were answered."
        );
        let _ = writeln!(out, "# TYPE k6gate_proxy_requests_total counter");
        for how in Served::ALL {
            let _ = writeln!(out, "k6gate_proxy_requests_total{{served=\"{}\"}} {}", how.name(), self.count(how));
        }
        let _ =
            writeln!(out, "# HELP k6gate_proxy_upstream_requests_total Calls to the upstream Prometheus, by outcome.");
        let _ = writeln!(out, "# TYPE k6gate_proxy_upstream_requests_total counter");
        for o in Upstream::ALL {
            let n = self.upstream.get(o.index()).map_or(0, load);
            let _ = writeln!(out, "k6gate_proxy_upstream_requests_total{{outcome=\"{}\"}} {n}", o.name());
        }
        let _ = writeln!(
            out,
            "# HELP k6gate_proxy_upstream_duration_seconds Latency of the calls to the upstream Prometheus."
        );
        let _ = writeln!(out, "# TYPE k6gate_proxy_upstream_duration_seconds histogram");
        let mut cumulative = 0;
        for (i, le) in LATENCY_BUCKETS.iter().enumerate() {
            cumulative += self.buckets.get(i).map_or(0, load);
            let _ = writeln!(out, "k6gate_proxy_upstream_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.buckets.get(LATENCY_BUCKETS.len()).map_or(0, load);
        let _ = writeln!(out, "k6gate_proxy_upstream_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}");
        let sum = load(&self.latency_sum_us) as f64 / 1e6;
        let _ = writeln!(out, "k6gate_proxy_upstream_duration_seconds_sum {sum}");
        let _ = writeln!(out, "k6gate_proxy_upstream_duration_seconds_count {cumulative}");
        let _ = writeln!(out, "# HELP k6gate_proxy_breaker_state The circuit breaker's state (1 for the current one).");
        let _ = writeln!(out, "# TYPE k6gate_proxy_breaker_state gauge");
        for s in State::ALL {
            let _ = writeln!(
                out,
                "k6gate_proxy_breaker_state{{state=\"{}\"}} {}",
                s.name(),
                u8::from(breaker.state() == s)
            );
        }
        let _ = writeln!(out, "# HELP k6gate_proxy_breaker_transitions_total Transitions of the circuit breaker.");
        let _ = writeln!(out, "# TYPE k6gate_proxy_breaker_transitions_total counter");
        for from in State::ALL {
            for to in State::ALL {
                if from != to {
                    let n = breaker.transitions(from, to);
                    let _ = writeln!(
                        out,
                        "k6gate_proxy_breaker_transitions_total{{from=\"{}\",to=\"{}\"}} {n}",
                        from.name(),
                        to.name()
                    );
                }
            }
        }
        let _ = writeln!(out, "# HELP k6gate_proxy_aggressive_ttl 1 while a load test runs: the long TTL applies.");
        let _ = writeln!(out, "# TYPE k6gate_proxy_aggressive_ttl gauge");
        let _ = writeln!(out, "k6gate_proxy_aggressive_ttl {}", u8::from(aggressive));
        let _ = writeln!(out, "# HELP k6gate_proxy_cache_entries Fresh answers held (approximate).");
        let _ = writeln!(out, "# TYPE k6gate_proxy_cache_entries gauge");
        let _ = writeln!(out, "k6gate_proxy_cache_entries {entries}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::breaker::BreakerConfig;
    use super::*;

    #[test]
    fn the_exposition_counts_and_buckets() {
        let m = Metrics::default();
        m.served(Served::Hit);
        m.served(Served::Hit);
        m.served(Served::Stale);
        m.upstream(Upstream::Ok, Duration::from_millis(20));
        m.upstream(Upstream::Failed, Duration::from_secs(60));
        let b = Breaker::new(BreakerConfig {
            failures_to_open: 1,
            cool_down: Duration::from_secs(1),
            probe_timeout: Duration::from_secs(1),
        });
        let text = m.render(&b, true, 7);
        assert!(text.contains("k6gate_proxy_requests_total{served=\"hit\"} 2\n"), "{text}");
        assert!(text.contains("k6gate_proxy_requests_total{served=\"stale\"} 1\n"));
        assert!(text.contains("k6gate_proxy_upstream_duration_seconds_bucket{le=\"0.01\"} 0\n"));
        assert!(text.contains("k6gate_proxy_upstream_duration_seconds_bucket{le=\"0.025\"} 1\n"));
        assert!(text.contains("k6gate_proxy_upstream_duration_seconds_bucket{le=\"30\"} 1\n"));
        assert!(text.contains("k6gate_proxy_upstream_duration_seconds_bucket{le=\"+Inf\"} 2\n"));
        assert!(text.contains("k6gate_proxy_upstream_duration_seconds_count 2\n"));
        assert!(text.contains("k6gate_proxy_breaker_state{state=\"closed\"} 1\n"));
        assert!(text.contains("k6gate_proxy_aggressive_ttl 1\n"));
        assert!(text.contains("k6gate_proxy_cache_entries 7\n"));
    }
}
