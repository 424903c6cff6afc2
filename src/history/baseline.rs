//! Which run a new run is compared with, and why.
//!
//! 1. The active pin for the test and environment, if there is one.
//! 2. Otherwise the latest passing run of the same test and environment on the default
//!    branch, by start time.
//!
//! "Passing" means outcome `pass` or `warn` ([`BASELINE_OUTCOMES`]). A warn is a run the gate
//! let through: it was deployed, so it is what production behaves like now. Skipping warns
//! would compare against ever older code while a noisy metric keeps warning, and would make
//! the baseline depend on how close to a budget the last runs happened to land. Creep over a
//! series of warns is for the policies (budgets against the baseline, migration-window
//! ratchets), not for baseline selection. `fail`, `error` and `incomplete` runs are never
//! chosen; a pin may name a failed run (accepting a new normal is what pins are for) but never
//! an errored or incomplete one, which has no data to compare with.

use serde::{Deserialize, Serialize};

use super::pin::Pin;
use super::run::{Outcome, RunRecord};
use crate::time::format_rfc3339_ms;

/// The outcomes a run needs to be chosen as baseline without a pin.
pub const BASELINE_OUTCOMES: [Outcome; 2] = [Outcome::Pass, Outcome::Warn];

/// The chosen baseline and a sentence saying why, for the verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BaselineChoice {
    pub run: RunRecord,
    /// `pinned by alice at 2026-11-28T00:15:42.000Z: <reason>` or
    /// `latest passing run on main`.
    pub reason: String,
    /// The pin, when the baseline was pinned.
    pub pin: Option<Pin>,
}

impl BaselineChoice {
    pub(super) fn pinned(run: RunRecord, pin: Pin) -> BaselineChoice {
        let reason = format!("pinned by {} at {}: {}", pin.pinned_by, format_rfc3339_ms(pin.pinned_at_ns), pin.reason);
        BaselineChoice { run, reason, pin: Some(pin) }
    }

    pub(super) fn latest_passing(run: RunRecord, default_branch: &str) -> BaselineChoice {
        BaselineChoice { run, reason: format!("latest passing run on {default_branch}"), pin: None }
    }
}

impl BaselineChoice {
    /// The baseline the store would choose among `runs` (of one test and environment), without
    /// asking it: `active_pin`'s run when it is among them and may be pinned, else the latest
    /// passing run on `default_branch`. The store answers the same (a test holds them equal);
    /// this is for callers that must not mark the pair as established (retention's dry run).
    pub fn choose(runs: &[RunRecord], active_pin: Option<&Pin>, default_branch: &str) -> Option<BaselineChoice> {
        if let Some(pin) = active_pin {
            let run = runs.iter().find(|r| r.id == pin.run_id && r.outcome.can_be_pinned())?;
            return Some(BaselineChoice::pinned(run.clone(), pin.clone()));
        }
        runs.iter()
            .filter(|r| r.git_branch.as_deref() == Some(default_branch) && BASELINE_OUTCOMES.contains(&r.outcome))
            .max_by(|a, b| a.started_at_ns.cmp(&b.started_at_ns).then_with(|| a.id.cmp(&b.id)))
            .map(|run| BaselineChoice::latest_passing(run.clone(), default_branch))
    }

    /// The runs that join this baseline to make a multi-run baseline: up to `n - 1` of
    /// `runs`, newest first, by the same rule as the baseline itself. Each is a passing run
    /// ([`BASELINE_OUTCOMES`]) of the same test and environment with a summary, started no
    /// later than the baseline run (a pinned old baseline is never mixed with newer code),
    /// and not before `since_ns` (an accepted change point: the history before it is another
    /// normal). A pinned baseline is joined only by runs of its own deployment version: more
    /// measurements of the build someone chose. Otherwise by runs on `default_branch`.
    pub fn companions(
        &self,
        runs: &[RunRecord],
        n: usize,
        default_branch: &str,
        since_ns: Option<i64>,
    ) -> Vec<RunRecord> {
        self.companions_where(runs, n, default_branch, since_ns, |r| r.summary.is_some())
    }

    /// [`companions`](Self::companions) for runs listed without their documents:
    /// `has_summary` says which have one.
    pub fn companions_where(
        &self,
        runs: &[RunRecord],
        n: usize,
        default_branch: &str,
        since_ns: Option<i64>,
        has_summary: impl Fn(&RunRecord) -> bool,
    ) -> Vec<RunRecord> {
        let base = &self.run;
        let mut out: Vec<RunRecord> = runs
            .iter()
            .filter(|r| r.id != base.id && r.test == base.test && r.environment == base.environment)
            .filter(|r| BASELINE_OUTCOMES.contains(&r.outcome) && has_summary(r))
            .filter(|r| r.started_at_ns <= base.started_at_ns && since_ns.is_none_or(|s| r.started_at_ns >= s))
            .filter(|r| match &self.pin {
                Some(_) => base.deployment_version.is_some() && r.deployment_version == base.deployment_version,
                None => r.git_branch.as_deref() == Some(default_branch),
            })
            .cloned()
            .collect();
        out.sort_by(|a, b| b.started_at_ns.cmp(&a.started_at_ns).then_with(|| b.id.cmp(&a.id)));
        out.truncate(n.saturating_sub(1));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(id: &str, outcome: Outcome, at: i64, branch: &str, version: &str) -> RunRecord {
        RunRecord {
            id: id.into(),
            test: "checkout".into(),
            environment: "staging".into(),
            outcome,
            started_at_ns: at,
            finished_at_ns: Some(at + 1),
            user: None,
            host: None,
            git_branch: Some(branch.into()),
            git_commit: None,
            deployment_version: Some(version.into()),
            run_dir: None,
            k6_exit_code: Some(0),
            k6gate_version: "test".into(),
            summary: Some(serde_json::value::to_raw_value(&serde_json::json!({})).unwrap()),
            verdict: Some(serde_json::value::to_raw_value(&serde_json::json!({})).unwrap()),
            problem: None,
            context: None,
            digest: Vec::new(),
            decision: None,
        }
    }

    fn ids(runs: &[RunRecord]) -> Vec<&str> {
        runs.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn companions_are_earlier_passing_runs_on_the_default_branch_newest_first() {
        let base = run("r9", Outcome::Pass, 90, "main", "v9");
        let all = vec![
            base.clone(),
            run("r10", Outcome::Pass, 100, "main", "v10"), // newer than the baseline
            run("r8", Outcome::Warn, 80, "main", "v8"),
            run("r7", Outcome::Fail, 70, "main", "v7"),
            run("r6", Outcome::Inconclusive, 60, "main", "v6"),
            run("r5", Outcome::Pass, 50, "feature/x", "v5"),
            run("r4", Outcome::Pass, 40, "main", "v4"),
            run("r3", Outcome::Pass, 30, "main", "v3"),
            run("r2", Outcome::Pass, 20, "main", "v2"),
        ];
        let choice = BaselineChoice::latest_passing(base, "main");
        assert_eq!(ids(&choice.companions(&all, 5, "main", None)), ["r8", "r4", "r3", "r2"]);
        assert_eq!(ids(&choice.companions(&all, 2, "main", None)), ["r8"]);
        assert!(choice.companions(&all, 1, "main", None).is_empty());
        // An accepted change point at r4: the history before it is another normal.
        assert_eq!(ids(&choice.companions(&all, 5, "main", Some(40))), ["r8", "r4"]);
    }

    #[test]
    fn a_pinned_baseline_is_joined_only_by_runs_of_its_version() {
        let base = run("r5", Outcome::Fail, 50, "main", "v1.0.0");
        let pin = Pin {
            id: 1,
            run_id: "r5".into(),
            test: "checkout".into(),
            environment: "staging".into(),
            pinned_by: "alice".into(),
            pinned_at_ns: 60,
            reason: "known good".into(),
            invalidated: None,
        };
        let all = vec![
            base.clone(),
            run("r4", Outcome::Pass, 40, "main", "v1.0.0"),
            run("r3", Outcome::Pass, 30, "release", "v1.0.0"),
            run("r2", Outcome::Pass, 20, "main", "v0.9.0"),
        ];
        let choice = BaselineChoice::pinned(base, pin);
        assert_eq!(ids(&choice.companions(&all, 5, "main", None)), ["r4", "r3"]);
    }
}
