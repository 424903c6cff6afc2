//! Whether a saturation scenario was measured (`saturation_scenario`): this run's own step
//! load reached the knee, or a recent run in the same environment (any test: the saturation
//! template is usually its own test beside the journeys) recorded one that did
//! (`Verdict.saturation`, `crate::scale::record`).

use serde::Deserialize;

use crate::history::RunRecord;
use crate::scale::SaturationRecord;

/// How many of the environment's newest runs are looked through.
pub const RECENT_RUNS: usize = 50;
/// And how old one may be, in days.
pub const RECENT_DAYS: i64 = 30;

/// The measurement: `Ok((reached, sentence))` where the sentence says which run showed it (or
/// why none did); `Err(why)` when it could not be told.
pub type Seen = Result<(bool, String), String>;

/// From this run's record and the environment's recent runs (newest first; `Err`: the
/// history could not be read). `now_ns` bounds "recent".
pub fn seen(this: Option<&SaturationRecord>, recent: Result<&[RunRecord], String>, now_ns: i64) -> Seen {
    if let Some(r) = this.filter(|r| r.reached_knee) {
        return Ok((true, format!("this run: {}", r.short())));
    }
    #[derive(Deserialize)]
    struct OnlySaturation {
        #[serde(default)]
        saturation: Option<SaturationRecord>,
    }
    let since = now_ns.saturating_sub(RECENT_DAYS * 86_400 * 1_000_000_000);
    let runs = match recent {
        Ok(runs) => runs,
        Err(why) => return Err(format!("the history could not be read: {why}")),
    };
    for run in runs.iter().filter(|r| r.started_at_ns >= since) {
        let Some(Ok(v)) = run.verdict_as::<OnlySaturation>() else { continue };
        if let Some(s) = v.saturation.filter(|s| s.reached_knee) {
            return Ok((true, format!("run {} ({}): {}", run.id, run.test, s.short())));
        }
    }
    let why = match this {
        Some(r) => format!(
            "this run's steps stopped before the knee ({}), and no run of the environment in the last {RECENT_DAYS} days reached one",
            r.short()
        ),
        None => format!(
            "no saturation run (the saturation template's step load) reached the knee in this environment's last {RECENT_RUNS} runs over {RECENT_DAYS} days"
        ),
    };
    Ok((false, why))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scale::Interval;

    fn record(reached: bool) -> SaturationRecord {
        let i = |v: f64| Interval { value: v, low: v * 0.9, high: v * 1.1 };
        SaturationRecord {
            steps: 6,
            highest_step_vus: 8,
            highest_step_rps: 78.0,
            capacity: Some(i(84.0)),
            knee: Some(i(if reached { 4.7 } else { 12.0 })),
            reached_knee: reached,
            rms_relative_error: 0.05,
            error: None,
            pressure: None,
        }
    }

    fn run(id: &str, started_at_ns: i64, saturation: Option<SaturationRecord>) -> RunRecord {
        let verdict = serde_json::json!({ "outcome": "pass", "saturation": saturation });
        serde_json::from_value(serde_json::json!({
            "id": id, "test": "saturation", "environment": "prod-sim", "outcome": "pass",
            "started_at_ns": started_at_ns, "k6gate_version": "0", "verdict": verdict,
        }))
        .unwrap()
    }

    #[test]
    fn this_run_or_a_recent_one_of_the_environment_shows_the_knee() {
        let now = 100 * 86_400 * 1_000_000_000;
        let (yes, why) = seen(Some(&record(true)), Ok(&[]), now).unwrap();
        assert!(yes && why.starts_with("this run: capacity 84.0 req/s, knee 4.7 VUs reached"), "{why}");
        let recent = [run("r2", now - 1, None), run("r1", now - 2, Some(record(true)))];
        let (yes, why) = seen(None, Ok(&recent), now).unwrap();
        assert!(yes && why.starts_with("run r1 (saturation): "), "{why}");
        // Too old, or short of the knee: not shown.
        let old = [run("r0", 0, Some(record(true))), run("r3", now - 1, Some(record(false)))];
        let (no, why) = seen(Some(&record(false)), Ok(&old), now).unwrap();
        assert!(!no && why.contains("stopped before the knee"), "{why}");
        let (no, why) = seen(None, Ok(&[]), now).unwrap();
        assert!(!no && why.starts_with("no saturation run"), "{why}");
        assert!(seen(None, Err("locked".into()), now).unwrap_err().contains("locked"));
    }
}
