//! `k6gate stack generate`: flags -> [`crate::stack::StackParams`] -> files. `k6gate stack
//! proxy`: flags, the SLA from the policy data and the lease probe -> the query cache proxy.

use crate::error::{Error, Exit, Result, Service};
use crate::history::Leases;
use crate::stack::proxy::{Proxy, ProxyConfig, TestRunning, serve};
use crate::stack::{StackParams, generate as render, write};

use super::{Settings, StackGenerateArgs, StackProxyArgs};

fn pair(v: &[u16], what: &str) -> Result<[u16; 2]> {
    match v {
        [a, b] => Ok([*a, *b]),
        _ => Err(Error::Usage(format!("--{what} takes two ports, got {}", v.len()))),
    }
}

pub fn generate(args: &StackGenerateArgs) -> Result<Exit> {
    let params = StackParams {
        host: args.host.clone(),
        prometheus_port: args.prometheus_port,
        alertmanager_ports: pair(&args.alertmanager_ports, "alertmanager-ports")?,
        cluster_ports: pair(&args.cluster_ports, "cluster-ports")?,
        grafana_port: args.grafana_port,
        webhook_url: args.webhook_url.clone(),
        scrape_interval: args.scrape_interval.clone(),
        evaluation_interval: args.evaluation_interval.clone(),
        resend_delay: args.resend_delay.clone(),
        out_of_order_window: args.out_of_order_window.clone(),
        group_wait: args.group_wait.clone(),
        scrape: args.scrape.clone(),
        proxy_port: args.proxy_port,
        trace_sample_percent: args.trace_sample_percent,
        ..StackParams::default()
    };
    let files = render(&params).map_err(|e| Error::Usage(e.to_string()))?;
    write(&args.out, &files).map_err(Error::output(&args.out))?;
    println!("wrote {} files under {}", files.len(), args.out.display());
    println!("Prometheus {}, Alertmanagers {}", params.prometheus_url(), params.alertmanager_urls().join(", "));
    if let Some(url) = params.proxy_url() {
        println!("Grafana reads Prometheus through the proxy at {url}: k6gate stack proxy $(cat proxy.args)");
    }
    Ok(Exit::Success)
}

/// The SLA of the proxy's upstream calls: `--sla`, else the guard's preflight `query_sla_ms`
/// from the policy data (when the policy directory exists), else the library's default.
fn proxy_sla(args: &StackProxyArgs, s: &Settings) -> Result<std::time::Duration> {
    if let Some(sla) = args.sla {
        return Ok(sla);
    }
    let policies = &s.global.policies;
    if policies.is_dir() {
        let config = crate::guard::GuardConfig::load(policies)?;
        if let Some((rules, source)) = config.preflight {
            tracing::info!("proxy SLA {} ms: guard.preflight.query_sla_ms in {source}", rules.query_sla_ms);
            return Ok(std::time::Duration::from_secs_f64(rules.query_sla_ms.max(1.0) / 1000.0));
        }
    }
    Ok(ProxyConfig::new(&args.upstream).sla)
}

/// `--upstream-header NAME=VALUE`s; the values become secrets at once.
fn upstream_headers(raw: &[String]) -> Result<Vec<(String, crate::net::Secret)>> {
    raw.iter()
        .map(|h| match h.split_once('=') {
            Some((name, value)) if !name.trim().is_empty() => {
                Ok((name.trim().to_string(), crate::net::Secret::new(value.trim())))
            }
            // Not echoed: it may hold a credential.
            _ => Err(Error::Usage("an --upstream-header is not NAME=VALUE (not shown: it may hold a secret)".into())),
        })
        .collect()
}

/// `k6gate stack proxy`: flags -> [`ProxyConfig`], the lease probe when `--env` is given, and
/// the server until Ctrl-C or SIGTERM.
pub fn proxy(args: &StackProxyArgs, s: &Settings) -> Result<Exit> {
    let config = ProxyConfig {
        ttl: args.ttl,
        test_ttl: args.test_ttl,
        always_test_ttl: args.during_test,
        sla: proxy_sla(args, s)?,
        upstream_timeout: args.upstream_timeout,
        failures_to_open: args.failures_to_open,
        cool_down: args.cool_down,
        max_bytes: args.max_cache_mib.saturating_mul(1 << 20),
        max_stale: args.max_stale,
        instant_align: args.instant_align.filter(|d| !d.is_zero()),
        upstream_headers: upstream_headers(&args.upstream_headers)?,
        ..ProxyConfig::new(&args.upstream)
    };
    let summary = format!(
        "TTL {:?} ({:?} during a test), SLA {:?}, breaker opens after {} bad calls, cool-down {:?}",
        config.ttl, config.test_ttl, config.sla, config.failures_to_open, config.cool_down
    );
    let proxy = Proxy::new(config).map_err(Error::Usage)?;
    let probe: Option<TestRunning> = args.env.clone().map(|env| {
        let history = s.history();
        let probe: TestRunning = std::sync::Arc::new(move || {
            let store = crate::load::open_history(&history).map_err(|e| e.to_string())?;
            let held = store.held(&env, crate::clock::now_ns()).map_err(|e| e.to_string())?;
            Ok(held.is_some())
        });
        probe
    });
    let listen = args.listen;
    let rt =
        crate::net::runtime::runtime().map_err(|e| Error::service(Service::Prometheus, "starting the runtime", e))?;
    rt.block_on(async move {
        let listener =
            tokio::net::TcpListener::bind(listen).await.map_err(|e| Error::Usage(format!("--listen {listen}: {e}")))?;
        if let Some(probe) = probe {
            proxy.watch_tests(probe);
        }
        tracing::info!("stack proxy on http://{listen} in front of {}: {summary}", proxy.upstream());
        let shutdown = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        serve(listener, proxy, shutdown).await.map_err(|e| Error::Usage(format!("serving on {listen}: {e}")))
    })?;
    Ok(Exit::Success)
}
