//! A minimal Prometheus HTTP API client (instant queries), for checking that a run's live
//! series arrived. Prometheus serves `/api/v1/query`; Mimir serves it under `/prometheus`.

use std::time::Duration;

use crate::net::{Attempt, ClientOptions, RetryPolicy, Secret, TokioClock, retryable_status};

/// Where to query, given the remote-write URL: `configured` (`K6GATE_PROMETHEUS_QUERY_URL`)
/// when set, else the write URL's base (`.../api/v1/write` -> `...`; Mimir's
/// `.../api/v1/push` -> `.../prometheus`).
pub fn query_base(write_url: &str, configured: Option<&str>) -> String {
    if let Some(u) = configured.filter(|u| !u.is_empty()) {
        return u.trim_end_matches('/').to_string();
    }
    if let Some(base) = write_url.strip_suffix("/api/v1/push") {
        return format!("{base}/prometheus");
    }
    write_url.strip_suffix("/api/v1/write").unwrap_or(write_url).trim_end_matches('/').to_string()
}

#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("query to {url} failed: {message}")]
    Http { url: String, message: String },
    #[error("unexpected answer from {url}: {message}")]
    Shape { url: String, message: String },
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
}

/// Two attempts, 200 ms apart, within 15 s: a query is cheap to repeat.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 2,
    backoff: Duration::from_millis(200),
    max_backoff: Duration::from_secs(2),
    budget: Duration::from_secs(15),
};

/// The instant-query result as `(labels, value)` pairs, with [`RETRY`].
/// Authenticated like the writes (`auth`); errors show the URL without credentials.
pub fn instant(
    base: &str,
    tenant: Option<&str>,
    auth: &super::remote_write::Auth,
    promql: &str,
) -> Result<Vec<(serde_json::Value, f64)>, QueryError> {
    let client = client()?;
    crate::net::block_on(instant_async(&client, base, tenant, auth, promql, &RETRY))?
}

/// The client queries use: 10 s per request.
pub fn client() -> Result<reqwest::Client, crate::net::NetError> {
    crate::net::client(&ClientOptions::with_timeout(Duration::from_secs(10)))
}

/// [`instant`] for async callers, with `client` and `policy`.
pub async fn instant_async(
    client: &reqwest::Client,
    base: &str,
    tenant: Option<&str>,
    auth: &super::remote_write::Auth,
    promql: &str,
    policy: &RetryPolicy,
) -> Result<Vec<(serde_json::Value, f64)>, QueryError> {
    instant_at_async(client, base, tenant, auth, promql, None, policy).await
}

/// [`instant_async`] evaluated at `at` (Unix seconds) instead of Prometheus's now, so that
/// consecutive windows (`increase(x[30s])` at t, t+30, ...) neither overlap nor leave gaps.
pub async fn instant_at_async(
    client: &reqwest::Client,
    base: &str,
    tenant: Option<&str>,
    auth: &super::remote_write::Auth,
    promql: &str,
    at: Option<f64>,
    policy: &RetryPolicy,
) -> Result<Vec<(serde_json::Value, f64)>, QueryError> {
    let shown = super::remote_write::redact_url(&format!("{base}/api/v1/query"));
    let shape = |message: &str| QueryError::Shape { url: shown.clone(), message: message.to_string() };
    instant_results_at_async(client, base, tenant, auth, promql, at, policy)
        .await?
        .iter()
        .map(|r| float_sample(r).ok_or_else(|| shape("a result without a numeric value")))
        .collect()
}

/// `(labels, value)` of one float result of an instant query (`{"metric", "value": [t, "v"]}`);
/// `None` for anything else, such as a native histogram.
pub fn float_sample(r: &serde_json::Value) -> Option<(serde_json::Value, f64)> {
    let v = r.pointer("/value/1").and_then(|v| v.as_str()).and_then(|v| v.parse::<f64>().ok())?;
    Some((r.get("metric").cloned().unwrap_or_default(), v))
}

/// The instant query's `data.result` items as Prometheus wrote them: `{"metric", "value"}`
/// for floats, `{"metric", "histogram"}` for native histograms.
pub async fn instant_results_at_async(
    client: &reqwest::Client,
    base: &str,
    tenant: Option<&str>,
    auth: &super::remote_write::Auth,
    promql: &str,
    at: Option<f64>,
    policy: &RetryPolicy,
) -> Result<Vec<serde_json::Value>, QueryError> {
    let url = format!("{base}/api/v1/query");
    let shown = super::remote_write::redact_url(&url);
    let scrub = |text: String| Secret::scrub_all(auth.secrets(), &text);
    let http = |message: String| QueryError::Http { url: shown.clone(), message: scrub(message) };
    let mut with_query = format!("{url}?query={}", crate::net::percent_encode(promql));
    if let Some(t) = at {
        with_query.push_str(&format!("&time={t:.3}"));
    }
    let attempt = |_, _| async {
        let mut req = client.get(&with_query);
        if let Some(t) = tenant {
            req = req.header("X-Scope-OrgID", t);
        }
        if let Some(h) = auth.header() {
            req = req.header("Authorization", h);
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                let error = http(crate::net::describe(&e.without_url()));
                return Err(Attempt::Retry { error, retry_after: None });
            }
        };
        let status = resp.status().as_u16();
        let retry_after = crate::net::retry_after(resp.headers());
        let text = resp.text().await.map_err(|e| Attempt::Retry {
            error: http(format!("HTTP {status}: {}", crate::net::describe(&e.without_url()))),
            retry_after: None,
        })?;
        let body: serde_json::Value = match serde_json::from_str(&text) {
            Ok(b) => b,
            Err(e) if retryable_status(status) => {
                return Err(Attempt::Retry { error: http(format!("HTTP {status}: {e}")), retry_after });
            }
            Err(e) => return Err(Attempt::Final(http(format!("HTTP {status}: {e}")))),
        };
        if body.get("status").and_then(|s| s.as_str()) != Some("success") {
            let error = body.get("error").and_then(|e| e.as_str()).unwrap_or("no error message");
            let error = http(format!("HTTP {status}: {error}"));
            return Err(if retryable_status(status) {
                Attempt::Retry { error, retry_after }
            } else {
                Attempt::Final(error)
            });
        }
        Ok(body)
    };
    let body = policy.run(&TokioClock, attempt).await.map_err(|f| f.into_error())?.0;
    let shape = |message: &str| QueryError::Shape { url: shown.clone(), message: message.to_string() };
    body.pointer("/data/result").and_then(|r| r.as_array()).cloned().ok_or_else(|| shape("no data.result array"))
}
