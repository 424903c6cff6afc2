//! Criterion benches for `k6gate evaluate` in process: the comparison, the Rego evaluation,
//! and the whole path from two RunSummaries to a verdict (policies loaded each time).
//! Inputs: the real k6 runs `policy-base-a` and `policy-slow` (scripts/gen-fixtures.sh,
//! generated on first use). The whole-process benchmark is bench/evaluate.sh.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use k6gate::compare::compare;
use k6gate::ingest::{IngestOptions, ingest};
use k6gate::policy::verdict::{Request, evaluate};
use k6gate::policy::{data, engine::Policies};

fn fixtures() -> &'static Path {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target/k6-fixtures");
    let ok = std::process::Command::new(root.join("scripts/gen-fixtures.sh"))
        .arg(&dir)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "scripts/gen-fixtures.sh failed");
    Box::leak(dir.into_boxed_path())
}

fn bench(c: &mut Criterion) {
    let dir = fixtures();
    let opts = IngestOptions::default();
    let base = ingest(&[dir.join("policy-base-a.json")], &opts).expect("baseline");
    let run = ingest(&[dir.join("policy-slow.json")], &opts).expect("candidate");
    let policies_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    let policy_data = data::load(&policies_dir.join("data")).expect("policy data");
    let policies = Policies::load(&policies_dir).expect("policies");
    let cmp = compare(&base, "base", &run, "run", "steady-state", 0.95);
    let req = Request {
        test: "checkout",
        environment: "ci",
        now_ns: 1_795_824_000_000_000_000,
        comparison: &cmp,
        previous: None,
        no_baseline: false,
        baseline_reason: None,
    };

    c.bench_function("compare (steady-state, 5 groups)", |b| {
        b.iter(|| black_box(compare(&base, "base", &run, "run", "steady-state", 0.95)))
    });
    c.bench_function("rego evaluate (shipped policies)", |b| {
        b.iter(|| black_box(evaluate(&policies, &policy_data, &req).map(|v| v.outcome).ok()))
    });
    c.bench_function("load policies + compare + evaluate", |b| {
        b.iter(|| {
            let d = data::load(&policies_dir.join("data")).expect("data");
            let p = Policies::load(&policies_dir).expect("policies");
            let cmp = compare(&base, "base", &run, "run", "steady-state", 0.95);
            let req = Request { comparison: &cmp, ..req_copy(&req) };
            black_box(evaluate(&p, &d, &req).map(|v| v.outcome).ok())
        })
    });
}

fn req_copy<'a>(r: &Request<'a>) -> Request<'a> {
    Request {
        test: r.test,
        environment: r.environment,
        now_ns: r.now_ns,
        comparison: r.comparison,
        previous: r.previous,
        no_baseline: r.no_baseline,
        baseline_reason: r.baseline_reason.clone(),
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
