//! What k6 metrics are: kinds, units, and the built-in metrics whose types are known
//! without a `Metric` declaration line.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// k6's four metric types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum MetricKind {
    Counter,
    Gauge,
    Rate,
    Trend,
}

impl MetricKind {
    pub fn parse(s: &str) -> Option<MetricKind> {
        Some(match s {
            "counter" => MetricKind::Counter,
            "gauge" => MetricKind::Gauge,
            "rate" => MetricKind::Rate,
            "trend" => MetricKind::Trend,
            _ => return None,
        })
    }
}

/// What a metric's values measure (`contains` in k6's Metric lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Contains {
    Default,
    /// Milliseconds.
    Time,
    /// Bytes.
    Data,
}

impl Contains {
    pub fn parse(s: &str) -> Option<Contains> {
        Some(match s {
            "default" => Contains::Default,
            "time" => Contains::Time,
            "data" => Contains::Data,
            _ => return None,
        })
    }
}

/// The type of a metric, as declared by k6.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub struct MetricType {
    pub kind: MetricKind,
    pub contains: Contains,
}

/// The type of a submetric (`http_req_duration{expected_response:true}`): its parent's, when
/// the parent is built in.
pub fn builtin_submetric(name: &str) -> Option<MetricType> {
    let (base, rest) = name.split_once('{')?;
    rest.ends_with('}').then(|| builtin(base)).flatten()
}

/// Built-in k6 1.x metrics. A file filtered down to their Points (say with jq) still reads.
pub fn builtin(name: &str) -> Option<MetricType> {
    use Contains::*;
    use MetricKind::*;
    let (kind, contains) = match name {
        "http_reqs" | "iterations" | "dropped_iterations" => (Counter, Default),
        "data_sent" | "data_received" => (Counter, Data),
        "http_req_failed" | "checks" => (Rate, Default),
        "vus" | "vus_max" => (Gauge, Default),
        "http_req_duration"
        | "http_req_blocked"
        | "http_req_connecting"
        | "http_req_tls_handshaking"
        | "http_req_sending"
        | "http_req_waiting"
        | "http_req_receiving"
        | "iteration_duration"
        | "group_duration"
        | "ws_connecting"
        | "ws_session_duration"
        | "ws_ping"
        | "grpc_req_duration" => (Trend, Time),
        "ws_sessions"
        | "ws_msgs_sent"
        | "ws_msgs_received"
        | "grpc_streams"
        | "grpc_streams_msgs_sent"
        | "grpc_streams_msgs_received" => (Counter, Default),
        _ => return None,
    };
    Some(MetricType { kind, contains })
}

/// The metric whose samples are HTTP requests: latency, request counts and groups hang off it.
pub const HTTP_REQ_DURATION: &str = "http_req_duration";
/// `http_req_duration` of the responses the script expected (`expected_response` = `"true"`),
/// named as k6 names the submetric in thresholds and summaries. k6gate's latency is this one.
pub const HTTP_REQ_DURATION_EXPECTED: &str = "http_req_duration{expected_response:true}";
/// `http_req_duration` of the responses the script did not expect (`expected_response` = `"false"`).
pub const HTTP_REQ_DURATION_UNEXPECTED: &str = "http_req_duration{expected_response:false}";
pub const DROPPED_ITERATIONS: &str = "dropped_iterations";
pub const VUS_MAX: &str = "vus_max";
pub const HTTP_REQS: &str = "http_reqs";
pub const HTTP_REQ_FAILED: &str = "http_req_failed";
pub const CHECKS: &str = "checks";
pub const VUS: &str = "vus";
pub const ITERATIONS: &str = "iterations";
pub const DATA_SENT: &str = "data_sent";
pub const DATA_RECEIVED: &str = "data_received";
pub const ITERATION_DURATION: &str = "iteration_duration";
pub const HTTP_REQ_BLOCKED: &str = "http_req_blocked";
pub const HTTP_REQ_CONNECTING: &str = "http_req_connecting";
pub const HTTP_REQ_TLS_HANDSHAKING: &str = "http_req_tls_handshaking";
/// k6gate's runtime counts the think time its `think(seconds)` asked for, in milliseconds.
pub const THINK_MS: &str = "k6gate_think_ms";
