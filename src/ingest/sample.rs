//! Sampling k6's JSON output for the archive (issue 14, "sampling during load"): the run
//! directory keeps every failed request and a share of the others, after the RunSummary was
//! built from every sample, so the summary stays exact while the per-request data shrinks.
//!
//! A request is its `http_*` points (k6 writes nine or ten per request, all with the request's
//! end time and tags). The decision is per request and deterministic, so sampling the same
//! output again keeps the same set:
//! - failed (`expected_response` is `"false"`; without that tag, a status of 0 or at least
//!   400): kept;
//! - else the request's key, read as a number in `[0, 2^32)`, is below `share * 2^32`. The
//!   key is the last eight hex digits of the trace id the template put in the metadata
//!   (`trace_id`): the same rule `runtime.js` uses for the `traceparent` sampled flag, so every
//!   archived successful request was traced. A request without a trace id is keyed by FNV-1a
//!   over its time, method, URL and status (hand-written: eight lines, no crate needed).
//!
//! Every other line (metric declarations, `vus`, `iterations`, checks, custom metrics) is kept.

use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::IngestError;
pub use crate::samples::KeepShare;

/// What sampling kept, written beside the sampled file (`k6-sampling.json`) so a reader can
/// scale counts: successful requests in the file stand for `1 / keep_share` each.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sampled {
    pub keep_share: f64,
    /// How a request was chosen, in words.
    pub rule: String,
    /// Requests in the whole output (`http_req_duration` points).
    pub requests: u64,
    pub failed: u64,
    pub kept: u64,
    pub lines_in: u64,
    pub lines_out: u64,
}

pub const RULE: &str = "every failed request (expected_response=false, else status 0 or >= 400); of the others, \
     those whose trace id's last 8 hex digits are below keep_share * 2^32 (without a trace id: FNV-1a of time, method, url, status)";

/// Writes the sampled copy of the JSON output `src` (plain or gzip) to `dst` (gzip).
pub fn sample_json_output(src: &Path, dst: &Path, share: KeepShare) -> Result<Sampled, IngestError> {
    let (reader, _) =
        super::detect::open(src).map_err(|e| IngestError::input(src, None, format!("cannot read: {e}")))?;
    let out = std::fs::File::create(dst).map_err(|e| IngestError::input(dst, None, format!("cannot write: {e}")))?;
    let mut gz = flate2::write::GzEncoder::new(BufWriter::new(out), flate2::Compression::fast());
    let write_err = |e: std::io::Error| IngestError::input(dst, None, format!("cannot write: {e}"));
    let mut s = Sampled {
        keep_share: share.get(),
        rule: RULE.into(),
        requests: 0,
        failed: 0,
        kept: 0,
        lines_in: 0,
        lines_out: 0,
    };
    for (i, line) in BufReader::with_capacity(1 << 20, reader).lines().enumerate() {
        let n = i as u64 + 1;
        let line = line.map_err(|e| IngestError::input(src, Some(n), format!("cannot read: {e}")))?;
        s.lines_in += 1;
        let keep = if line.contains("\"metric\":\"http_") && line.contains("\"Point\"") {
            let v: Value =
                serde_json::from_str(&line).map_err(|e| IngestError::input(src, Some(n), format!("not JSON: {e}")))?;
            let (kept, failed) = decide(&v, share).map_err(|m| IngestError::input(src, Some(n), m))?;
            if v.get("metric").and_then(Value::as_str) == Some("http_req_duration") {
                s.requests += 1;
                s.failed += u64::from(failed);
                s.kept += u64::from(kept);
            }
            kept
        } else {
            true
        };
        if keep {
            gz.write_all(line.as_bytes()).and_then(|()| gz.write_all(b"\n")).map_err(write_err)?;
            s.lines_out += 1;
        }
    }
    gz.finish().and_then(|mut w| w.flush()).map_err(write_err)?;
    Ok(s)
}

/// (kept, failed) for one `http_*` point.
fn decide(v: &Value, share: KeepShare) -> Result<(bool, bool), String> {
    let data = v.get("data").ok_or("a Point without data")?;
    let tag = |k: &str| data.pointer(&format!("/tags/{k}")).and_then(Value::as_str);
    let status = tag("status").unwrap_or("0");
    let failed = match tag("expected_response") {
        Some(e) => e == "false",
        None => status.parse::<u32>().map_or(true, |s| s == 0 || s >= 400),
    };
    if failed {
        return Ok((true, true));
    }
    let kept = match data.pointer("/metadata/trace_id") {
        None | Some(Value::Null) => {
            let time = data.get("time").and_then(Value::as_str).ok_or("data.time: missing")?;
            let key = fnv1a(&[time, tag("method").unwrap_or(""), tag("url").unwrap_or(""), status]);
            u64::from((key >> 32) as u32) < share.threshold()
        }
        Some(Value::String(t)) => {
            share.keeps_trace(t).ok_or_else(|| format!("data.metadata.trace_id: {t:?} does not end in 8 hex digits"))?
        }
        Some(other) => return Err(format!("data.metadata.trace_id: {other} is not a string")),
    };
    Ok((kept, false))
}

/// FNV-1a, 64 bits, over the parts with a separator between them.
fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(metric: &str, status: &str, expected: &str, trace: &str, time: &str) -> String {
        format!(
            r#"{{"metric":"{metric}","type":"Point","data":{{"time":"{time}","value":1,"tags":{{"method":"GET","url":"http://x/a","status":"{status}","expected_response":"{expected}"}},"metadata":{{"trace_id":"{trace}"}}}}}}"#
        )
    }

    #[test]
    fn shares_outside_zero_to_one_are_refused() {
        assert!(KeepShare::new(0.0).is_err());
        assert!(KeepShare::new(1.5).is_err());
        assert!(KeepShare::new(f64::NAN).is_err());
        assert_eq!(KeepShare::new(0.25).map(KeepShare::get), Ok(0.25));
    }

    #[test]
    fn the_trace_rule_reads_the_last_eight_hex_digits() {
        let s = KeepShare::new(0.1).unwrap();
        // 0x19999999 < 0.1 * 2^32 = 429496729.6 <= 0x1999999a.
        assert_eq!(s.keeps_trace("ffffffffffffffffffffffff19999999"), Some(true));
        assert_eq!(s.keeps_trace("00000000000000000000000019999a00"), Some(false));
        assert_eq!(KeepShare::ALL.keeps_trace("ffffffffffffffffffffffffffffffff"), Some(true));
        assert_eq!(s.keeps_trace("xyz"), None);
    }

    #[test]
    fn failed_requests_are_all_kept_and_the_rest_by_their_trace_ids() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("k6.json");
        let mut text =
            String::from(r#"{"type":"Metric","data":{"name":"http_reqs","type":"counter"},"metric":"http_reqs"}"#);
        text.push('\n');
        let t = "2026-01-01T00:00:00Z";
        for (status, expected, trace) in [
            ("200", "true", "00000000000000000000000000000001"),  // kept: low key
            ("200", "true", "000000000000000000000000ffffffff"),  // dropped
            ("503", "false", "000000000000000000000000ffffffff"), // failed: kept
        ] {
            for m in ["http_reqs", "http_req_duration"] {
                text.push_str(&point(m, status, expected, trace, t));
                text.push('\n');
            }
        }
        text.push_str(r#"{"metric":"vus","type":"Point","data":{"time":"2026-01-01T00:00:00Z","value":3,"tags":{}}}"#);
        text.push('\n');
        std::fs::write(&src, &text).unwrap();
        let dst = dir.path().join("out.json.gz");
        let s = sample_json_output(&src, &dst, KeepShare::new(0.1).unwrap()).unwrap();
        assert_eq!((s.requests, s.failed, s.kept, s.lines_in, s.lines_out), (3, 1, 2, 8, 6));
        // Deterministic: the same input gives the same file.
        let again = dir.path().join("again.json.gz");
        sample_json_output(&src, &again, KeepShare::new(0.1).unwrap()).unwrap();
        let read = |p: &Path| {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(p).unwrap()), &mut s)
                .unwrap();
            s
        };
        assert_eq!(read(&dst), read(&again));
        let kept = read(&dst);
        assert!(!kept.lines().any(|l| l.contains("ffffffff") && l.contains("\"status\":\"200\"")), "{kept}");
        assert_eq!(kept.lines().filter(|l| l.contains("\"status\":\"503\"")).count(), 2, "{kept}");
    }

    #[test]
    fn a_bad_trace_id_names_the_line() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("k6.json");
        std::fs::write(&src, point("http_reqs", "200", "true", "t-1", "2026-01-01T00:00:00Z") + "\n").unwrap();
        let e = sample_json_output(&src, &dir.path().join("o.gz"), KeepShare::DEFAULT).unwrap_err().to_string();
        assert!(e.ends_with("k6.json:1: data.metadata.trace_id: \"t-1\" does not end in 8 hex digits"), "{e}");
    }
}
