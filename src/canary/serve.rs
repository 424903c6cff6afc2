//! `k6gate canary serve`: the canary analysis behind HTTP, for rollout controllers that poll.
//!
//! An analysis takes minutes; a controller's request takes seconds. So the server runs each
//! analysis in the background, keyed by an id the controller chooses (Argo Rollouts: the
//! canary's pod-template hash; Flagger: namespace, name and checksum of the canary), and every
//! request for that id answers how far it is. The first request for an id starts it; later
//! ones read it. An id is analysed once: a finished or failed analysis keeps its answer until
//! the server stops.
//!
//! - `GET` or `POST /v1/canary/{id}` (Argo Rollouts' web metric provider): `200` with
//!   [`Answer`] while running (`"decision": "running"`) and when done (`promote`, `rollback`,
//!   `inconclusive`); `502` (Prometheus failed) or `500` (the rules failed) with
//!   `"decision": "error"` when the analysis could not decide, so that Argo counts an error,
//!   never a success. Only `"decision": "promote"` is a promote.
//! - `POST /v1/flagger/confirm-promotion` and `POST /v1/flagger/rollback` (Flagger webhooks,
//!   its JSON payload): confirm-promotion answers `200` only on a promote; rollback answers
//!   `200` on a rollback, an inconclusive analysis or an error (fail closed), `409` otherwise.
//!
//! `{id}` in the server's `--canary-selector` and `--stable-selector` is replaced by the id, so
//! one server follows every revision: `rollouts_pod_template_hash="{id}"`.
//!
//! The decision is the analysis's ([`super::run::analyse`]); this module only keeps and shows it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

use super::CanaryError;
use super::analysis::{MetricResult, Traffic};
use super::policy::Decision;
use super::run::{Analysis, LookReport};

/// The keys of [`Answer`], as controllers' conditions read them (`result.decision`); the
/// examples are checked against this list.
pub const ANSWER_KEYS: [&str; 12] = [
    "id",
    "status",
    "decision",
    "exit_code",
    "reasons",
    "looks",
    "looks_planned",
    "stopped_early",
    "canary",
    "stable",
    "metrics",
    "error",
];

/// The values `decision` takes.
pub const DECISIONS: [&str; 5] = ["running", "promote", "rollback", "inconclusive", "error"];

/// Analyses running at once, at most; a new id beyond it is refused (`503`).
pub const MAX_RUNNING: usize = 16;

/// Ids kept, at most (finished ones included); beyond it a new id is refused (`503`).
pub const MAX_IDS: usize = 1024;

/// What every request for an analysis answers.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Answer {
    pub id: String,
    /// `running`, `done` or `error`.
    pub status: &'static str,
    /// `running`, `promote`, `rollback`, `inconclusive` or `error`.
    pub decision: &'static str,
    /// `k6gate canary`'s exit code for this decision: 0 promote, 1 rollback, 2 inconclusive
    /// or error; `null` while running.
    pub exit_code: Option<u8>,
    pub reasons: Vec<String>,
    /// Looks taken so far, and planned.
    pub looks: usize,
    pub looks_planned: usize,
    pub stopped_early: bool,
    pub canary: Option<Traffic>,
    pub stable: Option<Traffic>,
    pub metrics: Vec<MetricResult>,
    pub error: Option<String>,
}

/// Where an analysis is.
#[derive(Debug, Clone)]
enum Entry {
    Running {
        last: Option<LookReport>,
    },
    Done(Box<Analysis>),
    /// Why it could not decide, and whether Prometheus (upstream) was the cause.
    Failed {
        message: String,
        upstream: bool,
    },
}

/// Runs the analysis of one id to the end (blocking), telling every look to the callback.
pub type Analyser = dyn Fn(&str, &mut dyn FnMut(&LookReport)) -> Result<Analysis, CanaryError> + Send + Sync;

/// The placeholder in `--canary-selector` and `--stable-selector` that each analysis replaces
/// with its id (Argo: the canary's pod-template hash).
pub const ID_PLACEHOLDER: &str = "{id}";

/// `selector` for the analysis `id`. Ids are plain ([`valid_id`]), so the result is still one
/// PromQL string where the placeholder stood.
pub fn selector_for(selector: &str, id: &str) -> String {
    selector.replace(ID_PLACEHOLDER, id)
}

/// The analyses of one server.
#[derive(Clone)]
pub struct Registry {
    entries: Arc<Mutex<BTreeMap<String, Entry>>>,
    analyser: Arc<Analyser>,
}

/// Ids are path segments and log fields: letters, digits, `.`, `_`, `-`; 1 to 200 of them.
pub fn valid_id(id: &str) -> bool {
    (1..=200).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn exit_code(d: Decision) -> u8 {
    match d {
        Decision::Promote => 0,
        Decision::Rollback => 1,
        Decision::Inconclusive | Decision::Continue => 2,
    }
}

fn decision_word(d: Decision) -> &'static str {
    match d {
        Decision::Promote => "promote",
        Decision::Rollback => "rollback",
        // An analysis never ends on `continue` (run::analyse); if it did, it is no promote.
        Decision::Inconclusive | Decision::Continue => "inconclusive",
    }
}

impl Answer {
    /// Running, nothing seen yet.
    fn running(id: &str) -> Answer {
        Answer {
            id: id.to_string(),
            status: "running",
            decision: "running",
            exit_code: None,
            reasons: Vec::new(),
            looks: 0,
            looks_planned: 0,
            stopped_early: false,
            canary: None,
            stable: None,
            metrics: Vec::new(),
            error: None,
        }
    }

    /// No analysis can answer: why, as an error (exit code 2, like `k6gate canary`'s).
    fn error(id: &str, message: String) -> Answer {
        Answer {
            status: "error",
            decision: "error",
            exit_code: Some(2),
            reasons: vec![message.clone()],
            error: Some(message),
            ..Answer::running(id)
        }
    }
}

impl Entry {
    fn answer(&self, id: &str) -> (StatusCode, Answer) {
        let blank = Answer::running(id);
        match self {
            Entry::Running { last } => {
                let mut a = blank;
                if let Some(l) = last {
                    a.looks = l.look.index;
                    a.looks_planned = l.look.planned;
                    a.canary = Some(l.canary);
                    a.stable = Some(l.stable);
                }
                (StatusCode::OK, a)
            }
            Entry::Done(analysis) => {
                let d = analysis.outcome.decision;
                let a = Answer {
                    status: "done",
                    decision: decision_word(d),
                    exit_code: Some(exit_code(d)),
                    reasons: analysis.outcome.reasons.clone(),
                    looks: analysis.looks.len(),
                    looks_planned: analysis.looks_planned,
                    stopped_early: analysis.stopped_early,
                    canary: Some(analysis.canary),
                    stable: Some(analysis.stable),
                    metrics: analysis.metrics.clone(),
                    ..blank
                };
                (StatusCode::OK, a)
            }
            Entry::Failed { message, upstream } => {
                let status = if *upstream { StatusCode::BAD_GATEWAY } else { StatusCode::INTERNAL_SERVER_ERROR };
                (status, Answer::error(id, message.clone()))
            }
        }
    }
}

/// The text of an error with its sources.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl Registry {
    pub fn new(analyser: Arc<Analyser>) -> Registry {
        Registry { entries: Arc::default(), analyser }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The answer for `id`, starting its analysis on first sight. `None`: refused (too many).
    pub fn poll(&self, id: &str) -> Option<(StatusCode, Answer)> {
        let mut entries = self.lock();
        if let Some(e) = entries.get(id) {
            return Some(e.answer(id));
        }
        let running = entries.values().filter(|e| matches!(e, Entry::Running { .. })).count();
        if running >= MAX_RUNNING || entries.len() >= MAX_IDS {
            return None;
        }
        let entry = Entry::Running { last: None };
        let answer = entry.answer(id);
        entries.insert(id.to_string(), entry);
        drop(entries);
        tracing::info!("canary analysis {id}: started");
        let me = self.clone();
        let key = id.to_string();
        let spawned = std::thread::Builder::new().name(format!("canary-{id}")).spawn(move || me.run(&key));
        if let Err(e) = spawned {
            let entry = Entry::Failed { message: format!("starting the analysis: {e}"), upstream: false };
            let answer = entry.answer(id);
            self.lock().insert(id.to_string(), entry);
            return Some(answer);
        }
        Some(answer)
    }

    fn run(&self, id: &str) {
        let mut on_look = |l: &LookReport| {
            if let Some(e @ Entry::Running { .. }) = self.lock().get_mut(id) {
                *e = Entry::Running { last: Some(l.clone()) };
            }
        };
        let entry = match (self.analyser)(id, &mut on_look) {
            Ok(a) => {
                tracing::info!("canary analysis {id}: {}", decision_word(a.outcome.decision));
                Entry::Done(Box::new(a))
            }
            Err(e) => {
                let upstream = matches!(e, CanaryError::Prometheus(_));
                let message = chain(&e);
                tracing::warn!("canary analysis {id}: error: {message}");
                Entry::Failed { message, upstream }
            }
        };
        self.lock().insert(id.to_string(), entry);
    }
}

/// An error that is not an analysis's: a bad id, a full server.
fn refusal(status: StatusCode, id: &str, message: String) -> Response {
    (status, Json(Answer::error(id, message))).into_response()
}

fn answer_for(reg: &Registry, id: &str) -> Result<(StatusCode, Answer), Box<Response>> {
    if !valid_id(id) {
        return Err(Box::new(refusal(
            StatusCode::BAD_REQUEST,
            "",
            "the analysis id must be 1 to 200 letters, digits, '.', '_' or '-'".into(),
        )));
    }
    reg.poll(id).ok_or_else(|| {
        Box::new(refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            id,
            format!("too many analyses (at most {MAX_RUNNING} running, {MAX_IDS} kept); restart the server to forget finished ones"),
        ))
    })
}

async fn argo(State(reg): State<Registry>, Path(id): Path<String>) -> Response {
    match answer_for(&reg, &id) {
        Ok((status, answer)) => (status, Json(answer)).into_response(),
        Err(r) => *r,
    }
}

/// The JSON Flagger POSTs to a webhook (docs.flagger.app/usage/webhooks).
#[derive(Debug, Deserialize)]
pub struct FlaggerPayload {
    pub name: String,
    pub namespace: String,
    #[serde(default)]
    pub phase: String,
    #[serde(default)]
    pub checksum: String,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

impl FlaggerPayload {
    /// The analysis id: `namespace.name.checksum`, or the `id` the webhook's metadata sets.
    pub fn id(&self) -> String {
        match self.metadata.get("id") {
            Some(id) => id.clone(),
            None => [self.namespace.as_str(), self.name.as_str(), self.checksum.as_str()]
                .iter()
                .filter(|s| !s.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("."),
        }
    }
}

/// Which Flagger webhook is asking.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlaggerGate {
    /// 2xx lets Flagger promote: only on a promote.
    ConfirmPromotion,
    /// 2xx makes Flagger roll back: on a rollback, an inconclusive analysis or an error.
    Rollback,
}

/// The status a Flagger webhook answers for `decision`.
pub fn flagger_status(gate: FlaggerGate, decision: &str) -> StatusCode {
    let yes = match gate {
        FlaggerGate::ConfirmPromotion => decision == "promote",
        FlaggerGate::Rollback => matches!(decision, "rollback" | "inconclusive" | "error"),
    };
    if yes { StatusCode::OK } else { StatusCode::CONFLICT }
}

async fn flagger(State(reg): State<Registry>, Path(gate): Path<String>, body: axum::body::Bytes) -> Response {
    let gate = match gate.as_str() {
        "confirm-promotion" => FlaggerGate::ConfirmPromotion,
        "rollback" => FlaggerGate::Rollback,
        other => {
            let m = format!("unknown Flagger gate {other:?} (known: confirm-promotion, rollback)");
            return refusal(StatusCode::NOT_FOUND, "", m);
        }
    };
    let payload: FlaggerPayload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return refusal(StatusCode::BAD_REQUEST, "", format!("not a Flagger webhook payload: {e}")),
    };
    let id = payload.id();
    match answer_for(&reg, &id) {
        Ok((_, answer)) => (flagger_status(gate, answer.decision), Json(answer)).into_response(),
        Err(r) => *r,
    }
}

/// The routes: `/v1/canary/{id}` (GET, POST), `/v1/flagger/{gate}` (POST), `/healthz`.
pub fn router(reg: Registry) -> axum::Router {
    axum::Router::new()
        .route("/v1/canary/{id}", get(argo).post(argo))
        .route("/v1/flagger/{gate}", post(flagger))
        .route("/healthz", get(|| async { "ok\n" }))
        .with_state(reg)
}

/// Serves `reg` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    reg: Registry,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(reg)).with_graceful_shutdown(shutdown).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_fills_the_selectors() {
        assert_eq!(
            selector_for(r#"rollouts_pod_template_hash="{id}""#, "7d9f8c6b5"),
            r#"rollouts_pod_template_hash="7d9f8c6b5""#
        );
        assert_eq!(selector_for(r#"app="shop""#, "x"), r#"app="shop""#);
    }

    #[test]
    fn ids_are_plain() {
        assert!(valid_id("rollout-7d9f8c6b5") && valid_id("shop.prod.abc_1"));
        assert!(!valid_id("") && !valid_id("a/b") && !valid_id("a b") && !valid_id(&"x".repeat(201)));
    }

    #[test]
    fn flagger_only_promotes_on_promote_and_rolls_back_on_anything_bad() {
        use FlaggerGate::*;
        for d in DECISIONS {
            let promote = flagger_status(ConfirmPromotion, d) == StatusCode::OK;
            let rollback = flagger_status(Rollback, d) == StatusCode::OK;
            assert_eq!(promote, d == "promote", "{d}");
            assert_eq!(rollback, !matches!(d, "promote" | "running"), "{d}");
        }
    }

    #[test]
    fn flagger_ids_come_from_the_payload() {
        let p: FlaggerPayload = serde_json::from_str(
            r#"{"name":"shop","namespace":"prod","phase":"Progressing","checksum":"85d557f47b","metadata":{}}"#,
        )
        .unwrap();
        assert_eq!(p.id(), "prod.shop.85d557f47b");
        let p: FlaggerPayload =
            serde_json::from_str(r#"{"name":"shop","namespace":"prod","metadata":{"id":"x1"}}"#).unwrap();
        assert_eq!(p.id(), "x1");
    }
}
