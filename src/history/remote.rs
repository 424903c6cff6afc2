//! The durable run store on object storage (S3 and S3-compatible, GCS, Azure, a local path),
//! with the SQLite store as its cache.
//!
//! Every object is written once and never changed, so two CI jobs recording at the same time
//! never overwrite each other, and any index can be rebuilt from the objects:
//!
//! ```text
//! <prefix>/runs/<test>/<env>/<run id>.json.gz     the RunRecord: metadata, summary, verdict,
//!                                                 as gzip JSON (`.json` before compression:
//!                                                 still read, replaced when rewritten)
//! <prefix>/pins/<test>/<env>/<event id>.json      a pin or the end of one (a PinEvent)
//! <prefix>/established/<test>/<env>/<branch>.json this pair had a baseline on that default
//!                                                 branch (never deleted)
//! <prefix>/pruned/<test>/<env>/<run id>.json      a run retention deleted (a tombstone: `sync`
//!                                                 never uploads it again from a cache)
//! <prefix>/locks/<environment>.json               the lease of the run loading it (changed by
//!                                                 compare-and-swap on its ETag)
//! ```
//!
//! The one exception to "written once" is retention (`k6gate history prune`): it deletes runs
//! past their period (leaving a tombstone) and rewrites a run's object with a smaller summary
//! (the same record, coarser series). Another machine's cache keeps its older copy of a
//! rewritten run until it is deleted there too; runs never change in what they say.
//!
//! Reads refresh the cache from the objects first (a listing, then only the objects the cache
//! lacks: runs are immutable), so answers are the remote's. A run is recorded in the cache
//! first and then uploaded: when the upload fails, the run stays in the cache's outbox, the
//! caller is told, and the next `run` or `history sync` uploads it.
//!
//! A store that cannot be reached, refuses the credentials, or has no such bucket is an
//! error, never an empty history: an empty answer would mean "no baseline".

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload, UpdateVersion};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use super::baseline::BaselineChoice;
use super::error::HistoryError;
use super::lease::{Attempt, Holder, LeaseRecord, Leases};
use super::pin::{Pin, PinEvent};
use super::run::{NewRun, RunFilter, RunRecord};
use super::sqlite::SqliteStore;
use super::store::RunStore;

/// Where the remote store is and how to reach it.
#[derive(Debug, Clone)]
pub struct RemoteConfig {
    /// `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix`, `file:///path`.
    pub url: String,
    /// Settings for the backend, by object_store's names (`aws_access_key_id`,
    /// `aws_endpoint`, `google_service_account`, `azure_storage_account_name`, ...). The CLI
    /// passes the `AWS_*`, `GOOGLE_*` and `AZURE_*` environment variables, lowercased.
    pub options: Vec<(String, String)>,
    /// How long one operation may take, retries included.
    pub timeout: Duration,
}

/// What `history sync` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SyncReport {
    pub uploaded: Vec<String>,
    pub downloaded: usize,
    /// Runs that are still only local, and why.
    pub failed: Vec<(String, String)>,
}

/// The remote store and its local cache.
pub struct RemoteStore {
    objects: Arc<dyn ObjectStore>,
    prefix: Key,
    /// The URL, as every error names it.
    url: String,
    cache: SqliteStore,
    /// Where leases live when the objects cannot be swapped (a local path).
    lease_db: Option<SqliteStore>,
    /// Pin events already read in this process (they never change).
    events: Mutex<BTreeMap<String, PinEvent>>,
    /// Why the last upload failed, for the caller to report.
    upload_problem: Mutex<Option<String>>,
}

impl RemoteStore {
    /// Opens the store at `config.url` with `cache` in front of it, and checks that it can be
    /// listed: wrong credentials or an unknown bucket fail here, not as "no baseline" later.
    pub fn open(config: &RemoteConfig, cache: SqliteStore) -> Result<RemoteStore, HistoryError> {
        let opened = open_objects(config)?;
        let store = RemoteStore {
            objects: opened.objects,
            prefix: opened.prefix,
            url: config.url.clone(),
            cache,
            lease_db: match opened.local_root {
                Some(root) => Some(SqliteStore::open(root.join("locks.db"))?),
                None => None,
            },
            events: Mutex::default(),
            upload_problem: Mutex::default(),
        };
        store.probe()?;
        Ok(store)
    }

    /// A store over objects the caller built (the tests use an in-memory one).
    pub fn with_objects(objects: Arc<dyn ObjectStore>, url: &str, cache: SqliteStore) -> RemoteStore {
        RemoteStore {
            objects,
            prefix: Key::default(),
            url: url.to_string(),
            cache,
            lease_db: None,
            events: Mutex::default(),
            upload_problem: Mutex::default(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn cache(&self) -> &SqliteStore {
        &self.cache
    }

    /// Why the last run recorded could not be uploaded (it stays in the outbox).
    pub fn upload_problem(&self) -> Option<String> {
        self.upload_problem.lock().ok().and_then(|p| p.clone())
    }

    /// Runs recorded here and not uploaded yet, with why.
    pub fn pending(&self) -> Result<Vec<(String, Option<String>)>, HistoryError> {
        self.cache.outbox()
    }

    /// Uploads the outbox. Returns the ids uploaded and the ones that failed again.
    pub fn flush_outbox(&self) -> Result<SyncReport, HistoryError> {
        let mut report = SyncReport::default();
        for (id, _) in self.cache.outbox()? {
            let record = self.cache.get_run(&id)?;
            match self.upload(&record) {
                Ok(()) => {
                    self.cache.uploaded(&id)?;
                    report.uploaded.push(id);
                }
                Err(e) => {
                    self.cache.queue_upload(&id, &self.url, Some(&e.to_string()))?;
                    report.failed.push((id, e.to_string()));
                }
            }
        }
        Ok(report)
    }

    /// Uploads every run the cache has and the store lacks (the outbox, and a local history
    /// recorded before the store was set), then downloads every run the cache lacks.
    pub fn sync(&self) -> Result<SyncReport, HistoryError> {
        let mut report = self.flush_outbox()?;
        let remote: HashSet<String> = self.remote_run_ids(None)?.into_keys().collect();
        let pruned = self.pruned_ids()?;
        let mut local = self.cache.run_ids(None)?;
        local.sort();
        for id in local.iter().filter(|id| pruned.contains(*id) && !remote.contains(*id)) {
            // Retention deleted it elsewhere: this cache's copy goes too (a pinned one stays).
            match super::prune::Prune::delete_run(&self.cache, id) {
                Ok(_) | Err(HistoryError::Pinned { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        for id in local.into_iter().filter(|id| !remote.contains(id) && !pruned.contains(id)) {
            let record = self.cache.get_run(&id)?;
            match self.upload(&record) {
                Ok(()) => report.uploaded.push(id),
                Err(e) => {
                    self.cache.queue_upload(&id, &self.url, Some(&e.to_string()))?;
                    report.failed.push((id, e.to_string()));
                }
            }
        }
        report.downloaded = self.refresh(None)?;
        Ok(report)
    }

    fn probe(&self) -> Result<(), HistoryError> {
        let prefix = self.prefix.clone();
        let objects = self.objects.clone();
        self.call("list the store", async move {
            let mut listing = objects.list(Some(&prefix));
            listing.try_next().await.map(drop)
        })
    }

    /// Runs `fut` on the shared runtime, naming the store and the action in its error.
    fn call<T: Send>(
        &self,
        action: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>> + Send,
    ) -> Result<T, HistoryError> {
        match crate::net::block_on(fut) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(self.remote_error(action, &e)),
            Err(e) => {
                Err(HistoryError::Remote { url: self.url.clone(), action: action.into(), message: e.to_string() })
            }
        }
    }

    fn remote_error(&self, action: &str, e: &object_store::Error) -> HistoryError {
        HistoryError::Remote { url: self.url.clone(), action: action.to_string(), message: describe(e) }
    }

    fn key(&self, parts: &[&str]) -> Key {
        parts.iter().fold(self.prefix.clone(), |key, part| key.clone().join(*part))
    }

    fn run_key(&self, test: &str, environment: &str, id: &str) -> Key {
        self.key(&["runs", test, environment, &format!("{id}{RUN_SUFFIX}")])
    }

    /// Where a run was written before objects were compressed.
    fn legacy_run_key(&self, test: &str, environment: &str, id: &str) -> Key {
        self.key(&["runs", test, environment, &format!("{id}{LEGACY_RUN_SUFFIX}")])
    }

    /// Whether a run with this id is in the store, in either form.
    fn run_exists(&self, test: &str, environment: &str, id: &str) -> bool {
        self.exists(&self.run_key(test, environment, id)) || self.exists(&self.legacy_run_key(test, environment, id))
    }

    /// Writes `run` over its object (retention and the backfill rewrite runs), removing the
    /// uncompressed object it replaces.
    fn rewrite_run(&self, run: &RunRecord, action: &str) -> Result<(), HistoryError> {
        let body = run_body(run).map_err(|e| self.invalid(format!("run {}: {e}", run.id)))?;
        if let Err(e) = self.put(&self.run_key(&run.test, &run.environment, &run.id), body, PutMode::Overwrite)? {
            return Err(self.remote_error(action, &e));
        }
        let legacy = self.legacy_run_key(&run.test, &run.environment, &run.id);
        let objects = self.objects.clone();
        match crate::net::block_on(async move { objects.delete(&legacy).await }) {
            Ok(Ok(())) | Ok(Err(object_store::Error::NotFound { .. })) => Ok(()),
            Ok(Err(e)) => Err(self.remote_error(action, &e)),
            Err(e) => Err(self.invalid(e.to_string())),
        }
    }

    /// Writes a run once. An object already there with the same content is a retried upload
    /// that had landed; different content is a clash of ids and is refused.
    fn upload(&self, run: &RunRecord) -> Result<(), HistoryError> {
        let key = self.run_key(&run.test, &run.environment, &run.id);
        let body = run_body(run).map_err(|e| self.invalid(format!("run {}: {e}", run.id)))?;
        let objects = self.objects.clone();
        let payload = PutPayload::from(body);
        let put = crate::net::block_on(async move {
            objects.put_opts(&key, payload, PutOptions { mode: PutMode::Create, ..Default::default() }).await
        });
        match put {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(object_store::Error::AlreadyExists { .. })) => {
                let existing = self
                    .get_bytes(&self.run_key(&run.test, &run.environment, &run.id), &format!("read run {}", run.id))?;
                match existing {
                    Some(bytes) if same_run(&bytes, run) => Ok(()),
                    _ => Err(self.invalid(format!(
                        "run {} of {} in {} is already in the store with different content; it stays local",
                        run.id, run.test, run.environment
                    ))),
                }
            }
            Ok(Err(e)) => Err(self.remote_error(&format!("upload run {}", run.id), &e)),
            Err(e) => Err(self.invalid(e.to_string())),
        }
    }

    fn invalid(&self, message: String) -> HistoryError {
        HistoryError::Invalid { path: PathBuf::from(&self.url), message }
    }

    /// Whether an object is at `key` (a HEAD request); a store that cannot say counts as no.
    fn exists(&self, key: &Key) -> bool {
        let objects = self.objects.clone();
        let key = key.clone();
        matches!(crate::net::block_on(async move { objects.head(&key).await }), Ok(Ok(_)))
    }

    /// The object at `key`, or `None` when there is none.
    fn get_bytes(&self, key: &Key, action: &str) -> Result<Option<Vec<u8>>, HistoryError> {
        Ok(self.get_versioned(key, action)?.map(|(bytes, _)| bytes))
    }

    /// The object at `key` with its version (ETag), or `None` when there is none.
    fn get_versioned(&self, key: &Key, action: &str) -> Result<Option<(Vec<u8>, UpdateVersion)>, HistoryError> {
        let objects = self.objects.clone();
        let key = key.clone();
        let got = crate::net::block_on(async move {
            let got = objects.get(&key).await?;
            let version = UpdateVersion { e_tag: got.meta.e_tag.clone(), version: got.meta.version.clone() };
            Ok::<_, object_store::Error>((got.bytes().await?.to_vec(), version))
        });
        match got {
            Ok(Ok(v)) => Ok(Some(v)),
            Ok(Err(object_store::Error::NotFound { .. })) => Ok(None),
            Ok(Err(e)) => Err(self.remote_error(action, &e)),
            Err(e) => Err(self.invalid(e.to_string())),
        }
    }

    fn put(&self, key: &Key, body: Vec<u8>, mode: PutMode) -> Result<object_store::Result<()>, HistoryError> {
        let objects = self.objects.clone();
        let key = key.clone();
        crate::net::block_on(async move {
            objects.put_opts(&key, PutPayload::from(body), PutOptions { mode, ..Default::default() }).await.map(drop)
        })
        .map_err(|e| self.invalid(e.to_string()))
    }

    fn list(&self, prefix: Key, action: &str) -> Result<Vec<Key>, HistoryError> {
        let objects = self.objects.clone();
        self.call(action, async move {
            let metas: Vec<_> = objects.list(Some(&prefix)).try_collect().await?;
            Ok(metas.into_iter().map(|m| m.location).collect())
        })
    }

    /// The run ids in the store (of one pair, or all), with their keys.
    fn remote_run_ids(&self, pair: Option<(&str, &str)>) -> Result<BTreeMap<String, Key>, HistoryError> {
        let prefix = match pair {
            Some((test, env)) => self.key(&["runs", test, env]),
            None => self.key(&["runs"]),
        };
        let keys = self.list(prefix, "list runs")?;
        Ok(keys
            .into_iter()
            .filter_map(|k| {
                let id = run_id_of(k.filename()?)?.to_string();
                Some((id, k))
            })
            .collect())
    }

    /// The ids retention deleted (their tombstones).
    fn pruned_ids(&self) -> Result<HashSet<String>, HistoryError> {
        let keys = self.list(self.key(&["pruned"]), "list pruned runs")?;
        Ok(keys.into_iter().filter_map(|k| Some(k.filename()?.strip_suffix(".json")?.to_string())).collect())
    }

    /// The run objects (of one pair, or all) and their sizes, by id.
    fn remote_run_sizes(&self, pair: Option<(&str, &str)>) -> Result<BTreeMap<String, u64>, HistoryError> {
        let prefix = match pair {
            Some((test, env)) => self.key(&["runs", test, env]),
            None => self.key(&["runs"]),
        };
        let objects = self.objects.clone();
        let metas = self.call("list runs", async move {
            let metas: Vec<_> = objects.list(Some(&prefix)).try_collect().await?;
            Ok(metas)
        })?;
        Ok(metas.into_iter().filter_map(|m| Some((run_id_of(m.location.filename()?)?.to_string(), m.size))).collect())
    }

    /// Brings the cache up to date with the store for one pair (or everything): runs it lacks,
    /// the pins (rebuilt from their events) and the baseline mark. Returns how many runs
    /// were downloaded.
    fn refresh(&self, pair: Option<(&str, &str)>) -> Result<usize, HistoryError> {
        let remote = self.remote_run_ids(pair)?;
        let local: HashSet<String> = self.cache.run_ids(pair)?.into_iter().collect();
        let mut downloaded = 0;
        for (id, key) in remote.iter().filter(|(id, _)| !local.contains(*id)) {
            let Some(bytes) = self.get_bytes(key, &format!("read run {id}"))? else { continue };
            let run: RunRecord = super::document::decompress(&bytes)
                .map_err(|e| e.to_string())
                .and_then(|plain| serde_json::from_slice(&plain).map_err(|e| e.to_string()))
                .map_err(|e| self.invalid(format!("{key}: not a k6gate run record: {e}")))?;
            // The key is what a listing trusts: a record filed under another name is refused.
            if self.run_key(&run.test, &run.environment, &run.id) != *key
                && self.legacy_run_key(&run.test, &run.environment, &run.id) != *key
            {
                return Err(self.invalid(format!("{key}: holds run {} of {} in {}", run.id, run.test, run.environment)));
            }
            if self.cache.import_run(&run)? {
                downloaded += 1;
            }
        }
        self.refresh_pins(pair)?;
        self.refresh_established(pair)?;
        Ok(downloaded)
    }

    fn refresh_pins(&self, pair: Option<(&str, &str)>) -> Result<(), HistoryError> {
        let prefix = match pair {
            Some((test, env)) => self.key(&["pins", test, env]),
            None => self.key(&["pins"]),
        };
        let keys = self.list(prefix, "list pins")?;
        let mut by_pair: BTreeMap<(String, String), Vec<PinEvent>> = BTreeMap::new();
        if let Some((test, env)) = pair {
            // A pair whose events are all gone loses its pins here too.
            by_pair.insert((test.to_string(), env.to_string()), Vec::new());
        }
        for key in keys {
            let known = self.events.lock().ok().and_then(|m| m.get(key.as_ref()).cloned());
            let event = match known {
                Some(event) => event,
                None => {
                    let Some(bytes) = self.get_bytes(&key, "read a pin")? else { continue };
                    let event: PinEvent = serde_json::from_slice(&bytes)
                        .map_err(|e| self.invalid(format!("{key}: not a k6gate pin event: {e}")))?;
                    if let Ok(mut m) = self.events.lock() {
                        m.insert(key.as_ref().to_string(), event.clone());
                    }
                    event
                }
            };
            by_pair.entry((event.test.clone(), event.environment.clone())).or_default().push(event);
        }
        for ((test, env), mut events) in by_pair {
            events.sort_by_key(|e| (e.at_ns, e.id));
            // Pins name runs; a pin on a run the cache lacks needs that pair's runs first.
            if pair.is_none() && events.iter().any(|e| e.run_id.is_some()) {
                let have: HashSet<String> = self.cache.run_ids(Some((&test, &env)))?.into_iter().collect();
                if events.iter().filter_map(|e| e.run_id.as_ref()).any(|id| !have.contains(id)) {
                    return Err(self.invalid(format!("pins of {test} in {env} name runs that are not in the store")));
                }
            }
            self.cache.replace_pins(&test, &env, &events).map_err(|e| self.renamed(e))?;
        }
        Ok(())
    }

    fn refresh_established(&self, pair: Option<(&str, &str)>) -> Result<(), HistoryError> {
        let prefix = match pair {
            Some((test, env)) => self.key(&["established", test, env]),
            None => self.key(&["established"]),
        };
        let keys = self.list(prefix, "list baseline marks")?;
        for key in keys {
            let Some(bytes) = self.get_bytes(&key, "read a baseline mark")? else { continue };
            let mark: Established = serde_json::from_slice(&bytes)
                .map_err(|e| self.invalid(format!("{key}: not a k6gate baseline mark: {e}")))?;
            self.cache.establish(&mark.test, &mark.environment, &mark.branch, &mark.run_id)?;
        }
        Ok(())
    }

    /// A cache error as the store's: it names the URL, not the cache file.
    fn renamed(&self, e: HistoryError) -> HistoryError {
        let url = PathBuf::from(&self.url);
        match e {
            HistoryError::NotFound { id, .. } => HistoryError::NotFound { path: url, id },
            HistoryError::Ambiguous { prefix, matches, more, .. } => {
                HistoryError::Ambiguous { path: url, prefix, matches, more }
            }
            HistoryError::NotABaseline { id, outcome, .. } => HistoryError::NotABaseline { path: url, id, outcome },
            HistoryError::NoActivePin { test, environment, .. } => {
                HistoryError::NoActivePin { path: url, test, environment }
            }
            HistoryError::BaselineLost { test, environment, run_id, .. } => {
                HistoryError::BaselineLost { path: url, test, environment, run_id }
            }
            HistoryError::Invalid { message, .. } => HistoryError::Invalid { path: url, message },
            other => other,
        }
    }

    /// Writes a pin event under a fresh id: its time, with the last three digits drawn, so
    /// two pins in one microsecond (even of different pairs) still get different ids.
    fn write_event(&self, mut event: PinEvent) -> Result<i64, HistoryError> {
        for _ in 0..8 {
            let salt = i64::from(super::run_id::random_salt() % 1000);
            event.id = event.at_ns - event.at_ns.rem_euclid(1000) + salt;
            let key = self.key(&["pins", &event.test, &event.environment, &format!("{:020}.json", event.id)]);
            let body = serde_json::to_vec(&event).map_err(|e| self.invalid(e.to_string()))?;
            match self.put(&key, body, PutMode::Create)? {
                Ok(()) => return Ok(event.id),
                Err(object_store::Error::AlreadyExists { .. }) => continue,
                Err(e) => return Err(self.remote_error("write a pin", &e)),
            }
        }
        Err(self.invalid("no free pin id".into()))
    }

    fn mark_established(&self, choice: &BaselineChoice, branch: &str) -> Result<(), HistoryError> {
        let mark = Established {
            test: choice.run.test.clone(),
            environment: choice.run.environment.clone(),
            branch: branch.to_string(),
            run_id: choice.run.id.clone(),
        };
        let key = self.key(&["established", &mark.test, &mark.environment, &format!("{branch}.json")]);
        let body = serde_json::to_vec(&mark).map_err(|e| self.invalid(e.to_string()))?;
        match self.put(&key, body, PutMode::Create)? {
            Ok(()) | Err(object_store::Error::AlreadyExists { .. }) => Ok(()),
            Err(e) => Err(self.remote_error("write the baseline mark", &e)),
        }
    }

    fn lease_key(&self, scope: &str) -> Key {
        self.key(&["locks", &format!("{scope}.json")])
    }

    fn read_lease(&self, scope: &str) -> Result<Option<(LeaseRecord, UpdateVersion)>, HistoryError> {
        let key = self.lease_key(scope);
        let Some((bytes, version)) = self.get_versioned(&key, "read the lock")? else { return Ok(None) };
        let record =
            serde_json::from_slice(&bytes).map_err(|e| self.invalid(format!("{key}: not a k6gate lock: {e}")))?;
        Ok(Some((record, version)))
    }

    /// Writes the lease if the object is still at `version` (or absent, for `None`). False
    /// when another process changed it first.
    fn swap_lease(
        &self,
        scope: &str,
        record: &LeaseRecord,
        version: Option<UpdateVersion>,
    ) -> Result<bool, HistoryError> {
        let body = serde_json::to_vec(record).map_err(|e| self.invalid(e.to_string()))?;
        let mode = match version {
            Some(v) => PutMode::Update(v),
            None => PutMode::Create,
        };
        match self.put(&self.lease_key(scope), body, mode)? {
            Ok(()) => Ok(true),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => Ok(false),
            Err(e) => Err(self.remote_error("write the lock", &e)),
        }
    }
}

/// A run object's name after the run id; [`LEGACY_RUN_SUFFIX`] before compression.
const RUN_SUFFIX: &str = ".json.gz";
const LEGACY_RUN_SUFFIX: &str = ".json";

/// The run id a run object's file name holds, in either form.
fn run_id_of(file_name: &str) -> Option<&str> {
    file_name.strip_suffix(RUN_SUFFIX).or_else(|| file_name.strip_suffix(LEGACY_RUN_SUFFIX))
}

/// A run object's content: the RunRecord as gzip JSON.
fn run_body(run: &RunRecord) -> std::io::Result<Vec<u8>> {
    super::document::compress(&serde_json::to_vec(run)?)
}

/// Whether a stored run is `run` (compared as documents, not as bytes).
fn same_run(bytes: &[u8], run: &RunRecord) -> bool {
    let stored: Option<serde_json::Value> =
        super::document::decompress(bytes).ok().and_then(|plain| serde_json::from_slice(&plain).ok());
    stored.is_some() && stored == serde_json::to_value(run).ok()
}

#[derive(Debug, Serialize, Deserialize)]
struct Established {
    test: String,
    environment: String,
    branch: String,
    run_id: String,
}

impl RunStore for RemoteStore {
    fn record_run(&self, run: &NewRun) -> Result<String, HistoryError> {
        // An id another machine already uploaded is skipped, as the cache skips its own taken
        // ids; a store that cannot be asked is no reason not to record (the upload will say).
        let mut run = run.clone();
        for _ in 0..8 {
            let id = run.id.clone().unwrap_or_else(|| super::run_id::new_run_id(run.started_at_ns));
            if !self.run_exists(&run.test, &run.environment, &id) {
                run.id = Some(id);
                break;
            }
            run.id = Some(super::run_id::new_run_id(run.started_at_ns));
        }
        let id = self.cache.record_run(&run)?;
        self.cache.queue_upload(&id, &self.url, None)?;
        let record = self.cache.get_run(&id)?;
        match self.upload(&record) {
            Ok(()) => {
                self.cache.uploaded(&id)?;
                if let Ok(mut p) = self.upload_problem.lock() {
                    *p = None;
                }
            }
            Err(e) => {
                let message = e.to_string();
                self.cache.queue_upload(&id, &self.url, Some(&message))?;
                tracing::warn!(run = %id, "run kept locally, not uploaded: {message}");
                if let Ok(mut p) = self.upload_problem.lock() {
                    *p = Some(message);
                }
            }
        }
        Ok(id)
    }

    fn get_run(&self, id_or_prefix: &str) -> Result<RunRecord, HistoryError> {
        // Runs never change: a full id the cache holds is the store's answer.
        let full = id_or_prefix.trim().len() == super::run_id::format_run_id(0, 0).len();
        if full && let Ok(run) = self.cache.get_run(id_or_prefix) {
            return Ok(run);
        }
        self.refresh(None)?;
        self.cache.get_run(id_or_prefix).map_err(|e| self.renamed(e))
    }

    fn list_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<RunRecord>, HistoryError> {
        self.refresh(filter.test.zip(filter.environment))?;
        self.cache.list_runs(filter)
    }

    fn baseline(
        &self,
        test: &str,
        environment: &str,
        default_branch: &str,
    ) -> Result<Option<BaselineChoice>, HistoryError> {
        self.refresh(Some((test, environment)))?;
        let choice = self.cache.baseline(test, environment, default_branch).map_err(|e| self.renamed(e))?;
        if let Some(choice) = &choice {
            self.mark_established(choice, default_branch)?;
        }
        Ok(choice)
    }

    fn pin(&self, run_id: &str, by: &str, reason: &str, at_ns: i64) -> Result<Pin, HistoryError> {
        let run = self.get_run(run_id)?;
        if !run.outcome.can_be_pinned() {
            return Err(HistoryError::NotABaseline {
                path: PathBuf::from(&self.url),
                id: run.id,
                outcome: run.outcome.to_string(),
            });
        }
        let (by, reason) = (by.trim(), reason.trim());
        if by.is_empty() || reason.is_empty() {
            return Err(self.invalid("who pins and the reason for the pin are required".into()));
        }
        let event = PinEvent {
            id: 0,
            test: run.test.clone(),
            environment: run.environment.clone(),
            run_id: Some(run.id.clone()),
            by: by.to_string(),
            at_ns,
            reason: reason.to_string(),
        };
        let id = self.write_event(event)?;
        self.refresh(Some((&run.test, &run.environment)))?;
        let pins = self.cache.list_pins(Some(&run.test), Some(&run.environment))?;
        pins.into_iter()
            .find(|p| p.id == id)
            .ok_or_else(|| self.invalid(format!("pin {id} was written but not read back")))
    }

    fn invalidate_pin(
        &self,
        test: &str,
        environment: &str,
        by: &str,
        reason: &str,
        at_ns: i64,
    ) -> Result<Pin, HistoryError> {
        let (by, reason) = (by.trim(), reason.trim());
        if by.is_empty() || reason.is_empty() {
            return Err(self.invalid("who invalidates the pin and the reason are required".into()));
        }
        let Some(active) = self.active_pin(test, environment)? else {
            return Err(HistoryError::NoActivePin {
                path: PathBuf::from(&self.url),
                test: test.to_string(),
                environment: environment.to_string(),
            });
        };
        let event = PinEvent {
            id: 0,
            test: test.to_string(),
            environment: environment.to_string(),
            run_id: None,
            by: by.to_string(),
            at_ns,
            reason: reason.to_string(),
        };
        self.write_event(event)?;
        self.refresh(Some((test, environment)))?;
        let pins = self.cache.list_pins(Some(test), Some(environment))?;
        pins.into_iter()
            .find(|p| p.id == active.id)
            .ok_or_else(|| self.invalid(format!("pin {} vanished while it was invalidated", active.id)))
    }

    fn active_pin(&self, test: &str, environment: &str) -> Result<Option<Pin>, HistoryError> {
        self.refresh(Some((test, environment)))?;
        self.cache.active_pin(test, environment)
    }

    fn list_pins(&self, test: Option<&str>, environment: Option<&str>) -> Result<Vec<Pin>, HistoryError> {
        self.refresh(test.zip(environment))?;
        self.cache.list_pins(test, environment)
    }
}

impl super::prune::Prune for RemoteStore {
    fn stored_runs(&self, filter: &RunFilter<'_>) -> Result<Vec<super::prune::StoredRun>, HistoryError> {
        let pair = filter.test.zip(filter.environment);
        self.refresh(pair)?;
        let sizes = self.remote_run_sizes(pair)?;
        let mut runs = self.cache.stored_runs(filter)?;
        for r in &mut runs {
            if let Some(size) = sizes.get(&r.run.id) {
                r.bytes = *size;
            }
        }
        Ok(runs)
    }

    fn delete_run(&self, id: &str) -> Result<u64, HistoryError> {
        let run = self.cache.get_run(id).map_err(|e| self.renamed(e))?;
        self.refresh(Some((&run.test, &run.environment)))?;
        if self.cache.list_pins(Some(&run.test), Some(&run.environment))?.iter().any(|p| p.run_id == run.id) {
            return Err(HistoryError::Pinned { path: PathBuf::from(&self.url), id: run.id });
        }
        let key = self
            .remote_run_ids(Some((&run.test, &run.environment)))?
            .remove(&run.id)
            .unwrap_or_else(|| self.run_key(&run.test, &run.environment, &run.id));
        let size = self.remote_run_sizes(Some((&run.test, &run.environment)))?.get(&run.id).copied();
        // The tombstone first: a cache elsewhere must not upload the run again.
        let tombstone = self.key(&["pruned", &run.test, &run.environment, &format!("{}.json", run.id)]);
        let body = serde_json::to_vec(
            &serde_json::json!({ "run_id": run.id, "test": run.test, "environment": run.environment }),
        )
        .map_err(|e| self.invalid(e.to_string()))?;
        match self.put(&tombstone, body, PutMode::Create)? {
            Ok(()) | Err(object_store::Error::AlreadyExists { .. }) => {}
            Err(e) => return Err(self.remote_error(&format!("mark run {} as pruned", run.id), &e)),
        }
        let objects = self.objects.clone();
        let deleted = crate::net::block_on(async move { objects.delete(&key).await });
        match deleted {
            Ok(Ok(())) | Ok(Err(object_store::Error::NotFound { .. })) => {}
            Ok(Err(e)) => return Err(self.remote_error(&format!("delete run {}", run.id), &e)),
            Err(e) => return Err(self.invalid(e.to_string())),
        }
        let local = super::prune::Prune::delete_run(&self.cache, &run.id).map_err(|e| self.renamed(e))?;
        Ok(size.unwrap_or(local))
    }

    fn replace_summary(&self, id: &str, summary: &RawValue, series_from_s: f64) -> Result<(u64, u64), HistoryError> {
        let mut run = self.cache.get_run(id).map_err(|e| self.renamed(e))?;
        if run.summary.is_none() {
            return Err(self.invalid(format!("run {id} has no summary to replace")));
        }
        run.summary = Some(summary.to_owned());
        // Not yet uploaded (in the outbox): only the cache holds it, and uploads it as it is now.
        if self.remote_run_sizes(Some((&run.test, &run.environment)))?.contains_key(&run.id) {
            self.rewrite_run(&run, &format!("rewrite run {}", run.id))?;
        }
        // The summary's sizes as stored, as the cache (and a dry run) count them.
        super::prune::Prune::replace_summary(&self.cache, &run.id, summary, series_from_s).map_err(|e| self.renamed(e))
    }

    /// The note is the cache's: another cache that downloads the run opens its summary once
    /// and notes the same.
    /// Objects take no more than they hold; the cache gives its free pages back.
    fn reclaim(&self) -> Result<u64, HistoryError> {
        super::prune::Prune::reclaim(&self.cache).map_err(|e| self.renamed(e))
    }

    fn note_series(&self, id: &str, series_from_s: f64) -> Result<(), HistoryError> {
        super::prune::Prune::note_series(&self.cache, id, series_from_s).map_err(|e| self.renamed(e))
    }
}

/// The records are the cache's: each run object carries its rows (`RunRecord::digest`), so a
/// cache filled by `sync` or a refresh has them; a backfill rewrites the object as retention
/// does. A cache that downloaded a run before its backfill elsewhere keeps the rows it had
/// (none) until its own `history backfill`: runs are never downloaded twice.
impl super::records::Records for RemoteStore {
    fn digest_runs(
        &self,
        query: &super::records::DigestQuery<'_>,
    ) -> Result<Vec<super::records::DigestRun>, HistoryError> {
        self.refresh(Some((query.test, query.environment)))?;
        self.cache.digest_runs(query).map_err(|e| self.renamed(e))
    }

    fn runs_without_digest(&self) -> Result<Vec<String>, HistoryError> {
        self.refresh(None)?;
        self.cache.runs_without_digest()
    }

    fn put_digest(&self, run_id: &str, rows: &[crate::summary::digest::DigestRow]) -> Result<(), HistoryError> {
        self.cache.put_digest(run_id, rows).map_err(|e| self.renamed(e))?;
        let run = self.cache.get_run(run_id).map_err(|e| self.renamed(e))?;
        // Not yet uploaded (in the outbox): the upload carries the rows.
        if self.remote_run_sizes(Some((&run.test, &run.environment)))?.contains_key(&run.id) {
            self.rewrite_run(&run, &format!("rewrite run {} with its record", run.id))?;
        }
        Ok(())
    }
}

impl Leases for RemoteStore {
    fn try_acquire(
        &self,
        scope: &str,
        holder: &Holder,
        token: &str,
        now_ns: i64,
        ttl_ns: i64,
    ) -> Result<Attempt, HistoryError> {
        if let Some(db) = &self.lease_db {
            return db.try_acquire(scope, holder, token, now_ns, ttl_ns);
        }
        let current = self.read_lease(scope)?;
        let attempt = super::lease::decide(current.as_ref().map(|(r, _)| r), now_ns);
        if let Attempt::Held { .. } = attempt {
            return Ok(attempt);
        }
        let record = LeaseRecord { holder: holder.clone(), token: token.to_string(), expires_at_ns: now_ns + ttl_ns };
        if self.swap_lease(scope, &record, current.map(|(_, v)| v))? {
            return Ok(attempt);
        }
        // Another process swapped first: it holds the lease now.
        match self.read_lease(scope)? {
            Some((r, _)) => Ok(Attempt::Held { holder: r.holder, expires_at_ns: r.expires_at_ns }),
            None => Err(self.invalid(format!("the lock of {scope} changed while it was taken; try again"))),
        }
    }

    fn renew(&self, scope: &str, token: &str, now_ns: i64, ttl_ns: i64) -> Result<bool, HistoryError> {
        if let Some(db) = &self.lease_db {
            return db.renew(scope, token, now_ns, ttl_ns);
        }
        let Some((mut record, version)) = self.read_lease(scope)? else { return Ok(false) };
        if record.token != token || record.expires_at_ns == 0 {
            return Ok(false);
        }
        record.expires_at_ns = now_ns + ttl_ns;
        self.swap_lease(scope, &record, Some(version))
    }

    fn release(&self, scope: &str, token: &str) -> Result<(), HistoryError> {
        if let Some(db) = &self.lease_db {
            return db.release(scope, token);
        }
        let Some((mut record, version)) = self.read_lease(scope)? else { return Ok(()) };
        if record.token != token {
            return Ok(());
        }
        record.expires_at_ns = 0;
        self.swap_lease(scope, &record, Some(version)).map(drop)
    }

    fn held(&self, scope: &str, now_ns: i64) -> Result<Option<(Holder, i64)>, HistoryError> {
        if let Some(db) = &self.lease_db {
            return db.held(scope, now_ns);
        }
        let current = self.read_lease(scope)?;
        Ok(super::lease::holder_of(current.as_ref().map(|(r, _)| r), now_ns))
    }
}

/// A store error in words an operator can act on.
pub fn describe(e: &object_store::Error) -> String {
    use object_store::Error as E;
    // S3-compatible servers refuse keys in a generic error: its XML code says which.
    let text = e.to_string();
    let refused = ["InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "403 Forbidden"];
    if refused.iter().any(|code| text.contains(code)) {
        return format!(
            "access denied: check the store's credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for S3): {text}"
        );
    }
    if text.contains("NoSuchBucket") || text.contains("ContainerNotFound") {
        return format!("not found (does the bucket or container exist?): {text}");
    }
    match e {
        E::NotFound { .. } => format!("not found (does the bucket or container exist?): {e}"),
        E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
            format!(
                "access denied: check the store's credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY for S3): {e}"
            )
        }
        other => crate::net::retry::describe(other),
    }
}

/// Objects opened from a URL.
pub struct Opened {
    pub objects: Arc<dyn ObjectStore>,
    pub prefix: Key,
    /// The directory of a `file://` store, whose objects cannot be swapped: leases go to a
    /// SQLite file there instead.
    pub local_root: Option<PathBuf>,
}

/// The objects at `config.url`, on any of the backends, through `net`'s client (the archive
/// opens its store with this too).
pub fn open_objects(config: &RemoteConfig) -> Result<Opened, HistoryError> {
    use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
    use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
    use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};

    let bad =
        |message: String| HistoryError::Remote { url: config.url.clone(), action: "open the store".into(), message };
    let url = reqwest::Url::parse(&config.url).map_err(|e| bad(format!("not a URL: {e}")))?;
    let prefix = Key::from_url_path(url.path()).map_err(|e| bad(e.to_string()))?;
    let client =
        crate::net::client(&crate::net::ClientOptions::with_timeout(config.timeout)).map_err(|e| bad(e.to_string()))?;
    let connector = SharedClient(client);
    let retry = object_store::RetryConfig {
        backoff: object_store::BackoffConfig {
            init_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(2),
            base: 2.0,
        },
        max_retries: 3,
        retry_timeout: config.timeout,
    };
    let options = |prefixes: &[&str]| {
        config
            .options
            .iter()
            .filter(move |(k, _)| prefixes.iter().any(|p| k.starts_with(p)))
            .cloned()
            .collect::<Vec<_>>()
    };
    let objects: Arc<dyn ObjectStore> = match url.scheme() {
        "s3" | "s3a" => {
            let mut b = AmazonS3Builder::new().with_url(config.url.clone());
            for (k, v) in options(&["aws_"]) {
                if let Ok(key) = k.parse::<AmazonS3ConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.with_http_connector(connector).with_retry(retry).build().map_err(|e| bad(e.to_string()))?)
        }
        "gs" => {
            let mut b = GoogleCloudStorageBuilder::new().with_url(config.url.clone());
            for (k, v) in options(&["google_"]) {
                if let Ok(key) = k.parse::<GoogleConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.with_http_connector(connector).with_retry(retry).build().map_err(|e| bad(e.to_string()))?)
        }
        "az" | "azure" | "abfs" | "abfss" => {
            let mut b = MicrosoftAzureBuilder::new().with_url(config.url.clone());
            for (k, v) in options(&["azure_"]) {
                if let Ok(key) = k.parse::<AzureConfigKey>() {
                    b = b.with_config(key, v);
                }
            }
            Arc::new(b.with_http_connector(connector).with_retry(retry).build().map_err(|e| bad(e.to_string()))?)
        }
        "file" => {
            let root = url.to_file_path().map_err(|()| bad("not a local path".into()))?;
            std::fs::create_dir_all(&root).map_err(|e| bad(format!("cannot create {}: {e}", root.display())))?;
            let local = object_store::local::LocalFileSystem::new_with_prefix(&root).map_err(|e| bad(e.to_string()))?;
            return Ok(Opened { objects: Arc::new(local), prefix: Key::default(), local_root: Some(root) });
        }
        other => return Err(bad(format!("unknown scheme {other:?} (expected s3, gs, az or file)"))),
    };
    // The bucket is the host; the rest of the path is the prefix under it.
    Ok(Opened { objects, prefix, local_root: None })
}

/// object_store's requests through k6gate's one HTTP client (`src/net`).
#[derive(Debug)]
struct SharedClient(reqwest::Client);

impl object_store::client::HttpConnector for SharedClient {
    fn connect(&self, _: &object_store::ClientOptions) -> object_store::Result<object_store::client::HttpClient> {
        Ok(object_store::client::HttpClient::new(self.0.clone()))
    }
}

impl RemoteStore {
    /// Brings the whole cache up to date (runs, pins, baseline marks); how many runs came.
    /// The listing reads the cache only: its caller decides how often this runs (`k6gate
    /// serve`: at most every half minute), since it lists every run object.
    pub fn refresh_cache(&self) -> Result<usize, HistoryError> {
        self.refresh(None)
    }
}

/// The records are the cache's, as the digest's are: each run object carries its record
/// (`RunRecord::decision`), and a back-fill rewrites the object of a run already uploaded.
impl super::decision::Decisions for RemoteStore {
    /// From the cache: the ids come from a page of the cache.
    fn decisions(&self, ids: &[&str]) -> Result<Vec<super::decision::StoredDecision>, HistoryError> {
        self.cache.decisions(ids).map_err(|e| self.renamed(e))
    }

    fn runs_without_decision(&self) -> Result<Vec<String>, HistoryError> {
        self.refresh(None)?;
        self.cache.runs_without_decision()
    }

    fn put_decision(&self, run_id: &str, decision: &super::decision::Decision) -> Result<(), HistoryError> {
        self.cache.put_decision(run_id, decision).map_err(|e| self.renamed(e))?;
        let run = self.cache.get_run(run_id).map_err(|e| self.renamed(e))?;
        // Not yet uploaded (in the outbox): the upload carries the record.
        if self.remote_run_sizes(Some((&run.test, &run.environment)))?.contains_key(&run.id) {
            self.rewrite_run(&run, &format!("rewrite run {} with its decision record", run.id))?;
        }
        Ok(())
    }
}

impl super::page::RunPages for RemoteStore {
    /// From the cache as it is ([`RemoteStore::refresh_cache`] brings it up to date).
    fn run_page(&self, query: &super::page::PageQuery) -> Result<super::page::RunPage, HistoryError> {
        self.cache.run_page(query).map_err(|e| self.renamed(e))
    }

    fn facets(&self) -> Result<super::page::Facets, HistoryError> {
        self.cache.facets().map_err(|e| self.renamed(e))
    }

    /// From the cache: runs never change, and the ids come from a page of the cache.
    fn verdicts(&self, ids: &[&str]) -> Result<Vec<super::page::StoredVerdict>, HistoryError> {
        self.cache.verdicts(ids).map_err(|e| self.renamed(e))
    }
}

impl RemoteStore {
    /// The local SQLite cache, which holds the audit trail and the saved permissions: both are
    /// about this machine's runs and are not uploaded.
    pub(super) fn local_cache(&self) -> &SqliteStore {
        &self.cache
    }
}
