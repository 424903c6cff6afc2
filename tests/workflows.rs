//! The GitHub Actions workflows: the reusable gate (`.github/workflows/k6-gate.yml`), the
//! repo's other workflows and the callers in `examples/` pass actionlint (installed by
//! `scripts/install-actionlint.sh`), and a structural check holds: every input and secret
//! the gate refers to is declared and every declared one is used, no `run:` script
//! interpolates an expression, and each example passes the gate only declared inputs and
//! secrets, all the required inputs, and grants the permissions the gate's job asks for.
//! The actionlint tests are the full tier; the structural checks run in `cargo test`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const GATE: &str = ".github/workflows/k6-gate.yml";
/// How the examples call the gate, and what they call in the lint's scratch repository.
const REMOTE_USES: &str = "k6gate/k6gate/.github/workflows/k6-gate.yml@main";
const LOCAL_USES: &str = "./.github/workflows/k6-gate.yml";
/// The actionlint `scripts/install-actionlint.sh` installs (first line of `-version`).
const ACTIONLINT_VERSION: &str = "actionlint.kjanat.dev 1.17.0";
/// Findings tolerated in workflows this suite does not own, by file name: ci.yml still uses
/// the node20 majors of actions/checkout (v4) and actions/setup-python (v5). Bump them to
/// checkout@v5 and setup-python@v6 and drop the entry.
const TOLERATED: &[(&str, &str)] = &[];

// ---------------------------------------------------------------------------------------
// actionlint

/// The pinned actionlint, from PATH or pip's user-base bin dir (where `pip install --user`
/// puts it; `scripts/test.sh` adds that dir to PATH the same way). Missing or another
/// version: the test fails, it never skips.
fn actionlint() -> PathBuf {
    let mut dirs: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect()).unwrap_or_default();
    let user_base = Command::new("python3")
        .args(["-c", "import site,os; print(os.path.join(site.getuserbase(),'bin'))"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    dirs.extend(user_base);
    let Some(bin) = dirs.iter().map(|d| d.join("actionlint")).find(|p| p.is_file()) else {
        panic!(
            "actionlint is not installed (looked in PATH and pip's user-base bin dir): \
             run scripts/install-actionlint.sh"
        );
    };
    let version = Command::new(&bin).arg("-version").output().expect("run actionlint -version");
    let version = String::from_utf8_lossy(&version.stdout);
    let first = version.lines().next().unwrap_or("").trim();
    assert_eq!(
        first,
        ACTIONLINT_VERSION,
        "{} is not the pinned actionlint: run scripts/install-actionlint.sh",
        bin.display()
    );
    bin
}

/// actionlint in `dir` (it looks for the repository's `.github/workflows` from there) on
/// `files`, or on every workflow when `files` is empty. The shellcheck and pyflakes
/// integrations are off so that the result does not depend on what else is installed.
fn lint(dir: &Path, files: &[PathBuf], ignore: &[&str]) -> Output {
    let mut cmd = Command::new(actionlint());
    cmd.args(["-no-color", "-shellcheck=", "-pyflakes="]);
    for pattern in ignore {
        cmd.arg("-ignore").arg(regex_escape(pattern));
    }
    cmd.args(files).current_dir(dir).output().expect("run actionlint")
}

fn regex_escape(s: &str) -> String {
    s.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

fn report(out: &Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_clean(out: &Output, what: &str) {
    assert!(out.status.success() && out.stdout.is_empty(), "actionlint reports problems in {what}:\n{}", report(out));
}

fn yml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "yml" || x == "yaml"))
        .collect();
    files.sort();
    files
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).expect("file name")
}

/// A scratch repository (actionlint wants `.git` and `.github/workflows`) with `files`.
fn scratch_repo(files: &[(&str, String)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join(".git")).expect("mkdir .git");
    let workflows = dir.path().join(".github/workflows");
    std::fs::create_dir_all(&workflows).expect("mkdir .github/workflows");
    for (name, text) in files {
        std::fs::write(workflows.join(name), text).expect("write workflow");
    }
    dir
}

/// The examples next to the gate, calling it as a local reusable workflow so that
/// actionlint checks what they pass against what the gate declares.
fn examples_repo(edit: impl Fn(&str, String) -> String) -> tempfile::TempDir {
    let mut files = vec![("k6-gate.yml", read(GATE))];
    let examples = example_files();
    for path in &examples {
        let text = std::fs::read_to_string(path).expect("read example");
        assert!(text.contains(REMOTE_USES), "{} does not call `{REMOTE_USES}`", path.display());
        files.push((file_name(path), edit(file_name(path), text.replace(REMOTE_USES, LOCAL_USES))));
    }
    scratch_repo(&files)
}

fn example_files() -> Vec<PathBuf> {
    let files = yml_files(&Path::new(ROOT).join("examples"));
    let names: Vec<&str> = files.iter().map(|p| file_name(p)).collect();
    for want in ["pr-gate.yml", "post-deploy.yml", "nightly.yml"] {
        assert!(names.contains(&want), "examples/{want} is missing (found {names:?})");
    }
    files
}

fn read(rel: &str) -> String {
    let path = Path::new(ROOT).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
#[ignore = "full tier: needs actionlint"]
fn repo_workflows_pass_actionlint() {
    let root = Path::new(ROOT);
    let files = yml_files(&root.join(".github/workflows"));
    assert!(files.iter().any(|f| file_name(f) == "k6-gate.yml"), "{GATE} is missing");
    // One run per file, each with the findings tolerated in it.
    for file in &files {
        let ignore: Vec<&str> = TOLERATED.iter().filter(|(f, _)| *f == file_name(file)).map(|(_, p)| *p).collect();
        let out = lint(root, std::slice::from_ref(file), &ignore);
        assert_clean(&out, &file.display().to_string());
    }
}

#[test]
#[ignore = "full tier: needs actionlint"]
fn examples_pass_actionlint_against_the_gate() {
    let repo = examples_repo(|_, text| text);
    let out = lint(repo.path(), &[], &[]);
    assert_clean(
        &out,
        "examples/ (linted as .github/workflows/<name> of a scratch repository, next to k6-gate.yml, \
         with `uses:` pointing at it)",
    );
}

#[test]
#[ignore = "full tier: needs actionlint"]
fn actionlint_rejects_an_undefined_input_and_a_broken_runs_on() {
    let bad = "\
on:
  workflow_call:
    inputs:
      test:
        description: The test
        required: true
        type: string
jobs:
  gate:
    runs-on: ${{ inputs.test }
    timeout-minutes: 5
    permissions: {}
    steps:
      - env:
          TEST: ${{ inputs.test }}
          NOPE: ${{ inputs.nope }}
        run: echo \"$TEST $NOPE\"
";
    let repo = scratch_repo(&[("bad.yml", bad.to_string())]);
    let out = lint(repo.path(), &[], &[]);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(1), "actionlint should report problems:\n{text}");
    assert!(text.contains(r#"property "nope" is not defined"#), "undefined input not reported:\n{text}");
    assert!(text.contains("bad.yml:10:"), "the broken runs-on expression (line 10) not reported:\n{text}");
}

#[test]
#[ignore = "full tier: needs actionlint"]
fn actionlint_rejects_an_example_passing_an_undeclared_input() {
    let repo = examples_repo(|name, text| {
        if name == "pr-gate.yml" {
            text.replace("test: checkout", "test: checkout\n      tset: checkout")
        } else {
            text
        }
    });
    let out = lint(repo.path(), &[], &[]);
    let text = report(&out);
    assert_eq!(out.status.code(), Some(1), "actionlint should report problems:\n{text}");
    assert!(text.contains(r#"input "tset" is not defined"#), "undeclared input not reported:\n{text}");
}

// ---------------------------------------------------------------------------------------
// Structure

fn parse(text: &str) -> Value {
    yaml_serde::from_str::<Value>(text).expect("workflow YAML")
}

/// Every expression in the workflow's values: the insides of `${{ }}`, and whole `if:`
/// values (an expression even without `${{ }}`). Comments are not values.
fn expressions(v: &Value) -> Vec<String> {
    fn walk(v: &Value, key: Option<&str>, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, Some(k), out)),
            Value::Array(a) => a.iter().for_each(|v| walk(v, key, out)),
            Value::String(s) => {
                if key == Some("if") && !s.contains("${{") {
                    out.push(s.clone());
                }
                let mut rest = s.as_str();
                while let Some(start) = rest.find("${{") {
                    let inner = &rest[start + 3..];
                    let end = inner.find("}}").unwrap_or(inner.len());
                    out.push(inner[..end].to_string());
                    rest = &inner[end..];
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, None, &mut out);
    out
}

/// The names dereferenced from `context` (`inputs`, `secrets`) in `exprs`, as `context.name`
/// at the start of a path (so `github.event.inputs.x` does not count).
fn references(exprs: &[String], context: &str) -> Result<BTreeSet<String>, String> {
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    let mut names = BTreeSet::new();
    for e in exprs {
        for (at, _) in e.match_indices(context) {
            if e[..at].chars().next_back().is_some_and(|c| is_ident(c) || c == '.') {
                continue;
            }
            let after = &e[at + context.len()..];
            if after.starts_with('[') {
                return Err(format!("`{e}`: write {context}.NAME, not {context}[...], so the check can see it"));
            }
            if let Some(name) = after.strip_prefix('.') {
                let name: String = name.chars().take_while(|&c| is_ident(c)).collect();
                names.insert(name);
            }
        }
    }
    Ok(names)
}

struct Interface {
    /// Name -> required without a default.
    inputs: BTreeMap<String, bool>,
    secrets: BTreeSet<String>,
}

fn interface(gate: &Value) -> Interface {
    let call = &gate["on"]["workflow_call"];
    let inputs = call["inputs"].as_object().map(|m| {
        m.iter().map(|(k, v)| (k.clone(), v["required"] == Value::Bool(true) && v.get("default").is_none())).collect()
    });
    let secrets = call["secrets"].as_object().map(|m| m.keys().cloned().collect());
    Interface { inputs: inputs.unwrap_or_default(), secrets: secrets.unwrap_or_default() }
}

fn jobs(wf: &Value) -> impl Iterator<Item = (&String, &Value)> {
    wf["jobs"].as_object().into_iter().flatten()
}

/// `run:` scripts with `${{ }}` in them: GitHub pastes the value into the script before the
/// shell sees it (script injection). Pass values through `env:`.
fn interpolated_scripts(wf: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (job, body) in jobs(wf) {
        for step in body["steps"].as_array().into_iter().flatten() {
            if let Some(run) = step["run"].as_str().filter(|r| r.contains("${{")) {
                let name = step["name"].as_str().or(step["id"].as_str()).unwrap_or("?");
                problems.push(format!("job {job}, step {name:?}: `run:` interpolates an expression: {run:?}"));
            }
        }
    }
    problems
}

/// The reusable gate's problems: references to undeclared inputs and secrets, declared ones
/// never used, inputs without a type or description, outputs that map to no job output,
/// and interpolated `run:` scripts.
fn check_gate(gate: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let call = &gate["on"]["workflow_call"];
    if !call.is_object() {
        return vec!["`on.workflow_call` is missing: not a reusable workflow".into()];
    }
    let declared = interface(gate);
    let exprs = expressions(gate);
    for (context, declared) in
        [("inputs", declared.inputs.keys().cloned().collect::<BTreeSet<_>>()), ("secrets", declared.secrets.clone())]
    {
        let used = match references(&exprs, context) {
            Ok(used) => used,
            Err(e) => {
                problems.push(e);
                continue;
            }
        };
        for name in used.difference(&declared) {
            problems.push(format!("{context}.{name} is used but not declared under on.workflow_call.{context}"));
        }
        for name in declared.difference(&used) {
            problems.push(format!("on.workflow_call.{context}.{name} is declared but never used"));
        }
    }
    for (name, input) in call["inputs"].as_object().into_iter().flatten() {
        for field in ["type", "description"] {
            if input.get(field).is_none() {
                problems.push(format!("input {name} has no {field}"));
            }
        }
    }
    for (name, output) in call["outputs"].as_object().into_iter().flatten() {
        let value = output["value"].as_str().unwrap_or("");
        let target = value
            .trim()
            .strip_prefix("${{")
            .and_then(|v| v.strip_suffix("}}"))
            .and_then(|v| v.trim().strip_prefix("jobs."))
            .and_then(|v| v.split_once(".outputs."));
        match target {
            Some((job, out)) if gate["jobs"][job]["outputs"].get(out).is_some() => {}
            _ => problems.push(format!("output {name} = {value:?} is not a job output of this workflow")),
        }
    }
    problems.extend(interpolated_scripts(gate));
    problems
}

fn level(v: Option<&str>) -> u8 {
    match v {
        Some("write") => 2,
        Some("read") => 1,
        _ => 0,
    }
}

/// A caller's problems: no job calls the gate; a call passes an undeclared input or secret,
/// misses a required input, or uses `secrets: inherit`; the caller grants less than the
/// gate's jobs ask for; an interpolated `run:` script.
fn check_caller(caller: &Value, gate: &Value, uses: &str) -> Vec<String> {
    let declared = interface(gate);
    let mut problems = Vec::new();
    let calls: Vec<_> = jobs(caller).filter(|(_, j)| j["uses"].as_str() == Some(uses)).collect();
    if calls.is_empty() {
        problems.push(format!("no job calls `{uses}`"));
    }
    for (job, body) in calls {
        let with = body["with"].as_object().cloned().unwrap_or_default();
        for name in with.keys().filter(|n| !declared.inputs.contains_key(*n)) {
            problems.push(format!("job {job} passes input {name}, which the gate does not declare"));
        }
        for (name, _) in declared.inputs.iter().filter(|(n, required)| **required && !with.contains_key(*n)) {
            problems.push(format!("job {job} does not pass the required input {name}"));
        }
        match &body["secrets"] {
            Value::Null => {}
            Value::Object(m) => {
                for name in m.keys().filter(|n| !declared.secrets.contains(*n)) {
                    problems.push(format!("job {job} passes secret {name}, which the gate does not declare"));
                }
            }
            other => problems.push(format!("job {job}: `secrets: {other}`; name each secret the gate needs")),
        }
        // A called workflow gets at most what the calling job (else the workflow) grants.
        let granted = if body.get("permissions").is_some() { &body["permissions"] } else { &caller["permissions"] };
        for (gate_job, gate_body) in jobs(gate) {
            for (scope, want) in gate_body["permissions"].as_object().into_iter().flatten() {
                let have = granted.as_str().map(|all| all.trim_end_matches("-all")).or(granted[scope].as_str());
                if level(have) < level(want.as_str()) {
                    problems.push(format!(
                        "job {job} grants {scope}: {} but the gate's job {gate_job} asks for {scope}: {}",
                        have.unwrap_or("none"),
                        want.as_str().unwrap_or("?")
                    ));
                }
            }
        }
    }
    problems.extend(interpolated_scripts(caller));
    problems
}

fn gate() -> Value {
    parse(&read(GATE))
}

fn assert_no_problems(problems: &[String], what: &str) {
    assert!(problems.is_empty(), "{what}:\n  {}", problems.join("\n  "));
}

#[test]
fn yaml_on_key_is_a_string() {
    // YAML 1.1 reads a bare `on` as `true`; the structural checks need the 1.2 reading.
    assert!(gate()["on"]["workflow_call"].is_object(), "`on:` did not parse as the key \"on\"");
}

#[test]
fn gate_declares_and_uses_every_input_and_secret() {
    assert_no_problems(&check_gate(&gate()), GATE);
}

#[test]
fn gate_contract() {
    let gate = gate();
    let call = &gate["on"]["workflow_call"];
    let inputs = interface(&gate).inputs;
    let required: Vec<&str> = inputs.iter().filter(|(_, r)| **r).map(|(n, _)| n.as_str()).collect();
    assert_eq!(required, ["environment", "test"]);
    for (name, default) in [
        ("policy-directory", "policies"),
        ("waivers-directory", "waivers"),
        ("templates-directory", "k6-templates"),
        ("environments-directory", "environments"),
        ("deployment-version", ""),
        ("baseline", "auto"),
        ("k6-version", "1.1.0"),
        ("k6gate-repository", "k6gate/k6gate"),
        ("k6gate-ref", "main"),
        ("runs-on", "ubuntu-latest"),
    ] {
        assert_eq!(call["inputs"][name]["default"], Value::from(default), "default of {name}");
    }
    assert_eq!(call["inputs"]["timeout-minutes"]["type"], "number");
    assert_eq!(call["inputs"]["timeout-minutes"]["default"], 30);
    let secrets: BTreeSet<&str> = call["secrets"].as_object().expect("secrets").keys().map(String::as_str).collect();
    assert_eq!(secrets, BTreeSet::from(["escalation-webhook-url", "grafana-token", "webhook-url"]));
    assert!(call["secrets"].as_object().unwrap().values().all(|s| s["required"] != Value::Bool(true)));

    let job = &gate["jobs"]["gate"];
    assert_eq!(job["outputs"]["outcome"], "${{ steps.gate.outputs.outcome }}");
    assert_eq!(job["outputs"]["run-id"], "${{ steps.gate.outputs.run-id }}");
    for (scope, want) in [("contents", "read"), ("checks", "write"), ("pull-requests", "write"), ("statuses", "write")]
    {
        assert_eq!(job["permissions"][scope], want, "permissions.{scope}");
    }
    let steps = job["steps"].as_array().expect("steps");
    let checkout = steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/checkout@")));
    assert_eq!(checkout.expect("checkout step")["with"]["fetch-depth"], 0, "the waiver audit trail needs full history");
    let step = steps.iter().find(|s| s["id"] == "gate").expect("the step with id gate");
    let script = step["run"].as_str().expect("gate script");
    for needle in ["set +e", "k6gate run ", "--report github", "GITHUB_OUTPUT", "exit \"$code\""] {
        assert!(script.contains(needle), "the gate step's script lacks {needle:?}");
    }
    let upload = steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/upload-artifact@")));
    let upload_if = upload.expect("upload step")["if"].as_str().unwrap_or("");
    assert!(upload_if.contains("always()") && upload_if.contains("steps.gate.outputs.run-dir != ''"), "{upload_if}");
}

#[test]
fn examples_call_the_gate_with_declared_inputs_and_secrets() {
    let gate = gate();
    for path in example_files() {
        let caller = parse(&std::fs::read_to_string(&path).expect("read example"));
        assert_no_problems(&check_caller(&caller, &gate, REMOTE_USES), &path.display().to_string());
    }
}

#[test]
fn structural_check_rejects_a_removed_input_declaration() {
    let mut broken = gate();
    let inputs = broken["on"]["workflow_call"]["inputs"].as_object_mut().expect("inputs");
    assert!(inputs.remove("baseline").is_some());
    let problems = check_gate(&broken);
    assert!(
        problems.iter().any(|p| p.contains("inputs.baseline is used but not declared")),
        "not caught: {problems:?}"
    );
}

#[test]
fn structural_check_rejects_unused_and_undeclared_names_and_interpolated_scripts() {
    let mut broken = gate();
    broken["on"]["workflow_call"]["inputs"]["unused"] = serde_json::json!({"type": "string", "description": "x"});
    broken["on"]["workflow_call"]["secrets"].as_object_mut().expect("secrets").remove("webhook-url");
    broken["jobs"]["gate"]["steps"].as_array_mut().expect("steps").push(serde_json::json!({
        "name": "unsafe",
        "run": "echo ${{ inputs.test }}",
    }));
    let problems = check_gate(&broken).join("\n");
    for want in [
        "on.workflow_call.inputs.unused is declared but never used",
        "secrets.webhook-url is used but not declared",
        "step \"unsafe\": `run:` interpolates an expression",
    ] {
        assert!(problems.contains(want), "{want:?} not in:\n{problems}");
    }
}

#[test]
fn structural_check_rejects_bad_callers() {
    let gate = gate();
    let caller = parse(&read("examples/pr-gate.yml"));
    let check = |edit: &dyn Fn(&mut Value)| {
        let mut c = caller.clone();
        edit(&mut c);
        check_caller(&c, &gate, REMOTE_USES).join("\n")
    };
    let p = check(&|c| c["jobs"]["gate"]["with"]["tset"] = "x".into());
    assert!(p.contains("passes input tset, which the gate does not declare"), "{p}");
    let p = check(&|c| {
        c["jobs"]["gate"]["with"].as_object_mut().unwrap().remove("test");
    });
    assert!(p.contains("does not pass the required input test"), "{p}");
    let p = check(&|c| c["jobs"]["gate"]["secrets"] = "inherit".into());
    assert!(p.contains("`secrets: \"inherit\"`"), "{p}");
    let p = check(&|c| c["jobs"]["gate"]["secrets"]["github-token"] = "x".into());
    assert!(p.contains("passes secret github-token, which the gate does not declare"), "{p}");
    let p = check(&|c| {
        c["permissions"].as_object_mut().unwrap().remove("statuses");
    });
    assert!(p.contains("grants statuses: none but the gate's job gate asks for statuses: write"), "{p}");
    let p = check(&|c| c["jobs"]["gate"]["uses"] = "k6gate/k6gate/.github/workflows/other.yml@main".into());
    assert!(p.contains("no job calls"), "{p}");
}
