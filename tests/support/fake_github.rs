//! A fake GitHub REST API on wiremock, for the blocking clients in `k6gate::github`.
//!
//! Honest to <https://docs.github.com/en/rest> (API version 2022-11-28): every mock made
//! here only matches a request that carries what GitHub requires of every call
//! (`authorization: Bearer <token>`, `accept: application/vnd.github+json`,
//! `x-github-api-version: 2022-11-28`, a `user-agent`), plus `content-type:
//! application/json` and the exact JSON body on requests with a body, and exactly the given
//! query (nothing more). A request no mock matches gets wiremock's 404, which the client
//! sees as GitHub's "Not Found": a test never passes by accident.
//!
//! The client under test is blocking and runs its own tokio runtime: [`FakeGithub`] is a
//! [`MockHttp`] (`mock_http.rs`, which it derefs to for `mount`, `verify` and `uri`), whose
//! runtime is used only to set up wiremock; call the client outside of it. `.expect(n)` is
//! verified when the [`FakeGithub`] drops (or at once with [`MockHttp::verify`]).
//!
//! ```ignore
//! let gh = FakeGithub::start(TOKEN);
//! gh.mount(gh.get("/repos/acme/shop/pulls/7/reviews", &[("per_page", "100"), ("page", "1")])
//!     .respond_with(ok(json!([body::review("acme/shop", 7, 1, "bob", "APPROVED", SHA)])))
//!     .expect(1));
//! let api = Api::new(ApiConfig::new(gh.api_url(), Token::new(TOKEN)))?;
//! ```
//!
//! Response bodies in [`body`] have the documented shape (the fields k6gate or a reader
//! could plausibly look at, with realistic values).

use std::ops::Deref;

use serde_json::Value;
use wiremock::matchers::{body_json, header, header_exists, method, path};
use wiremock::{Match, Mock, MockBuilder, Request, ResponseTemplate};

pub use super::mock_http::MockHttp;

/// The media type GitHub recommends in `accept`.
pub const MEDIA_TYPE: &str = "application/vnd.github+json";
/// The REST API version every request must name.
pub const API_VERSION: &str = "2022-11-28";

/// A running fake.
pub struct FakeGithub {
    http: MockHttp,
    token: String,
    base_path: String,
}

impl Deref for FakeGithub {
    type Target = MockHttp;

    fn deref(&self) -> &MockHttp {
        &self.http
    }
}

impl FakeGithub {
    /// A fake at `http://127.0.0.1:PORT`, like `https://api.github.com`.
    pub fn start(token: &str) -> FakeGithub {
        FakeGithub::start_at(token, "")
    }

    /// A fake under `/api/v3`, like GitHub Enterprise Server (`https://HOST/api/v3`).
    pub fn start_enterprise(token: &str) -> FakeGithub {
        FakeGithub::start_at(token, "/api/v3")
    }

    fn start_at(token: &str, base_path: &str) -> FakeGithub {
        FakeGithub { http: MockHttp::start(), token: token.to_string(), base_path: base_path.to_string() }
    }

    /// What `GITHUB_API_URL` would be.
    pub fn api_url(&self) -> String {
        self.http.url(&self.base_path)
    }

    /// `p` (an API path such as `/repos/acme/shop/check-runs`) as it arrives at the server.
    pub fn path(&self, p: &str) -> String {
        format!("{}{p}", self.base_path)
    }

    /// A request to `p` with `verb` (any query, any body), carrying the headers GitHub requires.
    pub fn request(&self, verb: &str, p: &str) -> MockBuilder {
        Mock::given(method(verb))
            .and(path(self.path(p)))
            .and(header("authorization", format!("Bearer {}", self.token).as_str()))
            .and(header("accept", MEDIA_TYPE))
            .and(header("x-github-api-version", API_VERSION))
            .and(header_exists("user-agent"))
    }

    /// `GET p?query` (exactly these query parameters, decoded values, any order).
    pub fn get(&self, p: &str, query: &[(&str, &str)]) -> MockBuilder {
        self.request("GET", p).and(ExactQuery::of(query))
    }

    /// `POST p` with exactly this JSON body.
    pub fn post(&self, p: &str, body: &Value) -> MockBuilder {
        self.with_body("POST", p, body)
    }

    /// `PATCH p` with exactly this JSON body.
    pub fn patch(&self, p: &str, body: &Value) -> MockBuilder {
        self.with_body("PATCH", p, body)
    }

    /// `verb p` with no query and any body sent as `application/json` (for failure cases
    /// where the body is not the point; [`Recorded::body`] still shows it).
    pub fn any_body(&self, verb: &str, p: &str) -> MockBuilder {
        self.request(verb, p).and(ExactQuery::of(&[])).and(header("content-type", "application/json"))
    }

    /// "Create a deployment status" on deployment `id`: `POST /repos/{owner}/{repo}/deployments/
    /// {id}/statuses` whose body holds only the documented fields (`state`, one of `error`,
    /// `failure`, `inactive`, `in_progress`, `queued`, `pending`, `success`, is required;
    /// `description` at most 140 characters; `target_url`, `log_url`, `environment`,
    /// `environment_url`, `auto_inactive`), each of the documented type.
    pub fn deployment_status(&self, repo: &str, id: u64) -> MockBuilder {
        self.any_body("POST", &format!("/repos/{repo}/deployments/{id}/statuses")).and(DeploymentStatusBody)
    }

    /// "Create a tree": `POST /repos/{owner}/{repo}/git/trees` whose body has `tree` (each
    /// entry `path`, `mode` one of 100644/100755/040000/160000/120000, `type` blob/tree/commit,
    /// and `sha` or `content`) and optionally `base_tree`
    /// (<https://docs.github.com/en/rest/git/trees#create-a-tree>).
    pub fn create_tree(&self, repo: &str) -> MockBuilder {
        self.any_body("POST", &format!("/repos/{repo}/git/trees")).and(Documented::CreateTree)
    }

    /// "Create a commit": `message` and `tree` required; `parents`, `author`, `committer`,
    /// `signature` optional (<https://docs.github.com/en/rest/git/commits#create-a-commit>).
    pub fn create_commit(&self, repo: &str) -> MockBuilder {
        self.any_body("POST", &format!("/repos/{repo}/git/commits")).and(Documented::CreateCommit)
    }

    /// "Create a reference": `ref` (starting with `refs/`, at least two slashes) and `sha`
    /// (<https://docs.github.com/en/rest/git/refs#create-a-reference>).
    pub fn create_ref(&self, repo: &str) -> MockBuilder {
        self.any_body("POST", &format!("/repos/{repo}/git/refs")).and(Documented::CreateRef)
    }

    /// "Create a pull request": `head` and `base` required, `title` (or `issue`); `body`,
    /// `head_repo`, `maintainer_can_modify`, `draft` optional
    /// (<https://docs.github.com/en/rest/pulls/pulls#create-a-pull-request>).
    pub fn create_pull(&self, repo: &str) -> MockBuilder {
        self.any_body("POST", &format!("/repos/{repo}/pulls")).and(Documented::CreatePull)
    }

    /// "Request reviewers for a pull request": `reviewers` and/or `team_reviewers`, arrays of
    /// logins and team slugs
    /// (<https://docs.github.com/en/rest/pulls/review-requests#request-reviewers-for-a-pull-request>).
    pub fn request_reviewers(&self, repo: &str, number: u64) -> MockBuilder {
        self.any_body("POST", &format!("/repos/{repo}/pulls/{number}/requested_reviewers")).and(Documented::Reviewers)
    }

    fn with_body(&self, verb: &str, p: &str, body: &Value) -> MockBuilder {
        self.any_body(verb, p).and(body_json(body))
    }

    /// Every request received so far, in arrival order (unmatched ones included).
    pub fn requests(&self) -> Vec<Recorded> {
        self.http.requests().iter().map(|r| Recorded::of(r, &self.base_path)).collect()
    }

    /// `METHOD /path` of every request so far (base path removed, query dropped).
    pub fn calls(&self) -> Vec<String> {
        self.requests().iter().map(Recorded::call).collect()
    }
}

/// One request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    /// The API path, with the fake's base path (`/api/v3`) removed.
    pub path: String,
    /// The path exactly as it arrived.
    pub raw_path: String,
    /// Decoded query parameters, in order.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// The JSON body; `None` when the body is empty.
    pub body: Option<Value>,
    pub raw_body: String,
}

impl Recorded {
    fn of(r: &Request, base_path: &str) -> Recorded {
        let raw_path = r.url.path().to_string();
        let path = raw_path.strip_prefix(base_path).unwrap_or(&raw_path).to_string();
        Recorded {
            method: r.method.to_string(),
            path,
            raw_path,
            query: r.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect(),
            headers: r
                .headers
                .iter()
                .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
                .collect(),
            body: if r.body.is_empty() { None } else { serde_json::from_slice(&r.body).ok() },
            raw_body: String::from_utf8_lossy(&r.body).into_owned(),
        }
    }

    /// `METHOD /path`.
    pub fn call(&self) -> String {
        format!("{} {}", self.method, self.path)
    }

    /// Every value of header `name` (lowercase), in order.
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn query_value(&self, key: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    /// Panics unless the request carries exactly the headers GitHub requires (one value
    /// each), and a JSON content type exactly when it has a body.
    pub fn assert_github_headers(&self, token: &str) {
        let bearer = format!("Bearer {token}");
        let want = [("authorization", bearer.as_str()), ("accept", MEDIA_TYPE), ("x-github-api-version", API_VERSION)];
        for (name, value) in want {
            assert_eq!(self.header_values(name), [value], "{} header {name}", self.call());
        }
        let agents = self.header_values("user-agent");
        assert!(agents.len() == 1 && !agents[0].trim().is_empty(), "{}: user-agent {agents:?}", self.call());
        if self.raw_body.is_empty() {
            assert!(self.header_values("content-type").is_empty(), "{}: content-type without a body", self.call());
        } else {
            assert_eq!(self.header_values("content-type"), ["application/json"], "{}: content-type", self.call());
            assert!(self.body.is_some(), "{}: body is not JSON: {}", self.call(), self.raw_body);
        }
    }
}

/// Matches when the request's query holds exactly these parameters (decoded, any order).
pub struct ExactQuery(Vec<(String, String)>);

impl ExactQuery {
    pub fn of(query: &[(&str, &str)]) -> ExactQuery {
        let mut q: Vec<(String, String)> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        q.sort();
        ExactQuery(q)
    }
}

impl Match for ExactQuery {
    fn matches(&self, request: &Request) -> bool {
        let mut got: Vec<(String, String)> =
            request.url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        got.sort();
        got == self.0
    }
}

/// A body "Create a deployment status" accepts (REST API 2022-11-28).
pub struct DeploymentStatusBody;

/// Why GitHub would refuse `body` as a deployment status (422), if it would.
pub fn deployment_status_problems(body: &Value) -> Vec<String> {
    const STATES: [&str; 7] = ["error", "failure", "inactive", "in_progress", "queued", "pending", "success"];
    let Some(fields) = body.as_object() else { return vec![format!("body is not an object: {body}")] };
    let mut problems = Vec::new();
    match fields.get("state").and_then(Value::as_str) {
        Some(s) if STATES.contains(&s) => {}
        other => problems.push(format!("state {other:?} is not one of {STATES:?}")),
    }
    for (k, v) in fields {
        let ok = match k.as_str() {
            "state" => true,
            "description" => v.as_str().is_some_and(|d| d.chars().count() <= 140),
            "target_url" | "log_url" | "environment" | "environment_url" => v.is_string(),
            "auto_inactive" => v.is_boolean(),
            _ => false,
        };
        if !ok {
            problems.push(format!("field {k:?} is undocumented, of the wrong type or too long: {v}"));
        }
    }
    problems
}

impl Match for DeploymentStatusBody {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<Value>(&request.body).is_ok_and(|b| deployment_status_problems(&b).is_empty())
    }
}

/// The documented bodies of the git data and pull request calls (see the builders above).
#[derive(Debug, Clone, Copy)]
enum Documented {
    CreateTree,
    CreateCommit,
    CreateRef,
    CreatePull,
    Reviewers,
}

/// The problems of `body` as the body of `kind` (empty: as documented).
fn documented_problems(kind: Documented, body: &Value) -> Vec<String> {
    let Some(o) = body.as_object() else { return vec!["the body is not a JSON object".into()] };
    let (required, optional): (&[&str], &[&str]) = match kind {
        Documented::CreateTree => (&["tree"], &["base_tree"]),
        Documented::CreateCommit => (&["message", "tree"], &["parents", "author", "committer", "signature"]),
        Documented::CreateRef => (&["ref", "sha"], &[]),
        Documented::CreatePull => {
            (&["head", "base"], &["title", "issue", "body", "head_repo", "maintainer_can_modify", "draft"])
        }
        Documented::Reviewers => (&[], &["reviewers", "team_reviewers"]),
    };
    let mut problems: Vec<String> =
        required.iter().filter(|k| !o.contains_key(**k)).map(|k| format!("{k} is required")).collect();
    problems.extend(
        o.keys()
            .filter(|k| !required.contains(&k.as_str()) && !optional.contains(&k.as_str()))
            .map(|k| format!("{k} is not a documented field")),
    );
    let string = |k: &str| o.get(k).is_none_or(Value::is_string);
    match kind {
        Documented::CreateTree => {
            for e in o.get("tree").and_then(Value::as_array).into_iter().flatten() {
                let path_ok = e.get("path").is_some_and(Value::is_string);
                let mode_ok = e
                    .get("mode")
                    .and_then(Value::as_str)
                    .is_some_and(|m| ["100644", "100755", "040000", "160000", "120000"].contains(&m));
                let type_ok =
                    e.get("type").and_then(Value::as_str).is_some_and(|t| ["blob", "tree", "commit"].contains(&t));
                let one = e.get("sha").is_some() != e.get("content").is_some();
                if !(path_ok && mode_ok && type_ok && one) {
                    problems.push(format!("tree entry {e} is not path + mode + type + (sha or content)"));
                }
            }
            if !o.get("tree").is_some_and(Value::is_array) || !string("base_tree") {
                problems.push("tree must be an array, base_tree a string".into());
            }
        }
        Documented::CreateCommit => {
            if !string("message")
                || !string("tree")
                || !o.get("parents").is_none_or(|p| p.as_array().is_some_and(|a| a.iter().all(Value::is_string)))
            {
                problems.push("message and tree are strings, parents an array of SHAs".into());
            }
        }
        Documented::CreateRef => {
            let r = o.get("ref").and_then(Value::as_str).unwrap_or("");
            if !r.starts_with("refs/") || r.matches('/').count() < 2 || !string("sha") {
                problems.push(format!("ref {r:?} must start with refs/ and have two slashes; sha a string"));
            }
        }
        Documented::CreatePull => {
            if !o.contains_key("title") && !o.contains_key("issue") {
                problems.push("title (or issue) is required".into());
            }
            if !string("head")
                || !string("base")
                || !string("title")
                || !o.get("body").is_none_or(|b| b.is_string() || b.is_null())
            {
                problems.push("head, base, title and body are strings".into());
            }
        }
        Documented::Reviewers => {
            let logins =
                |k: &str| o.get(k).is_none_or(|v| v.as_array().is_some_and(|a| a.iter().all(Value::is_string)));
            if o.is_empty() || !logins("reviewers") || !logins("team_reviewers") {
                problems.push("reviewers and/or team_reviewers, arrays of strings".into());
            }
        }
    }
    problems
}

impl Match for Documented {
    fn matches(&self, request: &Request) -> bool {
        serde_json::from_slice::<Value>(&request.body).is_ok_and(|b| documented_problems(*self, &b).is_empty())
    }
}

/// `200 OK` with a JSON body.
pub fn ok(body: Value) -> ResponseTemplate {
    json_response(200, body)
}

/// `201 Created` with a JSON body.
pub fn created(body: Value) -> ResponseTemplate {
    json_response(201, body)
}

/// `status` with a JSON body and GitHub's usual response headers.
pub fn json_response(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status)
        .set_body_json(body)
        .insert_header("x-github-api-version-selected", API_VERSION)
        .insert_header("x-github-media-type", "github.v3; format=json")
}

/// An error answer as GitHub writes it: `{"message", "documentation_url", "status"}`.
pub fn error(status: u16, message: &str, documentation_url: &str) -> ResponseTemplate {
    json_response(status, body::error(status, message, documentation_url))
}

/// `403` for an Actions or App token without the permission.
pub fn forbidden(documentation_url: &str) -> ResponseTemplate {
    error(403, "Resource not accessible by integration", documentation_url)
}

/// `404` as GitHub answers for a repository the token cannot see.
pub fn not_found(documentation_url: &str) -> ResponseTemplate {
    error(404, "Not Found", documentation_url)
}

/// A gateway error from the load balancer: HTML, not JSON, as GitHub's edge sends it.
pub fn bad_gateway() -> ResponseTemplate {
    ResponseTemplate::new(502).set_body_raw(
        "<html><body><h1>502 Bad Gateway</h1>\nThe server returned an invalid or incomplete response.\n</body></html>\n",
        "text/html",
    )
}

/// `503` with GitHub's JSON body.
pub fn unavailable() -> ResponseTemplate {
    error(503, "Service Unavailable", "https://docs.github.com/rest")
}

/// Documented response bodies.
pub mod body {
    use serde_json::{Value, json};

    pub const CREATED_AT: &str = "2026-12-01T10:00:00Z";
    pub const UPDATED_AT: &str = "2026-12-01T10:05:00Z";

    fn api(path: &str) -> String {
        format!("https://api.github.com{path}")
    }

    fn html(path: &str) -> String {
        format!("https://github.com{path}")
    }

    /// `fields` and what every resource has: `id`, `node_id`, `url` (the API path `api_path`)
    /// and `html_url` (the web path `html_path`).
    fn resource(id: u64, node_id: String, api_path: &str, html_path: &str, fields: Value) -> Value {
        let mut v = json!({ "id": id, "node_id": node_id, "url": api(api_path), "html_url": html(html_path) });
        v.as_object_mut().unwrap().extend(fields.as_object().expect("fields are an object").clone());
        v
    }

    /// A user object (`simple-user`), with every field the schema requires.
    pub fn user(login: &str, id: u64, kind: &str) -> Value {
        let user_api = |tail: &str| api(&format!("/users/{login}{tail}"));
        let fields = json!({
            "login": login,
            "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
            "gravatar_id": "",
            "followers_url": user_api("/followers"),
            "following_url": user_api("/following{/other_user}"),
            "gists_url": user_api("/gists{/gist_id}"),
            "starred_url": user_api("/starred{/owner}{/repo}"),
            "subscriptions_url": user_api("/subscriptions"),
            "organizations_url": user_api("/orgs"),
            "repos_url": user_api("/repos"),
            "events_url": user_api("/events{/privacy}"),
            "received_events_url": user_api("/received_events"),
            "type": kind,
            "site_admin": false,
        });
        resource(id, format!("MDQ6VXNlcnt{id}"), &format!("/users/{login}"), &format!("/{login}"), fields)
    }

    /// The Actions bot that `GITHUB_TOKEN` acts as.
    pub fn actions_bot() -> Value {
        user("github-actions[bot]", 41898282, "Bot")
    }

    /// `{"message", "documentation_url", "status"}`: every GitHub error answer.
    pub fn error(status: u16, message: &str, documentation_url: &str) -> Value {
        json!({ "message": message, "documentation_url": documentation_url, "status": status.to_string() })
    }

    /// `422 Validation Failed`, with one `errors` entry.
    pub fn validation_failed(resource: &str, field: &str, code: &str, documentation_url: &str) -> Value {
        json!({
            "message": "Validation Failed",
            "errors": [{ "resource": resource, "code": code, "field": field }],
            "documentation_url": documentation_url,
            "status": "422",
        })
    }

    /// A check run (`check-run`), as "Create a check run" and "Get a check run" return it.
    pub fn check_run(repo: &str, id: u64, name: &str, head_sha: &str, conclusion: Option<&str>) -> Value {
        let status = if conclusion.is_some() { "completed" } else { "in_progress" };
        let fields = json!({
            "head_sha": head_sha,
            "external_id": "",
            "details_url": null,
            "status": status,
            "conclusion": conclusion,
            "started_at": CREATED_AT,
            "completed_at": conclusion.map(|_| UPDATED_AT),
            "output": {
                "title": null,
                "summary": null,
                "text": null,
                "annotations_count": 0,
                "annotations_url": api(&format!("/repos/{repo}/check-runs/{id}/annotations")),
            },
            "name": name,
            "check_suite": { "id": 5 },
            "app": {
                "id": 15368,
                "slug": "github-actions",
                "node_id": "MDM6QXBwMTUzNjg=",
                "owner": user("github", 9919, "Organization"),
                "name": "GitHub Actions",
                "external_url": "https://help.github.com/en/actions",
                "html_url": "https://github.com/apps/github-actions",
                "created_at": "2018-07-30T09:30:17Z",
                "updated_at": "2019-12-10T19:04:12Z",
            },
            "pull_requests": [],
        });
        let (api_path, html_path) = (format!("/repos/{repo}/check-runs/{id}"), format!("/{repo}/runs/{id}"));
        resource(id, format!("MDg6Q2hlY2tSdW4{id}"), &api_path, &html_path, fields)
    }

    /// "List check runs for a Git reference": `{"total_count", "check_runs"}`.
    pub fn check_runs(runs: Vec<Value>) -> Value {
        json!({ "total_count": runs.len(), "check_runs": runs })
    }

    /// An issue comment (`issue-comment`).
    pub fn issue_comment(repo: &str, issue: u64, id: u64, body: &str, author: Value) -> Value {
        let association = if author.get("type").and_then(|t| t.as_str()) == Some("Bot") { "NONE" } else { "MEMBER" };
        let fields = json!({
            "body": body,
            "user": author,
            "created_at": CREATED_AT,
            "updated_at": UPDATED_AT,
            "issue_url": api(&format!("/repos/{repo}/issues/{issue}")),
            "author_association": association,
            "performed_via_github_app": null,
            "reactions": {
                "url": api(&format!("/repos/{repo}/issues/comments/{id}/reactions")),
                "total_count": 0, "+1": 0, "-1": 0, "laugh": 0, "hooray": 0,
                "confused": 0, "heart": 0, "rocket": 0, "eyes": 0,
            },
        });
        let (api_path, html_path) =
            (format!("/repos/{repo}/issues/comments/{id}"), format!("/{repo}/pull/{issue}#issuecomment-{id}"));
        resource(id, format!("MDEyOklzc3VlQ29tbWVudD{id}"), &api_path, &html_path, fields)
    }

    /// A commit status (`status`), as "Create a commit status" returns it.
    pub fn commit_status(
        repo: &str,
        sha: &str,
        id: u64,
        state: &str,
        context: &str,
        description: &str,
        target_url: Option<&str>,
    ) -> Value {
        json!({
            "url": api(&format!("/repos/{repo}/statuses/{sha}")),
            "avatar_url": "https://github.com/images/error/hubot_happy.gif",
            "id": id,
            "node_id": format!("MDY6U3RhdHVz{id}"),
            "state": state,
            "description": description,
            "target_url": target_url,
            "context": context,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "creator": actions_bot(),
        })
    }

    /// A deployment status (`deployment-status`), as "Create a deployment status" returns it.
    pub fn deployment_status(repo: &str, deployment: u64, id: u64, request: &Value) -> Value {
        let text = |k: &str| request.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let log_url = text("log_url");
        json!({
            "url": api(&format!("/repos/{repo}/deployments/{deployment}/statuses/{id}")),
            "id": id,
            "node_id": format!("MDE2OkRlcGxveW1lbnRTdGF0dXM{id}"),
            "state": text("state"),
            "creator": actions_bot(),
            "description": text("description"),
            "environment": "production",
            "target_url": log_url,
            "created_at": CREATED_AT,
            "updated_at": CREATED_AT,
            "deployment_url": api(&format!("/repos/{repo}/deployments/{deployment}")),
            "repository_url": api(&format!("/repos/{repo}")),
            "environment_url": "",
            "log_url": log_url,
            "performed_via_github_app": null,
        })
    }

    /// Who made a commit: the git name and e-mail, and the GitHub account GitHub matched
    /// them to (`None`: no account, shown as `null`).
    #[derive(Debug, Clone, Copy)]
    pub struct CommitBy<'a> {
        pub name: &'a str,
        pub email: &'a str,
        pub login: Option<&'a str>,
    }

    impl<'a> CommitBy<'a> {
        /// A GitHub user committing as `login <login@users.noreply.github.com>`.
        pub fn user(login: &'a str, email: &'a str) -> CommitBy<'a> {
            CommitBy { name: login, email, login: Some(login) }
        }
    }

    fn account(by: &CommitBy<'_>) -> Value {
        let id = by.login.map_or(0, |l| l.bytes().map(u64::from).sum::<u64>());
        by.login.map_or(Value::Null, |l| user(l, id, "User"))
    }

    /// One commit as "List commits on a pull request" returns it (`commit`).
    pub fn pr_commit(
        repo: &str,
        sha: &str,
        tree: &str,
        parents: &[&str],
        author: CommitBy<'_>,
        committer: CommitBy<'_>,
        date: &str,
    ) -> Value {
        let git = |by: &CommitBy<'_>| json!({ "name": by.name, "email": by.email, "date": date });
        let parents: Vec<Value> = parents
            .iter()
            .map(|p| json!({ "sha": p, "url": api(&format!("/repos/{repo}/commits/{p}")), "html_url": html(&format!("/{repo}/commit/{p}")) }))
            .collect();
        json!({
            "url": api(&format!("/repos/{repo}/commits/{sha}")),
            "sha": sha,
            "node_id": format!("C_kwDO{}", &sha[..12]),
            "html_url": html(&format!("/{repo}/commit/{sha}")),
            "comments_url": api(&format!("/repos/{repo}/commits/{sha}/comments")),
            "commit": {
                "url": api(&format!("/repos/{repo}/git/commits/{sha}")),
                "author": git(&author),
                "committer": git(&committer),
                "message": "Update policy data",
                "tree": { "sha": tree, "url": api(&format!("/repos/{repo}/git/trees/{tree}")) },
                "comment_count": 0,
                "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
            },
            "author": account(&author),
            "committer": account(&committer),
            "parents": parents,
        })
    }

    /// A file as "Get repository content" returns it (`content-file`), base64 in lines of 60
    /// as GitHub wraps it.
    pub fn content_file(repo: &str, path: &str, git_ref: &str, blob: &str, content: &[u8]) -> Value {
        let encoded = base64(content);
        let lines: Vec<&str> = encoded.as_bytes().chunks(60).map(|c| std::str::from_utf8(c).unwrap()).collect();
        let name = path.rsplit('/').next().unwrap_or(path);
        let self_url = api(&format!("/repos/{repo}/contents/{path}?ref={git_ref}"));
        let git_url = api(&format!("/repos/{repo}/git/blobs/{blob}"));
        let html_url = html(&format!("/{repo}/blob/{git_ref}/{path}"));
        json!({
            "type": "file",
            "encoding": "base64",
            "size": content.len(),
            "name": name,
            "path": path,
            "content": format!("{}\n", lines.join("\n")),
            "sha": blob,
            "url": self_url,
            "git_url": git_url,
            "html_url": html_url,
            "download_url": format!("https://raw.githubusercontent.com/{repo}/{git_ref}/{path}"),
            "_links": { "git": git_url, "self": self_url, "html": html_url },
        })
    }

    /// Standard base64 with padding.
    pub fn base64(bytes: &[u8]) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        let mut out = String::new();
        for chunk in bytes.chunks(3) {
            let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    /// "Get a reference" / "Create a reference" (`git-ref`,
    /// <https://docs.github.com/en/rest/git/refs>): `ref`, `node_id`, `url`, `object`.
    pub fn git_ref(repo: &str, full_ref: &str, sha: &str) -> Value {
        json!({
            "ref": full_ref,
            "node_id": format!("REF_{sha}"),
            "url": api(&format!("/repos/{repo}/git/{full_ref}")),
            "object": { "type": "commit", "sha": sha, "url": api(&format!("/repos/{repo}/git/commits/{sha}")) },
        })
    }

    /// "Get a commit object" / "Create a commit" (`git-commit`,
    /// <https://docs.github.com/en/rest/git/commits>): its `sha`, `tree` and `parents`.
    pub fn git_commit(repo: &str, sha: &str, tree: &str, parents: &[&str], message: &str) -> Value {
        json!({
            "sha": sha,
            "node_id": format!("C_{sha}"),
            "url": api(&format!("/repos/{repo}/git/commits/{sha}")),
            "html_url": html(&format!("/{repo}/commit/{sha}")),
            "author": { "name": "k6gate", "email": "k6gate@example.com", "date": CREATED_AT },
            "committer": { "name": "k6gate", "email": "k6gate@example.com", "date": CREATED_AT },
            "message": message,
            "tree": { "sha": tree, "url": api(&format!("/repos/{repo}/git/trees/{tree}")) },
            "parents": parents.iter().map(|p| json!({
                "sha": p, "url": api(&format!("/repos/{repo}/git/commits/{p}")), "html_url": html(&format!("/{repo}/commit/{p}")),
            })).collect::<Vec<_>>(),
            "verification": { "verified": false, "reason": "unsigned", "signature": null, "payload": null, "verified_at": null },
        })
    }

    /// "Create a tree" (`git-tree`, <https://docs.github.com/en/rest/git/trees#create-a-tree>).
    pub fn git_tree(repo: &str, sha: &str, paths: &[&str]) -> Value {
        json!({
            "sha": sha,
            "url": api(&format!("/repos/{repo}/git/trees/{sha}")),
            "truncated": false,
            "tree": paths.iter().map(|p| json!({ "path": p, "mode": "100644", "type": "blob", "sha": format!("{sha}{}", p.len()), "size": 1 })).collect::<Vec<_>>(),
        })
    }

    /// "Create a pull request" / "Get a pull request" (`pull-request`,
    /// <https://docs.github.com/en/rest/pulls/pulls>), the fields a reader looks at.
    pub fn pull_request(repo: &str, number: u64, title: &str, head: &str, base: &str, author: Value) -> Value {
        resource(
            9000 + number,
            format!("PR_{number}"),
            &format!("/repos/{repo}/pulls/{number}"),
            &format!("/{repo}/pull/{number}"),
            json!({
                "number": number,
                "state": "open",
                "locked": false,
                "title": title,
                "user": author,
                "body": null,
                "draft": false,
                "merged": false,
                "merged_at": null,
                "merge_commit_sha": null,
                "requested_reviewers": [],
                "head": { "ref": head, "label": format!("{}:{head}", repo.split('/').next().unwrap_or("")), "sha": "0".repeat(40) },
                "base": { "ref": base, "label": format!("{}:{base}", repo.split('/').next().unwrap_or("")), "sha": "1".repeat(40) },
                "created_at": CREATED_AT,
                "updated_at": CREATED_AT,
            }),
        )
    }

    /// A pull request review ("List reviews for a pull request",
    /// <https://docs.github.com/en/rest/pulls/reviews#list-reviews-for-a-pull-request>).
    pub fn review(repo: &str, number: u64, id: u64, reviewer: Value, state: &str, commit: &str) -> Value {
        json!({
            "id": id,
            "node_id": format!("PRR_{id}"),
            "user": reviewer,
            "body": if state == "APPROVED" { "LGTM" } else { "" },
            "state": state,
            "html_url": html(&format!("/{repo}/pull/{number}#pullrequestreview-{id}")),
            "pull_request_url": api(&format!("/repos/{repo}/pulls/{number}")),
            "author_association": "MEMBER",
            "_links": {
                "html": { "href": html(&format!("/{repo}/pull/{number}#pullrequestreview-{id}")) },
                "pull_request": { "href": api(&format!("/repos/{repo}/pulls/{number}")) },
            },
            "submitted_at": UPDATED_AT,
            "commit_id": commit,
        })
    }
}
