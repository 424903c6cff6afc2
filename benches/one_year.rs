//! The one-year simulation (issue 13): `bench/one-year.sh` runs it in a release build and
//! prints the numbers the README quotes. See `tests/support/one_year.rs` for what it does.
//!
//! `cargo bench --bench one_year -- [--scale S] [--weeks N] [--tests N] [--prune-every-days N] [--dir DIR] [--measure-only]`

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

#[path = "../tests/support/one_year.rs"]
mod one_year;

use std::path::{Path, PathBuf};

/// The repository root (what `tests/support::root` is to the tests).
fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let scale: f64 = value("--scale").and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let dir = value("--dir").map(PathBuf::from).unwrap_or_else(|| root().join("target/one-year"));
    std::fs::create_dir_all(&dir).expect("the simulation's directory");
    let mut cfg = one_year::Config::year(&dir, scale);
    if let Some(w) = value("--weeks").and_then(|s| s.parse().ok()) {
        cfg.weeks = w;
    }
    if let Some(t) = value("--tests").and_then(|s| s.parse().ok()) {
        cfg.tests = t;
    }
    if let Some(d) = value("--prune-every-days").and_then(|s| s.parse().ok()) {
        cfg.prune_every_days = d;
    }
    eprintln!(
        "simulating {} week(s) x {} deployment(s) x {} test(s) in {}",
        cfg.weeks,
        cfg.deployments_per_week,
        cfg.tests,
        dir.display()
    );
    if args.iter().any(|a| a == "--measure-only") {
        // The store a simulation left: measure it again without simulating.
        let mut report = one_year::Report::default();
        one_year::measure(&cfg, &dir.join("history.db"), &mut report, |_| f64::NAN);
        println!("{}", one_year::render(&cfg, &report));
        return;
    }
    let started = std::time::Instant::now();
    let report = one_year::simulate(&cfg, |week, r| {
        if week % 4 == 0 {
            eprintln!("  week {week}: {} runs, {:.0} s", r.runs, started.elapsed().as_secs_f64());
        }
    });
    println!("{}", one_year::render(&cfg, &report));
    println!("  wall time: {:.0} s", started.elapsed().as_secs_f64());
}
