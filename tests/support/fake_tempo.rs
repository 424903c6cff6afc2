//! A fake Tempo query frontend, kept to Tempo's documented API (`docs/sources/tempo/api_docs`):
//!
//! - `GET /api/v2/traces/<32 hex>` -> `{"trace": {"resourceSpans": [...]}, "status":
//!   "COMPLETE"|"PARTIAL"}`; `GET /api/traces/<32 hex>` -> the same OTLP/JSON under `batches`.
//!   Ids inside are base64, as Tempo's gogo/jsonpb encoder writes them. An unknown trace is a
//!   404. `v1_only` is a Tempo before 2.5: its v2 path is a 404 whatever the id.
//! - `GET /api/search?q=<TraceQL>&start=<s>&end=<s>&limit=<n>` -> `{"traces": [{"traceID"
//!   (hex, leading zeros trimmed), "rootServiceName", "rootTraceName", "startTimeUnixNano",
//!   "durationMs"}], "metrics": {...}}`; 400 without `q` or with non-numeric bounds.
//! - With a `tenant`, a request without that `X-Scope-OrgID` is a 401 ("no org id").
//!
//! Each trace is a list of snapshots: the n-th fetch of it gets the n-th (the last once they
//! run out), which is how spans arrive late. `fail_first` answers 503 to that many requests.
//!
//! It also ingests, as Tempo's distributor does with its OTLP receiver (`POST /v1/traces` on
//! port 4318): OTLP/HTTP with the JSON encoding, as the OTLP specification's "OTLP/HTTP"
//! section (opentelemetry.io/docs/specs/otlp/#otlphttp) defines it: `Content-Type:
//! application/json`, an `ExportTraceServiceRequest` body (`resourceSpans` > `scopeSpans` >
//! `spans`) whose `traceId`/`spanId` are hex (not base64, the mapping's one exception), answered
//! `200` with an `ExportTraceServiceResponse` (`{}`: no partial success); a body that is not
//! one is a `400`, another content type (protobuf, which this fake does not decode) a `415`.
//! The spans received are served by the query API above like Tempo serves them: ids in base64,
//! `kind` as the enum's name, one `batches`/`resourceSpans` entry per resource as sent.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use base64::Engine as _;
use serde_json::{Value, json};
use wiremock::{Request, Respond, ResponseTemplate};

/// One span as a test writes it: ids in hex, times in ms after `T0`.
#[derive(Clone, Debug)]
pub struct FakeSpan {
    pub span_id: u64,
    pub parent: Option<u64>,
    pub service: &'static str,
    pub start_ms: f64,
    pub end_ms: f64,
}

pub const T0_NS: i64 = 1_764_288_000_000_000_000;

fn hex_to_b64(hex: &str) -> String {
    let bytes: Vec<u8> = (0..hex.len() / 2).map(|i| u8::from_str_radix(&hex[i * 2..i * 2 + 2], 16).unwrap()).collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// OTLP/JSON resource spans (one resource per service) for `spans` of trace `trace_hex`;
/// ids hex (the OTLP/JSON mapping) or base64 (Tempo's answers).
pub fn resource_spans(trace_hex: &str, spans: &[FakeSpan], base64_ids: bool) -> Value {
    let id = |hex: String| if base64_ids { hex_to_b64(&hex) } else { hex };
    let mut by_service: BTreeMap<&str, Vec<Value>> = BTreeMap::new();
    for s in spans {
        let ns = |ms: f64| (T0_NS + (ms * 1e6).round() as i64).to_string();
        by_service.entry(s.service).or_default().push(json!({
            "traceId": id(trace_hex.to_string()),
            "spanId": id(format!("{:016x}", s.span_id)),
            "parentSpanId": s.parent.map(|p| id(format!("{p:016x}"))).unwrap_or_default(),
            "name": format!("{} work", s.service),
            "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": ns(s.start_ms),
            "endTimeUnixNano": ns(s.end_ms),
            "attributes": [{"key": "component.test", "value": {"boolValue": true}}],
            "status": {}
        }));
    }
    Value::Array(
        by_service
            .into_iter()
            .map(|(svc, spans)| {
                json!({"resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                       "scopeSpans": [{"scope": {"name": "fake"}, "spans": spans}]})
            })
            .collect(),
    )
}

/// A span received over OTLP: its resource, its scope and the span, as sent.
pub type StoredSpan = (Value, Value, Value);

#[derive(Default)]
pub struct FakeTempo {
    pub tenant: Option<&'static str>,
    pub v1_only: bool,
    pub fail_first: usize,
    /// Trace id (32 hex) -> snapshots, and whether v2 says PARTIAL.
    pub traces: BTreeMap<String, (Vec<Vec<FakeSpan>>, bool)>,
    /// The fake's bookkeeping: fetches per trace, and requests (for `fail_first`).
    pub fetched: Mutex<BTreeMap<String, usize>>,
    pub requests: AtomicUsize,
    /// Spans received over OTLP/HTTP, by trace id (32 hex): (resource, scope, span) as sent.
    pub received: Mutex<BTreeMap<String, Vec<StoredSpan>>>,
    /// OTLP export requests accepted.
    pub exports: AtomicUsize,
}

impl FakeTempo {
    pub fn trace(mut self, hex: &str, snapshots: Vec<Vec<FakeSpan>>, partial: bool) -> FakeTempo {
        self.traces.insert(hex.to_string(), (snapshots, partial));
        self
    }

    fn snapshot(&self, hex: &str) -> Option<(Vec<FakeSpan>, bool)> {
        let (snaps, partial) = self.traces.get(hex)?;
        let mut fetched = self.fetched.lock().unwrap();
        let n = fetched.entry(hex.to_string()).or_insert(0);
        let snap = snaps.get(*n).or(snaps.last()).cloned().unwrap_or_default();
        *n += 1;
        Some((snap, *partial))
    }
}

fn not_found(text: &str) -> ResponseTemplate {
    ResponseTemplate::new(404).set_body_string(text)
}

impl Respond for FakeTempo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if self.requests.fetch_add(1, Ordering::SeqCst) < self.fail_first {
            return ResponseTemplate::new(503).set_body_string("upstream unavailable");
        }
        if req.url.path() == "/v1/traces" {
            return self.ingest(req);
        }
        if req.method.as_str() != "GET" {
            return ResponseTemplate::new(405);
        }
        if let Some(t) = self.tenant {
            let got = req.headers.get("X-Scope-OrgID").and_then(|v| v.to_str().ok());
            if got != Some(t) {
                return ResponseTemplate::new(401).set_body_string("no org id");
            }
        }
        let path = req.url.path();
        let is_hex_id = |id: &str| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(id) = path.strip_prefix("/api/v2/traces/") {
            if self.v1_only {
                return not_found("404 page not found");
            }
            if !is_hex_id(id) {
                return ResponseTemplate::new(400).set_body_string("invalid trace id");
            }
            if let Some(rs) = self.received_resource_spans(id) {
                return ResponseTemplate::new(200)
                    .set_body_json(json!({"trace": {"resourceSpans": rs}, "status": "COMPLETE"}));
            }
            return match self.snapshot(id) {
                Some((spans, partial)) => ResponseTemplate::new(200).set_body_json(json!({
                    "trace": {"resourceSpans": resource_spans(id, &spans, true)},
                    "status": if partial { "PARTIAL" } else { "COMPLETE" },
                    "message": if partial { "trace exceeds max size" } else { "" },
                })),
                None => not_found("trace not found"),
            };
        }
        if let Some(id) = path.strip_prefix("/api/traces/") {
            if !is_hex_id(id) {
                return ResponseTemplate::new(400).set_body_string("invalid trace id");
            }
            if let Some(rs) = self.received_resource_spans(id) {
                return ResponseTemplate::new(200).set_body_json(json!({"batches": rs}));
            }
            return match self.snapshot(id) {
                Some((spans, _)) => {
                    ResponseTemplate::new(200).set_body_json(json!({"batches": resource_spans(id, &spans, true)}))
                }
                None => not_found("trace not found"),
            };
        }
        if path == "/api/search" {
            let q: BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
            let numeric = |k: &str| q.get(k).is_some_and(|v| v.parse::<i64>().is_ok());
            if !q.contains_key("q") || !numeric("start") || !numeric("end") || !numeric("limit") {
                return ResponseTemplate::new(400).set_body_string("q, start, end and limit are required here");
            }
            let limit: usize = q["limit"].parse().unwrap();
            let traces: Vec<Value> = self
                .traces
                .iter()
                .take(limit)
                .map(|(id, (snaps, _))| {
                    let spans = snaps.last().cloned().unwrap_or_default();
                    let root = spans.iter().find(|s| s.parent.is_none());
                    json!({
                        "traceID": id.trim_start_matches('0'),
                        "rootServiceName": root.map(|r| r.service),
                        "rootTraceName": root.map(|r| format!("{} work", r.service)),
                        "startTimeUnixNano": (T0_NS + (root.map_or(0.0, |r| r.start_ms) * 1e6) as i64).to_string(),
                        "durationMs": root.map(|r| (r.end_ms - r.start_ms).round() as i64),
                    })
                })
                .collect();
            return ResponseTemplate::new(200).set_body_json(
                json!({"traces": traces, "metrics": {"inspectedTraces": traces.len(), "inspectedBytes": "0"}}),
            );
        }
        not_found("404 page not found")
    }
}

/// OTLP's `SpanKind` numbers by name, as Tempo's JSON writes them.
const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

fn is_hex(v: &Value, len: usize) -> bool {
    v.as_str().is_some_and(|h| h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

impl FakeTempo {
    /// Spans received for `hex` in Tempo's answer shape, grouped by the resource they came with.
    fn received_resource_spans(&self, hex: &str) -> Option<Value> {
        let received = self.received.lock().unwrap();
        let spans = received.get(hex)?;
        let mut groups: Vec<(Value, Value, Vec<Value>)> = Vec::new();
        for (resource, scope, span) in spans {
            let mut span = span.clone();
            for k in ["traceId", "spanId", "parentSpanId"] {
                if let Some(h) = span.get(k).and_then(Value::as_str).filter(|h| !h.is_empty()) {
                    span[k] = json!(hex_to_b64(h));
                }
            }
            if let Some(n) = span.get("kind").and_then(Value::as_u64) {
                span["kind"] = json!(SPAN_KINDS.get(n as usize).copied().unwrap_or("SPAN_KIND_UNSPECIFIED"));
            }
            match groups.iter_mut().find(|(r, sc, _)| r == resource && sc == scope) {
                Some((_, _, v)) => v.push(span),
                None => groups.push((resource.clone(), scope.clone(), vec![span])),
            }
        }
        Some(Value::Array(
            groups
                .into_iter()
                .map(|(resource, scope, spans)| {
                    let mut scope_spans = json!({"spans": spans});
                    if !scope.is_null() {
                        scope_spans["scope"] = scope;
                    }
                    json!({"resource": resource, "scopeSpans": [scope_spans]})
                })
                .collect(),
        ))
    }

    /// `POST /v1/traces`: an OTLP/HTTP JSON export, checked and stored whole or not at all.
    fn ingest(&self, req: &Request) -> ResponseTemplate {
        if req.method.as_str() != "POST" {
            return ResponseTemplate::new(405);
        }
        let ct = req.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        if !ct.starts_with("application/json") {
            return ResponseTemplate::new(415).set_body_string(format!("unsupported content type {ct:?}"));
        }
        let doc: Value = match serde_json::from_slice(&req.body) {
            Ok(v) => v,
            Err(e) => return ResponseTemplate::new(400).set_body_string(format!("not JSON: {e}")),
        };
        let mut accepted = Vec::new();
        let list = |v: &Value, k: &str| -> Result<Vec<Value>, String> {
            match v.get(k) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Array(a)) => Ok(a.clone()),
                Some(_) => Err(format!("{k} is not a list")),
            }
        };
        let checked = (|| -> Result<(), String> {
            for rs in list(&doc, "resourceSpans")? {
                let resource = rs.get("resource").cloned().unwrap_or(Value::Null);
                for ss in list(&rs, "scopeSpans")? {
                    let scope = ss.get("scope").cloned().unwrap_or(Value::Null);
                    for span in list(&ss, "spans")? {
                        let (t, id) =
                            (span.get("traceId").unwrap_or(&Value::Null), span.get("spanId").unwrap_or(&Value::Null));
                        if !is_hex(t, 32) || !is_hex(id, 16) {
                            return Err(format!("traceId/spanId must be hex (OTLP/JSON): {t} {id}"));
                        }
                        let parent = span.get("parentSpanId").unwrap_or(&Value::Null);
                        if !(parent.is_null() || parent.as_str() == Some("") || is_hex(parent, 16)) {
                            return Err(format!("parentSpanId must be hex: {parent}"));
                        }
                        for k in ["startTimeUnixNano", "endTimeUnixNano"] {
                            let ok = match span.get(k) {
                                Some(Value::String(n)) => n.parse::<u64>().is_ok(),
                                Some(Value::Number(n)) => n.is_u64(),
                                _ => false,
                            };
                            if !ok {
                                return Err(format!("{k} is not a number of nanoseconds"));
                            }
                        }
                        let hex = t.as_str().unwrap_or_default().to_ascii_lowercase();
                        accepted.push((hex, (resource.clone(), scope.clone(), span)));
                    }
                }
            }
            Ok(())
        })();
        if let Err(m) = checked {
            return ResponseTemplate::new(400).set_body_string(m);
        }
        let mut received = self.received.lock().unwrap();
        for (hex, span) in accepted {
            received.entry(hex).or_default().push(span);
        }
        self.exports.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({}))
    }

    /// Spans received so far, over all traces.
    pub fn received_spans(&self) -> usize {
        self.received.lock().unwrap().values().map(Vec::len).sum()
    }
}

/// A fake Tempo the test keeps a handle on (to read what it received) while the server answers.
pub struct SharedTempo(pub std::sync::Arc<FakeTempo>);

impl Respond for SharedTempo {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        self.0.respond(req)
    }
}
