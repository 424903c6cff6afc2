//! Full-tier tests that time the service and so need the machine to themselves: cargo runs
//! test binaries one after another, and this one runs its tests one at a time (libtest-mimic
//! with one thread). The integration binary's parallel k6 runs would otherwise be the noisy
//! neighbour these tests are about.

// The shared helpers, of which these tests use a few.
#[path = "support/mod.rs"]
#[allow(dead_code, unused_macros, unused_imports)]
mod support;

mod forward;

#[path = "history_decisions.rs"]
mod history_decisions;

use libtest_mimic::{Arguments, Trial};

fn full(name: &'static str, needs: &'static str, test: fn()) -> Trial {
    Trial::test(name, move || std::panic::catch_unwind(test).map_err(|_| format!("{name} panicked").into()))
        .with_ignored_flag(true)
        .with_kind(needs)
}

fn main() {
    let mut args = Arguments::from_args();
    args.test_threads = Some(1);
    use history_decisions as h;
    let trials = vec![
        full(
            "history_decisions::a_regression_is_judged_against_five_baseline_runs_and_an_unchanged_build_is_not",
            "k6",
            h::a_regression_is_judged_against_five_baseline_runs_and_an_unchanged_build_is_not,
        ),
        full(
            "history_decisions::a_fail_near_its_limit_is_re_run_and_the_re_run_clears_it",
            "k6",
            h::a_fail_near_its_limit_is_re_run_and_the_re_run_clears_it,
        ),
        full(
            "history_decisions::a_candidate_measured_under_cpu_pressure_is_never_blocked_as_a_regression",
            "k6+stress-ng",
            h::a_candidate_measured_under_cpu_pressure_is_never_blocked_as_a_regression,
        ),
    ];
    libtest_mimic::run(&args, trials).exit();
}
