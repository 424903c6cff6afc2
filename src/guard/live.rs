//! The live guard beside k6: while the test runs, it drives k6's VUs along the rendered stages
//! (when the scenario is `externally-controlled`: `render::guard_ramp`), and every
//! `guard.live.interval_s` reads the target's and the monitoring stack's health from the
//! environment's Prometheus (`Probe`), asks policies/guard.rego what to do
//! (`data.k6gate_guard.live`) and does it through k6's REST API (`k6api`): lower the VUs by
//! `lower_factor`, pause, resume, stop. Every action is recorded with its reason, the reading
//! behind it and its time (`policy::guarded::GuardAction`).
//!
//! Fail closed: a policy that cannot decide stops k6; a target reading that is missing stops
//! it unless the policy says `on_missing_data: continue`. The guard never prints and never
//! reads the wall clock itself: the caller hands it one (`Setup::wall_ns`); intervals are
//! measured with a monotonic timer.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;

use super::alerting::{Alerting, Critical};
use super::k6api::K6Api;
use super::live_rules::LiveRules;
use super::policy::Rules;
use crate::net::ClientOptions;
use crate::policy::guarded::{GuardAction, GuardRecord, Reading};
use crate::render::{Monitoring, RampPoint};
use crate::time::format_rfc3339_ms;

/// How long one Prometheus query may take before it counts as no answer.
const QUERY_TIMEOUT: Duration = Duration::from_secs(3);
/// How often the VUs follow the plan between readings.
const TICK: Duration = Duration::from_millis(250);
/// How long k6's API may take to come up and start the test.
const START_LIMIT: Duration = Duration::from_secs(120);

/// Reads the target's (and the stack's) health from Prometheus.
#[derive(Debug, Clone)]
pub struct Probe {
    client: reqwest::Client,
    /// Prometheus itself: the stack's own health, and the query latency the guard measures.
    base: String,
    /// Where the target is read: `monitoring.proxy` when one is declared (cached, coalesced;
    /// a stale answer counts as none), else Prometheus.
    reads: String,
    selector: String,
    requests_metric: String,
    duration_metric: String,
    in_flight_metric: String,
}

fn finite(v: Option<f64>) -> Option<f64> {
    v.filter(|v| v.is_finite())
}

impl Probe {
    pub fn new(
        monitoring: &Monitoring,
        requests_metric: &str,
        duration_metric: &str,
        in_flight_metric: &str,
    ) -> Result<Probe, String> {
        let client = crate::net::client(&ClientOptions::with_timeout(QUERY_TIMEOUT))
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(Probe {
            client,
            base: monitoring.prometheus.clone(),
            reads: monitoring.proxy.clone().unwrap_or_else(|| monitoring.prometheus.clone()),
            selector: format!("job=\"{}\"", monitoring.target_job),
            requests_metric: requests_metric.to_string(),
            duration_metric: duration_metric.to_string(),
            in_flight_metric: in_flight_metric.to_string(),
        })
    }

    /// One value of an instant query, the time it took and whether Prometheus answered.
    async fn one(&self, base: &str, promql: &str) -> (Option<f64>, Option<Duration>) {
        match super::preflight::query(&self.client, base, promql).await {
            Ok((series, took)) => (finite(series.first().map(|s| s.1)), Some(took)),
            Err(e) => {
                tracing::debug!("guard: {promql}: {e}");
                (None, None)
            }
        }
    }

    /// Whether the target is read through a proxy.
    pub fn proxied(&self) -> bool {
        self.reads != self.base
    }

    /// The target over `window` (and, with `stack`, the monitoring stack); the number of
    /// queries made. The target's queries go to `reads`; the stack's go to Prometheus directly,
    /// and `query_ms` is the slowest query Prometheus answered directly (through a proxy, a
    /// cached answer would hide its latency).
    pub async fn read(&self, window: &str, stack: bool) -> (Reading, u64) {
        let (sel, w) = (&self.selector, window);
        let mut queries = vec![
            format!(
                "(sum(rate({r}{{{sel},status=~\"5..\"}}[{w}])) or vector(0)) / sum(rate({r}{{{sel}}}[{w}]))",
                r = self.requests_metric
            ),
            format!(
                "histogram_quantile(0.95, sum by (le) (rate({}_bucket{{{sel}}}[{w}]))) * 1000",
                self.duration_metric
            ),
            format!("sum({}{{{sel}}})", self.in_flight_metric),
        ];
        if stack {
            queries.push("max(prometheus_rule_group_last_duration_seconds)".into());
            queries.push(format!("sum(increase(prometheus_rule_evaluation_failures_total[{w}]))"));
        }
        let mut values = Vec::new();
        let mut slowest: Option<Duration> = None;
        for (i, q) in queries.iter().enumerate() {
            // The first three read the target.
            let direct = i >= 3 || !self.proxied();
            let (v, took) = self.one(if direct { &self.base } else { &self.reads }, q).await;
            if let Some(t) = took.filter(|_| direct) {
                slowest = Some(slowest.map_or(t, |s| s.max(t)));
            }
            values.push(v);
        }
        let at = |i: usize| values.get(i).copied().flatten();
        let reading = Reading {
            error_rate: at(0),
            p95_ms: at(1),
            in_flight: at(2),
            query_ms: slowest.map(|d| (d.as_secs_f64() * 1e4).round() / 10.0),
            rule_lag_s: at(3),
            rule_failures: at(4),
            alert_delivery_s: None,
        };
        (reading, queries.len() as u64)
    }
}

/// What the guard needs to watch one run.
pub struct Setup<'a> {
    pub rules: &'a Rules,
    pub live: &'a LiveRules,
    /// `file:line` of `guard.live`.
    pub source: &'a str,
    pub probe: Probe,
    /// The VU plan to drive (`render::guard_ramp`); `None`: k6 runs its own executor, which
    /// the guard can only stop.
    pub ramp: Option<Vec<RampPoint>>,
    /// The wall clock (Unix ns), for the actions' times.
    pub wall_ns: &'a (dyn Fn() -> i64 + Sync),
    /// Where the guard's critical alerts go (`alerting`); `None`: none sent.
    pub alerting: Option<&'a Alerting>,
}

/// The planned VUs `elapsed_ms` into the test, linear between the ramp's points, times
/// `factor`; at least 1 while the plan runs.
pub fn planned(ramp: &[RampPoint], elapsed_ms: u64, factor: f64) -> u64 {
    let mut prev = RampPoint { at_ms: 0, target: 0 };
    let mut vus = ramp.last().map_or(0.0, |p| f64::from(p.target));
    for p in ramp {
        if elapsed_ms < p.at_ms {
            let span = (p.at_ms - prev.at_ms) as f64;
            let done = (elapsed_ms.saturating_sub(prev.at_ms)) as f64;
            let from = f64::from(prev.target);
            vus = from + (f64::from(p.target) - from) * if span > 0.0 { done / span } else { 1.0 };
            break;
        }
        prev = *p;
    }
    let peak = ramp.iter().map(|p| p.target).max().unwrap_or(1);
    ((vus * factor).round() as u64).clamp(1, u64::from(peak.max(1)))
}

/// One call to k6's API, waited for; k6's status after it, or why not.
fn block(
    f: impl Future<Output = Result<super::k6api::Status, super::k6api::K6ApiError>> + Send,
) -> Result<super::k6api::Status, String> {
    match crate::net::block_on(f) {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(e.to_string()),
        Err(e) => Err(e.to_string()),
    }
}

/// Whether k6 exits within the next 2 s (polled every 100 ms).
fn ending(done: &AtomicBool) -> bool {
    for _ in 0..20 {
        if done.load(Ordering::SeqCst) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    done.load(Ordering::SeqCst)
}

struct State {
    lowerings: u32,
    paused: bool,
    factor: f64,
    last_action: Option<Instant>,
    last_set: Option<u64>,
}

/// Watches k6 at `api` until `done` (k6 exited) or the guard stopped it.
pub fn watch(setup: &Setup<'_>, api: &K6Api, done: &AtomicBool) -> GuardRecord {
    let scalable = setup.ramp.is_some();
    let mut rec = GuardRecord { rules: setup.source.to_string(), scalable, ..GuardRecord::default() };
    // The test starts once k6's API answers and says it runs.
    let waiting = Instant::now();
    let started = loop {
        if done.load(Ordering::SeqCst) {
            return rec;
        }
        if let Ok(s) = block(api.status()) {
            if s.running || s.status >= 7 {
                break Instant::now();
            }
        }
        if waiting.elapsed() > START_LIMIT {
            rec.problems.push(format!("k6's API at {} did not start the test within {START_LIMIT:?}", api.address()));
            return rec;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let interval = Duration::from_secs_f64(setup.live.interval_s);
    let window_ms = crate::render::duration_ms(&setup.live.window).unwrap_or(0);
    let mut next_reading = started + interval;
    let mut st = State { lowerings: 0, paused: false, factor: 1.0, last_action: None, last_set: None };
    let mut blind_alerted = false;
    // Alert-delivery latency, only when the policy holds it to a limit (`watchdog.rs`).
    let mut watchdog =
        setup.alerting.filter(|_| setup.live.observability.contains_key("alert_delivery_s")).and_then(|a| {
            let labels: Vec<(String, String)> = a.labels.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            super::watchdog::Watchdog::new(&a.alertmanagers, &labels)
        });
    let probe_run = format!("{:x}", (setup.wall_ns)());
    while !done.load(Ordering::SeqCst) {
        let elapsed_ms = started.elapsed().as_millis() as u64;
        if let (Some(ramp), false) = (&setup.ramp, st.paused) {
            let want = planned(ramp, elapsed_ms, st.factor);
            if st.last_set != Some(want) {
                match block(api.scale(want)) {
                    Ok(_) => st.last_set = Some(want),
                    Err(e) => {
                        // At the plan's end k6 closes its API a moment before it exits: a
                        // failure then is k6 finishing, not a problem.
                        if ending(done) {
                            break;
                        }
                        if rec.problems.len() < 5 {
                            rec.problems.push(format!("driving the VUs to {want}: {e}"));
                        }
                    }
                }
            }
        }
        if Instant::now() >= next_reading {
            next_reading += interval;
            let read_at = Instant::now();
            let (mut reading, queries) = crate::net::block_on(setup.probe.read(&setup.live.window, true))
                .unwrap_or_else(|_| (Reading::default(), 0));
            if let Some(w) = watchdog.as_mut() {
                reading.alert_delivery_s = crate::net::block_on(w.read(&probe_run, (setup.wall_ns)())).ok().flatten();
            }
            rec.readings += 1;
            rec.queries += queries;
            let input = json!({
                "reading": reading,
                "state": {
                    "lowerings": st.lowerings,
                    "paused": st.paused,
                    "since_last_action_s": st.last_action.map(|t| t.elapsed().as_secs_f64()),
                    "scalable": scalable,
                    // The first window holds less than a window of the test: a missing
                    // reading then is not yet a fault.
                    "warming": elapsed_ms < window_ms,
                },
            });
            // Prometheus answered none of the reading's queries: the on-call loses its view
            // of the target too. Said once per run, whatever the policy does about it.
            if reading.query_ms.is_none() && !blind_alerted {
                blind_alerted = true;
                let what = format!(
                    "Prometheus at {} answered none of its queries (guard.live.on_missing_data: {})",
                    setup.probe.base, setup.live.on_missing_data
                );
                alert(setup, &mut rec, "observability_lost", &Critical::observability_lost(&what));
            }
            let (action, reason) = match setup.rules.live(&input) {
                Ok(d) => (d.action, d.reason),
                Err(e) => ("stop".to_string(), format!("the guard's policy could not decide (fail closed): {e}")),
            };
            if action != "none" {
                tracing::warn!("guard: {action}: {reason} ({})", reading.describe());
                let stop = action == "stop";
                let record = act(setup, api, &mut st, &action, started, elapsed_ms);
                rec.actions.push(GuardAction {
                    action,
                    at: format_rfc3339_ms((setup.wall_ns)()),
                    t_s: (started.elapsed().as_secs_f64() * 10.0).round() / 10.0,
                    reason,
                    reading,
                    vus_before: record.0,
                    vus_after: record.1,
                    took_ms: (read_at.elapsed().as_secs_f64() * 1e4).round() / 10.0,
                    error: record.2.clone(),
                });
                if stop {
                    let why = rec.actions.last().map(|a| a.reason.clone()).unwrap_or_default();
                    alert(setup, &mut rec, "stop", &Critical::stopped_k6(&why));
                }
                if stop && record.2.is_none() {
                    break;
                }
            }
        }
        std::thread::sleep(TICK);
    }
    let watched = started.elapsed().as_secs_f64();
    if watched > 0.0 {
        rec.queries_per_s = (rec.queries as f64 / watched * 100.0).round() / 100.0;
    }
    rec
}

/// Sends one critical alert when the policy's `alert_on` names `condition`, and records how it
/// went out.
fn alert(setup: &Setup<'_>, rec: &mut GuardRecord, condition: &str, c: &Critical) {
    let Some(a) = setup.alerting else { return };
    if !setup.live.alert_on.iter().any(|x| x == condition) {
        return;
    }
    let d = super::alerting::deliver(a, c, &format_rfc3339_ms((setup.wall_ns)()));
    if d.path == "none" {
        tracing::warn!("guard: alert {} reached nobody: {}", d.alert, d.errors.join("; "));
        rec.problems.push(format!("alert {} reached nobody: {}", d.alert, d.errors.join("; ")));
    } else {
        tracing::warn!("guard: alert {} sent through the {}", d.alert, d.path);
    }
    rec.alerts.push(d);
}

/// Applies one action; k6's VUs before and after, and the error when k6 refused it.
fn act(
    setup: &Setup<'_>,
    api: &K6Api,
    st: &mut State,
    action: &str,
    started: Instant,
    elapsed_ms: u64,
) -> (Option<u64>, Option<u64>, Option<String>) {
    let before = block(api.status()).ok().map(|s| s.vus);
    let result = match (action, &setup.ramp) {
        ("lower", Some(ramp)) => {
            let factor = st.factor * setup.live.lower_factor;
            let want = planned(ramp, elapsed_ms.max(started.elapsed().as_millis() as u64), factor);
            let r = block(api.scale(want));
            if r.is_ok() {
                st.factor = factor;
                st.lowerings += 1;
                st.last_set = Some(want);
            }
            r
        }
        ("lower", None) => return (before, None, Some("k6's scenario cannot be scaled live".into())),
        ("pause", _) => {
            let r = block(api.pause());
            if r.is_ok() {
                st.paused = true;
            }
            r
        }
        ("resume", _) => {
            let r = block(api.resume());
            if r.is_ok() {
                st.paused = false;
                st.last_set = None;
            }
            r
        }
        ("stop", _) => block(api.stop()),
        (other, _) => return (before, None, Some(format!("unknown action {other:?} from the policy"))),
    };
    st.last_action = Some(Instant::now());
    match result {
        Ok(s) => (before, Some(s.vus), None),
        Err(e) => (before, None, Some(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ramp() -> Vec<RampPoint> {
        [(0, 0), (2000, 2), (6000, 10), (16000, 10), (18000, 0)]
            .into_iter()
            .map(|(at_ms, target)| RampPoint { at_ms, target })
            .collect()
    }

    #[test]
    fn the_plan_is_followed_linearly_and_lowering_scales_it() {
        let r = ramp();
        assert_eq!(planned(&r, 0, 1.0), 1, "at least one VU while the plan runs");
        assert_eq!(planned(&r, 4000, 1.0), 6);
        assert_eq!(planned(&r, 10_000, 1.0), 10);
        assert_eq!(planned(&r, 10_000, 0.5), 5);
        assert_eq!(planned(&r, 10_000, 0.25), 3);
        assert_eq!(planned(&r, 17_000, 1.0), 5);
        assert_eq!(planned(&r, 60_000, 1.0), 1);
    }
}
