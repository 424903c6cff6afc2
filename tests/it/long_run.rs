//! Runs longer than ingest's full-resolution limit: a coarser series made by merging windows,
//! exact totals, a bounded summary; and runs under the limit exactly as before.

use std::io::Read;
use std::path::Path;

use k6gate::compare::{Metric, Phase, State, compare};
use k6gate::summary::{GroupStats, MetricSummary, PhaseSummary, Series};
use k6gate::{IngestOptions, RunSummary, ingest};

use crate::support::long_run::{Lines, LongRun, LongRunReader, Truth};
use crate::support::root;

/// Writes the run to a temporary k6 JSON file; returns it with what it holds.
fn write_run(run: LongRun) -> (tempfile::NamedTempFile, Truth) {
    let mut reader = LongRunReader::new(run, true);
    let mut file = tempfile::Builder::new().suffix(".json").tempfile().unwrap();
    {
        let mut out = std::io::BufWriter::new(file.as_file_mut());
        std::io::copy(&mut reader, &mut out).unwrap();
    }
    (file, reader.truth)
}

fn ingest_one(path: &Path, full_resolution_s: u64) -> RunSummary {
    ingest(&[path.to_path_buf()], &IngestOptions { full_resolution_s, ..IngestOptions::default() }).unwrap()
}

/// The value at rank floor(q (n - 1)) of the sorted values: what the sketch guarantees 1 % of.
fn exact_quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).floor() as usize]
}

#[test]
fn a_day_long_run_gets_minute_windows_exact_totals_and_a_small_summary() {
    let run = LongRun { seconds: 24 * 3600 + 1210, rate: 1, ramp_s: 605, lines: Lines::Minimal };
    let (file, mut truth) = write_run(run);
    let s = ingest_one(file.path(), 1800);
    let series = s.series.as_ref().unwrap();
    // 87,610 s: more than 1,800 windows at 10 s, 1,461 at 60 s.
    assert_eq!(series.window_s, 60.0);
    assert!(series.start_unix_s.len() <= 1800, "{} windows", series.start_unix_s.len());
    assert!(series.start_unix_s.iter().all(|t| t % 60 == 0));
    assert!(
        s.notes.iter().any(|n| n.starts_with("series at 60 s windows: the run spans 24.3 h, longer than the 30 min")),
        "{:?}",
        s.notes
    );

    // Totals are exact, in the phases, the whole run and the coarse series alike.
    let t = &s.whole_run.total;
    assert_eq!((t.requests, t.failed), (truth.requests, truth.failed));
    for (name, n) in ["ramp-up", "sustained", "ramp-down"].iter().zip(truth.by_stage) {
        assert_eq!(s.phase(name).map(|p| p.total.requests), Some(n), "{name}");
    }
    assert_eq!(series.total.requests.iter().sum::<u64>(), truth.requests);
    assert_eq!(series.total.failed.iter().sum::<u64>(), truth.failed);
    // Quantiles come from the whole run's sketch: within its 1 %.
    truth.latencies.sort_by(f64::total_cmp);
    let l = t.latency_ms.as_ref().unwrap();
    assert_eq!(l.count, truth.latencies.len() as u64);
    for (got, q) in [(l.p50, 0.5), (l.p95, 0.95), (l.p99, 0.99)] {
        let want = exact_quantile(&truth.latencies, q);
        assert!((got.unwrap() / want - 1.0).abs() <= 0.01, "p{q}: {got:?} vs exact {want}");
    }
    assert!(s.steady_state.is_some());
    let size = serde_json::to_string(&s).unwrap().len();
    assert!(size <= 2_000_000, "summary of {size} bytes");
}

/// Without the limit's count of windows a run keeps 1 s windows; coarser ones change the
/// series only: phase and group counts, sums and quantiles (tagged phases) are the same
/// numbers. Samples without a stage tag (the vus gauge) belong to a phase by their window,
/// so a phase's end, its duration and the per-second rates divided by it may move by up to
/// one window: left out here.
#[test]
fn a_coarser_series_leaves_the_phases_exact_and_comparisons_refuse_mixed_windows() {
    let run = LongRun { seconds: 3 * 3600, rate: 1, ramp_s: 605, lines: Lines::Minimal };
    let (file, _) = write_run(run);
    let fine = ingest_one(file.path(), 4 * 3600);
    let coarse = ingest_one(file.path(), 1800);
    let (fs, cs) = (fine.series.as_ref().unwrap(), coarse.series.as_ref().unwrap());
    assert_eq!((fs.window_s, cs.window_s), (1.0, 10.0));
    assert_eq!((fs.start_unix_s.len(), cs.start_unix_s.len()), (10800, 1080));
    assert!(!fine.notes.iter().any(|n| n.starts_with("series at")), "{:?}", fine.notes);
    // Each 10 s window holds exactly its ten 1 s windows' requests.
    for (i, n) in cs.total.requests.iter().enumerate() {
        assert_eq!(*n, fs.total.requests[i * 10..i * 10 + 10].iter().sum::<u64>(), "window {i}");
    }
    // The coarser series stored beside the main one are the ones a coarser ingest makes
    // (merged sketches and sums), except for which windows the steady-state rule trimmed.
    let windows = |s: &RunSummary| s.series_coarser.iter().map(|x| x.window_s).collect::<Vec<_>>();
    assert_eq!((windows(&fine), windows(&coarse)), (vec![10.0, 60.0], vec![60.0]));
    let untrimmed = |s: &Series| Series { trimmed: Vec::new(), ..s.clone() };
    assert_eq!(untrimmed(&fine.series_coarser[0]), untrimmed(cs));
    assert_eq!(untrimmed(&fine.series_coarser[1]), untrimmed(&coarse.series_coarser[0]));
    assert_eq!(fine.series_coarser[1].total.requests.iter().sum::<u64>(), fine.whole_run.total.requests);
    assert_eq!(fine.phases.len(), coarse.phases.len());
    let exact = |g: &GroupStats| GroupStats { requests_per_s: 0.0, throughput: None, ..g.clone() };
    let tagged = |p: &PhaseSummary| -> Vec<(String, MetricSummary)> {
        let no_rate = |m: &MetricSummary| MetricSummary { rate: None, ..m.clone() };
        p.metrics.iter().filter(|(k, _)| !k.starts_with("vus")).map(|(k, v)| (k.clone(), no_rate(v))).collect()
    };
    for (f, c) in fine.phases.iter().chain([&fine.whole_run]).zip(coarse.phases.iter().chain([&coarse.whole_run])) {
        assert_eq!((&f.name, &f.start), (&c.name, &c.start));
        assert_eq!(exact(&f.total), exact(&c.total), "{}", f.name);
        assert_eq!(f.groups.iter().map(exact).collect::<Vec<_>>(), c.groups.iter().map(exact).collect::<Vec<_>>());
        assert_eq!(tagged(f), tagged(c), "{}", f.name);
        assert!(c.windows * 10 >= f.windows && c.windows <= f.windows, "{}: {} vs {}", f.name, c.windows, f.windows);
    }

    // Same window size: compared. Different: refused for the per-window metrics, with both sizes.
    let same = compare(&coarse, "a", &coarse, "b", &Phase::SteadyState, 0.95);
    assert_eq!(same.get("all", Metric::P95Ms).map(|m| m.state), Some(State::Ok));
    assert_eq!(same.candidate.series_window_s, Some(10.0));
    let mixed = compare(&fine, "fine", &coarse, "coarse", &Phase::SteadyState, 0.95);
    assert_eq!(mixed.baseline.series_window_s, None);
    for metric in [Metric::P50Ms, Metric::P95Ms, Metric::P99Ms, Metric::RequestsPerS] {
        let m = mixed.get("all", metric).unwrap();
        assert_eq!(m.state, State::InsufficientData, "{metric:?}");
        let reason = m.reason.as_deref().unwrap_or_default();
        assert!(reason.contains("different window sizes (baseline 1 s, candidate 10 s)"), "{reason}");
        assert!(m.baseline.is_some() && m.p_value.is_none());
    }
    assert_eq!(mixed.get("all", Metric::ErrorRate).map(|m| m.state), Some(State::Ok));
    // Throughput windows are read per second: equal runs at 10 s windows show no change.
    let tp = same.get("all", Metric::RequestsPerS).unwrap();
    assert_eq!(tp.effect, Some(0.0));
}

/// Runs under the limit summarize exactly as before bounded summaries: the summaries of the
/// checked-in fixtures made by the code before them (`tests/fixtures/golden/`), number for
/// number, plus the coarser series stored since.
#[test]
fn runs_under_the_limit_summarize_as_before() {
    for (input, golden) in [
        ("staged.json.gz", "staged-json.summary.json.gz"),
        ("staged.csv.gz", "staged-csv.summary.json.gz"),
        ("policy-base-a.json.gz", "policy-base-a-json.summary.json.gz"),
    ] {
        let s = ingest(&[root().join("tests/fixtures/k6-small").join(input)], &IngestOptions::default()).unwrap();
        let mut got = serde_json::to_value(&s).unwrap();
        got["metadata"]["sources"][0]["path"] = input.into();
        // Added since: the coarser series, checked against a coarser ingest above.
        let coarser = got.as_object_mut().and_then(|o| o.remove("series_coarser"));
        assert_eq!(coarser.and_then(|c| c.as_array().map(Vec::len)), Some(2), "{input}");
        let mut text = String::new();
        let file = std::fs::File::open(root().join("tests/fixtures/golden").join(golden)).unwrap();
        flate2::read::GzDecoder::new(file).read_to_string(&mut text).unwrap();
        let want: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(s.series.as_ref().map(|x| x.window_s), Some(1.0));
        assert!(got == want, "{input}: the summary changed");
    }
}

/// Workers hand their windows to one shared aggregator every 16 MiB of input
/// (`ingest::stream`): a file well past several hand-offs keeps its totals exact, and a
/// conflicting declaration far into it is reported at its own line with one thread and two.
#[test]
fn hand_offs_between_workers_keep_totals_exact_and_conflicts_located() {
    let run = LongRun { seconds: 3600, rate: 15, ramp_s: 60, lines: Lines::Minimal };
    let (file, truth) = write_run(run);
    let mut text = String::new();
    std::fs::File::open(file.path()).unwrap().read_to_string(&mut text).unwrap();
    assert!(text.len() > 40 << 20, "{} bytes: not past two hand-offs", text.len());

    let mut lines: Vec<&str> = text.lines().collect();
    let declaration =
        lines.iter().position(|l| l.contains(r#""type":"Metric""#) && l.contains(r#""name":"http_reqs""#));
    let declaration = declaration.expect("the stream declares http_reqs").to_owned();
    let late = {
        let mut bytes = 0;
        lines.iter().position(|l| {
            bytes += l.len() + 1;
            bytes > 36 << 20
        })
    };
    let late = late.unwrap();
    let conflicting = lines[declaration].replace(r#""type":"counter""#, r#""type":"gauge""#);
    assert_ne!(conflicting, lines[declaration]);
    lines.insert(late, &conflicting);
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("conflict.json");
    std::fs::write(&bad, lines.join("\n") + "\n").unwrap();

    let s = ingest(&[file.path().to_path_buf()], &IngestOptions { threads: 2, ..IngestOptions::default() }).unwrap();
    assert_eq!((s.whole_run.total.requests, s.whole_run.total.failed), (truth.requests, truth.failed));
    assert_eq!(s.series.as_ref().map(|x| x.total.requests.iter().sum::<u64>()), Some(truth.requests));
    for threads in [1, 2] {
        let opts = IngestOptions { threads, ..IngestOptions::default() };
        let err = ingest(std::slice::from_ref(&bad), &opts).unwrap_err().to_string();
        let at = format!("{}:{}", bad.display(), late + 1);
        assert!(err.contains(&at) && err.contains("http_reqs"), "--threads {threads}: {err}");
    }
}

/// What the retention tiers keep of a fresh summary: past its 1 s period the 10 s and 60 s
/// series stored at ingest, then the 60 s one, then none; the phases' statistics always.
#[test]
fn retention_keeps_the_coarser_series_stored_at_ingest() {
    use k6gate::policy::retention::Keep;
    let s = ingest(&[root().join("tests/fixtures/k6-small/staged.json.gz")], &IngestOptions::default()).unwrap();
    let fresh = serde_json::to_value(&s).unwrap();
    let kept = |keep: Keep| {
        let mut v = fresh.clone();
        k6gate::retention::coarsen(&mut v, keep);
        let coarser: Vec<f64> = v["series_coarser"]
            .as_array()
            .map_or(Vec::new(), |a| a.iter().filter_map(|x| x["window_s"].as_f64()).collect());
        let back: RunSummary = serde_json::from_value(v).expect("a coarsened summary still parses");
        assert_eq!(back.whole_run, s.whole_run);
        (back.series.map(|x| x.window_s), coarser)
    };
    assert_eq!(kept(Keep::SeriesFrom(1.0)), (Some(1.0), vec![10.0, 60.0]));
    assert_eq!(kept(Keep::SeriesFrom(10.0)), (None, vec![10.0, 60.0]));
    assert_eq!(kept(Keep::SeriesFrom(60.0)), (None, vec![60.0]));
    assert_eq!(kept(Keep::NoSeries), (None, vec![]));
}
