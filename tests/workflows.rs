//! The GitHub Actions workflows: the reusable gate (`.github/workflows/k6-gate.yml`), the
//! release (`release.yml`, binaries and the container image), the repo's other workflows and
//! the callers in `examples/` pass actionlint (installed by `scripts/install-actionlint.sh`),
//! and a structural check holds: every input and secret the gate refers to is declared and
//! every declared one is used, no `run:` script interpolates an expression, no step continues
//! on error, and each example passes the gate only declared inputs and secrets, all the
//! required inputs, grants the permissions the gate's job asks for, deploys what it measures,
//! keeps its history in a durable store and queues per environment. The release builds the
//! targets the gate downloads, with actions pinned by version; the Dockerfile's k6 is the
//! version `scripts/install-k6.sh` installs. The actionlint tests and the download of a
//! packaged release (bash, curl, tar) are the full tier; the structural checks run in
//! `cargo test`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const GATE: &str = ".github/workflows/k6-gate.yml";
const RELEASE: &str = ".github/workflows/release.yml";
/// How the examples call the gate (at the release tag of this version, whose binary the
/// gate downloads by default), and what they call in the lint's scratch repository.
const REMOTE_USES: &str = concat!("k6gate/k6gate/.github/workflows/k6-gate.yml@v", env!("CARGO_PKG_VERSION"));
const LOCAL_USES: &str = "./.github/workflows/k6-gate.yml";
/// The deploy -> `k6gate canary` -> promote or roll back example; it calls no gate.
const CANARY_EXAMPLE: &str = "canary.yml";
/// Examples that install k6gate and run it themselves instead of calling the gate.
const STANDALONE_EXAMPLES: &[&str] = &[CANARY_EXAMPLE, "retention.yml"];
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
    for name in STANDALONE_EXAMPLES {
        let text = std::fs::read_to_string(Path::new(ROOT).join("examples").join(name)).expect("read the example");
        files.push((name, edit(name, text)));
    }
    scratch_repo(&files)
}

/// The examples that call the gate (all but [`STANDALONE_EXAMPLES`], which run k6gate
/// themselves: tests/canary_serve.rs checks the canary's, the test below the retention one's,
/// and actionlint all of them).
fn example_files() -> Vec<PathBuf> {
    let mut files = yml_files(&Path::new(ROOT).join("examples"));
    files.retain(|p| !STANDALONE_EXAMPLES.contains(&file_name(p)));
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
    for want in ["k6-gate.yml", "release.yml", "ci.yml"] {
        assert!(files.iter().any(|f| file_name(f) == want), ".github/workflows/{want} is missing");
    }
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
        ("k6gate-ref", ""),
        ("runs-on", "ubuntu-latest"),
        ("deploy-command", ""),
        ("target-url", ""),
        ("history-url", ""),
        // The release of this very version: the gate at tag vX.Y.Z runs k6gate X.Y.Z.
        ("k6gate-version", env!("CARGO_PKG_VERSION")),
    ] {
        assert_eq!(call["inputs"][name]["default"], Value::from(default), "default of {name}");
        assert_eq!(call["inputs"][name]["type"], "string", "type of {name}");
    }
    // Opt-in switches: off unless the caller asks.
    for name in ["bootstrap", "build-from-source", "nightly"] {
        assert_eq!(call["inputs"][name]["type"], "boolean", "type of {name}");
        assert_eq!(call["inputs"][name]["default"], false, "default of {name}");
    }
    assert_eq!(call["inputs"]["timeout-minutes"]["type"], "number");
    assert_eq!(call["inputs"]["timeout-minutes"]["default"], 30);
    let secrets: BTreeSet<&str> = call["secrets"].as_object().expect("secrets").keys().map(String::as_str).collect();
    assert_eq!(
        secrets,
        BTreeSet::from([
            "aws-access-key-id",
            "aws-endpoint",
            "aws-region",
            "aws-secret-access-key",
            "deploy-token",
            "escalation-webhook-url",
            "grafana-token",
            "webhook-url",
        ])
    );
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
    for needle in ["set +e", "k6gate \"$command\" ", "--report github", "GITHUB_OUTPUT", "exit \"$code\""] {
        assert!(script.contains(needle), "the gate step's script lacks {needle:?}");
    }
    // What was measured, the deployed version, the deployed URL, --bootstrap, the store.
    for needle in [
        "--measured deployed --deployment-version \"$version\"",
        "--measured existing",
        "K6GATE_BASE_URL",
        "--bootstrap",
        "command=nightly",
    ] {
        assert!(script.contains(needle), "the gate step's script lacks {needle:?}");
    }
    let env = &step["env"];
    assert_eq!(env["K6GATE_HISTORY_URL"], "${{ inputs.history-url }}");
    for (var, secret) in [
        ("AWS_ACCESS_KEY_ID", "aws-access-key-id"),
        ("AWS_SECRET_ACCESS_KEY", "aws-secret-access-key"),
        ("AWS_REGION", "aws-region"),
        ("AWS_ENDPOINT", "aws-endpoint"),
    ] {
        assert_eq!(env[var], format!("${{{{ secrets.{secret} }}}}"), "env {var}");
    }
    assert_eq!(env["DEPLOYED_VERSION"], "${{ steps.deploy.outputs.version }}");
    assert_eq!(env["DEPLOYED_URL"], "${{ steps.deploy.outputs.target-url }}");

    // The deploy step runs only when asked, before the gate, and sees the deploy secret; no
    // other step does.
    let deploy_at = steps.iter().position(|s| s["id"] == "deploy").expect("the step with id deploy");
    let gate_at = steps.iter().position(|s| s["id"] == "gate").unwrap();
    assert!(deploy_at < gate_at, "the deploy step runs before the gate");
    let deploy = &steps[deploy_at];
    assert_eq!(deploy["if"], "inputs.deploy-command != ''");
    assert_eq!(deploy["env"]["DEPLOY_TOKEN"], "${{ secrets.deploy-token }}");
    let deploy_script = deploy["run"].as_str().unwrap();
    assert!(deploy_script.contains("K6GATE_DEPLOY_OUTPUT") && deploy_script.contains("version=*"), "{deploy_script}");
    assert!(deploy.get("continue-on-error").is_none(), "a failed deploy fails the job");
    let with_deploy_token = steps.iter().filter(|s| s.to_string().contains("secrets.deploy-token")).count();
    assert_eq!(with_deploy_token, 1, "only the deploy step sees secrets.deploy-token");

    // Installed from a release unless asked to build; the checksum is checked.
    let download = steps.iter().find(|s| s["name"] == "Download k6gate").expect("the download step");
    assert_eq!(download["if"], "${{ !inputs.build-from-source }}");
    let download_script = download["run"].as_str().unwrap();
    assert!(download_script.contains(".sha256") && download_script.contains(" -c "), "{download_script}");
    let build = steps.iter().find(|s| s["name"] == "Build k6gate").expect("the build step");
    assert!(build["if"].as_str().unwrap().contains("inputs.build-from-source"), "{:#}", build["if"]);

    // The Actions cache holds the history only without history-url, and the job summary
    // says that it is not durable then.
    for s in steps.iter().filter(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("actions/cache/"))) {
        let cond = s["if"].as_str().unwrap_or("");
        assert!(cond.contains("inputs.history-url == ''"), "{} runs with history-url set: {cond:?}", s["name"]);
    }
    let warn = steps.iter().find(|s| s["name"] == "Warn that the history is not durable").expect("the warning step");
    assert_eq!(warn["if"], "inputs.history-url == ''");
    assert!(warn["run"].as_str().unwrap().contains("GITHUB_STEP_SUMMARY"));
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

/// Steps or jobs of `wf` that would let the gate's failure pass: `continue-on-error`, or a
/// `run:` script that swallows an exit code with `|| true`.
fn fails_open(wf: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (job, body) in jobs(wf) {
        if body.get("continue-on-error").is_some() {
            problems.push(format!("job {job} has continue-on-error"));
        }
        for step in body["steps"].as_array().into_iter().flatten() {
            let name = step["name"].as_str().or(step["id"].as_str()).or(step["uses"].as_str()).unwrap_or("?");
            if step.get("continue-on-error").is_some() {
                problems.push(format!("job {job}, step {name:?} has continue-on-error"));
            }
            if step["run"].as_str().is_some_and(|r| r.contains("|| true")) {
                problems.push(format!("job {job}, step {name:?} swallows a failure with `|| true`"));
            }
        }
    }
    problems
}

#[test]
fn the_gate_fails_closed() {
    assert_no_problems(&fails_open(&gate()), GATE);
    let mut broken = gate();
    broken["jobs"]["gate"]["steps"][0]["continue-on-error"] = true.into();
    assert!(!fails_open(&broken).is_empty(), "continue-on-error not caught");
}

/// `${{ matrix.environment }}` -> `matrix.environment`; a literal stays as it is.
fn bare(expr: &str) -> String {
    expr.trim().trim_start_matches("${{").trim_end_matches("}}").trim().to_string()
}

#[test]
fn examples_deploy_what_they_measure_keep_a_durable_history_and_queue_per_environment() {
    for path in example_files() {
        let caller = parse(&std::fs::read_to_string(&path).expect("read example"));
        let what = path.display().to_string();
        let (job, call) = jobs(&caller).find(|(_, j)| j["uses"] == REMOTE_USES).expect("a job calling the gate");
        let with = &call["with"];
        let history = with["history-url"].as_str().unwrap_or("");
        assert!(history.starts_with("s3://"), "{what}: history-url {history:?} is not a durable store");
        for secret in ["aws-access-key-id", "aws-secret-access-key"] {
            assert!(call["secrets"].get(secret).is_some(), "{what}: the store's {secret} is not passed");
        }
        let deploys = with.get("deploy-command").is_some() || with.get("target-url").is_some();
        assert!(deploys, "{what}: no deploy step (deploy-command, or target-url from your own deploy)");
        // The calling job's concurrency group, else the workflow's, names the environment.
        let concurrency = if call.get("concurrency").is_some() { &call["concurrency"] } else { &caller["concurrency"] };
        let group = bare(concurrency["group"].as_str().unwrap_or(""));
        let environment = bare(with["environment"].as_str().unwrap_or(""));
        assert!(
            !environment.is_empty() && group.contains(&environment),
            "{what}: job {job}'s concurrency group {group:?} is not per environment ({environment:?})"
        );
        assert_ne!(concurrency["cancel-in-progress"], true, "{what}: a running load test is never cancelled");
    }
}

// ---------------------------------------------------------------------------------------
// The release and the container image

fn release() -> Value {
    parse(&read(RELEASE))
}

/// The Rust targets a job of the release builds (its matrix).
fn matrix_targets(release: &Value, job: &str) -> BTreeSet<String> {
    let targets = release["jobs"][job]["strategy"]["matrix"]["target"].as_array();
    targets.into_iter().flatten().map(|t| t.as_str().expect("a target").to_string()).collect()
}

#[test]
fn the_release_builds_static_linux_and_macos_binaries_for_tags() {
    let release = release();
    assert_eq!(release["on"]["push"]["tags"], serde_json::json!(["v*"]));
    assert_eq!(
        matrix_targets(&release, "linux"),
        BTreeSet::from(["aarch64-unknown-linux-musl".to_string(), "x86_64-unknown-linux-musl".to_string()])
    );
    assert_eq!(
        matrix_targets(&release, "macos"),
        BTreeSet::from(["aarch64-apple-darwin".to_string(), "x86_64-apple-darwin".to_string()])
    );
    assert!(release["jobs"]["macos"]["runs-on"].as_str().is_some_and(|r| r.starts_with("macos-")));
    // Both build jobs package with the script whose output the gate downloads.
    for job in ["linux", "macos"] {
        let steps = release["jobs"][job]["steps"].to_string();
        assert!(steps.contains("scripts/package-release.sh"), "job {job} does not package with the script");
    }
    // The release needs write access to contents, and only the publishing job has it.
    assert_eq!(release["permissions"]["contents"], "read");
    let publish = &release["jobs"]["publish"];
    assert_eq!(publish["permissions"]["contents"], "write");
    let steps = publish["steps"].to_string();
    assert!(steps.contains("softprops/action-gh-release@") && steps.contains("*.tar.gz.sha256"), "{steps}");
    assert_no_problems(&fails_open(&release), RELEASE);
    assert_no_problems(&interpolated_scripts(&release), RELEASE);

    // Every target released is one the gate downloads, and the other way round.
    let gate = gate();
    let download = gate["jobs"]["gate"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "Download k6gate")
        .and_then(|s| s["run"].as_str())
        .expect("the gate's download step")
        .to_string();
    let downloaded: BTreeSet<String> = download
        .lines()
        .filter_map(|l| l.split_once(") target=").map(|(_, t)| t.trim_end_matches(" ;;").trim().to_string()))
        .collect();
    let released: BTreeSet<String> =
        matrix_targets(&release, "linux").union(&matrix_targets(&release, "macos")).cloned().collect();
    assert_eq!(downloaded, released, "the gate downloads other targets than the release builds");
}

#[test]
fn the_release_pushes_the_container_image_to_ghcr() {
    let release = release();
    let image = &release["jobs"]["image"];
    assert_eq!(image["permissions"]["packages"], "write");
    let steps = image["steps"].as_array().expect("steps");
    let login = steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("docker/login-action@")));
    assert_eq!(login.expect("a registry login")["with"]["registry"], "ghcr.io");
    let build = steps.iter().find(|s| s["uses"].as_str().is_some_and(|u| u.starts_with("docker/build-push-action@")));
    let with = &build.expect("a build-push step")["with"];
    assert_eq!(with["push"], true);
    assert_eq!(with["platforms"], "linux/amd64,linux/arm64");
    let meta = steps.iter().find(|s| s["id"] == "meta").expect("the metadata step");
    assert!(meta["with"]["images"].as_str().unwrap().starts_with("ghcr.io/"));
}

#[test]
fn release_actions_are_pinned_by_version() {
    let release = release();
    let mut loose = Vec::new();
    for (job, body) in jobs(&release) {
        for step in body["steps"].as_array().into_iter().flatten() {
            let Some(uses) = step["uses"].as_str() else { continue };
            let version = uses.rsplit_once('@').map(|(_, v)| v).unwrap_or("");
            let numeric =
                |v: &str| !v.is_empty() && v.split('.').all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
            let sha = version.len() == 40 && version.bytes().all(|b| b.is_ascii_hexdigit());
            if !(sha || version.strip_prefix('v').is_some_and(numeric) || numeric(version)) {
                loose.push(format!("job {job}: {uses}"));
            }
        }
    }
    assert!(loose.is_empty(), "actions not pinned by version in {RELEASE}: {loose:?}");
}

/// The version in the first `FROM <image>:<version>` line of the Dockerfile.
fn dockerfile_image_version(dockerfile: &str, image: &str) -> Option<String> {
    dockerfile.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("FROM ")?;
        let rest = rest.split_whitespace().find(|w| !w.starts_with("--"))?;
        rest.strip_prefix(&format!("{image}:")).map(str::to_string)
    })
}

#[test]
fn the_image_has_the_k6_that_install_k6_installs_and_runs_unprivileged() {
    let dockerfile = read("Dockerfile");
    let k6 = dockerfile_image_version(&dockerfile, "grafana/k6").expect("FROM grafana/k6:<version> in the Dockerfile");
    let script = read("scripts/install-k6.sh");
    let pinned =
        script.split('"').find_map(|w| w.strip_prefix("k6==")).expect("\"k6==<version>\" in scripts/install-k6.sh");
    assert_eq!(k6, pinned, "the Dockerfile's grafana/k6 image and scripts/install-k6.sh disagree");
    assert_eq!(gate()["on"]["workflow_call"]["inputs"]["k6-version"]["default"], pinned);
    assert!(dockerfile.contains("COPY --from=k6 /usr/bin/k6 /usr/bin/k6"), "k6 comes from the official image");
    assert!(dockerfile.contains("-musl"), "k6gate is built for musl (static)");
    let user = dockerfile.lines().filter_map(|l| l.trim().strip_prefix("USER ")).next_back().expect("a USER line");
    let uid = user.split(':').next().unwrap_or("");
    assert!(uid != "0" && uid != "root", "the image runs as root ({user})");
    // What the build context leaves out: the target directory and local state.
    let ignore = read(".dockerignore");
    for want in ["target/", ".k6gate/", ".git/"] {
        assert!(ignore.lines().any(|l| l.trim() == want), ".dockerignore lacks {want}");
    }
}

/// The gate's download step, run as the runner would (bash, `GITHUB_PATH`, `RUNNER_TEMP`)
/// against a release directory made by `scripts/package-release.sh`, served as `file://`.
fn run_download(server: &Path, runner_temp: &Path, github_path: &Path) -> Output {
    let gate = gate();
    let step =
        gate["jobs"]["gate"]["steps"].as_array().unwrap().iter().find(|s| s["name"] == "Download k6gate").cloned();
    let script = step.expect("the download step")["run"].as_str().unwrap().to_string();
    Command::new("bash")
        .args(["--noprofile", "--norc", "-eo", "pipefail", "-c", &script])
        .env("RUNNER_OS", "Linux")
        .env("RUNNER_ARCH", "X64")
        .env("RUNNER_TEMP", runner_temp)
        .env("GITHUB_PATH", github_path)
        .env("GITHUB_SERVER_URL", format!("file://{}", server.display()))
        .env("K6GATE_REPOSITORY", "acme/k6gate")
        .env("K6GATE_VERSION", "9.8.7")
        .output()
        .expect("run bash")
}

#[test]
#[ignore = "full tier: needs bash, curl, tar and sha256sum"]
fn the_gate_installs_a_packaged_release_and_refuses_a_tampered_one() {
    let work = tempfile::tempdir().unwrap();
    let fake = work.path().join("k6gate");
    std::fs::write(&fake, "#!/bin/sh\necho 'k6gate 9.8.7'\n").unwrap();
    let server = work.path().join("server");
    let release_dir = server.join("acme/k6gate/releases/download/v9.8.7");
    let packed = Command::new(Path::new(ROOT).join("scripts/package-release.sh"))
        .args(["v9.8.7", "x86_64-unknown-linux-musl"])
        .arg(&fake)
        .arg(&release_dir)
        .output()
        .expect("run scripts/package-release.sh");
    assert!(packed.status.success(), "{}", report(&packed));
    let archive = release_dir.join("k6gate-v9.8.7-x86_64-unknown-linux-musl.tar.gz");
    assert!(archive.is_file() && release_dir.join("k6gate-v9.8.7-x86_64-unknown-linux-musl.tar.gz.sha256").is_file());

    let runner_temp = work.path().join("runner-temp");
    std::fs::create_dir_all(&runner_temp).unwrap();
    let github_path = work.path().join("github-path");
    let out = run_download(&server, &runner_temp, &github_path);
    assert!(out.status.success(), "{}", report(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("k6gate 9.8.7"), "{}", report(&out));
    let bin_dir = runner_temp.join("k6gate-bin");
    assert_eq!(std::fs::read_to_string(&github_path).unwrap().trim(), bin_dir.display().to_string());
    assert!(bin_dir.join("k6gate").is_file());

    // One byte changed after the checksum was written: nothing is installed.
    let mut bytes = std::fs::read(&archive).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&archive, bytes).unwrap();
    std::fs::remove_dir_all(&bin_dir).unwrap();
    let out = run_download(&server, &runner_temp, &github_path);
    assert!(!out.status.success(), "a tampered archive was installed:\n{}", report(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("does not match its SHA-256 checksum"), "{}", report(&out));
    assert!(!bin_dir.join("k6gate").exists());
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

/// The retention example's commands, as its steps write them, are ones k6gate runs: each
/// `k6gate history ...` line (with the optional flags the step adds) exits 0 on a history.
#[test]
fn the_retention_example_runs_commands_k6gate_accepts() {
    let wf = parse(&read("examples/retention.yml"));
    let (_, job) = jobs(&wf).next().expect("the prune job");
    let lines: Vec<String> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["run"].as_str())
        .flat_map(|r| r.lines().map(str::trim).filter(|l| l.starts_with("k6gate history")).map(String::from))
        .collect();
    assert_eq!(lines.len(), 2, "prune and stats: {lines:?}");
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("state");
    for line in lines {
        let command = line.split('|').next().unwrap();
        let args: Vec<&str> = command.split_whitespace().skip(1).filter(|a| !a.starts_with("\"${")).collect();
        // The flags the step adds when asked (the dry run); `--publish` needs a Prometheus.
        let with = if args.contains(&"prune") { vec![vec![], vec!["--dry-run"]] } else { vec![vec![]] };
        for extra in with {
            crate::support::cli::K6gate::new()
                .current_dir(ROOT)
                .env("K6GATE_STATE_DIR", &state)
                .env_remove("K6GATE_HISTORY_URL")
                .env_remove("K6GATE_ARCHIVE_URL")
                .args(&args)
                .args(&extra)
                .status(0)
                .stdout_contains(if args.contains(&"prune") {
                    "run directories past the raw period"
                } else {
                    "storage by tier"
                });
        }
    }
}
