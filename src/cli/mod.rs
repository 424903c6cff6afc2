//! The command line: argument types here, the work in the library modules. Settings are
//! resolved once ([`settings`]); each command's file turns them into library calls and
//! prints the result. Only this module prints.

mod announce;
mod archive;
mod canary;
mod canary_report;
mod demo;
mod evaluate;
mod github;
mod grafana;
mod guard;
mod history;
mod history_stats;
mod ingest;
mod logging;
mod nightly;
mod preflight;
mod profile;
mod render;
mod run;
mod scale;
mod serve;
pub mod settings;
mod stack;
mod traces;
mod who;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use crate::compare::Phase;
use crate::error::{Exit, Result, exit};
pub use settings::{Approval, GlobalArgs, Settings};

#[derive(Debug, Parser)]
#[command(name = "k6gate", version, about = "Policy-as-code quality gate for k6 load tests")]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(flatten)]
    pub log: logging::LogArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize k6 results (JSON or CSV output, plain or .gz; or a k6 summary) phase by phase.
    Ingest(IngestArgs),
    /// Compare a run with its baseline and decide pass, warn or fail under the policies.
    /// Exit 0 = pass or warn, 1 = fail (deployment blocked), 2 = usage, policy or input error.
    Evaluate(EvaluateArgs),
    /// Side-by-side comparison of two runs, without a policy verdict.
    Compare(CompareArgs),
    /// Policy development: run Rego unit tests, validate data files.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Render a test's k6 script for an environment.
    Render(RenderArgs),
    /// The main job: render, run k6, ingest, compare with the baseline, evaluate the
    /// policies, write the run directory and record the run. Exit codes as `evaluate`.
    Run(RunArgs),
    /// Canary analysis: compare a canary with the stable version from Prometheus, one look per
    /// interval, under the canary rules (policies/canary.rego). Exit 0 = promote, 1 = roll
    /// back, 2 = inconclusive or error (too little traffic or missing data is never a promote).
    Canary(Box<CanaryCommandArgs>),
    /// List recorded runs; `history changepoints`: shifts in a test's history.
    History(HistoryArgs),
    /// The run store in the browser: the run list with filters, any two runs compared
    /// (`/compare/BASE/CAND`), a run against its baseline with its verdict (`/runs/ID`).
    /// Loopback only unless a token is given. Runs until interrupted.
    Serve(ServeArgs),
    /// Export the runs past their retention class's hot period (`archive_days` in
    /// policies/data/retention.yaml) to the archive (`--archive URL`): gzip JSON Lines in
    /// Hive-style partitions (test=/env=/date=), one line per run, phase and group with the
    /// sketches, and each run's document for `history import`. Idempotent: objects already
    /// there are left as they are; one with different content is an error, never overwritten.
    Archive(ArchiveArgs),
    /// The scheduled job: `run`, then `history changepoints` over the test's history with the
    /// new run in it. Exits with the worse of the two (0, 1 blocked or an unreviewed change
    /// point, 2 error).
    Nightly(NightlyArgs),
    /// Pin, unpin or show the baseline of a test in an environment.
    #[command(subcommand)]
    Baseline(BaselineCommand),
    /// The whole job on this machine: a demo shop, two k6 runs, a regression blocked, then
    /// allowed by a migration window. Needs k6 (scripts/demo.sh installs it).
    Demo(DemoArgs),
    /// Remote-write a run's summary to Prometheus/Mimir (p50/p95/p99, error ratio, request
    /// rate and duration per phase and group), for long-term history.
    Publish(PublishArgs),
    /// Grafana: provisioning files, annotations, embeddable panel URLs.
    #[command(subcommand)]
    Grafana(GrafanaCommand),
    /// The demo shop service (login, products, cart, checkout on SQLite).
    Target(k6gate_shop::TargetArgs),
    /// Print the JSON Schema of the RunSummary document.
    Schema,
    /// Report a verdict where engineers look.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Where the time goes: each request's k6 duration split into its components' self time
    /// along the trace's critical path (OTLP/JSON files or Tempo), with per-component
    /// quantiles, coverage, bottlenecks, bimodality and a baseline comparison.
    Traces(Box<traces::TracesArgs>),
    /// Announce a blocked deployment on the configured webhook (escalating when the same
    /// service keeps being blocked). `run` does this by itself.
    Notify(NotifyArgs),
    /// The history of waivers, migration windows, SLAs and budgets from git: what changed,
    /// who proposed it, who approved it, which PR, when; and whether each current waiver and
    /// window is honoured.
    Audit(AuditArgs),
    /// The monitoring stack reserved for load tests.
    #[command(subcommand)]
    Stack(StackCommand),
    /// Before a load test: the environment's monitoring stack (Prometheus query SLA, rule
    /// evaluation, both Alertmanagers clustered with the watchdog alert, Grafana), the target's
    /// error rate and latency from its metrics, the off-peak window and the environment's lock,
    /// under `guard.preflight` of the policy data. `run` does this by itself when the
    /// environment declares `monitoring`. Exit 0 = every check passed, 2 = refused (the
    /// reasons and a time to reschedule on stderr) or an error.
    Preflight(PreflightArgs),
    /// Production's traffic from its Prometheus: `profile from-prometheus --env ENV` writes the
    /// weighted mix and burst pattern to `environments/traffic/<ENV>.yaml`.
    #[command(subcommand)]
    Profile(profile::ProfileCommand),
    /// After a run: production's per-endpoint latency (P50/P95) and error rate over a window as
    /// long as the run's steady phase, against the run's own; where production is slower and
    /// by how much, recorded beside the run (`validation-<ENV>.json`).
    Validate(profile::ValidateArgs),
    /// Scale model of a saturation run (the `saturation` template's `step-<VUs>` phases): the
    /// Universal Scalability Law fitted to throughput per step, the measured capacity and the
    /// knee with 90 % intervals, and the latency expected at `--users` (or "too uncertain").
    Scale(scale::ScaleArgs),
    /// The load-test guard's own state: `guard restore` puts back the Grafana folder
    /// permissions a run saved before making them view-only (after a crash or a kill).
    #[command(subcommand)]
    Guard(GuardCommand),
}

#[derive(Debug, Subcommand)]
pub enum GuardCommand {
    /// Put back every Grafana folder's permissions still saved in the store (the Grafana of
    /// K6GATE_GRAFANA_URL). Exit 0 when none are left, 2 when some could not be restored.
    Restore,
}

#[derive(Debug, clap::Args)]
pub struct PreflightArgs {
    #[arg(long)]
    pub env: String,
    /// Where environments/<ENV>.yaml (with its `monitoring` section) is.
    #[arg(long, default_value = "environments")]
    pub environments: PathBuf,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// The time the off-peak windows are judged at (RFC 3339), instead of now. For tests.
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum StackCommand {
    /// Write a load-test Prometheus (remote-write receiver, native histograms, out-of-order
    /// window, the dashboards' recording rules, an always-firing watchdog), two clustered
    /// Alertmanagers, the Grafana provisioning pointing at them, a start script and a compose
    /// file into DIR. Check them with promtool and amtool (DIR/README.md).
    Generate(StackGenerateArgs),
    /// A query cache with a circuit breaker in front of one Prometheus, for dashboards and
    /// the guard's reads during a load test: cached, coalesced, step-aligned queries; the
    /// last good answer, marked stale, when Prometheus fails or is slow; its own /metrics.
    Proxy(StackProxyArgs),
}

#[derive(Debug, clap::Args)]
pub struct StackProxyArgs {
    /// The Prometheus behind the proxy (its root URL; Mimir: its /prometheus path).
    #[arg(long, value_name = "URL", default_value = "http://127.0.0.1:9090")]
    pub upstream: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9091")]
    pub listen: std::net::SocketAddr,
    /// How long an answer is served from the cache.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub ttl: std::time::Duration,
    /// The same while a load test runs (see --env and --during-test).
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub test_ttl: std::time::Duration,
    /// A test runs while this environment's lease is held in the history (`run` takes it).
    #[arg(long, value_name = "ENV")]
    pub env: Option<String>,
    /// Use --test-ttl all the time.
    #[arg(long)]
    pub during_test: bool,
    /// An upstream answer slower than this counts against the breaker. Default: the guard's
    /// preflight `query_sla_ms` in the policy data, else 500ms.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub sla: Option<std::time::Duration>,
    /// The most one upstream call may take.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub upstream_timeout: std::time::Duration,
    /// Consecutive failed or slow upstream calls that open the breaker.
    #[arg(long, default_value_t = 3)]
    pub failures_to_open: u32,
    /// How long the breaker stays open before it probes the upstream again.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    pub cool_down: std::time::Duration,
    /// MiB of answers kept (fresh ones, and as many last good ones).
    #[arg(long, default_value_t = 256)]
    pub max_cache_mib: u64,
    /// The oldest last good answer served as stale while Prometheus cannot answer.
    #[arg(long, default_value = "1h", value_parser = humantime::parse_duration)]
    pub max_stale: std::time::Duration,
    /// A header for every upstream call, NAME=VALUE (Mimir's X-Scope-OrgID, Authorization);
    /// repeatable. Values are secrets: prefer the environment variable, comma-separated.
    #[arg(
        long = "upstream-header",
        value_name = "NAME=VALUE",
        env = "K6GATE_PROXY_UPSTREAM_HEADERS",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub upstream_headers: Vec<String>,
    /// Move instant queries' `time` down to a multiple of this, so that dashboards refreshing
    /// instant panels (Grafana sends time=now) share answers; each answer carries the instant
    /// it was evaluated at. Off by default.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub instant_align: Option<std::time::Duration>,
}

#[derive(Debug, clap::Args)]
pub struct StackGenerateArgs {
    #[arg(long)]
    pub out: PathBuf,
    /// Address every component listens on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 9090)]
    pub prometheus_port: u16,
    /// The two Alertmanagers' HTTP ports.
    #[arg(long, value_delimiter = ',', default_values_t = [9093, 9094])]
    pub alertmanager_ports: Vec<u16>,
    /// The two Alertmanagers' cluster (gossip) ports.
    #[arg(long, value_delimiter = ',', default_values_t = [9194, 9195])]
    pub cluster_ports: Vec<u16>,
    #[arg(long, default_value_t = 3000)]
    pub grafana_port: u16,
    /// Where the Alertmanagers send notifications (written into alertmanager.yml).
    #[arg(long, env = "K6GATE_STACK_WEBHOOK_URL", default_value = "http://127.0.0.1:9099/k6gate-alerts")]
    pub webhook_url: String,
    /// A scrape job, JOB=HOST:PORT[,HOST:PORT]: the target under test (its /metrics).
    #[arg(long = "scrape", value_name = "JOB=HOST:PORT")]
    pub scrape: Vec<crate::stack::ScrapeTarget>,
    #[arg(long, default_value = "5s")]
    pub scrape_interval: String,
    #[arg(long, default_value = "15s")]
    pub evaluation_interval: String,
    /// How often Prometheus resends firing alerts: bounds an alert's delay after an outage.
    #[arg(long, default_value = "1m")]
    pub resend_delay: String,
    #[arg(long, default_value = "30d")]
    pub out_of_order_window: String,
    /// Alertmanager's group_wait before a group's first notification.
    #[arg(long, default_value = "10s")]
    pub group_wait: String,
    /// Add `k6gate stack proxy` on this port (its flags in proxy.args) and point Grafana's
    /// Prometheus datasource at it.
    #[arg(long)]
    pub proxy_port: Option<u16>,
    /// The share of traces without an error that otel/tail-sampling.yaml keeps (percent).
    #[arg(long, default_value_t = 10.0)]
    pub trace_sample_percent: f64,
}

/// What a run's load test runs against (`run --measured`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Measured {
    /// Whatever the environment already runs: not necessarily the change under review.
    Existing,
    /// The build under review, deployed before the test.
    Deployed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportTarget {
    Github,
}

#[derive(Debug, Subcommand)]
pub enum ReportCommand {
    /// Check run on the commit (or a commit status when the token cannot write checks), one
    /// PR comment updated in place, and inside Actions the job summary and `::error::` lines.
    /// Context from GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_SHA, GITHUB_EVENT_PATH,
    /// GITHUB_TOKEN. Exit 0 = reported pass/warn, 1 = reported fail, 2 = not reported.
    Github(ReportGithubArgs),
}

/// A verdict to report, and what its links are made of.
#[derive(Debug, clap::Args)]
pub struct VerdictArgs {
    /// The verdict JSON (`verdict.json` in a run directory, or `evaluate --output`), or a run
    /// id from the history (its verdict, summary and id come along).
    #[arg(long)]
    pub verdict: String,
    /// The candidate's RunSummary, for the Grafana link's time range.
    #[arg(long)]
    pub summary: Option<PathBuf>,
    /// The run id, for links and the check run's external id.
    #[arg(long)]
    pub run_id: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct ReportGithubArgs {
    #[command(flatten)]
    pub input: VerdictArgs,
}

#[derive(Debug, clap::Args)]
pub struct NotifyArgs {
    #[command(flatten)]
    pub input: VerdictArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuditFormat {
    Markdown,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    /// Only changes from this date on (RFC 3339 or YYYY-MM-DD).
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long, value_enum, default_value_t = AuditFormat::Markdown)]
    pub format: AuditFormat,
    /// Evaluation time for expiry (RFC 3339 or YYYY-MM-DD); default: now.
    #[arg(long)]
    pub now: Option<String>,
    /// Read git only: no PR lookups, current waivers not verified.
    #[arg(long)]
    pub offline: bool,
    /// The load tests' audit trail (runs, refusals, guard actions, read-only switches and
    /// restores, teardown results) from the store, beside the commits to the policy files.
    #[arg(long)]
    pub trail: bool,
    /// With the trail: one environment's entries only (implies --trail).
    #[arg(long)]
    pub env: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    #[arg(long)]
    pub test: String,
    #[arg(long)]
    pub env: String,
    /// `auto` (pinned run, else the latest passing run on the default branch), a RunSummary
    /// or k6 output file, or a run id.
    #[arg(long, default_value = "auto")]
    pub baseline: String,
    /// The previous run inside a migration window (file or run id), for the ratchet.
    #[arg(long)]
    pub previous: Option<String>,
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The version running in the target: the one the pipeline deployed for this run, or
    /// what is known to be there already.
    #[arg(long = "deployment-version", env = "K6GATE_DEPLOYMENT_VERSION", default_value = "unknown")]
    pub deployment_version: String,
    /// What the load test runs against: `deployed` (the build under review, deployed for this
    /// run) or `existing` (whatever the environment already runs). Default: `deployed` when
    /// `--deployment-version` names a version, else `existing`. A pull request's run that
    /// measured `existing` says so first in its verdict and check run.
    #[arg(long, value_enum, env = "K6GATE_MEASURED")]
    pub measured: Option<Measured>,
    #[arg(long)]
    pub commit: Option<String>,
    /// The branch this run is on (default: GITHUB_HEAD_REF/GITHUB_REF_NAME or `git branch --show-current`).
    #[arg(long)]
    pub branch: Option<String>,
    #[command(flatten)]
    pub phase: PhaseArg,
    #[command(flatten)]
    pub sources: TemplateArgs,
    #[arg(long, value_enum, default_value_t = VerdictFormat::Text)]
    pub format: VerdictFormat,
    /// Send live metrics to Prometheus (`.../api/v1/write`) or Mimir (`.../api/v1/push`)
    /// during the run, and publish the summary after it.
    #[arg(long, env = "K6GATE_PROMETHEUS_RW_URL")]
    pub remote_write: Option<String>,
    /// Mimir tenant (`X-Scope-OrgID`).
    #[arg(long, env = "K6GATE_MIMIR_TENANT")]
    pub tenant: Option<String>,
    /// Also report to GitHub (check run, PR comment, job summary); see `report github`.
    #[arg(long, value_enum)]
    pub report: Vec<ReportTarget>,
    /// Start without a baseline on purpose: the first run of a test in an environment, or a
    /// new start after the history was lost. Without it, no baseline is an error (exit 2).
    #[arg(long)]
    pub bootstrap: bool,
    /// Re-run a FAIL near its budget up to N times and judge the candidate with every re-run
    /// (each re-run is recorded). Default: the policy's `budgets.history.confirm_in_ci` in CI
    /// (`CI=true` or GitHub Actions), 0 elsewhere. A clear FAIL is never re-run.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(0..=5))]
    pub confirm: Option<u32>,
    /// How long to wait for another run against the same environment to finish before
    /// refusing (exit 2, naming it).
    #[arg(long = "lock-wait", default_value = "10m", value_parser = humantime::parse_duration, env = "K6GATE_LOCK_WAIT")]
    pub lock_wait: std::time::Duration,
    /// Start outside the environment's off-peak windows. Honoured only when its policy says
    /// `allow_override: true` (policies/data/guard.yaml); otherwise the run is still refused.
    #[arg(long)]
    pub ignore_window: bool,
    /// The time the off-peak windows are judged at (RFC 3339), instead of now. For tests.
    #[arg(long, hide = true)]
    pub now: Option<String>,
}

#[derive(Debug, clap::Args)]
pub struct PublishArgs {
    /// A run id from the history, or a RunSummary / k6 output file.
    pub run: String,
    /// Prometheus `.../api/v1/write` or Mimir `.../api/v1/push`.
    #[arg(long, env = "K6GATE_PROMETHEUS_RW_URL")]
    pub remote_write: String,
    /// Mimir tenant (`X-Scope-OrgID`).
    #[arg(long, env = "K6GATE_MIMIR_TENANT")]
    pub tenant: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GrafanaCommand {
    /// Write Grafana provisioning (data sources, dashboards, alert rules) and the
    /// Prometheus/Mimir rule group. Deterministic: CI regenerates and diffs `grafana/`.
    Generate {
        #[arg(long, default_value = "grafana")]
        out: PathBuf,
    },
    /// Annotate a run (a region with its verdict, version and report link) in Grafana;
    /// queued on disk when Grafana is unreachable.
    Annotate {
        run: String,
        /// Also mark this run as the baseline.
        #[arg(long)]
        baseline: bool,
    },
    /// Send the annotations queued while Grafana was unreachable. Exit 2 when some are
    /// still queued or were refused.
    Flush,
    /// The `d-solo` URL of a run's panel, with its time range and variables.
    EmbedUrl {
        run: String,
        #[arg(long, env = "K6GATE_GRAFANA_URL")]
        grafana_url: String,
    },
}

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    #[command(subcommand)]
    pub command: Option<HistoryCommand>,
    #[arg(long)]
    pub test: Option<String>,
    #[arg(long)]
    pub env: Option<String>,
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, Subcommand)]
pub enum HistoryCommand {
    /// Bring archived runs back into the history (and the durable store, with `--history`),
    /// whole and under their own ids. Runs already there are skipped and listed; a document
    /// that does not parse is an error naming its object, and then nothing is imported.
    Import(ImportArgs),
    /// Storage cost: bytes by tier (history, durable store, run directories, archive),
    /// retention class, test and month, and the 30-day growth against the policy's budget
    /// (`retention.growth_budget_bytes_30d`). Sizes only; `--publish` writes them to Prometheus.
    Stats(history_stats::StatsArgs),
    /// Sync the local history with the durable store (`--history URL`): upload the runs only
    /// this machine has (those a failed upload left behind, and a local history recorded
    /// before the store was set), download the ones it lacks, rebuild the pins. Exits 2 when
    /// a run could not be uploaded.
    Sync,
    /// Change points in a test's history: E-divisive means over the steady-state p50, p95,
    /// p99, error rate and request rate (all requests) of its decided runs, oldest first.
    /// Reviewed ones are read from `policies/data/changepoints.yaml`; new unreviewed ones are
    /// annotated in Grafana and sent to the webhook when those are configured. Exit 0 = no
    /// unreviewed change point, 1 = at least one (review it), 2 = error.
    Changepoints(ChangepointsArgs),
    /// Apply the retention classes (policies/data/retention.yaml) to the history and, with
    /// `--history`, the durable store: delete runs past their summary period, drop series finer
    /// than their age allows, remove run directories (raw k6 output) past the raw period.
    /// Current baselines, pinned runs and runs a waiver, migration window or reviewed change
    /// point names are kept. Reports the counts and bytes saved.
    Prune(PruneArgs),
    /// Compare two deployment versions of a test from the runs' compact records: per group
    /// of the phase, P50/P95/P99 and error rate of each version's decided runs (geometric
    /// mean and pooled rate over several runs), the change in %, whether it stands out from
    /// the noise between runs (two runs per side needed), and each run's outcome. Exit 0 =
    /// answered, 2 = a version without decided runs, a run without a record, or an error.
    Compare(HistoryCompareArgs),
    /// A metric over the deployments of a test, in time order: one point per version (its
    /// decided runs' value, their count, every run's outcome), marking reviewed change points
    /// (policies/data/changepoints.yaml) and pinned baselines. Reads only the compact records.
    Trend(HistoryTrendArgs),
    /// Add the compact record (per phase and group: P50/P95/P99, error rate, duration,
    /// throughput) to the decided runs recorded before it existed, from their stored
    /// summaries. `history compare` and `trend` name the runs that need it.
    Backfill,
}

/// Which phase and group the historical queries read.
#[derive(Debug, Clone, clap::Args)]
pub struct RecordSelection {
    #[arg(long)]
    pub test: String,
    #[arg(long)]
    pub env: String,
    /// A phase name, steady-state or whole-run (default: steady-state when every run has one,
    /// else whole-run).
    #[arg(long)]
    pub phase: Option<String>,
    /// One group, as `tag=value` pairs joined by `,` (e.g. `name=/checkout`); "" for all
    /// requests.
    #[arg(long)]
    pub group: Option<String>,
    #[arg(long, value_enum, default_value_t = TableFormat::Text)]
    pub format: TableFormat,
}

#[derive(Debug, clap::Args)]
pub struct HistoryCompareArgs {
    /// The earlier deployment version.
    #[arg(long)]
    pub from: String,
    /// The later deployment version.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub select: RecordSelection,
}

#[derive(Debug, clap::Args)]
pub struct HistoryTrendArgs {
    /// p50, p95, p99, error_rate or rps.
    #[arg(long, default_value = "p95")]
    pub metric: String,
    /// Only runs started at or after this: an RFC 3339 time, a date (2026-01-31), or days
    /// back (90d).
    #[arg(long)]
    pub since: Option<String>,
    #[command(flatten)]
    pub select: RecordSelection,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    /// Only this test's runs.
    #[arg(long)]
    pub test: Option<String>,
    /// Only this environment's runs.
    #[arg(long)]
    pub env: Option<String>,
    /// Write nothing; report what would be written.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The archive to import from (default: `--archive` / K6GATE_ARCHIVE_URL).
    #[arg(long, value_name = "URL")]
    pub from: Option<String>,
    #[arg(long)]
    pub test: Option<String>,
    #[arg(long)]
    pub env: Option<String>,
    /// Runs started at or after this: `YYYY-MM-DD` (UTC) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Runs started before this: an RFC 3339 time, or `YYYY-MM-DD` for up to the end of that day (UTC).
    #[arg(long)]
    pub until: Option<String>,
    /// Import nothing; list what would be imported.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Only these runs (ids or unique prefixes).
    pub run_ids: Vec<String>,
}

/// With an archive (`--archive URL` / K6GATE_ARCHIVE_URL), `history prune` also moves the runs
/// past their class's hot period (`archive_days`) there: archived and read back, then deleted;
/// when one cannot be archived the prune stops before anything is deleted (exit 2).
#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// Change nothing; report what would be removed.
    #[arg(long)]
    pub dry_run: bool,
    /// Prune as if no archive were set: runs past their hot period stay until their summary
    /// period, and nothing is moved.
    #[arg(long)]
    pub no_archive: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
}

#[derive(Debug, clap::Args)]
pub struct ChangepointsArgs {
    #[arg(long)]
    pub test: String,
    #[arg(long)]
    pub env: String,
    /// Only this metric: p50_ms, p95_ms, p99_ms, error_rate or requests_per_s.
    #[arg(long)]
    pub metric: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    #[command(flatten)]
    pub detection: DetectionArgs,
}

/// How change points are searched for; the defaults are the measured ones (README).
#[derive(Debug, Clone, clap::Args)]
pub struct DetectionArgs {
    /// A change point counts when its permutation p-value is at most this.
    #[arg(long = "cp-pvalue", default_value_t = crate::trend::Settings::default().detector.pvalue)]
    pub pvalue: f64,
    /// The fewest runs on either side of a change point.
    #[arg(long = "cp-min-runs", default_value_t = crate::trend::Settings::default().detector.min_size)]
    pub min_size: usize,
    /// Runs on the new level (the change point's own included) before it alerts.
    #[arg(long = "cp-persistence", default_value_t = crate::trend::Settings::default().persistence)]
    pub persistence: usize,
}

impl DetectionArgs {
    pub fn settings(&self) -> crate::trend::Settings {
        let mut s = crate::trend::Settings::default();
        (s.detector.pvalue, s.detector.min_size, s.persistence) = (self.pvalue, self.min_size, self.persistence);
        s
    }
}

#[derive(Debug, clap::Args)]
pub struct NightlyArgs {
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub detection: DetectionArgs,
}

#[derive(Debug, Subcommand)]
pub enum BaselineCommand {
    /// Pin a run as the baseline of its test and environment.
    Pin {
        run_id: String,
        #[arg(long, default_value = "pinned with k6gate baseline pin")]
        reason: String,
    },
    /// End the pin of a test and environment (the pin stays in the history).
    Unpin {
        #[arg(long)]
        test: String,
        #[arg(long)]
        env: String,
        #[arg(long)]
        reason: String,
    },
    /// Show the baseline the next run would use, and why.
    Show {
        #[arg(long)]
        test: String,
        #[arg(long)]
        env: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its history, runs and policies (recreated).
    #[arg(long, default_value = ".k6gate/demo")]
    pub dir: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RenderArgs {
    /// The test: k6-templates/<TEST>.js.j2.
    #[arg(long)]
    pub test: String,
    /// The environment: environments/<ENV>.yaml.
    #[arg(long)]
    pub env: String,
    /// Override an environment value (stages.sustained=60s, vus=10); repeatable.
    /// Applied after K6GATE_<KEY> variables (K6GATE_VUS=10, K6GATE_STAGES_SUSTAINED=60s).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Deployment version written into the run's tags.
    #[arg(long = "deployment-version", env = "K6GATE_DEPLOYMENT_VERSION")]
    pub deployment_version: Option<String>,
    /// Git commit written into the run's tags (default: GITHUB_SHA or `git rev-parse HEAD`).
    #[arg(long)]
    pub commit: Option<String>,
    #[command(flatten)]
    pub sources: TemplateArgs,
    /// Render the script as `run` does when k6 writes live metrics to Prometheus: run-level
    /// tags the cardinality policy does not allow as live labels go into sample metadata.
    #[arg(long)]
    pub remote_write: bool,
    /// Write the script here instead of stdout.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Run the `test_*` rules of the Rego files in DIR (default: --policies), like `opa test`.
    Test { dir: Option<PathBuf> },
    /// Validate the policy data files and that the Rego files parse (default: --policies).
    Check { dir: Option<PathBuf> },
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on. Beyond loopback (e.g. 0.0.0.0:8080) only with a token.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: std::net::SocketAddr,
    /// The token every request must carry (`Authorization: Bearer TOKEN`, or the proxy
    /// header); at least 16 characters. Default: the K6GATE_SERVE_TOKEN variable.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// The header a trusted reverse proxy sets to the token once it has authenticated the
    /// user (e.g. X-K6gate-Token), so browsers behind it need no token of their own.
    #[arg(long, value_name = "NAME")]
    pub proxy_header: Option<String>,
    /// Runs per page of the list.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(1..=500))]
    pub page_size: u16,
    /// The repository (OWNER/NAME) the SLA editor and waiver requests open pull requests on,
    /// with the token in GITHUB_TOKEN (and GITHUB_API_URL on Enterprise). Without both, the
    /// server is read-only.
    #[arg(long, value_name = "OWNER/NAME")]
    pub github_repo: Option<String>,
    /// Where the policies directory is inside that repository.
    #[arg(long, value_name = "PATH", default_value = "policies")]
    pub github_policies_path: String,
    /// Where the waiver files are inside that repository (requests add `W-<n>.yaml` there).
    #[arg(long, value_name = "PATH", default_value = "waivers")]
    pub github_waivers_path: String,
}

/// `k6gate canary [FLAGS]` runs one analysis; `k6gate canary serve [FLAGS]` answers rollout
/// controllers over HTTP (src/canary/serve.rs).
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct CanaryCommandArgs {
    #[command(subcommand)]
    pub command: Option<CanaryCommand>,
    /// `None` only with a subcommand (clap's optional flatten: none of its flags given).
    #[command(flatten)]
    pub analysis: Option<CanaryArgs>,
}

#[derive(Debug, clap::Subcommand)]
pub enum CanaryCommand {
    /// Serve canary analyses over HTTP for rollout controllers: `GET|POST /v1/canary/{id}`
    /// (Argo Rollouts' web metric provider) and `POST /v1/flagger/{confirm-promotion|rollback}`
    /// (Flagger webhooks). The first request for an id starts its analysis with these flags;
    /// later ones answer `"decision": "running"` until it ends. Runs until interrupted.
    Serve(CanaryServeArgs),
}

#[derive(Debug, clap::Args)]
pub struct CanaryServeArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8090")]
    pub listen: std::net::SocketAddr,
    #[command(flatten)]
    pub analysis: CanaryArgs,
}

#[derive(Debug, clap::Args)]
pub struct CanaryArgs {
    /// Prometheus base URL (Mimir: its `/prometheus` path).
    #[arg(long, value_name = "URL")]
    pub prometheus: String,
    /// Mimir tenant (`X-Scope-OrgID`).
    #[arg(long)]
    pub tenant: Option<String>,
    /// PromQL label matchers of the canary's series, without braces: `instance="10.0.0.7:8080"`.
    /// Under `canary serve`, `{id}` is replaced by each analysis's id.
    #[arg(long, value_name = "MATCHERS")]
    pub canary_selector: String,
    /// PromQL label matchers of the stable version's series.
    #[arg(long, value_name = "MATCHERS")]
    pub stable_selector: String,
    /// How long to watch at most (a whole number of intervals).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub duration: std::time::Duration,
    /// One window and one look per interval.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub interval: std::time::Duration,
    /// Wait this long after a window ends before reading it: at least one scrape interval.
    #[arg(long, default_value = "15s", value_parser = humantime::parse_duration)]
    pub delay: std::time::Duration,
    #[arg(long, value_enum, default_value_t = VerdictFormat::Text)]
    pub format: VerdictFormat,
    /// The latency histogram, in seconds: classic (`NAME_bucket` series), or native (one
    /// `NAME` series, read when no classic buckets are found).
    #[arg(long, default_value = crate::canary::source::LATENCY_METRIC)]
    pub latency_metric: String,
    /// Matchers for the requests whose latency counts (empty: all).
    #[arg(long, default_value = crate::canary::source::LATENCY_MATCHERS)]
    pub latency_matchers: String,
    /// The request counter; a status label starting with 5 is an error.
    #[arg(long, default_value = crate::canary::source::REQUESTS_METRIC)]
    pub requests_metric: String,
    #[arg(long, default_value = crate::canary::source::ROUTE_LABEL)]
    pub route_label: String,
    #[arg(long, default_value = crate::canary::source::STATUS_LABEL)]
    pub status_label: String,
    /// What is rolled out: names the check run (`k6gate: canary NAME (ENV)`), the Grafana
    /// annotations' `canary:NAME` tag and the webhook's owner (policy data `notifications.owners`).
    #[arg(long, default_value = "canary")]
    pub name: String,
    /// The environment the canary runs in.
    #[arg(long, default_value = "production")]
    pub env: String,
    /// The canary's version, for the reports.
    #[arg(long = "deployment-version", env = "K6GATE_DEPLOYMENT_VERSION")]
    pub deployment_version: Option<String>,
    /// Also report the decision to GitHub: a check run on the commit (or a commit status), the
    /// PR comment and, inside Actions, the job summary. A decision that cannot be reported
    /// there is an error (exit 2), whatever it was. Not with `canary serve`.
    #[arg(long, value_enum)]
    pub report: Vec<ReportTarget>,
    /// Set the status of this GitHub deployment: `in_progress` at the start, then `success`
    /// (promote), `failure` (rollback, inconclusive) or `error` (no decision). Fails like
    /// `--report github`. Not with `canary serve`.
    #[arg(long = "github-deployment", value_name = "ID", env = "K6GATE_GITHUB_DEPLOYMENT_ID")]
    pub github_deployment: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum VerdictFormat {
    Text,
    Json,
    Markdown,
}

#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {
    /// The candidate run: a RunSummary, raw k6 output (ingested on the fly), or a run id.
    #[arg(long)]
    pub run: String,
    /// A confirmation re-run of the candidate, judged together with it (repeatable).
    #[arg(long = "confirmation", value_name = "RUN")]
    pub confirmations: Vec<String>,
    /// A baseline run: a RunSummary, raw k6 output, or a run id. Repeat it for a multi-run
    /// baseline (newest first): the verdict then weighs the noise between runs.
    #[arg(long = "baseline", value_name = "RUN", required = true)]
    pub baselines: Vec<String>,
    /// The previous run inside a migration window (for the ratchet): a file or a run id.
    #[arg(long)]
    pub previous: Option<String>,
    #[arg(long)]
    pub test: String,
    #[arg(long)]
    pub env: String,
    /// Evaluation time (RFC 3339 or YYYY-MM-DD); default: now. Policies never read the clock.
    #[arg(long)]
    pub now: Option<String>,
    #[command(flatten)]
    pub phase: PhaseArg,
    #[arg(long, value_enum, default_value_t = VerdictFormat::Text)]
    pub format: VerdictFormat,
    /// Also write the verdict JSON here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Judge whether the run is representative too: against the `production:` block of
    /// `DIR/<env>.yaml` (README, "Is this test representative?").
    #[arg(long, value_name = "DIR")]
    pub production_from: Option<PathBuf>,
    /// The target's `/metrics` as captured right before and right after the run; without
    /// them the target's facts (rows, cache, third parties) are unknown.
    #[arg(long, num_args = 2, value_names = ["BEFORE", "AFTER"], requires = "production_from")]
    pub target_metrics: Option<Vec<PathBuf>>,
    /// The run's trace breakdown (`k6gate traces --findings FILE`), judged by the
    /// per-component SLAs and coverage floors (`policies/data/traces.yaml`) and recorded in
    /// the verdict.
    #[arg(long, value_name = "FILE")]
    pub traces: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct CompareArgs {
    /// A RunSummary, raw k6 output, or a run id (or unique prefix) from the history.
    pub baseline: String,
    /// A RunSummary, raw k6 output, or a run id.
    pub run: String,
    #[command(flatten)]
    pub phase: PhaseArg,
    #[arg(long, value_enum, default_value_t = VerdictFormat::Text)]
    pub format: VerdictFormat,
}

/// Where a test's template and its environments are.
#[derive(Debug, Clone, clap::Args)]
pub struct TemplateArgs {
    #[arg(long, default_value = "k6-templates")]
    pub templates: PathBuf,
    #[arg(long, default_value = "environments")]
    pub environments: PathBuf,
}

/// The phase compared.
#[derive(Debug, Clone, clap::Args)]
pub struct PhaseArg {
    /// steady-state (sustained minus warm-up), sustained, ramp-up, ramp-down, warm-up,
    /// whole-run, or stage:NAME for another `test_stage`.
    #[arg(long = "phase", default_value = "steady-state")]
    pub phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    Text,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct IngestArgs {
    /// k6 result files of one run. Several JSON (or CSV) files are merged as parts of one run.
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Write the RunSummary JSON here.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// What to print on stdout.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub format: OutputFormat,
    /// Tags that make up a group key, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "name,method")]
    pub group_by: Vec<String>,
    /// Skip unusable lines and mark the summary incomplete instead of failing.
    #[arg(long)]
    pub allow_partial: bool,
    /// k6's exit status, recorded in the summary (a non-zero one marks it incomplete).
    #[arg(long, allow_negative_numbers = true)]
    pub k6_exit_code: Option<i32>,
    /// Parser threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// Keep 1 s windows in the series of runs up to this long; longer runs get coarser
    /// windows (10 s, 1 min, 5 min, ...) merged from them, so the summary stays small.
    #[arg(long, default_value = "30m", value_parser = humantime::parse_duration)]
    pub full_resolution: std::time::Duration,
}

/// Runs the CLI and returns the process exit code. Errors are printed here, once, with
/// their causes.
/// Whether the command in `args` only reads and prints (listing runs, comparing, rendering),
/// so that a closed stdout may simply end it (`main.rs`). Anything else, or arguments that do
/// not parse, is `false`.
pub fn reads_only(args: impl IntoIterator<Item = std::ffi::OsString>) -> bool {
    let Ok(cli) = Cli::try_parse_from(args) else { return false };
    match &cli.command {
        Command::Compare(_) | Command::Render(_) | Command::Schema | Command::Traces(_) => true,
        Command::History(args) => {
            matches!(&args.command, None | Some(HistoryCommand::Compare(_) | HistoryCommand::Trend(_)))
        }
        _ => false,
    }
}

pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { exit::ERROR } else { exit::OK };
        }
    };
    let settings = Settings::new(cli.global.clone(), crate::vars::Vars::capture());
    logging::init(&cli.log, &settings.env);
    let cli_log = cli.log.clone();
    match dispatch(cli.command, &settings) {
        Ok(exit) => exit.code(),
        Err(e) => {
            logging::print_error(&crate::error::report(&e), &cli_log, &settings.env);
            e.exit_code()
        }
    }
}

fn dispatch(command: Command, s: &Settings) -> Result<Exit> {
    match command {
        Command::Ingest(args) => ingest::run(&args),
        Command::Evaluate(args) => evaluate::run_evaluate(&args, s),
        Command::Compare(args) => evaluate::run_compare(&args, s),
        Command::Policy(PolicyCommand::Test { dir }) => {
            evaluate::run_policy_test(dir.as_ref().unwrap_or(&s.global.policies))
        }
        Command::Policy(PolicyCommand::Check { dir }) => {
            evaluate::run_policy_check(dir.as_ref().unwrap_or(&s.global.policies))
        }
        Command::Render(args) => render::run(&args, s),
        Command::Run(args) => run::run(&args, s),
        Command::History(args) => match &args.command {
            Some(HistoryCommand::Import(i)) => archive::import(i, s),
            Some(HistoryCommand::Stats(st)) => history_stats::run(st, s),
            Some(HistoryCommand::Prune(p)) if archive::moves(p, s) => archive::prune(p, s),
            Some(HistoryCommand::Sync) => history::sync(s),
            Some(HistoryCommand::Changepoints(cp)) => history::changepoints(cp, s),
            Some(HistoryCommand::Prune(p)) => history::prune(p, s),
            Some(HistoryCommand::Compare(c)) => history::compare(c, s),
            Some(HistoryCommand::Trend(t)) => history::trend(t, s),
            Some(HistoryCommand::Backfill) => history::backfill(s),
            None => history::list(&args, s),
        },
        Command::Archive(args) => archive::run(&args, s),
        Command::Serve(args) => serve::run(&args, s),
        Command::Baseline(cmd) => history::baseline(&cmd, s),
        Command::Nightly(args) => nightly::run(&args, s),
        Command::Canary(args) => match &args.command {
            Some(CanaryCommand::Serve(serve)) => canary::serve(serve, s),
            None => match &args.analysis {
                Some(analysis) => canary::run(analysis, s),
                None => Err(crate::Error::Usage(
                    "k6gate canary needs --prometheus, --canary-selector and --stable-selector (or: k6gate canary serve)"
                        .into(),
                )),
            },
        },
        Command::Demo(args) => demo::run(&args, s),
        Command::Publish(args) => grafana::publish(&args, s),
        Command::Grafana(cmd) => grafana::run(&cmd, s),
        Command::Target(args) => k6gate_shop::run(&args)
            .map(|()| Exit::Success)
            .map_err(|e| crate::Error::service(crate::error::Service::DemoShop, "serving", e)),
        Command::Report(ReportCommand::Github(args)) => github::report(&args, s),
        Command::Notify(args) => github::notify(&args, s),
        Command::Traces(args) => traces::run(&args, s),
        Command::Audit(args) if args.trail || args.env.is_some() => guard::audit_trail(&args, s),
        Command::Audit(args) => github::audit(&args, s),
        Command::Stack(StackCommand::Generate(args)) => stack::generate(&args),
        Command::Stack(StackCommand::Proxy(args)) => stack::proxy(&args, s),
        Command::Preflight(args) => preflight::run(&args, s),
        Command::Scale(args) => scale::run(&args, s),
        Command::Guard(GuardCommand::Restore) => guard::restore(s),
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&crate::RunSummary::json_schema())
                .map_err(crate::Error::serialize("RunSummary schema"))?;
            println!("{schema}");
            Ok(Exit::Success)
        }
        Command::Profile(profile::ProfileCommand::FromPrometheus(args)) => profile::from_prometheus(&args, s),
        Command::Validate(args) => profile::validate(&args, s),
    }
}
