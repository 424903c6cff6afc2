//! Turning k6 result files into a [`RunSummary`]. The only module that knows k6's file formats.
//!
//! `detect` tells the format from the content; `stream` (JSON lines) and `csv` feed every
//! sample to the window aggregator; `k6summary` reads k6's whole-run summaries. Bad input
//! is an [`IngestError`] naming the file and line, unless the caller allows partial data, in
//! which case the summary says it is incomplete and why.
//!
//! Why ingest sits above `aggregate` and `summary` in the layering (ARCHITECTURE.md): the
//! readers hand each sample to the `Aggregator` as soon as it is parsed, with no list of
//! samples in between; that is what keeps a 2 GB file at ~35 MiB. So ingest calls down into
//! aggregate, and the sample types both use live below them, in `samples`. It must never
//! collect samples into memory, and never fill in a RunSummary itself: it builds one only
//! through `summary`'s API (`build_from_stream`, `whole_run::build`).

pub mod csv;
pub mod detect;
mod error;
pub mod k6summary;
pub mod ndjson;
pub mod requests;
pub mod sample;
pub mod stream;

pub use error::IngestError;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use crate::aggregate::{Aggregator, FULL_RESOLUTION_S};
use crate::samples::{Format, TagSpec, tags};
use crate::summary::{BuildOptions, RunSummary, SourceFile, build_from_stream, whole_run};

/// Inputs at least this large get a progress bar (when stderr is a terminal).
const PROGRESS_MIN_BYTES: u64 = 64 << 20;

#[derive(Debug, Clone)]
pub struct IngestOptions {
    /// Tags that make up a group key.
    pub group_by: Vec<String>,
    /// Skip unusable lines and mark the summary incomplete, instead of failing.
    pub allow_partial: bool,
    pub k6_exit_code: Option<i32>,
    /// Parser threads; 0 = one per core.
    pub threads: usize,
    pub progress: bool,
    /// Runs whose samples span at most this many seconds keep 1 s windows in their series;
    /// longer ones get coarser windows, merged from the 1 s ones (`aggregate::WINDOW_LADDER_S`).
    pub full_resolution_s: u64,
}

impl Default for IngestOptions {
    fn default() -> Self {
        IngestOptions {
            group_by: tags::DEFAULT_GROUP_BY.iter().map(|s| s.to_string()).collect(),
            allow_partial: false,
            k6_exit_code: None,
            threads: 0,
            progress: false,
            full_resolution_s: FULL_RESOLUTION_S,
        }
    }
}

/// Reads every file of one run and summarizes it.
pub fn ingest(paths: &[PathBuf], opts: &IngestOptions) -> Result<RunSummary, IngestError> {
    if paths.is_empty() {
        return Err(IngestError::NoInput);
    }
    let spec = TagSpec::new(&opts.group_by).map_err(IngestError::GroupBy)?;
    let build = BuildOptions { k6_exit_code: opts.k6_exit_code };
    let threads =
        if opts.threads == 0 { std::thread::available_parallelism().map_or(2, |n| n.get()) } else { opts.threads };

    let mut detected = Vec::new();
    for p in paths {
        let (format, compression) = detect::detect(p).map_err(|m| with_line(p, m))?;
        detected.push((p, format, compression));
    }
    let streams: Vec<_> = detected.iter().filter(|d| d.1.is_stream()).collect();
    let stream_formats: Vec<Format> = streams.iter().map(|d| d.1).collect();
    if stream_formats.contains(&Format::Json) && stream_formats.contains(&Format::Csv) {
        return Err(IngestError::JsonAndCsv);
    }

    let mut sources = Vec::new();
    let mut issues = Vec::new();
    if streams.is_empty() {
        let summaries: Vec<_> = detected.iter().collect();
        if summaries.len() > 1 {
            return Err(IngestError::SeveralSummaries);
        }
        let Some(&&(path, format, compression)) = summaries.first() else {
            return Err(IngestError::NoInput);
        };
        let (mut r, _) = detect::open(path).map_err(|e| IngestError::input(path.as_path(), None, e.to_string()))?;
        let mut buf = Vec::new();
        r.read_to_end(&mut buf).map_err(|e| IngestError::input(path.as_path(), None, e.to_string()))?;
        let doc: serde_json::Value = serde_json::from_slice(&buf)
            .map_err(|e| IngestError::input(path.as_path(), Some(e.line() as u64), format!("not valid JSON: {e}")))?;
        let export = k6summary::read_summary(&doc, format).map_err(|m| IngestError::input(path.as_path(), None, m))?;
        sources.push(SourceFile {
            path: path.display().to_string(),
            format,
            compression,
            lines: bytecount_lines(&buf),
            bytes: buf.len() as u64,
        });
        return Ok(whole_run::build(export, sources, issues, &build));
    }

    // Lines the aggregators remember carry their file's index (see `tag_file`), so the
    // checks that need every file's declarations run once, after merging, and still say where.
    let locate = |tagged: u64| {
        let path = streams.get((tagged >> FILE_SHIFT) as usize).map_or(Path::new(""), |d| d.0.as_path());
        (path, tagged & LINE_MASK)
    };
    let mut agg: Option<Aggregator> = None;
    for (file, &&(path, format, compression)) in streams.iter().enumerate() {
        let (reader, _) = detect::open_with_progress(path, progress_bar(path, opts.progress))
            .map_err(|e| IngestError::input(path.as_path(), None, e.to_string()))?;
        let read = match format {
            Format::Json => stream::read_json_lines(reader, &spec, opts.allow_partial, threads, opts.full_resolution_s)
                .map_err(|e| IngestError::input(path.as_path(), None, format!("read failed: {e}")))?,
            _ => csv::read_csv(reader, &spec, opts.allow_partial, opts.full_resolution_s)
                .map_err(|m| with_line(path, m))?,
        };
        let mut part = read.agg;
        part.map_lines(|line| tag_file(file, line));
        // A declaration that disagrees with an earlier file's (the later one, so in this
        // file): everything is merged anyway, the first declaration wins.
        let conflict = match &mut agg {
            None => {
                agg = Some(part);
                None
            }
            Some(a) => a.merge(part).err().map(|(tagged, message)| {
                let (at, line) = locate(tagged);
                (at.to_path_buf(), line, message)
            }),
        };
        let first_bad = read.bad.first().map(|b| (path.to_path_buf(), b.line, b.message.clone()));
        if !opts.allow_partial {
            if let Some((at, line, message)) = first_bad.into_iter().chain(conflict.clone()).min_by_key(|b| b.1) {
                return Err(IngestError::input(at.as_path(), Some(line), message));
            }
        }
        if let Some(first) = read.bad.first() {
            issues.push(format!(
                "{}: {} unusable line(s) skipped, first at line {}: {}",
                path.display(),
                read.bad_count,
                first.line,
                first.message
            ));
        }
        if let Some((at, line, message)) = conflict {
            issues.push(format!("{}:{line}: {message}; the first declaration was used", at.display()));
        }
        sources.push(SourceFile {
            path: path.display().to_string(),
            format,
            compression,
            lines: read.lines,
            bytes: read.bytes,
        });
    }
    for &(path, format, compression) in detected.iter().filter(|d| !d.1.is_stream()) {
        sources.push(SourceFile { path: path.display().to_string(), format, compression, lines: 0, bytes: 0 });
        issues.push(format!("{}: k6 summary ignored, the sample stream is the better source", path.display()));
    }
    let mut agg = agg.ok_or(IngestError::NoInput)?;
    agg.resolve_types();
    let undeclared = agg.undeclared.iter().map(|(id, line)| (*line, agg.metrics.name(*id).to_string())).min();
    if let Some((tagged, name)) = undeclared {
        let (path, line) = locate(tagged);
        let message = format!(
            "Point of custom metric {name:?} but its Metric line never came (k6 writes it before the first Point: was the file filtered or cut?)"
        );
        if !opts.allow_partial {
            return Err(IngestError::input(path, Some(line), message));
        }
        issues.push(format!("{}:{line}: {message}; its type is unknown", path.display()));
    }
    // A worker (or file) that had not seen a metric's declaration could not check its sign.
    if let Some((tagged, name)) = agg.negative_durations().first() {
        let (path, line) = locate(*tagged);
        let message = format!("negative duration for time metric {name:?}");
        if !opts.allow_partial {
            return Err(IngestError::input(path, Some(line), message));
        }
        issues.push(format!("{}:{line}: {message}", path.display()));
    }
    if agg.samples == 0 {
        let path = streams.first().map(|d| d.0.as_path()).unwrap_or(Path::new(""));
        return Err(IngestError::input(path, None, "no samples: the file holds no Point lines (did the test run?)"));
    }
    Ok(build_from_stream(&agg, sources, issues, &build))
}

/// Remembered lines are `file index << FILE_SHIFT | line in that file`.
const FILE_SHIFT: u32 = 48;
const LINE_MASK: u64 = (1 << FILE_SHIFT) - 1;

fn tag_file(file: usize, line: u64) -> u64 {
    ((file as u64) << FILE_SHIFT) | (line & LINE_MASK)
}

/// Splits a "line N: message" from the detectors into a located error.
fn with_line(path: &Path, message: String) -> IngestError {
    if let Some(rest) = message.strip_prefix("line ") {
        if let Some((n, m)) = rest.split_once(": ") {
            if let Ok(line) = n.parse() {
                return IngestError::input(path, Some(line), m);
            }
        }
    }
    IngestError::input(path, None, message)
}

fn bytecount_lines(buf: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', buf).count() as u64 + u64::from(!buf.is_empty() && !buf.ends_with(b"\n"))
}

fn progress_bar(path: &Path, enabled: bool) -> Option<indicatif::ProgressBar> {
    let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    if !enabled || size < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(size);
    let style =
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default());
    Some(bar)
}
