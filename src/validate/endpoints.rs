//! The run's endpoints against production's routes. Pure: no IO.
//!
//! A run's request is named by its `name` tag (and `method`), production's by `route`
//! (`POST /api/checkout`). A name matches a route when it is the route, its path, or the
//! path's last segment (`checkout`), with the same method when the run knows it; `--route
//! NAME=ROUTE` settles the rest. A name that matches no route, or several, is listed with the
//! reason, never silently dropped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::profile::RouteStats;
use crate::summary::{GroupStats, PhaseSummary, RunSummary};

/// The schema of the recorded file.
pub const SCHEMA: &str = "k6gate.validation/1";

/// One side's numbers for an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Numbers {
    pub requests: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub error_rate: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Comparison {
    /// Production's P95 above the test's by more than the tolerance.
    ProductionSlower,
    /// Production's error rate above the test's by more than one percentage point.
    ProductionMoreErrors,
    /// Within the tolerance.
    Similar,
    /// The test was slower than production by more than the tolerance.
    TestSlower,
    /// No request to this route in production's window: nothing to compare.
    NotInProduction,
    /// No production route (or several) answers to the run's name.
    Unmatched,
    /// A side without latency (no histogram observations): nothing to compare.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The run's `name` tag.
    pub name: String,
    pub method: Option<String>,
    pub route: Option<String>,
    pub test: Numbers,
    pub production: Option<Numbers>,
    /// Production's P95 over the test's.
    pub p95_factor: Option<f64>,
    pub p50_factor: Option<f64>,
    pub comparison: Vec<Comparison>,
    /// One sentence for the report and the runbook.
    pub message: String,
}

/// What `validate` records beside the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Validation {
    pub schema: String,
    /// The run as named on the command line.
    pub run: String,
    pub against: String,
    pub prometheus: String,
    pub job: String,
    /// The run's phase whose numbers were compared.
    pub phase: String,
    pub window_s: u64,
    /// Production's window end, RFC 3339.
    pub end: String,
    /// Relative P95 difference treated as the same (0.2 = 20 %).
    pub tolerance: f64,
    pub endpoints: Vec<Endpoint>,
    /// The messages of the endpoints production serves slower (or with more errors), worst first.
    pub production_slower: Vec<String>,
}

/// The run's phase to compare: the steady state when the summary has one, else `sustained`,
/// else the whole run.
pub fn test_phase(summary: &RunSummary) -> &PhaseSummary {
    if let Some(s) = &summary.steady_state {
        return &s.summary;
    }
    summary.phases.iter().find(|p| p.name == "sustained").unwrap_or(&summary.whole_run)
}

fn numbers_of(g: &GroupStats) -> Numbers {
    let q = g.latency_ms.as_ref();
    Numbers {
        requests: g.requests as f64,
        p50_ms: q.and_then(|q| q.p50),
        p95_ms: q.and_then(|q| q.p95),
        error_rate: g.error_rate,
    }
}

fn path_of(route: &str) -> (&str, &str) {
    route.split_once(' ').unwrap_or(("", route))
}

/// The production route for a run's name, or why there is none.
pub fn route_for<'a>(
    name: &str,
    method: Option<&str>,
    routes: impl Iterator<Item = &'a String>,
    overrides: &BTreeMap<String, String>,
) -> Result<String, String> {
    if let Some(r) = overrides.get(name) {
        return Ok(r.clone());
    }
    let candidates: Vec<&String> = routes
        .filter(|r| {
            let (m, path) = path_of(r);
            let last = path.rsplit('/').next().unwrap_or(path);
            let same_method = method.is_none_or(|want| want.eq_ignore_ascii_case(m));
            r.as_str() == name || (same_method && (path == name || last == name))
        })
        .collect();
    match candidates.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(format!("no production route answers to {name:?}: name it with --route {name}=\"METHOD /path\"")),
        many => Err(format!(
            "{name:?} could be any of {}: choose with --route {name}=\"METHOD /path\"",
            many.iter().map(|r| format!("{r:?}")).collect::<Vec<_>>().join(", ")
        )),
    }
}

fn factor(prod: Option<f64>, test: Option<f64>) -> Option<f64> {
    match (prod, test) {
        (Some(p), Some(t)) if t > 0.0 && p.is_finite() => Some((p / t * 100.0).round() / 100.0),
        _ => None,
    }
}

/// Endpoint by endpoint: the run's groups (`name`, `method`) against production's routes.
pub fn compare(
    phase: &PhaseSummary,
    production: &BTreeMap<String, RouteStats>,
    overrides: &BTreeMap<String, String>,
    tolerance: f64,
) -> (Vec<Endpoint>, Vec<String>) {
    let mut out = Vec::new();
    for g in &phase.groups {
        let Some(name) = g.key.get("name") else { continue };
        let method = g.key.get("method").map(String::as_str);
        let test = numbers_of(g);
        let route = route_for(name, method, production.keys(), overrides);
        let e = match route {
            Err(why) => Endpoint {
                name: name.clone(),
                method: method.map(str::to_string),
                route: None,
                test,
                production: None,
                p95_factor: None,
                p50_factor: None,
                comparison: vec![Comparison::Unmatched],
                message: why,
            },
            Ok(route) => one(name, method, route, test, production, tolerance),
        };
        out.push(e);
    }
    let mut slower: Vec<&Endpoint> = out
        .iter()
        .filter(|e| {
            e.comparison.iter().any(|c| matches!(c, Comparison::ProductionSlower | Comparison::ProductionMoreErrors))
        })
        .collect();
    slower.sort_by(|a, b| b.p95_factor.unwrap_or(0.0).total_cmp(&a.p95_factor.unwrap_or(0.0)));
    let lines = slower.iter().map(|e| e.message.clone()).collect();
    (out, lines)
}

fn one(
    name: &str,
    method: Option<&str>,
    route: String,
    test: Numbers,
    production: &BTreeMap<String, RouteStats>,
    tolerance: f64,
) -> Endpoint {
    let prod = production.get(&route).filter(|s| s.requests > 0.0).map(|s| Numbers {
        requests: s.requests,
        p50_ms: s.p50_ms,
        p95_ms: s.p95_ms,
        error_rate: s.error_rate(),
    });
    let label = if route.ends_with(name) { route.clone() } else { format!("{route} ({name})") };
    let mut e = Endpoint {
        name: name.to_string(),
        method: method.map(str::to_string),
        route: Some(route),
        p95_factor: factor(prod.as_ref().and_then(|p| p.p95_ms), test.p95_ms),
        p50_factor: factor(prod.as_ref().and_then(|p| p.p50_ms), test.p50_ms),
        test,
        production: prod,
        comparison: Vec::new(),
        message: String::new(),
    };
    let Some(p) = &e.production else {
        e.comparison.push(Comparison::NotInProduction);
        e.message = format!("{label}: no requests in production's window; nothing to compare");
        return e;
    };
    let ms = |v: Option<f64>| v.map_or("unknown".to_string(), |v| format!("{v:.1} ms"));
    let mut parts = Vec::new();
    match e.p95_factor {
        None => {
            e.comparison.push(Comparison::Unknown);
            parts.push(format!("P95 {} in production vs {} in the test", ms(p.p95_ms), ms(e.test.p95_ms)));
        }
        Some(f) if f > 1.0 + tolerance => {
            e.comparison.push(Comparison::ProductionSlower);
            parts.push(format!(
                "production slower: P95 {} vs {} in the test ({f:.1}x), P50 {} vs {}",
                ms(p.p95_ms),
                ms(e.test.p95_ms),
                ms(p.p50_ms),
                ms(e.test.p50_ms)
            ));
        }
        Some(f) if f < 1.0 / (1.0 + tolerance) => {
            e.comparison.push(Comparison::TestSlower);
            parts.push(format!(
                "the test slower: P95 {} vs {} in production ({f:.2}x)",
                ms(e.test.p95_ms),
                ms(p.p95_ms)
            ));
        }
        Some(f) => {
            e.comparison.push(Comparison::Similar);
            parts.push(format!("similar: P95 {} vs {} in the test ({f:.2}x)", ms(p.p95_ms), ms(e.test.p95_ms)));
        }
    }
    let (pe, te) = (p.error_rate.unwrap_or(0.0), e.test.error_rate.unwrap_or(0.0));
    if pe - te > 0.01 {
        e.comparison.push(Comparison::ProductionMoreErrors);
        parts.push(format!("errors {:.1} % in production vs {:.1} % in the test", pe * 100.0, te * 100.0));
    }
    e.message = format!("{label}: {}", parts.join("; "));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn routes() -> Vec<String> {
        ["GET /api/cart", "POST /api/cart", "POST /api/checkout", "GET /api/products"].map(String::from).to_vec()
    }

    #[test]
    fn names_match_routes_by_path_segment_and_method() {
        let none = BTreeMap::new();
        assert_eq!(route_for("checkout", Some("POST"), routes().iter(), &none).unwrap(), "POST /api/checkout");
        assert_eq!(route_for("cart", Some("POST"), routes().iter(), &none).unwrap(), "POST /api/cart");
        assert_eq!(route_for("GET /api/products", None, routes().iter(), &none).unwrap(), "GET /api/products");
        let err = route_for("cart", None, routes().iter(), &none).unwrap_err();
        assert!(err.contains("could be any of \"GET /api/cart\", \"POST /api/cart\""), "{err}");
        assert!(route_for("login", Some("POST"), routes().iter(), &none).unwrap_err().contains("--route login="));
        let pinned: BTreeMap<String, String> = [("cart".to_string(), "GET /api/cart".to_string())].into();
        assert_eq!(route_for("cart", None, routes().iter(), &pinned).unwrap(), "GET /api/cart");
    }

    #[test]
    fn production_slower_beyond_the_tolerance_is_named_with_its_factor() {
        let test = Numbers { requests: 100.0, p50_ms: Some(10.0), p95_ms: Some(20.0), error_rate: Some(0.0) };
        let prod: BTreeMap<String, RouteStats> = [(
            "POST /api/checkout".to_string(),
            RouteStats { requests: 50.0, errors: 5.0, p50_ms: Some(100.0), p95_ms: Some(200.0) },
        )]
        .into();
        let e = one("checkout", Some("POST"), "POST /api/checkout".into(), test.clone(), &prod, 0.2);
        assert_eq!(e.comparison, [Comparison::ProductionSlower, Comparison::ProductionMoreErrors]);
        assert_eq!(e.p95_factor, Some(10.0));
        assert_eq!(
            e.message,
            "POST /api/checkout: production slower: P95 200.0 ms vs 20.0 ms in the test (10.0x), P50 100.0 ms vs 10.0 ms; \
             errors 10.0 % in production vs 0.0 % in the test"
        );
        let e = one("x", None, "GET /x".into(), test, &prod, 0.2);
        assert_eq!(e.comparison, [Comparison::NotInProduction]);
    }
}
