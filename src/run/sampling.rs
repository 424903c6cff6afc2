//! The run directory's JSON output, sampled once the summary is built (issue 14): every
//! failed request and `monitoring.keep_share` of the others stay in `k6.json.gz`, and
//! `k6-sampling.json` beside it records the share and the counts so a reader can scale them.
//! Sampling never fails the run: when it cannot be done, the output stays whole and the
//! summary's note says why.

use std::path::Path;

use crate::ingest::sample::{Sampled, sample_json_output};
use crate::samples::KeepShare;

/// The file beside the output that records how it was sampled.
pub const RECORD: &str = "k6-sampling.json";

/// Samples `json_out` in place; returns the summary's note about it.
pub fn sample_in_place(json_out: &Path, share: KeepShare) -> String {
    let name = json_out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = json_out.with_extension("sampling.tmp");
    let done = sample_json_output(json_out, &tmp, share).map_err(|e| e.to_string()).and_then(|s| {
        let record = json_out.with_file_name(RECORD);
        serde_json::to_string_pretty(&s)
            .map_err(|e| e.to_string())
            .and_then(|text| std::fs::write(&record, text).map_err(|e| format!("{}: {e}", record.display())))
            .and_then(|()| std::fs::rename(&tmp, json_out).map_err(|e| format!("{}: {e}", json_out.display())))
            .map(|()| s)
    });
    match done {
        Ok(s) => note(&name, &s),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            format!("{name} is kept whole: sampling it failed ({e}); the summary is from every sample either way")
        }
    }
}

fn note(name: &str, s: &Sampled) -> String {
    format!(
        "{name} keeps every failed request ({}) and {:.0} % of the others ({} of {} requests kept, see {RECORD}); \
         the summary was built from every sample before sampling",
        s.failed,
        s.keep_share * 100.0,
        s.kept,
        s.requests
    )
}
