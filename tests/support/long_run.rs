//! A long k6 run as a stream of k6 JSON lines, generated as it is read (nothing held in
//! memory but one line): for the long-run ingest test (a day at one request a second) and
//! `benches/long_run.rs` (a day at 100 requests a second, far too big to keep as a file).
//!
//! Three endpoints in turn (`GET a`, `POST b`, `GET c`, 20/50/100 ms medians, one request in
//! a hundred ten times slower, one in two hundred failing with a 503), tagged `test_stage`:
//! `ramp-up` for the first `ramp_s` seconds, `ramp-down` for the last, `sustained` between.
//! [`Truth`] counts what was written, for exact comparisons.

use std::io::{Read, Write};

use k6gate::time::format_rfc3339_ms;

/// 2026-11-28T00:00:00Z.
const START_NS: i64 = 1_795_824_000_000_000_000;

/// Which samples a request writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lines {
    /// `http_reqs`, `http_req_duration`, `http_req_failed`: enough for the summary's requests,
    /// latency and errors at a fraction of the bytes.
    Minimal,
    /// What k6 writes: the nine `http_req*` samples, then `data_sent`, `data_received`,
    /// `iteration_duration` and `iterations`.
    K6,
}

/// The run's shape.
#[derive(Debug, Clone, Copy)]
pub struct LongRun {
    pub seconds: u64,
    pub rate: u32,
    pub ramp_s: u64,
    pub lines: Lines,
}

/// What the stream held, counted while writing it.
#[derive(Debug, Clone, Default)]
pub struct Truth {
    pub requests: u64,
    pub failed: u64,
    /// Requests per stage: ramp-up, sustained, ramp-down.
    pub by_stage: [u64; 3],
    /// Latency of every expected response, ms (kept only when asked: a day at 100/s is 8.6 M).
    pub latencies: Vec<f64>,
}

const ENDPOINTS: [(&str, &str, f64); 3] = [("a", "GET", 20.0), ("b", "POST", 50.0), ("c", "GET", 100.0)];
const STAGES: [&str; 3] = ["ramp-up", "sustained", "ramp-down"];

/// Streams the run as k6 JSON lines.
pub struct LongRunReader {
    run: LongRun,
    /// Next request.
    next: u64,
    total: u64,
    /// Next second whose `vus` gauge is due.
    next_vus_s: u64,
    buf: Vec<u8>,
    pos: usize,
    rng: u64,
    keep_latencies: bool,
    pub truth: Truth,
}

impl LongRunReader {
    pub fn new(run: LongRun, keep_latencies: bool) -> LongRunReader {
        let mut buf = Vec::with_capacity(1 << 16);
        for (name, ty, contains) in [
            ("vus", "gauge", "default"),
            ("http_reqs", "counter", "default"),
            ("http_req_duration", "trend", "time"),
            ("http_req_failed", "rate", "default"),
        ] {
            let _ = writeln!(
                buf,
                r#"{{"type":"Metric","data":{{"name":"{name}","type":"{ty}","contains":"{contains}","thresholds":[],"submetrics":null}},"metric":"{name}"}}"#
            );
        }
        LongRunReader {
            run,
            next: 0,
            total: run.seconds * u64::from(run.rate),
            next_vus_s: 0,
            buf,
            pos: 0,
            rng: 0x9e37_79b9_7f4a_7c15,
            keep_latencies,
            truth: Truth::default(),
        }
    }

    /// SplitMix64, uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }

    fn stage(&self, second: u64) -> usize {
        if second < self.run.ramp_s {
            0
        } else if second + self.run.ramp_s >= self.run.seconds {
            2
        } else {
            1
        }
    }

    /// Writes the next request's lines (and the gauge when a second begins) into `buf`.
    fn fill(&mut self) -> bool {
        if self.next >= self.total {
            return false;
        }
        let i = self.next;
        self.next += 1;
        let rate = u64::from(self.run.rate);
        let second = i / rate;
        let ns = START_NS + (second as i64) * 1_000_000_000 + ((i % rate) as i64) * (1_000_000_000 / rate as i64);
        let time = format_rfc3339_ms(ns);
        let stage = STAGES.get(self.stage(second)).copied().unwrap_or("sustained");
        if second >= self.next_vus_s {
            self.next_vus_s = second + 1;
            let _ = writeln!(
                self.buf,
                r#"{{"metric":"vus","type":"Point","data":{{"time":"{time}","value":10,"tags":{{"test_name":"soak"}}}}}}"#
            );
        }
        let (name, method, median) = ENDPOINTS.get((i % 3) as usize).copied().unwrap_or(ENDPOINTS[0]);
        let u = self.uniform();
        let failed = self.uniform() < 0.005;
        let tail = if self.uniform() < 0.01 { 10.0 } else { 1.0 };
        let duration = if failed { 1.0 + u } else { median * (0.6 + 0.8 * u) * tail };
        let (status, expected) = if failed { ("503", "false") } else { ("200", "true") };
        let tags = format!(
            r#""tags":{{"expected_response":"{expected}","group":"::soak","method":"{method}","name":"{name}","proto":"HTTP/1.1","scenario":"soak","status":"{status}","test_name":"soak","test_stage":"{stage}","url":"http://127.0.0.1/{name}"}}"#
        );
        let mut point = |metric: &str, value: f64| {
            let _ = writeln!(
                self.buf,
                r#"{{"metric":"{metric}","type":"Point","data":{{"time":"{time}","value":{value},{tags}}}}}"#
            );
        };
        point("http_reqs", 1.0);
        point("http_req_duration", duration);
        if self.run.lines == Lines::K6 {
            point("http_req_blocked", 0.002 + u / 100.0);
            point("http_req_connecting", 0.0);
            point("http_req_tls_handshaking", 0.0);
            point("http_req_sending", 0.01 + u / 50.0);
            point("http_req_waiting", duration * 0.95);
            point("http_req_receiving", duration * 0.05);
        }
        point("http_req_failed", if failed { 1.0 } else { 0.0 });
        if self.run.lines == Lines::K6 {
            point("data_sent", 120.0);
            point("data_received", 800.0 + (u * 400.0).round());
            point("iteration_duration", duration + 0.5);
            point("iterations", 1.0);
        }
        self.truth.requests += 1;
        self.truth.failed += u64::from(failed);
        let stage = self.stage(second);
        if let Some(n) = self.truth.by_stage.get_mut(stage) {
            *n += 1;
        }
        if self.keep_latencies && !failed {
            self.truth.latencies.push(duration);
        }
        true
    }
}

impl Read for LongRunReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if !self.fill() {
                return Ok(0);
            }
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let n = rest.len().min(out.len());
        out[..n].copy_from_slice(&rest[..n]);
        self.pos += n;
        Ok(n)
    }
}
