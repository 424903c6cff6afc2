//! The environment variables k6gate was started with, captured once at the edge and passed
//! down as a value: nothing below the CLI calls `std::env::var`, and tests give their own.

use std::collections::BTreeMap;
use std::sync::Arc;

#[derive(Debug, Clone, Default)]
pub struct Vars(Arc<BTreeMap<String, String>>);

impl Vars {
    /// This process's environment.
    pub fn capture() -> Vars {
        Vars(Arc::new(std::env::vars().collect()))
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Vars {
        Vars(Arc::new(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect()))
    }

    /// A set value, trimmed; empty counts as unset (an unset workflow input arrives as "").
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// The set variables whose names start with one of `prefixes`.
    pub fn with_prefixes(&self, prefixes: &[&str]) -> Vec<(String, String)> {
        self.0
            .iter()
            .filter(|(k, v)| prefixes.iter().any(|p| k.starts_with(p)) && !v.trim().is_empty())
            .map(|(k, v)| (k.clone(), v.trim().to_string()))
            .collect()
    }

    /// The `K6GATE_*` variables, which override environment values in templates.
    pub fn k6gate(&self) -> BTreeMap<String, String> {
        self.0.iter().filter(|(k, _)| k.starts_with("K6GATE_")).map(|(k, v)| (k.clone(), v.clone())).collect()
    }
}
