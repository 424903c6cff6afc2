//! Each traced request of a k6 JSON output, for `k6gate traces`: the `http_req_duration`
//! points with the trace id the template put in their metadata (`trace_id`), their start,
//! duration, group, name and stage.
//!
//! k6 stamps every `http_*` sample of a request with the request's end (`Trail.EndTime` in
//! k6's `lib/netext/httpext`), and `http_req_duration` is sending + waiting + receiving, so
//! the request's start is the time minus the duration. The RunSummary does not keep trace ids
//! yet (the next slice of issue 15), hence this second pass over the raw output.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::IngestError;
use crate::traces::{Request, SpanId, TraceId};

/// Every `http_req_duration` point of the JSON output at `path` (plain or gzip), in file
/// order. A request without a `trace_id` in its metadata has `trace_id: None`.
pub fn read_requests(path: &Path) -> Result<Vec<Request>, IngestError> {
    let (reader, _) =
        super::detect::open(path).map_err(|e| IngestError::input(path, None, format!("cannot read: {e}")))?;
    let mut out = Vec::new();
    for (i, line) in BufReader::with_capacity(1 << 20, reader).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| IngestError::input(path, Some(n), format!("cannot read: {e}")))?;
        // Cheap filter first: nine samples a request, one of them is wanted.
        if !line.contains("\"http_req_duration\"") {
            continue;
        }
        let v: Value =
            serde_json::from_str(&line).map_err(|e| IngestError::input(path, Some(n), format!("not JSON: {e}")))?;
        if v.get("type").and_then(Value::as_str) != Some("Point")
            || v.get("metric").and_then(Value::as_str) != Some("http_req_duration")
        {
            continue;
        }
        out.push(request(&v).map_err(|m| IngestError::input(path, Some(n), m))?);
    }
    Ok(out)
}

fn request(v: &Value) -> Result<Request, String> {
    let data = v.get("data").ok_or("a Point without data")?;
    let time = data.get("time").and_then(Value::as_str).ok_or("data.time: missing")?;
    let end_ns =
        crate::time::parse_rfc3339_ns(time.as_bytes()).ok_or_else(|| format!("data.time: {time:?} is not RFC 3339"))?;
    let ms = data.get("value").and_then(Value::as_f64).ok_or("data.value: not a number")?;
    if !(ms >= 0.0 && ms.is_finite()) {
        return Err(format!("data.value: {ms} is not a duration"));
    }
    let duration_ns = (ms * 1e6).round() as i64;
    let tag = |k: &str| data.pointer(&format!("/tags/{k}")).and_then(Value::as_str).unwrap_or_default().to_string();
    let trace_id = match data.pointer("/metadata/trace_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(TraceId::parse(t).map_err(|m| format!("data.metadata.trace_id: {m}"))?),
        Some(other) => return Err(format!("data.metadata.trace_id: {other} is not a string")),
    };
    let (group, name) = (tag("group"), tag("name"));
    let phase = Some(tag("test_stage")).filter(|s| !s.is_empty());
    let span_id = match data.pointer("/metadata/span_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(SpanId::parse(t).map_err(|m| format!("data.metadata.span_id: {m}"))?),
        Some(other) => return Err(format!("data.metadata.span_id: {other} is not a string")),
    };
    let correlation_id = match data.pointer("/metadata/correlation_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(t)) => Some(t.clone()),
        Some(other) => return Err(format!("data.metadata.correlation_id: {other} is not a string")),
    };
    Ok(Request {
        trace_id,
        start_ns: end_ns - duration_ns,
        duration_ns,
        group: if group.is_empty() { name.clone() } else { group },
        name,
        phase,
        span_id,
        correlation_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_become_requests_that_start_a_duration_before_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k6.json");
        std::fs::write(
            &path,
            concat!(
                r#"{"type":"Metric","data":{"name":"http_req_duration","type":"trend"},"metric":"http_req_duration"}"#, "\n",
                r#"{"metric":"http_reqs","type":"Point","data":{"time":"2026-11-28T00:00:01Z","value":1,"tags":{"name":"a"}}}"#, "\n",
                r#"{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-28T00:00:01Z","value":12.5,"tags":{"group":"::shop","name":"GET /items","test_stage":"steady"},"metadata":{"trace_id":"5b8efff798038103d269b633813fc700"}}}"#, "\n",
                r#"{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-28T00:00:02Z","value":3,"tags":{"group":"","name":"GET /"}}}"#, "\n",
            ),
        )
        .unwrap();
        let r = read_requests(&path).unwrap();
        assert_eq!(r.len(), 2);
        assert_eq!(r[0].trace_id.unwrap().to_string(), "5b8efff798038103d269b633813fc700");
        assert_eq!(r[0].duration_ns, 12_500_000);
        assert_eq!(r[0].start_ns, crate::time::parse_rfc3339_ns(b"2026-11-28T00:00:01Z").unwrap() - 12_500_000);
        assert_eq!((r[0].group.as_str(), r[0].phase.as_deref()), ("::shop", Some("steady")));
        assert_eq!((r[1].group.as_str(), r[1].trace_id), ("GET /", None), "outside groups: the name");

        std::fs::write(&path, r#"{"metric":"http_req_duration","type":"Point","data":{"time":"x","value":1}}"#)
            .unwrap();
        let e = read_requests(&path).unwrap_err().to_string();
        assert!(e.ends_with("k6.json:1: data.time: \"x\" is not RFC 3339"), "{e}");
        std::fs::write(&path, r#"{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-28T00:00:01Z","value":1,"metadata":{"trace_id":"t-1"}}}"#).unwrap();
        let e = read_requests(&path).unwrap_err().to_string();
        assert!(e.contains("k6.json:1: data.metadata.trace_id: \"t-1\" is neither"), "{e}");
    }
}
