//! The one line that names a verdict: a check run's title, a notification's headline.

use crate::compare::Metric;
use crate::policy::verdict::{RuleKind, Status, Verdict};

fn short_metric(m: Metric) -> &'static str {
    match m {
        Metric::P50Ms => "P50",
        Metric::P95Ms => "P95",
        Metric::P99Ms => "P99",
        Metric::ErrorRate => "Error rate",
        Metric::RequestsPerS => "Throughput",
    }
}

/// "P95 +15.2 % over budget (checkout, staging)"; more failures are counted.
pub fn title(v: &Verdict) -> String {
    let scope = format!("({}, {})", v.test, v.environment);
    let failing: Vec<_> = v.results.iter().filter(|r| r.status == v.outcome && r.status != Status::Pass).collect();
    let Some(first) = failing.first() else {
        return format!("Passed: within SLAs and regression budgets {scope}");
    };
    let metric = Metric::from_name(&first.metric);
    let what = match (metric, first.comparison.as_ref()) {
        (Some(m), Some(c)) => {
            let change = match (m, c.abs_change, c.rel_change) {
                (Metric::ErrorRate, Some(a), _) if first.kind != RuleKind::Sla => format!(" {:+.2} pp", a * 100.0),
                (_, _, Some(r)) if first.kind != RuleKind::Sla => format!(" {:+.1} %", r * 100.0),
                (_, _, _) => {
                    c.candidate.map(|x| format!(" {}", crate::policy::verdict::fmt_value(m, x))).unwrap_or_default()
                }
            };
            let why = match &first.kind {
                RuleKind::Sla => "over SLA",
                RuleKind::Budget => "over budget",
                RuleKind::Window => "above the migration window ceiling",
                RuleKind::Ratchet => "worse than the previous run",
                other => other.name(),
            };
            let group = if first.group.is_empty() || first.group == crate::compare::ALL {
                String::new()
            } else {
                format!(" [{}]", first.group)
            };
            format!("{}{group}{change} {why}", short_metric(m))
        }
        _ => clip(&first.message, 80),
    };
    let more = if failing.len() > 1 { format!(" and {} more", failing.len() - 1) } else { String::new() };
    let prefix = match v.outcome {
        Status::Warn => "Warning: ",
        Status::Inconclusive => "Inconclusive: ",
        _ => "",
    };
    format!("{prefix}{what}{more} {scope}")
}

/// `s` cut to `n` characters, with an ellipsis when cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n { s.to_string() } else { format!("{}…", s.chars().take(n).collect::<String>()) }
}
