//! Rego evaluation with regorus: k6gate's package is `k6gate`, its outputs are
//! `results`, `exceptions` and `ignored`.

use std::path::{Path, PathBuf};

use super::PolicyError;
use super::files::PolicyFile;

/// The Rego files of a policy directory, loaded once.
#[derive(Debug, Clone)]
pub struct Policies {
    pub files: Vec<PathBuf>,
    engine: regorus::Engine,
}

/// Raw outputs of the rules, as JSON.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub results: serde_json::Value,
    pub exceptions: serde_json::Value,
    pub ignored: serde_json::Value,
}

fn rego_err(e: impl std::fmt::Display) -> PolicyError {
    PolicyError::Rego(e.to_string().trim().to_string())
}

impl Policies {
    pub fn load(dir: &Path) -> Result<Policies, PolicyError> {
        Policies::from_files(&super::files::rego_in(dir)?, &dir.display().to_string())
    }

    /// The Rego files `files` (named as [`PolicyFile::name`] says, which Rego errors repeat);
    /// `dir` names the policy when there are none.
    pub fn from_files(files: &[PolicyFile], dir: &str) -> Result<Policies, PolicyError> {
        if files.is_empty() {
            return Err(PolicyError::Io { path: dir.into(), message: "no .rego files".into() });
        }
        let mut engine = regorus::Engine::new();
        for f in files {
            engine.add_policy(f.name.clone(), f.text.clone()).map_err(rego_err)?;
        }
        Ok(Policies { files: files.iter().map(|f| PathBuf::from(&f.name)).collect(), engine })
    }

    /// Evaluates the k6gate package over `input` with `data`.
    pub fn evaluate(&self, data: &serde_json::Value, input: &serde_json::Value) -> Result<Outputs, PolicyError> {
        let mut engine = self.engine.clone();
        engine.add_data_json(&data.to_string()).map_err(rego_err)?;
        engine.set_input_json(&input.to_string()).map_err(rego_err)?;
        // A query, not eval_rule: a package without `exceptions` or `ignored` (or even
        // `results`, which then fails closed as "no results") is not an error.
        let mut rule = |name: &str| -> Result<serde_json::Value, PolicyError> {
            let q = engine.eval_query(format!("data.k6gate.{name}"), false).map_err(rego_err)?;
            let Some(v) = q.result.first().and_then(|r| r.expressions.first()).map(|e| &e.value) else {
                return Ok(serde_json::Value::Array(vec![]));
            };
            if *v == regorus::Value::Undefined {
                return Ok(serde_json::Value::Array(vec![]));
            }
            let s = v.to_json_str().map_err(rego_err)?;
            serde_json::from_str(&s).map_err(rego_err)
        };
        Ok(Outputs { results: rule("results")?, exceptions: rule("exceptions")?, ignored: rule("ignored")? })
    }
}

impl Policies {
    /// Evaluates one query (`data.k6gate_canary.decision`) over `input` with `data`, for the
    /// rule sets beside the gate's; `None` when it is undefined (the caller fails closed).
    pub fn query(
        &self,
        data: &serde_json::Value,
        input: &serde_json::Value,
        query: &str,
    ) -> Result<Option<serde_json::Value>, PolicyError> {
        let mut engine = self.engine.clone();
        engine.add_data_json(&data.to_string()).map_err(rego_err)?;
        engine.set_input_json(&input.to_string()).map_err(rego_err)?;
        let q = engine.eval_query(query.to_string(), false).map_err(rego_err)?;
        let Some(v) = q.result.first().and_then(|r| r.expressions.first()).map(|e| &e.value) else {
            return Ok(None);
        };
        if *v == regorus::Value::Undefined {
            return Ok(None);
        }
        let s = v.to_json_str().map_err(rego_err)?;
        serde_json::from_str(&s).map(Some).map_err(rego_err)
    }
}

/// One Rego unit test's outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    pub file: PathBuf,
    pub rule: String,
    /// `None` = passed; otherwise why not.
    pub failure: Option<String>,
}

/// Runs every `test_*` rule in `dir` the way `opa test` does: a test passes when the rule is
/// true; false, undefined or an error fail it. `data` is loaded first (as `data.k6gate` etc.).
pub fn run_tests(dir: &Path, data: Option<&serde_json::Value>) -> Result<Vec<TestOutcome>, PolicyError> {
    let mut engine = regorus::Engine::new();
    let mut tests = Vec::new();
    for f in super::files::rego_in(dir)? {
        let package = engine.add_policy(f.name.clone(), f.text.clone()).map_err(rego_err)?;
        for name in test_rules(&f.text) {
            tests.push((PathBuf::from(&f.name), package.clone(), name));
        }
    }
    if let Some(d) = data {
        engine.add_data_json(&d.to_string()).map_err(rego_err)?;
    }
    let mut out = Vec::new();
    for (file, package, rule) in tests {
        let mut e = engine.clone();
        let failure = match e.eval_rule(format!("{package}.{rule}")) {
            Ok(v) if v == regorus::Value::from(true) => None,
            Ok(regorus::Value::Undefined) => Some("undefined (a condition did not hold)".to_string()),
            Ok(v) => Some(format!("evaluated to {v}")),
            Err(e) => Some(format!("error: {e}")),
        };
        out.push(TestOutcome { file, rule, failure });
    }
    Ok(out)
}

/// Names of rules that start with `test_` at the beginning of a line (how OPA finds tests).
fn test_rules(src: &str) -> Vec<String> {
    let mut names: Vec<String> = src
        .lines()
        .filter_map(|l| {
            let name: String = l.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            (name.starts_with("test_")
                && l.get(name.len()..).unwrap_or("").trim_start().starts_with(['i', '{', ':', '=']))
            .then_some(name)
        })
        .collect();
    names.dedup();
    names
}
