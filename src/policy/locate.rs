//! Where a key sits in a YAML file, for errors found after parsing.
//!
//! yaml_serde reports line and column for syntax and type errors, but parsed values carry no
//! positions. For the checks made after parsing (an expiry too far out, an unknown metric)
//! this scanner follows the block-style indentation that policy files use to find the line of
//! a key path such as `waivers[2].expires`. It is a locator for messages only: when it cannot
//! follow the file (flow style, anchors), it falls back to the enclosing entry.

#[derive(Debug, Clone, PartialEq)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// 1-based (line, column) of `path`, or of the deepest prefix of it that was found.
pub fn locate(text: &str, path: &[Seg<'_>]) -> (u64, u64) {
    let lines: Vec<&str> = text.lines().collect();
    let mut from = 0usize;
    let mut min_indent = 0usize;
    let mut best = (1u64, 1u64);
    for seg in path {
        let mut found = None;
        let mut item = 0usize;
        let mut list_indent = None;
        let mut i = from;
        while let Some(line) = lines.get(i) {
            let trimmed = line.trim_start();
            let indent = line.len() - trimmed.len();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                i += 1;
                continue;
            }
            if indent < min_indent && i > from {
                break;
            }
            match seg {
                Seg::Key(k) => {
                    let body = trimmed.strip_prefix("- ").unwrap_or(trimmed);
                    let offset = trimmed.len() - body.len();
                    if body.strip_prefix(k).is_some_and(|r| r.starts_with(':')) {
                        found = Some((i, indent + offset));
                        break;
                    }
                }
                Seg::Index(n) => {
                    let is_item = trimmed.starts_with("- ") || trimmed == "-";
                    if is_item && list_indent.is_none_or(|li| li == indent) {
                        list_indent = Some(indent);
                        if item == *n {
                            found = Some((i, indent));
                            break;
                        }
                        item += 1;
                    }
                }
            }
            i += 1;
        }
        let Some((line, col)) = found else { break };
        best = (line as u64 + 1, col as u64 + 1);
        // Children of a key are on later lines; an item's own keys start on its `- ` line.
        from = if matches!(seg, Seg::Index(_)) { line } else { line + 1 };
        min_indent = col + 1;
    }
    best
}

/// A YAML parse error with its place: 1-based line and column, the field path
/// (`guard.windows.prod[0]`, `.` for the document) and yaml_serde's message without its own
/// " at line L column C" suffix, which the caller's location replaces.
#[derive(Debug, Clone, PartialEq)]
pub struct YamlError {
    pub line: u64,
    pub col: u64,
    pub field: String,
    pub message: String,
}

impl YamlError {
    /// `field: message`, or the message alone when it names the field already.
    pub fn describe(&self) -> String {
        if self.field == "." || self.message.starts_with(&self.field) {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

/// Parses one policy data file with the field path of any error (serde_path_to_error), the
/// way every section reader of the policy data reports bad input.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, YamlError> {
    let de = yaml_serde::Deserializer::from_str(text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let (line, col) = inner.location().map_or((1, 1), |l| (l.line() as u64, l.column() as u64));
        let text = inner.to_string();
        let message = text.split(" at line ").next().unwrap_or(&text).to_string();
        YamlError { line, col, field, message }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "# waivers\nwaivers:\n  - id: W-1\n    metrics:\n      - p95_ms\n  - id: W-2\n    metric: p99_ms\n    expires: 2026-12-01\n";

    #[test]
    fn finds_keys_inside_list_items() {
        assert_eq!(locate(DOC, &[Seg::Key("waivers")]), (2, 1));
        assert_eq!(locate(DOC, &[Seg::Key("waivers"), Seg::Index(1)]), (6, 3));
        assert_eq!(locate(DOC, &[Seg::Key("waivers"), Seg::Index(1), Seg::Key("expires")]), (8, 5));
        assert_eq!(locate(DOC, &[Seg::Key("waivers"), Seg::Index(0), Seg::Key("metrics"), Seg::Index(0)]), (5, 7));
        assert_eq!(locate(DOC, &[Seg::Key("waivers"), Seg::Index(0), Seg::Key("id")]), (3, 5));
    }

    #[test]
    fn a_parse_error_names_its_line_column_and_field_once() {
        #[derive(Debug, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Window {
            #[allow(dead_code)]
            days: Vec<String>,
        }
        #[derive(Debug, serde::Deserialize)]
        struct Doc {
            #[allow(dead_code)]
            windows: std::collections::BTreeMap<String, Window>,
        }
        let e = parse_yaml::<Doc>("windows:\n  prod:\n    days: [mon]\n    dayz: [tue]\n").unwrap_err();
        assert_eq!((e.line, e.col), (4, 5), "{e:?}");
        assert_eq!(e.field, "windows.prod.dayz");
        assert!(!e.message.contains(" at line "), "{e:?}");
        assert!(e.describe().starts_with("windows.prod.dayz: "), "{}", e.describe());
        assert!(e.message.contains("unknown field `dayz`"), "{e:?}");
        assert!(parse_yaml::<Doc>("windows: {}\n").is_ok());
    }

    #[test]
    fn falls_back_to_the_deepest_found_prefix() {
        assert_eq!(locate(DOC, &[Seg::Key("waivers"), Seg::Index(0), Seg::Key("nope")]), (3, 3));
    }
}
