//! The runbooks cannot drift from the CLI: every `k6gate ...` command they mention (inline code
//! and lines of code blocks) must parse with the real argument parser (`Cli::try_parse_from`).
//! Placeholders such as `T`, `E` or `<env>` are values to clap, so they parse like real ones.

use std::path::Path;

use clap::Parser;
use k6gate::cli::Cli;

use crate::support::root;

/// One command and where it was written.
struct Mention {
    at: String,
    words: Vec<String>,
    /// An inline mention may name a command without its required arguments (`k6gate run`
    /// as a reference), or elide them (`...`); a code block line is a whole command.
    reference: bool,
    /// It elides arguments with `...`.
    elided: bool,
}

/// Shell words of a command line: whitespace-separated, with '...', "..." and <placeholder
/// with spaces> as one word. Hand-written: the runbooks use nothing more (no escapes, no
/// variables).
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (Vec::new(), String::new(), None::<char>, false);
    for c in line.chars() {
        match (quote, c) {
            (Some('<'), '>') => {
                cur.push('>');
                quote = None;
            }
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => (quote, any) = (Some(c), true),
            (None, '<') if cur.is_empty() => {
                cur.push('<');
                quote = Some('<');
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// The command up to a comment, a pipe, a redirection, `&&` or `;`, without the optional
/// `[...]` groups of usage syntax; and whether it elides arguments (`...`).
fn command(text: &str) -> (Vec<String>, bool) {
    let mut out = Vec::new();
    let (mut optional, mut elided) = (false, false);
    for w in words(text) {
        if matches!(w.as_str(), "#" | "|" | "&&" | ">" | ">>" | ";" | "2>&1") {
            break;
        }
        if w.starts_with('[') {
            optional = true;
        }
        if !optional {
            if w == "..." {
                elided = true;
            } else {
                out.push(w.clone());
            }
        }
        if optional && w.ends_with(']') {
            optional = false;
        }
    }
    (out, elided)
}

fn mentions(path: &Path) -> Vec<Mention> {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending: Option<(usize, String)> = None;
    // Prose, with code blocks blanked (kept as empty lines so line numbers hold).
    let mut prose = String::new();
    for (i, line) in text.lines().enumerate() {
        let n = i + 1;
        if line.trim_start().starts_with("```") {
            in_block = !in_block;
            prose.push('\n');
            continue;
        }
        if !in_block {
            prose.push_str(line);
            prose.push('\n');
            continue;
        }
        prose.push('\n');
        let l = line.trim().trim_start_matches("$ ");
        let joined = match pending.take() {
            Some((at, head)) => Some((at, format!("{head} {l}"))),
            None if l.starts_with("k6gate ") => Some((n, l.to_string())),
            None => None,
        };
        if let Some((at, cmd)) = joined {
            match cmd.strip_suffix('\\') {
                Some(head) => pending = Some((at, head.trim_end().to_string())),
                None => {
                    let (words, elided) = command(&cmd);
                    out.push(Mention { at: format!("{name}:{at}"), words, reference: elided, elided });
                }
            }
        }
    }
    // Inline code spans, which may wrap onto the next line.
    let mut line = 1;
    for (k, span) in prose.split('`').enumerate() {
        if k % 2 == 1 && span.starts_with("k6gate ") {
            let (words, elided) = command(&span.replace('\n', " "));
            out.push(Mention { at: format!("{name}:{line}"), words, reference: true, elided });
        }
        line += span.matches('\n').count();
    }
    out
}

#[test]
fn every_k6gate_command_in_the_runbooks_parses_with_the_real_cli() {
    let dir = root().join("runbooks");
    let mut all = Vec::new();
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            all.extend(mentions(&p));
        }
    }
    assert!(all.len() >= 40, "only {} k6gate commands found in runbooks/: the extraction broke", all.len());
    let failures: Vec<String> = all
        .iter()
        .filter_map(|m| {
            Cli::try_parse_from(&m.words)
                .err()
                .filter(|e| {
                    use clap::error::ErrorKind::{InvalidValue, MissingRequiredArgument};
                    // A reference may leave out what is required, and an elided one a value.
                    !(m.reference && e.kind() == MissingRequiredArgument || m.elided && e.kind() == InvalidValue)
                })
                .map(|e| format!("{}: `{}`: {}", m.at, m.words.join(" "), e.to_string().lines().next().unwrap_or("")))
        })
        .collect();
    assert!(failures.is_empty(), "runbook commands the CLI refuses:\n{}", failures.join("\n"));
}

#[test]
fn the_check_itself_refuses_commands_the_cli_does_not_know() {
    let parses = |line: &str| Cli::try_parse_from(command(line).0).is_ok();
    assert!(parses("k6gate preflight --env prod-sim --format json # a comment"));
    assert!(!parses("k6gate preflight --envv prod-sim | jq ."));
    assert!(!parses("k6gate no-such-command"));
    assert!(parses("k6gate compare <baseline run id> <this run>"));
    assert!(parses("k6gate history [--test T] --env staging"));
    assert!(!parses("k6gate history --test"));
    assert_eq!(words(r#"k6gate run --set 'a=b c' "d""#), ["k6gate", "run", "--set", "a=b c", "d"]);
}
