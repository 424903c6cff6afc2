//! The verdict's saturation section (a run of the saturation template): the measured
//! capacity and the knee from the scale model, as text, Markdown and the HTML view's lines.

use crate::scale::SaturationRecord;

pub const TITLE: &str = "Saturation: the measured capacity";

/// The plain-text section (empty without one).
pub fn text(r: Option<&SaturationRecord>) -> String {
    let Some(r) = r else { return String::new() };
    let mut out = format!("\n{TITLE}\n");
    for line in r.lines() {
        out.push_str(&format!("  {line}\n"));
    }
    out
}

/// The Markdown section (empty without one).
pub fn markdown(r: Option<&SaturationRecord>) -> String {
    let Some(r) = r else { return String::new() };
    let mut out = format!("\n**{TITLE}**\n\n");
    for line in r.lines() {
        out.push_str(&format!("- {line}\n"));
    }
    out
}
