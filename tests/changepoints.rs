//! Change points over run histories: k6gate's E-divisive means (`stats::edivisive`) checked
//! against the implementations it follows, on seeded synthetic histories
//! (`support::series`).
//!
//! The references (full tier: `scripts/install-changepoint-refs.sh` puts them in venvs under
//! `target/cp-venv/`; `tests/changepoints_ref.py` runs them on series passed as JSON):
//!
//! - Apache Otava 0.8.0, `PairDistanceCalculator`: the same statistic (Matteson & James's
//!   `q̂`, α = 1, searched over `τ` and `κ`). The best split of every series must be the same
//!   index with the same `q̂` (to 1e-9 relative): this checks the statistic itself, exactly.
//! - Otava's `compute_change_points_orig` (Matteson & James with 100 seeded permutations):
//!   the same change points as k6gate with `κ` searched ([`Kappa::Search`]), exactly; MongoDB's
//!   `e_divisive` from signal-processing-algorithms 2.1.6 (100 permutations, the V-statistic
//!   form with `κ` at the segment's end): the same as k6gate with `κ` at the end
//!   ([`Kappa::End`], k6gate's default), exactly. k6gate runs with `min_size` 1 and `pvalue`
//!   0.05 like them, and 199 permutations of its own
//!   generator, so p-values differ by sampling; the series are chosen so that every split is
//!   clearly significant or clearly not (steps of 15-25 % in 3 % noise, flat noise), and the
//!   test checks that they are: k6gate finds the same at p 0.02 as at p 0.1.
//! - Otava's default `compute_change_points` (t-tests in windows of 50, p 0.001, then the
//!   merge step): within ±1 run of k6gate's default, since its t-test places a change by
//!   means, not distances.
//!
//! On a drift (a ramp) the split positions are a matter of degree and borderline splits go
//! either way with the permutation draws, so there only the first split (the statistic) is
//! compared exactly, and each method must find a change inside the drift and none before it.
//!
//! The fast tier: what the alerts do with the default settings on fixed seeds (the rates are
//! measured by `cargo bench --bench changepoint_quality`, README "Change points"), and
//! `k6gate history changepoints` and `k6gate nightly` on recorded histories, with reviews in
//! policy data. Grafana and the webhook are tested with their fakes in `grafana_annotate.rs`
//! and `notify.rs`.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use crate::support::cli::K6gate;
use crate::support::series::{Shape, history, record_history};
use crate::support::{root, target_dir};
use k6gate::stats::edivisive::{Config, Kappa, best_split, e_divisive};
use k6gate::trend::changepoints::search;
use k6gate::trend::{Settings, alerting};

/// k6gate configured like the references (no minimum segment length beyond theirs), with
/// `κ` searched like Otava or at the segment's end like MongoDB.
fn like_the_references(kappa: Kappa) -> Config {
    Config { pvalue: 0.05, permutations: 199, min_size: 1, kappa, seed: 42 }
}

/// The change points k6gate finds in `series` with `config`.
fn ours(series: &[f64], config: &Config) -> Vec<usize> {
    e_divisive(series, config).unwrap().iter().map(|c| c.index).collect()
}

/// One series of the comparison.
struct Case {
    name: String,
    series: Vec<f64>,
    /// For a drift: where it starts (the split positions are then compared loosely).
    drift_from: Option<usize>,
}

fn cases() -> Vec<Case> {
    let mut out = Vec::new();
    // Seeds whose splits are all clear (checked below): 2, 4, 6 and 9 have borderline ones, and
    // so has flat noise with seed 201 (hence 210 + seed).
    for seed in [1, 3, 5, 7] {
        out.push(Case {
            name: format!("single 15 % step, seed {seed}"),
            series: history(seed, 80, 200.0, 0.03, &Shape::Step { at: 47, factor: 1.15 }),
            drift_from: None,
        });
        out.push(Case {
            name: format!("two steps, +25 % then -20 %, seed {}", 100 + seed),
            series: history(100 + seed, 90, 200.0, 0.03, &Shape::Steps(vec![(30, 1.25), (62, 0.8)])),
            drift_from: None,
        });
        out.push(Case {
            name: format!("flat noise, seed {}", 210 + seed),
            series: history(210 + seed, 100, 200.0, 0.03, &Shape::Flat),
            drift_from: None,
        });
        out.push(Case {
            name: format!("drift of 2 % a week from run 42, seed {}", 300 + seed),
            series: history(300 + seed, 98, 200.0, 0.03, &Shape::Drift { from: 42, per_week: 0.02 }),
            drift_from: Some(42),
        });
    }
    out
}

fn python(venv: &str) -> PathBuf {
    let p = target_dir().join("cp-venv").join(venv).join("bin").join("python");
    assert!(p.exists(), "{} is missing: run scripts/install-changepoint-refs.sh", p.display());
    p
}

/// Runs `tests/changepoints_ref.py WHICH` on the series; one JSON object per series.
fn reference(which: &str, series: &[&[f64]]) -> Vec<Value> {
    let script = crate::support::root().join("tests").join("changepoints_ref.py");
    let request = json!({ "series": series, "pvalue": 0.05, "permutations": 100, "seed": 7 });
    let mut child = Command::new(python(which))
        .arg(&script)
        .arg(which)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the reference's python");
    child.stdin.take().unwrap().write_all(request.to_string().as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{which}: {}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str::<Vec<Value>>(last).unwrap_or_else(|e| panic!("{which}: {e}: {stdout}"))
}

fn indices(v: &Value) -> Vec<usize> {
    v.as_array().unwrap().iter().map(|i| i.as_u64().unwrap() as usize).collect()
}

fn within_one(a: &[usize], b: &[usize]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.abs_diff(*y) <= 1)
}

#[test]
#[ignore = "full tier: needs signal-processing-algorithms (scripts/install-changepoint-refs.sh)"]
fn change_points_agree_with_otava_and_mongodb() {
    let cases = cases();
    let series: Vec<&[f64]> = cases.iter().map(|c| c.series.as_slice()).collect();
    let otava = reference("otava", &series);
    let spa = reference("spa", &series);
    let mut problems = Vec::new();
    for ((case, o), s) in cases.iter().zip(&otava).zip(&spa) {
        let (searched, at_end) = (like_the_references(Kappa::Search), like_the_references(Kappa::End));
        let (ours_search, ours_end) = (ours(&case.series, &searched), ours(&case.series, &at_end));
        let (orig, ttest, mongo) = (indices(&o["orig"]), indices(&o["ttest"]), indices(&s["e_divisive"]));

        let split = best_split(&case.series, 1, Kappa::Search).unwrap();
        let (o_index, o_qhat) = (o["best_split"][0].as_u64().unwrap() as usize, o["best_split"][1].as_f64().unwrap());
        if split.tau != o_index || (split.qhat - o_qhat).abs() > 1e-9 * o_qhat.abs() {
            problems.push(format!(
                "{}: best split {} q̂ {} vs Otava's {o_index} q̂ {o_qhat}",
                case.name, split.tau, split.qhat
            ));
        }

        let line = format!(
            "{}: k6gate κ searched {ours_search:?} vs Otava {orig:?}; k6gate κ at the end {ours_end:?} vs MongoDB \
             {mongo:?} and Otava's t-test {ttest:?}",
            case.name
        );
        eprintln!("{line}");
        match case.drift_from {
            None => {
                let clear = |c: &Config| {
                    ours(&case.series, &Config { pvalue: 0.02, ..c.clone() })
                        == ours(&case.series, &Config { pvalue: 0.1, ..c.clone() })
                };
                if !clear(&searched) || !clear(&at_end) {
                    problems.push(format!("{line}: a borderline split (p between 0.02 and 0.1): choose another seed"));
                } else if ours_search != orig || ours_end != mongo || !within_one(&ours_end, &ttest) {
                    problems.push(line);
                }
            }
            Some(from) => {
                let inside = |v: &[usize]| !v.is_empty() && v.iter().all(|&i| i >= from);
                if ![&ours_search, &ours_end, &orig, &mongo].into_iter().all(|v| inside(v)) {
                    problems.push(format!("{line}: each must find the drift, and nothing before run {from}"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

// ---------------------------------------------------------------------------------------------
// The alerts with the default settings, on fixed seeds

/// Alerts of `values[..night]`, as a nightly search on that night sees them.
fn alerts_on(values: &[f64], night: usize) -> Vec<usize> {
    alerting(&values[..night], &Settings::default()).unwrap().iter().map(|c| c.index).collect()
}

/// 2 % slower a week (nightly runs, 3 % noise) from run 56: not an alert while the history is
/// flat, found within four weeks of the drift's start, and never placed before it.
#[test]
fn a_drift_of_2_percent_a_week_is_found_within_four_weeks() {
    for seed in [1, 2, 3] {
        let values = history(seed, 112, 200.0, 0.03, &Shape::Drift { from: 56, per_week: 0.02 });
        assert_eq!(alerts_on(&values, 56), [] as [usize; 0], "seed {seed}: an alert before the drift");
        let found = alerts_on(&values, 56 + 28);
        assert!(!found.is_empty() && found.iter().all(|&i| i >= 54), "seed {seed}: {found:?}");
    }
}

/// 15 % slower from run 40: pending for six nights, then found at run 40 (±2).
#[test]
fn a_15_percent_step_alerts_at_its_run_after_a_week() {
    for seed in [1, 2, 3] {
        let values = history(seed, 68, 200.0, 0.03, &Shape::Step { at: 40, factor: 1.15 });
        assert_eq!(alerts_on(&values, 46), [] as [usize; 0], "seed {seed}: 6 runs on the new level alert");
        for night in [47, 68] {
            let found = alerts_on(&values, night);
            assert!(found.len() == 1 && found[0].abs_diff(40) <= 2, "seed {seed}, night {night}: {found:?}");
        }
    }
}

#[test]
fn a_flat_noisy_history_of_100_runs_is_quiet() {
    for seed in [1, 2, 3, 4, 5] {
        let values = history(seed, 100, 200.0, 0.03, &Shape::Flat);
        assert_eq!(alerts_on(&values, 100), [] as [usize; 0], "seed {seed}");
    }
}

/// Two slow runs are a bad night, not a change: pending while they are the newest runs, and
/// gone once normal runs follow.
#[test]
fn a_spike_at_the_end_is_not_an_alert() {
    for seed in [1, 2, 3] {
        let values = history(seed, 80, 200.0, 0.03, &Shape::Spikes(vec![(76, 2, 1.3)]));
        for night in 77..=80 {
            assert_eq!(alerts_on(&values, night), [] as [usize; 0], "seed {seed}, night {night}");
        }
    }
}

/// Four slow runs in the middle of a history (a bad weekend) are a level that did not last:
/// no alert either way `κ` is chosen. Searched, `κ` finds them as two change points, which
/// the persistence requirement turns into a transient: left out, and the history searched
/// again without them finds nothing.
#[test]
fn an_excursion_in_the_middle_is_a_transient_not_a_change() {
    for seed in [1, 2, 3] {
        let values = history(seed, 60, 200.0, 0.03, &Shape::Spikes(vec![(30, 4, 1.3)]));
        assert_eq!(alerting(&values, &Settings::default()).unwrap().len(), 0, "seed {seed}");
        let searched =
            Settings { detector: Config { kappa: Kappa::Search, ..Config::default() }, ..Settings::default() };
        let found = search(&values, &searched).unwrap();
        assert!(found.change_points.is_empty(), "seed {seed}: {:?}", found.change_points);
        assert_eq!(found.transient, [30, 31, 32, 33], "seed {seed}");
        // Without the persistence requirement the excursion is two change points.
        let loose = Settings { persistence: 1, ..searched };
        let cps: Vec<usize> = alerting(&values, &loose).unwrap().iter().map(|c| c.index).collect();
        assert_eq!(cps, [30, 34], "seed {seed}");
    }
}

// ---------------------------------------------------------------------------------------------
// `k6gate history changepoints` and `k6gate nightly`

/// A state directory with the history of `checkout` in `staging`, and a copy of the shipped
/// policies whose data may get `changepoints.yaml`.
struct Fixture {
    dir: tempfile::TempDir,
    ids: Vec<String>,
}

impl Fixture {
    /// p95 around 200 ms with 3 % noise, 20 % slower from run `at` of `len`.
    fn step(len: usize, at: usize) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("policies").join("data");
        std::fs::create_dir_all(&data).unwrap();
        for e in std::fs::read_dir(root().join("policies").join("data")).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), data.join(e.file_name())).unwrap();
        }
        let p95 = history(9, len, 200.0, 0.03, &Shape::Step { at, factor: 1.2 });
        let ids = record_history(&dir.path().join("state"), "checkout", "staging", &p95);
        Fixture { dir, ids }
    }

    fn cli(&self) -> K6gate {
        K6gate::new()
            .env_remove("K6GATE_GRAFANA_URL")
            .env_remove("K6GATE_WEBHOOK_URL")
            .arg("--state-dir")
            .arg(self.dir.path().join("state"))
            .arg("--policies")
            .arg(self.dir.path().join("policies"))
    }

    fn search(&self) -> K6gate {
        self.cli().args(["history", "changepoints", "--test", "checkout", "--env", "staging"])
    }

    fn review(&self, yaml: &str) {
        std::fs::write(self.dir.path().join("policies/data/changepoints.yaml"), yaml).unwrap();
    }
}

fn review_yaml(run: &str, decision: &str) -> String {
    format!(
        "changepoints:\n  - test: checkout\n    environment: staging\n    metric: p95_ms\n    run: {run}\n    \
         decision: {decision}\n    reason: fraud scoring in v1.18\n    reviewed_by: alice\n"
    )
}

#[test]
fn a_step_alerts_until_it_is_reviewed() {
    let f = Fixture::step(30, 18);
    let run = &f.ids[18];
    let out = f.search().status(1).stdout_contains("1 unreviewed").stdout_contains(run).stdout_contains("ALERT");
    assert!(out.stdout().contains("p95_ms") && out.stdout().contains("v1.18"), "{}", out.stdout());
    assert!(out.stdout().contains("policies/data/changepoints.yaml"), "{}", out.stdout());

    // Dismissed: still listed, no longer an alert.
    f.review(&review_yaml(run, "dismissed"));
    let out = f.search().status(0).stdout_contains("dismissed").stdout_contains("changepoints.yaml:2");
    assert!(!out.stdout().contains("ALERT"), "{}", out.stdout());

    // Accepted: the p95 history restarts there, and the change point is not searched again.
    f.review(&review_yaml(run, "accepted"));
    let out =
        f.search().status(0).stdout_contains(&format!("p95_ms restarts at the accepted change point of run {run}"));
    assert!(!out.stdout().contains("ALERT"), "{}", out.stdout());

    // A review a run or two off still covers it (change points move as runs arrive).
    f.review(&review_yaml(&f.ids[19], "dismissed"));
    f.search().status(0).stdout_contains("dismissed");
    // Three runs off it does not.
    f.review(&review_yaml(&f.ids[21], "dismissed"));
    f.search().status(1).stdout_contains("ALERT");
}

#[test]
fn the_json_names_the_metric_run_version_means_and_p_value() {
    let f = Fixture::step(30, 18);
    let out = f.search().args(["--format", "json", "--metric", "p95_ms"]).status(1);
    let v = out.stdout_json();
    assert_eq!(
        (v["test"].as_str(), v["environment"].as_str(), v["phase"].as_str()),
        (Some("checkout"), Some("staging"), Some("steady-state"))
    );
    let cps = v["change_points"].as_array().unwrap();
    assert_eq!(cps.len(), 1, "{v:#}");
    let cp = &cps[0];
    assert_eq!(cp["metric"], "p95_ms");
    assert_eq!(cp["status"], "alert");
    assert_eq!(cp["run_id"], f.ids[18].as_str());
    assert_eq!(cp["version"], "v1.18");
    assert_eq!(cp["runs_since"], 12);
    let (before, after) = (cp["mean_before"].as_f64().unwrap(), cp["mean_after"].as_f64().unwrap());
    assert!((before - 200.0).abs() < 6.0 && (after - 240.0).abs() < 8.0, "{cp:#}");
    assert!((cp["rel_change"].as_f64().unwrap() - 0.2).abs() < 0.04, "{cp:#}");
    assert!(cp["p_value"].as_f64().unwrap() <= 0.005, "{cp:#}");
    assert_eq!(v["series"][0]["runs"], 30);
}

#[test]
fn a_recent_step_is_pending_and_does_not_alert() {
    let f = Fixture::step(30, 27);
    f.search().args(["--metric", "p95_ms"]).status(0).stdout_contains("pending").stdout_contains("0 unreviewed");
    // With persistence 3 the same change point alerts.
    f.search().args(["--metric", "p95_ms", "--cp-persistence", "3"]).status(1).stdout_contains("ALERT");
}

#[test]
fn runs_the_gate_did_not_decide_are_left_out_and_listed() {
    use k6gate::history::{HistoryConfig, NewRun, Outcome, RunStore};
    let f = Fixture::step(20, 8);
    let store = k6gate::run::open_history(&HistoryConfig::local(f.dir.path().join("state"))).unwrap();
    let id = store
        .record_run(&NewRun {
            test: "checkout".into(),
            environment: "staging".into(),
            outcome: Outcome::Error,
            started_at_ns: crate::support::series::NIGHT0_NS + 30 * crate::support::series::DAY_NS,
            problem: Some("k6 exited 107".into()),
            ..NewRun::default()
        })
        .unwrap();
    drop(store);
    f.search().status(1).stdout_contains("1 run(s) left out").stdout_contains(&format!("{id}: outcome error"));
}

#[test]
fn bad_flags_are_usage_errors() {
    let f = Fixture::step(12, 6);
    f.search().args(["--metric", "p95"]).status(2).stderr_contains("unknown metric \"p95\" (known: p50_ms, p95_ms");
    f.search().args(["--cp-pvalue", "0.001"]).status(2).stderr_contains("pvalue 0.001 must be in");
    f.review("changepoints:\n  - test: checkout\n");
    f.search().status(2).stderr_contains("changepoints.yaml:2");
}

/// `nightly` searches the history even when its run fails before k6 (here: no such test), and
/// exits with the worse of the two: the run's error.
#[test]
fn nightly_searches_the_history_whatever_the_run_did() {
    let f = Fixture::step(30, 18);
    let templates = f.dir.path().join("no-templates");
    std::fs::create_dir_all(&templates).unwrap();
    f.cli()
        .args(["nightly", "--test", "checkout", "--env", "staging", "--templates"])
        .arg(&templates)
        .status(2)
        .stdout_contains("1 unreviewed")
        .stdout_contains(&f.ids[18]);
}

/// The multi-run baseline starts where the latest accepted change point of the test in that
/// environment starts (any metric); dismissed ones and other environments do not count.
#[test]
fn accepted_since_is_the_latest_accepted_run_of_the_test_and_environment() {
    let f = Fixture::step(6, 3);
    let entry = |env: &str, metric: &str, run: &str, decision: &str| {
        format!(
            "  - {{ test: checkout, environment: {env}, metric: {metric}, run: {run}, decision: {decision}, \
             reason: r, reviewed_by: alice }}\n"
        )
    };
    let yaml = [
        "changepoints:\n".to_string(),
        entry("staging", "p95_ms", "20261110-020000-aaaa", "accepted"),
        entry("staging", "p99_ms", "20261120-020000-bbbb", "accepted"),
        entry("staging", "p50_ms", "20261125-020000-cccc", "dismissed"),
        entry("prod-sim", "p95_ms", "20261128-020000-dddd", "accepted"),
    ]
    .concat();
    f.review(&yaml);
    let data = k6gate::policy::data::load(&f.dir.path().join("policies/data")).unwrap();
    assert_eq!(data.accepted_since("checkout", "staging"), Some("20261120-020000-bbbb"));
    assert_eq!(data.accepted_since("checkout", "prod-sim"), Some("20261128-020000-dddd"));
    assert_eq!(data.accepted_since("checkout", "dev"), None);
    assert_eq!(data.accepted_since("search", "staging"), None);
    let reviews = data.changepoint_reviews("checkout", "staging");
    assert_eq!(reviews.len(), 3);
    assert_eq!(reviews[0].source, format!("{}:2", f.dir.path().join("policies/data/changepoints.yaml").display()));
}
