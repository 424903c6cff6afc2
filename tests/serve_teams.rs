//! Accountability per team in `k6gate serve`, fast tier: `/teams` and `/metrics` on a store
//! whose runs carry real verdicts (the gate's, on real k6 summaries: a plain pass, and a pass
//! only by waiver W-7), with team-payments blocked far more in the last four weeks than before
//! and than team-search. Full tier: the alert rules on the metric pass `promtool check rules`
//! and their unit tests, and the served `/metrics` passes `promtool check metrics`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::Command;

use k6gate::compare::Phase;
use k6gate::gate::{Baseline, Case, Gate, PolicySource, Side};
use k6gate::github::approval::Mode;
use k6gate::history::{HistoryConfig, NewRun, Outcome, RunStore, Store};
use k6gate::serve::Config;

use crate::serve::{config, request, start};
use crate::serve_trends::policies;
use crate::support::fixtures::Set;

const DAY: i64 = 86_400 * 1_000_000_000;

/// (test, days ago, outcome, overridden) of every run.
fn plan() -> Vec<(&'static str, i64, Outcome, bool)> {
    let mut out = Vec::new();
    // team-payments: the last 4 weeks, 20 runs: 12 blocked, 3 passed by a waiver.
    for i in 0..20 {
        let outcome = if i < 12 { Outcome::Fail } else { Outcome::Pass };
        out.push(("checkout", 1 + i, outcome, (12..15).contains(&i)));
    }
    // The 4 weeks before: 30 runs, 2 blocked.
    for i in 0..30 {
        out.push(("checkout", 30 + (i % 25), if i < 2 { Outcome::Fail } else { Outcome::Pass }, false));
    }
    // team-search: 30 runs in the last 4 weeks, 1 blocked; an errored run counts nowhere.
    for i in 0..30 {
        out.push(("search", 1 + (i % 26), if i == 0 { Outcome::Fail } else { Outcome::Pass }, false));
    }
    out.push(("search", 2, Outcome::Error, false));
    out
}

fn server() -> SocketAddr {
    let dir = Box::leak(Box::new(tempfile::tempdir().unwrap()));
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    // Two real verdicts: a plain one, and one with waiver W-7 honoured (valid when judged).
    let pol = policies(dir.path(), "none");
    std::fs::write(
        pol.join("data/waivers.yaml"),
        "waivers:\n  - id: W-7\n    test: checkout\n    metric: p95_ms\n    version: v1.1.0\n    justification: known slow path\n    requested_by: alice\n    approved_by: bob\n    created: 2025-11-30T00:00:00Z\n    expires: 2025-12-07T00:00:00Z\n",
    )
    .unwrap();
    let gate = Gate::load(&PolicySource::new(&pol, Mode::Trust)).unwrap();
    let base = Set::Small.ingest("policy-base-b.json");
    let slow = Set::Small.ingest("policy-slow.json");
    let judge = |s: &k6gate::RunSummary, b: Option<&k6gate::RunSummary>| {
        let v = gate
            .judge(&Case {
                test: "checkout",
                environment: "ci",
                now_ns: 1_764_547_200_000_000_000,
                phase: &Phase::SteadyState,
                candidate: Side { summary: s, source: "this run" },
                confirmations: &[],
                baseline: match b {
                    Some(b) => Baseline::Runs { runs: vec![Side { summary: b, source: "base" }], reason: None },
                    None => Baseline::None,
                },
                previous: None,
            })
            .unwrap();
        serde_json::value::to_raw_value(&v).unwrap()
    };
    let plain = judge(&base, None);
    let waived = judge(&slow, Some(&base));
    assert!(waived.get().contains("\"W-7\""), "the slow run passes by W-7");
    let summary = serde_json::value::to_raw_value(&serde_json::json!({ "pad": "x" })).unwrap();
    let now = k6gate::clock::now_ns();
    for (i, (test, days_ago, outcome, overridden)) in plan().into_iter().enumerate() {
        let decided = outcome != Outcome::Error;
        store
            .record_run(&NewRun {
                test: test.into(),
                environment: "ci".into(),
                outcome,
                started_at_ns: now - days_ago * DAY - i as i64 * 1_000_000_000,
                deployment_version: Some(format!("v1.{i}")),
                summary: decided.then(|| summary.clone()),
                verdict: decided.then(|| if overridden { waived.clone() } else { plain.clone() }),
                // Half the runs with their decision record, as `run` records it; the other half
                // as an older k6gate left them (the page reads their verdicts): the same answers.
                decision: (decided && i % 2 == 0).then(|| {
                    k6gate::policy::decision::of_json(if overridden { waived.get() } else { plain.get() }).unwrap()
                }),
                ..NewRun::default()
            })
            .unwrap();
    }
    let owners = BTreeMap::from([("checkout".into(), "team-payments".into()), ("search".into(), "team-search".into())]);
    start(store, Config { policies: Some(pol), ..config(owners) })
}

fn addr() -> SocketAddr {
    static A: std::sync::OnceLock<SocketAddr> = std::sync::OnceLock::new();
    *A.get_or_init(server)
}

fn row<'a>(body: &'a str, team: &str) -> &'a str {
    body.split("<tr class=\"team-row")
        .find(|r| r.contains(&format!("data-team=\"{team}\"")))
        .unwrap()
        .split("</tr>")
        .next()
        .unwrap()
}

#[test]
fn a_team_blocked_more_than_before_and_than_the_org_is_elevated() {
    let page = request(addr(), "GET", "/teams", &[], "");
    assert_eq!(page.status, 200, "{}", page.body);
    let payments = row(&page.body, "team-payments");
    assert!(payments.contains("data-gated=\"50\" data-blocked=\"14\" data-overridden=\"3\""), "{payments}");
    assert!(payments.starts_with(" elevated\""), "{payments}");
    assert!(
        payments.contains("<td class=\"num\">34.0 %</td><td class=\"num\">75.0 %</td><td class=\"num\">6.7 %</td>"),
        "{payments}"
    );
    let search = row(&page.body, "team-search");
    assert!(search.contains("data-gated=\"30\" data-blocked=\"1\" data-overridden=\"0\""), "{search}");
    assert!(!search.contains("elevated-badge"));
    // The overrides with who approved them (trusted here: the file's word, said so).
    let overrides = page
        .body
        .split("<table class=\"overrides\" data-team=\"team-payments\">")
        .nth(1)
        .unwrap()
        .split("</table>")
        .next()
        .unwrap();
    let runs: std::collections::BTreeSet<&str> =
        overrides.split("<a href=\"/runs/").skip(1).map(|r| r.split('"').next().unwrap()).collect();
    assert_eq!(runs.len(), 3, "one row per exception, of the three overridden runs");
    assert!(overrides.contains("W-7 (waived) on budget&#x2f;all&#x2f;p95_ms"), "{overrides}");
    assert!(overrides.contains("bob"), "{overrides}");
}

#[test]
fn the_rate_is_published_for_prometheus() {
    let m = request(addr(), "GET", "/metrics", &[], "");
    assert_eq!(m.status, 200);
    assert!(m.header("content-type").starts_with("text/plain; version=0.0.4"));
    assert!(m.body.contains("k6gate_team_violation_rate{team=\"team-payments\"} 0.75\n"), "{}", m.body);
    assert!(m.body.contains("k6gate_team_deployments_gated{team=\"team-payments\"} 20\n"));
    assert!(m.body.contains("k6gate_team_violation_elevated{team=\"team-payments\"} 1\n"));
    assert!(m.body.contains(&format!("k6gate_team_violation_rate{{team=\"team-search\"}} {}\n", 1.0 / 30.0)));
    assert!(m.body.contains("k6gate_team_violation_elevated{team=\"team-search\"} 0\n"));
}

#[test]
fn team_queries_are_checked() {
    for (q, needle) in
        [("weeks=2", "weeks=&quot;2&quot;"), ("until=tomorrow", "is not a date"), ("team=x", "unknown parameter")]
    {
        let a = request(addr(), "GET", &format!("/teams?{q}"), &[], "");
        assert_eq!(a.status, 400, "{q}");
        assert!(a.body.contains(needle), "{q}: {}", a.body);
    }
    // A window that ends before every run: nothing gated, nothing elevated.
    let a = request(addr(), "GET", "/teams?until=2020-01-01", &[], "");
    assert!(row(&a.body, "team-payments").contains("data-gated=\"0\""));
}

fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("promtool")
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/prom"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is not installed (Debian package `prometheus`; scripts/test.sh installs it)");
    child.stdin.take().unwrap().write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[test]
#[ignore = "full tier: needs promtool"]
fn the_alert_rules_pass_promtool_and_the_metrics_parse() {
    let (ok, out) = promtool(&["check", "rules", "k6gate-teams-rules.yml"], None);
    assert!(ok, "{out}");
    let (ok, out) = promtool(&["test", "rules", "k6gate-teams-rules.test.yml"], None);
    assert!(ok, "{out}");
    let m = request(addr(), "GET", "/metrics", &[], "");
    let (ok, out) = promtool(&["check", "metrics"], Some(&m.body));
    assert!(ok, "{out}\n{}", m.body);
}
