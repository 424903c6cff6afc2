//! A minimal Prometheus HTTP API client (instant queries), for checking that a run's live
//! series arrived. Prometheus serves `/api/v1/query`; Mimir serves it under `/prometheus`.

use std::time::Duration;

/// Where to query, given the remote-write URL: `K6GATE_PROMETHEUS_QUERY_URL` when set, else
/// the write URL's base (`.../api/v1/write` -> `...`; Mimir's `.../api/v1/push` -> `.../prometheus`).
pub fn query_base(write_url: &str) -> String {
    if let Ok(u) = std::env::var("K6GATE_PROMETHEUS_QUERY_URL") {
        if !u.is_empty() {
            return u.trim_end_matches('/').to_string();
        }
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
}

/// The instant-query result as `(labels, value)` pairs.
/// Authenticated like the writes (`auth`); errors show the URL without credentials.
pub fn instant(
    base: &str,
    tenant: Option<&str>,
    auth: &super::remote_write::Auth,
    promql: &str,
) -> Result<Vec<(serde_json::Value, f64)>, QueryError> {
    let url = format!("{base}/api/v1/query");
    let shown = super::remote_write::redact_url(&url);
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(10)))
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent.get(&url).query("query", promql);
    if let Some(t) = tenant {
        req = req.header("X-Scope-OrgID", t);
    }
    if let Some(h) = auth.header() {
        req = req.header("Authorization", h);
    }
    let http = |message: String| QueryError::Http { url: shown.clone(), message };
    let mut resp = req.call().map_err(|e| http(e.to_string()))?;
    let status = resp.status();
    let body: serde_json::Value = resp.body_mut().read_json().map_err(|e| http(format!("HTTP {status}: {e}")))?;
    if body.get("status").and_then(|s| s.as_str()) != Some("success") {
        let error = body.get("error").and_then(|e| e.as_str()).unwrap_or("no error message");
        return Err(http(format!("HTTP {status}: {error}")));
    }
    let shape = |message: &str| QueryError::Shape { url: shown.clone(), message: message.to_string() };
    let result =
        body.pointer("/data/result").and_then(|r| r.as_array()).ok_or_else(|| shape("no data.result array"))?;
    result
        .iter()
        .map(|r| {
            let v = r.pointer("/value/1").and_then(|v| v.as_str()).and_then(|v| v.parse::<f64>().ok());
            let metric = r.get("metric").cloned().unwrap_or_default();
            v.map(|v| (metric, v)).ok_or_else(|| shape("a result without a numeric value"))
        })
        .collect()
}
