//! Grafana read-only during a load test: the folders the policy names for an environment
//! (`guard.readonly.<env>.folders`) switch to view-only before k6 starts, and their saved
//! permissions are put back afterwards.
//!
//! The order is what makes it safe to be killed at any point:
//! 1. read the folder's permissions (`GET`), and save them in the store (committed);
//! 2. only then lower Edit to View (`POST`).
//!
//! A crash after 1 leaves a saved row whose restore is harmless (it posts what was there); a
//! crash after 2 leaves a view-only folder that `k6gate guard restore`, or the next `run`,
//! puts back from the row. A row is forgotten only once Grafana took its permissions back,
//! and a folder already saved is never saved again (the store refuses it). Every switch and
//! restore goes into the audit trail with its result.
//!
//! Nothing here prints or reads the clock: times are arguments.

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::grafana::annotate::{Annotation, GrafanaConfig};
use crate::grafana::folders::{self, FolderError, Item};
use crate::history::{AuditLog, HistoryError, NewAuditEntry, SavedPermissions};

/// One environment's folders, as the policy data gives them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReadonlyEnv {
    /// Grafana folder uids.
    pub folders: Vec<String>,
}

impl ReadonlyEnv {
    /// The key to blame and why, when the list cannot work.
    pub(super) fn check(&self) -> Result<(), String> {
        if self.folders.is_empty() {
            return Err("folders: list at least one folder uid (or remove the environment)".into());
        }
        for (i, f) in self.folders.iter().enumerate() {
            if f.trim().is_empty() || f.len() > 40 {
                return Err(format!("folders[{i}]: {f:?} is not a Grafana folder uid (1 to 40 characters)"));
            }
            if self.folders.iter().take(i).any(|x| x == f) {
                return Err(format!("folders[{i}]: {f:?} is listed twice"));
            }
        }
        Ok(())
    }
}

/// Who acts, for the audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub who: String,
    pub host: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadonlyError {
    #[error(transparent)]
    Store(#[from] HistoryError),
    /// A folder could not be switched; the ones switched before it were put back (or are
    /// listed in `left`, still saved for `guard restore`).
    #[error("cannot make Grafana folder {folder} view-only: {source}{}", left_note(left))]
    Switch { folder: String, source: Box<FolderError>, left: Vec<String> },
    /// Some folders' permissions could not be put back: they stay saved in the store.
    #[error("{} Grafana folder(s) not restored, still saved in the store: {}; run `k6gate guard restore` when Grafana answers", failed.len(), failed.iter().map(|(f, why)| format!("{f} ({why})")).collect::<Vec<_>>().join("; "))]
    Restore { failed: Vec<(String, String)> },
}

fn left_note(left: &[String]) -> String {
    if left.is_empty() {
        String::new()
    } else {
        format!("; folder(s) {} could not be put back and stay saved: run `k6gate guard restore`", left.join(", "))
    }
}

/// What a restore did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Restored {
    pub folders: Vec<String>,
    /// Saved folders of another Grafana, left alone (this configuration holds no token for it).
    pub elsewhere: Vec<(String, String)>,
}

fn audit(
    store: &dyn AuditLog,
    actor: &Actor,
    at_ns: i64,
    (environment, run_id): (&str, Option<&str>),
    kind: &str,
    result: String,
    detail: serde_json::Value,
) -> Result<(), HistoryError> {
    let entry = NewAuditEntry {
        at_ns,
        environment: Some(environment.to_string()).filter(|e| !e.is_empty()),
        who: actor.who.clone(),
        host: actor.host.clone(),
        kind: kind.into(),
        run_id: run_id.map(str::to_string),
        result,
        detail,
    };
    store.append_audit(&entry).map(drop)
}

/// Makes `folders` view-only for a run of `environment`, saving each folder's permissions in
/// the store first. On an error the folders switched so far are put back before returning.
pub fn switch(
    store: &dyn AuditLog,
    grafana: &GrafanaConfig,
    environment: &str,
    run_id: Option<&str>,
    folders: &[String],
    actor: &Actor,
    now_ns: i64,
) -> Result<Vec<String>, ReadonlyError> {
    let url = grafana.display_url();
    let mut done = Vec::new();
    for folder in folders {
        let result = switch_one(store, grafana, &url, environment, run_id, folder, now_ns);
        match result {
            Ok(detail) => {
                audit(store, actor, now_ns, (environment, run_id), "readonly-switch", "ok".into(), detail)?;
                done.push(folder.clone());
            }
            Err(e) => {
                let why = e.to_string();
                audit(
                    store,
                    actor,
                    now_ns,
                    (environment, run_id),
                    "readonly-switch",
                    format!("failed: {why}"),
                    json!({ "grafana": url, "folder": folder }),
                )?;
                // Back to how it was, this folder included (it may be saved, or even switched
                // when Grafana applied the POST and the answer was lost).
                let left = match restore(store, grafana, actor, now_ns) {
                    Ok(_) => Vec::new(),
                    Err(ReadonlyError::Restore { failed }) => failed.into_iter().map(|(f, _)| f).collect(),
                    Err(other) => return Err(other),
                };
                return match e {
                    SwitchError::Grafana(source) => {
                        Err(ReadonlyError::Switch { folder: folder.clone(), source: Box::new(source), left })
                    }
                    SwitchError::Store(h) => Err(ReadonlyError::Store(h)),
                };
            }
        }
    }
    Ok(done)
}

#[derive(Debug, thiserror::Error)]
enum SwitchError {
    #[error(transparent)]
    Grafana(#[from] FolderError),
    #[error(transparent)]
    Store(#[from] HistoryError),
}

fn switch_one(
    store: &dyn AuditLog,
    grafana: &GrafanaConfig,
    url: &str,
    environment: &str,
    run_id: Option<&str>,
    folder: &str,
    now_ns: i64,
) -> Result<serde_json::Value, SwitchError> {
    let before = folders::get(grafana, folder)?;
    let items = serde_json::to_value(&before)
        .map_err(|e| HistoryError::Invalid { path: url.into(), message: format!("folder {folder}: {e}") })?;
    store.save_permissions(&SavedPermissions {
        grafana: url.to_string(),
        folder_uid: folder.to_string(),
        environment: environment.to_string(),
        run_id: run_id.map(str::to_string),
        saved_at_ns: now_ns,
        items,
    })?;
    let after: Vec<Item> = before.iter().map(Item::view_only).collect();
    folders::set(grafana, folder, &after)?;
    let lowered = before.iter().filter(|i| i.permission == folders::EDIT).count();
    Ok(json!({ "grafana": url, "folder": folder, "items": before.len(), "edit_lowered_to_view": lowered }))
}

/// Puts back every folder saved for this Grafana, oldest first, and forgets each one Grafana
/// took back. Folders that fail stay saved, and the error lists them; the others are done.
pub fn restore(
    store: &dyn AuditLog,
    grafana: &GrafanaConfig,
    actor: &Actor,
    now_ns: i64,
) -> Result<Restored, ReadonlyError> {
    let url = grafana.display_url();
    let mut out = Restored::default();
    for s in store.saved_permissions(None)? {
        if s.grafana != url {
            out.elsewhere.push((s.grafana, s.folder_uid));
        }
    }
    let mut failed = Vec::new();
    for saved in store.saved_permissions(Some(&url))? {
        let (env, run) = (saved.environment.clone(), saved.run_id.clone());
        let items: Result<Vec<Item>, _> = serde_json::from_value(saved.items.clone());
        let result = match items {
            Err(e) => {
                Err(format!("the saved permissions do not read back ({e}); restore them by hand: {}", saved.items))
            }
            Ok(items) => folders::set(grafana, &saved.folder_uid, &items).map_err(|e| e.to_string()),
        };
        let detail = json!({ "grafana": url, "folder": saved.folder_uid, "saved_at_ns": saved.saved_at_ns });
        match result {
            Ok(()) => {
                store.forget_permissions(&url, &saved.folder_uid)?;
                audit(store, actor, now_ns, (&env, run.as_deref()), "readonly-restore", "ok".into(), detail)?;
                out.folders.push(saved.folder_uid);
            }
            Err(why) => {
                let result = format!("failed: {why}");
                audit(store, actor, now_ns, (&env, run.as_deref()), "readonly-restore", result, detail)?;
                failed.push((saved.folder_uid, why));
            }
        }
    }
    if failed.is_empty() { Ok(out) } else { Err(ReadonlyError::Restore { failed }) }
}

/// The guard's Grafana annotation for one thing it did (`readonly-switch`, `readonly-restore`,
/// `guard-action`, `teardown`): a point tagged `k6gate`, `guard`, `guard:<kind>`,
/// `env:<environment>` and `run:<id>`, shown on the load-test health dashboard.
pub fn annotation(kind: &str, environment: &str, run_id: Option<&str>, text: &str, at_ns: i64) -> Annotation {
    let mut tags = vec![
        crate::grafana::generate::ANNOTATION_TAG.to_string(),
        crate::grafana::generate::GUARD_ANNOTATION_TAG.to_string(),
        format!("guard:{kind}"),
        format!("env:{environment}"),
    ];
    if let Some(id) = run_id {
        tags.push(format!("run:{id}"));
    }
    Annotation {
        time_ms: crate::grafana::annotate::ns_to_ms_floor(at_ns),
        time_end_ms: None,
        tags,
        text: crate::escape::escape_html(&format!("k6gate guard, {environment}: {text}")),
        dashboard_uid: None,
        panel_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_list_is_checked() {
        let env = |f: &[&str]| ReadonlyEnv { folders: f.iter().map(|s| s.to_string()).collect() };
        assert!(env(&["ops", "payments"]).check().is_ok());
        assert!(env(&[]).check().unwrap_err().starts_with("folders:"));
        assert!(env(&["ops", "ops"]).check().unwrap_err().contains("listed twice"));
        assert!(env(&[" "]).check().unwrap_err().starts_with("folders[0]"));
    }

    #[test]
    fn view_only_lowers_edit_and_keeps_view_and_admin() {
        let item = |p| Item { role: Some("Editor".into()), team_id: None, user_id: None, permission: p };
        assert_eq!(item(2).view_only().permission, 1);
        assert_eq!(item(1).view_only().permission, 1);
        assert_eq!(item(4).view_only().permission, 4);
    }

    #[test]
    fn an_annotation_is_tagged_for_the_health_dashboard() {
        let a = annotation("readonly-switch", "prod", Some("r1"), "folders <ops> view-only", 1_500_000_000_000_000_000);
        assert_eq!(a.tags, ["k6gate", "guard", "guard:readonly-switch", "env:prod", "run:r1"]);
        assert_eq!(a.time_ms, 1_500_000_000_000);
        assert!(a.text.contains("&lt;ops&gt;"), "{}", a.text);
    }
}
