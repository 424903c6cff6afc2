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
    /// Where the guard's critical alerts go: the environment's Alertmanagers, else the
    /// notification webhook.
    alerting: crate::guard::alerting::Alerting,
}

/// The guard's plan when the environment asks for it; an error when it does and the policy
/// cannot guard it.
pub(super) fn plan(
    opts: &RunOptions,
    guard: &crate::guard::Rules,
    rendered: &Rendered,
    notifications: Option<&crate::policy::data::Notifications>,
) -> Result<Option<Plan>> {
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
    // The fallback is the webhook blocked deployments are announced on, when it is set.
    let fallback = notifications
        .zip(opts.outputs.webhook.as_ref())
        .and_then(|(n, w)| w.vars.get(&n.webhook_url_env))
        .map(crate::net::Secret::new);
    let labels = [("environment", &opts.environment), ("test", &opts.test)]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let alerting =
        crate::guard::alerting::Alerting { alertmanagers: monitoring.alertmanagers.clone(), fallback, labels };
    Ok(Some(Plan {
        alerting,
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
    // The pressure brackets k6 alone: dropped (the workers stopped) on every path out.
    let pressure = p
        .pressure
        .as_ref()
        .map(|(pr, timeout_s)| super::pressure::Running::start(pr, *timeout_s, &a.run_dir))
        .transpose()?;
    // k6 (started from this thread) off the pressed CPUs: the service, not k6, is to starve.
    let kept = p.pressure.as_ref().and_then(|(pr, _)| super::pressure::KeepOff::cpus(&pr.cpus));
    let mut run = guarded_k6(opts, p, a)?;
    let k6_cpus = kept.map(|k| format!("; k6 kept to CPU {}", k.kept));
    run.pressure = pressure.map(|r| {
        let mut held = r.stop();
        held.description.push_str(k6_cpus.as_deref().unwrap_or(""));
        held
    });
    Ok(run)
}

fn guarded_k6(opts: &RunOptions, p: &Prepared, a: &super::Attempt) -> Result<k6::K6Run> {
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
            alerting: Some(&plan.alerting),
        };
        crate::guard::live::watch(&setup, &api, done)
    };
    let mut run = k6::run_guarded(script, dir, opts.quiet_k6, rw, Some(&beside))?;
    let teardown = crate::guard::teardown::watch(&probe, &plan.teardown.0, &plan.teardown.1, &before);
    tracing::info!("guard: teardown: {}", teardown.summary);
    run.guard.get_or_insert_with(GuardRecord::default).teardown = Some(teardown);
    Ok(run)
}

/// What the guard's record does to a verdict: its outcome, a headline prefix, the notes that
/// say why, and the reason the run fails when teardown found residual impact. Pure.
#[derive(Debug, PartialEq)]
struct Effect {
    outcome: Status,
    headline: Option<&'static str>,
    notes: Vec<String>,
    failed: Option<String>,
}

fn effect(outcome: Status, g: &GuardRecord) -> Effect {
    let mut e = Effect { outcome, headline: None, notes: Vec::new(), failed: None };
    let actions = g
        .actions
        .iter()
        .filter(|a| a.error.is_none())
        .map(|a| format!("{} at {:.0} s ({})", a.action, a.t_s, a.reason))
        .collect::<Vec<_>>()
        .join("; ");
    if let Some(stop) = g.stopped() {
        e.notes.push(format!(
            "the live guard stopped k6 {:.0} s into the test: {}; a run the guard stopped is never a baseline (actions: {actions})",
            stop.t_s, stop.reason
        ));
    } else if g.acted() {
        e.notes.push(format!(
            "the live guard changed the load ({actions}): the run did not measure the planned load, so it is inconclusive \
             unless it failed, and never a baseline"
        ));
        if matches!(outcome, Status::Pass | Status::Warn) {
            e.outcome = Status::Inconclusive;
            e.headline = Some("INCONCLUSIVE: the live guard changed the load; ");
        }
    }
    e.notes.extend(g.problems.iter().map(|p| format!("live guard: {p}")));
    if let Some(t) = &g.teardown {
        let note = format!("teardown: {}", t.summary);
        e.notes.push(note.clone());
        if !t.recovered {
            e.outcome = Status::Fail;
            e.headline = Some("FAIL: residual impact after the test; ");
            e.failed = Some(note);
        }
    }
    e
}

/// Puts the guard's record into the verdict, with what it means; the reason the run fails
/// when teardown found residual impact.
pub(super) fn apply(verdict: &mut Verdict, guard: Option<&GuardRecord>) -> Option<String> {
    let g = guard?;
    let e = effect(verdict.outcome, g);
    verdict.guard = Some(g.clone());
    verdict.outcome = e.outcome;
    if let Some(prefix) = e.headline {
        verdict.headline = format!("{prefix}{}", verdict.headline);
    }
    verdict.notes.extend(e.notes);
    e.failed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::guarded::{GuardAction, Reading, Teardown};

    fn action(kind: &str, error: Option<&str>) -> GuardAction {
        GuardAction {
            action: kind.into(),
            at: "2026-12-06T21:00:00.000Z".into(),
            t_s: 7.0,
            reason: "error_rate 0.2 over 0.05 (asks to lower)".into(),
            reading: Reading::default(),
            vus_before: Some(10),
            vus_after: Some(5),
            took_ms: 40.0,
            error: error.map(str::to_string),
        }
    }

    fn teardown(recovered: bool) -> Teardown {
        Teardown {
            recovered,
            recovered_in_s: recovered.then_some(4.0),
            baseline: Reading::default(),
            max_error_rate: Some(0.01),
            max_p95_ms: Some(40.0),
            max_in_flight: Some(2.0),
            summary: if recovered { "recovered in 4 s".into() } else { "residual impact: P95 190 ms".into() },
            samples: vec![],
            rules: "policies/data/guard.yaml:70".into(),
        }
    }

    #[test]
    fn a_lowered_run_is_inconclusive_unless_it_failed_and_a_stopped_one_says_so() {
        let lowered = GuardRecord { actions: vec![action("lower", None)], ..GuardRecord::default() };
        let e = effect(Status::Pass, &lowered);
        assert_eq!(e.outcome, Status::Inconclusive);
        assert!(
            e.notes[0].contains("changed the load (lower at 7 s (error_rate 0.2")
                && e.notes[0].contains("never a baseline")
        );
        assert_eq!(effect(Status::Fail, &lowered).outcome, Status::Fail, "a failure under less load stands");
        let stopped =
            GuardRecord { actions: vec![action("lower", None), action("stop", None)], ..GuardRecord::default() };
        let e = effect(Status::Pass, &stopped);
        assert!(e.notes[0].starts_with("the live guard stopped k6 7 s into the test"), "{:?}", e.notes);
        // An action k6 refused changed nothing.
        let refused = GuardRecord { actions: vec![action("lower", Some("HTTP 500"))], ..GuardRecord::default() };
        assert_eq!(
            effect(Status::Pass, &refused),
            Effect { outcome: Status::Pass, headline: None, notes: vec![], failed: None }
        );
    }

    #[test]
    fn residual_impact_fails_the_run_and_recovery_is_a_note() {
        let healthy = GuardRecord { teardown: Some(teardown(true)), ..GuardRecord::default() };
        let e = effect(Status::Pass, &healthy);
        assert_eq!((e.outcome, e.notes.as_slice()), (Status::Pass, &["teardown: recovered in 4 s".to_string()][..]));
        let hurt = GuardRecord { teardown: Some(teardown(false)), ..GuardRecord::default() };
        let e = effect(Status::Pass, &hurt);
        assert_eq!(e.outcome, Status::Fail);
        assert_eq!(e.failed.as_deref(), Some("teardown: residual impact: P95 190 ms"));
        assert_eq!(e.headline, Some("FAIL: residual impact after the test; "));
    }
}
