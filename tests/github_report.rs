//! Reporting a verdict to GitHub, against a fake GitHub API (`support/fake_github.rs`) that
//! asserts the exact method, path, query, headers and JSON body of every request: the check
//! run (created, or updated in place on a re-run, annotations 50 per request), the PR
//! comment (one per test and environment, found again by its hidden marker), the commit
//! status fallback when the token cannot write checks, and what 403, 404, 422, 5xx and slow
//! answers do. The last tests run the real binary (`k6gate report github`) as GitHub Actions
//! would, against a GitHub Enterprise style base path.
//!
//! Verdicts are evaluated in-process with the shipped Rego and inline policy data (as
//! `tests/policy_cases.rs` does), so annotations point at real `_source` lines.

use crate::support::cli::K6gate;
use crate::support::fake_github;
use crate::support::verdicts;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use wiremock::MockBuilder;

use fake_github::{
    FakeGithub, Recorded, bad_gateway, body, created, error, forbidden, json_response, not_found, ok, unavailable,
};
use k6gate::github::actions::{Context, Level};
use k6gate::github::api::{Api, ApiConfig, ApiError, Token};
use k6gate::github::report::{Annotation, Conclusion, Links, Posted, Published, Report, publish};
use k6gate::policy::data;
use k6gate::policy::engine::Policies;
use k6gate::policy::verdict::{Status, Verdict, evaluate};
use verdicts::p95;

/// Shaped like an Actions installation token; never allowed to show anywhere.
const TOKEN: &str = "ghs_k6gateT0kenThatMustNeverLeak0123456";
const REPO: &str = "acme/shop";
/// The PR's head commit (the check run's commit).
const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
/// The temporary merge commit Actions puts in `GITHUB_SHA` on pull-request events.
const MERGE_SHA: &str = "b4f2ad6c0b1e8c1f2a3d4e5f60718293a4b5c6d7";
const CHECK_NAME: &str = "k6gate: checkout (staging)";
const MARKER: &str = "<!-- k6gate:comment test=checkout env=staging -->";
const STATUS_CONTEXT: &str = "k6gate/checkout/staging";
const TABLE_HEADER: &str =
    "| phase | group | metric | baseline | candidate | change | significance | budget / limit | result |";
const ACTIONS_RUN: &str = "https://github.com/acme/shop/actions/runs/4242";
const RUN_ID: &str = "20261201T100000Z-checkout-staging";
const CHECKS_DOC: &str = "https://docs.github.com/rest/checks/runs#create-a-check-run";

/// The policy data the verdicts are evaluated with. `budgets.defaults` is on line 3: the
/// line every budget annotation must point at.
const BUDGETS_YAML: &str = "\
# Regression budgets for the GitHub reporting tests.
budgets:
  defaults:
    p95_ms: 0.10
  significance:
    alpha: 0.01
    noise_floor: 0.05
";
const BUDGETS_LINE: u64 = 3;
const SLAS_YAML: &str = "\
sla:
  defaults:
    p95_ms: 500
";

#[derive(Debug, Clone, Copy)]
enum Case {
    /// P95 +15 %, significant: over the 10 % budget.
    Fail,
    /// P95 +15 %, inside run-to-run noise.
    Warn,
    /// P95 +2 %.
    Pass,
}

/// A checkout (what the gate runs from): `policies/*.rego` (shipped, without the Rego unit
/// tests) and `policies/data/{budgets,slas}.yaml`.
fn checkout() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir_all(policies.join("data")).unwrap();
    verdicts::copy_shipped_rego(&policies);
    std::fs::write(policies.join("data/budgets.yaml"), BUDGETS_YAML).unwrap();
    std::fs::write(policies.join("data/slas.yaml"), SLAS_YAML).unwrap();
    dir
}

/// The verdict for `case`, evaluated in the checkout `root`; data file paths are absolute.
fn evaluate_in(root: &Path, case: Case) -> Verdict {
    let metric = match case {
        Case::Fail => p95(200.0, 230.0, 0.0001, (0.10, 0.20)),
        Case::Warn => p95(200.0, 230.0, 0.2, (-0.02, 0.30)),
        Case::Pass => p95(200.0, 204.0, 0.2, (-0.01, 0.05)),
    };
    let mut comparison = verdicts::comparison("checkout", "staging", vec![metric]);
    comparison.baseline.source = "baseline.json".into();
    comparison.candidate.source = "candidate.json".into();
    let policies = Policies::load(&root.join("policies")).unwrap();
    let policy_data = data::load(&root.join("policies/data")).unwrap();
    let v = evaluate(&policies, &policy_data, &verdicts::request("checkout", "staging", &comparison)).unwrap();
    let want = match case {
        Case::Fail => Status::Fail,
        Case::Warn => Status::Warn,
        Case::Pass => Status::Pass,
    };
    assert_eq!(v.outcome, want, "{case:?}: {:#?}", v.results);
    v
}

/// The verdict for `case` as `k6gate evaluate --policies policies` records it when run from
/// the checkout's root: data file paths relative to it.
fn verdict(case: Case) -> Verdict {
    let dir = checkout();
    let mut v = evaluate_in(dir.path(), case);
    let prefix = format!("{}/", dir.path().display());
    let sources = v
        .results
        .iter_mut()
        .filter_map(|r| r.source.as_mut())
        .chain(v.exceptions.iter_mut().filter_map(|e| e.source.as_mut()))
        .chain(v.ignored.iter_mut().filter_map(|i| i.source.as_mut()));
    for s in sources {
        s.file = s.file.strip_prefix(&prefix).unwrap_or(&s.file).to_string();
    }
    v
}

fn budget_result(v: &Verdict) -> &k6gate::policy::verdict::RuleResult {
    v.results.iter().find(|r| r.id == "budget/all/p95_ms").expect("a budget/all/p95_ms result")
}

fn links() -> Links {
    Links { run_id: Some(RUN_ID.into()), actions_run: Some(ACTIONS_RUN.into()), ..Links::default() }
}

fn context(gh: &FakeGithub, pr: Option<u64>) -> Context {
    let api_url = gh.api_url();
    let mut ctx = Context::from_lookup(|name| {
        match name {
            "GITHUB_API_URL" => Some(api_url.as_str()),
            "GITHUB_REPOSITORY" => Some(REPO),
            "GITHUB_SHA" => Some(HEAD_SHA),
            "GITHUB_TOKEN" => Some(TOKEN),
            _ => None,
        }
        .map(str::to_string)
    })
    .unwrap();
    ctx.pr_number = pr;
    ctx
}

fn api_with(gh: &FakeGithub, attempts: u32, timeout: Duration) -> Api {
    Api::new(ApiConfig {
        timeout,
        attempts,
        backoff: Duration::from_millis(10),
        ..ApiConfig::new(gh.api_url(), Token::new(TOKEN))
    })
    .unwrap()
}

fn api(gh: &FakeGithub) -> Api {
    api_with(gh, 3, Duration::from_secs(5))
}

fn list_path() -> String {
    format!("/repos/{REPO}/commits/{HEAD_SHA}/check-runs")
}

const LIST_QUERY: &[(&str, &str)] = &[("check_name", CHECK_NAME), ("filter", "latest")];
const PAGE_1: &[(&str, &str)] = &[("per_page", "100"), ("page", "1")];

fn check_runs_path() -> String {
    format!("/repos/{REPO}/check-runs")
}

fn check_run_path(id: u64) -> String {
    format!("/repos/{REPO}/check-runs/{id}")
}

fn comments_path(pr: u64) -> String {
    format!("/repos/{REPO}/issues/{pr}/comments")
}

fn status_path() -> String {
    format!("/repos/{REPO}/statuses/{HEAD_SHA}")
}

/// Check run `id` on the head commit, as GitHub answers with it.
fn check_run(id: u64, conclusion: &str) -> Value {
    body::check_run(REPO, id, CHECK_NAME, HEAD_SHA, Some(conclusion))
}

/// "List check runs for a Git reference" answering with these runs.
fn mount_list(gh: &FakeGithub, runs: Vec<Value>) {
    gh.mount(gh.get(&list_path(), LIST_QUERY).respond_with(ok(body::check_runs(runs))).expect(1));
}

/// "Create a check run" for `report` on the head commit, with all its annotations.
fn create_check(gh: &FakeGithub, report: &Report) -> MockBuilder {
    gh.post(&check_runs_path(), &check_body(report, Some(HEAD_SHA), &report.annotations))
}

/// "Update a check run": check run `id` with `report`'s body and these annotations.
fn update_check(gh: &FakeGithub, id: u64, report: &Report, annotations: &[Annotation]) -> MockBuilder {
    gh.patch(&check_run_path(id), &check_body(report, None, annotations))
}

/// The check run for `report`, created once as check run 4.
fn mount_created(gh: &FakeGithub, report: &Report) {
    gh.mount(create_check(gh, report).respond_with(created(check_run(4, "failure"))).expect(1));
}

/// The commit status fallback for `report`, created once as status `id`; `state` and
/// `description` are what the status request must carry.
fn mount_status(gh: &FakeGithub, report: &Report, id: u64, state: &str, description: &str) {
    let status = json!({
        "state": state,
        "description": description,
        "context": STATUS_CONTEXT,
        "target_url": ACTIONS_RUN,
    });
    let answer = body::commit_status(REPO, HEAD_SHA, id, state, STATUS_CONTEXT, &report.title, Some(ACTIONS_RUN));
    gh.mount(gh.post(&status_path(), &status).respond_with(created(answer)).expect(1));
}

/// PR 7's comments, listed once.
fn mount_comments(gh: &FakeGithub, comments: Vec<Value>) {
    gh.mount(gh.get(&comments_path(7), PAGE_1).respond_with(ok(json!(comments))).expect(1));
}

/// `report`'s comment on PR 7, created once as comment `id`.
fn mount_new_comment(gh: &FakeGithub, report: &Report, id: u64) {
    let comment = json!({ "body": report.comment_body() });
    gh.mount(
        gh.post(&comments_path(7), &comment).respond_with(created(bot_comment(id, &report.comment_body()))).expect(1),
    );
}

/// Comment `id` on PR 7, updated once to `report`'s.
fn mount_updated_comment(gh: &FakeGithub, report: &Report, id: u64) {
    let comment = json!({ "body": report.comment_body() });
    let path = format!("/repos/{REPO}/issues/comments/{id}");
    gh.mount(gh.patch(&path, &comment).respond_with(ok(bot_comment(id, &report.comment_body()))).expect(1));
}

/// The check run body as the Checks API documents it, for `report`. `output.annotations` is
/// optional; without annotations it is left out.
fn check_body(report: &Report, head_sha: Option<&str>, annotations: &[Annotation]) -> Value {
    let mut body = json!({
        "name": CHECK_NAME,
        "status": "completed",
        "conclusion": report.conclusion.name(),
        "output": {
            "title": report.title,
            "summary": report.summary,
        },
        "details_url": ACTIONS_RUN,
        "external_id": RUN_ID,
    });
    if !annotations.is_empty() {
        body["output"]["annotations"] = json!(annotations.iter().map(annotation).collect::<Vec<_>>());
    }
    if let Some(sha) = head_sha {
        body["head_sha"] = json!(sha);
    }
    body
}

fn annotation(a: &Annotation) -> Value {
    let level = match a.level {
        Level::Error => "failure",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    json!({
        "path": a.path, "start_line": a.line, "end_line": a.line,
        "annotation_level": level, "title": a.title, "message": a.message,
    })
}

fn assert_headers(requests: &[Recorded]) {
    for r in requests {
        r.assert_github_headers(TOKEN);
    }
}

fn assert_no_token(what: &str, text: &str) {
    assert!(!text.contains(TOKEN), "{what} shows the token: {text}");
    // Nor a recognisable piece of it (a message cut in the middle of the token).
    let secret = &TOKEN[4..];
    for start in 0..=secret.len() - 12 {
        let piece = &secret[start..start + 12];
        assert!(!text.contains(piece), "{what} shows part of the token ({piece}): {text}");
    }
}

// ---------------------------------------------------------------------------------------
// The check run.

#[test]
fn a_first_report_creates_the_check_run_with_the_documented_body() {
    let v = verdict(Case::Fail);
    let report = Report::from_verdict(&v, links());
    let result = budget_result(&v);
    assert_eq!(report.title, "P95 +15.0 % over budget (checkout, staging)");
    assert!(result.message.contains("P95 latency rose 15.0 %"), "{}", result.message);

    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    let want = json!({
        "name": "k6gate: checkout (staging)",
        "head_sha": HEAD_SHA,
        "status": "completed",
        "conclusion": "failure",
        "output": {
            "title": "P95 +15.0 % over budget (checkout, staging)",
            "summary": report.summary,
            "annotations": [{
                "path": "policies/data/budgets.yaml",
                "start_line": BUDGETS_LINE,
                "end_line": BUDGETS_LINE,
                "annotation_level": "failure",
                "title": "k6gate fail: budget/all/p95_ms",
                "message": result.message,
            }],
        },
        "details_url": ACTIONS_RUN,
        "external_id": RUN_ID,
    });
    gh.mount(gh.post(&check_runs_path(), &want).respond_with(created(check_run(4, "failure"))).expect(1));

    let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckCreated { id: 4 }]);
    // A push event: no PR, so no comment requests, and the output says why.
    assert_eq!(published.notes, ["not a pull request event: no PR comment"]);

    let requests = gh.requests();
    assert_eq!(
        gh.calls(),
        [format!("GET /repos/{REPO}/commits/{HEAD_SHA}/check-runs"), format!("POST /repos/{REPO}/check-runs")]
    );
    assert_headers(&requests);
    assert_eq!(requests[0].query_value("check_name"), Some(CHECK_NAME));
    let summary = requests[1].body.as_ref().unwrap()["output"]["summary"].as_str().unwrap().to_string();
    assert!(summary.contains(TABLE_HEADER), "{summary}");
    assert!(summary.contains("| steady-state | all | "), "{summary}");
    assert!(summary.contains(&format!("[workflow run and report artifact]({ACTIONS_RUN})")), "{summary}");
}

#[test]
fn a_rerun_on_the_same_commit_updates_the_check_run_in_place() {
    let v = verdict(Case::Fail);
    let report = Report::from_verdict(&v, links());
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![check_run(4, "failure")]);
    // An update names no head_sha (the run already belongs to the commit).
    gh.mount(update_check(&gh, 4, &report, &report.annotations).respond_with(ok(check_run(4, "failure"))).expect(1));
    gh.mount(gh.request("POST", &check_runs_path()).respond_with(created(check_run(5, "failure"))).expect(0));

    let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckUpdated { id: 4 }]);
    assert_eq!(
        gh.calls(),
        [format!("GET /repos/{REPO}/commits/{HEAD_SHA}/check-runs"), format!("PATCH /repos/{REPO}/check-runs/4")]
    );
    assert_headers(&gh.requests());
}

#[test]
fn a_rerun_supersedes_a_check_run_that_has_annotations() {
    // Updates append annotations and nothing removes them, so a run that already carries some
    // (an earlier failure) is superseded by a new run of the same name, never patched.
    let v = verdict(Case::Pass);
    let report = Report::from_verdict(&v, links());
    let gh = FakeGithub::start(TOKEN);
    let mut old = check_run(4, "failure");
    old["output"]["annotations_count"] = json!(1);
    mount_list(&gh, vec![old]);
    gh.mount(create_check(&gh, &report).respond_with(created(check_run(5, "success"))).expect(1));
    gh.mount(gh.request("PATCH", &check_run_path(4)).respond_with(ok(json!({}))).expect(0));

    let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckCreated { id: 5 }]);
    assert_headers(&gh.requests());
}

#[test]
fn a_pass_concludes_success_and_a_warning_neutral() {
    for (case, conclusion, title, annotations) in [
        (Case::Pass, "success", "Passed: within SLAs and regression budgets (checkout, staging)", 0),
        (Case::Warn, "neutral", "Warning: P95 +15.0 % over budget (checkout, staging)", 1),
    ] {
        let v = verdict(case);
        let report = Report::from_verdict(&v, links());
        assert_eq!(report.title, title);
        assert_eq!(report.annotations.len(), annotations, "{case:?}");
        let want = check_body(&report, Some(HEAD_SHA), &report.annotations);
        assert_eq!(want["conclusion"], conclusion);
        if let Case::Warn = case {
            assert_eq!(
                want["output"]["annotations"][0],
                json!({
                    "path": "policies/data/budgets.yaml", "start_line": BUDGETS_LINE, "end_line": BUDGETS_LINE,
                    "annotation_level": "warning", "title": "k6gate warn: budget/all/p95_ms",
                    "message": budget_result(&v).message,
                })
            );
            assert_eq!(
                report.workflow_commands(),
                [format!(
                    "::warning file=policies/data/budgets.yaml,line={BUDGETS_LINE},title=k6gate warn%3A budget/all/p95_ms::{}",
                    budget_result(&v).message.replace('%', "%25")
                )]
            );
        } else {
            assert!(report.workflow_commands().is_empty());
        }
        let gh = FakeGithub::start(TOKEN);
        mount_list(&gh, vec![]);
        gh.mount(gh.post(&check_runs_path(), &want).respond_with(created(check_run(9, conclusion))).expect(1));
        let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
        assert_eq!(published.posted, [Posted::CheckCreated { id: 9 }], "{case:?}");
        assert_headers(&gh.requests());
    }
}

#[test]
fn more_than_fifty_annotations_go_fifty_per_request() {
    let v = verdict(Case::Fail);
    let mut report = Report::from_verdict(&v, links());
    report.annotations = (1..=120)
        .map(|i| Annotation {
            path: "policies/data/budgets.yaml".into(),
            line: i,
            level: if i % 2 == 0 { Level::Error } else { Level::Warning },
            title: format!("k6gate fail: rule {i}"),
            message: format!("rule {i} failed"),
        })
        .collect();
    let batches: Vec<&[Annotation]> = report.annotations.chunks(50).collect();
    assert_eq!(batches.iter().map(|b| b.len()).collect::<Vec<_>>(), [50, 50, 20]);

    // New check run: created with the first 50, then two updates append the rest.
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(
        gh.post(&check_runs_path(), &check_body(&report, Some(HEAD_SHA), batches[0]))
            .respond_with(created(check_run(77, "failure")))
            .expect(1),
    );
    for batch in &batches[1..] {
        gh.mount(update_check(&gh, 77, &report, batch).respond_with(ok(check_run(77, "failure"))).expect(1));
    }
    let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckCreated { id: 77 }]);
    let requests = gh.requests();
    assert_headers(&requests);
    let seen: Vec<(String, Vec<u64>)> = requests
        .iter()
        .skip(1)
        .map(|r| {
            let lines = r.body.as_ref().unwrap()["output"]["annotations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["start_line"].as_u64().unwrap())
                .collect();
            (r.call(), lines)
        })
        .collect();
    assert_eq!(
        seen,
        [
            (format!("POST /repos/{REPO}/check-runs"), (1..=50).collect::<Vec<_>>()),
            (format!("PATCH /repos/{REPO}/check-runs/77"), (51..=100).collect()),
            (format!("PATCH /repos/{REPO}/check-runs/77"), (101..=120).collect()),
        ]
    );

    // Existing check run: three updates.
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![check_run(78, "failure")]);
    for batch in &batches {
        gh.mount(update_check(&gh, 78, &report, batch).respond_with(ok(check_run(78, "failure"))).expect(1));
    }
    let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckUpdated { id: 78 }]);
    assert_eq!(gh.calls()[1..], vec![format!("PATCH /repos/{REPO}/check-runs/78"); 3]);
}

// ---------------------------------------------------------------------------------------
// The PR comment.

fn human_comment(id: u64, text: &str) -> Value {
    body::issue_comment(REPO, 7, id, text, body::user("alice", 583231, "User"))
}

fn bot_comment(id: u64, text: &str) -> Value {
    body::issue_comment(REPO, 7, id, text, body::actions_bot())
}

/// Comments on PR 7 that are not this test's: people, another environment, another bot.
fn other_comments() -> Vec<Value> {
    vec![
        human_comment(1001, "Is k6gate: checkout (staging) going to block this? cc @bob"),
        bot_comment(
            1002,
            "<!-- k6gate:comment test=checkout env=prod-sim -->\n**Passed** — `k6gate: checkout (prod-sim)`",
        ),
        bot_comment(1003, "<!-- k6gate:comment test=search env=staging -->\n**Passed** — `k6gate: search (staging)`"),
        body::issue_comment(REPO, 7, 1004, "Coverage: 81 %", body::user("codecov[bot]", 22429695, "Bot")),
    ]
}

/// The check run on a new commit, created.
fn mount_new_check(gh: &FakeGithub, report: &Report) {
    mount_list(gh, vec![]);
    mount_created(gh, report);
}

#[test]
fn the_pr_comment_with_the_marker_is_updated_in_place() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    assert!(report.comment_body().starts_with(&format!("{MARKER}\n**{}** — `{CHECK_NAME}`", report.title)));
    assert!(report.comment_body().contains(TABLE_HEADER));

    let gh = FakeGithub::start(TOKEN);
    mount_new_check(&gh, &report);
    let mut comments = other_comments();
    comments.insert(2, bot_comment(1010, &format!("{MARKER}\n**Passed: within SLAs** — old text")));
    mount_comments(&gh, comments);
    mount_updated_comment(&gh, &report, 1010);
    gh.mount(gh.request("POST", &comments_path(7)).respond_with(created(bot_comment(1011, "duplicate"))).expect(0));

    let published = publish(&api(&gh), &context(&gh, Some(7)), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckCreated { id: 4 }, Posted::CommentUpdated { id: 1010 }]);
    assert!(published.notes.is_empty(), "{:?}", published.notes);
    assert_eq!(
        gh.calls()[2..],
        [format!("GET /repos/{REPO}/issues/7/comments"), format!("PATCH /repos/{REPO}/issues/comments/1010")]
    );
    assert_headers(&gh.requests());
}

#[test]
fn without_the_marker_the_pr_comment_is_created() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let gh = FakeGithub::start(TOKEN);
    mount_new_check(&gh, &report);
    mount_comments(&gh, other_comments());
    mount_new_comment(&gh, &report, 1020);

    let published = publish(&api(&gh), &context(&gh, Some(7)), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckCreated { id: 4 }, Posted::CommentCreated { id: 1020 }]);
    assert_eq!(
        gh.calls()[2..],
        [format!("GET /repos/{REPO}/issues/7/comments"), format!("POST /repos/{REPO}/issues/7/comments")]
    );
    assert_headers(&gh.requests());
}

/// What `k6gate run` says first on a pull request's run that measured the build already
/// deployed (no deploy step): `RunOptions::caveat`, as `cli/run.rs` words it.
const CAVEAT: &str = "Measured the build already deployed to staging, not this pull request's: no deploy step ran \
                      before the test (give the workflow `deploy-command`, or `target-url` with `deployment-version`).";

#[test]
fn a_run_that_measured_the_existing_build_says_so_first_in_the_check_run_and_the_comment() {
    use k6gate::history::Outcome;
    use k6gate::run::{Judged, outputs};

    let mut v = verdict(Case::Pass);
    // `run` puts the caveat first among the verdict's notes...
    v.notes.insert(0, CAVEAT.into());
    // ...and the GitHub output puts it before everything else in the summary.
    let mut report = Report::from_verdict(&v, links());
    report.preface(CAVEAT);
    assert!(report.summary.starts_with(&format!("{CAVEAT}\n\n")), "{}", report.summary);

    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(create_check(&gh, &report).respond_with(created(check_run(4, "success"))).expect(1));
    mount_comments(&gh, vec![]);
    mount_new_comment(&gh, &report, 1030);

    let out = outputs::Outputs {
        github: Some(outputs::GitHub {
            context: context(&gh, Some(7)),
            api: ApiConfig {
                attempts: 1,
                timeout: Duration::from_secs(5),
                ..ApiConfig::new(gh.api_url(), Token::new(TOKEN))
            },
            in_actions: false,
        }),
        links: outputs::LinkBase { actions_run: Some(ACTIONS_RUN.into()), ..Default::default() },
        ..Default::default()
    };
    let judged = Judged { outcome: Outcome::Pass, verdict: Some(v), ..Default::default() };
    let run_dir = tempfile::tempdir().unwrap();
    let delivered = outputs::deliver(
        &out,
        &outputs::Delivered {
            run_id: RUN_ID,
            run_dir: run_dir.path(),
            test: "checkout",
            environment: "staging",
            deployment_version: "unknown",
            started_ns: 0,
            finished_ns: 1,
            judged: &judged,
            notifications: None,
            cardinality: None,
            caveat: Some(CAVEAT),
        },
    );
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert_eq!(delivered[0].problem, None, "{delivered:?}");

    // The request bodies, as GitHub received them: the summary starts with the plain sentence
    // and the notes repeat it; the PR comment carries it under its marker line.
    let requests = gh.requests();
    let check = requests.iter().find(|r| r.call() == format!("POST /repos/{REPO}/check-runs")).expect("check run");
    let summary = check.body.as_ref().unwrap()["output"]["summary"].as_str().unwrap().to_string();
    assert!(summary.starts_with(CAVEAT), "{summary}");
    assert_eq!(summary.matches(CAVEAT).count(), 2, "the first line and the verdict's note: {summary}");
    let comment =
        requests.iter().find(|r| r.call() == format!("POST /repos/{REPO}/issues/7/comments")).expect("comment");
    let body = comment.body.as_ref().unwrap()["body"].as_str().unwrap().to_string();
    assert!(body.starts_with(MARKER) && body.contains(&format!("\n\n{CAVEAT}\n\n")), "{body}");
}

#[test]
fn reporting_twice_on_a_pr_never_makes_a_second_comment() {
    // The fake keeps state the way GitHub would: after the first report, the check run and
    // the comment exist.
    let first = Report::from_verdict(&verdict(Case::Fail), links());
    let second = Report::from_verdict(&verdict(Case::Pass), links());
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(ok(body::check_runs(vec![])))
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1),
    );
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(ok(body::check_runs(vec![check_run(4, "failure")])))
            .with_priority(2)
            .expect(1),
    );
    mount_created(&gh, &first);
    gh.mount(update_check(&gh, 4, &second, &[]).respond_with(ok(check_run(4, "success"))).expect(1));
    gh.mount(
        gh.get(&comments_path(7), PAGE_1)
            .respond_with(ok(json!(other_comments())))
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1),
    );
    let mut after = other_comments();
    after.push(bot_comment(1030, &first.comment_body()));
    gh.mount(gh.get(&comments_path(7), PAGE_1).respond_with(ok(json!(after))).with_priority(2).expect(1));
    mount_new_comment(&gh, &first, 1030);
    mount_updated_comment(&gh, &second, 1030);

    let api = api(&gh);
    let ctx = context(&gh, Some(7));
    let one = publish(&api, &ctx, &first).unwrap();
    let two = publish(&api, &ctx, &second).unwrap();
    assert_eq!(one.posted, [Posted::CheckCreated { id: 4 }, Posted::CommentCreated { id: 1030 }]);
    assert_eq!(two.posted, [Posted::CheckUpdated { id: 4 }, Posted::CommentUpdated { id: 1030 }]);
    let posts = gh.calls().into_iter().filter(|c| c == &format!("POST /repos/{REPO}/issues/7/comments")).count();
    assert_eq!(posts, 1);
}

// ---------------------------------------------------------------------------------------
// The commit status fallback.

#[test]
fn forbidden_check_runs_fall_back_to_a_commit_status() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(create_check(&gh, &report).respond_with(forbidden(CHECKS_DOC)).expect(1));
    mount_status(&gh, &report, 1, "failure", "P95 +15.0 % over budget (checkout, staging)");
    // The token may still comment.
    mount_comments(&gh, vec![]);
    mount_new_comment(&gh, &report, 1040);

    let published = publish(&api(&gh), &context(&gh, Some(7)), &report).unwrap();
    assert_eq!(
        published.posted,
        [Posted::Status { context: STATUS_CONTEXT.into() }, Posted::CommentCreated { id: 1040 }]
    );
    assert_eq!(published.notes.len(), 1, "{:?}", published.notes);
    let note = &published.notes[0];
    assert!(note.contains("the token cannot write check runs"), "{note}");
    assert!(note.contains("HTTP 403"), "{note}");
    assert!(note.contains("checks: write"), "{note}");
    assert_eq!(
        gh.calls(),
        [
            format!("GET /repos/{REPO}/commits/{HEAD_SHA}/check-runs"),
            format!("POST /repos/{REPO}/check-runs"),
            format!("POST /repos/{REPO}/statuses/{HEAD_SHA}"),
            format!("GET /repos/{REPO}/issues/7/comments"),
            format!("POST /repos/{REPO}/issues/7/comments"),
        ]
    );
    assert_headers(&gh.requests());
}

#[test]
fn a_token_that_cannot_read_checks_falls_back_too_and_a_pass_is_success() {
    let report = Report::from_verdict(&verdict(Case::Pass), links());
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(forbidden("https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference"))
            .expect(1),
    );
    gh.mount(gh.request("POST", &check_runs_path()).respond_with(forbidden(CHECKS_DOC)).expect(0));
    mount_status(&gh, &report, 2, "success", "Passed: within SLAs and regression budgets (checkout, staging)");
    let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::Status { context: STATUS_CONTEXT.into() }]);
    assert!(published.notes[0].contains("cannot write check runs"), "{:?}", published.notes);
    assert_eq!(published.notes[1], "not a pull request event: no PR comment");
}

#[test]
fn a_warning_as_a_commit_status_is_success_and_its_description_fits_140_characters() {
    let long = format!("Warning: P95 [POST checkout — 決済] +15.0 % over budget and 11 more {}", "x".repeat(200));
    let report = Report {
        test: "checkout".into(),
        environment: "staging".into(),
        conclusion: Conclusion::Neutral,
        title: long.clone(),
        summary: "### ⚠️ warn".into(),
        annotations: vec![],
        links: Links::default(),
    };
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(gh.any_body("POST", &check_runs_path()).respond_with(forbidden(CHECKS_DOC)).expect(1));
    gh.mount(
        gh.any_body("POST", &status_path())
            .respond_with(created(body::commit_status(REPO, HEAD_SHA, 3, "success", STATUS_CONTEXT, "", None)))
            .expect(1),
    );
    publish(&api(&gh), &context(&gh, None), &report).unwrap();
    let requests = gh.requests();
    let sent = requests[2].body.clone().unwrap();
    let description = sent["description"].as_str().unwrap();
    assert!(description.chars().count() <= 140, "{} characters: {description}", description.chars().count());
    assert!(long.starts_with(description.trim_end_matches('…')), "{description}");
    // No links: no target_url at all (not null, not "").
    assert_eq!(
        sent,
        json!({ "state": "success", "description": description, "context": STATUS_CONTEXT }),
        "documented fields only"
    );
}

#[test]
fn when_the_status_is_refused_too_the_report_fails() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(gh.any_body("POST", &check_runs_path()).respond_with(forbidden(CHECKS_DOC)).expect(1));
    gh.mount(
        gh.any_body("POST", &status_path())
            .respond_with(forbidden("https://docs.github.com/rest/commits/statuses#create-a-commit-status"))
            .expect(1),
    );
    gh.mount(gh.request("GET", &comments_path(7)).respond_with(ok(json!([]))).expect(0));

    let e = publish(&api(&gh), &context(&gh, Some(7)), &report).unwrap_err();
    assert_eq!(e.status(), Some(403));
    assert_eq!(
        e.to_string(),
        format!("GitHub API POST /repos/{REPO}/statuses/{HEAD_SHA}: HTTP 403: Resource not accessible by integration")
    );
}

// ---------------------------------------------------------------------------------------
// Errors and retries.

#[test]
fn not_found_and_validation_failed_are_errors_and_not_retried() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());

    // The repository does not exist (or the token cannot see it).
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(not_found("https://docs.github.com/rest/checks/runs#list-check-runs-for-a-git-reference"))
            .expect(1),
    );
    let e = publish(&api(&gh), &context(&gh, None), &report).unwrap_err();
    assert_eq!(e.status(), Some(404));
    let text = e.to_string();
    assert!(
        text.starts_with(&format!("GitHub API GET /repos/{REPO}/commits/{HEAD_SHA}/check-runs?check_name=")),
        "{text}"
    );
    assert!(text.ends_with(": HTTP 404: Not Found"), "{text}");
    assert_eq!(gh.requests().len(), 1);

    // The API refuses the body.
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(
        create_check(&gh, &report)
            .respond_with(json_response(422, body::validation_failed("CheckRun", "head_sha", "invalid", CHECKS_DOC)))
            .expect(1),
    );
    let e = publish(&api(&gh), &context(&gh, None), &report).unwrap_err();
    assert_eq!(e.status(), Some(422));
    assert_eq!(e.to_string(), format!("GitHub API POST /repos/{REPO}/check-runs: HTTP 422: Validation Failed"));
    assert!(matches!(&e, ApiError::Status { method: "POST", attempts: 1, .. }), "{e:?}");
    assert_eq!(
        gh.calls(),
        [format!("GET /repos/{REPO}/commits/{HEAD_SHA}/check-runs"), format!("POST /repos/{REPO}/check-runs")]
    );
}

#[test]
fn server_errors_are_retried_until_the_api_answers() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    let path = check_runs_path();
    let want = check_body(&report, Some(HEAD_SHA), &report.annotations);
    gh.mount(gh.post(&path, &want).respond_with(bad_gateway()).up_to_n_times(2).with_priority(1).expect(2));
    gh.mount(gh.post(&path, &want).respond_with(created(check_run(4, "failure"))).with_priority(2).expect(1));
    let published = publish(&api_with(&gh, 3, Duration::from_secs(5)), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckCreated { id: 4 }]);
    let requests = gh.requests();
    assert_eq!(requests.len(), 4);
    assert!(requests[1..].iter().all(|r| r.call() == format!("POST {path}") && r.body.as_ref() == Some(&want)));
    assert_headers(&requests);
}

#[test]
fn rate_limiting_is_retried_after_what_retry_after_asks() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let gh = FakeGithub::start(TOKEN);
    let limited = error(429, "API rate limit exceeded", "https://docs.github.com/rest/rate-limit")
        .insert_header("retry-after", "0");
    gh.mount(gh.get(&list_path(), LIST_QUERY).respond_with(limited).up_to_n_times(1).with_priority(1).expect(1));
    gh.mount(gh.get(&list_path(), LIST_QUERY).respond_with(ok(body::check_runs(vec![]))).with_priority(2).expect(1));
    mount_created(&gh, &report);
    let published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_eq!(published.posted, [Posted::CheckCreated { id: 4 }]);
    assert_eq!(gh.requests().len(), 3);
}

#[test]
fn an_api_that_stays_unavailable_fails_after_every_attempt() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    for attempts in [1, 3] {
        let gh = FakeGithub::start(TOKEN);
        gh.mount(gh.get(&list_path(), LIST_QUERY).respond_with(unavailable()).expect(u64::from(attempts)));
        let e = publish(&api_with(&gh, attempts, Duration::from_secs(5)), &context(&gh, None), &report).unwrap_err();
        assert_eq!(e.status(), Some(503));
        let text = e.to_string();
        assert!(text.contains(": HTTP 503: Service Unavailable"), "{text}");
        if attempts > 1 {
            assert!(text.ends_with(&format!(" (after {attempts} attempts)")), "{text}");
        } else {
            assert!(!text.contains("attempts"), "{text}");
        }
        assert_eq!(gh.requests().len(), attempts as usize);
    }
}

#[test]
fn slow_answers_time_out_after_bounded_attempts() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(ok(body::check_runs(vec![])).set_delay(Duration::from_secs(2)))
            .expect(2),
    );
    let started = Instant::now();
    let e = publish(&api_with(&gh, 2, Duration::from_millis(300)), &context(&gh, None), &report).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(matches!(&e, ApiError::Transport { method: "GET", attempts: 2, .. }), "{e:?}");
    assert_eq!(e.status(), None);
    let text = e.to_string();
    assert!(text.contains("no response within 0.3 s"), "{text}");
    assert!(text.ends_with("(after 2 attempts)"), "{text}");

    // Slow but inside the timeout is fine.
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(ok(body::check_runs(vec![])).set_delay(Duration::from_millis(200)))
            .expect(1),
    );
    mount_created(&gh, &report);
    publish(&api_with(&gh, 2, Duration::from_secs(3)), &context(&gh, None), &report).unwrap();
}

// ---------------------------------------------------------------------------------------
// The token.

#[test]
fn the_token_never_shows_in_errors_or_notes() {
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let check_runs = check_runs_path();

    // An answer that echoes the token, as JSON.
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(
        gh.any_body("POST", &check_runs)
            .respond_with(error(422, &format!("token {TOKEN} is not valid for this head_sha"), CHECKS_DOC))
            .expect(1),
    );
    let e = publish(&api(&gh), &context(&gh, None), &report).unwrap_err();
    assert_no_token("422 Display", &e.to_string());
    assert_no_token("422 Debug", &format!("{e:?}"));
    assert!(e.to_string().contains("token *** is not valid"), "{e}");

    // As plain text from a proxy, on a retried status.
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(
                wiremock::ResponseTemplate::new(500)
                    .set_body_string(format!("proxy error; Authorization: Bearer {TOKEN}")),
            )
            .expect(2),
    );
    let e = publish(&api_with(&gh, 2, Duration::from_secs(5)), &context(&gh, None), &report).unwrap_err();
    assert_no_token("500 Display", &e.to_string());
    assert_no_token("500 Debug", &format!("{e:?}"));

    // In a 403 that leads to the fallback: the note quotes the error.
    let gh = FakeGithub::start(TOKEN);
    mount_list(&gh, vec![]);
    gh.mount(
        gh.any_body("POST", &check_runs)
            .respond_with(error(403, &format!("{TOKEN} lacks checks:write"), CHECKS_DOC))
            .expect(1),
    );
    gh.mount(
        gh.any_body("POST", &status_path())
            .respond_with(created(body::commit_status(REPO, HEAD_SHA, 1, "failure", STATUS_CONTEXT, "", None)))
            .expect(1),
    );
    let published: Published = publish(&api(&gh), &context(&gh, None), &report).unwrap();
    assert_no_token("notes", &format!("{:?}", published.notes));
    assert_no_token("Published", &format!("{published:?}"));

    // The client and the context themselves.
    let ctx = context(&gh, Some(7));
    assert_no_token("Api Debug", &format!("{:?}", api(&gh)));
    assert_no_token("Context Debug", &format!("{ctx:?}"));
    assert_no_token("ApiConfig Debug", &format!("{:?}", ApiConfig::new(gh.api_url(), Token::new(TOKEN))));
}

#[test]
fn the_token_never_shows_in_a_cut_error_body() {
    // A non-JSON answer is quoted up to 200 characters; the cut must not expose the
    // beginning of a token that straddles it.
    let report = Report::from_verdict(&verdict(Case::Fail), links());
    let gh = FakeGithub::start(TOKEN);
    let text = format!("{}{TOKEN} upstream refused", "-".repeat(184));
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(wiremock::ResponseTemplate::new(400).set_body_string(text))
            .expect(1),
    );
    let e = publish(&api(&gh), &context(&gh, None), &report).unwrap_err();
    assert_eq!(e.status(), Some(400));
    assert_no_token("cut 400 Display", &e.to_string());
}

// ---------------------------------------------------------------------------------------
// The command, end to end, as a GitHub Actions step on GitHub Enterprise.

struct Job {
    /// The checkout: `policies/` and the verdict.
    root: tempfile::TempDir,
    verdict: PathBuf,
    event: PathBuf,
    summary: PathBuf,
}

impl Job {
    fn new(case: Case) -> Job {
        let root = checkout();
        let v = evaluate_in(root.path(), case);
        let verdict = root.path().join("verdict.json");
        std::fs::write(&verdict, serde_json::to_string_pretty(&v).unwrap()).unwrap();
        let event = root.path().join("event.json");
        let payload = json!({
            "action": "synchronize",
            "number": 7,
            "pull_request": {
                "number": 7,
                "state": "open",
                "head": { "ref": "faster-checkout", "sha": HEAD_SHA },
                "base": { "ref": "main", "sha": "0000000000000000000000000000000000000000" },
            },
            "repository": { "full_name": REPO, "default_branch": "main" },
        });
        std::fs::write(&event, payload.to_string()).unwrap();
        let summary = root.path().join("step_summary.md");
        std::fs::write(&summary, "").unwrap();
        Job { root, verdict, event, summary }
    }

    /// Runs the command against `gh`; it must exit with `code`. Its stdout and stderr.
    fn run(&self, gh: &FakeGithub, code: i32) -> (String, String) {
        let out = K6gate::new()
            .args(["report", "github", "--verdict"])
            .arg(&self.verdict)
            .args(["--run-id", RUN_ID])
            .env_clear()
            .env("GITHUB_ACTIONS", "true")
            .env("GITHUB_API_URL", gh.api_url())
            .env("GITHUB_SERVER_URL", "https://github.com")
            .env("GITHUB_REPOSITORY", REPO)
            .env("GITHUB_SHA", MERGE_SHA)
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_EVENT_PATH", &self.event)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_WORKSPACE", self.root.path())
            .env("K6GATE_GITHUB_TIMEOUT", "1")
            .env("K6GATE_GITHUB_ATTEMPTS", "2")
            .current_dir(self.root.path())
            .status(code);
        (out.stdout(), out.stderr())
    }
}

/// The report the command must send: the same verdict with repo-relative paths.
fn expected_report(case: Case) -> Report {
    Report::from_verdict(&verdict(case), links())
}

fn mount_cli_happy_path(gh: &FakeGithub, report: &Report) {
    mount_new_check(gh, report);
    mount_comments(gh, other_comments());
    mount_new_comment(gh, report, 1050);
}

#[test]
fn the_command_reports_a_failing_verdict_on_the_pr_head_and_exits_1() {
    let job = Job::new(Case::Fail);
    let report = expected_report(Case::Fail);
    let gh = FakeGithub::start_enterprise(TOKEN);
    mount_cli_happy_path(&gh, &report);

    let (stdout, stderr) = job.run(&gh, 1);
    let message = budget_result(&verdict(Case::Fail)).message.replace('%', "%25");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [format!(
            "::error file=policies/data/budgets.yaml,line={BUDGETS_LINE},title=k6gate fail%3A budget/all/p95_ms::{message}"
        )]
    );
    assert!(stderr.contains(&format!("created check run 4 in {REPO} at {HEAD_SHA}")), "{stderr}");
    assert!(stderr.contains("commented on the pull request (comment 1050)"), "{stderr}");
    let summary = std::fs::read_to_string(&job.summary).unwrap();
    assert!(summary.starts_with("P95 +15.0 % over budget (checkout, staging)\n"), "{summary}");
    assert!(summary.contains(TABLE_HEADER), "{summary}");
    assert_no_token("stdout", &stdout);
    assert_no_token("stderr", &stderr);
    assert_no_token("job summary", &summary);

    // Everything under the Enterprise base path, on the PR's head commit (not GITHUB_SHA).
    let requests = gh.requests();
    assert_eq!(
        requests.iter().map(|r| format!("{} {}", r.method, r.raw_path)).collect::<Vec<_>>(),
        [
            format!("GET /api/v3/repos/{REPO}/commits/{HEAD_SHA}/check-runs"),
            format!("POST /api/v3/repos/{REPO}/check-runs"),
            format!("GET /api/v3/repos/{REPO}/issues/7/comments"),
            format!("POST /api/v3/repos/{REPO}/issues/7/comments"),
        ]
    );
    assert_headers(&requests);
    let check = requests[1].body.as_ref().unwrap();
    assert_eq!(check["head_sha"], HEAD_SHA);
    assert_eq!(check["details_url"], ACTIONS_RUN);
    assert_eq!(check["external_id"], RUN_ID);
    assert!(requests.iter().all(|r| !r.raw_body.contains(MERGE_SHA)));
}

#[test]
fn the_command_reports_a_pass_and_exits_0() {
    let job = Job::new(Case::Pass);
    let report = expected_report(Case::Pass);
    let gh = FakeGithub::start_enterprise(TOKEN);
    mount_cli_happy_path(&gh, &report);

    let (stdout, stderr) = job.run(&gh, 0);
    assert_eq!(stdout, "", "no workflow commands for a pass");
    let summary = std::fs::read_to_string(&job.summary).unwrap();
    assert!(summary.contains(TABLE_HEADER), "{summary}");
    assert_eq!(gh.requests().len(), 4);
    assert_no_token("stderr", &stderr);
}

#[test]
fn the_command_exits_2_when_the_verdict_cannot_be_reported() {
    let job = Job::new(Case::Fail);
    let gh = FakeGithub::start_enterprise(TOKEN);
    // Two attempts, both reaching the fake (a retry on a kept-alive connection once died
    // without reaching it, when octocrab's read timeout counted the idle time).
    gh.mount(
        gh.get(&list_path(), LIST_QUERY)
            .respond_with(error(500, &format!("Internal error for {TOKEN}"), "https://docs.github.com/rest"))
            .expect(2),
    );

    let started = Instant::now();
    let (stdout, stderr) = job.run(&gh, 2);
    assert!(stderr.contains("the verdict was NOT reported"), "{stderr}");
    assert!(
        stderr.contains(&format!("::error::GitHub: GitHub API GET /repos/{REPO}/commits/{HEAD_SHA}/check-runs?")),
        "{stderr}"
    );
    assert!(stderr.contains("(after 2 attempts)"), "{stderr}");
    assert!(stderr.contains("HTTP 500"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_no_token("stdout", &stdout);
    assert_no_token("stderr", &stderr);
    // Nothing but the failed lookup: no check run, status or comment was written.
    assert!(gh.requests().iter().all(|r| r.call() == format!("GET {}", list_path())), "{:?}", gh.calls());
}

// ---------------------------------------------------------------------------------------
// Kept-alive connections. octocrab's read timeout (`set_read_timeout`, no longer used) started
// counting while a kept-alive connection sat idle, so a request sent on a connection idle for
// about `timeout` failed at once with "connection error: timed out", before or without
// reaching the server. These tests leave a connection idle for well over the timeout and
// then expect an answer that arrives well within it: no outcome depends on which of two
// close durations ends first, so they pass or fail the same way on a loaded machine.

#[test]
fn a_retry_after_a_backoff_longer_than_the_timeout_reaches_the_api() {
    // The first attempt gets a 503; the retry waits 800 ms, twice the 400 ms timeout, on a
    // kept-alive connection, and must be sent and answered at once.
    let gh = FakeGithub::start(TOKEN);
    let path = format!("/repos/{REPO}/check-runs/4");
    gh.mount(gh.get(&path, &[]).respond_with(unavailable()).up_to_n_times(1).with_priority(1).expect(1));
    gh.mount(gh.get(&path, &[]).respond_with(ok(check_run(4, "success"))).with_priority(2).expect(1));
    let api = Api::new(ApiConfig {
        timeout: Duration::from_millis(400),
        attempts: 2,
        backoff: Duration::from_millis(800),
        ..ApiConfig::new(gh.api_url(), Token::new(TOKEN))
    })
    .unwrap();
    let v = api.get(&path).unwrap();
    assert_eq!(v["id"], 4);
}

#[test]
fn a_call_after_an_idle_gap_gets_the_whole_timeout() {
    let gh = FakeGithub::start(TOKEN);
    let path = format!("/repos/{REPO}/check-runs/4");
    let run = check_run(4, "success");
    gh.mount(gh.get(&path, &[]).respond_with(ok(run)).expect(2));
    // One attempt each: a failure cannot hide behind a retry.
    let api = api_with(&gh, 1, Duration::from_millis(500));
    api.get(&path).unwrap();
    // Idle for longer than the whole timeout.
    std::thread::sleep(Duration::from_millis(700));
    api.get(&path).unwrap();
}
