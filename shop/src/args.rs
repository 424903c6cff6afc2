//! The target's command-line arguments, checked at parse time so that a scale, rate or
//! regression that makes no sense never reaches the server.

use std::path::PathBuf;

/// Options of the demo target service (`k6gate target`).
#[derive(Debug, Clone, clap::Args)]
pub struct TargetArgs {
    /// Port on 127.0.0.1; 0 picks a free one. The chosen port is printed as
    /// `listening on http://127.0.0.1:PORT`.
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// SQLite database file (WAL mode); created and seeded if empty. `:memory:` keeps it in memory
    /// on a single connection. Default: a fresh file in the temp directory, deleted on exit.
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Multiplies every simulated delay (endpoint work, third-party call, warm-up); 0 turns them off.
    #[arg(long, value_name = "F", env = "K6GATE_TARGET_LATENCY_SCALE", default_value_t = 1.0, value_parser = non_negative)]
    pub latency_scale: f64,
    /// Injected regression: extra relative slowdown of the checkout path (0.3 = 30 % slower).
    /// A negative value down to -0.9 makes it faster, to demonstrate an improvement.
    #[arg(
        long,
        value_name = "F",
        env = "K6GATE_TARGET_REGRESSION",
        default_value_t = 0.0,
        value_parser = regression,
        allow_hyphen_values = true
    )]
    pub regression: f64,
    /// Base latency in ms of the simulated payment provider that checkout calls.
    #[arg(long, value_name = "MS", default_value_t = 8.0, value_parser = non_negative)]
    pub third_party_ms: f64,
    /// Fraction of checkouts whose payment call fails; those answer 502 and keep the cart.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = fraction)]
    pub error_rate: f64,
    /// Fraction of all `/api/` requests that answer 500 at once, whatever the endpoint (an
    /// erroring canary); drawn from the same seeded generator.
    #[arg(long, value_name = "F", default_value_t = 0.0, value_parser = fraction)]
    pub fault_rate: f64,
    /// Seed of the catalog and of the latency jitter and payment failures.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Cold-cache period: for this many seconds after the first API request, requests are slower.
    #[arg(long, value_name = "SECS", default_value_t = 0.0, value_parser = non_negative)]
    pub warmup_secs: f64,
    /// Extra latency in ms at the very start of the cold-cache period, fading linearly to 0 at its end.
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = non_negative)]
    pub warmup_extra_ms: f64,
    /// Products seeded into an empty database (`shop_db_rows{table="products"}`): 10 000 vs
    /// 1 000 000 is the data-size switch; `GET /api/search` counts them without an index.
    #[arg(long, value_name = "N", default_value_t = crate::store::PRODUCTS, value_parser = clap::value_parser!(u32).range(1..))]
    pub products: u32,
    /// Users seeded into an empty database (`u1` … `uN`, all with the demo password).
    #[arg(long, value_name = "N", default_value_t = crate::store::USERS, value_parser = clap::value_parser!(u32).range(1..))]
    pub users: u32,
    /// Database connections in the pool; requests beyond them queue (`shop_db_pool_*`).
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub pool_size: u32,
    /// Entries the catalog cache in front of `GET /api/search` holds (oldest evicted first);
    /// 0 turns the cache off.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub cache_capacity: usize,
    /// Fill the catalog cache before listening, as after a warm-up; without it the cache
    /// starts cold, as production's does after a deploy (`POST /admin/deploy` empties it).
    #[arg(long)]
    pub cache_warm: bool,
    /// Spread of the payment provider's log-normal latency (standard deviation of its
    /// logarithm; `--third-party-ms` is its median). 1.0 gives production's long tail (p99 ≈ 10×
    /// the median); the default 0.2 is the mild jitter of every simulated delay.
    #[arg(long, value_name = "F", default_value_t = 0.2, value_parser = non_negative)]
    pub payment_sigma: f64,
    /// Start degraded (`--degrade-slow-ms`, `--degrade-error-rate`, `--degrade-sticky`); see `degrade`.
    #[command(flatten)]
    pub degrade: crate::degrade::DegradeArgs,
    /// A known database cost: every pooled query holds its connection this many ms more (a
    /// sleep, not CPU), so capacity is `pool_size / hold` requests/s (saturation tests).
    #[arg(long, value_name = "MS", default_value_t = 0.0, value_parser = non_negative)]
    pub db_hold_ms: f64,
    /// A known CPU cost: every pooled query also hashes for this many µs of its thread's own
    /// CPU time while holding its connection (real work, unlike `--db-hold-ms`), so capacity
    /// is `pool_size / cpu_work` requests/s on an idle core and falls when the core is shared
    /// (`saturation.pressure`). 0, the default, does no extra work.
    #[arg(long, value_name = "US", default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub cpu_work_us: u64,
}

impl TargetArgs {
    /// Parses target options from `args` (without a program name), as `k6gate target` would,
    /// environment variables included. For tests and for embedding the target in-process.
    pub fn try_from_args<I, T>(args: I) -> Result<TargetArgs, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        use clap::Parser;

        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            args: TargetArgs,
        }
        let argv = std::iter::once(std::ffi::OsString::from("k6gate-target")).chain(args.into_iter().map(Into::into));
        Wrapper::try_parse_from(argv).map(|w| w.args)
    }
}

fn number(s: &str) -> Result<f64, String> {
    let v: f64 = s.trim().parse().map_err(|_| format!("`{s}` is not a number"))?;
    if v.is_finite() { Ok(v) } else { Err(format!("`{s}` is not a finite number")) }
}

fn non_negative(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v >= 0.0 { Ok(v) } else { Err(format!("{v} is negative")) }
}

pub(crate) fn fraction(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if (0.0..=1.0).contains(&v) { Ok(v) } else { Err(format!("{v} is not between 0 and 1")) }
}

fn regression(s: &str) -> Result<f64, String> {
    let v = number(s)?;
    if v >= -0.9 { Ok(v) } else { Err(format!("{v} is below -0.9 (a checkout cannot take no time)")) }
}
