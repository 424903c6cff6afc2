//! CODEOWNERS: who owns a path, exactly as GitHub documents it
//! (<https://docs.github.com/en/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners>).
//! The approval check counts code owners as approvers, so a pattern that matches more than
//! GitHub's would make someone an approver GitHub never asked.
//!
//! Hand-written: gitignore crates (globset, ignore) let `dir/*` own `dir/sub/file` because a
//! matched directory takes its contents along, which GitHub says `docs/*` does not do; the
//! `codeowners` crate is that translation and unmaintained since 2019. The rules, with the
//! cases GitHub's documentation gives (the unit tests hold one per form):
//!
//! - The file is `.github/CODEOWNERS`, `CODEOWNERS` or `docs/CODEOWNERS`, the first found.
//! - The last matching line wins; a line with a pattern and no owners leaves the path unowned.
//! - Paths are case-sensitive. `*` and `?` never match `/`; `*` may match nothing inside a
//!   name (`docs*` owns `docs`), but a lone `*` segment is one whole name.
//! - A pattern with no `/` but a trailing one (`*.js`, `apps/`) matches at any depth; a leading
//!   `/` or a `/` inside (`/build/logs/`, `docs/*`) anchors it at the root.
//! - A trailing `/` owns everything below the directory (not a file of that name).
//! - Otherwise a pattern owns what it names and, when it names a directory, everything below,
//!   except when its last segment is a lone `*`: `docs/*` owns `docs/a.md`, not `docs/sub/b.md`,
//!   and `/*` only the files at the root.
//! - `**` as a whole segment: leading, any leading directories (`**/logs`); trailing,
//!   everything below (`docs/**`); inside, zero or more directories (`a/**/b`).
//! - `#` starts a comment at the start of a line or of an owner; `\#` starts a pattern with a
//!   literal `#`; `\` escapes the next character (`\ ` a space, `\*` a star).
//! - GitHub does not support `!` negation or `[ ]` character ranges, and skips lines with
//!   invalid syntax (its UI shows them as errors). Such lines are skipped here too, so the
//!   owners are the ones GitHub requests, and listed in [`CodeOwners::errors`]. So is a line
//!   with `***`.
//! - Owners are `@login`, `@org/team` or an e-mail address; anything else is ignored as
//!   GitHub ignores an unknown owner, so a line whose owners are all invalid owns nothing.
//!   E-mail owners are kept as written and never match a login.

use serde::Serialize;

/// Where GitHub looks, in order.
pub const LOCATIONS: [&str; 3] = [".github/CODEOWNERS", "CODEOWNERS", "docs/CODEOWNERS"];

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    /// `**`: any number of directories.
    AnyDirs,
    /// A lone `*`: exactly one name.
    AnyName,
    /// A name with `*` and `?` wildcards and literal characters.
    Name(Vec<Token>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Char(char),
    /// `*`: any characters but `/`, none included.
    Star,
    /// `?`: one character but `/`.
    Question,
}

#[derive(Debug, Clone)]
struct Rule {
    pattern: String,
    segments: Vec<Segment>,
    owners: Vec<String>,
}

/// A line GitHub would skip, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, Default)]
pub struct CodeOwners {
    rules: Vec<Rule>,
    errors: Vec<LineError>,
}

impl CodeOwners {
    /// Parses the file; lines GitHub would skip are skipped and listed in [`CodeOwners::errors`].
    pub fn parse(text: &str) -> CodeOwners {
        let mut out = CodeOwners::default();
        for (i, line) in text.lines().enumerate() {
            match parse_line(line) {
                Ok(Some(rule)) => out.rules.push(rule),
                Ok(None) => {}
                Err(message) => out.errors.push(LineError { line: i + 1, message }),
            }
        }
        out
    }

    /// The owners of `path` (repo-relative, `/`-separated): users as `login`, teams as
    /// `org/team`, e-mail addresses as written.
    pub fn owners(&self, path: &str) -> &[String] {
        let names: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        if names.is_empty() {
            return &[];
        }
        self.rules.iter().rev().find(|r| matches(&r.segments, &names)).map_or(&[], |r| &r.owners)
    }

    /// The lines that were skipped.
    pub fn errors(&self) -> &[LineError] {
        &self.errors
    }

    /// The rules as `[pattern, [owners...]]`, owners lowercased: what the file means, for
    /// telling a change of ownership from a change of comments or spacing.
    pub fn meaning(&self) -> serde_json::Value {
        let rules: Vec<serde_json::Value> = self
            .rules
            .iter()
            .map(|r| {
                let owners: Vec<String> = r.owners.iter().map(|o| o.to_lowercase()).collect();
                serde_json::json!([r.pattern, owners])
            })
            .collect();
        serde_json::Value::Array(rules)
    }
}

/// `Ok(None)` for blank and comment lines.
fn parse_line(line: &str) -> Result<Option<Rule>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    // The pattern runs to the first unescaped whitespace; escapes stay in it for `segments`.
    let mut pattern = String::new();
    let mut chars = line.char_indices();
    let mut rest = "";
    while let Some((i, c)) = chars.next() {
        if c == '\\' {
            pattern.push(c);
            match chars.next() {
                Some((_, next)) => pattern.push(next),
                None => return Err("the pattern ends with a lone `\\`".into()),
            }
        } else if c.is_whitespace() {
            rest = line.get(i..).unwrap_or_default();
            break;
        } else {
            pattern.push(c);
        }
    }
    let segments = segments(&pattern)?;
    let mut owners = Vec::new();
    for token in rest.split_whitespace() {
        if token.starts_with('#') {
            break;
        }
        if let Some(owner) = owner(token) {
            owners.push(owner);
        }
    }
    Ok(Some(Rule { pattern, segments, owners }))
}

/// `@login` -> `login`, `@org/team` -> `org/team`, an e-mail address as it is; `None` for
/// anything else.
fn owner(token: &str) -> Option<String> {
    let name_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_';
    if let Some(name) = token.strip_prefix('@') {
        let valid = match name.split_once('/') {
            Some((org, team)) => {
                !org.is_empty() && !team.is_empty() && org.chars().all(name_char) && team.chars().all(name_char)
            }
            None => !name.is_empty() && name.chars().all(name_char),
        };
        return valid.then(|| name.to_string());
    }
    let (local, domain) = token.split_once('@')?;
    let valid = !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.contains('@');
    valid.then(|| token.to_string())
}

/// The segments of `pattern`, with its anchoring made explicit: an unanchored pattern starts
/// with `**`, and a trailing `/` is a trailing `**`.
fn segments(pattern: &str) -> Result<Vec<Segment>, String> {
    if pattern.starts_with('!') {
        return Err(format!("`{pattern}`: GitHub does not support `!` negation"));
    }
    if has_unescaped(pattern, &['[', ']']) {
        return Err(format!("`{pattern}`: GitHub does not support `[ ]` character ranges"));
    }
    if pattern.contains("***") {
        return Err(format!("`{pattern}`: three consecutive `*`"));
    }
    let anchored_at_root = pattern.starts_with('/');
    let body = pattern.strip_prefix('/').unwrap_or(pattern);
    let below = body.ends_with('/') && !body.ends_with("\\/");
    let body = if below { body.get(..body.len() - 1).unwrap_or_default() } else { body };
    if body.is_empty() {
        return Err(format!("`{pattern}` names no path"));
    }
    let parts: Vec<&str> = body.split('/').collect();
    if parts.iter().any(|p| p.is_empty()) {
        return Err(format!("`{pattern}` has an empty path segment"));
    }
    let mut out = Vec::new();
    // Only a single name (`*.js`, `apps/`) matches at any depth; a `/` inside anchors.
    if !anchored_at_root && parts.len() == 1 && parts.first() != Some(&"**") {
        out.push(Segment::AnyDirs);
    }
    for part in parts {
        out.push(match part {
            "**" => Segment::AnyDirs,
            "*" => Segment::AnyName,
            name => Segment::Name(tokens(name)),
        });
    }
    if below {
        out.push(Segment::AnyDirs);
    }
    Ok(out)
}

fn has_unescaped(pattern: &str, wanted: &[char]) -> bool {
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if wanted.contains(&c) {
            return true;
        }
    }
    false
}

fn tokens(name: &str) -> Vec<Token> {
    let mut out = Vec::new();
    let mut chars = name.chars();
    while let Some(c) = chars.next() {
        out.push(match c {
            '\\' => Token::Char(chars.next().unwrap_or('\\')),
            '*' => Token::Star,
            '?' => Token::Question,
            c => Token::Char(c),
        });
    }
    out
}

/// Whether the pattern `segments` owns the file at `names`.
fn matches(segments: &[Segment], names: &[&str]) -> bool {
    let Some((first, rest)) = segments.split_first() else {
        return names.is_empty();
    };
    match first {
        // Trailing: one or more names below; leading or inside: zero or more directories.
        Segment::AnyDirs if rest.is_empty() => !names.is_empty(),
        Segment::AnyDirs => (0..=names.len()).any(|skip| names.get(skip..).is_some_and(|n| matches(rest, n))),
        Segment::AnyName => match names.split_first() {
            // A lone trailing `*` owns the names directly inside, nothing deeper.
            Some((_, below)) if rest.is_empty() => below.is_empty(),
            Some((_, below)) => matches(rest, below),
            None => false,
        },
        Segment::Name(tokens) => match names.split_first() {
            // A name owns itself and, as a directory, everything below.
            Some((name, _)) if rest.is_empty() => name_matches(tokens, &name.chars().collect::<Vec<_>>()),
            Some((name, below)) => name_matches(tokens, &name.chars().collect::<Vec<_>>()) && matches(rest, below),
            None => false,
        },
    }
}

fn name_matches(tokens: &[Token], name: &[char]) -> bool {
    match tokens.split_first() {
        None => name.is_empty(),
        Some((Token::Star, rest)) => {
            (0..=name.len()).any(|skip| name.get(skip..).is_some_and(|n| name_matches(rest, n)))
        }
        Some((Token::Question, rest)) => name.split_first().is_some_and(|(_, n)| name_matches(rest, n)),
        Some((Token::Char(c), rest)) => name.split_first().is_some_and(|(x, n)| x == c && name_matches(rest, n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `(path, owned)` for one pattern owned by `@o`.
    #[track_caller]
    fn check(pattern: &str, cases: &[(&str, bool)]) {
        let co = CodeOwners::parse(&format!("{pattern} @o\n"));
        assert!(co.errors().is_empty(), "{pattern}: {:?}", co.errors());
        for (path, owned) in cases {
            assert_eq!(!co.owners(path).is_empty(), *owned, "{pattern} owns {path}: expected {owned}");
        }
    }

    #[test]
    fn a_lone_star_owns_everything() {
        check("*", &[("a", true), ("a/b", true), ("a/b/c.yaml", true)]);
    }

    #[test]
    fn an_extension_matches_at_any_depth() {
        check("*.js", &[("a.js", true), ("src/a.js", true), ("src/a.ts", false), ("a.jsx", false)]);
    }

    #[test]
    fn dir_star_owns_only_the_files_directly_inside() {
        // GitHub: "docs/* will match docs/getting-started.md but not docs/build-app/troubleshooting.md".
        check(
            "docs/*",
            &[
                ("docs/getting-started.md", true),
                ("docs/build-app/troubleshooting.md", false),
                ("docs", false),
                ("x/docs/a.md", false),
            ],
        );
        check("waivers/*", &[("waivers/W-1.yaml", true), ("waivers/sub/W-1.yaml", false)]);
    }

    #[test]
    fn a_root_star_owns_only_the_files_at_the_root() {
        check("/*", &[("README.md", true), ("src/main.rs", false)]);
    }

    #[test]
    fn a_trailing_slash_owns_everything_below_at_any_depth() {
        // GitHub: "apps/ @octocat owns any file in an apps directory anywhere in your repository".
        check(
            "apps/",
            &[("apps/a", true), ("apps/x/y", true), ("src/apps/a", true), ("apps", false), ("apps2/a", false)],
        );
    }

    #[test]
    fn a_leading_slash_anchors_at_the_root() {
        check(
            "/build/logs/",
            &[("build/logs/a.log", true), ("build/logs/x/a.log", true), ("x/build/logs/a.log", false)],
        );
        check("/docs/", &[("docs/a.md", true), ("docs/a/b.md", true), ("x/docs/a.md", false)]);
    }

    #[test]
    fn a_slash_inside_anchors_too() {
        check("policies/data", &[("policies/data/a.yaml", true), ("x/policies/data/a.yaml", false)]);
    }

    #[test]
    fn a_name_owns_itself_and_everything_below_it() {
        check("/apps/github", &[("apps/github", true), ("apps/github/a/b", true), ("apps/githubx", false)]);
        check("logs", &[("logs", true), ("a/logs", true), ("a/logs/b", true), ("a/logs.txt", false)]);
    }

    #[test]
    fn a_star_never_crosses_a_slash() {
        check("/f*", &[("foo", true), ("foo/bar", true), ("bar/foo", false)]);
        check("a/*.yaml", &[("a/x.yaml", true), ("a/b/x.yaml", false)]);
        check("a/*/c", &[("a/b/c", true), ("a/b/c/d", true), ("a/c", false), ("a/b/x/c", false)]);
        check("f?o", &[("foo", true), ("fo", false), ("f/o", false)]);
    }

    #[test]
    fn leading_double_star_matches_any_leading_directories() {
        // GitHub: "**/logs @octocat owns any file in a /logs directory such as /build/logs".
        check(
            "**/logs",
            &[("logs/a", true), ("build/logs/a", true), ("deeply/nested/logs/a", true), ("logsx/a", false)],
        );
    }

    #[test]
    fn trailing_double_star_owns_everything_below() {
        check("docs/**", &[("docs/a", true), ("docs/a/b", true), ("docs", false), ("x/docs/a", false)]);
    }

    #[test]
    fn inner_double_star_matches_zero_or_more_directories() {
        check("a/**/b", &[("a/b", true), ("a/x/b", true), ("a/x/y/b/c", true), ("x/a/b", false), ("a/bb", false)]);
    }

    #[test]
    fn the_last_matching_line_wins_and_no_owners_unsets() {
        let co = CodeOwners::parse(
            "* @acme/platform\n/apps/ @octocat\n/apps/github\n*.md @docs # inline\n/waivers/ @perf-lead @acme/perf\n",
        );
        assert_eq!(co.owners("src/main.rs"), ["acme/platform"]);
        assert_eq!(co.owners("apps/a.rs"), ["octocat"]);
        assert!(co.owners("apps/github/x.rs").is_empty(), "a line without owners unsets ownership");
        assert_eq!(co.owners("apps/github/README.md"), ["docs"]);
        assert_eq!(co.owners("waivers/README.md"), ["perf-lead", "acme/perf"]);
    }

    #[test]
    fn comments_and_escapes() {
        let co = CodeOwners::parse("# a comment\n\\#notes @hash\nmy\\ file @space\nf\\*o @star #c @ignored\n");
        assert!(co.errors().is_empty(), "{:?}", co.errors());
        assert_eq!(co.owners("#notes"), ["hash"]);
        assert_eq!(co.owners("a/#notes"), ["hash"]);
        assert_eq!(co.owners("my file"), ["space"]);
        assert_eq!(co.owners("f*o"), ["star"]);
        assert!(co.owners("foo").is_empty());
        // Owners after an inline comment are not owners.
        assert_eq!(CodeOwners::parse("a @x # @y\n").owners("a"), ["x"]);
    }

    #[test]
    fn negation_and_character_ranges_are_skipped_as_github_does() {
        let co = CodeOwners::parse("/w/ @owner\n!/w/secret.yaml @nobody\n/w/[ab].yaml @range\n/w/*** @stars\n");
        let lines: Vec<usize> = co.errors().iter().map(|e| e.line).collect();
        assert_eq!(lines, [2, 3, 4]);
        assert!(co.errors()[0].message.contains("negation"), "{:?}", co.errors());
        assert!(co.errors()[1].message.contains("character ranges"), "{:?}", co.errors());
        // The skipped lines change nothing: the earlier line still owns these.
        assert_eq!(co.owners("w/secret.yaml"), ["owner"]);
        assert_eq!(co.owners("w/a.yaml"), ["owner"]);
        // An escaped bracket is a literal character.
        assert_eq!(CodeOwners::parse("a\\[1\\] @x\n").owners("a[1]"), ["x"]);
    }

    #[test]
    fn owners_are_users_teams_or_emails_and_nothing_else() {
        let co =
            CodeOwners::parse("/a @User-1 @acme/perf_team docs@example.com not-an-owner @bad/ @x/y/z\n/b nobody\n");
        assert_eq!(co.owners("a"), ["User-1", "acme/perf_team", "docs@example.com"]);
        assert!(co.owners("b").is_empty(), "a line whose owners are all invalid owns nothing");
    }

    #[test]
    fn paths_are_case_sensitive() {
        check("/Docs/", &[("Docs/a", true), ("docs/a", false)]);
    }

    #[test]
    fn meaning_ignores_comments_and_spacing() {
        let a = CodeOwners::parse("# owners\n/waivers/ @Perf-Lead\n");
        let b = CodeOwners::parse("/waivers/    @perf-lead   # the perf lead\n\n");
        let c = CodeOwners::parse("/waivers/ @perf-lead @mallory\n");
        assert_eq!(a.meaning(), b.meaning());
        assert_ne!(a.meaning(), c.meaning());
    }
}
