//! Rendering k6 scripts: one snapshot per environment, injection attempts, overrides, errors,
//! and every rendered script validated by the real k6 (`k6 inspect`). After an intended change
//! to a template or an environment, `scripts/regen.sh` rewrites the snapshots; review the diff.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k6gate::render::{RenderRequest, RunInfo, render};

use crate::support::root;

fn run_info() -> RunInfo {
    RunInfo {
        run_id: "20261128-120000-abcd".into(),
        git_commit: "3f2a9c1".into(),
        deployment_version: "v1.0.0".into(),
        test_date: "2026-11-28".into(),
    }
}

fn render_with(
    test: &str,
    env: &str,
    dirs: (&Path, &Path),
    vars: &BTreeMap<String, String>,
    sets: &[String],
    run: RunInfo,
) -> Result<k6gate::render::Rendered, k6gate::render::RenderError> {
    render(&RenderRequest {
        test,
        environment: env,
        templates_dir: dirs.0,
        environments_dir: dirs.1,
        sets,
        vars,
        run,
        live_labels: None,
    })
}

fn shipped() -> (PathBuf, PathBuf) {
    (root().join("k6-templates"), root().join("environments"))
}

fn k6_inspect(script: &str) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("script.js");
    std::fs::write(&path, script).unwrap();
    let out = std::process::Command::new("k6")
        .args(["inspect", path.to_str().unwrap()])
        .env("K6_NO_USAGE_REPORT", "true")
        .output()
        .expect("k6 is not installed: run scripts/install-k6.sh");
    assert!(
        out.status.success(),
        "k6 inspect failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_environment_renders_its_snapshot_and_plan() {
    let (t, e) = shipped();
    for env in ["dev", "staging", "prod-sim"] {
        let r = render_with("checkout", env, (&t, &e), &BTreeMap::new(), &[], run_info()).unwrap();
        insta::assert_snapshot!(format!("checkout-{env}"), r.script);
        assert_eq!(
            r.plan.iter().map(|p| p.name.as_str()).collect::<Vec<_>>(),
            ["warm-up", "ramp-up", "sustained", "ramp-down"]
        );
    }
}

#[test]
#[ignore = "full tier: needs k6"]
fn every_environment_renders_a_script_k6_accepts() {
    let (t, e) = shipped();
    for env in ["dev", "staging", "prod-sim"] {
        let r = render_with("checkout", env, (&t, &e), &BTreeMap::new(), &[], run_info()).unwrap();
        let opts = k6_inspect(&r.script);
        let tags = &opts["tags"];
        assert_eq!(tags["test_name"], "checkout");
        assert_eq!(tags["environment"], env);
        assert_eq!(tags["git_commit"], "3f2a9c1");
        assert_eq!(tags["deployment_version"], "v1.0.0");
        assert_eq!(tags["test_date"], "2026-11-28");
        let (model, offered) = if env == "prod-sim" { ("open", "400") } else { ("closed", "") };
        assert_eq!(tags["load_model"], model, "{env}");
        assert_eq!(tags.get("offered_rate").and_then(|v| v.as_str()).unwrap_or(""), offered, "{env}");
        let stages = opts["scenarios"]["main"]["stages"].as_array().unwrap();
        assert_eq!(stages.len(), r.plan.len(), "{env}: one k6 stage per planned phase");
    }
}

/// `load_model` and `offered_rate` in `options.tags`: the summary tells a saturated load
/// generator from them.
#[test]
fn the_load_model_is_tagged() {
    let (t, e) = shipped();
    let tags_of = |env: &str, sets: &[String]| {
        let r = render_with("checkout", env, (&t, &e), &BTreeMap::new(), sets, run_info()).unwrap();
        let line = r.script.lines().find(|l| l.starts_with("export const options = ")).expect("options line");
        let json = line.trim_start_matches("export const options = ").trim_end_matches(';');
        let options: serde_json::Value = serde_json::from_str(json).expect("options are JSON");
        options["tags"].clone()
    };
    let tags = tags_of("prod-sim", &[]);
    assert_eq!((&tags["load_model"], &tags["offered_rate"]), (&"open".into(), &"400".into()));
    let tags = tags_of("prod-sim", &["rate=25".into()]);
    assert_eq!(tags["offered_rate"], "25", "the rate after overrides");
    let tags = tags_of("dev", &[]);
    assert_eq!(tags["load_model"], "closed");
    assert!(tags.get("offered_rate").is_none(), "{tags}");
    let tags = tags_of("dev", &["executor=ramping-arrival-rate".into(), "rate=30".into()]);
    assert_eq!((&tags["load_model"], &tags["offered_rate"]), (&"open".into(), &"30".into()));
}

const EVIL: &str = "x\"; throw 1; //`${globalThis}`</script>\n'\u{2028}";
const EVIL_COMMIT: &str = "'; import x from 'http://evil'; '";

/// The checkout script for an environment, a version, a commit and a `--set` that all try
/// to break out of their literals.
fn evil_render() -> k6gate::render::Rendered {
    let (t, _) = shipped();
    let envs = tempfile::tempdir().unwrap();
    std::fs::write(
        envs.path().join("evil.yaml"),
        format!(
            "base_url: {}\nexecutor: ramping-vus\nvus: 2\nstages: {{ ramp_up: 1s, sustained: 2s, ramp_down: 1s }}\nfacts: {{ note: {} }}\n",
            serde_json::to_string(EVIL).unwrap(),
            serde_json::to_string(EVIL).unwrap()
        ),
    )
    .unwrap();
    let mut run = run_info();
    run.deployment_version = EVIL.into();
    run.git_commit = EVIL_COMMIT.into();
    let sets = vec![format!("facts.more={EVIL}")];
    render_with("checkout", "evil", (&t, envs.path()), &BTreeMap::new(), &sets, run).unwrap()
}

#[test]
fn rendered_values_cannot_change_the_script() {
    let r = evil_render();
    for bad in ["</script>", "import x from 'http", "\u{2028}"] {
        assert!(!r.script.contains(bad), "{bad:?} reached the script");
    }
    assert!(r.script.contains(r#"x\"; throw 1;"#), "the quote is escaped inside a string literal");
}

#[test]
#[ignore = "full tier: needs k6"]
fn k6_reads_rendered_values_as_data() {
    // k6 parses it, and the values arrive intact as data.
    let opts = k6_inspect(&evil_render().script);
    assert_eq!(opts["tags"]["deployment_version"], EVIL);
    assert_eq!(opts["tags"]["git_commit"], EVIL_COMMIT);
}

/// The dev environment with `K6GATE_VUS=12`, `K6GATE_STAGES_SUSTAINED=45s`, then `--set vus=7`
/// and `--set base_url=...`.
fn overridden() -> k6gate::render::Rendered {
    let (t, e) = shipped();
    let vars: BTreeMap<String, String> =
        [("K6GATE_VUS".to_string(), "12".to_string()), ("K6GATE_STAGES_SUSTAINED".to_string(), "45s".to_string())]
            .into();
    render_with("checkout", "dev", (&t, &e), &vars, &["vus=7".into(), "base_url=http://10.0.0.1:9".into()], run_info())
        .unwrap()
}

#[test]
fn variables_then_set_override_the_environment() {
    let r = overridden();
    assert_eq!(r.environment.vus, Some(7), "--set wins over the variable");
    assert_eq!(r.environment.stages.sustained, "45s");
    assert_eq!(r.environment.base_url, "http://10.0.0.1:9");
}

#[test]
#[ignore = "full tier: needs k6"]
fn k6_runs_the_overridden_stages() {
    let opts = k6_inspect(&overridden().script);
    let stages = opts["scenarios"]["main"]["stages"].as_array().unwrap();
    assert_eq!(stages[2]["duration"], "45s");
    assert_eq!(stages[2]["target"], 7);
}

#[test]
fn bad_input_names_the_file_and_field() {
    let (t, e) = shipped();
    let none = BTreeMap::new();
    let err = render_with("checkout", "nope", (&t, &e), &none, &[], run_info()).unwrap_err().to_string();
    assert!(err.contains("nope.yaml") && err.contains("dev"), "{err}");
    let err = render_with("nope", "dev", (&t, &e), &none, &[], run_info()).unwrap_err().to_string();
    assert!(err.contains("nope.js.j2") && err.contains("checkout"), "{err}");
    let err = render_with("checkout", "dev", (&t, &e), &none, &["vuz=3".into()], run_info()).unwrap_err().to_string();
    assert!(err.contains("vuz"), "{err}");
    let err = render_with("checkout", "dev", (&t, &e), &none, &["stages.sustained=forever".into()], run_info())
        .unwrap_err()
        .to_string();
    assert!(err.contains("dev.yaml") && err.contains("stages.sustained"), "{err}");

    let envs = tempfile::tempdir().unwrap();
    std::fs::write(envs.path().join("typo.yaml"), "base_url: http://x\nexecutor: ramping-vus\nvus: 1\nstages: { ramp_up: 1s, sustained: 1s, ramp_down: 1s }\nthink_time: 1\n").unwrap();
    let err = render_with("checkout", "typo", (&t, envs.path()), &none, &[], run_info()).unwrap_err().to_string();
    assert!(err.contains("typo.yaml") && err.contains("think_time"), "{err}");
}

#[test]
fn an_undefined_template_value_is_an_error_with_its_line() {
    let (_, e) = shipped();
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(
        templates.path().join("t.js.j2"),
        "// ok\nconst A = {{ env.base_url }};\nconst B = {{ env.no_such_key }};\n",
    )
    .unwrap();
    let err =
        render_with("t", "dev", (templates.path(), &e), &BTreeMap::new(), &[], run_info()).unwrap_err().to_string();
    assert!(err.contains("t.js.j2:3"), "{err}");
}
