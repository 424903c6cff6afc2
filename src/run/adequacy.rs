//! The adequacy check around k6 (`crate::adequacy`): when the environment declares its
//! production, the rules are read and the target's `/metrics` scraped before k6 starts, and
//! again after it, and the verdict gains the section "Is this test representative?".
//! A scrape that fails is not an error: what it would have measured is unknown, which the
//! policy judges (a fail in prod-sim).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

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
    connections: Sampler,
}

/// The target's open connections, scraped once a second from before k6 starts until the
/// section is judged: the peak is what production's connections are compared with. The
/// scrape's own connection is open while the target counts, so one is taken off each sample.
struct Sampler {
    stop: Arc<AtomicBool>,
    /// The peak so far, or why there is none.
    peak: Arc<Mutex<std::result::Result<Option<f64>, String>>>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl Sampler {
    fn start(base_url: &str) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let peak: Arc<Mutex<std::result::Result<Option<f64>, String>>> = Arc::new(Mutex::new(Ok(None)));
        let (s, p, url) = (Arc::clone(&stop), Arc::clone(&peak), base_url.to_string());
        let handle = std::thread::Builder::new()
            .name("adequacy-connections".into())
            .spawn(move || {
                while !s.load(Ordering::SeqCst) {
                    let seen = read(&url).and_then(|f| {
                        f.open_connections.ok_or_else(|| format!("{url}/metrics has no k6gate_shop_open_connections"))
                    });
                    if let Ok(mut peak) = p.lock() {
                        *peak = match (&*peak, seen) {
                            (Ok(was), Ok(now)) => Ok(Some(was.unwrap_or(0.0_f64).max(now - 1.0))),
                            // A failed scrape after good ones keeps the peak; none good: why.
                            (Ok(Some(was)), Err(_)) => Ok(Some(*was)),
                            (_, Err(why)) => Err(why),
                            (Err(_), Ok(now)) => Ok(Some((now - 1.0).max(0.0))),
                        };
                    }
                    // Sleep in small slices so that stopping is prompt.
                    for _ in 0..10 {
                        if s.load(Ordering::SeqCst) {
                            break;
                        }
                        std::thread::sleep(std::time::Duration::from_millis(100));
                    }
                }
            })
            .map_err(|e| {
                if let Ok(mut p) = peak.lock() {
                    *p = Err(format!("the sampler of the target's open connections could not start: {e}"));
                }
            })
            .ok();
        Sampler { stop, peak, handle: Mutex::new(handle) }
    }

    /// Stops the sampling and returns the peak.
    fn finish(&self) -> std::result::Result<f64, String> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.lock().ok().and_then(|mut h| h.take()) {
            let _ = h.join();
        }
        match self.peak.lock().map(|p| p.clone()) {
            Ok(Ok(Some(peak))) => Ok(peak),
            Ok(Ok(None)) => Err("no scrape of the target's open connections finished during the run".into()),
            Ok(Err(why)) => Err(why),
            Err(_) => Err("the connection sampler failed".into()),
        }
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
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
    let connections = Sampler::start(&base_url);
    Some(Before { rules, production, base_url, facts, connections })
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
    let target_connections = b.connections.finish();
    let after = read(&b.base_url);
    let target = match (&b.facts, &after) {
        (Ok(before), Ok(after)) => Ok((before, after)),
        (Err(e), _) => Err(format!("before the run: {e}")),
        (_, Err(e)) => Err(format!("after the run: {e}")),
    };
    let mut measured = Measured::new(summary, target.as_ref().map(|(b, a)| (*b, *a)).map_err(String::as_str));
    measured.set_target_connections(target_connections);
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
        sources.push(format!(
            "{}/metrics scraped before and after the run, and its open connections once a second during it",
            b.base_url
        ));
    }
    let section = b
        .rules
        .judge(environment, &b.production, &measured, sources)
        .map_err(|e| format!("the adequacy policy could not be evaluated: {e}"))?;
    judge::attach(verdict, section);
    Ok(())
}
