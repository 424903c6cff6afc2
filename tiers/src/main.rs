//! `k6gate-tiers gateway|api|db`: one tier of the instrumented demo stack (see lib.rs).
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing))]

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand};
use k6gate_tiers::faults::{FaultValues, Faults};
use k6gate_tiers::{TierError, api, db, gateway, telemetry};

#[derive(Parser)]
#[command(name = "k6gate-tiers", about = "One tier of k6gate's instrumented three-tier demo stack")]
struct Cli {
    /// Address to listen on; port 0 picks a free one. The first line on stdout is
    /// `listening on http://ADDR`.
    #[arg(long, default_value = "127.0.0.1:0", global = true)]
    listen: String,
    /// OTLP/HTTP traces endpoint, the full URL (`http://127.0.0.1:4318/v1/traces`); spans go
    /// there as OTLP/JSON. Without it spans are only logged.
    #[arg(long, value_name = "URL", global = true)]
    otlp_endpoint: Option<String>,
    /// The batch span processor's delay: spans reach the backend this soon after they end.
    #[arg(long, default_value_t = 200, global = true)]
    batch_delay_ms: u64,
    /// The resource's `service.name` (default: the tier's name).
    #[arg(long, global = true)]
    service_name: Option<String>,
    /// Fault: added latency per database query (database tier).
    #[arg(long, default_value_t = 0, global = true)]
    db_delay_ms: u64,
    /// Fault: a wait before the gateway's span opens (gateway).
    #[arg(long, default_value_t = 0, global = true)]
    network_delay_ms: u64,
    /// Fault: the share of requests (0 to 1) whose database spans are not recorded (database tier).
    #[arg(long, default_value_t = 0.0, global = true)]
    db_uninstrumented: f64,
    /// Fault: the share of requests (0 to 1) on the database's slow path (database tier).
    #[arg(long, default_value_t = 0.0, global = true)]
    db_slow_share: f64,
    /// Fault: the slow path's added latency per query (database tier).
    #[arg(long, default_value_t = 0, global = true)]
    db_slow_ms: u64,
    #[command(subcommand)]
    tier: Tier,
}

#[derive(Subcommand)]
enum Tier {
    /// The load balancer: forwards every request to the API.
    Gateway {
        /// The API's base URL.
        #[arg(long)]
        upstream: String,
    },
    /// The API: /products, /search?q=, POST /checkout.
    Api {
        /// The database tier's base URL.
        #[arg(long)]
        db: String,
    },
    /// The database: SQLite in memory behind POST /query.
    Db {
        /// Rows in the products table.
        #[arg(long, default_value_t = 200)]
        products: u32,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("k6gate-tiers: {e}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> Result<(), TierError> {
    // reqwest is built with rustls and no provider (the workspace's features): name it before
    // any client is built. An error means one is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| TierError::Start(format!("tokio runtime: {e}")))?;
    let name = match &cli.tier {
        Tier::Gateway { .. } => "gateway",
        Tier::Api { .. } => "api",
        Tier::Db { .. } => "db",
    };
    let service = cli.service_name.clone().unwrap_or_else(|| name.to_string());
    let telemetry = telemetry::init(
        &telemetry::Options {
            service: &service,
            endpoint: cli.otlp_endpoint.as_deref(),
            batch_delay: Duration::from_millis(cli.batch_delay_ms),
            host_name: telemetry::host_name(),
        },
        rt.handle().clone(),
    )?;
    let faults = Arc::new(
        Faults::new(FaultValues {
            db_delay_ms: cli.db_delay_ms,
            network_delay_ms: cli.network_delay_ms,
            db_uninstrumented: cli.db_uninstrumented,
            db_slow_share: cli.db_slow_share,
            db_slow_ms: cli.db_slow_ms,
        })
        .map_err(TierError::Start)?,
    );
    let app = match &cli.tier {
        Tier::Gateway { upstream } => gateway::router(upstream, faults)?,
        Tier::Api { db } => api::router(db, faults)?,
        Tier::Db { products } => db::router(db::open(*products)?, faults),
    };
    let served = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&cli.listen)
            .await
            .map_err(|e| TierError::Start(format!("listen on {}: {e}", cli.listen)))?;
        let addr = listener.local_addr().map_err(|e| TierError::Start(format!("local address: {e}")))?;
        let mut out = std::io::stdout();
        writeln!(out, "listening on http://{addr}")
            .and_then(|()| out.flush())
            .map_err(|e| TierError::Start(format!("stdout: {e}")))?;
        axum::serve(listener, app)
            .with_graceful_shutdown(stop_signal())
            .await
            .map_err(|e| TierError::Start(format!("serve: {e}")))
    });
    // Outside the runtime, which is still alive: the last batch's export runs on it.
    let flushed = telemetry.shutdown();
    served.and(flushed)
}

/// SIGTERM or Ctrl-C: stop taking requests, then flush the spans.
async fn stop_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
