//! How the shipped policies decide from history, on synthetic runs with a known truth
//! (`support::synthetic`: real aggregation and summaries, fixed seeds): an unchanged service
//! passes against five baselines, a real regression fails outside their range, a change
//! over budget that the history shows as ordinary noise passes, one baseline says so, and
//! confirmation re-runs keep a regression failing. The rates over many evaluations are
//! measured by `cargo bench --bench decisions` (README, "How the gate decides").

use k6gate::RunSummary;
use k6gate::gate::{Gate, ONE_BASELINE, PolicySource};
use k6gate::github::approval::Mode;
use k6gate::policy::verdict::{RuleResult, Status, Verdict};

use crate::support::root;
use crate::support::synthetic::{self, Regression, Spec};

const NOW_NS: i64 = 1_795_900_000_000_000_000;

fn gate() -> Gate {
    Gate::load(&PolicySource::new(root().join("policies"), Mode::Trust)).expect("the shipped policies load")
}

/// Five clean runs of the unchanged service with `between_sd` noise between runs.
fn history(between_sd: f64) -> Vec<RunSummary> {
    (1..=5).map(|seed| Spec::default().between_sd(between_sd).seed(seed).run()).collect()
}

/// `candidate` (and its confirmation re-runs) judged against `baselines` by the shipped policies.
fn judge(candidate: &RunSummary, confirmations: &[RunSummary], baselines: &[RunSummary]) -> Verdict {
    let (confirmations, baselines): (Vec<&RunSummary>, Vec<&RunSummary>) =
        (confirmations.iter().collect(), baselines.iter().collect());
    synthetic::judge(&gate(), ("checkout", "ci", NOW_NS), candidate, &confirmations, &baselines)
}

fn result<'a>(verdict: &'a Verdict, id: &str) -> &'a RuleResult {
    verdict.results.iter().find(|r| r.id == id).unwrap_or_else(|| panic!("no result {id} in {:#?}", verdict.results))
}

fn not_passing(verdict: &Verdict) -> Vec<String> {
    verdict.results.iter().filter(|r| r.status != Status::Pass).map(|r| format!("{}: {}", r.id, r.message)).collect()
}

#[test]
fn an_unchanged_service_passes_against_five_baselines() {
    let baselines = history(0.04);
    let candidate = Spec::default().between_sd(0.04).seed(6).run();
    let verdict = judge(&candidate, &[], &baselines);
    assert_eq!(verdict.outcome, Status::Pass, "{:#?}", not_passing(&verdict));
    assert!(!verdict.notes.iter().any(|n| n == ONE_BASELINE), "{:?}", verdict.notes);
    let p95 = result(&verdict, "budget/all/p95_ms");
    assert!(p95.message.contains("the last 5 baselines ranged"), "{}", p95.message);
}

#[test]
fn a_regression_of_every_endpoint_fails_outside_the_range_of_five_baselines() {
    // A quiet history (2 % between runs): with 4 % and five baselines a +25 % change is only
    // sometimes beyond alpha = 0.01 (the bench measures how often).
    let baselines = history(0.02);
    let candidate = Spec::default().between_sd(0.02).seed(6).regression(Regression::All(0.25)).run();
    let verdict = judge(&candidate, &[], &baselines);
    assert_eq!(verdict.outcome, Status::Fail, "{:#?}", not_passing(&verdict));
    let p95 = result(&verdict, "budget/all/p95_ms");
    assert_eq!(p95.status, Status::Fail, "{}", p95.message);
    assert!(p95.message.contains("outside the range of the last 5 baselines"), "{}", p95.message);
}

#[test]
fn a_change_over_budget_inside_a_noisy_history_passes_as_noise() {
    // Five baselines that differ by up to ±15 % as a whole, and a candidate 12 % slower than
    // their centre: over the 10 % budget, but no further out than the history itself.
    let baselines: Vec<RunSummary> = [0.86, 0.97, 1.0, 1.06, 1.15]
        .iter()
        .zip(1..)
        .map(|(effect, seed)| Spec::default().effect(*effect).seed(seed).run())
        .collect();
    let candidate = Spec::default().effect(1.12).seed(6).run();
    let verdict = judge(&candidate, &[], &baselines);
    let p95 = result(&verdict, "budget/all/p95_ms");
    let over = p95.comparison.as_ref().and_then(|c| c.rel_change).expect("a relative change");
    assert!(over > 0.10, "the candidate must be over the 10 % budget: {}", p95.message);
    assert_eq!(p95.status, Status::Pass, "{}", p95.message);
    assert!(p95.message.contains("inside the noise of the last 5 baselines"), "{}", p95.message);
    assert_ne!(verdict.outcome, Status::Fail, "{:#?}", not_passing(&verdict));
}

#[test]
fn one_baseline_run_says_the_noise_between_runs_is_unknown() {
    let baseline = Spec::default().seed(1).run();
    let candidate = Spec::default().seed(2).run();
    let verdict = judge(&candidate, &[], &[baseline]);
    assert!(verdict.notes.iter().any(|n| n == ONE_BASELINE), "{:?}", verdict.notes);
    // Over budget without a significant change within the runs only warns.
    assert_ne!(verdict.outcome, Status::Fail, "{:#?}", not_passing(&verdict));
    let p95 = result(&verdict, "budget/all/p95_ms");
    assert!(p95.comparison.as_ref().and_then(|c| c.between.as_ref()).is_some_and(|b| b.p_value.is_none()));
}

#[test]
fn confirmation_re_runs_of_a_regression_keep_it_failing() {
    let baselines = history(0.02);
    let regressed = |seed| Spec::default().between_sd(0.02).seed(seed).regression(Regression::All(0.25)).run();
    let (candidate, confirmations) = (regressed(6), [regressed(7), regressed(8)]);
    let verdict = judge(&candidate, &confirmations, &baselines);
    assert_eq!(verdict.outcome, Status::Fail, "{:#?}", not_passing(&verdict));
    assert_eq!(verdict.comparison.confirmations.len(), 2);
    let p95 = result(&verdict, "budget/all/p95_ms");
    assert_eq!(p95.status, Status::Fail, "{}", p95.message);
    assert!(p95.message.contains("(with 2 confirmation re-runs)"), "{}", p95.message);
    assert!(p95.message.contains("outside the range of the last 5 baselines"), "{}", p95.message);
}

#[test]
fn a_synthetic_run_has_the_phases_and_mix_of_its_spec() {
    let run = Spec::default().seed(3).run();
    let names: Vec<&str> = run.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ramp-up", "sustained", "ramp-down"]);
    let steady = run.phase("steady-state").expect("a steady state");
    let rps = steady.total.requests_per_s;
    assert!((110.0..130.0).contains(&rps), "{rps} requests/s in the steady state");
    let share = |name: &str| {
        let g = steady.groups.iter().find(|g| g.key.get("name").map(String::as_str) == Some(name)).expect(name);
        g.requests as f64 / steady.total.requests as f64
    };
    assert!((share("products") - 0.6).abs() < 0.05 && (share("checkout") - 0.1).abs() < 0.03);
    assert_eq!(Spec::default().seed(3).run(), run, "a seed gives the same run");
    assert_eq!(run.metadata.test_name.as_deref(), Some("checkout"));
}
