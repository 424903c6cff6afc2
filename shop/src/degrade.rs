//! What the load-test guard watches and what its drills break: the shop's in-flight requests
//! and open connections as gauges, and switches that degrade it on demand.
//!
//! - `k6gate_shop_in_flight_requests` (gauge): requests being answered now (`/metrics` and
//!   `/admin/` excluded), so that teardown can tell when nothing is left in flight;
//! - `k6gate_shop_open_connections` (gauge): TCP connections accepted and not yet closed;
//! - `POST /admin/degrade {"slow_ms": 200, "error_rate": 0.5, "sticky": false}`: from now on
//!   every `/api/` request waits `slow_ms` more and answers 503 that share of the time.
//!   Not sticky (the default), the degradation is load-induced: it lifts by itself once the
//!   shop's arrivals fall below `heal_below_rps` (default 20 requests per second, over the last
//!   2 s), as an overloaded service recovers when the load stops. Sticky, it stays until
//!   `DELETE /admin/degrade`. `GET /admin/degrade` shows the state. The same at start-up with
//!   `--degrade-slow-ms`, `--degrade-error-rate`, `--degrade-sticky`.
//!
//! Nothing here is protected: the shop is a demo bound to 127.0.0.1.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use crate::sim::SplitMix64;

/// Arrivals are counted over this long to tell whether the load has stopped.
const RATE_WINDOW: Duration = Duration::from_secs(2);

/// Start-up switches (`k6gate target --degrade-...`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct DegradeArgs {
    /// Start degraded: every `/api/` request waits this many ms more.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub degrade_slow_ms: u64,
    /// Start degraded: this share of `/api/` requests answers 503.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = crate::args::fraction)]
    pub degrade_error_rate: f64,
    /// The start-up degradation stays after the load stops (until `DELETE /admin/degrade`).
    #[arg(long)]
    pub degrade_sticky: bool,
}

/// A degradation, as the admin endpoint takes and shows it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Setting {
    #[serde(default)]
    pub slow_ms: u64,
    #[serde(default)]
    pub error_rate: f64,
    /// Stays after the load stops.
    #[serde(default)]
    pub sticky: bool,
    /// A non-sticky degradation lifts below this many arrivals per second.
    #[serde(default = "heal_below_rps")]
    pub heal_below_rps: f64,
}

fn heal_below_rps() -> f64 {
    20.0
}

#[derive(Debug)]
struct Inner {
    setting: Option<Setting>,
    /// When the setting started: arrivals before it do not count toward healing.
    since: Instant,
    arrivals: VecDeque<Instant>,
    rng: SplitMix64,
}

/// The gauges and the switch, shared by every request.
#[derive(Debug)]
pub struct Degrade {
    in_flight: AtomicI64,
    open_connections: Arc<AtomicI64>,
    inner: Mutex<Inner>,
}

/// What one `/api/` request is to suffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Effect {
    pub delay: Duration,
    pub fail: bool,
}

impl Degrade {
    pub fn new(args: &DegradeArgs, seed: u64) -> Degrade {
        let setting = (args.degrade_slow_ms > 0 || args.degrade_error_rate > 0.0).then_some(Setting {
            slow_ms: args.degrade_slow_ms,
            error_rate: args.degrade_error_rate,
            sticky: args.degrade_sticky,
            heal_below_rps: heal_below_rps(),
        });
        Degrade {
            in_flight: AtomicI64::new(0),
            open_connections: Arc::new(AtomicI64::new(0)),
            inner: Mutex::new(Inner {
                setting,
                since: Instant::now(),
                arrivals: VecDeque::new(),
                rng: SplitMix64::new(seed ^ 0xD3C0_DE00),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts an `/api/` request's arrival and decides what it suffers.
    pub fn arrive(&self) -> Effect {
        self.arrive_at(Instant::now())
    }

    fn arrive_at(&self, now: Instant) -> Effect {
        let mut inner = self.lock();
        inner.arrivals.push_back(now);
        while inner.arrivals.front().is_some_and(|t| now.saturating_duration_since(*t) > RATE_WINDOW) {
            inner.arrivals.pop_front();
        }
        let Some(s) = inner.setting else { return Effect { delay: Duration::ZERO, fail: false } };
        // Healing needs a whole window under the setting, so a fresh switch is not undone at once.
        let observed = now.saturating_duration_since(inner.since) >= RATE_WINDOW;
        let rate = inner.arrivals.len() as f64 / RATE_WINDOW.as_secs_f64();
        if !s.sticky && observed && rate < s.heal_below_rps {
            tracing::info!("demo shop: load fell to {rate:.1} req/s, below {}: degradation lifted", s.heal_below_rps);
            inner.setting = None;
            return Effect { delay: Duration::ZERO, fail: false };
        }
        let fail = s.error_rate > 0.0 && inner.rng.next_f64() < s.error_rate;
        Effect { delay: Duration::from_millis(s.slow_ms), fail }
    }

    pub fn set(&self, setting: Option<Setting>) {
        let mut inner = self.lock();
        inner.setting = setting;
        inner.since = Instant::now();
    }

    pub fn setting(&self) -> Option<Setting> {
        self.lock().setting
    }

    /// Holds one in-flight request until dropped.
    pub fn enter(&self) -> InFlight<'_> {
        self.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(&self.in_flight)
    }

    /// Shared with the listener, which counts connections.
    pub fn connections(&self) -> Arc<AtomicI64> {
        Arc::clone(&self.open_connections)
    }

    /// The gauges in the exposition format, appended to `/metrics`.
    pub fn render(&self) -> String {
        let in_flight = self.in_flight.load(Ordering::SeqCst);
        let open = self.open_connections.load(Ordering::SeqCst);
        format!(
            "# HELP k6gate_shop_in_flight_requests Requests being answered now.\n\
             # TYPE k6gate_shop_in_flight_requests gauge\n\
             k6gate_shop_in_flight_requests {in_flight}\n\
             # HELP k6gate_shop_open_connections TCP connections open now.\n\
             # TYPE k6gate_shop_open_connections gauge\n\
             k6gate_shop_open_connections {open}\n\
             # HELP k6gate_shop_degraded Whether a degradation switch is on.\n\
             # TYPE k6gate_shop_degraded gauge\n\
             k6gate_shop_degraded {}\n",
            u8::from(self.setting().is_some())
        )
    }
}

/// One request in flight; the gauge falls when it is dropped (the response written or the
/// request abandoned).
#[derive(Debug)]
pub struct InFlight<'a>(&'a AtomicI64);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// `/admin/degrade`: GET shows, POST sets, DELETE heals.
pub fn routes<S>(degrade: Arc<Degrade>) -> axum::Router<S> {
    axum::Router::new().route("/admin/degrade", get(show).post(switch).delete(heal)).with_state(degrade)
}

#[derive(Serialize)]
struct Shown {
    degraded: bool,
    setting: Option<Setting>,
}

async fn show(State(d): State<Arc<Degrade>>) -> Json<Shown> {
    let setting = d.setting();
    Json(Shown { degraded: setting.is_some(), setting })
}

#[derive(Serialize)]
struct Refused {
    error: String,
}

type Rejected = (axum::http::StatusCode, Json<Refused>);

async fn switch(
    State(d): State<Arc<Degrade>>,
    body: Result<Json<Setting>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Shown>, Rejected> {
    let bad = |error: String| (axum::http::StatusCode::BAD_REQUEST, Json(Refused { error }));
    let Json(s) = body.map_err(|e| bad(e.body_text()))?;
    if !(0.0..=1.0).contains(&s.error_rate) {
        return Err(bad(format!("error_rate {} is not between 0 and 1", s.error_rate)));
    }
    if !(s.heal_below_rps.is_finite() && s.heal_below_rps >= 0.0) {
        return Err(bad(format!("heal_below_rps {} is not a rate", s.heal_below_rps)));
    }
    tracing::info!("demo shop: degraded on request: {s:?}");
    d.set(Some(s));
    Ok(Json(Shown { degraded: true, setting: Some(s) }))
}

async fn heal(State(d): State<Arc<Degrade>>) -> Json<Shown> {
    d.set(None);
    Json(Shown { degraded: false, setting: None })
}

/// A listener that counts its open connections: each accepted stream holds the count up until
/// it is dropped. Hand-written: axum's `tap_io` sees a connection open, never close.
pub struct Counted {
    pub inner: tokio::net::TcpListener,
    pub open: Arc<AtomicI64>,
}

impl axum::serve::Listener for Counted {
    type Io = CountedStream;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        self.open.fetch_add(1, Ordering::SeqCst);
        (CountedStream { io, open: Arc::clone(&self.open) }, addr)
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A TCP stream that counts itself out of the open connections when dropped.
pub struct CountedStream {
    io: tokio::net::TcpStream,
    open: Arc<AtomicI64>,
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl tokio::io::AsyncRead for CountedStream {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for CountedStream {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn degraded(sticky: bool) -> Degrade {
        let d = Degrade::new(&DegradeArgs::default(), 1);
        d.set(Some(Setting { slow_ms: 100, error_rate: 0.5, sticky, heal_below_rps: 20.0 }));
        d
    }

    #[test]
    fn a_load_induced_degradation_lifts_when_the_load_stops_and_a_sticky_one_stays() {
        for sticky in [false, true] {
            let d = degraded(sticky);
            let t0 = d.lock().since;
            // 100 req/s for 3 s: degraded throughout, about half failing.
            let mut failed = 0;
            for i in 0..300 {
                let e = d.arrive_at(t0 + Duration::from_millis(10 * i));
                assert_eq!(e.delay, Duration::from_millis(100));
                failed += usize::from(e.fail);
            }
            assert!((100..200).contains(&failed), "{failed} of 300 failed");
            // Then one request a second: the load has stopped.
            let e = d.arrive_at(t0 + Duration::from_secs(6));
            assert_eq!(e.delay == Duration::ZERO, !sticky, "sticky {sticky}: {e:?}");
            assert_eq!(d.setting().is_some(), sticky);
        }
    }

    #[test]
    fn the_gauges_count_requests_in_flight() {
        let d = degraded(true);
        let a = d.enter();
        let b = d.enter();
        assert!(d.render().contains("k6gate_shop_in_flight_requests 2\n"), "{}", d.render());
        drop((a, b));
        let text = d.render();
        assert!(text.contains("k6gate_shop_in_flight_requests 0\n") && text.contains("k6gate_shop_degraded 1\n"));
    }
}
