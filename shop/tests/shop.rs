//! The demo shop (`k6gate target`) through its HTTP API: a user journey, bad input, bad
//! tokens, payment failures, concurrency, and that `--regression` slows checkout down.
//! Requests are plain HTTP/1.1 over `std::net::TcpStream`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use k6gate_shop::{self as target, Running, TargetArgs};
use serde_json::{Value, json};

fn start(args: &[&str]) -> Running {
    let args = TargetArgs::try_from_args(args.iter().copied()).expect("valid target args");
    target::spawn(&args).expect("target starts")
}

/// Most tests need the behaviour, not the latency: run them at a tenth of the simulated time.
fn start_fast(extra: &[&str]) -> Running {
    let mut args = vec!["--latency-scale", "0.1"];
    args.extend_from_slice(extra);
    start(&args)
}

#[derive(Debug)]
struct Reply {
    status: u16,
    body: Value,
}

fn send(port: u16, method: &str, path: &str, content_type: &str, body: &str) -> Reply {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read response");
    let raw = String::from_utf8(raw).expect("utf-8 response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status code");
    assert!(head.lines().any(|l| l.eq_ignore_ascii_case("content-type: application/json")), "not JSON: {head}");
    assert!(!head.to_ascii_lowercase().contains("transfer-encoding"), "chunked: {head}");
    Reply { status, body: serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}")) }
}

fn get(port: u16, path: &str) -> Reply {
    send(port, "GET", path, "application/json", "")
}

fn post(port: u16, path: &str, body: Value) -> Reply {
    send(port, "POST", path, "application/json", &body.to_string())
}

fn login(port: u16, user: &str) -> String {
    let r = post(port, "/api/login", json!({"user": user, "password": target::PASSWORD}));
    assert_eq!(r.status, 200, "{r:?}");
    r.body["token"].as_str().expect("token").to_owned()
}

#[track_caller]
fn assert_error(r: &Reply, status: u16) {
    assert_eq!(r.status, status, "{r:?}");
    assert!(r.body["error"].as_str().is_some_and(|e| !e.is_empty()), "no error message: {r:?}");
}

#[test]
fn a_user_logs_in_fills_a_cart_and_checks_out() {
    let t = start_fast(&[]);
    let port = t.port();
    assert_eq!(get(port, "/health").body, json!({"status": "ok"}));

    let token = login(port, "u1");
    assert_eq!(token.len(), 32);

    let page = get(port, "/api/products?limit=5").body;
    assert_eq!(page["count"], 5);
    let products = page["products"].as_array().expect("products");
    let ids: Vec<i64> = products.iter().map(|p| p["id"].as_i64().expect("id")).collect();
    assert_eq!(ids, [1, 2, 3, 4, 5]);
    let price = |i: usize| products[i]["price_cents"].as_i64().expect("price");
    assert!(products.iter().all(|p| p["name"].is_string() && p["category"].is_string()));
    assert_eq!(get(port, "/api/products").body["count"], 20, "default page");
    assert_eq!(get(port, "/api/products?limit=200").body["count"], target::PRODUCTS);
    assert_eq!(get(port, "/api/products?limit=10&offset=195").body["count"], 5);

    let r = post(port, "/api/cart", json!({"token": token, "product_id": 3, "qty": 2}));
    assert_eq!(r.body, json!({"cart_size": 2, "total_cents": 2 * price(2), "lines": 1}));
    post(port, "/api/cart", json!({"token": token, "product_id": 5, "qty": 1}));
    let r = post(port, "/api/cart", json!({"token": token, "product_id": 3, "qty": 1}));
    let total = 3 * price(2) + price(4);
    assert_eq!(r.body, json!({"cart_size": 4, "total_cents": total, "lines": 2}));

    let cart = get(port, &format!("/api/cart?token={token}")).body;
    assert_eq!(cart["total_cents"], total);
    assert_eq!(cart["items"][0]["product_id"], 3);
    assert_eq!(cart["items"][0]["qty"], 3);
    assert_eq!(cart["items"][0]["line_cents"], 3 * price(2));

    let order = post(port, "/api/checkout", json!({"token": token}));
    assert_eq!(order.status, 200, "{order:?}");
    assert!(order.body["order_id"].as_i64().is_some_and(|id| id > 0));
    assert_eq!(order.body["total_cents"], total);
    assert_eq!(order.body["cart_size"], 4);

    let cart = get(port, &format!("/api/cart?token={token}")).body;
    assert_eq!(cart, json!({"items": [], "cart_size": 0, "total_cents": 0, "lines": 0}));
    assert_error(&post(port, "/api/checkout", json!({"token": token})), 409);
    t.stop().expect("clean shutdown");
}

#[test]
fn bad_input_is_400_with_a_json_error() {
    let t = start_fast(&[]);
    let port = t.port();
    let token = login(port, "u2");
    let bad_bodies = [
        ("/api/login", "{not json"),
        ("/api/login", r#"{"user": "u1"}"#),
        ("/api/login", r#"{"user": 1, "password": "secret"}"#),
        ("/api/cart", &format!(r#"{{"token": "{token}", "product_id": 1}}"#)),
        ("/api/cart", &format!(r#"{{"token": "{token}", "product_id": 1, "qty": -1}}"#)),
        ("/api/cart", &format!(r#"{{"token": "{token}", "product_id": 1, "qty": 0}}"#)),
        ("/api/cart", &format!(r#"{{"token": "{token}", "product_id": 1, "qty": 101}}"#)),
        ("/api/cart", &format!(r#"{{"token": "{token}", "product_id": 9999, "qty": 1}}"#)),
        ("/api/checkout", "{}"),
        ("/api/checkout", ""),
    ];
    for (path, body) in bad_bodies {
        let r = send(port, "POST", path, "application/json", body);
        assert_error(&r, 400);
    }
    assert_error(&send(port, "POST", "/api/login", "text/plain", r#"{"user":"u1","password":"secret"}"#), 400);
    for path in ["/api/products?limit=0", "/api/products?limit=201", "/api/products?limit=ten", "/api/cart"] {
        assert_error(&get(port, path), 400);
    }
    assert_error(&get(port, "/api/nope"), 404);
}

#[test]
fn unknown_tokens_and_wrong_passwords_are_401() {
    let t = start_fast(&[]);
    let port = t.port();
    let bogus = "0123456789abcdef0123456789abcdef";
    assert_error(&post(port, "/api/cart", json!({"token": bogus, "product_id": 1, "qty": 1})), 401);
    assert_error(&get(port, &format!("/api/cart?token={bogus}")), 401);
    assert_error(&post(port, "/api/checkout", json!({"token": bogus})), 401);
    assert_error(&post(port, "/api/checkout", json!({"token": ""})), 401);
    assert_error(&post(port, "/api/login", json!({"user": "u1", "password": "Secret"})), 401);
    assert_error(&post(port, "/api/login", json!({"user": "nobody", "password": "secret"})), 401);
    // Each login is its own session.
    assert_ne!(login(port, "u1"), login(port, "u1"));
}

#[test]
fn a_failed_payment_is_502_and_keeps_the_cart() {
    let t = start_fast(&["--error-rate", "1"]);
    let port = t.port();
    let token = login(port, "u3");
    post(port, "/api/cart", json!({"token": token, "product_id": 7, "qty": 2}));
    assert_error(&post(port, "/api/checkout", json!({"token": token})), 502);
    assert_eq!(get(port, &format!("/api/cart?token={token}")).body["cart_size"], 2);
}

#[test]
fn regression_makes_checkout_measurably_slower() {
    // Same seed, so both draw the same jitter; requests alternate, so machine load hits both.
    // A slow payment provider makes the simulated time dominate the fixed cost of a request
    // (HTTP, two database round trips, timer rounding), which the regression does not scale.
    let base = start(&["--seed", "11", "--third-party-ms", "60"]);
    let slow = start(&["--seed", "11", "--third-party-ms", "60", "--regression", "0.3"]);
    let (base_token, slow_token) = (login(base.port(), "u4"), login(slow.port(), "u4"));
    let checkout = |port: u16, token: &str| {
        post(port, "/api/cart", json!({"token": token, "product_id": 1, "qty": 1}));
        let started = Instant::now();
        let r = post(port, "/api/checkout", json!({"token": token}));
        assert_eq!(r.status, 200, "{r:?}");
        started.elapsed()
    };
    let (mut fast_times, mut slow_times) = (Vec::new(), Vec::new());
    for _ in 0..13 {
        fast_times.push(checkout(base.port(), &base_token));
        slow_times.push(checkout(slow.port(), &slow_token));
    }
    // The fastest of each: a busy machine only ever adds time, so the minimum is the
    // simulated work plus the fixed cost, and does not move with the load of other tests.
    let fastest = |v: &[Duration]| v.iter().min().map_or(0.0, Duration::as_secs_f64);
    let (fast, slow) = (fastest(&fast_times), fastest(&slow_times));
    eprintln!("checkout fastest: {:.1} ms, with --regression 0.3: {:.1} ms", fast * 1e3, slow * 1e3);
    // 30 % injected into ~65 ms of simulated checkout work; ask for half of it.
    assert!(
        slow >= fast * 1.15,
        "checkout fastest {:.1} ms with --regression 0.3 vs {:.1} ms without",
        slow * 1e3,
        fast * 1e3
    );
}

#[test]
fn concurrent_users_all_get_their_orders() {
    let dir = tempfile::tempdir().expect("temp dir");
    let db = dir.path().join("shop.sqlite");
    let t = start_fast(&["--db", db.to_str().expect("utf-8 path")]);
    let port = t.port();
    let orders: Vec<i64> = std::thread::scope(|s| {
        let users: Vec<_> = (1..=8)
            .map(|u| {
                s.spawn(move || {
                    let token = login(port, &format!("u{u}"));
                    (0..15)
                        .map(|i| {
                            let r = post(
                                port,
                                "/api/cart",
                                json!({"token": token, "product_id": 1 + (u * 7 + i) % 200, "qty": 1}),
                            );
                            assert_eq!(r.status, 200, "{r:?}");
                            let r = post(port, "/api/checkout", json!({"token": token}));
                            assert_eq!(r.status, 200, "{r:?}");
                            r.body["order_id"].as_i64().expect("order id")
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        users.into_iter().flat_map(|h| h.join().expect("user thread")).collect()
    });
    let mut unique = orders.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), 8 * 15);
    t.stop().expect("clean shutdown");

    // The file is a real SQLite database in WAL mode, holding every order.
    let conn = rusqlite::Connection::open(&db).expect("open db");
    let mode: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0)).expect("journal mode");
    assert_eq!(mode, "wal");
    let count: i64 = conn.query_row("SELECT count(*) FROM orders", [], |r| r.get(0)).expect("count");
    assert_eq!(count, 8 * 15);
    let left: i64 = conn.query_row("SELECT count(*) FROM cart_items", [], |r| r.get(0)).expect("count");
    assert_eq!(left, 0);
}

#[test]
fn an_in_memory_database_works_and_a_stopped_target_closes_its_port() {
    let t = start_fast(&["--db", ":memory:"]);
    let port = t.port();
    let token = login(port, "u9");
    post(port, "/api/cart", json!({"token": token, "product_id": 2, "qty": 1}));
    assert_eq!(post(port, "/api/checkout", json!({"token": token})).status, 200);
    t.stop().expect("clean shutdown");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn arguments_are_checked_when_parsed() {
    let defaults = TargetArgs::try_from_args::<_, &str>([]).expect("defaults");
    assert_eq!(
        (defaults.port, defaults.latency_scale, defaults.third_party_ms, defaults.error_rate),
        (0, 1.0, 8.0, 0.0)
    );
    assert!(TargetArgs::try_from_args(["--regression", "-0.5"]).is_ok(), "an improvement is allowed");
    for bad in [
        &["--error-rate", "1.5"][..],
        &["--latency-scale", "-1"],
        &["--latency-scale", "NaN"],
        &["--regression", "-1"],
        &["--third-party-ms", "fast"],
        &["--port", "70000"],
    ] {
        assert!(TargetArgs::try_from_args(bad.iter().copied()).is_err(), "{bad:?} accepted");
    }
}

/// `GET /metrics` as raw text (it is not JSON).
fn metrics_text(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    write!(stream, "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n").expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read response");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    assert!(head.to_ascii_lowercase().contains("content-type: text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .expect("a number")
}

#[test]
fn metrics_count_and_time_requests_by_route_and_status() {
    let t = start_fast(&["--error-rate", "1"]);
    let port = t.port();
    let token = login(port, "u5");
    post(port, "/api/cart", json!({"token": token, "product_id": 3, "qty": 1}));
    assert_error(&post(port, "/api/checkout", json!({"token": token})), 502);
    assert_error(&get(port, "/nowhere"), 404);
    let text = metrics_text(port);
    assert_eq!(sample(&text, r#"http_server_requests_total{route="POST /api/login",status="200"}"#), 1.0);
    assert_eq!(sample(&text, r#"http_server_requests_total{route="POST /api/checkout",status="502"}"#), 1.0);
    assert_eq!(sample(&text, r#"http_server_requests_total{route="other",status="404"}"#), 1.0);
    let h = r#"http_server_request_duration_seconds"#;
    let checkout = r#"route="POST /api/checkout",status_class="5xx""#;
    assert_eq!(sample(&text, &format!("{h}_count{{{checkout}}}")), 1.0);
    assert_eq!(sample(&text, &format!("{h}_bucket{{{checkout},le=\"+Inf\"}}")), 1.0);
    assert!(sample(&text, &format!("{h}_sum{{{checkout}}}")) > 0.0);
    // /metrics itself is not counted.
    assert!(!metrics_text(port).contains("/metrics"));
}

#[test]
fn fault_rate_answers_api_requests_with_500() {
    let t = start_fast(&["--fault-rate", "1"]);
    let port = t.port();
    assert_error(&get(port, "/api/products"), 500);
    assert_eq!(get(port, "/health").status, 200, "only /api/ requests fault");
    let text = metrics_text(port);
    assert_eq!(sample(&text, r#"http_server_requests_total{route="GET /api/products",status="500"}"#), 1.0);
}
