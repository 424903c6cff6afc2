//! Canary against stable over the windows seen so far, with the gate's statistics: each
//! window is one observation per population (a latency quantile read from that window's
//! histogram buckets), compared with Mann-Whitney (p-value) and Hodges-Lehmann on logarithms
//! (the ratio and its Moses interval); error ratios with the pooled two-proportion test over
//! all windows' requests, and a Wald interval of the difference. Pure: no IO, no clock.

use std::collections::BTreeSet;

use serde::Serialize;
use statrs::distribution::{ContinuousCDF, Normal};

use super::config::{CanaryConfig, SATURATION_PREFIX};
use super::window::{Population, Window};
use crate::stats::buckets::quantile;
use crate::stats::rank::{hodges_lehmann, mann_whitney_p, two_proportion_p};

/// The route name errors are pooled under, over every route.
pub const ALL: &str = "all";

/// Is the comparison's number there?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Ok,
    /// Too few windows or requests on one side: never a promote.
    NoData,
}

/// One metric of one route, canary against stable.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricResult {
    pub metric: String,
    pub route: String,
    pub state: State,
    /// Latency: median over the windows of the per-window quantile, in ms. Errors: the
    /// pooled ratio.
    pub stable: Option<f64>,
    pub canary: Option<f64>,
    /// Latency: the Hodges-Lehmann ratio - 1 (0.3 = 30 % slower). Errors: canary - stable.
    pub change: Option<f64>,
    pub change_low: Option<f64>,
    pub change_high: Option<f64>,
    pub p_value: Option<f64>,
    /// Windows compared (latency) or requests (errors), each side.
    pub n_stable: f64,
    pub n_canary: f64,
    pub why: Option<String>,
}

/// Each population's traffic over the windows.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Traffic {
    pub requests: f64,
    pub errors: f64,
    pub per_s: f64,
    pub windows_with_traffic: usize,
}

fn traffic(windows: &[Window], pick: fn(&Window) -> &Population) -> Traffic {
    let requests: f64 = windows.iter().map(|w| pick(w).requests()).sum();
    let errors: f64 = windows.iter().map(|w| pick(w).errors()).sum();
    let seconds: f64 = windows.iter().map(|w| w.seconds).sum();
    let windows_with_traffic = windows.iter().filter(|w| pick(w).requests() >= 0.5).count();
    Traffic { requests, errors, per_s: if seconds > 0.0 { requests / seconds } else { 0.0 }, windows_with_traffic }
}

/// Canary and stable traffic.
pub fn traffic_of(windows: &[Window]) -> (Traffic, Traffic) {
    (traffic(windows, |w| &w.canary), traffic(windows, |w| &w.stable))
}

/// The routes compared: those with at least `route_min_share` of the stable requests.
pub fn routes(windows: &[Window], config: &CanaryConfig) -> Vec<String> {
    let total: f64 = windows.iter().map(|w| w.stable.requests()).sum();
    let names: BTreeSet<&String> = windows.iter().flat_map(|w| w.stable.routes.keys()).collect();
    names
        .into_iter()
        .filter(|r| {
            let n: f64 = windows.iter().filter_map(|w| w.stable.routes.get(*r)).map(|x| x.requests).sum();
            total > 0.0 && n >= config.route_min_share * total && n > 0.0
        })
        .cloned()
        .collect()
}

/// Every configured metric of every compared route (errors also over [`ALL`]).
pub fn compare(windows: &[Window], config: &CanaryConfig) -> Vec<MetricResult> {
    let confidence = config.confidence;
    let routes = routes(windows, config);
    let mut out = Vec::new();
    for metric in config.metrics.keys() {
        let q = match metric.as_str() {
            "latency_p50" => Some(0.5),
            "latency_p95" => Some(0.95),
            "latency_p99" => Some(0.99),
            _ => None,
        };
        match q {
            Some(q) => {
                for route in &routes {
                    out.push(latency(windows, config, metric, route, q));
                }
            }
            None => {
                out.push(errors(windows, metric, ALL, |p| (p.requests(), p.errors()), confidence));
                for route in &routes {
                    out.push(errors(
                        windows,
                        metric,
                        route,
                        |p| p.routes.get(route).map_or((0.0, 0.0), |r| (r.requests, r.errors)),
                        confidence,
                    ));
                }
            }
        }
    }
    for name in config.saturation.keys() {
        let values = |pick: fn(&Window) -> &Population| -> Vec<f64> {
            windows.iter().filter_map(|w| pick(w).saturation.get(name).copied()).filter(|v| *v > 0.0).collect()
        };
        let metric = format!("{SATURATION_PREFIX}{name}");
        let why = "windows with a value above 0";
        out.push(ranked(&metric, ALL, values(|w| &w.stable), values(|w| &w.canary), config, why));
    }
    out
}

/// The per-window `q` quantiles (ms) of `route` in `pick`'s population, over windows with at
/// least `min` requests of it that did not fail.
fn window_quantiles(windows: &[Window], pick: fn(&Window) -> &Population, route: &str, q: f64, min: f64) -> Vec<f64> {
    windows
        .iter()
        .filter_map(|w| pick(w).routes.get(route))
        .filter(|r| r.buckets.iter().map(|b| b.1).fold(0.0, f64::max) >= min)
        .filter_map(|r| quantile(q, &r.buckets))
        .filter(|v| *v > 0.0)
        .map(|v| v * 1000.0)
        .collect()
}

fn median(v: &[f64]) -> Option<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    if n == 0 {
        return None;
    }
    Some(if n % 2 == 1 { *s.get(n / 2)? } else { (s.get(n / 2 - 1)? + s.get(n / 2)?) / 2.0 })
}

fn latency(windows: &[Window], config: &CanaryConfig, metric: &str, route: &str, q: f64) -> MetricResult {
    let min = config.min_window_requests;
    let stable = window_quantiles(windows, |w| &w.stable, route, q, min);
    let canary = window_quantiles(windows, |w| &w.canary, route, q, min);
    ranked(metric, route, stable, canary, config, &format!("windows with at least {min} requests"))
}

/// One value per window and population (> 0), compared on logarithms: Mann-Whitney's
/// p-value, the Hodges-Lehmann ratio and its interval. `counted` says which windows count.
fn ranked(
    metric: &str,
    route: &str,
    stable: Vec<f64>,
    canary: Vec<f64>,
    config: &CanaryConfig,
    counted: &str,
) -> MetricResult {
    let mut r = MetricResult {
        metric: metric.into(),
        route: route.into(),
        state: State::NoData,
        stable: median(&stable),
        canary: median(&canary),
        change: None,
        change_low: None,
        change_high: None,
        p_value: None,
        n_stable: stable.len() as f64,
        n_canary: canary.len() as f64,
        why: None,
    };
    if stable.len() < config.min_windows || canary.len() < config.min_windows {
        r.why = Some(format!(
            "{} canary and {} stable {counted}; {} needed on each side",
            canary.len(),
            stable.len(),
            config.min_windows
        ));
        return r;
    }
    let (ls, lc): (Vec<f64>, Vec<f64>) =
        (stable.iter().map(|v| v.ln()).collect(), canary.iter().map(|v| v.ln()).collect());
    let hl = hodges_lehmann(&ls, &lc, config.confidence);
    r.p_value = mann_whitney_p(&ls, &lc);
    r.change = hl.map(|h| h.0.exp() - 1.0);
    r.change_low = hl.map(|h| h.1.exp() - 1.0);
    r.change_high = hl.map(|h| h.2.exp() - 1.0);
    r.state = if r.p_value.is_some() && r.change.is_some() { State::Ok } else { State::NoData };
    r
}

fn errors(
    windows: &[Window],
    metric: &str,
    route: &str,
    counts: impl Fn(&Population) -> (f64, f64),
    confidence: f64,
) -> MetricResult {
    let sum = |pick: fn(&Window) -> &Population| {
        windows.iter().map(|w| counts(pick(w))).fold((0.0, 0.0), |a, b| (a.0 + b.0, a.1 + b.1))
    };
    // increase() extrapolates: counts are rounded to whole requests for the test.
    let round = |(n, e): (f64, f64)| (n.round().max(0.0) as u64, e.round().clamp(0.0, n.round().max(0.0)) as u64);
    let (ns, es) = round(sum(|w| &w.stable));
    let (nc, ec) = round(sum(|w| &w.canary));
    let mut r = MetricResult {
        metric: metric.into(),
        route: route.into(),
        state: State::NoData,
        stable: (ns > 0).then(|| es as f64 / ns as f64),
        canary: (nc > 0).then(|| ec as f64 / nc as f64),
        change: None,
        change_low: None,
        change_high: None,
        p_value: None,
        n_stable: ns as f64,
        n_canary: nc as f64,
        why: None,
    };
    let (Some(ps), Some(pc)) = (r.stable, r.canary) else {
        r.why = Some(format!("{nc} canary and {ns} stable requests"));
        return r;
    };
    let d = pc - ps;
    let se = (pc * (1.0 - pc) / nc as f64 + ps * (1.0 - ps) / ns as f64).sqrt();
    let z = Normal::standard().inverse_cdf(1.0 - (1.0 - confidence) / 2.0);
    r.change = Some(d);
    r.change_low = Some(d - z * se);
    r.change_high = Some(d + z * se);
    r.p_value = two_proportion_p(es, ns, ec, nc);
    r.state = if r.p_value.is_some() { State::Ok } else { State::NoData };
    r
}

#[cfg(test)]
mod tests {
    use super::super::window::RouteWindow;
    use super::*;
    use crate::stats::rng::SplitMix64;

    const ROUTE: &str = "POST /api/checkout";

    fn config() -> CanaryConfig {
        CanaryConfig::load(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies")).unwrap()
    }

    fn route(rng: &mut SplitMix64, n: usize, median_ms: f64, errors: f64) -> RouteWindow {
        RouteWindow::log_normal(rng, n, median_ms, errors)
    }

    fn windows(k: usize, canary_ms: f64, canary_errors: f64, canary_n: usize) -> Vec<Window> {
        let mut rng = SplitMix64::new(42);
        (0..k)
            .map(|i| {
                let mut w = Window { end_s: 5.0 * i as f64, seconds: 5.0, ..Window::default() };
                w.stable.routes.insert(ROUTE.into(), route(&mut rng, 200, 13.0, 0.0));
                w.canary.routes.insert(ROUTE.into(), route(&mut rng, canary_n, canary_ms, canary_errors));
                w
            })
            .collect()
    }

    fn find<'a>(r: &'a [MetricResult], metric: &str, route: &str) -> &'a MetricResult {
        r.iter().find(|m| m.metric == metric && m.route == route).unwrap()
    }

    #[test]
    fn a_slower_canary_shows_its_ratio_with_an_interval_and_a_small_p() {
        let r = compare(&windows(8, 13.0 * 1.3, 0.0, 12), &config());
        let m = find(&r, "latency_p50", ROUTE);
        assert_eq!(m.state, State::Ok);
        let change = m.change.unwrap();
        assert!((0.15..0.45).contains(&change), "{m:?}");
        assert!(m.change_low.unwrap() > 0.0 && m.change_low.unwrap() <= change && change <= m.change_high.unwrap());
        assert!(m.p_value.unwrap() < 0.01, "{m:?}");
        assert_eq!(m.n_canary, 8.0);
    }

    #[test]
    fn a_healthy_canary_changes_little() {
        let r = compare(&windows(8, 13.0, 0.0, 12), &config());
        let m = find(&r, "latency_p50", ROUTE);
        assert!(m.change.unwrap().abs() < 0.1, "{m:?}");
        assert!(m.p_value.unwrap() > 0.01, "{m:?}");
        let e = find(&r, "error_rate", ALL);
        assert_eq!((e.canary, e.change, e.state), (Some(0.0), Some(0.0), State::Ok));
    }

    #[test]
    fn errors_beside_a_stable_that_never_errs_are_a_difference_not_a_ratio() {
        // 2 errors in 12 requests a window: ~14 %, against 0 %.
        let r = compare(&windows(8, 13.0, 2.0, 12), &config());
        let e = find(&r, "error_rate", ALL);
        assert_eq!(e.stable, Some(0.0));
        assert!(e.change.unwrap() > 0.1 && e.p_value.unwrap() < 1e-6, "{e:?}");
        assert_eq!((e.n_canary, e.n_stable), (112.0, 1600.0));
    }

    #[test]
    fn too_few_windows_or_requests_is_no_data() {
        // Three canary requests a window: below min_window_requests (5).
        let r = compare(&windows(8, 13.0, 0.0, 3), &config());
        let m = find(&r, "latency_p50", ROUTE);
        assert_eq!(m.state, State::NoData);
        assert!(m.why.as_deref().unwrap().contains("0 canary and 8 stable windows"), "{m:?}");
        // Three windows: below min_windows (4).
        let r = compare(&windows(3, 13.0, 0.0, 12), &config());
        assert_eq!(find(&r, "latency_p50", ROUTE).state, State::NoData);
        // No canary series at all.
        let mut w = windows(8, 13.0, 0.0, 12);
        for x in &mut w {
            x.canary.routes.clear();
        }
        let r = compare(&w, &config());
        assert_eq!(find(&r, "latency_p50", ROUTE).state, State::NoData);
        assert_eq!(find(&r, "error_rate", ALL).state, State::NoData);
        let (c, s) = traffic_of(&w);
        assert_eq!((c.requests, c.windows_with_traffic, s.windows_with_traffic), (0.0, 0, 8));
    }

    #[test]
    fn rare_routes_are_not_compared() {
        let mut w = windows(8, 13.0, 0.0, 12);
        w[0].stable.routes.insert("POST /api/login".into(), RouteWindow { requests: 2.0, ..RouteWindow::default() });
        assert_eq!(routes(&w, &config()), [ROUTE]);
    }
}
