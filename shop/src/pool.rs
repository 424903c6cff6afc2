//! A few SQLite connections shared by the blocking threads that run queries.
//!
//! SQLite in WAL mode lets readers run beside one writer; each connection waits up to
//! `BUSY_TIMEOUT` for the write lock, and multi-statement writes take it up front
//! (`BEGIN IMMEDIATE`), so concurrent requests queue instead of failing with `SQLITE_BUSY`.
//! Callers run on tokio's blocking pool (`spawn_blocking`), never on the async threads.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use crate::facts::PoolStats;

/// How long a connection waits for another's write lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the database lives.
#[derive(Debug, Clone)]
pub enum Location {
    File(std::path::PathBuf),
    /// One private in-memory database: a pool of exactly one connection.
    Memory,
}

#[derive(Debug)]
pub struct Pool {
    idle: Mutex<Vec<Connection>>,
    returned: Condvar,
    /// Waits, queue length and connections in use, for `/metrics` (`crate::facts`).
    stats: PoolStats,
}

impl Pool {
    /// Opens `size` connections (one for `Location::Memory`) and runs `init` on the first, before
    /// the others open, so schema creation never races.
    pub fn open(
        location: &Location,
        size: usize,
        init: impl FnOnce(&mut Connection) -> rusqlite::Result<()>,
    ) -> rusqlite::Result<Pool> {
        let size = match location {
            Location::File(_) => size.max(1),
            Location::Memory => 1,
        };
        let mut first = connect(location)?;
        init(&mut first)?;
        let mut idle = vec![first];
        for _ in 1..size {
            idle.push(connect(location)?);
        }
        let stats = PoolStats::new(idle.len());
        Ok(Pool { idle: Mutex::new(idle), returned: Condvar::new(), stats })
    }

    /// Runs `f` on an idle connection, waiting for one if all are busy. Blocks: call it from a
    /// blocking thread. The connection goes back to the pool even if `f` panics.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        let mut conn = self.take();
        let out = catch_unwind(AssertUnwindSafe(|| f(&mut conn)));
        self.put(conn);
        out.unwrap_or_else(|payload| resume_unwind(payload))
    }

    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    fn take(&self) -> Connection {
        let asked = std::time::Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let mut queued = false;
        loop {
            if let Some(conn) = idle.pop() {
                self.stats.acquired(asked.elapsed(), queued);
                return conn;
            }
            if !queued {
                queued = true;
                self.stats.queued();
            }
            idle = self.returned.wait(idle).unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn put(&self, conn: Connection) {
        self.stats.released();
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).push(conn);
        self.returned.notify_one();
    }
}

fn connect(location: &Location) -> rusqlite::Result<Connection> {
    let conn = match location {
        Location::File(path) => Connection::open(path)?,
        Location::Memory => Connection::open_with_flags(":memory:", OpenFlags::default())?,
    };
    conn.busy_timeout(BUSY_TIMEOUT)?;
    // WAL: readers never block the writer. An in-memory database answers "memory" and stays so.
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    // NORMAL is durable enough under WAL for a demo and avoids an fsync per commit.
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(conn)
}
