//! The adequacy check around k6 (`crate::adequacy`): when the environment declares its
//! production, the rules are read and the target's `/metrics` scraped before k6 starts, and
//! again after it, and the verdict gains the section "Is this test representative?".
//! A scrape that fails is not an error: what it would have measured is unknown, which the
//! policy judges (a fail in prod-sim).

use crate::adequacy::{Measured, Rules, TargetFacts, judge, saturation, scrape};
use crate::history::{RunFilter, RunStore};
use crate::policy::verdict::Verdict;
use crate::render::{Environment, Production};
use crate::summary::RunSummary;

/// What was read before k6 started.
pub(super) struct Before {
    rules: Rules,
    production: Production,
    base_url: String,
    facts: std::result::Result<TargetFacts, String>,
}

/// `None` when the environment declares no production (the verdict then has no section).
/// `rules`: the binding policy's (the base branch's on a pull request), read at the start.
pub(super) fn before(rules: Rules, environment: &Environment) -> Option<Before> {
    let production = environment.production.clone()?;
    let base_url = environment.base_url.clone();
    let facts = read(&base_url);
    if let Err(why) = &facts {
        tracing::warn!("adequacy: the target's facts before the run are unknown: {why}");
    }
    Some(Before { rules, production, base_url, facts })
}

fn read(base_url: &str) -> std::result::Result<TargetFacts, String> {
    let text = scrape::metrics(base_url).map_err(|e| e.to_string())?;
    TargetFacts::from_text(&text).map_err(|e| format!("{base_url}/metrics: {e}"))
}

/// Measures, judges and attaches the section; an error only when the rules cannot be evaluated.
pub(super) fn attach(
    b: &Before,
    environment: &str,
    summary: &RunSummary,
    store: &crate::history::Store,
    now_ns: i64,
    verdict: &mut Verdict,
) -> std::result::Result<(), String> {
    let after = read(&b.base_url);
    let target = match (&b.facts, &after) {
        (Ok(before), Ok(after)) => Ok((before, after)),
        (Err(e), _) => Err(format!("before the run: {e}")),
        (_, Err(e)) => Err(format!("after the run: {e}")),
    };
    let mut measured = Measured::new(summary, target.as_ref().map(|(b, a)| (*b, *a)).map_err(String::as_str));
    // A saturation scenario: this run's steps, else a recent run of the environment's.
    let filter = RunFilter { test: None, environment: Some(environment), limit: Some(saturation::RECENT_RUNS) };
    let recent = store.list_runs(&filter).map_err(|e| e.to_string());
    measured.set_saturation(saturation::seen(
        verdict.saturation.as_ref(),
        recent.as_deref().map_err(Clone::clone),
        now_ns,
    ));
    let mut sources = vec!["k6: peak VUs (one keep-alive connection each) and request latency".to_string()];
    if target.is_ok() {
        sources.push(format!("{}/metrics scraped before and after the run", b.base_url));
    }
    let section = b
        .rules
        .judge(environment, &b.production, &measured, sources)
        .map_err(|e| format!("the adequacy policy could not be evaluated: {e}"))?;
    judge::attach(verdict, section);
    Ok(())
}
