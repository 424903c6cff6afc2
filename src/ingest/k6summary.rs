//! k6's end-of-test summaries: `--summary-export` (legacy) and the `handleSummary()` data.
//! Both hold whole-run aggregates only; k6gate reports what they hold and invents nothing.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::samples::Format;
use crate::samples::metric::{self, Contains, MetricKind, MetricType};
use crate::summary::{GroupStats, MetricSummary, PhaseSummary, Quantiles, RateStats, Throughput};

/// Reads a summary document into a whole-run phase. Returns the phase and the test duration
/// when the document knows it (handleSummary's `state.testRunDurationMs`).
pub fn read_summary(doc: &Value, format: Format) -> Result<(PhaseSummary, Option<f64>), String> {
    let metrics = doc.get("metrics").and_then(Value::as_object).ok_or("no \"metrics\" object")?;
    let nested = format == Format::HandleSummary;
    let mut out = BTreeMap::new();
    for (name, m) in metrics {
        let values = if nested { m.get("values").unwrap_or(&Value::Null) } else { m };
        if !values.is_object() {
            return Err(format!("metrics.{name}: expected an object of values"));
        }
        let declared = m
            .get("type")
            .and_then(Value::as_str)
            .map(|t| MetricKind::parse(t).ok_or_else(|| format!("metrics.{name}.type: unknown metric type {t:?}")));
        let kind = match declared {
            Some(k) => Some(k?),
            None => base_builtin(name).map(|t| t.kind).or_else(|| guess_kind(values)),
        };
        // An unknown `contains` is an error, like an unknown `type`: it decides the unit.
        let contains = match m.get("contains").and_then(Value::as_str) {
            Some(c) => Contains::parse(c).ok_or_else(|| format!("metrics.{name}.contains: unknown value {c:?}"))?,
            None => base_builtin(name).map_or(Contains::Default, |t| t.contains),
        };
        out.insert(name.clone(), metric_from_values(name, kind.map(|kind| MetricType { kind, contains }), values)?);
    }
    let duration_s = doc.pointer("/state/testRunDurationMs").and_then(Value::as_f64).map(|ms| ms / 1000.0);
    let get = |n: &str| out.get(n);
    let reqs = get(metric::HTTP_REQS);
    let requests = reqs.and_then(|m| m.sum).unwrap_or(0.0).round() as u64;
    let rps = reqs.and_then(|m| m.rate).unwrap_or(0.0);
    let failed = get(metric::HTTP_REQ_FAILED);
    let rate_stats = |m: &MetricSummary| {
        let passes = m.sum.unwrap_or(0.0) as u64;
        RateStats { passes, fails: m.count.saturating_sub(passes), rate: m.rate }
    };
    let counter_rate = |n: &str| get(n).and_then(|m| m.rate).unwrap_or(0.0);
    let total = GroupStats {
        key: BTreeMap::new(),
        requests,
        requests_per_s: rps,
        latency_ms: get(metric::HTTP_REQ_DURATION).and_then(|m| m.quantiles.clone()).map(|mut q| {
            q.count = requests;
            q
        }),
        failed: failed.and_then(|m| m.sum).unwrap_or(0.0) as u64,
        error_rate: failed.and_then(|m| m.rate),
        status_classes: BTreeMap::new(),
        checks: get(metric::CHECKS).map(rate_stats),
        throughput: Some(Throughput {
            iterations: get(metric::ITERATIONS).and_then(|m| m.sum).unwrap_or(0.0) as u64,
            iterations_per_s: counter_rate(metric::ITERATIONS),
            data_received_bytes_per_s: counter_rate(metric::DATA_RECEIVED),
            data_sent_bytes_per_s: counter_rate(metric::DATA_SENT),
            vus_max: get(metric::VUS).and_then(|m| m.max),
            dropped_iterations: get("dropped_iterations").and_then(|m| m.sum).unwrap_or(0.0) as u64,
        }),
        latency_sketch: None,
    };
    let phase = PhaseSummary {
        name: "whole-run".into(),
        start: None,
        end: None,
        duration_s: duration_s.unwrap_or(if rps > 0.0 { requests as f64 / rps } else { 0.0 }),
        windows: 0,
        total,
        groups: Vec::new(),
        metrics: out,
    };
    Ok((phase, duration_s))
}

/// Submetrics (`http_req_duration{expected_response:true}`) have their parent's type.
fn base_builtin(name: &str) -> Option<MetricType> {
    metric::builtin(name.split('{').next().unwrap_or(name))
}

fn guess_kind(v: &Value) -> Option<MetricKind> {
    if v.get("passes").is_some() {
        Some(MetricKind::Rate)
    } else if v.get("count").is_some() {
        Some(MetricKind::Counter)
    } else if v.get("avg").is_some() || v.get("med").is_some() {
        Some(MetricKind::Trend)
    } else if v.get("value").is_some() {
        Some(MetricKind::Gauge)
    } else {
        None
    }
}

fn metric_from_values(name: &str, ty: Option<MetricType>, v: &Value) -> Result<MetricSummary, String> {
    let num = |k: &str| -> Result<Option<f64>, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(format!("metrics.{name}.{k}: expected a number, found {other}")),
        }
    };
    let mut s = MetricSummary {
        ty,
        count: 0,
        sum: None,
        rate: None,
        min: None,
        max: None,
        last: None,
        quantiles: None,
        sketch: None,
    };
    match ty.map(|t| t.kind) {
        Some(MetricKind::Counter) => {
            s.sum = num("count")?;
            s.count = s.sum.unwrap_or(0.0) as u64;
            s.rate = num("rate")?;
        }
        Some(MetricKind::Rate) => {
            let passes = num("passes")?.unwrap_or(0.0);
            let fails = num("fails")?.unwrap_or(0.0);
            s.count = (passes + fails) as u64;
            s.sum = Some(passes);
            s.rate = num("rate")?.or(num("value")?);
        }
        Some(MetricKind::Gauge) => {
            s.last = num("value")?;
            s.min = num("min")?;
            s.max = num("max")?;
        }
        Some(MetricKind::Trend) | None => {
            s.min = num("min")?;
            s.max = num("max")?;
            s.quantiles = Some(Quantiles {
                count: 0,
                p50: num("med")?.or(num("p(50)")?),
                p90: num("p(90)")?,
                p95: num("p(95)")?,
                p99: num("p(99)")?,
                min: s.min,
                max: s.max,
                mean: num("avg")?,
            });
        }
    }
    Ok(s)
}
