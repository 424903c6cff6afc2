//! The Tempo HTTP API, as its documentation (`docs/sources/tempo/api_docs`) describes it:
//!
//! - Trace by id: `GET /api/v2/traces/<id>` answers `{"trace": {OTLP/JSON}, "status":
//!   "COMPLETE"|"PARTIAL", "message"}`; Tempo before 2.5 has only `GET /api/traces/<id>`,
//!   whose OTLP/JSON puts the resource spans under `batches`. A 404 from v2 is tried on v1
//!   until one of them has answered 200 (then that one is used alone); 404 from both is "not
//!   found".
//! - Search: `GET /api/search?q=<TraceQL>&start=<unix s>&end=<unix s>&limit=<n>` answers
//!   `{"traces": [{"traceID", "rootServiceName", "rootTraceName", "startTimeUnixNano",
//!   "durationMs"}]}`, trace ids in hex with leading zeros trimmed.
//! - Multi-tenancy: the `X-Scope-OrgID` header.
//!
//! Every request goes through `net`: its client, its retry policy (5xx, 429, network errors).
//! A trace is read until it settles: re-fetched until its span count stops changing (bounded
//! in fetches and time), and the spans that arrived after the first answer are counted as late.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use futures::StreamExt as _;
use serde::Serialize;
use serde_json::Value;

use super::error::TraceError;
use super::otlp::{group, spans_of};
use super::span::{Trace, TraceId};
use crate::net::{Attempt, ClientOptions, Clock, RetryPolicy, TokioClock, retryable_status};

/// Three attempts within 20 s: a trace query is cheap to repeat.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 3,
    backoff: Duration::from_millis(200),
    max_backoff: Duration::from_secs(2),
    budget: Duration::from_secs(20),
};

/// How long a trace is given to settle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Settle {
    /// Fetches at most (at least 2: stability is two equal counts in a row).
    pub max_fetches: u32,
    /// The wait between fetches.
    pub interval: Duration,
    /// Time for the whole settle (all the run's traces), fetches and waits: no round of
    /// fetches starts past it.
    pub budget: Duration,
}

impl Default for Settle {
    fn default() -> Settle {
        Settle { max_fetches: 4, interval: Duration::from_secs(2), budget: Duration::from_secs(600) }
    }
}

/// Which API version answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Api {
    V2,
    V1,
}

/// One answer for a trace id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fetched {
    /// `None`: Tempo does not have the trace (404).
    pub trace: Option<Trace>,
    /// `status: PARTIAL` (v2 only; v1 cannot say).
    pub partial: bool,
    pub message: Option<String>,
    pub api: Option<Api>,
}

impl Fetched {
    pub fn span_count(&self) -> usize {
        self.trace.as_ref().map_or(0, |t| t.spans.len())
    }
}

/// A trace read until it settled (or the bounds ran out).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settled {
    pub id: TraceId,
    /// The last answer.
    pub last: Fetched,
    pub fetches: u32,
    /// Spans in the last answer that the first did not have.
    pub late_spans: usize,
    /// Two fetches in a row had the same (non-zero) span count.
    pub stable: bool,
}

/// One search hit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SearchHit {
    pub trace_id: TraceId,
    pub root_service: Option<String>,
    pub root_name: Option<String>,
    pub start_ns: Option<i64>,
    pub duration_ms: Option<f64>,
}

const UNKNOWN: u8 = 0;
const V2: u8 = 1;
const V1: u8 = 2;

/// A Tempo query frontend.
#[derive(Debug)]
pub struct Tempo {
    base: String,
    tenant: Option<String>,
    client: reqwest::Client,
    retry: RetryPolicy,
    /// Which trace-by-id API answered 200 first (0: neither yet).
    api: AtomicU8,
}

impl Tempo {
    /// `base` is the query frontend's URL (`http://tempo:3200`).
    pub fn new(base: &str, tenant: Option<String>) -> Result<Tempo, TraceError> {
        let client = crate::net::client(&ClientOptions::with_timeout(Duration::from_secs(15)))?;
        Ok(Tempo {
            base: base.trim_end_matches('/').to_string(),
            tenant,
            client,
            retry: RETRY,
            api: AtomicU8::new(UNKNOWN),
        })
    }

    /// The same with another retry policy (tests use a short one).
    pub fn with_retry(mut self, retry: RetryPolicy) -> Tempo {
        self.retry = retry;
        self
    }

    fn shown(&self) -> String {
        crate::net::without_userinfo(&self.base)
    }

    fn error(&self, message: impl Into<String>) -> TraceError {
        TraceError::Tempo { url: self.shown(), message: message.into() }
    }

    /// GET `path_and_query` with retries: the body on 200, `None` on 404.
    async fn get(&self, path_and_query: &str) -> Result<Option<String>, TraceError> {
        let url = format!("{}{path_and_query}", self.base);
        let attempt = |_, _| async {
            let mut req = self.client.get(&url).header("Accept", "application/json");
            if let Some(t) = &self.tenant {
                req = req.header("X-Scope-OrgID", t);
            }
            let fail = |m: String| format!("GET {path_and_query}: {m}");
            let resp = req.send().await.map_err(|e| Attempt::Retry {
                error: fail(crate::net::describe(&e.without_url())),
                retry_after: None,
            })?;
            let status = resp.status().as_u16();
            let retry_after = crate::net::retry_after(resp.headers());
            let text = resp.text().await.map_err(|e| Attempt::Retry {
                error: fail(format!("HTTP {status}: {}", crate::net::describe(&e.without_url()))),
                retry_after: None,
            })?;
            match status {
                200 => Ok(Some(text)),
                404 => Ok(None),
                s if retryable_status(s) => {
                    Err(Attempt::Retry { error: fail(format!("HTTP {s}: {}", text.trim())), retry_after })
                }
                s => Err(Attempt::Final(fail(format!("HTTP {s}: {}", text.trim())))),
            }
        };
        self.retry.run(&TokioClock, attempt).await.map(|(v, _)| v).map_err(|f| self.error(f.into_error()))
    }

    /// The trace with `id`: v2, or v1 where v2 is not served.
    pub async fn trace(&self, id: TraceId) -> Result<Fetched, TraceError> {
        let api = self.api.load(Ordering::Relaxed);
        if api != V1 {
            match self.get(&format!("/api/v2/traces/{id}")).await? {
                Some(body) => {
                    self.api.store(V2, Ordering::Relaxed);
                    return self.read_v2(id, &body);
                }
                None if api == V2 => {
                    return Ok(Fetched { trace: None, partial: false, message: None, api: Some(Api::V2) });
                }
                None => {}
            }
        }
        match self.get(&format!("/api/traces/{id}")).await? {
            Some(body) => {
                self.api.store(V1, Ordering::Relaxed);
                let doc: Value =
                    serde_json::from_str(&body).map_err(|e| self.error(format!("trace {id} (v1): not JSON: {e}")))?;
                let trace = self.trace_of(id, &doc, "v1")?;
                Ok(Fetched { trace: Some(trace), partial: false, message: None, api: Some(Api::V1) })
            }
            None => Ok(Fetched { trace: None, partial: false, message: None, api: None }),
        }
    }

    fn read_v2(&self, id: TraceId, body: &str) -> Result<Fetched, TraceError> {
        let doc: Value =
            serde_json::from_str(body).map_err(|e| self.error(format!("trace {id} (v2): not JSON: {e}")))?;
        let status = doc.get("status").and_then(Value::as_str);
        let partial = match status {
            None | Some("COMPLETE") => false,
            Some("PARTIAL") => true,
            Some(other) => {
                return Err(self.error(format!("trace {id} (v2): status {other:?} is neither COMPLETE nor PARTIAL")));
            }
        };
        let message = doc.get("message").and_then(Value::as_str).filter(|m| !m.is_empty()).map(str::to_string);
        let inner = doc.get("trace").cloned().unwrap_or_else(|| Value::Object(Default::default()));
        let trace = self.trace_of(id, &inner, "v2")?;
        Ok(Fetched { trace: Some(trace), partial, message, api: Some(Api::V2) })
    }

    /// The spans of `doc` that belong to `id` (others would be Tempo's mistake: an error).
    fn trace_of(&self, id: TraceId, doc: &Value, api: &str) -> Result<Trace, TraceError> {
        let spans = spans_of(doc, &format!("{} trace {id} ({api})", self.shown()), "")?;
        if let Some(other) = spans.iter().find(|s| s.trace_id != id) {
            return Err(self.error(format!("trace {id}: the answer holds a span of trace {}", other.trace_id)));
        }
        Ok(group(spans).pop().unwrap_or(Trace { id, spans: Vec::new() }))
    }

    /// TraceQL search over `[start_s, end_s]` (Unix seconds), at most `limit` traces.
    pub async fn search(
        &self,
        traceql: &str,
        start_s: i64,
        end_s: i64,
        limit: u32,
    ) -> Result<Vec<SearchHit>, TraceError> {
        let path =
            format!("/api/search?q={}&start={start_s}&end={end_s}&limit={limit}", crate::net::percent_encode(traceql));
        let body = self.get(&path).await?.ok_or_else(|| self.error("GET /api/search: HTTP 404"))?;
        let doc: Value = serde_json::from_str(&body).map_err(|e| self.error(format!("search: not JSON: {e}")))?;
        let traces = match doc.get("traces") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(t)) => t,
            Some(_) => return Err(self.error("search: traces is not an array")),
        };
        traces
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let id = t
                    .get("traceID")
                    .and_then(Value::as_str)
                    .ok_or_else(|| self.error(format!("search: traces[{i}].traceID: missing")))?;
                let trace_id =
                    TraceId::parse(id).map_err(|m| self.error(format!("search: traces[{i}].traceID: {m}")))?;
                Ok(SearchHit {
                    trace_id,
                    root_service: t.get("rootServiceName").and_then(Value::as_str).map(str::to_string),
                    root_name: t.get("rootTraceName").and_then(Value::as_str).map(str::to_string),
                    start_ns: t.get("startTimeUnixNano").and_then(Value::as_str).and_then(|s| s.parse().ok()),
                    duration_ms: t.get("durationMs").and_then(Value::as_f64),
                })
            })
            .collect()
    }

    /// Fetches `id` until two answers in a row have the same non-zero span count, at most
    /// `settle.max_fetches` times within `settle.budget`, waiting `settle.interval` between.
    pub async fn settle<C: Clock>(&self, id: TraceId, settle: Settle, clock: &C) -> Result<Settled, TraceError> {
        self.settle_many(&[id], settle, 1, clock)
            .await?
            .pop()
            .ok_or_else(|| self.error(format!("trace {id}: not fetched")))
    }

    /// [`Tempo::settle`] for every id, in rounds: each round fetches, `concurrency` at a time,
    /// the traces not settled yet, and the next starts `settle.interval` later, so a run's
    /// traces wait together (the waits do not add up per trace). No round starts past
    /// `settle.budget`. In the order of `ids`.
    pub async fn settle_many<C: Clock>(
        &self,
        ids: &[TraceId],
        settle: Settle,
        concurrency: usize,
        clock: &C,
    ) -> Result<Vec<Settled>, TraceError> {
        let began = clock.now();
        let fetch_all = |which: Vec<usize>| {
            futures::stream::iter(which)
                .map(|i| async move {
                    let id = ids.get(i).copied().ok_or_else(|| self.error("settle: index out of range"))?;
                    self.trace(id).await.map(|f| (i, f))
                })
                .buffered(concurrency.max(1))
                .collect::<Vec<Result<(usize, Fetched), TraceError>>>()
        };
        let mut first: Vec<usize> = Vec::with_capacity(ids.len());
        let mut out: Vec<Settled> = Vec::with_capacity(ids.len());
        for r in fetch_all((0..ids.len()).collect()).await {
            let (i, last) = r?;
            first.push(last.span_count());
            let id = ids.get(i).copied().ok_or_else(|| self.error("settle: index out of range"))?;
            out.push(Settled { id, last, fetches: 1, late_spans: 0, stable: false });
        }
        for _round in 1..settle.max_fetches.max(2) {
            let pending: Vec<usize> = (0..out.len()).filter(|&i| out.get(i).is_some_and(|s| !s.stable)).collect();
            let elapsed = clock.now().saturating_duration_since(began);
            if pending.is_empty() || elapsed + settle.interval > settle.budget {
                break;
            }
            clock.sleep(settle.interval).await;
            for r in fetch_all(pending).await {
                let (i, next) = r?;
                let Some(s) = out.get_mut(i) else { continue };
                s.fetches += 1;
                s.stable = next.span_count() == s.last.span_count() && next.span_count() > 0;
                s.last = next;
            }
        }
        for (s, first) in out.iter_mut().zip(first) {
            s.late_spans = s.last.span_count().saturating_sub(first);
        }
        Ok(out)
    }

    /// [`Tempo::settle_many`] on the shared runtime, for synchronous callers.
    pub fn settle_all(&self, ids: &[TraceId], settle: Settle, concurrency: usize) -> Result<Vec<Settled>, TraceError> {
        crate::net::block_on(self.settle_many(ids, settle, concurrency, &TokioClock))?
    }
}
