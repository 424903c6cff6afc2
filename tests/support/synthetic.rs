//! Synthetic k6 runs with a known truth, for the decision tests (`tests/decisions.rs`) and the
//! measurement of the gate's error rates (`benches/decisions.rs`, which includes this file).
//!
//! A [`Spec`] describes an open-model run the way `scripts/aa-runs.sh` drives the demo shop: an
//! arrival rate ramped up, held and ramped down (iterations start evenly spaced, as k6's
//! arrival-rate executors start them), one request per iteration whose endpoint is drawn
//! from a mix, and a log-normal latency per endpoint. On top of that, the two noises the gate
//! must tell from a regression: the spread *within* a run (each request's log-normal draw)
//! and the spread *between* runs (one log-normal multiplier drawn per run, as a different
//! machine state or neighbour would give). A regression multiplies one endpoint or all.
//!
//! [`Spec::run`] turns the spec into k6's samples (`http_reqs`, `http_req_duration`,
//! `http_req_failed`, `iterations`, `vus`, `vus_max`, with `test_stage`, `name`, `method`,
//! `status` and the run tags), feeds them to the real `Aggregator` and builds the RunSummary
//! with `summary::build_from_stream`: phases, steady state and series exactly as for a real
//! run. The same spec and seed always give the same summary.

#![allow(dead_code, reason = "shared by the integration tests and benches/decisions.rs, each uses a part")]

use std::borrow::Cow;

use k6gate::RunSummary;
use k6gate::aggregate::Aggregator;
use k6gate::samples::Point;
use k6gate::samples::tags::{SLOT_GROUP, SLOT_METADATA, SLOT_STAGE, SLOT_STATUS, TagSpec, Tags};
use k6gate::summary::{BuildOptions, build_from_stream};
use proptest::prelude::Rng;
use proptest::test_runner::{RngAlgorithm, TestRng};

/// When every synthetic run starts (2026-11-28T12:00:00Z), in Unix seconds.
const START_S: i64 = 1_795_867_200;

/// One endpoint of the mix.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// The request's `name` tag.
    pub name: &'static str,
    pub method: &'static str,
    /// Share of the requests (the shares of a mix need not add up to 1).
    pub share: f64,
    /// Median latency in ms.
    pub median_ms: f64,
    /// Standard deviation of the logarithm of the latency: the spread within a run.
    pub sigma: f64,
}

/// A slowdown injected into a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Regression {
    None,
    /// Every endpoint `1 + f` times slower.
    All(f64),
    /// One endpoint (by `name`) `1 + f` times slower.
    Endpoint(&'static str, f64),
}

impl Regression {
    fn factor(self, endpoint: &str) -> f64 {
        match self {
            Regression::None => 1.0,
            Regression::All(f) => 1.0 + f,
            Regression::Endpoint(name, f) if name == endpoint => 1.0 + f,
            Regression::Endpoint(..) => 1.0,
        }
    }
}

/// What to generate.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// The run tags `test_name` and `environment`.
    pub test: &'static str,
    pub environment: &'static str,
    pub deployment_version: &'static str,
    /// Seconds of the linear ramp from 0 to `rate`, at `rate`, and back to 0.
    pub ramp_up_s: u32,
    pub sustained_s: u32,
    pub ramp_down_s: u32,
    /// Iterations (one request each) per second in the sustained phase.
    pub rate: f64,
    pub endpoints: Vec<Endpoint>,
    /// Standard deviation of the logarithm of the per-run latency multiplier: the noise
    /// between runs (0.04 is about 4 %).
    pub between_sd: f64,
    /// A fixed per-run multiplier instead of a drawn one (a history with a known spread).
    pub effect: Option<f64>,
    pub regression: Regression,
    /// Fraction of requests that fail (status 500, `http_req_failed` 1).
    pub error_rate: f64,
    pub seed: u64,
}

impl Default for Spec {
    /// The demo shop's open-model test: 5 s ramp-up, 30 s at 120 requests/s, 2 s ramp-down;
    /// products 60 %, cart 30 %, checkout 10 %; no noise between runs, no errors, seed 1.
    fn default() -> Spec {
        Spec {
            test: "checkout",
            environment: "ci",
            deployment_version: "v1.0.0",
            ramp_up_s: 5,
            sustained_s: 30,
            ramp_down_s: 2,
            rate: 120.0,
            endpoints: shop_mix(),
            between_sd: 0.0,
            effect: None,
            regression: Regression::None,
            error_rate: 0.0,
            seed: 1,
        }
    }
}

/// The demo shop's three endpoints as the A/A script mixes them, with latencies of a
/// backend doing real work: medians 20, 30 and 60 ms and a log-normal spread of 0.35
/// (P95 ≈ 1.8 × the median), 0.45 for checkout, whose payment call varies more.
pub fn shop_mix() -> Vec<Endpoint> {
    vec![
        Endpoint { name: "products", method: "GET", share: 0.6, median_ms: 20.0, sigma: 0.35 },
        Endpoint { name: "cart", method: "POST", share: 0.3, median_ms: 30.0, sigma: 0.35 },
        Endpoint { name: "checkout", method: "POST", share: 0.1, median_ms: 60.0, sigma: 0.45 },
    ]
}

impl Spec {
    pub fn seed(mut self, seed: u64) -> Spec {
        self.seed = seed;
        self
    }

    pub fn between_sd(mut self, sd: f64) -> Spec {
        self.between_sd = sd;
        self
    }

    /// This run's latency multiplier, instead of one drawn with `between_sd`.
    pub fn effect(mut self, effect: f64) -> Spec {
        self.effect = Some(effect);
        self
    }

    pub fn regression(mut self, regression: Regression) -> Spec {
        self.regression = regression;
        self
    }

    pub fn error_rate(mut self, rate: f64) -> Spec {
        self.error_rate = rate;
        self
    }

    pub fn version(mut self, version: &'static str) -> Spec {
        self.deployment_version = version;
        self
    }

    /// The run's RunSummary, built by the real aggregation and summary code.
    pub fn run(&self) -> RunSummary {
        let mut rng = Rand::new(self.seed);
        let drawn = (self.between_sd * rng.normal()).exp();
        let effect = self.effect.unwrap_or(drawn);
        let mut agg = Aggregator::new(TagSpec::default());
        let total_share: f64 = self.endpoints.iter().map(|e| e.share).sum();
        let run_tags = [self.test, self.environment, "3f2a9c1", self.deployment_version, "2026-11-28"];
        let tags = |stage: Option<&'static str>, endpoint: Option<&Endpoint>, status: Option<&'static str>| {
            let mut t = Tags::default();
            for (i, v) in run_tags.iter().enumerate() {
                t.set(SLOT_METADATA + i, Cow::Borrowed(*v));
            }
            if let Some(s) = stage {
                t.set(SLOT_STAGE, Cow::Borrowed(s));
            }
            if let Some(e) = endpoint {
                t.set(SLOT_GROUP, Cow::Borrowed(e.name));
                t.set(SLOT_GROUP + 1, Cow::Borrowed(e.method));
            }
            if let Some(s) = status {
                t.set(SLOT_STATUS, Cow::Borrowed(s));
            }
            t
        };
        let mut add = |metric: &'static str, time_ns: i64, value: f64, tags: &Tags<'static>| {
            let p = Point { metric: Cow::Borrowed(metric), time_ns, value, tags: tags.clone(), same_tags: false };
            agg.add_point(&p, 0).expect("a synthetic sample is valid");
        };

        let (up, held) = (f64::from(self.ramp_up_s), f64::from(self.sustained_s));
        let end = up + held + f64::from(self.ramp_down_s);
        let rate_at = |t: f64| {
            if t < up {
                self.rate * t / up
            } else if t < up + held {
                self.rate
            } else {
                self.rate * (end - t) / f64::from(self.ramp_down_s.max(1))
            }
        };
        let stage_at = |t: f64| {
            if t < up {
                "ramp-up"
            } else if t < up + held {
                "sustained"
            } else {
                "ramp-down"
            }
        };
        let start_ns = START_S * 1_000_000_000;
        let at = |t: f64| start_ns + (t * 1e9) as i64;
        // Iterations start where the integral of the rate crosses a whole number, as k6's
        // arrival-rate executors start them: evenly spaced at a constant rate.
        let (step, mut due, mut in_flight_ms) = (0.001, 0.0, vec![0.0; end.ceil() as usize + 1]);
        let mut t = 0.0;
        while t < end {
            due += rate_at(t) * step;
            while due >= 1.0 {
                due -= 1.0;
                let mut pick = rng.uniform() * total_share;
                let endpoint = self.endpoints.iter().find(|e| {
                    pick -= e.share;
                    pick < 0.0
                });
                let Some(endpoint) = endpoint.or(self.endpoints.last()) else { break };
                let ms = endpoint.median_ms
                    * effect
                    * self.regression.factor(endpoint.name)
                    * (endpoint.sigma * rng.normal()).exp();
                let failed = rng.uniform() < self.error_rate;
                let stage = Some(stage_at(t));
                let status = if failed { "500" } else { "200" };
                let req = tags(stage, Some(endpoint), Some(status));
                let done = at(t + ms / 1000.0);
                add("http_reqs", done, 1.0, &req);
                add("http_req_duration", done, ms, &req);
                add("http_req_failed", done, if failed { 1.0 } else { 0.0 }, &req);
                add("iterations", done, 1.0, &tags(stage, None, None));
                if let Some(busy) = in_flight_ms.get_mut(t as usize) {
                    *busy += ms;
                }
            }
            t += step;
        }
        // The VU gauges, once a second and without a stage, as k6 writes them: VUs busy on
        // average (Little's law) and the VUs allocated for the scenario.
        let plain = tags(None, None, None);
        for (second, busy_ms) in in_flight_ms.iter().enumerate() {
            let time = at(second as f64 + 1.0);
            add("vus", time, (busy_ms / 1000.0).ceil().max(1.0), &plain);
            add("vus_max", time, 50.0, &plain);
        }
        agg.finish();
        agg.resolve_types();
        build_from_stream(&agg, vec![], vec![], &BuildOptions::default())
    }
}

/// The seeded generator behind a run: proptest's ChaCha, so a seed gives the same run on
/// every machine and version.
struct Rand {
    rng: TestRng,
    spare: Option<f64>,
}

impl Rand {
    fn new(seed: u64) -> Rand {
        let mut bytes = [0u8; 32];
        bytes[..8].copy_from_slice(&seed.to_le_bytes());
        bytes[8..16].copy_from_slice(b"k6gate-s");
        Rand { rng: TestRng::from_seed(RngAlgorithm::ChaCha, &bytes), spare: None }
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng.random::<f64>()
    }

    /// Standard normal (Box-Muller, both values used).
    fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let (u1, u2) = (1.0 - self.uniform(), self.uniform());
        let r = (-2.0 * u1.ln()).sqrt();
        let theta = std::f64::consts::TAU * u2;
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }
}

/// `candidate` (with its confirmation re-runs) judged by `gate` against `baselines` (newest
/// first) over the steady state, for `test` in `environment` at `now_ns`: how the decision tests
/// and `benches/decisions.rs` ask the gate.
pub fn judge(
    gate: &k6gate::gate::Gate,
    (test, environment, now_ns): (&str, &str, i64),
    candidate: &RunSummary,
    confirmations: &[&RunSummary],
    baselines: &[&RunSummary],
) -> k6gate::policy::verdict::Verdict {
    use k6gate::gate::{Baseline, Case, Side};
    let names: Vec<String> = (1..=baselines.len()).map(|i| format!("baseline-{i}")).collect();
    let runs = baselines.iter().zip(&names).map(|(summary, source)| Side { summary, source }).collect();
    let confirmations: Vec<Side<'_>> =
        confirmations.iter().map(|summary| Side { summary, source: "confirmation" }).collect();
    gate.judge(&Case {
        test,
        environment,
        now_ns,
        phase: &k6gate::compare::Phase::SteadyState,
        candidate: Side { summary: candidate, source: "candidate" },
        confirmations: &confirmations,
        baseline: Baseline::Runs { runs, reason: None },
        previous: None,
    })
    .expect("the policies evaluate")
}
