//! `ingest`: k6 output into a RunSummary.

use std::io::Write;

use super::{IngestArgs, OutputFormat};
use crate::error::{Error, Exit, Result};
use crate::ingest::{IngestOptions, ingest};

pub fn run(args: &IngestArgs) -> Result<Exit> {
    let opts = IngestOptions {
        group_by: args.group_by.clone(),
        allow_partial: args.allow_partial,
        k6_exit_code: args.k6_exit_code,
        threads: args.threads,
        progress: !args.no_progress,
        full_resolution_s: args.full_resolution.as_secs(),
    };
    let summary = ingest(&args.files, &opts)?;
    let json = serde_json::to_string_pretty(&summary).map_err(Error::serialize("run summary"))?;
    if let Some(path) = &args.output {
        std::fs::write(path, &json).map_err(Error::output(path))?;
    }
    let text = match args.format {
        OutputFormat::Json => json,
        OutputFormat::Text => crate::report::text::render(&summary),
    };
    let mut out = std::io::stdout().lock();
    // A closed pipe (| head) is not an error worth reporting.
    let _ = writeln!(out, "{text}");
    Ok(Exit::Success)
}
