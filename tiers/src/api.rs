//! The API tier: `GET /products`, `GET /search?q=`, `POST /checkout` (a stock check, then an
//! order: two queries). Each request is a server span; each database call a client span whose
//! context (and the correlation id) the database tier receives.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::faults::{self, Faults};
use crate::{TierError, propagate};

struct Api {
    client: reqwest::Client,
    /// The database tier's `/query` URL.
    db: String,
}

pub fn router(db_url: &str, faults: Arc<Faults>) -> Result<Router, TierError> {
    let client = reqwest::Client::builder().build().map_err(|e| TierError::Start(format!("HTTP client: {e}")))?;
    let api = Arc::new(Api { client, db: format!("{}/query", db_url.trim_end_matches('/')) });
    Ok(Router::new()
        .route("/products", get(products))
        .route("/search", get(search))
        .route("/checkout", post(checkout))
        .with_state(api)
        .merge(Router::new().route("/admin/faults", get(faults::get).put(faults::put)).with_state(faults))
        .route("/health", get(|| async { "ok" })))
}

/// The request's server span, child of the caller's context, and its correlation id.
fn server_span(headers: &HeaderMap, route: &str) -> (tracing::Span, String) {
    let parent = propagate::extract(headers);
    let cid = propagate::correlation_id(headers, propagate::trace_id(&parent));
    let span = tracing::info_span!("request", otel.name = route, otel.kind = "server", correlation_id = %cid);
    // Fails only for a span no subscriber records.
    let _ = span.set_parent(parent);
    (span, cid)
}

impl Api {
    /// One named query on the database tier, in a client span.
    async fn db(&self, cid: &str, query: &str, arg: Value) -> Result<Value, TierError> {
        let span = tracing::info_span!("db call", otel.name = %format!("db {query}"), otel.kind = "client", correlation_id = %cid);
        let mut headers = HeaderMap::new();
        propagate::inject(&span.context(), cid, &mut headers);
        headers.insert(axum::http::header::CONTENT_TYPE, axum::http::HeaderValue::from_static("application/json"));
        let body = json!({ "query": query, "arg": arg }).to_string();
        let up = |source| TierError::Upstream { url: self.db.clone(), source };
        async {
            let r = self.client.post(&self.db).headers(headers).body(body).send().await.map_err(up)?;
            let r = r.error_for_status().map_err(up)?;
            let bytes = r.bytes().await.map_err(up)?;
            serde_json::from_slice(&bytes).map_err(|e| TierError::Start(format!("{}: not JSON: {e}", self.db)))
        }
        .instrument(span)
        .await
    }
}

async fn products(State(api): State<Arc<Api>>, headers: HeaderMap) -> Result<Json<Value>, TierError> {
    let (span, cid) = server_span(&headers, "GET /products");
    async {
        tracing::info!(correlation_id = %cid, "products");
        Ok(Json(api.db(&cid, "products", Value::Null).await?))
    }
    .instrument(span)
    .await
}

#[derive(Deserialize)]
struct Search {
    #[serde(default)]
    q: String,
}

async fn search(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Query(s): Query<Search>,
) -> Result<Json<Value>, TierError> {
    let (span, cid) = server_span(&headers, "GET /search");
    async {
        tracing::info!(correlation_id = %cid, q = %s.q, "search");
        Ok(Json(api.db(&cid, "search", json!(s.q)).await?))
    }
    .instrument(span)
    .await
}

#[derive(Deserialize)]
struct Checkout {
    product_id: i64,
}

async fn checkout(
    State(api): State<Arc<Api>>,
    headers: HeaderMap,
    Json(c): Json<Checkout>,
) -> Result<Json<Value>, TierError> {
    let (span, cid) = server_span(&headers, "POST /checkout");
    async {
        tracing::info!(correlation_id = %cid, product_id = c.product_id, "checkout");
        let stock = api.db(&cid, "stock", json!(c.product_id)).await?;
        let order = api.db(&cid, "order", json!(c.product_id)).await?;
        Ok(Json(json!({ "stock": stock.get("rows"), "order": order.get("rows") })))
    }
    .instrument(span)
    .await
}
