//! k6's end-of-test summaries: `--summary-export` (legacy) and the `handleSummary()` data.
//! Both hold whole-run aggregates only; k6gate reports what they hold and invents nothing.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::samples::Format;
use crate::samples::metric::{self, Contains, MetricKind, MetricType};
use crate::summary::whole_run::{Export, Exported, Values};

/// Reads a summary document into what it exports, for [`crate::summary::whole_run`].
pub fn read_summary(doc: &Value, format: Format) -> Result<Export, String> {
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
        out.insert(name.clone(), exported(name, kind.map(|kind| MetricType { kind, contains }), values)?);
    }
    let duration_s = doc.pointer("/state/testRunDurationMs").and_then(Value::as_f64).map(|ms| ms / 1000.0);
    Ok(Export { metrics: out, duration_s })
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

/// The numbers of one metric, by the names k6 exports them under for its type.
fn exported(name: &str, ty: Option<MetricType>, v: &Value) -> Result<Exported, String> {
    let num = |k: &str| -> Result<Option<f64>, String> {
        match v.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(format!("metrics.{name}.{k}: expected a number, found {other}")),
        }
    };
    // Fields are read in the order of the struct literals: the first bad one is reported.
    let values = match ty.map(|t| t.kind) {
        Some(MetricKind::Counter) => Values::Counter { count: num("count")?, rate: num("rate")? },
        Some(MetricKind::Rate) => {
            Values::Rate { passes: num("passes")?, fails: num("fails")?, rate: num("rate")?.or(num("value")?) }
        }
        Some(MetricKind::Gauge) => Values::Gauge { value: num("value")?, min: num("min")?, max: num("max")? },
        Some(MetricKind::Trend) | None => Values::Trend {
            min: num("min")?,
            max: num("max")?,
            p50: num("med")?.or(num("p(50)")?),
            p90: num("p(90)")?,
            p95: num("p(95)")?,
            p99: num("p(99)")?,
            avg: num("avg")?,
        },
    };
    Ok(Exported { ty, values })
}
