//! A day-long soak run at 100 requests a second, ingested as it is generated (8.6 M requests,
//! 112 M k6 JSON lines in k6's own shape: nothing written to disk): prints the window size,
//! the summary's size as stored (compact JSON) and the process's peak RSS (VmHWM). Not a
//! timing: the numbers behind README § Performance, "Long runs".
//!
//!     cargo bench --bench long_run [-- HOURS RATE THREADS]

#[path = "../tests/support/long_run.rs"]
#[allow(dead_code, reason = "shared with the tests, which use more of it")]
mod long_run;

use k6gate::aggregate::FULL_RESOLUTION_S;
use k6gate::ingest::stream::read_json_lines;
use k6gate::samples::TagSpec;
use k6gate::summary::{BuildOptions, build_from_stream};
use long_run::{Lines, LongRun, LongRunReader};

fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    // `cargo bench` passes `--bench`; numbers are the optional HOURS and RATE.
    let args: Vec<f64> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let hours = args.first().copied().unwrap_or(24.0);
    let rate = args.get(1).copied().unwrap_or(100.0) as u32;
    let threads = args.get(2).copied().unwrap_or(2.0) as usize;
    let run = LongRun { seconds: (hours * 3600.0) as u64, rate, ramp_s: 300, lines: Lines::K6 };
    let started = std::time::Instant::now();
    let mut reader = LongRunReader::new(run, false);
    let spec = TagSpec::default();
    let read = match read_json_lines(&mut reader, &spec, false, threads, FULL_RESOLUTION_S) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("long_run: {e}");
            std::process::exit(2);
        }
    };
    let mut agg = read.agg;
    agg.resolve_types();
    let summary = build_from_stream(&agg, Vec::new(), Vec::new(), &BuildOptions::default());
    let json = serde_json::to_string(&summary).unwrap_or_default();
    let series = summary.series.as_ref();
    println!(
        "long_run: {hours} h at {rate} req/s: {} requests, {} lines, {:.1} GB in {:.0} s",
        reader.truth.requests,
        read.lines,
        read.bytes as f64 / 1e9,
        started.elapsed().as_secs_f64()
    );
    println!(
        "long_run: series at {} s windows, {} windows; summary {} bytes (compact JSON); peak RSS {} MiB",
        series.map_or(0.0, |s| s.window_s),
        series.map_or(0, |s| s.start_unix_s.len()),
        json.len(),
        vm_hwm_kib().map_or(0, |k| k / 1024)
    );
    if summary.whole_run.total.requests != reader.truth.requests {
        eprintln!(
            "long_run: {} requests summarized, {} written",
            summary.whole_run.total.requests, reader.truth.requests
        );
        std::process::exit(1);
    }
}
