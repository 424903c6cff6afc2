//! `k6gate run`: the main job. Render the test for an environment, run k6, ingest what it
//! wrote, pick the baseline, evaluate the policies, write the run directory (script, raw
//! output, summary, verdict, Markdown and HTML reports) and record the run in the history.
//!
//! Whatever happens after k6 starts, the run is recorded: interrupted and broken runs are
//! kept as `incomplete` or `error`, never as decided, and never become a baseline.

pub mod k6;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::compare::{Comparison, compare};
use crate::error::{Error, Result};
use crate::history::{NewRun, Outcome, RunStore, SqliteStore, new_run_id, who};
use crate::ingest::{IngestOptions, ingest};
use crate::policy::verdict::{Request, Status, Verdict, evaluate};
use crate::policy::{data, engine::Policies};
use crate::render::{RenderRequest, RunInfo, render};
use crate::summary::RunSummary;

/// Where the baseline comes from.
#[derive(Debug, Clone)]
pub enum BaselineSource {
    /// The history's pin, or its latest passing run on the default branch.
    Auto,
    /// A RunSummary file, raw k6 output, or a run id from the history.
    Given(String),
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
    pub policies_dir: PathBuf,
    /// One waiver or migration window per file, added by a PR (read when it exists).
    pub waivers_dir: Option<PathBuf>,
    /// How waivers and migration windows are checked before the policies see them.
    pub approval: crate::github::approval::Mode,
    /// `.k6gate`: history database and run directories.
    pub state_dir: PathBuf,
    pub phase: String,
    /// Hide k6's own output (the demo prints its own narration).
    pub quiet_k6: bool,
    /// Live metrics to Prometheus/Mimir during the run, and the summary published after it.
    pub remote_write: Option<k6::RemoteWrite>,
    pub now_ns: i64,
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
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|source| Error::Output { path: path.to_path_buf(), source })
}

fn json<T: serde::Serialize>(v: &T) -> Result<String> {
    serde_json::to_string_pretty(v).map_err(|e| Error::Usage(format!("cannot serialize: {e}")))
}

pub fn open_history(state_dir: &Path) -> Result<SqliteStore> {
    std::fs::create_dir_all(state_dir).map_err(|source| Error::Output { path: state_dir.to_path_buf(), source })?;
    let db = state_dir.join(crate::history::FILE_NAME);
    SqliteStore::open(&db).map_err(|e| Error::Input { path: db, line: None, message: e.to_string() })
}

/// A RunSummary from a file (summary or raw k6 output) or from the history by run id.
pub fn load_summary(spec: &str, store: &SqliteStore) -> Result<(RunSummary, String)> {
    let path = Path::new(spec);
    if path.exists() {
        return Ok((crate::cli::load_run(path)?, spec.to_string()));
    }
    let run = store.get_run(spec).map_err(|e| Error::Usage(format!("{spec}: not a file, and {e}")))?;
    let summary = run
        .summary_as::<RunSummary>()
        .ok_or_else(|| Error::Usage(format!("run {} has no summary ({})", run.id, run.outcome)))?
        .map_err(|e| Error::Usage(format!("run {}: stored summary unreadable: {e}", run.id)))?;
    Ok((summary, format!("run {}", run.id)))
}

/// Runs the whole job. Errors before k6 starts (bad template, missing k6) are returned;
/// after that, problems are recorded in the history and reported in the result.
pub fn execute(opts: &RunOptions) -> Result<RunResult> {
    let run_id = new_run_id(opts.now_ns);
    let info = RunInfo {
        run_id: run_id.clone(),
        git_commit: opts.git_commit.clone(),
        deployment_version: opts.deployment_version.clone(),
        test_date: crate::cli::render::today(opts.now_ns),
    };
    let rendered = render(&RenderRequest {
        test: &opts.test,
        environment: &opts.environment,
        templates_dir: &opts.templates_dir,
        environments_dir: &opts.environments_dir,
        sets: &opts.sets,
        vars: &opts.vars,
        run: info,
    })?;
    // Policies are checked before the load test, so a broken policy costs seconds, not a run.
    let data_dir = opts.policies_dir.join("data");
    let policy_data =
        data::load_dirs(&data_dir, opts.waivers_dir.as_deref()).map_err(|e| Error::Policy(e.to_string()))?;
    let policies = Policies::load(&opts.policies_dir).map_err(|e| Error::Policy(e.to_string()))?;
    let data_dirs: Vec<PathBuf> = std::iter::once(data_dir).chain(opts.waivers_dir.clone()).collect();
    let (policy_data, approvals) =
        crate::github::approval::apply(&policy_data, &opts.approval, &opts.policies_dir, &data_dirs);
    let store = open_history(&opts.state_dir)?;
    // A baseline or previous run given by hand is read now: a typo costs seconds, not a run.
    let given_baseline = match &opts.baseline {
        BaselineSource::Given(spec) => Some((load_summary(spec, &store)?, spec)),
        BaselineSource::Auto => None,
    };
    let given_previous = opts.previous.as_deref().map(|p| load_summary(p, &store)).transpose()?;

    let run_dir = opts.state_dir.join("runs").join(&run_id);
    std::fs::create_dir_all(&run_dir).map_err(|source| Error::Output { path: run_dir.clone(), source })?;
    let script = run_dir.join("script.js");
    write(&script, &rendered.script)?;
    write(&run_dir.join("environment.json"), &json(&rendered.environment)?)?;

    let k6run = k6::run_with(&script, &run_dir, opts.quiet_k6, opts.remote_write.as_ref())?;
    let finished_ns = crate::cli::render::now_ns().max(opts.now_ns);
    let mut record = NewRun {
        id: Some(run_id.clone()),
        test: opts.test.clone(),
        environment: opts.environment.clone(),
        outcome: Outcome::Error,
        started_at_ns: opts.now_ns,
        finished_at_ns: Some(finished_ns),
        user: who::current_user(),
        host: who::hostname(),
        git_branch: opts.git_branch.clone(),
        git_commit: Some(opts.git_commit.clone()),
        deployment_version: Some(opts.deployment_version.clone()),
        run_dir: Some(run_dir.clone()),
        k6_exit_code: Some(k6run.exit.code()),
        summary: None,
        verdict: None,
    };
    let mut result = RunResult {
        run_id: run_id.clone(),
        run_dir: run_dir.clone(),
        outcome: Outcome::Error,
        summary: None,
        verdict: None,
        problem: None,
        html_report: None,
    };

    if let k6::K6Exit::Failed { reason, .. } = &k6run.exit {
        let mut problem = reason.clone();
        if let Some(first) = k6run.error_lines.first() {
            problem.push_str(&format!("; k6 said: {first}"));
        }
        return finish(&store, record, result, Some(problem));
    }

    // Ingest: a stopped run keeps what it wrote and is marked incomplete.
    let stopped = matches!(k6run.exit, k6::K6Exit::Stopped { .. });
    let ingest_opts =
        IngestOptions { allow_partial: stopped, k6_exit_code: Some(k6run.exit.code()), ..Default::default() };
    let mut summary = match ingest(std::slice::from_ref(&k6run.json_out), &ingest_opts) {
        Ok(s) => s,
        Err(e) => {
            let outcome = if stopped { Outcome::Incomplete } else { Outcome::Error };
            record.outcome = outcome;
            result.outcome = outcome;
            return finish(&store, record, result, Some(format!("cannot ingest k6's output: {e}")));
        }
    };
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
    if let Some(rw) = &opts.remote_write {
        // k6 exits 0 even when every push failed: look for the run's series.
        if let Some(warning) = live_series_missing(rw, &run_id) {
            eprintln!("k6gate: warning: {warning}");
            summary.notes.push(warning);
        }
    }
    let summary_json = json(&summary)?;
    write(&run_dir.join("run-summary.json"), &summary_json)?;
    record.summary = serde_json::value::to_raw_value(&summary).ok();

    // Baseline.
    let (baseline, baseline_source, baseline_reason, no_baseline) = match given_baseline {
        Some(((b, src), spec)) => (b, src, Some(format!("given on the command line: {spec}")), false),
        None => match store.baseline(&opts.test, &opts.environment, &opts.default_branch) {
            Ok(Some(choice)) => match choice.run.summary_as::<RunSummary>() {
                Some(Ok(b)) => (
                    b,
                    format!("run {}", choice.run.id),
                    Some(format!("run {}: {}", choice.run.id, choice.reason)),
                    false,
                ),
                // Never "no baseline" (SLAs only): the chosen baseline exists but cannot be read.
                unreadable => {
                    let why = match unreadable {
                        Some(Err(e)) => e.to_string(),
                        _ => "no summary stored".into(),
                    };
                    record.outcome = Outcome::Error;
                    result.outcome = Outcome::Error;
                    result.summary = Some(summary);
                    let problem = format!("baseline run {}: its stored summary is unreadable ({why})", choice.run.id);
                    return finish(&store, record, result, Some(problem));
                }
            },
            Ok(None) => (summary.clone(), "this run".into(), None, true),
            Err(e) => return Err(Error::Usage(format!("history: {e}"))),
        },
    };
    let comparison: Comparison =
        compare(&baseline, &baseline_source, &summary, &format!("run {run_id}"), &opts.phase, policy_data.confidence());
    let previous = given_previous.map(|(prev, src)| {
        compare(&prev, &src, &summary, &format!("run {run_id}"), &opts.phase, policy_data.confidence())
    });
    let req = Request {
        test: &opts.test,
        environment: &opts.environment,
        now_ns: opts.now_ns,
        comparison: &comparison,
        previous: previous.as_ref(),
        no_baseline,
        baseline_reason,
    };
    let verdict = match evaluate(&policies, &policy_data, &req) {
        Ok(mut v) => {
            v.ignored.extend(crate::github::approval::ignored(&approvals));
            v
        }
        Err(e) => {
            result.summary = Some(summary);
            return finish(&store, record, result, Some(format!("policy evaluation failed: {e}")));
        }
    };
    write(&run_dir.join("verdict.json"), &json(&verdict)?)?;
    let md = format!(
        "{}\n## Run {run_id}\n\n```\n{}```\n",
        crate::report::verdict::markdown(&verdict),
        crate::report::text::render(&summary)
    );
    write(&run_dir.join("report.md"), &md)?;
    let html_path = run_dir.join("report.html");
    let baseline_for_report = (!no_baseline).then_some(&baseline);
    write(&html_path, &crate::report::html::render(&verdict, &summary, baseline_for_report))?;
    result.html_report = Some(html_path);

    let outcome = if !summary.completeness.complete && stopped {
        Outcome::Incomplete
    } else {
        match verdict.outcome {
            Status::Pass => Outcome::Pass,
            Status::Warn => Outcome::Warn,
            Status::Fail => Outcome::Fail,
        }
    };
    if let Some(rw) = &opts.remote_write {
        // Long-term history: a handful of series per phase and group. A failure here never
        // changes the verdict, which rests on the run's own data.
        match publish_summary(rw, &summary, &run_id, Some(outcome.as_str())) {
            Ok(n) => {
                eprintln!("k6gate: published {n} summary series to {}", crate::prom::remote_write::redact_url(&rw.url))
            }
            Err(e) => eprintln!("k6gate: warning: the run summary was not published: {e}"),
        }
    }
    record.outcome = outcome;
    record.verdict = serde_json::value::to_raw_value(&verdict).ok();
    result.outcome = outcome;
    result.summary = Some(summary);
    result.verdict = Some(verdict);
    let problem = stopped.then(|| "the run was stopped early; recorded as incomplete".to_string());
    finish(&store, record, result, problem)
}

/// Remote-writes the summary's series; returns how many.
pub fn publish_summary(
    rw: &k6::RemoteWrite,
    summary: &RunSummary,
    run_id: &str,
    verdict: Option<&str>,
) -> std::result::Result<usize, String> {
    let auth = crate::prom::remote_write::Auth::from_env().map_err(|e| e.to_string())?;
    crate::prom::publish::publish_summary(&rw.url, rw.tenant.as_deref(), auth, summary, run_id, verdict)
        .map_err(|e| e.to_string())
}

/// Why the run's live series are not in Prometheus, or `None` when they arrived.
fn live_series_missing(rw: &k6::RemoteWrite, run_id: &str) -> Option<String> {
    let auth = match crate::prom::remote_write::Auth::from_env() {
        Ok(a) => a,
        Err(e) => return Some(format!("cannot check the live metrics: {e}")),
    };
    crate::prom::live::series_missing(&rw.url, rw.tenant.as_deref(), &auth, run_id)
}

fn finish(
    store: &SqliteStore,
    mut record: NewRun,
    mut result: RunResult,
    problem: Option<String>,
) -> Result<RunResult> {
    if record.outcome.is_decided() && (record.summary.is_none() || record.verdict.is_none()) {
        record.outcome = Outcome::Error;
        result.outcome = Outcome::Error;
    }
    let id =
        store.record_run(&record).map_err(|e| Error::Usage(format!("cannot record the run in the history: {e}")))?;
    if id != result.run_id {
        // Taken by another run started in the same second: the directory keeps its name, and
        // the history records it with the run.
        result.run_id = id;
    }
    result.problem = problem;
    Ok(result)
}
