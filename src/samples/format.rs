//! The names of k6's result formats and compressions. Telling them from a file's content is
//! `ingest`'s job (`ingest::detect`); the RunSummary records them per source file.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The result formats k6 1.x writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// `--out json`: one JSON object per line.
    Json,
    /// `--out csv`.
    Csv,
    /// `--summary-export`: whole-run aggregates only.
    SummaryExport,
    /// The data object handed to `handleSummary()`: whole-run aggregates only.
    HandleSummary,
}

impl Format {
    /// Formats that carry every sample, and so phases and windows.
    pub fn is_stream(self) -> bool {
        matches!(self, Format::Json | Format::Csv)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Gzip,
}
