//! A run's rows as JSON Lines: its digest rows (`summary::digest`), each with the run's own
//! fields, so a query needs no join to say which deployment a P95 belongs to.

use serde::Serialize;

use crate::history::RunRecord;
use crate::summary::RunSummary;
use crate::summary::digest::{DigestRow, rows};

/// One line. Serialize-only; its fields are the columns the README's query names.
#[derive(Serialize)]
struct Line<'a> {
    run_id: &'a str,
    test: &'a str,
    environment: &'a str,
    deployment_version: Option<&'a str>,
    git_commit: Option<&'a str>,
    git_branch: Option<&'a str>,
    outcome: &'a str,
    /// RFC 3339 UTC, milliseconds.
    started_at: String,
    /// The k6gate that recorded the run.
    k6gate_version: &'a str,
    #[serde(flatten)]
    row: &'a DigestRow,
}

/// The run's rows as JSON Lines (each line ends with a newline); empty for a run without a
/// summary. A summary that is not a RunSummary is an error: its rows cannot be built.
pub fn lines(run: &RunRecord) -> Result<Vec<u8>, String> {
    let Some(summary) = run.summary_as::<RunSummary>() else { return Ok(Vec::new()) };
    let summary = summary.map_err(|e| format!("its summary is not a k6gate RunSummary: {e}"))?;
    let started_at = crate::time::format_rfc3339_ms(run.started_at_ns);
    let mut out = Vec::new();
    for row in rows(&summary) {
        let line = Line {
            run_id: &run.id,
            test: &run.test,
            environment: &run.environment,
            deployment_version: run.deployment_version.as_deref(),
            git_commit: run.git_commit.as_deref(),
            git_branch: run.git_branch.as_deref(),
            outcome: run.outcome.as_str(),
            started_at: started_at.clone(),
            k6gate_version: &run.k6gate_version,
            row: &row,
        };
        serde_json::to_writer(&mut out, &line).map_err(|e| format!("a row of phase {}: {e}", row.phase))?;
        out.push(b'\n');
    }
    Ok(out)
}
