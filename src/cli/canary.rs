//! `k6gate canary`: the analysis against a real Prometheus, one look per interval, progress
//! on stderr, the report on stdout, the decision as the exit code.

use crate::canary::policy::{Decision, Rules};
use crate::canary::run::{Clock, Plan, analyse};
use crate::canary::source::Source;
use crate::canary::{CanaryError, report};
use crate::error::{Error, Exit, Result, Service};

use super::canary_report::{Channels, fatal};
use super::github::show_deliveries;
use super::{CanaryArgs, CanaryServeArgs, Settings, VerdictFormat};
use crate::canary::channels::Ended;
use crate::run::outputs::Delivery;

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

fn plan_of(args: &CanaryArgs) -> Result<Plan> {
    let plan = Plan {
        duration_s: args.duration.as_secs(),
        interval_s: args.interval.as_secs(),
        delay_s: args.delay.as_secs_f64(),
    };
    plan.looks().map_err(canary_error)?;
    Ok(plan)
}

fn source_of(args: &CanaryArgs, s: &Settings, rules: &Rules) -> Result<Source> {
    Ok(Source {
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
        saturation: rules.config.saturation.iter().map(|(name, r)| (name.clone(), r.query.clone())).collect(),
    })
}

pub fn run(args: &CanaryArgs, s: &Settings) -> Result<Exit> {
    let plan = plan_of(args)?;
    let rules = Rules::load(&s.global.policies).map_err(canary_error)?;
    let source = source_of(args, s, &rules)?;
    // Where the decision goes, checked before anything is watched.
    let channels = Channels::resolve(args, s, false)?;
    for w in &channels.warnings {
        tracing::warn!("{w}");
    }
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
    let start_ms = now_ms();
    let mut delivered = channels.started(&plan, start_ms);
    show_deliveries(&delivered);
    let result = analyse(
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
    );
    let reason = result.as_ref().err().map(one_line);
    let ended = match &result {
        Ok(a) => Ended::Decided(a),
        Err(_) => Ended::Failed(reason.as_deref().unwrap_or("no decision")),
    };
    let decided = channels.ended(&ended, start_ms, now_ms());
    show_deliveries(&decided);
    delivered.extend(decided);
    // An analysis that could not decide is its error (exit 2), reported or not; that GitHub
    // did not take it either is said here, since the error below is the analysis's.
    let mut analysis = match result {
        Ok(a) => a,
        Err(e) => {
            if let Some(not_reported) = fatal(&delivered) {
                tracing::error!("{}", crate::error::chain(&not_reported));
            }
            return Err(canary_error(e));
        }
    };
    analysis.notes = delivered.iter().filter_map(Delivery::note).collect();
    let text = match args.format {
        VerdictFormat::Text => report::text(&analysis),
        VerdictFormat::Markdown => report::markdown(&analysis),
        VerdictFormat::Json => report::json(&analysis).map_err(Error::serialize("canary analysis"))?,
    };
    println!("{text}");
    // A decision that could not be reported to GitHub is an error, whatever it was.
    if let Some(e) = fatal(&delivered) {
        return Err(e);
    }
    Ok(match analysis.outcome.decision {
        Decision::Promote => Exit::Success,
        Decision::Rollback => Exit::Blocked,
        Decision::Inconclusive | Decision::Continue => Exit::Inconclusive,
    })
}

/// An error and its causes on one line, for headlines and messages.
fn one_line(e: &CanaryError) -> String {
    crate::error::chain(e).replace("\n  caused by: ", ": ")
}

fn now_ms() -> i64 {
    crate::clock::now_ns().div_euclid(1_000_000)
}

/// `k6gate canary serve`: every id the controllers ask for gets one analysis with these flags,
/// in the background (src/canary/serve.rs). Runs until interrupted (Ctrl-C, SIGTERM).
pub fn serve(args: &CanaryServeArgs, s: &Settings) -> Result<Exit> {
    let plan = plan_of(&args.analysis)?;
    // The rules and the source are checked once, before anything listens.
    let rules = Rules::load(&s.global.policies).map_err(canary_error)?;
    let source = source_of(&args.analysis, s, &rules)?;
    let client =
        crate::prom::query::client().map_err(|e| Error::service(Service::Prometheus, "building the HTTP client", e))?;
    let channels = Channels::resolve(&args.analysis, s, true)?;
    for w in &channels.warnings {
        tracing::warn!("{w}");
    }
    let analyser: std::sync::Arc<crate::canary::serve::Analyser> = std::sync::Arc::new(move |id, on_look| {
        let source = Source {
            canary_selector: crate::canary::serve::selector_for(&source.canary_selector, id),
            stable_selector: crate::canary::serve::selector_for(&source.stable_selector, id),
            ..source.clone()
        };
        // Each analysis reports like `k6gate canary` does, to Grafana and the webhook.
        let channels = channels.for_id(id);
        let start_ms = now_ms();
        show_deliveries(&channels.started(&plan, start_ms));
        let result =
            analyse(&rules, &plan, &Wall, |end_s, seconds| source.window(&client, end_s, seconds), |l| on_look(l));
        let reason = result.as_ref().err().map(one_line);
        let ended = match &result {
            Ok(a) => Ended::Decided(a),
            Err(_) => Ended::Failed(reason.as_deref().unwrap_or("no decision")),
        };
        let delivered = channels.ended(&ended, start_ms, now_ms());
        show_deliveries(&delivered);
        result.map(|mut a| {
            a.notes = delivered.iter().filter_map(Delivery::note).collect();
            a
        })
    });
    let registry = crate::canary::serve::Registry::new(analyser);
    let listen = args.listen;
    let rt =
        crate::net::runtime::runtime().map_err(|e| Error::service(Service::Prometheus, "starting the runtime", e))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Error::Usage(format!("--listen {listen}: {e}")))?;
        tracing::info!(
            "canary serve on http://{listen}: GET|POST /v1/canary/{{id}}, POST /v1/flagger/{{confirm-promotion|rollback}}; {} s analyses in {} s looks",
            plan.duration_s,
            plan.interval_s
        );
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        crate::canary::serve::serve(listener, registry, shutdown)
            .await
            .map_err(|e| Error::Usage(format!("serving on {listen}: {e}")))
    })?;
    Ok(Exit::Success)
}
