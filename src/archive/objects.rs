//! The archive's objects: a run written once, as gzip, and read back.

use std::io::{Read, Write};
use std::sync::Arc;

use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde_json::Value;

use super::error::ArchiveError;
use super::layout::{ArchivedRun, row_key, run_key, runs_prefix};
use super::line::lines;
use crate::history::{RemoteConfig, RunRecord};
use crate::policy::retention::Keep;

/// An archive on object storage.
pub struct RunArchive {
    objects: Arc<dyn ObjectStore>,
    prefix: Key,
    url: String,
}

/// What writing one run did (or, dry, would do).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Put {
    /// Objects written (or that would be).
    pub objects: u64,
    /// Their bytes, compressed.
    pub bytes: u64,
    /// Objects already there with the same content, left as they are.
    pub present: u64,
}

/// Which kind of object, for comparing an existing one.
#[derive(Clone, Copy)]
enum Kind {
    Rows,
    Document,
}

impl RunArchive {
    /// Opens the archive at `config.url` (the remote store's URLs and settings) and checks
    /// that it can be listed: wrong credentials or a missing bucket fail here.
    pub fn open(config: &RemoteConfig) -> Result<RunArchive, ArchiveError> {
        let opened = crate::history::open_objects(config)
            .map_err(|e| ArchiveError::Open { url: config.url.clone(), message: e.to_string() })?;
        let archive = RunArchive { objects: opened.objects, prefix: opened.prefix, url: config.url.clone() };
        let (objects, prefix) = (archive.objects.clone(), archive.prefix.clone());
        let listed = prefix.to_string();
        archive.call("list", &listed, async move { objects.list(Some(&prefix)).try_next().await.map(drop) })?;
        Ok(archive)
    }

    /// An archive over objects the caller built (tests: an in-memory store, or one that fails).
    pub fn with_objects(objects: Arc<dyn ObjectStore>, url: &str) -> RunArchive {
        RunArchive { objects, prefix: Key::default(), url: url.to_string() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every object of the archive with its size and write time, by partition (a key outside
    /// the layout counts under [`UNKNOWN_TEST`](crate::retention::stats::UNKNOWN_TEST)). Sizes
    /// only: nothing is read. A listing that fails is an error, never an empty archive.
    pub fn stored_objects(&self) -> Result<Vec<crate::retention::stats::ArchivedObject>, ArchiveError> {
        let (objects, prefix) = (self.objects.clone(), self.prefix.clone());
        let listed = prefix.to_string();
        let metas: Vec<object_store::ObjectMeta> =
            self.call("list", &listed, async move { objects.list(Some(&prefix)).try_collect().await })?;
        Ok(metas
            .into_iter()
            .map(|m| {
                let (test, date, is_run) = super::layout::partitions(&self.prefix, &m.location)
                    .unwrap_or_else(|| (crate::retention::stats::UNKNOWN_TEST.to_string(), String::new(), false));
                crate::retention::stats::ArchivedObject {
                    test,
                    date,
                    bytes: m.size,
                    written_ns: m.last_modified.timestamp_nanos_opt().unwrap_or(i64::MAX),
                    is_run,
                }
            })
            .collect())
    }

    /// The key of `run`'s document (its presence means the run is archived whole).
    pub fn document_key(&self, run: &RunRecord) -> Key {
        run_key(&self.prefix, &run.test, &run.environment, run.started_at_ns, &run.id)
    }

    /// Writes `run`: its rows (when it has a summary), then its document; each read back and
    /// compared. Objects already there with the same content are left alone; different
    /// content is an error. `dry_run` reads, compares and counts, and writes nothing.
    pub fn put_run(&self, run: &RunRecord, dry_run: bool) -> Result<Put, ArchiveError> {
        let rows = lines(run).map_err(|message| ArchiveError::Run {
            run_id: run.id.clone(),
            test: run.test.clone(),
            environment: run.environment.clone(),
            message,
        })?;
        let document = serde_json::to_vec(run).map_err(|e| ArchiveError::Run {
            run_id: run.id.clone(),
            test: run.test.clone(),
            environment: run.environment.clone(),
            message: format!("its record does not serialize: {e}"),
        })?;
        let mut put = Put::default();
        if !rows.is_empty() {
            let key = row_key(&self.prefix, &run.test, &run.environment, run.started_at_ns, &run.id);
            self.put_once(&key, &rows, Kind::Rows, &run.id, dry_run, &mut put)?;
        }
        self.put_once(&self.document_key(run), &document, Kind::Document, &run.id, dry_run, &mut put)?;
        Ok(put)
    }

    fn put_once(
        &self,
        key: &Key,
        plain: &[u8],
        kind: Kind,
        run_id: &str,
        dry_run: bool,
        put: &mut Put,
    ) -> Result<(), ArchiveError> {
        let body = gzip(plain).map_err(|e| self.error("compress", key, e.to_string()))?;
        let existing = if dry_run {
            self.get(key)?
        } else {
            let (objects, k, payload) = (self.objects.clone(), key.clone(), PutPayload::from(body.clone()));
            let created = crate::net::block_on(async move {
                objects.put_opts(&k, payload, PutOptions { mode: PutMode::Create, ..Default::default() }).await
            })
            .map_err(|e| self.error("write", key, e.to_string()))?;
            match created {
                Ok(_) => {
                    // Read back what the store holds now, not what we meant to send.
                    let stored = self.get(key)?.ok_or_else(|| ArchiveError::Verify {
                        url: self.url.clone(),
                        key: key.to_string(),
                        message: "the object is not there after it was written".into(),
                    })?;
                    let text = gunzip(&stored).map_err(|e| ArchiveError::Verify {
                        url: self.url.clone(),
                        key: key.to_string(),
                        message: format!("not gzip: {e}"),
                    })?;
                    if text != plain {
                        return Err(ArchiveError::Verify {
                            url: self.url.clone(),
                            key: key.to_string(),
                            message: "its content differs from what was written".into(),
                        });
                    }
                    put.objects += 1;
                    put.bytes += body.len() as u64;
                    return Ok(());
                }
                Err(object_store::Error::AlreadyExists { .. }) => self.get(key)?,
                Err(e) => return Err(self.error("write", key, crate::history::describe_store_error(&e))),
            }
        };
        match existing {
            None => {
                // Dry run: it would be written.
                put.objects += 1;
                put.bytes += body.len() as u64;
                Ok(())
            }
            Some(stored) => {
                let same = gunzip(&stored).is_ok_and(|text| same(kind, &text, plain));
                if !same {
                    return Err(ArchiveError::Different {
                        url: self.url.clone(),
                        key: key.to_string(),
                        run_id: run_id.to_string(),
                    });
                }
                put.present += 1;
                Ok(())
            }
        }
    }

    /// The run documents in the archive, of one test (and environment) or all.
    pub fn list_runs(&self, test: Option<&str>, environment: Option<&str>) -> Result<Vec<ArchivedRun>, ArchiveError> {
        let prefix = runs_prefix(&self.prefix, test, environment);
        let objects = self.objects.clone();
        let listed = prefix.clone();
        let metas = self
            .call("list", prefix.as_ref(), async move { objects.list(Some(&listed)).try_collect::<Vec<_>>().await })?;
        let mut runs: Vec<ArchivedRun> =
            metas.iter().filter_map(|m| ArchivedRun::parse(&self.prefix, &m.location)).collect();
        runs.sort_by(|a, b| (&a.date, &a.run_id).cmp(&(&b.date, &b.run_id)));
        Ok(runs)
    }

    /// An archived run's document: the record as it was stored, checked to be the run its
    /// key names.
    pub fn read_run(&self, archived: &ArchivedRun) -> Result<RunRecord, ArchiveError> {
        let key = &archived.key;
        let bad = |message: String| ArchiveError::Document { url: self.url.clone(), key: key.to_string(), message };
        let stored = self.get(key)?.ok_or_else(|| bad("gone while it was read".into()))?;
        let text = gunzip(&stored).map_err(|e| bad(format!("not gzip: {e}")))?;
        let run: RunRecord =
            serde_json::from_slice(&text).map_err(|e| bad(format!("not a k6gate run document: {e}")))?;
        let partition = crate::archive::date_of(run.started_at_ns);
        if run.id != archived.run_id
            || run.test != archived.test
            || run.environment != archived.environment
            || partition != archived.date
        {
            return Err(bad(format!(
                "holds run {} of {} in {} started {partition}: not the run its key names",
                run.id, run.test, run.environment
            )));
        }
        Ok(run)
    }

    fn get(&self, key: &Key) -> Result<Option<Vec<u8>>, ArchiveError> {
        let (objects, k) = (self.objects.clone(), key.clone());
        let got = crate::net::block_on(async move {
            let got = objects.get(&k).await?;
            Ok::<_, object_store::Error>(got.bytes().await?.to_vec())
        })
        .map_err(|e| self.error("read", key, e.to_string()))?;
        match got {
            Ok(bytes) => Ok(Some(bytes)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error("read", key, crate::history::describe_store_error(&e))),
        }
    }

    fn call<T: Send>(
        &self,
        action: &str,
        key: &str,
        fut: impl std::future::Future<Output = object_store::Result<T>> + Send,
    ) -> Result<T, ArchiveError> {
        let err = |message: String| ArchiveError::Object {
            url: self.url.clone(),
            key: key.to_string(),
            action: action.to_string(),
            message,
        };
        match crate::net::block_on(fut) {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(err(crate::history::describe_store_error(&e))),
            Err(e) => Err(err(e.to_string())),
        }
    }

    fn error(&self, action: &str, key: &Key, message: String) -> ArchiveError {
        ArchiveError::Object { url: self.url.clone(), key: key.to_string(), action: action.to_string(), message }
    }
}

/// The archive `history prune` moves runs to.
impl crate::retention::Archive for RunArchive {
    fn name(&self) -> String {
        self.url.clone()
    }

    fn archive_run(&self, run: &RunRecord) -> Result<u64, String> {
        self.put_run(run, false).map(|p| p.bytes).map_err(|e| e.to_string())
    }
}

/// Whether an archived object says what `new` says: the same JSON (line by line for rows),
/// or, for a run document, the same once both copies' series are dropped.
fn same(kind: Kind, stored: &[u8], new: &[u8]) -> bool {
    match kind {
        Kind::Rows => {
            let parse = |text: &[u8]| -> Option<Vec<Value>> {
                text.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).ok()).collect()
            };
            matches!((parse(stored), parse(new)), (Some(a), Some(b)) if a == b)
        }
        Kind::Document => {
            let (Ok(mut a), Ok(mut b)) =
                (serde_json::from_slice::<Value>(stored), serde_json::from_slice::<Value>(new))
            else {
                return false;
            };
            if a == b {
                return true;
            }
            for doc in [&mut a, &mut b] {
                if let Some(summary) = doc.get_mut("summary").filter(|s| !s.is_null()) {
                    crate::retention::coarsen(summary, Keep::NoSeries);
                }
            }
            a == b
        }
    }
}

/// gzip with fixed settings (no file name, time 0): the same run gives the same bytes.
fn gzip(plain: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(plain)?;
    enc.finish()
}

fn gunzip(body: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(body).read_to_end(&mut out)?;
    Ok(out)
}
