//! What production looks like, as an environment declares it (`production:` in
//! `environments/<env>.yaml`): the facts the adequacy check (`crate::adequacy`) holds a test
//! run to. Typed and strict: an unknown key, a wrong type or a value that makes no sense is
//! an error naming the file, the line and the field (`production.connections`).
//!
//! The free-text `facts:` map stays beside it, recorded with the run and usable by templates;
//! nothing judges it.

use serde::{Deserialize, Serialize};

/// The cache's state right after a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheState {
    Cold,
    Warm,
}

/// Production's shape at its peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Production {
    /// Concurrent users at the peak.
    pub users: u64,
    /// Rows of the data the service reads (the sum over its main tables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_rows: Option<u64>,
    /// Size of that data in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_bytes: Option<u64>,
    /// The cache right after a deploy: `cold` or `warm`.
    pub cache_after_deploy: CacheState,
    /// Concurrent client connections at the peak.
    pub connections: u64,
    /// The third parties production calls (`payment`, ...), by the names the target's
    /// `shop_third_party_calls_total{provider}` uses.
    #[serde(default)]
    pub third_party_calls: Vec<String>,
    /// Whether production's capacity must be shown by a saturation scenario (step load to
    /// the knee) among the tests.
    pub saturation_scenario: bool,
}

impl Production {
    /// Checks what serde cannot: `(field, message)` of the first problem.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.users == 0 {
            return Err(("users", "must be at least 1".into()));
        }
        if self.connections == 0 {
            return Err(("connections", "must be at least 1".into()));
        }
        if self.data_rows.is_none() && self.data_bytes.is_none() {
            return Err(("data_rows", "declare data_rows, data_bytes or both: the data size is not optional".into()));
        }
        if let Some(bad) = self.third_party_calls.iter().find(|p| p.trim().is_empty() || p.contains(['"', '\\', '\n']))
        {
            return Err(("third_party_calls", format!("{bad:?} is not a provider name")));
        }
        Ok(())
    }
}

/// 1-based line of `path` (`production.users`: a key under a top-level key), found by
/// following block-style indentation; the line of the deepest key found, or `None`.
pub fn line_of(text: &str, path: &str) -> Option<u64> {
    let mut found = None;
    let mut from = 0usize;
    let mut indent_above: Option<usize> = None;
    for key in path.split('.').filter(|k| !k.is_empty() && !k.starts_with('[')) {
        let key = key.split('[').next().unwrap_or(key);
        let mut hit = None;
        for (i, line) in text.lines().enumerate().skip(from) {
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let indent = line.len() - trimmed.len();
            if indent_above.is_some_and(|above| indent <= above) && i > from {
                break;
            }
            if trimmed.strip_prefix(key).is_some_and(|r| r.starts_with(':')) {
                hit = Some((i, indent));
                break;
            }
        }
        let Some((i, indent)) = hit else { break };
        found = Some(i as u64 + 1);
        from = i + 1;
        indent_above = Some(indent);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_of_follows_indentation() {
        let text = "base_url: x\nfacts:\n  users: 3\nproduction:\n  # c\n  users: 5\n  connections: 9\n";
        assert_eq!(line_of(text, "production.users"), Some(6));
        assert_eq!(line_of(text, "production.connections"), Some(7));
        assert_eq!(line_of(text, "production.nope"), Some(4));
        assert_eq!(line_of(text, "nope"), None);
    }
}
