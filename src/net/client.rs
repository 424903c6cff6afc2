//! The one way k6gate builds an HTTP client: its user agent, connect and total timeouts, and
//! redirects that never leave the host a request was meant for (a credential sent to one
//! host must not be forwarded to another).

use std::sync::Once;
use std::time::Duration;

use reqwest::Url;
use reqwest::redirect::{Attempt, Policy};

use super::NetError;

/// `k6gate/<version>`, on every request.
pub const USER_AGENT: &str = concat!("k6gate/", env!("CARGO_PKG_VERSION"));

/// The most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;

/// Which redirects a client follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redirects {
    /// None: the caller sees the 3xx. For POSTs whose body a redirect would drop.
    None,
    /// Up to 5, and only to the same host and port (or its `https` upgrade); any other is
    /// not followed and the caller sees the 3xx.
    SameHost,
}

/// How a client behaves; [`ClientOptions::default`] suits an API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientOptions {
    pub connect_timeout: Duration,
    /// The whole request, connect to the last byte of the body. `None` when the caller
    /// bounds each call itself.
    pub timeout: Option<Duration>,
    pub redirects: Redirects,
}

impl Default for ClientOptions {
    fn default() -> ClientOptions {
        ClientOptions {
            connect_timeout: Duration::from_secs(10),
            timeout: Some(Duration::from_secs(30)),
            redirects: Redirects::SameHost,
        }
    }
}

impl ClientOptions {
    /// The defaults with this total timeout (and a connect timeout no longer than it).
    pub fn with_timeout(timeout: Duration) -> ClientOptions {
        let defaults = ClientOptions::default();
        ClientOptions { connect_timeout: defaults.connect_timeout.min(timeout), timeout: Some(timeout), ..defaults }
    }
}

/// A client with k6gate's user agent, timeouts and redirect rule.
pub fn client(options: &ClientOptions) -> Result<reqwest::Client, NetError> {
    install_crypto_provider();
    let redirect = match options.redirects {
        Redirects::None => Policy::none(),
        Redirects::SameHost => Policy::custom(follow_same_host),
    };
    let mut builder =
        reqwest::Client::builder().user_agent(USER_AGENT).connect_timeout(options.connect_timeout).redirect(redirect);
    if let Some(t) = options.timeout {
        builder = builder.timeout(t);
    }
    builder.build().map_err(NetError::Client)
}

/// rustls needs one crypto provider; ring is the one octocrab is built with, so it is the
/// only one compiled in. Installing it twice is harmless (the second call is refused).
fn install_crypto_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

fn follow_same_host(attempt: Attempt<'_>) -> reqwest::redirect::Action {
    let allowed = attempt.previous().len() <= MAX_REDIRECTS
        && attempt.previous().first().is_some_and(|origin| same_host(origin, attempt.url()));
    if allowed { attempt.follow() } else { attempt.stop() }
}

/// Whether a redirect from `from` to `to` stays on the same host: same host name and port,
/// and the same scheme or the `http` -> `https` upgrade (to the default port).
pub fn same_host(from: &Url, to: &Url) -> bool {
    if from.host_str().map(str::to_ascii_lowercase) != to.host_str().map(str::to_ascii_lowercase) {
        return false;
    }
    match (from.scheme(), to.scheme()) {
        (a, b) if a == b => from.port_or_known_default() == to.port_or_known_default(),
        ("http", "https") => to.port_or_known_default() == Some(443),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap_or_else(|_| Url::parse("http://invalid.invalid/").expect("a valid URL"))
    }

    #[test]
    fn redirects_stay_on_the_host() {
        let from = url("https://grafana.example.com/api/annotations");
        assert!(same_host(&from, &url("https://grafana.example.com/login")));
        assert!(same_host(&from, &url("https://GRAFANA.example.com:443/x")));
        assert!(!same_host(&from, &url("https://evil.example.com/api/annotations")));
        assert!(!same_host(&from, &url("https://grafana.example.com.evil.net/")));
        assert!(!same_host(&from, &url("https://grafana.example.com:8443/")));
        // A downgrade would send the credential in clear text.
        assert!(!same_host(&from, &url("http://grafana.example.com/")));
        assert!(same_host(&url("http://h.example/a"), &url("https://h.example/a")));
        assert!(!same_host(&url("http://h.example:3000/a"), &url("http://h.example:3001/a")));
    }

    #[test]
    fn a_client_builds() {
        assert!(client(&ClientOptions::default()).is_ok());
        assert!(
            client(&ClientOptions {
                redirects: Redirects::None,
                ..ClientOptions::with_timeout(Duration::from_secs(1))
            })
            .is_ok()
        );
    }

    /// A server that redirects `/other` to `to` and answers `/here` with 200.
    async fn redirecting(to: String) -> wiremock::MockServer {
        use wiremock::matchers::path;
        use wiremock::{Mock, ResponseTemplate};
        let server = wiremock::MockServer::start().await;
        Mock::given(path("/other"))
            .respond_with(ResponseTemplate::new(302).insert_header("location", to.as_str()))
            .mount(&server)
            .await;
        Mock::given(path("/here")).respond_with(ResponseTemplate::new(200)).mount(&server).await;
        server
    }

    #[test]
    fn redirects_are_followed_on_the_same_host_only() {
        let got = crate::net::block_on(async {
            let client = client(&ClientOptions::default()).unwrap();
            let status = |url: String| {
                let req = client.get(url);
                async move { req.send().await.map(|r| r.status().as_u16()).ok() }
            };
            // `localhost` is another host name than the server's `127.0.0.1`.
            let elsewhere = wiremock::MockServer::start().await;
            let to_elsewhere = redirecting(format!("http://localhost:{}/here", elsewhere.address().port())).await;
            let away = status(format!("{}/other", to_elsewhere.uri())).await;
            let to_itself = redirecting("/here".to_string()).await;
            let home = status(format!("{}/other", to_itself.uri())).await;
            let reached = elsewhere.received_requests().await.map(|r| r.len());
            (away, home, reached)
        })
        .unwrap();
        assert_eq!(got, (Some(302), Some(200), Some(0)));
    }
}
