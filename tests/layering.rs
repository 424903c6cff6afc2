//! Architecture invariant: layering (ARCHITECTURE.md). A module imports only from modules
//! of a lower rank, never from one above it nor from a sibling of the same rank; the demo
//! shop is named only by `src/cli`.
//!
//! Plain Rust, no tools: every `src/**/*.rs` is read, comments and string literals are
//! blanked, and each `crate::NAME` left in the code is checked against [`RANKS`]. `super::`
//! is not checked (it never leaves a top-level module), nor are `src/lib.rs` and
//! `src/main.rs`, which wire the modules together.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every top-level module of the crate, lowest first. A new module fails the test until it is
/// placed here. Same rank = siblings, which must not import each other either.
const RANKS: &[(&str, u32)] = &[
    ("stats", 1),     // pure statistics: sketch, steady-state truncation, exact sums, rank tests
    ("time", 1),      // RFC 3339 timestamps parsed and written; reads no clock
    ("escape", 1),    // HTML escaping
    ("vars", 1),      // reading the environment variables k6gate is configured by
    ("net", 1),       // HTTP helpers the clients share
    ("samples", 2),   // k6's sample model: metric types, tags, Point, format names
    ("clock", 2),     // the one reading of the wall clock (uses time)
    ("traces", 2),    // spans, OTLP/JSON, Tempo (through net), attribution and its statistics
    ("aggregate", 3), // samples -> one cell per (second, stage, group, metric)
    ("summary", 4),   // cells -> RunSummary; the only module that knows its shape
    ("ingest", 5),    // k6's file formats; above aggregate and summary: it feeds the Aggregator as it reads
    ("render", 5),    // templates x environments -> k6 script
    ("history", 5),   // the run store
    ("compare", 6),   // baseline vs candidate, with p-values and intervals
    ("trend", 6),     // change points over the run history (reads summaries the store lists)
    ("audit", 6),     // the store's audit trail beside the policy changes (git2)
    ("scale", 6),     // scale model of a saturation run: USL over the step phases (stats, summary, render's step names)
    ("policy", 7),    // policy data, Rego, the verdict
    ("report", 8),    // text, Markdown and HTML reports
    ("retention", 8), // which stored run data prune removes (policy's classes over history's runs)
    ("adequacy", 8),  // is the test representative? production declared vs measured (target /metrics, k6), Rego
    ("github", 9),    // sink: check runs, PR comments, approvals
    ("grafana", 9),   // sink: dashboards, rules, annotations
    ("prom", 9),      // sink: remote write, live-series queries
    ("notify", 9),    // sink: the blocked-deployment webhook
    ("archive", 9),   // sink: runs past their hot period on object storage; retention moves runs through it
    ("canary", 10),   // canary analysis: Prometheus windows, canary vs stable, canary Rego
    ("error", 10),    // k6gate's error model and exit codes
    ("stack", 10),    // the load-test monitoring stack as files (uses grafana's rules and dashboards)
    ("profile", 10),  // production's traffic mix and bursts from its Prometheus (through prom)
    ("gate", 11),     // the one gate entry point: policies, approval, compare, evaluate
    ("guard", 11),    // before a load test: off-peak windows (Rego), preflight of the stack and target
    ("validate", 11), // test vs production per endpoint (profile's queries, the RunSummary)
    ("load", 12),     // a run by file or id
    ("serve", 12), // `k6gate serve`: the run store in the browser; its editors judge with gate and open PRs through github
    ("run", 13),   // the whole job: render -> k6 -> judge -> outputs -> record
    ("cli", 14),   // argument types and the code behind each command
];

/// Upward or sideways imports that exist today outside the layering work, each with what
/// removes it. The test fails on an entry that no longer occurs, so this list only shrinks.
const TEMPORARY: &[(&str, &str)] = &[
    // None left. An entry names a file and the module it may still import against the
    // ranks, with who removes it; the test fails when the import is gone.
];

/// Names `src/lib.rs` re-exports at the crate root (`crate::Error`), resolved to their module.
fn root_reexports(lib: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for line in code_of(lib).lines() {
        let Some(rest) = line.trim().strip_prefix("pub use ") else { continue };
        let rest = rest.trim_end_matches(';');
        let Some((module, names)) = rest.split_once("::") else { continue };
        for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
            let name = name.split(" as ").last().unwrap_or(name).trim();
            if !name.is_empty() {
                out.insert(name.to_string(), module.trim().to_string());
            }
        }
    }
    out
}

/// The modules `src/lib.rs` declares.
fn declared_modules(lib: &str) -> BTreeSet<String> {
    code_of(lib)
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub mod ").or_else(|| l.trim().strip_prefix("mod ")))
        .map(|m| m.trim_end_matches(';').trim().to_string())
        .collect()
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("readable src dir").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `src/ingest/ndjson.rs` -> `ingest`, `src/time.rs` -> `time`.
fn top_module(relative: &str) -> &str {
    let inside = relative.strip_prefix("src/").unwrap_or(relative);
    match inside.split_once('/') {
        Some((dir, _)) => dir,
        None => inside.strip_suffix(".rs").unwrap_or(inside),
    }
}

/// The source with comments and the contents of string and char literals blanked (newlines
/// kept, so byte offsets and line numbers still match the file).
fn code_of(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = b.to_vec();
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in out.iter_mut().take(to).skip(from) {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let mut i = 0;
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if rest.starts_with(b"/*") {
            let (mut depth, mut j) = (0usize, i);
            while j < b.len() {
                if b[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if b[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, i, j);
            i = j;
        } else if (rest.starts_with(b"r\"") || rest.starts_with(b"r#") || rest.starts_with(b"br"))
            && (i == 0 || !ident(b[i - 1]))
            && raw_string_end(b, i).is_some()
        {
            let end = raw_string_end(b, i).unwrap_or(b.len());
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j);
            i = j + 1;
        } else if b[i] == b'\'' {
            // A char literal ('x', '\n', '"'); otherwise a lifetime or label.
            let end = if rest.get(1) == Some(&b'\\') {
                rest.iter().skip(2).position(|&c| c == b'\'').map(|n| i + 2 + n)
            } else {
                let len = src[i + 1..].chars().next().map_or(1, char::len_utf8);
                (rest.get(1 + len) == Some(&b'\'')).then_some(i + 1 + len)
            };
            match end {
                Some(end) => {
                    blank(&mut out, i + 1, end);
                    i = end + 1;
                }
                None => i += 1,
            }
        } else {
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The end of the raw string starting at `i` (`r"…"`, `r#"…"#`, `br"…"`), if one starts there.
fn raw_string_end(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + if b.get(i) == Some(&b'b') { 2 } else { 1 };
    let hashes = b[j..].iter().take_while(|&&c| c == b'#').count();
    j += hashes;
    if b.get(j) != Some(&b'"') {
        return None;
    }
    let close: Vec<u8> = std::iter::once(b'"').chain(std::iter::repeat_n(b'#', hashes)).collect();
    let body = j + 1;
    b[body..].windows(close.len()).position(|w| w == close.as_slice()).map(|n| body + n + close.len())
}

/// Every `crate::NAME` in code: (line, NAME). `crate::{a, b::c}` yields `a` and `b`.
fn crate_refs(code: &str) -> Vec<(usize, String)> {
    let b = code.as_bytes();
    let line_of = |at: usize| code[..at].matches('\n').count() + 1;
    let ident_at =
        |at: usize| -> String { code[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate") {
        let before = at.checked_sub(1).map(|p| b[p]);
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'$') {
            continue;
        }
        let after = code[at + 5..].trim_start();
        let Some(path) = after.strip_prefix("::") else { continue };
        let start = code.len() - path.trim_start().len();
        if b.get(start) == Some(&b'{') {
            // Each item of the group at depth 1 starts after `{` or `,`.
            let mut depth = 0;
            let mut item_start = true;
            for (k, c) in code[start..].char_indices() {
                match c {
                    '{' => {
                        depth += 1;
                        item_start = depth == 1;
                        continue;
                    }
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    ',' if depth == 1 => {
                        item_start = true;
                        continue;
                    }
                    c if c.is_whitespace() => continue,
                    _ => {}
                }
                if item_start && depth == 1 {
                    let name = ident_at(start + k);
                    if !name.is_empty() {
                        out.push((line_of(start + k), name));
                    }
                }
                item_start = false;
            }
        } else {
            let name = ident_at(start);
            if !name.is_empty() {
                out.push((line_of(at), name));
            }
        }
    }
    out
}

#[test]
fn no_module_imports_one_above_it() {
    let ranks: BTreeMap<&str, u32> = RANKS.iter().copied().collect();
    let lib = std::fs::read_to_string(root().join("src/lib.rs")).expect("src/lib.rs");
    let reexports = root_reexports(&lib);
    let mut problems = Vec::new();
    for m in declared_modules(&lib) {
        if !ranks.contains_key(m.as_str()) {
            problems.push(format!("src/lib.rs: module {m} has no rank: place it in RANKS in tests/layering.rs"));
        }
    }
    for (m, _) in RANKS {
        if !declared_modules(&lib).contains(*m) {
            problems.push(format!("tests/layering.rs: RANKS names {m}, which src/lib.rs does not declare"));
        }
    }

    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut seen_temporary = BTreeSet::new();
    for path in &files {
        let relative = path.strip_prefix(root()).expect("under the root").to_string_lossy().replace('\\', "/");
        if relative == "src/lib.rs" || relative == "src/main.rs" {
            continue;
        }
        let module = top_module(&relative);
        let Some(&rank) = ranks.get(module) else {
            problems.push(format!("{relative}: module {module} has no rank: place it in RANKS in tests/layering.rs"));
            continue;
        };
        let code = code_of(&std::fs::read_to_string(path).expect("readable source"));
        for (line, name) in crate_refs(&code) {
            let target = reexports.get(&name).map_or(name.as_str(), String::as_str);
            if target == module {
                continue;
            }
            let Some(&target_rank) = ranks.get(target) else {
                problems.push(format!("{relative}:{line}: {module} imports crate::{name}, which has no rank"));
                continue;
            };
            if target_rank < rank {
                continue;
            }
            if TEMPORARY.contains(&(relative.as_str(), target)) {
                seen_temporary.insert((relative.clone(), target.to_string()));
                continue;
            }
            problems.push(format!("{relative}:{line}: {module} imports {target} (rank {rank} -> {target_rank})"));
        }
    }
    for (file, target) in TEMPORARY {
        if !seen_temporary.contains(&(file.to_string(), target.to_string())) {
            problems.push(format!(
                "tests/layering.rs: TEMPORARY allows {file} -> {target}, which no longer occurs: remove the entry"
            ));
        }
    }
    assert!(problems.is_empty(), "layering (ARCHITECTURE.md) broken:\n{}", problems.join("\n"));
}

#[test]
fn only_cli_names_the_demo_shop() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut problems = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(root()).expect("under the root").to_string_lossy().replace('\\', "/");
        if relative.starts_with("src/cli/") {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(path).expect("readable source"));
        for (n, line) in code.lines().enumerate() {
            if line.contains("k6gate_shop") {
                problems.push(format!("{relative}:{}: names k6gate_shop outside src/cli", n + 1));
            }
        }
    }
    assert!(problems.is_empty(), "the gate library must not use the demo shop:\n{}", problems.join("\n"));
}

/// Settings are read once, at the edge: below `src/cli` (and `src/vars.rs`, the snapshot it
/// takes) nothing reads the process environment.
#[test]
fn only_the_edge_reads_the_environment() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut problems = Vec::new();
    for path in &files {
        let relative = path.strip_prefix(root()).expect("under the root").to_string_lossy().replace('\\', "/");
        if relative.starts_with("src/cli/") || relative == "src/vars.rs" {
            continue;
        }
        let code = code_of(&std::fs::read_to_string(path).expect("readable source"));
        for (n, line) in code.lines().enumerate() {
            if ["env::var", "env::vars", "env::var_os"].iter().any(|call| line.contains(call)) {
                problems.push(format!("{relative}:{}: reads the environment outside src/cli", n + 1));
            }
        }
    }
    assert!(problems.is_empty(), "settings are resolved in src/cli only:\n{}", problems.join("\n"));
}

#[test]
fn comments_and_strings_are_not_code() {
    let src = "use crate::a; // crate::b\n/* crate::c /* crate::d */ */ let s = \"crate::e \\\" crate::f\";\n\
               let r = r#\"crate::g \"x\" \"#; let c = '\"'; let l: &'static str = crate::h::X;\n\
               /// crate::i\nuse crate::{j::{K, L}, m, n::O};\nmy_crate::p; $crate::q;";
    let refs: Vec<_> = crate_refs(&code_of(src)).into_iter().map(|(l, n)| format!("{l}:{n}")).collect();
    assert_eq!(refs, ["1:a", "3:h", "5:j", "5:m", "5:n"]);
}

#[test]
fn files_map_to_their_top_module() {
    assert_eq!(top_module("src/ingest/ndjson.rs"), "ingest");
    assert_eq!(top_module("src/time.rs"), "time");
    assert_eq!(top_module("src/grafana/generate/panels.rs"), "grafana");
}
