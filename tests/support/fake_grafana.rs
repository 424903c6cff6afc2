//! A fake Grafana HTTP API for annotations, on the shared [`MockHttp`].
//!
//! Grafana cannot run here, so the fake plays its part as the Grafana HTTP API documents it
//! (grafana/grafana `docs/sources/developers/http_api/annotations.md`, "Create Annotation",
//! https://grafana.com/docs/grafana/latest/developers/http_api/annotations/; the
//! `Authorization: Bearer <token>` header as in that page's PUT and PATCH examples and in
//! `docs/sources/developers/http_api/auth.md`):
//!
//! - `POST /api/annotations` with `Content-Type: application/json`;
//! - a JSON object body with `dashboardUID` (string), `panelId` (number), `time` and
//!   `timeEnd` (epoch numbers in millisecond resolution), `tags` (array of strings) and
//!   `text` (string, the only required field);
//! - the answer `200 {"message":"Annotation added","id":N}` (the page's example has a
//!   trailing comma after the id, which is not JSON; the handler writes valid JSON).
//!
//! It answers the way Grafana's handler (`pkg/api/annotations.go`, `PostAnnotation`) does when
//! something is off: 401 without the right token, 400 `bad request data` for a body it cannot
//! bind, 400 `Failed to save annotation` for an empty `text`, 404 elsewhere. Anything the
//! client sends that the documentation does not describe is recorded as a problem, and every
//! test checks there were none. Used by `grafana_annotate.rs` and `canary_report.rs`.
//!
//! It also answers `GET /api/health` (`docs/sources/developers/http_api/other.md`, "Returns
//! health information about Grafana"; no authentication): `200 {"commit","database":"ok",
//! "version"}`, or as `pkg/api/health.go` does when the database check fails, `503` with
//! `"database": "failing"` ([`FakeGrafana::set_database_failing`]). Used by `preflight.rs`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::any;
use wiremock::{Mock, Request, Respond, ResponseTemplate};

use super::mock_http::MockHttp;

/// The client's token in every test: it must never show up in a file or a message.
pub const TOKEN: &str = "glsa_k6gateTEST_s3cr3t_0123456789abcdef";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub authorization: Option<String>,
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub body: String,
    /// Where the request departs from the documented API.
    pub problems: Vec<String>,
}

impl Seen {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// A canned answer for the next request, before the fake's own checks.
pub struct Canned {
    pub status: u16,
    pub body: &'static str,
    pub delay: Duration,
}

pub fn canned(status: u16, body: &'static str) -> Canned {
    Canned { status, body, delay: Duration::ZERO }
}

struct FakeState {
    token: String,
    seen: Vec<Seen>,
    script: VecDeque<Canned>,
    next_id: i64,
    database_failing: bool,
    /// Folder uid -> its permission items, in the GET answer's shape (`folder_permissions`).
    folders: std::collections::BTreeMap<String, Vec<Value>>,
    /// The folder permissions API answers 503 while set.
    folders_failing: bool,
}

/// The fake: Grafana's annotation handler as a wiremock responder on the shared
/// [`MockHttp`], answering every request (the handler itself decides 404, 405, 401, 400).
pub struct FakeGrafana {
    /// Kept for the fake's lifetime: the server stops when it drops.
    _server: MockHttp,
    pub url: String,
    state: Arc<Mutex<FakeState>>,
}

impl FakeGrafana {
    /// A fake that accepts [`TOKEN`].
    pub fn start() -> FakeGrafana {
        FakeGrafana::start_with(TOKEN, Vec::new())
    }

    /// A fake that accepts `token` and first gives the `script` answers in order.
    pub fn start_with(token: &str, script: Vec<Canned>) -> FakeGrafana {
        let state = Arc::new(Mutex::new(FakeState {
            token: token.to_string(),
            seen: Vec::new(),
            script: script.into(),
            next_id: 41,
            database_failing: false,
            folders: Default::default(),
            folders_failing: false,
        }));
        let http = MockHttp::start();
        http.mount(Mock::given(any()).respond_with(Grafana(state.clone())));
        FakeGrafana { url: http.uri(), _server: http, state }
    }

    /// From now on `/api/health` answers as Grafana does when its database check fails.
    pub fn set_database_failing(&self) {
        self.state.lock().expect("state").database_failing = true;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().expect("state").seen.clone()
    }

    /// Every request was as documented.
    pub fn assert_all_documented(&self) {
        for seen in self.seen() {
            assert!(
                seen.problems.is_empty(),
                "request departs from the Grafana API docs: {:?}\n{seen:#?}",
                seen.problems
            );
        }
    }

    pub fn texts(&self) -> Vec<String> {
        self.seen().iter().map(|s| s.json()["text"].as_str().unwrap_or("<none>").to_string()).collect()
    }
}

fn grafana_json(status: u16, body: Value) -> ResponseTemplate {
    ResponseTemplate::new(status).set_body_raw(body.to_string(), "application/json")
}

/// `POST /api/annotations` as Grafana's handler answers it.
struct Grafana(Arc<Mutex<FakeState>>);

impl Respond for Grafana {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let (answer, delay) = grafana(&self.0, request);
        answer.set_delay(delay)
    }
}

/// The answer to `request`, and how long to wait before giving it.
fn grafana(state: &Mutex<FakeState>, request: &Request) -> (ResponseTemplate, Duration) {
    let header = |name: &str| request.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let method = &request.method;
    let mut seen = Seen {
        method: method.to_string(),
        path: request.url.path().to_string(),
        authorization: header("authorization"),
        content_type: header("content-type"),
        accept: header("accept"),
        body: String::from_utf8_lossy(&request.body).into_owned(),
        problems: Vec::new(),
    };
    if seen.path == "/api/health" {
        if seen.method != "GET" {
            seen.problems.push(format!("method {} (documented: GET /api/health)", seen.method));
        }
        if !seen.body.is_empty() {
            seen.problems.push("a body on GET /api/health".into());
        }
        let mut st = state.lock().expect("state");
        let failing = st.database_failing;
        st.seen.push(seen);
        let (status, database) = if failing { (503, "failing") } else { (200, "ok") };
        let body = json!({"commit": "03f502a94d", "database": database, "version": "11.1.0"});
        return (grafana_json(status, body), Duration::ZERO);
    }
    if seen.path.starts_with("/api/folders/") {
        return (folder_permissions(state, seen), Duration::ZERO);
    }
    let (expected_token, canned) = {
        let mut st = state.lock().expect("state");
        (st.token.clone(), st.script.pop_front())
    };

    // Checks against the documentation, recorded whatever the answer.
    if seen.method != "POST" {
        seen.problems.push(format!("method {} (documented: POST)", seen.method));
    }
    if seen.path != "/api/annotations" && !seen.path.ends_with("/api/annotations") {
        seen.problems.push(format!("path {} (documented: /api/annotations)", seen.path));
    }
    match &seen.authorization {
        Some(auth) if auth.starts_with("Bearer ") && auth.len() > "Bearer ".len() => {}
        other => seen.problems.push(format!("Authorization {other:?} (documented: Bearer <token>)")),
    }
    if seen.content_type.as_deref() != Some("application/json") {
        seen.problems.push(format!("Content-Type {:?} (documented: application/json)", seen.content_type));
    }
    let parsed = serde_json::from_str::<Value>(&seen.body);
    match &parsed {
        Ok(Value::Object(fields)) => seen.problems.extend(body_problems(fields)),
        Ok(other) => seen.problems.push(format!("body is not a JSON object: {other}")),
        Err(e) => seen.problems.push(format!("body is not JSON: {e}")),
    }

    let wrong_path = seen.path != "/api/annotations";
    let authorized = seen.authorization.as_deref() == Some(&format!("Bearer {expected_token}"));
    let delay = canned.as_ref().map(|c| c.delay).unwrap_or_default();
    state.lock().expect("state").seen.push(seen);
    if let Some(c) = canned.filter(|c| c.status != 0) {
        return (grafana_json(c.status, serde_json::from_str(c.body).unwrap_or(Value::from(c.body))), delay);
    }
    // Grafana's own answers.
    if wrong_path {
        return (grafana_json(404, json!({"message": "Not found"})), delay);
    }
    if method.as_str() != "POST" {
        return (grafana_json(405, json!({"message": "Method Not Allowed"})), delay);
    }
    if !authorized {
        return (grafana_json(401, json!({"message": "Unauthorized"})), delay);
    }
    let Ok(Value::Object(fields)) = parsed else {
        return (grafana_json(400, json!({"message": "bad request data"})), delay);
    };
    // Go's JSON binding ignores unknown fields but fails on a known one of the wrong type.
    if !binds(&fields) {
        return (grafana_json(400, json!({"message": "bad request data"})), delay);
    }
    if fields.get("text").and_then(Value::as_str).unwrap_or("").is_empty() {
        return (grafana_json(400, json!({"message": "Failed to save annotation"})), delay);
    }
    let id = {
        let mut st = state.lock().expect("state");
        st.next_id += 1;
        st.next_id - 1
    };
    (grafana_json(200, json!({"message": "Annotation added", "id": id})), delay)
}

/// Whether Grafana's `PostAnnotationsCmd` (int64 ids and times, string text and UID, string
/// tags) can be bound from `fields`.
fn binds(fields: &serde_json::Map<String, Value>) -> bool {
    fields.iter().all(|(key, value)| match key.as_str() {
        "dashboardUID" | "text" => value.is_string() || value.is_null(),
        "panelId" | "dashboardId" | "time" | "timeEnd" => value.is_i64() || value.is_null(),
        "tags" => value.is_null() || value.as_array().is_some_and(|tags| tags.iter().all(Value::is_string)),
        _ => true,
    })
}

/// The documented body fields and their types.
fn body_problems(fields: &serde_json::Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, value) in fields {
        let ok = match key.as_str() {
            "dashboardUID" => value.is_string(),
            "panelId" | "dashboardId" => value.is_i64(),
            // Epoch numbers in millisecond resolution: 13 digits for any date this century.
            "time" | "timeEnd" => {
                value.as_i64().is_some_and(|ms| (1_000_000_000_000..10_000_000_000_000).contains(&ms))
            }
            "tags" => value.as_array().is_some_and(|tags| tags.iter().all(Value::is_string)),
            "text" => value.is_string(),
            _ => {
                problems.push(format!("undocumented field {key:?}"));
                continue;
            }
        };
        if !ok {
            problems.push(format!("field {key:?} has the wrong type or unit: {value}"));
        }
    }
    if !fields.contains_key("text") {
        problems.push("no \"text\" (the one required field)".to_string());
    }
    if let (Some(start), Some(end)) =
        (fields.get("time").and_then(Value::as_i64), fields.get("timeEnd").and_then(Value::as_i64))
    {
        if end < start {
            problems.push(format!("timeEnd {end} before time {start}"));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------
// Folder permissions, as Grafana's Folder Permissions HTTP API documents them
// (`docs/sources/developers/http_api/folder_permissions.md`,
// https://grafana.com/docs/grafana/latest/developers/http_api/folder_permissions/):
//
// - `GET /api/folders/:uid/permissions` (Accept and Authorization, no body) answers 200 with an
//   array of `{id, folderId, created, updated, userId, userLogin, userEmail, teamId, team,
//   role, permission, permissionName, uid, title, slug, isFolder, url}`; `userId`/`teamId` 0
//   and `role` "" when unset; 404 `Folder not found` for an unknown uid.
// - `POST /api/folders/:uid/permissions` with `Content-Type: application/json` and the body
//   `{"items": [...]}`, each item one of `{"role": "Viewer"|"Editor", "permission": N}`,
//   `{"teamId": N, "permission": N}`, `{"userId": N, "permission": N}` with N in 1, 2, 4 (View,
//   Edit, Admin); it replaces every permission of the folder and answers
//   `200 {"message":"Folder permissions updated"}`.
// Anything else is recorded as a problem; 401 without the right token.

impl FakeGrafana {
    /// A folder with these permissions: `(kind, id or role, permission)`, kind `role`, `team`
    /// or `user`.
    pub fn add_folder(&self, uid: &str, items: &[(&str, &str, u8)]) {
        let listed = items.iter().enumerate().map(|(i, (kind, who, p))| listed_item(uid, i, kind, who, *p)).collect();
        self.state.lock().expect("state").folders.insert(uid.to_string(), listed);
    }

    /// A folder's permissions now, as `(kind, id or role, permission)`, sorted.
    pub fn folder(&self, uid: &str) -> Vec<(String, String, u8)> {
        let st = self.state.lock().expect("state");
        let mut out: Vec<(String, String, u8)> = st.folders[uid]
            .iter()
            .map(|v| {
                let p = v["permission"].as_u64().unwrap_or(0) as u8;
                if v["userId"].as_i64().unwrap_or(0) != 0 {
                    ("user".into(), v["userId"].to_string(), p)
                } else if v["teamId"].as_i64().unwrap_or(0) != 0 {
                    ("team".into(), v["teamId"].to_string(), p)
                } else {
                    ("role".into(), v["role"].as_str().unwrap_or("").to_string(), p)
                }
            })
            .collect();
        out.sort();
        out
    }

    /// From now on the folder permissions API answers 503 (or works again).
    pub fn set_folders_failing(&self, failing: bool) {
        self.state.lock().expect("state").folders_failing = failing;
    }
}

fn permission_name(p: u8) -> &'static str {
    match p {
        1 => "View",
        2 => "Edit",
        4 => "Admin",
        _ => "",
    }
}

fn listed_item(uid: &str, i: usize, kind: &str, who: &str, p: u8) -> Value {
    let id = |k: &str| if kind == k { who.parse::<i64>().unwrap_or(0) } else { 0 };
    json!({
        "id": i + 1, "folderId": 7, "created": "2017-06-20T02:00:00+02:00", "updated": "2017-06-20T02:00:00+02:00",
        "userId": id("user"), "userLogin": if kind == "user" { "someone" } else { "" }, "userEmail": "",
        "teamId": id("team"), "team": if kind == "team" { "sre" } else { "" },
        "role": if kind == "role" { who } else { "" },
        "permission": p, "permissionName": permission_name(p),
        "uid": uid, "title": uid, "slug": uid, "isFolder": true, "url": format!("/dashboards/f/{uid}/{uid}"),
    })
}

fn folder_permissions(state: &Mutex<FakeState>, mut seen: Seen) -> ResponseTemplate {
    let uid = seen.path.strip_prefix("/api/folders/").and_then(|r| r.strip_suffix("/permissions")).map(str::to_string);
    let Some(uid) = uid.filter(|u| !u.is_empty() && !u.contains('/')) else {
        seen.problems.push(format!("path {} (documented: /api/folders/:uid/permissions)", seen.path));
        state.lock().expect("state").seen.push(seen);
        return grafana_json(404, json!({"message": "Not found"}));
    };
    let mut st = state.lock().expect("state");
    let authorized = seen.authorization.as_deref() == Some(&format!("Bearer {}", st.token));
    match &seen.authorization {
        Some(auth) if auth.starts_with("Bearer ") && auth.len() > "Bearer ".len() => {}
        other => seen.problems.push(format!("Authorization {other:?} (documented: Bearer <token>)")),
    }
    let method = seen.method.clone();
    let mut parsed_items = None;
    match method.as_str() {
        "GET" => {
            if !seen.body.is_empty() {
                seen.problems.push("a body on GET /api/folders/:uid/permissions".into());
            }
        }
        "POST" => {
            if seen.content_type.as_deref() != Some("application/json") {
                seen.problems.push(format!("Content-Type {:?} (documented: application/json)", seen.content_type));
            }
            match serde_json::from_str::<Value>(&seen.body) {
                Ok(Value::Object(fields)) => {
                    for key in fields.keys().filter(|k| k.as_str() != "items") {
                        seen.problems.push(format!("undocumented field {key:?}"));
                    }
                    match fields.get("items").and_then(Value::as_array) {
                        Some(items) => {
                            for (i, item) in items.iter().enumerate() {
                                seen.problems.extend(item_problems(i, item));
                            }
                            parsed_items = Some(items.clone());
                        }
                        None => seen.problems.push("no \"items\" array".into()),
                    }
                }
                other => seen.problems.push(format!("body is not a JSON object: {other:?}")),
            }
        }
        other => seen.problems.push(format!("method {other} (documented: GET or POST)")),
    }
    let problems = !seen.problems.is_empty();
    st.seen.push(seen);
    if !authorized {
        return grafana_json(401, json!({"message": "Unauthorized"}));
    }
    if st.folders_failing {
        return grafana_json(503, json!({"message": "database is locked"}));
    }
    if !st.folders.contains_key(&uid) {
        return grafana_json(404, json!({"message": "Folder not found"}));
    }
    match method.as_str() {
        "GET" => grafana_json(200, Value::Array(st.folders[&uid].clone())),
        "POST" if problems => grafana_json(400, json!({"message": "bad request data"})),
        "POST" => {
            let items = parsed_items.unwrap_or_default();
            let listed = items
                .iter()
                .enumerate()
                .map(|(i, item)| {
                    let p = item["permission"].as_u64().unwrap_or(0) as u8;
                    if let Some(u) = item.get("userId") {
                        listed_item(&uid, i, "user", &u.to_string(), p)
                    } else if let Some(t) = item.get("teamId") {
                        listed_item(&uid, i, "team", &t.to_string(), p)
                    } else {
                        listed_item(&uid, i, "role", item["role"].as_str().unwrap_or(""), p)
                    }
                })
                .collect();
            st.folders.insert(uid, listed);
            grafana_json(200, json!({"message": "Folder permissions updated"}))
        }
        _ => grafana_json(405, json!({"message": "Method Not Allowed"})),
    }
}

fn item_problems(i: usize, item: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(fields) = item.as_object() else { return vec![format!("items[{i}] is not an object")] };
    let mut names = 0;
    for (key, value) in fields {
        let ok = match key.as_str() {
            "role" => {
                names += 1;
                matches!(value.as_str(), Some("Viewer" | "Editor"))
            }
            "teamId" | "userId" => {
                names += 1;
                value.as_i64().is_some_and(|v| v > 0)
            }
            "permission" => matches!(value.as_u64(), Some(1 | 2 | 4)),
            _ => {
                problems.push(format!("items[{i}]: undocumented field {key:?}"));
                continue;
            }
        };
        if !ok {
            problems.push(format!("items[{i}].{key}: {value} is not documented"));
        }
    }
    if names != 1 {
        problems.push(format!("items[{i}] names {names} of role, teamId, userId (documented: exactly one)"));
    }
    if !fields.contains_key("permission") {
        problems.push(format!("items[{i}] has no permission"));
    }
    problems
}
