//! The span model: what attribution needs of a span and no more. Times are Unix nanoseconds
//! (`i64`: integer arithmetic, so a breakdown adds up exactly); the component is the
//! resource's `service.name`.

use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use serde::Serialize;

/// A 16-byte trace id. Shown as 32 lowercase hex digits (the W3C `traceparent` form k6's
/// template writes into the samples' metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceId(pub u128);

/// An 8-byte span id, shown as 16 lowercase hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SpanId(pub u64);

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for TraceId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl Serialize for SpanId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// `bytes` bytes from `text`: hex (the OTLP/JSON mapping: 2 digits a byte, any case) or
/// base64 (what Tempo's gogo/jsonpb encoder writes). The lengths never collide: 16 bytes are
/// 32 hex digits or 24 base64 characters, 8 bytes 16 or 12. Tempo's search answers trim
/// leading zeros from hex ids, so shorter hex is left-padded.
fn id_bytes(text: &str, bytes: usize) -> Result<Vec<u8>, String> {
    let hex_len = bytes * 2;
    let is_hex = !text.is_empty() && text.len() <= hex_len && text.bytes().all(|b| b.is_ascii_hexdigit());
    if is_hex {
        let padded = format!("{text:0>hex_len$}");
        return (0..bytes)
            .map(|i| {
                let pair = padded.get(i * 2..i * 2 + 2).unwrap_or("");
                u8::from_str_radix(pair, 16).map_err(|e| e.to_string())
            })
            .collect();
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| format!("{text:?} is neither {hex_len} hex digits nor base64 of {bytes} bytes"))?;
    if decoded.len() != bytes {
        return Err(format!("{text:?} is base64 of {} bytes, not {bytes}", decoded.len()));
    }
    Ok(decoded)
}

impl TraceId {
    /// Hex (32 digits, or fewer as Tempo's search trims them) or base64; all zeros is invalid
    /// (W3C Trace Context).
    pub fn parse(text: &str) -> Result<TraceId, String> {
        let b = id_bytes(text, 16)?;
        let id = b.iter().fold(0u128, |acc, &x| (acc << 8) | u128::from(x));
        if id == 0 { Err("an all-zero trace id is invalid".into()) } else { Ok(TraceId(id)) }
    }
}

impl SpanId {
    pub fn parse(text: &str) -> Result<SpanId, String> {
        let b = id_bytes(text, 8)?;
        let id = b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
        if id == 0 { Err("an all-zero span id is invalid".into()) } else { Ok(SpanId(id)) }
    }
}

/// OTLP's `SpanKind`. Attribution reads it for one thing: a `Client` parent waits for its
/// `Server` child, so that child cannot end after it (clock skew, not async work).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    #[default]
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

impl Kind {
    /// The enum name (`SPAN_KIND_SERVER`) or its number (OTLP/JSON allows both).
    pub fn parse(v: &serde_json::Value) -> Option<Kind> {
        let n = match v {
            serde_json::Value::String(s) => match s.as_str() {
                "SPAN_KIND_UNSPECIFIED" => 0,
                "SPAN_KIND_INTERNAL" => 1,
                "SPAN_KIND_SERVER" => 2,
                "SPAN_KIND_CLIENT" => 3,
                "SPAN_KIND_PRODUCER" => 4,
                "SPAN_KIND_CONSUMER" => 5,
                _ => return None,
            },
            serde_json::Value::Number(n) => n.as_u64()?,
            _ => return None,
        };
        Some(match n {
            0 => Kind::Unspecified,
            1 => Kind::Internal,
            2 => Kind::Server,
            3 => Kind::Client,
            4 => Kind::Producer,
            5 => Kind::Consumer,
            _ => return None,
        })
    }
}

/// One span.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `None` for a root; a parent that is not in the trace makes an orphan (or, for the
    /// server's first span, points at k6's client span, which k6 never exports).
    pub parent: Option<SpanId>,
    pub name: String,
    /// The resource's `service.name` (`unknown_service` when it has none, as the SDKs do).
    pub component: String,
    /// Whose clock timed the span: the resource's `host.name`, else `service.instance.id`,
    /// else the component. Skew is only ever corrected between two different clocks.
    pub clock: String,
    pub kind: Kind,
    pub start_ns: i64,
    pub end_ns: i64,
    /// `status.code` is `STATUS_CODE_ERROR`.
    pub error: bool,
    /// The span's attributes, each value as text (`intValue` "200" -> "200").
    pub attributes: BTreeMap<String, String>,
}

impl Span {
    pub fn duration_ns(&self) -> i64 {
        self.end_ns - self.start_ns
    }
}

/// The spans of one trace, as read (no order promised).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    pub id: TraceId,
    pub spans: Vec<Span>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_read_as_hex_or_base64_and_show_as_hex() {
        let hex = "5b8efff798038103d269b633813fc700";
        let t = TraceId::parse(hex).unwrap();
        assert_eq!(t.to_string(), hex);
        assert_eq!(TraceId::parse("W47/95gDgQPSabYzgT/HAA==").unwrap(), t, "Tempo's base64 of the same bytes");
        assert_eq!(TraceId::parse("5B8EFFF798038103D269B633813FC700").unwrap(), t);
        assert_eq!(
            TraceId::parse("abc").unwrap().to_string(),
            "00000000000000000000000000000abc",
            "search trims zeros"
        );
        assert_eq!(SpanId::parse("7uGbfsPBsQA=").unwrap().to_string(), "eee19b7ec3c1b100");
        assert!(TraceId::parse("").is_err());
        assert!(TraceId::parse("00000000000000000000000000000000").unwrap_err().contains("all-zero"));
        assert!(SpanId::parse("xyz!").unwrap_err().contains("neither 16 hex digits"));
        assert!(SpanId::parse("W47/95gDgQPSabYzgT/HAA==").unwrap_err().contains("16 bytes, not 8"));
    }

    #[test]
    fn kinds_read_by_name_or_number() {
        assert_eq!(Kind::parse(&serde_json::json!("SPAN_KIND_CLIENT")), Some(Kind::Client));
        assert_eq!(Kind::parse(&serde_json::json!(2)), Some(Kind::Server));
        assert_eq!(Kind::parse(&serde_json::json!("server")), None);
    }
}
