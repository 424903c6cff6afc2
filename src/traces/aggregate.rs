//! A run's breakdowns summed up: per component the P50/P95/P99 of its self time with their
//! distribution-free intervals (`stats::order`), sample counts, coverage and unknown reasons,
//! its share of end-to-end time; the bottleneck per endpoint group and phase; bimodality of
//! the end-to-end latency and of each component, with the component that drives the slow
//! mode; and the comparison with a baseline's breakdown. Pure: attributions in, numbers out.
//!
//! Exact quantiles over the samples rather than the repo's sketch: a run's traced requests
//! are thousands, not millions, and the order-statistic intervals need the ranks.

use std::collections::{BTreeMap, BTreeSet};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::attribute::{Attribution, Reason};
use super::views::{self, Heatmap, LatencyHistogram};
use crate::stats::modes::{BIMODAL_ABOVE, bimodality_coefficient, split_index};
use crate::stats::order::{quantile, quantile_ci};
use crate::stats::rank::mann_whitney_p;

const NS_PER_MS: f64 = 1e6;

/// A quantile of a component's self time, in milliseconds, with its interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quantile {
    pub q: f64,
    pub ms: f64,
    /// The order-statistic interval at the breakdown's confidence; `None` with too few samples.
    pub ci_ms: Option<(f64, f64)>,
}

/// Two modes of a latency distribution.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Bimodality {
    /// Sarle's bimodality coefficient.
    pub coefficient: f64,
    /// Above 5/9 (a uniform distribution's coefficient).
    pub bimodal: bool,
    /// The latency between the modes (the slow mode starts above it), ms.
    pub split_ms: f64,
    pub fast_share: f64,
    pub slow_share: f64,
    /// For the end-to-end latency: the component whose median self time grows most from the
    /// fast mode's requests to the slow mode's.
    pub driver: Option<Driver>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Driver {
    pub component: String,
    pub fast_median_ms: f64,
    pub slow_median_ms: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentStats {
    pub component: String,
    /// Requests whose self time in this component is known.
    pub samples: usize,
    /// Requests that reach the component (or are expected to) with its time unknown.
    pub unknown: usize,
    /// `samples / (samples + unknown)`.
    pub coverage: f64,
    /// Unknown requests by reason code (a request can have several).
    pub unknown_reasons: BTreeMap<&'static str, usize>,
    pub mean_ms: f64,
    pub quantiles: Vec<Quantile>,
    /// The component's known self time over all requests' end-to-end time.
    pub share: f64,
    pub bimodality: Option<Bimodality>,
    /// The self times as a native histogram (`views::SCHEMA`); `None` without samples.
    pub histogram: Option<LatencyHistogram>,
}

/// One endpoint group in one phase.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupStats {
    pub phase: Option<String>,
    pub group: String,
    pub requests: usize,
    /// Each component's known self time over the group's end-to-end time.
    pub shares: BTreeMap<String, f64>,
    /// The component with the largest share.
    pub bottleneck: Option<String>,
    /// The mean end-to-end time of the group's requests, ms.
    pub mean_ms: f64,
    /// Per component (and `end-to-end`), the group's known times as a native histogram.
    pub histograms: BTreeMap<String, LatencyHistogram>,
}

/// A run's breakdown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Breakdown {
    pub requests: usize,
    /// Requests with a trace to attribute.
    pub traced: usize,
    pub confidence: f64,
    /// The end-to-end latency (k6's `http_req_duration`) of the traced requests.
    pub end_to_end: ComponentStats,
    pub components: Vec<ComponentStats>,
    pub groups: Vec<GroupStats>,
    /// Requests whose whole trace is missing, and the clock adjustments made, by kind.
    pub untraced: usize,
    pub adjustments: BTreeMap<String, usize>,
    /// Per component (and `end-to-end`), its latency over the run's time on a fixed grid.
    pub heatmaps: BTreeMap<String, Heatmap>,
    /// The `views::SLOWEST` slowest traced requests, slowest first.
    pub slowest: Vec<Attribution>,
}

pub const QUANTILES: [f64; 3] = [0.5, 0.95, 0.99];

/// The run's breakdown at `confidence` (e.g. 0.95) for the intervals.
pub fn summarize(attrs: &[Attribution], confidence: f64) -> Breakdown {
    let traced: Vec<&Attribution> = attrs.iter().filter(|a| a.reasons.is_empty()).collect();
    let total_ns: i64 = traced.iter().map(|a| a.duration_ns).sum();
    let names: BTreeSet<&str> =
        traced.iter().flat_map(|a| a.parts.keys().chain(a.unknown.keys())).map(String::as_str).collect();
    let e2e: Vec<f64> = traced.iter().map(|a| a.duration_ns as f64 / NS_PER_MS).collect();
    let mut end_to_end = stats_of("end-to-end", e2e.clone(), BTreeMap::new(), 0, 1.0, confidence);
    if let Some(b) = end_to_end.bimodality.as_mut() {
        b.driver = driver(&traced, b.split_ms);
    }
    let components = names
        .iter()
        .map(|&c| {
            let mut samples = Vec::new();
            let mut unknown = 0;
            let mut reasons: BTreeMap<&'static str, usize> = BTreeMap::new();
            let mut known_ns = 0i64;
            for a in &traced {
                match (a.unknown.get(c), a.parts.get(c)) {
                    (Some(rs), _) => {
                        unknown += 1;
                        for r in rs {
                            *reasons.entry(r.code()).or_insert(0) += 1;
                        }
                    }
                    (None, Some(&ns)) => {
                        samples.push(ns as f64 / NS_PER_MS);
                        known_ns += ns;
                    }
                    (None, None) => {}
                }
            }
            let share = if total_ns > 0 { known_ns as f64 / total_ns as f64 } else { 0.0 };
            stats_of(c, samples, reasons, unknown, share, confidence)
        })
        .collect();
    let mut by_group: BTreeMap<(Option<String>, String), Vec<&Attribution>> = BTreeMap::new();
    for a in &traced {
        by_group.entry((a.phase.clone(), a.group.clone())).or_default().push(a);
    }
    let groups = by_group
        .into_iter()
        .map(|((phase, group), list)| {
            let total: i64 = list.iter().map(|a| a.duration_ns).sum();
            let mut sums: BTreeMap<String, i64> = BTreeMap::new();
            for a in &list {
                for (c, &ns) in &a.parts {
                    if !a.unknown.contains_key(c) {
                        *sums.entry(c.clone()).or_insert(0) += ns;
                    }
                }
            }
            let shares: BTreeMap<String, f64> = sums
                .iter()
                .map(|(c, &ns)| (c.clone(), if total > 0 { ns as f64 / total as f64 } else { 0.0 }))
                .collect();
            let bottleneck = sums
                .iter()
                .filter(|(_, ns)| **ns > 0)
                .max_by_key(|(c, ns)| (**ns, std::cmp::Reverse(*c)))
                .map(|(c, _)| c.clone());
            let mean_ms = total as f64 / NS_PER_MS / list.len().max(1) as f64;
            let histograms = views::group_histograms(&list);
            GroupStats { phase, group, requests: list.len(), shares, bottleneck, mean_ms, histograms }
        })
        .collect();
    let mut adjustments = BTreeMap::new();
    for a in attrs {
        for adj in &a.adjustments {
            let kind =
                serde_json::to_value(adj.kind).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
            *adjustments.entry(kind).or_insert(0) += 1;
        }
    }
    Breakdown {
        requests: attrs.len(),
        traced: traced.len(),
        confidence,
        end_to_end,
        components,
        groups,
        untraced: attrs.iter().filter(|a| a.reasons.contains(&Reason::NoTrace)).count(),
        adjustments,
        heatmaps: views::heatmaps(&traced),
        slowest: views::slowest(&traced, views::SLOWEST).into_iter().cloned().collect(),
    }
}

fn stats_of(
    component: &str,
    mut samples: Vec<f64>,
    unknown_reasons: BTreeMap<&'static str, usize>,
    unknown: usize,
    share: f64,
    confidence: f64,
) -> ComponentStats {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    let quantiles = QUANTILES
        .iter()
        .filter_map(|&q| Some(Quantile { q, ms: quantile(&samples, q)?, ci_ms: quantile_ci(&samples, q, confidence) }))
        .collect();
    ComponentStats {
        component: component.to_string(),
        samples: n,
        unknown,
        coverage: if n + unknown > 0 { n as f64 / (n + unknown) as f64 } else { 0.0 },
        unknown_reasons,
        mean_ms: if n > 0 { samples.iter().sum::<f64>() / n as f64 } else { 0.0 },
        quantiles,
        share,
        bimodality: bimodality(&samples),
        histogram: LatencyHistogram::of(&samples),
    }
}

/// The two modes of sorted positive values; `None` when there are not two to speak of.
fn bimodality(sorted: &[f64]) -> Option<Bimodality> {
    let coefficient = bimodality_coefficient(sorted)?;
    let k = split_index(sorted)?;
    let n = sorted.len() as f64;
    let (below, above) = (*sorted.get(k - 1)?, *sorted.get(k)?);
    Some(Bimodality {
        coefficient,
        bimodal: coefficient > BIMODAL_ABOVE,
        split_ms: (below + above) / 2.0,
        fast_share: k as f64 / n,
        slow_share: (n - k as f64) / n,
        driver: None,
    })
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.sort_by(f64::total_cmp);
    quantile(&v, 0.5)
}

/// The component whose median known self time grows most between the requests faster than
/// `split_ms` end to end and the slower ones.
fn driver(traced: &[&Attribution], split_ms: f64) -> Option<Driver> {
    let (slow, fast): (Vec<&&Attribution>, Vec<&&Attribution>) =
        traced.iter().partition(|a| a.duration_ns as f64 / NS_PER_MS > split_ms);
    let names: BTreeSet<&String> = traced.iter().flat_map(|a| a.parts.keys()).collect();
    let known = |list: &[&&Attribution], c: &str| -> Vec<f64> {
        list.iter().filter_map(|a| a.known(c)).map(|ns| ns as f64 / NS_PER_MS).collect()
    };
    names
        .into_iter()
        .filter_map(|c| {
            let (f, s) = (median(known(&fast, c))?, median(known(&slow, c))?);
            Some(Driver { component: c.clone(), fast_median_ms: f, slow_median_ms: s })
        })
        .max_by(|a, b| (a.slow_median_ms - a.fast_median_ms).total_cmp(&(b.slow_median_ms - b.fast_median_ms)))
}

/// One component, baseline against candidate; kept as is in the findings
/// (`findings::ComponentChange`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    pub component: String,
    pub baseline_p95_ms: Option<f64>,
    pub candidate_p95_ms: Option<f64>,
    /// `candidate / baseline - 1` of the P95.
    pub p95_change: Option<f64>,
    /// Two-sided Mann-Whitney p-value of the self times (`stats::rank`).
    pub p_value: Option<f64>,
    /// Significant at `alpha`.
    pub changed: bool,
    /// `DB P95 +40 %` or `API unchanged`.
    pub text: String,
}

/// Each component's self time, baseline against candidate (known samples only): the P95's
/// change, and whether the distributions differ at `alpha` (Mann-Whitney).
pub fn compare(baseline: &[Attribution], candidate: &[Attribution], alpha: f64) -> Vec<Comparison> {
    let samples = |attrs: &[Attribution], c: &str| -> Vec<f64> {
        let mut v: Vec<f64> = attrs.iter().filter_map(|a| a.known(c)).map(|ns| ns as f64 / NS_PER_MS).collect();
        v.sort_by(f64::total_cmp);
        v
    };
    let names: BTreeSet<&String> = baseline.iter().chain(candidate).flat_map(|a| a.parts.keys()).collect();
    names
        .into_iter()
        .map(|c| {
            let (b, k) = (samples(baseline, c), samples(candidate, c));
            let (bp, kp) = (quantile(&b, 0.95), quantile(&k, 0.95));
            let p95_change = match (bp, kp) {
                (Some(b), Some(k)) if b > 0.0 => Some(k / b - 1.0),
                _ => None,
            };
            let p_value = mann_whitney_p(&b, &k);
            let changed = p_value.is_some_and(|p| p < alpha);
            let text = match (p95_change, changed) {
                (Some(ch), true) => format!("{c} P95 {:+.0} %", ch * 100.0),
                (_, false) if p_value.is_some() => format!("{c} unchanged"),
                _ if b.is_empty() => format!("{c} new (no baseline samples)"),
                _ => format!("{c} not measured in the candidate"),
            };
            Comparison {
                component: c.clone(),
                baseline_p95_ms: bp,
                candidate_p95_ms: kp,
                p95_change,
                p_value,
                changed,
                text,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::rng::SplitMix64;
    use crate::traces::attribute::{Request, Topology, TraceState, attribute};
    use crate::traces::span::{Kind, Span, SpanId, Trace, TraceId};

    const MS: f64 = 1e6;

    /// A request through the gateway, the API and (unless `db_ms` is `None`) one DB query:
    /// 1 ms network each way, 1 ms gateway each way, then API self time around the query.
    fn request(i: u64, group: &str, api_ms: f64, db_ms: Option<f64>, topology: &Topology) -> Attribution {
        let t0 = 1_700_000_000_000_000_000i64 + i as i64 * 1_000_000_000;
        let ns = |ms: f64| (ms * MS).round() as i64;
        let db = db_ms.unwrap_or(0.0);
        let total = 2.0 + 2.0 + api_ms + db;
        let id = TraceId(u128::from(i) + 1);
        let mk = |sid: u64, parent: u64, c: &str, s: f64, e: f64| Span {
            trace_id: id,
            span_id: SpanId(sid),
            parent: Some(SpanId(parent)),
            name: c.into(),
            component: c.into(),
            clock: c.into(),
            kind: Kind::Server,
            start_ns: t0 + ns(s),
            end_ns: t0 + ns(e),
            error: false,
            attributes: Default::default(),
        };
        let mut spans = vec![mk(1, 99, "gateway", 1.0, total - 1.0), mk(2, 1, "api", 2.0, total - 2.0)];
        if db_ms.is_some() {
            spans.push(mk(3, 2, "db", 2.0 + api_ms / 2.0, 2.0 + api_ms / 2.0 + db));
        }
        let req = Request {
            trace_id: Some(id),
            start_ns: t0,
            duration_ns: ns(total),
            group: group.into(),
            name: group.into(),
            phase: None,
            span_id: None,
            correlation_id: None,
            status: Some(200),
        };
        attribute(&req, Some(&Trace { id, spans }), TraceState::default(), topology)
    }

    fn topology() -> Topology {
        Topology {
            expected: BTreeMap::from([("*".into(), vec!["api".into(), "db".into()])]),
            gateway: Some("gateway".into()),
        }
    }

    fn component<'a>(b: &'a Breakdown, c: &str) -> &'a ComponentStats {
        b.components.iter().find(|s| s.component == c).unwrap()
    }

    #[test]
    fn quantiles_counts_shares_coverage_and_bottlenecks() {
        let t = topology();
        // 100 requests: db 1..=100 ms, api 10 ms; every fifth /cart request has no db span.
        let attrs: Vec<Attribution> = (0..100u64)
            .map(|i| {
                let db = (i % 5 != 0 || i % 2 == 0).then_some((i + 1) as f64);
                request(i, if i % 2 == 0 { "/items" } else { "/cart" }, 10.0, db, &t)
            })
            .collect();
        let b = summarize(&attrs, 0.95);
        assert_eq!((b.requests, b.traced), (100, 100));
        let db = component(&b, "db");
        assert_eq!(db.samples, 90);
        assert_eq!(db.unknown, 10);
        assert_eq!(db.unknown_reasons.get("missing_leaf"), Some(&10));
        assert!((db.coverage - 0.9).abs() < 1e-12);
        let p50 = db.quantiles.iter().find(|q| q.q == 0.5).unwrap();
        let (lo, hi) = p50.ci_ms.unwrap();
        assert!(lo <= p50.ms && p50.ms <= hi, "{p50:?}");
        assert!(db.quantiles.iter().find(|q| q.q == 0.99).unwrap().ci_ms.is_none(), "90 samples: no P99 interval");
        let api = component(&b, "api");
        assert_eq!(api.samples, 100);
        assert!((api.quantiles[0].ms - 10.0).abs() < 1e-9);
        assert!((component(&b, "network").mean_ms - 2.0).abs() < 1e-9);
        let shares: f64 = b.components.iter().map(|c| c.share).sum();
        assert!(shares < 1.0 && shares > 0.9, "the unknown db time of 10 requests is in no share: {shares}");
        let items = b.groups.iter().find(|g| g.group == "/items").unwrap();
        assert_eq!(items.bottleneck.as_deref(), Some("db"));
        assert_eq!(items.requests, 50);
    }

    #[test]
    fn the_interval_holds_the_true_quantile_as_often_as_it_says() {
        // Exponential(1): the true P95 is ln 20. 400 runs of 300 values each.
        let truth = 20f64.ln();
        let mut rng = SplitMix64::new(42);
        let mut held = 0;
        for _ in 0..400 {
            let mut v: Vec<f64> = (0..300).map(|_| -(1.0 - rng.next_f64()).ln()).collect();
            v.sort_by(f64::total_cmp);
            let (lo, hi) = quantile_ci(&v, 0.95, 0.95).unwrap();
            held += usize::from(lo <= truth && truth <= hi);
        }
        // At least 95 % by construction; 400 trials leave a binomial margin of about 2.2 %.
        assert!(held >= 372, "held {held} of 400");
    }

    #[test]
    fn a_ten_percent_slow_db_is_bimodal_and_named_as_the_driver() {
        let t = topology();
        let mut rng = SplitMix64::new(3);
        let attrs: Vec<Attribution> = (0..1000u64)
            .map(|i| {
                let api = 20.0 + rng.normal().abs() * 2.0;
                let db = if i % 10 == 3 { 60.0 + rng.normal() * 3.0 } else { 4.0 + rng.normal().abs() };
                request(i, "/items", api, Some(db), &t)
            })
            .collect();
        let b = summarize(&attrs, 0.95);
        let bi = b.end_to_end.bimodality.as_ref().unwrap();
        assert!(bi.bimodal, "{bi:?}");
        assert!((bi.slow_share - 0.1).abs() < 0.01, "{bi:?}");
        let driver = bi.driver.as_ref().unwrap();
        assert_eq!(driver.component, "db");
        assert!(driver.slow_median_ms > 50.0 && driver.fast_median_ms < 10.0);
        assert!(component(&b, "db").bimodality.as_ref().unwrap().bimodal);
        assert!(!component(&b, "network").bimodality.as_ref().is_some_and(|m| m.bimodal), "a constant is not bimodal");
    }

    #[test]
    fn the_baseline_comparison_names_what_changed() {
        let t = topology();
        let mut rng = SplitMix64::new(11);
        let mut run = |db_scale: f64, offset: u64| -> Vec<Attribution> {
            (0..300u64)
                .map(|i| {
                    request(
                        offset + i,
                        "/items",
                        10.0 + rng.next_f64(),
                        Some((5.0 + (i % 100) as f64 / 100.0) * db_scale),
                        &t,
                    )
                })
                .collect()
        };
        let (base, cand) = (run(1.0, 0), run(1.4, 1000));
        let cmp = compare(&base, &cand, 0.01);
        let db = cmp.iter().find(|c| c.component == "db").unwrap();
        assert!(db.changed, "{db:?}");
        assert!((db.p95_change.unwrap() - 0.4).abs() < 0.05, "{db:?}");
        assert_eq!(db.text, "db P95 +40 %");
        let api = cmp.iter().find(|c| c.component == "api").unwrap();
        assert!(!api.changed, "{api:?}");
        assert_eq!(api.text, "api unchanged");
    }
}
