//! `k6gate run --report github` end to end: the real binary runs a short real k6 test
//! against the demo shop, as a GitHub Actions pull-request job would, and reports to a fake
//! GitHub (Enterprise-style `/api/v3` base path): the check run on the PR's head commit, the
//! PR comment with its marker, the job summary; and when GitHub refuses, the run exits 2 and
//! says the verdict was not reported.
//!
//! Each case is one k6 run of about 8 s (stages shortened with `--set`); the cases run in
//! parallel, each with its own demo shop, state directory and fake.

use crate::support::cli::{K6gate, Ran};
use crate::support::fake_github;

use std::path::PathBuf;

use serde_json::{Value, json};
use tempfile::TempDir;
use wiremock::ResponseTemplate;
use wiremock::matchers::query_param;

use fake_github::FakeGithub;
use fake_github::body;
use k6gate_shop::{TargetArgs, spawn};

const TOKEN: &str = "ghs_runReportT0kenNeverShown0123456789";
/// The PR's head commit: where the check run belongs.
const HEAD_SHA: &str = "6dcb09b5b57875f334f61aebed695e2e4193db5e";
/// The temporary merge commit Actions puts in `GITHUB_SHA` on pull-request events.
const MERGE_SHA: &str = "b4f2ad6c0b1e8c1f2a3d4e5f60718293a4b5c6d7";
const REPO: &str = "/api/v3/repos/acme/shop";
const CHECK_NAME: &str = "k6gate: checkout (dev)";
const MARKER: &str = "<!-- k6gate:comment test=checkout env=dev -->";
const TABLE_HEADER: &str =
    "| phase | group | metric | baseline | candidate | change | significance | budget / limit | result |";

use crate::support::root;

/// The start of what a pull request's run that measured the existing build says first.
const MEASURED_EXISTING: &str = "Measured the build already deployed to dev, not this pull request's";

/// The shared fake GitHub, Enterprise-style (`/api/v3`): `mount`, `received` and `verify` as on
/// any [`MockHttp`]; anything no mock expects is a request nobody expected.
fn fake_github() -> FakeGithub {
    let gh = FakeGithub::start_enterprise(TOKEN);
    gh.catch_all(ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })), "an unexpected request");
    gh
}

/// `verb p` (`p` as it arrives, under `/api/v3`) with the headers GitHub requires of every call.
fn api(gh: &FakeGithub, verb: &str, p: &str) -> wiremock::MockBuilder {
    gh.request(verb, p.strip_prefix("/api/v3").expect("an /api/v3 path"))
}

fn check_runs_list() -> String {
    format!("{REPO}/commits/{HEAD_SHA}/check-runs")
}

/// The files of one Actions job: workspace (cwd), event payload, job summary, k6gate state.
struct Job {
    work: TempDir,
    state: TempDir,
    event: PathBuf,
    summary: PathBuf,
}

impl Job {
    fn new() -> Job {
        let work = tempfile::tempdir().unwrap();
        let event = work.path().join("event.json");
        let payload = json!({
            "action": "synchronize",
            "number": 7,
            "pull_request": { "number": 7, "head": { "sha": HEAD_SHA, "ref": "faster-checkout" }, "base": { "ref": "main" } },
            "repository": { "full_name": "acme/shop", "default_branch": "main" },
        });
        std::fs::write(&event, serde_json::to_string_pretty(&payload).unwrap()).unwrap();
        let summary = work.path().join("step-summary.md");
        std::fs::write(&summary, "").unwrap();
        Job { work, state: tempfile::tempdir().unwrap(), event, summary }
    }

    /// `k6gate run --test checkout --env dev --report github` against the demo shop on `port`,
    /// a short run (1 s warm-up, ramp-up and ramp-down, 5 s sustained), which must exit with
    /// `code`.
    fn run(&self, port: u16, api_url: &str, code: i32) -> Ran {
        self.run_with(port, api_url, code, &[])
    }

    /// [`Job::run`] with `extra` arguments.
    fn run_with(&self, port: u16, api_url: &str, code: i32, extra: &[&str]) -> Ran {
        let mut cmd = K6gate::new()
            .current_dir(self.work.path())
            .args(["run", "--test", "checkout", "--env", "dev", "--deployment-version", "v1.0.0", "--commit", HEAD_SHA])
            .arg("--bootstrap")
            // These tests are about reporting; which policy binds on a PR is `policy_base`'s.
            .args(["--policy-from", "checkout"])
            // One k6 run per job: a confirmation re-run (on by default in Actions) would add a
            // second run to a report these tests read exactly.
            .args(["--confirm", "0"])
            .args(extra)
            .arg("--templates")
            .arg(root().join("k6-templates"))
            .arg("--environments")
            .arg(root().join("environments"))
            .arg("--policies")
            .arg(root().join("policies"))
            .arg("--state-dir")
            .arg(self.state.path())
            .args(["--set", &format!("base_url=http://127.0.0.1:{port}")])
            .args(["--set", "stages.warm_up=1s", "--set", "stages.ramp_up=1s"])
            .args(["--set", "stages.sustained=5s", "--set", "stages.ramp_down=1s"])
            .args(["--report", "github"]);
        // Nothing from the environment the tests run in: no K6GATE_APPROVAL, no Grafana,
        // no webhooks, no real GitHub context.
        for (k, _) in std::env::vars() {
            if k.starts_with("K6GATE_") || k.starts_with("GITHUB_") || k.starts_with("RUNNER_") {
                cmd = cmd.env_remove(&k);
            }
        }
        cmd.env("GITHUB_ACTIONS", "true")
            .env("GITHUB_EVENT_NAME", "pull_request")
            .env("GITHUB_API_URL", api_url)
            .env("GITHUB_SERVER_URL", "https://ghe.example")
            .env("GITHUB_REPOSITORY", "acme/shop")
            .env("GITHUB_SHA", MERGE_SHA)
            .env("GITHUB_HEAD_REF", "faster-checkout")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_EVENT_PATH", &self.event)
            .env("GITHUB_TOKEN", TOKEN)
            .env("GITHUB_STEP_SUMMARY", &self.summary)
            .env("GITHUB_WORKSPACE", root())
            .env("K6GATE_GITHUB_TIMEOUT", "2")
            .env("K6GATE_GITHUB_ATTEMPTS", "2")
            .status(code)
    }
}

/// `run <ID> recorded as <outcome>; files in <DIR>`: the id and outcome.
fn recorded(stderr: &str) -> (String, String) {
    let line = stderr.lines().find(|l| l.starts_with("run ") && l.contains(" recorded as ")).expect(stderr);
    let rest = line.strip_prefix("run ").unwrap();
    let (id, rest) = rest.split_once(" recorded as ").unwrap();
    (id.to_string(), rest.split(';').next().unwrap().to_string())
}

#[test]
#[ignore = "full tier: needs k6"]
fn run_reports_the_check_run_the_pr_comment_and_the_job_summary() {
    let gh = fake_github();
    let check_list = check_runs_list();
    gh.mount(
        api(&gh, "GET", &check_list)
            .and(query_param("check_name", CHECK_NAME))
            .and(query_param("filter", "latest"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "total_count": 0, "check_runs": [] })))
            .expect(1),
    );
    gh.mount(
        api(&gh, "POST", &format!("{REPO}/check-runs"))
            // The documented answer: the created check run.
            .respond_with(ResponseTemplate::new(201).set_body_json(body::check_run(
                "acme/shop",
                4001,
                CHECK_NAME,
                HEAD_SHA,
                Some("success"),
            )))
            .expect(1),
    );
    gh.mount(
        api(&gh, "GET", &format!("{REPO}/issues/7/comments"))
            .and(query_param("page", "1"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([body::issue_comment(
                "acme/shop",
                7,
                10,
                "Looks good to me",
                body::user("alice", 1, "User"),
            )])))
            .expect(1),
    );
    gh.mount(
        api(&gh, "POST", &format!("{REPO}/issues/7/comments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(body::issue_comment(
                "acme/shop",
                7,
                5001,
                "<!-- k6gate:comment test=checkout env=dev -->",
                body::actions_bot(),
            )))
            .expect(1),
    );

    let job = Job::new();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let started = std::time::Instant::now();
    let out = job.run(target.port(), &gh.api_url(), 0);
    let took = started.elapsed();
    target.stop().unwrap();
    let (stdout, stderr) = (out.stdout(), out.stderr());
    assert!(took.as_secs() < 30, "the run took {took:?}");
    gh.verify();

    let (run_id, outcome) = recorded(&stderr);
    // The first run has no baseline: SLAs only, with a warning.
    assert!(outcome == "pass" || outcome == "warn", "{outcome}");
    let expected_conclusion = if outcome == "pass" { "success" } else { "neutral" };

    let got = gh.received();
    let calls: Vec<String> = got.iter().map(|r| format!("{} {}", r.method, r.path)).collect();
    assert_eq!(
        calls,
        vec![
            format!("GET {check_list}"),
            format!("POST {REPO}/check-runs"),
            format!("GET {REPO}/issues/7/comments"),
            format!("POST {REPO}/issues/7/comments"),
        ],
        "requests, in order"
    );

    // The check run: on the PR's head commit (not the merge commit), completed, with the
    // conclusion the exit code stands for, the verdict's table and the run id.
    let check = &got[1].body;
    assert_eq!(check["head_sha"], HEAD_SHA, "{check:#}");
    assert_eq!(check["name"], CHECK_NAME);
    assert_eq!(check["status"], "completed");
    assert_eq!(check["conclusion"], expected_conclusion, "{check:#}");
    assert_eq!(check["external_id"], run_id.as_str());
    assert_eq!(check["details_url"], "https://ghe.example/acme/shop/actions/runs/4242");
    let check_summary = check["output"]["summary"].as_str().unwrap();
    assert!(check_summary.contains(TABLE_HEADER), "{check_summary}");
    // v1.0.0 was named: the build under review was deployed, nothing to warn about.
    assert!(!check_summary.contains(MEASURED_EXISTING), "{check_summary}");
    if outcome == "warn" {
        let title = check["output"]["title"].as_str().unwrap();
        assert!(title.starts_with("Warning: "), "{title}");
        assert!(check_summary.contains("no baseline yet"), "the warning says why: {check_summary}");
    }

    // The PR comment: new (the existing comment is someone else's), with the marker.
    let comment = got[3].body["body"].as_str().unwrap();
    assert!(comment.starts_with(MARKER), "{comment}");
    assert!(comment.contains(&format!("`{CHECK_NAME}`")) && comment.contains(TABLE_HEADER), "{comment}");
    assert!(comment.contains(&run_id), "{comment}");

    // The job summary holds the title and the table.
    let summary = std::fs::read_to_string(&job.summary).unwrap();
    assert!(summary.contains(TABLE_HEADER), "{summary}");
    assert!(summary.contains("checkout"), "{summary}");

    // Stderr says what was posted; the token never shows.
    assert!(
        stderr.contains("created check run 4001") && stderr.contains("commented on the pull request (comment 5001)"),
        "{stderr}"
    );
    assert!(!stdout.contains(TOKEN) && !stderr.contains(TOKEN) && !summary.contains(TOKEN));
    // The run's own files are there for the artifact.
    let run_dir = job.state.path().join("runs").join(&run_id);
    assert!(run_dir.join("verdict.json").is_file() && run_dir.join("report.html").is_file());
}

#[test]
#[ignore = "full tier: needs k6"]
fn run_exits_2_when_github_refuses_the_report() {
    let gh = fake_github();
    // The token may not touch check runs...
    gh.mount(
        api(&gh, "GET", &check_runs_list())
            .respond_with(
                ResponseTemplate::new(403)
                    .set_body_json(json!({ "message": "Resource not accessible by integration" })),
            )
            .expect(1),
    );
    gh.mount(
        api(&gh, "POST", &format!("{REPO}/check-runs"))
            .respond_with(
                ResponseTemplate::new(403)
                    .set_body_json(json!({ "message": "Resource not accessible by integration" })),
            )
            .expect(0..=1),
    );
    // ...and the commit status fallback keeps failing (retried once: two attempts).
    gh.mount(
        api(&gh, "POST", &format!("{REPO}/statuses/{HEAD_SHA}"))
            .respond_with(ResponseTemplate::new(500).set_body_json(json!({ "message": "Server Error" })))
            .expect(2),
    );
    // No comment is written once the verdict could not be reported on the commit.
    gh.mount(api(&gh, "GET", &format!("{REPO}/issues/7/comments")).respond_with(ResponseTemplate::new(200)).expect(0));
    gh.mount(api(&gh, "POST", &format!("{REPO}/issues/7/comments")).respond_with(ResponseTemplate::new(201)).expect(0));

    let job = Job::new();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    let out = job.run(target.port(), &gh.api_url(), 2);
    target.stop().unwrap();
    let (stdout, stderr) = (out.stdout(), out.stderr());
    gh.verify();

    // The verdict itself passed (or warned), but an unreported verdict is an error.
    let (_, outcome) = recorded(&stderr);
    assert!(outcome == "pass" || outcome == "warn", "{outcome}\n{stderr}");
    assert!(stderr.contains("the verdict was NOT reported"), "{stderr}");
    assert!(stderr.contains("HTTP 500") && stderr.contains("statuses"), "the failing request is named: {stderr}");
    assert!(!stderr.contains(TOKEN) && !stdout.contains(TOKEN));

    let statuses: Vec<Value> =
        gh.received().into_iter().filter(|r| r.path.contains("/statuses/")).map(|r| r.body).collect();
    assert_eq!(statuses.len(), 2);
    assert_eq!(statuses[0]["context"], "k6gate/checkout/dev");
    assert_eq!(statuses[0]["state"], "success", "the status it tried to post is the verdict's");
}

#[test]
#[ignore = "full tier: needs k6"]
fn a_pull_request_run_that_measured_the_existing_build_says_so_first() {
    let gh = fake_github();
    gh.mount(
        api(&gh, "GET", &check_runs_list())
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({ "total_count": 0, "check_runs": [] })))
            .expect(1),
    );
    gh.mount(
        api(&gh, "POST", &format!("{REPO}/check-runs"))
            .respond_with(ResponseTemplate::new(201).set_body_json(body::check_run(
                "acme/shop",
                4002,
                CHECK_NAME,
                HEAD_SHA,
                Some("success"),
            )))
            .expect(1),
    );
    gh.mount(
        api(&gh, "GET", &format!("{REPO}/issues/7/comments"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
            .expect(1),
    );
    gh.mount(
        api(&gh, "POST", &format!("{REPO}/issues/7/comments"))
            .respond_with(ResponseTemplate::new(201).set_body_json(body::issue_comment(
                "acme/shop",
                7,
                5002,
                MARKER,
                body::actions_bot(),
            )))
            .expect(1),
    );

    let job = Job::new();
    let target = spawn(&TargetArgs::try_from_args(["--db", ":memory:"]).unwrap()).unwrap();
    // No deploy step: the workflow says `--measured existing` (K6GATE_MEASURED).
    let out = job.run_with(target.port(), &gh.api_url(), 0, &["--measured", "existing"]);
    target.stop().unwrap();
    let stderr = out.stderr();
    gh.verify();

    let got = gh.received();
    let check = &got.iter().find(|r| r.method == "POST" && r.path.ends_with("/check-runs")).expect("check run").body;
    let check_summary = check["output"]["summary"].as_str().unwrap();
    assert!(check_summary.starts_with(MEASURED_EXISTING), "{check_summary}");
    assert!(check_summary.contains("no deploy step ran before the test"), "{check_summary}");
    let comment = got.iter().find(|r| r.method == "POST" && r.path.ends_with("/comments")).expect("comment");
    assert!(comment.body["body"].as_str().unwrap().contains(MEASURED_EXISTING), "{:#}", comment.body);
    // The verdict keeps it as its first note, and the log warns (`::warning::` in Actions).
    let (run_id, _) = recorded(&stderr);
    let verdict: Value = serde_json::from_str(
        &std::fs::read_to_string(job.state.path().join("runs").join(&run_id).join("verdict.json")).unwrap(),
    )
    .unwrap();
    assert!(verdict["notes"][0].as_str().unwrap().starts_with(MEASURED_EXISTING), "{:#}", verdict["notes"]);
    assert!(stderr.contains(MEASURED_EXISTING), "{stderr}");
}
