//! `k6gate serve`'s trends and policy pages over real HTTP, fast tier. The store holds runs of
//! `checkout` in `ci` recorded through the real code paths (the summaries of real k6 1.1
//! outputs, `tests/fixtures/k6-small/policy-*.json`, and their digest rows), over six
//! versions, with a pin replaced by another, an accepted change point and a waiver in a copy
//! of the shipped policy data. The page's numbers are checked against `k6gate history trend`,
//! and the effective SLA the policy page names against the rule the gate's Rego applied.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use k6gate::compare::Phase;
use k6gate::gate::{Baseline, Case, Gate, PolicySource, Side};
use k6gate::github::approval::Mode;
use k6gate::history::{HistoryConfig, NewRun, Outcome, RunStore, Store};
use k6gate::serve::Config;
use serde_json::Value;

use crate::serve::{config, html, judged, request, start, unescape};
use crate::support::cli::K6gate;
use crate::support::fixtures::Set;
use crate::support::verdicts::SHIPPED;

const T0: i64 = 1_764_547_200_000_000_000; // 2025-12-01T00:00:00Z
const HOUR: i64 = 3_600_000_000_000;
const PIN_REASON: &str = "<b>v1.0.2 is the release</b>";

pub(crate) struct Trends {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) policies: PathBuf,
    pub(crate) addr: SocketAddr,
    /// Run ids by version, in the order recorded.
    pub(crate) runs: Vec<(String, String)>,
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn rfc3339(ns: i64) -> String {
    k6gate::time::format_rfc3339_ms(ns)
}

/// A copy of the shipped policies with an SLA for checkout in ci, an owner, an accepted change
/// point at `cp_run` and a waiver for v1.1.1 (created today, so it is active).
pub(crate) fn policies(root: &Path, cp_run: &str) -> PathBuf {
    let dir = root.join("policies");
    copy_dir(Path::new(SHIPPED), &dir);
    let data = dir.join("data");
    let slas = std::fs::read_to_string(data.join("slas.yaml")).unwrap();
    let slas = slas.replace(
        "  tests:\n",
        "  tests:\n    - test: checkout\n      environment: ci\n      p95_ms: 450\n    - test: checkout\n      group: POST checkout\n      p95_ms: 700\n",
    );
    std::fs::write(data.join("slas.yaml"), slas).unwrap();
    std::fs::write(
        data.join("notifications.yaml"),
        "notifications:\n  webhook_url_env: K6GATE_WEBHOOK_URL\n  owners:\n    checkout: { team: team-payments, lead: \"@carol\" }\n",
    )
    .unwrap();
    std::fs::write(
        data.join("changepoints.yaml"),
        format!(
            "changepoints:\n  - test: checkout\n    environment: ci\n    metric: p95_ms\n    run: {cp_run}\n    decision: accepted\n    reason: v1.1.0 adds fraud scoring\n    reviewed_by: alice\n"
        ),
    )
    .unwrap();
    let now = k6gate::clock::now_ns();
    std::fs::write(
        data.join("waivers.yaml"),
        format!(
            "waivers:\n  - id: W-7\n    test: checkout\n    metric: p95_ms\n    version: v1.1.1\n    justification: known slow path until the cache fix\n    requested_by: alice\n    approved_by: bob\n    created: {}\n    expires: {}\n",
            rfc3339(now - 24 * HOUR),
            rfc3339(now + 7 * 24 * HOUR)
        ),
    )
    .unwrap();
    dir
}

/// The store (built once) and a server with the policy data.
pub(crate) fn trends() -> &'static Trends {
    static F: OnceLock<Trends> = OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
        let a = Set::Small.ingest("policy-base-a.json");
        let b = Set::Small.ingest("policy-base-b.json");
        let slow = Set::Small.ingest("policy-slow.json");
        // Judged by the gate as `k6gate run` records them, each against the run before it.
        let gate = Gate::load(&PolicySource::new(SHIPPED, Mode::Trust)).unwrap();
        let plan: [(&str, &k6gate::RunSummary); 7] = [
            ("v1.0.0", &a),
            ("v1.0.1", &b),
            ("v1.0.2", &a),
            ("v1.0.2", &b),
            ("v1.1.0", &slow),
            ("v1.1.1", &slow),
            ("v1.1.2", &b),
        ];
        let mut runs: Vec<(String, String)> = Vec::new();
        let mut previous: Option<(&k6gate::RunSummary, String)> = None;
        for (i, (version, summary)) in plan.into_iter().enumerate() {
            let base = previous.as_ref().map(|(s, id)| (*s, format!("run {id}")));
            let id = judged(
                &store,
                &gate,
                summary,
                base.as_ref().map(|(s, src)| (*s, src.as_str())),
                version,
                (i as i64) * 24,
            );
            previous = Some((summary, id.clone()));
            runs.push((version.to_string(), id));
        }
        // An errored run: listed with its version, counted nowhere.
        let errored = store
            .record_run(&NewRun {
                test: "checkout".into(),
                environment: "ci".into(),
                outcome: Outcome::Error,
                started_at_ns: T0 + 10 * 24 * HOUR,
                deployment_version: Some("v1.2.0".into()),
                problem: Some("k6 could not reach the target".into()),
                ..NewRun::default()
            })
            .unwrap();
        runs.push(("v1.2.0".into(), errored));
        // The baseline history: v1.0.1 pinned, then replaced by v1.0.2's second run.
        store.pin(&runs[1].1, "alice", "first release", T0 + 2 * 24 * HOUR).unwrap();
        store.pin(&runs[3].1, "bob", PIN_REASON, T0 + 4 * 24 * HOUR).unwrap();
        let policies = policies(dir.path(), &runs[4].1);
        let addr = start(store, Config { policies: Some(policies.clone()), waivers: None, ..config(BTreeMap::new()) });
        Trends { dir, policies, addr, runs }
    })
}

fn get(path: &str) -> crate::serve::Answer {
    request(trends().addr, "GET", path, &[], "")
}

/// The rows of the trend table: (version, data-value, marks text).
fn points(body: &str) -> Vec<(String, String, String)> {
    body.split("<tr class=\"point\" data-version=\"")
        .skip(1)
        .map(|r| {
            let version = unescape(r.split('"').next().unwrap());
            let value = r.split("data-value=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
            let row = r.split("</tr>").next().unwrap();
            let marks = row.split("<td>").last().unwrap().to_string();
            (version, value, unescape(&marks))
        })
        .collect()
}

#[test]
fn a_trend_has_the_numbers_of_history_trend() {
    let f = trends();
    for (metric, cli_metric) in [("p95", "p95"), ("error_rate", "error_rate"), ("rps", "rps")] {
        let page = get(&format!("/trends?test=checkout&env=ci&metric={metric}"));
        assert_eq!(page.status, 200, "{}", page.body);
        let cli = K6gate::new()
            .arg("--state-dir")
            .arg(f.dir.path())
            .arg("--policies")
            .arg(&f.policies)
            .args(["history", "trend", "--test", "checkout", "--env", "ci", "--metric", cli_metric, "--format", "json"])
            .status(0);
        let json: Value = cli.stdout_json();
        let want: Vec<(String, Option<f64>)> = json["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["version"].as_str().unwrap().to_string(), p["value"].as_f64()))
            .collect();
        let got: Vec<(String, Option<f64>)> =
            points(&page.body).into_iter().map(|(v, x, _)| (v, x.parse::<f64>().ok())).collect();
        assert_eq!(got, want, "{metric}");
        assert!(page.body.contains(&html(&format!("k6gate history trend --test checkout --env ci --metric {metric}"))));
    }
    // Versions in the order of their first run; the errored version shown without a value.
    let page = get("/trends?test=checkout&env=ci");
    let versions: Vec<String> = points(&page.body).into_iter().map(|p| p.0).collect();
    assert_eq!(versions, ["v1.0.0", "v1.0.1", "v1.0.2", "v1.1.0", "v1.1.1", "v1.1.2", "v1.2.0"]);
    let last = points(&page.body).pop().unwrap();
    assert_eq!(last.1, "", "no value");
    assert!(page.body.contains("<figure id=\"chart-trend\"><svg"));
    for v in &versions {
        assert!(page.body.contains(&format!(">\n{v}\n</text>")), "{v} labels the axis");
    }
}

#[test]
fn change_points_waivers_and_pins_are_marked() {
    let f = trends();
    let page = get("/trends?test=checkout&env=ci&metric=p95");
    let marks: BTreeMap<String, String> = points(&page.body).into_iter().map(|(v, _, m)| (v, m)).collect();
    assert!(marks["v1.0.1"].contains(&format!("was pinned baseline: run {}", f.runs[1].1)), "{}", marks["v1.0.1"]);
    assert!(marks["v1.0.2"].contains(&format!("pinned baseline: run {}", f.runs[3].1)));
    assert!(!marks["v1.0.2"].contains("was pinned"));
    assert!(marks["v1.1.0"].contains(&format!("change point in p95_ms at run {}, accepted", f.runs[4].1)));
    assert!(marks["v1.1.0"].contains("changepoints.yaml:"), "the review's file and line: {}", marks["v1.1.0"]);
    assert!(marks["v1.1.1"].contains("waiver W-7 on p95_ms approved by bob"), "{}", marks["v1.1.1"]);
    for v in ["v1.0.0", "v1.1.2", "v1.2.0"] {
        assert!(!marks[v].contains("class=\"mark"), "{v}: {}", marks[v]);
    }
    // The chart draws them: one dashed change-point line, one waiver triangle, two pin rings.
    let svg = page.body.split("<figure id=\"chart-trend\">").nth(1).unwrap().split("</figure>").next().unwrap();
    assert!(svg.contains("stroke=\"#CF222E\""), "the change point's red line");
    assert!(svg.contains("#BC4C00"), "the waiver's triangle");
    // The baseline history, newest first, the replaced pin with who ended it; data escaped.
    let pins = page.body.split("<table id=\"pins\">").nth(1).unwrap().split("</table>").next().unwrap();
    let rows: Vec<&str> = pins.split("<tr class=\"pin\">").skip(1).collect();
    assert_eq!(rows.len(), 2);
    assert!(rows[0].contains(&f.runs[3].1) && rows[0].contains("active"));
    assert!(rows[0].contains(&html(PIN_REASON)) && !page.body.contains(PIN_REASON));
    assert!(rows[1].contains(&f.runs[1].1) && rows[1].contains("ended") && rows[1].contains("by bob"));
}

#[test]
fn trend_queries_are_checked() {
    let page = get("/trends");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("Choose a test and an environment."));
    assert!(page.body.contains("<option value=\"checkout\">checkout</option>"));
    for (query, needle) in [
        ("test=checkout&env=ci&metric=p42", "metric=&quot;p42&quot;"),
        ("test=checkout&env=ci&since=1", "unknown parameter &quot;since&quot;"),
        ("test=checkout&test=x&env=ci", "&quot;test&quot; is given twice"),
    ] {
        let a = get(&format!("/trends?{query}"));
        assert_eq!(a.status, 400, "{query}");
        assert!(a.body.contains(needle), "{query}: {}", a.body);
    }
    // A valid choice without decided runs is said, not an error.
    let a = get("/trends?test=nothing&env=ci");
    assert_eq!(a.status, 200);
    assert!(a.body.contains("no decided run (pass, warn or fail)"), "{}", a.body);
    let a = get("/trends?test=checkout&env=ci&phase=cooldown");
    assert_eq!(a.status, 200);
    assert!(a.body.contains("phase &quot;cooldown&quot; is not in the record"), "{}", a.body);
}

/// The `data-source` of the policy page's SLA cell for `metric` in `env` of `test`.
fn sla_cell(body: &str, test: &str, env: &str, index: usize) -> String {
    let block = body.split(&format!("id=\"policy-{test}\"")).nth(1).unwrap();
    let row = block.split(&format!("data-env=\"{env}\">")).nth(1).unwrap().split("</tr>").next().unwrap();
    let cell = row.split("<td class=\"num sla\">").nth(index + 1).unwrap().split("</td>").next().unwrap();
    unescape(cell)
}

#[test]
fn the_policy_page_shows_the_limits_the_gate_applies() {
    let f = trends();
    let page = get("/policy");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<h2>Team team-payments</h2>"));
    assert!(page.body.contains("lead @carol"));
    let slas = f.policies.join("data/slas.yaml").display().to_string();
    // checkout in ci: its own entry's P95 (450), the defaults' error rate; prod-sim: 400.
    let ci_p95 = sla_cell(&page.body, "checkout", "ci", 1);
    assert!(ci_p95.contains("450 ms") && ci_p95.contains(&format!("{slas}:")), "{ci_p95}");
    let ci_err = sla_cell(&page.body, "checkout", "ci", 3);
    assert!(ci_err.contains("1.00 %") && ci_err.contains("sla.defaults"), "{ci_err}");
    assert!(sla_cell(&page.body, "checkout", "prod-sim", 1).contains("400 ms"));
    assert!(page.body.contains("Endpoint SLA: POST checkout in every environment: p95_ms 700 ms"));
    // The waiver, active, with who approved it; retention classes and the test's class.
    assert!(page.body.contains("<td class=\"mono\">W-7</td>"));
    assert!(page.body.contains("bob (asked by alice)"));
    assert!(page.body.contains("<tr class=\"override active\">"));
    assert!(page.body.contains("Retention: "));

    // The same limit and line as the SLA rule of the gate's verdict for checkout in ci.
    let gate = Gate::load(&PolicySource::new(&f.policies, Mode::Trust)).unwrap();
    let summary = Set::Small.ingest("policy-base-a.json");
    let verdict = gate
        .judge(&Case {
            test: "checkout",
            environment: "ci",
            now_ns: T0,
            phase: &Phase::SteadyState,
            candidate: Side { summary: &summary, source: "this run" },
            confirmations: &[],
            baseline: Baseline::None,
            previous: None,
        })
        .unwrap();
    let rule = verdict.results.iter().find(|r| r.id == "sla/all/p95_ms").expect("the P95 SLA rule");
    let source = rule.source.as_ref().expect("its source");
    assert_eq!(rule.limit, Some(450.0));
    assert!(ci_p95.contains(&format!("data-source=\"{}:{}\"", source.file, source.line)), "{ci_p95} vs {source:?}");
    let err_rule = verdict.results.iter().find(|r| r.id == "sla/all/error_rate").unwrap();
    let err_source = err_rule.source.as_ref().unwrap();
    assert!(ci_err.contains(&format!("data-source=\"{}:{}\"", err_source.file, err_source.line)));
}

#[test]
fn policy_queries_are_checked_and_a_broken_file_is_named() {
    assert_eq!(get("/policy?team=team-payments").status, 200);
    let a = get("/policy?team=nobody");
    assert_eq!(a.status, 404);
    assert!(a.body.contains("no team &quot;nobody&quot;"));
    assert_eq!(get("/policy?test=nothing").status, 404);
    let a = get("/policy?version=1");
    assert_eq!(a.status, 400);
    assert!(a.body.contains(&html("/policy takes team, test")), "{}", a.body);

    // A policy file that does not load: a page naming the file and line, no half view.
    let dir = tempfile::tempdir().unwrap();
    let policies = policies(dir.path(), "x");
    std::fs::write(policies.join("data/slas.yaml"), "sla:\n  defaults:\n    p95_ms: fast\n").unwrap();
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let addr = start(store, Config { policies: Some(policies), ..config(BTreeMap::new()) });
    for path in ["/policy", "/trends?test=checkout&env=ci"] {
        let a = request(addr, "GET", path, &[], "");
        assert_eq!(a.status, 500, "{path}");
        assert!(a.body.contains("the policy data does not load"), "{}", a.body);
        assert!(a.body.contains("slas.yaml:3"), "{}", a.body);
        assert!(!a.body.contains("Team team-payments"));
    }
    // Without policy data the page says so.
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let addr = start(store, config(BTreeMap::new()));
    let a = request(addr, "GET", "/policy", &[], "");
    assert_eq!(a.status, 200);
    assert!(a.body.contains("started without policy data"));
}

/// Every page of `k6gate serve` on a simulated year (`bench/serve-pages.sh` prints the table
/// the README shows): 12,000 runs, `checkout` in `staging` hourly for 365 days (8,760 runs over
/// 438 versions) and 3,240 runs of 18 other tests beside them; every decided run with the
/// digest rows of a real k6 summary (as `k6gate run` records them), the gate's verdict on that
/// summary where the teams page reads verdicts (checkout's last 12 weeks; a stand-in elsewhere)
/// and a small stand-in summary (the trend reads records only), except checkout's last two
/// runs, which keep the real summary so that they can be compared; four teams own the tests.
/// The test checks what the pages show (every verdict of the window counted, the deep page
/// where its cursor says, the comparison of the two real runs); the times (median of five
/// whole requests, debug build) are printed, not asserted.
///
///     cargo test --test integration serve_trends::every_page_on_a_year_of_runs -- --ignored --nocapture
#[test]
#[ignore = "full tier: builds a 12,000-run store (about a minute)"]
fn every_page_on_a_year_of_runs() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let real = Set::Small.ingest("policy-base-a.json");
    let rows = k6gate::summary::digest::rows(&real);
    let summary = serde_json::value::to_raw_value(&serde_json::json!({ "pad": "x".repeat(8 * 1024) })).unwrap();
    let real_summary = serde_json::value::to_raw_value(&real).unwrap();
    // A real verdict (the gate's on that summary), so the teams page can read every run's.
    let gate = Gate::load(&PolicySource::new(SHIPPED, Mode::Trust)).unwrap();
    let real_verdict = gate
        .judge(&Case {
            test: "checkout",
            environment: "staging",
            now_ns: T0,
            phase: &Phase::SteadyState,
            candidate: Side { summary: &real, source: "this run" },
            confirmations: &[],
            baseline: Baseline::None,
            previous: None,
        })
        .unwrap();
    let verdict = serde_json::value::to_raw_value(&real_verdict).unwrap();
    let real_decision = k6gate::policy::decision::of(&real_verdict);
    let stand_in = serde_json::value::to_raw_value(&serde_json::json!({ "outcome": "pass" })).unwrap();
    let t0 = std::time::Instant::now();
    let record = |test: String, env: &str, i: i64, version: String| {
        let outcome = if i % 20 == 7 { Outcome::Error } else { Outcome::Pass };
        let decided = outcome != Outcome::Error;
        let read_by_teams = test == "checkout" && i >= 6_700;
        let comparable = test == "checkout" && i >= 8_758;
        store
            .record_run(&NewRun {
                test,
                environment: env.into(),
                outcome,
                started_at_ns: T0 + i * HOUR,
                git_branch: Some("main".into()),
                deployment_version: Some(version),
                summary: decided.then(|| if comparable { real_summary.clone() } else { summary.clone() }),
                // The gate's verdict where the teams page reads it (checkout's last 12 weeks); a
                // stand-in elsewhere, which keeps recording short.
                verdict: decided.then(|| if read_by_teams { verdict.clone() } else { stand_in.clone() }),
                digest: if decided { rows.clone() } else { Vec::new() },
                // As `run` records it: the verdict's decision record (the stand-in's: a pass
                // with no rule and no exception).
                decision: decided.then(|| if read_by_teams { real_decision.clone() } else { Default::default() }),
                ..NewRun::default()
            })
            .unwrap()
    };
    let mut checkout = Vec::new();
    for i in 0..8_760i64 {
        checkout.push(record("checkout".into(), "staging", i, format!("v{}.{}.0", i / 2000, (i / 20) % 100)));
    }
    for i in 0..3_240i64 {
        record(
            format!("service-{:02}", i % 18),
            if i % 2 == 0 { "staging" } else { "prod-sim" },
            i * 2,
            format!("v1.{}", i / 100),
        );
    }
    eprintln!("12,000 runs recorded in {:.1} s", t0.elapsed().as_secs_f64());
    let policies = policies(dir.path(), "none");
    let mut owners: BTreeMap<String, String> =
        (0..18).map(|i| (format!("service-{i:02}"), format!("team-{}", i % 3))).collect();
    owners.insert("checkout".into(), "team-payments".into());
    let addr = start(store, Config { policies: Some(policies), ..config(owners) });
    // 4,000 runs deep in the list (checkout's 4,760th run and the service runs after it).
    let deep = format!("/runs?after={}_{}", T0 + 4_760 * HOUR, checkout[4_760]);
    let compare = format!("/compare/{}/{}", checkout[8_758], checkout[8_759]);
    eprintln!("| page | median of 5 | HTML |\n|---|---:|---:|");
    for q in [
        "/runs",
        "/runs?test=checkout&env=staging&outcome=pass",
        "/runs?team=team-1",
        deep.as_str(),
        compare.as_str(),
        "/trends?test=checkout&env=staging&metric=p95",
        "/trends?test=checkout&env=staging&metric=p95&all=1",
        "/trends?test=checkout&env=staging&metric=error_rate",
        "/trends?test=service-04&env=staging&metric=p99",
        "/policy",
        "/policy?team=team-payments",
        "/teams?until=2026-11-30",
        "/metrics",
    ] {
        let first = request(addr, "GET", q, &[], "");
        assert_eq!(first.status, 200, "{q}: {}", first.body);
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let t = std::time::Instant::now();
                assert_eq!(request(addr, "GET", q, &[], "").status, 200);
                t.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        let shown = if q.len() > 48 { format!("{}…", &q[..48]) } else { q.to_string() };
        eprintln!("| `{shown}` | {:.0} ms | {} KB |", times[2], first.body.len() / 1024);
    }
    // The deep page starts right after its cursor.
    let page = request(addr, "GET", &deep, &[], "");
    assert!(page.body.contains(&checkout[4_759]) && !page.body.contains(&checkout[4_761]), "the deep page");
    // Every verdict of checkout's 12 weeks was read: the window's decided runs are all counted.
    // (`until=2026-11-30` ends the window at the end of the store's day 364.)
    let until = T0 + 365 * 24 * HOUR;
    let since = until - 12 * 7 * 24 * HOUR;
    let gated = (0..8_760i64).filter(|i| i % 20 != 7 && (since..until).contains(&(T0 + i * HOUR))).count();
    let teams = request(addr, "GET", "/teams?until=2026-11-30", &[], "");
    let row = format!("data-team=\"team-payments\" data-gated=\"{gated}\"");
    assert!(teams.body.contains(&row), "{gated} gated runs of checkout: {}", teams.body);
    assert!(!teams.body.contains("only the newest"), "no team is cut");
    // The trend's table: the newest 60 versions, the rest behind a link; all of them on request.
    let page = request(addr, "GET", "/trends?test=checkout&env=staging&metric=p95", &[], "");
    assert_eq!(points(&page.body).len(), 60, "the newest versions (none older is marked)");
    assert!(page.body.contains("378 older unmarked version(s)"), "{}", page.body);
    let all = request(addr, "GET", "/trends?test=checkout&env=staging&metric=p95&all=1", &[], "");
    assert_eq!(points(&all.body).len(), 438, "one row per deployment");
    let cmp = request(addr, "GET", &compare, &[], "");
    assert!(cmp.body.contains("no trace breakdown for this run"), "neither run has a trace breakdown");
}
