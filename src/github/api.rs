//! A small GitHub REST client: octocrab for transport and auth, plus what a gate needs on
//! top: bounded retries with backoff, a hard per-request timeout, and errors that name the
//! request and never contain the token.
//!
//! Retries are written here rather than taken from octocrab: its `RetryConfig::Simple`
//! retries at once with no backoff, and `HandleRateLimits` can sleep until the rate-limit
//! reset (up to an hour), which a CI gate must not do.

use std::time::Duration;

use octocrab::Octocrab;
use serde_json::Value;

/// A GitHub token. Its `Debug` never shows the value, so it cannot leak through logs.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn new(value: impl Into<String>) -> Self {
        Token(value.into())
    }

    /// Removes every occurrence of the token from `text`.
    pub fn scrub(&self, text: &str) -> String {
        if self.0.len() < 4 { text.to_string() } else { text.replace(&self.0, "***") }
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// How to reach the API.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// `GITHUB_API_URL`: `https://api.github.com`, or `https://HOST/api/v3` on Enterprise.
    pub api_url: String,
    pub token: Token,
    /// Per attempt, connect and read together.
    pub timeout: Duration,
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// Wait before the second attempt; doubles each time.
    pub backoff: Duration,
}

impl ApiConfig {
    pub fn new(api_url: impl Into<String>, token: Token) -> Self {
        ApiConfig {
            api_url: api_url.into(),
            token,
            timeout: Duration::from_secs(20),
            attempts: 3,
            backoff: Duration::from_millis(1000),
        }
    }

    /// [`ApiConfig::new`] with `K6GATE_GITHUB_TIMEOUT` (seconds per attempt, default 20) and
    /// `K6GATE_GITHUB_ATTEMPTS` (default 3) applied.
    pub fn from_env(api_url: impl Into<String>, token: Token) -> Self {
        let mut c = ApiConfig::new(api_url, token);
        let num = |name: &str| std::env::var(name).ok().and_then(|v| v.trim().parse::<f64>().ok());
        if let Some(t) = num("K6GATE_GITHUB_TIMEOUT").filter(|t| *t > 0.0 && *t < 600.0) {
            c.timeout = Duration::from_secs_f64(t);
            c.backoff = c.backoff.min(c.timeout);
        }
        if let Some(n) = num("K6GATE_GITHUB_ATTEMPTS").filter(|n| *n >= 1.0 && *n <= 10.0) {
            c.attempts = n as u32;
        }
        c
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("GitHub API {method} {path}: HTTP {status}: {message}{}", attempts_note(*attempts))]
    Status { method: &'static str, path: String, status: u16, message: String, attempts: u32 },
    #[error("GitHub API {method} {path}: {message}{}", attempts_note(*attempts))]
    Transport { method: &'static str, path: String, message: String, attempts: u32 },
    #[error("GitHub API {method} {path}: unexpected response: {message}")]
    Decode { method: &'static str, path: String, message: String },
    #[error("GitHub API URL {url:?} is not usable: {message}")]
    Config { url: String, message: String },
}

fn attempts_note(attempts: u32) -> String {
    if attempts > 1 { format!(" (after {attempts} attempts)") } else { String::new() }
}

impl ApiError {
    /// The HTTP status, when the API answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Patch => "PATCH",
        }
    }
}

/// A blocking client; each call runs on a private single-threaded runtime.
pub struct Api {
    octo: Octocrab,
    rt: tokio::runtime::Runtime,
    config: ApiConfig,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api").field("config", &self.config).finish_non_exhaustive()
    }
}

impl Api {
    pub fn new(config: ApiConfig) -> Result<Self, ApiError> {
        let cfg_err = |message: String| ApiError::Config { url: config.api_url.clone(), message };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| cfg_err(format!("cannot start the I/O runtime: {e}")))?;
        let base = format!("{}/", config.api_url.trim_end_matches('/'));
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(cfg_err("expected an http:// or https:// URL".into()));
        }
        let octo = rt.block_on(async {
            Octocrab::builder()
                .base_uri(base.as_str())
                .map_err(|e| cfg_err(e.to_string()))?
                .personal_token(config.token.0.clone())
                .add_header(http::header::ACCEPT, "application/vnd.github+json".into())
                .add_retry_config(octocrab::service::middleware::retry::RetryConfig::None)
                // No read timeout: hyper-timeout's counts a kept-alive connection's idle time,
                // failing retries before they reach GitHub. `attempt` bounds each call instead.
                .set_connect_timeout(Some(config.timeout))
                .build()
                .map_err(|e| cfg_err(e.to_string()))
        })?;
        Ok(Api { octo, rt, config })
    }

    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.send(Method::Get, path, None)
    }

    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.send(Method::Post, path, Some(body))
    }

    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.send(Method::Patch, path, Some(body))
    }

    /// Every item of a list endpoint (`per_page=100`). More than `max_pages` pages is an
    /// error, never a silently shortened list.
    pub fn get_all(&self, path: &str, max_pages: u32) -> Result<Vec<Value>, ApiError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        for page in 1..=max_pages {
            let page_path = format!("{path}{sep}per_page=100&page={page}");
            let v = self.get(&page_path)?;
            let list = v.as_array().cloned().ok_or_else(|| ApiError::Decode {
                method: "GET",
                path: page_path.clone(),
                message: "expected a JSON array".into(),
            })?;
            let n = list.len();
            items.extend(list);
            if n < 100 {
                return Ok(items);
            }
        }
        Err(ApiError::Decode {
            method: "GET",
            path: path.to_string(),
            message: format!("more than {max_pages} pages of 100 items; refusing a partial list"),
        })
    }

    fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, ApiError> {
        let attempts = self.config.attempts.max(1);
        let mut wait = self.config.backoff;
        let mut attempt = 1;
        loop {
            match self.attempt(method, path, body) {
                Ok(v) => return Ok(v),
                Err(e) => {
                    let retry_after = match &e {
                        Attempt::Retry { retry_after, .. } => *retry_after,
                        Attempt::Final(_) => None,
                    };
                    let retryable = matches!(e, Attempt::Retry { .. });
                    if !retryable || attempt >= attempts {
                        return Err(self.finish(method, path, e, attempt));
                    }
                    // Honour Retry-After, but never wait more than 30 s: the gate must end.
                    let pause = retry_after.unwrap_or(wait).min(Duration::from_secs(30));
                    // On the runtime, so idle pooled connections keep being served.
                    self.rt.block_on(async { tokio::time::sleep(pause).await });
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
            }
        }
    }

    fn finish(&self, method: Method, path: &str, e: Attempt, attempts: u32) -> ApiError {
        let scrub = |s: &str| self.config.token.scrub(s);
        match e {
            Attempt::Final(AttemptError::Status(status, message))
            | Attempt::Retry { error: AttemptError::Status(status, message), .. } => ApiError::Status {
                method: method.name(),
                path: path.to_string(),
                status,
                message: scrub(&message),
                attempts,
            },
            Attempt::Final(AttemptError::Transport(message))
            | Attempt::Retry { error: AttemptError::Transport(message), .. } => ApiError::Transport {
                method: method.name(),
                path: path.to_string(),
                message: scrub(&message),
                attempts,
            },
            Attempt::Final(AttemptError::Decode(message))
            | Attempt::Retry { error: AttemptError::Decode(message), .. } => {
                ApiError::Decode { method: method.name(), path: path.to_string(), message: scrub(&message) }
            }
        }
    }

    fn attempt(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Value, Attempt> {
        let octo = &self.octo;
        let timeout = self.config.timeout;
        self.rt.block_on(async move {
            let request = async {
                match method {
                    Method::Get => octo._get(path).await,
                    Method::Post => octo._post(path, body).await,
                    Method::Patch => octo._patch(path, body).await,
                }
            };
            // The connector's timeouts cover connect and each read; this bounds the whole call.
            let response = match tokio::time::timeout(timeout, request).await {
                Err(_) => {
                    return Err(Attempt::Retry {
                        error: AttemptError::Transport(format!("no response within {} s", timeout.as_secs_f64())),
                        retry_after: None,
                    });
                }
                Ok(Err(e)) => {
                    return Err(Attempt::Retry { error: AttemptError::Transport(describe(&e)), retry_after: None });
                }
                Ok(Ok(r)) => r,
            };
            let status = response.status().as_u16();
            let retry_after = crate::net::retry_after(response.headers());
            let text = match tokio::time::timeout(timeout, octo.body_to_string(response)).await {
                Ok(Ok(t)) => t,
                Ok(Err(e)) => {
                    return Err(Attempt::Retry { error: AttemptError::Transport(describe(&e)), retry_after: None });
                }
                Err(_) => {
                    return Err(Attempt::Retry {
                        error: AttemptError::Transport(format!(
                            "response body not read within {} s",
                            timeout.as_secs_f64()
                        )),
                        retry_after: None,
                    });
                }
            };
            if (200..300).contains(&status) {
                if text.trim().is_empty() {
                    return Ok(Value::Null);
                }
                return serde_json::from_str(&text).map_err(|e| Attempt::Final(AttemptError::Decode(e.to_string())));
            }
            let message = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
                .unwrap_or(text);
            // Scrubbed before it is cut, so no part of a token survives the cut.
            let message = self.config.token.scrub(&message).chars().take(200).collect();
            let error = AttemptError::Status(status, message);
            // 5xx and 429 are transient; any other status is an answer and is not retried.
            if status >= 500 || status == 429 {
                Err(Attempt::Retry { error, retry_after })
            } else {
                Err(Attempt::Final(error))
            }
        })
    }
}

fn describe(e: &octocrab::Error) -> String {
    use std::error::Error as _;
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

enum AttemptError {
    Status(u16, String),
    Transport(String),
    Decode(String),
}

enum Attempt {
    Retry { error: AttemptError, retry_after: Option<Duration> },
    Final(AttemptError),
}

/// Percent-encodes one path segment or query value.
pub fn encode(s: &str) -> String {
    crate::net::percent_encode(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_never_shows() {
        let t = Token::new("ghs_secret123");
        assert_eq!(format!("{t:?}"), "Token(***)");
        assert_eq!(t.scrub("bad ghs_secret123 here"), "bad *** here");
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode("k6gate / checkout (staging)"), "k6gate%20%2F%20checkout%20%28staging%29");
    }
}
