//! Cardinality control: the policy section (loading, validation, errors with file and line),
//! the series estimate and its budget (a run over it is refused before k6 starts), and the
//! label allowlist on the `k6gate_run_*` series k6gate publishes.

use std::collections::BTreeSet;
use std::path::Path;

use k6gate::policy::cardinality::{CardinalityPolicy, Target};
use k6gate::policy::data::PolicyData;
use k6gate::policy::files::PolicyFile;

use crate::support::fixtures::Set;
use crate::support::root;

const BASE: &str = "sla:\n  defaults:\n    p95_ms: 500\nbudgets:\n  defaults:\n    p95_ms: 0.1\n";

const GOOD: &str = "\
cardinality:
  labels: [test_name, environment, test_stage, group, verdict, name, method, status, expected_response]
  per_run_labels:
    live: []
    published: [deployment_version]
    tests:
      checkout:
        live: [testid]
  series_budget:
    default: 1000
    status_values: 3
    tests:
      checkout: 20000
";

fn load(text: &str) -> Result<PolicyData, String> {
    let files = [
        PolicyFile { rel: "data/base.yaml".into(), name: "policies/data/base.yaml".into(), text: BASE.into() },
        PolicyFile { rel: "data/c.yaml".into(), name: "policies/data/cardinality.yaml".into(), text: text.into() },
    ];
    k6gate::policy::data::load_files(&files, "policies/data").map_err(|e| e.to_string())
}

fn shipped() -> CardinalityPolicy {
    k6gate::policy::data::load(&root().join("policies/data")).unwrap().cardinality.expect("shipped cardinality.yaml")
}

#[test]
fn the_section_loads_with_sources_and_answers_per_test_and_target() {
    let c = load(GOOD).unwrap().cardinality.unwrap();
    assert_eq!(c.source.line, 1);
    assert!(c.allows("search", Target::Live, "status"));
    assert!(!c.allows("search", Target::Live, "testid"), "per-run ids only where policy says");
    assert!(!c.allows("search", Target::Published, "testid"));
    assert!(c.allows("search", Target::Published, "deployment_version"));
    assert!(!c.allows("search", Target::Live, "deployment_version"));
    assert!(c.allows("checkout", Target::Live, "testid"), "the test's own live list");
    assert!(c.allows("checkout", Target::Published, "deployment_version"), "published falls back to the default");
    assert!(!c.allows("checkout", Target::Live, "url"), "not in the allowlist");
    assert_eq!(c.budget("checkout").entry, 20000);
    assert_eq!(
        (c.budget("checkout").source.file.as_str(), c.budget("checkout").source.line),
        ("policies/data/cardinality.yaml", 13)
    );
    assert_eq!((c.budget("search").entry, c.budget("search").source.line), (1000, 10));
    assert_eq!(c.per_run_tests["checkout"].source.line, 7);

    let s = shipped();
    assert!(!s.allows("checkout", Target::Live, "git_commit"), "the shipped policy keeps git_commit off live series");
    assert!(!s.allows("checkout", Target::Live, "url"));
    assert!(s.allows("checkout", Target::Published, "testid"));
    assert!(load("").unwrap().cardinality.is_none(), "policies without cardinality.yaml still load");
}

#[test]
fn errors_name_the_file_the_line_and_the_field() {
    let cases = [
        ("default: 1000", "default: 0", ":10:", "cardinality.series_budget.default must be at least 1"),
        ("checkout: 20000", "checkout: 0", ":13:", "cardinality.series_budget.tests.checkout must be at least 1"),
        ("status_values: 3", "status_values: 0", ":11:", "cardinality.series_budget.status_values must be at least 1"),
        ("status_values: 3", "status_values: lots", ":11:", "status_values"),
        (
            "live: [testid]",
            "live: [url]",
            ":8:",
            "cardinality.per_run_labels.tests.checkout.live[0]: \"url\" is not a per-run identifier",
        ),
        (
            "published: [deployment_version]",
            "published: [deployment_version, host]",
            ":5:",
            "per_run_labels.published[1]",
        ),
        (
            "labels: [test_name,",
            "labels: [testid, test_name,",
            ":2:",
            "cardinality.labels[0]: testid is a per-run identifier",
        ),
        ("labels: [test_name,", "labels: [bad-name, test_name,", ":2:", "\"bad-name\" is not a Prometheus label name"),
        (" group,", "", ":2:", "cardinality.labels must include group"),
        ("  series_budget:", "  series_budgets:", ":9:", "unknown field `series_budgets`"),
    ];
    for (from, to, line, text) in cases {
        assert!(GOOD.contains(from), "{from}");
        let e = load(&GOOD.replacen(from, to, 1)).unwrap_err();
        assert!(e.starts_with("policies/data/cardinality.yaml"), "{e}");
        assert!(e.contains(line), "{to}: wanted line {line} in {e}");
        assert!(e.contains(text), "{to}: wanted {text:?} in {e}");
    }
    let twice = [
        PolicyFile { rel: "data/base.yaml".into(), name: "policies/data/base.yaml".into(), text: BASE.into() },
        PolicyFile { rel: "data/a.yaml".into(), name: "policies/data/a.yaml".into(), text: GOOD.into() },
        PolicyFile { rel: "data/b.yaml".into(), name: "policies/data/b.yaml".into(), text: GOOD.into() },
    ];
    let e = k6gate::policy::data::load_files(&twice, "policies/data").unwrap_err().to_string();
    assert!(e.starts_with("policies/data/b.yaml:1:1: cardinality is already set in policies/data/a.yaml"), "{e}");
}

fn rendered(env: &str) -> k6gate::render::Rendered {
    let vars = Default::default();
    k6gate::render::render(&k6gate::render::RenderRequest {
        test: "checkout",
        environment: env,
        templates_dir: &root().join("k6-templates"),
        environments_dir: &root().join("environments"),
        sets: &[],
        vars: &vars,
        run: k6gate::render::RunInfo {
            run_id: "run-1".into(),
            git_commit: "abc1234".into(),
            deployment_version: "v1".into(),
            test_date: "2026-12-06".into(),
        },
        live_labels: None,
    })
    .unwrap()
}

#[test]
fn the_estimate_follows_the_documented_formula_and_refuses_what_it_cannot_bound() {
    use k6gate::run::cardinality::estimate;
    let r = rendered("dev");
    let c = load(GOOD).unwrap().cardinality.unwrap();
    let e = estimate(&r.script, r.plan.len(), &c, "checkout", false, true, true).unwrap();
    // checkout: 4 call sites (login, products, cart, checkout), group('shop') + root,
    // dev's plan (warm-up?, ramp-up, sustained, ramp-down) + 1, timers auth_check and
    // checkout_flow plus k6gate_think_ms; `check`, `proto`, `tls_version` are not labels here.
    let (req, g, s, k) = (4u64, 2u64, r.plan.len() as u64 + 1, 3u64);
    assert_eq!((e.requests, e.groups, e.stages, e.custom, e.checks), (req, g, s, 3, 1));
    let live = 9 * req * g * s * k + g * s + g * s + 2 * g * s + 2 * s + 3 * g * s + 3;
    assert_eq!(e.live, live);
    assert_eq!(e.published, 1 + (r.plan.len() as u64 + 2) * (1 + 5 * (1 + req)));
    assert_eq!(e.total(), e.live + e.published);
    // Allowing proto and check multiplies (proto only over TLS); nothing written, nothing counted.
    let wider =
        load(&GOOD.replace("expected_response]", "expected_response, proto, check]")).unwrap().cardinality.unwrap();
    let w = estimate(&r.script, r.plan.len(), &wider, "checkout", true, true, false).unwrap();
    assert!(w.live > 2 * 9 * req * g * s * k && w.checks >= 4, "{w:?}");
    let plain = estimate(&r.script, r.plan.len(), &wider, "checkout", false, true, false).unwrap();
    assert!(plain.live < 2 * 9 * req * g * s * k, "{plain:?}");
    assert_eq!(estimate(&r.script, r.plan.len(), &c, "checkout", false, false, false).unwrap().total(), 0);

    // A request without a fixed name, or a batch, cannot be bounded.
    let nameless = r.script.replacen("{ tags: { name: 'products' } }", "{}", 1);
    assert_ne!(nameless, r.script);
    let err = estimate(&nameless, r.plan.len(), &c, "checkout", false, true, false).unwrap_err();
    assert!(err.contains("4 request call sites but only 3 `name:` tags"), "{err}");
    let batch = r.script.replacen("group('shop'", "http.batch([]); group('shop'", 1);
    assert!(estimate(&batch, r.plan.len(), &c, "checkout", false, true, false).unwrap_err().contains("http.batch("));
}

/// The repo's policies with `cardinality.yaml` replaced.
fn policies_with(dir: &Path, cardinality: &str) -> std::path::PathBuf {
    let policies = dir.join("policies");
    let copy = std::process::Command::new("cp").arg("-r").arg(root().join("policies")).arg(&policies).status().unwrap();
    assert!(copy.success());
    std::fs::write(policies.join("data/cardinality.yaml"), cardinality).unwrap();
    policies
}

#[test]
fn a_run_over_its_series_budget_is_refused_before_k6_starts_with_the_count() {
    let dir = tempfile::tempdir().unwrap();
    let tight = GOOD.replace("checkout: 20000", "checkout: 50");
    let policies = policies_with(dir.path(), &tight);
    let state = dir.path().join("state");
    // Port 9: nothing listens; the refusal comes before the reachability check and k6.
    let mut opts = crate::support::run_options::short_run(&state, 9, "v1", "main", "2s");
    opts.policy = k6gate::gate::PolicySource::new(
        policies.clone(),
        k6gate::github::approval::Mode::Verify { default_branch: "main".into() },
    );
    opts.remote_write =
        Some(k6gate::run::k6::RemoteWrite { url: "http://127.0.0.1:9/api/v1/write".into(), ..Default::default() });
    let e = k6gate::run::execute(&opts).unwrap_err();
    let text = e.to_string();
    assert_eq!(e.exit_code(), 2);
    let file = policies.join("data/cardinality.yaml").display().to_string();
    assert!(text.starts_with(&format!("{file}:13: a run of checkout would create up to ")), "{text}");
    assert!(text.contains("over its budget of 50") && text.contains("k6 was not started"), "{text}");
    let count: u64 = text.split("up to ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert!(count > 50, "{text}");
    // The shipped budget takes this run as it is.
    let shipped = shipped();
    let e = k6gate::run::cardinality::estimate(&rendered("dev").script, 4, &shipped, "checkout", false, true, true)
        .unwrap();
    assert!(e.total() <= shipped.budget("checkout").entry, "{e:?}");
    assert!(
        !state.join("runs").exists() || std::fs::read_dir(state.join("runs")).unwrap().next().is_none(),
        "no run directory"
    );

    // Without remote write or publishing, the run writes no series: the budget is not in the way
    // (it then fails later, at the unreachable target, not at the budget).
    opts.remote_write = None;
    let e = k6gate::run::execute(&opts).unwrap_err().to_string();
    assert!(!e.contains("series"), "{e}");
}

#[test]
fn published_series_carry_only_allowed_labels() {
    let summary = Set::Small.ingest("policy-base-a.json");
    let c = load(GOOD).unwrap().cardinality.unwrap();
    let all = k6gate::prom::publish::series(&summary, "run-7", Some("pass")).unwrap();
    let kept = k6gate::prom::publish::series_allowed(&summary, "run-7", Some("pass"), Some(&c)).unwrap();
    assert_eq!(all.len(), kept.len(), "dropping labels merges no series of one run");
    let names = |series: &[k6gate::prom::remote_write::TimeSeries]| -> BTreeSet<String> {
        series.iter().flat_map(|s| s.labels.iter().map(|l| l.name.clone())).collect()
    };
    assert!(names(&all).contains("testid") && names(&all).contains("git_commit"), "{:?}", names(&all));
    let test = summary.metadata.test_name.clone().unwrap_or_default();
    for n in names(&kept) {
        assert!(n == "__name__" || c.allows(&test, Target::Published, &n), "{n} is not allowed");
    }
    assert!(!names(&kept).contains("testid") && !names(&kept).contains("git_commit"));
    assert!(names(&kept).contains("test_stage") && names(&kept).contains("group"));
    // The bound covers what is published.
    let phases = summary.phases.len() as u64;
    let groups = summary.whole_run.groups.iter().filter(|g| !g.key.is_empty()).count() as u64;
    assert!(kept.len() as u64 <= k6gate::prom::publish::series_bound(phases, groups));
}

#[test]
fn the_live_check_finds_a_run_without_testid_by_test_and_environment_within_its_time() {
    use k6gate::prom::live::RunSelector;
    assert_eq!(RunSelector::by_run_id("r\"1").matchers, "testid=\"r\\\"1\"");
    let s = RunSelector::by_test("checkout", "dev", 0);
    assert_eq!((s.matchers.as_str(), s.range_s), ("test_name=\"checkout\",environment=\"dev\"", 1));
}

/// `render --remote-write` shows the script `run` gives k6 with remote write: run-level tags the
/// policy refuses as live labels move from `options.tags` into the samples' metadata.
#[test]
fn render_for_remote_write_applies_the_live_labels() {
    let tags = |extra: &[&str]| {
        let out = crate::support::cli::K6gate::new()
            .current_dir(root())
            .args([
                "render",
                "--test",
                "checkout",
                "--env",
                "staging",
                "--deployment-version",
                "v9",
                "--commit",
                "abc123",
            ])
            .args(extra)
            .status(0)
            .stdout();
        let line =
            out.lines().find(|l| l.starts_with("export const options = ")).expect("the options line").to_string();
        let json = line.trim_start_matches("export const options = ").trim_end_matches(';');
        let options: serde_json::Value = serde_json::from_str(json).unwrap();
        options["tags"].as_object().unwrap().keys().cloned().collect::<BTreeSet<String>>()
    };
    let all = tags(&[]);
    assert!(all.contains("git_commit") && all.contains("test_date"), "{all:?}");
    let live = tags(&["--remote-write"]);
    let policy = shipped();
    assert!(!live.is_empty());
    for tag in &all {
        assert_eq!(live.contains(tag), policy.allows("checkout", Target::Live, tag), "{tag}: {live:?}");
    }
    assert!(!live.contains("git_commit") && live.contains("testid"), "{live:?}");
}
