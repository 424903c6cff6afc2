//! The upstream Prometheus, called through `net`'s client (k6gate's one HTTP stack): no
//! redirects (a POST's form would be lost), the proxy's own timeout per call.

use std::time::Duration;

use axum::body::Bytes;
use reqwest::Url;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use crate::net::{ClientOptions, NetError, Redirects, Secret};

/// What the upstream answered.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Bytes,
}

/// One upstream Prometheus.
#[derive(Debug, Clone)]
pub struct Upstream {
    base: Url,
    client: reqwest::Client,
    /// Sent with every call; the values marked sensitive.
    headers: HeaderMap,
}

impl Upstream {
    /// `base` is Prometheus' root URL (`http://127.0.0.1:9090`, or Mimir's `/prometheus`).
    pub fn new(base: &str, timeout: Duration, headers: &[(String, Secret)]) -> Result<Upstream, String> {
        let mut base = Url::parse(base).map_err(|e| format!("--upstream {base:?}: {e}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(format!("--upstream {base}: must be an http:// or https:// URL"));
        }
        let trimmed = base.path().trim_end_matches('/').to_string();
        base.set_path(&trimmed);
        base.set_query(None);
        let options = ClientOptions { redirects: Redirects::None, ..ClientOptions::with_timeout(timeout) };
        let client = crate::net::client(&options).map_err(|e: NetError| e.to_string())?;
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let n = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("--upstream-header {name:?}: not a header name"))?;
            // The value is a secret: the error names the header only.
            let mut v = HeaderValue::from_str(value.expose())
                .map_err(|_| format!("--upstream-header {name}: the value is not a valid header value"))?;
            v.set_sensitive(true);
            map.append(n, v);
        }
        Ok(Upstream { base, client, headers: map })
    }

    pub fn base(&self) -> &Url {
        &self.base
    }

    /// `path` (starting with `/`) and its query string, as a URL under the base.
    fn url(&self, path_and_query: &str) -> String {
        format!("{}{path_and_query}", self.base.as_str().trim_end_matches('/'))
    }

    /// A POST with `params` as the form body, or a GET with them as the query string.
    pub async fn send(&self, path: &str, params: &[(String, String)], post: bool) -> Result<Reply, String> {
        let encoded = super::key::encode(params);
        let request = if post {
            self.client
                .post(self.url(path))
                .headers(self.headers.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(encoded)
        } else if encoded.is_empty() {
            self.client.get(self.url(path)).headers(self.headers.clone())
        } else {
            self.client.get(self.url(&format!("{path}?{encoded}"))).headers(self.headers.clone())
        };
        read(request.send().await).await
    }

    /// A GET of `path_and_query` as asked (the uncached read-only paths).
    pub async fn get(&self, path_and_query: &str) -> Result<Reply, String> {
        read(self.client.get(self.url(path_and_query)).headers(self.headers.clone()).send().await).await
    }
}

async fn read(sent: Result<reqwest::Response, reqwest::Error>) -> Result<Reply, String> {
    let response = sent.map_err(|e| crate::net::describe(&e))?;
    let status = response.status().as_u16();
    let content_type =
        response.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_string);
    let body = response.bytes().await.map_err(|e| format!("reading the answer: {}", crate::net::describe(&e)))?;
    Ok(Reply { status, content_type, body })
}
