//! `k6gate traces`: where a run's time went, per component, from its traces (OTLP/JSON files
//! or Tempo) and k6's per-request durations.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use super::{OutputFormat, Settings};
use crate::error::{Error, Exit, Result};
use crate::traces::aggregate::{Bimodality, Breakdown, Comparison, ComponentStats};
use crate::traces::client::Timer;
use crate::traces::tempo::{Settle, Tempo};
use crate::traces::{Attribution, Request, Topology, Trace, TraceId, TraceState, attribute, compare, summarize};

#[derive(Debug, clap::Args)]
pub struct TracesArgs {
    /// The run: k6's JSON output (it holds each request's trace id), or a RunSummary file or
    /// run id together with `--k6-output`.
    pub run: String,
    /// k6's JSON output of the run (plain or .gz), when RUN is a summary or a run id: the
    /// RunSummary does not keep per-request trace ids yet.
    #[arg(long, value_name = "FILE")]
    pub k6_output: Option<PathBuf>,
    /// OTLP/JSON trace files (an OTLP export, Tempo's answers, or JSON Lines of them). Given,
    /// they are read instead of Tempo (even with `K6GATE_TEMPO_URL` set).
    #[arg(long, value_name = "FILE", num_args = 1.., required_unless_present = "tempo")]
    pub otlp: Vec<PathBuf>,
    /// Tempo's query frontend (`http://tempo:3200`): each traced request's trace by id.
    #[arg(long, value_name = "URL", env = "K6GATE_TEMPO_URL")]
    pub tempo: Option<String>,
    /// Tempo tenant (`X-Scope-OrgID`).
    #[arg(long, value_name = "TENANT", env = "K6GATE_TEMPO_TENANT")]
    pub tempo_tenant: Option<String>,
    /// Fetches of each trace at most while it settles (its span count stable twice in a row).
    #[arg(long, default_value_t = 4)]
    pub settle_fetches: u32,
    /// The wait between two fetches of a trace.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub settle_interval: Duration,
    /// Traces fetched at once.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// A component every request is expected to reach (repeatable): without its span, its
    /// time is unknown (`missing_leaf`), never zero.
    #[arg(long = "expect", value_name = "COMPONENT")]
    pub expect: Vec<String>,
    /// The gateway / load balancer component: its span covers the LB's time.
    #[arg(long, value_name = "COMPONENT")]
    pub gateway: Option<String>,
    /// The expected topology as YAML: `expected: {"*": [api, db], "GET /health": [api]}`,
    /// `gateway: gateway`. `--expect` and `--gateway` add to it.
    #[arg(long, value_name = "FILE")]
    pub topology: Option<PathBuf>,
    /// The baseline's k6 JSON output and OTLP/JSON traces, for the per-component comparison.
    #[arg(long, value_name = "FILE", requires = "baseline_otlp")]
    pub baseline_k6_output: Option<PathBuf>,
    #[arg(long, value_name = "FILE", num_args = 1.., requires = "baseline_k6_output")]
    pub baseline_otlp: Vec<PathBuf>,
    /// The level of the quantiles' intervals and of the baseline comparison (1 - α).
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// With `--format json`: each request's breakdown too (parts in nanoseconds, unknown
    /// components with their reasons, clock adjustments).
    #[arg(long)]
    pub per_request: bool,
    /// Writes k6's side of each traced request (one root span: the span id k6 put in
    /// `traceparent`, its start and duration) to this OTLP/HTTP traces endpoint
    /// (`http://tempo:4318/v1/traces`, JSON encoding) before the traces are read, so they have
    /// a real root, and each `measure()` timer as a child span of the roots of the requests
    /// made inside it. Needs the span id in the samples' metadata (`span_id`). With
    /// `--tempo-tenant`, sent as `X-Scope-OrgID`.
    #[arg(long, value_name = "URL", env = "K6GATE_OTLP_TRACES_URL")]
    pub export_client_spans: Option<String>,
    /// Writes the breakdown as the policies judge it (per component: coverage, quantiles, the
    /// comparison with the baseline's) to FILE: the run's trace record, which
    /// `evaluate --traces FILE` judges with the per-component SLAs and coverage floors.
    #[arg(long, value_name = "FILE")]
    pub findings: Option<PathBuf>,
    /// Publishes the breakdown as `k6gate_component_*` series (`src/prom/spans.rs`) by remote
    /// write to URL (Prometheus `/api/v1/write`, Mimir `/api/v1/push`), at the current time.
    #[arg(long, value_name = "URL", requires_all = ["test", "env"])]
    pub publish: Option<String>,
    /// Mimir tenant of `--publish` (`X-Scope-OrgID`).
    #[arg(long, value_name = "TENANT")]
    pub publish_tenant: Option<String>,
    /// The run's test, environment, version and id, as labels of the published series.
    #[arg(long)]
    pub test: Option<String>,
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long)]
    pub deployment_version: Option<String>,
    #[arg(long)]
    pub run_id: Option<String>,
    /// Where the report's slowest requests link to their trace: a URL with `{trace_id}` in it
    /// (Grafana Explore or Tempo). Without it, with `--tempo`, Tempo's
    /// `<URL>/api/v2/traces/{trace_id}`.
    #[arg(long, value_name = "URL", env = "K6GATE_TRACE_LINK")]
    pub trace_link: Option<String>,
}

/// What `--export-client-spans` wrote.
#[derive(Debug, Serialize)]
struct ClientExport {
    url: String,
    /// Roots and `measure()` timer spans.
    spans: usize,
    /// Requests without a span id (or trace id) in their metadata: no root written.
    skipped: usize,
}

/// What Tempo did for the run.
#[derive(Debug, Default, Serialize)]
struct TempoReport {
    url: String,
    traces: usize,
    not_found: usize,
    partial: usize,
    unsettled: usize,
    late_spans: usize,
    fetches: u64,
}

#[derive(Debug, Serialize)]
struct Output<'a> {
    run: &'a str,
    breakdown: &'a Breakdown,
    #[serde(skip_serializing_if = "Option::is_none")]
    tempo: Option<&'a TempoReport>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    comparison: Vec<Comparison>,
    #[serde(skip_serializing_if = "Option::is_none")]
    requests: Option<&'a [Attribution]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    client_spans: Option<ClientExport>,
}

pub fn run(args: &TracesArgs, s: &Settings) -> Result<Exit> {
    if !(0.5..1.0).contains(&args.confidence) {
        return Err(Error::Usage(format!("--confidence {} is not in [0.5, 1)", args.confidence)));
    }
    let topology = topology(args)?;
    let (requests, timers) = requests(args, s)?;
    let traced: Vec<TraceId> = {
        let mut ids: Vec<TraceId> = requests.iter().filter_map(|r| r.trace_id).collect();
        ids.sort();
        ids.dedup();
        ids
    };
    let client_spans = match &args.export_client_spans {
        Some(url) => Some(export_client_spans(url, args, &requests, &timers)?),
        None => None,
    };
    let (traces, tempo) = match args.tempo.as_ref().filter(|_| args.otlp.is_empty()) {
        Some(url) => {
            let (t, report) = from_tempo(url, args, &traced)?;
            (t, Some(report))
        }
        None => (from_files(&args.otlp)?, None),
    };
    let attrs = attribute_all(&requests, &traces, &topology);
    let breakdown = summarize(&attrs, args.confidence);
    let comparison = match &args.baseline_k6_output {
        Some(k6) => {
            let base_requests = crate::ingest::requests::read_requests(k6)?;
            let base = attribute_all(&base_requests, &from_files(&args.baseline_otlp)?, &topology);
            compare(&base, &attrs, 1.0 - args.confidence)
        }
        None => Vec::new(),
    };
    if let Some(path) = &args.findings {
        let source = match (&args.tempo, args.otlp.is_empty()) {
            (Some(url), true) => url.clone(),
            _ => args.otlp.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", "),
        };
        let mut findings = crate::traces::TraceFindings::new(&breakdown, &comparison, &source);
        findings.attach_traces(|id| traces.get(&id).and_then(|(t, _)| t.as_ref()));
        findings.trace_link = trace_link(args)?;
        let json = serde_json::to_string_pretty(&findings).map_err(Error::serialize("trace findings"))?;
        std::fs::write(path, json).map_err(Error::output(path))?;
    }
    if let Some(url) = &args.publish {
        let findings = crate::traces::TraceFindings::new(&breakdown, &comparison, &args.run);
        let identity: Vec<(&str, String)> = [
            ("test_name", &args.test),
            ("environment", &args.env),
            ("deployment_version", &args.deployment_version),
            ("testid", &args.run_id),
        ]
        .into_iter()
        .map(|(n, v)| (n, v.clone().unwrap_or_default()))
        .collect();
        let at_ms = crate::clock::now_ns() / 1_000_000;
        // The same label allowlist as the run's own published series, when the policies have one.
        let data_dir = s.global.policies.join("data");
        let cardinality = match data_dir.is_dir() {
            true => crate::policy::data::load_dirs(&data_dir, Some(&s.global.waivers_dir))?.cardinality,
            false => None,
        };
        let test = args.test.as_deref().unwrap_or_default();
        let series = crate::prom::spans::series_allowed(&findings, &identity, at_ms, test, cardinality.as_ref())
            .map_err(|e| Error::Usage(format!("span metrics: {e}")))?;
        let report = crate::prom::publish::publish(
            url,
            args.publish_tenant.as_deref(),
            &series,
            &crate::prom::remote_write::WriteOptions::default(),
        )
        .map_err(|e| Error::Usage(format!("span metrics were not published to {url}: {e}")))?;
        tracing::info!("published {} span-metric series to {url}", report.series);
    }
    let requests = args.per_request.then_some(attrs.as_slice());
    let out =
        Output { run: &args.run, breakdown: &breakdown, tempo: tempo.as_ref(), comparison, requests, client_spans };
    match args.format {
        OutputFormat::Json => {
            println!("{}", serde_json::to_string_pretty(&out).map_err(Error::serialize("trace breakdown"))?)
        }
        OutputFormat::Text => println!("{}", text(&out)),
    }
    Ok(Exit::Success)
}

/// `--trace-link`, or Tempo's trace-by-id URL when the traces came from Tempo.
fn trace_link(args: &TracesArgs) -> Result<Option<String>> {
    match (&args.trace_link, &args.tempo) {
        (Some(link), _) if !link.contains("{trace_id}") => {
            Err(Error::Usage(format!("--trace-link {link:?} has no {{trace_id}} in it")))
        }
        (Some(link), _) => Ok(Some(link.clone())),
        (None, Some(tempo)) if args.otlp.is_empty() => Ok(Some(format!(
            "{}/api/v2/traces/{{trace_id}}",
            crate::net::without_userinfo(tempo).trim_end_matches('/')
        ))),
        _ => Ok(None),
    }
}

fn topology(args: &TracesArgs) -> Result<Topology> {
    let mut t = match &args.topology {
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|e| Error::input(path, None, format!("cannot read: {e}")))?;
            yaml_serde::from_str::<Topology>(&text).map_err(|e| {
                Error::input(path, e.location().map(|l| l.line() as u64), format!("not a topology: {e}"))
            })?
        }
        None => Topology::default(),
    };
    t.expected.entry("*".into()).or_default().extend(args.expect.iter().cloned());
    if args.gateway.is_some() {
        t.gateway.clone_from(&args.gateway);
    }
    Ok(t)
}

/// The run's requests and `measure()` timers: from `--k6-output`, or from RUN when it is k6's
/// output itself.
fn requests(args: &TracesArgs, s: &Settings) -> Result<(Vec<Request>, Vec<Timer>)> {
    let path = Path::new(&args.run);
    let is_summary = path.is_file() && is_run_summary(path);
    if !path.exists() {
        // A run id: it must exist, though its summary cannot give the trace ids yet.
        crate::load::run(&args.run, &s.history())?;
    }
    let file = match (&args.k6_output, path.is_file() && !is_summary) {
        (Some(k6), _) => k6.as_path(),
        (None, true) => path,
        (None, false) => {
            return Err(Error::Usage(format!(
                "{}: a RunSummary does not keep per-request trace ids yet; pass --k6-output FILE (k6's JSON output of the run)",
                args.run
            )));
        }
    };
    let (requests, timers) = crate::ingest::requests::read_client_side(file)?;
    if requests.is_empty() {
        return Err(Error::input(
            file,
            None,
            "no http_req_duration points: not k6's JSON output of a run with requests",
        ));
    }
    Ok((requests, timers))
}

fn is_run_summary(path: &Path) -> bool {
    use std::io::Read as _;
    let mut head = [0u8; 256];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    String::from_utf8_lossy(head.get(..n).unwrap_or_default()).contains("k6gate.run-summary/")
}

type Traces = BTreeMap<TraceId, (Option<Trace>, TraceState)>;

fn from_files(paths: &[PathBuf]) -> Result<Traces> {
    Ok(crate::traces::otlp::read_files(paths)?.into_iter().map(|t| (t.id, (Some(t), TraceState::default()))).collect())
}

fn from_tempo(url: &str, args: &TracesArgs, ids: &[TraceId]) -> Result<(Traces, TempoReport)> {
    let tempo = Tempo::new(url, args.tempo_tenant.clone())?;
    let settle =
        Settle { max_fetches: args.settle_fetches.max(2), interval: args.settle_interval, ..Settle::default() };
    let settled = tempo.settle_all(ids, settle, args.concurrency)?;
    let mut report =
        TempoReport { url: crate::net::without_userinfo(url), traces: ids.len(), ..TempoReport::default() };
    let mut out = Traces::new();
    for s in settled {
        report.fetches += u64::from(s.fetches);
        report.late_spans += s.late_spans;
        let found = s.last.trace.is_some();
        report.not_found += usize::from(!found);
        report.partial += usize::from(s.last.partial);
        let unsettled = found && !s.stable;
        report.unsettled += usize::from(unsettled);
        out.insert(s.id, (s.last.trace, TraceState { partial: s.last.partial, unsettled }));
    }
    if report.late_spans > 0 || report.unsettled > 0 {
        tracing::warn!(
            "Tempo: {} late span(s); {} trace(s) still growing at the last fetch",
            report.late_spans,
            report.unsettled
        );
    }
    Ok((out, report))
}

/// Writes k6's side: a root per request and each `measure()` timer under the roots of the
/// requests made inside it (as `run` does with a `traces:` block).
fn export_client_spans(url: &str, args: &TracesArgs, requests: &[Request], timers: &[Timer]) -> Result<ClientExport> {
    let endpoint = crate::traces::client::OtlpEndpoint::new(url, args.tempo_tenant.clone())?;
    let spans = crate::traces::client::client_spans(requests).with_timers(timers);
    let skipped = spans.skipped;
    let written = spans.len();
    crate::net::block_on(async {
        for doc in spans.docs() {
            endpoint.export(&doc).await?;
        }
        Ok::<_, crate::traces::TraceError>(())
    })
    .map_err(crate::traces::TraceError::from)??;
    if skipped > 0 {
        tracing::warn!("{skipped} request(s) without a span id in their metadata: no client span written for them");
    }
    Ok(ClientExport { url: crate::net::without_userinfo(url), spans: written, skipped })
}

fn attribute_all(requests: &[Request], traces: &Traces, topology: &Topology) -> Vec<Attribution> {
    requests
        .iter()
        .map(|r| {
            let (trace, state) = r
                .trace_id
                .and_then(|id| traces.get(&id))
                .map_or((None, TraceState::default()), |(t, s)| (t.as_ref(), *s));
            attribute(r, trace, state, topology)
        })
        .collect()
}

fn quantile_cell(c: &ComponentStats, q: f64) -> String {
    match c.quantiles.iter().find(|x| x.q == q) {
        Some(x) => match x.ci_ms {
            Some((lo, hi)) => format!("{:.1} [{lo:.1}, {hi:.1}]", x.ms),
            None => format!("{:.1} [-]", x.ms),
        },
        None => "-".into(),
    }
}

fn modes(c: &ComponentStats, b: &Bimodality) -> String {
    let mut line = format!(
        "  {}: bimodality coefficient {:.2} > 5/9: {:.1} % of requests in the slow mode (above {:.1} ms)",
        c.component,
        b.coefficient,
        b.slow_share * 100.0,
        b.split_ms
    );
    if let Some(d) = &b.driver {
        line.push_str(&format!(
            "; driven by {} (median {:.1} -> {:.1} ms)",
            d.component, d.fast_median_ms, d.slow_median_ms
        ));
    }
    line
}

fn text(out: &Output<'_>) -> String {
    let b = out.breakdown;
    let mut s = format!(
        "{}: where the time goes, {} request(s), {} traced, {} without a trace; intervals at {:.0} % (order statistics)\n",
        out.run,
        b.requests,
        b.traced,
        b.untraced,
        b.confidence * 100.0
    );
    s.push_str(&format!(
        "{:<16} {:>6} {:>24} {:>24} {:>24} {:>8} {:>9}  unknown\n",
        "component", "share", "P50 ms", "P95 ms", "P99 ms", "samples", "coverage"
    ));
    for c in std::iter::once(&b.end_to_end).chain(&b.components) {
        let unknown: Vec<String> = c.unknown_reasons.iter().map(|(r, n)| format!("{r} {n}")).collect();
        s.push_str(&format!(
            "{:<16} {:>5.1}% {:>24} {:>24} {:>24} {:>8} {:>8.1}%  {}\n",
            c.component,
            c.share * 100.0,
            quantile_cell(c, 0.5),
            quantile_cell(c, 0.95),
            quantile_cell(c, 0.99),
            c.samples,
            c.coverage * 100.0,
            unknown.join(", ")
        ));
    }
    let bimodal: Vec<String> = std::iter::once(&b.end_to_end)
        .chain(&b.components)
        .filter_map(|c| c.bimodality.as_ref().filter(|m| m.bimodal).map(|m| modes(c, m)))
        .collect();
    if !bimodal.is_empty() {
        s.push_str(&format!("Two modes:\n{}\n", bimodal.join("\n")));
    }
    s.push_str("Bottleneck by endpoint group:\n");
    for g in &b.groups {
        let share = g.bottleneck.as_ref().and_then(|c| g.shares.get(c)).copied().unwrap_or_default();
        s.push_str(&format!(
            "  {}{} ({} requests): {}\n",
            g.group,
            g.phase.as_ref().map(|p| format!(" [{p}]")).unwrap_or_default(),
            g.requests,
            g.bottleneck.as_ref().map_or("-".to_string(), |c| format!("{c} ({:.0} % of its time)", share * 100.0))
        ));
    }
    if !b.adjustments.is_empty() {
        let adj: Vec<String> = b.adjustments.iter().map(|(k, n)| format!("{k} {n}")).collect();
        s.push_str(&format!("Clock adjustments: {}\n", adj.join(", ")));
    }
    if let Some(t) = out.tempo {
        s.push_str(&format!(
            "Tempo {}: {} trace(s), {} not found, {} partial, {} still growing, {} late span(s), {} fetches\n",
            t.url, t.traces, t.not_found, t.partial, t.unsettled, t.late_spans, t.fetches
        ));
    }
    if !out.comparison.is_empty() {
        let parts: Vec<&str> = out.comparison.iter().map(|c| c.text.as_str()).collect();
        s.push_str(&format!("Against the baseline: {}\n", parts.join(", ")));
    }
    s.trim_end().to_string()
}

/// A trace record written by `traces --findings`; errors name the file and the field path.
pub fn read_findings(path: &Path) -> Result<crate::traces::TraceFindings> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::Usage(format!("{}: {e}", path.display())))?;
    let de = &mut serde_json::Deserializer::from_str(&text);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let (line, col) = (e.inner().line(), e.inner().column());
        Error::Usage(format!("{}:{line}:{col}: {}: {}", path.display(), e.path(), e.inner()))
    })
}
