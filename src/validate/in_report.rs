//! The validation in the run's own reports: when `k6gate validate` records
//! `validation-<env>.json` in a run's directory, the run's `report.md` and `report.html` gain
//! a section "Test vs production (<env>)" saying where production is slower and by how much.
//! The section sits between two markers, so validating again replaces it rather than adding
//! a second one; the rest of each report is left byte for byte as the run wrote it.

use std::path::Path;

use super::Validation;
use crate::escape::escape_html;

/// The section's lines: where production is slower first (worst first, with the factor), or
/// that it is nowhere slower.
pub fn lines(v: &Validation) -> Vec<String> {
    let mut out = vec![format!(
        "production's {} s before {} (job {}) against the run's {} phase, tolerance {:.0} %",
        v.window_s,
        v.end,
        v.job,
        v.phase,
        v.tolerance * 100.0
    )];
    if v.production_slower.is_empty() {
        out.push("production is not slower than the test on any endpoint".into());
    } else {
        out.extend(v.production_slower.iter().map(|l| format!("production slower: {l}")));
    }
    out
}

fn title(v: &Validation) -> String {
    format!("Test vs production ({})", v.against)
}

fn markers(v: &Validation, open: &str, close: &str) -> (String, String) {
    (
        format!("{open} k6gate:validation-{} {close}", v.against),
        format!("{open} /k6gate:validation-{} {close}", v.against),
    )
}

/// `text` with the block between `start` and `end` replaced by `block` (or `block` put
/// before `anchor`, else at the end, when there is none yet).
fn splice(text: &str, start: &str, end: &str, block: &str, anchor: Option<&str>) -> String {
    if let (Some(a), Some(b)) = (text.find(start), text.find(end)) {
        if a < b {
            return format!("{}{block}{}", &text[..a], &text[b + end.len()..]);
        }
    }
    match anchor.and_then(|a| text.rfind(a)) {
        Some(i) => format!("{}{block}\n{}", &text[..i], &text[i..]),
        None => format!("{text}{block}\n"),
    }
}

/// Adds (or replaces) the section in `dir/report.md` and `dir/report.html`; the names of the
/// files changed. A report that is not there is skipped (a run judged elsewhere).
pub fn annotate(dir: &Path, v: &Validation) -> std::io::Result<Vec<String>> {
    let mut changed = Vec::new();
    let md = dir.join("report.md");
    if md.is_file() {
        let text = std::fs::read_to_string(&md)?;
        let (start, end) = markers(v, "<!--", "-->");
        let mut block = format!("{start}\n\n**{}**\n\n", title(v));
        for l in lines(v) {
            block.push_str(&format!("- {l}\n"));
        }
        block.push_str(&end);
        std::fs::write(&md, splice(&text, &start, &end, &block, None))?;
        changed.push("report.md".to_string());
    }
    let html = dir.join("report.html");
    if html.is_file() {
        let text = std::fs::read_to_string(&html)?;
        let (start, end) = markers(v, "<!--", "-->");
        let mut block = format!(
            "{start}\n<h2 id=\"validation-{id}\">{}</h2>\n<ul class=\"notes\" id=\"validation-{id}-lines\">",
            escape_html(&title(v)),
            id = escape_html(&v.against)
        );
        for l in lines(v) {
            block.push_str(&format!("<li>{}</li>", escape_html(&l)));
        }
        block.push_str(&format!("</ul>\n{end}"));
        std::fs::write(&html, splice(&text, &start, &end, &block, Some("</main>")))?;
        changed.push("report.html".to_string());
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn validation(slower: &[&str]) -> Validation {
        Validation {
            schema: super::super::endpoints::SCHEMA.into(),
            run: "r1".into(),
            against: "prod".into(),
            prometheus: "http://127.0.0.1:9090".into(),
            job: "shop".into(),
            phase: "steady-state".into(),
            window_s: 30,
            end: "2026-12-07T00:00:00Z".into(),
            tolerance: 0.2,
            endpoints: vec![],
            production_slower: slower.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_section_is_added_once_and_replaced_on_a_new_validation() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("report.md"), "# run\n").unwrap();
        std::fs::write(dir.path().join("report.html"), "<main><h1>run</h1>\n</main>\n</body>").unwrap();
        let changed = annotate(dir.path(), &validation(&["checkout: P95 9.9x <slower>"])).unwrap();
        assert_eq!(changed, ["report.md", "report.html"]);
        annotate(dir.path(), &validation(&["checkout: P95 4.0x"])).unwrap();
        let md = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
        assert!(md.starts_with("# run\n<!-- k6gate:validation-prod -->\n\n**Test vs production (prod)**"), "{md}");
        assert!(md.contains("- production slower: checkout: P95 4.0x\n") && !md.contains("9.9x"), "{md}");
        assert_eq!(md.matches("**Test vs production (prod)**").count(), 1);
        let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
        assert!(html.contains("<li>production slower: checkout: P95 4.0x</li>") && !html.contains("9.9x"), "{html}");
        assert!(html.trim_end().ends_with("</ul>\n<!-- /k6gate:validation-prod -->\n</main>\n</body>"), "{html}");
        annotate(dir.path(), &validation(&["a <b>"])).unwrap();
        assert!(std::fs::read_to_string(dir.path().join("report.html")).unwrap().contains("a &lt;b&gt;"));
    }
}
