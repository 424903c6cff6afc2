//! Cardinality control (`cardinality:` in `policies/data/cardinality.yaml`): which labels the
//! series k6gate publishes (`k6gate_run_*`) and k6's live remote write may carry, which per-run
//! identifiers become labels and where, and how many series one run of a test may create.
//!
//! A label outside the allowlist is dropped (published series) or never becomes a k6 tag (live
//! series: the rendered script keeps it in the samples' metadata, which k6's JSON output holds
//! and its remote write drops). Per-run identifiers (`testid`, `git_commit`,
//! `deployment_version`, `test_date`) take a new value every run, so every series carrying one
//! is a new series every run: they are labels only for the targets (and tests) policy names.
//! The budget is checked before k6 starts, against the upper bound `run` computes.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::data::{Source, Sourced};

/// Identifiers with a new value every run (or deployment).
pub const PER_RUN_IDS: [&str; 4] = ["testid", "git_commit", "deployment_version", "test_date"];

/// Labels every allowlist keeps: without them k6gate's published series of one run would
/// collide (`test_name`, `environment`, `test_stage`, `group`), and ingest could not read the
/// run back from k6's output (`name`, `method`, `status`, `expected_response`: k6's system
/// tags apply to every output at once).
pub const REQUIRED: [&str; 8] =
    ["test_name", "environment", "test_stage", "group", "name", "method", "status", "expected_response"];

/// Where a series goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// k6's `experimental-prometheus-rw` output during the run.
    Live,
    /// The `k6gate_run_*` series published after the verdict.
    Published,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct CardinalitySection {
    pub labels: Vec<String>,
    #[serde(default)]
    pub per_run_labels: PerRunSection,
    pub series_budget: BudgetSection,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PerRunSection {
    #[serde(default)]
    pub live: Vec<String>,
    #[serde(default)]
    pub published: Vec<String>,
    #[serde(default)]
    pub tests: BTreeMap<String, PerRunTest>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PerRunTest {
    pub live: Option<Vec<String>>,
    pub published: Option<Vec<String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BudgetSection {
    pub default: u64,
    /// Distinct (`status`, `error_code`) pairs one endpoint may answer with in a run (k6
    /// reports `0` for a network error, with an `error_code` per kind; an HTTP error's code
    /// follows its status): the one factor of the estimate a script cannot show.
    pub status_values: u64,
    #[serde(default)]
    pub tests: BTreeMap<String, u64>,
}

/// Per-run identifiers that are labels, for each target.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct PerRun {
    pub live: BTreeSet<String>,
    pub published: BTreeSet<String>,
}

/// The cardinality policy, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CardinalityPolicy {
    /// Labels any series may carry (never a per-run identifier).
    pub labels: BTreeSet<String>,
    pub per_run: PerRun,
    /// Per test, replacing `per_run` for the targets it names.
    pub per_run_tests: BTreeMap<String, Sourced<PerRun>>,
    pub budget_default: Sourced<u64>,
    pub budget_tests: BTreeMap<String, Sourced<u64>>,
    pub status_values: u64,
    /// Where the section was written.
    pub source: Source,
}

impl CardinalityPolicy {
    /// Whether a series of `test` sent to `target` may carry `label`.
    pub fn allows(&self, test: &str, target: Target, label: &str) -> bool {
        if self.labels.contains(label) {
            return true;
        }
        let per_run = self.per_run_tests.get(test).map_or(&self.per_run, |s| &s.entry);
        match target {
            Target::Live => per_run.live.contains(label),
            Target::Published => per_run.published.contains(label),
        }
    }

    /// The series budget of one run of `test`, and where it was written.
    pub fn budget(&self, test: &str) -> &Sourced<u64> {
        self.budget_tests.get(test).unwrap_or(&self.budget_default)
    }
}

/// A validation failure: the key path under `cardinality` (for the line) and the message.
pub(super) struct Invalid {
    pub at: Vec<String>,
    pub message: String,
}

fn invalid(at: &[&str], message: String) -> Invalid {
    Invalid { at: at.iter().map(|s| s.to_string()).collect(), message }
}

/// A Prometheus label name, not reserved.
fn label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

fn per_run_set(list: &[String], at: &[&str]) -> Result<BTreeSet<String>, Invalid> {
    let field = format!("cardinality.{}", at.join("."));
    let mut out = BTreeSet::new();
    for (i, l) in list.iter().enumerate() {
        if !PER_RUN_IDS.contains(&l.as_str()) {
            let mut path: Vec<&str> = at.to_vec();
            let idx = format!("#{i}");
            path.push(&idx);
            return Err(invalid(
                &path,
                format!(
                    "{field}[{i}]: {l:?} is not a per-run identifier ({}); allow other labels under cardinality.labels",
                    PER_RUN_IDS.join(", ")
                ),
            ));
        }
        out.insert(l.clone());
    }
    Ok(out)
}

/// Checks the section and builds the policy. `at` paths start below `cardinality`;
/// `source_of` gives the line of a path (from the file's text).
pub(super) fn validate(
    s: CardinalitySection,
    source: Source,
    source_of: &dyn Fn(&[&str]) -> Source,
) -> Result<CardinalityPolicy, Invalid> {
    let mut labels = BTreeSet::new();
    for (i, l) in s.labels.iter().enumerate() {
        let at = format!("#{i}");
        if PER_RUN_IDS.contains(&l.as_str()) {
            return Err(invalid(
                &["labels", &at],
                format!(
                    "cardinality.labels[{i}]: {l} is a per-run identifier: name it under cardinality.per_run_labels (live, published, or a test's)"
                ),
            ));
        }
        if !label_name(l) {
            return Err(invalid(
                &["labels", &at],
                format!("cardinality.labels[{i}]: {l:?} is not a Prometheus label name"),
            ));
        }
        labels.insert(l.clone());
    }
    if let Some(missing) = REQUIRED.iter().find(|r| !labels.contains(**r)) {
        return Err(invalid(
            &["labels"],
            format!(
                "cardinality.labels must include {missing}: k6gate needs {} to keep one run's series apart and to read k6's output back",
                REQUIRED.join(", ")
            ),
        ));
    }
    let per_run = PerRun {
        live: per_run_set(&s.per_run_labels.live, &["per_run_labels", "live"])?,
        published: per_run_set(&s.per_run_labels.published, &["per_run_labels", "published"])?,
    };
    let mut per_run_tests = BTreeMap::new();
    for (test, t) in &s.per_run_labels.tests {
        if test.trim().is_empty() {
            return Err(invalid(
                &["per_run_labels", "tests"],
                "cardinality.per_run_labels.tests: a test name must not be empty".into(),
            ));
        }
        let entry = PerRun {
            live: match &t.live {
                Some(l) => per_run_set(l, &["per_run_labels", "tests", test, "live"])?,
                None => per_run.live.clone(),
            },
            published: match &t.published {
                Some(l) => per_run_set(l, &["per_run_labels", "tests", test, "published"])?,
                None => per_run.published.clone(),
            },
        };
        per_run_tests.insert(test.clone(), Sourced { entry, source: source_of(&["per_run_labels", "tests", test]) });
    }
    if s.series_budget.default == 0 {
        return Err(invalid(
            &["series_budget", "default"],
            "cardinality.series_budget.default must be at least 1".into(),
        ));
    }
    if s.series_budget.status_values == 0 {
        return Err(invalid(
            &["series_budget", "status_values"],
            "cardinality.series_budget.status_values must be at least 1".into(),
        ));
    }
    let mut budget_tests = BTreeMap::new();
    for (test, n) in &s.series_budget.tests {
        if test.trim().is_empty() {
            return Err(invalid(
                &["series_budget", "tests"],
                "cardinality.series_budget.tests: a test name must not be empty".into(),
            ));
        }
        if *n == 0 {
            return Err(invalid(
                &["series_budget", "tests", test],
                format!("cardinality.series_budget.tests.{test} must be at least 1"),
            ));
        }
        budget_tests.insert(test.clone(), Sourced { entry: *n, source: source_of(&["series_budget", "tests", test]) });
    }
    Ok(CardinalityPolicy {
        labels,
        per_run,
        per_run_tests,
        budget_default: Sourced { entry: s.series_budget.default, source: source_of(&["series_budget", "default"]) },
        budget_tests,
        status_values: s.series_budget.status_values,
        source,
    })
}
