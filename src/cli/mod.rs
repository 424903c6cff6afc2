//! The command line: argument types here, the work in the library modules.

mod ingest;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::error::exit;

#[derive(Debug, Parser)]
#[command(name = "k6gate", version, about = "Policy-as-code quality gate for k6 load tests")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize k6 results (JSON or CSV output, plain or .gz; or a k6 summary) phase by phase.
    Ingest(IngestArgs),
    /// Print the JSON Schema of the RunSummary document.
    Schema,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// k6 result files of one run. Several JSON (or CSV) files are merged as parts of one run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write the RunSummary JSON here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Tags that make up a group key, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "name,method")]
    pub group_by: Vec<String>,
    /// Skip unusable lines and mark the summary incomplete instead of failing.
    #[arg(long)]
    pub allow_partial: bool,
    /// k6's exit status, recorded in the summary (a non-zero one marks it incomplete).
    #[arg(long, allow_negative_numbers = true)]
    pub k6_exit_code: Option<i32>,
    /// Parser threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Runs the CLI and returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::ERROR } else { exit::OK };
        }
    };
    let result = match cli.command {
        Command::Ingest(args) => ingest::run(&args),
        Command::Schema => {
            println!("{}", serde_json::to_string_pretty(&crate::RunSummary::json_schema()).unwrap_or_default());
            Ok(exit::OK)
        }
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}
