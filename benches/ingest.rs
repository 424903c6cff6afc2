//! Criterion benches for the ingest hot path: the line parser, the aggregator, and the
//! chunked multi-threaded reader. Input: real k6 1.1 lines (benches/data/k6-sample.ndjson,
//! cut from a fixture run), repeated in memory. The end-to-end 2 GB benchmark is bench/run.sh.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use k6gate::aggregate::Aggregator;
use k6gate::ingest::ndjson::{Line, parse_line, parse_line_slow};
use k6gate::ingest::stream::read_json_lines;
use k6gate::samples::TagSpec;

const SAMPLE: &str = include_str!("data/k6-sample.ndjson");

fn parser(c: &mut Criterion) {
    let spec = TagSpec::default();
    let mut g = c.benchmark_group("parse_line");
    g.throughput(Throughput::Bytes(SAMPLE.len() as u64));
    g.bench_function("fast path", |b| {
        b.iter(|| {
            for l in SAMPLE.lines() {
                black_box(parse_line(l, &spec).ok());
            }
        })
    });
    g.bench_function("serde_json", |b| {
        b.iter(|| {
            for l in SAMPLE.lines() {
                black_box(parse_line_slow(l.as_bytes(), &spec).ok());
            }
        })
    });
    g.finish();
}

fn aggregation(c: &mut Criterion) {
    let spec = TagSpec::default();
    let points: Vec<_> = SAMPLE
        .lines()
        .filter_map(|l| match parse_line(l, &spec) {
            Ok(Line::Point(p)) => Some(p),
            _ => None,
        })
        .collect();
    let mut g = c.benchmark_group("aggregate");
    g.throughput(Throughput::Elements(points.len() as u64));
    g.bench_function("add_point", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(spec.clone());
            for p in &points {
                let _ = agg.add_point(p, 0);
            }
            black_box(agg.samples)
        })
    });
    g.finish();
}

fn reader(c: &mut Criterion) {
    let spec = TagSpec::default();
    let big: Vec<u8> = SAMPLE.repeat(200).into_bytes();
    let mut g = c.benchmark_group("read_json_lines");
    g.throughput(Throughput::Bytes(big.len() as u64));
    g.sample_size(10);
    for threads in [1, 2] {
        g.bench_function(format!("{threads} thread(s)"), |b| {
            b.iter(|| {
                black_box(
                    read_json_lines(&big[..], &spec, false, threads, k6gate::aggregate::FULL_RESOLUTION_S)
                        .map(|r| r.lines)
                        .ok(),
                )
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parser, aggregation, reader);
criterion_main!(benches);
