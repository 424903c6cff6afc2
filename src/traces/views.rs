//! What the report's trace views and the span metrics need beyond the quantiles, each bounded
//! in size whatever the run's length: per component a native-histogram grid of its self
//! times (exponential buckets, [`SCHEMA`]), a latency heatmap over the run's time on a fixed
//! grid ([`TIME_SLICES`] x [`HEATMAP_BOUNDS_MS`]), and the slowest requests ([`SLOWEST`]) with
//! their component timings and, once attached, their traces' spans for a waterfall. Pure.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::attribute::Attribution;
use super::span::{Trace, TraceId};

const NS_PER_MS: f64 = 1e6;

/// Native-histogram schema of [`LatencyHistogram`]: 2^3 buckets per power of two, so a
/// bucket's upper bound is 2^(1/8) = 1.0905 times its lower one; a quantile read from it is
/// within 9.05 % of the exact one.
pub const SCHEMA: i32 = 3;
/// Self times at or below this (seconds) go to the zero bucket: 1 µs.
pub const ZERO_THRESHOLD_S: f64 = 1e-6;
/// The relative error of a quantile read from a [`SCHEMA`] histogram: 2^(2^-SCHEMA) - 1.
pub fn histogram_error() -> f64 {
    2f64.powf(2f64.powi(-SCHEMA)) - 1.0
}

/// The heatmaps' time axis: the run split into this many equal slices.
pub const TIME_SLICES: usize = 30;
/// The heatmaps' latency rows: upper bounds in ms (powers of two), then a row above the last.
pub const HEATMAP_BOUNDS_MS: [f64; 17] =
    [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0];
/// The slowest requests kept for the drill-down.
pub const SLOWEST: usize = 10;
/// Spans kept of each slowest request's trace (the earliest first); the rest are counted.
pub const MAX_SPANS: usize = 200;
/// Endpoint groups kept for the stacked breakdown (the busiest first); the rest are counted.
pub const MAX_ENDPOINTS: usize = 50;

/// A component's self times as a native (sparse, exponential) histogram: bucket `i` holds the
/// times in (2^((i-1)/8), 2^(i/8)] seconds. What `prom::spans` publishes, as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LatencyHistogram {
    pub schema: i32,
    pub zero_threshold_s: f64,
    pub zero_count: u64,
    /// Count per bucket index (only non-empty buckets).
    pub buckets: BTreeMap<i32, u64>,
    pub count: u64,
    pub sum_s: f64,
}

impl LatencyHistogram {
    /// The histogram of `ms` (self times in milliseconds); `None` without any.
    pub fn of(ms: &[f64]) -> Option<LatencyHistogram> {
        if ms.is_empty() {
            return None;
        }
        let mut h = LatencyHistogram {
            schema: SCHEMA,
            zero_threshold_s: ZERO_THRESHOLD_S,
            zero_count: 0,
            buckets: BTreeMap::new(),
            count: 0,
            sum_s: 0.0,
        };
        for &v in ms.iter().filter(|v| v.is_finite()) {
            let s = v.max(0.0) / 1000.0;
            h.count += 1;
            h.sum_s += s;
            if s <= ZERO_THRESHOLD_S {
                h.zero_count += 1;
            } else {
                let i = (s.log2() * 2f64.powi(SCHEMA)).ceil() as i32;
                *h.buckets.entry(i).or_insert(0) += 1;
            }
        }
        Some(h)
    }
}

/// A component's latency over the run's time: `counts[slice][row]`, rows by
/// [`HEATMAP_BOUNDS_MS`] and one above.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Heatmap {
    /// The first slice's start, Unix ms.
    pub start_ms: i64,
    pub slice_ms: i64,
    /// Upper bounds of the rows, ms; the last row has none (above the last bound).
    pub bounds_ms: Vec<f64>,
    pub counts: Vec<Vec<u64>>,
}

/// The row of `ms` in a heatmap.
fn row(ms: f64) -> usize {
    HEATMAP_BOUNDS_MS.iter().position(|&b| ms <= b).unwrap_or(HEATMAP_BOUNDS_MS.len())
}

/// Per component (and `end-to-end`), the heatmap of the traced requests' known times, by the
/// request's start.
pub fn heatmaps(traced: &[&Attribution]) -> BTreeMap<String, Heatmap> {
    let (Some(first), Some(last)) =
        (traced.iter().map(|a| a.start_ns).min(), traced.iter().map(|a| a.start_ns + a.duration_ns).max())
    else {
        return BTreeMap::new();
    };
    let start_ms = first.div_euclid(1_000_000);
    let span_ms = (last.div_euclid(1_000_000) - start_ms).max(1);
    let slice_ms = (span_ms + TIME_SLICES as i64 - 1) / TIME_SLICES as i64;
    let empty = || Heatmap {
        start_ms,
        slice_ms,
        bounds_ms: HEATMAP_BOUNDS_MS.to_vec(),
        counts: vec![vec![0; HEATMAP_BOUNDS_MS.len() + 1]; TIME_SLICES],
    };
    let mut out: BTreeMap<String, Heatmap> = BTreeMap::new();
    let mut add = |name: &str, a: &Attribution, ns: i64| {
        let slice = ((a.start_ns.div_euclid(1_000_000) - start_ms) / slice_ms).clamp(0, TIME_SLICES as i64 - 1);
        let h = out.entry(name.to_string()).or_insert_with(empty);
        if let Some(c) = h.counts.get_mut(slice as usize).and_then(|r| r.get_mut(row(ns as f64 / NS_PER_MS))) {
            *c += 1;
        }
    };
    for a in traced {
        add(END_TO_END, a, a.duration_ns);
        for c in a.parts.keys() {
            if let Some(ns) = a.known(c) {
                add(c, a, ns);
            }
        }
    }
    out
}

/// The component name of k6's end-to-end time in the views.
pub const END_TO_END: &str = "end-to-end";

/// The `n` slowest of the traced requests, slowest first (ties: the earlier first).
pub fn slowest<'a>(traced: &[&'a Attribution], n: usize) -> Vec<&'a Attribution> {
    let mut v: Vec<&Attribution> = traced.to_vec();
    v.sort_by_key(|a| (std::cmp::Reverse(a.duration_ns), a.start_ns, a.trace_id));
    v.truncate(n);
    v
}

/// Per component (and [`END_TO_END`]), the known times of `list` as native histograms.
pub fn group_histograms(list: &[&Attribution]) -> BTreeMap<String, LatencyHistogram> {
    let mut ms: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    for a in list {
        ms.entry(END_TO_END.to_string()).or_default().push(a.duration_ns as f64 / NS_PER_MS);
        for c in a.parts.keys() {
            if let Some(ns) = a.known(c) {
                ms.entry(c.clone()).or_default().push(ns as f64 / NS_PER_MS);
            }
        }
    }
    ms.into_iter().filter_map(|(c, v)| Some((c, LatencyHistogram::of(&v)?))).collect()
}

/// One endpoint group (in one phase): each component's share of its end-to-end time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EndpointBreakdown {
    pub group: String,
    pub phase: Option<String>,
    pub requests: usize,
    /// The mean end-to-end time of its traced requests, ms.
    pub mean_ms: f64,
    /// Known self time over end-to-end time, by component; what is left to 1 is unknown.
    pub shares: BTreeMap<String, f64>,
    /// Per component (and `end-to-end`), the known times as native histograms (what
    /// `prom::spans` publishes per endpoint group).
    #[serde(default)]
    pub histograms: BTreeMap<String, LatencyHistogram>,
}

/// One of the slowest requests: its component timings (the attribution's) and its trace.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SlowRequest {
    pub trace_id: String,
    pub group: String,
    pub name: String,
    pub phase: Option<String>,
    /// k6's start of the request, Unix ms.
    pub start_ms: f64,
    pub duration_ms: f64,
    /// Self time on the critical path by component, ms: adds up to `duration_ms`.
    pub parts_ms: BTreeMap<String, f64>,
    /// Components whose time is unknown, with their reason codes.
    pub unknown: BTreeMap<String, Vec<String>>,
    /// The trace's spans (empty until attached), the earliest first, at most [`MAX_SPANS`].
    #[serde(default)]
    pub spans: Vec<WaterfallSpan>,
    /// Spans of the trace left out past [`MAX_SPANS`].
    #[serde(default)]
    pub spans_dropped: usize,
}

/// A span as the waterfall draws it: times relative to k6's start of the request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaterfallSpan {
    pub span_id: String,
    pub parent: Option<String>,
    pub name: String,
    pub component: String,
    /// Nesting under the trace's top-level spans (0 for them).
    pub depth: usize,
    pub offset_ms: f64,
    pub duration_ms: f64,
    pub error: bool,
}

impl SlowRequest {
    pub fn of(a: &Attribution) -> SlowRequest {
        SlowRequest {
            trace_id: a.trace_id.map(|t| t.to_string()).unwrap_or_default(),
            group: a.group.clone(),
            name: a.name.clone(),
            phase: a.phase.clone(),
            start_ms: a.start_ns as f64 / NS_PER_MS,
            duration_ms: a.duration_ns as f64 / NS_PER_MS,
            parts_ms: a.parts.iter().map(|(c, &ns)| (c.clone(), ns as f64 / NS_PER_MS)).collect(),
            unknown: a
                .unknown
                .iter()
                .map(|(c, rs)| (c.clone(), rs.iter().map(|r| r.code().to_string()).collect()))
                .collect(),
            spans: Vec::new(),
            spans_dropped: 0,
        }
    }

    /// Its trace's spans, for the waterfall.
    pub fn attach(&mut self, trace: &Trace) {
        let start_ns = (self.start_ms * NS_PER_MS).round() as i64;
        let mut spans: Vec<&super::span::Span> = trace.spans.iter().collect();
        spans.sort_by_key(|s| (s.start_ns, s.span_id));
        let ids: BTreeMap<super::span::SpanId, usize> = spans.iter().enumerate().map(|(i, s)| (s.span_id, i)).collect();
        let depth = |mut i: usize| {
            let mut d = 0;
            // Bounded by the span count: a parent cycle cannot loop forever.
            while let Some(p) = spans.get(i).and_then(|s| s.parent).and_then(|p| ids.get(&p)) {
                if d >= spans.len() {
                    break;
                }
                d += 1;
                i = *p;
            }
            d
        };
        self.spans_dropped = spans.len().saturating_sub(MAX_SPANS);
        self.spans = spans
            .iter()
            .enumerate()
            .take(MAX_SPANS)
            .map(|(i, s)| WaterfallSpan {
                span_id: s.span_id.to_string(),
                parent: s.parent.map(|p| p.to_string()),
                name: s.name.clone(),
                component: s.component.clone(),
                depth: depth(i),
                offset_ms: (s.start_ns - start_ns) as f64 / NS_PER_MS,
                duration_ms: s.duration_ns() as f64 / NS_PER_MS,
                error: s.error,
            })
            .collect();
    }
}

/// The trace id of a slow request, parsed back.
pub fn trace_id(r: &SlowRequest) -> Option<TraceId> {
    TraceId::parse(&r.trace_id).ok()
}
