//! k6's REST API (k6 1.1), the live guard's hands on a running test: status, scale the VUs,
//! pause, resume, stop. All requests through `net`; one attempt each (the guard asks again at
//! its next reading, with what it knows then).
//!
//! Every change is a `PATCH /v1/status` with `{"data": {"type": "status", "id": "default",
//! "attributes": {...}}}` and `Content-Type: application/json` (measured: the project's facts
//! on the test infrastructure, section 6). Only an `externally-controlled` scenario can be
//! scaled or paused once started; other executors answer 500, which is returned as an error
//! with k6's own words. A stop works with every executor (k6 then exits 103).

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::net::ClientOptions;

/// One request's budget: k6's API answers in well under a second on a busy machine.
const TIMEOUT: Duration = Duration::from_secs(3);

#[derive(Debug, thiserror::Error)]
pub enum K6ApiError {
    #[error("k6's REST API at {address}: {what}: {detail}")]
    Request { address: String, what: &'static str, detail: String },
    #[error("k6's REST API at {address}: {what}: HTTP {status}: {detail}")]
    Refused { address: String, what: &'static str, status: u16, detail: String },
}

/// `GET /v1/status`'s attributes.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Status {
    /// 4 paused before the run, 7 running, 9 ended (k6's execution status).
    pub status: i64,
    pub paused: bool,
    pub vus: u64,
    #[serde(rename = "vus-max")]
    pub vus_max: u64,
    pub stopped: bool,
    pub running: bool,
}

#[derive(Deserialize)]
struct Envelope {
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    attributes: Status,
}

/// A client for one k6 process's API (`--address 127.0.0.1:PORT`).
#[derive(Debug, Clone)]
pub struct K6Api {
    address: String,
    client: reqwest::Client,
}

impl K6Api {
    pub fn new(address: &str) -> Result<K6Api, K6ApiError> {
        let client = crate::net::client(&ClientOptions::with_timeout(TIMEOUT)).map_err(|e| K6ApiError::Request {
            address: address.to_string(),
            what: "building the HTTP client",
            detail: e.to_string(),
        })?;
        Ok(K6Api { address: address.to_string(), client })
    }

    pub fn address(&self) -> &str {
        &self.address
    }

    fn url(&self) -> String {
        format!("http://{}/v1/status", self.address)
    }

    pub async fn status(&self) -> Result<Status, K6ApiError> {
        let sent = self.client.get(self.url()).send().await;
        self.answer("GET /v1/status", sent).await
    }

    /// `PATCH /v1/status` with these attributes; k6's status after it.
    pub async fn patch(&self, what: &'static str, attributes: serde_json::Value) -> Result<Status, K6ApiError> {
        let body = json!({ "data": { "type": "status", "id": "default", "attributes": attributes } });
        let sent = self
            .client
            .patch(self.url())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string())
            .send()
            .await;
        self.answer(what, sent).await
    }

    /// Active VUs (externally-controlled only; at most `vus-max`).
    pub async fn scale(&self, vus: u64) -> Result<Status, K6ApiError> {
        self.patch("scaling the VUs", json!({ "vus": vus })).await
    }

    pub async fn pause(&self) -> Result<Status, K6ApiError> {
        self.patch("pausing", json!({ "paused": true })).await
    }

    pub async fn resume(&self) -> Result<Status, K6ApiError> {
        self.patch("resuming", json!({ "paused": false })).await
    }

    /// Ends the test: k6 writes its outputs and exits 103.
    pub async fn stop(&self) -> Result<Status, K6ApiError> {
        self.patch("stopping", json!({ "stopped": true })).await
    }

    async fn answer(
        &self,
        what: &'static str,
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<Status, K6ApiError> {
        let fail = |detail: String| K6ApiError::Request { address: self.address.clone(), what, detail };
        let resp = sent.map_err(|e| fail(crate::net::describe(&e.without_url())))?;
        let status = resp.status().as_u16();
        let text = resp.text().await.map_err(|e| fail(crate::net::describe(&e.without_url())))?;
        if status != 200 {
            // k6's JSON:API errors: `{"errors": [{"title", "detail"}]}`.
            let detail = serde_json::from_str::<serde_json::Value>(&text)
                .ok()
                .and_then(|v| {
                    let e = v.pointer("/errors/0")?;
                    let title = e.get("title").and_then(|t| t.as_str()).unwrap_or("");
                    let detail = e.get("detail").and_then(|t| t.as_str()).unwrap_or("");
                    Some(format!("{title}: {detail}"))
                })
                .unwrap_or_else(|| text.chars().take(300).collect());
            return Err(K6ApiError::Refused { address: self.address.clone(), what, status, detail });
        }
        serde_json::from_str::<Envelope>(&text)
            .map(|e| e.data.attributes)
            .map_err(|e| fail(format!("unexpected answer ({e}): {}", text.chars().take(300).collect::<String>())))
    }
}
