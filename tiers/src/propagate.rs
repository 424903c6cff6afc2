//! What crosses a hop besides the request: W3C trace context (`traceparent`, through
//! OpenTelemetry's `TraceContextPropagator`) and the correlation id (`X-Correlation-Id`),
//! which every tier also puts on its spans (`correlation_id`) and its log lines.

use axum::http::{HeaderMap, HeaderValue};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_sdk::propagation::TraceContextPropagator;

/// The correlation id's header, as k6's script sends it and each tier forwards it.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The remote parent a request carries (an empty context without a valid `traceparent`).
pub fn extract(headers: &HeaderMap) -> Context {
    let given = headers.get("traceparent").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if !well_formed(given) {
        return Context::new();
    }
    TraceContextPropagator::new().extract(&HeaderExtractor(headers))
}

/// W3C Trace Context's `traceparent` shape (§ 3.2): `version-traceid-parentid-flags`, lowercase
/// hex of 2, 32, 16 and 2 digits; more fields only after a version other than `00`; version
/// `ff` is invalid. Checked here because the SDK's propagator (0.33) accepts shorter ids
/// (`00-0af7-b7-01` gave trace id 0xaf7).
pub fn well_formed(traceparent: &str) -> bool {
    let fields: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    match fields.as_slice() {
        [v, t, p, f, rest @ ..] => {
            hex(v, 2) && *v != "ff" && hex(t, 32) && hex(p, 16) && hex(f, 2) && (rest.is_empty() || *v != "00")
        }
        _ => false,
    }
}

/// Adds `cx`'s `traceparent` (and `tracestate`) and the correlation id to `headers`.
pub fn inject(cx: &Context, correlation_id: &str, headers: &mut HeaderMap) {
    TraceContextPropagator::new().inject_context(cx, &mut HeaderInjector(headers));
    if let Ok(v) = HeaderValue::from_str(correlation_id) {
        headers.insert(CORRELATION_HEADER, v);
    }
}

/// The trace id of `cx`'s span as a number (0 without a valid span).
pub fn trace_id(cx: &Context) -> u128 {
    let sc = cx.span().span_context().clone();
    if sc.is_valid() { u128::from_be_bytes(sc.trace_id().to_bytes()) } else { 0 }
}

/// The request's correlation id: the header when it is a sane token (1 to 64 characters of
/// `[A-Za-z0-9._-]`: it goes into logs and span attributes as it is), else one made from the
/// trace id (`t-<32 hex>`), else `none`.
pub fn correlation_id(headers: &HeaderMap, trace_id: u128) -> String {
    let given = headers.get(CORRELATION_HEADER).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let sane = !given.is_empty()
        && given.len() <= 64
        && given.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    match (sane, trace_id) {
        (true, _) => given.to_string(),
        (false, 0) => "none".to_string(),
        (false, t) => format!("t-{t:032x}"),
    }
}

#[cfg(test)]
mod tests {
    use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};

    use super::*;

    const TRACE: u128 = 0x0af7_6519_16cd_43dd_8448_eb21_1c80_319c;

    #[test]
    fn a_traceparent_extracted_is_injected_again_with_the_same_trace() {
        let mut h = HeaderMap::new();
        h.insert("traceparent", HeaderValue::from_static("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"));
        let cx = extract(&h);
        assert_eq!(trace_id(&cx), TRACE);
        let sc = cx.span().span_context().clone();
        assert!(sc.is_remote() && sc.is_sampled());
        assert_eq!(sc.span_id(), SpanId::from_hex("b7ad6b7169203331").unwrap());

        let child = Context::new().with_remote_span_context(SpanContext::new(
            TraceId::from(TRACE),
            SpanId::from_hex("00f067aa0ba902b7").unwrap(),
            TraceFlags::SAMPLED,
            false,
            TraceState::default(),
        ));
        let mut out = HeaderMap::new();
        inject(&child, "k6-7-42", &mut out);
        assert_eq!(out["traceparent"], "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01");
        assert_eq!(out[CORRELATION_HEADER], "k6-7-42");
    }

    #[test]
    fn a_broken_traceparent_gives_no_parent() {
        for bad in [
            "garbage",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7-b7-01",
            "00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-extra",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        ] {
            let mut h = HeaderMap::new();
            h.insert("traceparent", HeaderValue::from_str(bad).unwrap());
            assert_eq!(trace_id(&extract(&h)), 0, "{bad}");
        }
        assert_eq!(trace_id(&extract(&HeaderMap::new())), 0);
    }

    #[test]
    fn the_correlation_id_is_kept_when_sane_else_made_from_the_trace() {
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(CORRELATION_HEADER, HeaderValue::from_str(v).unwrap());
            h
        };
        assert_eq!(correlation_id(&with("k6-1-7"), TRACE), "k6-1-7");
        assert_eq!(correlation_id(&with("a b"), TRACE), "t-0af7651916cd43dd8448eb211c80319c");
        assert_eq!(correlation_id(&with(&"x".repeat(65)), 0), "none");
        assert_eq!(correlation_id(&HeaderMap::new(), 1), "t-00000000000000000000000000000001");
    }
}
