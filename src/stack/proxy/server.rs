//! The proxy's HTTP side (axum) and the path of one request: fresh cache, breaker, one
//! coalesced upstream call, and the last good answer when the upstream cannot answer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use moka::Expiry;
use moka::future::Cache;

use super::answer::{error_body, is_success, stale_warning, with_warning};
use super::breaker::{Admit, Breaker, BreakerConfig, Outcome};
use super::key::{Endpoint, Prepared, prepare_with};
use super::metrics::{Metrics, Served, Upstream as Counted};
use super::upstream::{Reply, Upstream};
use super::{ProxyConfig, TestRunning};

/// The largest request body read (a form with a long PromQL query is a few KiB).
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// The header naming how a request was answered (`hit`, `miss`, `coalesced`, `stale`, ...).
pub const CACHE_HEADER: &str = "x-k6gate-cache";
/// The header on a stale answer: its age in whole seconds.
pub const STALE_HEADER: &str = "x-k6gate-stale";

/// One kept answer.
#[derive(Debug, Clone)]
struct Entry {
    body: Bytes,
    content_type: Option<String>,
    fetched: Instant,
    /// How long it is fresh, chosen when it was fetched (normal or aggressive TTL).
    ttl: Duration,
}

/// Each entry expires after the TTL it was fetched with.
struct EntryTtl;

impl Expiry<String, Entry> for EntryTtl {
    fn expire_after_create(&self, _key: &String, value: &Entry, _created_at: Instant) -> Option<Duration> {
        Some(value.ttl)
    }
}

#[expect(clippy::ptr_arg, reason = "moka's weigher takes a &K, and K is String")]
fn weigh(key: &String, entry: &Entry) -> u32 {
    u32::try_from(key.len() + entry.body.len()).unwrap_or(u32::MAX)
}

/// Why an upstream call gave no answer to cache.
#[derive(Debug)]
enum FetchError {
    /// Upstream answered with a client error (the query's fault): passed on as it is.
    Refused(Reply),
    /// No usable answer: what happened.
    Failed(String),
}

struct Inner {
    config: ProxyConfig,
    upstream: Upstream,
    fresh: Cache<String, Entry>,
    /// Every good answer, kept past its TTL for when the upstream cannot answer.
    last_good: Cache<String, Entry>,
    breaker: Mutex<Breaker>,
    metrics: Metrics,
    test_running: AtomicBool,
}

impl Inner {
    fn breaker(&self) -> MutexGuard<'_, Breaker> {
        self.breaker.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn aggressive(&self) -> bool {
        self.config.always_test_ttl || self.test_running.load(Ordering::Relaxed)
    }

    fn ttl(&self) -> Duration {
        if self.aggressive() { self.config.test_ttl } else { self.config.ttl }
    }
}

/// A proxy, cheap to clone (one shared state).
#[derive(Clone)]
pub struct Proxy(Arc<Inner>);

impl Proxy {
    /// A proxy for `config` (checked).
    pub fn new(config: ProxyConfig) -> Result<Proxy, String> {
        config.check()?;
        let upstream = Upstream::new(&config.upstream, config.upstream_timeout, &config.upstream_headers)?;
        let fresh = Cache::builder().max_capacity(config.max_bytes).weigher(weigh).expire_after(EntryTtl).build();
        let last_good =
            Cache::builder().max_capacity(config.max_bytes).weigher(weigh).time_to_live(config.max_stale).build();
        let breaker = Breaker::new(BreakerConfig {
            failures_to_open: config.failures_to_open,
            cool_down: config.cool_down,
            probe_timeout: config.cool_down + config.upstream_timeout,
        });
        Ok(Proxy(Arc::new(Inner {
            config,
            upstream,
            fresh,
            last_good,
            breaker: Mutex::new(breaker),
            metrics: Metrics::default(),
            test_running: AtomicBool::new(false),
        })))
    }

    /// Asks `probe` every `test_poll` (on a blocking thread) whether a load test runs, until
    /// the runtime stops. Call from inside the runtime.
    pub fn watch_tests(&self, probe: TestRunning) {
        let inner = Arc::clone(&self.0);
        tokio::spawn(async move {
            loop {
                let p = Arc::clone(&probe);
                let running = tokio::task::spawn_blocking(move || p()).await;
                // Unknown counts as running: the aggressive TTL protects Prometheus.
                let running = !matches!(running, Ok(Ok(false)));
                inner.test_running.store(running, Ordering::Relaxed);
                tokio::time::sleep(inner.config.test_poll).await;
            }
        });
    }

    /// The upstream's URL.
    pub fn upstream(&self) -> String {
        self.0.upstream.base().to_string()
    }
}

/// The proxy's routes (everything goes through one handler, which matches the path).
pub fn router(proxy: Proxy) -> Router {
    Router::new().fallback(handle).with_state(proxy)
}

/// Serves `proxy` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    proxy: Proxy,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(proxy)).with_graceful_shutdown(shutdown).await
}

fn prometheus_error(status: StatusCode, error_type: &str, error: &str) -> Response {
    let mut r = (status, error_body(error_type, error)).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

fn with_header(mut r: Response, name: &'static str, value: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
    r
}

fn reply_response(reply: Reply, served: Served) -> Response {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut r = (status, Body::from(reply.body)).into_response();
    if let Some(v) = reply.content_type.as_deref().and_then(|c| HeaderValue::from_str(c).ok()) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    with_header(r, CACHE_HEADER, served.name())
}

fn entry_response(entry: Entry, served: Served) -> Response {
    reply_response(Reply { status: 200, content_type: entry.content_type, body: entry.body }, served)
}

async fn handle(AxumState(proxy): AxumState<Proxy>, request: Request) -> Response {
    let inner = proxy.0;
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    if path == "/metrics" && method == Method::GET {
        let text = {
            let breaker = inner.breaker();
            inner.metrics.render(&breaker, inner.aggressive(), inner.fresh.entry_count())
        };
        return ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response();
    }
    if let Some(endpoint) = Endpoint::of(&path) {
        let post = method == Method::POST && endpoint.accepts_post();
        if method != Method::GET && !post {
            return prometheus_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "bad_data",
                &format!("k6gate proxy: {path} takes GET{}", if endpoint.accepts_post() { " or POST" } else { "" }),
            );
        }
        let mut params: Vec<(String, String)> = match serde_urlencoded::from_str(&query) {
            Ok(p) => p,
            Err(e) => return prometheus_error(StatusCode::BAD_REQUEST, "bad_data", &format!("query string: {e}")),
        };
        if post {
            let body = match axum::body::to_bytes(request.into_body(), MAX_REQUEST_BYTES).await {
                Ok(b) => b,
                Err(e) => return prometheus_error(StatusCode::BAD_REQUEST, "bad_data", &format!("form body: {e}")),
            };
            match serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) {
                Ok(form) => params.extend(form),
                Err(e) => return prometheus_error(StatusCode::BAD_REQUEST, "bad_data", &format!("form body: {e}")),
            }
        }
        let align_ms = inner.config.instant_align.map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        return cached(&inner, prepare_with(endpoint, params, align_ms)).await;
    }
    // `..` (plain or percent-encoded) would leave the read API once the upstream URL is
    // normalised: refused, like the paths it could reach.
    let dotted = path.contains("..") || path.to_ascii_lowercase().contains("%2e");
    let read_only = method == Method::GET
        && !dotted
        && (path.starts_with("/api/v1/") && !path.starts_with("/api/v1/admin/")
            || path == "/-/ready"
            || path == "/-/healthy");
    if read_only {
        return passthrough(&inner, &path, &query).await;
    }
    let (status, why) = if path.starts_with("/api/") || path.starts_with("/-/") {
        (StatusCode::FORBIDDEN, "only Prometheus' read API is proxied: writes, admin and lifecycle calls are refused")
    } else {
        (StatusCode::NOT_FOUND, "not a path of Prometheus' API (the proxy serves /api/v1/..., /-/ready, /metrics)")
    };
    prometheus_error(status, "bad_data", &format!("k6gate proxy: {method} {path}: {why}"))
}

/// An uncached read: straight to upstream, unless the breaker is open.
async fn passthrough(inner: &Inner, path: &str, query: &str) -> Response {
    if inner.breaker().state() == super::State::Open {
        inner.metrics.served(Served::Unavailable);
        return prometheus_error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "k6gate proxy: the circuit breaker is open (the upstream Prometheus is failing or slow); uncached paths are not served",
        );
    }
    let path_and_query = if query.is_empty() { path.to_string() } else { format!("{path}?{query}") };
    match inner.upstream.get(&path_and_query).await {
        Ok(reply) => {
            inner.metrics.served(Served::Passed);
            reply_response(reply, Served::Passed)
        }
        Err(e) => {
            inner.metrics.served(Served::Unavailable);
            prometheus_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                &format!("k6gate proxy: the upstream Prometheus did not answer: {e}"),
            )
        }
    }
}

/// One cacheable request.
async fn cached(inner: &Arc<Inner>, prepared: Prepared) -> Response {
    let key = prepared.key.clone();
    if let Some(entry) = inner.fresh.get(&key).await {
        inner.metrics.served(Served::Hit);
        return entry_response(entry, Served::Hit);
    }
    let admit = inner.breaker().admit(Instant::now());
    if admit == Admit::Reject {
        return stale_or_unavailable(
            inner,
            &key,
            "the circuit breaker is open (the upstream Prometheus is failing or slow)",
        )
        .await;
    }
    let ran = Arc::new(AtomicBool::new(false));
    let init = {
        let (inner, ran) = (Arc::clone(inner), Arc::clone(&ran));
        async move {
            ran.store(true, Ordering::Relaxed);
            // On its own task: a client that goes away does not cancel the call, so its
            // answer is still cached and the breaker still hears how it went.
            match tokio::spawn(fetch(inner, prepared)).await {
                Ok(result) => result,
                Err(e) => Err(FetchError::Failed(format!("the upstream call's task failed: {e}"))),
            }
        }
    };
    let result = inner.fresh.try_get_with(key.clone(), init).await;
    let ran = ran.load(Ordering::Relaxed);
    if admit == Admit::Probe && !ran {
        inner.breaker().release_probe();
    }
    match result {
        Ok(entry) => {
            let served = if ran { Served::Miss } else { Served::Coalesced };
            inner.metrics.served(served);
            entry_response(entry, served)
        }
        Err(e) => match &*e {
            FetchError::Refused(reply) => {
                inner.metrics.served(Served::Passed);
                reply_response(reply.clone(), Served::Passed)
            }
            FetchError::Failed(why) => stale_or_unavailable(inner, &key, why).await,
        },
    }
}

/// One upstream call for `prepared`: the breaker and the metrics hear how it went; a success
/// is kept as the last good answer too.
async fn fetch(inner: Arc<Inner>, prepared: Prepared) -> Result<Entry, FetchError> {
    let started = Instant::now();
    let post = prepared.endpoint.accepts_post();
    let sent = inner.upstream.send(prepared.endpoint.path(), &prepared.params, post).await;
    let latency = started.elapsed();
    let sla = inner.config.sla;
    let (outcome, counted, result) = match sent {
        Ok(reply) if reply.status == 200 && is_success(&reply.body) => {
            let entry =
                Entry { body: reply.body, content_type: reply.content_type, fetched: Instant::now(), ttl: inner.ttl() };
            let outcome = Outcome::of(true, latency, sla);
            let counted = if outcome == Outcome::Slow { Counted::Slow } else { Counted::Ok };
            (outcome, counted, Ok(entry))
        }
        // Prometheus' client errors (400 bad_data, 404, 422 execution): the query's fault,
        // and an answer from a working upstream.
        Ok(reply) if (400..500).contains(&reply.status) => {
            (Outcome::of(true, latency, sla), Counted::Refused, Err(FetchError::Refused(reply)))
        }
        Ok(reply) => {
            let text = String::from_utf8_lossy(reply.body.get(..reply.body.len().min(300)).unwrap_or_default());
            let why = format!("the upstream Prometheus answered {}: {}", reply.status, text.trim());
            (Outcome::Failed, Counted::Failed, Err(FetchError::Failed(why)))
        }
        Err(e) => (
            Outcome::Failed,
            Counted::Failed,
            Err(FetchError::Failed(format!("the upstream Prometheus did not answer: {e}"))),
        ),
    };
    inner.metrics.upstream(counted, latency);
    inner.breaker().record(outcome, Instant::now());
    if let Ok(entry) = &result {
        inner.last_good.insert(prepared.key.clone(), entry.clone()).await;
    }
    result
}

/// The last good answer for `key`, marked stale, or a 503 saying why there is none.
async fn stale_or_unavailable(inner: &Inner, key: &str, why: &str) -> Response {
    if let Some(entry) = inner.last_good.get(key).await {
        let age = entry.fetched.elapsed().as_secs();
        if let Some(body) = with_warning(&entry.body, &stale_warning(age, why)) {
            inner.metrics.served(Served::Stale);
            let r = entry_response(Entry { body: Bytes::from(body), ..entry }, Served::Stale);
            return with_header(r, STALE_HEADER, &age.to_string());
        }
    }
    inner.metrics.served(Served::Unavailable);
    prometheus_error(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        &format!(
            "k6gate proxy: {why}; no earlier answer to this query is kept (none within --max-stale {} s), so none is served",
            inner.config.max_stale.as_secs()
        ),
    )
}
