//! The adequacy rules (policies/adequacy.rego, package `k6gate_adequacy`) over what production
//! declares and what was measured, through the gate's Rego engine, into the verdict's section.

use serde_json::{Value, json};

use super::AdequacyError;
use super::config::AdequacyConfig;
use super::measure::{Measured, human_bytes, human_count};
use crate::policy::PolicyError;
use crate::policy::engine::Policies;
use crate::policy::files::PolicyFiles;
use crate::policy::representative::{Finding, Representative};
use crate::policy::verdict::{Status, Verdict};
use crate::render::Production;

/// The order findings are shown in.
const ORDER: [&str; 6] = ["users", "connections", "data_rows", "data_bytes", "cache", "third_party"];

/// The adequacy rules and their data.
#[derive(Debug, Clone)]
pub struct Rules {
    policies: Policies,
    pub config: AdequacyConfig,
}

impl Rules {
    /// From a policy's files: the gate's binding ones in `run`, so that on a pull request the
    /// base branch's severities bind.
    pub fn from_files(files: &PolicyFiles) -> Result<Rules, PolicyError> {
        Ok(Rules {
            policies: Policies::from_files(&files.rego, &files.dir)?,
            config: AdequacyConfig::from_files(&files.data)?,
        })
    }

    /// The section for a run of `environment` whose production is `declared`.
    pub fn judge(
        &self,
        environment: &str,
        declared: &Production,
        measured: &Measured,
        sources: Vec<String>,
    ) -> Result<Representative, AdequacyError> {
        let input = input(environment, declared, measured);
        let rego = |m: String| AdequacyError::Policy(PolicyError::Rego(m));
        let value =
            self.policies.query(&self.config.rego_data(), &input, "data.k6gate_adequacy.findings")?.ok_or_else(
                || rego("data.k6gate_adequacy.findings is undefined (policies/adequacy.rego missing?)".into()),
            )?;
        let mut findings: Vec<Finding> =
            serde_json::from_value(value).map_err(|e| rego(format!("data.k6gate_adequacy.findings: {e}")))?;
        findings.sort_by_key(|f| {
            let kind = f.aspect.split(':').next().unwrap_or(&f.aspect);
            (ORDER.iter().position(|a| *a == kind).unwrap_or(ORDER.len()), f.aspect.clone())
        });
        let outcome = findings.iter().map(|f| f.status).max().unwrap_or(Status::Pass);
        Ok(Representative { outcome, findings, interpretation: measured.interpretation(), sources })
    }
}

/// The Rego input document (documented at the top of policies/adequacy.rego).
pub fn input(environment: &str, declared: &Production, measured: &Measured) -> Value {
    let count = |v: Option<f64>| v.map(human_count);
    let text = json!({
        "users": { "declared": human_count(declared.users as f64), "measured": count(measured.users) },
        "connections": { "declared": human_count(declared.connections as f64), "measured": count(measured.connections), "source": measured.connections_source },
        "data_rows": { "declared": declared.data_rows.map(|n| human_count(n as f64)), "measured": count(measured.data_rows) },
        "data_bytes": { "declared": declared.data_bytes.map(|n| human_bytes(n as f64)), "measured": measured.data_bytes.map(human_bytes) },
        "saturation_scenario": { "declared": declared.saturation_scenario, "measured": measured.saturation_text },
    });
    json!({
        "environment": environment,
        "declared": {
            "users": declared.users,
            "data_rows": declared.data_rows,
            "data_bytes": declared.data_bytes,
            "cache_after_deploy": declared.cache_after_deploy,
            "connections": declared.connections,
            "third_party_calls": declared.third_party_calls,
            "saturation_scenario": declared.saturation_scenario,
        },
        "measured": {
            "users": measured.users,
            "data_rows": measured.data_rows,
            "data_bytes": measured.data_bytes,
            "cache_at_start": measured.cache_at_start,
            "cache_hit_rate": measured.cache_hit_rate,
            "connections": measured.connections,
            "k6_peak_vus": measured.k6_peak_vus,
            "target_connections": measured.target_connections,
            "third_party_calls": measured.third_party_calls,
            "saturation_scenario": measured.saturation_scenario,
        },
        "text": text,
        "why": measured.why,
    })
}

/// Puts the section into the verdict: a `fail` finding makes the outcome a fail, a `warn` a
/// pass into a warn; an inconclusive verdict stays inconclusive.
pub fn attach(verdict: &mut Verdict, section: Representative) {
    let before = verdict.outcome;
    if before != Status::Inconclusive && section.outcome > before {
        verdict.outcome = section.outcome;
        let what = if section.outcome == Status::Fail { "FAIL" } else { "WARN" };
        verdict.headline = format!("{what}: the test is not representative of production; {}", verdict.headline);
    }
    verdict.representative = Some(section);
}
