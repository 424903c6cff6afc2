//! A small GitHub REST client: octocrab for transport and auth, plus what a gate needs on
//! top: bounded retries with backoff, a hard per-request timeout, and errors that name the
//! request and never contain the token.
//!
//! Retries are the shared policy (`crate::net::RetryPolicy`) rather than octocrab's: its
//! `RetryConfig::Simple` retries at once with no backoff, and `HandleRateLimits` can sleep
//! until the rate-limit reset (up to an hour), which a CI gate must not do. Calls run on the
//! process-wide runtime (`crate::net::block_on`), typed through octocrab where it has a call
//! (see `report.rs`, `approval.rs` and `pulls.rs`), raw ([`Api::get`]) where it has none.

use std::future::Future;
use std::time::Duration;

use octocrab::Octocrab;
use serde_json::Value;

use crate::net::{Attempt, ClientOptions, RetryPolicy};

/// A GitHub token: the one [`Secret`](crate::net::Secret) type, so it never prints.
pub type Token = crate::net::Secret;

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

/// The longest wait between attempts, whatever `Retry-After` asks: the gate must end.
const MAX_WAIT: Duration = Duration::from_secs(30);

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

    /// The shared retry policy with these attempts and backoff: 5xx, 429 and network errors
    /// are retried, waits double from `backoff` and never exceed 30 s (`Retry-After`
    /// included), and the budget leaves room for every attempt to use its whole timeout.
    pub fn retry_policy(&self) -> RetryPolicy {
        let attempts = self.attempts.max(1);
        RetryPolicy {
            attempts,
            backoff: self.backoff,
            max_backoff: MAX_WAIT,
            budget: self.timeout.saturating_add(MAX_WAIT).saturating_mul(attempts.saturating_add(1)),
        }
    }

    /// The context's API, with its timeout (`K6GATE_GITHUB_TIMEOUT`, seconds per attempt,
    /// default 20) and attempts (`K6GATE_GITHUB_ATTEMPTS`, default 3) when in range.
    pub fn for_context(ctx: &super::actions::Context) -> Self {
        let mut c = ApiConfig::new(ctx.api_url.clone(), ctx.token.clone());
        if let Some(t) = ctx.api_timeout.filter(|t| *t > 0.0 && *t < 600.0) {
            c.timeout = Duration::from_secs_f64(t);
            c.backoff = c.backoff.min(c.timeout);
        }
        if let Some(n) = ctx.api_attempts.filter(|n| *n >= 1.0 && *n <= 10.0) {
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

/// A blocking client. Calls run on the process-wide runtime (`crate::net::block_on`), with
/// [`ApiConfig::retry_policy`] and a hard timeout on each attempt.
pub struct Api {
    octo: Octocrab,
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
        let base = format!("{}/", config.api_url.trim_end_matches('/'));
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(cfg_err("expected an http:// or https:// URL".into()));
        }
        // octocrab on the shared reqwest client (k6gate's timeouts and redirect rule), built on
        // the shared runtime: octocrab's service spawns its worker there. No octocrab retries
        // (its `retry` feature is off) and no total timeout in the client: each attempt is
        // bounded in `call`, and a read timeout would count a kept-alive connection's idle time.
        let options = ClientOptions { connect_timeout: config.timeout, timeout: None, ..ClientOptions::default() };
        let client = crate::net::client(&options).map_err(|e| cfg_err(crate::net::describe(&e)))?;
        let octo = crate::net::block_on(async {
            Octocrab::builder()
                .base_uri(base.as_str())
                .map_err(|e| cfg_err(e.to_string()))?
                .personal_token(config.token.expose().to_string())
                .add_header(http::header::ACCEPT, "application/vnd.github+json".into())
                .build_with_reqwest(client)
                .map_err(|e| cfg_err(e.to_string()))
        })
        .map_err(|e| cfg_err(e.to_string()))??;
        Ok(Api { octo, config })
    }

    /// `GET path` (a raw REST path, `/repos/...`), as JSON. For endpoints octocrab has no
    /// typed call for, or whose typed call sends other parameters than GitHub documents.
    pub fn get(&self, path: &str) -> Result<Value, ApiError> {
        self.call("GET", path, |octo| octo.get(path, None::<&()>))
    }

    /// `POST path` with a JSON body (raw; see [`Api::get`]).
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call("POST", path, |octo| octo.post(path, Some(body)))
    }

    /// `PATCH path` with a JSON body (raw; see [`Api::get`]).
    pub fn patch(&self, path: &str, body: &Value) -> Result<Value, ApiError> {
        self.call("PATCH", path, |octo| octo.patch(path, Some(body)))
    }

    /// Every item of a list endpoint, `per_page` 100 (raw; see [`Api::get`]). More than
    /// `max_pages` pages is an error, never a silently shortened list.
    pub fn get_all(&self, path: &str, max_pages: u32) -> Result<Vec<Value>, ApiError> {
        let sep = if path.contains('?') { '&' } else { '?' };
        self.pages(path, max_pages, |page| {
            let page_path = format!("{path}{sep}per_page=100&page={page}");
            let v = self.get(&page_path)?;
            v.as_array().cloned().ok_or_else(|| ApiError::Decode {
                method: "GET",
                path: page_path.clone(),
                message: "expected a JSON array".into(),
            })
        })
    }

    /// Every item of a paginated list, `fetch` giving page `n` (1-based) of 100 items. More
    /// than `max_pages` pages is an error, never a silently shortened list.
    pub fn pages<T>(
        &self,
        path: &str,
        max_pages: u32,
        mut fetch: impl FnMut(u32) -> Result<Vec<T>, ApiError>,
    ) -> Result<Vec<T>, ApiError> {
        let mut items = Vec::new();
        for page in 1..=max_pages {
            let list = fetch(page)?;
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

    /// Runs one API call (`request`, typed or raw) with the retry policy and the per-attempt
    /// timeout; `method` and `path` name it in errors. Errors never contain the token.
    pub fn call<'a, T, F, Fut>(&'a self, method: &'static str, path: &str, request: F) -> Result<T, ApiError>
    where
        F: Fn(&'a Octocrab) -> Fut + Send + Sync,
        Fut: Future<Output = octocrab::Result<T>> + Send,
        T: Send,
    {
        let timeout = self.config.timeout;
        let policy = self.config.retry_policy();
        let run = policy.run(&crate::net::TokioClock, |_, _| {
            let fut = request(&self.octo);
            async move {
                match tokio::time::timeout(timeout, fut).await {
                    Ok(Ok(v)) => Ok(v),
                    Ok(Err(e)) => Err(self.classify(&e)),
                    Err(_) => Err(Attempt::Retry {
                        error: AttemptError::Transport(format!("no response within {} s", timeout.as_secs_f64())),
                        retry_after: None,
                    }),
                }
            }
        });
        match crate::net::block_on(run) {
            Err(e) => Err(ApiError::Transport { method, path: path.to_string(), message: e.to_string(), attempts: 0 }),
            Ok(Ok((v, _))) => Ok(v),
            Ok(Err(failed)) => {
                let attempts = failed.attempts();
                Err(self.finish(method, path, failed.into_error(), attempts))
            }
        }
    }

    /// The octocrab client, for typed calls inside [`Api::call`].
    pub fn octocrab(&self) -> &Octocrab {
        &self.octo
    }

    fn classify(&self, e: &octocrab::Error) -> Attempt<AttemptError> {
        match e {
            octocrab::Error::GitHub { source, .. } => {
                let status = source.status_code.as_u16();
                // Scrubbed before it is cut, so no part of a token survives the cut.
                let message = self.config.token.scrub(&source.message).chars().take(200).collect();
                let error = AttemptError::Status(status, message);
                if crate::net::retryable_status(status) {
                    let retry_after = source.headers.as_ref().and_then(crate::net::retry_after);
                    Attempt::Retry { error, retry_after }
                } else {
                    Attempt::Final(error)
                }
            }
            octocrab::Error::Serde { .. } | octocrab::Error::Json { .. } => {
                Attempt::Final(AttemptError::Decode(crate::net::describe(e)))
            }
            octocrab::Error::Uri { .. }
            | octocrab::Error::UriParse { .. }
            | octocrab::Error::InvalidHeaderValue { .. }
            | octocrab::Error::SerdeUrlEncoded { .. } => {
                Attempt::Final(AttemptError::Transport(crate::net::describe(e)))
            }
            _ => Attempt::Retry { error: AttemptError::Transport(crate::net::describe(e)), retry_after: None },
        }
    }

    fn finish(&self, method: &'static str, path: &str, e: AttemptError, attempts: u32) -> ApiError {
        let scrub = |s: &str| self.config.token.scrub(s);
        let path = path.to_string();
        match e {
            AttemptError::Status(status, message) => {
                ApiError::Status { method, path, status, message: scrub(&message), attempts }
            }
            AttemptError::Transport(message) => {
                ApiError::Transport { method, path, message: scrub(&message), attempts }
            }
            AttemptError::Decode(message) => ApiError::Decode { method, path, message: scrub(&message) },
        }
    }
}

enum AttemptError {
    Status(u16, String),
    Transport(String),
    Decode(String),
}

/// `/repos/OWNER/REPO` (as `Context::repo_path` writes it) -> `(OWNER, REPO)`. GitHub names
/// are `[A-Za-z0-9._-]`, which the path's percent-encoding leaves as they are.
pub fn owner_repo(repo_path: &str) -> Result<(&str, &str), ApiError> {
    repo_path
        .strip_prefix("/repos/")
        .and_then(|r| r.split_once('/'))
        .filter(|(o, r)| !o.is_empty() && !r.is_empty() && !r.contains('/'))
        .ok_or_else(|| ApiError::Config { url: repo_path.to_string(), message: "expected /repos/OWNER/REPO".into() })
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
        assert_eq!(format!("{t:?}"), "***");
        assert_eq!(t.scrub("bad ghs_secret123 here"), "bad *** here");
    }

    #[test]
    fn encodes_path_segments() {
        assert_eq!(encode("k6gate / checkout (staging)"), "k6gate%20%2F%20checkout%20%28staging%29");
    }
}
