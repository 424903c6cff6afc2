//! Reading one window of both populations from Prometheus (or Mimir's Prometheus API): two
//! instant queries per population, evaluated at the window's end so that consecutive windows
//! neither overlap nor leave gaps. `increase()` handles counter resets (a restarted canary).
//! A population with no series in a window simply has no traffic there; a query that fails
//! (after the query client's retries) is an error, never an empty window.
//!
//! The latency histogram may be classic (`<metric>_bucket` series with an `le` label) or
//! native (one `<metric>` series of histogram samples, Prometheus 2.40+ with
//! `--enable-feature=native-histograms`): when a population's classic query finds nothing in
//! a window, its native one is read (`sum by (route) (increase(<metric>[..]))`, whose answer
//! carries `histogram` objects with `buckets: [[boundary_rule, lower, upper, count], ...]`),
//! and its buckets become the same cumulative `(le, count)` pairs the statistics read.

use std::collections::BTreeMap;

use serde::Serialize;

use super::CanaryError;
use super::window::{Population, RouteWindow, Window};
use crate::prom::query::{self, QueryError};
use crate::prom::remote_write::Auth;

/// The defaults of `k6gate canary`'s flags: OpenTelemetry's HTTP server metric names, which
/// the demo shop serves.
pub const LATENCY_METRIC: &str = "http_server_request_duration_seconds";
pub const LATENCY_MATCHERS: &str = r#"status_class!="5xx""#;
pub const REQUESTS_METRIC: &str = "http_server_requests_total";
pub const ROUTE_LABEL: &str = "route";
pub const STATUS_LABEL: &str = "status";

/// Where and what to read.
#[derive(Debug, Clone, Serialize)]
pub struct Source {
    /// Prometheus base URL (`http://127.0.0.1:9090`; Mimir: `.../prometheus`).
    pub url: String,
    #[serde(skip)]
    pub tenant: Option<String>,
    #[serde(skip)]
    pub auth: Auth,
    /// PromQL label matchers of each population, without braces: `instance="10.0.0.7:8080"`.
    pub canary_selector: String,
    pub stable_selector: String,
    /// The latency histogram's name (classic: without `_bucket`; or native), in seconds.
    pub latency_metric: String,
    /// Extra matchers for the latency histogram: which requests' latency counts (the demo
    /// shop's: `status_class!="5xx"`, the requests that did not fail).
    pub latency_matchers: String,
    /// The request counter, with a status-code label.
    pub requests_metric: String,
    pub route_label: String,
    pub status_label: String,
    /// Saturation signals: name and PromQL template (`canary.saturation` of the policy data:
    /// `{selector}` and `{interval}` are filled in per population and window).
    pub saturation: Vec<(String, String)>,
}

fn matchers(parts: &[&str]) -> String {
    parts.iter().map(|p| p.trim()).filter(|p| !p.is_empty()).collect::<Vec<_>>().join(",")
}

impl Source {
    /// The two populations at `url` with the flags' default metrics, no tenant, no
    /// credentials and no saturation signals.
    pub fn with_defaults(url: &str, canary_selector: &str, stable_selector: &str) -> Source {
        Source {
            url: url.trim_end_matches('/').to_string(),
            tenant: None,
            auth: Auth::None,
            canary_selector: canary_selector.to_string(),
            stable_selector: stable_selector.to_string(),
            latency_metric: LATENCY_METRIC.to_string(),
            latency_matchers: LATENCY_MATCHERS.to_string(),
            requests_metric: REQUESTS_METRIC.to_string(),
            route_label: ROUTE_LABEL.to_string(),
            status_label: STATUS_LABEL.to_string(),
            saturation: Vec::new(),
        }
    }

    /// The two queries of one population over windows of `seconds`: latency buckets by
    /// route and `le`, requests by route and status.
    pub fn queries(&self, selector: &str, seconds: u64) -> (String, String) {
        let route = &self.route_label;
        let latency = format!(
            "sum by ({route}, le) (increase({}_bucket{{{}}}[{seconds}s]))",
            self.latency_metric,
            matchers(&[selector, &self.latency_matchers])
        );
        let requests = format!(
            "sum by ({route}, {}) (increase({}{{{}}}[{seconds}s]))",
            self.status_label,
            self.requests_metric,
            matchers(&[selector])
        );
        (latency, requests)
    }

    /// The native-histogram query of one population: the histogram of each route's latencies
    /// over windows of `seconds`.
    pub fn native_query(&self, selector: &str, seconds: u64) -> String {
        format!(
            "sum by ({}) (increase({}{{{}}}[{seconds}s]))",
            self.route_label,
            self.latency_metric,
            matchers(&[selector, &self.latency_matchers])
        )
    }

    /// Both populations over the window of `seconds` ending at `end_s`.
    pub fn window(&self, client: &reqwest::Client, end_s: f64, seconds: u64) -> Result<Window, CanaryError> {
        let canary = self.population(client, &self.canary_selector, end_s, seconds)?;
        let stable = self.population(client, &self.stable_selector, end_s, seconds)?;
        Ok(Window { end_s, seconds: seconds as f64, canary, stable })
    }

    fn population(
        &self,
        client: &reqwest::Client,
        selector: &str,
        end_s: f64,
        seconds: u64,
    ) -> Result<Population, CanaryError> {
        let (latency, requests) = self.queries(selector, seconds);
        let run = |promql: String| -> Result<Vec<serde_json::Value>, CanaryError> {
            let fut = query::instant_results_at_async(
                client,
                &self.url,
                self.tenant.as_deref(),
                &self.auth,
                &promql,
                Some(end_s),
                &query::RETRY,
            );
            crate::net::block_on(fut)
                .map_err(|e| CanaryError::Prometheus(QueryError::from(e)))?
                .map_err(CanaryError::Prometheus)
        };
        let values = |results: Vec<serde_json::Value>| -> Result<Vec<(serde_json::Value, f64)>, CanaryError> {
            results.iter().map(|r| float_result(r, &self.url)).collect()
        };
        let classic = values(run(latency)?)?;
        let mut p = population_of(&classic, &values(run(requests)?)?, &self.route_label, &self.status_label);
        if classic.is_empty() {
            add_native(&mut p, &run(self.native_query(selector, seconds))?, &self.route_label);
        }
        for (name, template) in &self.saturation {
            let promql = template.replace("{selector}", selector).replace("{interval}", &format!("{seconds}s"));
            // One number, or none in this window (where available): several series are no
            // number, and never summed here behind the query's back.
            if let [(_, v)] = values(run(promql)?)?.as_slice() {
                if v.is_finite() {
                    p.saturation.insert(name.clone(), *v);
                }
            }
        }
        Ok(p)
    }
}

/// `(labels, value)` of a float result; anything else (a histogram where a float belongs) is
/// an error naming the query API.
fn float_result(r: &serde_json::Value, url: &str) -> Result<(serde_json::Value, f64), CanaryError> {
    query::float_sample(r).ok_or_else(|| {
        CanaryError::Prometheus(QueryError::Shape {
            url: crate::prom::remote_write::redact_url(&format!("{url}/api/v1/query")),
            message: format!("a result without a numeric value: {r}"),
        })
    })
}

/// Cumulative `(le, count)` pairs from a native histogram as the query API writes it:
/// `{"count": "12", "sum": "0.3", "buckets": [[boundary_rule, "lower", "upper", "count"], ...]}`
/// (only populated buckets; the rule says which ends are closed). Each bucket's lower bound is
/// kept as a pair of its own where the bucket before it ended lower, so that interpolation
/// stays inside the bucket; `+Inf` holds the count. `None` when the object is not a histogram.
pub fn native_buckets(h: &serde_json::Value) -> Option<Vec<(f64, f64)>> {
    let num = |v: &serde_json::Value| v.as_str().and_then(|s| s.parse::<f64>().ok()).filter(|x| !x.is_nan());
    let mut buckets: Vec<(f64, f64, f64)> = h
        .get("buckets")
        .and_then(|b| b.as_array())
        .map(|list| {
            list.iter()
                .filter_map(|b| {
                    let b = b.as_array()?;
                    Some((num(b.get(1)?)?, num(b.get(2)?)?, num(b.get(3)?)?.max(0.0)))
                })
                .collect()
        })
        .unwrap_or_default();
    let total = num(h.get("count")?)?;
    buckets.sort_by(|a, b| a.1.total_cmp(&b.1));
    let mut out = Vec::with_capacity(buckets.len() * 2 + 1);
    let mut cumulative = 0.0;
    let mut previous_upper = f64::NEG_INFINITY;
    for (lower, upper, count) in buckets {
        if lower > previous_upper && lower > 0.0 && lower.is_finite() {
            out.push((lower, cumulative));
        }
        cumulative += count;
        out.push((upper, cumulative));
        previous_upper = upper;
    }
    out.retain(|(le, _)| le.is_finite());
    out.push((f64::INFINITY, total.max(cumulative)));
    Some(out)
}

/// The native histograms of a population's routes (`{"metric", "histogram": [t, {...}]}`
/// items), for the routes whose classic buckets were not found.
pub fn add_native(p: &mut Population, results: &[serde_json::Value], route_label: &str) {
    for r in results {
        let Some(buckets) = r.pointer("/histogram/1").and_then(native_buckets) else { continue };
        let route = r.get("metric").and_then(|m| label(m, route_label)).unwrap_or("").to_string();
        let w = p.routes.entry(route).or_default();
        if w.buckets.is_empty() {
            w.buckets = buckets;
        }
    }
}

fn label<'a>(metric: &'a serde_json::Value, name: &str) -> Option<&'a str> {
    metric.get(name).and_then(|v| v.as_str())
}

/// A population from the two queries' results. Series without the route label count under
/// `""`; a `le` that is not a number is skipped (never a made-up bucket).
pub fn population_of(
    latency: &[(serde_json::Value, f64)],
    requests: &[(serde_json::Value, f64)],
    route_label: &str,
    status_label: &str,
) -> Population {
    let mut routes: BTreeMap<String, RouteWindow> = BTreeMap::new();
    for (m, v) in requests {
        let r = routes.entry(label(m, route_label).unwrap_or("").to_string()).or_default();
        let v = if v.is_finite() { v.max(0.0) } else { 0.0 };
        r.requests += v;
        if label(m, status_label).is_some_and(|s| s.starts_with('5')) {
            r.errors += v;
        }
    }
    for (m, v) in latency {
        let le = label(m, "le").and_then(|le| match le {
            "+Inf" | "Inf" | "inf" => Some(f64::INFINITY),
            other => other.parse::<f64>().ok(),
        });
        let Some(le) = le else { continue };
        if v.is_finite() {
            routes.entry(label(m, route_label).unwrap_or("").to_string()).or_default().buckets.push((le, v.max(0.0)));
        }
    }
    Population { routes, saturation: BTreeMap::new() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn source() -> Source {
        Source::with_defaults("http://127.0.0.1:9", r#"instance="127.0.0.1:19802""#, r#"instance="127.0.0.1:19801""#)
    }

    #[test]
    fn queries_read_increases_over_the_window() {
        let (l, r) = source().queries(r#"instance="127.0.0.1:19802""#, 30);
        assert_eq!(
            l,
            r#"sum by (route, le) (increase(http_server_request_duration_seconds_bucket{instance="127.0.0.1:19802",status_class!="5xx"}[30s]))"#
        );
        assert_eq!(
            r,
            r#"sum by (route, status) (increase(http_server_requests_total{instance="127.0.0.1:19802"}[30s]))"#
        );
    }

    #[test]
    fn results_become_routes_with_errors_and_buckets() {
        let requests = [
            (json!({"route": "POST /api/checkout", "status": "200"}), 97.2),
            (json!({"route": "POST /api/checkout", "status": "502"}), 2.1),
            (json!({"route": "GET /api/products", "status": "200"}), 50.0),
        ];
        let latency = [
            (json!({"route": "POST /api/checkout", "le": "0.01"}), 40.0),
            (json!({"route": "POST /api/checkout", "le": "+Inf"}), 97.2),
            (json!({"route": "POST /api/checkout", "le": "bogus"}), 1.0),
        ];
        let p = population_of(&latency, &requests, "route", "status");
        let c = &p.routes["POST /api/checkout"];
        assert!((c.requests - 99.3).abs() < 1e-9 && (c.errors - 2.1).abs() < 1e-9);
        assert_eq!(c.buckets, [(0.01, 40.0), (f64::INFINITY, 97.2)]);
        assert_eq!(p.requests(), 149.3);
    }

    /// A real answer of Prometheus 2.42 (tests/fixtures/prometheus/README.md).
    #[test]
    fn native_histograms_from_the_query_api_become_cumulative_buckets() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/prometheus/native-increase.json");
        let answer: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let results = answer["data"]["result"].as_array().unwrap();
        let h = &results[0]["histogram"][1];
        let buckets = native_buckets(h).unwrap();
        let total: f64 = h["count"].as_str().unwrap().parse().unwrap();
        assert_eq!(buckets.last(), Some(&(f64::INFINITY, total)));
        assert!(buckets.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1), "{buckets:?}");
        // The first bucket's lower bound is kept: interpolation stays inside the bucket.
        let first = h["buckets"][0].as_array().unwrap();
        assert_eq!(buckets[0], (first[1].as_str().unwrap().parse().unwrap(), 0.0));
        // Latencies around 13 ms (the test's median).
        let p50 = crate::stats::buckets::quantile(0.5, &buckets).unwrap();
        assert!((0.011..0.015).contains(&p50), "{p50}");
        let mut p = Population::default();
        add_native(&mut p, results, "route");
        assert_eq!(p.routes["POST /api/checkout"].buckets, buckets);
        // Anything else is no histogram.
        assert_eq!(native_buckets(&json!({"buckets": []})), None);
        assert_eq!(native_buckets(&json!(["1", "2"])), None);
    }

    #[test]
    fn an_unreachable_prometheus_is_an_error_not_an_empty_window() {
        let client = query::client().unwrap();
        let e = source().window(&client, 1_800_000_000.0, 30).unwrap_err();
        assert!(matches!(e, CanaryError::Prometheus(_)), "{e}");
    }
}
