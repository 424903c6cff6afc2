//! Span metrics: a run's trace breakdown (`traces::TraceFindings`) as one sample per series
//! at the run's time, pushed with remote write like the run's own series (`publish.rs`).
//!
//! | series                                    | value                                   |
//! |-------------------------------------------|-----------------------------------------|
//! | `k6gate_component_latency_p50_seconds`    | the component's self time, P50 (ms/1000) |
//! | `k6gate_component_latency_p95_seconds`    | P95                                     |
//! | `k6gate_component_latency_p99_seconds`    | P99                                     |
//! | `k6gate_component_coverage_ratio`         | requests with its time known, 0..1      |
//! | `k6gate_component_share_ratio`            | its share of end-to-end time, 0..1      |
//!
//! | `k6gate_component_latency_seconds`       | native histogram of the self times, per endpoint `group` |
//!
//! Labels: the run's identity (`test_name`, `environment`, `deployment_version`, `testid`; an
//! empty one is left out) and `component` (`end-to-end` for k6's own total). A quantile the
//! breakdown does not know (no samples) is left out, never zero; no series is NaN.
//!
//! The native histogram (`traces::views::LatencyHistogram`, schema 3: a quantile read from it
//! is within 9.05 % of the exact one) is one series per endpoint group and component, so
//! `histogram_quantile(0.95, sum by (component) (k6gate_component_latency_seconds{...}))` is
//! the run's per-component P95 and `by (component, group)` the endpoint's. Prometheus must run
//! with `--enable-feature=native-histograms`, or it refuses the whole push. The quantile
//! gauges above stay for dashboards that read them. With a cardinality policy, an identity
//! label it does not allow for the test's published series is left out (`series_allowed`).

use crate::policy::cardinality::{CardinalityPolicy, Target};
use crate::prom::remote_write::{Histogram, InvalidSeries, Sample, TimeSeries};
use crate::traces::TraceFindings;
use crate::traces::findings::ComponentFinding;
use crate::traces::views::LatencyHistogram;

pub const P50: &str = "k6gate_component_latency_p50_seconds";
pub const P95: &str = "k6gate_component_latency_p95_seconds";
pub const P99: &str = "k6gate_component_latency_p99_seconds";
pub const COVERAGE: &str = "k6gate_component_coverage_ratio";
pub const SHARE: &str = "k6gate_component_share_ratio";

/// The native histogram of each component's self times, per endpoint group.
pub const HISTOGRAM: &str = "k6gate_component_latency_seconds";

/// Every series name of a breakdown.
pub const METRICS: [&str; 6] = [P50, P95, P99, COVERAGE, SHARE, HISTOGRAM];

/// The component name of k6's end-to-end time.
pub const END_TO_END: &str = "end-to-end";

/// `findings` as series at `at_ms` (Unix ms), each with the labels `identity`.
pub fn series(
    findings: &TraceFindings,
    identity: &[(&str, String)],
    at_ms: i64,
) -> Result<Vec<TimeSeries>, InvalidSeries> {
    let mut out = Vec::new();
    let components = std::iter::once((END_TO_END, &findings.end_to_end))
        .chain(findings.components.iter().map(|(n, c)| (n.as_str(), c)));
    for (name, c) in components {
        push_component(&mut out, name, c, identity, at_ms, name != END_TO_END)?;
    }
    for e in &findings.endpoints {
        for (component, h) in &e.histograms {
            let labels = identity
                .iter()
                .map(|(n, v)| (*n, v.clone()))
                .chain([("component", component.clone()), ("group", e.group.clone())])
                .chain(e.phase.iter().map(|p| ("test_stage", p.clone())));
            out.push(TimeSeries::native(HISTOGRAM, labels, vec![native(h, at_ms)])?);
        }
    }
    Ok(out)
}

/// [`series`] with the identity labels `policy` does not allow for `test`'s published series
/// left out (`component` and `group` are the series' own dimensions and always kept).
pub fn series_allowed(
    findings: &TraceFindings,
    identity: &[(&str, String)],
    at_ms: i64,
    test: &str,
    policy: Option<&CardinalityPolicy>,
) -> Result<Vec<TimeSeries>, InvalidSeries> {
    let kept: Vec<(&str, String)> =
        identity.iter().filter(|(n, _)| policy.is_none_or(|p| p.allows(test, Target::Published, n))).cloned().collect();
    series(findings, &kept, at_ms)
}

fn native(h: &LatencyHistogram, at_ms: i64) -> Histogram {
    Histogram::from_buckets(h.schema, h.zero_threshold_s, h.zero_count, &h.buckets, h.sum_s, at_ms)
}

fn push_component(
    out: &mut Vec<TimeSeries>,
    name: &str,
    c: &ComponentFinding,
    identity: &[(&str, String)],
    at_ms: i64,
    with_ratios: bool,
) -> Result<(), InvalidSeries> {
    let seconds = |ms: Option<f64>| ms.map(|v| v / 1000.0);
    let ratios = if with_ratios {
        [(COVERAGE, Some(c.coverage)), (SHARE, Some(c.share))]
    } else {
        [(COVERAGE, None), (SHARE, None)]
    };
    let values =
        [(P50, seconds(c.p50_ms)), (P95, seconds(c.p95_ms)), (P99, seconds(c.p99_ms))].into_iter().chain(ratios);
    for (metric, value) in values {
        let Some(value) = value.filter(|v| v.is_finite()) else { continue };
        let labels = identity.iter().map(|(n, v)| (*n, v.clone())).chain([("component", name.to_string())]);
        out.push(TimeSeries::new(metric, labels, vec![Sample { value, timestamp: at_ms }])?);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(samples: usize, p95: Option<f64>) -> ComponentFinding {
        ComponentFinding {
            samples,
            unknown: 0,
            coverage: if samples > 0 { 1.0 } else { 0.0 },
            unknown_reasons: Default::default(),
            p50_ms: p95.map(|v| v / 2.0),
            p95_ms: p95,
            p99_ms: p95,
            p95_ci_ms: None,
            share: 0.25,
            histogram: None,
        }
    }

    #[test]
    fn each_component_is_a_labelled_series_and_unknown_quantiles_are_left_out() {
        let f = TraceFindings {
            source: "t".into(),
            requests: 10,
            traced: 10,
            untraced: 0,
            confidence: 0.95,
            end_to_end: finding(10, Some(100.0)),
            components: [("db".to_string(), finding(10, Some(40.0))), ("cache".to_string(), finding(0, None))]
                .into_iter()
                .collect(),
            comparison: vec![],
            heatmaps: Default::default(),
            endpoints: vec![],
            slowest: vec![],
            trace_link: None,
        };
        let id = [("test_name", "tiers".to_string()), ("deployment_version", String::new())];
        let s = series(&f, &id, 1_000).unwrap();
        let find = |metric: &str, c: &str| {
            s.iter().find(|t| t.label("__name__") == Some(metric) && t.label("component") == Some(c))
        };
        assert_eq!(find(P95, "db").unwrap().samples[0].value, 0.04);
        assert_eq!(find(P95, END_TO_END).unwrap().samples[0].value, 0.1);
        assert!(find(COVERAGE, END_TO_END).is_none());
        assert!(find(P95, "cache").is_none(), "no samples: no quantile, never zero");
        assert_eq!(find(COVERAGE, "cache").unwrap().samples[0].value, 0.0);
        assert_eq!(find(P95, "db").unwrap().label("test_name"), Some("tiers"));
        assert_eq!(find(P95, "db").unwrap().label("deployment_version"), None);
        // 3 quantiles for end-to-end; db 3 + 2 ratios; cache 2 ratios.
        assert_eq!(s.len(), 10);
    }
}
