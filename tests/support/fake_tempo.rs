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
