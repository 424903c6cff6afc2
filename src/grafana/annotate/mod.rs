//! Grafana annotations for runs and baselines, and the disk queue that keeps them while
//! Grafana cannot take them.
//!
//! A run becomes a region annotation from its start to its end, tagged `k6gate`, `run`,
//! `test:<name>`, `env:<environment>`, `version:<deployment version>`, `verdict:<outcome>` and
//! `run:<id>`; a baseline gets its own annotation tagged `k6gate` and `baseline`; a change
//! point in a test's history is a point tagged `k6gate`, `change-point`, `metric:<name>` and
//! the rest; a canary analysis is a point at its start and a region to its decision, tagged
//! `k6gate`, `canary`, `canary:<name>`, `stage:start|decision` and `decision:<word>`. All are
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
//!
//! The parts: [`model`] builds annotations (no IO), [`client`] posts one (the only code that
//! knows the HTTP request), [`queue`] keeps what Grafana did not take and flushes it.
//! This file only re-exports them, so `grafana::annotate::X` paths keep working.

pub mod client;
pub mod model;
pub mod queue;

pub use client::{AnnotateError, ConfigError, ENV_DASHBOARD_UID, ENV_TOKEN, ENV_URL, GrafanaConfig, Token, post};
pub use model::{
    Annotation, BaselineFacts, CanaryFacts, RunFacts, baseline_annotation, canary_annotation, change_point_annotation,
    ns_to_ms_ceil, ns_to_ms_floor, run_annotation,
};
pub use queue::{
    FlushReport, NotQueued, Outcome, QUEUE_DIR, QUEUE_FORMAT, Queue, QueueError, QueuedAnnotation, flush, send_or_queue,
};
