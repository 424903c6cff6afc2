//! The gateway (the load balancer): every request but `/admin/*` and `/health` is forwarded to
//! the API, inside a server span for the gateway's own work and a client span for the hop. The
//! slow-network fault waits before the server span opens: time on the wire in front of the
//! load balancer, which no span covers (`network` in the attribution).

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tracing::Instrument as _;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::faults::{self, Faults};
use crate::{TierError, propagate};

struct Gateway {
    client: reqwest::Client,
    upstream: String,
    faults: Arc<Faults>,
}

pub fn router(upstream: &str, faults: Arc<Faults>) -> Result<Router, TierError> {
    let client = reqwest::Client::builder().build().map_err(|e| TierError::Start(format!("HTTP client: {e}")))?;
    let gw = Arc::new(Gateway { client, upstream: upstream.trim_end_matches('/').to_string(), faults: faults.clone() });
    Ok(Router::new()
        .route("/admin/faults", get(faults::get).put(faults::put))
        .with_state(faults)
        .route("/health", get(|| async { "ok" }))
        .fallback(forward)
        .with_state(gw))
}

/// Headers not forwarded: hop-by-hop ones, and the trace context the gateway replaces.
const DROPPED: [&str; 7] = [
    "host",
    "connection",
    "content-length",
    "transfer-encoding",
    "traceparent",
    "tracestate",
    propagate::CORRELATION_HEADER,
];

async fn forward(
    State(gw): State<Arc<Gateway>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, TierError> {
    let delay = gw.faults.values().network_delay_ms;
    if delay > 0 {
        tokio::time::sleep(Duration::from_millis(delay)).await;
    }
    let parent = propagate::extract(&headers);
    let path = uri.path_and_query().map_or("/", |p| p.as_str()).to_string();
    let span = tracing::info_span!(
        "gateway",
        otel.name = %format!("{method} {}", uri.path()),
        otel.kind = "server",
        correlation_id = tracing::field::Empty,
    );
    // Fails only for a span no subscriber records.
    let _ = span.set_parent(parent);
    // Without a caller's id, one is made from the trace (the caller's, else the one the
    // gateway's span starts), so every request downstream has one.
    let cid = propagate::correlation_id(&headers, propagate::trace_id(&span.context()));
    span.record("correlation_id", cid.as_str());
    async {
        tracing::info!(correlation_id = %cid, %method, path = %path, "forward");
        let hop =
            tracing::info_span!("forward", otel.name = "forward to api", otel.kind = "client", correlation_id = %cid);
        let mut out = headers.clone();
        for h in DROPPED {
            out.remove(h);
        }
        propagate::inject(&hop.context(), &cid, &mut out);
        let url = format!("{}{path}", gw.upstream);
        let up = |source| TierError::Upstream { url: url.clone(), source };
        let (status, content_type, bytes) = async {
            let r = gw.client.request(method.clone(), &url).headers(out).body(body).send().await.map_err(up)?;
            let (status, ct) = (r.status(), r.headers().get(header::CONTENT_TYPE).cloned());
            Ok::<_, TierError>((status, ct, r.bytes().await.map_err(up)?))
        }
        .instrument(hop)
        .await?;
        let mut resp = (status, bytes).into_response();
        if let Some(ct) = content_type {
            resp.headers_mut().insert(header::CONTENT_TYPE, ct);
        }
        Ok(resp)
    }
    .instrument(span)
    .await
}
