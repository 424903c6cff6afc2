//! `k6gate serve`: the run store in the browser. Server-rendered HTML from the binary: the
//! templates, the stylesheet and the one script are embedded (`include_str!`), nothing comes
//! from a CDN, and no page needs JavaScript.
//!
//! Pages (this slice):
//! - `/runs`: the run list, filtered (test, environment, version, outcome, branch, team, dates)
//!   and paged by keyset from the `runs` table alone ([`crate::history::RunPages`]): never a
//!   summary, so it stays fast on a year of runs.
//! - `/compare/{base}/{cand}`: any two runs, compared by [`crate::compare::compare`] at the
//!   policy's confidence, exactly as `k6gate compare` does (`/api/compare/{base}/{cand}` is
//!   the same JSON); `/runs/{id}`: a run against the baseline its verdict names, with the
//!   verdict's rules.
//! - `POST /compare`: the list's "compare these two" form, answered with a redirect to the
//!   deep link.
//!
//! The routes of the later slices (trends, SLA editor, waiver requests, team accountability,
//! retention) go beside these in [`router`]; every POST goes through the same CSRF check.
//!
//! What it must never do: serve beyond loopback without a token ([`access::check_listen`]),
//! send a page without its security headers, accept a POST without the CSRF token, put run
//! data in a page unescaped (templates are `.html`: minijinja escapes every value), or answer
//! a bad id or query with a panic or a 500 (they are 4xx pages). It reads no environment and
//! prints nothing: the CLI hands it a [`Config`] and an open store.

mod access;
mod charts;
mod compare_page;
mod error;
mod html;
mod policy_page;
mod retention_editor;
mod runs_page;
mod sla_editor;
mod teams_page;
mod trace_breakdown;
mod trend_chart;
mod trends_page;
mod waiver_request;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawForm, RawQuery, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;

use crate::history::Store;

pub use access::{Access, check_listen};
pub use error::ServeError;
pub use sla_editor::GithubTarget;

use error::PageError;

/// What the server needs besides the store.
#[derive(Debug, Clone)]
pub struct Config {
    /// The confidence level of every comparison (the policy data's, as `k6gate compare`).
    pub confidence: f64,
    /// Test -> owning team (`notifications.owners` of the policy data); empty: no team filter.
    pub owners: BTreeMap<String, String>,
    /// Who may ask.
    pub access: Access,
    /// Runs per page of the list.
    pub page_size: usize,
    /// The policy directory (`--policies`; its `data/` is read as the gate reads it, on every
    /// request): the trends' change points and waivers, the policy pages. `None`: not shown.
    pub policies: Option<std::path::PathBuf>,
    /// The waiver files (`--waivers-dir`), read with the policy data when the directory exists.
    pub waivers: Option<std::path::PathBuf>,
    /// Where the editors open pull requests; `None`: read-only.
    pub github: Option<GithubTarget>,
}

/// The server's state: the store (one connection, behind a lock), the config, and the
/// per-process CSRF secret.
pub struct App {
    store: Mutex<Store>,
    config: Config,
    csrf: access::Csrf,
    /// When a durable store's cache was last brought up to date.
    refreshed: Mutex<Option<Instant>>,
}

/// How stale a durable store's cache may be when the list is shown: refreshing lists every
/// run object, which a page view must not pay each time.
pub const REFRESH_EVERY: Duration = Duration::from_secs(30);

impl App {
    pub fn new(store: Store, config: Config) -> Result<App, ServeError> {
        Ok(App { store: Mutex::new(store), config, csrf: access::Csrf::new()?, refreshed: Mutex::new(None) })
    }

    /// Brings a durable store's cache up to date when it is older than [`REFRESH_EVERY`]. A
    /// failure is logged and the cache shown as it is (the page says nothing newer came).
    fn refresh_if_stale(&self) -> Option<String> {
        let mut last = self.refreshed.lock().unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < REFRESH_EVERY) {
            return None;
        }
        let failed = self.with_store(|s| match s.remote() {
            None => None,
            Some(r) => r.refresh_cache().err().map(|e| e.to_string()),
        });
        match &failed {
            None => *last = Some(Instant::now()),
            Some(e) => tracing::warn!("the durable store could not be read; showing its local cache: {e}"),
        }
        failed.map(|_| {
            "The durable store could not be read just now: these are the runs this machine's cache holds.".into()
        })
    }

    fn with_store<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        let store = self.store.lock().unwrap_or_else(PoisonError::into_inner);
        f(&store)
    }
}

type Shared = Arc<App>;

/// The routes, with the access check, the CSRF check on POST and the security headers.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/runs") }))
        .route("/runs", get(runs))
        .route("/runs/{id}", get(run))
        .route("/compare", axum::routing::post(compare_form))
        .route("/compare/{base}/{cand}", get(compare))
        .route("/api/compare/{base}/{cand}", get(compare_json))
        .route("/static/serve.css", get(|| async { asset("text/css; charset=utf-8", html::CSS) }))
        .route("/static/serve.js", get(|| async { asset("text/javascript; charset=utf-8", html::JS) }))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/trends", get(trends))
        .route("/policy", get(policy))
        .route("/slas/edit", get(sla_edit))
        .route("/slas/preview", axum::routing::post(sla_preview))
        .route("/slas/propose", axum::routing::post(sla_propose))
        .route("/waivers/new", get(waiver_new))
        .route("/waivers/request", axum::routing::post(waiver_post))
        .route("/waivers/requests/{number}", get(waiver_state))
        .route("/teams", get(teams))
        .route("/metrics", get(metrics))
        .route("/retention/preview", axum::routing::post(retention_preview))
        .route("/retention/propose", axum::routing::post(retention_propose))
        .fallback(|| async { PageError::NotFound("no such page".into()).into_response() })
        .method_not_allowed_fallback(|| async {
            PageError::MethodNotAllowed("this page does not take that method".into()).into_response()
        })
        .layer(axum::middleware::from_fn_with_state(app.clone(), access::guard))
        .with_state(app)
}

/// Serves `app` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: App,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(Arc::new(app))).with_graceful_shutdown(shutdown).await
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "max-age=3600")], body).into_response()
}

/// Runs the page's work (store reads, statistics, charts) off the async workers: a durable
/// store's refresh blocks on the network.
async fn blocking(app: Shared, f: impl FnOnce(&App) -> Result<Response, PageError> + Send + 'static) -> Response {
    match tokio::task::spawn_blocking(move || f(&app)).await {
        Ok(Ok(page)) => page,
        Ok(Err(e)) => e.into_response(),
        Err(_) => PageError::Internal("the page could not be built".into()).into_response(),
    }
}

async fn runs(State(app): State<Shared>, RawQuery(query): RawQuery) -> Response {
    blocking(app, move |app| runs_page::page(app, query.as_deref().unwrap_or(""))).await
}

async fn trends(State(app): State<Shared>, RawQuery(query): RawQuery) -> Response {
    blocking(app, move |app| trends_page::page(app, query.as_deref().unwrap_or(""))).await
}

async fn policy(State(app): State<Shared>, RawQuery(query): RawQuery) -> Response {
    blocking(app, move |app| policy_page::page(app, query.as_deref().unwrap_or(""))).await
}

async fn sla_edit(State(app): State<Shared>, RawQuery(query): RawQuery) -> Response {
    blocking(app, move |app| sla_editor::edit(app, query.as_deref().unwrap_or(""))).await
}

/// The editor's forms (CSRF-checked by the guard).
async fn sla_preview(State(app): State<Shared>, RawForm(body): RawForm) -> Response {
    blocking(app, move |app| sla_editor::preview(app, &body)).await
}

async fn sla_propose(State(app): State<Shared>, RawForm(body): RawForm) -> Response {
    blocking(app, move |app| sla_editor::propose(app, &body)).await
}

async fn waiver_new(State(app): State<Shared>, RawQuery(query): RawQuery) -> Response {
    blocking(app, move |app| waiver_request::new(app, query.as_deref().unwrap_or(""))).await
}

async fn waiver_post(State(app): State<Shared>, RawForm(body): RawForm) -> Response {
    blocking(app, move |app| waiver_request::request(app, &body)).await
}

async fn waiver_state(State(app): State<Shared>, path: Result<Path<String>, PathRejection>) -> Response {
    let Path(number) = match path {
        Ok(p) => p,
        Err(e) => return path_error(&e),
    };
    blocking(app, move |app| waiver_request::state(app, &number)).await
}

async fn teams(State(app): State<Shared>, RawQuery(query): RawQuery) -> Response {
    blocking(app, move |app| teams_page::page(app, query.as_deref().unwrap_or(""))).await
}

async fn metrics(State(app): State<Shared>) -> Response {
    blocking(app, teams_page::metrics).await
}

async fn retention_preview(State(app): State<Shared>, RawForm(body): RawForm) -> Response {
    blocking(app, move |app| retention_editor::preview(app, &body)).await
}

async fn retention_propose(State(app): State<Shared>, RawForm(body): RawForm) -> Response {
    blocking(app, move |app| retention_editor::propose(app, &body)).await
}

/// A path that cannot be read (bad percent-encoding): a 400 page, not axum's plain text.
fn path_error(e: &PathRejection) -> Response {
    PageError::BadRequest(format!("the address could not be read: {}", e.body_text())).into_response()
}

async fn run(
    State(app): State<Shared>,
    path: Result<Path<String>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Path(id) = match path {
        Ok(p) => p,
        Err(e) => return path_error(&e),
    };
    blocking(app, move |app| compare_page::run_page(app, &id, query.as_deref().unwrap_or(""))).await
}

async fn compare(
    State(app): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Path((base, cand)) = match path {
        Ok(p) => p,
        Err(e) => return path_error(&e),
    };
    blocking(app, move |app| compare_page::page(app, &base, &cand, query.as_deref().unwrap_or(""))).await
}

async fn compare_json(
    State(app): State<Shared>,
    path: Result<Path<(String, String)>, PathRejection>,
    RawQuery(query): RawQuery,
) -> Response {
    let Path((base, cand)) = match path {
        Ok(p) => p,
        Err(e) => return path_error(&e),
    };
    blocking(app, move |app| compare_page::json(app, &base, &cand, query.as_deref().unwrap_or(""))).await
}

/// The list's "compare these two" form (CSRF-checked by the guard): a redirect to the link.
async fn compare_form(RawForm(body): RawForm) -> Response {
    let form: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(f) => f,
        Err(e) => return PageError::BadRequest(format!("the form could not be read: {e}")).into_response(),
    };
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
    match (field("base"), field("cand")) {
        (Some(b), Some(c)) if !b.is_empty() && !c.is_empty() => {
            match (runs_page::plain_id(&b), runs_page::plain_id(&c)) {
                (Some(b), Some(c)) => Redirect::to(&format!("/compare/{b}/{c}")).into_response(),
                _ => PageError::BadRequest("a run id is letters, digits and dashes only".into()).into_response(),
            }
        }
        _ => PageError::BadRequest("choose a baseline run and a candidate run to compare".into()).into_response(),
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = html::error_page(status, &self.to_string());
        (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
    }
}

/// An HTML page with status 200.
fn html_response(body: String) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response()
}
