//! The SQLite backend: one file, [`FILE_NAME`] in the state directory (`.k6gate`).
//!
//! WAL mode, so `k6gate history` reads while a run records; a busy timeout, so runs that
//! finish together wait for each other instead of failing; foreign keys on, so a pin always
//! names a recorded run. Writes that read first (pinning) run in IMMEDIATE transactions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSqlOutput, ValueRef};
use rusqlite::{Connection, OptionalExtension, Row, ToSql, Transaction, TransactionBehavior, params};
use serde_json::value::RawValue;

use crate::summary::digest::DigestRow;

use super::baseline::{BASELINE_OUTCOMES, BaselineChoice};
use super::decision::{Decision, Decisions, Override, StoredDecision};
use super::error::HistoryError;
use super::pin::{Invalidation, Pin, PinEvent};
use super::records::{DigestQuery, DigestRun};
use super::run::{NewRun, Outcome, RunContext, RunFilter, RunRecord};
use super::run_id::{format_run_id, is_id_prefix, random_salt};
use super::schema;
use super::store::RunStore;

/// The history database's file name in the state directory.
pub const FILE_NAME: &str = "history.db";

/// How long a write waits for another process's write to finish.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often, and how far apart, opening is tried when SQLite refuses a lock outright.
const OPEN_TRIES: u32 = 200;
const OPEN_RETRY_PAUSE: Duration = Duration::from_millis(50);

/// Journal mode, pragmas and schema: what every connection sets up on open.
fn setup(conn: &Connection, path: &Path) -> Result<(), HistoryError> {
    // Small pages for a new file (before WAL, which fixes the page size): a summary is stored
    // as a chain of overflow pages whose last one is half empty on average, and at 1 KiB that
    // is a tenth of what it is at SQLite's default 4 KiB (84 MB of a year's store). A file
    // that has tables keeps its page size.
    conn.pragma_update(None, "page_size", 1024).at(path)?;
    // Likewise only for a new file: pages a prune frees can be given back (`Prune::reclaim`).
    conn.pragma_update(None, "auto_vacuum", "incremental").at(path)?;
    // Persistent once set; a file system without shared memory keeps its journal mode,
    // which is slower but still correct.
    let _mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0)).at(path)?;
    conn.pragma_update(None, "synchronous", "normal").at(path)?;
    conn.pragma_update(None, "foreign_keys", true).at(path)?;
    schema::migrate(conn, path)
}

/// Fresh random bits tried when a run id is taken. 16 bits a second make a clash rare and
/// 32 clashes in a row practically impossible.
const ID_DRAWS: usize = 32;

const RUN_COLUMNS: &str = "id, test, environment, outcome, started_at_ns, finished_at_ns, user, host, \
    git_branch, git_commit, deployment_version, run_dir, k6_exit_code, k6gate_version, summary, verdict, problem, context";

const PIN_COLUMNS: &str = "id, run_id, test, environment, pinned_by, pinned_at_ns, reason, \
    invalidated_by, invalidated_at_ns, invalidated_reason, replaced_by";

/// A [`RunFilter`]'s rows, newest first: `?1` test, `?2` environment (NULL: any), `?3` limit
/// (-1: none).
const FILTERED_NEWEST_FIRST: &str = "WHERE (?1 IS NULL OR test = ?1) AND (?2 IS NULL OR environment = ?2) \
    ORDER BY started_at_ns DESC, id DESC LIMIT ?3";

/// [`RUN_COLUMNS`] without the documents (`summary` and `verdict` read as NULL), then whether
/// the run has a summary, its size and the row's size (every column's bytes).
const STORED_COLUMNS: &str = "id, test, environment, outcome, started_at_ns, finished_at_ns, user, host, \
    git_branch, git_commit, deployment_version, run_dir, k6_exit_code, k6gate_version, NULL AS summary, \
    NULL AS verdict, problem, context, series_from_s, summary IS NOT NULL AS has_summary, \
    COALESCE(length(CAST(summary AS BLOB)), 0) AS summary_bytes, \
    COALESCE(length(CAST(summary AS BLOB)), 0) + COALESCE(length(CAST(verdict AS BLOB)), 0) \
    + COALESCE(length(CAST(problem AS BLOB)), 0) + COALESCE(length(CAST(context AS BLOB)), 0) \
    + length(CAST(id AS BLOB)) + length(CAST(test AS BLOB)) + length(CAST(environment AS BLOB)) \
    + length(CAST(outcome AS BLOB)) + COALESCE(length(CAST(user AS BLOB)), 0) + COALESCE(length(CAST(host AS BLOB)), 0) \
    + COALESCE(length(CAST(git_branch AS BLOB)), 0) + COALESCE(length(CAST(git_commit AS BLOB)), 0) \
    + COALESCE(length(CAST(deployment_version AS BLOB)), 0) + COALESCE(length(CAST(run_dir AS BLOB)), 0) \
    + length(CAST(k6gate_version AS BLOB)) + 24 AS bytes";

/// The run history in one SQLite file.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

impl SqliteStore {
    /// Opens the history at `path`, creating the file, its directory and the schema as needed,
    /// and migrating an older schema.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, HistoryError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| HistoryError::Io { path: path.clone(), source })?;
        }
        let conn = Connection::open(&path).at(&path)?;
        conn.busy_timeout(BUSY_TIMEOUT).at(&path)?;
        // Processes opening a fresh file together can meet in a lock SQLite refuses at once
        // rather than wait for (waiting could deadlock: switching to WAL while another
        // connection migrates). Trying again shortly after is safe: each step is idempotent.
        let mut tries = OPEN_TRIES;
        loop {
            match setup(&conn, &path) {
                Err(HistoryError::Sqlite { source: rusqlite::Error::SqliteFailure(e, _), .. })
                    if e.code == rusqlite::ErrorCode::DatabaseBusy && tries > 1 =>
                {
                    tries -= 1;
                    std::thread::sleep(OPEN_RETRY_PAUSE);
                }
                done => return done.map(|()| SqliteStore { conn, path }),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version of the file (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64, HistoryError> {
        schema::version(&self.conn).at(&self.path)
    }

    fn db(&self) -> Db<'_> {
        Db { conn: &self.conn, path: &self.path }
    }

    fn transaction(&self, behavior: TransactionBehavior) -> Result<Transaction<'_>, HistoryError> {
        Transaction::new_unchecked(&self.conn, behavior).at(&self.path)
    }

    fn invalid(&self, message: impl Into<String>) -> HistoryError {
        HistoryError::Invalid { path: self.path.clone(), message: message.into() }
    }

    /// `s` trimmed, or an error saying `what` is missing.
    fn required<'s>(&self, s: &'s str, what: &str) -> Result<&'s str, HistoryError> {
        let s = s.trim();
        if s.is_empty() { Err(self.invalid(format!("{what} is empty"))) } else { Ok(s) }
    }

    fn check_new_run(&self, run: &NewRun) -> Result<(), HistoryError> {
        self.required(&run.test, "the run's test name")?;
        self.required(&run.environment, "the run's environment")?;
        if run.outcome.is_decided() && (run.summary.is_none() || run.verdict.is_none()) {
            return Err(self.invalid(format!("a {} run needs its summary and verdict", run.outcome)));
        }
        if run.finished_at_ns.is_some_and(|f| f < run.started_at_ns) {
            return Err(self.invalid("the run finished before it started"));
        }
        Ok(())
    }
}

impl RunStore for SqliteStore {
    fn record_run(&self, run: &NewRun) -> Result<String, HistoryError> {
        self.check_new_run(run)?;
        let mut record = RunRecord {
            id: String::new(),
            test: run.test.clone(),
            environment: run.environment.clone(),
            outcome: run.outcome,
            started_at_ns: run.started_at_ns,
            finished_at_ns: run.finished_at_ns,
            user: run.user.clone(),
            host: run.host.clone(),
            git_branch: run.git_branch.clone(),
            git_commit: run.git_commit.clone(),
            deployment_version: run.deployment_version.clone(),
            run_dir: run.run_dir.clone(),
            k6_exit_code: run.k6_exit_code,
            k6gate_version: env!("CARGO_PKG_VERSION").to_string(),
            summary: run.summary.clone(),
            verdict: run.verdict.clone(),
            problem: run.problem.clone(),
            context: run.context.clone(),
            digest: run.digest.clone(),
            decision: run.decision.clone(),
        };
        for draw in 0..ID_DRAWS {
            // The caller's id first (its run directory and k6 `testid` tag already carry it).
            record.id = match (&run.id, draw) {
                (Some(id), 0) => id.clone(),
                _ => format_run_id(run.started_at_ns, random_salt()),
            };
            if self.insert(&record)? {
                return Ok(record.id);
            }
        }
        Err(self.invalid(format!("no free run id left for {}", format_run_id(run.started_at_ns, 0))))
    }

    fn get_run(&self, id_or_prefix: &str) -> Result<RunRecord, HistoryError> {
        self.db().find_run(id_or_prefix)
    }

    fn list_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<RunRecord>, HistoryError> {
        let limit = filter.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs {FILTERED_NEWEST_FIRST}"))
            .at(&self.path)?;
        let rows = stmt.query_map(params![filter.test, filter.environment, limit], read_run).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn baseline(
        &self,
        test: &str,
        environment: &str,
        default_branch: &str,
    ) -> Result<Option<BaselineChoice>, HistoryError> {
        // One snapshot for the pin and the run it names.
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let db = Db { conn: &tx, path: &self.path };
        let choice = match db.active_pin(test, environment)? {
            Some(pin) => {
                let run = db.find_run(&pin.run_id)?;
                if !run.outcome.can_be_pinned() {
                    // Pinning refuses such runs; a store edited by hand must not slip one through.
                    return Err(HistoryError::NotABaseline {
                        path: self.path.clone(),
                        id: run.id,
                        outcome: run.outcome.to_string(),
                    });
                }
                Some(BaselineChoice::pinned(run, pin))
            }
            None => {
                let outcomes: Vec<String> = BASELINE_OUTCOMES.iter().map(|o| format!("'{o}'")).collect();
                let sql = format!(
                    "SELECT {RUN_COLUMNS} FROM runs WHERE test = ?1 AND environment = ?2 AND git_branch = ?3 \
                     AND outcome IN ({}) ORDER BY started_at_ns DESC, id DESC LIMIT 1",
                    outcomes.join(", ")
                );
                let run = tx
                    .prepare_cached(&sql)
                    .and_then(|mut s| s.query_row(params![test, environment, default_branch], read_run).optional())
                    .at(&self.path)?;
                run.map(|run| BaselineChoice::latest_passing(run, default_branch))
            }
        };
        // A pair that had a baseline never again answers "none": its history was lost.
        match &choice {
            Some(choice) => {
                tx.execute(
                    "INSERT INTO established (test, environment, branch, run_id) VALUES (?1, ?2, ?3, ?4) \
                     ON CONFLICT DO NOTHING",
                    params![test, environment, default_branch, choice.run.id],
                )
                .at(&self.path)?;
            }
            None => {
                if let Some(run_id) = db.established(test, environment, default_branch)? {
                    return Err(HistoryError::BaselineLost {
                        path: self.path.clone(),
                        test: test.to_string(),
                        environment: environment.to_string(),
                        run_id,
                    });
                }
            }
        }
        tx.commit().at(&self.path)?;
        Ok(choice)
    }

    fn pin(&self, run_id: &str, by: &str, reason: &str, at_ns: i64) -> Result<Pin, HistoryError> {
        let by = self.required(by, "who pins")?;
        let reason = self.required(reason, "the reason for the pin")?;
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let db = Db { conn: &tx, path: &self.path };
        let run = db.find_run(run_id)?;
        if !run.outcome.can_be_pinned() {
            return Err(HistoryError::NotABaseline {
                path: self.path.clone(),
                id: run.id,
                outcome: run.outcome.to_string(),
            });
        }
        let old = db.active_pin(&run.test, &run.environment)?;
        if let Some(old) = &old {
            let why = format!("replaced by a pin of run {}: {reason}", run.id);
            db.end_pin(old.id, by, &why, at_ns)?;
        }
        tx.execute(
            "INSERT INTO pins (run_id, test, environment, pinned_by, pinned_at_ns, reason) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![run.id, run.test, run.environment, by, at_ns, reason],
        )
        .at(&self.path)?;
        let id = tx.last_insert_rowid();
        if let Some(old) = &old {
            tx.execute("UPDATE pins SET replaced_by = ?1 WHERE id = ?2", params![id, old.id]).at(&self.path)?;
        }
        let pin = db.pin_by_id(id)?;
        tx.commit().at(&self.path)?;
        Ok(pin)
    }

    fn invalidate_pin(
        &self,
        test: &str,
        environment: &str,
        by: &str,
        reason: &str,
        at_ns: i64,
    ) -> Result<Pin, HistoryError> {
        let by = self.required(by, "who invalidates the pin")?;
        let reason = self.required(reason, "the reason for invalidating the pin")?;
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let db = Db { conn: &tx, path: &self.path };
        let Some(pin) = db.active_pin(test, environment)? else {
            return Err(HistoryError::NoActivePin {
                path: self.path.clone(),
                test: test.to_string(),
                environment: environment.to_string(),
            });
        };
        db.end_pin(pin.id, by, reason, at_ns)?;
        let pin = db.pin_by_id(pin.id)?;
        tx.commit().at(&self.path)?;
        Ok(pin)
    }

    fn active_pin(&self, test: &str, environment: &str) -> Result<Option<Pin>, HistoryError> {
        self.db().active_pin(test, environment)
    }

    fn list_pins(&self, test: Option<&str>, environment: Option<&str>) -> Result<Vec<Pin>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!(
                "SELECT {PIN_COLUMNS} FROM pins WHERE (?1 IS NULL OR test = ?1) AND (?2 IS NULL OR environment = ?2) \
                 ORDER BY pinned_at_ns DESC, id DESC"
            ))
            .at(&self.path)?;
        let rows = stmt.query_map(params![test, environment], read_pin).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }
}

impl super::prune::Prune for SqliteStore {
    fn stored_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<super::prune::StoredRun>, HistoryError> {
        let limit = filter.limit.map_or(-1, |l| i64::try_from(l).unwrap_or(i64::MAX));
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {STORED_COLUMNS} FROM runs {FILTERED_NEWEST_FIRST}"))
            .at(&self.path)?;
        let rows = stmt
            .query_map(params![filter.test, filter.environment, limit], |row| {
                Ok(super::prune::StoredRun {
                    run: read_run(row)?,
                    has_summary: row.get("has_summary")?,
                    summary_bytes: row.get::<_, i64>("summary_bytes")?.unsigned_abs(),
                    bytes: row.get::<_, i64>("bytes")?.unsigned_abs(),
                    series_from_s: row.get("series_from_s")?,
                })
            })
            .at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn delete_run(&self, id: &str) -> Result<u64, HistoryError> {
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let bytes: Option<i64> = tx
            .query_row(&format!("SELECT bytes FROM (SELECT {STORED_COLUMNS} FROM runs WHERE id = ?1)"), [id], |r| {
                r.get(0)
            })
            .optional()
            .at(&self.path)?;
        let Some(bytes) = bytes else {
            return Err(HistoryError::NotFound { path: self.path.clone(), id: id.to_string() });
        };
        let pins: i64 =
            tx.query_row("SELECT COUNT(*) FROM pins WHERE run_id = ?1", [id], |r| r.get(0)).at(&self.path)?;
        if pins > 0 {
            return Err(HistoryError::Pinned { path: self.path.clone(), id: id.to_string() });
        }
        tx.execute("DELETE FROM outbox WHERE run_id = ?1", [id]).at(&self.path)?;
        tx.execute("DELETE FROM runs WHERE id = ?1", [id]).at(&self.path)?;
        tx.commit().at(&self.path)?;
        Ok(bytes.unsigned_abs())
    }

    fn replace_summary(&self, id: &str, summary: &RawValue, series_from_s: f64) -> Result<(u64, u64), HistoryError> {
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let before: Option<Option<i64>> = tx
            .query_row("SELECT length(CAST(summary AS BLOB)) FROM runs WHERE id = ?1", [id], |r| r.get(0))
            .optional()
            .at(&self.path)?;
        let before = match before {
            None => return Err(HistoryError::NotFound { path: self.path.clone(), id: id.to_string() }),
            Some(None) => return Err(self.invalid(format!("run {id} has no summary to replace"))),
            Some(Some(n)) => n.unsigned_abs(),
        };
        let after = packed(Some(summary)).at(&self.path)?.unwrap_or_default();
        tx.execute("UPDATE runs SET summary = ?1, series_from_s = ?2 WHERE id = ?3", params![after, series_from_s, id])
            .at(&self.path)?;
        tx.commit().at(&self.path)?;
        Ok((before, after.len() as u64))
    }

    /// `PRAGMA incremental_vacuum` on a file made with `auto_vacuum = INCREMENTAL` (every file
    /// since schema 6): the free pages at its end are cut off, the rest moved down first. A
    /// file made before keeps its free pages for new runs (shrinking it takes a VACUUM, which
    /// needs as much free disk again: `sqlite3 history.db VACUUM`).
    fn reclaim(&self) -> Result<u64, HistoryError> {
        let size = |conn: &Connection| -> rusqlite::Result<i64> {
            Ok(conn.pragma_query_value(None, "page_count", |r| r.get::<_, i64>(0))?
                * conn.pragma_query_value(None, "page_size", |r| r.get::<_, i64>(0))?)
        };
        let before = size(&self.conn).at(&self.path)?;
        // The pragma returns a row per page freed: step through them all.
        let mut stmt = self.conn.prepare("PRAGMA incremental_vacuum").at(&self.path)?;
        let mut rows = stmt.query([]).at(&self.path)?;
        while rows.next().at(&self.path)?.is_some() {}
        Ok((before - size(&self.conn).at(&self.path)?).unsigned_abs())
    }

    fn note_series(&self, id: &str, series_from_s: f64) -> Result<(), HistoryError> {
        let changed = self
            .conn
            .execute("UPDATE runs SET series_from_s = ?1 WHERE id = ?2", params![series_from_s, id])
            .at(&self.path)?;
        if changed == 0 {
            return Err(HistoryError::NotFound { path: self.path.clone(), id: id.to_string() });
        }
        Ok(())
    }
}

/// What the remote store (`remote.rs`) needs from its cache: runs imported as recorded
/// elsewhere, the outbox of runs not yet uploaded, and pins rebuilt from the remote's events.
impl SqliteStore {
    /// The ids of the runs held here, optionally of one test and environment.
    pub(super) fn run_ids(&self, pair: Option<(&str, &str)>) -> Result<Vec<String>, HistoryError> {
        let (test, environment) = pair.unzip();
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM runs WHERE (?1 IS NULL OR test = ?1) AND (?2 IS NULL OR environment = ?2)")
            .at(&self.path)?;
        let rows = stmt.query_map(params![test, environment], |r| r.get(0)).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Adds a run recorded by another k6gate, keeping its id and version. Returns false when
    /// a run with that id is already here.
    pub(super) fn import_run(&self, run: &RunRecord) -> Result<bool, HistoryError> {
        self.insert(run)
    }

    /// Inserts `run` under its id, with its record; false when the id is taken.
    fn insert(&self, run: &RunRecord) -> Result<bool, HistoryError> {
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let inserted = tx
            .prepare_cached(&format!(
                "INSERT INTO runs ({RUN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, \
                 ?14, ?15, ?16, ?17, ?18) ON CONFLICT (id) DO NOTHING"
            ))
            .and_then(|mut s| {
                s.execute(params![
                    run.id,
                    run.test,
                    run.environment,
                    run.outcome,
                    run.started_at_ns,
                    run.finished_at_ns,
                    run.user,
                    run.host,
                    run.git_branch,
                    run.git_commit,
                    run.deployment_version,
                    run.run_dir.as_ref().map(|p| p.to_string_lossy()),
                    run.k6_exit_code,
                    run.k6gate_version,
                    packed(run.summary.as_deref())?,
                    packed(run.verdict.as_deref())?,
                    run.problem,
                    context_json(run.context.as_ref()),
                ])
            })
            .at(&self.path)?;
        if inserted != 1 {
            return Ok(false);
        }
        write_digest(&tx, &run.id, &run.digest).at(&self.path)?;
        if let Some(decision) = &run.decision {
            write_decision(&tx, &run.id, decision).at(&self.path)?;
        }
        tx.commit().at(&self.path)?;
        Ok(true)
    }

    /// Puts a run in the outbox of `remote`, with why it is not uploaded yet.
    pub(super) fn queue_upload(&self, run_id: &str, remote: &str, problem: Option<&str>) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT INTO outbox (run_id, remote, problem) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (run_id) DO UPDATE SET remote = excluded.remote, problem = excluded.problem",
                params![run_id, remote, problem],
            )
            .map(drop)
            .at(&self.path)
    }

    pub(super) fn uploaded(&self, run_id: &str) -> Result<(), HistoryError> {
        self.conn.execute("DELETE FROM outbox WHERE run_id = ?1", [run_id]).map(drop).at(&self.path)
    }

    /// The runs waiting to be uploaded, oldest first, with why the last attempt failed.
    pub(super) fn outbox(&self) -> Result<Vec<(String, Option<String>)>, HistoryError> {
        let mut stmt = self.conn.prepare_cached("SELECT run_id, problem FROM outbox ORDER BY run_id").at(&self.path)?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    /// Marks a pair as having had a baseline on `branch` (mirrored from the remote store).
    pub(super) fn establish(
        &self,
        test: &str,
        environment: &str,
        branch: &str,
        run_id: &str,
    ) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "INSERT INTO established (test, environment, branch, run_id) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT DO NOTHING",
                params![test, environment, branch, run_id],
            )
            .map(drop)
            .at(&self.path)
    }

    /// Replaces the pins of one test and environment with the result of `events`, replayed in
    /// order with their own ids: a pin ends the active one, an invalidation ends it.
    pub(super) fn replace_pins(&self, test: &str, environment: &str, events: &[PinEvent]) -> Result<(), HistoryError> {
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let db = Db { conn: &tx, path: &self.path };
        // Replaced-by links point inside the pair, so clear them before the rows go.
        tx.execute(
            "UPDATE pins SET replaced_by = NULL WHERE test = ?1 AND environment = ?2",
            params![test, environment],
        )
        .at(&self.path)?;
        tx.execute("DELETE FROM pins WHERE test = ?1 AND environment = ?2", params![test, environment])
            .at(&self.path)?;
        for event in events {
            let active = db.active_pin(test, environment)?;
            match &event.run_id {
                Some(run_id) => {
                    if let Some(old) = &active {
                        let why = format!("replaced by a pin of run {run_id}: {}", event.reason);
                        db.end_pin(old.id, &event.by, &why, event.at_ns)?;
                    }
                    tx.execute(
                        "INSERT INTO pins (id, run_id, test, environment, pinned_by, pinned_at_ns, reason) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                        params![event.id, run_id, test, environment, event.by, event.at_ns, event.reason],
                    )
                    .at(&self.path)?;
                    if let Some(old) = &active {
                        tx.execute("UPDATE pins SET replaced_by = ?1 WHERE id = ?2", params![event.id, old.id])
                            .at(&self.path)?;
                    }
                }
                None => {
                    if let Some(old) = &active {
                        db.end_pin(old.id, &event.by, &event.reason, event.at_ns)?;
                    }
                }
            }
        }
        tx.commit().at(&self.path)
    }
}

/// Queries shared by the store and its transactions.
struct Db<'a> {
    conn: &'a Connection,
    path: &'a Path,
}

impl Db<'_> {
    /// The run with this id, or the only run whose id starts with it.
    fn find_run(&self, id_or_prefix: &str) -> Result<RunRecord, HistoryError> {
        let not_found = || HistoryError::NotFound { path: self.path.into(), id: id_or_prefix.to_string() };
        let prefix = id_or_prefix.trim().to_ascii_lowercase();
        if !is_id_prefix(&prefix) {
            return Err(not_found());
        }
        let mut stmt =
            self.conn.prepare_cached("SELECT id FROM runs WHERE id GLOB ?1 ORDER BY id LIMIT 11").at(self.path)?;
        let ids: Vec<String> =
            stmt.query_map([format!("{prefix}*")], |r| r.get(0)).and_then(|rows| rows.collect()).at(self.path)?;
        let id = match ids.as_slice() {
            [] => return Err(not_found()),
            [one] => one,
            many => match many.iter().find(|id| **id == prefix) {
                Some(exact) => exact,
                None => {
                    return Err(HistoryError::Ambiguous {
                        path: self.path.into(),
                        prefix,
                        matches: many.iter().take(10).cloned().collect(),
                        more: many.len() > 10,
                    });
                }
            },
        };
        let mut run = self
            .conn
            .prepare_cached(&format!("SELECT {RUN_COLUMNS} FROM runs WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], read_run).optional())
            .at(self.path)?
            .ok_or_else(not_found)?;
        run.digest = read_digest(self.conn, id, None, None).at(self.path)?;
        run.decision = read_decisions(self.conn, &[id]).at(self.path)?.pop().and_then(|d| d.decision);
        Ok(run)
    }

    fn active_pin(&self, test: &str, environment: &str) -> Result<Option<Pin>, HistoryError> {
        self.conn
            .prepare_cached(&format!(
                "SELECT {PIN_COLUMNS} FROM pins WHERE test = ?1 AND environment = ?2 AND invalidated_at_ns IS NULL"
            ))
            .and_then(|mut s| s.query_row([test, environment], read_pin).optional())
            .at(self.path)
    }

    fn established(&self, test: &str, environment: &str, branch: &str) -> Result<Option<String>, HistoryError> {
        self.conn
            .prepare_cached("SELECT run_id FROM established WHERE test = ?1 AND environment = ?2 AND branch = ?3")
            .and_then(|mut s| s.query_row([test, environment, branch], |r| r.get(0)).optional())
            .at(self.path)
    }

    fn pin_by_id(&self, id: i64) -> Result<Pin, HistoryError> {
        self.conn
            .prepare_cached(&format!("SELECT {PIN_COLUMNS} FROM pins WHERE id = ?1"))
            .and_then(|mut s| s.query_row([id], read_pin))
            .at(self.path)
    }

    fn end_pin(&self, id: i64, by: &str, reason: &str, at_ns: i64) -> Result<(), HistoryError> {
        self.conn
            .execute(
                "UPDATE pins SET invalidated_by = ?1, invalidated_at_ns = ?2, invalidated_reason = ?3 WHERE id = ?4",
                params![by, at_ns, reason, id],
            )
            .map(drop)
            .at(self.path)
    }
}

fn read_run(row: &Row<'_>) -> rusqlite::Result<RunRecord> {
    Ok(RunRecord {
        id: row.get("id")?,
        test: row.get("test")?,
        environment: row.get("environment")?,
        outcome: row.get("outcome")?,
        started_at_ns: row.get("started_at_ns")?,
        finished_at_ns: row.get("finished_at_ns")?,
        user: row.get("user")?,
        host: row.get("host")?,
        git_branch: row.get("git_branch")?,
        git_commit: row.get("git_commit")?,
        deployment_version: row.get("deployment_version")?,
        run_dir: row.get::<_, Option<String>>("run_dir")?.map(PathBuf::from),
        k6_exit_code: row.get("k6_exit_code")?,
        k6gate_version: row.get("k6gate_version")?,
        summary: row.get::<_, Option<Json>>("summary")?.map(|j| j.0),
        verdict: row.get::<_, Option<Json>>("verdict")?.map(|j| j.0),
        problem: row.get("problem")?,
        context: row
            .get::<_, Option<String>>("context")?
            .map(|text| serde_json::from_str(&text))
            .transpose()
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))?,
        digest: Vec::new(),
        decision: None,
    })
}

/// Sets a run's decision record: its `run_decisions` row and its overrides, replacing any.
fn write_decision(conn: &Connection, run_id: &str, decision: &Decision) -> rusqlite::Result<()> {
    let seq: i64 = conn.query_row("SELECT seq FROM runs WHERE id = ?1", [run_id], |r| r.get(0))?;
    conn.execute("DELETE FROM run_decisions WHERE run_seq = ?1", [seq])?;
    conn.execute("INSERT INTO run_decisions (run_seq, violations) VALUES (?1, ?2)", params![seq, decision.violations])?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO run_overrides (run_seq, n, kind, by_id, result, approved_by, verified, owner) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    for (n, o) in decision.overrides.iter().enumerate() {
        insert.execute(params![seq, n as i64, o.kind, o.by, o.result, o.approved_by, o.verified, o.owner])?;
    }
    Ok(())
}

/// The decision records of these runs, in the order given (an unknown id is left out; a
/// known run without a record has `None`). Two indexed reads per batch of 500.
fn read_decisions(conn: &Connection, ids: &[&str]) -> rusqlite::Result<Vec<StoredDecision>> {
    let mut out = Vec::with_capacity(ids.len());
    for batch in ids.chunks(500) {
        let marks = vec!["?"; batch.len()].join(", ");
        let mut runs = conn.prepare_cached(&format!(
            "SELECT r.id, d.violations, d.run_seq FROM runs r LEFT JOIN run_decisions d ON d.run_seq = r.seq \
             WHERE r.id IN ({marks})"
        ))?;
        let mut found: HashMap<String, (Option<Decision>, Option<i64>)> = runs
            .query_map(rusqlite::params_from_iter(batch.iter()), |r| {
                let violations: Option<u32> = r.get(1)?;
                Ok((
                    r.get(0)?,
                    (violations.map(|violations| Decision { violations, overrides: Vec::new() }), r.get(2)?),
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let by_seq: HashMap<i64, String> =
            found.iter().filter_map(|(id, (_, seq))| seq.map(|s| (s, id.clone()))).collect();
        if !by_seq.is_empty() {
            let seqs: Vec<i64> = by_seq.keys().copied().collect();
            let marks = vec!["?"; seqs.len()].join(", ");
            let mut rows = conn.prepare_cached(&format!(
                "SELECT run_seq, kind, by_id, result, approved_by, verified, owner FROM run_overrides \
                 WHERE run_seq IN ({marks}) ORDER BY run_seq, n"
            ))?;
            let mut read = rows.query(rusqlite::params_from_iter(seqs.iter()))?;
            while let Some(r) = read.next()? {
                let seq: i64 = r.get(0)?;
                let o = Override {
                    kind: r.get(1)?,
                    by: r.get(2)?,
                    result: r.get(3)?,
                    approved_by: r.get(4)?,
                    verified: r.get(5)?,
                    owner: r.get(6)?,
                };
                if let Some((Some(d), _)) = by_seq.get(&seq).and_then(|id| found.get_mut(id)) {
                    d.overrides.push(o);
                }
            }
        }
        out.extend(
            batch.iter().filter_map(|id| {
                found.remove(*id).map(|(decision, _)| StoredDecision { id: id.to_string(), decision })
            }),
        );
    }
    Ok(out)
}

impl Decisions for SqliteStore {
    fn decisions(&self, ids: &[&str]) -> Result<Vec<StoredDecision>, HistoryError> {
        read_decisions(&self.conn, ids).at(&self.path)
    }

    fn runs_without_decision(&self) -> Result<Vec<String>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM runs WHERE verdict IS NOT NULL AND outcome NOT IN ('error', 'incomplete') \
                 AND NOT EXISTS (SELECT 1 FROM run_decisions WHERE run_seq = runs.seq) ORDER BY started_at_ns, id",
            )
            .at(&self.path)?;
        let rows = stmt.query_map([], |r| r.get(0)).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn put_decision(&self, run_id: &str, decision: &Decision) -> Result<(), HistoryError> {
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let known: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)", [run_id], |r| r.get(0)).at(&self.path)?;
        if !known {
            return Err(HistoryError::NotFound { path: self.path.clone(), id: run_id.to_string() });
        }
        write_decision(&tx, run_id, decision).at(&self.path)?;
        tx.commit().at(&self.path)
    }
}

/// The numbers of a `digest_rows` row (`d`), in [`read_digest_row`]'s order; its phase and
/// group are read from `digest_labels` as `phase` and `grp`.
const DIGEST_NUMBERS: &str = "d.duration_s, d.requests, d.requests_per_s, d.failed, d.error_rate, d.p50_ms, \
    d.p95_ms, d.p99_ms, d.mean_ms, d.max_ms, d.iterations_per_s";

/// Replaces a run's record with `rows` (numbers only: the sketch stays in the summary).
fn write_digest(conn: &Connection, run_id: &str, rows: &[DigestRow]) -> rusqlite::Result<()> {
    let seq: i64 = conn.query_row("SELECT seq FROM runs WHERE id = ?1", [run_id], |r| r.get(0))?;
    conn.execute("DELETE FROM digest_rows WHERE run_seq = ?1", [seq])?;
    let mut label =
        conn.prepare_cached("INSERT INTO digest_labels (label) VALUES (?1) ON CONFLICT (label) DO NOTHING")?;
    let mut stmt = conn.prepare_cached(
        "INSERT INTO digest_rows VALUES (?1, (SELECT id FROM digest_labels WHERE label = ?2), \
         (SELECT id FROM digest_labels WHERE label = ?3), ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
    )?;
    for r in rows {
        label.execute([&r.phase])?;
        label.execute([&r.group])?;
        stmt.execute(params![
            seq,
            r.phase,
            r.group,
            r.duration_s,
            i64::try_from(r.requests).unwrap_or(i64::MAX),
            r.requests_per_s,
            i64::try_from(r.failed).unwrap_or(i64::MAX),
            r.error_rate,
            r.p50_ms,
            r.p95_ms,
            r.p99_ms,
            r.mean_ms,
            r.max_ms,
            r.iterations_per_s,
        ])?;
    }
    Ok(())
}

/// A run's rows, in the order they were recorded is not kept: by phase and group.
fn read_digest(
    conn: &Connection,
    run_id: &str,
    phase: Option<&str>,
    group: Option<&str>,
) -> rusqlite::Result<Vec<DigestRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT p.label AS phase, g.label AS grp, {DIGEST_NUMBERS} FROM digest_rows d \
         JOIN digest_labels p ON p.id = d.phase JOIN digest_labels g ON g.id = d.grp \
         WHERE d.run_seq = (SELECT seq FROM runs WHERE id = ?1) AND (?2 IS NULL OR p.label = ?2) \
         AND (?3 IS NULL OR g.label = ?3) ORDER BY p.label, g.label"
    ))?;
    let rows = stmt.query_map(params![run_id, phase, group], read_digest_row)?;
    rows.collect()
}

fn read_digest_row(row: &Row<'_>) -> rusqlite::Result<DigestRow> {
    Ok(DigestRow {
        phase: row.get("phase")?,
        group: row.get("grp")?,
        duration_s: row.get("duration_s")?,
        requests: row.get::<_, i64>("requests")?.unsigned_abs(),
        requests_per_s: row.get("requests_per_s")?,
        failed: row.get::<_, i64>("failed")?.unsigned_abs(),
        error_rate: row.get("error_rate")?,
        p50_ms: row.get("p50_ms")?,
        p95_ms: row.get("p95_ms")?,
        p99_ms: row.get("p99_ms")?,
        mean_ms: row.get("mean_ms")?,
        max_ms: row.get("max_ms")?,
        iterations_per_s: row.get("iterations_per_s")?,
        sketch: None,
    })
}

impl super::records::Records for SqliteStore {
    fn digest_runs(&self, q: &DigestQuery<'_>) -> Result<Vec<DigestRun>, HistoryError> {
        // One statement per shape, so each is planned once on its index: a version's runs
        // through `runs_by_version`, a time range through `runs_by_test`; each run's rows by
        // the primary key, in the same pass.
        let runs_of = match q.version {
            Some(_) => "r.deployment_version = ?3",
            None => "?3 IS NULL",
        };
        let sql = format!(
            "SELECT r.id, r.started_at_ns, r.deployment_version, r.git_branch, r.outcome, \
             EXISTS (SELECT 1 FROM digest_rows x WHERE x.run_seq = r.seq) AS has_digest, \
             p.label AS phase, g.label AS grp, {DIGEST_NUMBERS} \
             FROM runs r LEFT JOIN digest_rows d ON d.run_seq = r.seq \
             AND d.phase IN (SELECT id FROM digest_labels WHERE label IN (?5, ?6)) \
             AND (?7 IS NULL OR d.grp = (SELECT id FROM digest_labels WHERE label = ?7)) \
             LEFT JOIN digest_labels p ON p.id = d.phase LEFT JOIN digest_labels g ON g.id = d.grp \
             WHERE r.test = ?1 AND r.environment = ?2 AND {runs_of} AND r.started_at_ns >= ?4 \
             ORDER BY r.started_at_ns, r.id, p.label, g.label"
        );
        let since = q.since_ns.unwrap_or(i64::MIN);
        let mut out: Vec<DigestRun> = Vec::new();
        // More than two phases: one pass per pair.
        let mut pairs: Vec<(Option<&str>, Option<&str>)> =
            q.phases.chunks(2).map(|c| (c.first().copied(), c.get(1).copied())).collect();
        if pairs.is_empty() {
            // No phase wanted: the runs alone.
            pairs.push((None, None));
        }
        for pair in pairs {
            let mut stmt = self.conn.prepare_cached(&sql).at(&self.path)?;
            let mut rows =
                stmt.query(params![q.test, q.environment, q.version, since, pair.0, pair.1, q.group]).at(&self.path)?;
            let mut at = 0;
            while let Some(row) = rows.next().at(&self.path)? {
                let id: String = row.get(0).at(&self.path)?;
                // Runs come in the same order on every pass.
                let index = match out.iter().skip(at).position(|r| r.run_id == id) {
                    Some(i) => at + i,
                    None => {
                        out.push(DigestRun {
                            run_id: id,
                            started_at_ns: row.get(1).at(&self.path)?,
                            deployment_version: row.get(2).at(&self.path)?,
                            git_branch: row.get(3).at(&self.path)?,
                            outcome: row.get(4).at(&self.path)?,
                            has_digest: row.get(5).at(&self.path)?,
                            rows: Vec::new(),
                        });
                        out.len() - 1
                    }
                };
                at = index;
                if row.get::<_, Option<String>>("phase").at(&self.path)?.is_some()
                    && let Some(run) = out.get_mut(index)
                {
                    run.rows.push(read_digest_row(row).at(&self.path)?);
                }
            }
        }
        Ok(out)
    }

    fn runs_without_digest(&self) -> Result<Vec<String>, HistoryError> {
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT id FROM runs WHERE summary IS NOT NULL AND outcome NOT IN ('error', 'incomplete') \
                 AND NOT EXISTS (SELECT 1 FROM digest_rows WHERE run_seq = runs.seq) ORDER BY started_at_ns, id",
            )
            .at(&self.path)?;
        let rows = stmt.query_map([], |r| r.get(0)).at(&self.path)?;
        rows.collect::<rusqlite::Result<_>>().at(&self.path)
    }

    fn put_digest(&self, run_id: &str, rows: &[DigestRow]) -> Result<(), HistoryError> {
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let known: bool =
            tx.query_row("SELECT EXISTS (SELECT 1 FROM runs WHERE id = ?1)", [run_id], |r| r.get(0)).at(&self.path)?;
        if !known {
            return Err(HistoryError::NotFound { path: self.path.clone(), id: run_id.to_string() });
        }
        write_digest(&tx, run_id, rows).at(&self.path)?;
        tx.commit().at(&self.path)
    }
}

fn context_json(context: Option<&RunContext>) -> Option<String> {
    context.and_then(|c| serde_json::to_string(c).ok())
}

fn read_pin(row: &Row<'_>) -> rusqlite::Result<Pin> {
    let ended: (Option<String>, Option<i64>) = (row.get("invalidated_by")?, row.get("invalidated_at_ns")?);
    let invalidated = match ended {
        (Some(by), Some(at_ns)) => Some(Invalidation {
            by,
            at_ns,
            reason: row.get::<_, Option<String>>("invalidated_reason")?.unwrap_or_default(),
            replaced_by: row.get("replaced_by")?,
        }),
        _ => None,
    };
    Ok(Pin {
        id: row.get("id")?,
        run_id: row.get("run_id")?,
        test: row.get("test")?,
        environment: row.get("environment")?,
        pinned_by: row.get("pinned_by")?,
        pinned_at_ns: row.get("pinned_at_ns")?,
        reason: row.get("reason")?,
        invalidated,
    })
}

/// A stored JSON document, checked to be JSON as it is read.
struct Json(Box<RawValue>);

/// A summary or verdict column: a gzip BLOB, or JSON TEXT written before schema version 6.
impl FromSql for Json {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let bytes = match value {
            ValueRef::Text(b) | ValueRef::Blob(b) => b,
            _ => return Err(FromSqlError::InvalidType),
        };
        super::document::read_json(bytes).map(Json).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// A summary or verdict column as text, decompressed but not checked to be JSON: for a
/// reader that parses (part of) it anyway, and should not pay for parsing it twice.
struct JsonText(String);

impl FromSql for JsonText {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        let bytes = match value {
            ValueRef::Text(b) | ValueRef::Blob(b) => b,
            _ => return Err(FromSqlError::InvalidType),
        };
        let plain = super::document::decompress(bytes).map_err(|e| FromSqlError::Other(Box::new(e)))?;
        String::from_utf8(plain.into_owned()).map(JsonText).map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// A document as the store writes it (`document.rs`).
fn packed(json: Option<&RawValue>) -> rusqlite::Result<Option<Vec<u8>>> {
    json.map(|j| super::document::compress(j.get().as_bytes()))
        .transpose()
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
}

impl ToSql for Outcome {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(self.as_str().into())
    }
}

impl FromSql for Outcome {
    fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
        value.as_str()?.parse().map_err(|e| FromSqlError::Other(Box::new(e)))
    }
}

/// Puts the database path on an SQLite error.
pub(super) trait At<T> {
    fn at(self, path: &Path) -> Result<T, HistoryError>;
}

impl<T> At<T> for rusqlite::Result<T> {
    fn at(self, path: &Path) -> Result<T, HistoryError> {
        self.map_err(|source| HistoryError::Sqlite { path: path.into(), source })
    }
}

/// The lock of a local state directory: one row per scope, changed in IMMEDIATE
/// transactions, so two processes on this machine never both take it.
impl super::lease::Leases for SqliteStore {
    fn try_acquire(
        &self,
        scope: &str,
        holder: &super::lease::Holder,
        token: &str,
        now_ns: i64,
        ttl_ns: i64,
    ) -> Result<super::lease::Attempt, HistoryError> {
        let tx = self.transaction(TransactionBehavior::Immediate)?;
        let current = read_lease(&tx, scope).at(&self.path)?;
        let attempt = super::lease::decide(current.as_ref(), now_ns);
        if matches!(attempt, super::lease::Attempt::Acquired { .. }) {
            let holder = serde_json::to_string(holder).map_err(|e| self.invalid(e.to_string()))?;
            tx.execute(
                "INSERT INTO leases (scope, holder, token, expires_at_ns) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (scope) DO UPDATE SET holder = excluded.holder, token = excluded.token, \
                 expires_at_ns = excluded.expires_at_ns",
                params![scope, holder, token, now_ns.saturating_add(ttl_ns)],
            )
            .at(&self.path)?;
        }
        tx.commit().at(&self.path)?;
        Ok(attempt)
    }

    fn renew(&self, scope: &str, token: &str, now_ns: i64, ttl_ns: i64) -> Result<bool, HistoryError> {
        let changed = self
            .conn
            .execute(
                "UPDATE leases SET expires_at_ns = ?1 WHERE scope = ?2 AND token = ?3 AND expires_at_ns > 0",
                params![now_ns.saturating_add(ttl_ns), scope, token],
            )
            .at(&self.path)?;
        Ok(changed == 1)
    }

    fn release(&self, scope: &str, token: &str) -> Result<(), HistoryError> {
        self.conn
            .execute("UPDATE leases SET expires_at_ns = 0 WHERE scope = ?1 AND token = ?2", params![scope, token])
            .map(drop)
            .at(&self.path)
    }

    fn held(&self, scope: &str, now_ns: i64) -> Result<Option<(super::lease::Holder, i64)>, HistoryError> {
        let current = read_lease(&self.conn, scope).at(&self.path)?;
        Ok(super::lease::holder_of(current.as_ref(), now_ns))
    }
}

fn read_lease(conn: &Connection, scope: &str) -> rusqlite::Result<Option<super::lease::LeaseRecord>> {
    let row: Option<(String, String, i64)> = conn
        .prepare_cached("SELECT holder, token, expires_at_ns FROM leases WHERE scope = ?1")?
        .query_row([scope], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    row.map(|(holder, token, expires_at_ns)| {
        let holder = serde_json::from_str(&holder)
            .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))?;
        Ok(super::lease::LeaseRecord { holder, token, expires_at_ns })
    })
    .transpose()
}

impl super::page::RunPages for SqliteStore {
    fn run_page(&self, q: &super::page::PageQuery) -> Result<super::page::RunPage, HistoryError> {
        use rusqlite::types::Value;
        // Only the filters given become conditions, so the planner picks `runs_by_version`
        // or `runs_by_time` for a test's runs and `runs_by_start` otherwise; every value is
        // bound, never spliced.
        let mut conditions: Vec<String> = Vec::new();
        let mut values: Vec<Value> = Vec::new();
        let mut equal = |column: &str, v: &Option<String>, conditions: &mut Vec<String>| {
            if let Some(v) = v {
                values.push(Value::Text(v.clone()));
                conditions.push(format!("{column} = ?{}", values.len()));
            }
        };
        equal("test", &q.test, &mut conditions);
        equal("environment", &q.environment, &mut conditions);
        equal("deployment_version", &q.version, &mut conditions);
        equal("git_branch", &q.branch, &mut conditions);
        equal("outcome", &q.outcome.map(|o| o.as_str().to_string()), &mut conditions);
        if let Some(tests) = &q.tests {
            if tests.is_empty() {
                conditions.push("0".into());
            } else {
                let marks: Vec<String> = tests
                    .iter()
                    .map(|t| {
                        values.push(Value::Text(t.clone()));
                        format!("?{}", values.len())
                    })
                    .collect();
                conditions.push(format!("test IN ({})", marks.join(", ")));
            }
        }
        if let Some(since) = q.since_ns {
            values.push(Value::Integer(since));
            conditions.push(format!("started_at_ns >= ?{}", values.len()));
        }
        if let Some(until) = q.until_ns {
            values.push(Value::Integer(until));
            conditions.push(format!("started_at_ns < ?{}", values.len()));
        }
        if let Some(c) = &q.after {
            values.push(Value::Integer(c.started_at_ns));
            values.push(Value::Text(c.id.clone()));
            let (t, i) = (values.len() - 1, values.len());
            // The first conjunct is the index range; the second breaks ties within one start time.
            conditions.push(format!("started_at_ns <= ?{t} AND (started_at_ns < ?{t} OR id < ?{i})"));
        }
        let limit = q.limit.max(1);
        values.push(Value::Integer(i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)));
        let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        let sql = format!(
            "SELECT id, test, environment, outcome, started_at_ns, finished_at_ns, git_branch, git_commit, \
             deployment_version, user FROM runs {filter} ORDER BY started_at_ns DESC, id DESC LIMIT ?{}",
            values.len()
        );
        let mut stmt = self.conn.prepare_cached(&sql).at(&self.path)?;
        let rows = stmt
            .query_map(rusqlite::params_from_iter(values), |r| {
                Ok(super::page::ListedRun {
                    id: r.get(0)?,
                    test: r.get(1)?,
                    environment: r.get(2)?,
                    outcome: r.get(3)?,
                    started_at_ns: r.get(4)?,
                    finished_at_ns: r.get(5)?,
                    git_branch: r.get(6)?,
                    git_commit: r.get(7)?,
                    deployment_version: r.get(8)?,
                    user: r.get(9)?,
                })
            })
            .at(&self.path)?;
        let mut runs: Vec<super::page::ListedRun> = rows.collect::<rusqlite::Result<_>>().at(&self.path)?;
        let next = if runs.len() > limit {
            runs.truncate(limit);
            runs.last().map(|r| super::page::Cursor { started_at_ns: r.started_at_ns, id: r.id.clone() })
        } else {
            None
        };
        Ok(super::page::RunPage { runs, next })
    }

    fn facets(&self) -> Result<super::page::Facets, HistoryError> {
        // Both read `runs_by_test` (test, environment leading) alone.
        let distinct = |sql: &str| -> Result<Vec<String>, HistoryError> {
            let mut stmt = self.conn.prepare_cached(sql).at(&self.path)?;
            let rows = stmt.query_map([], |r| r.get(0)).at(&self.path)?;
            rows.collect::<rusqlite::Result<_>>().at(&self.path)
        };
        let tests = distinct("SELECT DISTINCT test FROM runs ORDER BY test")?;
        let mut environments = distinct("SELECT DISTINCT environment FROM runs")?;
        environments.sort();
        Ok(super::page::Facets { tests, environments })
    }

    fn verdicts(&self, ids: &[&str]) -> Result<Vec<super::page::StoredVerdict>, HistoryError> {
        let mut out = Vec::with_capacity(ids.len());
        // Batches well under SQLite's 32,766 bound variables.
        for batch in ids.chunks(500) {
            let marks = vec!["?"; batch.len()].join(", ");
            let mut stmt = self
                .conn
                .prepare_cached(&format!("SELECT id, verdict FROM runs WHERE id IN ({marks})"))
                .at(&self.path)?;
            let rows = stmt
                .query_map(rusqlite::params_from_iter(batch.iter()), |r| {
                    Ok(super::page::StoredVerdict {
                        id: r.get(0)?,
                        verdict: r.get::<_, Option<JsonText>>(1)?.map(|j| j.0),
                    })
                })
                .at(&self.path)?;
            let mut found: std::collections::HashMap<String, super::page::StoredVerdict> =
                rows.map(|r| r.map(|v| (v.id.clone(), v))).collect::<rusqlite::Result<_>>().at(&self.path)?;
            out.extend(batch.iter().filter_map(|id| found.remove(*id)));
        }
        Ok(out)
    }
}

impl SqliteStore {
    /// The connection and the file's path, for the audit trail and the saved permissions
    /// (`audit.rs`), which keep their SQL beside their types.
    pub(super) fn connection(&self) -> (&Connection, &Path) {
        (&self.conn, &self.path)
    }
}
