//! CODEOWNERS: who owns a path. GitHub's rules: the file is `.github/CODEOWNERS`, `CODEOWNERS`
//! or `docs/CODEOWNERS` (first found); patterns follow gitignore; the last matching line wins;
//! a line with a pattern and no owners leaves the path unowned.
//!
//! Matching is globset; the gitignore-to-glob translation is here (the `codeowners` crate is
//! unmaintained since 2019).

use globset::{Glob, GlobBuilder, GlobMatcher};

/// Where GitHub looks, in order.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

#[derive(Debug)]
struct Rule {
    matchers: Vec<GlobMatcher>,
    owners: Vec<String>,
}

#[derive(Debug, Default)]
pub struct CodeOwners {
    rules: Vec<Rule>,
}

impl CodeOwners {
    /// Parses the file; lines whose pattern is not a valid glob are skipped, as GitHub does.
    pub fn parse(text: &str) -> CodeOwners {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.split_once(" #").map_or(line, |(l, _)| l).trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let mut parts = line.split_whitespace();
            let Some(pattern) = parts.next() else { continue };
            let owners: Vec<String> = parts.map(|o| o.trim_start_matches('@').to_string()).collect();
            let Some(matchers) = globs(pattern) else { continue };
            rules.push(Rule { matchers, owners });
        }
        CodeOwners { rules }
    }

    /// The owners of `path` (repo-relative, `/`-separated): users as `login`, teams as `org/team`.
    pub fn owners(&self, path: &str) -> &[String] {
        let path = path.trim_start_matches('/');
        self.rules.iter().rev().find(|r| r.matchers.iter().any(|m| m.is_match(path))).map_or(&[], |r| &r.owners)
    }
}

fn glob(pattern: &str) -> Option<GlobMatcher> {
    GlobBuilder::new(pattern).literal_separator(true).build().ok().map(|g: Glob| g.compile_matcher())
}

/// gitignore semantics: a leading or inner `/` anchors at the root, otherwise the pattern
/// matches at any depth; a pattern matches a directory's whole contents too.
fn globs(pattern: &str) -> Option<Vec<GlobMatcher>> {
    let dir_only = pattern.ends_with('/');
    let trimmed = pattern.trim_end_matches('/');
    let anchored = trimmed.starts_with('/') || trimmed.contains('/');
    let base = trimmed.trim_start_matches('/');
    if base.is_empty() {
        return None;
    }
    let base = if anchored || base.starts_with("**") { base.to_string() } else { format!("**/{base}") };
    let mut out = Vec::new();
    if !dir_only {
        out.push(glob(&base)?);
    }
    out.push(glob(&format!("{base}/**"))?);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_match_wins_and_patterns_follow_gitignore() {
        let co = CodeOwners::parse(
            "# owners\n* @acme/platform\n/waivers/ @perf-lead @acme/perf\n*.md @docs # inline\npolicies/data/budgets.yaml @budget-owner\n/waivers/unowned.yaml\n",
        );
        assert_eq!(co.owners("src/main.rs"), ["acme/platform"]);
        assert_eq!(co.owners("waivers/W-12.yaml"), ["perf-lead", "acme/perf"]);
        assert_eq!(co.owners("waivers/README.md"), ["docs"]);
        assert_eq!(co.owners("policies/data/budgets.yaml"), ["budget-owner"]);
        assert!(co.owners("waivers/unowned.yaml").is_empty());
        // An anchored pattern does not match deeper copies.
        assert_eq!(co.owners("x/waivers/W-1.yaml"), ["acme/platform"]);
    }
}
