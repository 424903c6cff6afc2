//! `k6gate demo`: the main job end to end on this machine, narrated.

use std::io::IsTerminal;
use std::path::Path;

use super::{DemoArgs, Settings};
use crate::clock::now_ns;
use crate::error::{Error, Exit, Result, Service};
use crate::gate::{Baseline, Case, Gate, PolicySource, Side};
use crate::history::{Outcome, RunFilter, RunStore};
use crate::load::open_history;
use crate::run::{BaselineSource, RunOptions, execute, k6};
use crate::time::format_rfc3339_ms;
use k6gate_shop::TargetArgs;

const REGRESSION: f64 = 0.3;

/// A numbered heading; bold only on a terminal, and never with `NO_COLOR` set.
fn step(n: u32, text: &str, s: &Settings) {
    let bold = std::io::stdout().is_terminal() && s.env.get("NO_COLOR").is_none();
    match bold {
        true => println!("\n\x1b[1m== {n}. {text}\x1b[0m"),
        false => println!("\n== {n}. {text}"),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |source| Error::Output { path: path.to_path_buf(), source }
}

fn shop(action: &str) -> impl FnOnce(k6gate_shop::Error) -> Error + '_ {
    move |e| Error::service(Service::DemoShop, action, e)
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to).map_err(io(to))?;
    for entry in std::fs::read_dir(from).map_err(io(from))? {
        let entry = entry.map_err(io(from))?;
        let dest = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &dest)?;
        } else {
            std::fs::copy(entry.path(), &dest).map_err(io(&dest))?;
        }
    }
    Ok(())
}

fn start_target(db: &Path, regression: f64) -> Result<k6gate_shop::Running> {
    let args = TargetArgs::try_from_args(["--db", &db.display().to_string(), "--regression", &regression.to_string()])
        .map_err(|e| Error::Usage(format!("demo shop arguments: {e}")))?;
    k6gate_shop::spawn(&args).map_err(shop("starting"))
}

pub fn run(args: &DemoArgs, s: &Settings) -> Result<Exit> {
    if !k6::available() {
        return Err(Error::K6 { message: k6::INSTALL_HINT.into(), source: None });
    }
    let dir = &args.dir;
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io(dir))?;
    }
    let policies = dir.join("policies");
    copy_dir(Path::new("policies"), &policies)?;
    let db = dir.join("shop.db");
    let started = std::time::Instant::now();

    step(1, "Start the demo shop (login, products, cart, checkout on SQLite; payment provider simulated)", s);
    let target = start_target(&db, 0.0)?;
    let base_url = format!("http://127.0.0.1:{}", target.port());
    println!("shop listening on {base_url}");

    // The demo's window is written by the demo itself, not merged through a PR: it is
    // trusted here, and the verdict says so. `run` verifies by default.
    let policy = PolicySource::new(&policies, crate::github::approval::Mode::Trust);
    let opts = |version: &str| RunOptions {
        confirm: Some(0),
        in_ci: false,
        test: "checkout".into(),
        environment: "dev".into(),
        sets: vec![format!("base_url={base_url}")],
        vars: s.env.k6gate(),
        deployment_version: version.into(),
        git_commit: s.git_commit().unwrap_or_else(|| "demo".into()),
        git_branch: Some("main".into()),
        default_branch: "main".into(),
        baseline: BaselineSource::Auto,
        previous: None,
        templates_dir: "k6-templates".into(),
        environments_dir: "environments".into(),
        policy: policy.clone(),
        state_dir: dir.clone(),
        remote_history: None,
        // The demo starts from an empty history: its first run is the baseline.
        bootstrap: true,
        lock: Default::default(),
        phase: Default::default(),
        quiet_k6: true,
        remote_write: None,
        outputs: Default::default(),
        who: s.who(),
        now_ns: now_ns(),
        caveat: None,
        guard: Default::default(),
    };

    step(2, "Run the checkout test in dev for v1.0.0 (k6: warm-up 3 s, ramp-up 4 s, sustained 20 s, ramp-down 3 s)", s);
    let first = execute(&opts("v1.0.0"))?;
    report_run(&first);
    if first.outcome != Outcome::Pass && first.outcome != Outcome::Warn {
        return Err(Error::RunFailed {
            run_id: first.run_id,
            reason: format!(
                "the first demo run did not pass ({}): {}",
                first.outcome,
                first.problem.as_deref().unwrap_or("see its verdict")
            ),
        });
    }

    step(
        3,
        &format!("Deploy v1.1.0 with a {:.0} % slower checkout path, and run the same test", REGRESSION * 100.0),
        s,
    );
    target.stop().map_err(shop("stopping"))?;
    let target = start_target(&db, REGRESSION)?;
    let mut second_opts = opts("v1.1.0");
    second_opts.sets = vec![format!("base_url=http://127.0.0.1:{}", target.port())];
    let second = execute(&second_opts)?;
    target.stop().map_err(shop("stopping"))?;
    report_run(&second);
    let (Some(verdict), Some(candidate), Some(baseline)) = (&second.verdict, &second.summary, &first.summary) else {
        return Err(Error::RunFailed {
            run_id: second.run_id,
            reason: second.problem.unwrap_or_else(|| "the second demo run has no verdict".into()),
        });
    };
    println!("\nSide by side ({} phase):", verdict.phase);
    println!("{}", crate::report::verdict::comparison_text(&verdict.comparison));
    println!("Verdict (deployment {}):", if second.outcome == Outcome::Fail { "BLOCKED" } else { "not blocked" });
    println!("{}", crate::report::verdict::text(verdict));
    let links = crate::report::Links { run_id: Some(second.run_id.clone()), ..Default::default() };
    let check = crate::github::report::Report::from_verdict(verdict, links);
    println!(
        "On a pull request (`k6gate run --report github`), the check run \"{}\" concludes {}: {}",
        check.check_name(),
        check.conclusion.name(),
        check.title
    );

    step(4, "A migration window for the checkout refactor: time-boxed, with an owner, a ceiling and a ratchet", s);
    let now = now_ns();
    let day = 86_400_000_000_000i64;
    let window = format!(
        "# Added by `k6gate demo`: in a real repo this file arrives through a reviewed PR.\nmigration_windows:\n  - id: MW-DEMO\n    test: checkout\n    environments: [dev]\n    metrics: [p50_ms, p95_ms, p99_ms, requests_per_s]\n    extra_regression: 0.6\n    ceiling: {{ p95_ms: 500 }}\n    owner: team-checkout\n    reason: payment provider migration, temporary extra latency on checkout\n    start: {}\n    expires: {}\n    baseline_version: v1.0.0\n",
        format_rfc3339_ms(now - day),
        format_rfc3339_ms(now + 14 * day)
    );
    let window_file = policies.join("data").join("demo-window.yaml");
    std::fs::write(&window_file, &window).map_err(io(&window_file))?;
    println!("{}", window.lines().skip(1).collect::<Vec<_>>().join("\n"));
    println!(
        "(In a repo, `run` honours this file only once it is merged through a PR approved by an allowed \
         approver who is not its author; the demo wrote it itself, so it runs with --approval trust.)"
    );
    // The same two runs, judged again by a gate that now has the window.
    let gate = Gate::load(&policy)?;
    let first_source = format!("run {}", first.run_id);
    let second_source = format!("run {}", second.run_id);
    let allowed = gate.judge(&Case {
        test: "checkout",
        environment: "dev",
        now_ns: now,
        phase: &Default::default(),
        candidate: Side { summary: candidate, source: &second_source },
        confirmations: &[],
        baseline: Baseline::Runs {
            runs: vec![Side { summary: baseline, source: &first_source }],
            reason: verdict.baseline_reason.clone(),
        },
        previous: None,
    })?;
    println!("\nThe same v1.1.0 run under the window:");
    println!("{}", crate::report::verdict::text(&allowed));

    step(5, "History and reports", s);
    let store = open_history(&crate::history::HistoryConfig::local(dir.clone()))?;
    for r in store.list_runs(&RunFilter { test: Some("checkout"), environment: Some("dev"), limit: Some(10) })? {
        println!(
            "  {}  {:<8} {:<7} {}",
            r.id,
            r.deployment_version.unwrap_or_default(),
            r.outcome.to_string(),
            r.run_dir.map(|d| d.display().to_string()).unwrap_or_default()
        );
    }
    if let Some(html) = &second.html_report {
        println!("\nHTML report of the blocked run: {}", html.display());
    }
    println!("Demo finished in {:.0} s.", started.elapsed().as_secs_f64());
    Ok(if second.outcome == Outcome::Fail && allowed.outcome != crate::policy::verdict::Status::Fail {
        Exit::Success
    } else {
        Exit::Blocked
    })
}

fn report_run(r: &crate::run::RunResult) {
    let headline = r.verdict.as_ref().map(|v| v.headline.clone()).unwrap_or_default();
    println!("run {}: {} — {headline}", r.run_id, r.outcome.to_string().to_uppercase());
    if let Some(p) = &r.problem {
        println!("  note: {p}");
    }
    if let Some(s) = &r.summary {
        if let Some(ss) = &s.steady_state {
            let l = ss.summary.total.latency_ms.as_ref();
            println!(
                "  steady state: {} requests, p95 {} ms, errors {:.2} % (warm-up trimmed: {:.1} s)",
                ss.summary.total.requests,
                l.and_then(|l| l.p95).map_or("-".into(), |v| format!("{v:.1}")),
                ss.summary.total.error_rate.unwrap_or(0.0) * 100.0,
                ss.trimmed_s
            );
        }
    }
}
