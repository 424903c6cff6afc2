//! The shop's HTTP API: routing, request and response shapes, and how failures become
//! status codes. Every response body is JSON; every error is `{"error": "..."}`.
//!
//! | request | success | failures |
//! |---|---|---|
//! | `POST /api/login {user, password}` | `{token, user_id}` | 400 bad body, 401 wrong credentials |
//! | `GET /api/products?limit=N&offset=M` | `{count, products: [{id, name, category, price_cents}]}` | 400 limit not in 1..=200 |
//! | `POST /api/cart {token, product_id, qty}` | `{cart_size, total_cents, lines}` | 400 bad body, qty not in 1..=100 or unknown product, 401 |
//! | `GET /api/cart?token=T` | `{items: [...], cart_size, total_cents, lines}` | 400 no token, 401 |
//! | `POST /api/checkout {token}` | `{order_id, total_cents, cart_size}` | 400, 401, 409 empty or changed cart, 502 payment failed (cart kept) |
//! | `GET /health` | `{status: "ok"}` | 500 database unreachable |
//! | `GET /metrics` | Prometheus text (`metrics`) | |
//!
//! Every request but `/metrics` is counted and timed in `metrics`; with `--fault-rate` an
//! `/api/` request answers 500 before any work, that share of the time.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde::{Deserialize, Serialize};

use crate::auth;
use crate::degrade::{self, Degrade};
use crate::metrics::{self, Metrics};
use crate::pool::Pool;
use crate::sim::{Sim, Work, simulate};
use crate::store::{self, CartLine, CartTotal, Placed, Product};

/// Largest page of `/api/products`, and the largest quantity one cart request may add.
const MAX_LIMIT: u32 = 200;
const DEFAULT_LIMIT: u32 = 20;
const MAX_QTY: u32 = 100;

/// What every handler shares.
#[derive(Debug)]
pub struct App {
    pub(crate) pool: Arc<Pool>,
    sim: Sim,
    metrics: Metrics,
    /// The catalog cache, the data size and the third-party calls (`catalog`, `facts`).
    pub(crate) catalog: crate::catalog::Catalog,
    degrade: Arc<Degrade>,
}

impl App {
    pub fn new(pool: Arc<Pool>, sim: Sim, catalog: crate::catalog::Catalog) -> App {
        App { pool, sim, metrics: Metrics::default(), catalog, degrade: Arc::new(Degrade::new(&Default::default(), 0)) }
    }

    /// The same app with these degrade switches and gauges (`degrade`).
    pub fn degraded(mut self, degrade: Arc<Degrade>) -> App {
        self.degrade = degrade;
        self
    }

    /// Runs `f` on a pooled connection on the blocking thread pool.
    pub(crate) async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = Arc::clone(&self.pool);
        let hold = self.sim.db_hold();
        let cpu = self.sim.cpu_work();
        tokio::task::spawn_blocking(move || {
            pool.with(|c| {
                let out = f(c);
                crate::sim::burn(cpu);
                if !hold.is_zero() {
                    std::thread::sleep(hold);
                }
                out
            })
        })
        .await
        .map_err(|e| ApiError::Internal(format!("database task failed: {e}")))?
    }
}

pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/api/login", post(login))
        .route("/api/products", get(products))
        .route("/api/cart", post(add_to_cart).get(view_cart))
        .route("/api/checkout", post(checkout))
        .route("/health", get(health))
        .route("/api/search", get(crate::catalog::search))
        .route("/admin/deploy", post(crate::catalog::deploy))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(Arc::clone(&app), measure))
        .route("/metrics", get(metrics_text))
        .merge(degrade::routes(Arc::clone(&app.degrade)))
        .with_state(app)
}

/// Times and counts every request (the layer sits under `/metrics`, which it never sees), and
/// answers an `/api/` request with an injected 500 at `--fault-rate`.
async fn measure(State(app): AppState, req: Request, next: Next) -> Response {
    let started = std::time::Instant::now();
    let route = metrics::route_label(req.method().as_str(), req.uri().path());
    let _in_flight = app.degrade.enter();
    let effect = req.uri().path().starts_with("/api/").then(|| app.degrade.arrive());
    if let Some(e) = effect.filter(|e| !e.delay.is_zero()) {
        tokio::time::sleep(e.delay).await;
    }
    let response = if effect.is_some_and(|e| e.fail) {
        ApiError::Degraded.into_response()
    } else if req.uri().path().starts_with("/api/") && app.sim.fault() {
        ApiError::Injected.into_response()
    } else {
        next.run(req).await
    };
    app.metrics.observe(route, response.status().as_u16(), started.elapsed());
    response
}

async fn metrics_text(State(app): AppState) -> Response {
    let mut text = app.metrics.render();
    app.catalog.render_facts(&mut text, app.pool.stats());
    text.push_str(&app.degrade.render());
    let mut r = text.into_response();
    r.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

type AppState = State<Arc<App>>;

/// A JSON body whose rejections (bad JSON, wrong types, missing fields, no JSON content type)
/// are 400s with a JSON error, rather than axum's plain-text 400/415/422.
struct Body<T>(T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state)
            .await
            .map(|Json(v)| Body(v))
            .map_err(|e: JsonRejection| ApiError::bad(e.body_text()))
    }
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(v)| v).map_err(|e| ApiError::bad(e.body_text()))
}

/// The user behind a session token.
fn authenticate(conn: &Connection, token: &str) -> Result<i64, ApiError> {
    store::session_user(conn, token)?.ok_or(ApiError::Unauthorized("unknown or expired token"))
}

#[derive(Deserialize)]
struct LoginRequest {
    user: String,
    password: String,
}

#[derive(Serialize)]
struct LoginResponse {
    token: String,
    user_id: i64,
}

async fn login(State(app): AppState, Body(req): Body<LoginRequest>) -> Result<Json<LoginResponse>, ApiError> {
    simulate(app.sim.work(Work::Login)).await;
    app.db(move |c| {
        let user_id = match store::user_credentials(c, &req.user)? {
            Some((id, stored)) if auth::verify(&stored, &req.password) => id,
            _ => return Err(ApiError::Unauthorized("wrong user or password")),
        };
        let token = auth::new_token();
        store::create_session(c, user_id, &token)?;
        Ok(LoginResponse { token, user_id })
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct ProductsQuery {
    limit: Option<u32>,
    offset: Option<u32>,
}

#[derive(Serialize)]
struct ProductsResponse {
    count: usize,
    products: Vec<Product>,
}

async fn products(
    State(app): AppState,
    q: Result<Query<ProductsQuery>, QueryRejection>,
) -> Result<Json<ProductsResponse>, ApiError> {
    let q = query(q)?;
    let limit = q.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::bad(format!("limit must be between 1 and {MAX_LIMIT}, not {limit}")));
    }
    simulate(app.sim.work(Work::Products)).await;
    let products = app.db(move |c| Ok(store::products(c, limit, q.offset.unwrap_or(0))?)).await?;
    Ok(Json(ProductsResponse { count: products.len(), products }))
}

#[derive(Deserialize)]
struct CartRequest {
    token: String,
    product_id: i64,
    qty: u32,
}

async fn add_to_cart(State(app): AppState, Body(req): Body<CartRequest>) -> Result<Json<CartTotal>, ApiError> {
    if !(1..=MAX_QTY).contains(&req.qty) {
        return Err(ApiError::bad(format!("qty must be between 1 and {MAX_QTY}, not {}", req.qty)));
    }
    simulate(app.sim.work(Work::CartAdd)).await;
    app.db(move |c| {
        let user = authenticate(c, &req.token)?;
        store::add_to_cart(c, user, req.product_id, req.qty)?
            .ok_or_else(|| ApiError::bad(format!("no product with id {}", req.product_id)))
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct TokenQuery {
    token: String,
}

#[derive(Serialize)]
struct CartView {
    items: Vec<CartLine>,
    #[serde(flatten)]
    total: CartTotal,
}

async fn view_cart(
    State(app): AppState,
    q: Result<Query<TokenQuery>, QueryRejection>,
) -> Result<Json<CartView>, ApiError> {
    let TokenQuery { token } = query(q)?;
    simulate(app.sim.work(Work::CartView)).await;
    app.db(move |c| {
        let user = authenticate(c, &token)?;
        Ok(CartView { items: store::cart_lines(c, user)?, total: store::cart_total(c, user)? })
    })
    .await
    .map(Json)
}

#[derive(Deserialize)]
struct CheckoutRequest {
    token: String,
}

#[derive(Serialize)]
struct CheckoutResponse {
    order_id: i64,
    total_cents: i64,
    cart_size: i64,
}

/// Read the cart's total, do the checkout work, call the payment provider, then write the
/// order. No database connection or lock is held across the slow parts.
async fn checkout(State(app): AppState, Body(req): Body<CheckoutRequest>) -> Result<Json<CheckoutResponse>, ApiError> {
    let work = app.sim.work(Work::Checkout);
    let (user, charged) = app
        .db(move |c| {
            let user = authenticate(c, &req.token)?;
            Ok((user, store::cart_total(c, user)?))
        })
        .await?;
    if charged.cart_size == 0 {
        return Err(ApiError::Conflict("the cart is empty"));
    }
    simulate(work).await;
    let payment = app.sim.payment();
    simulate(payment.latency).await;
    app.catalog.third_party.call("payment", payment.failed, payment.latency);
    if payment.failed {
        return Err(ApiError::BadGateway("the payment provider failed; the cart is kept"));
    }
    let payment_ref = auth::new_token();
    match app.db(move |c| Ok(store::place_order(c, user, charged, &payment_ref)?)).await? {
        Placed::Order(order_id) => {
            Ok(Json(CheckoutResponse { order_id, total_cents: charged.total_cents, cart_size: charged.cart_size }))
        }
        Placed::CartChanged => Err(ApiError::Conflict("the cart changed during checkout; nothing was ordered")),
    }
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
}

async fn health(State(app): AppState) -> Result<Json<Health>, ApiError> {
    app.db(|c| Ok(store::ping(c)?)).await?;
    Ok(Json(Health { status: "ok" }))
}

async fn not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::NotFound(format!("no route for {method} {}", uri.path()))
}

/// A failed request, and the status it answers with.
#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    Unauthorized(&'static str),
    NotFound(String),
    Conflict(&'static str),
    BadGateway(&'static str),
    Internal(String),
    /// `--fault-rate`: a 500 on purpose, not logged as the server's fault.
    Injected,
    /// `/admin/degrade`: a 503 on purpose.
    Degraded,
}

impl ApiError {
    pub(crate) fn bad(message: impl Into<String>) -> ApiError {
        ApiError::BadRequest(message.into())
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> ApiError {
        ApiError::Internal(format!("database: {e}"))
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m.as_str()),
            ApiError::Unauthorized(m) => (StatusCode::UNAUTHORIZED, *m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m.as_str()),
            ApiError::Conflict(m) => (StatusCode::CONFLICT, *m),
            ApiError::BadGateway(m) => (StatusCode::BAD_GATEWAY, *m),
            ApiError::Injected => (StatusCode::INTERNAL_SERVER_ERROR, "injected fault (--fault-rate)"),
            ApiError::Degraded => (StatusCode::SERVICE_UNAVAILABLE, "degraded on purpose (/admin/degrade)"),
            ApiError::Internal(m) => {
                // The only failure that is the server's fault: say it where an operator looks.
                tracing::error!("demo shop: {m}");
                (StatusCode::INTERNAL_SERVER_ERROR, m.as_str())
            }
        };
        (status, Json(ErrorBody { error: message })).into_response()
    }
}
