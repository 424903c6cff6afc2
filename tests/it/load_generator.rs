//! The load generator's health on real k6 runs: the checkout template rendered as an open
//! model, against the demo shop, once far beyond what its VUs can carry and once well within.

use std::collections::BTreeMap;

use k6gate::render::{RenderRequest, RunInfo, render};
use k6gate::run::k6;
use k6gate::summary::{Model, ModelSource, RunSummary};
use k6gate::{IngestOptions, ingest};
use k6gate_shop::{TargetArgs, spawn};

use crate::support::root;

/// A short open-model checkout run (ramp-up 2 s, sustained 8 s) at `rate` iterations per
/// second with at most `max_vus` VUs, ingested.
fn open_run(rate: u32, max_vus: u32) -> RunSummary {
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let sets = [
        format!("base_url=http://127.0.0.1:{}", target.port()),
        "executor=ramping-arrival-rate".into(),
        format!("rate={rate}"),
        format!("pre_allocated_vus={max_vus}"),
        format!("max_vus={max_vus}"),
        "stages.warm_up=1s".into(),
        "stages.ramp_up=2s".into(),
        "stages.sustained=8s".into(),
        "stages.ramp_down=1s".into(),
    ];
    let rendered = render(&RenderRequest {
        test: "checkout",
        environment: "dev",
        templates_dir: &root().join("k6-templates"),
        environments_dir: &root().join("environments"),
        sets: &sets,
        vars: &BTreeMap::new(),
        run: RunInfo {
            run_id: format!("load-generator-{rate}"),
            git_commit: "abc1234".into(),
            deployment_version: "v1.0.0".into(),
            test_date: "2026-11-28".into(),
        },
        live_labels: None,
    })
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("checkout.js");
    std::fs::write(&script, rendered.script).unwrap();
    let run = k6::run(&script, dir.path(), true).unwrap();
    target.stop().unwrap();
    ingest(&[run.json_out], &IngestOptions::default()).unwrap()
}

#[test]
#[ignore = "full tier: needs k6"]
fn an_arrival_rate_far_beyond_the_vus_is_saturated() {
    // Each iteration takes ~0.2 s (three think times of 50 ms and four requests): two VUs
    // carry ~10 iterations a second of the 200 asked for.
    let s = open_run(200, 2);
    let m = s.metadata.load_model.as_ref().expect("load model");
    assert_eq!((m.model, m.offered_iterations_per_s, m.source), (Model::Open, Some(200.0), ModelSource::Tagged));
    let g = s.load_generator.as_ref().expect("load generator");
    assert!(g.saturated && g.vus_max_reached, "{g:?}");
    assert!(g.dropped_iterations > 100, "{g:?}");
    assert!(g.achieved_iterations_per_s.is_some_and(|a| a < 50.0), "{g:?}");
    assert!(g.signs.iter().any(|s| s.starts_with("k6 dropped")), "{:?}", g.signs);
    assert!(g.signs.iter().any(|s| s.contains("of the 200 offered")), "{:?}", g.signs);
}

#[test]
#[ignore = "full tier: needs k6"]
fn an_arrival_rate_within_the_vus_is_not_saturated() {
    let s = open_run(10, 20);
    let g = s.load_generator.as_ref().expect("load generator");
    assert!(!g.saturated, "{g:?}");
    assert_eq!(g.dropped_iterations, 0, "{g:?}");
    assert!(g.achieved_iterations_per_s.is_some_and(|a| a >= 9.5), "{g:?}");
    // The template counts its think time, so the client's share is known, and small.
    assert!(g.client_share.is_some_and(|s| s < k6gate::summary::CLIENT_SHARE_MAX), "{g:?}");
}

/// A closed-model script of k6gate's runtime whose iterations spend `busy_ms` computing in
/// JavaScript around one request and 10 ms of think time, for 6 s, ingested.
fn computing_run(busy_ms: u32) -> RunSummary {
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let script = format!(
        "const K6GATE_PLAN = [];\n{runtime}\n\
         export const options = {{ scenarios: {{ s: {{ executor: 'constant-vus', vus: 2, duration: '6s' }} }} }};\n\
         export default function () {{\n\
             const until = Date.now() + {busy_ms};\n\
             let x = 0;\n\
             while (Date.now() < until) x += Math.sqrt(x + 1);\n\
             http.get('http://127.0.0.1:{port}/api/products?limit=5');\n\
             think(0.01);\n\
         }}\n",
        runtime = k6gate::render::RUNTIME,
        port = target.port(),
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("computing.js");
    std::fs::write(&path, script).unwrap();
    let run = k6::run(&path, dir.path(), true).unwrap();
    target.stop().unwrap();
    ingest(&[run.json_out], &IngestOptions::default()).unwrap()
}

#[test]
#[ignore = "full tier: needs k6"]
fn iterations_spent_computing_in_the_script_are_a_sign() {
    let g = computing_run(30).load_generator.expect("load generator");
    let share = g.client_share.expect("the runtime's think() makes the share known");
    assert!(share >= k6gate::summary::CLIENT_SHARE_MAX, "{g:?}");
    assert!(g.saturated && g.client_dominated, "{g:?}");
    assert!(g.signs.iter().any(|s| s.starts_with("k6 itself took")), "{g:?}");
    // The same script without the computing: requests and think time, k6 barely shows.
    let g = computing_run(0).load_generator.expect("load generator");
    assert!(g.client_share.is_some_and(|s| s < k6gate::summary::CLIENT_SHARE_MAX), "{g:?}");
    assert!(!g.saturated && !g.client_dominated, "{g:?}");
}
