//! Plain HTTP calls for tests, on k6gate's own stack (`k6gate::net`): a GET returning JSON and
//! a POST returning the status. Panics on a transport error: a test cannot go on without them.

use serde_json::Value;

fn client() -> reqwest::Client {
    k6gate::net::client(&k6gate::net::ClientOptions::default()).expect("HTTP client")
}

/// `url?query` (values percent-encoded), as JSON, whatever the status.
pub fn get_json(url: &str, query: &[(&str, &str)]) -> Value {
    let q: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", k6gate::net::percent_encode(k), k6gate::net::percent_encode(v)))
        .collect();
    let full = if q.is_empty() { url.to_string() } else { format!("{url}?{}", q.join("&")) };
    k6gate::net::block_on(async {
        let resp = client().get(&full).send().await.unwrap_or_else(|e| panic!("GET {full}: {e}"));
        let text = resp.text().await.unwrap_or_else(|e| panic!("GET {full}: {e}"));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {full}: {e}: {text}"))
    })
    .expect("runtime")
}

/// `POST url` with these headers and body; the status.
pub fn post(url: &str, headers: &[(&str, &str)], body: &str) -> u16 {
    k6gate::net::block_on(async {
        let mut req = client().post(url).body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.unwrap_or_else(|e| panic!("POST {url}: {e}")).status().as_u16()
    })
    .expect("runtime")
}
