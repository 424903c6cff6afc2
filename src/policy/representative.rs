//! The verdict's section "Is this test representative?": what production is declared to look
//! like (`production:` in the environment file) against what k6gate measured in the run and on
//! the target, one finding per aspect, each judged by `policies/adequacy.rego` as pass, warn or
//! fail for the environment. Built by `crate::adequacy`; the verdict only carries it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::verdict::Status;

/// One aspect of production and how the run compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Finding {
    /// `users`, `data_rows`, `data_bytes`, `cache`, `connections`, `third_party:<name>`,
    /// `saturation`.
    pub aspect: String,
    /// `pass`: representative; `warn`/`fail` by the environment's policy.
    pub status: Status,
    /// k6gate could not measure it: never taken as representative.
    #[serde(default)]
    pub unknown: bool,
    /// What production declares and what was measured, as the policy saw them.
    pub declared: serde_json::Value,
    pub measured: serde_json::Value,
    /// The measured value as a share of the declared one, where both are numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale: Option<f64>,
    /// One sentence: "10K of 100K users (scale 0.1)".
    pub message: String,
}

/// The whole section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Representative {
    /// The worst finding's status (`pass` when every aspect is representative).
    pub outcome: Status,
    pub findings: Vec<Finding>,
    /// What the measurements say about where the time went ("connection pool exhausted:
    /// waited P95 80 ms of 450 ms"), whatever the adequacy outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interpretation: Vec<String>,
    /// Where the measurements came from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sources: Vec<String>,
}

impl Representative {
    /// The findings that are not a pass.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status != Status::Pass)
    }
}
