//! Phases, steady state and whole run of JSON-output fixtures, against the exact computation.

use std::collections::BTreeMap;

use k6gate::IngestOptions;
use k6gate::summary::{Granularity, PhaseSource, RunSummary};

use super::exact::{self, Sample};
use crate::support::fixtures::{self, Set, close, on_both_sets};

const STAGED_ORDER: [&str; 3] = ["ramp-up", "sustained", "ramp-down"];

fn staged_json_phases_come_from_test_stage_tags_in_order(set: Set) {
    let s = set.staged();
    assert_eq!(s.phase_source, PhaseSource::Tagged);
    assert_eq!(s.granularity, Granularity::Windows);
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, STAGED_ORDER);
}

fn staged_json_phase_counts_and_quantiles_match_exact_computation(set: Set) {
    let s = set.staged();
    let want = exact::by_stage(&exact::json_in(set, "staged.json"));
    assert_eq!(want.phases.keys().map(String::as_str).collect::<Vec<_>>().len(), 3, "fixture has three stages");
    exact::assert_phases_match(&s.phases, &s.whole_run, &want, &STAGED_ORDER);
}

fn staged_json_whole_run_matches_exact_computation(set: Set) {
    let s = set.staged();
    let samples = exact::json_in(set, "staged.json");
    let want = exact::by_stage(&samples);
    exact::assert_group_matches("whole-run", &s.whole_run.total, &want.whole);
    assert_eq!(s.metadata.samples, samples.len() as u64, "samples read");
}

fn staged_json_groups_match_exact_computation_per_phase(set: Set) {
    let s = set.staged();
    let want = exact::by_phase_and_group(&exact::json_in(set, "staged.json"), |x| x.stage().map(str::to_owned));
    let mut seen = 0;
    for p in &s.phases {
        let names: Vec<_> = p.groups.iter().map(|g| g.key.clone()).collect();
        let expected: Vec<_> = want.keys().filter(|(ph, _)| *ph == p.name).map(|(_, k)| k.clone()).collect();
        assert_eq!(names, expected, "phase {}: group keys", p.name);
        for g in &p.groups {
            let e = &want[&(p.name.clone(), g.key.clone())];
            exact::assert_group_matches(&format!("phase {} group {:?}", p.name, g.key), g, e);
            seen += 1;
        }
    }
    assert_eq!(seen, want.len());
    assert!(seen >= 12, "4 request names in 3 phases");
}

fn staged_json_metadata_equals_run_tags(set: Set) {
    let s = set.staged();
    let samples = exact::json_in(set, "staged.json");
    let tag = |k: &str| -> Option<String> {
        let values: std::collections::BTreeSet<&String> = samples.iter().filter_map(|p| p.tags.get(k)).collect();
        assert_eq!(values.len(), 1, "tag {k} has one value in the fixture: {values:?}");
        values.into_iter().next().cloned()
    };
    let m = &s.metadata;
    assert_eq!(m.test_name, tag("test_name"));
    assert_eq!(m.environment, tag("environment"));
    assert_eq!(m.git_commit, tag("git_commit"));
    assert_eq!(m.deployment_version, tag("deployment_version"));
    assert_eq!(m.test_date, tag("test_date"));
    assert_eq!(m.test_name.as_deref(), Some("staged"));
}

fn staged_json_summary_is_complete(set: Set) {
    let s = set.staged();
    assert!(s.completeness.complete, "issues: {:?}", s.completeness.issues);
    assert!(s.completeness.issues.is_empty());
}

fn staged_json_summary_serializes_under_one_megabyte(set: Set) {
    let json = serde_json::to_vec(set.staged()).expect("serialize");
    assert!(json.len() < 1 << 20, "summary is {} bytes", json.len());
    let pretty = serde_json::to_vec_pretty(set.staged()).expect("serialize");
    assert!(pretty.len() < 1 << 20, "pretty summary is {} bytes", pretty.len());
}

/// The phase `series.phase` gives each window, by window start.
fn series_phases(s: &RunSummary) -> BTreeMap<i64, String> {
    let series = s.series.as_ref().expect("series");
    assert_eq!(series.start_unix_s.len(), series.phase.len());
    series.start_unix_s.iter().zip(&series.phase).filter_map(|(w, p)| p.clone().map(|p| (*w, p))).collect()
}

/// Assigns every sample to the phase of its window and compares with the summary's phases.
fn assert_inferred_phases_self_consistent(name: &str, source: PhaseSource) {
    let s = fixtures::ingest(name);
    assert_eq!(s.phase_source, source, "{name}: phase source");
    let by_window = series_phases(&s);
    let samples = exact::json_fixture(name);
    let http = |x: &Sample| matches!(x.metric.as_str(), "http_req_duration" | "http_reqs" | "http_req_failed");
    for x in samples.iter().filter(|x| http(x)) {
        assert!(
            by_window.contains_key(&x.window()),
            "{name}: window {} of a {} sample has no phase",
            x.window(),
            x.metric
        );
    }
    let want = exact::by_phase(&samples, |x| by_window.get(&x.window()).cloned());
    exact::assert_phases_match(&s.phases, &s.whole_run, &want, &STAGED_ORDER);
}

#[test]
#[ignore = "ignore"]
fn untagged_vus_phases_are_inferred_from_vus() {
    let s = fixtures::ingest("untagged-vus.json");
    assert_eq!(s.phase_source, PhaseSource::InferredVus);
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, STAGED_ORDER);
}

#[test]
#[ignore = "ignore"]
fn untagged_vus_phases_agree_with_series_windows() {
    assert_inferred_phases_self_consistent("untagged-vus.json", PhaseSource::InferredVus);
}

#[test]
#[ignore = "ignore"]
fn arrival_phases_are_inferred_from_request_rate() {
    let s = fixtures::ingest("arrival.json");
    assert_eq!(s.phase_source, PhaseSource::InferredRequestRate);
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, STAGED_ORDER);
}

#[test]
#[ignore = "ignore"]
fn arrival_phases_agree_with_series_windows() {
    assert_inferred_phases_self_consistent("arrival.json", PhaseSource::InferredRequestRate);
}

fn p95(p: &k6gate::summary::PhaseSummary) -> f64 {
    p.total.latency_ms.as_ref().and_then(|l| l.p95).expect("p95")
}

#[test]
#[ignore = "ignore"]
fn warmup_steady_state_trims_at_least_two_seconds() {
    let w = fixtures::ingest("warmup.json");
    let ss = w.steady_state.as_ref().expect("steady state");
    assert!(ss.trimmed_s >= 2.0, "trimmed_s = {}", ss.trimmed_s);
}

#[test]
#[ignore = "ignore"]
fn warmup_steady_state_p95_is_close_to_nowarmup() {
    let w = fixtures::ingest("warmup.json");
    let n = fixtures::ingest("nowarmup.json");
    let wp = p95(&w.steady_state.as_ref().expect("warmup steady state").summary);
    let np = p95(&n.steady_state.as_ref().expect("nowarmup steady state").summary);
    assert!(close(wp, np, 0.30), "steady-state p95: warmup {wp} vs nowarmup {np}");
}

#[test]
#[ignore = "ignore"]
fn warmup_untrimmed_sustained_p95_is_over_three_times_nowarmup() {
    let w = fixtures::ingest("warmup.json");
    let n = fixtures::ingest("nowarmup.json");
    let wp = p95(w.phase("sustained").expect("warmup sustained"));
    let np = p95(&n.steady_state.as_ref().expect("nowarmup steady state").summary);
    assert!(wp > 3.0 * np, "untrimmed sustained p95 {wp} vs nowarmup steady-state p95 {np}");
}

fn with_threads(n: usize) -> IngestOptions {
    IngestOptions { threads: n, ..IngestOptions::default() }
}

fn assert_thread_invariant(set: Set, name: &str) {
    let one = serde_json::to_value(set.ingest_with(name, &with_threads(1))).expect("serialize");
    let two = serde_json::to_value(set.ingest_with(name, &with_threads(2))).expect("serialize");
    if one != two {
        panic!("{name}: threads 1 and 2 differ:\n{}", fixtures::first_difference(&one, &two));
    }
}

fn thread_count_does_not_change_staged_summary(set: Set) {
    assert_thread_invariant(set, "staged.json");
}

#[test]
#[ignore = "ignore"]
fn thread_count_does_not_change_arrival_summary() {
    assert_thread_invariant(Set::Full, "arrival.json");
}

/// The same input with the same options gives the same document, run after run.
fn repeated_ingest_gives_identical_summaries(set: Set) {
    let first = serde_json::to_value(set.ingest("staged.json")).expect("serialize");
    for run in 2..=6 {
        let again = serde_json::to_value(set.ingest("staged.json")).expect("serialize");
        if again != first {
            panic!("staged.json: run {run} differs from run 1:\n{}", fixtures::first_difference(&first, &again));
        }
    }
}

on_both_sets!(
    staged_json_phases_come_from_test_stage_tags_in_order,
    staged_json_phase_counts_and_quantiles_match_exact_computation,
    staged_json_whole_run_matches_exact_computation,
    staged_json_groups_match_exact_computation_per_phase,
    staged_json_metadata_equals_run_tags,
    staged_json_summary_is_complete,
    staged_json_summary_serializes_under_one_megabyte,
    thread_count_does_not_change_staged_summary,
    repeated_ingest_gives_identical_summaries,
);
