//! One page of the run list, as `k6gate serve` shows it: the runs' own columns only, never a
//! summary or a verdict, filtered on indexed columns and paged by keyset (start time, then id,
//! newest first), so the hundredth page costs what the first does on a year of runs.

use super::error::HistoryError;
use super::run::Outcome;

/// Which runs, and where the page starts. Every filter is an equality on a column of the
/// `runs` table (or a range of start times).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PageQuery {
    pub test: Option<String>,
    /// Only runs of one of these tests (a team's tests); `Some(empty)` matches nothing.
    pub tests: Option<Vec<String>>,
    pub environment: Option<String>,
    pub version: Option<String>,
    pub outcome: Option<Outcome>,
    pub branch: Option<String>,
    /// Started at or after (Unix ns).
    pub since_ns: Option<i64>,
    /// Started before (Unix ns).
    pub until_ns: Option<i64>,
    /// Runs strictly older than this one (its start time and id): the previous page's last.
    pub after: Option<Cursor>,
    /// At most this many (the store reads one more, to tell whether a next page exists).
    pub limit: usize,
}

/// A position in the newest-first order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub started_at_ns: i64,
    pub id: String,
}

/// A run as the list shows it: no documents.
#[derive(Debug, Clone, PartialEq)]
pub struct ListedRun {
    pub id: String,
    pub test: String,
    pub environment: String,
    pub outcome: Outcome,
    pub started_at_ns: i64,
    pub finished_at_ns: Option<i64>,
    pub git_branch: Option<String>,
    pub git_commit: Option<String>,
    pub deployment_version: Option<String>,
    pub user: Option<String>,
}

/// One page, newest first, and where the next one starts (none: this is the last).
#[derive(Debug, Clone, PartialEq)]
pub struct RunPage {
    pub runs: Vec<ListedRun>,
    pub next: Option<Cursor>,
}

/// The values the list's filters offer: every test and environment pair the store holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Facets {
    pub tests: Vec<String>,
    pub environments: Vec<String>,
}

/// A run's verdict, read alone: the `verdict` column and the run's id, never the summary
/// (which is several times larger, and what made reading a verdict through
/// [`RunStore::get_run`](super::RunStore::get_run) cost what it did).
#[derive(Debug, Clone)]
pub struct StoredVerdict {
    pub id: String,
    /// The verdict's JSON text (decompressed, not parsed here: the caller reads what it
    /// needs of it and reports a document that is not JSON); `None` for a run without one
    /// (errored, incomplete).
    pub verdict: Option<String>,
}

/// Paged listing. Both backends answer alike (the durable store from its cache).
pub trait RunPages {
    fn run_page(&self, query: &PageQuery) -> Result<RunPage, HistoryError>;
    fn facets(&self) -> Result<Facets, HistoryError>;
    /// The verdicts of these runs (full ids, as a page lists them), in the order given; an id
    /// the store does not hold is left out. One query by primary key per call; the summary
    /// column is never read.
    fn verdicts(&self, ids: &[&str]) -> Result<Vec<StoredVerdict>, HistoryError>;
}
