//! The Grafana HTTP client: where Grafana is ([`GrafanaConfig`]), and `POST /api/annotations`
//! with the shared retry policy. The only code that knows that request; it never prints, and
//! the token leaves it only as the `Authorization` header.

use std::io;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::model::Annotation;
use crate::net::retry::retryable_transport;
use crate::net::{
    Attempt, ClientOptions, Redirects, RetryPolicy, Secret, TokioClock, describe, retryable_status, without_userinfo,
};

pub const ENV_URL: &str = "K6GATE_GRAFANA_URL";
pub const ENV_TOKEN: &str = "K6GATE_GRAFANA_TOKEN";
pub const ENV_DASHBOARD_UID: &str = "K6GATE_GRAFANA_DASHBOARD_UID";

/// The longest wait between two attempts, whatever the backoff or `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// All attempts of one annotation, waits included.
const BUDGET: Duration = Duration::from_secs(60);

/// The most of a Grafana error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

/// The most of a response body read.
const MAX_BODY: usize = 64 * 1024;

/// A Grafana service account token: the one [`Secret`] type, so it shows as `***`, has no
/// `Serialize`, and cannot end up in a log line or a queue file by accident.
pub type Token = Secret;

/// Where and how to reach Grafana.
#[derive(Debug, Clone)]
pub struct GrafanaConfig {
    /// The Grafana root, with its sub-path if it is served under one
    /// (`https://grafana.example.com/grafana`); no trailing slash.
    pub url: String,
    /// Sent as `Authorization: Bearer <token>`, and nowhere else.
    pub token: Token,
    /// Ties annotations to one dashboard; `None` makes them organization annotations, shown
    /// on any dashboard whose annotation query filters on their tags.
    pub dashboard_uid: Option<String>,
    /// For one attempt, connection to last byte.
    pub timeout: Duration,
    /// Attempts per annotation when Grafana answers 5xx or 429, or a network error other
    /// than a refused connection occurs.
    pub max_attempts: u32,
    /// The wait before the second attempt; doubled for each one after.
    pub backoff: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "K6GATE_GRAFANA_URL is set ({url}) but K6GATE_GRAFANA_TOKEN is not: create a Grafana service \
         account token that may create annotations and export it as K6GATE_GRAFANA_TOKEN"
    )]
    MissingToken { url: String },
    #[error("K6GATE_GRAFANA_URL {url:?} is not an http:// or https:// URL with a host")]
    BadUrl { url: String },
}

impl GrafanaConfig {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
    pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
    pub const DEFAULT_BACKOFF: Duration = Duration::from_millis(500);

    /// A configuration with the default timeout and retries and no dashboard.
    pub fn new(url: &str, token: &str) -> Result<GrafanaConfig, ConfigError> {
        let url = url.trim().trim_end_matches('/');
        let host = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).unwrap_or("");
        if host.is_empty() || host.starts_with('/') {
            return Err(ConfigError::BadUrl { url: without_userinfo(url) });
        }
        if token.trim().is_empty() {
            return Err(ConfigError::MissingToken { url: without_userinfo(url) });
        }
        Ok(GrafanaConfig {
            url: url.to_string(),
            token: Token::new(token.trim()),
            dashboard_uid: None,
            timeout: Self::DEFAULT_TIMEOUT,
            max_attempts: Self::DEFAULT_MAX_ATTEMPTS,
            backoff: Self::DEFAULT_BACKOFF,
        })
    }

    /// From `K6GATE_GRAFANA_URL`, `K6GATE_GRAFANA_TOKEN` and `K6GATE_GRAFANA_DASHBOARD_UID`,
    /// read through `lookup` (the CLI's environment snapshot, or a test's own); empty values
    /// count as unset. `Ok(None)` when no URL is set: Grafana is not configured, and nothing
    /// is annotated.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Option<GrafanaConfig>, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let Some(url) = var(ENV_URL) else { return Ok(None) };
        let token = var(ENV_TOKEN).unwrap_or_default();
        let mut config = GrafanaConfig::new(&url, &token)?;
        config.dashboard_uid = var(ENV_DASHBOARD_UID).map(|uid| uid.trim().to_string());
        Ok(Some(config))
    }

    /// The Grafana URL as it may be shown: without any `user:password@`.
    pub fn display_url(&self) -> String {
        without_userinfo(self.base())
    }

    /// The shared retry policy with this configuration's attempts and backoff; waits never
    /// exceed 10 s, and all attempts end within a minute.
    pub fn retry_policy(&self) -> RetryPolicy {
        RetryPolicy { attempts: self.max_attempts, backoff: self.backoff, max_backoff: MAX_WAIT, budget: BUDGET }
    }

    fn base(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    fn endpoint(&self) -> String {
        format!("{}/api/annotations", self.base())
    }
}

/// Why Grafana did not take an annotation. Every message names the Grafana URL and never
/// holds the token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AnnotateError {
    /// No HTTP answer: connection refused, name not resolved, TLS failure, timeouts.
    #[error("Grafana unreachable at {url} ({reason})")]
    Unreachable { url: String, reason: String },
    /// 401 or 403: the token is missing, wrong, expired, or not allowed to create annotations.
    #[error(
        "Grafana at {url} refused the token (HTTP {status}: {message}); set K6GATE_GRAFANA_TOKEN to a \
         service account token allowed to create annotations"
    )]
    Auth { url: String, status: u16, message: String },
    /// 404, 405 or a redirect: the URL does not lead to Grafana's annotations API.
    #[error(
        "no Grafana annotations API at {url} (HTTP {status}: {message}); check K6GATE_GRAFANA_URL \
         (with the sub-path, if Grafana is served under one)"
    )]
    NotFound { url: String, status: u16, message: String },
    /// 5xx, 408 or 429 on every attempt.
    #[error("Grafana at {url} failed {attempts} time(s), last with HTTP {status}: {message}")]
    Server { url: String, status: u16, message: String, attempts: u32 },
    /// Any other 4xx: Grafana read the annotation and refused it; sending it again cannot help.
    #[error("Grafana at {url} rejected the annotation (HTTP {status}: {message})")]
    Rejected { url: String, status: u16, message: String },
    /// A 2xx without the documented `{"message":"Annotation added","id":N}`.
    #[error("Grafana at {url} answered HTTP {status} without an annotation id: {body}")]
    BadResponse { url: String, status: u16, body: String },
}

impl AnnotateError {
    /// Grafana refused the annotation itself (a 4xx other than 401, 403, 404, 405, 408, 429).
    pub fn is_rejection(&self) -> bool {
        matches!(self, AnnotateError::Rejected { .. })
    }

    /// Nothing answered: the network, DNS, TLS or a timeout.
    pub fn is_unreachable(&self) -> bool {
        matches!(self, AnnotateError::Unreachable { .. })
    }

    /// The token was refused.
    pub fn is_auth(&self) -> bool {
        matches!(self, AnnotateError::Auth { .. })
    }
}

/// Creates `annotation` in Grafana and returns its id.
///
/// `POST <url>/api/annotations` with `Authorization: Bearer <token>`,
/// `Content-Type: application/json`, `Accept: application/json` and
/// [`Annotation::request_json`] as the body, with [`GrafanaConfig::retry_policy`]: retried on
/// 5xx, 429 and network errors (waiting `backoff`, then twice that, and so on, at most 10 s,
/// or what `Retry-After` asks within that). A refused or failed connection is not retried:
/// Grafana is down, and the caller queues the annotation at once (the queue is the retry).
/// A retry after a timeout may duplicate an annotation Grafana did save; a duplicate region
/// is better than a lost one. Redirects are not followed (a redirected POST loses its body).
pub fn post(config: &GrafanaConfig, annotation: &Annotation) -> Result<i64, AnnotateError> {
    let url = config.display_url();
    let options =
        ClientOptions { connect_timeout: config.timeout, timeout: Some(config.timeout), redirects: Redirects::None };
    let client = crate::net::client(&options)
        .map_err(|e| AnnotateError::Unreachable { url: url.clone(), reason: describe(&e) })?;
    let body = annotation.request_json().to_string();
    let policy = config.retry_policy();
    let run = policy.run(&TokioClock, |_, _| post_once(&client, config, &body));
    match crate::net::block_on(run) {
        Err(e) => Err(AnnotateError::Unreachable { url, reason: describe(&e) }),
        Ok(Ok((id, _))) => Ok(id),
        Ok(Err(failed)) => {
            let attempts = failed.attempts();
            Err(with_attempts(failed.into_error(), attempts))
        }
    }
}

fn with_attempts(error: AnnotateError, attempts: u32) -> AnnotateError {
    match error {
        AnnotateError::Server { url, status, message, .. } => AnnotateError::Server { url, status, message, attempts },
        AnnotateError::Unreachable { url, reason } if attempts > 1 => {
            AnnotateError::Unreachable { url, reason: format!("{reason}; {attempts} attempts") }
        }
        other => other,
    }
}

async fn post_once(
    client: &reqwest::Client,
    config: &GrafanaConfig,
    body: &str,
) -> Result<i64, Attempt<AnnotateError>> {
    let url = config.display_url();
    let token = &config.token;
    let sent = client
        .post(config.endpoint())
        .header("Authorization", format!("Bearer {}", token.expose()))
        .header("Accept", "application/json")
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .send()
        .await;
    let response = match sent {
        Ok(response) => response,
        Err(e) => return Err(transport_failure(&url, token, e)),
    };
    let status = response.status().as_u16();
    let retry_after = crate::net::retry_after(response.headers());
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = match response.bytes().await {
        Ok(b) => String::from_utf8_lossy(b.get(..MAX_BODY).unwrap_or(&b)).into_owned(),
        Err(_) => String::new(),
    };
    let message = grafana_message(&text, token);
    match status {
        200..=299 => match serde_json::from_str::<Added>(&text) {
            Ok(added) => Ok(added.id),
            Err(_) => Err(Attempt::Final(AnnotateError::BadResponse { url, status, body: message })),
        },
        300..=399 => {
            let message = match location {
                Some(to) => format!("redirected to {}", token.scrub(&without_userinfo(&to))),
                None => "redirected".to_string(),
            };
            Err(Attempt::Final(AnnotateError::NotFound { url, status, message }))
        }
        401 | 403 => Err(Attempt::Final(AnnotateError::Auth { url, status, message })),
        404 | 405 => Err(Attempt::Final(AnnotateError::NotFound { url, status, message })),
        s if retryable_status(s) => {
            Err(Attempt::Retry { error: AnnotateError::Server { url, status, message, attempts: 1 }, retry_after })
        }
        // Grafana gave up waiting for the request: queued for a flush, not retried now.
        408 => Err(Attempt::Final(AnnotateError::Server { url, status, message, attempts: 1 })),
        _ => Err(Attempt::Final(AnnotateError::Rejected { url, status, message })),
    }
}

/// The documented success body, `{"message":"Annotation added","id":1}`.
#[derive(Deserialize)]
struct Added {
    id: i64,
}

fn transport_failure(url: &str, token: &Secret, e: reqwest::Error) -> Attempt<AnnotateError> {
    let e = e.without_url();
    let unreachable =
        |reason: String| AnnotateError::Unreachable { url: url.to_string(), reason: token.scrub(&reason) };
    if e.is_connect() {
        // Nothing listens, the name does not resolve, or the connection timed out: Grafana is
        // down or the URL is wrong, and another attempt now would fail the same way.
        let reason = if io_kind(&e) == Some(io::ErrorKind::ConnectionRefused) {
            "connection refused".to_string()
        } else {
            describe(&e)
        };
        return Attempt::Final(unreachable(reason));
    }
    let reason = if e.is_timeout() { format!("timed out: {}", describe(&e)) } else { describe(&e) };
    if retryable_transport(&e) {
        // Timeouts, resets and broken pipes can be a slow or restarting proxy.
        Attempt::Retry { error: unreachable(reason), retry_after: None }
    } else {
        Attempt::Final(unreachable(reason))
    }
}

/// The kind of the first I/O error in `e`'s sources.
fn io_kind(e: &(dyn std::error::Error + 'static)) -> Option<io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<io::Error>() {
            return Some(io.kind());
        }
        source = s.source();
    }
    None
}

/// Grafana's `{"message": ...}` (or the start of a body that is not JSON), on one line, short,
/// and without the token should Grafana echo it.
fn grafana_message(body: &str, token: &Secret) -> String {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
        .unwrap_or_else(|| body.to_string());
    let mut one_line = message.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        one_line = "no message".to_string();
    }
    if let Some((cut, _)) = one_line.char_indices().nth(MAX_MESSAGE_CHARS) {
        one_line.truncate(cut);
        one_line.push_str("...");
    }
    token.scrub(&one_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted() {
        assert_eq!(without_userinfo("https://u:p@h.example/g"), "https://h.example/g");
        assert_eq!(without_userinfo("https://h.example/a@b"), "https://h.example/a@b");
        assert_eq!(without_userinfo("http://h:3000"), "http://h:3000");
    }

    #[test]
    fn message_is_short_one_line_and_scrubbed() {
        let token = Secret::new("tok3n");
        assert_eq!(grafana_message(r#"{"message":"invalid API key"}"#, &token), "invalid API key");
        assert_eq!(grafana_message("bad\n  tok3n here", &token), "bad *** here");
        assert_eq!(grafana_message("", &token), "no message");
        assert!(grafana_message(&"x".repeat(1000), &token).len() <= MAX_MESSAGE_CHARS + 3);
    }

    #[test]
    fn retries_follow_the_configuration() {
        let mut config = GrafanaConfig::new("http://grafana:3000", "tok3n").unwrap();
        config.max_attempts = 4;
        config.backoff = Duration::from_millis(300);
        let p = config.retry_policy();
        assert_eq!(p.attempts, 4);
        let waits: Vec<u128> = (1..=3).map(|n| p.wait_after(n, Some(Duration::from_secs(60))).as_millis()).collect();
        assert_eq!(waits, [10_000, 10_000, 10_000]);
        assert_eq!(p.wait_after(2, None), Duration::from_millis(600));
    }
}
