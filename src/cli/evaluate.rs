use std::io::Read;
use std::path::Path;

use super::{CompareArgs, EvaluateArgs, VerdictFormat};
use crate::compare::{Comparison, compare};
use crate::error::{Error, Result, exit};
use crate::ingest::{IngestOptions, ingest};
use crate::policy::verdict::{Request, Status, evaluate};
use crate::policy::{data, engine::Policies};
use crate::summary::{RunSummary, SCHEMA_VERSION};

/// A RunSummary file, or raw k6 output ingested on the fly.
pub fn load_run(path: &Path) -> Result<RunSummary> {
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path)
        .and_then(|mut f| f.read(&mut head))
        .map_err(|e| Error::input(path, None, format!("cannot read: {e}")))?;
    let head = String::from_utf8_lossy(head.get(..n).unwrap_or_default());
    if head.contains("\"schema_version\"") && head.contains("k6gate.run-summary/") {
        let text = std::fs::read_to_string(path).map_err(|e| Error::input(path, None, e.to_string()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .map_err(|e| Error::input(path, Some(e.line() as u64), format!("not valid JSON: {e}")))?;
        let version = v.get("schema_version").and_then(|s| s.as_str()).unwrap_or_default();
        if version != SCHEMA_VERSION {
            return Err(Error::input(path, None, format!("RunSummary {version}, this k6gate reads {SCHEMA_VERSION}")));
        }
        return serde_json::from_value(v).map_err(|e| Error::input(path, None, format!("not a valid RunSummary: {e}")));
    }
    ingest(&[path.to_path_buf()], &IngestOptions::default())
}

fn now_ns(arg: Option<&str>) -> Result<i64> {
    match arg {
        Some(s) => data::time(s).map_err(|m| Error::Usage(format!("--now: {m}"))),
        None => Ok(super::render::now_ns()),
    }
}

fn comparison(base: &Path, run: &Path, phase: &str, confidence: f64) -> Result<Comparison> {
    let (b, r) = (load_run(base)?, load_run(run)?);
    Ok(compare(&b, &base.display().to_string(), &r, &run.display().to_string(), phase, confidence))
}

pub fn run_evaluate(args: &EvaluateArgs) -> Result<i32> {
    args.approval.warn_if_trusted();
    let dir = &args.policies;
    let data_dir = dir.join("data");
    let policy_data =
        data::load_dirs(&data_dir, args.waivers_dir.as_deref()).map_err(|e| Error::Policy(e.to_string()))?;
    let policies = Policies::load(dir).map_err(|e| Error::Policy(e.to_string()))?;
    let data_dirs: Vec<std::path::PathBuf> = std::iter::once(data_dir).chain(args.waivers_dir.clone()).collect();
    let (policy_data, approvals) =
        crate::github::approval::apply(&policy_data, &args.approval.mode(&args.default_branch), dir, &data_dirs);
    let confidence = policy_data.confidence();
    let cmp = comparison(&args.baseline, &args.run, &args.phase, confidence)?;
    let previous = match &args.previous {
        Some(p) => Some(comparison(p, &args.run, &args.phase, confidence)?),
        None => None,
    };
    let req = Request {
        test: &args.test,
        environment: &args.env,
        now_ns: now_ns(args.now.as_deref())?,
        comparison: &cmp,
        previous: previous.as_ref(),
        no_baseline: false,
        baseline_reason: None,
    };
    let mut verdict = evaluate(&policies, &policy_data, &req).map_err(|e| Error::Policy(e.to_string()))?;
    verdict.ignored.extend(crate::github::approval::ignored(&approvals));
    let json = serde_json::to_string_pretty(&verdict).map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(path) = &args.output {
        std::fs::write(path, &json).map_err(|source| Error::Output { path: path.clone(), source })?;
    }
    let text = match args.format {
        VerdictFormat::Json => json,
        VerdictFormat::Text => crate::report::verdict::text(&verdict),
        VerdictFormat::Markdown => crate::report::verdict::markdown(&verdict),
    };
    println!("{text}");
    Ok(if verdict.outcome == Status::Fail { exit::GATE_FAILED } else { exit::OK })
}

pub fn run_compare(args: &CompareArgs) -> Result<i32> {
    // Files are read as they are; anything else is a run id from the history.
    let load = |spec: &str| -> Result<(RunSummary, String)> {
        if Path::new(spec).exists() {
            return Ok((load_run(Path::new(spec))?, spec.to_string()));
        }
        crate::run::load_summary(spec, &crate::run::open_history(&args.state_dir)?)
    };
    let (b, bsrc) = load(&args.baseline)?;
    let (r, rsrc) = load(&args.run)?;
    let cmp = compare(&b, &bsrc, &r, &rsrc, &args.phase, 0.95);
    match args.format {
        VerdictFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&cmp).map_err(|e| Error::Usage(e.to_string()))?)
        }
        VerdictFormat::Markdown => println!("{}", crate::report::verdict::comparison_markdown(&cmp)),
        VerdictFormat::Text => println!("{}", crate::report::verdict::comparison_text(&cmp)),
    }
    Ok(exit::OK)
}

pub fn run_policy_test(dir: &Path) -> Result<i32> {
    let data_dir = dir.join("data");
    let data = if data_dir.is_dir() {
        Some(data::load(&data_dir).map_err(|e| Error::Policy(e.to_string()))?.json)
    } else {
        None
    };
    let outcomes = crate::policy::engine::run_tests(dir, data.as_ref()).map_err(|e| Error::Policy(e.to_string()))?;
    let failed: Vec<_> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    for o in &outcomes {
        match &o.failure {
            None => println!("PASS {}: {}", o.file.display(), o.rule),
            Some(why) => println!("FAIL {}: {}: {why}", o.file.display(), o.rule),
        }
    }
    println!("{}/{} passed", outcomes.len() - failed.len(), outcomes.len());
    if outcomes.is_empty() {
        eprintln!("error: no test_* rules in {}", dir.display());
        return Ok(exit::ERROR);
    }
    Ok(if failed.is_empty() { exit::OK } else { exit::GATE_FAILED })
}

pub fn run_policy_check(dir: &Path) -> Result<i32> {
    let d = data::load(&dir.join("data")).map_err(|e| Error::Policy(e.to_string()))?;
    let p = Policies::load(dir).map_err(|e| Error::Policy(e.to_string()))?;
    println!("ok: {} data file(s), {} Rego file(s)", d.files.len(), p.files.len());
    for f in d.files.iter().chain(&p.files) {
        println!("  {}", f.display());
    }
    Ok(exit::OK)
}
