//! `k6gate ingest` from the command line.

use std::ffi::OsStr;

use k6gate::RunSummary;

use crate::fixtures::{self, k6gate, stderr, stdout};

#[test]
fn output_file_holds_a_run_summary_and_stdout_a_text_table() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let input = fixtures::path("staged.json");
    let o = k6gate([OsStr::new("ingest"), input.as_os_str(), OsStr::new("-o"), out.as_os_str()]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let s: RunSummary = serde_json::from_slice(&std::fs::read(&out).expect("out.json")).expect("RunSummary");
    assert_eq!(s.schema_version, k6gate::summary::SCHEMA_VERSION);
    let names: Vec<&str> = s.phases.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["ramp-up", "sustained", "ramp-down"]);
    let text = stdout(&o);
    for name in names {
        assert!(text.contains(name), "text output lacks phase {name}:\n{text}");
    }
    assert!(text.contains("whole-run"), "{text}");
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "default stdout is text, not JSON");
}

#[test]
fn output_file_agrees_with_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.json");
    let input = fixtures::path("staged.json");
    let o = k6gate([
        OsStr::new("ingest"),
        input.as_os_str(),
        OsStr::new("-o"),
        out.as_os_str(),
        OsStr::new("--threads"),
        OsStr::new("1"),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let s: RunSummary = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    let lib = fixtures::ingest_with("staged.json", &k6gate::IngestOptions { threads: 1, ..Default::default() });
    assert_eq!(s, lib);
}

#[test]
fn format_json_prints_the_run_summary_on_stdout() {
    let input = fixtures::path("staged.json");
    let o = k6gate([OsStr::new("ingest"), input.as_os_str(), OsStr::new("--format"), OsStr::new("json")]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let s: RunSummary = serde_json::from_slice(&o.stdout).expect("RunSummary JSON on stdout");
    assert_eq!(s.phases.len(), 3);
    assert_eq!(s.whole_run.total.requests, fixtures::staged().whole_run.total.requests);
}

#[test]
fn missing_file_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let o = k6gate([OsStr::new("ingest"), missing.as_os_str()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains(&missing.display().to_string()), "{}", stderr(&o));
}

#[test]
fn json_and_csv_of_the_same_run_together_are_refused() {
    let (j, c) = (fixtures::path("staged.json"), fixtures::path("staged.csv"));
    let o = k6gate([OsStr::new("ingest"), j.as_os_str(), c.as_os_str()]);
    assert_eq!(o.status.code(), Some(2), "stdout: {}", stdout(&o));
    assert!(stderr(&o).starts_with("error: "), "{}", stderr(&o));
}

#[test]
fn ingest_without_files_is_a_usage_error() {
    let o = k6gate(["ingest"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn group_by_name_keys_groups_by_name_only() {
    let input = fixtures::path("staged.json");
    let o = k6gate([
        OsStr::new("ingest"),
        input.as_os_str(),
        OsStr::new("--format"),
        OsStr::new("json"),
        OsStr::new("--group-by"),
        OsStr::new("name"),
    ]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", stderr(&o));
    let s: RunSummary = serde_json::from_slice(&o.stdout).expect("RunSummary JSON on stdout");
    let samples = crate::exact::json_fixture("staged.json");
    let mut want: std::collections::BTreeMap<String, u64> = Default::default();
    for x in samples.iter().filter(|x| x.metric == "http_reqs") {
        *want.entry(x.tags["name"].clone()).or_default() += x.value as u64;
    }
    let got: std::collections::BTreeMap<String, u64> = s
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
