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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::representative::Finding;

    fn section() -> Representative {
        let finding = |aspect: &str, status, unknown, message: &str| Finding {
            aspect: aspect.into(),
            status,
            unknown,
            declared: serde_json::Value::Null,
            measured: serde_json::Value::Null,
            scale: None,
            message: message.into(),
        };
        Representative {
            outcome: Status::Fail,
            findings: vec![
                finding("data_rows", Status::Fail, false, "database 10K rows vs 1M in production (scale 0.01)"),
                finding("cache", Status::Fail, true, "cache state unknown"),
                finding("users", Status::Pass, false, "600 of 600 users (scale 1)"),
            ],
            interpretation: vec!["connection pool exhausted: waited P95 80 ms of 100 ms".into()],
            sources: vec![],
        }
    }

    #[test]
    fn text_and_markdown_list_every_finding_and_the_interpretation() {
        let t = text(Some(&section()));
        assert_eq!(
            t,
            "\nIs this test representative? No: the verdict fails.\n  \
             FAIL  database 10K rows vs 1M in production (scale 0.01)\n  \
             FAIL  cache state unknown [not measured]\n  \
             PASS  600 of 600 users (scale 1)\n  \
             where the time went: connection pool exhausted: waited P95 80 ms of 100 ms\n"
        );
        let m = markdown(Some(&section()));
        assert!(
            m.starts_with("\n**Is this test representative?** No: the verdict fails.\n\n- **FAIL** database"),
            "{m}"
        );
        assert!(m.contains("- **FAIL** cache state unknown [not measured]\n"));
        assert_eq!(text(None), "");
        assert_eq!(markdown(None), "");
    }
}
