//! The archive (`k6gate archive`, `k6gate history import`, and the runs `history prune`
//! moves): runs past their class's hot period, on object storage (S3 and S3-compatible, GCS,
//! Azure, a local path; the remote store's backends, opened the same way, requests through
//! `src/net`), in a layout Athena and DuckDB read directly:
//!
//! ```text
//! <prefix>/rows/test=<test>/env=<env>/date=<YYYY-MM-DD>/<run id>.jsonl.gz
//!     one JSON line per phase (and steady state, and whole run) and group: the run's own
//!     fields and its digest row (P50/P95/P99, error rate, duration, throughput, the sketch)
//! <prefix>/runs/test=<test>/env=<env>/date=<YYYY-MM-DD>/<run id>.json.gz
//!     the run's record whole (metadata, summary, verdict), as the history stores it: what
//!     `history import` brings back
//! ```
//!
//! `date` is the run's start, UTC. Queries glob `rows/**/*.jsonl.gz` and never see the run
//! documents. A run without a summary (errored, incomplete) has a document and no rows.
//!
//! Objects are written once ([`RunArchive::put_run`]): the run document last, so its presence
//! means the run is archived whole; every write is read back and compared. An object already
//! there with the same content is left as it is (re-running writes nothing); one with
//! different content is an error and is never overwritten. "The same" is the same JSON, or
//! for a run document the same JSON once both copies' series are dropped: retention coarsens
//! series with age, and the archive keeps the copy it has, with the finer series.
//!
//! It sits above `retention` (rank 9, with the sinks): it implements `retention::Archive`,
//! which `history prune` moves runs through, and reads the classes' hot periods from `policy`.
//! It never deletes anything, and never reads the clock (`now` is an input).

mod error;
mod export;
mod import;
mod layout;
mod line;
mod objects;

pub use error::ArchiveError;
pub use export::{ArchiveReport, Selection, archive};
pub use import::{ImportFilter, ImportReport, import};
pub use layout::{ArchivedRun, date_of, row_key, run_key};
pub use line::lines;
pub use objects::{Put, RunArchive};
