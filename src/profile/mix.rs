//! The traffic profile: each route's share of requests and rate, and the burst pattern of the
//! total rate, computed from [`RouteStats`] and a rate series. Pure: no IO, no clock.
//!
//! The generated file (`environments/traffic/<env>.yaml`) maps onto the load-shape library's
//! `mix:` and `bursts:` blocks: one scenario per route with its `weight` and `rate_per_s`;
//! bursts as a base rate, a spike factor, a period and a duration.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::routes::RouteStats;

/// A point counts as a spike when the rate is this many times the base (the median).
pub const SPIKE_ABOVE: f64 = 1.5;

/// What the traffic file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficProfile {
    /// Where and over which window it was read.
    pub source: ProfileSource,
    /// All routes' requests per second over the window.
    pub total_rate_per_s: f64,
    /// Every route, largest share first.
    pub routes: Vec<RouteShare>,
    /// `None`: too few points in the window to tell (fewer than [`MIN_POINTS`]).
    pub burst_analysis: Option<Bursts>,
    /// The environment's `mix:` block (the load-shape library's shape, `src/render/mix.rs`
    /// on the shapes branch): the routes folded into the templates' scenarios.
    pub mix: MixBlock,
    /// Routes no scenario covers, with their share: traffic the mix leaves out.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unmapped: Vec<String>,
}

/// The scenario a production route belongs to (the templates' scenario names).
pub fn scenario_of(route: &str) -> Option<&'static str> {
    let path = route.split_once(' ').map_or(route, |(_, p)| p);
    let path = path.split('?').next().unwrap_or(path);
    match path {
        p if p.starts_with("/admin/") => Some("admin"),
        "/api/products" => Some("browse"),
        "/api/search" => Some("search"),
        "/api/cart" => Some("cart"),
        "/api/checkout" => Some("checkout"),
        _ => None,
    }
}

/// `mix:` as the environment file takes it: a total rate, each scenario's weight and rate,
/// and the bursts as durations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixBlock {
    /// Requests per second of the mapped routes.
    pub rate: f64,
    pub scenarios: BTreeMap<String, MixEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bursts: Option<MixBursts>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixEntry {
    pub weight: f64,
    pub rate: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MixBursts {
    pub base_rate: f64,
    pub spike_factor: f64,
    pub spike_period: String,
    pub spike_duration: String,
}

/// Folds the routes into scenarios (weights renormalised over the mapped routes) and the
/// burst analysis into the block's bursts (only when spikes were seen).
pub fn mix_block(routes: &[RouteShare], bursts: Option<&Bursts>) -> (MixBlock, Vec<String>) {
    let mut scenarios: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    let mut unmapped = Vec::new();
    for r in routes {
        match scenario_of(&r.route) {
            Some(s) => {
                let e = scenarios.entry(s.to_string()).or_insert((0.0, 0.0));
                e.0 += r.weight;
                e.1 += r.rate_per_s;
            }
            None => unmapped.push(format!("{} ({:.1} % of requests)", r.route, r.weight * 100.0)),
        }
    }
    let weights: f64 = scenarios.values().map(|(w, _)| w).sum();
    let rate: f64 = scenarios.values().map(|(_, r)| r).sum();
    let scenarios = scenarios
        .into_iter()
        .map(|(k, (w, r))| {
            let weight = if weights > 0.0 { round(w / weights, 4) } else { 0.0 };
            (k, MixEntry { weight, rate: round(r, 3) })
        })
        .collect();
    let secs = |s: f64| format!("{}s", s.round().max(1.0) as u64);
    let bursts = bursts.filter(|b| b.spikes > 0 && b.spike_factor >= 1.0).and_then(|b| {
        let (period, duration) = (b.spike_period_s?, b.spike_duration_s?);
        // The block wants a spike shorter than its period.
        (duration < period).then(|| MixBursts {
            base_rate: b.base_rate_per_s,
            spike_factor: b.spike_factor,
            spike_period: secs(period),
            spike_duration: secs(duration.min(period - 1.0)),
        })
    });
    (MixBlock { rate: round(rate, 3), scenarios, bursts }, unmapped)
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSource {
    pub prometheus: String,
    pub job: String,
    pub window_s: u64,
    /// The window's end, RFC 3339.
    pub end: String,
    /// Seconds between the points of the burst analysis.
    pub step_s: u64,
}

/// One route (a scenario of the mix).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteShare {
    pub route: String,
    /// Share of all requests, 0..1; the shares add up to 1.
    pub weight: f64,
    pub rate_per_s: f64,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    /// Share of its requests with a status other than 2xx/3xx.
    pub error_rate: f64,
}

/// Spikes on top of a base rate, from the total rate's variation over the window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bursts {
    /// The median of the rate series.
    pub base_rate_per_s: f64,
    pub peak_rate_per_s: f64,
    /// Mean spike peak over the base; the maximum over the base when nothing reached
    /// [`SPIKE_ABOVE`] (then `spikes` is 0).
    pub spike_factor: f64,
    /// Runs of consecutive points above `SPIKE_ABOVE` × base.
    pub spikes: u32,
    /// The window over the number of spikes: how often one comes.
    pub spike_period_s: Option<f64>,
    /// How long a spike lasts, on average (points × step).
    pub spike_duration_s: Option<f64>,
    /// Coefficient of variation of the rate series (standard deviation over mean).
    pub cv: f64,
    pub points: usize,
}

/// A burst pattern needs at least this many points.
pub const MIN_POINTS: usize = 4;

fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// The mix from per-route numbers; `None` when no route saw a request (never an empty mix).
pub fn mix(stats: &BTreeMap<String, RouteStats>, window_s: u64) -> Option<(f64, Vec<RouteShare>)> {
    let total: f64 = stats.values().map(|s| s.requests).sum();
    if !total.is_finite() || total <= 0.0 || window_s == 0 {
        return None;
    }
    let mut out: Vec<RouteShare> = stats
        .iter()
        .map(|(route, s)| RouteShare {
            route: route.clone(),
            weight: round(s.requests / total, 4),
            rate_per_s: round(s.requests / window_s as f64, 3),
            p50_ms: s.p50_ms.map(|v| round(v, 2)),
            p95_ms: s.p95_ms.map(|v| round(v, 2)),
            error_rate: round(s.error_rate().unwrap_or(0.0), 4),
        })
        .collect();
    out.sort_by(|a, b| b.weight.total_cmp(&a.weight).then_with(|| a.route.cmp(&b.route)));
    Some((round(total / window_s as f64, 3), out))
}

/// The burst pattern of a rate series taken every `step_s`.
pub fn bursts(series: &[f64], step_s: u64) -> Option<Bursts> {
    if series.len() < MIN_POINTS {
        return None;
    }
    let mut sorted = series.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let base = if n % 2 == 1 {
        sorted.get(n / 2).copied()?
    } else {
        (sorted.get(n / 2 - 1).copied()? + sorted.get(n / 2).copied()?) / 2.0
    };
    let peak = sorted.last().copied()?;
    let mean = series.iter().sum::<f64>() / n as f64;
    let var = series.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n as f64;
    let cv = if mean > 0.0 { var.sqrt() / mean } else { 0.0 };
    // Episodes: maximal runs above the threshold, each with its peak and length.
    let threshold = base * SPIKE_ABOVE;
    let mut episodes: Vec<(f64, usize)> = Vec::new();
    let mut current: Option<(f64, usize)> = None;
    for &v in series {
        if base > 0.0 && v > threshold {
            let (p, len) = current.unwrap_or((0.0, 0));
            current = Some((p.max(v), len + 1));
        } else if let Some(e) = current.take() {
            episodes.push(e);
        }
    }
    episodes.extend(current);
    let spikes = episodes.len();
    let factor = if base <= 0.0 {
        0.0
    } else if spikes == 0 {
        peak / base
    } else {
        episodes.iter().map(|(p, _)| p).sum::<f64>() / spikes as f64 / base
    };
    let window = n as f64 * step_s as f64;
    Some(Bursts {
        base_rate_per_s: round(base, 3),
        peak_rate_per_s: round(peak, 3),
        spike_factor: round(factor, 2),
        spikes: u32::try_from(spikes).unwrap_or(u32::MAX),
        spike_period_s: (spikes > 0).then(|| round(window / spikes as f64, 1)),
        spike_duration_s: (spikes > 0)
            .then(|| round(episodes.iter().map(|(_, l)| *l as f64).sum::<f64>() / spikes as f64 * step_s as f64, 1)),
        cv: round(cv, 3),
        points: n,
    })
}

impl TrafficProfile {
    /// The generated file: a header saying what wrote it (and that it is regenerated whole),
    /// then the profile as YAML.
    pub fn to_yaml(&self, command: &str) -> Result<String, String> {
        let body = yaml_serde::to_string(self).map_err(|e| e.to_string())?;
        Ok(format!(
            "# Generated by `{command}`: production's traffic mix and burst pattern.\n\
             # Regenerated whole; edit the environment file, not this one (README \"Traffic mix from production\").\n\
             {body}"
        ))
    }

    /// Reads a traffic file back; errors name the field path.
    pub fn from_yaml(text: &str) -> Result<TrafficProfile, String> {
        let de = yaml_serde::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: {}", e.path(), e.inner()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(requests: f64) -> RouteStats {
        RouteStats { requests, errors: 0.0, p50_ms: Some(1.0), p95_ms: Some(2.0) }
    }

    #[test]
    fn shares_add_up_and_the_largest_comes_first() {
        let m: BTreeMap<String, RouteStats> =
            [("a".to_string(), stats(100.0)), ("b".to_string(), stats(600.0)), ("c".to_string(), stats(300.0))].into();
        let (total, mix) = mix(&m, 10).unwrap();
        assert_eq!(total, 100.0);
        let got: Vec<(&str, f64)> = mix.iter().map(|r| (r.route.as_str(), r.weight)).collect();
        assert_eq!(got, [("b", 0.6), ("c", 0.3), ("a", 0.1)]);
        assert_eq!(mix.first().unwrap().rate_per_s, 60.0);
        assert!(super::mix(&BTreeMap::new(), 10).is_none(), "no requests: no mix");
    }

    #[test]
    fn routes_fold_into_the_templates_scenarios() {
        let r = |route: &str, weight: f64, rate: f64| RouteShare {
            route: route.into(),
            weight,
            rate_per_s: rate,
            p50_ms: None,
            p95_ms: None,
            error_rate: 0.0,
        };
        let routes = [
            r("GET /api/products", 0.5, 5.0),
            r("GET /api/cart", 0.1, 1.0),
            r("POST /api/cart", 0.3, 3.0),
            r("GET /health", 0.1, 1.0),
        ];
        let b = bursts(&[10.0, 10.0, 30.0, 10.0, 10.0, 10.0, 30.0, 10.0], 5).unwrap();
        let (block, unmapped) = mix_block(&routes, Some(&b));
        assert_eq!(block.rate, 9.0);
        assert_eq!(block.scenarios["browse"], MixEntry { weight: 0.5556, rate: 5.0 });
        assert_eq!(block.scenarios["cart"], MixEntry { weight: 0.4444, rate: 4.0 });
        assert_eq!(unmapped, ["GET /health (10.0 % of requests)"]);
        let mb = block.bursts.unwrap();
        assert_eq!(
            (mb.base_rate, mb.spike_factor, mb.spike_period.as_str(), mb.spike_duration.as_str()),
            (10.0, 3.0, "20s", "5s")
        );
    }

    #[test]
    fn bursts_are_spikes_above_the_median() {
        // Base 10/s, a spike of 30/s lasting two points every 6 points.
        let series = [10.0, 10.0, 30.0, 30.0, 10.0, 10.0, 10.0, 10.0, 30.0, 30.0, 10.0, 10.0];
        let b = bursts(&series, 5).unwrap();
        assert_eq!((b.base_rate_per_s, b.spike_factor, b.spikes), (10.0, 3.0, 2));
        assert_eq!((b.spike_period_s, b.spike_duration_s), (Some(30.0), Some(10.0)));
        let flat = bursts(&[10.0, 10.5, 9.5, 10.0], 5).unwrap();
        assert_eq!((flat.spikes, flat.spike_period_s), (0, None));
        assert!(bursts(&[1.0, 2.0], 5).is_none(), "too few points");
    }
}
