//! A run's breakdown against the baseline's *stored* breakdown (the baseline run's
//! `verdict.traces`), for `run`, which has the baseline's findings but not its per-request
//! self times. Pure.
//!
//! Without the baseline's samples, Mann-Whitney cannot be run: a component's P95 changed when
//! the two P95s' order-statistic intervals (at the breakdown's level) do not overlap, which is
//! conservative: it says "changed" less often than a test on the samples would. A component
//! without known samples on either side, or without an interval, is never "changed".

use std::collections::BTreeSet;

use super::findings::{ComponentChange, ComponentFinding, TraceFindings};

/// Each component of `baseline` or `candidate`, its P95 against the baseline's.
pub fn compare_stored(baseline: &TraceFindings, candidate: &TraceFindings) -> Vec<ComponentChange> {
    let names: BTreeSet<&String> = baseline.components.keys().chain(candidate.components.keys()).collect();
    names.into_iter().map(|c| change(c, baseline.components.get(c), candidate.components.get(c))).collect()
}

fn change(c: &str, base: Option<&ComponentFinding>, cand: Option<&ComponentFinding>) -> ComponentChange {
    let (bp, kp) = (base.and_then(|b| b.p95_ms), cand.and_then(|k| k.p95_ms));
    let p95_change = match (bp, kp) {
        (Some(b), Some(k)) if b > 0.0 => Some(k / b - 1.0),
        _ => None,
    };
    let interval = |f: Option<&ComponentFinding>| f.and_then(|f| f.p95_ci_ms);
    let changed = match (interval(base), interval(cand)) {
        (Some([blo, bhi]), Some([klo, khi])) => klo > bhi || khi < blo,
        _ => false,
    };
    let text = match (p95_change, bp, kp) {
        (Some(ch), _, _) if changed => format!("{c} P95 {:+.0} %", ch * 100.0),
        (Some(_), _, _) if interval(base).is_some() && interval(cand).is_some() => format!("{c} unchanged"),
        (Some(ch), _, _) => format!("{c} P95 {:+.0} % (too few samples to tell)", ch * 100.0),
        (None, None, Some(_)) => format!("{c} new (no baseline samples)"),
        (None, Some(_), None) => format!("{c} not measured in the candidate"),
        _ => format!("{c} not measured"),
    };
    ComponentChange {
        component: c.to_string(),
        baseline_p95_ms: bp,
        candidate_p95_ms: kp,
        p95_change,
        p_value: None,
        changed,
        text,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn finding(p95: Option<f64>, ci: Option<[f64; 2]>) -> ComponentFinding {
        ComponentFinding {
            samples: if p95.is_some() { 100 } else { 0 },
            unknown: 0,
            coverage: 1.0,
            unknown_reasons: BTreeMap::new(),
            p50_ms: p95.map(|p| p / 2.0),
            p95_ms: p95,
            p99_ms: p95,
            p95_ci_ms: ci,
            share: 0.3,
            histogram: None,
        }
    }

    fn findings(parts: &[(&str, ComponentFinding)]) -> TraceFindings {
        TraceFindings {
            source: "t".into(),
            requests: 100,
            traced: 100,
            untraced: 0,
            confidence: 0.95,
            end_to_end: finding(Some(10.0), Some([9.0, 11.0])),
            components: parts.iter().map(|(c, f)| ((*c).to_string(), f.clone())).collect(),
            comparison: Vec::new(),
            heatmaps: BTreeMap::new(),
            endpoints: Vec::new(),
            slowest: Vec::new(),
            trace_link: None,
        }
    }

    #[test]
    fn a_p95_whose_interval_left_the_baselines_changed_else_unchanged() {
        let base = findings(&[
            ("db", finding(Some(10.0), Some([9.0, 11.0]))),
            ("api", finding(Some(5.0), Some([4.0, 6.0]))),
            ("gone", finding(Some(1.0), Some([0.5, 1.5]))),
            ("few", finding(Some(2.0), None)),
        ]);
        let cand = findings(&[
            ("db", finding(Some(25.0), Some([22.0, 28.0]))),
            ("api", finding(Some(5.5), Some([4.5, 6.5]))),
            ("few", finding(Some(4.0), None)),
            ("new", finding(Some(3.0), Some([2.0, 4.0]))),
        ]);
        let got: BTreeMap<String, ComponentChange> =
            compare_stored(&base, &cand).into_iter().map(|c| (c.component.clone(), c)).collect();
        assert_eq!(got["db"].text, "db P95 +150 %");
        assert!(got["db"].changed);
        assert_eq!((got["api"].text.as_str(), got["api"].changed), ("api unchanged", false));
        assert_eq!(got["few"].text, "few P95 +100 % (too few samples to tell)");
        assert!(!got["few"].changed, "no interval: never changed");
        assert_eq!(got["gone"].text, "gone not measured in the candidate");
        assert_eq!(got["new"].text, "new new (no baseline samples)");
        assert!(got.values().all(|c| c.p_value.is_none()));
    }
}
