//! Did the run's live series reach Prometheus? k6 exits 0 even when every remote-write push
//! failed, so after a run with remote write the gate asks Prometheus for the run's `k6_vus`
//! (by `testid`, or by test and environment within the run's time when the cardinality policy
//! keeps `testid` off live labels) and reports, as a note, when they are missing.
//!
//! It never decides a verdict and never prints: the answer is a sentence or nothing.

use std::time::Duration;

use super::query::{instant_async, query_base};
use super::remote_write::{Auth, redact_url};
use crate::net::{Attempt, RetryPolicy, TokioClock};

/// The poll: 5 queries 700 ms apart (the last push lands up to a second after k6 exits),
/// within 30 s whatever the queries take.
pub const POLL: RetryPolicy = RetryPolicy {
    attempts: 5,
    backoff: Duration::from_millis(700),
    max_backoff: Duration::from_millis(700),
    budget: Duration::from_secs(30),
};

/// Each query of the poll is one attempt: the poll is the retry.
const ONCE: RetryPolicy = RetryPolicy { attempts: 1, ..POLL };

/// Which live series are the run's: `testid` when it is a live label; else the run-level
/// labels that are (test name, environment), within the run's own time.
#[derive(Debug, Clone, PartialEq)]
pub struct RunSelector {
    /// PromQL label matchers, without braces: `testid="..."`.
    pub matchers: String,
    /// How far back to look, in seconds.
    pub range_s: u64,
}

impl RunSelector {
    pub fn by_run_id(run_id: &str) -> RunSelector {
        RunSelector { matchers: format!("testid=\"{}\"", escape(run_id)), range_s: 3600 }
    }

    /// For a run without `testid` on its live series: its test and environment since it started.
    pub fn by_test(test: &str, environment: &str, range_s: u64) -> RunSelector {
        RunSelector {
            matchers: format!("test_name=\"{}\",environment=\"{}\"", escape(test), escape(environment)),
            range_s: range_s.max(1),
        }
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// Why the run's live series are not in Prometheus, or `None` when they arrived.
/// `rw_url` is the remote-write URL k6 pushed to; the query URL is `query_url`, or derived
/// from it ([`query_base`]).
pub fn series_missing(
    rw_url: &str,
    query_url: Option<&str>,
    tenant: Option<&str>,
    auth: &Auth,
    run: &RunSelector,
) -> Option<String> {
    let base = query_base(rw_url, query_url);
    // A range, not an instant: with stale markers on, a finished test's series are gone
    // from instant queries a few seconds after the end.
    // `k6_vus` exists in every run and carries the run-level tags.
    let promql = format!("count(count_over_time(k6_vus{{{}}}[{}s]))", run.matchers, run.range_s);
    let last = match super::query::client() {
        Err(e) => e.to_string(),
        Ok(client) => {
            let poll = POLL.run(&TokioClock, |_, _| async {
                match instant_async(&client, &base, tenant, auth, &promql, &ONCE).await {
                    Ok(r) if r.first().is_some_and(|(_, n)| *n > 0.0) => Ok(()),
                    Ok(_) => Err(Attempt::Retry {
                        error: format!("no series with {} at {}", run.matchers, redact_url(&base)),
                        retry_after: None,
                    }),
                    Err(e) => Err(Attempt::Retry { error: e.to_string(), retry_after: None }),
                }
            });
            match crate::net::block_on(poll) {
                Ok(Ok(_)) => return None,
                Ok(Err(failed)) => failed.into_error(),
                Err(e) => e.to_string(),
            }
        }
    };
    Some(format!(
        "live metrics did not arrive in Prometheus ({last}); k6 exits 0 even when every remote-write push fails: \
         check {} is reachable, and that Prometheus runs with --web.enable-remote-write-receiver and \
         --enable-feature=native-histograms (without it every push is rejected)",
        redact_url(rw_url)
    ))
}
