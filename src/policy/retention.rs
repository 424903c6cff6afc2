//! Retention classes (`retention:` in `policies/data/retention.yaml`): how long each kind of
//! stored data lives, per class of test, changed by pull request like all policy.
//!
//! A class says, by a run's age, the finest series resolution kept (`series`: each tier keeps
//! windows of at least `window_s` seconds until the run is `until_days` old), when the run
//! itself goes (`summary_days`: its record, summary, sketches and verdict), and when its raw
//! k6 output and run directory go (`raw_days`, the section's, or the class's own). Past the
//! last series tier a run keeps its summary without series. Which runs this removes, and
//! which are exempt, is `src/retention`'s to decide.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::data::Source;

pub const DAY_NS: i64 = 86_400 * 1_000_000_000;

/// The `retention:` section as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RetentionSection {
    pub raw_days: u32,
    pub default_class: String,
    pub classes: BTreeMap<String, ClassSection>,
    #[serde(default)]
    pub tests: BTreeMap<String, String>,
    #[serde(default)]
    pub growth_budget_bytes_30d: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ClassSection {
    #[serde(default)]
    pub series: Vec<Tier>,
    pub summary_days: u32,
    pub raw_days: Option<u32>,
    #[serde(default)]
    pub archive_days: Option<u32>,
}

/// Series of at least `window_s` seconds are kept until the run is `until_days` old.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Tier {
    pub window_s: f64,
    pub until_days: u32,
}

/// One retention class, validated.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionClass {
    pub name: String,
    /// Finest first; `window_s` and `until_days` both strictly increasing.
    pub series: Vec<Tier>,
    pub summary_days: u32,
    pub raw_days: u32,
    /// The hot period: a run this old is exported by `k6gate archive`, and moved to the
    /// archive (archived, verified, then deleted here) by `history prune` when an archive is
    /// configured. `None`: the class is never archived.
    pub archive_days: Option<u32>,
}

/// What a run of some age keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Keep {
    /// The run, with series of at least this many seconds per window.
    SeriesFrom(f64),
    /// The run, its summary without series.
    NoSeries,
    /// Nothing: the run is past its summary period.
    Nothing,
}

impl RetentionClass {
    /// What a run `age_ns` old keeps.
    pub fn keep(&self, age_ns: i64) -> Keep {
        if age_ns >= days_ns(self.summary_days) {
            return Keep::Nothing;
        }
        match self.series.iter().find(|t| age_ns < days_ns(t.until_days)) {
            Some(t) => Keep::SeriesFrom(t.window_s),
            None => Keep::NoSeries,
        }
    }

    /// Whether a run `age_ns` old is past the class's hot period (never, without one).
    pub fn archive_due(&self, age_ns: i64) -> bool {
        self.archive_days.is_some_and(|d| age_ns >= days_ns(d))
    }

    /// Whether a run `age_ns` old is past its raw output's period.
    pub fn raw_expired(&self, age_ns: i64) -> bool {
        age_ns >= days_ns(self.raw_days)
    }
}

pub fn days_ns(days: u32) -> i64 {
    i64::from(days) * DAY_NS
}

/// The retention policy, validated: every class a test names exists, and so does the default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetentionPolicy {
    pub classes: BTreeMap<String, RetentionClass>,
    pub default_class: String,
    /// Test name -> class name.
    pub tests: BTreeMap<String, String>,
    /// The storage budget: bytes the stores may grow by in 30 days (`history stats` publishes
    /// it beside the growth; the `K6gateStorageGrowthOverBudget` alert compares the two).
    pub growth_budget_bytes_30d: Option<u64>,
    /// Where the section was written.
    pub source: Source,
}

impl RetentionPolicy {
    /// The class of `test`: its assignment, else the default (validation made both exist).
    pub fn class_of(&self, test: &str) -> Option<&RetentionClass> {
        self.classes.get(self.tests.get(test).unwrap_or(&self.default_class))
    }

    /// The longest raw-output period of any class: for run directories whose run is unknown.
    pub fn longest_raw_days(&self) -> u32 {
        self.classes.values().map(|c| c.raw_days).max().unwrap_or(u32::MAX)
    }
}

/// A validation failure: the key path under `retention` (for the line) and the message.
pub(super) struct Invalid {
    pub at: Vec<String>,
    pub message: String,
}

fn invalid(at: &[&str], message: String) -> Invalid {
    Invalid { at: at.iter().map(|s| s.to_string()).collect(), message }
}

/// Checks the section and builds the policy. `at` paths start below `retention`.
pub(super) fn validate(s: RetentionSection, source: Source) -> Result<RetentionPolicy, Invalid> {
    if s.raw_days == 0 {
        return Err(invalid(&["raw_days"], "retention.raw_days must be at least 1".into()));
    }
    if s.classes.is_empty() {
        return Err(invalid(&["classes"], "retention.classes: define at least one class".into()));
    }
    let mut classes = BTreeMap::new();
    for (name, c) in s.classes {
        let field = |f: &str| format!("retention.classes.{name}.{f}");
        if c.summary_days == 0 {
            return Err(invalid(
                &["classes", &name, "summary_days"],
                format!("{} must be at least 1", field("summary_days")),
            ));
        }
        let raw_days = c.raw_days.unwrap_or(s.raw_days);
        if raw_days == 0 || raw_days > c.summary_days {
            let (at, what) = match c.raw_days {
                Some(_) => (vec!["classes", name.as_str(), "raw_days"], field("raw_days")),
                None => (vec!["raw_days"], "retention.raw_days".to_string()),
            };
            return Err(invalid(
                &at,
                format!(
                    "{what} ({raw_days}) must be between 1 and class {name}'s summary_days ({}): raw output never outlives its run",
                    c.summary_days
                ),
            ));
        }
        if let Some(days) = c.archive_days
            && (days == 0 || days > c.summary_days)
        {
            return Err(invalid(
                &["classes", &name, "archive_days"],
                format!(
                    "{} ({days}) must be between 1 and the class's summary_days ({}): a run is archived before it is deleted",
                    field("archive_days"),
                    c.summary_days
                ),
            ));
        }
        let mut previous: Option<Tier> = None;
        for (i, t) in c.series.iter().enumerate() {
            let here = format!("retention.classes.{name}.series[{i}]");
            let at = |k: &'static str| invalid_at(&name, i, k);
            if !t.window_s.is_finite() || t.window_s <= 0.0 {
                return Err(Invalid {
                    at: at("window_s"),
                    message: format!("{here}.window_s must be a number of seconds > 0"),
                });
            }
            if t.until_days == 0 || t.until_days > c.summary_days {
                return Err(Invalid {
                    at: at("until_days"),
                    message: format!(
                        "{here}.until_days must be between 1 and the class's summary_days ({}): series never outlive their run",
                        c.summary_days
                    ),
                });
            }
            if let Some(p) = previous {
                if t.window_s <= p.window_s {
                    return Err(Invalid {
                        at: at("window_s"),
                        message: format!("{here}.window_s must be coarser than the tier before it ({} s)", p.window_s),
                    });
                }
                if t.until_days <= p.until_days {
                    return Err(Invalid {
                        at: at("until_days"),
                        message: format!(
                            "{here}.until_days must be later than the tier before it ({} days)",
                            p.until_days
                        ),
                    });
                }
            }
            previous = Some(*t);
        }
        classes.insert(
            name.clone(),
            RetentionClass {
                name,
                series: c.series,
                summary_days: c.summary_days,
                raw_days,
                archive_days: c.archive_days,
            },
        );
    }
    if !classes.contains_key(&s.default_class) {
        return Err(invalid(
            &["default_class"],
            format!("retention.default_class: no class {:?} (classes: {})", s.default_class, names(&classes)),
        ));
    }
    for (test, class) in &s.tests {
        if test.trim().is_empty() {
            return Err(invalid(&["tests"], "retention.tests: a test name must not be empty".into()));
        }
        if !classes.contains_key(class) {
            return Err(invalid(
                &["tests", test],
                format!("retention.tests.{test}: no class {class:?} (classes: {})", names(&classes)),
            ));
        }
    }
    if s.growth_budget_bytes_30d == Some(0) {
        return Err(invalid(
            &["growth_budget_bytes_30d"],
            "retention.growth_budget_bytes_30d must be at least 1 (bytes in 30 days; leave it out for no budget)"
                .into(),
        ));
    }
    Ok(RetentionPolicy {
        classes,
        default_class: s.default_class,
        tests: s.tests,
        growth_budget_bytes_30d: s.growth_budget_bytes_30d,
        source,
    })
}

fn invalid_at(class: &str, i: usize, key: &str) -> Vec<String> {
    vec!["classes".into(), class.into(), "series".into(), format!("#{i}"), key.into()]
}

fn names(classes: &BTreeMap<String, RetentionClass>) -> String {
    classes.keys().cloned().collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::super::files::PolicyFile;
    use super::*;

    const BASE: &str = "sla:\n  defaults:\n    p95_ms: 500\nbudgets:\n  defaults:\n    p95_ms: 0.1\n";

    fn load(retention: &str) -> Result<super::super::data::PolicyData, String> {
        let files = [
            PolicyFile { rel: "data/base.yaml".into(), name: "policies/data/base.yaml".into(), text: BASE.into() },
            PolicyFile {
                rel: "data/retention.yaml".into(),
                name: "policies/data/retention.yaml".into(),
                text: retention.into(),
            },
        ];
        super::super::data::load_files(&files, "policies/data").map_err(|e| e.to_string())
    }

    const GOOD: &str = "\
retention:
  raw_days: 14
  default_class: standard
  classes:
    critical:
      series:
        - { window_s: 1, until_days: 7 }
        - { window_s: 10, until_days: 30 }
        - { window_s: 60, until_days: 365 }
      summary_days: 1826
      archive_days: 365
    standard:
      series:
        - { window_s: 1, until_days: 7 }
        - { window_s: 60, until_days: 182 }
      summary_days: 365
    experimental:
      series:
        - { window_s: 1, until_days: 30 }
      summary_days: 30
  tests:
    checkout: critical
  growth_budget_bytes_30d: 10737418240
";

    #[test]
    fn the_shipped_file_loads_and_its_tiers_answer_by_age() {
        let shipped = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/data/retention.yaml"))
            .unwrap_or_default();
        let r = load(&shipped).unwrap().retention.unwrap();
        assert_eq!(r.class_of("checkout").unwrap().name, "critical");
        assert_eq!(r.class_of("search").unwrap().name, "standard");
        let r = load(GOOD).unwrap().retention.unwrap();
        assert_eq!(r.source.line, 1);
        assert_eq!(r.growth_budget_bytes_30d, Some(10 << 30));
        let critical = r.class_of("checkout").unwrap();
        let day = DAY_NS;
        assert_eq!(critical.keep(0), Keep::SeriesFrom(1.0));
        assert_eq!(critical.keep(7 * day - 1), Keep::SeriesFrom(1.0));
        assert_eq!(critical.keep(7 * day), Keep::SeriesFrom(10.0));
        assert_eq!(critical.keep(30 * day), Keep::SeriesFrom(60.0));
        assert_eq!(critical.keep(365 * day), Keep::NoSeries);
        assert_eq!(critical.keep(1826 * day), Keep::Nothing);
        assert!(!critical.raw_expired(14 * day - 1) && critical.raw_expired(14 * day));
        assert!(!critical.archive_due(365 * day - 1) && critical.archive_due(365 * day));
        let experimental = &r.classes["experimental"];
        assert!(!experimental.archive_due(10 * 365 * day), "a class without archive_days is never archived");
        assert_eq!(experimental.keep(29 * day), Keep::SeriesFrom(1.0));
        assert_eq!(experimental.keep(30 * day), Keep::Nothing);
    }

    #[test]
    fn errors_name_the_file_the_line_and_the_field() {
        let cases = [
            // (replace, with, expected "file:line" prefix, expected text)
            ("default_class: standard", "default_class: gold", ":3:", "retention.default_class: no class \"gold\""),
            ("checkout: critical", "checkout: platinum", ":22:", "retention.tests.checkout: no class \"platinum\""),
            (
                "- { window_s: 10, until_days: 30 }",
                "- { window_s: 0.5, until_days: 30 }",
                ":8:",
                "retention.classes.critical.series[1].window_s must be coarser than the tier before it",
            ),
            (
                "- { window_s: 60, until_days: 182 }",
                "- { window_s: 60, until_days: 400 }",
                ":15:",
                "retention.classes.standard.series[1].until_days must be between 1 and the class's summary_days (365)",
            ),
            (
                "raw_days: 14",
                "raw_days: 45",
                ":2:",
                "retention.raw_days (45) must be between 1 and class experimental's summary_days (30)",
            ),
            (
                "summary_days: 1826",
                "summary_days: 0",
                ":10:",
                "retention.classes.critical.summary_days must be at least 1",
            ),
            ("summary_days: 1826", "summary_days: many", ":10:", "summary_days"),
            (
                "archive_days: 365",
                "archive_days: 2000",
                ":11:",
                "retention.classes.critical.archive_days (2000) must be between 1 and the class's summary_days (1826)",
            ),
            ("archive_days: 365", "archive_days: 0", ":11:", "retention.classes.critical.archive_days (0)"),
            ("archive_days: 365", "archive_days: soon", ":11:", "archive_days"),
            ("  default_class: standard", "  default_clas: standard", ":3:", "unknown field `default_clas`"),
            (
                "growth_budget_bytes_30d: 10737418240",
                "growth_budget_bytes_30d: 0",
                ":23:",
                "retention.growth_budget_bytes_30d must be at least 1",
            ),
            (
                "growth_budget_bytes_30d: 10737418240",
                "growth_budget_bytes_30d: 10 GiB",
                ":23:",
                "growth_budget_bytes_30d",
            ),
            ("growth_budget_bytes_30d: 10737418240", "growth_budget_bytes_30d: -5", ":23:", "growth_budget_bytes_30d"),
        ];
        for (from, to, line, text) in cases {
            assert!(GOOD.contains(from), "{from}");
            let e = load(&GOOD.replacen(from, to, 1)).unwrap_err();
            assert!(e.starts_with("policies/data/retention.yaml"), "{e}");
            assert!(e.contains(line), "{to}: wanted line {line} in {e}");
            assert!(e.contains(text), "{to}: wanted {text:?} in {e}");
        }
    }

    #[test]
    fn the_section_is_set_once() {
        let files = [
            PolicyFile { rel: "data/base.yaml".into(), name: "policies/data/base.yaml".into(), text: BASE.into() },
            PolicyFile { rel: "data/a.yaml".into(), name: "policies/data/a.yaml".into(), text: GOOD.into() },
            PolicyFile { rel: "data/b.yaml".into(), name: "policies/data/b.yaml".into(), text: GOOD.into() },
        ];
        let e = super::super::data::load_files(&files, "policies/data").unwrap_err().to_string();
        assert!(e.starts_with("policies/data/b.yaml:1:1: retention is already set in policies/data/a.yaml"), "{e}");
        let none = load("").unwrap();
        assert!(none.retention.is_none(), "policies without retention.yaml still load");
    }
}
