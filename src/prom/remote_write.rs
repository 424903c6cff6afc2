//! A Prometheus remote-write 1.0 client: protobuf `WriteRequest`s, snappy-compressed, POSTed
//! to Prometheus (`/api/v1/write`, needs `--web.enable-remote-write-receiver`) or Mimir
//! (`/api/v1/push`, tenant in `X-Scope-OrgID`).
//!
//! The four messages are written by hand with `prost` derives instead of taken from a crate:
//! `prometheus_remote_write` (the only standalone one) is stale and pinned to prost 0.12, and
//! the others come with a metrics registry k6gate does not want. The field numbers are those
//! of `prometheus/prompb/types.proto` and `remote.proto`; fields k6gate never sends
//! (metadata, exemplars, float histograms, negative buckets) are left out, which protobuf
//! allows. Native histograms (integer counts, `TimeSeries.histograms`, field 4) are sent as
//! Prometheus 2.40+ reads them (`--enable-feature=native-histograms`).
//!
//! What a receiver requires, and this module guarantees before sending: labels sorted by
//! name with `__name__` among them, no duplicate or empty names, samples in time order.
//!
//! Failures are classified once, here: 2xx is success; 5xx, 429 and connection errors are
//! retried with exponential backoff inside a bounded budget; any other status is final.
//! A sample the TSDB refuses for its timestamp (out of order, out of bounds, duplicate, too
//! old) is final whatever the status (Prometheus 2.42 answers 500 for `too old sample`) and
//! gets an error that says what it means and how to fix it. One such sample rejects the whole
//! request: nothing of that request is stored.
//!
//! Credentials never leave this module: not in errors, not in `Debug`, not in logs. URLs in
//! errors lose their user info and query string, and response bodies are scrubbed of the
//! secrets before they are quoted.

use std::fmt;
use std::time::Duration;

use crate::net::{Attempt, Failed};

use prost::Message;

/// `prompb.WriteRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prompb.TimeSeries`. Build it with [`TimeSeries::new`], which sorts and checks.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
    /// Native histograms; a series holds samples or histograms, not both.
    #[prost(message, repeated, tag = "4")]
    pub histograms: Vec<Histogram>,
}

/// `prompb.Histogram` with integer counts and positive buckets only: a counter histogram of
/// observations > 0 (latencies). Build it with [`Histogram::from_buckets`].
#[derive(Clone, PartialEq, prost::Message)]
pub struct Histogram {
    /// `count_int` (one of the `count` oneof; 0 is also what an unset oneof reads as).
    #[prost(uint64, tag = "1")]
    pub count: u64,
    #[prost(double, tag = "3")]
    pub sum: f64,
    /// Buckets per power of two: 2^schema (-4..=8).
    #[prost(sint32, tag = "4")]
    pub schema: i32,
    #[prost(double, tag = "5")]
    pub zero_threshold: f64,
    #[prost(uint64, tag = "6")]
    pub zero_count: u64,
    #[prost(message, repeated, tag = "11")]
    pub positive_spans: Vec<BucketSpan>,
    /// Each bucket's count as the difference to the previous bucket's (the first's to 0).
    #[prost(sint64, repeated, tag = "12")]
    pub positive_deltas: Vec<i64>,
    /// `ResetHint`: 0 unknown (Prometheus checks for a counter reset itself).
    #[prost(int32, tag = "14")]
    pub reset_hint: i32,
    #[prost(int64, tag = "15")]
    pub timestamp: i64,
}

/// `prompb.BucketSpan`: `length` consecutive buckets, `offset` after the previous span (the
/// first span's offset is its first bucket's index).
#[derive(Clone, PartialEq, prost::Message)]
pub struct BucketSpan {
    #[prost(sint32, tag = "1")]
    pub offset: i32,
    #[prost(uint32, tag = "2")]
    pub length: u32,
}

impl Histogram {
    /// A histogram at `timestamp` (ms) from cumulative bucket counts by index (bucket `i`
    /// of schema `s` holds the values in (2^((i-1)/2^s), 2^(i/2^s)]), with `zero_count`
    /// observations at or below `zero_threshold`; one span from the lowest to the highest
    /// index.
    pub fn from_buckets(
        schema: i32,
        zero_threshold: f64,
        zero_count: u64,
        buckets: &std::collections::BTreeMap<i32, u64>,
        sum: f64,
        timestamp: i64,
    ) -> Histogram {
        let (first, last) = match (buckets.keys().next(), buckets.keys().next_back()) {
            (Some(f), Some(l)) => (*f, *l),
            _ => (0, -1),
        };
        let mut deltas = Vec::new();
        let mut previous = 0i64;
        for i in first..=last {
            let count = buckets.get(&i).copied().unwrap_or(0) as i64;
            deltas.push(count - previous);
            previous = count;
        }
        let spans = if deltas.is_empty() {
            Vec::new()
        } else {
            vec![BucketSpan { offset: first, length: deltas.len() as u32 }]
        };
        Histogram {
            count: zero_count + buckets.values().sum::<u64>(),
            sum,
            schema,
            zero_threshold,
            zero_count,
            positive_spans: spans,
            positive_deltas: deltas,
            reset_hint: 0,
            timestamp,
        }
    }

    /// The index of the bucket of schema `schema` that holds `v` > 0.
    pub fn bucket_index(schema: i32, v: f64) -> i32 {
        (v.log2() * 2f64.powi(schema)).ceil() as i32
    }
}

/// `prompb.Label`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, prost::Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prompb.Sample`: a value at a Unix time in milliseconds.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

impl Label {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Label {
        Label { name: name.into(), value: value.into() }
    }
}

/// `__name__` and `labels`, without those whose value is empty (Prometheus treats them as absent).
fn named<N: Into<String>, V: Into<String>>(metric: &str, labels: impl IntoIterator<Item = (N, V)>) -> Vec<Label> {
    let mut all = vec![Label::new("__name__", metric)];
    all.extend(labels.into_iter().map(|(n, v)| Label::new(n, v)).filter(|l| !l.value.is_empty()));
    all
}

impl TimeSeries {
    /// A series named `metric` with `labels` (sorted here; labels with an empty value are
    /// dropped, as Prometheus treats them as absent) and `samples` (put in time order).
    pub fn new<N, V>(
        metric: &str,
        labels: impl IntoIterator<Item = (N, V)>,
        samples: Vec<Sample>,
    ) -> Result<TimeSeries, InvalidSeries>
    where
        N: Into<String>,
        V: Into<String>,
    {
        TimeSeries { labels: named(metric, labels), samples, histograms: Vec::new() }.checked()
    }

    /// A native-histogram series named `metric` with `labels` and `histograms` (put in time
    /// order), checked like [`TimeSeries::new`].
    pub fn native<N, V>(
        metric: &str,
        labels: impl IntoIterator<Item = (N, V)>,
        histograms: Vec<Histogram>,
    ) -> Result<TimeSeries, InvalidSeries>
    where
        N: Into<String>,
        V: Into<String>,
    {
        TimeSeries { labels: named(metric, labels), samples: Vec::new(), histograms }.checked()
    }

    fn checked(mut self) -> Result<TimeSeries, InvalidSeries> {
        self.normalize();
        self.validate()?;
        Ok(self)
    }

    /// The value of label `name`.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|l| l.name == name).map(|l| l.value.as_str())
    }

    /// The metric name (`__name__`), or "" when there is none.
    pub fn metric(&self) -> &str {
        self.label("__name__").unwrap_or_default()
    }

    /// Sorts labels by name and samples by time, as receivers require.
    pub fn normalize(&mut self) {
        self.labels.sort_by(|a, b| a.name.cmp(&b.name));
        self.samples.sort_by_key(|s| s.timestamp);
        self.histograms.sort_by_key(|h| h.timestamp);
    }

    /// Checks what a receiver would reject the whole request for.
    pub fn validate(&self) -> Result<(), InvalidSeries> {
        let invalid = |message: String| InvalidSeries { series: self.describe(), message };
        let Some(name) = self.label("__name__") else {
            return Err(invalid("no __name__ label".into()));
        };
        if !valid_metric_name(name) {
            return Err(invalid(format!("invalid metric name {name:?}")));
        }
        for pair in self.labels.windows(2) {
            if let [a, b] = pair {
                if a.name == b.name {
                    return Err(invalid(format!("label {:?} appears twice", a.name)));
                }
                if a.name > b.name {
                    return Err(invalid("labels are not sorted by name".into()));
                }
            }
        }
        if let Some(l) = self.labels.iter().find(|l| !valid_label_name(&l.name)) {
            return Err(invalid(format!("invalid label name {:?}", l.name)));
        }
        if self.samples.is_empty() && self.histograms.is_empty() {
            return Err(invalid("no samples".into()));
        }
        if !self.samples.is_empty() && !self.histograms.is_empty() {
            return Err(invalid("both samples and histograms".into()));
        }
        if self.histograms.windows(2).any(|w| matches!(w, [a, b] if a.timestamp > b.timestamp)) {
            return Err(invalid("histograms are not in time order".into()));
        }
        if self.samples.windows(2).any(|w| matches!(w, [a, b] if a.timestamp > b.timestamp)) {
            return Err(invalid("samples are not in time order".into()));
        }
        Ok(())
    }

    /// `name{a="1",b="2"}`, for messages.
    pub fn describe(&self) -> String {
        let labels: Vec<String> =
            self.labels.iter().filter(|l| l.name != "__name__").map(|l| format!("{}={:?}", l.name, l.value)).collect();
        format!("{}{{{}}}", self.metric(), labels.join(","))
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A series no receiver would accept; found before anything is sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid series {series}: {message}")]
pub struct InvalidSeries {
    pub series: String,
    pub message: String,
}

/// The request body: protobuf, then snappy in the raw block format (not the framed one).
pub fn encode(series: &[TimeSeries]) -> Result<Vec<u8>, snap::Error> {
    let proto = WriteRequest { timeseries: series.to_vec() }.encode_to_vec();
    snap::raw::Encoder::new().compress_vec(&proto)
}

/// The inverse of [`encode`], for tests and debugging.
pub fn decode(body: &[u8]) -> Result<WriteRequest, String> {
    let proto = snap::raw::Decoder::new().decompress_vec(body).map_err(|e| format!("snappy: {e}"))?;
    WriteRequest::decode(proto.as_slice()).map_err(|e| format!("protobuf: {e}"))
}

pub use crate::net::Secret;

/// How requests authenticate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Auth {
    #[default]
    None,
    /// `Authorization: Bearer <token>`.
    Bearer(Secret),
    /// `Authorization: Basic base64(user:password)`.
    Basic { user: String, password: Secret },
}

/// Environment variables [`Auth::from_env`] reads.
pub const ENV_TOKEN: &str = "K6GATE_PROM_TOKEN";
pub const ENV_USER: &str = "K6GATE_PROM_USER";
pub const ENV_PASSWORD: &str = "K6GATE_PROM_PASSWORD";

impl Auth {
    /// From `K6GATE_PROM_TOKEN` (bearer), or `K6GATE_PROM_USER` with `K6GATE_PROM_PASSWORD`
    /// (basic), or none, read through `get`. Setting both kinds, or a password without a
    /// user, is an error.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Auth, AuthConfigError> {
        let get = |k: &str| get(k).filter(|v| !v.is_empty());
        match (get(ENV_TOKEN), get(ENV_USER), get(ENV_PASSWORD)) {
            (None, None, None) => Ok(Auth::None),
            (Some(token), None, None) => Ok(Auth::Bearer(Secret::new(token))),
            (None, Some(user), password) => {
                Ok(Auth::Basic { user, password: Secret::new(password.unwrap_or_default()) })
            }
            (None, None, Some(_)) => Err(AuthConfigError(format!("{ENV_PASSWORD} is set but {ENV_USER} is not"))),
            (Some(_), _, _) => Err(AuthConfigError(format!(
                "{ENV_TOKEN} (bearer) and {ENV_USER}/{ENV_PASSWORD} (basic) are both set; keep one"
            ))),
        }
    }

    pub(crate) fn header(&self) -> Option<String> {
        match self {
            Auth::None => None,
            Auth::Bearer(token) => Some(format!("Bearer {}", token.expose())),
            Auth::Basic { user, password } => {
                Some(format!("Basic {}", base64(format!("{user}:{}", password.expose()).as_bytes())))
            }
        }
    }

    /// The credentials to scrub from anything a receiver echoes.
    pub(crate) fn secrets(&self) -> Vec<&Secret> {
        match self {
            Auth::None => Vec::new(),
            Auth::Bearer(token) => vec![token],
            Auth::Basic { password, .. } => vec![password],
        }
    }
}

/// Inconsistent credentials in the environment. Names variables, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("remote-write credentials: {0}")]
pub struct AuthConfigError(String);

/// Standard base64 with padding (RFC 4648), for the basic-auth header.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let sym = |i: u32| char::from(ALPHABET.get((i & 63) as usize).copied().unwrap_or(b'='));
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        out.push(if chunk.len() > 1 { sym(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { sym(n) } else { '=' });
    }
    out
}

pub use crate::net::RetryPolicy;

/// How persistently to send: 4 attempts, 0.5 s doubling to 4 s, and a 10 s budget, which
/// keeps a failing push under about 10 s.
pub const DEFAULT_RETRY: RetryPolicy = RetryPolicy {
    attempts: 4,
    backoff: Duration::from_millis(500),
    max_backoff: Duration::from_secs(4),
    budget: Duration::from_secs(10),
};

/// Everything about a push except its URL, tenant and series.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteOptions {
    pub auth: Auth,
    /// Series per request (at least 1). Each request is one protobuf; Prometheus and Mimir
    /// accept a few MB, and 500 small series are about 60 KB.
    pub batch_size: usize,
    pub retry: RetryPolicy,
    /// Timeout of one attempt (connect, send, response), cut to what is left of the
    /// retry budget.
    pub timeout: Duration,
}

impl Default for WriteOptions {
    fn default() -> WriteOptions {
        WriteOptions { auth: Auth::None, batch_size: 500, retry: DEFAULT_RETRY, timeout: Duration::from_secs(5) }
    }
}

/// What a successful push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteReport {
    pub series: usize,
    pub samples: usize,
    /// Requests that succeeded (one per batch).
    pub requests: usize,
    /// HTTP attempts, retries included.
    pub attempts: usize,
}

/// A push that failed. The series of earlier requests were stored; those of this request
/// and the ones after were not.
#[derive(Debug, thiserror::Error)]
#[error(
    "remote write to {url}: request {request} of {requests} failed ({written} of {total} series written before it): {kind}"
)]
pub struct RemoteWriteError {
    /// Without user info or query string.
    pub url: String,
    /// 1-based.
    pub request: usize,
    pub requests: usize,
    /// Series accepted by the earlier requests.
    pub written: usize,
    pub total: usize,
    pub kind: WriteErrorKind,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WriteErrorKind {
    /// Checked before sending: nothing was sent.
    #[error("{0}")]
    Invalid(#[from] InvalidSeries),
    #[error("cannot encode the request: {0}")]
    Encode(String),
    /// The TSDB refused a sample for its timestamp. Final: retrying cannot help.
    #[error("HTTP {status}: {rejection} The receiver said: {body}")]
    Rejected { status: u16, rejection: Rejection, body: String },
    #[error(
        "HTTP {status}: the receiver refused the credentials (set {ENV_TOKEN}, or {ENV_USER} and {ENV_PASSWORD}, and check the tenant): {body}"
    )]
    Unauthorized { status: u16, body: String },
    /// A status that retrying cannot change (4xx other than 429).
    #[error("HTTP {status}: {body}{hint}")]
    Status { status: u16, body: String, hint: String },
    /// Retryable failures (5xx, 429, connection errors) until the attempts or the time budget ran out.
    #[error("gave up after {attempts} attempt(s) in {:.1} s; last: {last}", elapsed.as_secs_f64())]
    GaveUp { attempts: u32, elapsed: Duration, last: String },
    /// A failure that no retry can fix (a malformed URL, a TLS misconfiguration), or the
    /// last network error before giving up.
    #[error("{0}")]
    Transport(String),
    /// A retryable status (5xx, 429), as the last error before giving up.
    #[error("{0}")]
    Retryable(String),
}

/// Why a TSDB refused a sample for its timestamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Older than the newest sample of its series, with out-of-order ingestion off.
    OutOfOrder,
    /// Outside the time range the TSDB head accepts (older than about an hour for a new series).
    OutOfBounds,
    /// Same series and timestamp as a stored sample, different value. (Prometheus 2.42
    /// checks this in its in-order range only; an out-of-order sample with a duplicate
    /// timestamp is dropped without an error and the first value stays.)
    Duplicate,
    /// Older than the out-of-order window.
    TooOld,
    /// Too far ahead of the receiver's clock.
    TooNew,
}

impl Rejection {
    /// Recognises Prometheus' and Mimir's messages.
    pub fn from_body(body: &str) -> Option<Rejection> {
        let b = body.to_ascii_lowercase();
        let has = |needles: &[&str]| needles.iter().any(|n| b.contains(n));
        if has(&[
            "too old sample",
            "sample-timestamp-too-old",
            "sample-too-old",
            "too-far-in-past",
            "too far in the past",
        ]) {
            Some(Rejection::TooOld)
        } else if has(&["out of order sample", "sample-out-of-order", "out-of-order samples are not allowed"]) {
            Some(Rejection::OutOfOrder)
        } else if has(&["duplicate sample for timestamp", "sample-duplicate-timestamp"]) {
            Some(Rejection::Duplicate)
        } else if has(&["out of bounds", "sample-out-of-bounds"]) {
            Some(Rejection::OutOfBounds)
        } else if has(&["too-far-in-future", "too far in the future", "too far into the future"]) {
            Some(Rejection::TooNew)
        } else {
            None
        }
    }
}

const OOO_FIX: &str = "Enable out-of-order ingestion: in Prometheus `storage: tsdb: out_of_order_time_window: 30d` \
     in prometheus.yml (POST /-/reload applies it), in Mimir the `out_of_order_time_window` limit (per tenant in \
     the runtime overrides); or publish each run promptly, in the order the runs ended.";

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::OutOfOrder => write!(
                f,
                "out-of-order sample: the series already holds a newer sample and the receiver does not accept \
                 older ones, so nothing of this request was stored. {OOO_FIX}"
            ),
            Rejection::OutOfBounds => write!(
                f,
                "out-of-bounds sample: its timestamp is older than the receiver's in-memory block accepts \
                 (about an hour before its newest data when out-of-order ingestion is off), so nothing of this \
                 request was stored. {OOO_FIX}"
            ),
            Rejection::Duplicate => f.write_str(
                "duplicate sample: the series already holds a different value at this exact timestamp, so nothing \
                 of this request was stored. This run was published before with other values (publishing the \
                 same values again is accepted); a run's published values cannot be changed. Publish a \
                 recomputed summary under a new run id (`testid`), or delete the old series first (Prometheus \
                 admin API `POST /api/v1/admin/tsdb/delete_series`). Note that Prometheus checks this only for \
                 recent samples: for a run older than about an hour, out-of-order ingestion keeps the first value \
                 and drops a different one without an error.",
            ),
            Rejection::TooOld => f.write_str(
                "too-old sample: its timestamp is older than the receiver's out-of-order window, so nothing of \
                 this request was stored. Widen the window (Prometheus `storage: tsdb: out_of_order_time_window` \
                 in prometheus.yml; Mimir `out_of_order_time_window`, and `past_grace_period` where set), publish \
                 runs promptly after they end, or backfill old runs with `promtool tsdb create-blocks-from \
                 openmetrics`.",
            ),
            Rejection::TooNew => f.write_str(
                "sample too far in the future: the run's end time is ahead of the receiver's clock, so nothing of \
                 this request was stored. Check the clock of the machine that ran k6.",
            ),
        }
    }
}

/// A remote-write endpoint: URL, tenant, credentials and an HTTP agent.
pub struct RemoteWriter {
    url: String,
    tenant: Option<String>,
    opts: WriteOptions,
}

impl fmt::Debug for RemoteWriter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteWriter")
            .field("url", &redact_url(&self.url))
            .field("tenant", &self.tenant)
            .field("opts", &self.opts)
            .finish_non_exhaustive()
    }
}

/// The `User-Agent` header.
pub fn user_agent() -> String {
    crate::net::USER_AGENT.to_string()
}

impl RemoteWriter {
    /// `url` is the full endpoint (`http://prometheus:9090/api/v1/write`,
    /// `https://mimir/api/v1/push`); `tenant` is sent as `X-Scope-OrgID` when given.
    pub fn new(url: impl Into<String>, tenant: Option<String>, opts: WriteOptions) -> RemoteWriter {
        let tenant = tenant.filter(|t| !t.is_empty());
        RemoteWriter { url: url.into(), tenant, opts }
    }

    /// Sends `series` in batches of `batch_size`, one request each, in order. Everything is
    /// validated before the first request, so a bad series sends nothing.
    pub fn write(&self, series: &[TimeSeries]) -> Result<WriteReport, RemoteWriteError> {
        let batch_size = self.opts.batch_size.max(1);
        let requests = series.len().div_ceil(batch_size);
        let fail = |request: usize, written: usize, kind: WriteErrorKind| RemoteWriteError {
            url: redact_url(&self.url),
            request,
            requests,
            written,
            total: series.len(),
            kind,
        };
        if let Some(e) = series.iter().find_map(|s| s.validate().err()) {
            return Err(fail(1, 0, WriteErrorKind::Invalid(e)));
        }
        let mut report = WriteReport { series: 0, samples: 0, requests: 0, attempts: 0 };
        // Prometheus answers 204; no redirect is expected, and following one could send the
        // credentials elsewhere. Each attempt sets its own timeout.
        let options =
            crate::net::ClientOptions { timeout: None, redirects: crate::net::Redirects::None, ..Default::default() };
        let client = crate::net::client(&options)
            .map_err(|e| fail(1, 0, WriteErrorKind::Transport(crate::net::describe(&e))))?;
        for (i, batch) in series.chunks(batch_size).enumerate() {
            let body = encode(batch).map_err(|e| fail(i + 1, report.series, WriteErrorKind::Encode(e.to_string())))?;
            let attempts = self.send(&client, body).map_err(|kind| fail(i + 1, report.series, kind))?;
            report.requests += 1;
            report.attempts += attempts as usize;
            report.series += batch.len();
            report.samples += batch.iter().map(|s| s.samples.len() + s.histograms.len()).sum::<usize>();
        }
        Ok(report)
    }

    /// One request with its retries ([`WriteOptions::retry`]); the number of attempts it took.
    fn send(&self, client: &reqwest::Client, body: Vec<u8>) -> Result<u32, WriteErrorKind> {
        let policy = &self.opts.retry;
        let run = policy.run(&crate::net::TokioClock, |_, left| {
            let timeout = self.opts.timeout.min(left).max(Duration::from_millis(100));
            self.attempt(client, body.clone(), timeout)
        });
        match crate::net::block_on(run) {
            Err(e) => Err(WriteErrorKind::Transport(crate::net::describe(&e))),
            Ok(Ok(((), attempts))) => Ok(attempts),
            Ok(Err(Failed::Final { error, .. })) => Err(error),
            Ok(Err(Failed::GaveUp { error, attempts, elapsed })) => {
                Err(WriteErrorKind::GaveUp { attempts, elapsed, last: error.to_string() })
            }
        }
    }

    async fn attempt(
        &self,
        client: &reqwest::Client,
        body: Vec<u8>,
        timeout: Duration,
    ) -> Result<(), Attempt<WriteErrorKind>> {
        let mut req = client
            .post(&self.url)
            .timeout(timeout)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0");
        if let Some(tenant) = &self.tenant {
            req = req.header("X-Scope-OrgID", tenant);
        }
        if let Some(auth) = self.opts.auth.header() {
            req = req.header("Authorization", auth);
        }
        let resp = match req.body(body).send().await {
            Ok(resp) => resp,
            Err(e) => {
                let retry = crate::net::retryable_transport(&e);
                let msg = self.scrub(&crate::net::describe(&e));
                return Err(if retry {
                    Attempt::Retry { error: WriteErrorKind::Transport(msg), retry_after: None }
                } else {
                    Attempt::Final(WriteErrorKind::Transport(msg))
                });
            }
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(());
        }
        let retry_after = crate::net::retry_after(resp.headers());
        let text = match resp.bytes().await {
            Ok(b) => String::from_utf8_lossy(b.get(..4096).unwrap_or(&b)).into_owned(),
            Err(_) => "(unreadable body)".into(),
        };
        let body = self.scrub(text.trim());
        if let Some(rejection) = Rejection::from_body(&body) {
            return Err(Attempt::Final(WriteErrorKind::Rejected { status, rejection, body }));
        }
        match status {
            s if crate::net::retryable_status(s) => {
                Err(Attempt::Retry { error: WriteErrorKind::Retryable(format!("HTTP {status}: {body}")), retry_after })
            }
            401 | 403 => Err(Attempt::Final(WriteErrorKind::Unauthorized { status, body })),
            _ => Err(Attempt::Final(WriteErrorKind::Status { status, body, hint: status_hint(status) })),
        }
    }

    /// Removes the URL's user info and every secret from a message.
    fn scrub(&self, text: &str) -> String {
        let mut out =
            if self.url.is_empty() { text.to_string() } else { text.replace(&self.url, &redact_url(&self.url)) };
        out = Secret::scrub_all(self.opts.auth.secrets(), &out);
        for secret in url_secrets(&self.url) {
            out = Secret::new(secret).scrub(&out);
        }
        out
    }
}

fn status_hint(status: u16) -> String {
    match status {
        404 => "; check the URL: Prometheus receives on /api/v1/write (started with \
                --web.enable-remote-write-receiver), Mimir on /api/v1/push"
            .into(),
        413 => "; the request is too large: lower the batch size".into(),
        _ => String::new(),
    }
}

/// `scheme://host/path`: without user info and with the query string hidden.
pub fn redact_url(url: &str) -> String {
    let shown = crate::net::without_userinfo(url);
    match shown.split_once('?') {
        Some((p, _)) => format!("{p}?{}", crate::net::secret::REDACTED),
        None => shown,
    }
}

/// The user info and query values of a URL, to be scrubbed from messages.
fn url_secrets(url: &str) -> Vec<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let mut out: Vec<&str> = Vec::new();
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        out.push(userinfo);
        out.extend(userinfo.split_once(':').map(|(_, pw)| pw));
    }
    if let Some((_, query)) = url.split_once('?') {
        out.extend(query.split('&').filter_map(|kv| kv.split_once('=').map(|(_, v)| v)));
    }
    out.retain(|s| s.len() >= 4);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"foobar"), "Zm9vYmFy");
        assert_eq!(base64(b"user:pa ss"), "dXNlcjpwYSBzcw==");
    }

    #[test]
    fn series_are_sorted_and_checked() {
        let s = TimeSeries::new(
            "m",
            [("b", "2"), ("a", "1"), ("empty", "")],
            vec![Sample { value: 2.0, timestamp: 20 }, Sample { value: 1.0, timestamp: 10 }],
        )
        .unwrap();
        let names: Vec<&str> = s.labels.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, ["__name__", "a", "b"]);
        assert_eq!(s.samples[0].timestamp, 10);
        assert_eq!(s.describe(), r#"m{a="1",b="2"}"#);
        assert!(TimeSeries::new("m", [("a", "1"), ("a", "2")], vec![Sample { value: 1.0, timestamp: 1 }]).is_err());
        assert!(TimeSeries::new("1m", [("a", "1")], vec![Sample { value: 1.0, timestamp: 1 }]).is_err());
        assert!(TimeSeries::new("m", [("a-b", "1")], vec![Sample { value: 1.0, timestamp: 1 }]).is_err());
        assert!(TimeSeries::new("m", [("a", "1")], vec![]).is_err());
    }

    #[test]
    fn encode_roundtrips_with_prompb_field_numbers() {
        let s = TimeSeries::new("up", [("job", "x")], vec![Sample { value: 1.5, timestamp: 1000 }]).unwrap();
        let proto = WriteRequest { timeseries: vec![s.clone()] }.encode_to_vec();
        // Tag bytes (field << 3 | wire type 2): timeseries=1, labels=1, name=1, then "__name__".
        assert_eq!([proto[0], proto[2], proto[4], proto[5]], [0x0a, 0x0a, 0x0a, 8]);
        assert_eq!(&proto[6..14], b"__name__");
        // Sample: value=1 (wire type 1, f64) and timestamp=2 (varint) at the end.
        let sample = [&[0x09][..], &1.5f64.to_le_bytes(), &[0x10, 0xe8, 0x07]].concat();
        assert!(proto.ends_with(&sample), "{proto:02x?}");
        let back = decode(&encode(std::slice::from_ref(&s)).unwrap()).unwrap();
        assert_eq!(back.timeseries, vec![s]);
    }

    #[test]
    fn rejections_are_recognised() {
        use Rejection::*;
        let cases = [
            ("out of order sample", OutOfOrder),
            ("out of bounds", OutOfBounds),
            ("duplicate sample for timestamp", Duplicate),
            ("too old sample", TooOld),
            (
                "the sample has been rejected because its timestamp is too old (err-mimir-sample-timestamp-too-old)",
                TooOld,
            ),
            (
                "another sample with a more recent timestamp has already been ingested and out-of-order samples \
                 are not allowed (err-mimir-sample-out-of-order)",
                OutOfOrder,
            ),
            ("(err-mimir-sample-duplicate-timestamp)", Duplicate),
        ];
        for (body, want) in cases {
            assert_eq!(Rejection::from_body(body), Some(want), "{body}");
        }
        assert_eq!(Rejection::from_body("native histograms are disabled"), None);
    }

    #[test]
    fn urls_lose_their_secrets() {
        assert_eq!(redact_url("https://u:p4ss@mimir:8080/api/v1/push?key=abcd"), "https://mimir:8080/api/v1/push?***");
        assert_eq!(redact_url("http://127.0.0.1:9090/api/v1/write"), "http://127.0.0.1:9090/api/v1/write");
        assert_eq!(url_secrets("https://u:p4ss@mimir/x?key=abcdef"), ["u:p4ss", "p4ss", "abcdef"]);
    }

    #[test]
    fn auth_from_env() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| pairs.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(Auth::from_lookup(env(&[])).unwrap(), Auth::None);
        assert_eq!(Auth::from_lookup(env(&[(ENV_TOKEN, "t0k3n")])).unwrap(), Auth::Bearer(Secret::new("t0k3n")));
        assert!(matches!(Auth::from_lookup(env(&[(ENV_USER, "u"), (ENV_PASSWORD, "p")])).unwrap(), Auth::Basic { .. }));
        let err = Auth::from_lookup(env(&[(ENV_TOKEN, "t0k3n"), (ENV_USER, "u")])).unwrap_err().to_string();
        assert!(!err.contains("t0k3n"), "{err}");
        assert!(Auth::from_lookup(env(&[(ENV_PASSWORD, "p")])).is_err());
        assert!(!format!("{:?}", Auth::Bearer(Secret::new("t0k3n"))).contains("t0k3n"));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let p = DEFAULT_RETRY;
        let waits: Vec<u128> = (1..=5).map(|a| p.wait_after(a, None).as_millis()).collect();
        assert_eq!(waits, [500, 1000, 2000, 4000, 4000]);
    }

    #[test]
    fn native_histograms_round_trip_with_one_span_of_deltas() {
        // Schema 3: bucket 0 is (2^(-1/8), 1], bucket 8 is (2^(7/8), 2].
        assert_eq!((Histogram::bucket_index(3, 1.0), Histogram::bucket_index(3, 2.0)), (0, 8));
        assert_eq!(Histogram::bucket_index(3, 0.013), -50);
        let buckets: std::collections::BTreeMap<i32, u64> = [(-52, 3), (-50, 5), (-49, 1)].into();
        let h = Histogram::from_buckets(3, 1e-9, 2, &buckets, 0.2, 1_000);
        assert_eq!(h.count, 11);
        assert_eq!(h.positive_spans, [BucketSpan { offset: -52, length: 4 }]);
        assert_eq!(h.positive_deltas, [3, -3, 5, -4]);
        let s = TimeSeries::native("latency_seconds", [("route", "a")], vec![h.clone()]).unwrap();
        let back = decode(&encode(std::slice::from_ref(&s)).unwrap()).unwrap();
        assert_eq!(back.timeseries, [s]);
        assert!(TimeSeries::native("latency_seconds", [("route", "a")], vec![]).is_err());
    }
}
