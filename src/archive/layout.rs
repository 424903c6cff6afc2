//! Where a run's objects go: Hive-style partitions by test, environment and start date.

use object_store::path::{Path as Key, PathPart};

/// The rows of every run, globbed by queries.
pub const ROWS: &str = "rows";
/// The runs' documents, read back by `history import`.
pub const RUNS: &str = "runs";
const ROWS_SUFFIX: &str = ".jsonl.gz";
const RUN_SUFFIX: &str = ".json.gz";

/// `YYYY-MM-DD` of a Unix time in nanoseconds, UTC.
pub fn date_of(ns: i64) -> String {
    crate::time::format_rfc3339_ms(ns).chars().take(10).collect()
}

fn partition(prefix: &Key, kind: &str, test: &str, environment: &str, started_at_ns: i64) -> Key {
    let parts = [
        PathPart::from(kind),
        PathPart::from(format!("test={test}")),
        PathPart::from(format!("env={environment}")),
        PathPart::from(format!("date={}", date_of(started_at_ns))),
    ];
    parts.into_iter().fold(prefix.clone(), |key, part| key.join(part))
}

/// `<prefix>/rows/test=…/env=…/date=…/<run id>.jsonl.gz`.
pub fn row_key(prefix: &Key, test: &str, environment: &str, started_at_ns: i64, run_id: &str) -> Key {
    partition(prefix, ROWS, test, environment, started_at_ns).join(PathPart::from(format!("{run_id}{ROWS_SUFFIX}")))
}

/// `<prefix>/runs/test=…/env=…/date=…/<run id>.json.gz`.
pub fn run_key(prefix: &Key, test: &str, environment: &str, started_at_ns: i64, run_id: &str) -> Key {
    partition(prefix, RUNS, test, environment, started_at_ns).join(PathPart::from(format!("{run_id}{RUN_SUFFIX}")))
}

/// Where the run documents of one test (and environment) are listed from.
pub fn runs_prefix(prefix: &Key, test: Option<&str>, environment: Option<&str>) -> Key {
    let mut key = prefix.clone().join(PathPart::from(RUNS));
    if let Some(test) = test {
        key = key.join(PathPart::from(format!("test={test}")));
        if let Some(env) = environment {
            key = key.join(PathPart::from(format!("env={env}")));
        }
    }
    key
}

/// A run document's key, read back: its partitions and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedRun {
    pub key: Key,
    pub test: String,
    pub environment: String,
    pub date: String,
    pub run_id: String,
}

impl ArchivedRun {
    /// The partitions and id of a key under `<prefix>/runs/`, or `None` for any other object.
    pub fn parse(prefix: &Key, key: &Key) -> Option<ArchivedRun> {
        let parts: Vec<PathPart<'_>> = key.prefix_match(prefix)?.collect();
        let [kind, test, env, date, file] = parts.as_slice() else { return None };
        if kind.as_ref() != RUNS {
            return None;
        }
        let value = |part: &PathPart<'_>, name: &str| -> Option<String> {
            let raw = part.as_ref().strip_prefix(name)?.strip_prefix('=')?;
            Some(percent_decode(raw))
        };
        Some(ArchivedRun {
            key: key.clone(),
            test: value(test, "test")?,
            environment: value(env, "env")?,
            date: value(date, "date")?,
            run_id: file.as_ref().strip_suffix(RUN_SUFFIX)?.to_string(),
        })
    }
}

/// The `test` and `date` partitions of any key under `<prefix>/rows/` or `<prefix>/runs/`, and
/// whether it is a run document; `None` for a key outside that layout.
pub fn partitions(prefix: &Key, key: &Key) -> Option<(String, String, bool)> {
    let parts: Vec<PathPart<'_>> = key.prefix_match(prefix)?.collect();
    let [kind, test, _env, date, file] = parts.as_slice() else { return None };
    let is_run = match kind.as_ref() {
        RUNS => file.as_ref().ends_with(RUN_SUFFIX),
        ROWS => false,
        _ => return None,
    };
    let value = |part: &PathPart<'_>, name: &str| -> Option<String> {
        Some(percent_decode(part.as_ref().strip_prefix(name)?.strip_prefix('=')?))
    };
    Some((value(test, "test")?, value(date, "date")?, is_run))
}

/// A key part as written (object_store percent-encodes the few characters a part cannot hold).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok());
        match (bytes.get(i), hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (Some(b'%'), Some(b)) => {
                out.push(b);
                i += 3;
            }
            (Some(&b), _) => {
                out.push(b);
                i += 1;
            }
            (None, _) => break,
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-12-06T13:14:15Z.
    const T: i64 = 1_796_562_855_000_000_000;

    #[test]
    fn keys_are_hive_partitions_by_test_env_and_start_date() {
        let prefix = Key::from("archive/k6");
        assert_eq!(date_of(T), "2026-12-06");
        let rows = row_key(&prefix, "checkout", "staging", T, "20261206-131415-abcd");
        assert_eq!(
            rows.as_ref(),
            "archive/k6/rows/test=checkout/env=staging/date=2026-12-06/20261206-131415-abcd.jsonl.gz"
        );
        let run = run_key(&prefix, "checkout", "staging", T, "20261206-131415-abcd");
        assert_eq!(
            run.as_ref(),
            "archive/k6/runs/test=checkout/env=staging/date=2026-12-06/20261206-131415-abcd.json.gz"
        );
        let parsed = ArchivedRun::parse(&prefix, &run).unwrap();
        assert_eq!(
            (parsed.test.as_str(), parsed.environment.as_str(), parsed.date.as_str(), parsed.run_id.as_str()),
            ("checkout", "staging", "2026-12-06", "20261206-131415-abcd")
        );
        assert!(ArchivedRun::parse(&prefix, &rows).is_none(), "rows are not run documents");
        assert_eq!(
            runs_prefix(&prefix, Some("checkout"), Some("staging")).as_ref(),
            "archive/k6/runs/test=checkout/env=staging"
        );
    }

    #[test]
    fn a_name_with_a_slash_stays_one_partition_and_reads_back() {
        let prefix = Key::default();
        let key = run_key(&prefix, "api/v2", "eu", T, "20261206-131415-abcd");
        assert_eq!(key.parts().count(), 5, "{key}");
        assert_eq!(ArchivedRun::parse(&prefix, &key).unwrap().test, "api/v2");
    }
}
