//! k6gate's errors and the exit codes they map to.
//!
//! Every failure is a typed variant that keeps its cause as a `#[source]`; the CLI prints the
//! whole chain once, at the edge ([`report`]). Exit codes follow conftest and ripgrep: 0 the
//! gate passed (or warned), 1 the gate said no, 2 anything else. Nothing but a decided
//! verdict (or a failing policy unit test, or a change point in the history nobody reviewed)
//! ever exits 1, so a pipeline can tell "blocked" from "broken".

use std::fmt::Write as _;
use std::path::PathBuf;

/// Exit codes in the conftest/ripgrep tradition.
pub mod exit {
    /// Pass or warn: the deployment may go on.
    pub const OK: i32 = 0;
    /// The gate said no: a result, not a crash.
    pub const GATE_FAILED: i32 = 1;
    /// Usage, configuration, policy, input or service error: nothing was decided.
    pub const ERROR: i32 = 2;

    /// Every exit code and what it means, as the README's table shows it.
    pub const TABLE: [(i32, &str); 3] = [
        (OK, "pass or warn: the deployment may go on; a canary analysis promotes"),
        (
            GATE_FAILED,
            "the gate said no: a failing verdict, an incomplete run, an unreviewed change point in the history, a \
             failing policy unit test, or a canary to roll back",
        ),
        (
            ERROR,
            "nothing was decided: bad usage, input, configuration or policy, k6 or a service failed, a load test was \
             refused before it started (outside its off-peak windows, a failing preflight check), or the run was \
             inconclusive (a saturated load generator) or so was a canary analysis (too little traffic, missing data)",
        ),
    ];
}

/// What a command ended with when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Pass, warn, or a command that has no verdict and did its job.
    Success,
    /// The gate said no.
    Blocked,
    /// The verdict is inconclusive (the load generator was saturated), or a canary analysis
    /// could not tell (too little traffic, missing data): nothing was decided.
    Inconclusive,
}

impl Exit {
    pub fn code(self) -> i32 {
        match self {
            Exit::Success => exit::OK,
            Exit::Blocked => exit::GATE_FAILED,
            Exit::Inconclusive => exit::ERROR,
        }
    }
}

/// An outside service k6gate talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    GitHub,
    Grafana,
    Prometheus,
    Webhook,
    Git,
    DemoShop,
    /// The system under test (`base_url`).
    Target,
}

impl std::fmt::Display for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Service::GitHub => "GitHub",
            Service::Grafana => "Grafana",
            Service::Prometheus => "Prometheus/Mimir",
            Service::Webhook => "webhook",
            Service::Git => "git",
            Service::DemoShop => "demo shop",
            Service::Target => "the target",
        })
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file k6gate was given cannot be used. `line` is 1-based.
    #[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Input { path: PathBuf, line: Option<u64>, message: String },
    /// Flags or settings that cannot work: a value out of range, a missing setting.
    #[error("{0}")]
    Usage(String),
    /// A run whose series would exceed its cardinality budget; k6 was not started.
    #[error(
        "{file}:{line}: a run of {test} would create up to {estimate} series, over its budget of {budget} \
         (cardinality.series_budget); k6 was not started. {breakdown}"
    )]
    OverBudget { test: String, estimate: u64, budget: u64, file: String, line: u64, breakdown: String },
    /// A run whose series cannot be bounded while a budget applies; k6 was not started.
    #[error("{file}:{line}: a run of {test} has a series budget of {budget}, and {reason}; k6 was not started")]
    SeriesUnbounded { test: String, budget: u64, file: String, line: u64, reason: String },
    /// A load test refused before anything started: outside the environment's off-peak
    /// windows, or a preflight check failed. `reschedule` says when to try again.
    #[error("{reason}; {reschedule}; nothing was started")]
    Refused { reason: String, reschedule: String },
    /// A policy, policy data or Rego problem (located: `file:line:col: ...`).
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The run history (it names its database file).
    #[error(transparent)]
    History(#[from] crate::history::HistoryError),
    /// Retention (`history prune`): a store that cannot be pruned, or a prune refused.
    #[error(transparent)]
    Retention(#[from] crate::retention::RetentionError),
    /// The archive (`archive`, `history import`, a prune moving runs): a store that cannot be
    /// reached, an object that differs or does not parse.
    #[error(transparent)]
    Archive(#[from] crate::archive::ArchiveError),
    /// k6 results that cannot be read (located `file:line` when a line is to blame).
    #[error(transparent)]
    Ingest(#[from] crate::ingest::IngestError),
    /// Traces that cannot be read: an OTLP/JSON file (named with the field) or Tempo.
    #[error(transparent)]
    Traces(#[from] crate::traces::TraceError),
    /// A template or environment that cannot render (located like ingest errors).
    #[error(transparent)]
    Render(#[from] crate::render::RenderError),
    #[error("cannot write {}", path.display())]
    Output {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// k6 is missing, would not start, or could not be waited for.
    #[error("k6: {message}")]
    K6 {
        message: String,
        #[source]
        source: Option<std::io::Error>,
    },
    /// A document k6gate made cannot be serialized (a bug, never a verdict).
    #[error("cannot serialize the {what}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    /// The run was recorded, but k6, ingest or the policies broke: nothing was decided.
    #[error("run {run_id} ended in error: {reason}")]
    RunFailed { run_id: String, reason: String },
    /// An output that must succeed did not: a verdict that was not reported.
    #[error("{service}: {reason}")]
    NotDelivered { service: Service, reason: String },
    /// An outside service failed; `action` says what k6gate was doing.
    #[error("{service}: {action}")]
    Service {
        service: Service,
        action: String,
        #[source]
        source: BoxError,
    },
}

impl Error {
    pub fn input(path: impl Into<PathBuf>, line: Option<u64>, message: impl Into<String>) -> Error {
        Error::Input { path: path.into(), line, message: message.into() }
    }

    pub fn service(service: Service, action: impl Into<String>, source: impl Into<BoxError>) -> Error {
        Error::Service { service, action: action.into(), source: source.into() }
    }

    pub fn serialize(what: &'static str) -> impl FnOnce(serde_json::Error) -> Error {
        move |source| Error::Serialize { what, source }
    }

    pub fn output(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
        let path = path.into();
        move |source| Error::Output { path, source }
    }

    /// Every error exits 2: only a decided verdict says no (exit 1).
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Input { .. }
            | Error::Usage(_)
            | Error::OverBudget { .. }
            | Error::SeriesUnbounded { .. }
            | Error::Refused { .. }
            | Error::Policy(_)
            | Error::History(_)
            | Error::Retention(_)
            | Error::Archive(_)
            | Error::Ingest(_)
            | Error::Render(_)
            | Error::Traces(_)
            | Error::Output { .. }
            | Error::K6 { .. }
            | Error::Serialize { .. }
            | Error::RunFailed { .. }
            | Error::NotDelivered { .. }
            | Error::Service { .. } => exit::ERROR,
        }
    }
}

/// `error: ...` with each cause on its own line, each said once: older error types that
/// already print their source inside their own message are not repeated.
pub fn report(e: &(dyn std::error::Error + 'static)) -> String {
    format!("error: {}", chain(e))
}

/// The error and its causes, without the `error:` label (for notes and warnings).
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut said = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let line = s.to_string();
        if !line.is_empty() && !said.contains(&line) {
            let _ = write!(text, "\n  caused by: {line}");
            said.push_str(&line);
        }
        source = s.source();
    }
    text
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_chain_is_printed_once() {
        let io = std::io::Error::other("disk full");
        let e = Error::Output { path: "/x/verdict.json".into(), source: io };
        assert_eq!(report(&e), "error: cannot write /x/verdict.json\n  caused by: disk full");
        let e = Error::service(Service::GitHub, "creating the check run", "HTTP 422: invalid sha");
        assert_eq!(report(&e), "error: GitHub: creating the check run\n  caused by: HTTP 422: invalid sha");
    }

    #[test]
    fn a_source_already_in_the_message_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: {source}")]
        struct Outer {
            source: std::io::Error,
        }
        let e = Outer { source: std::io::Error::other("inner") };
        assert_eq!(report(&e), "error: outer: inner");
    }

    #[test]
    fn only_a_decision_exits_1() {
        assert_eq!(Exit::Blocked.code(), exit::GATE_FAILED);
        assert_eq!(Exit::Success.code(), exit::OK);
        assert_eq!(Error::Usage("x".into()).exit_code(), exit::ERROR);
        assert_eq!(exit::TABLE.map(|(c, _)| c), [0, 1, 2]);
    }
}

#[cfg(test)]
mod readme {
    /// The README's exit-code table says what [`exit::TABLE`](super::exit::TABLE) says.
    #[test]
    fn the_readme_table_matches_the_code() {
        let readme = include_str!("../README.md");
        let section = readme.split("## Exit codes").nth(1).unwrap_or_default();
        let rows: Vec<(i32, String)> = section
            .lines()
            .skip_while(|l| !l.starts_with("|------"))
            .skip(1)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                Some((cells.first()?.parse().ok()?, cells.get(1)?.to_string()))
            })
            .collect();
        let code: Vec<(i32, String)> = super::exit::TABLE.iter().map(|(c, m)| (*c, m.to_string())).collect();
        assert_eq!(rows, code, "README.md's exit-code table and src/error.rs disagree");
    }
}
