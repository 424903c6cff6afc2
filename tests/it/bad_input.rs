//! Unusable input through the binary: exit code 2 and `error: PATH:LINE: message` on stderr.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use k6gate::RunSummary;
use tempfile::TempDir;

use super::exact;
use crate::support::cli::K6gate;
use crate::support::fixtures::{self, Set};

/// Runs `k6gate ingest path extra...`, expects exit 2 and an error located at `line`.
/// Returns stderr.
fn expect_error(path: &Path, line: Option<usize>, extra: &[&str]) -> String {
    let mut args = vec![OsStr::new("ingest"), path.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    let o = K6gate::new().args(&args).output();
    let err = o.stderr();
    assert_eq!(o.code(), Some(2), "exit code; stderr:\n{err}");
    assert!(err.starts_with("error: "), "stderr: {err}");
    let located = match line {
        Some(l) => format!("{}:{l}: ", path.display()),
        None => format!("{}", path.display()),
    };
    assert!(err.contains(&located), "stderr should contain {located:?}:\n{err}");
    err
}

fn staged_lines() -> Vec<String> {
    Set::Small.lines("staged.json")
}

/// Index of the first line satisfying `pred`, after `from`.
fn find(lines: &[String], from: usize, pred: impl Fn(&str) -> bool) -> usize {
    (from..lines.len()).find(|&i| pred(&lines[i])).expect("no such line in the fixture")
}

/// Replaces the JSON text of `"value":` in a Point line.
fn set_value(line: &str, value: &str) -> String {
    let start = line.find("\"value\":").expect("value") + "\"value\":".len();
    let end = start + line[start..].find(',').expect("comma");
    format!("{}{value}{}", &line[..start], &line[end..])
}

/// The first line that starts more than `LATE` bytes into the file: well past the stream
/// reader's first chunk (1 to 8 MiB in the versions seen so far), so it sits in a later chunk,
/// parsed by another worker when there are several threads.
const LATE: usize = (8 << 20) + 300_000;

fn first_late_line(lines: &[String]) -> usize {
    let mut bytes = 0;
    lines
        .iter()
        .position(|l| {
            let start = bytes;
            bytes += l.len() + 1;
            start > LATE
        })
        .expect("fixture larger than LATE bytes")
}

fn tmp() -> TempDir {
    tempfile::tempdir().expect("tempdir")
}

#[test]
fn truncated_last_line_names_the_last_line() {
    let dir = tmp();
    let (p, n) = truncated_copy(dir.path());
    let err = expect_error(&p, Some(n), &[]);
    assert!(err.contains("truncated"), "{err}");
}

/// staged.json with its last line cut in half (no final newline); returns the line count.
fn truncated_copy(dir: &Path) -> (PathBuf, usize) {
    let lines = staged_lines();
    let n = lines.len();
    let mut text = lines[..n - 1].join("\n");
    text.push('\n');
    text.push_str(&lines[n - 1][..lines[n - 1].len() / 2]);
    (fixtures::write(dir, "truncated.json", text.as_bytes()), n)
}

#[test]
fn garbage_line_in_the_middle_names_line_100() {
    let dir = tmp();
    let mut lines = staged_lines();
    lines[99] = "this is not JSON at all".into();
    let p = fixtures::write_lines(dir.path(), "garbage.json", &lines);
    expect_error(&p, Some(100), &[]);
}

#[test]
#[ignore = "full tier: needs k6"]
fn garbage_line_after_the_first_chunk_names_its_global_line() {
    let dir = tmp();
    let mut lines = fixtures::lines("arrival.json");
    let i = first_late_line(&lines) + 10;
    lines[i] = "{\"garbage\": ".into();
    let p = fixtures::write_lines(dir.path(), "garbage-late.json", &lines);
    for threads in ["1", "2", "4"] {
        expect_error(&p, Some(i + 1), &["--threads", threads]);
    }
}

#[test]
fn unknown_metric_type_names_the_metric_line() {
    let dir = tmp();
    let mut lines = staged_lines();
    let i = find(&lines, 0, |l| l.contains("\"type\":\"Metric\"") && l.contains("\"name\":\"auth_check\""));
    assert!(i > 0, "pick a Metric line that is not the first");
    lines[i] = lines[i].replace("\"type\":\"trend\"", "\"type\":\"histogram\"");
    let p = fixtures::write_lines(dir.path(), "unknown-type.json", &lines);
    let err = expect_error(&p, Some(i + 1), &[]);
    assert!(err.contains("histogram"), "{err}");
}

#[test]
fn nan_value_names_its_line() {
    let dir = tmp();
    let mut lines = staged_lines();
    let i = find(&lines, 199, |l| l.contains("\"type\":\"Point\""));
    lines[i] = set_value(&lines[i], "NaN");
    let p = fixtures::write_lines(dir.path(), "nan.json", &lines);
    let err = expect_error(&p, Some(i + 1), &[]);
    assert!(err.contains("NaN"), "{err}");
}

#[test]
fn negative_http_req_duration_names_its_line() {
    let dir = tmp();
    let mut lines = staged_lines();
    let i = find(&lines, 300, |l| l.starts_with("{\"metric\":\"http_req_duration\",\"type\":\"Point\""));
    lines[i] = set_value(&lines[i], "-3.25");
    let p = fixtures::write_lines(dir.path(), "negative.json", &lines);
    let err = expect_error(&p, Some(i + 1), &[]);
    assert!(err.contains("negative"), "{err}");
}

/// A negative value of a custom time Trend (auth_check is declared `contains: time`) is
/// rejected like a negative built-in duration, wherever in the file it is and whatever the
/// number of parser threads.
#[test]
#[ignore = "full tier: needs k6"]
fn negative_custom_time_trend_in_a_later_chunk_is_rejected_with_any_thread_count() {
    let dir = tmp();
    let mut lines = fixtures::lines("arrival.json");
    let i = find(&lines, first_late_line(&lines), |l| l.starts_with("{\"metric\":\"auth_check\",\"type\":\"Point\""));
    lines[i] = set_value(&lines[i], "-7.5");
    let p = fixtures::write_lines(dir.path(), "negative-custom.json", &lines);
    let mut failures = Vec::new();
    for threads in ["1", "2", "4"] {
        let o = K6gate::new()
            .args([OsStr::new("ingest"), p.as_os_str(), OsStr::new("--threads"), OsStr::new(threads)])
            .output();
        let want = format!("{}:{}: ", p.display(), i + 1);
        if o.code() != Some(2) || !o.stderr().contains(&want) {
            failures.push(format!("--threads {threads}: exit {:?}, stderr {:?}", o.code(), o.stderr()));
        }
    }
    assert!(failures.is_empty(), "negative auth_check value at line {} not rejected:\n{}", i + 1, failures.join("\n"));
}

#[test]
fn negative_custom_time_trend_is_rejected() {
    let dir = tmp();
    let mut lines = staged_lines();
    let i = find(&lines, 500, |l| l.starts_with("{\"metric\":\"auth_check\",\"type\":\"Point\""));
    lines[i] = set_value(&lines[i], "-7.5");
    let p = fixtures::write_lines(dir.path(), "negative-custom-early.json", &lines);
    let err = expect_error(&p, Some(i + 1), &[]);
    assert!(err.contains("negative") && err.contains("auth_check"), "{err}");
}

#[test]
fn point_of_custom_metric_without_metric_line_names_the_point() {
    let dir = tmp();
    let mut lines = staged_lines();
    let decl = find(&lines, 0, |l| l.contains("\"type\":\"Metric\"") && l.contains("\"name\":\"cart_ok\""));
    lines.remove(decl);
    let first = find(&lines, 0, |l| l.starts_with("{\"metric\":\"cart_ok\",\"type\":\"Point\""));
    let p = fixtures::write_lines(dir.path(), "undeclared.json", &lines);
    let err = expect_error(&p, Some(first + 1), &[]);
    assert!(err.contains("cart_ok"), "{err}");
}

#[test]
#[ignore = "full tier: needs k6"]
fn point_of_undeclared_custom_metric_in_a_later_chunk_names_the_point() {
    // Drop cart_size's declaration and its Points before LATE: the first remaining Point
    // sits in a later chunk, and its line must still be the global one.
    let dir = tmp();
    let lines = fixtures::lines("arrival.json");
    let late = first_late_line(&lines);
    let kept: Vec<String> = lines
        .into_iter()
        .enumerate()
        .filter(|(i, l)| {
            let decl = l.contains("\"type\":\"Metric\"") && l.contains("\"name\":\"cart_size\"");
            let early_point = l.starts_with("{\"metric\":\"cart_size\",") && *i < late;
            !decl && !early_point
        })
        .map(|(_, l)| l)
        .collect();
    let first = find(&kept, 0, |l| l.starts_with("{\"metric\":\"cart_size\","));
    let p = fixtures::write_lines(dir.path(), "undeclared-late.json", &kept);
    for threads in ["1", "2", "4"] {
        let err = expect_error(&p, Some(first + 1), &["--threads", threads]);
        assert!(err.contains("cart_size"), "{err}");
    }
}

#[test]
fn empty_file_is_an_error_naming_the_file() {
    let dir = tmp();
    let p = fixtures::write(dir.path(), "empty.json", b"");
    let err = expect_error(&p, None, &[]);
    assert!(err.contains("empty"), "{err}");
}

#[test]
fn png_like_binary_is_not_a_k6_format() {
    let dir = tmp();
    let mut png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x10\0\0\0\x10\x08\x06\0\0\0".to_vec();
    png.extend((0..=255u8).cycle().take(2000));
    let p = fixtures::write(dir.path(), "results.json", &png);
    expect_error(&p, Some(1), &[]);
}

#[test]
fn plain_text_file_is_not_a_k6_format() {
    let dir = tmp();
    let p = fixtures::write(dir.path(), "notes.txt", b"load test went fine\nsee you tomorrow\n");
    let err = expect_error(&p, Some(1), &[]);
    assert!(err.contains("not a k6 output"), "{err}");
}

#[test]
#[ignore = "full tier: needs k6"]
fn csv_with_a_short_row_names_its_line() {
    let dir = tmp();
    let mut lines = fixtures::lines("csv-unixmilli.csv");
    let fields: Vec<&str> = lines[49].split(',').collect();
    lines[49] = fields[..3].join(",");
    let p = fixtures::write_lines(dir.path(), "broken.csv", &lines);
    expect_error(&p, Some(50), &[]);
}

#[test]
#[ignore = "full tier: needs k6"]
fn csv_with_a_non_numeric_value_names_its_line() {
    let dir = tmp();
    let mut lines = fixtures::lines("csv-unixmilli.csv");
    let mut fields: Vec<String> = lines[59].split(',').map(str::to_owned).collect();
    fields[2] = "fast".into();
    lines[59] = fields.join(",");
    let p = fixtures::write_lines(dir.path(), "broken-value.csv", &lines);
    let err = expect_error(&p, Some(60), &[]);
    assert!(err.contains("fast"), "{err}");
}

fn read_summary(path: &Path) -> RunSummary {
    serde_json::from_slice(&std::fs::read(path).expect("output written")).expect("RunSummary JSON")
}

#[test]
fn builtin_points_only_file_reads_like_the_original() {
    // As if filtered with jq to the built-in metrics' Points: no Metric line at all.
    let dir = tmp();
    let custom = ["auth_check", "cart_ok", "items_added", "cart_size"];
    let lines: Vec<String> = staged_lines()
        .into_iter()
        .filter(|l| {
            l.contains("\"type\":\"Point\"") && !custom.iter().any(|c| l.starts_with(&format!("{{\"metric\":\"{c}\",")))
        })
        .collect();
    let p = fixtures::write_lines(dir.path(), "builtin-only.json", &lines);
    let out = dir.path().join("out.json");
    let o = K6gate::new().args(["ingest".as_ref(), p.as_os_str(), "-o".as_ref(), out.as_os_str()]).output();
    assert_eq!(o.code(), Some(0), "stderr: {}", o.stderr());
    let s = read_summary(&out);
    assert!(s.completeness.complete, "{:?}", s.completeness.issues);
    let want = exact::by_stage(&exact::json_in(Set::Small, "staged.json"));
    exact::assert_phases_match(&s.phases, &s.whole_run, &want, &["ramp-up", "sustained", "ramp-down"]);
}

#[test]
fn allow_partial_reads_a_truncated_file_and_marks_it_incomplete() {
    let dir = tmp();
    let (p, n) = truncated_copy(dir.path());
    let out = dir.path().join("out.json");
    let o = K6gate::new()
        .args(["ingest".as_ref(), p.as_os_str(), "--allow-partial".as_ref(), "-o".as_ref(), out.as_os_str()])
        .output();
    assert_eq!(o.code(), Some(0), "stderr: {}", o.stderr());
    let s = read_summary(&out);
    assert!(!s.completeness.complete);
    assert!(
        s.completeness.issues.iter().any(|i| i.contains(&format!("line {n}"))),
        "no issue mentions line {n}: {:?}",
        s.completeness.issues
    );
    // Everything but the cut line was read.
    let full = Set::Small.staged();
    assert_eq!(s.metadata.samples, full.metadata.samples - 1);
}

/// `k6gate ingest staged.json --k6-exit-code CODE --format json`: the summary on stdout.
fn ingest_with_exit_code(code: &str) -> RunSummary {
    let p = Set::Small.path("staged.json");
    let o = K6gate::new()
        .args(["ingest".as_ref(), p.as_os_str(), "--k6-exit-code".as_ref(), code.as_ref()])
        .args(["--format", "json"])
        .output();
    assert_eq!(o.code(), Some(0), "stderr: {}", o.stderr());
    serde_json::from_str(&o.stdout()).expect("RunSummary on stdout")
}

#[test]
fn k6_exit_code_99_marks_the_summary_incomplete() {
    let s = ingest_with_exit_code("99");
    assert!(!s.completeness.complete);
    assert_eq!(s.metadata.k6_exit_code, Some(99));
    assert!(s.completeness.issues.iter().any(|i| i.contains("99")), "{:?}", s.completeness.issues);
}

#[test]
fn k6_exit_code_0_keeps_the_summary_complete() {
    let s = ingest_with_exit_code("0");
    assert!(s.completeness.complete, "{:?}", s.completeness.issues);
    assert_eq!(s.metadata.k6_exit_code, Some(0));
}
