//! How often the gate is wrong: PASS/WARN/FAIL rates of the shipped policies over many
//! evaluations, on synthetic histories with a known noise between runs and, when
//! `scripts/aa-runs.sh` made them, on real k6 A/A runs of the demo shop.
//!
//!     cargo bench --bench decisions
//!
//! Each condition generates a pool of runs once (`tests/support/synthetic.rs`: real
//! aggregation and summaries) and draws evaluations from it: a candidate, and five (or ten,
//! or one) baseline runs picked at random among the other clean runs, judged by `Gate::judge` with
//! the shipped `policies/`. A/A candidates are clean runs; regressed candidates come from
//! pools of runs 20 % slower on every endpoint or on checkout only, each with its own draw of
//! the between-run noise. A confirmation re-run, where counted, is a fresh run of the same
//! kind judged together with the candidate when its first verdict was not PASS (a WARN
//! included, so a re-run can turn a WARN into a FAIL).
//!
//! Then a diagnosis: which results warned or failed on A/A evaluations, and what alternative
//! budget rules (recomputed from each verdict's comparisons, the current rule first as a
//! check against Rego) would have decided.
//!
//! Environment: `DECISIONS_EVALS` (A/A evaluations per condition and number of baselines,
//! default 800; regressed: half; against one baseline: a quarter), `DECISIONS_POOL` (clean
//! runs per condition, default 120; regressed pools: half), `K6GATE_AA_DIR` (the real runs, default `target/aa-runs`), `DECISIONS_REAL_MAX`
//! (evaluations per kind on the real runs, default 1500), `DECISIONS_SYNTHETIC=0` (the real
//! runs only).

#[path = "../tests/support/synthetic.rs"]
mod synthetic;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use k6gate::RunSummary;
use k6gate::compare::{Between, Metric, MetricComparison, Scale, State};
use k6gate::gate::{Gate, PolicySource};
use k6gate::github::approval::Mode;
use k6gate::policy::verdict::{RuleKind, Status, Verdict};
use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};
use statrs::distribution::{ContinuousCDF, Normal};
use synthetic::{Regression, Spec};

const NOW_NS: i64 = 1_795_900_000_000_000_000;
const REGRESSION: f64 = 0.20;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

// ------------------------------------------------------------------------------------------
// Evaluations

/// Which runs a candidate is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Clean,
    All,
    Checkout,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Clean, Kind::All, Kind::Checkout];
}

/// The runs of one condition, by kind.
struct Pools {
    test: String,
    environment: String,
    runs: BTreeMap<Kind, Vec<RunSummary>>,
}

/// One budget result of a verdict, with what the rule saw.
#[derive(Debug, Clone)]
struct Check {
    id: String,
    status: Status,
    allowed: f64,
    comparison: Option<MetricComparison>,
}

/// One evaluation: its outcome, the worst status of every result that is not a budget, the
/// budget results, and the same candidate judged with a confirmation re-run (made whenever
/// some rule could ask for one: the verdict is not PASS or a change is over budget).
#[derive(Debug, Clone)]
struct Eval {
    outcome: Status,
    rerun: Option<Box<Eval>>,
    others: Status,
    checks: Vec<Check>,
    not_passing: Vec<(String, Status)>,
}

struct Judge<'g> {
    gate: &'g Gate,
    rng: TestRng,
}

impl Judge<'_> {
    fn verdict(
        &self,
        pools: &Pools,
        candidate: &RunSummary,
        confirmations: &[&RunSummary],
        baselines: &[&RunSummary],
    ) -> Verdict {
        synthetic::judge(self.gate, (&pools.test, &pools.environment, NOW_NS), candidate, confirmations, baselines)
    }

    /// `k` distinct indices below `n`, none of them in `not`.
    fn pick(&mut self, n: usize, k: usize, not: &[usize]) -> Vec<usize> {
        let mut out = Vec::with_capacity(k);
        while out.len() < k {
            let i = self.rng.random_range(0..n);
            if !not.contains(&i) && !out.contains(&i) {
                out.push(i);
            }
        }
        out
    }

    /// One evaluation of a `kind` candidate against `baselines` clean runs.
    fn once(&mut self, pools: &Pools, kind: Kind, baselines: usize) -> Eval {
        let clean = &pools.runs[&Kind::Clean];
        let own = &pools.runs[&kind];
        let c = self.rng.random_range(0..own.len());
        let not = if kind == Kind::Clean { vec![c] } else { Vec::new() };
        let b = self.pick(clean.len(), baselines, &not);
        self.evaluate(pools, kind, c, &b)
    }

    /// Candidate `c` of `kind` against the clean runs `b`.
    fn evaluate(&mut self, pools: &Pools, kind: Kind, c: usize, b: &[usize]) -> Eval {
        let clean = &pools.runs[&Kind::Clean];
        let own = &pools.runs[&kind];
        let base: Vec<&RunSummary> = b.iter().map(|i| &clean[*i]).collect();
        let verdict = self.verdict(pools, &own[c], &[], &base);
        let mut eval = record(&verdict);
        let over = eval.checks.iter().any(|c| c.comparison.as_ref().and_then(worsening).is_some_and(|w| w > c.allowed));
        if eval.outcome != Status::Pass || over {
            // A fresh run of the same build: never the candidate, never a baseline.
            let mut not = vec![c];
            if kind == Kind::Clean {
                not.extend(b);
            }
            if own.len() > not.len() {
                let r = self.pick(own.len(), 1, &not)[0];
                eval.rerun = Some(Box::new(record(&self.verdict(pools, &own[c], &[&own[r]], &base))));
            }
        }
        eval
    }
}

fn record(verdict: &Verdict) -> Eval {
    let mut others = Status::Pass;
    let mut checks = Vec::new();
    for r in &verdict.results {
        if r.kind == RuleKind::Budget {
            let allowed = r.budget.unwrap_or(f64::INFINITY);
            checks.push(Check { id: r.id.clone(), status: r.status, allowed, comparison: r.comparison.clone() });
        } else {
            others = worst(others, r.status);
        }
    }
    let not_passing =
        verdict.results.iter().filter(|r| r.status != Status::Pass).map(|r| (r.id.clone(), r.status)).collect();
    Eval { outcome: verdict.outcome, rerun: None, others, checks, not_passing }
}

fn worst(a: Status, b: Status) -> Status {
    a.max(b)
}

// ------------------------------------------------------------------------------------------
// Alternative budget rules, recomputed from the comparisons (the shipped significance data:
// alpha 0.01, warn_alpha 0.1, noise_floor 0.05).

const ALPHA: f64 = 0.01;
const WARN_ALPHA: f64 = 0.1;
const NOISE_FLOOR: f64 = 0.05;

#[derive(Debug, Clone, Copy)]
struct Rule {
    name: &'static str,
    /// Between-run p-value below which a significant change over budget fails / warns.
    alpha: f64,
    warn_alpha: f64,
    /// Divide both by the number of budget checks of the verdict (Bonferroni).
    per_verdict: bool,
    /// A warn needs the change to be significant within the run too.
    warn_needs_within: bool,
    /// No P99 budget on endpoint groups (only on all requests).
    p99_total_only: bool,
    /// The within-run noise floor on the CI bound.
    noise_floor: f64,
    /// When the within-run floor, not the baseline runs, set the between-run noise, test
    /// with the normal distribution: the floor comes from hundreds of windows, not from
    /// the runs' few degrees of freedom.
    z_when_floored: bool,
    /// Halve the between-run p-value: a budget only asks whether the change is a worsening,
    /// so the test is one-sided (the change is over budget, hence in the worse direction).
    one_sided: bool,
}

/// The shipped rule. Its endpoint-group P99s under `p99_min_requests` are not in the verdict
/// at all, so no rule here can bring them back.
const CURRENT: Rule = Rule {
    name: "current (shipped policies)",
    alpha: ALPHA,
    warn_alpha: WARN_ALPHA,
    per_verdict: false,
    warn_needs_within: true,
    p99_total_only: false,
    noise_floor: NOISE_FLOOR,
    z_when_floored: false,
    one_sided: false,
};

fn rules() -> Vec<Rule> {
    vec![
        CURRENT,
        Rule { name: "warn on a between-run hint alone (the rule before)", warn_needs_within: false, ..CURRENT },
        Rule { name: "P99 budget on all requests only", p99_total_only: true, ..CURRENT },
        Rule { name: "between-run alphas / number of budget checks", per_verdict: true, ..CURRENT },
        Rule { name: "warn_alpha 0.02", warn_alpha: 0.02, ..CURRENT },
        Rule {
            name: "warn within-significant + P99 on all only",
            warn_needs_within: true,
            p99_total_only: true,
            ..CURRENT
        },
        Rule { name: "normal instead of t when the within-run floor sets the noise", z_when_floored: true, ..CURRENT },
        Rule {
            name: "warn within-significant + normal when floored",
            warn_needs_within: true,
            z_when_floored: true,
            ..CURRENT
        },
        Rule { name: "one-sided between-run test", one_sided: true, ..CURRENT },
        Rule { name: "one-sided + normal when floored", one_sided: true, z_when_floored: true, ..CURRENT },
        Rule { name: "fail at between-run p < 0.05", alpha: 0.05, ..CURRENT },
        Rule {
            name: "fail at p < 0.05, warn within-significant, P99 all only",
            alpha: 0.05,
            warn_needs_within: true,
            p99_total_only: true,
            ..CURRENT
        },
    ]
}

fn worsening(c: &MetricComparison) -> Option<f64> {
    match c.metric {
        Metric::ErrorRate => c.abs_change,
        Metric::RequestsPerS => c.rel_change.map(|r| -r),
        _ => c.rel_change,
    }
}

fn significant(c: &MetricComparison, floor: f64) -> bool {
    let Some(p) = c.p_value else { return false };
    let bound = match c.metric {
        Metric::RequestsPerS => c.ci_high.map(|h| -h),
        _ => c.ci_low,
    };
    let floor = if c.metric == Metric::ErrorRate { 0.0 } else { floor };
    p < ALPHA && bound.is_some_and(|b| b > floor)
}

fn rule_status(check: &Check, rule: &Rule, checks: usize) -> Status {
    let Some(c) = &check.comparison else { return check.status };
    if c.state != State::Ok {
        return check.status;
    }
    if rule.p99_total_only && c.metric == Metric::P99Ms && c.group != "all" {
        return Status::Pass;
    }
    let Some(w) = worsening(c) else { return check.status };
    if w <= check.allowed {
        return Status::Pass;
    }
    let divide = if rule.per_verdict { checks.max(1) as f64 } else { 1.0 };
    let sig = significant(c, rule.noise_floor);
    let between = c
        .between
        .as_ref()
        .and_then(|b| if rule.z_when_floored { normal_if_floored(b) } else { b.p_value })
        .map(|p| if rule.one_sided { p / 2.0 } else { p });
    match between {
        None if sig => Status::Fail,
        None => Status::Warn,
        Some(p) if sig && p < rule.alpha / divide => Status::Fail,
        Some(p) if p < rule.warn_alpha / divide && (sig || !rule.warn_needs_within) => Status::Warn,
        Some(_) => Status::Pass,
    }
}

/// The between-run p-value, from the normal distribution when the floor set the noise.
fn normal_if_floored(b: &Between) -> Option<f64> {
    let floored = b.note.as_deref().is_some_and(|n| n.contains("within-run error is used"));
    if !floored {
        return b.p_value;
    }
    let scale =
        |v: &[f64]| -> Vec<f64> { if b.scale == Scale::Log { v.iter().map(|x| x.ln()).collect() } else { v.to_vec() } };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let (base, cand) = (scale(&b.baseline_values), scale(&b.candidate_values));
    let (n, m) = (base.len() as f64, cand.len() as f64);
    let se = b.noise? * (1.0 / n + 1.0 / m).sqrt();
    if se <= 0.0 {
        return b.p_value;
    }
    let z = (mean(&cand) - mean(&base)) / se;
    Some(2.0 * (1.0 - Normal::standard().cdf(z.abs())))
}

fn rule_outcome(eval: &Eval, rule: &Rule) -> Status {
    let n = eval.checks.iter().filter(|c| c.comparison.as_ref().is_some_and(|c| c.state == State::Ok)).count();
    eval.checks.iter().fold(eval.others, |s, c| worst(s, rule_status(c, rule, n)))
}

// ------------------------------------------------------------------------------------------
// Tallies and tables

#[derive(Debug, Default, Clone)]
struct Tally {
    n: usize,
    pass: usize,
    warn: usize,
    fail: usize,
    confirmed_fail: usize,
}

impl Tally {
    fn of(evals: &[Eval], outcome: impl Fn(&Eval) -> Status) -> Tally {
        let mut t = Tally { n: evals.len(), ..Tally::default() };
        for e in evals {
            match outcome(e) {
                Status::Pass => t.pass += 1,
                Status::Warn => t.warn += 1,
                // Synthetic runs have no load-generator readings: never inconclusive here.
                Status::Fail | Status::Inconclusive => t.fail += 1,
            }
            t.confirmed_fail += usize::from(confirmed(e, &outcome) == Status::Fail);
        }
        t
    }
}

/// The outcome after a confirmation re-run: a verdict that is not PASS is replaced by the
/// verdict on the candidate and one fresh run of the same build, judged together.
fn confirmed(e: &Eval, outcome: &impl Fn(&Eval) -> Status) -> Status {
    match (outcome(e), &e.rerun) {
        (Status::Pass, _) => Status::Pass,
        (_, Some(rerun)) => outcome(rerun),
        (first, None) => first,
    }
}

/// "3.2 % (2.2–4.5)": a rate with its Wilson 95 % interval.
fn rate(k: usize, n: usize) -> String {
    if n == 0 {
        return "–".into();
    }
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z = 1.96f64;
    let centre = (p + z * z / (2.0 * n)) / (1.0 + z * z / n);
    let half = z * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt() / (1.0 + z * z / n);
    format!("{:.1} % ({:.1}–{:.1})", p * 100.0, (centre - half).max(0.0) * 100.0, (centre + half).min(1.0) * 100.0)
}

fn short(k: usize, n: usize) -> String {
    if n == 0 { "–".into() } else { format!("{:.1} %", k as f64 * 100.0 / n as f64) }
}

/// The evaluations of one condition, by (kind, number of baselines).
type Results = BTreeMap<(Kind, usize), Vec<Eval>>;

fn main_table(rows: &[(String, Results)]) {
    println!(
        "| condition | baselines | A/A PASS | A/A WARN | A/A FAIL (false block) | A/A FAIL after 1 re-run | +20 % all: FAIL (detected) | +20 % all: FAIL after 1 re-run | +20 % checkout: FAIL | +20 % checkout: WARN | +20 % checkout: FAIL after 1 re-run |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for (label, results) in rows {
        let mut keys: Vec<usize> = results.keys().map(|(_, b)| *b).collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.dedup();
        for b in keys {
            let t = |k: Kind| results.get(&(k, b)).map(|e| Tally::of(e, |e| e.outcome)).unwrap_or_default();
            let (aa, all, co) = (t(Kind::Clean), t(Kind::All), t(Kind::Checkout));
            println!(
                "| {label} | {b} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                short(aa.pass, aa.n),
                rate(aa.warn, aa.n),
                rate(aa.fail, aa.n),
                short(aa.confirmed_fail, aa.n),
                rate(all.fail, all.n),
                short(all.confirmed_fail, all.n),
                rate(co.fail, co.n),
                short(co.warn, co.n),
                short(co.confirmed_fail, co.n),
            );
        }
    }
}

fn breakdown(rows: &[(String, Results)]) {
    println!("\nA/A evaluations (5 baselines): the results that did not pass, most frequent first");
    println!("| condition | result id: WARN / FAIL (share of evaluations) |");
    println!("|---|---|");
    for (label, results) in rows {
        let Some(evals) = results.get(&(Kind::Clean, 5)) else { continue };
        let mut by: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for e in evals {
            for (id, s) in &e.not_passing {
                let slot = by.entry(id.as_str()).or_default();
                if *s == Status::Fail {
                    slot.1 += 1;
                } else {
                    slot.0 += 1;
                }
            }
        }
        let mut list: Vec<(&str, (usize, usize))> = by.into_iter().collect();
        list.sort_by_key(|(_, (w, f))| std::cmp::Reverse(w + f));
        let text: Vec<String> = list
            .iter()
            .take(8)
            .map(|(id, (w, f))| format!("`{id}` {} / {}", short(*w, evals.len()), short(*f, evals.len())))
            .collect();
        println!("| {label} | {} |", if text.is_empty() { "none".into() } else { text.join(", ") });
    }
}

/// Why regressed candidates (5 baselines) were not blocked, read off the P95 check of the
/// regressed group: under budget, not significant within the run, or inside the between-run
/// spread (p >= alpha).
fn misses(rows: &[(String, Results)]) {
    println!("\nRegressed candidates (5 baselines) that did not FAIL, by the P95 check of the regressed group");
    println!(
        "| condition | candidates | group | not FAIL | P95 change under budget | not significant within the run | between-run p >= 0.01 | median between-run p |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (label, results) in rows {
        for (kind, id) in [(Kind::All, "budget/all/p95_ms"), (Kind::Checkout, "budget/POST checkout/p95_ms")] {
            let Some(evals) = results.get(&(kind, 5)) else { continue };
            let (mut missed, mut under, mut within, mut between) = (0, 0, 0, 0);
            let mut ps: Vec<f64> = Vec::new();
            for e in evals.iter().filter(|e| e.outcome != Status::Fail) {
                missed += 1;
                let Some(c) = e.checks.iter().find(|c| c.id == id).and_then(|c| c.comparison.as_ref()) else {
                    continue;
                };
                let allowed = e.checks.iter().find(|c| c.id == id).map_or(f64::INFINITY, |c| c.allowed);
                let p = c.between.as_ref().and_then(|b| b.p_value);
                ps.extend(p);
                if worsening(c).is_none_or(|w| w <= allowed) {
                    under += 1;
                } else if !significant(c, NOISE_FLOOR) {
                    within += 1;
                } else if p.is_none_or(|p| p >= ALPHA) {
                    between += 1;
                }
            }
            ps.sort_by(f64::total_cmp);
            let median = ps.get(ps.len() / 2).map_or("–".into(), |p| format!("{p:.3}"));
            let name = if kind == Kind::All { "+20 % all" } else { "+20 % checkout" };
            println!(
                "| {label} | {name} | `{id}` | {} | {} | {} | {} | {median} |",
                short(missed, evals.len()),
                short(under, evals.len()),
                short(within, evals.len()),
                short(between, evals.len())
            );
        }
    }
}

fn alternatives(rows: &[(String, Results)]) {
    println!("\nAlternative budget rules, recomputed from the same evaluations and re-runs");
    println!(
        "| rule | condition | baselines | A/A WARN | A/A FAIL | A/A FAIL after 1 re-run | +20 % all: FAIL | +20 % all: FAIL after 1 re-run | +20 % checkout: FAIL | +20 % checkout: WARN |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for rule in rules() {
        for (label, results) in rows {
            for baselines in [5, 10] {
                let t = |k: Kind| {
                    results.get(&(k, baselines)).map(|e| Tally::of(e, |e| rule_outcome(e, &rule))).unwrap_or_default()
                };
                let (aa, all, co) = (t(Kind::Clean), t(Kind::All), t(Kind::Checkout));
                if aa.n == 0 {
                    continue;
                }
                println!(
                    "| {} | {label} | {baselines} | {} | {} | {} | {} | {} | {} | {} |",
                    rule.name,
                    short(aa.warn, aa.n),
                    short(aa.fail, aa.n),
                    short(aa.confirmed_fail, aa.n),
                    short(all.fail, all.n),
                    short(all.confirmed_fail, all.n),
                    short(co.fail, co.n),
                    short(co.warn, co.n)
                );
            }
        }
    }
    // The current rule recomputed must agree with Rego, or the alternatives mean nothing.
    let (mut same, mut total) = (0, 0);
    for (_, results) in rows {
        for e in results.values().flatten() {
            total += 1;
            same += usize::from(rule_outcome(e, &CURRENT) == e.outcome);
        }
    }
    println!("\nThe current rule recomputed in Rust agrees with the Rego verdict on {same} of {total} evaluations.");
}

// ------------------------------------------------------------------------------------------
// Synthetic conditions

struct Condition {
    label: String,
    between_sd: f64,
    error_rate: f64,
}

fn synthetic_pools(c: &Condition, index: u64, pool: usize) -> Pools {
    let spec = Spec::default().between_sd(c.between_sd).error_rate(c.error_rate);
    let mut runs = BTreeMap::new();
    for (k, kind) in Kind::ALL.into_iter().enumerate() {
        let (n, regression) = match kind {
            Kind::Clean => (pool, Regression::None),
            Kind::All => (pool / 2, Regression::All(REGRESSION)),
            Kind::Checkout => (pool / 2, Regression::Endpoint("checkout", REGRESSION)),
        };
        let seed = |i: usize| index * 1_000_000 + k as u64 * 100_000 + i as u64;
        runs.insert(kind, (0..n).map(|i| spec.clone().regression(regression).seed(seed(i)).run()).collect());
    }
    Pools { test: spec.test.into(), environment: spec.environment.into(), runs }
}

fn conditions() -> Vec<Condition> {
    let mut out: Vec<Condition> = [0.0, 0.02, 0.04, 0.06]
        .into_iter()
        .map(|sd| Condition { label: format!("between-run sd {:.0} %", sd * 100.0), between_sd: sd, error_rate: 0.0 })
        .collect();
    out.push(Condition { label: "between-run sd 2 %, 0.5 % errors".into(), between_sd: 0.02, error_rate: 0.005 });
    out
}

fn print_synthetic_conditions(evals: usize, pool: usize) {
    let spec = Spec::default();
    println!("## Synthetic histories (tests/support/synthetic.rs)\n");
    println!(
        "Each run: open model, {} s ramp-up, {} s at {} requests/s, {} s ramp-down; one request per iteration, endpoint drawn per request:",
        spec.ramp_up_s, spec.sustained_s, spec.rate, spec.ramp_down_s
    );
    for e in &spec.endpoints {
        println!(
            "- {} {} {:.0} %: log-normal latency, median {} ms, sigma {} (within-run spread)",
            e.method,
            e.name,
            e.share * 100.0,
            e.median_ms,
            e.sigma
        );
    }
    println!(
        "Between-run noise: one log-normal latency multiplier per run (sd of its log as given). Per condition: a pool of {pool} clean runs and {} runs of each regression (+{:.0} %, with their own between-run draw); {evals} A/A evaluations and {} of each regression against 5 baselines, as many against 10 and a quarter against 1; every one a candidate against baselines drawn at random from the other clean runs, judged by Gate::judge with the shipped policies/, steady-state phase. \"after 1 re-run\": a verdict that is not PASS judged again with one fresh run of the same build as a confirmation re-run.\n",
        pool / 2,
        REGRESSION * 100.0,
        evals / 2
    );
}

// ------------------------------------------------------------------------------------------
// Real k6 runs (scripts/aa-runs.sh)

fn real_pools(dir: &Path) -> Option<Pools> {
    let read = |prefix: &str| -> Vec<RunSummary> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                name.starts_with(prefix) && name.ends_with(".summary.json")
            })
            .collect();
        files.sort();
        files
            .iter()
            .map(|f| {
                let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", f.display()))
            })
            .collect()
    };
    let clean = read("clean-");
    if clean.len() < 6 {
        return None;
    }
    let test = clean[0].metadata.test_name.clone().unwrap_or_default();
    let environment = clean[0].metadata.environment.clone().unwrap_or_default();
    let mut runs = BTreeMap::new();
    runs.insert(Kind::Clean, clean);
    runs.insert(Kind::Checkout, read("checkout20-"));
    runs.insert(Kind::All, read("all20-"));
    Some(Pools { test, environment, runs })
}

/// Every `k`-subset of `0..n` without `not`, in order.
fn subsets(n: usize, k: usize, not: &[usize]) -> Vec<Vec<usize>> {
    let items: Vec<usize> = (0..n).filter(|i| !not.contains(i)).collect();
    let mut out = Vec::new();
    let mut idx: Vec<usize> = (0..k).collect();
    if k > items.len() {
        return out;
    }
    loop {
        out.push(idx.iter().map(|i| items[*i]).collect());
        let Some(pos) = (0..k).rev().find(|&p| idx[p] != p + items.len() - k) else { break };
        idx[pos] += 1;
        for j in pos + 1..k {
            idx[j] = idx[j - 1] + 1;
        }
    }
    out
}

/// Every candidate against every `baselines`-subset of the other clean runs (or, past `max`
/// per kind, a random sample of them).
fn real_evaluations(judge: &mut Judge<'_>, pools: &Pools, baselines: usize, max: usize) -> Results {
    let mut out = Results::new();
    let clean = pools.runs[&Kind::Clean].len();
    for kind in Kind::ALL {
        let n = pools.runs[&kind].len();
        let mut all: Vec<(usize, Vec<usize>)> = Vec::new();
        for c in 0..n {
            let not = if kind == Kind::Clean { vec![c] } else { Vec::new() };
            all.extend(subsets(clean, baselines, &not).into_iter().map(|b| (c, b)));
        }
        while all.len() > max {
            let i = judge.rng.random_range(0..all.len());
            all.swap_remove(i);
        }
        let evals = all.iter().map(|(c, b)| judge.evaluate(pools, kind, *c, b)).collect();
        out.insert((kind, baselines), evals);
    }
    out
}

fn describe_real(pools: &Pools, dir: &Path) {
    println!("\n## Real k6 runs of the demo shop ({})\n", dir.display());
    let n = |k: Kind| pools.runs[&k].len();
    println!(
        "{} clean runs, {} with checkout 20 % slower (--regression 0.2), {} with every endpoint 20 % slower (--latency-scale 1.2); test {:?}, environment {:?}.",
        n(Kind::Clean),
        n(Kind::Checkout),
        n(Kind::All),
        pools.test,
        pools.environment
    );
    let clean = &pools.runs[&Kind::Clean];
    let p95: Vec<String> = clean
        .iter()
        .filter_map(|r| r.phase("steady-state").and_then(|p| p.total.latency_ms.as_ref()).and_then(|l| l.p95))
        .map(|v| format!("{v:.1}"))
        .collect();
    println!("Clean runs' steady-state P95 (ms): {}", p95.join(", "));
    let logs: Vec<f64> = clean
        .iter()
        .filter_map(|r| r.phase("steady-state").and_then(|p| p.total.latency_ms.as_ref()).and_then(|l| l.p95))
        .map(f64::ln)
        .collect();
    if logs.len() > 1 {
        let m = logs.iter().sum::<f64>() / logs.len() as f64;
        let sd = (logs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (logs.len() - 1) as f64).sqrt();
        println!("Run-to-run sd of log P95 (all requests): {:.1} %\n", sd * 100.0);
    }
}

fn main() {
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let gate = Gate::load(&PolicySource::new(root.join("policies"), Mode::Trust)).expect("the shipped policies load");
    let evals = env_usize("DECISIONS_EVALS", 800);
    let pool = env_usize("DECISIONS_POOL", 120);
    let mut judge = Judge { gate: &gate, rng: TestRng::from_seed(RngAlgorithm::XorShift, b"k6gate-decisions") };

    let synthetic = std::env::var("DECISIONS_SYNTHETIC").map_or(true, |v| v != "0");
    if synthetic {
        print_synthetic_conditions(evals, pool);
    }
    let mut rows: Vec<(String, Results)> = Vec::new();
    for (i, c) in conditions().iter().enumerate().filter(|_| synthetic) {
        let t = Instant::now();
        let pools = synthetic_pools(c, i as u64 + 1, pool);
        let generated = t.elapsed();
        let mut results = Results::new();
        for kind in Kind::ALL {
            let n = if kind == Kind::Clean { evals } else { evals / 2 };
            results.insert((kind, 5), (0..n).map(|_| judge.once(&pools, kind, 5)).collect());
            if c.error_rate == 0.0 {
                for (baselines, n) in [(10, n), (1, n / 4)] {
                    results.insert((kind, baselines), (0..n).map(|_| judge.once(&pools, kind, baselines)).collect());
                }
            }
        }
        eprintln!("{}: runs generated in {generated:.1?}, evaluated in {:.1?}", c.label, t.elapsed() - generated);
        rows.push((c.label.clone(), results));
    }
    if synthetic {
        main_table(&rows);
        breakdown(&rows);
        misses(&rows);
        alternatives(&rows);
    }

    let dir = std::env::var_os("K6GATE_AA_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target/aa-runs"));
    match real_pools(&dir) {
        None => println!(
            "\n(No real runs in {}: `scripts/aa-runs.sh {}` makes them, about 12 minutes of k6.)",
            dir.display(),
            dir.display()
        ),
        Some(pools) => {
            describe_real(&pools, &dir);
            let max = env_usize("DECISIONS_REAL_MAX", 1500);
            let mut results = real_evaluations(&mut judge, &pools, 5, max);
            results.extend(real_evaluations(&mut judge, &pools, 10, max));
            results.extend(real_evaluations(&mut judge, &pools, 1, max));
            let rows = vec![("real k6 runs".to_string(), results)];
            main_table(&rows);
            breakdown(&rows);
            misses(&rows);
            alternatives(&rows);
        }
    }
    eprintln!("decisions bench: {:.0?}", started.elapsed());
}
