//! k6's CSV output (`--out csv`), any `K6_CSV_TIME_FORMAT`.
//!
//! CSV carries no metric declarations: built-in metrics have known types, custom metrics
//! are aggregated with every statistic and reported with an unknown type.

use std::borrow::Cow;
use std::io::Read;

use crate::aggregate::Aggregator;
use crate::ingest::stream::{BadLine, StreamRead};
use crate::samples::{Point, TagSpec, Tags};
use crate::time::parse_csv_time_ns;

pub fn read_csv(
    input: impl Read,
    spec: &TagSpec,
    keep_going: bool,
    full_resolution_s: u64,
) -> Result<StreamRead, String> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(false).from_reader(input);
    let headers = rdr.headers().map_err(|e| format!("line 1: cannot read the CSV header: {e}"))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(c_metric), Some(c_time), Some(c_value)) = (col("metric_name"), col("timestamp"), col("metric_value"))
    else {
        return Err("line 1: CSV header lacks metric_name, timestamp or metric_value".into());
    };
    let c_extra = col("extra_tags");
    let tag_cols: Vec<(usize, usize)> = headers
        .iter()
        .enumerate()
        .filter(|(i, _)| ![Some(c_metric), Some(c_time), Some(c_value), c_extra, col("metadata")].contains(&Some(*i)))
        .filter_map(|(i, h)| spec.slot(h.as_bytes()).map(|slot| (i, slot)))
        .collect();

    let mut agg = Aggregator::with_full_resolution(spec.clone(), full_resolution_s);
    let mut bad = Vec::new();
    let mut bad_count = 0u64;
    let mut lines = 1u64;
    let mut record = csv::StringRecord::new();
    loop {
        let line = rdr.position().line() + 1;
        let outcome = match rdr.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                lines = record.position().map_or(line, |p| p.line());
                row_to_point(&record, c_metric, c_time, c_value, c_extra, &tag_cols, spec)
                    .and_then(|p| agg.add_point(&p, lines))
            }
            Err(e) => {
                lines = e.position().map_or(line, |p| p.line());
                Err(match e.kind() {
                    csv::ErrorKind::UnequalLengths { .. } => {
                        format!("wrong number of fields (truncated or garbage line?): {e}")
                    }
                    _ => format!("unreadable CSV: {e}"),
                })
            }
        };
        if let Err(message) = outcome {
            bad_count += 1;
            if bad.len() < 20 {
                bad.push(BadLine { line: lines, message });
            }
            if !keep_going {
                break;
            }
        }
    }
    agg.finish();
    // CSV has no declarations: unknown custom metrics are not an error here.
    agg.undeclared.clear();
    let bytes = rdr.position().byte();
    Ok(StreamRead { agg, lines, bytes, bad, bad_count })
}

fn row_to_point<'a>(
    r: &'a csv::StringRecord,
    c_metric: usize,
    c_time: usize,
    c_value: usize,
    c_extra: Option<usize>,
    tag_cols: &[(usize, usize)],
    spec: &TagSpec,
) -> Result<Point<'a>, String> {
    let metric = r.get(c_metric).filter(|m| !m.is_empty()).ok_or("empty metric_name")?;
    let time = r.get(c_time).unwrap_or_default();
    let time_ns =
        parse_csv_time_ns(time).ok_or_else(|| format!("timestamp {time:?} is not a unix or RFC 3339 time"))?;
    let raw = r.get(c_value).unwrap_or_default();
    let value: f64 = raw.trim().parse().map_err(|_| format!("metric_value {raw:?} is not a number"))?;
    if !value.is_finite() {
        return Err(format!("metric_value {raw:?} is not finite"));
    }
    let mut tags = Tags::default();
    for &(i, slot) in tag_cols {
        if let Some(v) = r.get(i).filter(|v| !v.is_empty()) {
            tags.set(slot, Cow::Borrowed(v));
        }
    }
    if let Some(extra) = c_extra.and_then(|i| r.get(i)).filter(|e| !e.is_empty()) {
        for pair in extra.split('&') {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            if let Some(slot) = spec.slot(k.as_bytes()) {
                tags.set(slot, Cow::Borrowed(v));
            }
        }
    }
    Ok(Point { metric: Cow::Borrowed(metric), time_ns, value, tags, same_tags: false })
}
