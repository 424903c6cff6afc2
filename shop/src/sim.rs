//! The simulated part of the target: how long each request "works", when the payment
//! provider fails, and the cold cache after start. Everything here is a duration or a coin
//! flip drawn from one seeded generator; the handlers sleep for the durations with
//! `tokio::time::sleep`, so simulated work never holds a thread.
//!
//! Each endpoint has a base time (below), jittered by a log-normal factor (median 1, a
//! realistic right skew: p99 ≈ 1.6×), then multiplied by `--latency-scale`. The checkout
//! path (its own work and the payment call) is further multiplied by `1 + --regression`.
//! During the first `--warmup-secs` after the first API request, every API request gets
//! `--warmup-extra-ms` more, fading linearly to 0: a cache that warms up.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use crate::args::TargetArgs;

/// Spread of the log-normal jitter (standard deviation of its logarithm).
const JITTER_SIGMA: f64 = 0.2;

/// The kinds of request that do simulated work, with their base times.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Work {
    /// Session bookkeeping after the password check.
    Login,
    /// Rendering the catalog page (pricing, images, ...).
    Products,
    /// Stock check before adding to the cart.
    CartAdd,
    /// Rendering the cart.
    CartView,
    /// Fraud and tax checks before the payment call.
    Checkout,
}

impl Work {
    fn base_ms(self) -> f64 {
        match self {
            Work::Login => 1.0,
            Work::Products => 2.0,
            Work::CartAdd => 3.0,
            Work::CartView => 1.0,
            Work::Checkout => 5.0,
        }
    }
}

/// The outcome of one simulated payment provider call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Payment {
    /// How long the call takes, failed or not.
    pub latency: Duration,
    pub failed: bool,
}

/// Latency and failure decisions for the whole server.
#[derive(Debug)]
pub struct Sim {
    scale: f64,
    regression: f64,
    third_party_ms: f64,
    error_rate: f64,
    fault_rate: f64,
    warmup_secs: f64,
    warmup_extra_ms: f64,
    /// `--payment-sigma`: the payment provider's own spread (its median is `third_party_ms`).
    payment_sigma: f64,
    rng: Mutex<SplitMix64>,
    first_request: OnceLock<Instant>,
    /// `--db-hold-ms`: how long every pooled query holds its connection more.
    db_hold: Duration,
    /// `--cpu-work-us`: CPU time every pooled query spends hashing while holding its connection.
    cpu_work: Duration,
}

impl Sim {
    pub fn new(args: &TargetArgs) -> Sim {
        Sim {
            scale: args.latency_scale,
            regression: args.regression,
            third_party_ms: args.third_party_ms,
            error_rate: args.error_rate,
            fault_rate: args.fault_rate,
            warmup_secs: args.warmup_secs,
            warmup_extra_ms: args.warmup_extra_ms,
            payment_sigma: args.payment_sigma,
            rng: Mutex::new(SplitMix64::new(args.seed)),
            first_request: OnceLock::new(),
            db_hold: millis(args.db_hold_ms),
            cpu_work: Duration::from_micros(args.cpu_work_us),
        }
    }

    /// The known database cost each pooled query adds while holding its connection.
    pub fn db_hold(&self) -> Duration {
        self.db_hold
    }

    /// The known CPU cost each pooled query adds while holding its connection ([`burn`]).
    pub fn cpu_work(&self) -> Duration {
        self.cpu_work
    }

    /// The simulated time of one request of kind `work`, cold cache included. Call it once per
    /// API request: the first call starts the warm-up clock.
    pub fn work(&self, work: Work) -> Duration {
        let now = Instant::now();
        let started = *self.first_request.get_or_init(|| now);
        let warmup = self.warmup_extra_ms(now.saturating_duration_since(started).as_secs_f64());
        let base = work.base_ms() * self.jitter() * self.regression_factor(work == Work::Checkout);
        millis((base + warmup) * self.scale)
    }

    /// One call to the simulated payment provider.
    pub fn payment(&self) -> Payment {
        let ms = self.third_party_ms * self.lognormal(self.payment_sigma) * self.regression_factor(true) * self.scale;
        let failed = self.error_rate > 0.0 && self.uniform() < self.error_rate;
        Payment { latency: millis(ms), failed }
    }

    /// Whether this request fails with an injected fault (`--fault-rate`).
    pub fn fault(&self) -> bool {
        self.fault_rate > 0.0 && self.uniform() < self.fault_rate
    }

    fn regression_factor(&self, on_checkout_path: bool) -> f64 {
        if on_checkout_path { 1.0 + self.regression } else { 1.0 }
    }

    /// Extra cold-cache milliseconds `elapsed` seconds after the first request.
    fn warmup_extra_ms(&self, elapsed: f64) -> f64 {
        if elapsed < self.warmup_secs { self.warmup_extra_ms * (1.0 - elapsed / self.warmup_secs) } else { 0.0 }
    }

    /// A log-normal factor with median 1.
    fn jitter(&self) -> f64 {
        self.lognormal(JITTER_SIGMA)
    }

    /// A log-normal factor with median 1 and logarithm's standard deviation `sigma`.
    fn lognormal(&self, sigma: f64) -> f64 {
        let (u1, u2) = {
            let mut rng = self.rng.lock().unwrap_or_else(PoisonError::into_inner);
            (rng.next_f64(), rng.next_f64())
        };
        // Box-Muller; 1 - u1 is in (0, 1], so the logarithm is finite.
        let z = (-2.0 * (1.0 - u1).ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        (sigma * z).exp()
    }

    fn uniform(&self) -> f64 {
        self.rng.lock().unwrap_or_else(PoisonError::into_inner).next_f64()
    }
}

fn millis(ms: f64) -> Duration {
    Duration::try_from_secs_f64(ms / 1000.0).unwrap_or(Duration::ZERO)
}

/// Sleeps for simulated work; a zero duration does not yield to the timer at all.
/// Hashes until the calling thread has spent `cpu` of its own CPU time (not wall time: on a
/// shared core the same work takes longer, which is the point). Blocks: call it from a
/// blocking thread. Returns the hash so the work cannot be optimised away.
pub fn burn(cpu: Duration) -> u64 {
    use nix::time::{ClockId, clock_gettime};
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let now = || clock_gettime(ClockId::CLOCK_THREAD_CPUTIME_ID).map(Duration::from).ok();
    let (Some(start), false) = (now(), cpu.is_zero()) else { return 0 };
    let hasher = BuildHasherDefault::<DefaultHasher>::default();
    let mut h = 0u64;
    loop {
        // About 10 µs of SipHash between clock readings.
        for _ in 0..500 {
            h = hasher.hash_one(h);
        }
        match now() {
            Some(t) if t.saturating_sub(start) < cpu => {}
            _ => return std::hint::black_box(h),
        }
    }
}

pub async fn simulate(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// SplitMix64 (Steele, Lea and Flood 2014): tiny, seedable, good enough for jitter and a catalog.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> SplitMix64 {
        SplitMix64(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1), from the top 53 bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `lo..=hi` (slightly biased for huge ranges, which the catalog never uses).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sim(extra: &[&str]) -> Sim {
        Sim::new(&TargetArgs::try_from_args(extra.iter().copied()).unwrap())
    }

    #[test]
    fn cpu_work_spends_its_own_cpu_time_and_is_off_by_default() {
        assert_eq!(sim(&[]).cpu_work(), Duration::ZERO);
        assert_eq!(burn(Duration::ZERO), 0);
        let s = sim(&["--cpu-work-us", "20000"]);
        assert_eq!(s.cpu_work(), Duration::from_millis(20));
        let cpu = || Duration::from(nix::time::clock_gettime(nix::time::ClockId::CLOCK_THREAD_CPUTIME_ID).unwrap());
        let before = cpu();
        burn(s.cpu_work());
        // At least the work asked for, however long the wall clock took on a busy machine.
        assert!(cpu() - before >= Duration::from_millis(20));
        assert!(TargetArgs::try_from_args(["--cpu-work-us", "2000000"]).is_err());
    }

    fn median(mut v: Vec<Duration>) -> Duration {
        v.sort();
        v[v.len() / 2]
    }

    #[test]
    fn regression_slows_only_the_checkout_path() {
        let base = sim(&["--seed", "7"]);
        let slow = sim(&["--seed", "7", "--regression", "0.5"]);
        // Same seed, same jitter draws: the ratio is exact up to rounding to nanoseconds.
        let ratio = |a: Duration, b: Duration| b.as_secs_f64() / a.as_secs_f64();
        assert!((ratio(base.work(Work::Checkout), slow.work(Work::Checkout)) - 1.5).abs() < 1e-6);
        assert!((ratio(base.payment().latency, slow.payment().latency) - 1.5).abs() < 1e-6);
        assert!((ratio(base.work(Work::Products), slow.work(Work::Products)) - 1.0).abs() < 1e-6);
    }

    #[test]
    fn jitter_has_median_one_and_scale_multiplies() {
        let s = sim(&["--latency-scale", "2"]);
        let m = median((0..2001).map(|_| s.work(Work::Products)).collect()).as_secs_f64() * 1000.0;
        assert!((3.8..4.2).contains(&m), "median {m} ms, want ~4 ms");
        let off = sim(&["--latency-scale", "0"]);
        assert_eq!(off.work(Work::Checkout), Duration::ZERO);
        assert_eq!(off.payment().latency, Duration::ZERO);
    }

    #[test]
    fn warmup_fades_linearly() {
        let s = sim(&["--warmup-secs", "10", "--warmup-extra-ms", "40"]);
        assert_eq!(s.warmup_extra_ms(0.0), 40.0);
        assert_eq!(s.warmup_extra_ms(5.0), 20.0);
        assert_eq!(s.warmup_extra_ms(10.0), 0.0);
        assert_eq!(s.warmup_extra_ms(99.0), 0.0);
        assert_eq!(sim(&[]).warmup_extra_ms(0.0), 0.0);
    }

    #[test]
    fn fault_rate_is_respected() {
        let s = sim(&["--fault-rate", "0.02", "--seed", "5"]);
        let faults = (0..20_000).filter(|_| s.fault()).count();
        assert!((300..500).contains(&faults), "{faults} of 20000 faulted");
        assert!(!(0..1000).any(|_| sim(&[]).fault()));
    }

    #[test]
    fn payment_latency_is_lognormal_with_a_long_tail() {
        let s = sim(&["--third-party-ms", "500", "--payment-sigma", "1.0", "--seed", "11"]);
        let mut ms: Vec<f64> = (0..20_001).map(|_| s.payment().latency.as_secs_f64() * 1000.0).collect();
        ms.sort_by(f64::total_cmp);
        let (median, p99) = (ms[10_000], ms[19_800]);
        assert!((450.0..550.0).contains(&median), "median {median} ms, want ~500");
        // exp(2.326 * 1.0) ≈ 10.2 times the median.
        assert!((4000.0..6500.0).contains(&p99), "p99 {p99} ms, want ~5100");
    }

    #[test]
    fn error_rate_is_respected() {
        let s = sim(&["--error-rate", "0.25", "--seed", "3"]);
        let failed = (0..4000).filter(|_| s.payment().failed).count();
        assert!((800..1200).contains(&failed), "{failed} of 4000 failed");
        assert!(!(0..1000).any(|_| sim(&[]).payment().failed));
    }
}
