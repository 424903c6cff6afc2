//! The verdict's section "Is this test representative?" as text, Markdown and the HTML view's
//! rows: one line per finding, worst first in the policy's order, then the interpretation.

use crate::policy::representative::Representative;
use crate::policy::verdict::Status;

pub const TITLE: &str = "Is this test representative?";

/// One line per finding: `FAIL  database 10K rows vs 1M in production (scale 0.01)`.
pub fn lines(r: &Representative) -> Vec<(Status, String)> {
    r.findings
        .iter()
        .map(|f| {
            let unknown = if f.unknown { " [not measured]" } else { "" };
            (f.status, format!("{}{unknown}", f.message))
        })
        .collect()
}

/// The plain-text section (empty without one).
pub fn text(r: Option<&Representative>) -> String {
    let Some(r) = r else { return String::new() };
    let mut out = format!("\n{TITLE} {}\n", verdict_word(r.outcome));
    for (status, line) in lines(r) {
        out.push_str(&format!("  {:<5} {line}\n", status.label()));
    }
    for i in &r.interpretation {
        out.push_str(&format!("  where the time went: {i}\n"));
    }
    out
}

/// The Markdown section (empty without one), for the report and the check-run summary.
pub fn markdown(r: Option<&Representative>) -> String {
    let Some(r) = r else { return String::new() };
    let mut out = format!("\n**{TITLE}** {}\n\n", verdict_word(r.outcome));
    for (status, line) in lines(r) {
        out.push_str(&format!("- **{}** {line}\n", status.label()));
    }
    for i in &r.interpretation {
        out.push_str(&format!("- where the time went: {i}\n"));
    }
    out
}

/// The answer in words.
pub fn verdict_word(s: Status) -> &'static str {
    match s {
        Status::Pass => "Yes.",
        Status::Warn => "Not entirely (warning).",
        Status::Fail => "No: the verdict fails.",
        Status::Inconclusive => "Unknown.",
    }
}
