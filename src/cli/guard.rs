//! `k6gate guard restore` (the Grafana folder permissions still saved in the store, put back)
//! and `k6gate audit --trail` (the store's audit trail beside the policy commits).

use super::{AuditArgs, AuditFormat, Settings};
use crate::error::{Error, Exit, Result, Service};
use crate::guard::readonly::{self, Actor, ReadonlyError};
use crate::history::{AuditLog, AuditQuery};

/// Who runs this command, for the audit trail.
pub fn actor(s: &Settings) -> Actor {
    let who = s.who();
    Actor { who: who.user.unwrap_or_else(|| "unknown".into()), host: who.host }
}

pub fn restore(s: &Settings) -> Result<Exit> {
    let store = crate::load::open_history(&s.history())?;
    let saved = store.saved_permissions(None)?;
    if saved.is_empty() {
        println!("no saved Grafana folder permissions: nothing to restore");
        return Ok(Exit::Success);
    }
    let Some(grafana) = s.grafana()? else {
        let folders: Vec<String> = saved.iter().map(|p| format!("{} on {}", p.folder_uid, p.grafana)).collect();
        return Err(Error::Usage(format!(
            "{} folder(s) have saved permissions ({}), and K6GATE_GRAFANA_URL is not set: set it and \
             K6GATE_GRAFANA_TOKEN to the Grafana they belong to",
            saved.len(),
            folders.join(", ")
        )));
    };
    match readonly::restore(&store, &grafana, &actor(s), crate::clock::now_ns()) {
        Ok(done) => {
            for f in &done.folders {
                println!("restored Grafana folder {f} on {}", grafana.display_url());
            }
            if done.elsewhere.is_empty() {
                Ok(Exit::Success)
            } else {
                let others: Vec<String> = done.elsewhere.iter().map(|(g, f)| format!("{f} on {g}")).collect();
                Err(Error::Usage(format!(
                    "saved permissions of another Grafana are left: {}; run again with K6GATE_GRAFANA_URL set to it",
                    others.join(", ")
                )))
            }
        }
        Err(ReadonlyError::Store(e)) => Err(e.into()),
        Err(e) => Err(Error::service(Service::Grafana, "restoring folder permissions", e)),
    }
}

pub fn audit_trail(args: &AuditArgs, s: &Settings) -> Result<Exit> {
    let since_ns = match &args.since {
        Some(v) => Some(crate::policy::data::time(v).map_err(|m| Error::Usage(format!("--since: {m}")))?),
        None => None,
    };
    let store = crate::load::open_history(&s.history())?;
    let entries = store.audit_entries(&AuditQuery { environment: args.env.clone(), since_ns })?;
    let changes = crate::audit::policy_changes(&s.global.policies, since_ns)
        .map_err(|e| Error::service(Service::Git, "reading the policy history", e))?;
    let events = crate::audit::timeline(entries, changes);
    match args.format {
        AuditFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&events).map_err(Error::serialize("audit trail"))?)
        }
        AuditFormat::Markdown => print!("{}", crate::audit::text(&events)),
    }
    Ok(Exit::Success)
}
