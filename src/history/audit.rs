//! The audit trail and the Grafana folder permissions the guard saved (schema version 7).
//!
//! The audit trail is append-only: who did what to which environment, when, and the result,
//! with its details as JSON the store never reads. The saved permissions are a folder's
//! permission items (JSON, as Grafana gave them) from the moment before the guard made the
//! folder view-only until they are put back; a folder already saved is refused, never
//! overwritten, so a crash between two runs cannot turn the view-only state into the
//! "original".
//!
//! Both live in the local SQLite file (with a remote store, in its cache): they describe what
//! this machine did to Grafana and to environments, and `guard restore` must find them
//! without the network. Like the rest of the store, nothing here reads the clock.

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::error::HistoryError;
use super::open::Store;
use super::sqlite::{At, SqliteStore};

/// One entry to append.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    pub at_ns: i64,
    pub environment: Option<String>,
    pub who: String,
    pub host: Option<String>,
    /// What was done: `run`, `refused`, `guard-action`, `readonly-switch`, `readonly-restore`,
    /// `teardown`, `preflight`.
    pub kind: String,
    pub run_id: Option<String>,
    /// The result in a word or a line: `pass`, `refused`, `stopped`, `ok`, `failed: ...`.
    pub result: String,
    /// The numbers and reasons behind it.
    pub detail: serde_json::Value,
}

/// An entry as stored, with its place in the trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
}

/// Which entries to list, oldest first.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    pub environment: Option<String>,
    pub since_ns: Option<i64>,
}

/// A folder's permissions as they were before the guard switched it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SavedPermissions {
    /// The Grafana root URL (without user info), part of the key.
    pub grafana: String,
    pub folder_uid: String,
    pub environment: String,
    pub run_id: Option<String>,
    pub saved_at_ns: i64,
    /// The items as `POST /api/folders/:uid/permissions` takes them back (JSON).
    pub items: serde_json::Value,
}

/// A store that keeps the audit trail and the saved permissions.
pub trait AuditLog {
    fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64, HistoryError>;
    fn audit_entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, HistoryError>;
    /// Saves a folder's permissions; an error when that folder is saved already.
    fn save_permissions(&self, saved: &SavedPermissions) -> Result<(), HistoryError>;
    /// Every saved folder, oldest first (of one Grafana, when given).
    fn saved_permissions(&self, grafana: Option<&str>) -> Result<Vec<SavedPermissions>, HistoryError>;
    /// Forgets a folder once its permissions are back.
    fn forget_permissions(&self, grafana: &str, folder_uid: &str) -> Result<(), HistoryError>;
}

fn to_text(v: &serde_json::Value, path: &std::path::Path) -> Result<String, HistoryError> {
    serde_json::to_string(v).map_err(|e| HistoryError::Invalid { path: path.into(), message: e.to_string() })
}

fn from_text(text: &str) -> rusqlite::Result<serde_json::Value> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn required(path: &std::path::Path, value: &str, what: &str) -> Result<(), HistoryError> {
    if value.trim().is_empty() {
        return Err(HistoryError::Invalid { path: path.into(), message: format!("{what} is empty") });
    }
    Ok(())
}

fn list_saved(conn: &Connection, grafana: Option<&str>) -> rusqlite::Result<Vec<SavedPermissions>> {
    let mut stmt = conn.prepare_cached(
        "SELECT grafana, folder_uid, environment, run_id, saved_at_ns, items FROM saved_permissions \
         WHERE ?1 IS NULL OR grafana = ?1 ORDER BY saved_at_ns, grafana, folder_uid",
    )?;
    let rows = stmt.query_map(params![grafana], |r| {
        let items: String = r.get(5)?;
        Ok(SavedPermissions {
            grafana: r.get(0)?,
            folder_uid: r.get(1)?,
            environment: r.get(2)?,
            run_id: r.get(3)?,
            saved_at_ns: r.get(4)?,
            items: from_text(&items)?,
        })
    })?;
    rows.collect()
}

impl AuditLog for SqliteStore {
    fn append_audit(&self, e: &NewAuditEntry) -> Result<i64, HistoryError> {
        let (conn, path) = self.connection();
        required(path, &e.who, "the audit entry's who")?;
        required(path, &e.kind, "the audit entry's kind")?;
        required(path, &e.result, "the audit entry's result")?;
        let detail = to_text(&e.detail, path)?;
        conn.execute(
            "INSERT INTO audit (at_ns, environment, who, host, kind, run_id, result, detail) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![e.at_ns, e.environment, e.who, e.host, e.kind, e.run_id, e.result, detail],
        )
        .at(path)?;
        Ok(conn.last_insert_rowid())
    }

    fn audit_entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, HistoryError> {
        let (conn, path) = self.connection();
        let read = || -> rusqlite::Result<Vec<AuditEntry>> {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, at_ns, environment, who, host, kind, run_id, result, detail FROM audit \
                 WHERE (?1 IS NULL OR environment = ?1) AND (?2 IS NULL OR at_ns >= ?2) ORDER BY at_ns, seq",
            )?;
            let rows = stmt.query_map(params![q.environment, q.since_ns], |r| {
                let detail: String = r.get(8)?;
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    entry: NewAuditEntry {
                        at_ns: r.get(1)?,
                        environment: r.get(2)?,
                        who: r.get(3)?,
                        host: r.get(4)?,
                        kind: r.get(5)?,
                        run_id: r.get(6)?,
                        result: r.get(7)?,
                        detail: from_text(&detail)?,
                    },
                })
            })?;
            rows.collect()
        };
        read().at(path)
    }

    fn save_permissions(&self, s: &SavedPermissions) -> Result<(), HistoryError> {
        let (conn, path) = self.connection();
        required(path, &s.grafana, "the Grafana URL")?;
        required(path, &s.folder_uid, "the folder uid")?;
        if let Some(old) =
            list_saved(conn, Some(&s.grafana)).at(path)?.into_iter().find(|o| o.folder_uid == s.folder_uid)
        {
            return Err(HistoryError::Invalid {
                path: path.into(),
                message: format!(
                    "folder {} of {} already has saved permissions (run {}, environment {}): run `k6gate guard restore` \
                     first, or its original permissions would be lost",
                    s.folder_uid,
                    s.grafana,
                    old.run_id.as_deref().unwrap_or("-"),
                    old.environment
                ),
            });
        }
        let items = to_text(&s.items, path)?;
        conn.execute(
            "INSERT INTO saved_permissions (grafana, folder_uid, environment, run_id, saved_at_ns, items) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![s.grafana, s.folder_uid, s.environment, s.run_id, s.saved_at_ns, items],
        )
        .map(drop)
        .at(path)
    }

    fn saved_permissions(&self, grafana: Option<&str>) -> Result<Vec<SavedPermissions>, HistoryError> {
        let (conn, path) = self.connection();
        list_saved(conn, grafana).at(path)
    }

    fn forget_permissions(&self, grafana: &str, folder_uid: &str) -> Result<(), HistoryError> {
        let (conn, path) = self.connection();
        conn.execute(
            "DELETE FROM saved_permissions WHERE grafana = ?1 AND folder_uid = ?2",
            params![grafana, folder_uid],
        )
        .map(drop)
        .at(path)
    }
}

impl Store {
    fn local_file(&self) -> &SqliteStore {
        match self {
            Store::Local(s) => s,
            Store::Remote(r) => r.local_cache(),
        }
    }
}

impl AuditLog for Store {
    fn append_audit(&self, entry: &NewAuditEntry) -> Result<i64, HistoryError> {
        self.local_file().append_audit(entry)
    }
    fn audit_entries(&self, q: &AuditQuery) -> Result<Vec<AuditEntry>, HistoryError> {
        self.local_file().audit_entries(q)
    }
    fn save_permissions(&self, saved: &SavedPermissions) -> Result<(), HistoryError> {
        self.local_file().save_permissions(saved)
    }
    fn saved_permissions(&self, grafana: Option<&str>) -> Result<Vec<SavedPermissions>, HistoryError> {
        self.local_file().saved_permissions(grafana)
    }
    fn forget_permissions(&self, grafana: &str, folder_uid: &str) -> Result<(), HistoryError> {
        self.local_file().forget_permissions(grafana, folder_uid)
    }
}
