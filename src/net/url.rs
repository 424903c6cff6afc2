//! URL and header helpers the clients share: `Retry-After`, URLs as they may be shown, and
//! percent-encoding. Pure functions: no IO, no clock.

use std::time::Duration;

/// A `Retry-After` given in seconds (the form GitHub, Grafana and Prometheus send).
pub fn retry_after(headers: &http::HeaderMap) -> Option<Duration> {
    headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
}

/// `https://user:secret@host/x?q` -> `https://host/x?q`: a URL as it may be shown or linked.
pub fn without_userinfo(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let (authority, path) = match rest.find(['/', '?', '#']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if scheme.is_empty() { format!("{host}{path}") } else { format!("{scheme}://{host}{path}") }
}

/// Percent-encodes every byte of `s` except RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - . _ ~`). That is safe in a path segment and in a query name or value
/// alike; `+` becomes `%2B`, since query parsers read a bare `+` as a space. Written here
/// because it is one short function: no crate for it.
pub fn percent_encode(s: &str) -> String {
    let hex = |nibble: u8| char::from(if nibble < 10 { b'0' + nibble } else { b'A' + nibble - 10 });
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(hex(b >> 4));
            out.push(hex(b & 0xF));
        }
    }
    out
}
