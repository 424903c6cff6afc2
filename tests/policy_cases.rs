//! Data-driven policy cases, in the style of regorus's `tests/interpreter/cases`.
//!
//! Every `tests/policy-cases/<area>/<name>.yaml` is one test named `<area>/<name>`
//! (`cargo test --test policy_cases -- waivers/` runs one area). A case states the test and
//! environment being judged, the evaluation time, the comparison the rules see (built
//! directly, not through k6), its own policy data and optionally its own Rego, and what the
//! verdict must be. The format:
//!
//! ```yaml
//! note: what the case checks
//! test: checkout
//! environment: staging
//! now: 2026-12-01T00:00:00Z
//! phase: steady-state                 # optional (default steady-state)
//! candidate: { version: v1.1.0 }      # run identity: version, test_name and environment
//! baseline: { version: v1.0.0 }       # (default: the case's), complete (true), issues ([])
//! comparisons:                        # MetricComparison entries, defaults filled in:
//!   - { metric: p95_ms, baseline: 100, candidate: 112, p_value: 0.0001, ci_low: 0.08, ci_high: 0.15 }
//!   #   group: all, state: ok, abs/rel_change from baseline/candidate, effect = the change,
//!   #   samples 60 (0 when the state is not ok)
//!   between: { runs: 5, range: [-0.04, 0.06], p: 0.001 }   # optional: between-run noise
//! previous: [ ... ]                   # optional: candidate vs the previous run (ratchets)
//! baseline_runs: 5                    # optional: runs behind the baseline (default 1)
//! data:                               # inline policy data files (name -> YAML), or `shipped`
//!   slas.yaml: |
//!     sla: ...
//! policies:                           # optional inline Rego (name -> source);
//!   k6gate.rego: |                    # default: the shipped policies/*.rego minus *_test.rego
//!     package k6gate ...
//! want:
//!   outcome: fail                     # pass / warn / fail / inconclusive
//!   failing: [budget/all/p95_ms]      # exactly the results with status fail (when given)
//!   warning: []                       # exactly the results with status warn (when given)
//!   inconclusive: [load/carried]      # exactly the results with status inconclusive
//!   passing: [sla/all/p95_ms]         # these results exist and pass
//!   absent: [sla/all/p99_ms]          # no result with these ids
//!   exceptions: [{ type: waived, result: budget/all/p95_ms, by: W-1 }]   # exactly (when given)
//!   ignored: [W-2, { what: W-3, reason_contains: expired }]            # exactly (when given)
//!   message_contains: ["P95 latency rose 12.0 %"]   # each in some result or exception message
//!   headline_contains: "..."
//!   error_contains: "..."             # loading or evaluating must fail with this message
//!   error_at: waivers.yaml:9:5        # ... naming this file:line:col
//! ```
//!
//! Cases under `off-peak/` ask the guard instead (policies/guard.rego over the `guard` section
//! of the data): may a load test start against `environment` at `now`?
//!
//! ```yaml
//! note: what the case checks
//! environment: prod-sim
//! now: 2026-12-09T12:00:00Z
//! override_requested: false           # optional: `run --ignore-window`
//! data: shipped                       # or inline files, as above
//! want:
//!   allowed: false
//!   restricted: true                  # optional
//!   overridden: false                 # optional
//!   next_slot: 2026-12-09T20:00:00.000Z   # optional; `null` for none
//!   reason_contains: ["..."]          # optional
//!   error_contains: "..."             # instead of the above: loading must fail so
//!   error_at: guard.yaml:5:11
//! ```
//!
//! Besides what a case wants, every verdict must keep these invariants: result ids are
//! unique, every exception refers to a result that exists, the outcome is the worst status,
//! and the verdict serializes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use libtest_mimic::{Arguments, Failed, Trial};
use serde::Deserialize;

use k6gate::compare::{Between, Comparison, Metric, MetricComparison, RunIdentity, Scale, State};
use k6gate::policy::data;
use k6gate::policy::engine::Policies;
use k6gate::policy::verdict::{Request, Status, Verdict, evaluate};
use k6gate::summary::{LoadGenerator, LoadModel};

const CASES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/policy-cases");
const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/policies");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    note: String,
    test: String,
    environment: String,
    now: String,
    #[serde(default = "default_phase")]
    phase: String,
    #[serde(default)]
    candidate: Run,
    #[serde(default)]
    baseline: Run,
    #[serde(default)]
    comparisons: Vec<CaseMetric>,
    previous: Option<Vec<CaseMetric>>,
    /// Baseline runs behind the comparison (default 1).
    baseline_runs: Option<u32>,
    data: DataSpec,
    policies: Option<BTreeMap<String, String>>,
    want: Want,
}

fn default_phase() -> String {
    "steady-state".into()
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Run {
    version: Option<String>,
    test_name: Option<String>,
    environment: Option<String>,
    git_commit: Option<String>,
    complete: Option<bool>,
    #[serde(default)]
    issues: Vec<String>,
    load_model: Option<LoadModel>,
    load_generator: Option<LoadGenerator>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseMetric {
    #[serde(default = "all_group")]
    group: String,
    metric: Metric,
    #[serde(default = "ok_state")]
    state: State,
    reason: Option<String>,
    baseline: Option<f64>,
    candidate: Option<f64>,
    abs_change: Option<f64>,
    rel_change: Option<f64>,
    p_value: Option<f64>,
    effect: Option<f64>,
    ci_low: Option<f64>,
    ci_high: Option<f64>,
    baseline_samples: Option<u64>,
    candidate_samples: Option<u64>,
    /// The noise between runs, for multi-run baselines.
    between: Option<CaseBetween>,
}

/// `between: { runs: 5, range: [-0.04, 0.06], p: 0.001 }` (`p: null` when unknown).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseBetween {
    runs: u32,
    #[serde(default = "one")]
    candidate_runs: u32,
    range: Option<[f64; 2]>,
    noise: Option<f64>,
    p: Option<f64>,
}

fn one() -> u32 {
    1
}

fn between(b: &CaseBetween, metric: Metric) -> Between {
    Between {
        baseline_runs: b.runs,
        candidate_runs: b.candidate_runs,
        baseline_values: Vec::new(),
        candidate_values: Vec::new(),
        scale: if metric == Metric::ErrorRate { Scale::Absolute } else { Scale::Log },
        range_low: b.range.map(|r| r[0]),
        range_high: b.range.map(|r| r[1]),
        noise: b.noise,
        df: b.p.map(|_| f64::from(b.runs + b.candidate_runs - 2)),
        p_value: b.p,
        note: b.p.is_none().then(|| "between-run noise unknown: one baseline run".to_string()),
    }
}

fn all_group() -> String {
    "all".into()
}

fn ok_state() -> State {
    State::Ok
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum DataSpec {
    /// `shipped`: policies/data.
    Named(String),
    Files(BTreeMap<String, String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Want {
    outcome: Option<Status>,
    failing: Option<Vec<String>>,
    warning: Option<Vec<String>>,
    inconclusive: Option<Vec<String>>,
    #[serde(default)]
    passing: Vec<String>,
    #[serde(default)]
    absent: Vec<String>,
    exceptions: Option<Vec<WantException>>,
    ignored: Option<Vec<WantIgnored>>,
    #[serde(default)]
    message_contains: Vec<String>,
    headline_contains: Option<String>,
    error_contains: Option<String>,
    error_at: Option<String>,
}

#[derive(Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord, Clone)]
#[serde(deny_unknown_fields)]
struct WantException {
    #[serde(rename = "type")]
    kind: String,
    result: String,
    by: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum WantIgnored {
    What(String),
    Detailed { what: String, reason_contains: Option<String> },
}

impl WantIgnored {
    fn what(&self) -> &str {
        match self {
            WantIgnored::What(w) | WantIgnored::Detailed { what: w, .. } => w,
        }
    }
}

fn identity(run: &Run, case: &Case, source: &str) -> RunIdentity {
    RunIdentity {
        source: source.into(),
        test_name: Some(run.test_name.clone().unwrap_or_else(|| case.test.clone())),
        environment: Some(run.environment.clone().unwrap_or_else(|| case.environment.clone())),
        deployment_version: run.version.clone(),
        git_commit: run.git_commit.clone(),
        start: None,
        complete: run.complete.unwrap_or(true),
        issues: run.issues.clone(),
        trimmed_s: Some(30.0),
        load_model: run.load_model.clone(),
        load_generator: run.load_generator.clone(),
        series_window_s: None,
    }
}

fn metric_comparison(m: &CaseMetric) -> MetricComparison {
    let ok = m.state == State::Ok;
    let abs_change = m.abs_change.or(match (m.baseline, m.candidate) {
        (Some(b), Some(c)) => Some(c - b),
        _ => None,
    });
    let rel_change = m.rel_change.or(match (m.baseline, m.candidate) {
        (Some(b), Some(c)) if b != 0.0 => Some(c / b - 1.0),
        _ => None,
    });
    let effect = m.effect.or(if !ok {
        None
    } else if m.metric == Metric::ErrorRate {
        abs_change
    } else {
        rel_change
    });
    let samples = if !ok {
        0
    } else if m.metric == Metric::ErrorRate {
        6000
    } else {
        60
    };
    MetricComparison {
        group: m.group.clone(),
        metric: m.metric,
        state: m.state,
        reason: m.reason.clone(),
        baseline: m.baseline,
        candidate: m.candidate,
        abs_change,
        rel_change,
        p_value: m.p_value,
        effect,
        ci_low: m.ci_low,
        ci_high: m.ci_high,
        baseline_samples: m.baseline_samples.unwrap_or(samples),
        candidate_samples: m.candidate_samples.unwrap_or(samples),
        between: m.between.as_ref().map(|b| between(b, m.metric)),
    }
}

fn write(path: &Path, text: &str) -> Result<(), Failed> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()).into())
}

/// Loads the policies and data the case names and evaluates its request.
fn run_case(case: &Case) -> Result<Result<Verdict, String>, Failed> {
    let tmp = tempfile::tempdir().map_err(|e| format!("tempdir: {e}"))?;
    let data_dir = match &case.data {
        DataSpec::Named(n) if n == "shipped" => PathBuf::from(SHIPPED).join("data"),
        DataSpec::Named(n) => return Err(format!("data: {n:?}: give a map of files or `shipped`").into()),
        DataSpec::Files(files) => {
            let dir = tmp.path().join("data");
            std::fs::create_dir(&dir).map_err(|e| format!("mkdir: {e}"))?;
            for (name, text) in files {
                write(&dir.join(name), text)?;
            }
            dir
        }
    };
    let rego_dir = tmp.path().join("policies");
    std::fs::create_dir(&rego_dir).map_err(|e| format!("mkdir: {e}"))?;
    match &case.policies {
        Some(files) => {
            for (name, text) in files {
                write(&rego_dir.join(name), text)?;
            }
        }
        None => {
            // The shipped rules, without the Rego unit tests (another file's business).
            let entries = std::fs::read_dir(SHIPPED).map_err(|e| format!("{SHIPPED}: {e}"))?;
            for e in entries.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if name.ends_with(".rego") && !name.ends_with("_test.rego") {
                    std::fs::copy(e.path(), rego_dir.join(&name)).map_err(|e| format!("copy {name}: {e}"))?;
                }
            }
        }
    }

    let now_ns = data::time(&case.now).map_err(|m| format!("now: {m}"))?;
    let comparison = Comparison {
        phase: case.phase.clone(),
        confidence: 0.95,
        baseline: identity(&case.baseline, case, "baseline.json"),
        candidate: identity(&case.candidate, case, "candidate.json"),
        baselines: (1..case.baseline_runs.unwrap_or(1))
            .map(|i| RunIdentity { source: format!("baseline-{i}.json"), ..identity(&case.baseline, case, "") })
            .collect(),
        confirmations: Vec::new(),
        metrics: case.comparisons.iter().map(metric_comparison).collect(),
    };
    let previous = case.previous.as_ref().map(|p| Comparison {
        phase: case.phase.clone(),
        confidence: 0.95,
        baseline: RunIdentity { source: "previous.json".into(), ..identity(&case.candidate, case, "") },
        candidate: identity(&case.candidate, case, "candidate.json"),
        baselines: Vec::new(),
        confirmations: Vec::new(),
        metrics: p.iter().map(metric_comparison).collect(),
    });

    let policy_data = match data::load(&data_dir) {
        Ok(d) => d,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let policies = match Policies::load(&rego_dir) {
        Ok(p) => p,
        Err(e) => return Ok(Err(e.to_string())),
    };
    let req = Request {
        test: &case.test,
        environment: &case.environment,
        now_ns,
        comparison: &comparison,
        previous: previous.as_ref(),
        no_baseline: false,
        baseline_reason: None,
    };
    Ok(evaluate(&policies, &policy_data, &req).map_err(|e| e.to_string()))
}

fn summary(v: &Verdict) -> String {
    let mut s = format!("outcome {:?}; headline: {}\nresults:\n", v.outcome, v.headline);
    for r in &v.results {
        s.push_str(&format!("  {:?} {}: {}\n", r.status, r.id, r.message));
    }
    s.push_str("exceptions:\n");
    for e in &v.exceptions {
        s.push_str(&format!("  {} {} by {}\n", e.kind, e.result, e.by));
    }
    s.push_str("ignored:\n");
    for i in &v.ignored {
        s.push_str(&format!("  {}: {}\n", i.what, i.reason));
    }
    s
}

fn sorted(v: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut v: Vec<String> = v.into_iter().collect();
    v.sort();
    v
}

fn ids_with(v: &Verdict, status: Status) -> Vec<String> {
    sorted(v.results.iter().filter(|r| r.status == status).map(|r| r.id.clone()))
}

/// Every mismatch between the verdict and what the case wants, plus broken invariants.
fn check_verdict(want: &Want, v: &Verdict) -> Vec<String> {
    let mut bad = Vec::new();
    // Invariants.
    let mut seen = BTreeSet::new();
    for r in &v.results {
        if !seen.insert(r.id.as_str()) {
            bad.push(format!("result id {} appears more than once", r.id));
        }
    }
    for e in &v.exceptions {
        if e.message.is_empty() {
            bad.push(format!("exception {} by {} refers to no result", e.result, e.by));
        }
    }
    let worst = v.results.iter().map(|r| r.status).max().unwrap_or(Status::Pass);
    if worst != v.outcome {
        bad.push(format!("outcome {:?} is not the worst result status {worst:?}", v.outcome));
    }
    if let Err(e) = serde_json::to_string(v) {
        bad.push(format!("the verdict does not serialize: {e}"));
    }

    // What the case wants.
    if let Some(o) = want.outcome {
        if o != v.outcome {
            bad.push(format!("outcome: want {o:?}, got {:?}", v.outcome));
        }
    }
    for (name, status, ids) in [
        ("failing", Status::Fail, &want.failing),
        ("warning", Status::Warn, &want.warning),
        ("inconclusive", Status::Inconclusive, &want.inconclusive),
    ] {
        if let Some(ids) = ids {
            let (want_ids, got) = (sorted(ids.iter().cloned()), ids_with(v, status));
            if want_ids != got {
                bad.push(format!("{name}: want {want_ids:?}, got {got:?}"));
            }
        }
    }
    for id in &want.passing {
        match v.results.iter().find(|r| &r.id == id) {
            Some(r) if r.status == Status::Pass => {}
            Some(r) => bad.push(format!("passing: {id} is {:?}", r.status)),
            None => bad.push(format!("passing: no result {id}")),
        }
    }
    for id in &want.absent {
        if v.results.iter().any(|r| &r.id == id) {
            bad.push(format!("absent: result {id} is there"));
        }
    }
    if let Some(ex) = &want.exceptions {
        let mut want_ex = ex.clone();
        want_ex.sort();
        let mut got: Vec<WantException> = v
            .exceptions
            .iter()
            .map(|e| WantException { kind: e.kind.name().to_string(), result: e.result.clone(), by: e.by.clone() })
            .collect();
        got.sort();
        if want_ex != got {
            bad.push(format!("exceptions: want {want_ex:?}, got {got:?}"));
        }
    }
    if let Some(ig) = &want.ignored {
        let want_what = sorted(ig.iter().map(|i| i.what().to_string()));
        let got = sorted(v.ignored.iter().map(|i| i.what.clone()));
        if want_what != got {
            bad.push(format!("ignored: want {want_what:?}, got {got:?}"));
        }
        for i in ig {
            if let WantIgnored::Detailed { what, reason_contains: Some(s) } = i {
                if !v.ignored.iter().any(|g| &g.what == what && g.reason.contains(s.as_str())) {
                    bad.push(format!("ignored: no {what} with a reason containing {s:?}"));
                }
            }
        }
    }
    for s in &want.message_contains {
        let found = v.results.iter().any(|r| r.message.contains(s.as_str()))
            || v.exceptions.iter().any(|e| e.message.contains(s.as_str()));
        if !found {
            bad.push(format!("message_contains: no result message contains {s:?}"));
        }
    }
    if let Some(h) = &want.headline_contains {
        if !v.headline.contains(h.as_str()) {
            bad.push(format!("headline_contains: {h:?} not in {:?}", v.headline));
        }
    }
    bad
}

fn check_case(path: &Path) -> Result<(), Failed> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let de = yaml_serde::Deserializer::from_str(&text);
    let case: Case =
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: bad case file: {e}", path.display()))?;
    if case.note.trim().is_empty() {
        return Err("the case has an empty note".into());
    }
    let want = &case.want;
    if want.error_contains.is_none() && want.outcome.is_none() {
        return Err("the case wants neither an outcome nor an error".into());
    }
    match (run_case(&case)?, &want.error_contains) {
        (Ok(v), None) => {
            let bad = check_verdict(want, &v);
            if bad.is_empty() { Ok(()) } else { Err(format!("{}\n\nverdict:\n{}", bad.join("\n"), summary(&v)).into()) }
        }
        (Ok(v), Some(e)) => Err(format!("want an error containing {e:?}, got a verdict:\n{}", summary(&v)).into()),
        (Err(msg), None) => Err(format!("want a verdict, got the error: {msg}").into()),
        (Err(msg), Some(e)) => {
            let mut bad = Vec::new();
            if !msg.contains(e.as_str()) {
                bad.push(format!("want an error containing {e:?}"));
            }
            if let Some(at) = &want.error_at {
                // `<dir>/<file>:<line>:<col>`: the location must follow a path separator.
                if !msg.contains(&format!("/{at}")) {
                    bad.push(format!("want the error to name {at}"));
                }
            }
            if bad.is_empty() { Ok(()) } else { Err(format!("{}\ngot the error: {msg}", bad.join("\n")).into()) }
        }
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.filter_map(|e| e.ok()) {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p.extension().and_then(|x| x.to_str()) == Some("yaml") {
            out.push(p);
        }
    }
}

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(CASES);
    let mut files = Vec::new();
    collect(root, &mut files);
    files.sort();
    let mut trials: Vec<Trial> = files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(root).unwrap_or(&p).with_extension("");
            let name = rel.to_string_lossy().replace('\\', "/");
            if name.starts_with("off-peak/") {
                return Trial::test(name, move || check_window_case(&p));
            }
            Trial::test(name, move || check_case(&p))
        })
        .collect();
    if trials.is_empty() {
        trials.push(Trial::test("no cases found", || Err(format!("no *.yaml case files under {CASES}").into())));
    }
    libtest_mimic::run(&args, trials).exit();
}

/// An `off-peak/` case: the guard's window decision.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WindowCase {
    note: String,
    environment: String,
    now: String,
    #[serde(default)]
    override_requested: bool,
    data: DataSpec,
    want: WantWindow,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WantWindow {
    allowed: Option<bool>,
    restricted: Option<bool>,
    overridden: Option<bool>,
    /// `Some(None)`: no next slot.
    #[serde(default, deserialize_with = "some_nullable")]
    next_slot: Option<Option<String>>,
    #[serde(default)]
    reason_contains: Vec<String>,
    error_contains: Option<String>,
    error_at: Option<String>,
}

fn some_nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn check_window_case(path: &Path) -> Result<(), Failed> {
    use k6gate::guard::{GuardConfig, Rules};
    use k6gate::policy::files::PolicyFile;

    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let de = yaml_serde::Deserializer::from_str(&text);
    let case: WindowCase =
        serde_path_to_error::deserialize(de).map_err(|e| format!("{}: bad case file: {e}", path.display()))?;
    if case.note.trim().is_empty() {
        return Err("the case has an empty note".into());
    }
    let want = &case.want;
    if want.error_contains.is_none() && want.allowed.is_none() {
        return Err("the case wants neither `allowed` nor an error".into());
    }
    let files: Vec<PolicyFile> = match &case.data {
        DataSpec::Named(n) if n == "shipped" => {
            k6gate::policy::files::PolicyFiles::from_dir(Path::new(SHIPPED))
                .map_err(|e| format!("shipped data: {e}"))?
                .data
        }
        DataSpec::Named(n) => return Err(format!("data: {n:?}: give a map of files or `shipped`").into()),
        DataSpec::Files(files) => files
            .iter()
            .map(|(name, text)| PolicyFile {
                rel: format!("data/{name}"),
                name: format!("policies/data/{name}"),
                text: text.clone(),
            })
            .collect(),
    };
    let now_ns = data::time(&case.now).map_err(|m| format!("now: {m}"))?;
    let decided = GuardConfig::from_files(&files).map_err(k6gate::Error::from).and_then(|config| {
        let policies = Policies::load(Path::new(SHIPPED))?;
        Rules::from_parts(policies, config).window(&case.environment, now_ns, case.override_requested)
    });
    let mut bad = Vec::new();
    match (decided, &want.error_contains) {
        (Ok(d), None) => {
            let shown = format!("{d:?}");
            for (what, got, wanted) in [
                ("allowed", Some(d.allowed), want.allowed),
                ("restricted", Some(d.restricted), want.restricted),
                ("overridden", Some(d.overridden), want.overridden),
            ] {
                if wanted.is_some() && got != wanted {
                    bad.push(format!("want {what}: {wanted:?}, got {got:?}"));
                }
            }
            if let Some(next) = &want.next_slot {
                let got = d.next_slot_ns.map(k6gate::time::format_rfc3339_ms);
                if &got != next {
                    bad.push(format!("want next_slot {next:?}, got {got:?}"));
                }
            }
            for r in &want.reason_contains {
                if !d.reason.contains(r.as_str()) {
                    bad.push(format!("want the reason to contain {r:?}"));
                }
            }
            if !bad.is_empty() {
                bad.push(format!("decision: {shown}"));
            }
        }
        (Ok(d), Some(e)) => bad.push(format!("want an error containing {e:?}, got {d:?}")),
        (Err(msg), None) => bad.push(format!("want a decision, got the error: {msg}")),
        (Err(msg), Some(e)) => {
            let msg = msg.to_string();
            if !msg.contains(e.as_str()) {
                bad.push(format!("want an error containing {e:?}, got: {msg}"));
            }
            if let Some(at) = want.error_at.as_ref().filter(|at| !msg.contains(&format!("/{at}"))) {
                bad.push(format!("want the error to name {at}, got: {msg}"));
            }
        }
    }
    if bad.is_empty() { Ok(()) } else { Err(bad.join("\n").into()) }
}
