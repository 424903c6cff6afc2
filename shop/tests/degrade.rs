//! The shop's degrade switches and gauges through HTTP: what the load-test guard's drills
//! flip, and what teardown reads.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use k6gate_shop::{self as target, Running, TargetArgs};
use serde_json::{Value, json};

fn start(args: &[&str]) -> Running {
    let mut all = vec!["--latency-scale", "0", "--db", ":memory:"];
    all.extend_from_slice(args);
    target::spawn(&TargetArgs::try_from_args(all).expect("valid target args")).expect("target starts")
}

/// One request on its own connection: the status and the body.
fn send(port: u16, method: &str, path: &str, body: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .expect("write");
    let mut raw = String::new();
    stream.read_to_string(&mut raw).expect("read");
    let (head, body) = raw.split_once("\r\n\r\n").expect("header end");
    (head.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status"), body.to_string())
}

fn json_of(port: u16, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, text) = send(port, method, path, &body.to_string());
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")))
}

fn gauge(port: u16, name: &str) -> f64 {
    let (_, text) = send(port, "GET", "/metrics", "");
    let line = text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name}: {text}"));
    line.rsplit(' ').next().and_then(|v| v.parse().ok()).expect("a number")
}

#[test]
fn an_admin_switch_degrades_the_api_until_healed_and_the_gauges_show_it() {
    let t = start(&[]);
    let port = t.port();
    assert_eq!(send(port, "GET", "/api/products", "").0, 200);
    let (s, shown) = json_of(port, "POST", "/admin/degrade", json!({"error_rate": 1.0, "slow_ms": 50, "sticky": true}));
    assert_eq!(s, 200);
    assert_eq!(shown["setting"], json!({"slow_ms": 50, "error_rate": 1.0, "sticky": true, "heal_below_rps": 20.0}));
    let started = std::time::Instant::now();
    let (status, body) = send(port, "GET", "/api/products", "");
    assert_eq!(status, 503, "{body}");
    assert!(started.elapsed() >= Duration::from_millis(50), "slowed too");
    assert!(body.contains("degraded on purpose"), "{body}");
    // Health and metrics are not degraded: the guard still reads them.
    assert_eq!(send(port, "GET", "/health", "").0, 200);
    assert_eq!(gauge(port, "k6gate_shop_degraded"), 1.0);
    assert_eq!(gauge(port, "k6gate_shop_in_flight_requests"), 0.0, "nothing in flight but /metrics, not counted");
    assert!(gauge(port, "k6gate_shop_open_connections") >= 1.0, "the scrape's own connection");
    let (_, text) = send(port, "GET", "/metrics", "");
    assert!(text.contains("http_server_requests_total{route=\"GET /api/products\",status=\"503\"} 1"), "{text}");
    // Bad switches are refused by name; DELETE heals.
    let (s, e) = json_of(port, "POST", "/admin/degrade", json!({"error_rate": 2}));
    assert_eq!((s, e["error"].as_str().unwrap_or("")), (400, "error_rate 2 is not between 0 and 1"));
    assert_eq!(json_of(port, "POST", "/admin/degrade", json!({"slowness": 1})).0, 400);
    assert_eq!(json_of(port, "DELETE", "/admin/degrade", json!({})).1["degraded"], false);
    assert_eq!(send(port, "GET", "/api/products", "").0, 200);
    assert_eq!(gauge(port, "k6gate_shop_degraded"), 0.0);
    t.stop().expect("clean shutdown");
}

#[test]
fn the_shop_can_start_degraded() {
    let t = start(&["--degrade-error-rate", "1", "--degrade-sticky"]);
    assert_eq!(send(t.port(), "GET", "/api/products", "").0, 503);
    let (_, shown) = json_of(t.port(), "GET", "/admin/degrade", json!({}));
    assert_eq!(shown["setting"]["sticky"], true);
    assert!(TargetArgs::try_from_args(["--degrade-error-rate", "1.5"]).is_err());
}
