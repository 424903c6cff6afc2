//! Waiver requests in `k6gate serve`, fast tier: the form, its checks, the PR that adds
//! `waivers/W-<n>.yaml` and requests the approver as reviewer (the fake GitHub matches only
//! documented requests), and the request's state page: the PR from the GitHub API, and what
//! the gate did with the waiver in the test's judged runs (real k6 summaries judged by `Gate`
//! with the waiver, trusted: honoured for its version, ignored with the Rego's reason for
//! another).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use k6gate::gate::{Gate, PolicySource};
use k6gate::github::api::{ApiConfig, Token};
use k6gate::github::approval::Mode;
use k6gate::history::{HistoryConfig, Store};
use k6gate::serve::{Config, GithubTarget};
use serde_json::json;

use crate::serve::{config, csrf, html, judged, request, start, unescape};
use crate::serve_trends::{policies, trends};
use crate::support::fake_github::{FakeGithub, body, created, error, ok};
use crate::support::fixtures::Set;

const TOKEN: &str = "ghs_waiver-request-token";
const REPO: &str = "acme/shop";
const HEAD: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const BASE_TREE: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const TREE: &str = "cccccccccccccccccccccccccccccccccccccccc";
const COMMIT: &str = "dddddddddddddddddddddddddddddddddddddddd";
const FORM: &str = "test=checkout&env=ci&metric=p95_ms&version=v1.1.0&justification=fraud+scoring+costs+12+ms+by+design&requested_by=alice&approver=bob&days=7";

fn target(gh: &FakeGithub) -> GithubTarget {
    let mut api = ApiConfig::new(gh.api_url(), Token::new(TOKEN));
    api.attempts = 1;
    GithubTarget {
        api,
        repo: REPO.into(),
        base: "main".into(),
        policies_path: "policies".into(),
        waivers_path: "waivers".into(),
    }
}

fn server(gh: Option<&FakeGithub>) -> SocketAddr {
    let f = trends();
    let store = Store::open(&HistoryConfig::local(f.dir.path())).unwrap();
    start(store, Config { policies: Some(f.policies.clone()), github: gh.map(target), ..config(BTreeMap::new()) })
}

fn post(addr: SocketAddr, path: &str, form: &str) -> crate::serve::Answer {
    request(addr, "POST", path, &[("Content-Type", "application/x-www-form-urlencoded")], form)
}

#[test]
fn the_form_is_checked_and_read_only_without_github() {
    let addr = server(None);
    let page = request(addr, "GET", "/waivers/new?test=checkout&version=v1.1.0", &[], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("id=\"w-version\" value=\"v1.1.0\""));
    assert!(!page.body.contains("id=\"w-submit\""), "read-only: no submit button");
    let token = csrf(&page.body);
    assert_eq!(post(addr, "/waivers/request", FORM).status, 403, "no CSRF token");
    assert_eq!(post(addr, "/waivers/request", &format!("csrf={token}&{FORM}")).status, 403, "read-only");
    for (from, to, needle) in [
        ("days=7", "days=45", "days=&quot;45&quot;: from 1 to 30"),
        ("approver=bob", "approver=alice", "never approves their own PR"),
        ("metric=p95_ms", "metric=speed", "metric=&quot;speed&quot;"),
        ("&env=ci", "&env=ci&extra=1", "unknown field &quot;extra&quot;"),
    ] {
        let a = post(addr, "/waivers/request", &format!("csrf={token}&{}", FORM.replace(from, to)));
        assert_eq!(a.status, 400, "{to}");
        assert!(a.body.contains(needle), "{to}: {}", a.body);
    }
    assert_eq!(request(addr, "GET", "/waivers/new?approver=x", &[], "").status, 400);
    assert_eq!(request(addr, "GET", "/waivers/requests/abc", &[], "").status, 404);
}

#[test]
fn a_request_is_a_pr_that_adds_the_waiver_file_and_asks_the_approver() {
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
    gh.mount(gh.create_tree(REPO).respond_with(created(body::git_tree(REPO, TREE, &["waivers/W-8.yaml"]))).expect(1));
    gh.mount(
        gh.create_commit(REPO).respond_with(created(body::git_commit(REPO, COMMIT, TREE, &[HEAD], "Waiver"))).expect(1),
    );
    gh.mount(
        gh.create_ref(REPO)
            .respond_with(created(body::git_ref(REPO, "refs/heads/k6gate/waiver-W-8", COMMIT)))
            .expect(1),
    );
    gh.mount(
        gh.create_pull(REPO)
            .respond_with(created(body::pull_request(
                REPO,
                43,
                "Waiver W-8",
                "k6gate/waiver-W-8",
                "main",
                body::user("alice", 5, "User"),
            )))
            .expect(1),
    );
    gh.mount(
        gh.request_reviewers(REPO, 43)
            .and(wiremock::matchers::body_json(json!({ "reviewers": ["bob"] })))
            .respond_with(created(body::pull_request(
                REPO,
                43,
                "Waiver W-8",
                "k6gate/waiver-W-8",
                "main",
                body::user("alice", 5, "User"),
            )))
            .expect(1),
    );
    let addr = server(Some(&gh));
    let token = csrf(&request(addr, "GET", "/waivers/new", &[], "").body);
    let a = post(addr, "/waivers/request", &format!("csrf={token}&{FORM}"));
    assert_eq!(a.status, 303, "{}", a.body);
    assert_eq!(a.header("location"), "/waivers/requests/43");
    gh.verify();
    let reqs = gh.requests();
    for r in &reqs {
        r.assert_github_headers(TOKEN);
    }
    // The file: the next id after the data's W-7, the form's fields, 7 days, in waivers/.
    let tree = reqs[2].body.as_ref().unwrap();
    assert_eq!(tree["tree"][0]["path"], "waivers/W-8.yaml");
    let text = tree["tree"][0]["content"].as_str().unwrap().to_string();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("W-8.yaml"), &text).unwrap();
    let data = k6gate::policy::data::load_dirs(&trends().policies.join("data"), Some(dir.path())).unwrap();
    let w = &data.waivers.iter().find(|w| w.entry.id == "W-8").expect("W-8 loads").entry;
    assert_eq!(
        (w.test.as_str(), w.environment.as_deref(), w.metric.as_str(), w.version.as_str()),
        ("checkout", Some("ci"), "p95_ms", "v1.1.0")
    );
    assert_eq!((w.requested_by.as_str(), w.approved_by.as_str()), ("alice", "bob"));
    assert_eq!(w.expires_ns - w.created_ns, 7 * 86_400 * 1_000_000_000);
    let pr = reqs[5].body.as_ref().unwrap();
    assert_eq!(pr["head"], "k6gate/waiver-W-8");
    assert!(pr["body"].as_str().unwrap().contains("@bob is asked to approve waiver W-8, requested by @alice"));
}

#[test]
fn the_state_page_shows_the_pr_and_what_the_gate_did() {
    // A store whose runs were judged with waiver W-7 (v1.1.1, p95_ms) in the policy data.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&HistoryConfig::local(dir.path())).unwrap();
    let base = Set::Small.ingest("policy-base-b.json");
    let slow = Set::Small.ingest("policy-slow.json");
    let pol = policies(dir.path(), "none");
    // The gate reads the version from the summary (k6's tags): the slow run is v1.1.0.
    // Valid when the runs were judged (2025-12-01).
    std::fs::write(
        pol.join("data/waivers.yaml"),
        "waivers:\n  - id: W-7\n    test: checkout\n    metric: p95_ms\n    version: v1.1.0\n    justification: known slow path\n    requested_by: alice\n    approved_by: bob\n    created: 2025-11-30T00:00:00Z\n    expires: 2025-12-07T00:00:00Z\n",
    )
    .unwrap();
    let gate = Gate::load(&PolicySource::new(&pol, Mode::Trust)).unwrap();
    let b = judged(&store, &gate, &base, None, "v1.0.1", 1);
    let honoured = judged(&store, &gate, &slow, Some((&base, &format!("run {b}"))), "v1.1.0", 2);

    let gh = FakeGithub::start(TOKEN);
    let mut pr =
        body::pull_request(REPO, 44, "Waiver W-7", "k6gate/waiver-W-7", "main", body::user("alice", 5, "User"));
    pr["state"] = json!("closed");
    pr["merged"] = json!(true);
    gh.mount(gh.get(&format!("/repos/{REPO}/pulls/44"), &[]).respond_with(ok(pr)));
    gh.mount(
        gh.get(&format!("/repos/{REPO}/pulls/44/reviews"), &[("per_page", "100"), ("page", "1")])
            .respond_with(ok(json!([body::review(REPO, 44, 1, body::user("bob", 6, "User"), "APPROVED", HEAD)]))),
    );
    gh.mount(gh.get(&format!("/repos/{REPO}/pulls/45"), &[]).respond_with(ok(body::pull_request(
        REPO,
        45,
        "feature",
        "feature-x",
        "main",
        body::user("carol", 8, "User"),
    ))));
    let addr = start(store, Config { policies: Some(pol), github: Some(target(&gh)), ..config(BTreeMap::new()) });

    let page = request(addr, "GET", "/waivers/requests/44", &[], "");
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("<dd id=\"pr-state\">merged</dd>"));
    assert!(page.body.contains("<dd id=\"pr-approved\">bob</dd>"));
    assert!(page.body.contains("<dd id=\"in-policy\">yes, "));
    let rows = page.body.split("<table id=\"gate-saw\">").nth(1).unwrap().split("</table>").next().unwrap();
    let row_of = |id: &str| rows.split("<tr class=").find(|r| r.contains(id)).map(unescape).unwrap_or_default();
    assert!(row_of(&honoured).starts_with("\"honoured\""), "{rows}");
    let ignored = row_of(&b);
    assert!(
        ignored.starts_with("\"ignored\"")
            && ignored.contains("waiver W-7 ignored: it covers version v1.1.0, this run is v1.0.1"),
        "{rows}"
    );
    // Not a request made here, and no such PR.
    assert_eq!(request(addr, "GET", "/waivers/requests/45", &[], "").status, 404);
    let a = request(addr, "GET", "/waivers/requests/46", &[], "");
    assert_eq!(a.status, 404, "{}", a.body);
    assert!(a.body.contains(&html("no pull request #46 on acme/shop")));
}

/// Two requests at once read the same policy data and both want W-8. GitHub creates the
/// branch `k6gate/waiver-W-8` for the first and answers the second with its documented 422
/// "Reference already exists"; the second takes W-9. Both PRs are opened, each with its own
/// file and number.
#[test]
fn concurrent_requests_take_distinct_numbers() {
    use wiremock::matchers::body_partial_json;
    let gh = FakeGithub::start(TOKEN);
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
    gh.mount(gh.create_tree(REPO).respond_with(created(body::git_tree(REPO, TREE, &["waivers/W-8.yaml"]))));
    gh.mount(gh.create_commit(REPO).respond_with(created(body::git_commit(REPO, COMMIT, TREE, &[HEAD], "Waiver"))));
    let branch = |n: u32| format!("k6gate/waiver-W-{n}");
    gh.mount(
        gh.create_ref(REPO)
            .and(body_partial_json(json!({ "ref": format!("refs/heads/{}", branch(8)) })))
            .respond_with(created(body::git_ref(REPO, &format!("refs/heads/{}", branch(8)), COMMIT)))
            .up_to_n_times(1)
            .with_priority(1)
            .expect(1),
    );
    gh.mount(
        gh.create_ref(REPO)
            .and(body_partial_json(json!({ "ref": format!("refs/heads/{}", branch(8)) })))
            .respond_with(error(
                422,
                "Reference already exists",
                "https://docs.github.com/rest/git/refs#create-a-reference",
            ))
            .with_priority(2)
            .expect(1),
    );
    gh.mount(
        gh.create_ref(REPO)
            .and(body_partial_json(json!({ "ref": format!("refs/heads/{}", branch(9)) })))
            .respond_with(created(body::git_ref(REPO, &format!("refs/heads/{}", branch(9)), COMMIT)))
            .expect(1),
    );
    for (n, number) in [(8, 43), (9, 44)] {
        let pr = body::pull_request(REPO, number, "Waiver", &branch(n), "main", body::user("alice", 5, "User"));
        gh.mount(
            gh.create_pull(REPO)
                .and(body_partial_json(json!({ "head": branch(n) })))
                .respond_with(created(pr.clone()))
                .expect(1),
        );
        gh.mount(gh.request_reviewers(REPO, number).respond_with(created(pr)).expect(1));
    }
    let addr = server(Some(&gh));
    let token = csrf(&request(addr, "GET", "/waivers/new", &[], "").body);
    let form = format!("csrf={token}&{FORM}");
    let answers: Vec<crate::serve::Answer> = std::thread::scope(|s| {
        let asks: Vec<_> = (0..2).map(|_| s.spawn(|| post(addr, "/waivers/request", &form))).collect();
        asks.into_iter().map(|a| a.join().unwrap()).collect()
    });
    let mut locations: Vec<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 303, "{}", a.body);
            a.header("location").to_string()
        })
        .collect();
    locations.sort();
    assert_eq!(locations, ["/waivers/requests/43", "/waivers/requests/44"]);
    gh.verify();
    // Three trees: W-8 twice (the second request's first try), W-9 once, each file its own id.
    let mut files: Vec<(String, bool)> = gh
        .requests()
        .iter()
        .filter(|r| r.call().ends_with("/git/trees"))
        .map(|r| {
            let entry = &r.body.as_ref().unwrap()["tree"][0];
            let path = entry["path"].as_str().unwrap().to_string();
            let id = path.trim_start_matches("waivers/").trim_end_matches(".yaml").to_string();
            let names_itself = entry["content"].as_str().unwrap().contains(&format!("id: {id}"));
            (path, names_itself)
        })
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            ("waivers/W-8.yaml".to_string(), true),
            ("waivers/W-8.yaml".to_string(), true),
            ("waivers/W-9.yaml".to_string(), true)
        ]
    );
}
