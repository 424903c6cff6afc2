//! The series a run will create, bounded from above before k6 starts, against the test's
//! budget in the cardinality policy (`policies/data/cardinality.yaml`).
//!
//! Live series (k6's remote write, native histograms: one series per Trend and label set),
//! with, from the rendered template (k6gate's runtime left out): `R` request call sites
//! (`http.get(`, `http.post(`, ...), `G` group paths (`group(` calls, plus the root), `C`
//! check names (at most one per `=>` or `function` in the template), `T` custom metrics
//! (`timers([...])` names, `new Trend(`/`Counter(`/`Rate(`/`Gauge(`, and k6gate's
//! `k6gate_think_ms`); from the plan: `S` stages, plus one for samples before the first
//! stage tag; from the policy: `K` status values per endpoint; for an `https` target, `P` = 2
//! when `proto` is an allowed label (HTTP/1.1 and HTTP/2, which k6 negotiates only over TLS)
//! and `V` = 2 when `tls_version` is (TLS 1.2 and 1.3), else 1:
//!
//! ```text
//! live = 9·R·G·S·K·P·V      http_req_{duration,blocked,connecting,tls_handshaking,sending,
//!                           waiting,receiving}, http_reqs, http_req_failed; per call site,
//!                           in any group (a call site's name and method are fixed)
//!      + C'·G·S             checks (C' = C when `check` is a label, else 1)
//!      + G·S                group_duration
//!      + 2·G·S              data_sent, data_received
//!      + 2·S                iterations, iteration_duration
//!      + T·G·S              custom metrics
//!      + 3                  vus, vus_max, dropped_iterations
//! published = 1 + (S' + 2)·(1 + 5·(1 + R))   k6gate_run_* (`prom::publish::series_bound`),
//!                                            S' tagged phases, R endpoint groups
//! ```
//!
//! Run-level tags (test name, environment, the per-run identifiers that are labels) have one
//! value in a run and multiply nothing. A factor counts each value a label can take at most
//! once, so the sum is an upper bound, provided every request call site has a fixed `name`
//! tag: a template with fewer `name:` tags than call sites, or with `http.batch`/
//! `http.asyncRequest` (whose requests cannot be counted), cannot be bounded and is refused.

use crate::error::{Error, Result};
use crate::policy::cardinality::{CardinalityPolicy, Target};

/// The estimate and its factors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Estimate {
    pub live: u64,
    pub published: u64,
    pub requests: u64,
    pub groups: u64,
    pub checks: u64,
    pub custom: u64,
    pub stages: u64,
}

impl Estimate {
    pub fn total(&self) -> u64 {
        self.live + self.published
    }

    /// The formula with its numbers, for the refusal.
    pub fn breakdown(&self) -> String {
        format!(
            "{} live (k6 remote write: {} request call sites, {} group paths, {} stage values, {} check names, {} custom \
             metrics) + {} published (k6gate_run_*); see the README's \"Cardinality\" for the formula",
            self.live, self.requests, self.groups, self.stages, self.checks, self.custom, self.published
        )
    }
}

const CALLS: [&str; 8] = [
    "http.get(",
    "http.post(",
    "http.put(",
    "http.patch(",
    "http.del(",
    "http.head(",
    "http.options(",
    "http.request(",
];

fn count(text: &str, needle: &str) -> u64 {
    text.matches(needle).count() as u64
}

/// Names listed in `timers([...])`.
fn timer_names(text: &str) -> u64 {
    text.match_indices("timers([")
        .map(|(i, m)| {
            let rest = text.get(i + m.len()..).unwrap_or_default();
            let list = rest.split("])").next().unwrap_or_default();
            list.split(',').filter(|s| !s.trim().is_empty()).count() as u64
        })
        .sum()
}

/// The upper bound for one run of `test`: `script` is the rendered script, `plan_stages` the
/// plan's stage count, `https` whether the target is, `live`/`published` whether those series
/// are written at all.
pub fn estimate(
    script: &str,
    plan_stages: usize,
    policy: &CardinalityPolicy,
    test: &str,
    https: bool,
    live: bool,
    published: bool,
) -> std::result::Result<Estimate, String> {
    let template = script.replacen(crate::render::RUNTIME, "", 1);
    for unbounded in ["http.batch(", "http.asyncRequest(", "k6gateHttp."] {
        if template.contains(unbounded) {
            return Err(format!("the script calls {unbounded}...), whose requests the series estimate cannot count"));
        }
    }
    let requests = CALLS.iter().map(|c| count(&template, c)).sum::<u64>();
    let names = count(&template, "name:");
    if names < requests {
        return Err(format!(
            "the script has {requests} request call sites but only {names} `name:` tags: a request without a fixed name \
             tag gets one label value per URL, so the run's series cannot be bounded"
        ));
    }
    let groups = count(&template, "group(") + 1;
    let checks = count(&template, "=>") + count(&template, "function");
    let custom = timer_names(&template)
        + ["new Trend(", "new Counter(", "new Rate(", "new Gauge("].iter().map(|n| count(&template, n)).sum::<u64>()
        + 1;
    let stages = plan_stages as u64 + 1;
    let allowed = |l: &str| policy.allows(test, Target::Live, l);
    let two_if = |l: &str| if https && allowed(l) { 2 } else { 1 };
    let check_values = if allowed("check") { checks.max(1) } else { 1 };
    let k = policy.status_values;
    let live_series = if live {
        let gs = groups.saturating_mul(stages);
        9u64.saturating_mul(requests)
            .saturating_mul(gs)
            .saturating_mul(k)
            .saturating_mul(two_if("proto"))
            .saturating_mul(two_if("tls_version"))
            .saturating_add(check_values.saturating_mul(gs))
            .saturating_add(gs)
            .saturating_add(2 * gs)
            .saturating_add(2 * stages)
            .saturating_add(custom.saturating_mul(gs))
            .saturating_add(3)
    } else {
        0
    };
    let published_series = if published { crate::prom::publish::series_bound(plan_stages as u64, requests) } else { 0 };
    Ok(Estimate {
        live: live_series,
        published: published_series,
        requests,
        groups,
        checks: check_values,
        custom,
        stages,
    })
}

/// Refuses a run whose estimate is over the test's budget (exit 2, before k6 starts).
pub fn check_budget(
    rendered: &crate::render::Rendered,
    policy: &CardinalityPolicy,
    test: &str,
    live: bool,
    published: bool,
) -> Result<Option<Estimate>> {
    let (script, plan_stages) = (&rendered.script, rendered.plan.len());
    let https = rendered.environment.base_url.trim_start().to_ascii_lowercase().starts_with("https:");
    if !live && !published {
        return Ok(None);
    }
    let budget = policy.budget(test);
    let refuse = |estimate: u64, breakdown: String| Error::OverBudget {
        test: test.to_string(),
        estimate,
        budget: budget.entry,
        file: budget.source.file.clone(),
        line: budget.source.line,
        breakdown,
    };
    let e = estimate(script, plan_stages, policy, test, https, live, published).map_err(|reason| {
        Error::SeriesUnbounded {
            test: test.to_string(),
            budget: budget.entry,
            file: budget.source.file.clone(),
            line: budget.source.line,
            reason,
        }
    })?;
    if e.total() > budget.entry {
        return Err(refuse(e.total(), e.breakdown()));
    }
    tracing::debug!("series estimate {} within the budget of {}: {}", e.total(), budget.entry, e.breakdown());
    Ok(Some(e))
}
