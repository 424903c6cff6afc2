//! A wiremock server for tests of blocking code. The code under test runs its own tokio
//! runtime, so [`MockHttp`] owns a separate small runtime used only to set up and inspect
//! wiremock (whose server runs on its own thread); call the code under test outside of it.
//! `.expect(n)` is verified when the [`MockHttp`] drops, or at once with [`MockHttp::verify`].
//!
//! The one HTTP fake of the test suite: every fake service is built on it, keeping the
//! checks of method, path, headers and body its real API documents. `fake_github.rs` (and the
//! stricter GET of `approval.rs`, the Enterprise base path of `run_report.rs`), the webhook in
//! `notify.rs` and the query API in `prom_publish.rs` mount wiremock mocks; the Grafana
//! annotation handler in `grafana_annotate.rs` and the scripted remote-write receiver in
//! `prom_publish.rs` are wiremock responders (`Respond`) mounted on it.

use serde_json::Value;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

/// Fields drop in order: the server first (verifying every `.expect`), then the runtime
/// that set it up.
pub struct MockHttp {
    server: MockServer,
    rt: tokio::runtime::Runtime,
}

/// One request as received: method, path (no query), query, and the JSON body (`Null` when
/// the body is empty or not JSON).
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub body: Value,
}

impl MockHttp {
    /// A server at `http://127.0.0.1:PORT` with no mocks: every request gets a 404.
    pub fn start() -> MockHttp {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
        let server = rt.block_on(MockServer::start());
        MockHttp { server, rt }
    }

    /// Answers every request no other mock matches with `response`, and fails the test (at
    /// [`MockHttp::verify`] or drop) if there is any; `name` says what such a request is.
    pub fn catch_all(&self, response: ResponseTemplate, name: &str) {
        self.mount(Mock::given(any()).respond_with(response).with_priority(u8::MAX).named(name).expect(0));
    }

    /// `http://127.0.0.1:PORT`.
    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// The URL of path `p` on this server.
    pub fn url(&self, p: &str) -> String {
        format!("{}{p}", self.server.uri())
    }

    pub fn mount(&self, mock: Mock) {
        self.rt.block_on(mock.mount(&self.server));
    }

    /// Every request received so far, in arrival order (unmatched ones included), as wiremock
    /// recorded it.
    pub fn requests(&self) -> Vec<Request> {
        self.rt.block_on(self.server.received_requests()).expect("request recording is on")
    }

    /// [`MockHttp::requests`], as method, path, query and JSON body.
    pub fn received(&self) -> Vec<Received> {
        self.requests()
            .into_iter()
            .map(|r| Received {
                method: r.method.to_string(),
                path: r.url.path().to_string(),
                query: r.url.query().map(str::to_string),
                body: serde_json::from_slice(&r.body).unwrap_or(Value::Null),
            })
            .collect()
    }

    /// Checks every `.expect` now (panics on a mismatch) rather than at drop.
    pub fn verify(&self) {
        self.rt.block_on(self.server.verify());
    }
}
