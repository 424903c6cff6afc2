//! `k6gate validate RUN --against prod` (issue 16): a run of `checkout` against the test's
//! shop (payment provider 8 ms) while "production" (the shared Prometheus's `prod-slow` shop,
//! payment provider 150 ms) serves the same journey; validation names checkout as slower in
//! production, with its factor, and records it in the run directory.

use std::time::Duration;

use crate::profile::{prod_environment, production};
use crate::support::cli::K6gate;

#[test]
#[ignore = "full tier: needs k6 and Prometheus"]
fn validation_names_the_endpoint_production_serves_slower_and_by_how_much() {
    let p = production();
    let dir = tempfile::tempdir().unwrap();
    let envs = dir.path().join("environments");
    std::fs::create_dir(&envs).unwrap();
    prod_environment(&envs, "prod-slow", p.slow_port);

    // Production's traffic: the same journey at the same time, against the slow shop.
    let prod_state = dir.path().join("state-prod");
    let slow_port = p.slow_port;
    let production_traffic = std::thread::spawn(move || {
        let opts = crate::support::run_options::short_run(&prod_state, slow_port, "v1.0.0", "main", "6s");
        k6gate::run::execute(&opts).unwrap()
    });
    let shop = k6gate_shop::spawn(&k6gate_shop::TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let state = dir.path().join("state");
    let opts = crate::support::run_options::short_run(&state, shop.port(), "v1.0.0", "main", "6s");
    let run = k6gate::run::execute(&opts).unwrap();
    let prod_run = production_traffic.join().unwrap();
    assert!(run.summary.is_some() && prod_run.summary.is_some(), "{:?} / {:?}", run.problem, prod_run.problem);
    // The last requests scraped (1 s interval).
    std::thread::sleep(Duration::from_millis(1500));

    // Tolerance 1.0 (2x): both k6 runs share two busy cores, and only the payment provider
    // differs; measured here the checkout factor is ~10x.
    let ran = K6gate::new()
        .arg("--state-dir")
        .arg(&state)
        .args(["validate", &run.run_id, "--against", "prod", "--tolerance", "1.0", "--format", "json", "--environments"])
        .arg(&envs)
        .status(0);
    let v = ran.stdout_json();
    eprintln!("{}", serde_json::to_string_pretty(&v["production_slower"]).unwrap());
    let slower = v["production_slower"].as_array().unwrap();
    assert_eq!(slower.len(), 1, "{v:#}");
    let line = slower[0].as_str().unwrap();
    assert!(line.starts_with("POST /api/checkout: production slower: P95 "), "{line}");
    let checkout = v["endpoints"].as_array().unwrap().iter().find(|e| e["name"] == "checkout").unwrap();
    let factor = checkout["p95_factor"].as_f64().unwrap();
    // 150 ms against 8 ms of payment in a ~10-20 ms journey step: well above 3x.
    assert!(factor > 3.0, "{checkout:#}");
    assert!(line.contains(&format!("({factor:.1}x)")), "{line}");
    for name in ["login", "products", "cart"] {
        let e = v["endpoints"].as_array().unwrap().iter().find(|e| e["name"] == name).unwrap();
        assert_ne!(e["comparison"][0], "production_slower", "{e:#}");
        assert!(e["production"]["requests"].as_f64().unwrap() > 0.0, "{e:#}");
    }
    // The window is the run's steady phase.
    let steady = run.summary.as_ref().unwrap().steady_state.as_ref().unwrap().summary.duration_s;
    assert_eq!(v["window_s"].as_u64().unwrap(), steady.ceil() as u64);
    // Recorded beside the run, for the post-test runbook.
    let recorded: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.run_dir.join("validation-prod.json")).unwrap()).unwrap();
    assert_eq!(recorded, v);
    assert_eq!(recorded["schema"], "k6gate.validation/1");
    shop.stop().unwrap();
}
