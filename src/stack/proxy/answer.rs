//! The bodies the proxy writes itself, in the shape of Prometheus' API: an error envelope
//! (`status: error`, `errorType`, `error`) and the stale mark, a line in the documented
//! `warnings` array of a success envelope, which Grafana shows beside the panel.

use serde_json::Value;

/// Prometheus' error envelope, `{"status":"error","errorType":..,"error":..}`.
pub fn error_body(error_type: &str, error: &str) -> String {
    serde_json::json!({ "status": "error", "errorType": error_type, "error": error }).to_string()
}

/// Whether `body` is a success envelope. Prometheus writes `status` first (its Go struct
/// order), so the prefix decides without parsing a large answer.
pub fn is_success(body: &[u8]) -> bool {
    body.starts_with(br#"{"status":"success""#)
}

/// The warning added to a stale answer.
pub fn stale_warning(age_s: u64, why: &str) -> String {
    format!("k6gate proxy: stale answer, {age_s} s old, served because {why}")
}

/// `body` (a success envelope) with `warning` appended to its `warnings` array; `None` when
/// it is not a JSON object (then it cannot be marked, and is not served as stale).
pub fn with_warning(body: &[u8], warning: &str) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object_mut()?;
    let warnings = obj.entry("warnings").or_insert_with(|| Value::Array(Vec::new()));
    match warnings {
        Value::Array(list) => list.push(Value::String(warning.to_string())),
        other => *other = Value::Array(vec![other.take(), Value::String(warning.to_string())]),
    }
    serde_json::to_vec(&v).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_answers_carry_a_warning_and_keep_their_data() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[]}}"#;
        assert!(is_success(body));
        let marked = with_warning(body, &stale_warning(42, "the circuit breaker is open")).unwrap();
        let v: Value = serde_json::from_slice(&marked).unwrap();
        assert_eq!(v["data"]["resultType"], "vector");
        assert_eq!(
            v["warnings"],
            serde_json::json!(["k6gate proxy: stale answer, 42 s old, served because the circuit breaker is open"])
        );
        let earlier = br#"{"status":"success","data":{},"warnings":["from Prometheus"]}"#;
        let v: Value = serde_json::from_slice(&with_warning(earlier, "w").unwrap()).unwrap();
        assert_eq!(v["warnings"], serde_json::json!(["from Prometheus", "w"]));
        assert!(with_warning(b"not json", "w").is_none());
        assert!(!is_success(br#"{"status":"error"}"#));
    }

    #[test]
    fn errors_have_prometheus_shape() {
        let v: Value = serde_json::from_str(&error_body("unavailable", "down")).unwrap();
        assert_eq!(v, serde_json::json!({"status": "error", "errorType": "unavailable", "error": "down"}));
    }
}
