//! The shop as unkind as production: data size, the catalog cache after a deploy, the
//! connection pool's queue and the third-party calls, as `/metrics` shows them.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use k6gate_shop::{self as target, Running, TargetArgs};

fn start(args: &[&str]) -> Running {
    let args = TargetArgs::try_from_args(args.iter().copied()).expect("valid target args");
    target::spawn(&args).expect("target starts")
}

/// Status and body of one HTTP/1.1 request.
fn http(port: u16, method: &str, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(60))).expect("timeout");
    write!(stream, "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").unwrap();
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    (head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status"), body.to_string())
}

fn metric(port: u16, series: &str) -> f64 {
    let (_, text) = http(port, "GET", "/metrics");
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|r| r.strip_prefix(' ')))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Median time of `n` distinct cold-cache searches.
fn cold_search_ms(port: u16, n: u32) -> f64 {
    let mut ms: Vec<f64> = (0..n)
        .map(|page| {
            let t = Instant::now();
            let (status, body) = http(port, "GET", &format!("/api/search?category=kitchen&page={page}"));
            assert_eq!(status, 200, "{body}");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect();
    ms.sort_by(f64::total_cmp);
    ms[ms.len() / 2]
}

#[test]
fn the_search_costs_more_with_more_rows_until_the_cache_holds_it() {
    let dir = tempfile::tempdir().unwrap();
    let small_db = dir.path().join("small.sqlite");
    let big_db = dir.path().join("big.sqlite");
    let small = start(&["--latency-scale", "0", "--products", "10000", "--db", small_db.to_str().unwrap()]);
    let t = Instant::now();
    let big = start(&["--latency-scale", "0", "--products", "300000", "--db", big_db.to_str().unwrap()]);
    // Seeding is one transaction with one prepared statement: 300K rows well within a minute
    // even in a debug build on a busy 2-core machine (about 2 s measured in debug on an idle one).
    let seeded = t.elapsed();
    eprintln!("seeded 300000 products in {seeded:?}");
    assert!(seeded < Duration::from_secs(60), "{seeded:?}");
    assert_eq!(metric(small.port(), "shop_db_rows{table=\"products\"}"), 10_000.0);
    assert_eq!(metric(big.port(), "shop_db_rows{table=\"products\"}"), 300_000.0);
    assert!(metric(big.port(), "shop_db_bytes") > 10.0 * metric(small.port(), "shop_db_bytes"));

    // Cold cache: the count scans the table, 30 times the rows. A ratio, not a time: at least
    // 5x leaves room for a busy machine (about 20x measured).
    let (s, b) = (cold_search_ms(small.port(), 9), cold_search_ms(big.port(), 9));
    eprintln!("cold search: {s:.2} ms at 10K rows, {b:.2} ms at 300K");
    assert!(b > 5.0 * s, "{b} ms vs {s} ms");
    assert_eq!(metric(big.port(), "shop_cache_misses_total"), 9.0);
    assert_eq!(metric(big.port(), "shop_cache_entries"), 9.0);

    // Warm: the same pages again are hits, and fast whatever the size.
    let warm = cold_search_ms(big.port(), 9);
    assert!(warm < b / 5.0, "warm {warm} ms vs cold {b} ms");
    assert_eq!(metric(big.port(), "shop_cache_hits_total"), 9.0);

    // A deploy empties the cache: the next reads are misses again.
    assert_eq!(http(big.port(), "POST", "/admin/deploy").0, 200);
    assert_eq!(metric(big.port(), "shop_cache_entries"), 0.0);
    assert_eq!(metric(big.port(), "shop_cache_deploys_total"), 1.0);
    cold_search_ms(big.port(), 1);
    assert_eq!(metric(big.port(), "shop_cache_misses_total"), 10.0);
    assert_eq!(http(big.port(), "GET", "/api/search?category=nope").0, 400);
    assert_eq!(http(big.port(), "GET", "/api/search?category=home&page=50").0, 400);
}

#[test]
fn cache_warm_fills_every_page_before_listening() {
    let shop = start(&["--latency-scale", "0", "--products", "2000", "--db", ":memory:", "--cache-warm"]);
    let pages = (6 * target::PAGES) as f64;
    assert_eq!(metric(shop.port(), "shop_cache_entries"), pages);
    http(shop.port(), "GET", "/api/search?category=audio&page=3");
    assert_eq!(metric(shop.port(), "shop_cache_hits_total"), 1.0);
    assert_eq!(metric(shop.port(), "shop_cache_misses_total"), 0.0);
}

#[test]
fn a_small_pool_queues_concurrent_requests() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("pool.sqlite");
    let shop =
        start(&["--latency-scale", "0", "--products", "100000", "--pool-size", "1", "--db", db.to_str().unwrap()]);
    let port = shop.port();
    assert_eq!(metric(port, "shop_db_pool_size"), 1.0);
    let threads: Vec<_> = (0..6)
        .map(|i| std::thread::spawn(move || http(port, "GET", &format!("/api/search?category=office&page={i}")).0))
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    // Six cold reads on one connection: some of them queued, and waited.
    assert!(metric(port, "shop_db_pool_waiting_max") >= 1.0);
    assert_eq!(metric(port, "shop_db_pool_in_use_max"), 1.0);
    assert!(metric(port, "shop_db_pool_wait_seconds_sum") > 0.0);
    assert_eq!(metric(port, "shop_db_pool_waiting"), 0.0);
}
