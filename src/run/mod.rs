//! `k6gate run`: the main job, in four steps.
//!
//! ```text
//! prepare (render, gate, history, given runs) -> k6 -> judge (ingest, baseline, verdict, files)
//!   -> outputs (Prometheus, Grafana, GitHub, webhook) -> record
//! ```
//!
//! Before k6 starts, a problem is an error and nothing is recorded: a typo costs seconds, not
//! a run. Once k6 has started, nothing returns early: [`judge`] turns every failure into a
//! [`Judged`] with its reason, outputs report their failures as data, and [`record`] writes
//! the run to the history whatever happened. A run is `pass`, `warn` or `fail` only with its
//! summary and verdict; otherwise it is `incomplete` or `error`, and never a baseline.

mod adequacy;
pub mod cardinality;
mod guarded;
mod host;
pub mod k6;
mod k6log;
pub mod lock;
pub mod outputs;
pub mod pressure;
mod sampling;
mod traces;
mod trail;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compare::Phase;
use crate::error::{Error, Result, Service};
use crate::gate::{self, Case, Gate, PolicySource, Side};
use crate::history::{
    HistoryConfig, HistoryError, Holder, NewRun, Outcome, RemoteConfig, RunContext, RunFilter, RunStore, Store,
    new_run_id,
};
use crate::ingest::{IngestOptions, ingest};
use crate::load::LoadedRun;
use crate::policy::verdict::{Status, Verdict};
use crate::render::{RenderRequest, RunInfo, render};
use crate::summary::RunSummary;

pub use crate::load::open_history;

/// Where the baseline comes from.
#[derive(Debug, Clone)]
pub enum BaselineSource {
    /// The history's pin, or its latest passing run on the default branch.
    Auto,
    /// A RunSummary file, raw k6 output, or a run id from the history.
    Given(String),
}

/// Who started the run and where, resolved at the edge (the Actions actor in CI).
#[derive(Debug, Clone, Default)]
pub struct Who {
    pub user: Option<String>,
    pub host: Option<String>,
    /// The actor, triggering actor, event and workflow run, for the audit trail.
    pub context: RunContext,
}

#[derive(Debug, Clone)]
pub struct RunOptions {
    pub test: String,
    pub environment: String,
    pub sets: Vec<String>,
    pub vars: BTreeMap<String, String>,
    pub deployment_version: String,
    pub git_commit: String,
    pub git_branch: Option<String>,
    pub default_branch: String,
    pub baseline: BaselineSource,
    /// The previous run inside a migration window (for the ratchet): a file or run id.
    pub previous: Option<String>,
    pub templates_dir: PathBuf,
    pub environments_dir: PathBuf,
    /// Policies, waivers and how their approval is checked.
    pub policy: PolicySource,
    /// `.k6gate`: history database and run directories.
    pub state_dir: PathBuf,
    /// The durable store, with the state directory's database as its cache.
    pub remote_history: Option<RemoteConfig>,
    /// Start without a baseline on purpose (the first run, or after lost history).
    pub bootstrap: bool,
    /// One run at a time per environment.
    pub lock: lock::LockOptions,
    pub phase: Phase,
    /// Hide k6's own output (the demo prints its own narration).
    pub quiet_k6: bool,
    /// Live metrics to Prometheus/Mimir during the run.
    pub remote_write: Option<k6::RemoteWrite>,
    /// Where the verdict goes once it is decided.
    pub outputs: outputs::Outputs,
    pub who: Who,
    pub now_ns: i64,
    /// Confirmation re-runs of a FAIL near the budget: `None` for the policy's default
    /// (`budgets.history.confirm_in_ci` in CI, none elsewhere).
    pub confirm: Option<u32>,
    /// Running in CI (GitHub Actions or `CI=true`), for the policy's default.
    pub in_ci: bool,
    /// The off-peak window and its override.
    pub guard: GuardOptions,
    /// Said first when the run did not measure the change under review (a pull request's run
    /// against what was already deployed): the verdict's first note, the report's first line.
    pub caveat: Option<String>,
}

/// How the guard judges the start of a run (policies/guard.rego, policies/data/guard.yaml).
#[derive(Debug, Clone, Copy, Default)]
pub struct GuardOptions {
    /// Start outside the environment's off-peak windows: honoured only when its policy says
    /// `allow_override: true`.
    pub ignore_window: bool,
    /// The time the windows are judged at (Unix ns); `None`: the run's `now_ns`. Only tests set it.
    pub window_at_ns: Option<i64>,
}

/// What a run produced.
#[derive(Debug)]
pub struct RunResult {
    pub run_id: String,
    pub run_dir: PathBuf,
    pub outcome: Outcome,
    pub summary: Option<RunSummary>,
    pub verdict: Option<Verdict>,
    /// Why the run is `error` or `incomplete`.
    pub problem: Option<String>,
    pub html_report: Option<PathBuf>,
    /// What each output did, or why it could not.
    pub delivered: Vec<outputs::Delivery>,
    /// Why the run is only in the local cache, not yet in the durable store.
    pub not_uploaded: Option<String>,
}

/// One k6 run of the job: the candidate, or one of its confirmation re-runs.
struct Attempt {
    run_id: String,
    run_dir: PathBuf,
    script: PathBuf,
    started_ns: i64,
    /// The environment's `monitoring.keep_share`: the share of successful requests the run
    /// directory's JSON output keeps once the summary is built (`sampling.rs`).
    keep_share: Option<crate::samples::KeepShare>,
}

/// A confirmation re-run: judged with the candidate when it has a summary, recorded either way.
struct Confirmation {
    attempt: Attempt,
    k6run: k6::K6Run,
    summary: std::result::Result<RunSummary, Failure>,
}

/// Everything decided before k6 starts.
struct Prepared {
    /// The candidate's run.
    first: Attempt,
    gate: Gate,
    store: Store,
    /// The baseline runs (newest first, never empty) and why they were chosen; `None` only
    /// for a bootstrap run.
    baseline: Option<Chosen>,
    /// Why this run has no baseline (a bootstrap), for the verdict.
    bootstrap: Option<String>,
    given_previous: Option<LoadedRun>,
    /// The environment's lock, released once the run is recorded.
    lock: Option<lock::Held>,
    /// The adequacy check's rules and the target's facts before k6 (`adequacy.rs`).
    adequacy: Option<adequacy::Before>,
    /// The live guard and teardown verification, when the environment asks for them.
    live: Option<guarded::Plan>,
    /// The guard's policy (for the Grafana folders made view-only around k6).
    guard: crate::guard::Rules,
    /// The environment's trace backend, and the candidate's breakdown once made (once,
    /// however many times confirmation re-runs judge the candidate).
    traces: Option<crate::render::TracesConfig>,
    traced: std::sync::OnceLock<traces::Traced>,
    /// `stress-ng` beside k6 (a saturation run under `saturation.pressure`) and its timeout, s.
    pressure: Option<(crate::render::Pressure, u64)>,
}

/// A step after k6, named so that a test can make it fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Ingest,
    WriteSummary,
    Baseline,
    Judge,
    WriteReports,
}

/// What the steps after k6 made of the run. Never an error: a failure is an outcome.
#[derive(Debug, Default)]
pub struct Judged {
    pub outcome: Outcome,
    pub summary: Option<RunSummary>,
    pub verdict: Option<Verdict>,
    pub problem: Option<String>,
    pub html_report: Option<PathBuf>,
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(Error::output(path))
}

fn json<T: serde::Serialize>(v: &T, what: &'static str) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(Error::serialize(what))
}

/// Runs the whole job. Errors before k6 starts (bad template, broken policy, missing k6) are
/// returned; after that, the run is recorded and its problems are in the result.
pub fn execute(opts: &RunOptions) -> Result<RunResult> {
    execute_failing_at(opts, None)
}

/// [`execute`], with `fail_at` made to fail: how the tests check that every path after k6
/// is recorded.
#[doc(hidden)]
pub fn execute_failing_at(opts: &RunOptions, fail_at: Option<Step>) -> Result<RunResult> {
    let mut prepared = prepare(opts).inspect_err(|e| trail::refused(opts, e))?;
    let p = &prepared;
    let switched = trail::begin(opts, &p.store, &p.guard, &p.first.run_id)?;
    let k6run = guarded::run_k6(opts, p);
    let k6run = match k6run {
        Ok(k) => k,
        Err(e) => {
            if let Some(left) = trail::end(opts, &p.store, &p.first.run_id, switched) {
                tracing::error!("{left}");
            }
            return Err(e);
        }
    };
    let mut judged = judge(opts, p, &k6run, &[], fail_at);
    let confirmations = confirm(opts, p, &k6run, &mut judged, fail_at);
    if let Some(left) = trail::end(opts, &p.store, &p.first.run_id, switched) {
        judged.problem.get_or_insert(left.clone());
        if let Some(v) = judged.verdict.as_mut() {
            v.notes.push(left);
        }
    }
    let finished_ns = crate::clock::now_ns().max(opts.now_ns);
    let delivered = outputs::deliver(
        &opts.outputs,
        &outputs::Delivered {
            run_id: &prepared.first.run_id,
            run_dir: &prepared.first.run_dir,
            test: &opts.test,
            environment: &opts.environment,
            deployment_version: &opts.deployment_version,
            started_ns: opts.now_ns,
            finished_ns,
            judged: &judged,
            notifications: prepared.gate.data().notifications.as_ref(),
            cardinality: prepared.gate.data().cardinality.as_ref(),
            caveat: opts.caveat.as_deref(),
        },
    );
    add_notes(&mut judged, &prepared.first.run_dir, &delivered);
    if let Some(lost) = prepared.lock.take().and_then(lock::Held::release) {
        judged.problem.get_or_insert(lost.clone());
        if let Some(v) = judged.verdict.as_mut() {
            v.notes.push(lost);
        }
    }
    let run_id = record(opts, &prepared, &prepared.first, &k6run, &mut judged, finished_ns, None)?;
    for c in confirmations {
        // Each re-run is kept as the run it was, with the verdict it was part of.
        let mut its = match c.summary {
            Ok(summary) => Judged {
                outcome: judged.outcome,
                summary: Some(summary),
                verdict: judged.verdict.clone(),
                problem: judged.problem.clone(),
                html_report: None,
            },
            Err(f) => Judged { outcome: f.outcome, problem: Some(f.reason), ..Judged::default() },
        };
        let finished = crate::clock::now_ns().max(c.attempt.started_ns);
        record(opts, &prepared, &c.attempt, &c.k6run, &mut its, finished, Some(&run_id))?;
    }
    let guard = k6run.guard.as_ref();
    trail::recorded(&prepared.store, opts, &run_id, judged.outcome.as_str(), judged.problem.as_deref(), guard);
    let not_uploaded = prepared.store.remote().and_then(|r| r.upload_problem());
    Ok(RunResult {
        run_id,
        run_dir: prepared.first.run_dir,
        outcome: judged.outcome,
        summary: judged.summary,
        verdict: judged.verdict,
        problem: judged.problem,
        html_report: judged.html_report,
        delivered,
        not_uploaded,
    })
}

/// The script for one run: every run has its own id in its samples (`testid`).
fn render_for(
    opts: &RunOptions,
    run_id: &str,
    cardinality: Option<&crate::policy::cardinality::CardinalityPolicy>,
) -> Result<crate::render::Rendered> {
    let info = RunInfo {
        run_id: run_id.to_string(),
        git_commit: opts.git_commit.clone(),
        deployment_version: opts.deployment_version.clone(),
        test_date: crate::clock::date(opts.now_ns),
    };
    // Only k6's live series are labels: without remote write every tag stays a tag.
    let live_labels = cardinality
        .filter(|_| opts.remote_write.is_some())
        .map(|policy| move |tag: &str| policy.allows(&opts.test, crate::policy::cardinality::Target::Live, tag));
    Ok(render(&RenderRequest {
        test: &opts.test,
        environment: &opts.environment,
        templates_dir: &opts.templates_dir,
        environments_dir: &opts.environments_dir,
        sets: &opts.sets,
        vars: &opts.vars,
        run: info,
        live_labels: live_labels.as_ref().map(|f| f as &dyn Fn(&str) -> bool),
    })?)
}

/// A run directory with its rendered script.
fn attempt(opts: &RunOptions, run_id: String, rendered: &crate::render::Rendered, started_ns: i64) -> Result<Attempt> {
    let run_dir = opts.state_dir.join("runs").join(&run_id);
    std::fs::create_dir_all(&run_dir).map_err(Error::output(&run_dir))?;
    let script = run_dir.join("script.js");
    write(&script, &rendered.script)?;
    write(&run_dir.join("environment.json"), &json(&rendered.environment, "environment")?)?;
    let keep_share = rendered.environment.monitoring.as_ref().map(|m| m.keep_share);
    Ok(Attempt { run_id, run_dir, script, started_ns, keep_share })
}

fn prepare(opts: &RunOptions) -> Result<Prepared> {
    let run_id = new_run_id(opts.now_ns);
    // Policies are checked before the load test, so a broken policy costs seconds, not a run.
    let gate = Gate::load(&opts.policy)?;
    // Outside the environment's off-peak windows nothing starts; the error names the next slot.
    // The binding policy's windows: the base branch's on a pull request.
    let guard = crate::guard::Rules::from_files(gate.binding_files())?;
    // The adequacy rules too: a broken `adequacy` section costs seconds, not a run.
    let adequacy_rules = crate::adequacy::Rules::from_files(gate.binding_files())?;
    let window = guard.require_window(
        &opts.environment,
        opts.guard.window_at_ns.unwrap_or(opts.now_ns),
        opts.guard.ignore_window,
    )?;
    if window.overridden {
        tracing::warn!("{}", window.reason);
    }
    let rendered = render_for(opts, &run_id, gate.data().cardinality.as_ref())?;
    // A run over its series budget is refused before anything starts.
    if let Some(policy) = gate.data().cardinality.as_ref() {
        cardinality::check_budget(
            &rendered,
            policy,
            &opts.test,
            opts.remote_write.is_some(),
            opts.outputs.prometheus.is_some(),
        )?;
    }
    if !k6::available() {
        return Err(Error::K6 { message: k6::INSTALL_HINT.into(), source: None });
    }
    let history = HistoryConfig { state_dir: opts.state_dir.clone(), remote: opts.remote_history.clone() };
    let store = Store::open(&history)?;
    if let Some(remote) = store.remote() {
        // Runs a failed upload left behind go first.
        let flushed = remote.flush_outbox()?;
        if !flushed.uploaded.is_empty() {
            tracing::info!(
                "uploaded {} run(s) kept locally earlier: {}",
                flushed.uploaded.len(),
                flushed.uploaded.join(", ")
            );
        }
        for (id, why) in &flushed.failed {
            tracing::warn!("run {id} is still only local: {why}");
        }
    }
    // Runs against one environment wait for each other: each would load the other's target.
    let holder = Holder {
        user: opts.who.user.clone().unwrap_or_else(|| "unknown".into()),
        host: opts.who.host.clone(),
        pid: std::process::id(),
        run_id: run_id.clone(),
        test: opts.test.clone(),
        url: opts.who.context.workflow_run_url.clone(),
    };
    // Runs given by hand are read now: a typo costs seconds, not a run.
    let given = match &opts.baseline {
        BaselineSource::Given(spec) => {
            Some((vec![crate::load::run_in(spec, &store)?], format!("given on the command line: {spec}")))
        }
        BaselineSource::Auto => None,
    };
    let given_previous = opts.previous.as_deref().map(|p| crate::load::run_in(p, &store)).transpose()?;
    // A target that is down would make k6 fail every request: one line now, not a run of them.
    reachable(&rendered.environment.base_url)?;
    // An environment that declares its monitoring stack is checked before it is loaded.
    if let Some(monitoring) = &rendered.environment.monitoring {
        preflight(opts, &guard, monitoring, &window)?;
    }
    // Pressure needs stress-ng: a missing tool costs seconds, not a run.
    let pressure = pressure::planned(&opts.test, &rendered);
    if pressure.is_some() {
        pressure::available()?;
    }
    // The live guard's policy is checked before anything starts, like the rest.
    let live = guarded::plan(opts, &guard, &rendered, gate.data().notifications.as_ref())?;
    let lock = lock::acquire(&store, &history, &opts.environment, &holder, opts.lock)?;
    // The history's baseline is chosen under the lock, before k6: a lost history costs
    // seconds, not a run. Never "no baseline" by accident: that is an explicit --bootstrap.
    let (baseline, bootstrap) = match given {
        Some(given) => (Some(given), None),
        None => auto_baseline(opts, &store, gate.data())?,
    };

    let first = attempt(opts, run_id, &rendered, opts.now_ns)?;
    // Last before k6: the target's facts as the run finds them.
    let adequacy = adequacy::before(adequacy_rules, &rendered.environment);
    let traces = rendered.environment.traces.clone();
    Ok(Prepared {
        first,
        gate,
        store,
        baseline,
        bootstrap,
        given_previous,
        lock: Some(lock),
        adequacy,
        live,
        guard,
        traces,
        traced: std::sync::OnceLock::new(),
        pressure,
    })
}

/// `k6gate preflight` inside prepare: every check but the lease, which the run takes itself
/// (waiting for it, `--lock-wait`). A refusal is an error: nothing starts.
fn preflight(
    opts: &RunOptions,
    guard: &crate::guard::Rules,
    monitoring: &crate::render::Monitoring,
    window: &crate::guard::WindowDecision,
) -> Result<()> {
    let Some((rules, source)) = guard.config.preflight.as_ref() else {
        return Err(Error::Usage(format!(
            "environment {} declares a monitoring stack, and the policy data has no guard.preflight to check it by",
            opts.environment
        )));
    };
    let request = crate::guard::preflight::Request {
        environment: &opts.environment,
        monitoring,
        rules,
        rules_source: source,
        wall_ns: crate::clock::now_ns(),
        now_ns: opts.guard.window_at_ns.unwrap_or(opts.now_ns),
        lease: None,
        windows: guard.config.windows.get(&opts.environment).map(|w| w.segments.as_slice()),
        window: Some(window),
    };
    let report = crate::guard::preflight::run(&request)?;
    tracing::info!("{}", crate::guard::preflight::table(&report));
    match report.refusal() {
        Some(refused) => Err(refused),
        None => Ok(()),
    }
}

/// The baseline runs (newest first) and why they were chosen.
type Chosen = (Vec<LoadedRun>, String);

/// The history's baseline: the pin, else the latest passing run on the default branch, joined
/// by up to `baseline_runs - 1` earlier runs by the same rule (`BaselineChoice::companions`),
/// none from before an accepted change point. None only with --bootstrap; a store that lost
/// its baseline fails closed unless bootstrapping.
fn auto_baseline(
    opts: &RunOptions,
    store: &Store,
    policy: &crate::policy::data::PolicyData,
) -> Result<(Option<Chosen>, Option<String>)> {
    let n = policy.baseline_runs();
    let found = store.baseline(&opts.test, &opts.environment, &opts.default_branch);
    match found {
        Ok(Some(choice)) => {
            let filter = RunFilter { test: Some(&opts.test), environment: Some(&opts.environment), limit: None };
            let runs = store.list_runs(&filter)?;
            // An accepted change point names the run the new normal starts at.
            let accepted = policy.accepted_since(&opts.test, &opts.environment);
            let since = accepted.and_then(|id| runs.iter().find(|r| r.id == id)).map(|r| r.started_at_ns);
            if let (Some(id), None) = (accepted, since) {
                tracing::warn!("accepted change point at run {id}, which this history does not have: not applied");
            }
            let more = choice.companions(&runs, n, &opts.default_branch, since);
            let mut reason = format!("run {}: {}", choice.run.id, choice.reason);
            if !more.is_empty() {
                let ids: Vec<&str> = more.iter().map(|r| r.id.as_str()).collect();
                reason.push_str(&format!("; with {} earlier run(s) by the same rule: {}", more.len(), ids.join(", ")));
                if more.len() + 1 < n {
                    reason.push_str(&format!(
                        "; history is short: {} of the {n} runs wanted, so the between-run noise rests on few runs",
                        more.len() + 1
                    ));
                }
            } else if n > 1 {
                reason.push_str(&format!(
                    "; no earlier run qualifies, so the noise between runs is unknown ({n} runs wanted)"
                ));
            }
            let mut runs = vec![crate::load::recorded(choice.run, store)?];
            for r in more {
                runs.push(crate::load::recorded(r, store)?);
            }
            Ok((Some((runs, reason)), None))
        }
        Ok(None) if opts.bootstrap => Ok((
            None,
            Some(format!(
                "bootstrap run (--bootstrap): no baseline for {} in {} yet, so only the SLAs were checked; a passing run \
                 on {} becomes the baseline",
                opts.test, opts.environment, opts.default_branch
            )),
        )),
        Ok(None) => Err(HistoryError::NoBaseline {
            store: store.name(),
            test: opts.test.clone(),
            environment: opts.environment.clone(),
            branch: opts.default_branch.clone(),
        }
        .into()),
        Err(e @ HistoryError::BaselineLost { .. }) if opts.bootstrap => {
            Ok((None, Some(format!("bootstrap run (--bootstrap) after lost history, only the SLAs were checked: {e}"))))
        }
        Err(e) => Err(e.into()),
    }
}

/// Connects to `base_url`'s host and port once. Only a refused or unresolvable address is
/// an error: a URL this cannot parse is left to k6, which says what is wrong with it.
fn reachable(base_url: &str) -> Result<()> {
    use std::net::{TcpStream, ToSocketAddrs};
    let Ok(uri) = base_url.parse::<http::Uri>() else { return Ok(()) };
    let (Some(host), Some(scheme)) = (uri.host(), uri.scheme_str()) else { return Ok(()) };
    let port = uri.port_u16().unwrap_or(if scheme == "https" { 443 } else { 80 });
    let down = |source: std::io::Error| {
        Error::service(Service::Target, format!("{base_url} cannot be reached; k6 was not started"), source)
    };
    let addrs: Vec<_> = (host.trim_matches(['[', ']']), port).to_socket_addrs().map_err(down)?.collect();
    let mut last = std::io::Error::other(format!("{host} has no address"));
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, std::time::Duration::from_secs(3)) {
            Ok(_) => return Ok(()),
            Err(e) => last = e,
        }
    }
    Err(down(last))
}

/// Confirmation re-runs: while the verdict is a FAIL near its budgets (or from a run that looked
/// unusual), or a WARN over budget, and re-runs are left, run k6 again with the same script
/// (each run its own id and directory) and judge the candidate together with every re-run so
/// far. A clear FAIL is never re-run; a re-run that fails itself ends the confirmation, and
/// the verdict stands.
fn confirm(
    opts: &RunOptions,
    p: &Prepared,
    k6run: &k6::K6Run,
    judged: &mut Judged,
    fail_at: Option<Step>,
) -> Vec<Confirmation> {
    let wanted = opts.confirm.unwrap_or(if opts.in_ci { p.gate.data().confirm_in_ci() } else { 0 }) as usize;
    let mut done: Vec<Confirmation> = Vec::new();
    while done.len() < wanted {
        let Some(verdict) = judged.verdict.as_mut() else { break };
        // A WARN over budget is a change the runs could not settle yet: one more run can.
        if verdict.outcome == Status::Warn {
            let over: Vec<&str> = verdict
                .results
                .iter()
                .filter(|r| r.status == Status::Warn && r.kind == crate::policy::verdict::RuleKind::Budget)
                .map(|r| r.id.as_str())
                .collect();
            if over.is_empty() {
                break;
            }
            let why = format!("a WARN over budget, not yet significant between runs: {}", over.join(", "));
            match rerun(opts, p, k6run, &why, &mut done, fail_at) {
                Some(again) => {
                    *judged = again;
                    continue;
                }
                None => {
                    verdict.notes.push(RERUN_FAILED.into());
                    break;
                }
            }
        }
        if verdict.outcome != Status::Fail {
            break;
        }
        // The candidate's own run: a re-run judged with it says nothing new about that.
        let unusual = if done.is_empty() { unusual(judged.summary.as_ref(), k6run) } else { None };
        let why = match (near_boundary(verdict), unusual) {
            (Ok(near), _) => format!("a FAIL near its limit ({near})"),
            (Err(_), Some(unusual)) => unusual,
            (Err(clear), None) => {
                verdict.notes.push(format!("not re-run to confirm: {clear}"));
                break;
            }
        };
        match rerun(opts, p, k6run, &why, &mut done, fail_at) {
            Some(again) => *judged = again,
            None => {
                verdict.notes.push(RERUN_FAILED.into());
                break;
            }
        }
    }
    done
}

/// The verdict's note when a confirmation re-run could not be made or judged.
const RERUN_FAILED: &str = "a confirmation re-run could not be made or judged (the log says why): the verdict stands";

/// One confirmation re-run: k6 again with the same script (its own id and directory), then
/// the candidate judged with every re-run so far. `None` when the re-run could not be made or
/// judged, with a note on the current verdict: the verdict stands.
fn rerun(
    opts: &RunOptions,
    p: &Prepared,
    k6run: &k6::K6Run,
    why: &str,
    done: &mut Vec<Confirmation>,
    fail_at: Option<Step>,
) -> Option<Judged> {
    tracing::info!("{why}: confirmation re-run {}", done.len() + 1);
    let started = crate::clock::now_ns();
    let run_id = new_run_id(started);
    let ran = render_for(opts, &run_id, p.gate.data().cardinality.as_ref())
        .and_then(|r| attempt(opts, run_id, &r, started))
        .and_then(|a| {
            let k6run = guarded::run_attempt(opts, p, &a)?;
            Ok((a, k6run))
        });
    let (attempt, rerun) = match ran {
        Ok(ran) => ran,
        Err(e) => {
            tracing::warn!("confirmation re-run could not start, the verdict stands: {}", crate::error::chain(&e));
            return None;
        }
    };
    let summary = summarize(opts, &attempt, &rerun, p.gate.data().cardinality.as_ref()).and_then(|s| {
        json(&s, "run summary")
            .and_then(|text| write(&attempt.run_dir.join("run-summary.json"), &text))
            .map_err(|e| Failure::error(crate::error::chain(&e)))?;
        Ok(s)
    });
    let failed = summary.as_ref().err().map(|f| f.reason.clone());
    let id = attempt.run_id.clone();
    done.push(Confirmation { attempt, k6run: rerun, summary });
    if let Some(reason) = failed {
        tracing::warn!("confirmation re-run {id} failed, the verdict stands: {reason}");
        return None;
    }
    let mut again = judge(opts, p, k6run, done, fail_at);
    if let Some(v) = again.verdict.as_mut() {
        let ids: Vec<&str> = done.iter().map(|c| c.attempt.run_id.as_str()).collect();
        v.notes.push(format!("{why}: re-run to confirm; judged with re-run(s) {}", ids.join(", ")));
    }
    Some(again)
}

/// What made the candidate's run look unusual, if anything: its load generator showed a sign
/// of trouble, or k6 warned (a FAIL measured that way is worth a second run, however clear).
fn unusual(summary: Option<&RunSummary>, k6run: &k6::K6Run) -> Option<String> {
    if let Some(sign) = summary.and_then(|s| s.load_generator.as_ref()).and_then(|g| g.signs.first()) {
        return Some(format!("the run looked unusual: {sign}"));
    }
    k6run.warning_lines.first().map(|w| format!("the run looked unusual: k6 warned: {w}"))
}

/// Why a FAIL is near its boundary and worth confirming (`Ok`), or why it is clear (`Err`):
/// only budget and SLA results can be confirmed, a budget is near when its interval reaches
/// back inside the budget, an SLA when the value is less than 10 % over its limit.
fn near_boundary(verdict: &Verdict) -> std::result::Result<String, String> {
    use crate::compare::Metric;
    use crate::policy::verdict::RuleKind;
    let mut near = Vec::new();
    for r in verdict.results.iter().filter(|r| r.status == Status::Fail) {
        let c = r.comparison.as_ref();
        let metric = Metric::from_name(&r.metric);
        match (&r.kind, c, metric) {
            (RuleKind::Budget, Some(c), Some(m)) => {
                let bound = if m == Metric::RequestsPerS { c.ci_high.map(|h| -h) } else { c.ci_low };
                match (bound, r.budget) {
                    (Some(b), Some(budget)) if b >= budget => {
                        return Err(format!("{} is clearly over its budget", r.id));
                    }
                    _ => near.push(r.id.clone()),
                }
            }
            (RuleKind::Sla, Some(c), Some(_)) => match (c.candidate, r.limit) {
                (Some(v), Some(limit)) if v < limit * 1.1 => near.push(r.id.clone()),
                _ => return Err(format!("{} is clearly over its SLA", r.id)),
            },
            _ => return Err(format!("{} is not a measurement a re-run can confirm", r.id)),
        }
    }
    if near.is_empty() { Err("nothing failed".into()) } else { Ok(near.join(", ")) }
}

/// A step's failure: the outcome it leaves the run in, and why.
struct Failure {
    outcome: Outcome,
    reason: String,
}

impl Failure {
    fn error(reason: impl Into<String>) -> Failure {
        Failure { outcome: Outcome::Error, reason: reason.into() }
    }
}

/// Fails `step` when the test asked for it; the reason says it was injected.
fn injected(step: Step, fail_at: Option<Step>) -> std::result::Result<(), Failure> {
    if fail_at == Some(step) {
        return Err(Failure::error(format!("{step:?}: failure injected by the test")));
    }
    Ok(())
}

/// The steps after k6. Whatever fails, the summary made so far is kept for the record.
fn judge(
    opts: &RunOptions,
    p: &Prepared,
    k6run: &k6::K6Run,
    confirmations: &[Confirmation],
    fail_at: Option<Step>,
) -> Judged {
    let mut judged = Judged::default();
    if let Err(f) = judge_steps(opts, p, k6run, confirmations, fail_at, &mut judged) {
        judged.outcome = f.outcome;
        judged.problem = Some(f.reason);
    }
    judged
}

fn judge_steps(
    opts: &RunOptions,
    p: &Prepared,
    k6run: &k6::K6Run,
    confirmations: &[Confirmation],
    fail_at: Option<Step>,
    judged: &mut Judged,
) -> std::result::Result<(), Failure> {
    injected(Step::Ingest, fail_at)?;
    let summary = summarize(opts, &p.first, k6run, p.gate.data().cardinality.as_ref())?;
    let stopped = matches!(k6run.exit, k6::K6Exit::Stopped { .. });
    let summary = &*judged.summary.insert(summary);
    injected(Step::WriteSummary, fail_at)?;
    json(summary, "run summary")
        .and_then(|s| write(&p.first.run_dir.join("run-summary.json"), &s))
        .map_err(|e| Failure::error(crate::error::chain(&e)))?;

    injected(Step::Baseline, fail_at)?;
    let baseline = match &p.baseline {
        Some((runs, reason)) => {
            gate::Baseline::Runs { runs: runs.iter().map(LoadedRun::side).collect(), reason: Some(reason.clone()) }
        }
        None => gate::Baseline::None,
    };

    injected(Step::Judge, fail_at)?;
    let candidate_source = format!("run {}", p.first.run_id);
    let judged_with: Vec<(&RunSummary, String)> = confirmations
        .iter()
        .filter_map(|c| c.summary.as_ref().ok().map(|s| (s, format!("run {}", c.attempt.run_id))))
        .collect();
    let confirmed: Vec<Side<'_>> = judged_with.iter().map(|(summary, source)| Side { summary, source }).collect();
    let case = Case {
        test: &opts.test,
        environment: &opts.environment,
        now_ns: opts.now_ns,
        phase: &opts.phase,
        candidate: Side { summary, source: &candidate_source },
        confirmations: &confirmed,
        baseline: baseline.clone(),
        previous: p.given_previous.as_ref().map(LoadedRun::side),
    };
    let traced = p.traces.as_ref().map(|cfg| {
        p.traced.get_or_init(|| {
            traces::breakdown(
                cfg,
                &k6run.json_out,
                baseline_traces(p).as_ref(),
                p.gate.confidence(),
                p.first.keep_share,
            )
        })
    });
    let (findings, unavailable, trace_notes) = match traced {
        Some(traces::Traced::Breakdown { findings, notes }) => (Some(&**findings), None, notes.clone()),
        Some(traces::Traced::Unavailable(why)) => (None, Some(why.as_str()), vec![format!("traces: {why}")]),
        None => (None, None, Vec::new()),
    };
    let mut verdict = p
        .gate
        .judge_with_traces(&case, findings, unavailable)
        .map_err(|e| Failure::error(format!("policy evaluation failed: {}", crate::error::chain(&e))))?;
    verdict.notes.extend(trace_notes);
    verdict.notes.splice(0..0, opts.caveat.clone());
    verdict.notes.extend(p.bootstrap.clone());
    verdict.saturation = crate::scale::record(summary);
    if let Some(held) = &k6run.pressure {
        note_pressure(&mut verdict, held);
    }
    if let Some(before) = &p.adequacy {
        adequacy::attach(before, &opts.environment, summary, &p.store, opts.now_ns, &mut verdict)
            .map_err(Failure::error)?;
    }
    let teardown_failed = guarded::apply(&mut verdict, k6run.guard.as_ref());

    injected(Step::WriteReports, fail_at)?;
    let baseline_summary = match &baseline {
        gate::Baseline::Runs { runs, .. } => runs.first().map(|s| s.summary),
        gate::Baseline::None => None,
    };
    let html = write_reports(&p.first.run_dir, &p.first.run_id, &verdict, summary, baseline_summary)
        .map_err(|e| Failure::error(crate::error::chain(&e)))?;

    judged.html_report = Some(html);
    judged.outcome = if !summary.completeness.complete && stopped {
        Outcome::Incomplete
    } else {
        match verdict.outcome {
            Status::Pass => Outcome::Pass,
            Status::Warn => Outcome::Warn,
            Status::Fail => Outcome::Fail,
            Status::Inconclusive => Outcome::Inconclusive,
        }
    };
    if stopped {
        judged.problem = Some("the run was stopped early; recorded as incomplete".into());
    }
    if let Some(why) = teardown_failed {
        // Residual impact fails the run, whatever else it was.
        judged.outcome = Outcome::Fail;
        judged.problem = Some(why);
    }
    judged.verdict = Some(verdict);
    Ok(())
}

/// The baseline's stored trace breakdown: its first run's `verdict.traces`, when the history
/// recorded one.
fn baseline_traces(p: &Prepared) -> Option<crate::traces::TraceFindings> {
    let (runs, _) = p.baseline.as_ref()?;
    let record = runs.first()?.record.as_ref()?;
    record.verdict_as::<Verdict>()?.ok()?.traces
}

/// k6's output as a RunSummary, with what its exit and log say. A failed k6 or an output that
/// cannot be read is the run's outcome (error, or incomplete when it was stopped).
/// How the live-series check finds this run's series: by `testid` when the policy lets it be a
/// live label, else by test and environment since the run started.
fn live_selector(
    opts: &RunOptions,
    a: &Attempt,
    cardinality: Option<&crate::policy::cardinality::CardinalityPolicy>,
) -> crate::prom::live::RunSelector {
    use crate::policy::cardinality::Target;
    use crate::prom::live::RunSelector;
    match cardinality {
        Some(c) if !c.allows(&opts.test, Target::Live, "testid") => {
            let since_s = (crate::clock::now_ns() - a.started_ns).max(0) / 1_000_000_000;
            RunSelector::by_test(&opts.test, &opts.environment, since_s as u64 + 5)
        }
        _ => RunSelector::by_run_id(&a.run_id),
    }
}

/// What the run was measured under: a note, and the saturation section's line.
fn note_pressure(verdict: &mut Verdict, held: &pressure::Held) {
    let said = match &held.problem {
        None => held.description.clone(),
        Some(p) => format!("{}, but {p}", held.description),
    };
    verdict.notes.push(format!("measured under pressure: {said}"));
    if let Some(s) = verdict.saturation.as_mut() {
        s.pressure = Some(said);
    }
}

fn summarize(
    opts: &RunOptions,
    a: &Attempt,
    k6run: &k6::K6Run,
    cardinality: Option<&crate::policy::cardinality::CardinalityPolicy>,
) -> std::result::Result<RunSummary, Failure> {
    if let k6::K6Exit::Failed { reason, .. } = &k6run.exit {
        let mut problem = reason.clone();
        if let Some(first) = k6run.error_lines.first() {
            problem.push_str(&format!("; k6 said: {first}"));
        }
        return Err(Failure::error(problem));
    }
    // Ingest: a stopped run keeps what it wrote and is marked incomplete.
    let stopped = matches!(k6run.exit, k6::K6Exit::Stopped { .. });
    let ingest_opts =
        IngestOptions { allow_partial: stopped, k6_exit_code: Some(k6run.exit.code()), ..Default::default() };
    let mut summary = ingest(std::slice::from_ref(&k6run.json_out), &ingest_opts).map_err(|e| Failure {
        outcome: if stopped { Outcome::Incomplete } else { Outcome::Error },
        reason: format!("cannot ingest k6's output: {e}"),
    })?;
    note_k6_exit(&mut summary, k6run);
    if let Some(share) = a.keep_share {
        // After the summary, which is exact: built from every sample.
        summary.notes.push(sampling::sample_in_place(&k6run.json_out, share));
    }
    if let (Some((busy, waited)), Some(g)) = (host_load(&summary, &k6run.host), summary.load_generator.as_mut()) {
        g.note_host(busy, waited);
    }
    if let Some(rw) = &opts.remote_write {
        // k6 exits 0 even when every push failed: look for the run's series.
        if let Some(warning) = crate::prom::live::series_missing(
            &rw.url,
            rw.query_url.as_deref(),
            rw.tenant.as_deref(),
            &rw.auth,
            &live_selector(opts, a, cardinality),
        ) {
            summary.notes.push(warning);
        }
    }
    Ok(summary)
}

/// Over the compared part of the run (the steady state's seconds, else the sustained
/// phase's, else all): the machine's mean CPU busy share, and how long k6's threads waited
/// for a CPU per unit of time they ran. `None` with fewer than three readings there.
fn host_load(summary: &RunSummary, readings: &host::Readings) -> Option<(f64, f64)> {
    let series = summary.series.as_ref()?;
    let seconds = |keep: &dyn Fn(usize) -> bool| -> Vec<i64> {
        (0..series.start_unix_s.len())
            .filter(|i| keep(*i))
            .filter_map(|i| series.start_unix_s.get(i).copied())
            .collect()
    };
    let sustained = |i: usize| series.phase.get(i).cloned().flatten().as_deref() == Some("sustained");
    let trimmed = |i: usize| series.trimmed.get(i).copied().unwrap_or(false);
    let mut part = seconds(&|i| sustained(i) && !trimmed(i));
    if part.len() < 3 {
        part = seconds(&sustained);
    }
    if part.len() < 3 {
        part = seconds(&|_| true);
    }
    let inside: Vec<&host::Reading> = readings.iter().filter(|r| part.contains(&r.unix_s)).collect();
    if inside.len() < 3 {
        return None;
    }
    let busy = inside.iter().map(|r| r.busy).sum::<f64>() / inside.len() as f64;
    let ran: u64 = inside.iter().map(|r| r.k6_run_ns).sum();
    let waited: u64 = inside.iter().map(|r| r.k6_wait_ns).sum();
    Some((busy, if ran > 0 { waited as f64 / ran as f64 } else { 0.0 }))
}

/// What k6's exit and error log say about the data.
fn note_k6_exit(summary: &mut RunSummary, k6run: &k6::K6Run) {
    match &k6run.exit {
        k6::K6Exit::Stopped { reason, .. } => {
            summary.completeness.complete = false;
            summary.completeness.issues.push(format!("k6 {reason}"));
        }
        // The script itself declared the test failed: the gate cannot pass it.
        k6::K6Exit::Finished { code: 110, note: Some(note) } => {
            summary.completeness.complete = false;
            summary.completeness.issues.push(note.clone());
        }
        k6::K6Exit::Finished { note: Some(note), .. } => summary.notes.push(note.clone()),
        _ => {}
    }
    if !k6run.error_lines.is_empty() && summary.whole_run.total.requests == 0 {
        summary.completeness.complete = false;
        summary.completeness.issues.push(format!(
            "no requests completed and k6 logged {} error(s), first: {}",
            k6run.error_lines.len(),
            k6run.error_lines.first().map(String::as_str).unwrap_or("")
        ));
    } else if let Some(first) = k6run.error_lines.first() {
        // An exception inside the default function exits 0 in k6: say so, the policies decide.
        summary.notes.push(format!("k6 logged {} error line(s), first: {first}", k6run.error_lines.len()));
    }
}

/// `verdict.json`, `report.md` and `report.html`; returns the HTML report's path.
fn write_reports(
    run_dir: &Path,
    run_id: &str,
    verdict: &Verdict,
    summary: &RunSummary,
    baseline: Option<&RunSummary>,
) -> Result<PathBuf> {
    write(&run_dir.join("verdict.json"), &json(verdict, "verdict")?)?;
    let mut md = format!(
        "{}\n## Run {run_id}\n\n```\n{}```\n",
        crate::report::verdict::markdown(verdict),
        crate::report::text::render(summary)
    );
    if let Some(t) = &verdict.traces {
        md.push_str(&format!("\n## Where the time goes\n\n```\n{}```\n", crate::report::traces::text(t)));
    }
    write(&run_dir.join("report.md"), &md)?;
    let html_path = run_dir.join("report.html");
    write(&html_path, &crate::report::html::render(verdict, summary, baseline))?;
    Ok(html_path)
}

/// Output failures go into the verdict's notes (and its file), so the record says what did
/// not reach Grafana, GitHub or the webhook.
fn add_notes(judged: &mut Judged, run_dir: &Path, delivered: &[outputs::Delivery]) {
    let Some(verdict) = judged.verdict.as_mut() else { return };
    let before = verdict.notes.len();
    verdict.notes.extend(delivered.iter().filter_map(outputs::Delivery::note));
    if verdict.notes.len() == before {
        return;
    }
    let rewritten = json(verdict, "verdict").and_then(|s| write(&run_dir.join("verdict.json"), &s));
    if let Err(e) = rewritten {
        verdict.notes.push(format!("the notes above are not in verdict.json: {}", crate::error::chain(&e)));
    }
}

/// Records the run, whatever happened after k6 started. Returns the id it was recorded
/// under (another run started in the same second may have taken ours).
fn record(
    opts: &RunOptions,
    p: &Prepared,
    a: &Attempt,
    k6run: &k6::K6Run,
    judged: &mut Judged,
    finished_ns: i64,
    confirms: Option<&str>,
) -> Result<String> {
    let summary = judged.summary.as_ref().and_then(|s| serde_json::value::to_raw_value(s).ok());
    let verdict = judged.verdict.as_ref().and_then(|v| serde_json::value::to_raw_value(v).ok());
    if judged.outcome.is_decided() && (summary.is_none() || verdict.is_none()) {
        judged.outcome = Outcome::Error;
        judged.problem.get_or_insert_with(|| "the summary or verdict could not be stored".into());
    }
    let new = NewRun {
        id: Some(a.run_id.clone()),
        test: opts.test.clone(),
        environment: opts.environment.clone(),
        outcome: judged.outcome,
        started_at_ns: a.started_ns,
        finished_at_ns: Some(finished_ns),
        user: opts.who.user.clone(),
        host: opts.who.host.clone(),
        git_branch: opts.git_branch.clone(),
        git_commit: Some(opts.git_commit.clone()),
        deployment_version: Some(opts.deployment_version.clone()),
        run_dir: Some(a.run_dir.clone()),
        k6_exit_code: Some(k6run.exit.code()),
        problem: judged.problem.clone(),
        context: Some(RunContext {
            bootstrap: p.bootstrap.is_some(),
            confirms: confirms.map(str::to_string),
            ..opts.who.context.clone()
        }),
        // The compact record the historical queries read: derived here, from the typed
        // summary, because the store never reads inside one.
        digest: match (&summary, &judged.summary) {
            (Some(_), Some(s)) => crate::summary::digest::rows(s),
            _ => Vec::new(),
        },
        // The decision record the accountability page reads, from the typed verdict.
        decision: match (&verdict, &judged.verdict) {
            (Some(_), Some(v)) if judged.outcome.is_decided() => Some(crate::policy::decision::of(v)),
            _ => None,
        },
        summary,
        verdict,
    };
    Ok(p.store.record_run(&new)?)
}
