//! The disk queue of annotations Grafana has not taken yet, sending with the queue as the
//! fallback, and the flush that empties it. An annotation is on disk until Grafana answered
//! with its id; one Grafana refused is kept in `failed/` with the reason.

use std::fmt;
use std::fs;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::client::{AnnotateError, GrafanaConfig, post};
use super::model::Annotation;

/// Where `k6gate` keeps annotations Grafana has not taken yet, under the project root.
pub const QUEUE_DIR: &str = "grafana-queue";

/// The `format` of a queue file; bumped on any change an older k6gate would misread.
pub const QUEUE_FORMAT: &str = "k6gate.grafana-annotation/v1";

// ---------------------------------------------------------------------------------------------
// The queue

/// A directory of annotations Grafana has not taken yet ([`QUEUE_DIR`] in the state directory).
///
/// One JSON file ([`QueuedAnnotation`]) per annotation, named
/// `<queued at, epoch ms, 13 digits>-<sequence>-<random>.json` so that names sort oldest first.
/// Files are written to `.<name>.tmp` and renamed, so a reader never sees half a file.
/// Annotations Grafana refused go to `failed/` with the reason, and are never retried.
/// Run one flush at a time: two flushes of the same queue may both send a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    dir: PathBuf,
}

/// A queue file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedAnnotation {
    /// [`QUEUE_FORMAT`].
    pub format: String,
    pub queued_at_ms: i64,
    /// Why it was not sent.
    pub reason: String,
    pub annotation: Annotation,
    /// Set in `failed/`: why Grafana refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not a k6gate Grafana annotation: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

impl Queue {
    pub fn new(dir: impl Into<PathBuf>) -> Queue {
        Queue { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn failed_dir(&self) -> PathBuf {
        self.dir.join("failed")
    }

    /// Writes `annotation` to the queue and returns its file.
    pub fn push(&self, annotation: &Annotation, reason: &str) -> Result<PathBuf, QueueError> {
        let entry = QueuedAnnotation {
            format: QUEUE_FORMAT.to_string(),
            queued_at_ms: now_ms(),
            reason: reason.to_string(),
            annotation: annotation.clone(),
            failed: None,
        };
        write_atomic(&self.dir, &file_name(entry.queued_at_ms), &entry)
    }

    /// Writes an annotation Grafana refused straight to `failed/`, with the reason.
    pub fn push_failed(&self, annotation: &Annotation, why: &str) -> Result<PathBuf, QueueError> {
        let entry = QueuedAnnotation {
            format: QUEUE_FORMAT.to_string(),
            queued_at_ms: now_ms(),
            reason: why.to_string(),
            annotation: annotation.clone(),
            failed: Some(why.to_string()),
        };
        write_atomic(&self.failed_dir(), &file_name(entry.queued_at_ms), &entry)
    }

    /// The queued files, oldest first. An absent directory is an empty queue.
    pub fn pending(&self) -> Result<Vec<PathBuf>, QueueError> {
        list_json(&self.dir)
    }

    /// The files in `failed/`, oldest first.
    pub fn failed(&self) -> Result<Vec<PathBuf>, QueueError> {
        list_json(&self.failed_dir())
    }

    pub fn read(&self, path: &Path) -> Result<QueuedAnnotation, QueueError> {
        let bytes = fs::read(path).map_err(|source| QueueError::Io { path: path.to_path_buf(), source })?;
        let entry: QueuedAnnotation = serde_json::from_slice(&bytes)
            .map_err(|e| QueueError::Corrupt { path: path.to_path_buf(), message: e.to_string() })?;
        if entry.format != QUEUE_FORMAT {
            return Err(QueueError::Corrupt {
                path: path.to_path_buf(),
                message: format!("format {:?}, expected {QUEUE_FORMAT:?}", entry.format),
            });
        }
        Ok(entry)
    }

    /// Writes `entry` with `failed` set into `failed/` and removes `path`; returns the new file.
    fn fail(&self, path: &Path, mut entry: QueuedAnnotation, why: String) -> Result<PathBuf, QueueError> {
        entry.failed = Some(why);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file_name(now_ms()));
        let moved = write_atomic(&self.failed_dir(), &name, &entry)?;
        remove(path)?;
        Ok(moved)
    }

    /// A file that cannot be read as a queue entry goes to `failed/` as it is, with the reason
    /// in a `.reason.txt` beside it.
    fn fail_unreadable(&self, path: &Path, why: &str) -> Result<PathBuf, QueueError> {
        let failed = self.failed_dir();
        fs::create_dir_all(&failed).map_err(|source| QueueError::Io { path: failed.clone(), source })?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file_name(now_ms()));
        let moved = failed.join(&name);
        fs::rename(path, &moved).map_err(|source| QueueError::Io { path: path.to_path_buf(), source })?;
        let reason = failed.join(format!("{name}.reason.txt"));
        fs::write(&reason, format!("{why}\n")).map_err(|source| QueueError::Io { path: reason, source })?;
        Ok(moved)
    }
}

fn remove(path: &Path) -> Result<(), QueueError> {
    fs::remove_file(path).map_err(|source| QueueError::Io { path: path.to_path_buf(), source })
}

fn list_json(dir: &Path) -> Result<Vec<PathBuf>, QueueError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(QueueError::Io { path: dir.to_path_buf(), source }),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| QueueError::Io { path: dir.to_path_buf(), source })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && name.ends_with(".json") && !name.starts_with('.') {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

fn write_atomic(dir: &Path, name: &str, entry: &QueuedAnnotation) -> Result<PathBuf, QueueError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| QueueError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let bytes = serde_json::to_vec_pretty(entry)
        .map_err(|e| QueueError::Corrupt { path: dir.join(name), message: e.to_string() })?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let written = fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    if let Err(source) = written.and_then(|()| fs::rename(&tmp, &target)) {
        let _ = fs::remove_file(&tmp);
        return Err(QueueError::Io { path: target, source });
    }
    Ok(target)
}

/// `<ms, 13 digits>-<sequence in this process, 6 digits>-<16 random bits>.json`: sorts by
/// time, keeps one process's order within a millisecond, and two processes never clash.
fn file_name(queued_at_ms: i64) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut h = RandomState::new().build_hasher();
    h.write_i64(queued_at_ms);
    h.write_u32(std::process::id());
    h.write_u64(seq);
    format!("{queued_at_ms:013}-{seq:06}-{:04x}.json", h.finish() & 0xffff)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Send or queue, and flush

/// What became of an annotation.
#[derive(Debug)]
pub enum Outcome {
    /// Grafana took it; its annotation id.
    Sent(i64),
    /// Grafana did not take it (down, slow, refused the token, wrong URL): it waits in the
    /// queue file for `k6gate grafana flush`.
    Queued(PathBuf, AnnotateError),
    /// Grafana refused the annotation itself: it was written to `failed/` and is not retried.
    Failed(PathBuf, AnnotateError),
}

impl Outcome {
    pub fn is_sent(&self) -> bool {
        matches!(self, Outcome::Sent(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Sent(id) => write!(f, "Grafana annotation {id} added"),
            Outcome::Queued(path, error @ AnnotateError::Auth { .. }) => write!(
                f,
                "{error}; annotation queued in {}; run `k6gate grafana flush` once the token is fixed",
                path.display()
            ),
            Outcome::Queued(path, error @ AnnotateError::NotFound { .. }) => write!(
                f,
                "{error}; annotation queued in {}; run `k6gate grafana flush` once the URL is fixed",
                path.display()
            ),
            Outcome::Queued(path, error) => {
                write!(f, "{error}: annotation queued in {}; run `k6gate grafana flush` later", path.display())
            }
            Outcome::Failed(path, error) => {
                write!(f, "{error}; it will not be retried: saved in {} for inspection", path.display())
            }
        }
    }
}

/// Grafana did not take the annotation, and the queue could not keep it either.
#[derive(Debug, thiserror::Error)]
#[error("{cause}; the annotation could not be queued either: {source}")]
pub struct NotQueued {
    pub cause: AnnotateError,
    #[source]
    pub source: QueueError,
}

/// Posts `annotation`; when Grafana does not take it, queues it (or, when Grafana refused
/// the annotation itself, writes it to `failed/`). Never fails because Grafana did: only when
/// the queue cannot be written either.
pub fn send_or_queue(config: &GrafanaConfig, queue: &Queue, annotation: &Annotation) -> Result<Outcome, NotQueued> {
    match post(config, annotation) {
        Ok(id) => Ok(Outcome::Sent(id)),
        Err(cause) if cause.is_rejection() => match queue.push_failed(annotation, &cause.to_string()) {
            Ok(path) => Ok(Outcome::Failed(path, cause)),
            Err(source) => Err(NotQueued { cause, source }),
        },
        Err(cause) => match queue.push(annotation, &cause.to_string()) {
            Ok(path) => Ok(Outcome::Queued(path, cause)),
            Err(source) => Err(NotQueued { cause, source }),
        },
    }
}

/// What a flush did.
#[derive(Debug, Default)]
pub struct FlushReport {
    /// Sent and removed from the queue: the file it was in, and Grafana's annotation id.
    pub sent: Vec<(PathBuf, i64)>,
    /// Refused by Grafana (or unreadable) and moved to `failed/`: the new file and why.
    pub failed: Vec<(PathBuf, String)>,
    /// Still in the queue, oldest first.
    pub still_queued: Vec<PathBuf>,
    /// Why the flush stopped early, and what went wrong with the queue itself.
    pub errors: Vec<String>,
}

impl FlushReport {
    /// Everything was sent.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.still_queued.is_empty() && self.errors.is_empty()
    }
}

impl fmt::Display for FlushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Grafana annotations: {} sent, {} moved to failed/, {} still queued",
            self.sent.len(),
            self.failed.len(),
            self.still_queued.len()
        )?;
        for (path, why) in &self.failed {
            write!(f, "\n  failed: {}: {why}", path.display())?;
        }
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        if let Some(first) = self.still_queued.first() {
            let dir = first.parent().unwrap_or(Path::new("."));
            write!(f, "\n  still queued in {}; run `k6gate grafana flush` again later", dir.display())?;
        }
        Ok(())
    }
}

/// Sends the queued annotations, oldest first.
///
/// A sent annotation's file is removed. One Grafana refused (a 4xx that is not about the
/// token, the URL or the rate) moves to `failed/` and the flush goes on. Anything else (no
/// connection, a refused token, a wrong URL, a failing server) would fail the same way for
/// the rest, so the flush stops there and leaves them queued. `Err` only when the queue
/// directory cannot be listed.
pub fn flush(config: &GrafanaConfig, queue: &Queue) -> Result<FlushReport, QueueError> {
    let mut report = FlushReport::default();
    let pending = queue.pending()?;
    let mut files = pending.into_iter();
    for path in files.by_ref() {
        let entry = match queue.read(&path) {
            Ok(entry) => entry,
            Err(QueueError::Corrupt { message, .. }) => {
                let why = format!("unreadable queue file: {message}");
                match queue.fail_unreadable(&path, &why) {
                    Ok(moved) => report.failed.push((moved, why)),
                    Err(e) => {
                        report.errors.push(e.to_string());
                        report.still_queued.push(path);
                        break;
                    }
                }
                continue;
            }
            Err(e) => {
                report.errors.push(e.to_string());
                report.still_queued.push(path);
                break;
            }
        };
        match post(config, &entry.annotation) {
            Ok(id) => match remove(&path) {
                Ok(()) => report.sent.push((path, id)),
                Err(e) => {
                    // Sent but still on disk: stop before a later flush sends it twice.
                    report.sent.push((path.clone(), id));
                    report.errors.push(format!("annotation {id} was sent but its queue file remains: {e}"));
                    report.still_queued.push(path);
                    break;
                }
            },
            Err(error) if error.is_rejection() => {
                let why = error.to_string();
                match queue.fail(&path, entry, why.clone()) {
                    Ok(moved) => report.failed.push((moved, why)),
                    Err(e) => {
                        report.errors.push(format!("{why}; and it could not be moved to failed/: {e}"));
                        report.still_queued.push(path);
                        break;
                    }
                }
            }
            Err(error) => {
                report.errors.push(format!("stopped: {error}"));
                report.still_queued.push(path);
                break;
            }
        }
    }
    report.still_queued.extend(files);
    Ok(report)
}
