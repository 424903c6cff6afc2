//! Grafana annotations for runs and baselines, and the disk queue that keeps them while
//! Grafana cannot take them.
//!
//! A run becomes a region annotation from its start to its end, tagged `k6gate`, `run`,
//! `test:<name>`, `env:<environment>`, `version:<deployment version>`, `verdict:<outcome>` and
//! `run:<id>`; a baseline gets its own annotation tagged `k6gate` and `baseline`. Both are
//! created with `POST /api/annotations` as documented in Grafana's
//! `docs/sources/developers/http_api/annotations.md` ("Create Annotation"): this is the only
//! module that knows that request.
//!
//! What it must never do:
//! - decide a run's outcome: Grafana being down, slow or misconfigured is reported and the
//!   annotation queued, it never fails a gate;
//! - write or print the token: it lives in [`GrafanaConfig`] only (its `Debug` is redacted),
//!   goes out only as the `Authorization` header, and is scrubbed from anything echoed back;
//! - lose an annotation: until Grafana answers with its id, it is in the queue, or, when
//!   Grafana refused the annotation itself, in the queue's `failed/` with the reason.

use std::fmt;
use std::fs;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::escape::escape_html;
use crate::grafana::generate::{ANNOTATION_TAG, BASELINE_ANNOTATION_TAG, RUN_ANNOTATION_TAG};
use crate::history::{BaselineChoice, Outcome as RunOutcome, RunRecord};
use crate::net::without_userinfo;

pub const ENV_URL: &str = "K6GATE_GRAFANA_URL";
pub const ENV_TOKEN: &str = "K6GATE_GRAFANA_TOKEN";
pub const ENV_DASHBOARD_UID: &str = "K6GATE_GRAFANA_DASHBOARD_UID";

/// Where `k6gate` keeps annotations Grafana has not taken yet, under the project root.
pub const QUEUE_DIR: &str = "grafana-queue";

/// The `format` of a queue file; bumped on any change an older k6gate would misread.
pub const QUEUE_FORMAT: &str = "k6gate.grafana-annotation/v1";

/// The longest wait between two attempts, whatever the backoff or `Retry-After` says.
const MAX_WAIT: Duration = Duration::from_secs(10);

/// The most of a Grafana error message kept in an error.
const MAX_MESSAGE_CHARS: usize = 300;

// ---------------------------------------------------------------------------------------------
// Configuration

/// A Grafana service account token. Its `Debug` prints no secret, it has no `Display` and no
/// `Serialize`, so it cannot end up in a log line or a queue file by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    pub fn new(token: impl Into<String>) -> Token {
        Token(token.into())
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

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
    /// Attempts per annotation when Grafana answers 5xx, 408 or 429, or times out.
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

    /// From `K6GATE_GRAFANA_URL`, `K6GATE_GRAFANA_TOKEN` and `K6GATE_GRAFANA_DASHBOARD_UID`.
    /// `Ok(None)` when no URL is set: Grafana is not configured, and nothing is annotated.
    pub fn from_env() -> Result<Option<GrafanaConfig>, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`from_env`](Self::from_env) with the variables read through `lookup` (for tests, and
    /// for callers that merge other sources). Empty values count as unset.
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

    fn base(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    fn endpoint(&self) -> String {
        format!("{}/api/annotations", self.base())
    }
}

// ---------------------------------------------------------------------------------------------
// Annotations

/// One annotation as k6gate builds and queues it. [`Annotation::request_json`] turns it into
/// the body Grafana documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Annotation {
    /// Unix epoch milliseconds.
    pub time_ms: i64,
    /// Set for a region; Unix epoch milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_end_ms: Option<i64>,
    pub tags: Vec<String>,
    /// Grafana shows it as sanitized HTML, so the builders escape what they put in.
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dashboard_uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panel_id: Option<i64>,
}

impl Annotation {
    /// The `POST /api/annotations` body: `dashboardUID` and `panelId` when set, `time`,
    /// `timeEnd` for a region, `tags`, `text`. Times are epoch milliseconds, as documented.
    pub fn request_json(&self) -> Value {
        let mut body = Map::new();
        if let Some(uid) = &self.dashboard_uid {
            body.insert("dashboardUID".into(), Value::from(uid.as_str()));
        }
        if let Some(panel) = self.panel_id {
            body.insert("panelId".into(), Value::from(panel));
        }
        body.insert("time".into(), Value::from(self.time_ms));
        if let Some(end) = self.time_end_ms {
            body.insert("timeEnd".into(), Value::from(end));
        }
        body.insert("tags".into(), Value::from(self.tags.clone()));
        body.insert("text".into(), Value::from(self.text.as_str()));
        Value::Object(body)
    }
}

/// What a run annotation says about a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunFacts {
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub deployment_version: Option<String>,
    pub outcome: RunOutcome,
    /// Unix epoch milliseconds.
    pub start_ms: i64,
    /// `None` when the run never finished; the annotation is then a point at the start.
    pub end_ms: Option<i64>,
    /// The report: linked when it is an http(s) URL, otherwise shown as text (a path).
    pub report_link: Option<String>,
}

impl RunFacts {
    pub fn from_record(record: &RunRecord, report_link: Option<String>) -> RunFacts {
        RunFacts {
            run_id: record.id.clone(),
            test: record.test.clone(),
            environment: record.environment.clone(),
            deployment_version: record.deployment_version.clone(),
            outcome: record.outcome,
            start_ms: ns_to_ms_floor(record.started_at_ns),
            end_ms: record.finished_at_ns.map(ns_to_ms_ceil),
            report_link,
        }
    }
}

/// The region from a run's start to its end, with the verdict, version and report link.
pub fn run_annotation(run: &RunFacts, dashboard_uid: Option<&str>) -> Annotation {
    let mut tags = vec![ANNOTATION_TAG.to_string(), RUN_ANNOTATION_TAG.to_string()];
    push_tag(&mut tags, "test", &run.test);
    push_tag(&mut tags, "env", &run.environment);
    push_tag(&mut tags, "version", run.deployment_version.as_deref().unwrap_or(""));
    push_tag(&mut tags, "verdict", run.outcome.as_str());
    push_tag(&mut tags, "run", &run.run_id);

    let mut text = format!(
        "k6gate <b>{}</b>: {} on {}",
        run.outcome.as_str().to_uppercase(),
        escape_html(&run.test),
        escape_html(&run.environment)
    );
    if let Some(version) = &run.deployment_version {
        text.push_str(&format!(", version {}", escape_html(version)));
    }
    text.push_str(&format!("<br />run {}", escape_html(&run.run_id)));
    if let Some(link) = &run.report_link {
        text.push_str(&format!(" · {}", report_html(link)));
    }
    region(run.start_ms, run.end_ms, tags, text, dashboard_uid)
}

/// What a baseline annotation says: the baseline run and why it is the baseline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaselineFacts {
    pub run_id: String,
    pub test: String,
    pub environment: String,
    pub deployment_version: Option<String>,
    /// The baseline run's start and end, Unix epoch milliseconds.
    pub start_ms: i64,
    pub end_ms: Option<i64>,
    /// `pinned by alice at ...: <reason>` or `latest passing run on main`
    /// ([`BaselineChoice::reason`]).
    pub reason: String,
    pub pinned: bool,
}

impl BaselineFacts {
    pub fn from_choice(choice: &BaselineChoice) -> BaselineFacts {
        let run = &choice.run;
        BaselineFacts {
            run_id: run.id.clone(),
            test: run.test.clone(),
            environment: run.environment.clone(),
            deployment_version: run.deployment_version.clone(),
            start_ms: ns_to_ms_floor(run.started_at_ns),
            end_ms: run.finished_at_ns.map(ns_to_ms_ceil),
            reason: choice.reason.clone(),
            pinned: choice.pin.is_some(),
        }
    }
}

/// The baseline run's region, tagged `k6gate`, `baseline`, `test:`, `env:`, `version:`,
/// `run:` and `pinned` when a person chose it. Post it when the baseline changes (a pin, or a
/// newer passing run), not with every run, or the same region stacks up.
pub fn baseline_annotation(baseline: &BaselineFacts, dashboard_uid: Option<&str>) -> Annotation {
    let mut tags = vec![ANNOTATION_TAG.to_string(), BASELINE_ANNOTATION_TAG.to_string()];
    push_tag(&mut tags, "test", &baseline.test);
    push_tag(&mut tags, "env", &baseline.environment);
    push_tag(&mut tags, "version", baseline.deployment_version.as_deref().unwrap_or(""));
    push_tag(&mut tags, "run", &baseline.run_id);
    if baseline.pinned {
        tags.push("pinned".to_string());
    }

    let mut text =
        format!("k6gate <b>baseline</b>: {} on {}", escape_html(&baseline.test), escape_html(&baseline.environment));
    if let Some(version) = &baseline.deployment_version {
        text.push_str(&format!(", version {}", escape_html(version)));
    }
    text.push_str(&format!("<br />run {}: {}", escape_html(&baseline.run_id), escape_html(&baseline.reason)));
    region(baseline.start_ms, baseline.end_ms, tags, text, dashboard_uid)
}

fn region(start_ms: i64, end_ms: Option<i64>, tags: Vec<String>, text: String, uid: Option<&str>) -> Annotation {
    Annotation {
        time_ms: start_ms,
        // A region never ends before it starts; an empty one is a point.
        time_end_ms: end_ms.filter(|&end| end > start_ms),
        tags,
        text,
        dashboard_uid: uid.map(str::to_string),
        panel_id: None,
    }
}

/// `key:value`, which Grafana stores as a key/value tag pair; left out when there is no value.
fn push_tag(tags: &mut Vec<String>, key: &str, value: &str) {
    let value = value.trim();
    if !value.is_empty() {
        tags.push(format!("{key}:{value}"));
    }
}

fn report_html(link: &str) -> String {
    if link.starts_with("https://") || link.starts_with("http://") {
        format!("<a href=\"{}\">report</a>", escape_html(link))
    } else {
        format!("report: {}", escape_html(link))
    }
}

fn ns_to_ms_floor(ns: i64) -> i64 {
    ns.div_euclid(1_000_000)
}

fn ns_to_ms_ceil(ns: i64) -> i64 {
    ns.div_euclid(1_000_000) + i64::from(ns.rem_euclid(1_000_000) != 0)
}

// ---------------------------------------------------------------------------------------------
// Posting

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

/// One attempt's failure and whether another attempt may help.
struct Failed {
    error: AnnotateError,
    retry: Retry,
}

enum Retry {
    No,
    /// After the backoff, or after what `Retry-After` asked for.
    After(Option<Duration>),
}

/// Creates `annotation` in Grafana and returns its id.
///
/// `POST <url>/api/annotations` with `Authorization: Bearer <token>`,
/// `Content-Type: application/json`, `Accept: application/json` and
/// [`Annotation::request_json`] as the body. Retries up to `max_attempts` on 5xx, 408, 429
/// and timeouts, waiting `backoff`, then twice that, and so on (at most 10 s, or what
/// `Retry-After` asks within that). A refused connection is not retried: Grafana is down,
/// and the caller queues the annotation at once. A retry after a timeout may duplicate an
/// annotation Grafana did save; a duplicate region is better than a lost one.
pub fn post(config: &GrafanaConfig, annotation: &Annotation) -> Result<i64, AnnotateError> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(config.timeout))
        .http_status_as_error(false)
        // A redirected POST loses its body; report the redirect instead of following it.
        .max_redirects(0)
        .max_redirects_will_error(false)
        .user_agent(concat!("k6gate/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    let body = annotation.request_json().to_string();
    let attempts = config.max_attempts.max(1);
    let mut attempt = 1;
    loop {
        match post_once(&agent, config, &body) {
            Ok(id) => return Ok(id),
            Err(Failed { retry: Retry::After(wait), .. }) if attempt < attempts => {
                let backoff = config.backoff.saturating_mul(1u32 << (attempt - 1).min(16));
                std::thread::sleep(wait.unwrap_or(backoff).min(MAX_WAIT));
                attempt += 1;
            }
            Err(Failed { error, .. }) => return Err(with_attempts(error, attempt)),
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

fn post_once(agent: &ureq::Agent, config: &GrafanaConfig, body: &str) -> Result<i64, Failed> {
    let url = config.display_url();
    let token = config.token.expose();
    let response = agent
        .post(&config.endpoint())
        .header("Authorization", &format!("Bearer {token}"))
        .header("Accept", "application/json")
        .content_type("application/json")
        .send(body);
    let mut response = match response {
        Ok(response) => response,
        Err(e) => return Err(transport_failure(&url, token, &e)),
    };
    let status = response.status().as_u16();
    let retry_after = crate::net::retry_after(response.headers());
    let location = response.headers().get("location").and_then(|v| v.to_str().ok()).map(str::to_string);
    let text = response.body_mut().with_config().limit(64 * 1024).read_to_string().unwrap_or_default();
    let message = grafana_message(&text, token);
    let fail = |error, retry| Err(Failed { error, retry });
    match status {
        200..=299 => match serde_json::from_str::<Added>(&text) {
            Ok(added) => Ok(added.id),
            Err(_) => fail(AnnotateError::BadResponse { url, status, body: message }, Retry::No),
        },
        300..=399 => {
            let message = match location {
                Some(to) => format!("redirected to {}", scrub(&without_userinfo(&to), token)),
                None => "redirected".to_string(),
            };
            fail(AnnotateError::NotFound { url, status, message }, Retry::No)
        }
        401 | 403 => fail(AnnotateError::Auth { url, status, message }, Retry::No),
        404 | 405 => fail(AnnotateError::NotFound { url, status, message }, Retry::No),
        408 | 429 | 500..=599 => {
            fail(AnnotateError::Server { url, status, message, attempts: 1 }, Retry::After(retry_after))
        }
        _ => fail(AnnotateError::Rejected { url, status, message }, Retry::No),
    }
}

/// The documented success body, `{"message":"Annotation added","id":1}`.
#[derive(Deserialize)]
struct Added {
    id: i64,
}

fn transport_failure(url: &str, token: &str, e: &ureq::Error) -> Failed {
    use ureq::Timeout;
    let (reason, retry) = match e {
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::ConnectionRefused => {
            ("connection refused".to_string(), Retry::No)
        }
        ureq::Error::Io(io) if io.kind() == io::ErrorKind::TimedOut => (format!("timed out: {io}"), Retry::After(None)),
        // Resets and broken pipes can be a restarting proxy: worth another try.
        ureq::Error::Io(io) => (io.to_string(), Retry::After(None)),
        ureq::Error::Timeout(Timeout::Resolve | Timeout::Connect) => (format!("timed out: {e}"), Retry::No),
        ureq::Error::Timeout(_) => (format!("timed out: {e}"), Retry::After(None)),
        ureq::Error::HostNotFound => ("host not found".to_string(), Retry::No),
        other => (other.to_string(), Retry::No),
    };
    Failed { error: AnnotateError::Unreachable { url: url.to_string(), reason: scrub(&reason, token) }, retry }
}

/// Grafana's `{"message": ...}` (or the start of a body that is not JSON), on one line, short,
/// and without the token should Grafana echo it.
fn grafana_message(body: &str, token: &str) -> String {
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
    scrub(&one_line, token)
}

fn scrub(s: &str, token: &str) -> String {
    if token.is_empty() { s.to_string() } else { s.replace(token, "<redacted>") }
}

// ---------------------------------------------------------------------------------------------
// The queue

/// A directory of annotations Grafana has not taken yet ([`QUEUE_DIR`] in the state directory).
///
/// One JSON file ([`QueuedAnnotation`]) per annotation, named
/// `<queued at, epoch ms, 13 digits>-<sequence>-<random>.json` so that names sort oldest first.
/// Files are written to `.<name>.tmp` and renamed, so a reader never sees half a file.
/// Annotations Grafana refused go to `failed/` with the reason, and are never retried.
/// Run one flush at a time: two flushes of the same queue may both send a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Queue {
    dir: PathBuf,
}

/// A queue file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QueuedAnnotation {
    /// [`QUEUE_FORMAT`].
    pub format: String,
    pub queued_at_ms: i64,
    /// Why it was not sent.
    pub reason: String,
    pub annotation: Annotation,
    /// Set in `failed/`: why Grafana refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },
    #[error("{}: not a k6gate Grafana annotation: {message}", path.display())]
    Corrupt { path: PathBuf, message: String },
}

impl Queue {
    pub fn new(dir: impl Into<PathBuf>) -> Queue {
        Queue { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn failed_dir(&self) -> PathBuf {
        self.dir.join("failed")
    }

    /// Writes `annotation` to the queue and returns its file.
    pub fn push(&self, annotation: &Annotation, reason: &str) -> Result<PathBuf, QueueError> {
        let entry = QueuedAnnotation {
            format: QUEUE_FORMAT.to_string(),
            queued_at_ms: now_ms(),
            reason: reason.to_string(),
            annotation: annotation.clone(),
            failed: None,
        };
        write_atomic(&self.dir, &file_name(entry.queued_at_ms), &entry)
    }

    /// Writes an annotation Grafana refused straight to `failed/`, with the reason.
    pub fn push_failed(&self, annotation: &Annotation, why: &str) -> Result<PathBuf, QueueError> {
        let entry = QueuedAnnotation {
            format: QUEUE_FORMAT.to_string(),
            queued_at_ms: now_ms(),
            reason: why.to_string(),
            annotation: annotation.clone(),
            failed: Some(why.to_string()),
        };
        write_atomic(&self.failed_dir(), &file_name(entry.queued_at_ms), &entry)
    }

    /// The queued files, oldest first. An absent directory is an empty queue.
    pub fn pending(&self) -> Result<Vec<PathBuf>, QueueError> {
        list_json(&self.dir)
    }

    /// The files in `failed/`, oldest first.
    pub fn failed(&self) -> Result<Vec<PathBuf>, QueueError> {
        list_json(&self.failed_dir())
    }

    pub fn read(&self, path: &Path) -> Result<QueuedAnnotation, QueueError> {
        let bytes = fs::read(path).map_err(|source| QueueError::Io { path: path.to_path_buf(), source })?;
        let entry: QueuedAnnotation = serde_json::from_slice(&bytes)
            .map_err(|e| QueueError::Corrupt { path: path.to_path_buf(), message: e.to_string() })?;
        if entry.format != QUEUE_FORMAT {
            return Err(QueueError::Corrupt {
                path: path.to_path_buf(),
                message: format!("format {:?}, expected {QUEUE_FORMAT:?}", entry.format),
            });
        }
        Ok(entry)
    }

    /// Writes `entry` with `failed` set into `failed/` and removes `path`; returns the new file.
    fn fail(&self, path: &Path, mut entry: QueuedAnnotation, why: String) -> Result<PathBuf, QueueError> {
        entry.failed = Some(why);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file_name(now_ms()));
        let moved = write_atomic(&self.failed_dir(), &name, &entry)?;
        remove(path)?;
        Ok(moved)
    }

    /// A file that cannot be read as a queue entry goes to `failed/` as it is, with the reason
    /// in a `.reason.txt` beside it.
    fn fail_unreadable(&self, path: &Path, why: &str) -> Result<PathBuf, QueueError> {
        let failed = self.failed_dir();
        fs::create_dir_all(&failed).map_err(|source| QueueError::Io { path: failed.clone(), source })?;
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| file_name(now_ms()));
        let moved = failed.join(&name);
        fs::rename(path, &moved).map_err(|source| QueueError::Io { path: path.to_path_buf(), source })?;
        let reason = failed.join(format!("{name}.reason.txt"));
        fs::write(&reason, format!("{why}\n")).map_err(|source| QueueError::Io { path: reason, source })?;
        Ok(moved)
    }
}

fn remove(path: &Path) -> Result<(), QueueError> {
    fs::remove_file(path).map_err(|source| QueueError::Io { path: path.to_path_buf(), source })
}

fn list_json(dir: &Path) -> Result<Vec<PathBuf>, QueueError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(QueueError::Io { path: dir.to_path_buf(), source }),
    };
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| QueueError::Io { path: dir.to_path_buf(), source })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && name.ends_with(".json") && !name.starts_with('.') {
            files.push(entry.path());
        }
    }
    files.sort();
    Ok(files)
}

fn write_atomic(dir: &Path, name: &str, entry: &QueuedAnnotation) -> Result<PathBuf, QueueError> {
    let io_err = |path: &Path| {
        let path = path.to_path_buf();
        move |source| QueueError::Io { path, source }
    };
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let bytes = serde_json::to_vec_pretty(entry)
        .map_err(|e| QueueError::Corrupt { path: dir.join(name), message: e.to_string() })?;
    let tmp = dir.join(format!(".{name}.tmp"));
    let target = dir.join(name);
    let written = fs::File::create(&tmp).and_then(|mut file| {
        file.write_all(&bytes)?;
        file.write_all(b"\n")?;
        file.sync_all()
    });
    if let Err(source) = written.and_then(|()| fs::rename(&tmp, &target)) {
        let _ = fs::remove_file(&tmp);
        return Err(QueueError::Io { path: target, source });
    }
    Ok(target)
}

/// `<ms, 13 digits>-<sequence in this process, 6 digits>-<16 random bits>.json`: sorts by
/// time, keeps one process's order within a millisecond, and two processes never clash.
fn file_name(queued_at_ms: i64) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, Ordering::Relaxed);
    let mut h = RandomState::new().build_hasher();
    h.write_i64(queued_at_ms);
    h.write_u32(std::process::id());
    h.write_u64(seq);
    format!("{queued_at_ms:013}-{seq:06}-{:04x}.json", h.finish() & 0xffff)
}

fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX)).unwrap_or(0)
}

// ---------------------------------------------------------------------------------------------
// Send or queue, and flush

/// What became of an annotation.
#[derive(Debug)]
pub enum Outcome {
    /// Grafana took it; its annotation id.
    Sent(i64),
    /// Grafana did not take it (down, slow, refused the token, wrong URL): it waits in the
    /// queue file for `k6gate grafana flush`.
    Queued(PathBuf, AnnotateError),
    /// Grafana refused the annotation itself: it was written to `failed/` and is not retried.
    Failed(PathBuf, AnnotateError),
}

impl Outcome {
    pub fn is_sent(&self) -> bool {
        matches!(self, Outcome::Sent(_))
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Sent(id) => write!(f, "Grafana annotation {id} added"),
            Outcome::Queued(path, error @ AnnotateError::Auth { .. }) => write!(
                f,
                "{error}; annotation queued in {}; run `k6gate grafana flush` once the token is fixed",
                path.display()
            ),
            Outcome::Queued(path, error @ AnnotateError::NotFound { .. }) => write!(
                f,
                "{error}; annotation queued in {}; run `k6gate grafana flush` once the URL is fixed",
                path.display()
            ),
            Outcome::Queued(path, error) => {
                write!(f, "{error}: annotation queued in {}; run `k6gate grafana flush` later", path.display())
            }
            Outcome::Failed(path, error) => {
                write!(f, "{error}; it will not be retried: saved in {} for inspection", path.display())
            }
        }
    }
}

/// Grafana did not take the annotation, and the queue could not keep it either.
#[derive(Debug, thiserror::Error)]
#[error("{cause}; the annotation could not be queued either: {source}")]
pub struct NotQueued {
    pub cause: AnnotateError,
    #[source]
    pub source: QueueError,
}

/// Posts `annotation`; when Grafana does not take it, queues it (or, when Grafana refused
/// the annotation itself, writes it to `failed/`). Never fails because Grafana did: only when
/// the queue cannot be written either.
pub fn send_or_queue(config: &GrafanaConfig, queue: &Queue, annotation: &Annotation) -> Result<Outcome, NotQueued> {
    match post(config, annotation) {
        Ok(id) => Ok(Outcome::Sent(id)),
        Err(cause) if cause.is_rejection() => match queue.push_failed(annotation, &cause.to_string()) {
            Ok(path) => Ok(Outcome::Failed(path, cause)),
            Err(source) => Err(NotQueued { cause, source }),
        },
        Err(cause) => match queue.push(annotation, &cause.to_string()) {
            Ok(path) => Ok(Outcome::Queued(path, cause)),
            Err(source) => Err(NotQueued { cause, source }),
        },
    }
}

/// What a flush did.
#[derive(Debug, Default)]
pub struct FlushReport {
    /// Sent and removed from the queue: the file it was in, and Grafana's annotation id.
    pub sent: Vec<(PathBuf, i64)>,
    /// Refused by Grafana (or unreadable) and moved to `failed/`: the new file and why.
    pub failed: Vec<(PathBuf, String)>,
    /// Still in the queue, oldest first.
    pub still_queued: Vec<PathBuf>,
    /// Why the flush stopped early, and what went wrong with the queue itself.
    pub errors: Vec<String>,
}

impl FlushReport {
    /// Everything was sent.
    pub fn is_clean(&self) -> bool {
        self.failed.is_empty() && self.still_queued.is_empty() && self.errors.is_empty()
    }
}

impl fmt::Display for FlushReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Grafana annotations: {} sent, {} moved to failed/, {} still queued",
            self.sent.len(),
            self.failed.len(),
            self.still_queued.len()
        )?;
        for (path, why) in &self.failed {
            write!(f, "\n  failed: {}: {why}", path.display())?;
        }
        for error in &self.errors {
            write!(f, "\n  {error}")?;
        }
        if let Some(first) = self.still_queued.first() {
            let dir = first.parent().unwrap_or(Path::new("."));
            write!(f, "\n  still queued in {}; run `k6gate grafana flush` again later", dir.display())?;
        }
        Ok(())
    }
}

/// Sends the queued annotations, oldest first.
///
/// A sent annotation's file is removed. One Grafana refused (a 4xx that is not about the
/// token, the URL or the rate) moves to `failed/` and the flush goes on. Anything else (no
/// connection, a refused token, a wrong URL, a failing server) would fail the same way for
/// the rest, so the flush stops there and leaves them queued. `Err` only when the queue
/// directory cannot be listed.
pub fn flush(config: &GrafanaConfig, queue: &Queue) -> Result<FlushReport, QueueError> {
    let mut report = FlushReport::default();
    let pending = queue.pending()?;
    let mut files = pending.into_iter();
    for path in files.by_ref() {
        let entry = match queue.read(&path) {
            Ok(entry) => entry,
            Err(QueueError::Corrupt { message, .. }) => {
                let why = format!("unreadable queue file: {message}");
                match queue.fail_unreadable(&path, &why) {
                    Ok(moved) => report.failed.push((moved, why)),
                    Err(e) => {
                        report.errors.push(e.to_string());
                        report.still_queued.push(path);
                        break;
                    }
                }
                continue;
            }
            Err(e) => {
                report.errors.push(e.to_string());
                report.still_queued.push(path);
                break;
            }
        };
        match post(config, &entry.annotation) {
            Ok(id) => match remove(&path) {
                Ok(()) => report.sent.push((path, id)),
                Err(e) => {
                    // Sent but still on disk: stop before a later flush sends it twice.
                    report.sent.push((path.clone(), id));
                    report.errors.push(format!("annotation {id} was sent but its queue file remains: {e}"));
                    report.still_queued.push(path);
                    break;
                }
            },
            Err(error) if error.is_rejection() => {
                let why = error.to_string();
                match queue.fail(&path, entry, why.clone()) {
                    Ok(moved) => report.failed.push((moved, why)),
                    Err(e) => {
                        report.errors.push(format!("{why}; and it could not be moved to failed/: {e}"));
                        report.still_queued.push(path);
                        break;
                    }
                }
            }
            Err(error) => {
                report.errors.push(format!("stopped: {error}"));
                report.still_queued.push(path);
                break;
            }
        }
    }
    report.still_queued.extend(files);
    Ok(report)
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
    fn ms_rounding_covers_the_run() {
        assert_eq!(ns_to_ms_floor(1_999_999), 1);
        assert_eq!(ns_to_ms_ceil(1_000_001), 2);
        assert_eq!(ns_to_ms_ceil(2_000_000), 2);
        assert_eq!(ns_to_ms_floor(-1), -1);
    }

    #[test]
    fn message_is_short_one_line_and_scrubbed() {
        assert_eq!(grafana_message(r#"{"message":"invalid API key"}"#, "tok"), "invalid API key");
        assert_eq!(grafana_message("bad\n  tok here", "tok"), "bad <redacted> here");
        assert_eq!(grafana_message("", "tok"), "no message");
        assert!(grafana_message(&"x".repeat(1000), "tok").len() <= MAX_MESSAGE_CHARS + 3);
    }
}
