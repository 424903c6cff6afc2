//! `k6gate ingest` from the command line, on the small checked-in k6 run (fast tier), and the
//! command-line behaviour every command shares: logging formats, colour, GitHub Actions
//! annotations, the approval warning.

use std::collections::BTreeMap;

use k6gate::RunSummary;

use crate::support::cli::K6gate;
use crate::support::fixtures::Set;

const STAGED: Set = Set::Small;

#[test]
fn output_file_holds_a_run_summary_and_stdout_a_text_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let o = K6gate::new().arg("ingest").arg(STAGED.path("staged.json")).arg("-o").arg(&out).status(0);
    let s: RunSummary = serde_json::from_slice(&std::fs::read(&out).expect("out.json")).expect("RunSummary");
    assert_eq!(s.schema_version, k6gate::summary::SCHEMA_VERSION);
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ramp-up", "sustained", "ramp-down"]);
    let o = names.iter().fold(o, |o, name| o.stdout_contains(name)).stdout_contains("whole-run");
    assert!(serde_json::from_str::<serde_json::Value>(&o.stdout()).is_err(), "default stdout is text, not JSON");
}

#[test]
fn output_file_agrees_with_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    K6gate::new().arg("ingest").arg(STAGED.path("staged.json")).arg("-o").arg(&out).args(["--threads", "1"]).status(0);
    let s: RunSummary = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let lib = STAGED.ingest_with("staged.json", &k6gate::IngestOptions { threads: 1, ..Default::default() });
    assert_eq!(s, lib);
}

#[test]
fn format_json_prints_the_run_summary_on_stdout() {
    let o = K6gate::new().arg("ingest").arg(STAGED.path("staged.json")).args(["--format", "json"]).status(0);
    let s: RunSummary = serde_json::from_value(o.stdout_json()).expect("RunSummary JSON on stdout");
    assert_eq!(s.phases.len(), 3);
    assert_eq!(s.whole_run.total.requests, STAGED.staged().whole_run.total.requests);
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    K6gate::new().arg("ingest").arg(&missing).status(2).stderr_contains(&missing.display().to_string());
}

#[test]
fn json_and_csv_of_the_same_run_together_are_refused() {
    let o = K6gate::new().arg("ingest").arg(STAGED.path("staged.json")).arg(STAGED.path("staged.csv")).status(2);
    assert!(o.stderr().starts_with("error: "), "{}", o.stderr());
}

#[test]
fn ingest_without_files_is_a_usage_error() {
    K6gate::new().arg("ingest").status(2);
}

#[test]
fn group_by_name_keys_groups_by_name_only() {
    let o = K6gate::new()
        .arg("ingest")
        .arg(STAGED.path("staged.json"))
        .args(["--format", "json", "--group-by", "name"])
        .status(0);
    let s: RunSummary = serde_json::from_value(o.stdout_json()).expect("RunSummary JSON on stdout");
    let samples = super::exact::json_samples(&STAGED.path("staged.json"));
    let mut want: BTreeMap<String, u64> = Default::default();
    for x in samples.iter().filter(|x| x.metric == "http_reqs") {
        *want.entry(x.tags["name"].clone()).or_default() += x.value as u64;
    }
    let got: BTreeMap<String, u64> = s
        .whole_run
        .groups
        .iter()
        .map(|g| {
            assert_eq!(g.key.keys().collect::<Vec<_>>(), ["name"], "group key {:?}", g.key);
            (g.key["name"].clone(), g.requests)
        })
        .collect();
    assert_eq!(got, want);
}

// ---------------------------------------------------------------------------------------------
// Diagnostics

/// A missing file: an error every command reports the same way, with nothing else needed.
fn failing_ingest() -> K6gate {
    K6gate::new().args(["ingest", "/nonexistent/k6gate-test/results.json"])
}

#[test]
fn no_color_and_a_pipe_give_no_escape_codes() {
    // stderr is a pipe here, never a terminal: no colour with or without NO_COLOR.
    failing_ingest().status(2).stderr_contains("error: ").stderr_lacks("\x1b[");
    failing_ingest().env("NO_COLOR", "1").status(2).stderr_contains("error: ").stderr_lacks("\x1b[");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    K6gate::new()
        .env("NO_COLOR", "1")
        .arg("ingest")
        .arg(STAGED.path("staged.json"))
        .arg("-o")
        .arg(&out)
        .status(0)
        .stdout_contains("whole-run")
        .stdout_lacks("\x1b[")
        .stderr_lacks("\x1b[");
}

#[test]
fn log_format_json_makes_the_final_error_one_json_line() {
    let o = failing_ingest().args(["--log-format", "json"]).status(2).stderr_contains(r#""level":"ERROR""#);
    let err = o.stderr();
    let last = err.lines().last().expect("an error line");
    let v: serde_json::Value = serde_json::from_str(last).unwrap_or_else(|e| panic!("not JSON ({e}): {last}"));
    assert_eq!(v["level"], "ERROR", "{v}");
    let message = v["fields"]["message"].as_str().expect("a message");
    assert!(message.contains("/nonexistent/k6gate-test/results.json"), "{message}");
    assert!(!message.starts_with("error: "), "the level is a field, not a prefix: {message}");
    for line in err.lines() {
        serde_json::from_str::<serde_json::Value>(line).unwrap_or_else(|e| panic!("a non-JSON line ({e}): {line}"));
    }
}

#[test]
fn inside_github_actions_the_final_error_is_an_annotation() {
    failing_ingest()
        .env("GITHUB_ACTIONS", "true")
        .status(2)
        .stderr_contains("::error::")
        .stderr_contains("/nonexistent/k6gate-test/results.json")
        .stderr_lacks("\nerror: ");
}

#[test]
fn approval_trust_inside_github_actions_is_a_warning_annotation() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("verdict.json");
    let (base, run) = (Set::Small.path("policy-base-a.json"), Set::Small.path("policy-base-b.json"));
    let evaluate = || {
        K6gate::new()
            .args(["--approval", "trust", "evaluate", "--test", "checkout", "--env", "ci"])
            .args(["--now", "2026-11-28T12:00:00Z", "--policies", super::policy::SHIPPED])
            .arg("--run")
            .arg(&run)
            .arg("--baseline")
            .arg(&base)
    };
    let o = evaluate()
        .env("GITHUB_ACTIONS", "true")
        .arg("-o")
        .arg(&out)
        .status(0)
        .stderr_contains("::warning::--approval trust");
    assert!(out.is_file(), "the verdict is written: {}", o.stderr());
    // Without Actions, the same warning is a plain one.
    evaluate().status(0).stderr_contains("warning: --approval trust").stderr_lacks("::warning::");
}

#[test]
fn canary_needs_whole_intervals_and_fails_closed_without_prometheus() {
    let canary = ["canary", "--canary-selector", r#"instance="a:1""#, "--stable-selector", r#"instance="b:1""#];
    K6gate::new()
        .args(canary)
        .args(["--prometheus", "http://127.0.0.1:9", "--duration", "45s", "--interval", "30s"])
        .status(2)
        .stderr_contains("must be a multiple of --interval");
    // Nothing listens on port 9: the first look is an error (exit 2), never a promote.
    K6gate::new()
        .args(canary)
        .args(["--prometheus", "http://127.0.0.1:9", "--duration", "2s", "--interval", "1s", "--delay", "0s"])
        .status(2)
        .stderr_contains("reading the populations from Prometheus failed; nothing is promoted");
}

/// A read-only command whose reader has gone (`k6gate schema | head -1`) ends by SIGPIPE, as
/// `cat` does, without a panic; a command that changes the store keeps Rust's default and says
/// why it stopped.
#[test]
fn a_closed_stdout_ends_a_read_only_command_quietly() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::{Command, Stdio};
    let closed = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        writer
    };
    let out = Command::new(env!("CARGO_BIN_EXE_k6gate"))
        .arg("schema")
        .stdout(closed())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.signal(), Some(13), "ended by SIGPIPE: {:?} {stderr}", out.status);
    assert!(stderr.is_empty(), "{stderr}");

    assert!(k6gate::cli::reads_only(["k6gate", "history", "trend", "--test", "t", "--env", "e"].map(Into::into)));
    assert!(!k6gate::cli::reads_only(["k6gate", "history", "prune"].map(Into::into)));
    assert!(!k6gate::cli::reads_only(["k6gate", "run", "--test", "t", "--env", "e"].map(Into::into)));
    assert!(!k6gate::cli::reads_only(["k6gate", "--no-such-flag"].map(Into::into)));
}
