//! OTLP/JSON trace documents into spans: an `ExportTraceServiceRequest`
//! (`{"resourceSpans":[{"resource":{"attributes":[...]},"scopeSpans":[{"spans":[...]}]}]}`),
//! Tempo's v1 answer (the same under `batches`), or JSON Lines of either (the collector's file
//! exporter). Ids are hex as the OTLP/JSON mapping says, or base64 as Tempo writes them; times
//! are nanoseconds as strings (numbers accepted too).
//!
//! serde derive is not used on purpose: an error must name the field by its path in the
//! document (`resourceSpans[0].scopeSpans[0].spans[2].endTimeUnixNano`), and OTLP/JSON's
//! `AnyValue` and its two id encodings read more plainly by hand than through untagged enums.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;
use serde_json::value::RawValue;

use super::error::TraceError;
use super::span::{Kind, Span, SpanId, Trace, TraceId};

/// Every span of every file, grouped by trace id.
pub fn read_files(paths: &[impl AsRef<Path>]) -> Result<Vec<Trace>, TraceError> {
    let mut spans = Vec::new();
    for path in paths {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| TraceError::File { path: path.to_path_buf(), message: format!("cannot read: {e}") })?;
        spans.extend(parse(&text, &path.display().to_string())?);
    }
    Ok(group(spans))
}

/// The spans grouped into traces, in trace id order; a span seen twice (the same file given
/// twice, or a span Tempo returned in two batches) is kept once.
pub fn group(spans: Vec<Span>) -> Vec<Trace> {
    let mut by_trace: BTreeMap<TraceId, BTreeMap<SpanId, Span>> = BTreeMap::new();
    for s in spans {
        by_trace.entry(s.trace_id).or_default().entry(s.span_id).or_insert(s);
    }
    by_trace.into_iter().map(|(id, spans)| Trace { id, spans: spans.into_values().collect() }).collect()
}

/// The spans of one document (or of JSON Lines of documents) called `name` in errors.
pub fn parse(text: &str, name: &str) -> Result<Vec<Span>, TraceError> {
    if let Some(read) = parse_lazy(text, name) {
        return read;
    }
    match serde_json::from_str::<Value>(text) {
        Ok(doc) => spans_of(&doc, name, ""),
        Err(whole) => {
            // JSON Lines: one document a line. When even the first line is not JSON, the
            // error is the whole text's.
            let mut out = Vec::new();
            for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
                let doc: Value = serde_json::from_str(line).map_err(|e| {
                    if i == 0 {
                        TraceError::otlp(name, "(document)", format!("not JSON: {whole}"))
                    } else {
                        TraceError::otlp(name, format!("line {}", i + 1), format!("not JSON: {e}"))
                    }
                })?;
                out.extend(spans_of(&doc, name, &format!("line {}: ", i + 1))?);
            }
            Ok(out)
        }
    }
}

/// The spans of one parsed document; `at` prefixes field paths (a JSON Lines line number).
pub fn spans_of(doc: &Value, name: &str, at: &str) -> Result<Vec<Span>, TraceError> {
    let err = |field: String, message: String| TraceError::otlp(name, format!("{at}{field}"), message);
    let Some(obj) = doc.as_object() else {
        return Err(err("(document)".into(), "not a JSON object".into()));
    };
    let (key, resources) = match (obj.get("resourceSpans"), obj.get("batches")) {
        (Some(r), _) => ("resourceSpans", r),
        (None, Some(b)) => ("batches", b),
        // An empty trace (`{}`, as Tempo answers for a trace with no spans yet).
        (None, None) if obj.is_empty() => return Ok(Vec::new()),
        (None, None) => {
            return Err(err(
                "(document)".into(),
                "no resourceSpans (nor Tempo's batches): not an OTLP/JSON trace".into(),
            ));
        }
    };
    let resources = resources.as_array().ok_or_else(|| err(key.into(), "not an array".into()))?;
    let mut out = Vec::new();
    for (ri, rs) in resources.iter().enumerate() {
        resource(rs, &format!("{key}[{ri}]"), &mut out).map_err(|(f, m)| err(f, m))?;
    }
    Ok(out)
}

/// The spans of one `ResourceSpans` (at `rpath` in the document) onto `out`.
fn resource(rs: &Value, rpath: &str, out: &mut Vec<Span>) -> Result<(), FieldError> {
    let attrs = match rs.pointer("/resource/attributes") {
        Some(a) => attributes(a, &format!("{rpath}.resource.attributes"))?,
        None => BTreeMap::new(),
    };
    let component = attrs.get("service.name").cloned().unwrap_or_else(|| "unknown_service".to_string());
    let clock = attrs.get("host.name").or_else(|| attrs.get("service.instance.id")).unwrap_or(&component).clone();
    // `instrumentationLibrarySpans` is the name before OTLP 0.15; old Tempo versions still answer it.
    let (skey, scopes) = match (rs.get("scopeSpans"), rs.get("instrumentationLibrarySpans")) {
        (Some(s), _) => ("scopeSpans", s),
        (None, Some(s)) => ("instrumentationLibrarySpans", s),
        (None, None) => return Ok(()),
    };
    let scopes = scopes.as_array().ok_or_else(|| (format!("{rpath}.{skey}"), "not an array".to_string()))?;
    for (si, ss) in scopes.iter().enumerate() {
        let spath = format!("{rpath}.{skey}[{si}].spans");
        let Some(spans) = ss.get("spans") else { continue };
        let spans = spans.as_array().ok_or_else(|| (spath.clone(), "not an array".to_string()))?;
        for (i, s) in spans.iter().enumerate() {
            out.push(span(s, &format!("{spath}[{i}]"), &component, &clock)?);
        }
    }
    Ok(())
}

/// A document's top level with each resource left as unparsed text: a large export is read
/// one resource at a time instead of as one `Value` tree (about 20 times its size).
#[derive(serde::Deserialize)]
struct Lazy<'a> {
    #[serde(borrow, rename = "resourceSpans")]
    resource_spans: Option<Vec<&'a RawValue>>,
    #[serde(borrow)]
    batches: Option<Vec<&'a RawValue>>,
}

/// [`parse`]'s way for one document with resources: `None` for anything else (which the
/// `Value` path reads or reports).
fn parse_lazy(text: &str, name: &str) -> Option<Result<Vec<Span>, TraceError>> {
    let lazy: Lazy<'_> = serde_json::from_str(text).ok()?;
    let (key, list) = match (lazy.resource_spans, lazy.batches) {
        (Some(r), _) => ("resourceSpans", r),
        (None, Some(b)) => ("batches", b),
        (None, None) => return None,
    };
    let mut out = Vec::new();
    for (ri, raw) in list.iter().enumerate() {
        let rpath = format!("{key}[{ri}]");
        let read = serde_json::from_str::<Value>(raw.get())
            .map_err(|e| (rpath.clone(), e.to_string()))
            .and_then(|rs| resource(&rs, &rpath, &mut out));
        if let Err((field, message)) = read {
            return Some(Err(TraceError::otlp(name, field, message)));
        }
    }
    Some(Ok(out))
}

type FieldError = (String, String);

fn span(s: &Value, path: &str, component: &str, clock: &str) -> Result<Span, FieldError> {
    let field = |f: &str| format!("{path}.{f}");
    let text = |f: &str| -> Result<&str, FieldError> {
        match s.get(f) {
            Some(Value::String(t)) => Ok(t),
            Some(_) => Err((field(f), "not a string".into())),
            None => Err((field(f), "missing".into())),
        }
    };
    let trace_id = TraceId::parse(text("traceId")?).map_err(|m| (field("traceId"), m))?;
    let span_id = SpanId::parse(text("spanId")?).map_err(|m| (field("spanId"), m))?;
    // OTLP/JSON writes an absent parent as "" (or leaves the field out).
    let parent = match s.get("parentSpanId") {
        None | Some(Value::Null) => None,
        Some(Value::String(p)) if p.is_empty() => None,
        Some(Value::String(p)) => Some(SpanId::parse(p).map_err(|m| (field("parentSpanId"), m))?),
        Some(_) => return Err((field("parentSpanId"), "not a string".into())),
    };
    let start_ns = nanos(s.get("startTimeUnixNano")).map_err(|m| (field("startTimeUnixNano"), m))?;
    let end_ns = nanos(s.get("endTimeUnixNano")).map_err(|m| (field("endTimeUnixNano"), m))?;
    if end_ns < start_ns {
        return Err((field("endTimeUnixNano"), format!("{end_ns} is before the start {start_ns}")));
    }
    let kind = match s.get("kind") {
        None | Some(Value::Null) => Kind::Unspecified,
        Some(k) => Kind::parse(k).ok_or_else(|| (field("kind"), format!("{k} is not an OTLP SpanKind")))?,
    };
    let error = matches!(
        s.pointer("/status/code"),
        Some(Value::String(c)) if c == "STATUS_CODE_ERROR"
    ) || s.pointer("/status/code").and_then(Value::as_u64) == Some(2);
    let attributes = match s.get("attributes") {
        Some(a) => attributes(a, &field("attributes"))?,
        None => BTreeMap::new(),
    };
    let name = s.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
    Ok(Span {
        trace_id,
        span_id,
        parent,
        name,
        component: component.to_string(),
        clock: clock.to_string(),
        kind,
        start_ns,
        end_ns,
        error,
        attributes,
    })
}

/// Unix nanoseconds: a string of digits (OTLP/JSON's uint64), or a non-negative integer.
fn nanos(v: Option<&Value>) -> Result<i64, String> {
    match v {
        None => Err("missing".into()),
        Some(Value::String(t)) => {
            t.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| format!("{t:?} is not nanoseconds"))
        }
        Some(Value::Number(n)) => n.as_i64().filter(|n| *n >= 0).ok_or_else(|| format!("{n} is not nanoseconds")),
        Some(other) => Err(format!("{other} is not nanoseconds")),
    }
}

/// `[{"key": k, "value": AnyValue}]` as text values.
fn attributes(a: &Value, path: &str) -> Result<BTreeMap<String, String>, FieldError> {
    let list = a.as_array().ok_or_else(|| (path.to_string(), "not an array".to_string()))?;
    let mut out = BTreeMap::new();
    for (i, kv) in list.iter().enumerate() {
        let key =
            kv.get("key").and_then(Value::as_str).ok_or_else(|| (format!("{path}[{i}].key"), "missing".into()))?;
        out.insert(key.to_string(), kv.get("value").map(any_value).unwrap_or_default());
    }
    Ok(out)
}

/// An `AnyValue` as text: the one field it holds (`{"intValue":"200"}` -> `200`).
fn any_value(v: &Value) -> String {
    let Some(obj) = v.as_object() else { return String::new() };
    match obj.iter().next() {
        Some((_, Value::String(s))) => s.clone(),
        Some((_, other)) => other.to_string(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"api"}}]},
      "scopeSpans":[{"scope":{"name":"x"},"spans":[
        {"traceId":"5b8efff798038103d269b633813fc700","spanId":"eee19b7ec3c1b173","parentSpanId":"","name":"GET /items",
         "kind":"SPAN_KIND_SERVER","startTimeUnixNano":"1700000000000000000","endTimeUnixNano":"1700000000050000000",
         "attributes":[{"key":"http.status_code","value":{"intValue":"200"}}],"status":{"code":"STATUS_CODE_ERROR"}},
        {"traceId":"5b8efff798038103d269b633813fc700","spanId":"eee19b7ec3c1b174","parentSpanId":"eee19b7ec3c1b173","name":"q",
         "kind":3,"startTimeUnixNano":1700000000010000000,"endTimeUnixNano":"1700000000020000000"}]}]}]}"#;

    #[test]
    fn reads_spans_with_component_kind_status_and_attributes() {
        let spans = parse(DOC, "t.json").unwrap();
        assert_eq!(spans.len(), 2);
        let root = &spans[0];
        assert_eq!(root.component, "api");
        assert_eq!(root.clock, "api", "no host.name nor service.instance.id: the component");
        assert_eq!(root.parent, None);
        assert_eq!(root.kind, Kind::Server);
        assert!(root.error);
        assert_eq!(root.duration_ns(), 50_000_000);
        assert_eq!(root.attributes.get("http.status_code").map(String::as_str), Some("200"));
        assert_eq!(spans[1].parent, Some(root.span_id));
        assert_eq!(spans[1].kind, Kind::Client);
        assert_eq!(group(spans).len(), 1);
    }

    #[test]
    fn tempo_batches_and_json_lines_read_too() {
        let batches = DOC.replacen("resourceSpans", "batches", 1);
        assert_eq!(parse(&batches, "v1").unwrap().len(), 2);
        let lines = format!("{}\n\n{}\n", DOC.replace('\n', ""), DOC.replace('\n', ""));
        assert_eq!(parse(&lines, "lines").unwrap().len(), 4);
        assert_eq!(group(parse(&lines, "lines").unwrap())[0].spans.len(), 2, "duplicates kept once");
        assert!(parse("{}", "empty").unwrap().is_empty());
    }

    #[test]
    fn bad_input_names_the_source_and_the_field() {
        let e = |text: &str| parse(text, "f.json").unwrap_err().to_string();
        assert!(e("[1]").starts_with("f.json: (document): not a JSON object"), "{}", e("[1]"));
        assert!(e(r#"{"spans":[]}"#).contains("no resourceSpans"));
        assert!(e("not json").contains("(document): not JSON"));
        let bad_id = DOC.replacen("eee19b7ec3c1b173", "zz", 1);
        assert!(e(&bad_id).contains("resourceSpans[0].scopeSpans[0].spans[0].spanId: \"zz\""), "{}", e(&bad_id));
        let bad_time = DOC.replacen("\"1700000000050000000\"", "\"soon\"", 1);
        assert!(e(&bad_time).contains("spans[0].endTimeUnixNano: \"soon\" is not nanoseconds"), "{}", e(&bad_time));
        let backwards = DOC.replacen("1700000000050000000", "1600000000050000000", 1);
        assert!(e(&backwards).contains("spans[0].endTimeUnixNano: 1600000000050000000 is before the start"));
        let no_trace = DOC.replacen("\"traceId\":\"5b8efff798038103d269b633813fc700\",", "", 1);
        assert!(e(&no_trace).contains("spans[0].traceId: missing"));
        let bad_kind = DOC.replacen("SPAN_KIND_SERVER", "SERVER", 1);
        assert!(e(&bad_kind).contains("spans[0].kind: \"SERVER\" is not an OTLP SpanKind"));
        let second_line = format!("{}\n{{oops", DOC.replace('\n', ""));
        assert!(e(&second_line).contains("f.json: line 2: not JSON"), "{}", e(&second_line));
    }
}
