//! What `run` writes into the audit trail, and the Grafana read-only switch around k6.
//!
//! - A refused start (window, preflight) is an entry `refused` with the reason.
//! - Before k6: the Grafana folders left view-only by a run that died are put back first,
//!   then the policy's folders for this environment switch to view-only (`guard::readonly`).
//!   Either failing refuses the run: k6 never starts with folders in an unknown state.
//! - After k6 (and any confirmation re-runs), whatever happened: the folders are put back; a
//!   failure there is a problem of the run, and the folders stay saved for `guard restore`.
//! - The run's outcome, each guard action and the teardown result are entries of their own.
//!
//! The trail is a record, never a gate: failing to write an entry is logged, and the run goes
//! on (except the saved permissions, which the store must hold before Grafana is touched).

use serde_json::json;

use super::RunOptions;
use crate::error::{Error, Result, Service};
use crate::grafana::annotate::GrafanaConfig;
use crate::guard::readonly::{self, Actor, ReadonlyError};
use crate::history::{AuditLog, NewAuditEntry};
use crate::policy::guarded::GuardRecord;

pub(super) fn actor(opts: &RunOptions) -> Actor {
    Actor { who: opts.who.user.clone().unwrap_or_else(|| "unknown".into()), host: opts.who.host.clone() }
}

fn append(
    store: &dyn AuditLog,
    opts: &RunOptions,
    run_id: Option<&str>,
    kind: &str,
    result: String,
    detail: serde_json::Value,
) {
    let a = actor(opts);
    let entry = NewAuditEntry {
        at_ns: crate::clock::now_ns().max(opts.now_ns),
        environment: Some(opts.environment.clone()),
        who: a.who,
        host: a.host,
        kind: kind.into(),
        run_id: run_id.map(str::to_string),
        result,
        detail,
    };
    if let Err(e) = store.append_audit(&entry) {
        tracing::warn!("the audit trail did not take a {kind} entry: {e}");
    }
}

/// Posts the guard's annotation when Grafana is configured; a Grafana that does not take it
/// queues it like every annotation, and never changes the run.
fn annotate(opts: &RunOptions, kind: &str, run_id: Option<&str>, text: &str) {
    let Some(g) = opts.outputs.grafana.as_ref() else { return };
    let at = crate::clock::now_ns().max(opts.now_ns);
    let a = readonly::annotation(kind, &opts.environment, run_id, text, at);
    let queue = crate::grafana::annotate::Queue::new(&g.queue_dir);
    if let Err(e) = crate::grafana::annotate::send_or_queue(&g.config, &queue, &a) {
        tracing::warn!("the guard's {kind} annotation was neither sent nor queued: {e}");
    }
}

/// A run that did not start because the guard refused it (window or preflight).
pub(super) fn refused(opts: &RunOptions, error: &Error) {
    let Error::Refused { reason, reschedule } = error else { return };
    let history = crate::history::HistoryConfig { state_dir: opts.state_dir.clone(), remote: None };
    match crate::load::open_history(&history) {
        Ok(store) => append(
            &store,
            opts,
            None,
            "refused",
            "refused".into(),
            json!({ "test": opts.test, "reason": reason, "reschedule": reschedule }),
        ),
        Err(e) => tracing::warn!("the audit trail cannot record the refusal: {e}"),
    }
}

/// Folders switched to view-only for this run, to put back after k6.
pub(super) struct Switched {
    grafana: GrafanaConfig,
    folders: Vec<String>,
}

/// Before k6: leftovers restored, then the environment's folders made view-only.
pub(super) fn begin(
    opts: &RunOptions,
    store: &dyn AuditLog,
    guard: &crate::guard::Rules,
    run_id: &str,
) -> Result<Option<Switched>> {
    let who = actor(opts);
    let now = crate::clock::now_ns().max(opts.now_ns);
    let wanted = guard.config.readonly.get(&opts.environment);
    let grafana = opts.outputs.grafana.as_ref().map(|g| g.config.clone());
    let leftovers = store.saved_permissions(None)?;
    if !leftovers.is_empty() {
        let Some(grafana) = &grafana else {
            return Err(Error::Usage(format!(
                "{} Grafana folder(s) are still view-only from an earlier run (saved in the store) and Grafana is not \
                 configured: set K6GATE_GRAFANA_URL and K6GATE_GRAFANA_TOKEN and run `k6gate guard restore`",
                leftovers.len()
            )));
        };
        let done = readonly::restore(store, grafana, &who, now).map_err(refuse)?;
        if !done.folders.is_empty() {
            tracing::warn!(
                "put back Grafana folder(s) {} left view-only by an earlier run that did not finish",
                done.folders.join(", ")
            );
        }
    }
    let Some((env, source)) = wanted else { return Ok(None) };
    let grafana = grafana.ok_or_else(|| {
        Error::Usage(format!(
            "{source}: guard.readonly.{} makes Grafana folders view-only during its tests, and Grafana is not \
             configured: set K6GATE_GRAFANA_URL and K6GATE_GRAFANA_TOKEN",
            opts.environment
        ))
    })?;
    let folders =
        readonly::switch(store, &grafana, &opts.environment, Some(run_id), &env.folders, &who, now).map_err(refuse)?;
    tracing::info!("Grafana folder(s) {} are view-only until the test ends", folders.join(", "));
    annotate(opts, "readonly-switch", Some(run_id), &format!("folders {} view-only", folders.join(", ")));
    Ok(Some(Switched { grafana, folders }))
}

fn refuse(e: ReadonlyError) -> Error {
    match e {
        ReadonlyError::Store(h) => h.into(),
        other => Error::service(Service::Grafana, "making folders view-only", other),
    }
}

/// After k6: the folders put back. `Some(problem)` when some are still view-only.
pub(super) fn end(opts: &RunOptions, store: &dyn AuditLog, run_id: &str, switched: Option<Switched>) -> Option<String> {
    let s = switched?;
    let now = crate::clock::now_ns().max(opts.now_ns);
    let (text, left) = match readonly::restore(store, &s.grafana, &actor(opts), now) {
        Ok(done) => (format!("folders {} restored", done.folders.join(", ")), None),
        Err(e) => {
            let left = format!("Grafana folder(s) {} not all restored: {e}", s.folders.join(", "));
            (left.clone(), Some(left))
        }
    };
    tracing::info!("{text}");
    annotate(opts, "readonly-restore", Some(run_id), &text);
    left
}

/// The run's outcome, the guard's actions and the teardown result.
pub(super) fn recorded(
    store: &dyn AuditLog,
    opts: &RunOptions,
    run_id: &str,
    outcome: &str,
    problem: Option<&str>,
    guard: Option<&GuardRecord>,
) {
    let detail = json!({ "test": opts.test, "version": opts.deployment_version, "problem": problem });
    append(store, opts, Some(run_id), "run", outcome.to_string(), detail);
    let Some(g) = guard else { return };
    for a in &g.actions {
        let result = match &a.error {
            None => a.action.clone(),
            Some(e) => format!("{} failed: {e}", a.action),
        };
        let detail = json!({ "at": a.at, "t_s": a.t_s, "reason": a.reason, "vus_before": a.vus_before, "vus_after": a.vus_after });
        annotate(opts, "guard-action", Some(run_id), &format!("{result}: {}", a.reason));
        append(store, opts, Some(run_id), "guard-action", result, detail);
    }
    if let Some(t) = &g.teardown {
        let result = if t.recovered { "recovered" } else { "residual impact" };
        let detail = json!({ "summary": t.summary, "recovered_in_s": t.recovered_in_s });
        annotate(opts, "teardown", Some(run_id), &t.summary);
        append(store, opts, Some(run_id), "teardown", result.into(), detail);
    }
}
