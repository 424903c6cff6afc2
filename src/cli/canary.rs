//! `k6gate canary`: the analysis against a real Prometheus, one look per interval, progress
//! on stderr, the report on stdout, the decision as the exit code.

use crate::canary::policy::{Decision, Rules};
use crate::canary::run::{Clock, Plan, analyse};
use crate::canary::source::Source;
use crate::canary::{CanaryError, report};
use crate::error::{Error, Exit, Result, Service};

use super::{CanaryArgs, Settings, VerdictFormat};

/// The wall clock; sleeping is the thread's.
struct Wall;

impl Clock for Wall {
    fn now_s(&self) -> f64 {
        crate::clock::now_ns() as f64 / 1e9
    }
    fn sleep_until(&self, unix_s: f64) {
        let wait = unix_s - self.now_s();
        if wait > 0.0 {
            std::thread::sleep(std::time::Duration::from_secs_f64(wait));
        }
    }
}

fn canary_error(e: CanaryError) -> Error {
    match e {
        CanaryError::PolicyFiles(p) => Error::Policy(p),
        CanaryError::Plan(m) => Error::Usage(m),
        e @ CanaryError::Prometheus(_) => Error::service(Service::Prometheus, "canary analysis", e),
        e => Error::Usage(e.to_string()),
    }
}

pub fn run(args: &CanaryArgs, s: &Settings) -> Result<Exit> {
    let plan = Plan {
        duration_s: args.duration.as_secs(),
        interval_s: args.interval.as_secs(),
        delay_s: args.delay.as_secs_f64(),
    };
    plan.looks().map_err(canary_error)?;
    let rules = Rules::load(&s.global.policies).map_err(canary_error)?;
    let source = Source {
        url: args.prometheus.trim_end_matches('/').to_string(),
        tenant: args.tenant.clone(),
        auth: s.remote_write_auth()?,
        canary_selector: args.canary_selector.clone(),
        stable_selector: args.stable_selector.clone(),
        latency_metric: args.latency_metric.clone(),
        latency_matchers: args.latency_matchers.clone(),
        requests_metric: args.requests_metric.clone(),
        route_label: args.route_label.clone(),
        status_label: args.status_label.clone(),
    };
    let client =
        crate::prom::query::client().map_err(|e| Error::service(Service::Prometheus, "building the HTTP client", e))?;
    tracing::info!(
        "canary analysis: {} s in {} s looks against {}; canary {{{}}}, stable {{{}}}",
        plan.duration_s,
        plan.interval_s,
        source.url,
        source.canary_selector,
        source.stable_selector
    );
    let analysis = analyse(
        &rules,
        &plan,
        &Wall,
        |end_s, seconds| source.window(&client, end_s, seconds),
        |l| {
            eprintln!(
                "look {}/{}: canary {:.0} requests, stable {:.0}; level {:.4}: {}",
                l.look.index,
                l.look.planned,
                l.canary.requests,
                l.stable.requests,
                l.look.level,
                report::decision_word(l.decision).to_lowercase()
            );
        },
    )
    .map_err(canary_error)?;
    let text = match args.format {
        VerdictFormat::Text => report::text(&analysis),
        VerdictFormat::Markdown => report::markdown(&analysis),
        VerdictFormat::Json => report::json(&analysis).map_err(Error::serialize("canary analysis"))?,
    };
    println!("{text}");
    Ok(match analysis.outcome.decision {
        Decision::Promote => Exit::Success,
        Decision::Rollback => Exit::Blocked,
        Decision::Inconclusive | Decision::Continue => Exit::Inconclusive,
    })
}
