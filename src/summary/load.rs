//! The load model of a run (open or closed) and whether the load generator kept up.
//!
//! A comparison assumes both runs received the load they were asked for. Under an open model
//! (arrival-rate executors) a saturated k6 quietly offers less: it drops iterations it cannot
//! start on time, runs out of the VUs it allocated, and the system under test looks faster
//! than it is. These are the signs looked for, over the compared part of the run (the steady
//! state, else the sustained phase, else the whole run):
//!
//! - k6 counted `dropped_iterations` (they exist only under an open model);
//! - open model with a known offered rate: the iterations completed per second, averaged over
//!   the part's inner windows, are below [`ACHIEVED_SHARE_MIN`] of the offered rate. Inner
//!   windows leave out the part's first and last second, which it shares with the phases
//!   around it. The sustained phase starts where the ramp-up reached the plateau, so its
//!   first full second already runs at the offered rate;
//! - open model: in some second of the part the VUs in use reached `vus_max`, every VU k6
//!   had allocated (under a closed model VUs in use equal `vus_max` at every plateau, so
//!   this is no sign there);
//! - the iterations' time was dominated by the client: of the time iterations spent outside
//!   think time, k6 itself (script code, waiting for a CPU, timers firing late) took at least
//!   [`CLIENT_SHARE_MAX`], and requests the rest. Known only when the script counts its think
//!   time (`k6gate_think_ms`, which the runtime's `think()` does): k6 cannot tell a `sleep`
//!   from time spent in the script.
//!
//! Nothing here reads k6's files: the caller hands over the numbers of the part ([`Part`]).

use super::{LoadGenerator, LoadModel, Model, ModelSource, PhaseSummary};
use crate::samples::metric;

/// Below this share of the offered rate, the achieved rate is a sign of saturation.
pub const ACHIEVED_SHARE_MIN: f64 = 0.95;

/// The load generator's machine at least this busy (all cores, averaged over the compared
/// part) ...
pub const HOST_BUSY_MAX: f64 = 0.9;

/// ... and k6's threads waiting for a CPU at least this long per unit of time they ran: k6 was
/// competing for CPU. Measured with `bench/k6-cpu-wait.sh` (k6 at 100 requests/s) on this
/// project's 2-core machine: 0.65–0.69 quiet, 1.6 while a compiler ran, 1.8 with
/// `stress-ng --cpu 2`, 3.5 with `stress-ng --cpu 8`.
pub const K6_WAIT_RATIO_MAX: f64 = 2.0;

/// At least this share of the iterations' active time (their duration less think time) spent
/// in k6 rather than in requests: the client, not the service, set the pace ("dominated").
/// Measured with `bench/k6-client-share.sh` on this project's 2-core machine (the checkout
/// template for dev, 10 s at its arrival rate): 0.12–0.15 quiet, 0.15–0.19 with
/// `stress-ng --cpu 8` (CPU starvation stretches the requests as much as the script). A script
/// computing 30 ms around each 1 ms request is far above it (`tests/it/load_generator.rs`).
pub const CLIENT_SHARE_MAX: f64 = 0.5;

impl LoadGenerator {
    /// Adds what the machine k6 ran on showed over the compared part: its CPU busy share
    /// and k6's wait-for-CPU ratio. Both high: k6 competed for CPU, a sign.
    pub fn note_host(&mut self, busy: f64, k6_wait_ratio: f64) {
        self.host_cpu_busy = Some(busy);
        self.k6_cpu_wait_ratio = Some(k6_wait_ratio);
        if busy >= HOST_BUSY_MAX && k6_wait_ratio >= K6_WAIT_RATIO_MAX && !self.host_saturated {
            self.host_saturated = true;
            self.signs.push(format!(
                "the load generator's machine was {:.0} % busy (all cores) and k6 waited {k6_wait_ratio:.1} times as \
                 long for a CPU as it ran: k6 competed for CPU, so its timings are not the service's",
                busy * 100.0
            ));
        }
    }
}

/// The numbers of the compared part of a run.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Part {
    /// "steady state", "sustained phase" or "whole run", for the sentences.
    pub label: &'static str,
    pub dropped_iterations: u64,
    /// Iterations completed per second over the inner windows; `None` when unknown.
    pub achieved_iterations_per_s: Option<f64>,
    /// `vus_max` in a second where the VUs in use reached it; `None` when none did.
    pub vus_max_reached: Option<f64>,
    /// Share of the iterations' active time spent in k6 itself; `None` when unknown.
    pub client_share: Option<f64>,
}

/// Sums over the compared part, in milliseconds, for [`active_client_share`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct IterationTime {
    /// `iteration_duration`.
    pub iterations: f64,
    /// `http_req_duration` + `http_req_blocked` + `http_req_connecting` + `http_req_tls_handshaking`.
    pub requests: f64,
    /// `k6gate_think_ms`.
    pub think: f64,
}

/// The client's share of `part`'s iterations ([`active_client_share`]), when the script
/// counted its think time.
pub(super) fn client_share(part: &PhaseSummary) -> Option<f64> {
    if !part.metrics.contains_key(metric::THINK_MS) {
        return None;
    }
    let sum = |name: &str| part.metrics.get(name).and_then(|m| m.sum).unwrap_or(0.0);
    active_client_share(IterationTime {
        iterations: sum(metric::ITERATION_DURATION),
        requests: [
            metric::HTTP_REQ_DURATION,
            metric::HTTP_REQ_BLOCKED,
            metric::HTTP_REQ_CONNECTING,
            metric::HTTP_REQ_TLS_HANDSHAKING,
        ]
        .into_iter()
        .map(sum)
        .sum(),
        think: sum(metric::THINK_MS),
    })
}

/// The share of the iterations' time outside think time that was not spent in requests.
/// `None` without iterations or with no time outside think time.
pub(super) fn active_client_share(t: IterationTime) -> Option<f64> {
    let active = t.iterations - t.think;
    (t.iterations > 0.0 && active > 0.0 && t.requests.is_finite())
        .then(|| ((active - t.requests) / active).clamp(0.0, 1.0))
}

/// The load model from the `load_model` and `offered_rate` tags, else inferred: open when
/// k6 counted dropped iterations. A tag value k6gate does not know is noted and ignored.
pub(super) fn model(
    tag: Option<&str>,
    offered: Option<&str>,
    has_dropped_iterations: bool,
    notes: &mut Vec<String>,
) -> Option<LoadModel> {
    let tagged = match tag {
        Some("open") => Some(Model::Open),
        Some("closed") => Some(Model::Closed),
        Some(other) => {
            notes.push(format!("tag load_model is {other:?}, expected \"open\" or \"closed\": ignored"));
            None
        }
        None => None,
    };
    match tagged {
        Some(Model::Open) => {
            let rate = offered.and_then(|o| {
                let rate = o.trim().parse::<f64>().ok().filter(|r| r.is_finite() && *r > 0.0);
                if rate.is_none() {
                    notes
                        .push(format!("tag offered_rate is {o:?}, not a positive number: the offered rate is unknown"));
                }
                rate
            });
            Some(LoadModel { model: Model::Open, offered_iterations_per_s: rate, source: ModelSource::Tagged })
        }
        Some(Model::Closed) => {
            Some(LoadModel { model: Model::Closed, offered_iterations_per_s: None, source: ModelSource::Tagged })
        }
        None => has_dropped_iterations.then_some(LoadModel {
            model: Model::Open,
            offered_iterations_per_s: None,
            source: ModelSource::Inferred,
        }),
    }
}

/// The load generator's health over `part`, under `model` (`None`: unknown).
pub(super) fn assess(model: Option<&LoadModel>, part: &Part) -> LoadGenerator {
    let open = model.is_some_and(|m| m.model == Model::Open);
    let offered = model.filter(|_| open).and_then(|m| m.offered_iterations_per_s);
    let mut signs = Vec::new();
    if part.dropped_iterations > 0 {
        signs.push(format!(
            "k6 dropped {} iteration{} in the {}: the load generator could not start them on time",
            part.dropped_iterations,
            if part.dropped_iterations == 1 { "" } else { "s" },
            part.label
        ));
    }
    if let (Some(offered), Some(achieved)) = (offered, part.achieved_iterations_per_s) {
        if achieved < ACHIEVED_SHARE_MIN * offered {
            signs.push(format!(
                "k6 completed {achieved:.1} iterations/s in the {}, {:.0} % of the {offered} offered: the load generator did not keep the arrival rate",
                part.label,
                achieved / offered * 100.0
            ));
        }
    }
    let vus_max_reached = open && part.vus_max_reached.is_some();
    if let Some(vus_max) = part.vus_max_reached.filter(|_| open) {
        signs.push(format!(
            "the VUs in use reached all {vus_max} VUs k6 had allocated (vus_max) in the {}: no VU was free to start an iteration on time",
            part.label
        ));
    }
    let client_dominated = part.client_share.is_some_and(|s| s >= CLIENT_SHARE_MAX);
    if let Some(share) = part.client_share.filter(|_| client_dominated) {
        signs.push(format!(
            "k6 itself took {:.0} % of the iterations' time outside think time in the {}, the requests the rest: \
             the client, not the service, set the pace",
            share * 100.0,
            part.label
        ));
    }
    LoadGenerator {
        saturated: !signs.is_empty(),
        signs,
        dropped_iterations: part.dropped_iterations,
        offered_iterations_per_s: offered,
        achieved_iterations_per_s: part.achieved_iterations_per_s,
        vus_max_reached,
        client_share: part.client_share,
        client_dominated,
        host_cpu_busy: None,
        k6_cpu_wait_ratio: None,
        host_saturated: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part() -> Part {
        Part {
            label: "steady state",
            dropped_iterations: 0,
            achieved_iterations_per_s: Some(99.0),
            vus_max_reached: None,
            client_share: Some(0.05),
        }
    }

    fn open(rate: Option<f64>) -> LoadModel {
        LoadModel { model: Model::Open, offered_iterations_per_s: rate, source: ModelSource::Tagged }
    }

    #[test]
    fn the_model_comes_from_the_tags_else_from_dropped_iterations() {
        let mut notes = Vec::new();
        assert_eq!(model(Some("open"), Some("200"), false, &mut notes), Some(open(Some(200.0))));
        assert_eq!(
            model(Some("closed"), None, true, &mut notes),
            Some(LoadModel { model: Model::Closed, offered_iterations_per_s: None, source: ModelSource::Tagged })
        );
        assert_eq!(
            model(None, None, true, &mut notes),
            Some(LoadModel { model: Model::Open, offered_iterations_per_s: None, source: ModelSource::Inferred })
        );
        assert_eq!(model(None, None, false, &mut notes), None);
        assert!(notes.is_empty(), "{notes:?}");
        assert_eq!(model(Some("open"), Some("fast"), false, &mut notes), Some(open(None)));
        assert_eq!(model(Some("half-open"), None, false, &mut notes), None);
        assert_eq!(notes.len(), 2, "{notes:?}");
    }

    #[test]
    fn a_generator_that_keeps_up_shows_no_sign() {
        let g = assess(Some(&open(Some(100.0))), &part());
        assert!(!g.saturated && g.signs.is_empty(), "{g:?}");
        assert_eq!((g.offered_iterations_per_s, g.achieved_iterations_per_s), (Some(100.0), Some(99.0)));
    }

    #[test]
    fn each_sign_is_a_sentence() {
        let p = Part {
            dropped_iterations: 37,
            achieved_iterations_per_s: Some(80.0),
            vus_max_reached: Some(2.0),
            ..part()
        };
        let g = assess(Some(&open(Some(100.0))), &p);
        assert!(g.saturated && g.vus_max_reached, "{g:?}");
        assert_eq!(g.dropped_iterations, 37);
        assert_eq!(g.signs.len(), 3, "{:?}", g.signs);
        assert!(g.signs[0].starts_with("k6 dropped 37 iterations in the steady state"), "{}", g.signs[0]);
        assert!(g.signs[1].contains("80.0 iterations/s") && g.signs[1].contains("80 %"), "{}", g.signs[1]);
        assert!(g.signs[2].contains("all 2 VUs"), "{}", g.signs[2]);
    }

    #[test]
    fn a_closed_model_never_reads_full_vus_or_a_low_rate_as_saturation() {
        let closed = LoadModel { model: Model::Closed, offered_iterations_per_s: None, source: ModelSource::Tagged };
        let p = Part { achieved_iterations_per_s: Some(1.0), vus_max_reached: Some(5.0), ..part() };
        let g = assess(Some(&closed), &p);
        assert!(!g.saturated && !g.vus_max_reached, "{g:?}");
        // Dropped iterations are a sign whatever the model says.
        let g = assess(Some(&closed), &Part { dropped_iterations: 1, ..p.clone() });
        assert!(g.saturated && g.signs[0].contains("1 iteration in"), "{g:?}");
        // Unknown model: only dropped iterations count.
        assert!(!assess(None, &p).saturated);
    }

    #[test]
    fn the_rate_sign_needs_a_known_offered_rate_and_the_threshold() {
        assert!(!assess(Some(&open(None)), &Part { achieved_iterations_per_s: Some(1.0), ..part() }).saturated);
        assert!(!assess(Some(&open(Some(100.0))), &Part { achieved_iterations_per_s: Some(95.0), ..part() }).saturated);
        assert!(assess(Some(&open(Some(100.0))), &Part { achieved_iterations_per_s: Some(94.9), ..part() }).saturated);
        assert!(!assess(Some(&open(Some(100.0))), &Part { achieved_iterations_per_s: None, ..part() }).saturated);
    }

    #[test]
    fn the_client_share_leaves_out_think_time() {
        // 100 iterations of 120 ms: 100 ms think time, 15 ms of requests, 5 ms in k6.
        let t = IterationTime { iterations: 12_000.0, requests: 1_500.0, think: 10_000.0 };
        assert!((active_client_share(t).unwrap() - 0.25).abs() < 1e-12);
        // Requests that overlap an iteration's edge can sum past its active time: no negative share.
        assert_eq!(active_client_share(IterationTime { requests: 2_500.0, ..t }), Some(0.0));
        assert_eq!(active_client_share(IterationTime { iterations: 0.0, requests: 0.0, think: 0.0 }), None);
        assert_eq!(active_client_share(IterationTime { think: 12_000.0, ..t }), None);
    }

    #[test]
    fn a_client_that_dominates_the_iterations_is_a_sign_under_any_model() {
        let closed = LoadModel { model: Model::Closed, offered_iterations_per_s: None, source: ModelSource::Tagged };
        for model in [None, Some(&closed), Some(&open(Some(100.0)))] {
            let g = assess(model, &Part { client_share: Some(0.5), ..part() });
            assert!(g.saturated && g.client_dominated, "{g:?}");
            assert!(g.signs[0].starts_with("k6 itself took 50 % of the iterations' time"), "{:?}", g.signs);
            assert!(!assess(model, &Part { client_share: Some(0.49), ..part() }).saturated);
            assert!(!assess(model, &Part { client_share: None, ..part() }).saturated);
        }
    }
}
