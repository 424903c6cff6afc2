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
//! spans would not hang from it. A `measure()` timer (k6gate's runtime lists the `trace:span`
//! ids of the requests made inside it in its Trend sample's metadata) becomes a child span of
//! each such request's root: the timer's name, the sample's start (its time less its value)
//! and its duration, under the same `service.name`; attribution leaves it out of the
//! components (client time around the request, not a tier).

use std::time::Duration;

use serde_json::{Value, json};

use super::attribute::Request;
use super::error::TraceError;
use super::span::{SpanId, TraceId};
use crate::net::{Attempt, ClientOptions, RetryPolicy, TokioClock, retryable_status};

/// The `service.name` of k6's spans.
pub const CLIENT_SERVICE: &str = "k6";
/// Spans per export request: well under the 4 MiB receivers commonly accept.
pub const BATCH: usize = 500;
/// OTLP's `SPAN_KIND_CLIENT` and `SPAN_KIND_INTERNAL`.
const KIND_CLIENT: u8 = 3;
const KIND_INTERNAL: u8 = 1;

/// A `measure()` timer of the run: its Trend sample, and the requests made inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timer {
    /// The Trend's name (`auth_check`).
    pub name: String,
    /// Unix nanoseconds: the sample's time (k6 stamps it when the timer ends) less its value.
    pub start_ns: i64,
    pub duration_ns: i64,
    /// The trace id and k6's span id of each request made inside the callback.
    pub inside: Vec<(TraceId, SpanId)>,
}

/// k6's spans for a run's requests: those with both ids, and how many had not; and the
/// timers' spans, one per (timer, request inside it).
pub struct ClientSpans<'a> {
    pub eligible: Vec<&'a Request>,
    pub skipped: usize,
    pub timers: Vec<(&'a Timer, TraceId, SpanId)>,
}

/// k6's spans for `requests`.
pub fn client_spans(requests: &[Request]) -> ClientSpans<'_> {
    let eligible: Vec<&Request> = requests.iter().filter(|r| r.trace_id.is_some() && r.span_id.is_some()).collect();
    ClientSpans { skipped: requests.len() - eligible.len(), eligible, timers: Vec::new() }
}

/// One span to write: a request's root or a timer under one.
enum Item<'a> {
    Root(&'a Request),
    Timer(&'a Timer, TraceId, SpanId),
}

impl<'a> ClientSpans<'a> {
    /// The same with `timers` as child spans of their requests' roots.
    pub fn with_timers(mut self, timers: &'a [Timer]) -> ClientSpans<'a> {
        self.timers = timers.iter().flat_map(|t| t.inside.iter().map(move |&(trace, span)| (t, trace, span))).collect();
        self
    }

    /// Spans written: roots and timers.
    pub fn len(&self) -> usize {
        self.eligible.len() + self.timers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The OTLP/JSON export requests, at most [`BATCH`] spans each, built one at a time as
    /// they are sent (10 000 spans at once would be ~70 MiB of JSON values).
    pub fn docs(&self) -> impl Iterator<Item = Value> + '_ {
        let items: Vec<Item<'a>> = self
            .eligible
            .iter()
            .map(|&r| Item::Root(r))
            .chain(self.timers.iter().map(|&(t, trace, span)| Item::Timer(t, trace, span)))
            .collect();
        let batches: Vec<Vec<Item<'a>>> = {
            let mut out = Vec::new();
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                out.push(items.by_ref().take(BATCH).collect());
            }
            out
        };
        batches.into_iter().map(|chunk| {
            json!({"resourceSpans": [{
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": CLIENT_SERVICE}}]},
                "scopeSpans": [{"scope": {"name": "k6gate", "version": env!("CARGO_PKG_VERSION")},
                                "spans": chunk.iter().filter_map(|i| match i {
                                    Item::Root(r) => span(r),
                                    Item::Timer(t, trace, parent) => Some(timer_span(t, *trace, *parent)),
                                }).collect::<Vec<_>>()}],
            }]})
        })
    }
}

/// A timer's span id: derived from what identifies it (trace, parent, name, start), so a
/// second export writes the same span again rather than a twin. Never zero.
fn timer_span_id(t: &Timer, trace: TraceId, parent: SpanId) -> SpanId {
    // FNV-1a over the identifying bytes, then SplitMix64's finaliser to spread them.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = trace.0.to_be_bytes().into_iter().chain(parent.0.to_be_bytes()).chain(t.start_ns.to_be_bytes());
    for b in bytes.chain(t.name.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^= h >> 31;
    SpanId(h.max(1))
}

/// A timer as a child of the request's root span (`KIND_INTERNAL`).
fn timer_span(t: &Timer, trace: TraceId, parent: SpanId) -> Value {
    json!({
        "traceId": trace.to_string(),
        "spanId": timer_span_id(t, trace, parent).to_string(),
        "parentSpanId": parent.to_string(),
        "name": t.name,
        "kind": KIND_INTERNAL,
        "startTimeUnixNano": t.start_ns.to_string(),
        "endTimeUnixNano": (t.start_ns + t.duration_ns).to_string(),
        "attributes": [{"key": "k6.timer", "value": {"stringValue": t.name}}],
        "status": {},
    })
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
    if let Some(s) = r.status {
        attributes.push(json!({"key": "http.response.status_code", "value": {"intValue": s.to_string()}}));
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
            status: Some(200),
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
