//! Synthetic comparisons for evaluating verdicts without k6, the way `tests/policy_cases.rs`
//! builds them: a v1.0.0 -> v1.1.0 comparison of one test in one environment, and the
//! policy request for it on 2026-12-01.

use std::path::Path;

use k6gate::compare::{Comparison, Metric, MetricComparison, RunIdentity, State};
use k6gate::policy::data;
use k6gate::policy::verdict::Request;

/// The shipped `policies/` directory.
pub const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

/// When the verdicts are evaluated.
pub const NOW: &str = "2026-12-01T00:00:00Z";

/// A complete run of `test` in `env` at `version`, read from `source`, with 30 s of warm-up
/// trimmed.
pub fn identity(source: &str, test: &str, env: &str, version: &str) -> RunIdentity {
    RunIdentity {
        source: source.into(),
        test_name: Some(test.into()),
        environment: Some(env.into()),
        deployment_version: Some(version.into()),
        git_commit: None,
        start: None,
        complete: true,
        issues: vec![],
        trimmed_s: Some(30.0),
        load_model: None,
        load_generator: None,
        series_window_s: None,
    }
}

/// `metric` of group `all` from `baseline` to `candidate`, with its p-value and the
/// confidence interval of the effect: relative for latencies (60 windows each side),
/// absolute for the error rate (6000 requests each side).
pub fn metric(metric: Metric, baseline: f64, candidate: f64, p_value: f64, ci: (f64, f64)) -> MetricComparison {
    let rel = candidate / baseline - 1.0;
    let abs = candidate - baseline;
    let error = metric == Metric::ErrorRate;
    MetricComparison {
        group: "all".into(),
        metric,
        state: State::Ok,
        reason: None,
        baseline: Some(baseline),
        candidate: Some(candidate),
        abs_change: Some(abs),
        rel_change: Some(rel),
        p_value: Some(p_value),
        effect: Some(if error { abs } else { rel }),
        ci_low: Some(ci.0),
        ci_high: Some(ci.1),
        baseline_samples: if error { 6000 } else { 60 },
        candidate_samples: if error { 6000 } else { 60 },
        between: None,
    }
}

/// [`metric`] for P95.
pub fn p95(baseline: f64, candidate: f64, p_value: f64, ci: (f64, f64)) -> MetricComparison {
    metric(Metric::P95Ms, baseline, candidate, p_value, ci)
}

/// `test` in `env`, v1.0.0 (from `v1.0.0.json`) -> v1.1.0 (from `v1.1.0.json`), steady
/// state at 95 % confidence.
pub fn comparison(test: &str, env: &str, metrics: Vec<MetricComparison>) -> Comparison {
    Comparison {
        phase: "steady-state".into(),
        confidence: 0.95,
        baseline: identity("v1.0.0.json", test, env, "v1.0.0"),
        candidate: identity("v1.1.0.json", test, env, "v1.1.0"),
        baselines: Vec::new(),
        confirmations: Vec::new(),
        metrics,
    }
}

/// The policy request for `comparison` at [`NOW`]: a baseline exists, no previous run.
pub fn request<'a>(test: &'a str, env: &'a str, comparison: &'a Comparison) -> Request<'a> {
    Request {
        test,
        environment: env,
        now_ns: data::time(NOW).unwrap(),
        comparison,
        previous: None,
        no_baseline: false,
        baseline_reason: None,
    }
}

/// Copies the shipped `policies/*.rego` into `to`, without the Rego unit tests.
pub fn copy_shipped_rego(to: &Path) {
    for e in std::fs::read_dir(SHIPPED).unwrap().map(|e| e.unwrap()) {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rego") && !name.ends_with("_test.rego") {
            std::fs::copy(e.path(), to.join(&name)).unwrap();
        }
    }
}
