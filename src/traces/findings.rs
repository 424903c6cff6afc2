//! What the policies and the verdict keep of a run's breakdown: per component its sample
//! counts, coverage and unknown reasons, its P50/P95/P99 (the P95 with its interval) and its
//! share, and the comparison with the baseline's breakdown. One shape for the Rego input
//! (`input.traces`) and for the verdict's record (`Verdict.traces`), so what was judged is
//! what is shown. Pure.
//!
//! A quantile of a component without known samples is `None`, never zero: the policies fail
//! closed on it.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::aggregate::{Breakdown, Comparison, ComponentStats};
use super::span::{Trace, TraceId};
use super::views::{self, EndpointBreakdown, Heatmap, LatencyHistogram, SlowRequest};

/// A run's trace breakdown as judged and recorded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TraceFindings {
    /// Where the traces were read (the Tempo URL or the OTLP files), for the reader.
    pub source: String,
    /// k6's requests, those with a trace to attribute, and those whose trace is missing.
    pub requests: usize,
    pub traced: usize,
    pub untraced: usize,
    /// The level of the quantiles' intervals.
    pub confidence: f64,
    /// k6's `http_req_duration` of the traced requests.
    pub end_to_end: ComponentFinding,
    /// By component (`service.name`, plus `network+lb` and `uninstrumented`).
    pub components: BTreeMap<String, ComponentFinding>,
    /// Each component's self time against the baseline's breakdown (empty without one).
    #[serde(default)]
    pub comparison: Vec<ComponentChange>,
    /// Per component (and `end-to-end`), its latency over the run's time (`views::Heatmap`).
    #[serde(default)]
    pub heatmaps: BTreeMap<String, Heatmap>,
    /// Per endpoint group, each component's share of its end-to-end time (the busiest
    /// `views::MAX_ENDPOINTS`).
    #[serde(default)]
    pub endpoints: Vec<EndpointBreakdown>,
    /// The slowest traced requests (`views::SLOWEST`), slowest first, with their traces'
    /// spans once attached ([`TraceFindings::attach_traces`]).
    #[serde(default)]
    pub slowest: Vec<SlowRequest>,
    /// Where a trace opens in Tempo or Grafana: a URL with `{trace_id}` in it.
    #[serde(default)]
    pub trace_link: Option<String>,
}

/// One component over the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentFinding {
    /// Requests whose self time here is known.
    pub samples: usize,
    /// Requests that reach the component (or are expected to) with its time unknown.
    pub unknown: usize,
    /// `samples / (samples + unknown)`: 0 when neither.
    pub coverage: f64,
    /// Unknown requests by reason code (`missing_leaf`, `partial_trace`, ...).
    #[serde(default)]
    pub unknown_reasons: BTreeMap<String, usize>,
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// The P95's order-statistic interval, when the samples allow one.
    pub p95_ci_ms: Option<[f64; 2]>,
    /// Known self time over all traced requests' end-to-end time.
    pub share: f64,
    /// The known self times as a native histogram, published as it is by `prom::spans`.
    #[serde(default)]
    pub histogram: Option<LatencyHistogram>,
}

/// One component, baseline against candidate (`DB P95 +40 %`, `API unchanged`): the
/// breakdown's own comparison, stored as it is.
pub type ComponentChange = Comparison;

impl TraceFindings {
    /// The breakdown `b` (and its comparison with the baseline's, when there is one) as the
    /// policies see it; `source` says where the traces came from.
    pub fn new(b: &Breakdown, comparison: &[Comparison], source: &str) -> TraceFindings {
        TraceFindings {
            source: source.to_string(),
            requests: b.requests,
            traced: b.traced,
            untraced: b.untraced,
            confidence: b.confidence,
            end_to_end: finding(&b.end_to_end),
            components: b.components.iter().map(|c| (c.component.clone(), finding(c))).collect(),
            comparison: comparison.to_vec(),
            heatmaps: b.heatmaps.clone(),
            endpoints: endpoints(b),
            slowest: b.slowest.iter().map(SlowRequest::of).collect(),
            trace_link: None,
        }
    }

    /// The slowest requests' traces, for their waterfalls: `trace` finds one by id. Both
    /// `traces --findings` and `run` call it with the traces they attributed.
    pub fn attach_traces<'a>(&mut self, trace: impl Fn(TraceId) -> Option<&'a Trace>) {
        for r in &mut self.slowest {
            if let Some(t) = views::trace_id(r).and_then(&trace) {
                r.attach(t);
            }
        }
    }
}

fn endpoints(b: &Breakdown) -> Vec<EndpointBreakdown> {
    let mut groups: Vec<&crate::traces::aggregate::GroupStats> = b.groups.iter().collect();
    groups.sort_by_key(|g| std::cmp::Reverse(g.requests));
    groups.truncate(views::MAX_ENDPOINTS);
    groups
        .into_iter()
        .map(|g| EndpointBreakdown {
            group: g.group.clone(),
            phase: g.phase.clone(),
            requests: g.requests,
            mean_ms: g.mean_ms,
            shares: g.shares.clone(),
            histograms: g.histograms.clone(),
        })
        .collect()
}

fn finding(c: &ComponentStats) -> ComponentFinding {
    let at = |q: f64| c.quantiles.iter().find(|x| (x.q - q).abs() < 1e-9);
    // Quantiles of no samples are not numbers: absent, never zero.
    let known = |q: f64| at(q).filter(|_| c.samples > 0).map(|x| x.ms).filter(|v| v.is_finite());
    ComponentFinding {
        samples: c.samples,
        unknown: c.unknown,
        coverage: c.coverage,
        unknown_reasons: c.unknown_reasons.iter().map(|(k, v)| ((*k).to_string(), *v)).collect(),
        p50_ms: known(0.5),
        p95_ms: known(0.95),
        p99_ms: known(0.99),
        p95_ci_ms: at(0.95).filter(|_| c.samples > 0).and_then(|x| x.ci_ms).map(|(lo, hi)| [lo, hi]),
        share: c.share,
        histogram: c.histogram.clone().filter(|_| c.samples > 0),
    }
}
