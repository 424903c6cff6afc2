//! The SQLite schema and its migrations.
//!
//! `PRAGMA user_version` holds the schema version: it lives in the file header and changes
//! in the same transaction as the migration, so a file is never half-migrated. Migration
//! `n` (1-based) takes a database from version `n - 1` to `n`; released migrations are never
//! edited, only appended to. `PRAGMA application_id` marks the file as k6gate's.

use std::path::Path;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::error::HistoryError;
use super::sqlite::At;

/// The schema version this k6gate writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// `k6gt` in ASCII.
const APPLICATION_ID: i64 = 0x6b36_6774;

const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7, V8];

/// Version 8: each decided run's decision record (`decision.rs`), what the accountability
/// page and its metric count, so that they never read a verdict per request (issue 17:
/// `/teams` read ~1,900 verdicts per team on a one-year store).
/// - `run_decisions`: one row per run that has a record: its failing rule results.
/// - `run_overrides`: one row per exception of its verdict (a waiver or a migration window
///   that let a failing rule pass), in the verdict's order, with who approved it.
///
/// Runs recorded before this version get theirs from their stored verdicts, once
/// (`policy::decision::backfill`: `k6gate serve` at start, `k6gate history backfill`): SQL
/// cannot read a gzip-compressed verdict. Until then the page reads their verdicts.
const V8: &str = "
CREATE TABLE run_decisions (
    run_seq    INTEGER PRIMARY KEY REFERENCES runs (seq) ON DELETE CASCADE,
    violations INTEGER NOT NULL CHECK (violations >= 0)
) STRICT;

CREATE TABLE run_overrides (
    run_seq     INTEGER NOT NULL REFERENCES run_decisions (run_seq) ON DELETE CASCADE,
    n           INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind <> ''),
    by_id       TEXT NOT NULL,
    result      TEXT NOT NULL,
    approved_by TEXT,
    verified    INTEGER NOT NULL CHECK (verified IN (0, 1)),
    owner       TEXT,
    PRIMARY KEY (run_seq, n)
) STRICT;
";

/// Version 7: the audit trail and the Grafana permissions the guard saved (issue 14).
/// - `audit`: one row per thing done to an environment (a run and its outcome, a refused
///   preflight or window, a guard action, a read-only switch or restore, a teardown result):
///   who, on which host, when, what, the result and its details (JSON). Append-only.
/// - `saved_permissions`: a Grafana folder's permissions as they were before the guard made
///   it view-only, kept until they are put back (`k6gate guard restore`, or the next `run`).
///   One row per Grafana and folder: a folder already saved is never saved again (that
///   would keep the view-only state as the "original").
const V7: &str = "
CREATE TABLE audit (
    seq         INTEGER PRIMARY KEY,
    at_ns       INTEGER NOT NULL,
    environment TEXT,
    who         TEXT NOT NULL CHECK (who <> ''),
    host        TEXT,
    kind        TEXT NOT NULL CHECK (kind <> ''),
    run_id      TEXT,
    result      TEXT NOT NULL CHECK (result <> ''),
    detail      TEXT NOT NULL
) STRICT;
CREATE INDEX audit_by_time ON audit (at_ns, seq);

CREATE TABLE saved_permissions (
    grafana     TEXT NOT NULL CHECK (grafana <> ''),
    folder_uid  TEXT NOT NULL CHECK (folder_uid <> ''),
    environment TEXT NOT NULL,
    run_id      TEXT,
    saved_at_ns INTEGER NOT NULL,
    items       TEXT NOT NULL,
    PRIMARY KEY (grafana, folder_uid)
) STRICT;
";

/// Version 6: summaries and verdicts stored gzip-compressed (`document.rs`), about a sixth of
/// their JSON. Their columns become `ANY`, the one STRICT type that holds both the compressed
/// BLOBs written from now on and the JSON TEXT written before, read alike. The table is
/// rebuilt as in V4, and its indexes with it, then [`compress_documents`] compresses the
/// documents already there (SQL cannot gzip), in the same transaction.
///
/// `series_from_s`: what retention last left of the summary's time series (windows shorter
/// than this are gone; infinity: none are left), written by retention and NULL as recorded.
/// Prune plans from it and opens only the summaries that still hold something to coarsen.
///
/// The records shrink by a fifth (`bench/one-year.sh`: 55 rows a run, 2.9 million in a year):
/// `digest_rows` names its run by the run's `seq` (an INTEGER PRIMARY KEY, so stable) instead
/// of its 20-character id, and its phase and group by ids into `digest_labels`. The
/// `run_digest` view shows them as before, for anyone reading the file with SQL.
const V6: &str = "
CREATE TABLE runs_v6 (
    seq                INTEGER PRIMARY KEY,
    id                 TEXT NOT NULL UNIQUE,
    test               TEXT NOT NULL CHECK (test <> ''),
    environment        TEXT NOT NULL CHECK (environment <> ''),
    outcome            TEXT NOT NULL
                       CHECK (outcome IN ('pass', 'warn', 'fail', 'inconclusive', 'error', 'incomplete')),
    started_at_ns      INTEGER NOT NULL,
    finished_at_ns     INTEGER,
    user               TEXT,
    host               TEXT,
    git_branch         TEXT,
    git_commit         TEXT,
    deployment_version TEXT,
    run_dir            TEXT,
    k6_exit_code       INTEGER,
    k6gate_version     TEXT NOT NULL,
    summary            ANY CHECK (typeof(summary) IN ('null', 'text', 'blob')),
    verdict            ANY CHECK (typeof(verdict) IN ('null', 'text', 'blob')),
    problem            TEXT,
    context            TEXT,
    series_from_s      REAL,
    CHECK (outcome IN ('error', 'incomplete') OR (summary IS NOT NULL AND verdict IS NOT NULL))
) STRICT;

INSERT INTO runs_v6 (id, test, environment, outcome, started_at_ns, finished_at_ns, user, host, git_branch,
    git_commit, deployment_version, run_dir, k6_exit_code, k6gate_version, summary, verdict, problem, context)
SELECT id, test, environment, outcome, started_at_ns, finished_at_ns, user, host, git_branch,
    git_commit, deployment_version, run_dir, k6_exit_code, k6gate_version, summary, verdict, problem, context FROM runs
ORDER BY started_at_ns, id;
DROP TABLE runs;
ALTER TABLE runs_v6 RENAME TO runs;
CREATE INDEX runs_by_test ON runs (test, environment, started_at_ns DESC);
CREATE INDEX runs_by_start ON runs (started_at_ns DESC);
CREATE INDEX runs_by_version ON runs (test, environment, deployment_version, started_at_ns, id, git_branch, outcome);
CREATE INDEX runs_by_time ON runs (test, environment, started_at_ns, id, deployment_version, git_branch, outcome);

CREATE TABLE digest_labels (
    id    INTEGER PRIMARY KEY,
    label TEXT NOT NULL UNIQUE
) STRICT;

CREATE TABLE digest_rows (
    run_seq          INTEGER NOT NULL REFERENCES runs (seq) ON DELETE CASCADE,
    phase            INTEGER NOT NULL REFERENCES digest_labels (id),
    grp              INTEGER NOT NULL REFERENCES digest_labels (id),
    duration_s       REAL NOT NULL,
    requests         INTEGER NOT NULL,
    requests_per_s   REAL NOT NULL,
    failed           INTEGER NOT NULL,
    error_rate       REAL,
    p50_ms           REAL,
    p95_ms           REAL,
    p99_ms           REAL,
    mean_ms          REAL,
    max_ms           REAL,
    iterations_per_s REAL,
    PRIMARY KEY (run_seq, phase, grp)
) STRICT, WITHOUT ROWID;

INSERT INTO digest_labels (label) SELECT phase FROM run_digest UNION SELECT grp FROM run_digest;
INSERT INTO digest_rows SELECT r.seq, p.id, g.id, d.duration_s, d.requests, d.requests_per_s, d.failed, d.error_rate,
    d.p50_ms, d.p95_ms, d.p99_ms, d.mean_ms, d.max_ms, d.iterations_per_s
FROM run_digest d JOIN runs r ON r.id = d.run_id
    JOIN digest_labels p ON p.label = d.phase JOIN digest_labels g ON g.label = d.grp;
DROP TABLE run_digest;

CREATE VIEW run_digest AS SELECT r.id AS run_id, p.label AS phase, g.label AS grp, d.duration_s, d.requests,
    d.requests_per_s, d.failed, d.error_rate, d.p50_ms, d.p95_ms, d.p99_ms, d.mean_ms, d.max_ms, d.iterations_per_s
FROM digest_rows d JOIN runs r ON r.seq = d.run_seq
    JOIN digest_labels p ON p.id = d.phase JOIN digest_labels g ON g.id = d.grp;
";

/// Version 5: each decided run's compact record (`summary::digest`: one row per phase and
/// group with P50/P95/P99, error rate, duration and throughput), for the historical queries
/// (`history compare`, `history trend`) that must never open a summary. The rows are given by
/// the caller with the run (the store never reads inside a summary); runs recorded before
/// this version get theirs from `k6gate history backfill`, which reads each stored summary
/// in `src/cli` and hands the rows back. A row goes with its run (`ON DELETE CASCADE`).
/// The sketch stays in the summary: the rows hold numbers only.
///
/// `runs_by_version` finds a deployment's runs without a scan, `runs_by_time` a test's runs
/// since a time; both cover the columns the queries read, so a year of runs is read without
/// touching the run rows (each on its own pages, beside its summary). The rows' primary key
/// reaches one phase and group of a run directly.
const V5: &str = "
CREATE TABLE run_digest (
    run_id           TEXT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    phase            TEXT NOT NULL,
    grp              TEXT NOT NULL,
    duration_s       REAL NOT NULL,
    requests         INTEGER NOT NULL,
    requests_per_s   REAL NOT NULL,
    failed           INTEGER NOT NULL,
    error_rate       REAL,
    p50_ms           REAL,
    p95_ms           REAL,
    p99_ms           REAL,
    mean_ms          REAL,
    max_ms           REAL,
    iterations_per_s REAL,
    PRIMARY KEY (run_id, phase, grp)
) STRICT, WITHOUT ROWID;

CREATE INDEX runs_by_version ON runs (test, environment, deployment_version, started_at_ns, id, git_branch, outcome);
CREATE INDEX runs_by_time ON runs (test, environment, started_at_ns, id, deployment_version, git_branch, outcome);
";

/// Version 4: the `inconclusive` outcome (a run whose load generator was saturated: judged,
/// never a baseline). SQLite cannot change a CHECK constraint in place, so the table is
/// rebuilt as its documentation describes (ALTER TABLE, "other kinds of table schema
/// changes"): the same columns in the same order, copied, the old table dropped and the new
/// one renamed, with foreign keys off meanwhile and checked before commit ([`migrate`]).
const V4: &str = "
CREATE TABLE runs_v4 (
    id                 TEXT PRIMARY KEY NOT NULL,
    test               TEXT NOT NULL CHECK (test <> ''),
    environment        TEXT NOT NULL CHECK (environment <> ''),
    outcome            TEXT NOT NULL
                       CHECK (outcome IN ('pass', 'warn', 'fail', 'inconclusive', 'error', 'incomplete')),
    started_at_ns      INTEGER NOT NULL,
    finished_at_ns     INTEGER,
    user               TEXT,
    host               TEXT,
    git_branch         TEXT,
    git_commit         TEXT,
    deployment_version TEXT,
    run_dir            TEXT,
    k6_exit_code       INTEGER,
    k6gate_version     TEXT NOT NULL,
    summary            TEXT,
    verdict            TEXT,
    problem            TEXT,
    context            TEXT,
    CHECK (outcome IN ('error', 'incomplete') OR (summary IS NOT NULL AND verdict IS NOT NULL))
) STRICT;

INSERT INTO runs_v4 SELECT id, test, environment, outcome, started_at_ns, finished_at_ns, user, host, git_branch,
    git_commit, deployment_version, run_dir, k6_exit_code, k6gate_version, summary, verdict, problem, context FROM runs;
DROP TABLE runs;
ALTER TABLE runs_v4 RENAME TO runs;
CREATE INDEX runs_by_test ON runs (test, environment, started_at_ns DESC);
CREATE INDEX runs_by_start ON runs (started_at_ns DESC);
";

/// Version 3: the durable store and the lock.
/// - `context`: who and what triggered a run (the Actions actor and event, or the git user),
///   as JSON, and whether it was a bootstrap run.
/// - `established`: the test, environment and default branch triples this store has served a
///   baseline for. One listed here never again answers "no baseline": that is lost history.
/// - `outbox`: runs recorded here but not yet uploaded to the remote store.
/// - `leases`: one run at a time per environment (the lock of a local state directory).
const V3: &str = "
ALTER TABLE runs ADD COLUMN context TEXT;

CREATE TABLE established (
    test        TEXT NOT NULL,
    environment TEXT NOT NULL,
    branch      TEXT NOT NULL,
    run_id      TEXT NOT NULL,
    PRIMARY KEY (test, environment, branch)
) STRICT;

CREATE TABLE outbox (
    run_id  TEXT PRIMARY KEY NOT NULL REFERENCES runs (id),
    remote  TEXT NOT NULL,
    problem TEXT
) STRICT;

CREATE TABLE leases (
    scope         TEXT PRIMARY KEY NOT NULL,
    holder        TEXT NOT NULL,
    token         TEXT NOT NULL,
    expires_at_ns INTEGER NOT NULL
) STRICT;
";

/// Version 2: why a run is `error` or `incomplete`, kept with the run.
const V2: &str = "ALTER TABLE runs ADD COLUMN problem TEXT;";

const V1: &str = "
CREATE TABLE runs (
    id                 TEXT PRIMARY KEY NOT NULL,
    test               TEXT NOT NULL CHECK (test <> ''),
    environment        TEXT NOT NULL CHECK (environment <> ''),
    outcome            TEXT NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail', 'error', 'incomplete')),
    started_at_ns      INTEGER NOT NULL,
    finished_at_ns     INTEGER,
    user               TEXT,
    host               TEXT,
    git_branch         TEXT,
    git_commit         TEXT,
    deployment_version TEXT,
    run_dir            TEXT,
    k6_exit_code       INTEGER,
    k6gate_version     TEXT NOT NULL,
    -- The documents come last: a row's leading columns are read without touching the
    -- overflow pages that hold a large summary.
    summary            TEXT,
    verdict            TEXT,
    -- A gate decision is never stored without the data behind it.
    CHECK (outcome IN ('error', 'incomplete') OR (summary IS NOT NULL AND verdict IS NOT NULL))
) STRICT;

CREATE INDEX runs_by_test ON runs (test, environment, started_at_ns DESC);
CREATE INDEX runs_by_start ON runs (started_at_ns DESC);

CREATE TABLE pins (
    id                 INTEGER PRIMARY KEY,
    run_id             TEXT NOT NULL REFERENCES runs (id),
    -- The run's, copied so that the index below can hold one active pin per pair.
    test               TEXT NOT NULL,
    environment        TEXT NOT NULL,
    pinned_by          TEXT NOT NULL CHECK (pinned_by <> ''),
    pinned_at_ns       INTEGER NOT NULL,
    reason             TEXT NOT NULL CHECK (reason <> ''),
    invalidated_by     TEXT,
    invalidated_at_ns  INTEGER,
    invalidated_reason TEXT,
    replaced_by        INTEGER REFERENCES pins (id),
    CHECK ((invalidated_at_ns IS NULL) = (invalidated_by IS NULL)
       AND (invalidated_at_ns IS NULL) = (invalidated_reason IS NULL))
) STRICT;

-- At most one active pin per test and environment.
CREATE UNIQUE INDEX pins_active ON pins (test, environment) WHERE invalidated_at_ns IS NULL;
";

/// Brings the database up to [`SCHEMA_VERSION`], refusing files from a newer k6gate and
/// files that belong to something else.
pub(super) fn migrate(conn: &Connection, path: &Path) -> Result<(), HistoryError> {
    if check(conn, path)? == SCHEMA_VERSION {
        return Ok(());
    }
    // Immediate: of two processes opening a fresh file, one migrates and the other waits,
    // then finds the work done.
    // A migration that rebuilds a table (V4) drops the parent of the pins' foreign keys; the
    // pragma only takes effect outside a transaction, and the keys are checked before commit.
    let keys: bool = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).at(path)?;
    conn.pragma_update(None, "foreign_keys", false).at(path)?;
    let migrated = (|| {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate).at(path)?;
        let done = usize::try_from(check(&tx, path)?).unwrap_or(MIGRATIONS.len());
        for sql in MIGRATIONS.iter().skip(done) {
            tx.execute_batch(sql).at(path)?;
        }
        if done < 6 {
            compress_documents(&tx).at(path)?;
        }
        let broken: Option<String> = tx
            .query_row("SELECT \"table\" || ' row ' || rowid FROM pragma_foreign_key_check LIMIT 1", [], |r| r.get(0))
            .optional()
            .at(path)?;
        if let Some(row) = broken {
            return Err(HistoryError::Foreign { path: path.into(), message: format!("a broken reference in {row}") });
        }
        tx.pragma_update(None, "application_id", APPLICATION_ID).at(path)?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).at(path)?;
        tx.commit().at(path)
    })();
    conn.pragma_update(None, "foreign_keys", keys).at(path)?;
    migrated
}

/// Part of migration 6: every document still stored as JSON text, gzip-compressed. One pass
/// over the runs at the upgrade (about a second per 100 MB of JSON).
fn compress_documents(conn: &Connection) -> rusqlite::Result<()> {
    let mut read = conn.prepare(
        "SELECT id, CAST(summary AS BLOB), CAST(verdict AS BLOB) FROM runs \
         WHERE typeof(summary) = 'text' OR typeof(verdict) = 'text'",
    )?;
    let mut write = conn.prepare("UPDATE runs SET summary = ?2, verdict = ?3 WHERE id = ?1")?;
    let mut rows = read.query([])?;
    while let Some(row) = rows.next()? {
        let id: String = row.get(0)?;
        let pack = |i: usize| -> rusqlite::Result<Option<Vec<u8>>> {
            row.get::<_, Option<Vec<u8>>>(i)?
                .map(|json| super::document::compress(&json))
                .transpose()
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))
        };
        write.execute(rusqlite::params![id, pack(1)?, pack(2)?])?;
    }
    Ok(())
}

/// The file's schema version, if k6gate can use the file at all.
fn check(conn: &Connection, path: &Path) -> Result<i64, HistoryError> {
    let app: i64 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).at(path)?;
    if app != 0 && app != APPLICATION_ID {
        return Err(HistoryError::Foreign { path: path.into(), message: format!("application_id {app:#x}") });
    }
    let found = version(conn).at(path)?;
    if found > SCHEMA_VERSION {
        return Err(HistoryError::TooNew { path: path.into(), found, supported: SCHEMA_VERSION });
    }
    if found < 0 {
        return Err(HistoryError::Foreign { path: path.into(), message: format!("schema version {found}") });
    }
    Ok(found)
}

pub(super) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 5 file with a run, its records and a pin, upgraded: the records keep their
    /// numbers under the new keys, the documents are compressed, the pin still holds.
    #[test]
    fn version_5_records_and_documents_move_to_version_6() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let conn = Connection::open(&path).unwrap();
        for sql in MIGRATIONS.iter().take(5) {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 5;
             INSERT INTO runs (id, test, environment, outcome, started_at_ns, k6gate_version, summary, verdict) \
             VALUES ('20261128-001600-beef', 'checkout', 'dev', 'pass', 2, '0.1.0', '{\"s\":1}', '{\"v\":2}');
             INSERT INTO run_digest VALUES ('20261128-001600-beef', 'steady-state', '', 60.0, 1200, 20.0, 3, 0.0025, \
             10.0, 20.0, 30.0, 12.0, 45.0, 19.5);
             INSERT INTO run_digest VALUES ('20261128-001600-beef', 'steady-state', 'name=/cart', 60.0, 600, 10.0, 0, \
             0.0, 11.0, 21.0, 31.0, 13.0, 46.0, NULL);
             INSERT INTO pins (run_id, test, environment, pinned_by, pinned_at_ns, reason) \
             VALUES ('20261128-001600-beef', 'checkout', 'dev', 'alice', 3, 'release');",
        )
        .unwrap();
        migrate(&conn, &path).unwrap();
        assert_eq!(version(&conn).unwrap(), SCHEMA_VERSION);
        let rows: Vec<(String, String, String, f64, Option<f64>)> = conn
            .prepare("SELECT run_id, phase, grp, p95_ms, iterations_per_s FROM run_digest ORDER BY grp")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let id = "20261128-001600-beef".to_string();
        assert_eq!(
            rows,
            [
                (id.clone(), "steady-state".into(), String::new(), 20.0, Some(19.5)),
                (id.clone(), "steady-state".into(), "name=/cart".into(), 21.0, None),
            ]
        );
        let kinds: (String, String) = conn
            .query_row("SELECT typeof(summary), typeof(verdict) FROM runs", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!(kinds, ("blob".into(), "blob".into()));
        let pinned: String = conn.query_row("SELECT run_id FROM pins", [], |r| r.get(0)).unwrap();
        assert_eq!(pinned, id);
        // A deleted run takes its records with it.
        conn.pragma_update(None, "foreign_keys", true).unwrap();
        conn.execute("DELETE FROM pins", []).unwrap();
        conn.execute("DELETE FROM runs", []).unwrap();
        let left: i64 = conn.query_row("SELECT COUNT(*) FROM digest_rows", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }

    /// A version 6 file with a run moves to version 7: the run stays, the audit trail and
    /// the saved permissions start empty, and a folder cannot be saved twice.
    #[test]
    fn version_6_gains_the_audit_trail_and_saved_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        let conn = Connection::open(&path).unwrap();
        for sql in MIGRATIONS.iter().take(6) {
            conn.execute_batch(sql).unwrap();
        }
        conn.execute_batch(
            "PRAGMA user_version = 6;
             INSERT INTO runs (id, test, environment, outcome, started_at_ns, k6gate_version, problem) \
             VALUES ('20261206-220000-beef', 'checkout', 'prod', 'error', 2, '0.1.0', 'k6 missing');",
        )
        .unwrap();
        migrate(&conn, &path).unwrap();
        assert!(version(&conn).unwrap() >= 7);
        let runs: i64 = conn.query_row("SELECT COUNT(*) FROM runs", [], |r| r.get(0)).unwrap();
        assert_eq!(runs, 1);
        let audit: i64 = conn.query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0)).unwrap();
        assert_eq!(audit, 0);
        let save = "INSERT INTO saved_permissions (grafana, folder_uid, environment, saved_at_ns, items) \
                    VALUES ('http://g', 'ops', 'prod', 1, '[]')";
        conn.execute(save, []).unwrap();
        assert!(conn.execute(save, []).is_err(), "a folder saved twice would lose its original permissions");
        assert!(
            conn.execute(
                "INSERT INTO audit (at_ns, who, kind, result, detail) VALUES (1, '', 'run', 'pass', '{}')",
                []
            )
            .is_err()
        );
    }
}
