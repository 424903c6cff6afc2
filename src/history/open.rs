//! The store a command uses: the local SQLite file, or the remote store with that file as its
//! cache. Chosen once, from the settings; everything else sees a [`RunStore`].

use std::path::PathBuf;

use super::baseline::BaselineChoice;
use super::error::HistoryError;
use super::lease::{Attempt, Holder, Leases};
use super::pin::Pin;
use super::remote::{RemoteConfig, RemoteStore};
use super::run::{NewRun, RunFilter, RunRecord};
use super::sqlite::{FILE_NAME, SqliteStore};
use super::store::RunStore;

/// Where the history is.
#[derive(Debug, Clone)]
pub struct HistoryConfig {
    /// `.k6gate`: the SQLite file (the history, or the remote's cache) and run directories.
    pub state_dir: PathBuf,
    /// The durable store (`--history URL`), when there is one.
    pub remote: Option<RemoteConfig>,
}

impl HistoryConfig {
    /// The local history in `state_dir`, with no durable store.
    pub fn local(state_dir: impl Into<PathBuf>) -> HistoryConfig {
        HistoryConfig { state_dir: state_dir.into(), remote: None }
    }
}

/// An open history.
pub enum Store {
    Local(SqliteStore),
    Remote(Box<RemoteStore>),
}

impl Store {
    /// Opens the history: the SQLite file under the state directory, and the remote store in
    /// front of it when one is configured (which must answer now: see `remote.rs`).
    pub fn open(config: &HistoryConfig) -> Result<Store, HistoryError> {
        let local = SqliteStore::open(config.state_dir.join(FILE_NAME))?;
        Ok(match &config.remote {
            None => Store::Local(local),
            Some(remote) => Store::Remote(Box::new(RemoteStore::open(remote, local)?)),
        })
    }

    /// The file or URL, as messages name the store.
    pub fn name(&self) -> String {
        match self {
            Store::Local(s) => s.path().display().to_string(),
            Store::Remote(s) => s.url().to_string(),
        }
    }

    pub fn remote(&self) -> Option<&RemoteStore> {
        match self {
            Store::Local(_) => None,
            Store::Remote(s) => Some(s.as_ref()),
        }
    }

    fn runs(&self) -> &dyn RunStore {
        match self {
            Store::Local(s) => s,
            Store::Remote(s) => s.as_ref(),
        }
    }

    fn leases(&self) -> &dyn Leases {
        match self {
            Store::Local(s) => s,
            Store::Remote(s) => s.as_ref(),
        }
    }
}

impl RunStore for Store {
    fn record_run(&self, run: &NewRun) -> Result<String, HistoryError> {
        self.runs().record_run(run)
    }

    fn get_run(&self, id_or_prefix: &str) -> Result<RunRecord, HistoryError> {
        self.runs().get_run(id_or_prefix)
    }

    fn list_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<RunRecord>, HistoryError> {
        self.runs().list_runs(filter)
    }

    fn baseline(
        &self,
        test: &str,
        environment: &str,
        default_branch: &str,
    ) -> Result<Option<BaselineChoice>, HistoryError> {
        self.runs().baseline(test, environment, default_branch)
    }

    fn pin(&self, run_id: &str, by: &str, reason: &str, at_ns: i64) -> Result<Pin, HistoryError> {
        self.runs().pin(run_id, by, reason, at_ns)
    }

    fn invalidate_pin(
        &self,
        test: &str,
        environment: &str,
        by: &str,
        reason: &str,
        at_ns: i64,
    ) -> Result<Pin, HistoryError> {
        self.runs().invalidate_pin(test, environment, by, reason, at_ns)
    }

    fn active_pin(&self, test: &str, environment: &str) -> Result<Option<Pin>, HistoryError> {
        self.runs().active_pin(test, environment)
    }

    fn list_pins(&self, test: Option<&str>, environment: Option<&str>) -> Result<Vec<Pin>, HistoryError> {
        self.runs().list_pins(test, environment)
    }
}

impl super::prune::Prune for Store {
    fn stored_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<super::prune::StoredRun>, HistoryError> {
        match self {
            Store::Local(s) => s.stored_runs(filter),
            Store::Remote(s) => s.stored_runs(filter),
        }
    }

    fn delete_run(&self, id: &str) -> Result<u64, HistoryError> {
        match self {
            Store::Local(s) => s.delete_run(id),
            Store::Remote(s) => s.delete_run(id),
        }
    }

    fn replace_summary(
        &self,
        id: &str,
        summary: &serde_json::value::RawValue,
        series_from_s: f64,
    ) -> Result<(u64, u64), HistoryError> {
        match self {
            Store::Local(s) => s.replace_summary(id, summary, series_from_s),
            Store::Remote(s) => s.replace_summary(id, summary, series_from_s),
        }
    }

    fn reclaim(&self) -> Result<u64, HistoryError> {
        match self {
            Store::Local(s) => s.reclaim(),
            Store::Remote(s) => s.reclaim(),
        }
    }

    fn note_series(&self, id: &str, series_from_s: f64) -> Result<(), HistoryError> {
        match self {
            Store::Local(s) => s.note_series(id, series_from_s),
            Store::Remote(s) => s.note_series(id, series_from_s),
        }
    }
}

impl Leases for Store {
    fn try_acquire(
        &self,
        scope: &str,
        holder: &Holder,
        token: &str,
        now_ns: i64,
        ttl_ns: i64,
    ) -> Result<Attempt, HistoryError> {
        self.leases().try_acquire(scope, holder, token, now_ns, ttl_ns)
    }

    fn renew(&self, scope: &str, token: &str, now_ns: i64, ttl_ns: i64) -> Result<bool, HistoryError> {
        self.leases().renew(scope, token, now_ns, ttl_ns)
    }

    fn release(&self, scope: &str, token: &str) -> Result<(), HistoryError> {
        self.leases().release(scope, token)
    }

    fn held(&self, scope: &str, now_ns: i64) -> Result<Option<(Holder, i64)>, HistoryError> {
        self.leases().held(scope, now_ns)
    }
}

impl super::records::Records for Store {
    fn digest_runs(
        &self,
        query: &super::records::DigestQuery<'_>,
    ) -> Result<Vec<super::records::DigestRun>, HistoryError> {
        match self {
            Store::Local(s) => s.digest_runs(query),
            Store::Remote(s) => s.digest_runs(query),
        }
    }

    fn runs_without_digest(&self) -> Result<Vec<String>, HistoryError> {
        match self {
            Store::Local(s) => s.runs_without_digest(),
            Store::Remote(s) => s.runs_without_digest(),
        }
    }

    fn put_digest(&self, run_id: &str, rows: &[crate::summary::digest::DigestRow]) -> Result<(), HistoryError> {
        match self {
            Store::Local(s) => s.put_digest(run_id, rows),
            Store::Remote(s) => s.put_digest(run_id, rows),
        }
    }
}

impl super::decision::Decisions for Store {
    fn decisions(&self, ids: &[&str]) -> Result<Vec<super::decision::StoredDecision>, HistoryError> {
        match self {
            Store::Local(s) => s.decisions(ids),
            Store::Remote(s) => s.decisions(ids),
        }
    }

    fn runs_without_decision(&self) -> Result<Vec<String>, HistoryError> {
        match self {
            Store::Local(s) => s.runs_without_decision(),
            Store::Remote(s) => s.runs_without_decision(),
        }
    }

    fn put_decision(&self, run_id: &str, decision: &super::decision::Decision) -> Result<(), HistoryError> {
        match self {
            Store::Local(s) => s.put_decision(run_id, decision),
            Store::Remote(s) => s.put_decision(run_id, decision),
        }
    }
}

impl super::page::RunPages for Store {
    fn run_page(&self, query: &super::page::PageQuery) -> Result<super::page::RunPage, HistoryError> {
        match self {
            Store::Local(s) => s.run_page(query),
            Store::Remote(s) => s.run_page(query),
        }
    }

    fn facets(&self) -> Result<super::page::Facets, HistoryError> {
        match self {
            Store::Local(s) => s.facets(),
            Store::Remote(s) => s.facets(),
        }
    }

    fn verdicts(&self, ids: &[&str]) -> Result<Vec<super::page::StoredVerdict>, HistoryError> {
        match self {
            Store::Local(s) => s.verdicts(ids),
            Store::Remote(s) => s.verdicts(ids),
        }
    }
}
