//! Local run history: every run k6gate makes, in an embedded SQLite database under
//! `.k6gate/`, and the baseline the next run is compared with.
//!
//! A run is stored with what it was (test, environment, git branch and commit, deployment
//! version, who ran it and on which host, its run directory, k6's exit code, start and finish
//! times), what it measured (the RunSummary) and what the gate said (the verdict and its
//! outcome). Summaries and verdicts are kept as the JSON documents they are, gzip-compressed
//! (`document.rs`): this module never reads inside them, so their schemas evolve without a migration here, and it depends on
//! neither `summary`'s RunSummary nor `policy`. Beside them, each decided run's compact record
//! ([`Records`]: `summary::digest` rows, the one type it takes from `summary`), given by the
//! caller, is what historical queries read; its decision record ([`Decisions`]: violations and
//! overrides, also the caller's) is what the accountability page reads.
//!
//! Storage sits behind [`RunStore`], with two backends that answer alike (the tests run the
//! same cases on both): [`SqliteStore`], the embedded default, and [`RemoteStore`], the
//! durable store on object storage (`--history s3://bucket/prefix`), which keeps the SQLite
//! file as its cache and outbox. [`Store`] is whichever the settings chose. Both also hold
//! the lock ([`Leases`]): one run at a time per environment. Retention's primitives are
//! [`Prune`] (runs listed with their sizes, a run deleted, a summary replaced whole) and
//! [`RunDirs`] (the run directories beside the store); which runs to prune is decided in
//! `src/retention`. A run a pin names is never deleted (the `pins` foreign key, and the
//! remote store's check, hold that).
//!
//! A store never answers "no baseline" for a test and environment it has served one for:
//! that is [`HistoryError::BaselineLost`], and the gate fails closed.
//!
//! What the store must never do:
//! - read the clock: start, finish and pin times are inputs (the run id's 16 random bits are
//!   the only thing it makes up);
//! - decide an outcome: the caller records the verdict's, and the store refuses a pass, warn
//!   or fail without the summary and verdict behind it;
//! - offer an errored or incomplete run as a baseline, even through a pin.
//!

mod artefacts;
mod audit;
mod baseline;
mod decision;
mod document;
mod error;
mod lease;
mod open;
mod page;
mod pin;
mod prune;
mod records;
mod remote;
mod run;
mod run_id;
mod schema;
mod sqlite;
mod store;

pub use artefacts::{RunDir, RunDirs};
pub use audit::{AuditEntry, AuditLog, AuditQuery, NewAuditEntry, SavedPermissions};
pub use baseline::{BASELINE_OUTCOMES, BaselineChoice};
pub use decision::{Decision, Decisions, Override, StoredDecision};
pub use document::stored_bytes;
pub use error::HistoryError;
pub use lease::{Attempt, Holder, LeaseRecord, Leases};
pub use open::{HistoryConfig, Store};
pub use page::{Cursor, Facets, ListedRun, PageQuery, RunPage, RunPages, StoredVerdict};
pub use pin::{Invalidation, Pin, PinEvent};
pub use prune::{NO_SERIES, Prune, StoredRun};
pub use records::{DigestQuery, DigestRun, Records};
pub use remote::{RemoteConfig, RemoteStore, SyncReport};
pub use run::{NewRun, Outcome, RunContext, RunFilter, RunRecord, UnknownOutcome};
pub use run_id::{format_run_id, new_run_id, parse_run_id_time};
pub use schema::SCHEMA_VERSION;
pub use sqlite::{FILE_NAME, SqliteStore};
pub use store::RunStore;
// The archive opens its objects as the remote store does.
pub use remote::{Opened, describe as describe_store_error, open_objects};
