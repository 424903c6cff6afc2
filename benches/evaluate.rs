//! Criterion benches for `k6gate evaluate` in process: the comparison, the Rego evaluation,
//! and the whole path from two RunSummaries to a verdict (policies loaded each time).
//! Inputs: the real k6 runs `policy-base-a` and `policy-slow` (scripts/gen-fixtures.sh,
//! generated on first use). The whole-process benchmark is bench/evaluate.sh.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, criterion_group, criterion_main};
use k6gate::compare::Phase;
use k6gate::gate::{Baseline, Case, Gate, PolicySource, Side};
use k6gate::github::approval::Mode;
use k6gate::ingest::{IngestOptions, ingest};

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
    let source = PolicySource::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("policies"), Mode::Trust);
    let gate = Gate::load(&source).expect("policies");
    let phase = Phase::SteadyState;
    let (b, r) = (Side { summary: &base, source: "base" }, Side { summary: &run, source: "run" });
    let case = Case {
        test: "checkout",
        environment: "ci",
        now_ns: 1_795_824_000_000_000_000,
        phase: &phase,
        candidate: r,
        confirmations: &[],
        baseline: Baseline::Runs { runs: vec![b], reason: None },
        previous: None,
    };

    c.bench_function("compare (steady-state, 5 groups)", |bench| bench.iter(|| black_box(gate.compare(b, r, &phase))));
    c.bench_function("compare + rego evaluate (shipped policies)", |bench| {
        bench.iter(|| black_box(gate.judge(&case).map(|v| v.outcome).ok()))
    });
    c.bench_function("load policies + compare + evaluate", |bench| {
        bench.iter(|| {
            let gate = Gate::load(&source).expect("policies");
            black_box(gate.judge(&case).map(|v| v.outcome).ok())
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
