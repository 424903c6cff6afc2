//! The SLA editor of `k6gate serve` over real HTTP, fast tier: on the trends fixture's store
//! (seven runs of checkout in ci judged by the gate, real k6 summaries), a change is checked
//! with the gate's loader and Rego, its effect on the last runs is shown, and the pull request
//! goes to the fake GitHub (`tests/support/fake_github.rs`, which matches only the documented
//! requests of the git data and pulls APIs).

use std::collections::BTreeMap;

use k6gate::github::api::{ApiConfig, Token};
use k6gate::history::{HistoryConfig, Store};
use k6gate::serve::{Config, GithubTarget};
use serde_json::{Value, json};

use crate::serve::{config, csrf, html, request, start, unescape};
use crate::serve_trends::trends;
use crate::support::fake_github::{FakeGithub, body, created, ok};

const TOKEN: &str = "ghs_sla-editor-token";
const REPO: &str = "acme/shop";
const HEAD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BASE_TREE: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TREE: &str = "cccccccccccccccccccccccccccccccccccccccc";
const COMMIT: &str = "dddddddddddddddddddddddddddddddddddddddd";

/// A server on the trends store, with a GitHub target when `gh` is given.
fn server(gh: Option<&FakeGithub>) -> std::net::SocketAddr {
    let f = trends();
    let store = Store::open(&HistoryConfig::local(f.dir.path())).unwrap();
    let github = gh.map(|gh| {
        let mut api = ApiConfig::new(gh.api_url(), Token::new(TOKEN));
        api.attempts = 1;
        GithubTarget {
            api,
            repo: REPO.into(),
            base: "main".into(),
            policies_path: "policies".into(),
            waivers_path: "waivers".into(),
        }
    });
    start(store, Config { policies: Some(f.policies.clone()), github, ..config(BTreeMap::new()) })
}

fn post(addr: std::net::SocketAddr, path: &str, form: &str) -> crate::serve::Answer {
    request(addr, "POST", path, &[("Content-Type", "application/x-www-form-urlencoded")], form)
}

/// The steady-state P95 of each version's runs, as the trend page shows them (one run each
/// except v1.0.2): a limit between the fast and the slow runs.
fn limit_between_fast_and_slow(addr: std::net::SocketAddr) -> f64 {
    let page = request(addr, "GET", "/trends?test=checkout&env=ci&metric=p95", &[], "");
    let value = |v: &str| -> f64 {
        let at = page.body.find(&format!("data-version=\"{v}\" data-value=\"")).unwrap();
        page.body[at..].split("data-value=\"").nth(1).unwrap().split('"').next().unwrap().parse().unwrap()
    };
    let fast = ["v1.0.0", "v1.0.1", "v1.1.2"].map(value).into_iter().fold(0.0, f64::max);
    let slow = ["v1.1.0", "v1.1.1"].map(value).into_iter().fold(f64::MAX, f64::min);
    assert!(fast < slow, "the slow runs are slower: {fast} vs {slow}");
    ((fast + slow) / 2.0).round()
}

#[test]
fn the_editor_shows_the_entry_in_force() {
    let addr = server(None);
    let page = request(addr, "GET", "/slas/edit?test=checkout&env=ci", &[], "");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("id=\"s-p95_ms\" value=\"450\""), "the entry's limit fills the form");
    assert!(page.body.contains("p95_ms 450 ms (sla.tests[0] at "), "{}", page.body);
    assert!(page.body.contains("error_rate 1.00 % (sla.defaults at "));
    assert_eq!(request(addr, "GET", "/slas/edit?test=checkout&owner=me", &[], "").status, 400);
}

#[test]
fn a_preview_rejudges_the_last_runs_under_the_proposed_sla() {
    let addr = server(None);
    let limit = limit_between_fast_and_slow(addr);
    let token = csrf(&request(addr, "GET", "/slas/edit?test=checkout&env=ci", &[], "").body);

    // Without the token: refused before anything is read.
    let a = post(addr, "/slas/preview", &format!("test=checkout&env=ci&p95_ms={limit}"));
    assert_eq!(a.status, 403);

    let a = post(addr, "/slas/preview", &format!("csrf={token}&test=checkout&env=ci&p95_ms={limit}&runs=20"));
    assert_eq!(a.status, 200, "{}", a.body);
    // Seven decided runs (the errored one is not judged); the two slow ones fail the new limit,
    // none fails the current 450 ms.
    assert!(
        a.body.contains("data-runs=\"7\" data-fail-now=\"0\" data-fail-proposed=\"2\""),
        "{}",
        a.body.split("id=\"effect\"").nth(1).unwrap_or("").chars().take(300).collect::<String>()
    );
    assert!(
        a.body.contains(
            "Under this SLA, 2 of the last 7 runs would have failed its SLA checks (under the current one: 0)."
        )
    );
    let rows: Vec<&str> = a.body.split("<tr class=\"rejudged\"").skip(1).collect();
    assert_eq!(rows.len(), 7);
    let failing: Vec<&str> =
        rows.iter().filter(|r| r.contains("<span class=\"outcome fail\">fail</span></td><td>")).copied().collect();
    assert_eq!(failing.len(), 2);
    assert!(failing.iter().all(|r| r.contains("<td>v1.1.0</td>") || r.contains("<td>v1.1.1</td>")));
    // The file as it would be committed: loads with the policy loader, with the new limit.
    let text = unescape(a.body.split("<pre id=\"proposed-file\">").nth(1).unwrap().split("</pre>").next().unwrap());
    assert!(text.starts_with("# Service-level objectives"), "the leading comments are kept");
    assert!(text.contains(&format!("      environment: \"ci\"\n      p95_ms: {limit}\n")), "{text}");
    let dir = tempfile::tempdir().unwrap();
    for e in std::fs::read_dir(trends().policies.join("data")).unwrap().map(Result::unwrap) {
        std::fs::copy(e.path(), dir.path().join(e.file_name())).unwrap();
    }
    std::fs::write(dir.path().join("slas.yaml"), &text).unwrap();
    let data = k6gate::policy::data::load(dir.path()).unwrap();
    assert!(data.sla_tests.iter().any(|s| s.entry.test == "checkout" && s.entry.p95_ms == Some(limit)));
    // Read-only: no PR button, and the page says why.
    assert!(!a.body.contains("id=\"s-propose\""));
    assert!(a.body.contains("Read-only: no GitHub repository and token"));
    assert_eq!(post(addr, "/slas/propose", &format!("csrf={token}&test=checkout&env=ci&p95_ms={limit}")).status, 403);
}

#[test]
fn malformed_or_invalid_changes_are_4xx_pages() {
    let addr = server(None);
    let token = csrf(&request(addr, "GET", "/slas/edit", &[], "").body);
    for (form, status, needle) in [
        ("test=checkout&p95_ms=fast", 400, "p95_ms=&quot;fast&quot; is not a number"),
        ("test=checkout&error_rate=5", 400, "a fraction above 0 and at most 1"),
        ("test=..&p95_ms=1", 400, "a test name"),
        ("test=checkout&env=ci&runs=0", 400, "runs=&quot;0&quot;"),
        ("test=checkout&admin=1", 400, "unknown field &quot;admin&quot;"),
        ("test=newtest", 400, "give at least one limit"),
    ] {
        let a = post(addr, "/slas/preview", &format!("csrf={token}&{form}"));
        assert_eq!(a.status, status, "{form}: {}", a.body);
        assert!(a.body.contains(needle), "{form}: {}", a.body);
    }
    assert_eq!(post(addr, "/slas/preview", &format!("csrf={token}&%%%")).status, 400);
}

#[test]
fn a_change_becomes_a_pull_request_through_the_git_data_api() {
    let gh = FakeGithub::start(TOKEN);
    gh.mount(
        gh.get(&format!("/repos/{REPO}/git/ref/heads/main"), &[])
            .respond_with(ok(body::git_ref(REPO, "refs/heads/main", HEAD)))
            .expect(1),
    );
    gh.mount(
        gh.get(&format!("/repos/{REPO}/git/commits/{HEAD}"), &[])
            .respond_with(ok(body::git_commit(REPO, HEAD, BASE_TREE, &[], "main")))
            .expect(1),
    );
    gh.mount(
        gh.create_tree(REPO).respond_with(created(body::git_tree(REPO, TREE, &["policies/data/slas.yaml"]))).expect(1),
    );
    gh.mount(
        gh.create_commit(REPO).respond_with(created(body::git_commit(REPO, COMMIT, TREE, &[HEAD], "SLA"))).expect(1),
    );
    gh.mount(gh.create_ref(REPO).respond_with(created(body::git_ref(REPO, "refs/heads/k6gate/sla", COMMIT))).expect(1));
    gh.mount(
        gh.create_pull(REPO)
            .respond_with(created(body::pull_request(
                REPO,
                42,
                "SLA",
                "k6gate/sla",
                "main",
                body::user("k6gate-bot", 7, "Bot"),
            )))
            .expect(1),
    );
    let addr = server(Some(&gh));
    let limit = limit_between_fast_and_slow(addr);
    let token = csrf(&request(addr, "GET", "/slas/edit?test=checkout&env=ci", &[], "").body);
    let form = format!("csrf={token}&test=checkout&env=ci&p95_ms={limit}&runs=20");
    let preview = post(addr, "/slas/preview", &form);
    assert!(preview.body.contains("id=\"s-propose\""), "the PR button, with a GitHub target");
    assert!(gh.requests().is_empty(), "a preview calls nothing");

    let a = post(addr, "/slas/propose", &form);
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(
        a.body.contains(&format!(
            "<a href=\"{}\" id=\"pr-link\">#42</a>",
            html(&format!("https://github.com/{REPO}/pull/42"))
        )),
        "{}",
        a.body
    );
    gh.verify();
    let reqs = gh.requests();
    let calls: Vec<String> = reqs.iter().map(|r| r.call()).collect();
    assert_eq!(
        calls,
        [
            format!("GET /repos/{REPO}/git/ref/heads/main"),
            format!("GET /repos/{REPO}/git/commits/{HEAD}"),
            format!("POST /repos/{REPO}/git/trees"),
            format!("POST /repos/{REPO}/git/commits"),
            format!("POST /repos/{REPO}/git/refs"),
            format!("POST /repos/{REPO}/pulls"),
        ]
    );
    for r in &reqs {
        r.assert_github_headers(TOKEN);
    }
    let body_of = |i: usize| -> &Value { reqs[i].body.as_ref().unwrap() };
    // The tree: the one file, on the base's tree, with the previewed content.
    let previewed =
        unescape(preview.body.split("<pre id=\"proposed-file\">").nth(1).unwrap().split("</pre>").next().unwrap());
    assert_eq!(
        body_of(2),
        &json!({ "base_tree": BASE_TREE, "tree": [{ "path": "policies/data/slas.yaml", "mode": "100644", "type": "blob", "content": previewed }] })
    );
    assert_eq!(body_of(3)["tree"], TREE);
    assert_eq!(body_of(3)["parents"], json!([HEAD]));
    let branch = body_of(4)["ref"].as_str().unwrap().strip_prefix("refs/heads/").unwrap().to_string();
    assert!(branch.starts_with("k6gate/sla-checkout-ci-"), "{branch}");
    assert_eq!(body_of(4)["sha"], COMMIT);
    let pr = body_of(5);
    assert_eq!((pr["head"].as_str(), pr["base"].as_str()), (Some(branch.as_str()), Some("main")));
    assert_eq!(pr["title"], format!("SLA checkout in ci: p95_ms {limit} ms"));
    assert!(pr["body"].as_str().unwrap().contains("Under this SLA, 2 of the last 7 runs would have failed"));
    assert!(a.body.contains(&html(&branch)));
}

#[test]
fn a_github_failure_is_a_502_page_that_names_the_call() {
    let gh = FakeGithub::start(TOKEN);
    // No mock: GitHub answers 404 to the first call.
    let addr = server(Some(&gh));
    let token = csrf(&request(addr, "GET", "/slas/edit", &[], "").body);
    let a = post(addr, "/slas/propose", &format!("csrf={token}&test=checkout&env=ci&p95_ms=300"));
    assert_eq!(a.status, 502, "{}", a.body);
    assert!(a.body.contains(&html(&format!("GET /repos/{REPO}/git/ref/heads/main"))), "{}", a.body);
    assert!(!a.body.contains(TOKEN));
}

#[test]
fn without_policy_data_there_is_nothing_to_edit() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let addr = start(store, config(BTreeMap::new()));
    let token = csrf(&request(addr, "GET", "/slas/edit", &[], "").body);
    let a = post(addr, "/slas/preview", &format!("csrf={token}&test=checkout&p95_ms=300"));
    assert_eq!(a.status, 403);
    assert!(a.body.contains("without policy data"));
}

#[test]
fn a_github_repository_needs_a_token_and_a_plain_name() {
    use crate::support::cli::K6gate;
    K6gate::new()
        .env_remove("GITHUB_TOKEN")
        .args(["serve", "--listen", "127.0.0.1:0", "--github-repo", "acme/shop"])
        .status(2)
        .stderr_contains("--github-repo needs a token in GITHUB_TOKEN");
    K6gate::new()
        .env("GITHUB_TOKEN", TOKEN)
        .args(["serve", "--listen", "127.0.0.1:0", "--github-repo", "acme"])
        .status(2)
        .stderr_contains("--github-repo \"acme\": expected OWNER/NAME")
        .stderr_lacks(TOKEN);
}

/// The fake's answers to one PR through the git data API (any branch and content).
fn mount_pr(gh: &FakeGithub, number: u64) {
    gh.mount(gh.get(&format!("/repos/{REPO}/git/ref/heads/main"), &[]).respond_with(ok(body::git_ref(
        REPO,
        "refs/heads/main",
        HEAD,
    ))));
    gh.mount(gh.get(&format!("/repos/{REPO}/git/commits/{HEAD}"), &[]).respond_with(ok(body::git_commit(
        REPO,
        HEAD,
        BASE_TREE,
        &[],
        "main",
    ))));
    gh.mount(gh.create_tree(REPO).respond_with(created(body::git_tree(REPO, TREE, &["policies/data/retention.yaml"]))));
    gh.mount(gh.create_commit(REPO).respond_with(created(body::git_commit(REPO, COMMIT, TREE, &[HEAD], "change"))));
    gh.mount(gh.create_ref(REPO).respond_with(created(body::git_ref(REPO, "refs/heads/k6gate/x", COMMIT))));
    gh.mount(gh.create_pull(REPO).respond_with(created(body::pull_request(
        REPO,
        number,
        "change",
        "k6gate/x",
        "main",
        body::user("k6gate-bot", 7, "Bot"),
    ))));
}

#[test]
fn a_retention_class_change_is_a_pull_request_that_keeps_the_file_as_it_is() {
    let read_only = server(None);
    let page = request(read_only, "GET", "/policy?test=checkout", &[], "");
    assert!(!page.body.contains("retention-form"), "read-only: no retention form");
    let token = csrf(&request(read_only, "GET", "/slas/edit", &[], "").body);
    assert_eq!(
        post(read_only, "/retention/propose", &format!("csrf={token}&test=checkout&class=standard")).status,
        403
    );

    let gh = FakeGithub::start(TOKEN);
    mount_pr(&gh, 51);
    let addr = server(Some(&gh));
    let page = request(addr, "GET", "/policy?test=checkout", &[], "");
    assert!(page.body.contains("action=\"/retention/preview\""), "the policy page's form previews first");
    let token = csrf(&page.body);
    // The preview: the planner over checkout's stored runs (a year old) under critical (summaries
    // kept 5 years: nothing deleted) and under experimental (30 days: the unexempt ones go).
    let a = post(addr, "/retention/preview", &format!("csrf={token}&test=checkout&class=experimental"));
    assert_eq!(a.status, 200, "{}", a.body);
    let cell = |what: &str, i: usize| -> usize {
        let row = a.body.split(&format!("<tr data-what=\"{what}\">")).nth(1).unwrap().split("</tr>").next().unwrap();
        row.split("<td class=\"num\">").nth(i).unwrap().split('<').next().unwrap().parse().unwrap()
    };
    assert_eq!(cell("delete", 1), 0, "critical keeps summaries for 5 years");
    assert!(cell("delete", 2) > 0 && cell("kept", 2) > 0, "experimental deletes all but the exempt: {}", a.body);
    assert!(a.body.contains("stored runs of checkout"));
    assert!(
        a.body.contains("action=\"/retention/propose\"") && a.body.contains("name=\"class\" value=\"experimental\"")
    );
    assert_eq!(post(addr, "/retention/preview", "test=checkout&class=standard").status, 403, "no CSRF token");
    assert!(gh.requests().is_empty(), "a preview sends nothing to GitHub");
    assert_eq!(post(addr, "/retention/propose", "test=checkout&class=standard").status, 403, "no CSRF token");
    let a = post(addr, "/retention/propose", &format!("csrf={token}&test=checkout&class=nosuchclass"));
    assert_eq!(a.status, 422, "{}", a.body);
    assert!(a.body.contains("nosuchclass"), "the loader names the class: {}", a.body);
    assert!(gh.requests().is_empty(), "nothing sent for a change that does not load");

    let a = post(addr, "/retention/propose", &format!("csrf={token}&test=checkout&class=standard"));
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.body.contains("id=\"pr-link\">#51</a>"));
    let reqs = gh.requests();
    let tree = reqs.iter().find(|r| r.path.ends_with("/git/trees")).unwrap().body.as_ref().unwrap();
    assert_eq!(tree["tree"][0]["path"], "policies/data/retention.yaml");
    let original = std::fs::read_to_string(trends().policies.join("data/retention.yaml")).unwrap();
    assert_eq!(
        tree["tree"][0]["content"],
        original.replace("    checkout: critical\n", "    checkout: standard\n"),
        "one line changed"
    );
    let pr = reqs.iter().find(|r| r.path.ends_with("/pulls")).unwrap().body.as_ref().unwrap();
    assert_eq!(pr["title"], "Retention: checkout in class standard");
    assert!(pr["head"].as_str().unwrap().starts_with("k6gate/retention-checkout-"));
}
