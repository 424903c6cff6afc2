//! Where the time goes: distributed traces read back after a run and k6's request durations
//! split into each component's self time along the critical path.
//!
//! - `span.rs`: the span model (ids, times in Unix nanoseconds, the `service.name` component).
//! - `otlp.rs`: OTLP/JSON trace documents (`resourceSpans`, or Tempo's v1 `batches`) into spans;
//!   errors name the file and the field.
//! - `tempo.rs`: the Tempo HTTP API (trace by id, v2 then v1; TraceQL search; the tenant
//!   header; the settle loop that counts late spans), through `net`.
//! - `attribute.rs`: one request's breakdown, pure: parts that add up exactly to k6's
//!   `http_req_duration`, clock-skew adjustments, and the components whose time is unknown and why.
//! - `aggregate.rs`: a run's breakdowns as quantiles with confidence intervals, shares,
//!   coverage, bottlenecks, bimodality and the comparison with a baseline. Pure.
//! - `findings.rs`: the breakdown as the policies judge it and the verdict records it.
//! - `views.rs`: what the report's views and the span metrics need beyond the quantiles,
//!   bounded: native-histogram buckets, heatmaps on a fixed grid, the slowest requests with
//!   their spans.
//! - `client.rs`: k6's side of each trace (one root span per traced request) written into the
//!   trace backend over OTLP/HTTP JSON, so traces have a real root; `measure()` timers as its
//!   children.
//! - `stored.rs`: a breakdown against the baseline's stored one (`verdict.traces`). Pure.
//!
//! What it must never do: print, read the environment or the clock (the Tempo client's waits go
//! through `net::Clock`), or turn missing spans into zero time.

pub mod aggregate;
pub mod attribute;
pub mod client;
mod error;
pub mod findings;
pub mod otlp;
pub mod span;
pub mod stored;
pub mod tempo;
pub mod views;

pub use aggregate::{Breakdown, Comparison, ComponentStats, compare, summarize};
pub use attribute::{Attribution, Reason, Request, Topology, TraceState, attribute};
pub use error::TraceError;
pub use findings::TraceFindings;
pub use span::{Kind, Span, SpanId, Trace, TraceId};
