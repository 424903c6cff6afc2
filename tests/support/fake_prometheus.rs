//! A fake Prometheus query API for the canary analysis: `GET /api/v1/query` answered in
//! Prometheus's documented JSON (`{"status":"success","data":{"resultType":"vector","result":
//! [{"metric":{...},"value":[<time>,"<number>"]}]}}`; errors as `{"status":"error","errorType":
//! ...,"error":...}` with 400 for a query that does not parse, 503 when unavailable).
//!
//! Each window's data is drawn from the query's `time`: per route, log-normal latencies into
//! cumulative `le` buckets (the classic histogram `sum by (route, le) (increase(..._bucket))`
//! reads) and request counts by `status`. Series of neither population's selector: no data.

use serde_json::json;
use wiremock::{Request, Respond, ResponseTemplate};

use k6gate::stats::rng::SplitMix64;

pub const CANARY: &str = r#"instance="canary:8080""#;
pub const STABLE: &str = r#"instance="stable:8080""#;
pub const ROUTES: [&str; 2] = ["POST /api/checkout", "GET /api/products"];

/// The canary's behaviour (the stable one: 400 requests a window, 13 ms, no errors).
#[derive(Clone, Copy)]
pub struct Scenario {
    pub canary_requests: usize,
    pub canary_ms: f64,
    pub canary_errors: f64,
    /// Every query answers this status and Prometheus `errorType` instead.
    pub fail: Option<(u16, &'static str)>,
}

pub const HEALTHY: Scenario = Scenario { canary_requests: 30, canary_ms: 13.0, canary_errors: 0.0, fail: None };

pub struct FakeProm(pub Scenario);

fn error(status: u16, kind: &str, message: &str) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_json(json!({"status": "error", "errorType": kind, "error": message}))
}

impl Respond for FakeProm {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        let q: std::collections::BTreeMap<String, String> = req.url.query_pairs().into_owned().collect();
        let (Some(query), Some(time)) = (q.get("query"), q.get("time").and_then(|t| t.parse::<f64>().ok())) else {
            return error(400, "bad_data", "query and time are required here");
        };
        if let Some((status, kind)) = self.0.fail {
            return error(status, kind, "the fake Prometheus fails as told");
        }
        // A query whose quotes do not pair does not parse (Prometheus: 400, bad_data).
        if query.matches('"').count() % 2 == 1 {
            return error(400, "bad_data", "1:40: parse error: unterminated quoted string");
        }
        let canary = query.contains(CANARY);
        if !canary && !query.contains(STABLE) {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"status": "success", "data": {"resultType": "vector", "result": []}}));
        }
        let (n, ms, err) =
            if canary { (self.0.canary_requests, self.0.canary_ms, self.0.canary_errors) } else { (400, 13.0, 0.0) };
        let mut result = Vec::new();
        for (i, route) in ROUTES.iter().enumerate() {
            let mut rng = SplitMix64::new(time as u64 * 4 + i as u64 * 2 + canary as u64);
            let n = n / 2;
            let draws: Vec<f64> = (0..n).map(|_| ms / 1000.0 * (0.2 * rng.normal()).exp()).collect();
            let errors = (n as f64 * err).round();
            let value = |v: f64| json!([time, format!("{v}")]);
            if query.contains("_bucket") {
                let mut le = 0.0005;
                while le < 20.0 {
                    let count = draws.iter().filter(|d| **d <= le).count() as f64;
                    result.push(json!({"metric": {"route": route, "le": format!("{le}")}, "value": value(count)}));
                    le *= 1.2;
                }
                result.push(json!({"metric": {"route": route, "le": "+Inf"}, "value": value(n as f64)}));
            } else {
                result.push(json!({"metric": {"route": route, "status": "200"}, "value": value(n as f64)}));
                if errors > 0.0 {
                    result.push(json!({"metric": {"route": route, "status": "500"}, "value": value(errors)}));
                }
            }
        }
        ResponseTemplate::new(200)
            .set_body_json(json!({"status": "success", "data": {"resultType": "vector", "result": result}}))
    }
}
