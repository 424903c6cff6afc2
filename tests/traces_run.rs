//! `k6gate run` making the trace breakdown by itself (issue 15): an environment with a
//! `traces:` block, real k6 against the three-tier demo stack (`tiers/`), the fake Tempo
//! (tests/support/fake_tempo.rs) receiving the tiers' and k6gate's OTLP/HTTP exports and
//! serving them through Tempo's API. Full tier: needs k6.
//!
//! One stack, three runs: a baseline (its breakdown recorded in the history with the
//! verdict), a run with the database slowed (compared with the baseline's stored breakdown:
//! `db P95 +N %`, and the `tiers` test's DB SLA in policies/data/traces.yaml fails it), and a
//! run whose Tempo cannot be reached (fails with the reason, never a silent pass). The
//! template's `measure('auth_check', ...)` timer is written as a child of its request's root
//! span, at the Trend sample's start and duration.

use std::path::Path;

use k6gate::history::{Outcome, RunFilter, RunStore};
use k6gate::policy::verdict::{Status, Verdict};
use k6gate::run::{execute, open_history};

use crate::support::run_options;
use crate::support::tiers::Tiers;
use crate::traces_stack::{serve, wait_for_exports};

const TEMPLATE: &str = r#"{{ runtime }}
import { check } from 'k6';

const BASE_URL = {{ env.base_url }};
const K6GATE_PLAN = {{ plan }};

export const options = {{ options }};

const measure = timers(['auth_check']);

export default function () {
    tagStage();
    const i = k6gateExec.scenario.iterationInTest;
    measure('auth_check', () => {
        const r = http.get(`${BASE_URL}/products`, { tags: { name: 'products' } });
        check(r, { 'products 200': (res) => res.status === 200 });
    });
    const r = i % 2
        ? http.get(`${BASE_URL}/search?q=product%20${i % 50}`, { tags: { name: 'search' } })
        : http.post(`${BASE_URL}/checkout`, JSON.stringify({ product_id: 1 + (i % 100) }),
            { headers: { 'Content-Type': 'application/json' }, tags: { name: 'checkout' } });
    check(r, { 'status 200': (res) => res.status === 200 });
}
"#;

fn environment(dir: &Path, name: &str, gateway: &str, tempo: &str, otlp: &str) {
    let yaml = format!(
        "base_url: {gateway}\nexecutor: ramping-arrival-rate\nrate: 20\npre_allocated_vus: 10\nmax_vus: 20\n\
         stages: {{ramp_up: 1s, sustained: 4s, ramp_down: 1s}}\n\
         traces:\n  tempo: {tempo}\n  otlp: {otlp}\n  settle: {{fetches: 4, interval: 400ms, budget: 30s}}\n  \
         expect: [api, db]\n  gateway: gateway\n"
    );
    std::fs::write(dir.join(format!("{name}.yaml")), yaml).unwrap();
}

fn result<'a>(v: &'a Verdict, id: &str) -> &'a k6gate::policy::verdict::RuleResult {
    v.results
        .iter()
        .find(|r| r.id == id)
        .unwrap_or_else(|| panic!("no {id} in {:?}", v.results.iter().map(|r| (&r.id, r.status)).collect::<Vec<_>>()))
}

/// A fail, or (the policies' rule for a run whose k6 competed for CPU, on a busy machine) an
/// inconclusive that says so: never a pass or a warning.
fn not_passed(r: &k6gate::run::RunResult) {
    let v = r.verdict.as_ref().expect("verdict");
    match r.outcome {
        Outcome::Fail => {}
        Outcome::Inconclusive => {
            assert!(v.results.iter().any(|x| x.id.starts_with("load/host/")), "{:?}", v.results)
        }
        other => panic!("{other:?}: {:?}", v.results),
    }
}

#[test]
#[ignore = "full tier: needs k6"]
fn run_reads_the_traces_records_the_breakdown_and_judges_it_against_the_baselines() {
    let (http, fake) = serve();
    let mut tiers = Tiers::start(&http.url("/v1/traces"), 100, &[]);
    let state = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (templates, envs) = (files.path().join("templates"), files.path().join("environments"));
    std::fs::create_dir_all(&templates).unwrap();
    std::fs::create_dir_all(&envs).unwrap();
    std::fs::write(templates.join("tiers.js.j2"), TEMPLATE).unwrap();
    environment(&envs, "stack", &tiers.gateway.url, &http.uri(), &http.url("/v1/traces"));
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    environment(&envs, "stack-tempo-down", &tiers.gateway.url, &down, &http.url("/v1/traces"));

    let options = |env: &str, version: &str| {
        let mut o = run_options::short_run(state.path(), 0, version, "main", "4s");
        o.test = "tiers".into();
        o.environment = env.into();
        o.sets = Vec::new();
        o.templates_dir = templates.clone();
        o.environments_dir = envs.clone();
        o
    };

    // 1. The baseline: its breakdown is in the verdict, the history and the reports.
    let first = execute(&options("stack", "v1")).unwrap();
    let v1 = first.verdict.as_ref().expect("verdict");
    let t1 = v1.traces.as_ref().unwrap_or_else(|| panic!("no breakdown: {:?} {:?}", v1.notes, first.problem));
    assert!(matches!(first.outcome, Outcome::Pass | Outcome::Warn), "{:?}: {:?}", first.outcome, v1.results);
    assert!(t1.traced >= 50 && t1.untraced == 0, "{} traced, {} untraced", t1.traced, t1.untraced);
    assert_eq!(t1.components["db"].coverage, 1.0, "{:?}", t1.components["db"]);
    assert_eq!(result(v1, "traces/sla/db/p95_ms").status, Status::Pass);
    assert!(!t1.components.contains_key("k6"), "k6's root and timers are no component: {:?}", t1.components.keys());
    let md = std::fs::read_to_string(first.run_dir.join("report.md")).unwrap();
    assert!(md.contains("## Where the time goes") && md.contains("db "), "{md}");
    let html = std::fs::read_to_string(first.run_dir.join("report.html")).unwrap();
    assert!(html.contains("Where the time goes"));
    let store = open_history(&k6gate::history::HistoryConfig::local(state.path())).unwrap();
    let stored: Verdict = store.get_run(&first.run_id).unwrap().verdict_as().unwrap().unwrap();
    assert_eq!(stored.traces.as_ref(), Some(t1), "the history keeps the breakdown with the verdict");

    // The `measure('auth_check')` timers: a child span of their request's root, at the Trend
    // sample's start and duration.
    let (requests, timers) = k6gate::ingest::requests::read_client_side(&first.run_dir.join("k6.json.gz")).unwrap();
    assert!(requests.iter().all(|r| r.status == Some(200) && r.correlation_id.is_some() && r.phase.is_some()));
    assert!(timers.len() * 3 >= requests.len(), "{} timers, {} requests", timers.len(), requests.len());
    wait_for_exports(&fake, std::time::Duration::from_millis(300), std::time::Duration::from_secs(20));
    let received = fake.received.lock().unwrap();
    for t in timers.iter().take(20) {
        assert_eq!(t.inside.len(), 1, "one request inside each timer");
        let (trace, root) = t.inside[0];
        let spans = &received[&trace.to_string()];
        let span = |name: &str| spans.iter().find(|(_, _, s)| s["name"] == name).map(|(_, _, s)| s.clone());
        let timer = span("auth_check").unwrap_or_else(|| panic!("trace {trace}: no auth_check span: {spans:?}"));
        let root_span = span("products").expect("k6's root span");
        assert_eq!(root_span["spanId"], root.to_string());
        assert_eq!(timer["parentSpanId"], root.to_string(), "under the request's root");
        let ns = |s: &serde_json::Value, k: &str| s[k].as_str().unwrap().parse::<i64>().unwrap();
        assert_eq!(ns(&timer, "startTimeUnixNano"), t.start_ns);
        assert_eq!(ns(&timer, "endTimeUnixNano") - ns(&timer, "startTimeUnixNano"), t.duration_ns);
        // The timer encloses its request, to the millisecond of k6's JS clock.
        let (ts, te) = (ns(&timer, "startTimeUnixNano"), ns(&timer, "endTimeUnixNano"));
        let (rs, re) = (ns(&root_span, "startTimeUnixNano"), ns(&root_span, "endTimeUnixNano"));
        assert!(ts <= rs + 1_000_000 && te + 1_000_000 >= re, "timer {ts}..{te}, request {rs}..{re}");
    }
    drop(received);

    // 2. The database slowed: compared with the baseline's stored breakdown, and the DB SLA
    // of policies/data/traces.yaml (db P95 < 50 ms) fails it.
    tiers.set_faults(r#"{"db_delay_ms": 40}"#);
    let second = execute(&options("stack", "v2")).unwrap();
    let v2 = second.verdict.as_ref().expect("verdict");
    not_passed(&second);
    let sla = result(v2, "traces/sla/db/p95_ms");
    assert_eq!(sla.status, Status::Fail, "{}", sla.message);
    let t2 = v2.traces.as_ref().expect("breakdown");
    let db = t2.comparison.iter().find(|c| c.component == "db").expect("db compared");
    assert!(db.changed && db.text.starts_with("db P95 +"), "{db:?}");
    assert!(db.p95_change.unwrap() > 1.0, "{db:?}");
    let api = t2.comparison.iter().find(|c| c.component == "api").expect("api compared");
    println!("against the baseline: {}", t2.comparison.iter().map(|c| c.text.as_str()).collect::<Vec<_>>().join(", "));
    assert!(!api.text.contains("new"), "{api:?}");
    let md = std::fs::read_to_string(second.run_dir.join("report.md")).unwrap();
    assert!(md.contains("Against the baseline's breakdown: ") && md.contains("db P95 +"), "{md}");

    // 3. Tempo down: the trace part says why, and the run fails (missing data).
    tiers.set_faults(r#"{"db_delay_ms": 0}"#);
    let third = execute(&options("stack-tempo-down", "v3")).unwrap();
    let v3 = third.verdict.as_ref().expect("verdict");
    not_passed(&third);
    assert!(v3.traces.is_none());
    let why = result(v3, "traces/unavailable");
    assert_eq!(why.status, Status::Fail);
    assert!(why.message.contains("cannot be read") && why.message.contains(&down), "{}", why.message);

    let runs = store.list_runs(&RunFilter { test: Some("tiers"), environment: None, limit: None }).unwrap();
    assert_eq!(runs.len(), 3);
    tiers.stop();
}
