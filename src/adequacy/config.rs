//! The adequacy check's policy data: the `adequacy` section of `policies/data/*.yaml`
//! (shipped in `policies/data/adequacy.yaml`), typed and checked here; the gate's own loader
//! accepts the section and leaves it alone. Set once; every error names the file, line and
//! column of the key to blame.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::policy::PolicyError;
use crate::policy::files::PolicyFile;
use crate::policy::locate::{Seg, locate, parse_yaml};

#[derive(Debug, Deserialize)]
struct File {
    adequacy: Option<AdequacyConfig>,
}

/// What a finding is, where.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Warn,
    Fail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Severities {
    pub default: Severity,
    #[serde(default)]
    pub environments: BTreeMap<String, Severity>,
}

/// The section, as Rego reads it (`data.k6gate_adequacy_config`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdequacyConfig {
    /// A measured size at or above this share of production's is representative (0 < x ≤ 1).
    pub min_scale: f64,
    pub severity: Severities,
}

impl Default for AdequacyConfig {
    /// Without a section: everything only warns, at half of production's size.
    fn default() -> AdequacyConfig {
        AdequacyConfig {
            min_scale: 0.5,
            severity: Severities { default: Severity::Warn, environments: BTreeMap::new() },
        }
    }
}

impl AdequacyConfig {
    /// The section from the policy's data files; the default when none has it.
    pub fn from_files(files: &[PolicyFile]) -> Result<AdequacyConfig, PolicyError> {
        let mut found: Option<(AdequacyConfig, String)> = None;
        for f in files {
            let file: Option<File> = parse_yaml(&f.text).map_err(|e| PolicyError::Data {
                path: f.name.clone().into(),
                line: e.line,
                col: e.col,
                message: format!("{}: {}", e.field, e.message),
            })?;
            let Some(config) = file.and_then(|f| f.adequacy) else { continue };
            let error = |at: &[Seg<'_>], message: String| {
                let (line, col) = locate(&f.text, at);
                PolicyError::Data { path: f.name.clone().into(), line, col, message }
            };
            if let Some((_, first)) = &found {
                return Err(error(&[Seg::Key("adequacy")], format!("adequacy is already set at {first}")));
            }
            if !(config.min_scale > 0.0 && config.min_scale <= 1.0) {
                return Err(error(
                    &[Seg::Key("adequacy"), Seg::Key("min_scale")],
                    format!("adequacy.min_scale: {} is not in (0, 1]", config.min_scale),
                ));
            }
            let source = format!("{}:{}", f.name, locate(&f.text, &[Seg::Key("adequacy")]).0);
            found = Some((config, source));
        }
        Ok(found.map(|(c, _)| c).unwrap_or_default())
    }

    /// `data.k6gate_adequacy_config` for Rego.
    pub fn rego_data(&self) -> serde_json::Value {
        serde_json::json!({ "k6gate_adequacy_config": self })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> PolicyFile {
        PolicyFile { rel: "data/a.yaml".into(), name: "policies/data/a.yaml".into(), text: text.into() }
    }

    #[test]
    fn errors_name_file_line_and_field() {
        let e = AdequacyConfig::from_files(&[file("adequacy:\n  min_scale: 0.5\n  severity:\n    default: never\n")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("policies/data/a.yaml:4:"), "{e}");
        assert!(e.contains("adequacy.severity.default"), "{e}");
        let e = AdequacyConfig::from_files(&[file("adequacy:\n  min_scale: 2\n  severity: {default: warn}\n")])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("policies/data/a.yaml:2:3: adequacy.min_scale: 2 is not in (0, 1]"), "{e}");
        let e = AdequacyConfig::from_files(&[file("adequacy:\n  min_scal: 0.5\n")]).unwrap_err().to_string();
        assert!(e.contains("unknown field `min_scal`"), "{e}");
    }

    #[test]
    fn the_shipped_section_fails_prod_sim_only() {
        let text =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/policies/data/adequacy.yaml")).unwrap();
        let c = AdequacyConfig::from_files(&[file(&text)]).unwrap();
        assert_eq!(c.severity.environments.get("prod-sim"), Some(&Severity::Fail));
        assert_eq!(c.severity.default, Severity::Warn);
        assert_eq!(AdequacyConfig::from_files(&[file("sla: {}\n")]).unwrap(), AdequacyConfig::default());
    }
}
