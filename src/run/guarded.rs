//! The live guard and teardown verification inside `k6gate run`, for an environment with
//! `live_guard: true` (which needs `monitoring:`): the policy is checked in prepare, the
//! target's baseline read just before k6 starts, the guard run beside k6, teardown watched
//! after it, and what they found put into the verdict.
//!
//! What it does to the outcome: a run the guard stopped is `incomplete` (k6 exited 103); a run
//! whose load the guard lowered or paused is `inconclusive` (it did not measure the planned
//! load), unless it failed anyway; either way it is never a baseline and its verdict says why.
//! Residual impact after the test fails the run.

use std::sync::atomic::AtomicBool;

use super::{Prepared, RunOptions, k6};
use crate::error::{Error, Result};
use crate::guard::live::{Probe, Setup};
use crate::guard::live_rules::{LiveRules, TeardownRules};
use crate::policy::guarded::GuardRecord;
use crate::policy::verdict::{Status, Verdict};
use crate::render::{Monitoring, RampPoint, Rendered};

/// Everything the guard needs, decided before k6 starts.
pub(super) struct Plan {
    rules: crate::guard::Rules,
    live: (LiveRules, String),
    teardown: (TeardownRules, String),
    monitoring: Monitoring,
    ramp: Option<Vec<RampPoint>>,
    requests_metric: String,
    duration_metric: String,
}

/// The guard's plan when the environment asks for it; an error when it does and the policy
/// cannot guard it.
pub(super) fn plan(opts: &RunOptions, guard: &crate::guard::Rules, rendered: &Rendered) -> Result<Option<Plan>> {
    let env = &rendered.environment;
    if !env.live_guard {
        return Ok(None);
    }
    let missing = |what: &str| {
        Error::Usage(format!(
            "environment {} asks for the live guard (live_guard: true), and the policy data has no guard.{what} to guard it by",
            opts.environment
        ))
    };
    let monitoring = env.monitoring.clone().ok_or_else(|| {
        Error::Usage(format!(
            "environment {}: live_guard needs monitoring.prometheus to read the target",
            opts.environment
        ))
    })?;
    let live = guard.config.live.clone().ok_or_else(|| missing("live"))?;
    let teardown = guard.config.teardown.clone().ok_or_else(|| missing("teardown"))?;
    let target = guard.config.preflight.as_ref().map(|(p, _)| p.target.clone());
    Ok(Some(Plan {
        rules: guard.clone(),
        live,
        teardown,
        monitoring,
        ramp: crate::render::guard_ramp(env),
        requests_metric: target.as_ref().map_or("http_server_requests_total".into(), |t| t.requests_metric.clone()),
        duration_metric: target
            .as_ref()
            .map_or("http_server_request_duration_seconds".into(), |t| t.duration_metric.clone()),
    }))
}

/// k6 for the candidate's run, with the guard beside it and teardown after it when planned.
pub(super) fn run_k6(opts: &RunOptions, p: &Prepared) -> Result<k6::K6Run> {
    run_attempt(opts, p, &p.first)
}

/// k6 for one attempt (the candidate or a confirmation re-run, whose script the guard must
/// drive just the same).
pub(super) fn run_attempt(opts: &RunOptions, p: &Prepared, a: &super::Attempt) -> Result<k6::K6Run> {
    let (script, dir, rw) = (&a.script, &a.run_dir, opts.remote_write.as_ref());
    let Some(plan) = &p.live else { return k6::run_with(script, dir, opts.quiet_k6, rw) };
    let probe =
        Probe::new(&plan.monitoring, &plan.requests_metric, &plan.duration_metric, &plan.live.0.in_flight_metric)
            .map_err(|e| Error::Usage(format!("the live guard cannot read Prometheus: {e}")))?;
    let before = crate::guard::teardown::baseline(&probe, &plan.teardown.0);
    tracing::info!("guard: the target before the test: {}", before.describe());
    let wall = crate::clock::now_ns;
    let beside = |address: &str, done: &AtomicBool| -> GuardRecord {
        let api = match crate::guard::k6api::K6Api::new(address) {
            Ok(api) => api,
            Err(e) => return GuardRecord { problems: vec![e.to_string()], ..GuardRecord::default() },
        };
        let setup = Setup {
            rules: &plan.rules,
            live: &plan.live.0,
            source: &plan.live.1,
            probe: probe.clone(),
            ramp: plan.ramp.clone(),
            wall_ns: &wall,
        };
        crate::guard::live::watch(&setup, &api, done)
    };
    let mut run = k6::run_guarded(script, dir, opts.quiet_k6, rw, Some(&beside))?;
    let teardown = crate::guard::teardown::watch(&probe, &plan.teardown.0, &plan.teardown.1, &before);
    tracing::info!("guard: teardown: {}", teardown.summary);
    run.guard.get_or_insert_with(GuardRecord::default).teardown = Some(teardown);
    Ok(run)
}

/// Puts the guard's record into the verdict, with what it means; the reason the run fails
/// when teardown found residual impact.
pub(super) fn apply(verdict: &mut Verdict, guard: Option<&GuardRecord>) -> Option<String> {
    let g = guard?;
    verdict.guard = Some(g.clone());
    let actions = |g: &GuardRecord| {
        g.actions
            .iter()
            .filter(|a| a.error.is_none())
            .map(|a| format!("{} at {:.0} s ({})", a.action, a.t_s, a.reason))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if let Some(stop) = g.stopped() {
        verdict.notes.push(format!(
            "the live guard stopped k6 {:.0} s into the test: {}; a run the guard stopped is never a baseline (actions: {})",
            stop.t_s,
            stop.reason,
            actions(g)
        ));
    } else if g.acted() {
        verdict.notes.push(format!(
            "the live guard changed the load ({}): the run did not measure the planned load, so it is inconclusive unless it \
             failed, and never a baseline",
            actions(g)
        ));
        if matches!(verdict.outcome, Status::Pass | Status::Warn) {
            verdict.outcome = Status::Inconclusive;
            verdict.headline = format!("INCONCLUSIVE: the live guard changed the load; {}", verdict.headline);
        }
    }
    for problem in &g.problems {
        verdict.notes.push(format!("live guard: {problem}"));
    }
    let t = g.teardown.as_ref()?;
    if t.recovered {
        verdict.notes.push(format!("teardown: {}", t.summary));
        return None;
    }
    verdict.outcome = Status::Fail;
    verdict.headline = format!("FAIL: residual impact after the test; {}", verdict.headline);
    let why = format!("teardown: {}", t.summary);
    verdict.notes.push(why.clone());
    Some(why)
}
