//! k6's side of each trace. k6 exports no spans, so every k6-driven trace points at a parent
//! the backend never receives ("root span not yet received"). After a run, k6gate writes one
//! root span per traced request into the trace backend over OTLP/HTTP with the JSON encoding
//! (the OTLP specification's "OTLP/HTTP": `POST <endpoint>`, `Content-Type:
//! application/json`, an `ExportTraceServiceRequest` with hex ids): the span id k6 put in
//! `traceparent`, the request's start, and k6's `http_req_duration`, under
//! `service.name` [`CLIENT_SERVICE`]. Attribution treats that span as the window it already
//! uses (`Request::span_id`), so the breakdown is the same with or without it.
//!
//! Only requests with both ids in their metadata get one: without the span id the server's
//! spans would not hang from it. `measure()` timers as child spans are not written yet: k6's
//! samples do not say which request a timer enclosed.

use std::time::Duration;

use serde_json::{Value, json};

use super::attribute::Request;
use super::error::TraceError;
use crate::net::{Attempt, ClientOptions, RetryPolicy, TokioClock, retryable_status};

/// The `service.name` of k6's spans.
pub const CLIENT_SERVICE: &str = "k6";
/// Spans per export request: well under the 4 MiB receivers commonly accept.
pub const BATCH: usize = 500;
/// OTLP's `SPAN_KIND_CLIENT`.
const KIND_CLIENT: u8 = 3;

/// k6's spans for a run's requests: those with both ids, and how many had not.
pub struct ClientSpans<'a> {
    pub eligible: Vec<&'a Request>,
    pub skipped: usize,
}

/// k6's spans for `requests`.
pub fn client_spans(requests: &[Request]) -> ClientSpans<'_> {
    let eligible: Vec<&Request> = requests.iter().filter(|r| r.trace_id.is_some() && r.span_id.is_some()).collect();
    ClientSpans { skipped: requests.len() - eligible.len(), eligible }
}

impl ClientSpans<'_> {
    /// The OTLP/JSON export requests, at most [`BATCH`] spans each, built one at a time as
    /// they are sent (10 000 spans at once would be ~70 MiB of JSON values).
    pub fn docs(&self) -> impl Iterator<Item = Value> + '_ {
        self.eligible.chunks(BATCH).map(|chunk| {
            json!({"resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": CLIENT_SERVICE}}]},
                "scopeSpans": [{"scope": {"name": "k6gate", "version": env!("CARGO_PKG_VERSION")},
                                "spans": chunk.iter().filter_map(|r| span(r)).collect::<Vec<_>>()}],
            }]})
        })
    }
}

/// One request's span: `None` without both ids.
fn span(r: &Request) -> Option<Value> {
    let (Some(trace), Some(span)) = (r.trace_id, r.span_id) else {
        return None;
    };
    let mut attributes = vec![
        json!({"key": "k6.group", "value": {"stringValue": r.group}}),
        json!({"key": "http.route", "value": {"stringValue": r.name}}),
    ];
    if let Some(p) = &r.phase {
        attributes.push(json!({"key": "k6.test_stage", "value": {"stringValue": p}}));
    }
    if let Some(c) = &r.correlation_id {
        attributes.push(json!({"key": "correlation_id", "value": {"stringValue": c}}));
    }
    Some(json!({
        "traceId": trace.to_string(),
        "spanId": span.to_string(),
        "name": r.name,
        "kind": KIND_CLIENT,
        "startTimeUnixNano": r.start_ns.to_string(),
        "endTimeUnixNano": (r.start_ns + r.duration_ns).to_string(),
        "attributes": attributes,
        "status": {},
    }))
}

/// An OTLP/HTTP traces endpoint (`http://tempo:4318/v1/traces`), through `net`.
#[derive(Debug)]
pub struct OtlpEndpoint {
    url: String,
    tenant: Option<String>,
    client: reqwest::Client,
    retry: RetryPolicy,
}

impl OtlpEndpoint {
    pub fn new(url: &str, tenant: Option<String>) -> Result<OtlpEndpoint, TraceError> {
        let client = crate::net::client(&ClientOptions::with_timeout(Duration::from_secs(15)))?;
        Ok(OtlpEndpoint { url: url.to_string(), tenant, client, retry: super::tempo::RETRY })
    }

    fn error(&self, message: impl Into<String>) -> TraceError {
        TraceError::Export { url: crate::net::without_userinfo(&self.url), message: message.into() }
    }

    /// POSTs one export request; retried on transport errors, 429 and 5xx. A 200 whose
    /// `partialSuccess` rejected spans is an error: the traces would stay rootless.
    pub async fn export(&self, doc: &Value) -> Result<(), TraceError> {
        let body = doc.to_string();
        let attempt = |_, _| async {
            let mut req = self.client.post(&self.url).header("Content-Type", "application/json").body(body.clone());
            if let Some(t) = &self.tenant {
                req = req.header("X-Scope-OrgID", t);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| Attempt::Retry { error: crate::net::describe(&e.without_url()), retry_after: None })?;
            let status = resp.status().as_u16();
            let retry_after = crate::net::retry_after(resp.headers());
            let text = resp.text().await.unwrap_or_default();
            match status {
                200..=299 => Ok(text),
                s if retryable_status(s) => {
                    Err(Attempt::Retry { error: format!("HTTP {s}: {}", text.trim()), retry_after })
                }
                s => Err(Attempt::Final(format!("HTTP {s}: {}", text.trim()))),
            }
        };
        let text =
            self.retry.run(&TokioClock, attempt).await.map(|(v, _)| v).map_err(|f| self.error(f.into_error()))?;
        let answer: Value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| self.error(format!("answer is not JSON: {e}")))?
        };
        let rejected = answer.pointer("/partialSuccess/rejectedSpans").and_then(|v| match v {
            Value::String(s) => s.parse::<u64>().ok(),
            v => v.as_u64(),
        });
        match rejected {
            Some(n) if n > 0 => Err(self.error(format!(
                "{n} spans rejected: {}",
                answer.pointer("/partialSuccess/errorMessage").and_then(Value::as_str).unwrap_or("no message")
            ))),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::traces::{SpanId, TraceId};

    fn req(trace: Option<u128>, span: Option<u64>) -> Request {
        Request {
            trace_id: trace.map(TraceId),
            start_ns: 1_700_000_000_000_000_000,
            duration_ns: 12_345_678,
            group: "::checkout".into(),
            name: "checkout".into(),
            phase: Some("steady".into()),
            span_id: span.map(SpanId),
            correlation_id: Some("k6-1-2".into()),
        }
    }

    #[test]
    fn one_client_root_per_request_with_both_ids_in_batches() {
        let mut rs = vec![req(Some(0xabc), Some(0x12)), req(Some(1), None), req(None, Some(3))];
        let c = client_spans(&rs);
        let docs: Vec<Value> = c.docs().collect();
        assert_eq!((docs.len(), c.skipped), (1, 2));
        let span = &docs[0]["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "00000000000000000000000000000abc");
        assert_eq!(span["spanId"], "0000000000000012");
        assert_eq!(span["kind"], 3);
        assert_eq!(span["startTimeUnixNano"], "1700000000000000000");
        assert_eq!(span["endTimeUnixNano"], "1700000000012345678");
        assert!(span.get("parentSpanId").is_none(), "a root");
        assert_eq!(docs[0]["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"], "k6");
        // Read back by k6gate's own OTLP reader.
        let back = crate::traces::otlp::parse(&docs[0].to_string(), "client").unwrap();
        assert_eq!(back.len(), 1);
        assert_eq!((back[0].component.as_str(), back[0].parent, back[0].duration_ns()), ("k6", None, 12_345_678));
        assert_eq!(back[0].attributes.get("correlation_id").map(String::as_str), Some("k6-1-2"));

        rs = (0..(BATCH as u64 * 2 + 1)).map(|i| req(Some(u128::from(i) + 1), Some(i + 1))).collect();
        let docs: Vec<Value> = client_spans(&rs).docs().collect();
        let sizes: Vec<usize> =
            docs.iter().map(|d| d["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().unwrap().len()).collect();
        assert_eq!(sizes, vec![BATCH, BATCH, 1]);
    }
}
