//! "Is this test representative?" (issue 16): production as the environment declares it
//! (`render::Production`, the `production:` block) against what k6gate measured, judged by
//! `policies/adequacy.rego` into the verdict's section (`policy::representative`).
//!
//! - `exposition.rs`: the Prometheus text format the target serves at `/metrics`, parsed
//!   (hand-written: a few lines; no maintained crate parses the text format without a
//!   registry or an async client around it).
//! - `scrape.rs`: `GET <base_url>/metrics` through `net`, before and after the run. Why the
//!   target itself and not the environment's Prometheus: it works without a monitoring stack
//!   (dev, CI), the counters bracket exactly the run (no scrape interval to wait for), and a
//!   reset between the two scrapes is seen (the counters go down) and reported unknown.
//! - `measure.rs`: the measured facts: peak VUs (users and connections: k6 opens one
//!   keep-alive connection per VU and host) from the RunSummary; rows, bytes, the cache at the
//!   start, third-party calls and the pool's queue from the two scrapes. What cannot be
//!   measured is `null`, with the reason, never a guess. And the interpretation: a pool wait
//!   that is a large share of the latency is named.
//! - `config.rs`: the `adequacy` section of the policy data (min_scale, severity per
//!   environment), typed and located.
//! - `judge.rs`: the Rego input, the rule's findings, the section.

pub mod config;
pub mod exposition;
pub mod judge;
pub mod measure;
pub mod saturation;
pub mod scrape;

pub use config::AdequacyConfig;
pub use judge::Rules;
pub use measure::{Measured, TargetFacts};

/// What can go wrong judging adequacy.
#[derive(Debug, thiserror::Error)]
pub enum AdequacyError {
    #[error(transparent)]
    Policy(#[from] crate::policy::PolicyError),
    /// The target's `/metrics` could not be read.
    #[error("{url}: {message}")]
    Scrape { url: String, message: String },
    #[error(transparent)]
    Net(#[from] crate::net::NetError),
}

/// The section for a run judged after the fact (`k6gate evaluate --production-from`): the
/// target's `/metrics` as captured before and after it (`None`: not captured, its facts are
/// unknown). `source` names the captures in messages.
pub fn from_captures(
    rules: &Rules,
    environment: &str,
    production: &crate::render::Production,
    summary: &crate::summary::RunSummary,
    captures: Option<(&str, &str)>,
    source: &str,
) -> Result<crate::policy::representative::Representative, AdequacyError> {
    let parsed = captures.map(|(b, a)| {
        let before = TargetFacts::from_text(b).map_err(|e| format!("{source} (before): {e}"))?;
        let after = TargetFacts::from_text(a).map_err(|e| format!("{source} (after): {e}"))?;
        Ok::<_, String>((before, after))
    });
    let target = match &parsed {
        Some(Ok((b, a))) => Ok((b, a)),
        Some(Err(e)) => Err(e.as_str()),
        None => Err("no capture of the target's /metrics was given (--target-metrics BEFORE AFTER)"),
    };
    let measured = Measured::new(summary, target);
    let mut sources = vec!["k6: peak VUs (one keep-alive connection each) and request latency".to_string()];
    if matches!(parsed, Some(Ok(_))) {
        sources.push(format!("{source}: the target's /metrics captured before and after the run"));
    }
    rules.judge(environment, production, &measured, sources)
}
