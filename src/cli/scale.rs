//! `k6gate scale RUN`: the scale model of a saturation run (`crate::scale`).

use super::{OutputFormat, Settings};
use crate::error::{Error, Exit, Result};

#[derive(Debug, clap::Args)]
pub struct ScaleArgs {
    /// A RunSummary, raw k6 output, or a run id (or unique prefix) from the history.
    pub run: String,
    /// Production's concurrent users: the latency expected there, with its interval.
    #[arg(long)]
    pub users: Option<u64>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

pub fn run(args: &ScaleArgs, s: &Settings) -> Result<Exit> {
    let loaded = crate::load::run(&args.run, &s.history())?;
    let report =
        crate::scale::analyse(&loaded.summary, args.users).map_err(|e| Error::Usage(format!("{}: {e}", args.run)))?;
    let text = match args.format {
        OutputFormat::Json => serde_json::to_string_pretty(&report).map_err(Error::serialize("scale report"))?,
        OutputFormat::Text => crate::scale::text(&report),
    };
    println!("{text}");
    Ok(Exit::Success)
}
