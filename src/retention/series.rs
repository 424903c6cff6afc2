//! Coarsening a stored summary's time series, without knowing the summary's types.
//!
//! A summary keeps its time series under top-level keys named `series` or `series_<name>`.
//! A *series object* is any JSON object there with a numeric `window_s` (today's `series` is
//! one: per-second windows, `window_s: 1`). Coarser series plug in beside or inside it with
//! their own `window_s`: as an array of series objects under `series` (or `series_<name>`),
//! as further `series_<name>` keys, or nested inside a series object. For a run allowed
//! windows of at least `r` seconds:
//! - a series object with `window_s >= r` stays;
//! - one below `r` is replaced by the finest series object nested inside it that is allowed,
//!   or by `null` when there is none (in an array, it is removed instead);
//! - with no series allowed at all (the run is past its last tier), every one goes.
//!
//! Nothing else in the summary changes: its whole-run and per-phase statistics and sketches
//! stay, so any quantile of an old run is still answered at the sketch's stated accuracy.

use serde_json::Value;

use crate::policy::retention::Keep;

/// Coarsens the series of `summary` to what `keep` allows. Returns whether anything changed.
pub fn coarsen(summary: &mut Value, keep: Keep) -> bool {
    let min = match keep {
        Keep::SeriesFrom(w) => Some(w),
        Keep::NoSeries => None,
        // A run past its period is deleted, not coarsened.
        Keep::Nothing => return false,
    };
    let Some(top) = summary.as_object_mut() else { return false };
    let mut changed = false;
    for (key, value) in top.iter_mut() {
        if key == "series" || key.starts_with("series_") {
            changed |= coarsen_value(value, min);
        }
    }
    changed
}

fn window_s(v: &Value) -> Option<f64> {
    v.as_object()?.get("window_s")?.as_f64()
}

fn allowed(window: f64, min: Option<f64>) -> bool {
    min.is_some_and(|m| window >= m)
}

/// Coarsens `v` in place; `true` when it changed.
fn coarsen_value(v: &mut Value, min: Option<f64>) -> bool {
    match v {
        Value::Array(items) => {
            let mut changed = false;
            let mut gone = Vec::new();
            for (i, item) in items.iter_mut().enumerate() {
                let was_null = item.is_null();
                changed |= coarsen_value(item, min);
                if !was_null && item.is_null() {
                    gone.push(i);
                }
            }
            // A series object that had to go leaves no `null` behind in a list. Only those:
            // a series' own arrays hold `null` for windows without a sample, aligned with
            // `start_unix_s`, and must stay as they are.
            for i in gone.into_iter().rev() {
                items.remove(i);
            }
            changed
        }
        Value::Object(_) => match window_s(v) {
            Some(w) if allowed(w, min) => {
                let mut changed = false;
                if let Value::Object(map) = v {
                    for (k, child) in map.iter_mut() {
                        if k != "window_s" {
                            changed |= coarsen_value(child, min);
                        }
                    }
                }
                changed
            }
            Some(_) => {
                *v = finest_allowed(v, min).unwrap_or(Value::Null);
                true
            }
            None => {
                let mut changed = false;
                if let Value::Object(map) = v {
                    for child in map.values_mut() {
                        changed |= coarsen_value(child, min);
                    }
                }
                changed
            }
        },
        _ => false,
    }
}

/// The finest allowed series object nested in `v` (not `v` itself), coarsened in turn.
fn finest_allowed(v: &Value, min: Option<f64>) -> Option<Value> {
    let mut found: Vec<&Value> = Vec::new();
    collect_series(v, &mut found, true);
    let best = found
        .into_iter()
        .filter(|s| window_s(s).is_some_and(|w| allowed(w, min)))
        .min_by(|a, b| window_s(a).unwrap_or(f64::MAX).total_cmp(&window_s(b).unwrap_or(f64::MAX)))?;
    let mut best = best.clone();
    coarsen_value(&mut best, min);
    Some(best)
}

fn collect_series<'a>(v: &'a Value, out: &mut Vec<&'a Value>, root: bool) {
    if !root && window_s(v).is_some() {
        out.push(v);
        return;
    }
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_series(i, out, false)),
        Value::Object(map) => map.values().for_each(|c| collect_series(c, out, false)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn today() -> Value {
        json!({
            "schema_version": "k6gate.run-summary/1",
            "whole_run": {"latency_ms": {"p99": 412.0}, "sketch": {"bins": [1, 2, 3]}},
            "steady_state": {"window_s": 1.0, "trimmed_s": 4.0},
            "series": {"window_s": 1.0, "start_unix_s": [1, 2], "total": {"p99_ms": [1.0, 2.0]}},
        })
    }

    #[test]
    fn series_finer_than_the_tier_go_and_nothing_else_changes() {
        let mut s = today();
        assert!(!coarsen(&mut s, Keep::SeriesFrom(1.0)), "1 s series at a 1 s tier stay");
        assert_eq!(s, today());
        assert!(coarsen(&mut s, Keep::SeriesFrom(10.0)));
        assert_eq!(s["series"], Value::Null);
        // Only top-level series keys are looked at: steady_state's window_s is not a series.
        assert_eq!(s["steady_state"], today()["steady_state"]);
        assert_eq!(s["whole_run"], today()["whole_run"]);
        assert!(!coarsen(&mut s, Keep::NoSeries), "already without series");
    }

    #[test]
    fn a_coarser_series_nested_or_beside_replaces_the_finer_one() {
        let nested = json!({"series": {"window_s": 1.0, "points": [1],
            "coarser": [{"window_s": 10.0, "points": [10]}, {"window_s": 60.0, "points": [60]}]}});
        let mut s = nested.clone();
        assert!(coarsen(&mut s, Keep::SeriesFrom(10.0)));
        assert_eq!(s["series"], json!({"window_s": 10.0, "points": [10]}));
        let mut s = nested.clone();
        assert!(coarsen(&mut s, Keep::SeriesFrom(60.0)));
        assert_eq!(s["series"], json!({"window_s": 60.0, "points": [60]}));
        let mut s = nested;
        assert!(coarsen(&mut s, Keep::NoSeries));
        assert_eq!(s["series"], Value::Null);

        let listed = json!({"series": [{"window_s": 1.0}, {"window_s": 10.0}, {"window_s": 60.0}],
            "series_by_group": {"window_s": 60.0, "groups": []}});
        let mut s = listed.clone();
        assert!(coarsen(&mut s, Keep::SeriesFrom(10.0)));
        assert_eq!(s["series"], json!([{"window_s": 10.0}, {"window_s": 60.0}]));
        assert_eq!(s["series_by_group"], listed["series_by_group"]);
        assert!(!coarsen(&mut s, Keep::SeriesFrom(10.0)), "coarsening twice changes nothing more");
        assert!(coarsen(&mut s, Keep::NoSeries));
        assert_eq!(s["series"], json!([]));
        assert_eq!(s["series_by_group"], Value::Null);
    }

    #[test]
    fn an_allowed_series_keeps_its_empty_windows() {
        // `null` marks a window without a sample; removing it would shift every later window.
        let gappy = json!({"series": {"window_s": 1.0, "start_unix_s": [1, 2, 3],
            "total": {"p95_ms": [1.0, null, 3.0]}, "groups": [{"p95_ms": [null, 2.0, null]}]}});
        let mut s = gappy.clone();
        assert!(!coarsen(&mut s, Keep::SeriesFrom(1.0)));
        assert_eq!(s, gappy);
    }

    #[test]
    fn a_summary_without_series_is_left_alone() {
        let mut s = json!({"schema_version": "x", "series": null});
        assert!(!coarsen(&mut s, Keep::NoSeries));
        let mut s = json!([1, 2]);
        assert!(!coarsen(&mut s, Keep::NoSeries));
    }
}
