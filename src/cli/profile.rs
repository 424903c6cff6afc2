//! `k6gate profile from-prometheus` and `k6gate validate`: the environment's Prometheus
//! (`monitoring.prometheus`, job `monitoring.target_job`, or `--prometheus`/`--job`), the
//! wall clock for the window's end, and the files they write. The logic is in
//! `crate::profile` and `crate::validate`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{OutputFormat, Settings};
use crate::error::{Error, Exit, Result, Service};
use crate::profile::mix::ProfileSource;
use crate::profile::{ProfileError, Source, TrafficProfile};
use crate::validate::Validation;

#[derive(Debug, clap::Subcommand)]
pub enum ProfileCommand {
    /// Production's traffic mix (each route's share and rate) and burst pattern (base rate,
    /// spike factor, period, duration) from its Prometheus, written to
    /// `environments/traffic/<ENV>.yaml` (generated whole; the environment file is not touched).
    FromPrometheus(FromPrometheusArgs),
}

#[derive(Debug, clap::Args)]
pub struct FromPrometheusArgs {
    #[arg(long)]
    pub env: String,
    #[arg(long, default_value = "environments")]
    pub environments: PathBuf,
    /// Production's Prometheus, instead of the environment's `monitoring.prometheus`.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// The service's scrape job, instead of `monitoring.target_job`.
    #[arg(long)]
    pub job: Option<String>,
    /// How far back from `--end` (a duration: 1h, 15m, 30s).
    #[arg(long, default_value = "1h")]
    pub window: String,
    /// Seconds between the points of the burst analysis; default: the window / 60, at least 2 s.
    #[arg(long, value_name = "DURATION")]
    pub step: Option<String>,
    /// The window's end (RFC 3339); default: now.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// Where to write; default `<environments>/traffic/<ENV>.yaml`. `-` prints it.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The run: a RunSummary file, raw k6 output, or a run id from the history.
    pub run: String,
    /// The environment whose Prometheus is production's (`monitoring.prometheus`).
    #[arg(long)]
    pub against: String,
    #[arg(long, default_value = "environments")]
    pub environments: PathBuf,
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    #[arg(long)]
    pub job: Option<String>,
    /// Production's window; default: as long as the run's steady phase.
    #[arg(long, value_name = "DURATION")]
    pub window: Option<String>,
    /// The window's end (RFC 3339); default: now.
    #[arg(long, value_name = "TIME")]
    pub end: Option<String>,
    /// A run's request name and its production route, where the names do not say it:
    /// `--route cart="POST /api/cart"`. Repeatable.
    #[arg(long, value_name = "NAME=ROUTE")]
    pub route: Vec<String>,
    /// Relative P95 difference treated as the same.
    #[arg(long, default_value_t = 0.2)]
    pub tolerance: f64,
    /// Where to record it; default `validation-<ENV>.json` in the run's directory (or beside
    /// the RunSummary file).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

fn prom_error(action: &str) -> impl FnOnce(ProfileError) -> Error + '_ {
    move |e| match e {
        ProfileError::Invalid(m) => Error::Usage(m),
        other => Error::service(Service::Prometheus, action.to_string(), other),
    }
}

fn duration_s(flag: &str, s: &str) -> Result<u64> {
    match crate::render::duration_ms(s) {
        Some(ms) if ms >= 1000 => Ok(ms.div_ceil(1000)),
        _ => Err(Error::Usage(format!("{flag}: {s:?} is not a duration of at least 1s (30s, 15m, 1h)"))),
    }
}

/// The end of the window in Unix seconds, and as RFC 3339.
fn end_of(end: Option<&str>) -> Result<(f64, String)> {
    let ns = match end {
        Some(s) => crate::policy::data::time(s).map_err(|m| Error::Usage(format!("--end: {m}")))?,
        None => crate::clock::now_ns(),
    };
    Ok((ns as f64 / 1e9, crate::time::format_rfc3339_ms(ns)))
}

fn source(s: &Settings, environments: &Path, env: &str, prometheus: Option<&str>, job: Option<&str>) -> Result<Source> {
    let (e, _) = crate::render::load_environment(environments, env, &s.env.k6gate(), &[])?;
    let path = environments.join(format!("{env}.yaml"));
    let url = prometheus.map(str::to_string).or_else(|| e.monitoring.as_ref().map(|m| m.prometheus.clone()));
    let job = job.map(str::to_string).or_else(|| e.monitoring.as_ref().map(|m| m.target_job.clone()));
    let (Some(url), Some(job)) = (url, job) else {
        return Err(Error::input(
            &path,
            None,
            "declares no monitoring (monitoring.prometheus and monitoring.target_job): pass --prometheus URL and --job JOB",
        ));
    };
    Source::new(&url, &job, s.remote_write_auth()?).map_err(prom_error("reading production's metrics"))
}

pub fn from_prometheus(args: &FromPrometheusArgs, s: &Settings) -> Result<Exit> {
    let src = source(s, &args.environments, &args.env, args.prometheus.as_deref(), args.job.as_deref())?;
    let window_s = duration_s("--window", &args.window)?;
    let step_s = match &args.step {
        Some(st) => duration_s("--step", st)?,
        None => (window_s / 60).max(2),
    };
    let (end_s, end) = end_of(args.end.as_deref())?;
    let stats = crate::profile::routes::route_stats(&src, end_s, window_s)
        .map_err(prom_error("reading per-route requests and latency"))?;
    let (total, mix) = crate::profile::mix::mix(&stats, window_s).ok_or_else(|| {
        Error::service(
            Service::Prometheus,
            "building the traffic mix",
            format!(
                "no requests of job {:?} in the {window_s} s before {end} at {} (query: {})",
                src.job,
                src.url,
                src.queries(window_s).requests
            ),
        )
    })?;
    let series = crate::profile::routes::rate_series(&src, end_s, window_s, step_s)
        .map_err(prom_error("reading the request rate over the window"))?;
    let bursts = crate::profile::mix::bursts(&series, step_s);
    let (block, unmapped) = crate::profile::mix::mix_block(&mix, bursts.as_ref());
    let profile = TrafficProfile {
        source: ProfileSource { prometheus: src.url.clone(), job: src.job.clone(), window_s, end, step_s },
        total_rate_per_s: total,
        routes: mix,
        burst_analysis: bursts,
        mix: block,
        unmapped,
    };
    let command = format!("k6gate profile from-prometheus --env {} --window {}", args.env, args.window);
    let text = profile.to_yaml(&command).map_err(|m| Error::Usage(format!("cannot write the profile: {m}")))?;
    let out = args.out.clone().unwrap_or_else(|| args.environments.join("traffic").join(format!("{}.yaml", args.env)));
    if out.as_os_str() == "-" {
        print!("{text}");
        return Ok(Exit::Success);
    }
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(Error::output(dir))?;
    }
    std::fs::write(&out, &text).map_err(Error::output(&out))?;
    eprintln!("wrote {} ({} routes, {:.1} requests/s)", out.display(), profile.routes.len(), profile.total_rate_per_s);
    for r in &profile.routes {
        eprintln!("  {:>6.1} %  {:>8.2}/s  {}", r.weight * 100.0, r.rate_per_s, r.route);
    }
    Ok(Exit::Success)
}

pub fn validate(args: &ValidateArgs, s: &Settings) -> Result<Exit> {
    let loaded = crate::load::run(&args.run, &s.history())?;
    let src = source(s, &args.environments, &args.against, args.prometheus.as_deref(), args.job.as_deref())?;
    let phase = crate::validate::test_phase(&loaded.summary);
    let window_s = match &args.window {
        Some(w) => duration_s("--window", w)?,
        None if phase.duration_s >= 1.0 => phase.duration_s.ceil() as u64,
        None => {
            return Err(Error::Usage(format!(
                "run {}: its {} phase lasted {:.1} s: give production's window with --window",
                loaded.source, phase.name, phase.duration_s
            )));
        }
    };
    if !(0.0..10.0).contains(&args.tolerance) {
        return Err(Error::Usage(format!("--tolerance: {} is not between 0 and 10", args.tolerance)));
    }
    let mut overrides = BTreeMap::new();
    for r in &args.route {
        let (k, v) =
            r.split_once('=').ok_or_else(|| Error::Usage(format!("--route {r:?}: expected NAME=\"METHOD /path\"")))?;
        overrides.insert(k.trim().to_string(), v.trim().trim_matches('"').to_string());
    }
    let (end_s, end) = end_of(args.end.as_deref())?;
    let stats = crate::profile::routes::route_stats(&src, end_s, window_s)
        .map_err(prom_error("reading production's per-route latency"))?;
    if stats.is_empty() {
        return Err(Error::service(
            Service::Prometheus,
            "validating against production",
            format!(
                "no requests of job {:?} in the {window_s} s before {end} at {}: nothing to compare",
                src.job, src.url
            ),
        ));
    }
    let (endpoints, slower) = crate::validate::compare(phase, &stats, &overrides, args.tolerance);
    if endpoints.is_empty() {
        return Err(Error::Usage(format!(
            "run {}: its {} phase has no requests with a `name` tag to compare",
            loaded.source, phase.name
        )));
    }
    let v = Validation {
        schema: crate::validate::endpoints::SCHEMA.to_string(),
        run: loaded.source.clone(),
        against: args.against.clone(),
        prometheus: src.url.clone(),
        job: src.job.clone(),
        phase: phase.name.clone(),
        window_s,
        end,
        tolerance: args.tolerance,
        endpoints,
        production_slower: slower,
    };
    let out = match &args.out {
        Some(o) => o.clone(),
        None => record_path(&args.run, loaded.record.as_ref(), &args.against)?,
    };
    let json = serde_json::to_string_pretty(&v).map_err(Error::serialize("validation"))?;
    std::fs::write(&out, format!("{json}\n")).map_err(Error::output(&out))?;
    match args.format {
        OutputFormat::Json => println!("{json}"),
        OutputFormat::Text => print!("{}", text(&v)),
    }
    eprintln!("recorded {}", out.display());
    // In the run's own directory: its reports show where production is slower.
    if args.out.is_none() {
        if let Some(dir) = out.parent() {
            match crate::validate::in_report::annotate(dir, &v) {
                Ok(changed) if !changed.is_empty() => {
                    eprintln!("added to {} in {}", changed.join(" and "), dir.display())
                }
                Ok(_) => {}
                Err(e) => tracing::warn!("the run's reports in {} could not show the validation: {e}", dir.display()),
            }
        }
    }
    Ok(Exit::Success)
}

/// `validation-<env>.json` in the run's directory, or beside the RunSummary file.
fn record_path(spec: &str, record: Option<&crate::history::RunRecord>, env: &str) -> Result<PathBuf> {
    let name = format!("validation-{env}.json");
    if let Some(dir) = record.and_then(|r| r.run_dir.as_ref()) {
        return Ok(dir.join(name));
    }
    let p = Path::new(spec);
    if p.is_file() {
        return Ok(p.parent().map_or_else(|| PathBuf::from(&name), |d| d.join(&name)));
    }
    Err(Error::Usage(format!("run {spec}: no run directory to record the validation in: pass --out FILE")))
}

fn text(v: &Validation) -> String {
    let mut out = format!(
        "test vs production ({}, job {}), {} s before {}, the run's {} phase:\n",
        v.against, v.job, v.window_s, v.end, v.phase
    );
    if v.production_slower.is_empty() {
        out.push_str("production is not slower than the test on any endpoint\n");
    } else {
        out.push_str("where production is slower:\n");
        for l in &v.production_slower {
            out.push_str(&format!("  - {l}\n"));
        }
    }
    out.push_str("every endpoint:\n");
    for e in &v.endpoints {
        out.push_str(&format!("  - {}\n", e.message));
    }
    out
}
