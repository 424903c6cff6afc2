//! Reads a stream of k6 JSON lines in chunks, on all cores, into one [`Aggregator`].
//!
//! The reading thread cuts the input into chunks that end at a newline and hands them to
//! worker threads over a bounded channel, so memory holds at most a few chunks of input
//! at a time whatever the file size. Each worker aggregates its chunks on its own; the
//! aggregators are merged at the end (merging is exact). Line numbers are chunk-local
//! while parsing and made global at the end from the chunks' line counts.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use crate::aggregate::Aggregator;
use crate::ingest::ndjson::{Line, parse_line};
use crate::ingest::tags::TagSpec;

const CHUNK: usize = 4 << 20;
const IN_FLIGHT: usize = 4;

/// A line that could not be used.
#[derive(Debug, Clone, PartialEq)]
pub struct BadLine {
    pub line: u64,
    pub message: String,
}

/// What reading one stream produced.
#[derive(Debug)]
pub struct StreamRead {
    pub agg: Aggregator,
    pub lines: u64,
    pub bytes: u64,
    /// Bad lines in file order: the first is fatal unless partial data is allowed.
    pub bad: Vec<BadLine>,
    pub bad_count: u64,
}

struct ChunkResult {
    idx: usize,
    lines: u64,
    bad: Vec<(u64, String)>,
    bad_count: u64,
}

/// Encodes (chunk, local line) so aggregators can remember where a metric first appeared.
fn tag_line(chunk: usize, local: u64) -> u64 {
    ((chunk as u64) << 32) | local
}

/// Reads `input` completely. `keep_going`: collect every bad line instead of stopping at the first.
pub fn read_json_lines(
    mut input: impl Read,
    spec: &TagSpec,
    keep_going: bool,
    threads: usize,
) -> std::io::Result<StreamRead> {
    let (tx, rx) = mpsc::sync_channel::<(usize, Vec<u8>, bool)>(IN_FLIGHT);
    let rx = Arc::new(Mutex::new(rx));
    // Chunks after the first failing one need no work when we stop at the first error.
    let first_bad_chunk = AtomicUsize::new(usize::MAX);
    let threads = threads.max(1);

    let (results, read_result) = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let first_bad_chunk = &first_bad_chunk;
                scope.spawn(move || {
                    let mut agg = Aggregator::new(spec.clone());
                    let mut chunks = Vec::new();
                    loop {
                        let msg = match rx.lock() {
                            Ok(guard) => guard.recv(),
                            Err(_) => break,
                        };
                        let Ok((idx, buf, last)) = msg else { break };
                        if !keep_going && idx > first_bad_chunk.load(Ordering::Relaxed) {
                            chunks.push(ChunkResult { idx, lines: 0, bad: Vec::new(), bad_count: 0 });
                            continue;
                        }
                        let r = process_chunk(&mut agg, idx, &buf, last, keep_going);
                        if r.bad_count > 0 {
                            first_bad_chunk.fetch_min(idx, Ordering::Relaxed);
                        }
                        chunks.push(r);
                    }
                    agg.finish();
                    (agg, chunks)
                })
            })
            .collect();

        let read_result = produce_chunks(&mut input, &tx);
        drop(tx);
        let results: Vec<_> = workers.into_iter().filter_map(|w| w.join().ok()).collect();
        (results, read_result)
    });
    let bytes = read_result?;
    if results.len() != threads {
        return Err(std::io::Error::other("a parser thread panicked"));
    }

    let mut all_chunks = Vec::new();
    let mut merged: Option<Aggregator> = None;
    for (agg, chunks) in results {
        all_chunks.extend(chunks);
        match &mut merged {
            None => merged = Some(agg),
            Some(m) => {
                if let Err(e) = m.merge(agg) {
                    // Conflicting declarations across chunks: report as a bad line 0.
                    all_chunks.push(ChunkResult { idx: 0, lines: 0, bad: vec![(0, e)], bad_count: 1 });
                }
            }
        }
    }
    let mut agg = merged.unwrap_or_else(|| Aggregator::new(spec.clone()));
    all_chunks.sort_by_key(|c| c.idx);

    // Global line number of each chunk's first line.
    let mut starts = Vec::with_capacity(all_chunks.len());
    let mut total = 0u64;
    for c in &all_chunks {
        starts.push(total);
        total += c.lines;
    }
    let global = |chunk: usize, local: u64| starts.get(chunk).copied().unwrap_or(0) + local;
    let mut bad = Vec::new();
    let mut bad_count = 0;
    for c in &all_chunks {
        bad_count += c.bad_count;
        bad.extend(c.bad.iter().map(|(l, m)| BadLine { line: global(c.idx, *l), message: m.clone() }));
    }
    for line in agg.undeclared.values_mut() {
        *line = global((*line >> 32) as usize, *line & 0xffff_ffff);
    }
    Ok(StreamRead { agg: { agg.finish(); agg }, lines: total, bytes, bad, bad_count })
}

/// Cuts `input` into newline-terminated chunks; the last one may lack its newline.
fn produce_chunks(input: &mut impl Read, tx: &mpsc::SyncSender<(usize, Vec<u8>, bool)>) -> std::io::Result<u64> {
    let mut idx = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut total = 0u64;
    loop {
        let mut buf = std::mem::take(&mut carry);
        let filled = buf.len();
        buf.resize(filled.max(CHUNK) + CHUNK, 0);
        let mut n = filled;
        let mut eof = false;
        while n < CHUNK {
            match input.read(buf.get_mut(n..).unwrap_or_default()) {
                Ok(0) => {
                    eof = true;
                    break;
                }
                Ok(k) => n += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        total += (n - filled) as u64;
        buf.truncate(n);
        if eof {
            if !buf.is_empty() && tx.send((idx, buf, true)).is_err() {
                return Err(std::io::Error::other("parser threads stopped"));
            }
            return Ok(total);
        }
        match memchr::memrchr(b'\n', &buf) {
            Some(nl) => carry = buf.split_off(nl + 1),
            None => {
                // One line longer than a chunk: keep reading into it.
                carry = buf;
                continue;
            }
        }
        if tx.send((idx, buf, false)).is_err() {
            return Err(std::io::Error::other("parser threads stopped"));
        }
        idx += 1;
    }
}

fn process_chunk(agg: &mut Aggregator, idx: usize, buf: &[u8], last: bool, keep_going: bool) -> ChunkResult {
    let mut r = ChunkResult { idx, lines: 0, bad: Vec::new(), bad_count: 0 };
    let mut rest = buf;
    while !rest.is_empty() {
        let (line, next, terminated) = match memchr::memchr(b'\n', rest) {
            Some(nl) => (rest.get(..nl).unwrap_or_default(), rest.get(nl + 1..).unwrap_or_default(), true),
            None => (rest, &[][..], false),
        };
        rest = next;
        r.lines += 1;
        let local = r.lines;
        let outcome = match parse_line(line, agg.spec()) {
            Ok(Line::Point(p)) => agg.add_point(&p, tag_line(idx, local)),
            Ok(Line::Metric { name, ty }) => agg.declare(&name, ty),
            Ok(Line::Blank) => Ok(()),
            Err(e) if last && !terminated => {
                Err(format!("truncated last line, no newline at the end (was k6 killed mid-write?): {e}"))
            }
            Err(e) => Err(e),
        };
        if let Err(message) = outcome {
            r.bad_count += 1;
            if r.bad.len() < 20 {
                r.bad.push((local, message));
            }
            if !keep_going {
                break;
            }
        }
    }
    r
}
