//! Each traced request of a k6 JSON output, for `k6gate traces` and `run`'s breakdown: the
//! `http_req_duration` points with the ids the template put in their metadata (`trace_id`,
//! `span_id`, `correlation_id`), their start, duration, status, group, name and stage; and
//! the `measure()` timers' Trend points whose metadata lists the requests made inside them
//! (`k6gate_timer_traces`: `trace:span` ids, comma-separated; `k6gate_timer_start_ms`: its
//! start).
//!
//! k6 stamps every `http_*` sample of a request with the request's end (`Trail.EndTime` in
//! k6's `lib/netext/httpext`), and `http_req_duration` is sending + waiting + receiving, so
//! the request's start is the time minus the duration. The RunSummary does not keep trace ids
//! yet (the next slice of issue 15), hence this second pass over the raw output.

use std::io::{BufRead, BufReader};
use std::path::Path;

use serde_json::Value;

use super::IngestError;
use crate::traces::client::Timer;
use crate::traces::{Request, SpanId, TraceId};

/// Every `http_req_duration` point of the JSON output at `path` (plain or gzip), in file
/// order. A request without a `trace_id` in its metadata has `trace_id: None`.
pub fn read_requests(path: &Path) -> Result<Vec<Request>, IngestError> {
    Ok(read_client_side(path)?.0)
}

/// [`read_requests`], and the `measure()` timers that enclosed traced requests.
pub fn read_client_side(path: &Path) -> Result<(Vec<Request>, Vec<Timer>), IngestError> {
    let (reader, _) =
        super::detect::open(path).map_err(|e| IngestError::input(path, None, format!("cannot read: {e}")))?;
    let (mut out, mut timers) = (Vec::new(), Vec::new());
    for (i, line) in BufReader::with_capacity(1 << 20, reader).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| IngestError::input(path, Some(n), format!("cannot read: {e}")))?;
        // Cheap filter first: nine samples a request, one of them is wanted.
        let is_timer = line.contains("\"k6gate_timer_traces\"");
        if !is_timer && !line.contains("\"http_req_duration\"") {
            continue;
        }
        let v: Value =
            serde_json::from_str(&line).map_err(|e| IngestError::input(path, Some(n), format!("not JSON: {e}")))?;
        if v.get("type").and_then(Value::as_str) != Some("Point") {
            continue;
        }
        if is_timer {
            timers.push(timer(&v).map_err(|m| IngestError::input(path, Some(n), m))?);
        } else if v.get("metric").and_then(Value::as_str) == Some("http_req_duration") {
            out.push(request(&v).map_err(|m| IngestError::input(path, Some(n), m))?);
        }
    }
    Ok((out, timers))
}

/// The sample's end (its time), its value as nanoseconds.
fn time_and_value(data: &Value) -> Result<(i64, i64), String> {
    let time = data.get("time").and_then(Value::as_str).ok_or("data.time: missing")?;
    let end_ns =
        crate::time::parse_rfc3339_ns(time.as_bytes()).ok_or_else(|| format!("data.time: {time:?} is not RFC 3339"))?;
    let ms = data.get("value").and_then(Value::as_f64).ok_or("data.value: not a number")?;
    if !(ms >= 0.0 && ms.is_finite()) {
        return Err(format!("data.value: {ms} is not a duration"));
    }
    Ok((end_ns, (ms * 1e6).round() as i64))
}

fn timer(v: &Value) -> Result<Timer, String> {
    let data = v.get("data").ok_or("a Point without data")?;
    let name = v.get("metric").and_then(Value::as_str).ok_or("metric: missing")?.to_string();
    let (end_ns, duration_ns) = time_and_value(data)?;
    let field = "data.metadata.k6gate_timer_traces";
    let list = data
        .pointer("/metadata/k6gate_timer_traces")
        .and_then(Value::as_str)
        .ok_or(format!("{field}: not a string"))?;
    let inside = list
        .split(',')
        .map(|pair| {
            let (t, s) = pair.split_once(':').ok_or_else(|| format!("{field}: {pair:?} is not trace:span"))?;
            Ok((
                TraceId::parse(t).map_err(|m| format!("{field}: {m}"))?,
                SpanId::parse(s).map_err(|m| format!("{field}: {m}"))?,
            ))
        })
        .collect::<Result<Vec<_>, String>>()?;
    // The runtime's own start (JS milliseconds) when it gave one: the sample's time is taken
    // after the callback returned, later by however long the VU waited for a CPU.
    let start_ns = match data.pointer("/metadata/k6gate_timer_start_ms") {
        None | Some(Value::Null) => end_ns - duration_ns,
        Some(v) => {
            let ms = v.as_str().and_then(|s| s.parse::<i64>().ok()).ok_or_else(|| {
                format!("data.metadata.k6gate_timer_start_ms: {v} is not a time in Unix milliseconds")
            })?;
            ms * 1_000_000
        }
    };
    Ok(Timer { name, start_ns, duration_ns, inside })
}

fn request(v: &Value) -> Result<Request, String> {
    let data = v.get("data").ok_or("a Point without data")?;
    let (end_ns, duration_ns) = time_and_value(data)?;
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
        status: Some(tag("status"))
            .filter(|s| !s.is_empty())
            .map(|s| s.parse::<u16>())
            .transpose()
            .map_err(|e| format!("data.tags.status: {e}"))?,
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
                r#"{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-28T00:00:01Z","value":12.5,"tags":{"group":"::shop","name":"GET /items","test_stage":"steady","status":"503"},"metadata":{"trace_id":"5b8efff798038103d269b633813fc700","span_id":"00f067aa0ba902b7","correlation_id":"k6-1-1-1"}}}"#, "\n",
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
        assert_eq!((r[0].status, r[1].status), (Some(503), None));
        assert_eq!(r[0].correlation_id.as_deref(), Some("k6-1-1-1"));
        assert_eq!(r[0].span_id.map(|s| s.to_string()).as_deref(), Some("00f067aa0ba902b7"));

        std::fs::write(&path, concat!(
            r#"{"metric":"auth_check","type":"Point","data":{"time":"2026-11-28T00:00:01.5Z","value":20,"tags":{},"metadata":{"k6gate_timer_traces":"5b8efff798038103d269b633813fc700:00f067aa0ba902b7,0af7651916cd43dd8448eb211c80319c:b7ad6b7169203331"}}}"#, "\n",
            r#"{"metric":"auth_check","type":"Point","data":{"time":"2026-11-28T00:00:02Z","value":3,"tags":{}}}"#, "\n",
        )).unwrap();
        let (r, timers) = read_client_side(&path).unwrap();
        assert!(r.is_empty());
        assert_eq!(timers.len(), 1, "a timer without requests inside is not a span");
        assert_eq!((timers[0].name.as_str(), timers[0].duration_ns), ("auth_check", 20_000_000));
        assert_eq!(timers[0].start_ns, crate::time::parse_rfc3339_ns(b"2026-11-28T00:00:01.48Z").unwrap());
        assert_eq!(timers[0].inside.len(), 2);
        assert_eq!(timers[0].inside[1].1.to_string(), "b7ad6b7169203331");
        std::fs::write(&path, r#"{"metric":"t","type":"Point","data":{"time":"2026-11-28T00:00:02Z","value":3,"metadata":{"k6gate_timer_traces":"5b8efff798038103d269b633813fc700:00f067aa0ba902b7","k6gate_timer_start_ms":"1796083200123"}}}"#).unwrap();
        let (_, timers) = read_client_side(&path).unwrap();
        assert_eq!((timers[0].start_ns, timers[0].duration_ns), (1_796_083_200_123_000_000, 3_000_000));
        std::fs::write(&path, r#"{"metric":"t","type":"Point","data":{"time":"2026-11-28T00:00:02Z","value":3,"metadata":{"k6gate_timer_traces":"abc"}}}"#).unwrap();
        let e = read_client_side(&path).unwrap_err().to_string();
        assert!(e.contains("k6.json:1: data.metadata.k6gate_timer_traces: \"abc\" is not trace:span"), "{e}");

        std::fs::write(&path, r#"{"metric":"http_req_duration","type":"Point","data":{"time":"x","value":1}}"#)
            .unwrap();
        let e = read_requests(&path).unwrap_err().to_string();
        assert!(e.ends_with("k6.json:1: data.time: \"x\" is not RFC 3339"), "{e}");
        std::fs::write(&path, r#"{"metric":"http_req_duration","type":"Point","data":{"time":"2026-11-28T00:00:01Z","value":1,"metadata":{"trace_id":"t-1"}}}"#).unwrap();
        let e = read_requests(&path).unwrap_err().to_string();
        assert!(e.contains("k6.json:1: data.metadata.trace_id: \"t-1\" is neither"), "{e}");
    }
}
