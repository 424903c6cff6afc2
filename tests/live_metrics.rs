//! Live metrics end to end: a real Prometheus (remote-write receiver, native histograms),
//! the demo shop, and real k6 through `k6gate run` with `--remote-write`. Asserts with PromQL
//! that k6's live series and k6gate's published summary have the right names, labels and
//! values, and that a missing receiver is reported instead of silently ignored.

use crate::support::http;
use crate::support::prometheus;

use crate::support::run_options;

use std::path::Path;
use std::sync::OnceLock;

use k6gate::run::{RunOptions, execute, k6::RemoteWrite};
use k6gate_shop::{TargetArgs, spawn};
use serde_json::Value;

/// This binary's Prometheus.
fn prometheus() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| prometheus::start("prom-live"))
}

fn query(promql: &str) -> Vec<Value> {
    query_at(promql, None)
}

/// An instant query at `time` (Unix seconds), default now.
fn query_at(promql: &str, time: Option<f64>) -> Vec<Value> {
    let time = time.map(|t| format!("{t:.3}"));
    let mut query = vec![("query", promql)];
    if let Some(t) = &time {
        query.push(("time", t.as_str()));
    }
    let v = http::get_json(&format!("{}/api/v1/query", prometheus()), &query);
    assert_eq!(v["status"], "success", "{v}");
    v["data"]["result"].as_array().cloned().unwrap_or_default()
}

fn value(r: &Value) -> f64 {
    r["value"][1].as_str().unwrap().parse().unwrap()
}

fn options(state: &Path, port: u16, rw: Option<RemoteWrite>) -> RunOptions {
    let mut opts = run_options::short_run(state, port, "v2.0.0", "main", "8s");
    opts.sets.push("stages.ramp_up=2s".into());
    opts.git_commit = "feedbee".into();
    // Live metrics during the run, and the summary published after it, as `run --remote-write` does.
    opts.outputs.prometheus = rw.clone().map(|remote_write| k6gate::run::outputs::Prometheus { remote_write });
    opts.remote_write = rw;
    opts
}

#[test]
#[ignore = "full tier: needs k6 and prometheus"]
fn live_series_and_published_summary_arrive_with_the_right_labels_and_values() {
    let rw = RemoteWrite { url: format!("{}/api/v1/write", prometheus()), ..Default::default() };
    let state = tempfile::tempdir().unwrap();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let result = execute(&options(state.path(), target.port(), Some(rw))).unwrap();
    target.stop().unwrap();
    let summary = result.summary.expect("summary");
    assert!(!summary.notes.iter().any(|n| n.contains("did not arrive")), "{:?}", summary.notes);
    let id = &result.run_id;

    // k6's live series: native histogram, counters, gauges, with the controlled label set.
    // The series API, not an instant query: stale markers end a finished test's series.
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600;
    let series = http::get_json(
        &format!("{}/api/v1/series", prometheus()),
        &[("match[]", &format!("{{testid=\"{id}\"}}")), ("start", &start.to_string())],
    );
    let names: Vec<String> =
        series["data"].as_array().unwrap().iter().map(|m| m["__name__"].as_str().unwrap().to_string()).collect();
    for want in ["k6_http_req_duration_seconds", "k6_http_reqs_total", "k6_vus", "k6_iterations_total"] {
        assert!(names.iter().any(|n| n == want), "{want} missing in {names:?}");
    }
    let reqs = query(&format!(
        "last_over_time(k6_http_reqs_total{{testid=\"{id}\",test_stage=\"sustained\",name=\"checkout\"}}[1h])"
    ));
    assert!(!reqs.is_empty());
    let labels = reqs[0]["metric"].as_object().unwrap();
    for (k, v) in [("test_name", "checkout"), ("environment", "dev"), ("deployment_version", "v2.0.0")] {
        assert_eq!(labels.get(k).and_then(|x| x.as_str()), Some(v), "{k} in {labels:?}");
    }
    assert!(!labels.contains_key("url"), "the url tag must be dropped: {labels:?}");
    // The shipped cardinality policy: every label of every live series of the run is allowed,
    // and git_commit and test_date (per-run, not live labels) are not labels at all...
    let policy =
        k6gate::policy::data::load(&crate::support::root().join("policies/data")).unwrap().cardinality.unwrap();
    let mut keys = std::collections::BTreeSet::new();
    // k6's own series (k6gate's published `k6gate_run_*` follow the published lists).
    for m in series["data"].as_array().unwrap().iter().filter(|m| m["__name__"].as_str().unwrap().starts_with("k6_")) {
        keys.extend(m.as_object().unwrap().keys().filter(|k| *k != "__name__").cloned());
    }
    for k in &keys {
        assert!(policy.allows("checkout", k6gate::policy::cardinality::Target::Live, k), "{k} is not an allowed label");
    }
    assert!(keys.contains("testid") && keys.contains("status") && keys.contains("test_stage"), "{keys:?}");
    // The estimate `run` checked the budget with is an upper bound of what k6 wrote.
    let k6_series = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["__name__"].as_str().unwrap().starts_with("k6_"))
        .count() as u64;
    let script = std::fs::read_to_string(result.run_dir.join("script.js")).unwrap();
    let e = k6gate::run::cardinality::estimate(&script, 4, &policy, "checkout", false, true, true).unwrap();
    eprintln!(
        "cardinality: {k6_series} live series written, estimated at most {} (+{} published)",
        e.live, e.published
    );
    assert!(k6_series > 0 && k6_series <= e.live, "{k6_series} live series, estimate {e:?}");
    for dropped in ["git_commit", "test_date", "url", "error"] {
        assert!(!keys.contains(dropped), "{dropped} in {keys:?}");
    }
    // ... while k6's JSON output still has them (sample metadata), and so has the summary.
    assert_eq!(summary.metadata.git_commit.as_deref(), Some("feedbee"));
    assert!(summary.metadata.test_date.is_some(), "{:?}", summary.metadata);
    let raw = std::fs::read(result.run_dir.join("k6.json.gz")).unwrap();
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&raw[..]), &mut text).unwrap();
    assert!(text.contains(r#""git_commit":"feedbee""#), "the JSON output keeps git_commit");
    assert!(!text.contains(r#""tags":{"deployment_version":"v2.0.0","environment":"dev","git_commit""#));

    // P95 of the sustained phase from the native histogram (schema 3: buckets 2^(1/8) = 9 %
    // wide, interpolated) agrees with the run summary's sketch (1 %) within a bucket.
    // k6's histograms are cumulative per series; just before the run's end (and its stale
    // markers) the sustained series hold every sustained sample.
    let end = k6gate::time::parse_rfc3339_ns(summary.metadata.end.as_deref().unwrap().as_bytes()).unwrap();
    let p95 = query_at(
        &format!(
            "histogram_quantile(0.95, sum(k6_http_req_duration_seconds{{testid=\"{id}\",test_stage=\"sustained\"}}))"
        ),
        Some(end as f64 / 1e9 - 0.5),
    );
    assert_eq!(p95.len(), 1, "{p95:?}");
    let prom = value(&p95[0]) * 1000.0;
    let sketch = summary.phase("sustained").unwrap().total.latency_ms.as_ref().unwrap().p95.unwrap();
    let rel = (prom - sketch).abs() / sketch;
    assert!(rel < 0.10, "native-histogram p95 {prom:.2} ms vs summary {sketch:.2} ms ({:.1} %)", rel * 100.0);

    // The published summary: exact values, one sample per phase and group.
    let published =
        query(&format!("k6gate_run_latency_p95_seconds{{testid=\"{id}\",test_stage=\"steady-state\",group=\"all\"}}"));
    let steady = summary.steady_state.as_ref().unwrap().summary.total.latency_ms.as_ref().unwrap().p95.unwrap();
    assert_eq!(published.len(), 1, "{published:?}");
    assert!((value(&published[0]) - steady / 1000.0).abs() < 1e-12, "{published:?} vs {steady}");
    assert_eq!(published[0]["metric"]["verdict"], result.outcome.as_str());
    let groups =
        query(&format!("count(k6gate_run_requests_per_second{{testid=\"{id}\",test_stage=\"steady-state\"}})"));
    assert_eq!(value(&groups[0]) as usize, 1 + summary.steady_state.as_ref().unwrap().summary.groups.len());
}

#[test]
#[ignore = "full tier: needs k6 and prometheus"]
fn a_remote_write_that_goes_nowhere_is_reported() {
    // A port nobody listens on: k6 exits 0 anyway; k6gate must say the series did not arrive.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let rw = RemoteWrite { url: format!("http://127.0.0.1:{port}/api/v1/write"), ..Default::default() };
    let state = tempfile::tempdir().unwrap();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let mut opts = options(state.path(), target.port(), Some(rw));
    opts.sets.push("stages.sustained=3s".into());
    let result = execute(&opts).unwrap();
    target.stop().unwrap();
    let notes = &result.summary.expect("summary").notes;
    assert!(notes.iter().any(|n| n.contains("did not arrive") && n.contains("exits 0")), "{notes:?}");
    // Publishing the summary failed too: the verdict still stands, and its notes say so,
    // in the result, in verdict.json and in the history.
    let published =
        |notes: &[String]| notes.iter().any(|n| n.starts_with("Prometheus/Mimir: the run summary was not published"));
    let verdict = result.verdict.expect("a verdict");
    assert!(published(&verdict.notes), "{:?}", verdict.notes);
    let file: k6gate::policy::verdict::Verdict =
        serde_json::from_str(&std::fs::read_to_string(result.run_dir.join("verdict.json")).unwrap()).unwrap();
    assert!(published(&file.notes), "{:?}", file.notes);
    let store = k6gate::run::open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
    let recorded: k6gate::policy::verdict::Verdict =
        k6gate::history::RunStore::get_run(&store, &result.run_id).unwrap().verdict_as().unwrap().unwrap();
    assert!(published(&recorded.notes), "{:?}", recorded.notes);
}

/// A copy of the shipped policies in `dir` whose `data/cardinality.yaml` has `from` replaced by
/// `to` (which must be there); returns the policies directory and that file.
fn policies_with(dir: &std::path::Path, from: &str, to: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let policies = dir.join("policies");
    let mut copy = std::process::Command::new("cp");
    copy.arg("-r").arg(crate::support::root().join("policies")).arg(&policies);
    assert!(copy.status().unwrap().success());
    let file = policies.join("data/cardinality.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains(from), "{} has no {from:?}", file.display());
    std::fs::write(&file, text.replace(from, to)).unwrap();
    (policies, file)
}

#[test]
#[ignore = "full tier: needs k6 and prometheus"]
fn a_run_over_its_series_budget_is_refused_before_k6_starts_and_writes_no_series() {
    let rw = RemoteWrite { url: format!("{}/api/v1/write", prometheus()), ..Default::default() };
    let dir = tempfile::tempdir().unwrap();
    let (policies, file) = policies_with(dir.path(), "default: 5000", "default: 100");
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let state = dir.path().join("state");
    let mut opts = options(&state, target.port(), Some(rw));
    let version = format!("v-over-budget-{}", std::process::id());
    opts.deployment_version = version.clone();
    opts.policy = k6gate::gate::PolicySource::new(
        policies.clone(),
        k6gate::github::approval::Mode::Verify { default_branch: "main".into() },
    );
    let started = std::time::Instant::now();
    let e = execute(&opts).unwrap_err();
    target.stop().unwrap();
    let msg = e.to_string();
    assert_eq!(e.exit_code(), 2, "{msg}");
    assert!(msg.contains("a run of checkout would create up to") && msg.contains("over its budget of 100"), "{msg}");
    assert!(msg.starts_with(&format!("{}:", file.display())), "{msg}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused before a k6 run could take its seconds");
    // No run directory (no script, no k6 log), and nothing in Prometheus for this version.
    let runs = state.join("runs");
    assert!(!runs.exists() || std::fs::read_dir(&runs).unwrap().next().is_none());
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 600;
    let series = http::get_json(
        &format!("{}/api/v1/series", prometheus()),
        &[("match[]", &format!("{{deployment_version=\"{version}\"}}")), ("start", &start.to_string())],
    );
    assert_eq!(series["data"].as_array().map(Vec::len), Some(0), "{series}");
}

#[test]
#[ignore = "full tier: needs k6 and prometheus"]
fn without_per_run_live_labels_live_series_carry_none_and_the_check_still_finds_the_run() {
    let rw = RemoteWrite { url: format!("{}/api/v1/write", prometheus()), ..Default::default() };
    let dir = tempfile::tempdir().unwrap();
    let (policies, _) = policies_with(dir.path(), "live: [testid, deployment_version]", "live: []");
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let state = dir.path().join("state");
    let mut opts = options(&state, target.port(), Some(rw));
    opts.sets.push("stages.sustained=3s".into());
    // Its own environment label, so that other tests' runs are not counted.
    let env = format!("dev-card-{}", std::process::id());
    let environments = dir.path().join("environments");
    std::fs::create_dir_all(&environments).unwrap();
    std::fs::copy(crate::support::root().join("environments/dev.yaml"), environments.join(format!("{env}.yaml")))
        .unwrap();
    opts.environment = env.clone();
    opts.environments_dir = environments;
    opts.policy = k6gate::gate::PolicySource::new(
        policies.clone(),
        k6gate::github::approval::Mode::Verify { default_branch: "main".into() },
    );
    let result = execute(&opts).unwrap();
    target.stop().unwrap();
    let summary = result.summary.expect("summary");
    // The check found the run by test and environment: no "did not arrive" note.
    assert!(!summary.notes.iter().any(|n| n.contains("did not arrive")), "{:?}", summary.notes);
    assert_eq!(summary.metadata.deployment_version.as_deref(), Some("v2.0.0"), "kept in the summary");
    let start = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() - 3600;
    let series = http::get_json(
        &format!("{}/api/v1/series", prometheus()),
        &[("match[]", &format!("{{environment=\"{env}\"}}")), ("start", &start.to_string())],
    );
    let live: Vec<&Value> = series["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| m["__name__"].as_str().unwrap().starts_with("k6_"))
        .collect();
    assert!(!live.is_empty(), "{series}");
    for m in &live {
        for per_run in ["testid", "git_commit", "deployment_version", "test_date"] {
            assert!(m.get(per_run).is_none(), "{per_run} on a live series: {m}");
        }
    }
    // The published series still carry testid (the shipped published list).
    let published = query(&format!("count(k6gate_run_info{{testid=\"{}\"}})", result.run_id));
    assert_eq!(published.len(), 1, "{published:?}");
}
