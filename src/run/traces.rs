//! The run's trace breakdown, when its environment declares a trace backend (`traces:`):
//! after k6, k6's side of each trace is written (a root span per traced request, the
//! `measure()` timers under it), the traces are read from Tempo until they settle, each
//! request is attributed, and the breakdown is compared with the baseline's stored one (the
//! baseline run's `verdict.traces`). The gate then judges it with `policies/traces.rego`, the
//! path `evaluate --traces` takes, and the verdict keeps it.
//!
//! Fails closed: a backend that cannot be reached, or that has none of the run's traces, or
//! a k6 output without traced requests, is `Unavailable` with the reason, which fails the run
//! (`traces/unavailable`, kind `data`): missing data, as the policies treat a missing
//! breakdown. Never an empty breakdown that passes.

use std::path::Path;
use std::time::Duration;

use crate::render::TracesConfig;
use crate::traces::client::{OtlpEndpoint, Timer, client_spans};
use crate::traces::tempo::{Settle, Tempo};
use crate::traces::{Attribution, Request, Topology, TraceFindings, TraceState, attribute, summarize};

/// What the run's traces gave.
#[derive(Debug, Clone)]
pub(super) enum Traced {
    Breakdown { findings: Box<TraceFindings>, notes: Vec<String> },
    Unavailable(String),
}

/// Traces fetched at once.
const CONCURRENCY: usize = 8;

/// The breakdown of the run whose k6 JSON output is `k6_out`.
pub(super) fn breakdown(
    cfg: &TracesConfig,
    k6_out: &Path,
    baseline: Option<&TraceFindings>,
    confidence: f64,
    keep: Option<crate::samples::KeepShare>,
) -> Traced {
    match try_breakdown(cfg, k6_out, baseline, confidence, keep) {
        Ok((findings, notes)) => Traced::Breakdown { findings: Box::new(findings), notes },
        Err(why) => Traced::Unavailable(why),
    }
}

fn try_breakdown(
    cfg: &TracesConfig,
    k6_out: &Path,
    baseline: Option<&TraceFindings>,
    confidence: f64,
    keep: Option<crate::samples::KeepShare>,
) -> Result<(TraceFindings, Vec<String>), String> {
    let tempo_shown = crate::net::without_userinfo(&cfg.tempo);
    let (mut requests, mut timers) = crate::ingest::requests::read_client_side(k6_out)
        .map_err(|e| format!("k6's per-request trace ids cannot be read: {e}"))?;
    let mut notes = Vec::new();
    // With the monitoring's sampling, a request whose `traceparent` said "not sampled" has no
    // server spans (the SDKs follow the parent's flag), though the archive keeps it when it
    // failed: only the flagged ones are expected in the backend.
    if let Some(keep) = keep {
        let sampled = |id: &crate::traces::TraceId| keep.keeps_trace(&id.to_string()) != Some(false);
        let before = requests.len();
        requests.retain(|r| r.trace_id.as_ref().is_none_or(sampled));
        for t in &mut timers {
            t.inside.retain(|(id, _)| sampled(id));
        }
        timers.retain(|t| !t.inside.is_empty());
        if requests.len() < before {
            notes.push(format!(
                "traces: {} of {before} request(s) were sent as not sampled (monitoring.keep_share {}): no trace \
                 expected for them",
                before - requests.len(),
                keep.get()
            ));
        }
    }
    let mut ids: Vec<_> = requests.iter().filter_map(|r| r.trace_id).collect();
    ids.sort();
    ids.dedup();
    if ids.is_empty() {
        return Err(format!(
            "k6's output holds {} request(s), none with a trace id in its metadata: the template does not use \
             k6gate's traced http",
            requests.len()
        ));
    }
    if cfg.exports() {
        // k6's roots only complete the traces: attribution is the same without them, so a
        // failed write is said, not fatal.
        if let Some(otlp) = &cfg.otlp {
            match export(otlp, cfg.tenant.clone(), &requests, &timers) {
                Ok(n) => notes.push(format!(
                    "traces: k6's side written to {} ({n} span(s): request roots and measure() timers)",
                    crate::net::without_userinfo(otlp)
                )),
                Err(e) => notes.push(format!(
                    "traces: k6's side could not be written to {}: {e}; the traces have no k6 root",
                    crate::net::without_userinfo(otlp)
                )),
            }
        }
    }
    let tempo = Tempo::new(&cfg.tempo, cfg.tenant.clone()).map_err(|e| e.to_string())?;
    let settle = Settle {
        max_fetches: cfg.settle.fetches,
        interval: Duration::from_millis(cfg.interval_ms()),
        budget: Duration::from_millis(cfg.budget_ms()),
    };
    let settled =
        tempo.settle_all(&ids, settle, CONCURRENCY).map_err(|e| format!("Tempo {tempo_shown} cannot be read: {e}"))?;
    let found = settled.iter().filter(|s| s.last.trace.is_some()).count();
    if found == 0 {
        return Err(format!("Tempo {tempo_shown} has none of the run's {} trace(s)", ids.len()));
    }
    let late: usize = settled.iter().map(|s| s.late_spans).sum();
    let unsettled = settled.iter().filter(|s| s.last.trace.is_some() && !s.stable).count();
    notes.push(format!(
        "traces: {found} of {} trace(s) read from Tempo {tempo_shown}; {late} late span(s), {unsettled} still growing at \
         the last fetch",
        ids.len()
    ));
    let traces: std::collections::BTreeMap<_, _> = settled
        .into_iter()
        .map(|s| {
            let unsettled = s.last.trace.is_some() && !s.stable;
            (s.id, (s.last.trace, TraceState { partial: s.last.partial, unsettled }))
        })
        .collect();
    let topology = Topology {
        expected: std::iter::once(("*".to_string(), cfg.expect.clone())).collect(),
        gateway: cfg.gateway.clone(),
    };
    let attrs: Vec<Attribution> = requests
        .iter()
        .map(|r: &Request| {
            let (trace, state) = r
                .trace_id
                .and_then(|id| traces.get(&id))
                .map_or((None, TraceState::default()), |(t, s)| (t.as_ref(), *s));
            attribute(r, trace, state, &topology)
        })
        .collect();
    let b = summarize(&attrs, confidence);
    let mut findings = TraceFindings::new(&b, &[], &tempo_shown);
    // The slowest requests' waterfalls, and where each trace opens (as `traces --findings`).
    findings.attach_traces(|id| traces.get(&id).and_then(|(t, _)| t.as_ref()));
    findings.trace_link = Some(format!("{}/api/v2/traces/{{trace_id}}", tempo_shown.trim_end_matches('/')));
    match baseline {
        Some(base) => findings.comparison = crate::traces::stored::compare_stored(base, &findings),
        None => notes.push("traces: the baseline has no stored breakdown: nothing to compare with".into()),
    }
    Ok((findings, notes))
}

/// Writes k6's side; the number of spans written.
fn export(url: &str, tenant: Option<String>, requests: &[Request], timers: &[Timer]) -> Result<usize, String> {
    let endpoint = OtlpEndpoint::new(url, tenant).map_err(|e| e.to_string())?;
    let spans = client_spans(requests).with_timers(timers);
    crate::net::block_on(async {
        for doc in spans.docs() {
            endpoint.export(&doc).await?;
        }
        Ok::<_, crate::traces::TraceError>(())
    })
    .map_err(|e| e.to_string())?
    .map_err(|e| e.to_string())?;
    Ok(spans.len())
}
