//! Which runs and which of their data retention removes, and which runs are exempt: a pure
//! function of the runs as stored, the pins, the run directories, the policy data and `now`.
//! No IO and no clock.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::history::{BaselineChoice, NO_SERIES, Pin, RunDir, RunRecord, StoredRun};
use crate::policy::data::PolicyData;
use crate::policy::retention::{Keep, RetentionPolicy, days_ns};

/// What retention reads from the policy data besides the classes: who references runs.
#[derive(Debug, Clone)]
pub struct Rules {
    pub retention: RetentionPolicy,
    /// `budgets.history.baseline_runs`: how many accepted runs make a baseline.
    pub baseline_runs: usize,
    /// The default branch; every branch a pair has runs on is protected as if it were one.
    pub default_branch: String,
    pub waivers: Vec<VersionRef>,
    pub windows: Vec<WindowRef>,
    /// Runs named by reviewed change points (ids or unique prefixes).
    pub changepoint_runs: Vec<String>,
    /// Accepted change points: where each pair's multi-run baseline starts (a run id).
    pub accepted_since: BTreeMap<(String, String), String>,
    /// An archive is configured: runs past their class's `archive_days` are moved there
    /// (`Plan::move_runs`) instead of staying until `summary_days`.
    pub archive: bool,
}

/// A waiver: the runs of `version` of `test` (in `environment`, or any).
#[derive(Debug, Clone)]
pub struct VersionRef {
    pub id: String,
    pub test: String,
    pub environment: Option<String>,
    pub version: String,
}

/// A migration window: the runs of `test` in `environments` (empty: any) of its
/// `baseline_version`, and every run started while it is open.
#[derive(Debug, Clone)]
pub struct WindowRef {
    pub id: String,
    pub test: String,
    pub environments: Vec<String>,
    pub baseline_version: Option<String>,
    pub start_ns: i64,
    pub expires_ns: i64,
}

impl Rules {
    /// The rules from loaded policy data; `None` when no data file sets `retention`.
    pub fn from_policy(data: &PolicyData, default_branch: &str) -> Option<Rules> {
        let retention = data.retention.clone()?;
        let waivers = data
            .waivers
            .iter()
            .map(|w| VersionRef {
                id: w.entry.id.clone(),
                test: w.entry.test.clone(),
                environment: w.entry.environment.clone(),
                version: w.entry.version.clone(),
            })
            .collect();
        let windows = data
            .windows
            .iter()
            .map(|w| WindowRef {
                id: w.entry.id.clone(),
                test: w.entry.test.clone(),
                environments: w.entry.environments.clone(),
                baseline_version: w.entry.baseline_version.clone(),
                start_ns: w.entry.start_ns,
                expires_ns: w.entry.expires_ns,
            })
            .collect();
        let mut accepted_since = BTreeMap::new();
        for c in &data.changepoints {
            let (t, e) = (&c.entry.test, &c.entry.environment);
            if let Some(run) = data.accepted_since(t, e) {
                accepted_since.insert((t.clone(), e.clone()), run.to_string());
            }
        }
        Some(Rules {
            retention,
            baseline_runs: data.baseline_runs(),
            default_branch: default_branch.to_string(),
            waivers,
            windows,
            changepoint_runs: data.changepoints.iter().map(|c| c.entry.run.clone()).collect(),
            accepted_since,
            archive: false,
        })
    }
}

/// Why a run is kept past its period.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Exempt {
    /// Part of the baseline a new run on `branch` would be compared with: left as it is.
    Baseline {
        branch: String,
    },
    /// A pin (active or ended) names it.
    Pinned,
    Waiver {
        id: String,
    },
    Window {
        id: String,
    },
    ChangePoint,
}

/// A run and its data, as the plan names it.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub class: String,
    /// Bytes as stored (the run; its summary; its directory).
    pub bytes: u64,
}

/// A run whose series are coarsened to what `keep` allows.
#[derive(Debug, Clone, Serialize)]
pub struct Coarsen {
    pub target: Target,
    /// Windows of at least this many seconds stay; `None`: no series at all.
    pub min_window_s: Option<f64>,
}

/// A run past its summary period that is kept, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Kept {
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub why: Vec<Exempt>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Plan {
    pub delete_runs: Vec<Target>,
    /// Runs past their class's hot period, with an archive configured: archived and verified
    /// first, then deleted (never deleted when their archive write fails).
    pub move_runs: Vec<Target>,
    pub coarsen: Vec<Coarsen>,
    pub remove_dirs: Vec<Target>,
    pub kept: Vec<Kept>,
}

/// A policy whose class cannot be found (validation prevents it): fail closed.
#[derive(Debug, thiserror::Error)]
#[error("retention: test {test:?} has no class (and the default class is missing)")]
pub struct NoClass {
    pub test: String,
}

/// The plan for `runs` (all of them, documents left out), `pins` (active and ended) and the
/// run directories, at `now_ns`.
pub fn plan(rules: &Rules, runs: &[StoredRun], pins: &[Pin], dirs: &[RunDir], now_ns: i64) -> Result<Plan, NoClass> {
    let exempt = exemptions(rules, runs, pins);
    let mut plan = Plan::default();
    let mut deleted: BTreeSet<&str> = BTreeSet::new();
    for s in runs {
        let r = &s.run;
        let class = rules.retention.class_of(&r.test).ok_or_else(|| NoClass { test: r.test.clone() })?;
        let age = now_ns.saturating_sub(r.started_at_ns).max(0);
        let why = exempt.get(&r.id);
        if why.is_some_and(|w| w.iter().any(|e| matches!(e, Exempt::Baseline { .. }))) {
            if class.keep(age) == Keep::Nothing || (rules.archive && class.archive_due(age)) {
                plan.kept.push(kept(r, why));
            }
            continue;
        }
        let target = |bytes| Target {
            run_id: r.id.clone(),
            test: r.test.clone(),
            environment: r.environment.clone(),
            class: class.name.clone(),
            bytes,
        };
        // With an archive, a run past the hot period leaves the history for the archive.
        let moved = rules.archive && class.archive_due(age);
        let keep = match (class.keep(age), why) {
            (Keep::Nothing, None) if !moved => {
                plan.delete_runs.push(target(s.bytes));
                deleted.insert(&r.id);
                continue;
            }
            (_, None) if moved => {
                plan.move_runs.push(target(s.bytes));
                deleted.insert(&r.id);
                continue;
            }
            (Keep::Nothing, Some(_)) => {
                plan.kept.push(kept(r, why));
                Keep::NoSeries
            }
            (keep, Some(_)) if moved => {
                plan.kept.push(kept(r, why));
                keep
            }
            (keep, _) => keep,
        };
        if s.has_summary {
            let min_window_s = match keep {
                Keep::SeriesFrom(w) => Some(w),
                Keep::NoSeries | Keep::Nothing => None,
            };
            // A summary an earlier prune left at least this coarse is not opened again: a
            // year of runs is planned from the rows alone.
            let done = s.series_from_s.is_some_and(|from| from >= min_window_s.unwrap_or(NO_SERIES));
            if !done {
                plan.coarsen.push(Coarsen { target: target(s.summary_bytes), min_window_s });
            }
        }
    }
    let by_id: BTreeMap<&str, &RunRecord> = runs.iter().map(|s| (s.run.id.as_str(), &s.run)).collect();
    for d in dirs {
        let (test, environment, class, started) = match by_id.get(d.run_id.as_str()) {
            Some(r) => {
                if exempt.get(&r.id).is_some_and(|w| w.iter().any(|e| matches!(e, Exempt::Baseline { .. }))) {
                    continue;
                }
                let class = rules.retention.class_of(&r.test).ok_or_else(|| NoClass { test: r.test.clone() })?;
                (r.test.clone(), r.environment.clone(), class.name.clone(), r.started_at_ns)
            }
            // A directory whose run is not in the store: the most patient class decides.
            None => (String::new(), String::new(), String::new(), d.started_at_ns),
        };
        let age = now_ns.saturating_sub(started).max(0);
        let raw_days = match by_id.get(d.run_id.as_str()) {
            Some(r) => rules.retention.class_of(&r.test).map_or(u32::MAX, |c| c.raw_days),
            None => rules.retention.longest_raw_days(),
        };
        if deleted.contains(d.run_id.as_str()) || age >= days_ns(raw_days) {
            plan.remove_dirs.push(Target { run_id: d.run_id.clone(), test, environment, class, bytes: d.bytes });
        }
    }
    Ok(plan)
}

fn kept(r: &RunRecord, why: Option<&BTreeSet<Exempt>>) -> Kept {
    Kept {
        run_id: r.id.clone(),
        test: r.test.clone(),
        environment: r.environment.clone(),
        why: why.map(|w| w.iter().cloned().collect()).unwrap_or_default(),
    }
}

/// Every exempt run and why.
pub fn exemptions(rules: &Rules, runs: &[StoredRun], pins: &[Pin]) -> BTreeMap<String, BTreeSet<Exempt>> {
    let mut out: BTreeMap<String, BTreeSet<Exempt>> = BTreeMap::new();
    for p in pins {
        out.entry(p.run_id.clone()).or_default().insert(Exempt::Pinned);
    }
    let has_summary: BTreeSet<&str> = runs.iter().filter(|s| s.has_summary).map(|s| s.run.id.as_str()).collect();
    let mut pairs: BTreeMap<(&str, &str), Vec<RunRecord>> = BTreeMap::new();
    for s in runs {
        pairs.entry((&s.run.test, &s.run.environment)).or_default().push(s.run.clone());
    }
    for ((test, env), records) in &pairs {
        let active = pins.iter().find(|p| p.is_active() && p.test == *test && p.environment == *env);
        let mut branches: BTreeSet<&str> = records.iter().filter_map(|r| r.git_branch.as_deref()).collect();
        branches.insert(&rules.default_branch);
        let since = rules
            .accepted_since
            .get(&(test.to_string(), env.to_string()))
            .and_then(|id| records.iter().find(|r| r.id == *id))
            .map(|r| r.started_at_ns);
        for branch in branches {
            let Some(choice) = BaselineChoice::choose(records, active, branch) else { continue };
            let companions = choice
                .companions_where(records, rules.baseline_runs, branch, since, |r| has_summary.contains(r.id.as_str()));
            for r in std::iter::once(&choice.run).chain(&companions) {
                out.entry(r.id.clone()).or_default().insert(Exempt::Baseline { branch: branch.to_string() });
            }
        }
    }
    for s in runs {
        let r = &s.run;
        let version = r.deployment_version.as_deref();
        for w in &rules.waivers {
            let env_ok = w.environment.as_deref().is_none_or(|e| e == r.environment);
            if w.test == r.test && env_ok && version == Some(w.version.as_str()) {
                out.entry(r.id.clone()).or_default().insert(Exempt::Waiver { id: w.id.clone() });
            }
        }
        for w in &rules.windows {
            let env_ok = w.environments.is_empty() || w.environments.contains(&r.environment);
            let of_version = w.baseline_version.is_some() && version == w.baseline_version.as_deref();
            let inside = (w.start_ns..=w.expires_ns).contains(&r.started_at_ns);
            if w.test == r.test && env_ok && (of_version || inside) {
                out.entry(r.id.clone()).or_default().insert(Exempt::Window { id: w.id.clone() });
            }
        }
        if rules.changepoint_runs.iter().any(|c| !c.is_empty() && r.id.starts_with(c.as_str())) {
            out.entry(r.id.clone()).or_default().insert(Exempt::ChangePoint);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::history::Outcome;
    use crate::policy::data::Source;
    use crate::policy::retention::{DAY_NS, RetentionClass, Tier};

    /// 2026-12-06T00:00:00Z.
    const NOW: i64 = 1_796_515_200_000_000_000;

    fn rules() -> Rules {
        let class = |name: &str, series: Vec<(f64, u32)>, summary_days, raw_days| RetentionClass {
            name: name.into(),
            series: series.into_iter().map(|(window_s, until_days)| Tier { window_s, until_days }).collect(),
            summary_days,
            raw_days,
            archive_days: None,
        };
        let classes = [
            class("critical", vec![(1.0, 7), (10.0, 30), (60.0, 365)], 1826, 14),
            class("standard", vec![(1.0, 7), (60.0, 182)], 365, 14),
            class("experimental", vec![(1.0, 30)], 30, 14),
        ];
        Rules {
            retention: RetentionPolicy {
                classes: classes.into_iter().map(|c| (c.name.clone(), c)).collect(),
                default_class: "standard".into(),
                tests: BTreeMap::from([("checkout".into(), "critical".into()), ("lab".into(), "experimental".into())]),
                growth_budget_bytes_30d: None,
                source: Source::default(),
            },
            baseline_runs: 2,
            default_branch: "main".into(),
            waivers: vec![],
            windows: vec![],
            changepoint_runs: vec![],
            accepted_since: BTreeMap::new(),
            archive: false,
        }
    }

    /// A run of `test` `days` old (ids sort like start times, as real ones do).
    fn run(id: &str, test: &str, days: i64, outcome: Outcome, branch: &str) -> StoredRun {
        StoredRun {
            run: RunRecord {
                id: id.into(),
                test: test.into(),
                environment: "staging".into(),
                outcome,
                started_at_ns: NOW - days * DAY_NS,
                finished_at_ns: None,
                user: None,
                host: None,
                git_branch: Some(branch.into()),
                git_commit: None,
                deployment_version: Some(format!("v-{id}")),
                run_dir: None,
                k6_exit_code: None,
                k6gate_version: "test".into(),
                summary: None,
                verdict: None,
                problem: None,
                context: None,
                digest: Vec::new(),
                decision: None,
            },
            has_summary: outcome.is_decided(),
            summary_bytes: 1000,
            bytes: 1500,
            series_from_s: None,
        }
    }

    fn ids<'a>(targets: impl IntoIterator<Item = &'a Target>) -> Vec<&'a str> {
        targets.into_iter().map(|t| t.run_id.as_str()).collect()
    }

    fn coarsened(p: &Plan) -> Vec<(&str, Option<f64>)> {
        p.coarsen.iter().map(|c| (c.target.run_id.as_str(), c.min_window_s)).collect()
    }

    #[test]
    fn each_class_keeps_its_data_for_its_own_periods() {
        let runs = vec![
            // Two recent passing runs on main per test: the baseline (baseline_runs = 2).
            run("c-base1", "checkout", 1, Outcome::Pass, "main"),
            run("c-base2", "checkout", 2, Outcome::Pass, "main"),
            run("c-8d", "checkout", 8, Outcome::Pass, "main"),
            run("c-40d", "checkout", 40, Outcome::Fail, "main"),
            run("c-400d", "checkout", 400, Outcome::Pass, "main"),
            run("c-6y", "checkout", 6 * 365, Outcome::Pass, "main"),
            run("s-base", "search", 1, Outcome::Pass, "main"),
            run("s-10d", "search", 10, Outcome::Fail, "main"),
            run("s-200d", "search", 200, Outcome::Fail, "main"),
            run("s-366d", "search", 366, Outcome::Error, "main"),
            run("l-base", "lab", 1, Outcome::Pass, "main"),
            run("l-29d", "lab", 29, Outcome::Incomplete, "main"),
            run("l-31d", "lab", 31, Outcome::Fail, "main"),
        ];
        let p = plan(&rules(), &runs, &[], &[], NOW).unwrap();
        assert_eq!(ids(&p.delete_runs), ["c-6y", "s-366d", "l-31d"]);
        assert_eq!(p.delete_runs.iter().map(|t| t.bytes).sum::<u64>(), 4500);
        assert_eq!(
            coarsened(&p),
            [("c-8d", Some(10.0)), ("c-40d", Some(60.0)), ("c-400d", None), ("s-10d", Some(60.0)), ("s-200d", None),],
            "baselines are left alone; errored and incomplete runs have no summary to coarsen"
        );
        assert!(p.kept.is_empty());
    }

    #[test]
    fn with_an_archive_runs_past_the_hot_period_move_there_unless_something_needs_them() {
        let mut r = rules();
        for class in ["critical", "standard"] {
            r.retention.classes.get_mut(class).unwrap().archive_days = Some(365);
        }
        let runs = vec![
            run("c-base1", "checkout", 1, Outcome::Pass, "main"),
            run("c-base2", "checkout", 2, Outcome::Pass, "main"),
            run("c-364d", "checkout", 364, Outcome::Pass, "main"),
            run("c-400d", "checkout", 400, Outcome::Pass, "main"),
            run("c-6y", "checkout", 6 * 365, Outcome::Pass, "main"),
            run("s-base", "search", 1, Outcome::Pass, "main"),
            run("s-366d", "search", 366, Outcome::Error, "main"),
            // The only run of billing: its baseline, however old.
            run("b-500d", "billing", 500, Outcome::Pass, "main"),
            run("l-31d", "lab", 31, Outcome::Fail, "main"),
        ];
        let without = plan(&r, &runs, &[], &[], NOW).unwrap();
        assert!(without.move_runs.is_empty(), "without an archive nothing moves");
        assert_eq!(ids(&without.delete_runs), ["c-6y", "s-366d", "l-31d"]);
        r.archive = true;
        let p = plan(&r, &runs, &[], &[], NOW).unwrap();
        assert_eq!(ids(&p.move_runs), ["c-400d", "c-6y", "s-366d"]);
        assert_eq!(ids(&p.delete_runs), ["l-31d"], "a class without archive_days is deleted as before");
        assert_eq!(coarsened(&p), [("c-364d", Some(60.0))], "moved runs are not coarsened first");
        assert_eq!(p.kept.len(), 1);
        assert_eq!(p.kept[0].run_id, "b-500d");
        assert_eq!(p.kept[0].why, [Exempt::Baseline { branch: "main".into() }]);
    }

    #[test]
    fn baselines_pins_waivers_windows_and_change_points_are_never_deleted() {
        let mut r = rules();
        r.waivers.push(VersionRef {
            id: "W-1".into(),
            test: "search".into(),
            environment: None,
            version: "v-waived".into(),
        });
        r.windows.push(WindowRef {
            id: "MW-1".into(),
            test: "search".into(),
            environments: vec!["staging".into()],
            baseline_version: None,
            start_ns: NOW - 402 * DAY_NS,
            expires_ns: NOW - 398 * DAY_NS,
        });
        r.changepoint_runs.push("cp-".into());
        let mut waived = run("waived", "search", 500, Outcome::Fail, "main");
        waived.run.deployment_version = Some("v-waived".into());
        let runs = vec![
            // The only passing runs on main are old: still the baseline.
            run("base-old", "search", 700, Outcome::Warn, "main"),
            run("base-older", "search", 800, Outcome::Pass, "main"),
            run("base-oldest", "search", 900, Outcome::Pass, "main"),
            // The latest passing run on a release branch: a baseline there.
            run("rel", "search", 600, Outcome::Pass, "release"),
            run("rel-old", "search", 650, Outcome::Pass, "release"),
            run("rel-older", "search", 660, Outcome::Pass, "release"),
            waived,
            run("in-window", "search", 400, Outcome::Fail, "main"),
            run("pinned-once", "search", 1000, Outcome::Fail, "main"),
            run("cp-run", "search", 1100, Outcome::Fail, "main"),
            run("plain", "search", 1200, Outcome::Fail, "main"),
        ];
        let pins = [Pin {
            id: 1,
            run_id: "pinned-once".into(),
            test: "search".into(),
            environment: "staging".into(),
            pinned_by: "alice".into(),
            pinned_at_ns: NOW - 990 * DAY_NS,
            reason: "known good".into(),
            invalidated: Some(crate::history::Invalidation {
                by: "bob".into(),
                at_ns: NOW - 980 * DAY_NS,
                reason: "superseded".into(),
                replaced_by: None,
            }),
        }];
        let p = plan(&r, &runs, &pins, &[], NOW).unwrap();
        assert_eq!(ids(&p.delete_runs), ["base-oldest", "rel-older", "plain"]);
        let kept: BTreeMap<&str, &Vec<Exempt>> = p.kept.iter().map(|k| (k.run_id.as_str(), &k.why)).collect();
        let main = Exempt::Baseline { branch: "main".into() };
        let release = Exempt::Baseline { branch: "release".into() };
        assert_eq!(kept["base-old"], &vec![main.clone()]);
        assert_eq!(kept["base-older"], &vec![main]);
        assert_eq!(kept["rel"], &vec![release.clone()]);
        assert_eq!(kept["rel-old"], &vec![release]);
        assert_eq!(kept["waived"], &vec![Exempt::Waiver { id: "W-1".into() }]);
        assert_eq!(kept["in-window"], &vec![Exempt::Window { id: "MW-1".into() }]);
        assert_eq!(kept["pinned-once"], &vec![Exempt::Pinned]);
        assert_eq!(kept["cp-run"], &vec![Exempt::ChangePoint]);
        // Referenced runs lose their series with age; baselines keep everything.
        let c = coarsened(&p);
        for id in ["waived", "in-window", "pinned-once", "cp-run"] {
            assert!(c.contains(&(id, None)), "{id}: {c:?}");
        }
        for id in ["base-old", "base-older", "rel", "rel-old"] {
            assert!(!c.iter().any(|(x, _)| *x == id), "{id}: {c:?}");
        }
    }

    #[test]
    fn an_active_pin_is_the_baseline_and_its_version_joins_it() {
        let mut pinned = run("pinned", "search", 900, Outcome::Fail, "main");
        pinned.run.deployment_version = Some("v1".into());
        let mut same = run("same-version", "search", 950, Outcome::Pass, "feature");
        same.run.deployment_version = Some("v1".into());
        let runs = vec![run("newer", "search", 1, Outcome::Pass, "main"), pinned, same];
        let pins = [Pin {
            id: 1,
            run_id: "pinned".into(),
            test: "search".into(),
            environment: "staging".into(),
            pinned_by: "alice".into(),
            pinned_at_ns: NOW - DAY_NS,
            reason: "known good".into(),
            invalidated: None,
        }];
        let p = plan(&rules(), &runs, &pins, &[], NOW).unwrap();
        assert!(p.delete_runs.is_empty(), "{:?}", ids(&p.delete_runs));
        let kept: Vec<&str> = p.kept.iter().map(|k| k.run_id.as_str()).collect();
        assert_eq!(kept, ["pinned", "same-version"]);
        assert!(p.kept[0].why.contains(&Exempt::Pinned));
    }

    #[test]
    fn run_directories_go_after_the_raw_period_or_with_their_run() {
        let runs = vec![
            run("base", "search", 1, Outcome::Pass, "main"),
            run("young", "search", 13, Outcome::Fail, "main"),
            run("old", "search", 15, Outcome::Fail, "main"),
            run("gone", "lab", 40, Outcome::Fail, "main"),
            run("base-old", "lab", 100, Outcome::Pass, "main"),
        ];
        let dir = |id: &str, days: i64| RunDir { run_id: id.into(), started_at_ns: NOW - days * DAY_NS, bytes: 10 };
        let dirs = [
            dir("base", 1),
            dir("young", 13),
            dir("old", 15),
            dir("gone", 40),
            dir("base-old", 100),
            dir("orphan-young", 13),
            dir("orphan-old", 15),
        ];
        let p = plan(&rules(), &runs, &[], &dirs, NOW).unwrap();
        assert_eq!(ids(&p.remove_dirs), ["old", "gone", "orphan-old"]);
        assert_eq!(ids(&p.delete_runs), ["gone"]);
    }

    #[test]
    fn an_accepted_change_point_starts_the_baseline_there() {
        let mut r = rules();
        r.accepted_since.insert(("search".into(), "staging".into()), "b".into());
        r.baseline_runs = 5;
        let runs = vec![
            run("a", "search", 400, Outcome::Pass, "main"),
            run("b", "search", 500, Outcome::Pass, "main"),
            run("c", "search", 600, Outcome::Pass, "main"),
        ];
        let p = plan(&r, &runs, &[], &[], NOW).unwrap();
        // The baseline is a and b; c is before the accepted change point and goes.
        assert_eq!(ids(&p.delete_runs), ["c"]);
    }
}
