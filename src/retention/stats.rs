//! Storage cost (`k6gate history stats`): the bytes each tier holds, by retention class, test
//! and month, and how much each tier grew in the last 30 days.
//!
//! Sizes only: the stores' own accounting (a row's column sizes, an object's listed size, a
//! file's length). No summary, verdict or archived object is ever read to count it.
//!
//! [`compute`] is pure (the listings and `now` in, [`StorageStats`] out); [`gather`] lists the
//! history and the run directories. The archive is listed by `src/archive`
//! (`RunArchive::stored_objects`), which sits above this module, and handed in as
//! [`ArchivedObject`]s. Every listing that fails is an error: a store that cannot be listed
//! is never "0 bytes".

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::history::{HistoryError, Prune, RunDir, RunDirs, RunFilter, Store, StoredRun};
use crate::policy::retention::{RetentionPolicy, days_ns};

/// Where bytes are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// The SQLite history, when it is the store (no `--history URL`).
    Local,
    /// The SQLite file in front of the durable store: a copy of it, not counted in the growth.
    Cache,
    /// The durable store (`--history URL`): the run objects' listed sizes.
    Remote,
    /// Run directories (`<state dir>/runs/<id>`: raw k6 output and the reports).
    RunDirs,
    /// The archive (`--archive URL`): objects under `rows/` and `runs/`.
    Archive,
}

impl Tier {
    pub fn name(self) -> &'static str {
        match self {
            Tier::Local => "local",
            Tier::Cache => "cache",
            Tier::Remote => "remote",
            Tier::RunDirs => "run_dirs",
            Tier::Archive => "archive",
        }
    }

    /// Whether the tier counts towards the growth budget (a cache copies another tier).
    pub fn counts(self) -> bool {
        self != Tier::Cache
    }
}

impl std::fmt::Display for Tier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Class of a test the retention policy does not know (a run directory without its run),
/// or of every test when the policy has no retention section.
pub const NO_CLASS: &str = "none";
/// Test of a run directory whose run is not in the history, and of an archive object
/// outside the archive's layout.
pub const UNKNOWN_TEST: &str = "(unknown)";

/// One archive object, as listed: its partitions (from its key) and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedObject {
    /// `test=` partition, or [`UNKNOWN_TEST`] for a key outside the layout.
    pub test: String,
    /// `date=` partition (`YYYY-MM-DD`, the run's start), empty outside the layout.
    pub date: String,
    pub bytes: u64,
    /// When the object was written (its listed last-modified time), Unix ns.
    pub written_ns: i64,
    /// A run document (`runs/`), which counts one run; rows (`rows/`) do not.
    pub is_run: bool,
}

/// Bytes and runs of one tier, class, test and month.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Row {
    pub tier: Tier,
    pub class: String,
    pub test: String,
    /// `YYYY-MM` of the run's start (UTC); empty when unknown.
    pub month: String,
    pub runs: u64,
    pub bytes: u64,
}

/// One tier's total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TierTotal {
    pub tier: Tier,
    /// The file, directory or URL it was listed from.
    pub location: String,
    pub runs: u64,
    pub bytes: u64,
    /// Bytes of what was added in the last 30 days: runs started (store, run directories) or
    /// objects written (archive) since `now - 30 d`.
    pub growth_30d_bytes: u64,
}

/// What `history stats` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StorageStats {
    /// The history store, as messages name it (file or URL): the `store` label of the metrics.
    pub store: String,
    pub now_ns: i64,
    pub tiers: Vec<TierTotal>,
    /// By tier, class, test and month; sorted.
    pub rows: Vec<Row>,
    /// The 30-day growth of every tier but the cache.
    pub growth_30d_bytes: u64,
    /// `retention.growth_budget_bytes_30d`, when the policy sets one.
    pub growth_budget_bytes_30d: Option<u64>,
}

impl StorageStats {
    /// Whether the 30-day growth is over the policy's budget (never, without one).
    pub fn over_budget(&self) -> bool {
        self.growth_budget_bytes_30d.is_some_and(|b| self.growth_30d_bytes > b)
    }

    /// Bytes by one key of the rows (class, test or month), per tier: `key -> tier -> bytes`.
    pub fn by(&self, key: impl Fn(&Row) -> &str) -> BTreeMap<String, BTreeMap<Tier, u64>> {
        let mut out: BTreeMap<String, BTreeMap<Tier, u64>> = BTreeMap::new();
        for r in &self.rows {
            *out.entry(key(r).to_string()).or_default().entry(r.tier).or_default() += r.bytes;
        }
        out
    }
}

/// The listings [`compute`] reads.
#[derive(Debug, Clone, Copy)]
pub struct Listings<'a> {
    pub store: &'a str,
    /// The SQLite history (or the durable store's cache, with `remote`).
    pub local: &'a [StoredRun],
    /// The durable store's runs and the URL, when there is one.
    pub remote: Option<(&'a str, &'a [StoredRun])>,
    pub local_path: &'a str,
    pub run_dirs: (&'a str, &'a [RunDir]),
    pub archive: Option<(&'a str, &'a [ArchivedObject])>,
}

/// `YYYY-MM` of a Unix time in ns, UTC.
pub fn month_of(ns: i64) -> String {
    crate::time::format_rfc3339_ms(ns).chars().take(7).collect()
}

const WINDOW_DAYS: u32 = 30;

/// The stats of the listings, classes from `retention` (every test in [`NO_CLASS`] without
/// one), growth counted from `now_ns - 30 d`.
pub fn compute(l: &Listings<'_>, retention: Option<&RetentionPolicy>, now_ns: i64) -> StorageStats {
    let since = now_ns.saturating_sub(days_ns(WINDOW_DAYS));
    let class_of = |test: &str| -> String {
        retention.and_then(|r| r.class_of(test)).map_or_else(|| NO_CLASS.to_string(), |c| c.name.clone())
    };
    let mut rows: BTreeMap<(Tier, String, String, String), (u64, u64)> = BTreeMap::new();
    let mut tiers = Vec::new();
    let add_runs = |tier: Tier, location: &str, runs: &[StoredRun], rows: &mut BTreeMap<_, (u64, u64)>| {
        let mut total = TierTotal { tier, location: location.to_string(), runs: 0, bytes: 0, growth_30d_bytes: 0 };
        for r in runs {
            let key = (tier, class_of(&r.run.test), r.run.test.clone(), month_of(r.run.started_at_ns));
            let cell: &mut (u64, u64) = rows.entry(key).or_default();
            cell.0 += 1;
            cell.1 += r.bytes;
            total.runs += 1;
            total.bytes += r.bytes;
            if r.run.started_at_ns >= since {
                total.growth_30d_bytes += r.bytes;
            }
        }
        total
    };
    let local_tier = if l.remote.is_some() { Tier::Cache } else { Tier::Local };
    tiers.push(add_runs(local_tier, l.local_path, l.local, &mut rows));
    if let Some((url, remote)) = l.remote {
        tiers.push(add_runs(Tier::Remote, url, remote, &mut rows));
    }

    // Run directories: the test and class of their run, when the history knows it.
    let tests: BTreeMap<&str, &str> = l.local.iter().map(|r| (r.run.id.as_str(), r.run.test.as_str())).collect();
    let (dirs_at, dirs) = l.run_dirs;
    let mut total =
        TierTotal { tier: Tier::RunDirs, location: dirs_at.to_string(), runs: 0, bytes: 0, growth_30d_bytes: 0 };
    for d in dirs {
        let (test, class) = match tests.get(d.run_id.as_str()) {
            Some(test) => (test.to_string(), class_of(test)),
            None => (UNKNOWN_TEST.to_string(), NO_CLASS.to_string()),
        };
        let cell = rows.entry((Tier::RunDirs, class, test, month_of(d.started_at_ns))).or_default();
        cell.0 += 1;
        cell.1 += d.bytes;
        total.runs += 1;
        total.bytes += d.bytes;
        if d.started_at_ns >= since {
            total.growth_30d_bytes += d.bytes;
        }
    }
    tiers.push(total);

    if let Some((url, objects)) = l.archive {
        let mut total =
            TierTotal { tier: Tier::Archive, location: url.to_string(), runs: 0, bytes: 0, growth_30d_bytes: 0 };
        for o in objects {
            let class = if o.test == UNKNOWN_TEST { NO_CLASS.to_string() } else { class_of(&o.test) };
            let month: String = o.date.chars().take(7).collect();
            let cell = rows.entry((Tier::Archive, class, o.test.clone(), month)).or_default();
            cell.0 += u64::from(o.is_run);
            cell.1 += o.bytes;
            total.runs += u64::from(o.is_run);
            total.bytes += o.bytes;
            if o.written_ns >= since {
                total.growth_30d_bytes += o.bytes;
            }
        }
        tiers.push(total);
    }

    let growth_30d_bytes = tiers.iter().filter(|t| t.tier.counts()).map(|t| t.growth_30d_bytes).sum();
    StorageStats {
        store: l.store.to_string(),
        now_ns,
        tiers,
        rows: rows
            .into_iter()
            .map(|((tier, class, test, month), (runs, bytes))| Row { tier, class, test, month, runs, bytes })
            .collect(),
        growth_30d_bytes,
        growth_budget_bytes_30d: retention.and_then(|r| r.growth_budget_bytes_30d),
    }
}

/// The history's and the run directories' listings, sizes only.
pub struct Gathered {
    pub store: String,
    pub local_path: String,
    pub local: Vec<StoredRun>,
    /// URL and runs of the durable store, without the runs still waiting to be uploaded.
    pub remote: Option<(String, Vec<StoredRun>)>,
    pub run_dirs_at: String,
    pub run_dirs: Vec<RunDir>,
}

impl Gathered {
    /// The listings, with the archive's objects when there is one.
    pub fn listings<'a>(&'a self, archive: Option<(&'a str, &'a [ArchivedObject])>) -> Listings<'a> {
        Listings {
            store: &self.store,
            local: &self.local,
            remote: self.remote.as_ref().map(|(url, runs)| (url.as_str(), runs.as_slice())),
            local_path: &self.local_path,
            run_dirs: (&self.run_dirs_at, &self.run_dirs),
            archive,
        }
    }
}

/// Lists the store (both the SQLite file and, when there is one, the durable store, whose
/// listing must answer) and the run directories.
pub fn gather(store: &Store, dirs: &RunDirs) -> Result<Gathered, HistoryError> {
    let all = RunFilter { test: None, environment: None, limit: None };
    let (local_path, local, remote) = match store.remote() {
        None => (store.name(), Prune::stored_runs(store, &all)?, None),
        Some(r) => {
            let cache = r.cache();
            let pending: BTreeSet<String> = r.pending()?.into_iter().map(|(id, _)| id).collect();
            let mut runs = Prune::stored_runs(r, &all)?;
            runs.retain(|s| !pending.contains(&s.run.id));
            (cache.path().display().to_string(), Prune::stored_runs(cache, &all)?, Some((r.url().to_string(), runs)))
        }
    };
    Ok(Gathered {
        store: store.name(),
        local_path,
        local,
        remote,
        run_dirs_at: dirs.root().display().to_string(),
        run_dirs: dirs.list()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Outcome, RunRecord};

    const DAY: i64 = 86_400 * 1_000_000_000;
    /// 2026-12-06T00:00:00Z.
    const NOW: i64 = 1_796_515_200_000_000_000;

    fn stored(id: &str, test: &str, started_at_ns: i64, bytes: u64) -> StoredRun {
        let run = RunRecord {
            id: id.into(),
            test: test.into(),
            environment: "staging".into(),
            outcome: Outcome::Pass,
            started_at_ns,
            finished_at_ns: None,
            user: None,
            host: None,
            git_branch: None,
            git_commit: None,
            deployment_version: None,
            run_dir: None,
            k6_exit_code: None,
            k6gate_version: "test".into(),
            summary: None,
            verdict: None,
            problem: None,
            context: None,
            digest: Vec::new(),
            decision: None,
        };
        StoredRun { run, has_summary: true, summary_bytes: bytes, bytes, series_from_s: None }
    }

    #[test]
    fn bytes_by_tier_class_test_and_month_and_the_growth_of_30_days() {
        let local = [
            stored("a", "checkout", NOW - 40 * DAY, 1000),
            stored("b", "checkout", NOW - 5 * DAY, 300),
            stored("c", "search", NOW - 5 * DAY, 20),
        ];
        let dirs = [RunDir { run_id: "b".into(), started_at_ns: NOW - 5 * DAY, bytes: 7000 }];
        let archive = [ArchivedObject {
            test: "checkout".into(),
            date: "2025-01-02".into(),
            bytes: 50,
            written_ns: NOW - DAY,
            is_run: true,
        }];
        let l = Listings {
            store: "h.sqlite",
            local: &local,
            remote: None,
            local_path: "h.sqlite",
            run_dirs: ("runs", &dirs),
            archive: Some(("file:///a", &archive)),
        };
        let s = compute(&l, None, NOW);
        let total = |t: Tier| s.tiers.iter().find(|x| x.tier == t).map(|x| (x.runs, x.bytes, x.growth_30d_bytes));
        assert_eq!(total(Tier::Local), Some((3, 1320, 320)));
        assert_eq!(total(Tier::RunDirs), Some((1, 7000, 7000)));
        assert_eq!(total(Tier::Archive), Some((1, 50, 50)), "archive growth counts by write time, not run date");
        assert_eq!(s.growth_30d_bytes, 7370);
        assert_eq!(s.by(|r| &r.test)["checkout"][&Tier::Local], 1300);
        assert_eq!(s.by(|r| &r.month)["2026-10"][&Tier::Local], 1000);
        assert_eq!(s.by(|r| &r.month)["2025-01"][&Tier::Archive], 50);
        assert!(s.rows.iter().all(|r| r.class == NO_CLASS), "no retention policy: no class");
        assert!(!s.over_budget(), "no budget: never over it");
    }
}
