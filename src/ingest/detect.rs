//! Which k6 output a file holds, told from its content (the name is only a hint).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use crate::samples::{Compression, Format};

/// How much of a file is looked at to tell its format.
const PEEK: usize = 64 * 1024;

pub const CSV_HEADER_PREFIX: &str = "metric_name,timestamp,metric_value";

/// Opens `path`, decompressing gzip transparently.
pub fn open(path: &Path) -> std::io::Result<(Box<dyn Read + Send>, Compression)> {
    open_with_progress(path, None)
}

/// Like [`open`], advancing `bar` by the bytes read from disk (compressed bytes for gzip).
pub fn open_with_progress(
    path: &Path,
    bar: Option<indicatif::ProgressBar>,
) -> std::io::Result<(Box<dyn Read + Send>, Compression)> {
    let mut f = File::open(path)?;
    let mut magic = [0u8; 2];
    let n = read_up_to(&mut f, &mut magic)?;
    drop(f);
    let f = File::open(path)?;
    let raw: Box<dyn Read + Send> = match bar {
        Some(bar) => Box::new(bar.wrap_read(f)),
        None => Box::new(f),
    };
    if n == 2 && magic == [0x1f, 0x8b] {
        Ok((Box::new(flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, raw))), Compression::Gzip))
    } else {
        Ok((raw, Compression::None))
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(buf.get_mut(n..).unwrap_or_default())? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Tells the format from the first bytes of the (decompressed) content.
pub fn detect(path: &Path) -> Result<(Format, Compression), String> {
    let (r, compression) = open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut r = BufReader::with_capacity(PEEK, r);
    let head = r.fill_buf().map_err(|e| format!("cannot read: {e}"))?.to_vec();
    let text = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(&head);
    let start = text.iter().position(|b| !b.is_ascii_whitespace());
    let Some(start) = start else {
        return Err("the file is empty: no k6 results in it (did k6 start?)".into());
    };
    let text = text.get(start..).unwrap_or_default();
    let first_line = text.split(|b| *b == b'\n').next().unwrap_or_default();
    if first_line.starts_with(CSV_HEADER_PREFIX.as_bytes()) {
        return Ok((Format::Csv, compression));
    }
    if first_line.first() == Some(&b'{') {
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(first_line) {
            match v.get("type").and_then(|t| t.as_str()) {
                Some("Metric" | "Point") => return Ok((Format::Json, compression)),
                _ if v.get("metrics").is_some() => return Ok((summary_flavour(&v), compression)),
                _ => {}
            }
        }
        // A pretty-printed document: a summary, or not k6 output at all.
        let mut all = Vec::new();
        r.take(512 << 20).read_to_end(&mut all).map_err(|e| format!("cannot read: {e}"))?;
        return match serde_json::from_slice::<serde_json::Value>(&all) {
            Ok(v) if v.get("metrics").is_some_and(|m| m.is_object()) => Ok((summary_flavour(&v), compression)),
            Ok(_) => Err("JSON, but not a k6 output: no \"metrics\" object and no Metric/Point lines".into()),
            Err(e) if first_line.starts_with(b"{\"") => {
                Err(format!("line 1: neither a k6 JSON-output line nor a k6 summary document ({e})"))
            }
            Err(e) => Err(format!("not valid JSON ({e})")),
        };
    }
    Err(format!(
        "line 1: not a k6 output format (expected --out json lines, a CSV starting with {CSV_HEADER_PREFIX:?}, or a summary JSON); it starts with {:?}",
        String::from_utf8_lossy(first_line.get(..first_line.len().min(40)).unwrap_or_default())
    ))
}

/// `handleSummary()` data nests values under `values` and carries `state`/`options`;
/// `--summary-export` does neither.
fn summary_flavour(v: &serde_json::Value) -> Format {
    let nested =
        v.get("metrics").and_then(|m| m.as_object()).is_some_and(|m| m.values().any(|x| x.get("values").is_some()));
    if nested || v.get("state").is_some() || v.get("options").is_some() {
        Format::HandleSummary
    } else {
        Format::SummaryExport
    }
}
