//! `history stats`: what the history, the run directories and the archive hold, by tier,
//! retention class, test and month; the 30-day growth against the policy's budget; and, with
//! `--publish`, the same as `k6gate_storage_*` series by remote write.

use super::history::bytes;
use super::{OutputFormat, Settings};
use crate::error::{Error, Exit, Result, Service};
use crate::load::open_history;
use crate::retention::stats::{StorageStats, Tier, compute, gather};

#[derive(Debug, clap::Args)]
pub struct StatsArgs {
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Also write the stats as `k6gate_storage_*` series (bytes by tier, class and test; the
    /// 30-day growth by tier; the policy's budget) to Prometheus or Mimir by remote write.
    #[arg(long)]
    pub publish: bool,
    /// Prometheus `.../api/v1/write` or Mimir `.../api/v1/push` (with `--publish`).
    #[arg(long, env = "K6GATE_PROMETHEUS_RW_URL")]
    pub remote_write: Option<String>,
    /// Mimir tenant (`X-Scope-OrgID`).
    #[arg(long, env = "K6GATE_MIMIR_TENANT")]
    pub tenant: Option<String>,
}

pub fn run(args: &StatsArgs, s: &Settings) -> Result<Exit> {
    let remote_write = match (args.publish, &args.remote_write) {
        (true, None) => {
            return Err(Error::Usage(
                "history stats --publish needs --remote-write URL or K6GATE_PROMETHEUS_RW_URL".into(),
            ));
        }
        (true, Some(url)) => Some(url.clone()),
        (false, _) => None,
    };
    let data = crate::policy::data::load(&s.global.policies.join("data"))?;
    let store = open_history(&s.history())?;
    let dirs = crate::history::RunDirs::new(s.state_dir());
    let gathered = gather(&store, &dirs)?;
    let archive = match s.archive() {
        Some(config) => {
            let archive = crate::archive::RunArchive::open(&config)?;
            Some((archive.url().to_string(), archive.stored_objects()?))
        }
        None => None,
    };
    let listings = gathered.listings(archive.as_ref().map(|(url, o)| (url.as_str(), o.as_slice())));
    let stats = compute(&listings, data.retention.as_ref(), crate::clock::now_ns());
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&stats).map_err(Error::serialize("storage stats"))?)
        }
        OutputFormat::Text => println!("{}", text(&stats)),
    }
    if let Some(url) = remote_write {
        let series = crate::prom::storage::series(&stats)
            .map_err(|e| Error::service(Service::Prometheus, "building the storage series", e))?;
        let opts = crate::prom::remote_write::WriteOptions { auth: s.remote_write_auth()?, ..Default::default() };
        let writer = crate::prom::remote_write::RemoteWriter::new(url, args.tenant.clone(), opts);
        let report = writer
            .write(&series)
            .map_err(|e| Error::service(Service::Prometheus, "publishing the storage stats", e))?;
        tracing::info!("published {} storage series to Prometheus", report.series);
    }
    Ok(Exit::Success)
}

/// The stats as people read them: each tier's total and growth, the budget, then bytes by
/// class, by test and by month, one column per tier.
pub(super) fn text(s: &StorageStats) -> String {
    let mut out = format!("{}: storage by tier (growth: what the last 30 days added)", s.store);
    for t in &s.tiers {
        out.push_str(&format!(
            "\n  {:<9} {:>10} in {:>6} run(s), +{:>10} in 30 days  {}",
            t.tier.name(),
            bytes(t.bytes),
            t.runs,
            bytes(t.growth_30d_bytes),
            t.location
        ));
    }
    match s.growth_budget_bytes_30d {
        Some(b) => out.push_str(&format!(
            "\n30-day growth {} of a budget of {} (retention.growth_budget_bytes_30d){}",
            bytes(s.growth_30d_bytes),
            bytes(b),
            if s.over_budget() { ": OVER BUDGET (runbooks/managing-k6-metrics-volume.md)" } else { "" }
        )),
        None => out.push_str(&format!(
            "\n30-day growth {} (no budget: set retention.growth_budget_bytes_30d in policies/data/retention.yaml)",
            bytes(s.growth_30d_bytes)
        )),
    }
    if s.tiers.iter().any(|t| t.tier == Tier::Cache) {
        out.push_str("\n(the cache is a copy of the remote store: not counted in the growth)");
    }
    let tiers: Vec<Tier> = s.tiers.iter().map(|t| t.tier).collect();
    for (title, by) in [
        ("class", s.by(|r| &r.class)),
        ("test", s.by(|r| &r.test)),
        ("month", s.by(|r| if r.month.is_empty() { "?" } else { &r.month })),
    ] {
        let mut t = comfy_table::Table::new();
        let mut header = vec![title.to_string()];
        header.extend(tiers.iter().map(|t| t.name().to_string()));
        t.load_preset(comfy_table::presets::UTF8_FULL_CONDENSED).set_header(header);
        for (key, per_tier) in &by {
            let mut row = vec![key.clone()];
            row.extend(tiers.iter().map(|t| per_tier.get(t).map(|b| bytes(*b)).unwrap_or_else(|| "-".into())));
            t.add_row(row);
        }
        out.push_str(&format!("\nby {title}:\n{t}"));
    }
    out
}
