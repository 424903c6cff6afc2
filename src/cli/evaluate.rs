//! `evaluate`, `compare` and the policy development commands.

use std::path::Path;

use super::{CompareArgs, EvaluateArgs, Settings, VerdictFormat};
use crate::error::{Error, Exit, Result};
use crate::gate::{self, Baseline, Case, Gate};
use crate::policy::data;
use crate::policy::verdict::Status;

fn now_ns(arg: Option<&str>) -> Result<i64> {
    match arg {
        Some(s) => data::time(s).map_err(|m| Error::Usage(format!("--now: {m}"))),
        None => Ok(crate::clock::now_ns()),
    }
}

pub fn run_evaluate(args: &EvaluateArgs, s: &Settings) -> Result<Exit> {
    if let Some(w) = s.trusted_warning() {
        tracing::warn!("{w}");
    }
    let now_ns = now_ns(args.now.as_deref())?;
    let gate = Gate::load(&s.policy_source()?)?;
    let load = |spec: &str| crate::load::run(spec, &s.history());
    let baselines = args.baselines.iter().map(|b| load(b)).collect::<Result<Vec<_>>>()?;
    let candidate = load(&args.run)?;
    let confirmations = args.confirmations.iter().map(|c| load(c)).collect::<Result<Vec<_>>>()?;
    let confirmations: Vec<_> = confirmations.iter().map(crate::load::LoadedRun::side).collect();
    let previous = args.previous.as_deref().map(load).transpose()?;
    let traces = args.traces.as_deref().map(super::traces::read_findings).transpose()?;
    let mut verdict = gate.judge_traced(
        &Case {
            test: &args.test,
            environment: &args.env,
            now_ns,
            phase: &args.phase.phase,
            candidate: candidate.side(),
            confirmations: &confirmations,
            baseline: Baseline::Runs {
                runs: baselines.iter().map(crate::load::LoadedRun::side).collect(),
                reason: None,
            },
            previous: previous.as_ref().map(crate::load::LoadedRun::side),
        },
        traces.as_ref(),
    )?;
    if let Some(dir) = &args.production_from {
        adequacy(args, s, &gate, dir, &candidate.summary, &mut verdict)?;
    }
    let json = serde_json::to_string_pretty(&verdict).map_err(Error::serialize("verdict"))?;
    if let Some(path) = &args.output {
        std::fs::write(path, &json).map_err(Error::output(path))?;
    }
    let text = match args.format {
        VerdictFormat::Json => json,
        VerdictFormat::Text => crate::report::verdict::text(&verdict),
        VerdictFormat::Markdown => crate::report::verdict::markdown(&verdict),
    };
    println!("{text}");
    Ok(exit_for(verdict.outcome))
}

/// `evaluate --production-from`: the section "Is this test representative?".
fn adequacy(
    args: &EvaluateArgs,
    s: &Settings,
    gate: &Gate,
    dir: &Path,
    summary: &crate::summary::RunSummary,
    verdict: &mut crate::policy::verdict::Verdict,
) -> Result<()> {
    let (env, _) = crate::render::load_environment(dir, &args.env, &s.env.k6gate(), &[])?;
    let production = env.production.ok_or_else(|| {
        Error::Usage(format!("--production-from: {}/{}.yaml declares no production: block", dir.display(), args.env))
    })?;
    let texts = match args.target_metrics.as_deref() {
        Some([before, after]) => {
            let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| Error::Usage(format!("{}: {e}", p.display())));
            Some((read(before)?, read(after)?))
        }
        _ => None,
    };
    let source = args.target_metrics.as_ref().and_then(|m| m.first()).map(|p| p.display().to_string());
    let rules = crate::adequacy::Rules::from_files(gate.binding_files())?;
    let section = crate::adequacy::from_captures(
        &rules,
        &args.env,
        &production,
        summary,
        texts.as_ref().map(|(b, a)| (b.as_str(), a.as_str())),
        source.as_deref().unwrap_or("--target-metrics"),
    )
    .map_err(|e| Error::Usage(format!("adequacy: {e}")))?;
    crate::adequacy::judge::attach(verdict, section);
    Ok(())
}

/// The exit for a verdict: 1 only when the gate said no, 2 when it could not say.
pub fn exit_for(outcome: Status) -> Exit {
    match outcome {
        Status::Pass | Status::Warn => Exit::Success,
        Status::Fail => Exit::Blocked,
        Status::Inconclusive => Exit::Inconclusive,
    }
}

pub fn run_compare(args: &CompareArgs, s: &Settings) -> Result<Exit> {
    let b = crate::load::run(&args.baseline, &s.history())?;
    let r = crate::load::run(&args.run, &s.history())?;
    let confidence = gate::confidence(&s.global.policies)?;
    let cmp = crate::compare::compare(&b.summary, &b.source, &r.summary, &r.source, &args.phase.phase, confidence);
    let text = match args.format {
        VerdictFormat::Json => serde_json::to_string_pretty(&cmp).map_err(Error::serialize("comparison"))?,
        VerdictFormat::Markdown => crate::report::verdict::comparison_markdown(&cmp),
        VerdictFormat::Text => crate::report::verdict::comparison_text(&cmp),
    };
    println!("{text}");
    Ok(Exit::Success)
}

pub fn run_policy_test(dir: &Path) -> Result<Exit> {
    let data_dir = dir.join("data");
    let data = if data_dir.is_dir() { Some(data::load(&data_dir)?.rego_data()) } else { None };
    let outcomes = crate::policy::engine::run_tests(dir, data.as_ref())?;
    if outcomes.is_empty() {
        return Err(Error::Usage(format!("no test_* rules in {}", dir.display())));
    }
    let failed = outcomes.iter().filter(|o| o.failure.is_some()).count();
    for o in &outcomes {
        match &o.failure {
            None => println!("PASS {}: {}", o.file.display(), o.rule),
            Some(why) => println!("FAIL {}: {}: {why}", o.file.display(), o.rule),
        }
    }
    println!("{}/{} passed", outcomes.len() - failed, outcomes.len());
    Ok(if failed == 0 { Exit::Success } else { Exit::Blocked })
}

pub fn run_policy_check(dir: &Path) -> Result<Exit> {
    let d = data::load(&dir.join("data"))?;
    let p = crate::policy::engine::Policies::load(dir)?;
    println!("ok: {} data file(s), {} Rego file(s)", d.files.len(), p.files.len());
    for f in d.files.iter().chain(&p.files) {
        println!("  {}", f.display());
    }
    Ok(Exit::Success)
}
