//! `k6gate stack generate`: flags -> [`crate::stack::StackParams`] -> files.

use crate::error::{Error, Exit, Result};
use crate::stack::{StackParams, generate as render, write};

use super::StackGenerateArgs;

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
        ..StackParams::default()
    };
    let files = render(&params).map_err(|e| Error::Usage(e.to_string()))?;
    write(&args.out, &files).map_err(Error::output(&args.out))?;
    println!("wrote {} files under {}", files.len(), args.out.display());
    println!("Prometheus {}, Alertmanagers {}", params.prometheus_url(), params.alertmanager_urls().join(", "));
    Ok(Exit::Success)
}
