//! `k6gate preflight --env E`: the environment's monitoring (its `monitoring` section), the
//! guard's policy data, the lease in the history, the wall clock: into
//! [`crate::guard::preflight::run`], and the report out as a table or JSON.

use super::{OutputFormat, PreflightArgs, Settings};
use crate::error::{Error, Exit, Result};
use crate::guard::preflight::{self, Lease, Request};
use crate::history::Leases;

/// `--now`: RFC 3339 or a date.
pub fn parse_now(s: &str) -> Result<i64> {
    crate::policy::data::time(s).map_err(|m| Error::Usage(format!("--now: {m}")))
}

/// Runs the checks and records the result in the audit trail (`preflight`: passed or refused,
/// with who, when and the checks; a refusal by the off-peak window too). A configuration error
/// checked nothing and is not recorded.
pub fn run(args: &PreflightArgs, s: &Settings) -> Result<Exit> {
    let checked = checks(args, s);
    let (result, detail) = match &checked {
        Ok(report) => {
            (if report.passed { "passed" } else { "refused" }, serde_json::to_value(report).unwrap_or_default())
        }
        Err(Error::Refused { reason, reschedule }) => {
            ("refused", serde_json::json!({ "reason": reason, "reschedule": reschedule }))
        }
        Err(_) => return checked.map(|_| Exit::Success),
    };
    audit(args, s, result, detail);
    let report = checked?;
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&report).map_err(Error::serialize("preflight report"))?)
        }
        OutputFormat::Text => print!("{}", preflight::table(&report)),
    }
    match report.refusal() {
        Some(refused) => Err(refused),
        None => Ok(Exit::Success),
    }
}

/// The trail is a record, never a gate: a store that does not take the entry is a warning.
fn audit(args: &PreflightArgs, s: &Settings, result: &str, detail: serde_json::Value) {
    let who = s.who();
    let entry = crate::history::NewAuditEntry {
        at_ns: crate::clock::now_ns(),
        environment: Some(args.env.clone()),
        who: who.user.unwrap_or_else(|| "unknown".into()),
        host: who.host,
        kind: "preflight".into(),
        run_id: None,
        result: result.into(),
        detail,
    };
    let written = crate::load::open_history(&s.history())
        .and_then(|store| Ok(crate::history::AuditLog::append_audit(&store, &entry)?));
    if let Err(e) = written {
        tracing::warn!("the audit trail did not take the preflight entry: {e}");
    }
}

fn checks(args: &PreflightArgs, s: &Settings) -> Result<preflight::Report> {
    let (env, _) = crate::render::load_environment(&args.environments, &args.env, &s.env.k6gate(), &[])?;
    let path = args.environments.join(format!("{}.yaml", args.env));
    let monitoring = env.monitoring.ok_or_else(|| {
        Error::input(
            &path,
            None,
            "declares no monitoring stack (a `monitoring` section: prometheus, alertmanagers, grafana, target_job)",
        )
    })?;
    let rules = crate::guard::Rules::load(&s.global.policies)?;
    let Some((thresholds, source)) = rules.config.preflight.as_ref() else {
        return Err(Error::Usage(format!(
            "no guard.preflight in the policy data under {}: preflight has nothing to hold the stack to",
            s.global.policies.display()
        )));
    };
    let wall_ns = crate::clock::now_ns();
    let window_at = args.now.as_deref().map(parse_now).transpose()?.unwrap_or(wall_ns);
    let window = rules.window(&args.env, window_at, false)?;
    let lease = match crate::load::open_history(&s.history()).and_then(|store| Ok(store.held(&args.env, wall_ns)?)) {
        Ok(None) => Lease::Free,
        Ok(Some((holder, until_ns))) => Lease::Held { holder: holder.to_string(), until_ns },
        Err(e) => Lease::Unknown(e.to_string()),
    };
    let request = Request {
        environment: &args.env,
        monitoring: &monitoring,
        rules: thresholds,
        rules_source: source,
        wall_ns,
        now_ns: window_at,
        lease: Some(lease),
        windows: rules.config.windows.get(&args.env).map(|w| w.segments.as_slice()),
        window: Some(&window),
    };
    preflight::run(&request)
}
