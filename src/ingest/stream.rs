//! Reads a stream of k6 JSON lines in chunks, on all cores, into one [`Aggregator`].
//!
//! The reading thread cuts the input into chunks that end at a newline and hands them to
//! worker threads over a bounded channel, so memory holds at most a few chunks of input
//! at a time whatever the file size. Each worker aggregates its chunks on its own and hands
//! its aggregator every [`HAND_OFF`] chunks and at the end to one merging thread (merging is
//! exact), so the run's windows are held once, not once per worker, and allocated by one
//! thread: what the run keeps does not end up spread over every thread's malloc arena. Line
//! numbers are chunk-local while parsing and made global at the end from the chunks' line
//! counts.

use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use crate::aggregate::Aggregator;
use crate::ingest::ndjson::{Line, PrevTags, parse_line_cached};
use crate::samples::TagSpec;

/// Input per chunk: big enough to amortize hand-offs, small enough that the chunks in
/// flight stay a few MiB.
const CHUNK: usize = 1 << 20;
const IN_FLIGHT: usize = 3;
/// Chunks a worker aggregates before it merges them into the shared aggregator: 16 MiB of
/// input, about 40 s of a 100 req/s run (a worker's own windows are 1 s ones until then).
const HAND_OFF: usize = 16;

/// Merges the workers' aggregators as they arrive; returns the result and the conflicting
/// declarations the merges found, at the later declaration's tagged line.
fn merge_hand_offs(
    parts: mpsc::Receiver<Aggregator>,
    mut merged: Aggregator,
) -> (Aggregator, Vec<(u64, crate::aggregate::AddError)>) {
    let mut conflicts = Vec::new();
    for part in parts {
        if let Err(c) = merged.merge(part) {
            conflicts.push(c);
        }
    }
    (merged, conflicts)
}

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

/// Reads `input` completely. `keep_going`: collect every bad line instead of stopping at the
/// first. `full_resolution_s`: the aggregator's limit of 1 s windows (see `aggregate`).
pub fn read_json_lines(
    mut input: impl Read,
    spec: &TagSpec,
    keep_going: bool,
    threads: usize,
    full_resolution_s: u64,
) -> std::io::Result<StreamRead> {
    let (tx, rx) = mpsc::sync_channel::<(usize, Vec<u8>, bool)>(IN_FLIGHT);
    let rx = Arc::new(Mutex::new(rx));
    // Parsed chunks come back for reuse: no fresh (zeroed) pages per chunk.
    let (free_tx, free_rx) = mpsc::channel::<Vec<u8>>();
    // Chunks after the first failing one need no work when we stop at the first error.
    let first_bad_chunk = AtomicUsize::new(usize::MAX);
    let threads = threads.max(1);
    let fresh = || Aggregator::with_full_resolution(spec.clone(), full_resolution_s);
    let (parts_tx, parts_rx) = mpsc::sync_channel::<Aggregator>(threads);

    let (results, merged, read_result) = std::thread::scope(|scope| {
        let merger = scope.spawn(|| merge_hand_offs(parts_rx, fresh()));
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let free_tx = free_tx.clone();
                let first_bad_chunk = &first_bad_chunk;
                let parts_tx = parts_tx.clone();
                scope.spawn(move || {
                    let mut agg = fresh();
                    let mut chunks = Vec::new();
                    let mut since_hand_off = 0;
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
                        let _ = free_tx.send(buf);
                        since_hand_off += 1;
                        if since_hand_off == HAND_OFF {
                            // Fails only when the merger panicked: the read fails below.
                            let _ = parts_tx.send(std::mem::replace(&mut agg, fresh()));
                            since_hand_off = 0;
                        }
                    }
                    let _ = parts_tx.send(agg);
                    chunks
                })
            })
            .collect();

        drop(free_tx);
        drop(parts_tx);
        let read_result = produce_chunks(&mut input, &tx, &free_rx);
        drop(tx);
        let results: Vec<_> = workers.into_iter().filter_map(|w| w.join().ok()).collect();
        (results, merger.join().ok(), read_result)
    });
    let bytes = read_result?;
    if results.len() != threads {
        return Err(std::io::Error::other("a parser thread panicked"));
    }

    let Some((mut agg, conflicts)) = merged else {
        return Err(std::io::Error::other("the merging thread panicked"));
    };
    let mut all_chunks: Vec<ChunkResult> = results.into_iter().flatten().collect();
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
    let untag = |line: u64| global((line >> 32) as usize, line & 0xffff_ffff);
    if !conflicts.is_empty() {
        bad_count += conflicts.len() as u64;
        bad.extend(conflicts.into_iter().map(|(l, message)| BadLine { line: untag(l), message }));
        bad.sort_by_key(|b| b.line);
    }
    agg.map_lines(untag);
    Ok(StreamRead {
        agg: {
            agg.finish();
            agg
        },
        lines: total,
        bytes,
        bad,
        bad_count,
    })
}

/// Cuts `input` into newline-terminated chunks; the last one may lack its newline.
fn produce_chunks(
    input: &mut impl Read,
    tx: &mpsc::SyncSender<(usize, Vec<u8>, bool)>,
    free: &mpsc::Receiver<Vec<u8>>,
) -> std::io::Result<u64> {
    let mut idx = 0;
    let mut carry: Vec<u8> = Vec::new();
    let mut total = 0u64;
    let stopped = || std::io::Error::other("parser threads stopped");
    loop {
        let mut buf = free.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK + (CHUNK >> 4)));
        buf.clear();
        buf.append(&mut carry);
        let want = CHUNK.saturating_sub(buf.len()).max(CHUNK >> 4);
        // read_to_end fills spare capacity without zeroing it first.
        let n = input.by_ref().take(want as u64).read_to_end(&mut buf)?;
        total += n as u64;
        if n < want {
            if !buf.is_empty() {
                tx.send((idx, buf, true)).map_err(|_| stopped())?;
            }
            return Ok(total);
        }
        match memchr::memrchr(b'\n', &buf) {
            Some(nl) => carry.extend_from_slice(buf.get(nl + 1..).unwrap_or_default()),
            None => {
                // One line longer than a chunk: keep reading into it.
                carry = buf;
                continue;
            }
        }
        buf.truncate(buf.len() - carry.len());
        tx.send((idx, buf, false)).map_err(|_| stopped())?;
        idx += 1;
    }
}

fn process_chunk(agg: &mut Aggregator, idx: usize, buf: &[u8], last: bool, keep_going: bool) -> ChunkResult {
    let mut r = ChunkResult { idx, lines: 0, bad: Vec::new(), bad_count: 0 };
    // Validating the chunk at once is much cheaper than validating every string in it.
    let text = std::str::from_utf8(buf).ok();
    let mut prev: PrevTags<'_> = None;
    let mut rest = buf;
    let mut offset = 0;
    while !rest.is_empty() {
        let (line, next, terminated) = match memchr::memchr(b'\n', rest) {
            Some(nl) => (rest.get(..nl).unwrap_or_default(), rest.get(nl + 1..).unwrap_or_default(), true),
            None => (rest, &[][..], false),
        };
        rest = next;
        let start = offset;
        offset += line.len() + 1;
        r.lines += 1;
        let local = r.lines;
        let line = match text.and_then(|t| t.get(start..start + line.len())) {
            Some(l) => Ok(l),
            None => std::str::from_utf8(line).map_err(|e| format!("not valid UTF-8 ({e})")),
        };
        let outcome = match line.and_then(|l| parse_line_cached(l, agg.spec(), &mut prev)) {
            Ok(Line::Point(p)) => agg.add_point(&p, tag_line(idx, local)),
            Ok(Line::Metric { name, ty }) => agg.declare(&name, ty, tag_line(idx, local)),
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
