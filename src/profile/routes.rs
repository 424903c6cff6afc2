//! Per-route numbers from production's Prometheus: requests, errors (status not 2xx/3xx),
//! P50/P95 (`histogram_quantile` over the classic buckets) over one window, and the total
//! request rate step by step (one subquery) for the burst pattern.
//!
//! The metric names are the demo shop's (and the OpenTelemetry HTTP server convention's):
//! `http_server_requests_total{route,status}` and
//! `http_server_request_duration_seconds_bucket{route,le}`. Admin routes, `other` (paths the
//! router does not know) and `/metrics` are not traffic and are left out.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::prom::query::{self, QueryError};
use crate::prom::remote_write::Auth;

pub const REQUESTS: &str = "http_server_requests_total";
pub const DURATION_BUCKETS: &str = "http_server_request_duration_seconds_bucket";
/// Routes that are not user traffic.
pub const NOT_TRAFFIC: &str = "(GET|POST|PUT|DELETE) /admin/.*|other|GET /metrics";

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error(transparent)]
    Query(#[from] QueryError),
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
    #[error("{0}")]
    Invalid(String),
    /// Nothing to build the profile from: never an empty mix.
    #[error("no data: {0}")]
    NoData(String),
}

/// Where production's metrics are and which scrape job is the service.
#[derive(Debug, Clone)]
pub struct Source {
    pub url: String,
    pub job: String,
    pub tenant: Option<String>,
    pub auth: Auth,
}

impl Source {
    /// `job` becomes a label matcher: quotes and backslashes are refused, not escaped.
    pub fn new(url: &str, job: &str, auth: Auth) -> Result<Source, ProfileError> {
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(ProfileError::Invalid(format!("Prometheus URL {url:?} is not http:// or https://")));
        }
        if job.trim().is_empty() || job.contains(['"', '\\', '\n']) {
            return Err(ProfileError::Invalid(format!("{job:?} is not a scrape job name")));
        }
        Ok(Source { url: url.trim_end_matches('/').to_string(), job: job.to_string(), tenant: None, auth })
    }

    fn selector(&self, extra: &str) -> String {
        format!("{{job=\"{}\",route!~\"{NOT_TRAFFIC}\"{extra}}}", self.job)
    }

    /// The PromQL of every query, by purpose (shown in the generated file and in errors).
    pub fn queries(&self, window_s: u64) -> Queries {
        let w = format!("{window_s}s");
        let q = |p: f64| {
            format!("histogram_quantile({p}, sum by (route, le) (rate({DURATION_BUCKETS}{}[{w}])))", self.selector(""))
        };
        Queries {
            requests: format!("sum by (route) (increase({REQUESTS}{}[{w}]))", self.selector("")),
            errors: format!("sum by (route) (increase({REQUESTS}{}[{w}]))", self.selector(",status!~\"[23]..\"")),
            p50: q(0.5),
            p95: q(0.95),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Queries {
    pub requests: String,
    pub errors: String,
    pub p50: String,
    pub p95: String,
}

/// One route over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RouteStats {
    pub requests: f64,
    pub errors: f64,
    /// `None`: the histogram had no observations (or no buckets) in the window.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

impl RouteStats {
    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0.0).then(|| self.errors / self.requests)
    }
}

/// Requests, errors and quantiles per route over `[end_s - window_s, end_s]`.
pub fn route_stats(source: &Source, end_s: f64, window_s: u64) -> Result<BTreeMap<String, RouteStats>, ProfileError> {
    let client = query::client()?;
    let queries = source.queries(window_s);
    crate::net::block_on(async {
        let by_route = |q: String| {
            let client = &client;
            async move {
                let rows = query::instant_at_async(
                    client,
                    &source.url,
                    source.tenant.as_deref(),
                    &source.auth,
                    &q,
                    Some(end_s),
                    &query::RETRY,
                )
                .await?;
                let mut out = BTreeMap::new();
                for (labels, v) in rows {
                    if let Some(route) = labels.get("route").and_then(|r| r.as_str()) {
                        out.insert(route.to_string(), v);
                    }
                }
                Ok::<_, ProfileError>(out)
            }
        };
        let requests = by_route(queries.requests).await?;
        let errors = by_route(queries.errors).await?;
        let p50 = by_route(queries.p50).await?;
        let p95 = by_route(queries.p95).await?;
        let finite =
            |m: &BTreeMap<String, f64>, r: &str| m.get(r).copied().filter(|v| v.is_finite()).map(|s| s * 1000.0);
        Ok(requests
            .iter()
            .filter(|(_, n)| n.is_finite() && **n > 0.0)
            .map(|(route, n)| {
                let stats = RouteStats {
                    requests: *n,
                    errors: errors.get(route).copied().filter(|e| e.is_finite()).unwrap_or(0.0),
                    p50_ms: finite(&p50, route),
                    p95_ms: finite(&p95, route),
                };
                (route.clone(), stats)
            })
            .collect())
    })?
}

/// The total request rate (per second) every `step_s` over the window, oldest first: one
/// subquery, `sum(rate(...[step]))[window:step]`.
pub fn rate_series(source: &Source, end_s: f64, window_s: u64, step_s: u64) -> Result<Vec<f64>, ProfileError> {
    let client = query::client()?;
    let promql = format!("sum(rate({REQUESTS}{}[{step_s}s]))[{window_s}s:{step_s}s]", source.selector(""));
    let rows = crate::net::block_on(query::instant_results_at_async(
        &client,
        &source.url,
        source.tenant.as_deref(),
        &source.auth,
        &promql,
        Some(end_s),
        &query::RETRY,
    ))??;
    let values = rows.first().and_then(|r| r.get("values")).and_then(|v| v.as_array()).cloned().unwrap_or_default();
    Ok(values
        .iter()
        .filter_map(|p| p.get(1).and_then(|v| v.as_str()).and_then(|v| v.parse::<f64>().ok()))
        .filter(|v| v.is_finite())
        .collect())
}
